//! KIP-951 leader discovery in a 3-node cluster: a Produce or Fetch sent to a node that does
//! not lead the partition answers NOT_LEADER_OR_FOLLOWER (or FENCED_LEADER_EPOCH for a stale
//! epoch) with the real leader and its epoch, and Produce v10+ with the leader's address as
//! the cluster advertises it on the listener the client came through. Each node has two
//! listeners advertised under different host names, so an answer built from the wrong
//! listener shows.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::batches::plain_batch;
use common::cluster::{Cluster, ClusterSpec};
use common::free_port;
use common::raw::RawConnection;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "moved";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const NOT_CONTROLLER: i16 = 41;

/// Where a client reaches a node on each listener, as the node advertises it.
#[derive(Clone)]
struct Listeners {
    /// CLIENT: the node's Kafka port, advertised as 127.0.0.1 (also the inter-broker one).
    client: BTreeMap<i32, u16>,
    /// EXTERNAL: its own port, advertised as `localhost`.
    external: BTreeMap<i32, u16>,
}

impl Listeners {
    fn client_addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.client[&id])
    }
    fn external_addr(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.external[&id])
    }
}

fn start_cluster() -> (Cluster, Listeners) {
    let external: BTreeMap<i32, u16> = (1..=3).map(|id| (id, free_port())).collect();
    let ports = external.clone();
    let overrides = [
        (
            "listener.security.protocol.map",
            "CLIENT:PLAINTEXT,EXTERNAL:PLAINTEXT",
        ),
        ("inter.broker.listener.name", "CLIENT"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut cluster = Cluster::start(ClusterSpec {
        overrides,
        per_node: Some(Box::new(move |id, kafka_port| {
            let external = ports[&id];
            vec![
                (
                    "listeners".to_string(),
                    format!("CLIENT://127.0.0.1:{kafka_port},EXTERNAL://127.0.0.1:{external}"),
                ),
                (
                    "advertised.listeners".to_string(),
                    format!("CLIENT://127.0.0.1:{kafka_port},EXTERNAL://localhost:{external}"),
                ),
            ]
        })),
        ..Default::default()
    });
    let client = (1..=3)
        .map(|id| {
            let port = cluster.node(id).bootstrap();
            let port = port.rsplit(':').next().unwrap().parse().unwrap();
            (id, port)
        })
        .collect();
    (cluster, Listeners { client, external })
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn create_topic(cluster: &Cluster, listeners: &Listeners) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(name(TOPIC))
            .with_num_partitions(1)
            .with_replication_factor(3)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in (1..=3).cycle() {
        let mut raw = RawConnection::connect(&listeners.client_addr(id), "create");
        let r: CreateTopicsResponse = raw.call_typed(ApiKey::CreateTopics, 5, &request);
        match r.topics[0].error_code {
            0 => return,
            NOT_CONTROLLER if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200))
            }
            code => panic!("create {TOPIC}: {r:?} (code {code})\n{}", cluster.logs()),
        }
    }
}

/// Partition 0's (leader, leader epoch) once every node's Metadata agrees on a live leader
/// whose epoch is at least `min_epoch` (and, when given, not `not_leader`).
fn agreed_leader(
    cluster: &Cluster,
    listeners: &Listeners,
    nodes: &[i32],
    min_epoch: i32,
    not_leader: Option<i32>,
) -> (i32, i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = nodes
            .iter()
            .map(|id| {
                let mut raw = RawConnection::connect(&listeners.client_addr(*id), "metadata");
                let r: MetadataResponse = raw.call_typed(
                    ApiKey::Metadata,
                    12,
                    &MetadataRequest::default()
                        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                        )
                        .with_name(Some(name(TOPIC)))])),
                );
                r.topics
                    .first()
                    .and_then(|t| t.partitions.first())
                    .filter(|p| p.error_code == 0)
                    .map(|p| (p.leader_id.0, p.leader_epoch))
            })
            .collect();
        if let Some(Some(first)) = last.first() {
            let agreed = last.iter().all(|l| *l == Some(*first));
            if agreed && first.0 >= 0 && first.1 >= min_epoch && Some(first.0) != not_leader {
                return *first;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no agreed leader: {last:?}\n{}", cluster.logs());
}

fn produce_request() -> ProduceRequest {
    let batch = plain_batch(
        [(None, Some(Bytes::from_static(b"to the wrong node")), 1)],
        Compression::None,
    );
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(name(TOPIC))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch)),
            ])])
}

fn fetch_request(current_leader_epoch: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
                .with_current_leader_epoch(current_leader_epoch)])])
}

/// Fetch v12's only partition, once `addr` answers `error` for it (a follower learns of a new
/// leader epoch a little after the controller decides it).
fn fetch_until(
    cluster: &Cluster,
    addr: &str,
    current_leader_epoch: i32,
    error: i16,
) -> fetch_response::PartitionData {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut raw = RawConnection::connect(addr, "consumer");
        let r: FetchResponse =
            raw.call_typed(ApiKey::Fetch, 12, &fetch_request(current_leader_epoch));
        let p = r.responses[0].partitions[0].clone();
        if p.error_code == error {
            assert!(r.node_endpoints.is_empty(), "{r:?}");
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "fetch from {addr}: {r:?}, waiting for {error}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_node_that_does_not_lead_names_the_leader_and_its_address() {
    let (mut cluster, listeners) = start_cluster();
    create_topic(&cluster, &listeners);
    let (leader, epoch) = agreed_leader(&cluster, &listeners, &[1, 2, 3], 0, None);
    let follower = (1..=3).find(|id| *id != leader).unwrap();

    // Produce v11 through each listener: the leader at its epoch, and its address as that
    // listener advertises it (what Metadata through the same listener says).
    for (addr, host, port) in [
        (
            listeners.client_addr(follower),
            "127.0.0.1",
            listeners.client[&leader],
        ),
        (
            listeners.external_addr(follower),
            "localhost",
            listeners.external[&leader],
        ),
    ] {
        let mut raw = RawConnection::connect(&addr, "producer");
        let r: ProduceResponse = raw.call_typed(ApiKey::Produce, 11, &produce_request());
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, NOT_LEADER_OR_FOLLOWER, "{addr}: {r:?}");
        assert_eq!(
            (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
            (leader, epoch),
            "{addr}: {r:?}"
        );
        let endpoints: Vec<(i32, &str, i32)> = r
            .node_endpoints
            .iter()
            .map(|e| (e.node_id.0, e.host.as_str(), e.port))
            .collect();
        assert_eq!(
            endpoints,
            vec![(leader, host, port as i32)],
            "{addr}: {r:?}"
        );
        let metadata: MetadataResponse =
            raw.call_typed(ApiKey::Metadata, 12, &MetadataRequest::default());
        let advertised = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == leader)
            .map(|b| (b.node_id.0, b.host.as_str(), b.port));
        assert_eq!(
            advertised,
            endpoints.first().copied(),
            "{addr}: {metadata:?}"
        );
    }

    // Produce v9 (flexible, but before KIP-951): the same refusal and nothing more.
    let mut raw = RawConnection::connect(&listeners.client_addr(follower), "old-producer");
    let r: ProduceResponse = raw.call_typed(ApiKey::Produce, 9, &produce_request());
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, NOT_LEADER_OR_FOLLOWER, "{r:?}");
    assert_eq!(p.current_leader, Default::default(), "{r:?}");
    assert!(p.unknown_tagged_fields.is_empty() && r.unknown_tagged_fields.is_empty());
    assert!(r.node_endpoints.is_empty(), "{r:?}");

    // Fetch v12 from a follower: the leader and its epoch (no endpoints before v16).
    let p = fetch_until(
        &cluster,
        &listeners.external_addr(follower),
        -1,
        NOT_LEADER_OR_FOLLOWER,
    );
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (leader, epoch),
        "{p:?}"
    );

    // The leader shuts down (its partitions move away at once): a consumer still on the old
    // epoch is fenced by a follower, which names the new leader at the new epoch.
    cluster.node(leader).terminate();
    let survivors: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
    let (new_leader, new_epoch) =
        agreed_leader(&cluster, &listeners, &survivors, epoch + 1, Some(leader));
    let other = *survivors.iter().find(|id| **id != new_leader).unwrap();
    let p = fetch_until(
        &cluster,
        &listeners.client_addr(other),
        epoch,
        FENCED_LEADER_EPOCH,
    );
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (new_leader, new_epoch),
        "{p:?}"
    );
}
