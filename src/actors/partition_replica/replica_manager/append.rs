//! [`ReplicaManager::append_records`] (Kafka's `appendRecords`): the produce path of clients
//! (the Produce handler) and extensions (`ExtensionContext::produce`).
//!
//! Owns the rules a client's append meets before and after its partition's actor: `acks`
//! outside {-1, 0, 1} is INVALID_REQUIRED_ACKS; the internal topics (`__consumer_offsets`,
//! `__transaction_state`) are written only by their coordinators, so a client's append to one
//! is INVALID_TOPIC_EXCEPTION; a partition not hosted here is NOT_LEADER_OR_FOLLOWER or
//! UNKNOWN_TOPIC_OR_PARTITION; empty records are INVALID_RECORD. The leader's `PartitionReplica`
//! validates and appends the batches (acks=-1 is refused there with NOT_ENOUGH_REPLICAS while
//! the ISR is smaller than `min.insync.replicas`); acks=0 and 1 complete with that append,
//! acks=-1 then waits in a `DelayedProduce` until the high watermark passes the records.
//!
//! Knows no wire format: the handler decodes the request into [`TopicAppend`]s and encodes the
//! [`TopicAppendResult`]s. Never touches a log: appends are messages to the partition's actor.

use std::time::Duration;

use actix::Addr;
use bytes::Bytes;

use super::delayed_produce::await_replication;
use super::{PartitionHandle, ReplicaManager};
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::partition_replica::{AppendRecords, AppendResult};
use crate::actors::system_timer::{self, SystemTimer};
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::storage::AppendOrigin;

/// How a produce's records are appended: Kafka's `appendRecords` arguments besides the
/// records themselves.
#[derive(Clone, Copy)]
pub struct AppendOptions<'a> {
    /// The producer's `acks`: 0 and 1 complete with the leader's append, -1 once the high
    /// watermark passes the records.
    pub required_acks: i16,
    /// How long an `acks=-1` append waits for replication.
    pub timeout: Duration,
    /// The metadata the request is served against: tells a partition led elsewhere from one
    /// that does not exist.
    pub image: &'a MetadataImage,
    /// The broker's shared timer wheel; a replication wait parks on the wheel of its own
    /// arbiter (`system_timer::for_this_arbiter`).
    pub timer: &'a Addr<SystemTimer>,
}

/// One topic's part of a produce.
pub struct TopicAppend {
    pub topic: String,
    pub partitions: Vec<PartitionAppend>,
}

/// One partition's records (a slice of the request frame; `None` for a null record set).
pub struct PartitionAppend {
    pub partition: i32,
    pub records: Option<Bytes>,
}

/// How each partition of a [`TopicAppend`] fared, in request order.
pub struct TopicAppendResult {
    pub topic: String,
    pub partitions: Vec<PartitionAppendResult>,
}

pub struct PartitionAppendResult {
    pub partition: i32,
    pub result: Result<AppendResult, BrokerError>,
}

impl ReplicaManager {
    /// Appends a client's produce: topics one after another, each topic's partitions
    /// concurrently (each is one message to its partition's actor, maybe on another core).
    pub async fn append_records(
        &self,
        options: AppendOptions<'_>,
        topics: Vec<TopicAppend>,
    ) -> Vec<TopicAppendResult> {
        let mut results = Vec::with_capacity(topics.len());
        for topic in topics {
            let name = topic.topic.as_str();
            let appends = topic.partitions.into_iter().map(|p| {
                let handle = self.partition_or_error(options.image, name, p.partition);
                async move {
                    PartitionAppendResult {
                        partition: p.partition,
                        result: append_partition(handle, name, p.records, options).await,
                    }
                }
            });
            let partitions = futures::future::join_all(appends).await;
            results.push(TopicAppendResult {
                topic: topic.topic,
                partitions,
            });
        }
        results
    }

    /// Appends `records` to one partition exactly as a client's produce would (the same
    /// rules, append and replication wait): what extensions produce through.
    pub async fn append_to_partition(
        &self,
        options: AppendOptions<'_>,
        topic: &str,
        partition: i32,
        records: Option<Bytes>,
    ) -> Result<AppendResult, BrokerError> {
        let handle = self.partition_or_error(options.image, topic, partition);
        append_partition(handle, topic, records, options).await
    }
}

/// One partition's append: the client rules, the leader's append, and for `acks=-1` the wait
/// for replication (at most `options.timeout`).
async fn append_partition(
    handle: Result<PartitionHandle, BrokerError>,
    topic: &str,
    records: Option<Bytes>,
    options: AppendOptions<'_>,
) -> Result<AppendResult, BrokerError> {
    let acks = options.required_acks;
    if !matches!(acks, -1..=1) {
        return Err(BrokerError::InvalidRequiredAcks);
    }
    if topic == OFFSETS_TOPIC || topic == TRANSACTION_STATE_TOPIC {
        // Only the coordinators write their internal topics.
        return Err(BrokerError::InvalidTopic(format!("{topic} is internal")));
    }
    let handle = handle?;
    let records = records
        .filter(|r| !r.is_empty())
        .ok_or_else(|| BrokerError::InvalidRecord("no records".into()))?;
    let appended = handle
        .addr
        .send(AppendRecords {
            records,
            origin: AppendOrigin::Client,
            required_acks: acks,
        })
        .await??;
    if acks == -1 {
        let wheel = system_timer::for_this_arbiter(options.timer);
        await_replication(&wheel, &handle, &appended, options.timeout).await?;
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;

    /// The error an append of some records to a partition that is not hosted here meets.
    async fn refusal(acks: i16, topic: &str, not_hosted: BrokerError) -> BrokerError {
        let image = MetadataImage::default();
        let timer = SystemTimer::default().start();
        let options = AppendOptions {
            required_acks: acks,
            timeout: Duration::from_millis(10),
            image: &image,
            timer: &timer,
        };
        let records = Some(Bytes::from_static(b"batch"));
        append_partition(Err(not_hosted), topic, records, options)
            .await
            .expect_err("refused")
    }

    #[actix::test]
    async fn client_rules_apply_in_order() {
        let unknown = || BrokerError::UnknownTopicOrPartition;
        // acks first, then the internal topics, then whether the partition is hosted here.
        let bad_acks = refusal(2, OFFSETS_TOPIC, unknown()).await;
        assert_eq!(bad_acks, BrokerError::InvalidRequiredAcks);
        for internal in [OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC] {
            let e = refusal(-1, internal, unknown()).await;
            assert!(matches!(e, BrokerError::InvalidTopic(_)), "{e:?}");
        }
        let e = refusal(1, "t", unknown()).await;
        assert_eq!(e, BrokerError::UnknownTopicOrPartition);
        let e = refusal(0, "t", BrokerError::NotLeaderOrFollower).await;
        assert_eq!(e, BrokerError::NotLeaderOrFollower);
    }
}
