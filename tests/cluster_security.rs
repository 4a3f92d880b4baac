//! A 3-node cluster whose inter-broker listener is SASL_SSL with its own user: replica
//! fetchers authenticate to the partition leader over TLS with SCRAM-SHA-512 as `User:broker`
//! (the only principal allowed ClusterAction), and the controller quorum's RPC runs over
//! mutual TLS with the same certificates. The data goes through a PLAINTEXT `CLIENT` listener
//! on the side (the rdkafka dev-dependency is built without ssl/sasl): what this proves is the
//! link between brokers, which has no other way to work.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::certs::write_certificates;
use common::cluster::{Cluster, ClusterSpec};
use common::free_port;
use common::raw::RawConnection;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const BROKER_PASSWORD: &str = "broker-secret-7f3a";

fn secured_cluster(certs: &std::path::Path) -> Cluster {
    let (keystore, truststore) = write_certificates(certs);
    let jaas = format!(
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="{BROKER_PASSWORD}";"#
    );
    let overrides: Vec<(String, String)> = [
        (
            "listener.security.protocol.map",
            "CLIENT:PLAINTEXT,BROKER:SASL_SSL",
        ),
        ("inter.broker.listener.name", "BROKER"),
        (
            "listener.name.broker.ssl.keystore.location",
            keystore.as_str(),
        ),
        (
            "listener.name.broker.ssl.truststore.location",
            truststore.as_str(),
        ),
        (
            "listener.name.broker.sasl.enabled.mechanisms",
            "SCRAM-SHA-512",
        ),
        ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
        (
            "listener.name.broker.scram-sha-512.sasl.jaas.config",
            jaas.as_str(),
        ),
        ("authorizer.class.name", "standard"),
        ("super.users", "User:broker"),
        ("allow.everyone.if.no.acl.found", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Cluster::start(ClusterSpec {
        overrides,
        extra_args: vec![
            "--add-scram".into(),
            format!("SCRAM-SHA-512=[name=broker,password={BROKER_PASSWORD}]"),
        ],
        per_node: Some(Box::new(|_, kafka_port| {
            vec![(
                "listeners".to_string(),
                format!(
                    "CLIENT://127.0.0.1:{kafka_port},BROKER://127.0.0.1:{}",
                    free_port()
                ),
            )]
        })),
        ..Default::default()
    })
}

// Kafka's codes: ResourceType CLUSTER, PatternType LITERAL, AclPermissionType ALLOW and the
// AclOperations the anonymous test client needs on the cluster.
const CLUSTER: i8 = 4;
const LITERAL: i8 = 3;
const ALLOW: i8 = 3;
const CREATE: i8 = 5;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const IDEMPOTENT_WRITE: i8 = 12;

/// Gives the anonymous PLAINTEXT client what it needs on the cluster, and nothing more: with
/// ACLs on the cluster resource, `allow.everyone.if.no.acl.found` no longer covers it, so
/// ClusterAction (replica fetches) is left to the super user `User:broker` alone.
fn grant_anonymous_client(cluster: &mut Cluster) {
    let mut raw = RawConnection::open(cluster.node(1), "acl-setup");
    let creations = [CREATE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, IDEMPOTENT_WRITE]
        .iter()
        .map(|op| {
            create_acls_request::AclCreation::default()
                .with_resource_type(CLUSTER)
                .with_resource_name(StrBytes::from_static_str("kafka-cluster"))
                .with_resource_pattern_type(LITERAL)
                .with_principal(StrBytes::from_static_str("User:ANONYMOUS"))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(*op)
                .with_permission_type(ALLOW)
        })
        .collect();
    let ResponseKind::CreateAcls(r) = raw.call(
        ApiKey::CreateAcls,
        3,
        &RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(creations)),
    ) else {
        unreachable!()
    };
    assert!(r.results.iter().all(|r| r.error_code == 0), "{r:?}");
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c.set("topic.metadata.refresh.interval.ms", "500");
    c
}

/// (leader, isr) of partition 0 of `topic` as Metadata reports it.
fn partition_state(bootstrap: &str, topic: &str) -> Option<(i32, Vec<i32>)> {
    let consumer: BaseConsumer = config(bootstrap).create().ok()?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let p = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)?
        .partitions()
        .first()?;
    if p.error().is_some() {
        return None;
    }
    let mut isr = p.isr().to_vec();
    isr.sort();
    Some((p.leader(), isr))
}

fn wait_for_state(
    cluster: &Cluster,
    topic: &str,
    what: &str,
    check: impl Fn(&(i32, Vec<i32>)) -> bool,
) -> (i32, Vec<i32>) {
    let timeout = Duration::from_secs(60);
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(state) = partition_state(&cluster.bootstrap(), topic) {
            if check(&state) {
                return state;
            }
            last = Some(state);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{what}: not reached in {timeout:?} (last {last:?})\n{}",
        cluster.logs()
    );
}

#[derive(Clone, Default)]
struct Acks {
    ok: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let (list, m) = match result {
            Ok(m) => (&self.ok, m),
            Err((_, m)) => (&self.failed, m),
        };
        let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
        list.lock().unwrap().push(v);
    }
}

/// Every value in partition 0 up to its high watermark, with counts.
fn stored_values(bootstrap: &str, topic: &str) -> HashMap<String, usize> {
    let c: BaseConsumer = config(bootstrap)
        .set("group.id", format!("reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = c
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut seen = HashMap::new();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while next < high && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(500)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            *seen.entry(v).or_insert(0) += 1;
            next = m.offset() + 1;
        }
    }
    assert!(next >= high, "read to {next}, high watermark {high}");
    seen
}

/// `troupe_authentication_success_total` of the BROKER listener with SCRAM-SHA-512 on a node.
fn inter_broker_logins(cluster: &mut Cluster, node: i32) -> f64 {
    let text = reqwest::blocking::get(cluster.node(node).http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("troupe_authentication_success_total")
                && l.contains("listener=\"BROKER\"")
                && l.contains("mechanism=\"SCRAM-SHA-512\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits (generously) until `node` counted at least `at_least` inter-broker logins.
fn wait_for_logins(cluster: &mut Cluster, node: i32, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0.0;
    while Instant::now() < deadline {
        seen = inter_broker_logins(cluster, node);
        if seen >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "node {node} counted {seen} SCRAM-SHA-512 logins on the BROKER listener, expected at least {at_least}\n{}",
        cluster.logs()
    );
}

#[test]
fn a_sasl_ssl_inter_broker_cluster_survives_a_leader_kill_dash_nine_without_loss() {
    let certs = tempfile::tempdir().unwrap();
    let mut cluster = secured_cluster(certs.path());
    grant_anonymous_client(&mut cluster);
    let topic = "secured";
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let new_topic =
        NewTopic::new(topic, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(admin.create_topics(&[new_topic], &AdminOptions::new()))
        .unwrap();
    for r in created {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
    // Followers join the ISR only by fetching from the leader: over TLS, as User:broker.
    let (leader, _) = wait_for_state(&cluster, topic, "all three replicas in sync", |(l, isr)| {
        *l > 0 && isr.len() == 3
    });
    // (The ISR starts full; what shows the followers got in is the leader counting their
    // SCRAM logins on the BROKER listener.)
    wait_for_logins(&mut cluster, leader, 2.0);

    let acks = Acks::default();
    let producer: ThreadedProducer<Acks> = config(&cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "90000")
        .set("retry.backoff.ms", "100")
        .create_with_context(acks.clone())
        .unwrap();
    const RECORDS: usize = 2_000;
    for i in 0..RECORDS {
        let value = i.to_string();
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(0)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if i == RECORDS / 3 {
            cluster.node(leader).kill9();
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let acked = acks.ok.lock().unwrap().clone();
    let failed = acks.failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "every record acknowledged: {} failed",
        failed.len()
    );
    assert_eq!(acked.len(), RECORDS);

    let (new_leader, _) = wait_for_state(&cluster, topic, "a new leader", |(l, _)| {
        *l > 0 && *l != leader
    });
    let stored = stored_values(&cluster.bootstrap(), topic);
    for v in &acked {
        assert_eq!(
            stored.get(v),
            Some(&1),
            "acknowledged value {v} stored exactly once"
        );
    }
    assert_eq!(stored.len(), RECORDS, "no value that was not produced");

    // The killed node comes back, fetches from the new leader over SASL_SSL and rejoins.
    cluster.node(leader).start_again();
    wait_for_state(
        &cluster,
        topic,
        "the restarted replica back in the ISR",
        |(_, isr)| isr.len() == 3,
    );
    wait_for_logins(&mut cluster, new_leader, 1.0);
    let logs = cluster.logs();
    assert!(
        !logs.contains(BROKER_PASSWORD),
        "the inter-broker password appears in no log"
    );
}
