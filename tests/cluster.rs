//! Multi-process cluster tests: three (or more) real `troupe` nodes on loopback, each a broker
//! and controller voter, driven by librdkafka. Each test is bounded in time.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterSpec};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c.set("topic.metadata.refresh.interval.ms", "500");
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_topic(cluster: &Cluster, name: &str, partitions: i32, rf: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = runtime()
        .block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap();
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}

/// (leader, replicas, isr) of a partition as Metadata reports it through `bootstrap`.
fn partition_state(
    bootstrap: &str,
    topic: &str,
    partition: i32,
) -> Option<(i32, Vec<i32>, Vec<i32>)> {
    let consumer: BaseConsumer = config(bootstrap).create().ok()?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let t = md.topics().iter().find(|t| t.name() == topic)?;
    let p = t.partitions().iter().find(|p| p.id() == partition)?;
    if p.error().is_some() {
        return None;
    }
    let mut isr = p.isr().to_vec();
    isr.sort();
    Some((p.leader(), p.replicas().to_vec(), isr))
}

/// Polls until `check` holds on the partition's state (or panics with the cluster's logs).
fn wait_for_state(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    timeout: Duration,
    what: &str,
    check: impl Fn(&(i32, Vec<i32>, Vec<i32>)) -> bool,
) -> (i32, Vec<i32>, Vec<i32>) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(state) = partition_state(&cluster.bootstrap(), topic, partition) {
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

/// Collects which produced values were acknowledged.
#[derive(Clone, Default)]
struct Acks {
    ok: Arc<Mutex<Vec<String>>>,
    /// When each value of `ok` was acknowledged, in the same order.
    ok_at: Arc<Mutex<Vec<Instant>>>,
    failed: Arc<Mutex<Vec<(String, RDKafkaErrorCode)>>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                self.ok.lock().unwrap().push(v);
                self.ok_at.lock().unwrap().push(Instant::now());
            }
            Err((e, m)) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                let code = match e {
                    KafkaError::MessageProduction(c) => *c,
                    _ => RDKafkaErrorCode::Fail,
                };
                self.failed.lock().unwrap().push((v, code));
            }
        }
    }
}

/// Every value stored in partition `partition` up to its high watermark, with counts.
fn stored_values(bootstrap: &str, topic: &str, partition: i32) -> HashMap<String, usize> {
    let c: BaseConsumer = config(bootstrap)
        .set("group.id", format!("reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = c
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
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

#[test]
fn kill_dash_nine_of_the_leader_loses_no_acknowledged_record_and_writes_no_duplicate() {
    let mut cluster = Cluster::start(ClusterSpec::default());
    create_topic(
        &cluster,
        "replicated",
        1,
        3,
        &[("min.insync.replicas", "2")],
    );
    let (leader, replicas, _) = wait_for_state(
        &cluster,
        "replicated",
        0,
        Duration::from_secs(30),
        "all three replicas in sync",
        |(l, _, isr)| *l > 0 && isr.len() == 3,
    );
    assert_eq!(replicas.len(), 3);

    let acks = Acks::default();
    let producer: ThreadedProducer<Acks> = config(&cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("retry.backoff.ms", "100")
        .create_with_context(acks.clone())
        .unwrap();
    const RECORDS: usize = 3_000;
    for i in 0..RECORDS {
        let value = i.to_string();
        producer
            .send(
                BaseRecord::<(), str>::to("replicated")
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
    producer.flush(Duration::from_secs(90)).unwrap();
    let acked = acks.ok.lock().unwrap().clone();
    let failed = acks.failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "every record is eventually acknowledged: {failed:?}"
    );
    assert_eq!(acked.len(), RECORDS);

    let (new_leader, _, _) = wait_for_state(
        &cluster,
        "replicated",
        0,
        Duration::from_secs(30),
        "a new leader",
        |(l, _, _)| *l > 0 && *l != leader,
    );
    assert_ne!(new_leader, leader);
    let stored = stored_values(&cluster.bootstrap(), "replicated", 0);
    for v in &acked {
        assert_eq!(
            stored.get(v),
            Some(&1),
            "acknowledged value {v} stored exactly once"
        );
    }
    assert_eq!(stored.len(), RECORDS, "no value that was not produced");

    // The old leader comes back as a follower, catches up and rejoins the ISR.
    cluster.node(leader).start_again();
    wait_for_state(
        &cluster,
        "replicated",
        0,
        Duration::from_secs(30),
        "the restarted replica back in the ISR",
        |(_, _, isr)| isr.len() == 3,
    );
}

#[test]
fn sigstop_of_a_follower_shrinks_the_isr_and_sigcont_expands_it() {
    let cluster = Cluster::start(ClusterSpec::default());
    create_topic(&cluster, "lagging", 1, 3, &[]);
    let (leader, _, isr) = wait_for_state(
        &cluster,
        "lagging",
        0,
        Duration::from_secs(30),
        "all three replicas in sync",
        |(l, _, isr)| *l > 0 && isr.len() == 3,
    );
    let follower = *isr.iter().find(|r| **r != leader).unwrap();
    let node = cluster.nodes.iter().find(|n| n.id == follower).unwrap();
    node.sigstop();

    // Writes keep coming; the stopped follower falls behind and leaves the ISR.
    let others: String = cluster
        .nodes
        .iter()
        .filter(|n| n.id != follower)
        .map(|n| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let producer: ThreadedProducer<Acks> = config(&others)
        .set("acks", "1")
        .create_with_context(Acks::default())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shrunk = loop {
        producer
            .send(
                BaseRecord::<(), str>::to("lagging")
                    .partition(0)
                    .payload("x"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer.flush(Duration::from_secs(5)).unwrap();
        if let Some(state) = partition_state(&others, "lagging", 0) {
            if !state.2.contains(&follower) {
                break state;
            }
        }
        assert!(
            Instant::now() < deadline,
            "ISR never shrank\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(shrunk.2.len(), 2);

    // Operators see it: the leader reports an under-replicated partition, /v1/cluster counts
    // it, and exactly one live node hosts the active controller.
    let leader_node = cluster.nodes.iter().find(|n| n.id == shrunk.0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gauge(
        &leader_node.http_url("/metrics"),
        "troupe_under_replicated_partitions ",
    ) < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the leader never reported under-replication"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status: serde_json::Value = reqwest::blocking::get(leader_node.http_url("/v1/cluster"))
        .unwrap()
        .json()
        .unwrap();
    assert!(
        status["under_replicated_partitions"].as_u64().unwrap() >= 1,
        "{status}"
    );
    let active: f64 = cluster
        .nodes
        .iter()
        .filter(|n| n.id != follower)
        .map(|n| gauge(&n.http_url("/metrics"), "troupe_active_controller_count "))
        .sum();
    assert!(active <= 1.0, "two active controllers");

    node.sigcont();
    wait_for_state(
        &cluster,
        "lagging",
        0,
        Duration::from_secs(30),
        "the resumed follower back in the ISR",
        |(_, _, isr)| isr.contains(&follower),
    );
}

#[test]
fn metadata_changes_keep_working_after_the_active_controller_is_killed() {
    let mut cluster = Cluster::start(ClusterSpec::default());
    create_topic(&cluster, "before", 3, 3, &[]);
    let consumer: BaseConsumer = config(&cluster.bootstrap()).create().unwrap();
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    assert_eq!(md.brokers().len(), 3);
    let controller = controller_id(&cluster);
    let survivors: String = cluster
        .nodes
        .iter()
        .filter(|n| n.id != controller)
        .map(|n| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let consumer: BaseConsumer = config(&survivors).create().unwrap();
    assert!(controller > 0, "a controller is known");
    cluster.node(controller).kill9();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = controller_id(&cluster);
        if c > 0 && c != controller {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new controller\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Once the dead node is fenced, a replication factor above the live brokers is refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = consumer.fetch_metadata(None, Duration::from_secs(5));
        if md.is_ok_and(|md| md.brokers().len() == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dead node never fenced\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    create_topic(&cluster, "after", 3, 2, &[]);
    let state = wait_for_state(
        &cluster,
        "after",
        0,
        Duration::from_secs(30),
        "the new topic has a leader",
        |(l, _, _)| *l > 0,
    );
    assert!(
        !state.1.contains(&controller),
        "new replicas go to live brokers only"
    );
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let res = runtime()
        .block_on(admin.create_topics(
            &[NewTopic::new("too-wide", 1, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(
        matches!(
            &res[0],
            Err((_, RDKafkaErrorCode::InvalidReplicationFactor))
        ),
        "{res:?}"
    );
}

/// The active controller's id as Metadata reports it (DescribeCluster through rdkafka is not
/// exposed, so read it from the broker list's controller).
fn controller_id(cluster: &Cluster) -> i32 {
    use std::io::{Read, Write};
    // Metadata v1 request for no topics: the response carries controller_id.
    for n in cluster.nodes.iter().filter(|n| n.is_running()) {
        let Ok(mut s) = std::net::TcpStream::connect(n.bootstrap()) else {
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(&3i16.to_be_bytes()); // Metadata
        body.extend_from_slice(&1i16.to_be_bytes()); // v1
        body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
        body.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
        body.extend_from_slice(&0i32.to_be_bytes()); // empty topic list
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        if s.write_all(&frame).is_err() {
            continue;
        }
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            continue;
        }
        let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut resp).unwrap();
        let mut at = 4; // correlation id
        let brokers = i32::from_be_bytes(resp[at..at + 4].try_into().unwrap());
        at += 4;
        for _ in 0..brokers {
            at += 4; // node id
            let host = i16::from_be_bytes(resp[at..at + 2].try_into().unwrap()) as usize;
            at += 2 + host + 4; // host, port
            let rack = i16::from_be_bytes(resp[at..at + 2].try_into().unwrap());
            at += 2 + rack.max(0) as usize;
        }
        return i32::from_be_bytes(resp[at..at + 4].try_into().unwrap());
    }
    -1
}

#[test]
fn acks_all_is_refused_with_not_enough_replicas_when_two_replicas_are_down() {
    // Three controller voters keep the quorum; the partition's other two replicas live on
    // broker-only nodes 4 and 5, so losing both leaves the controller able to shrink the ISR.
    let mut cluster = Cluster::start(ClusterSpec {
        voters: 3,
        brokers_only: 2,
        ..Default::default()
    });
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let topic = NewTopic::new("guarded", 1, TopicReplication::Variable(&[&[1, 4, 5]]))
        .set("min.insync.replicas", "2");
    let res = runtime()
        .block_on(admin.create_topics(&[topic], &AdminOptions::new()))
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    wait_for_state(
        &cluster,
        "guarded",
        0,
        Duration::from_secs(30),
        "ISR of three",
        |(l, _, isr)| *l == 1 && isr.len() == 3,
    );
    cluster.node(4).kill9();
    cluster.node(5).kill9();
    wait_for_state(
        &cluster,
        "guarded",
        0,
        Duration::from_secs(30),
        "ISR of the leader alone",
        |(_, _, isr)| isr == &vec![1],
    );

    let acks = Acks::default();
    let producer: ThreadedProducer<Acks> = config(&cluster.bootstrap())
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", "10000")
        .create_with_context(acks.clone())
        .unwrap();
    for i in 0..10 {
        producer
            .send(
                BaseRecord::<(), str>::to("guarded")
                    .partition(0)
                    .payload(&i.to_string()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(20)).unwrap();
    assert!(
        acks.ok.lock().unwrap().is_empty(),
        "nothing is acknowledged"
    );
    let failed = acks.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 10);
    assert!(
        failed
            .iter()
            .all(|(_, code)| *code == RDKafkaErrorCode::NotEnoughReplicas),
        "{failed:?}"
    );
    let consumer: BaseConsumer = config(&cluster.bootstrap()).create().unwrap();
    let (_, high) = consumer
        .fetch_watermarks("guarded", 0, Duration::from_secs(10))
        .unwrap();
    assert_eq!(high, 0, "nothing was written");
}

#[test]
fn an_isolated_leaders_unreplicated_tail_is_truncated_when_it_rejoins() {
    let cluster = Cluster::start(ClusterSpec {
        proxied: true,
        // Leadership returns to the preferred replica soon after it is back in sync, so the
        // test can read the partition from the node that was cut off.
        overrides: vec![("leader.imbalance.check.interval.seconds".into(), "2".into())],
        ..Default::default()
    });
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let res = runtime()
        .block_on(admin.create_topics(
            &[NewTopic::new(
                "cut",
                1,
                TopicReplication::Variable(&[&[1, 2, 3]]),
            )],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    wait_for_state(
        &cluster,
        "cut",
        0,
        Duration::from_secs(30),
        "node 1 leads a full ISR",
        |(l, _, isr)| *l == 1 && isr.len() == 3,
    );
    let produce = |bootstrap: &str, acks: &str, values: std::ops::Range<usize>, prefix: &str| {
        let ok = Acks::default();
        let producer: ThreadedProducer<Acks> = config(bootstrap)
            .set("acks", acks)
            .set("message.timeout.ms", "20000")
            .create_with_context(ok.clone())
            .unwrap();
        for i in values {
            producer
                .send(
                    BaseRecord::<(), str>::to("cut")
                        .partition(0)
                        .payload(&format!("{prefix}{i}")),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        let acked = ok.ok.lock().unwrap().clone();
        acked
    };
    let before = produce(&cluster.bootstrap(), "all", 0..20, "before-");
    assert_eq!(before.len(), 20);

    cluster.isolate(1, true);
    // Node 1 still believes it leads: acks=1 writes land only on it.
    let node1 = cluster.nodes[0].bootstrap();
    let stranded = produce(&node1, "1", 0..50, "stranded-");
    assert!(!stranded.is_empty(), "the isolated leader accepted writes");
    // The majority fences node 1 and elects another leader, which takes new writes.
    let majority: String = cluster.nodes[1..]
        .iter()
        .map(|n| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((l, _, _)) = partition_state(&majority, "cut", 0) {
            if l > 1 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = produce(&majority, "all", 0..10, "after-");
    assert_eq!(after.len(), 10);

    cluster.isolate(1, false);
    // Asked of the majority: node 1's own metadata is stale until it catches up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((l, _, isr)) = partition_state(&majority, "cut", 0) {
            if l == 1 && isr.len() == 3 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node 1 never led again\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stored = stored_values(&node1, "cut", 0);
    for v in before.iter().chain(&after) {
        assert_eq!(stored.get(v), Some(&1), "{v} kept once");
    }
    assert!(
        stored.keys().all(|v| !v.starts_with("stranded-")),
        "the isolated leader's unreplicated writes are gone: {:?}",
        stored.keys().filter(|v| v.starts_with("stranded-")).count()
    );
    assert_eq!(stored.len(), 30);
}

/// Issue #21: a partition leader cut off from the other nodes while clients still reach it
/// stops leading once its broker lease runs out (`broker.session.timeout.ms` after the last
/// heartbeat the active controller confirmed), instead of holding acks=all produces until the
/// client's request timeout and naming itself in Metadata. An idempotent producer bootstrapped
/// with every node then reaches the new leader before its `message.timeout.ms`: no send fails,
/// and every acknowledged value is stored exactly once. The leader chosen is also the active
/// controller, the harder case: its own controller accepts its heartbeats until it finds it no
/// longer leads a quorum.
#[test]
fn an_isolated_leader_steps_down_so_idempotent_sends_reach_the_new_leader_before_timing_out() {
    let cluster = Cluster::start(ClusterSpec {
        proxied: true,
        overrides: vec![
            ("broker.session.timeout.ms".into(), "4000".into()),
            ("broker.heartbeat.interval.ms".into(), "1000".into()),
            ("replica.lag.time.max.ms".into(), "3000".into()),
        ],
        ..Default::default()
    });
    let mut cut = controller_id(&cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    while cut < 1 {
        assert!(Instant::now() < deadline, "no active controller");
        std::thread::sleep(Duration::from_millis(200));
        cut = controller_id(&cluster);
    }
    let others: Vec<i32> = (1..=3).filter(|n| *n != cut).collect();
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let assignment = [cut, others[0], others[1]];
    let res = runtime()
        .block_on(
            admin.create_topics(
                &[
                    NewTopic::new("failover", 1, TopicReplication::Variable(&[&assignment]))
                        .set("min.insync.replicas", "2"),
                ],
                &AdminOptions::new(),
            ),
        )
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    wait_for_state(
        &cluster,
        "failover",
        0,
        Duration::from_secs(30),
        "the active controller's node leads a full ISR",
        |(l, _, isr)| *l == cut && isr.len() == 3,
    );

    let acks = Acks::default();
    let producer: ThreadedProducer<Acks> = config(&cluster.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "15000")
        .set("request.timeout.ms", "5000")
        .create_with_context(acks.clone())
        .unwrap();
    let send = |i: usize| {
        producer
            .send(
                BaseRecord::<(), str>::to("failover")
                    .partition(0)
                    .payload(&i.to_string()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    };
    let started = Instant::now();
    let mut next = 0;
    while started.elapsed() < Duration::from_secs(3) {
        send(next);
        next += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.isolate(cut, true);
    let isolated_at = Instant::now();
    let first_after_cut = next;
    while isolated_at.elapsed() < Duration::from_secs(17) {
        send(next);
        next += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let failed = acks.failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "{} of {next} sends failed, e.g. {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        cluster.logs()
    );
    let acked = acks.ok.lock().unwrap().clone();
    assert_eq!(acked.len(), next, "every send acknowledged");
    // A value sent after the cut can only be acknowledged by a new leader: the cut-off node
    // cannot replicate it.
    let first_new_leader_ack = acked
        .iter()
        .zip(acks.ok_at.lock().unwrap().iter())
        .filter(|(v, _)| v.parse::<usize>().unwrap() >= first_after_cut)
        .map(|(_, at)| at.duration_since(isolated_at))
        .min()
        .expect("values sent after the cut were acknowledged");
    eprintln!("first acknowledged write on the new leader {first_new_leader_ack:?} after the cut");
    assert!(
        first_new_leader_ack < Duration::from_secs(15),
        "first write acknowledged by a new leader {first_new_leader_ack:?} after the cut"
    );

    let majority: String = cluster
        .nodes
        .iter()
        .filter(|n| n.id != cut)
        .map(|n| n.bootstrap())
        .collect::<Vec<_>>()
        .join(",");
    let (leader, _, _) =
        partition_state(&majority, "failover", 0).expect("the majority's metadata");
    assert_ne!(leader, cut, "the majority elected another leader");
    let stored = stored_values(&majority, "failover", 0);
    for v in &acked {
        assert_eq!(
            stored.get(v),
            Some(&1),
            "acknowledged value {v} stored exactly once"
        );
    }
    assert!(
        stored
            .keys()
            .all(|v| v.parse::<usize>().is_ok_and(|i| i < next)),
        "only values that were produced"
    );
}

#[test]
fn a_rolling_restart_under_produce_and_group_consumption_loses_nothing() {
    let mut cluster = Cluster::start(ClusterSpec::default());
    create_topic(&cluster, "rolling", 3, 3, &[("min.insync.replicas", "2")]);
    for p in 0..3 {
        wait_for_state(
            &cluster,
            "rolling",
            p,
            Duration::from_secs(30),
            "full ISR",
            |(l, _, isr)| *l > 0 && isr.len() == 3,
        );
    }
    let bootstrap = cluster.bootstrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acks = Acks::default();
    let producing = {
        let (stop, acks, bootstrap) = (stop.clone(), acks.clone(), bootstrap.clone());
        std::thread::spawn(move || {
            let producer: ThreadedProducer<Acks> = config(&bootstrap)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "5")
                .set("message.timeout.ms", "120000")
                .create_with_context(acks)
                .unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let v = i.to_string();
                let mut record = BaseRecord::<str, str>::to("rolling").key(&v).payload(&v);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, r)) => {
                            record = r;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            producer.flush(Duration::from_secs(120)).unwrap();
            i
        })
    };
    let consumed: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let consuming = {
        let (stop, consumed, bootstrap) = (stop.clone(), consumed.clone(), bootstrap.clone());
        std::thread::spawn(move || {
            let consumer: BaseConsumer = config(&bootstrap)
                .set("group.id", "rolling-readers")
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "true")
                .set("auto.commit.interval.ms", "200")
                .set("session.timeout.ms", "10000")
                .create()
                .unwrap();
            consumer.subscribe(&["rolling"]).unwrap();
            let mut idle_since = Instant::now();
            loop {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        let v =
                            String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                        *consumed.lock().unwrap().entry(v).or_insert(0) += 1;
                        idle_since = Instant::now();
                    }
                    _ => {
                        if stop.load(std::sync::atomic::Ordering::SeqCst)
                            && idle_since.elapsed() > Duration::from_secs(10)
                        {
                            return;
                        }
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    for id in 1..=3 {
        assert_eq!(
            cluster.node(id).terminate(),
            Some(0),
            "node {id} shuts down cleanly"
        );
        std::thread::sleep(Duration::from_secs(1));
        cluster.node(id).start_again();
        for p in 0..3 {
            wait_for_state(
                &cluster,
                "rolling",
                p,
                Duration::from_secs(60),
                "full ISR after a restart",
                |(l, _, isr)| *l > 0 && isr.len() == 3,
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let produced = producing.join().unwrap();
    consuming.join().unwrap();
    let acked = acks.ok.lock().unwrap().clone();
    assert!(
        acks.failed.lock().unwrap().is_empty(),
        "every record acknowledged"
    );
    assert_eq!(acked.len() as u64, produced);
    let mut stored: HashMap<String, usize> = HashMap::new();
    for p in 0..3 {
        for (v, n) in stored_values(&cluster.bootstrap(), "rolling", p) {
            *stored.entry(v).or_insert(0) += n;
        }
    }
    for v in &acked {
        assert_eq!(
            stored.get(v),
            Some(&1),
            "acknowledged {v} stored exactly once"
        );
    }
    let consumed = consumed.lock().unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|v| !consumed.contains_key(*v))
        .collect();
    assert!(
        missing.is_empty(),
        "the group consumed every record ({} missing)",
        missing.len()
    );
}

/// Sends one request with kafka-protocol's encoder and decodes the response (for APIs
/// rust-rdkafka does not expose).
/// The value of the first sample starting with `prefix` on a node's /metrics.
fn gauge(url: &str, prefix: &str) -> f64 {
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} on {url}"))
}

/// `troupe <args> --bootstrap <bootstrap>` with `stdin`; (exit code, stdout, stderr).
fn troupe_cli(bootstrap: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(args)
        .args(["--bootstrap", bootstrap])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_admin_cli_manages_topics_and_groups_of_a_three_node_cluster() {
    let cluster = Cluster::start(ClusterSpec::default());
    // A bootstrap list whose first address is dead: the CLI moves on to the next.
    let bootstrap = format!("127.0.0.1:1,{}", cluster.bootstrap());
    let run = |args: &[&str], stdin: &str| {
        let (code, out, err) = troupe_cli(&bootstrap, args, stdin);
        assert_eq!(code, 0, "troupe {args:?}: {err}\n{}", cluster.logs());
        out
    };
    let json = |args: &[&str]| -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&run(&args, "")).unwrap()
    };
    let status = json(&["cluster", "status"]);
    assert_eq!(status["brokers"].as_array().unwrap().len(), 3, "{status}");

    run(
        &[
            "topic",
            "create",
            "cli-orders",
            "--partitions",
            "3",
            "--replication-factor",
            "3",
        ],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let described = loop {
        let d = json(&["topic", "describe", "cli-orders"]);
        let all_in_sync = d["partitions"].as_array().is_some_and(|ps| {
            ps.len() == 3
                && ps.iter().all(|p| {
                    p["replicas"].as_array().unwrap().len() == 3
                        && p["isr"].as_array().unwrap().len() == 3
                })
        });
        if all_in_sync {
            break d;
        }
        assert!(Instant::now() < deadline, "never fully in sync: {d}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let leaders: std::collections::BTreeSet<i64> = described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["leader"].as_i64().unwrap())
        .collect();
    assert_eq!(
        leaders.len(),
        3,
        "leaders spread over the nodes: {described}"
    );

    // Records in through the CLI (keys spread them over partitions), out through the CLI.
    let lines: String = (0..30).map(|i| format!("k{i}:v{i}\n")).collect();
    run(
        &[
            "produce",
            "cli-orders",
            "--key-separator",
            ":",
            "--header",
            "source=cli",
        ],
        &lines,
    );
    let consumed = run(
        &[
            "consume",
            "cli-orders",
            "--from-beginning",
            "--max-messages",
            "30",
            "--json",
        ],
        "",
    );
    let values: std::collections::BTreeSet<String> = consumed
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["headers"]["source"], "cli");
            v["value"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(values.len(), 30);

    // A group commits where a consumer got to; describe shows lag against the log end.
    let consumer: BaseConsumer = config(&cluster.bootstrap())
        .set("group.id", "cli-group")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    for p in 0..3 {
        offsets
            .add_partition_offset("cli-orders", p, Offset::Offset(0))
            .unwrap();
    }
    consumer
        .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    drop(consumer);
    let group = json(&["group", "describe", "cli-group"]);
    assert_eq!(
        group["partitions"].as_array().map(Vec::len),
        Some(3),
        "{group}"
    );
    assert_eq!(group["total_lag"], 30, "{group}");
    run(
        &[
            "group",
            "reset-offsets",
            "cli-group",
            "--topic",
            "cli-orders",
            "--to-latest",
            "--execute",
        ],
        "",
    );
    let group = json(&["group", "describe", "cli-group"]);
    assert_eq!(group["total_lag"], 0, "{group}");
    run(&["group", "delete", "cli-group"], "");
    let groups = json(&["group", "list"]);
    assert!(!groups.to_string().contains("cli-group"), "{groups}");
    run(&["topic", "delete", "cli-orders"], "");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _, err) = troupe_cli(&bootstrap, &["topic", "describe", "cli-orders"], "");
        if code != 0 {
            assert!(err.contains("UnknownTopicOrPartition"), "{err}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "topic still described after delete"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn raw_call<R: kafka_protocol::protocol::Request>(
    bootstrap: &str,
    request: R,
    version: i16,
) -> R::Response {
    use bytes::{Buf, BufMut, BytesMut};
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(bootstrap.split(',').next().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut body = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .encode(&mut body, R::header_version(version))
        .unwrap();
    request.encode(&mut body, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    s.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    let mut resp = bytes::Bytes::from(resp);
    ResponseHeader::decode(&mut resp, R::Response::header_version(version)).unwrap();
    let out = R::Response::decode(&mut resp, version).unwrap();
    assert_eq!(resp.remaining(), 0);
    out
}

#[test]
fn a_reassignment_moves_replicas_after_the_new_ones_catch_up() {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{
        AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    let cluster = Cluster::start(ClusterSpec::default());
    let admin: AdminClient<DefaultClientContext> = config(&cluster.bootstrap()).create().unwrap();
    let res = runtime()
        .block_on(admin.create_topics(
            &[NewTopic::new(
                "moving",
                1,
                TopicReplication::Variable(&[&[1, 2]]),
            )],
            &AdminOptions::new(),
        ))
        .unwrap();
    assert!(res[0].is_ok(), "{res:?}");
    wait_for_state(
        &cluster,
        "moving",
        0,
        Duration::from_secs(30),
        "both replicas in sync",
        |(l, _, isr)| *l == 1 && isr.len() == 2,
    );
    let producer: ThreadedProducer<Acks> = config(&cluster.bootstrap())
        .set("acks", "all")
        .create_with_context(Acks::default())
        .unwrap();
    for i in 0..500 {
        producer
            .send(
                BaseRecord::<(), str>::to("moving")
                    .partition(0)
                    .payload(&i.to_string()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let answer = raw_call(
        &cluster.bootstrap(),
        AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("moving")))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(0)
                    .with_replicas(Some(vec![BrokerId(3), BrokerId(2)]))])]),
        0,
    );
    assert_eq!(
        answer.responses[0].partitions[0].error_code, 0,
        "{answer:?}"
    );
    // Node 1 leaves only after node 3 caught up; leadership moves to a target replica.
    let (leader, replicas, isr) = wait_for_state(
        &cluster,
        "moving",
        0,
        Duration::from_secs(60),
        "replicas moved to [3, 2]",
        |(_, replicas, _)| replicas == &vec![3, 2],
    );
    assert!(leader == 3 || leader == 2, "leader {leader}");
    assert!(isr.iter().all(|r| replicas.contains(r)));
    let listed = raw_call(
        &cluster.bootstrap(),
        ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000),
        0,
    );
    assert!(listed.topics.is_empty(), "no reassignment left: {listed:?}");
    let stored = stored_values(&cluster.bootstrap(), "moving", 0);
    assert_eq!(stored.len(), 500, "every record moved with the partition");
    // The old replica's data is gone from node 1.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.nodes[0].data_dir.join("moving-0").exists() {
        assert!(Instant::now() < deadline, "node 1 still holds moving-0");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Kafka's coordinator partition of a group or transactional id: abs(Java String.hashCode) mod
/// the internal topic's partitions (6 in these clusters).
fn coordinator_partition(key: &str) -> i32 {
    let mut h: i32 = 0;
    for c in key.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(c as i32);
    }
    (if h == i32::MIN { 0 } else { h.abs() }) % 6
}

#[test]
fn groups_and_transactions_keep_working_across_coordinator_failover() {
    use rdkafka::consumer::CommitMode;
    use rdkafka::producer::BaseProducer;

    let mut cluster = Cluster::start(ClusterSpec::default());
    create_topic(&cluster, "failover", 1, 3, &[]);
    wait_for_state(
        &cluster,
        "failover",
        0,
        Duration::from_secs(30),
        "full ISR",
        |(l, _, isr)| *l > 0 && isr.len() == 3,
    );
    let group = "failover-group";
    let txn_id = "failover-txn";
    let (group_coordinator, _, _) = wait_for_state(
        &cluster,
        "__consumer_offsets",
        coordinator_partition(group),
        Duration::from_secs(30),
        "the group's coordinator partition has a full ISR",
        |(l, _, isr)| *l > 0 && isr.len() == 3,
    );

    // A transactional producer commits 100 records.
    let producer: BaseProducer = config(&cluster.bootstrap())
        .set("transactional.id", txn_id)
        .set("transaction.timeout.ms", "30000")
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    let commit_batch = |p: &BaseProducer, from: usize| {
        p.begin_transaction().unwrap();
        for i in from..from + 100 {
            p.send(
                BaseRecord::<(), str>::to("failover")
                    .partition(0)
                    .payload(&i.to_string()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        }
        p.commit_transaction(Duration::from_secs(60)).unwrap();
    };
    commit_batch(&producer, 0);

    // A group member reads them and commits its position.
    let consumer = |bootstrap: &str| -> BaseConsumer {
        let c: BaseConsumer = config(bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "10000")
            .create()
            .unwrap();
        c.subscribe(&["failover"]).unwrap();
        c
    };
    let read = |c: &BaseConsumer, n: usize| -> Vec<String> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while out.len() < n && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
            }
        }
        out
    };
    let first = consumer(&cluster.bootstrap());
    assert_eq!(read(&first, 100).len(), 100);
    first.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(first);

    // The node leading the group's coordinator partition dies; another takes the partition
    // over, replays it, and the group and transaction coordinators answer from there.
    cluster.node(group_coordinator).kill9();
    let (new_coordinator, _, _) = wait_for_state(
        &cluster,
        "__consumer_offsets",
        coordinator_partition(group),
        Duration::from_secs(30),
        "a new group coordinator",
        |(l, _, _)| *l > 0 && *l != group_coordinator,
    );
    assert_ne!(new_coordinator, group_coordinator);

    // Transactions continue (the producer finds its coordinator again if it moved).
    commit_batch(&producer, 100);
    // The group resumes from its committed offset: only the second 100 records.
    let second = consumer(&cluster.bootstrap());
    let got = read(&second, 100);
    assert_eq!(
        got.len(),
        100,
        "the group resumed and read the new transaction\n{}",
        cluster.logs()
    );
    assert!(
        got.iter().all(|v| v.parse::<usize>().unwrap() >= 100),
        "resumed at the committed offset: {got:?}"
    );
    second.commit_consumer_state(CommitMode::Sync).unwrap();
}
