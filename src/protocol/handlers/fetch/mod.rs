//! Fetch: decode → authorize → `ReplicaManager::fetch_messages` → encode. The read rounds, the
//! KIP-74 layout within `max_bytes`, read-ahead and the long-poll (`DelayedFetch`) live in the
//! ReplicaManager (`actors/partition_replica/replica_manager/fetch.rs`); followers' fetches
//! (replica id ≥ 0) take the same path.
//!
//! Fetch sessions are answered with session id 0, which tells clients to keep sending full
//! fetch requests (KIP-227's sessionless mode). Records are never read here: each partition
//! answers with file ranges of its segments, and `encode` writes the response around them so
//! the connection sends them with `sendfile(2)`.
//!
//! KIP-951 in part: from v12 a partition answered NOT_LEADER_OR_FOLLOWER or
//! FENCED_LEADER_EPOCH carries its current leader (the tagged `current_leader` field, KIP-595's)
//! when this node knows it. The leaders' endpoints (`node_endpoints`) need Fetch v16, which
//! Troupe does not serve yet, so a consumer still looks the address up in its metadata.

mod encode;

pub use encode::{encode_fetch_response, PartitionRecords};

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};

use super::{authorize, authorized, CLUSTER};
use crate::actors::partition_replica::replica_manager::{
    FetchParams, FetchPartition, FetchPartitionResult,
};
use crate::actors::partition_replica::IsolationLevel;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// The response without its records, and each partition's records (file ranges) in response
/// order, for [`encode_fetch_response`].
pub struct FetchReply {
    pub response: FetchResponse,
    pub records: Vec<PartitionRecords>,
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: FetchRequest,
    version: i16,
    client: &ClientInfo,
) -> FetchReply {
    // Fetch v15 moved the replica id into `replica_state`.
    let replica_id = if version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    // Kafka's checks: a follower's fetch needs CLUSTER_ACTION on the cluster, a consumer's
    // READ on each topic; a refused topic's partitions answer TOPIC_AUTHORIZATION_FAILED and
    // are not read.
    let follower_allowed = replica_id < 0
        || authorized(
            ctx,
            client,
            AclOperation::ClusterAction,
            ResourceType::Cluster,
            CLUSTER,
        );
    let refused: Vec<bool> = req
        .topics
        .iter()
        .map(|t| {
            !follower_allowed
                || (replica_id < 0
                    && authorize(
                        ctx,
                        client,
                        AclOperation::Read,
                        ResourceType::Topic,
                        &t.topic,
                    )
                    .is_err())
        })
        .collect();
    let image = ctx.metadata.current();
    let mut partitions = Vec::new();
    let mut topic_of = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        if refused[ti] {
            continue;
        }
        for p in &t.partitions {
            topic_of.push(ti);
            partitions.push(FetchPartition {
                topic: t.topic.as_str(),
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: p.current_leader_epoch,
            });
        }
    }
    let params = FetchParams {
        replica_id,
        isolation: IsolationLevel::from_wire(req.isolation_level),
        max_bytes: if req.max_bytes <= 0 {
            i32::MAX as usize
        } else {
            req.max_bytes as usize
        },
        min_bytes: req.min_bytes.max(0) as usize,
        max_wait: Duration::from_millis(req.max_wait_ms.max(0) as u64),
    };
    let fetched = ctx
        .replicas
        .fetch_messages(params, &partitions, &image, &ctx.timer)
        .await;

    let mut responses: Vec<FetchableTopicResponse> = req
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
        })
        .collect();
    // Records go in response order: topic by topic, each topic's partitions in request order.
    let mut by_topic: Vec<Vec<PartitionRecords>> = vec![Vec::new(); responses.len()];
    for (ti, t) in req.topics.iter().enumerate().filter(|(ti, _)| refused[*ti]) {
        for p in &t.partitions {
            let data = error_partition(p.partition, &BrokerError::TopicAuthorizationFailed);
            responses[ti].partitions.push(data);
            by_topic[ti].push(no_records());
        }
    }
    // Leaders as the metadata has them now: a partition may have moved while the fetch waited.
    let latest = ctx.metadata.current();
    for (ti, p) in topic_of.into_iter().zip(fetched.partitions) {
        let leader = match &p.result {
            Err(e) if version >= 12 && e.names_current_leader() => current_leader(
                &latest,
                &client.listener,
                req.topics[ti].topic.as_str(),
                p.partition,
                (ctx.node_id, ctx.lease.is_held()),
            ),
            _ => LeaderIdAndEpoch::default(),
        };
        let (mut data, records) = partition_data(p);
        if version < 5 {
            data.log_start_offset = -1; // the field exists from v5
        }
        data.current_leader = leader;
        responses[ti].partitions.push(data);
        by_topic[ti].push(records);
    }
    metrics::counter!("troupe_bytes_out_total").increment(fetched.bytes as u64);
    FetchReply {
        response: FetchResponse::default()
            .with_responses(responses)
            .with_session_id(0),
        records: by_topic.into_iter().flatten().collect(),
    }
}

/// One partition's response fields, and its records (empty for a partition that answered
/// with an error).
fn partition_data(p: FetchPartitionResult) -> (PartitionData, PartitionRecords) {
    match p.result {
        Ok(fetched) => {
            let w = fetched.watermarks;
            let aborted = fetched.aborted_transactions.map(|txns| {
                txns.iter()
                    .map(|t| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_first_offset(t.first_offset)
                    })
                    .collect()
            });
            let data = PartitionData::default()
                .with_high_watermark(w.high_watermark)
                .with_last_stable_offset(w.last_stable_offset)
                .with_log_start_offset(w.log_start_offset)
                .with_aborted_transactions(aborted)
                .with_preferred_read_replica(BrokerId(-1))
                .with_partition_index(p.partition);
            (data, Some(fetched.records))
        }
        Err(e) => (error_partition(p.partition, &e), no_records()),
    }
}

/// KIP-951's `current_leader` of a partition this node does not lead (or led at an older
/// epoch): -1/-1, which is not encoded, when it knows no live leader. `told_by` is this node
/// and whether it holds its lease (`CurrentLeader::told_by`).
fn current_leader(
    image: &MetadataImage,
    listener: &str,
    topic: &str,
    partition: i32,
    (node_id, lease_held): (i32, bool),
) -> LeaderIdAndEpoch {
    let leader = image
        .current_leader(topic, partition, listener)
        .told_by(node_id, lease_held);
    LeaderIdAndEpoch::default()
        .with_leader_id(BrokerId(leader.leader_id))
        .with_leader_epoch(leader.leader_epoch)
}

/// The records of a partition that answered with an error: an empty record set, as Kafka
/// sends (`MemoryRecords.EMPTY`), never a null one. librdkafka refuses a null record set
/// ("invalid MessageSetSize -1") and drops the whole response with it, so one refused or
/// moved partition would hide every other partition's records and error codes.
fn no_records() -> PartitionRecords {
    Some(Vec::new())
}

fn error_partition(partition: i32, e: &BrokerError) -> PartitionData {
    let (hw, lso, lstart) = match e {
        BrokerError::OffsetOutOfRange {
            log_start, log_end, ..
        } => (*log_end, *log_end, *log_start),
        _ => (-1, -1, -1),
    };
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(e.code())
        .with_high_watermark(hw)
        .with_last_stable_offset(lso)
        .with_log_start_offset(lstart)
        .with_preferred_read_replica(BrokerId(-1))
}
