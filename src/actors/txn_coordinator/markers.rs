//! Writing transaction markers into partitions hosted on this broker: the one path both the
//! `TxnCoordinator` (directly, on one broker) and the WriteTxnMarkers request (from another
//! broker's coordinator, once there are several) take, so a marker always has the same
//! consequences.
//!
//! A marker goes to the partition's `PartitionReplica` as `WriteTxnMarker`, which appends the
//! COMMIT or ABORT control batch. When the partition is one of `__consumer_offsets`, the group
//! coordinator that owns it is then told (`CompleteTxnOffsets`), so the producer's pending
//! transactional offsets there become visible or are dropped; on replay the same control batch
//! tells it the same thing.

use std::sync::Arc;

use actix::Addr;

use crate::actors::group_coordinator::coordinator::{CompleteTxnOffsets, GroupCoordinator};
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::metadata_cache::MetadataCache;
use crate::actors::partition_replica::WriteTxnMarker;
use crate::actors::replica_manager::ReplicaManager;
use crate::error::BrokerError;

/// What a marker says: the producer, the coordinator epoch that sent it, commit or abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// How writing one marker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerOutcome {
    /// In the log at this offset.
    Written(i64),
    /// The partition no longer exists (its topic was deleted): there is nothing to mark, so
    /// the transaction need not wait for it.
    PartitionGone,
}

/// Everything a marker write reaches. Cheap to clone.
#[derive(Clone)]
pub struct MarkerWriter {
    replicas: Arc<ReplicaManager>,
    metadata: Arc<MetadataCache>,
    /// The group coordinator shards; `__consumer_offsets` partition p belongs to shard
    /// p % shards.
    group_coordinators: Vec<Addr<GroupCoordinator>>,
}

impl MarkerWriter {
    pub fn new(
        replicas: Arc<ReplicaManager>,
        metadata: Arc<MetadataCache>,
        group_coordinators: Vec<Addr<GroupCoordinator>>,
    ) -> MarkerWriter {
        MarkerWriter {
            replicas,
            metadata,
            group_coordinators,
        }
    }

    /// The leader epoch of a partition (a `__transaction_state` partition's is the epoch of
    /// the coordinator that owns it), 0 when unknown.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.metadata
            .current()
            .topics
            .get(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.index == partition))
            .map(|p| p.leader_epoch)
            .unwrap_or(0)
    }

    /// Writes one marker. Errors are worth retrying (the partition is restarting, or led
    /// elsewhere) unless the partition refuses the marker itself.
    pub async fn write(
        &self,
        topic: &str,
        partition: i32,
        marker: TxnMarker,
    ) -> Result<MarkerOutcome, BrokerError> {
        #[cfg(feature = "test-hooks")]
        if crate::test_hooks::txn_markers_held() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let Some(handle) = self.replicas.get(topic, partition) else {
            let known = self
                .metadata
                .current()
                .topics
                .get(topic)
                .is_some_and(|t| t.partitions.iter().any(|p| p.index == partition));
            return if known {
                Err(BrokerError::NotLeaderOrFollower)
            } else {
                Ok(MarkerOutcome::PartitionGone)
            };
        };
        let offset = handle
            .addr
            .send(WriteTxnMarker {
                producer_id: marker.producer_id,
                producer_epoch: marker.producer_epoch,
                coordinator_epoch: marker.coordinator_epoch,
                commit: marker.commit,
            })
            .await??;
        if topic == OFFSETS_TOPIC && !self.group_coordinators.is_empty() {
            let shard = partition as usize % self.group_coordinators.len();
            // Awaited, so the offsets are decided before the transaction is marked complete.
            self.group_coordinators[shard]
                .send(CompleteTxnOffsets {
                    producer_id: marker.producer_id,
                    commit: marker.commit,
                    partition,
                })
                .await
                .map_err(BrokerError::from)?;
        }
        Ok(MarkerOutcome::Written(offset))
    }
}

/// Whether a failed marker write should be tried again. Refusals by the partition itself
/// would fail forever: a stale producer epoch, a coordinator epoch older than one that already
/// wrote a marker there (TRANSACTION_COORDINATOR_FENCED: a newer coordinator owns the id), a
/// corrupt request. Kafka gives up on the partition for those too.
pub fn is_retriable(e: &BrokerError) -> bool {
    !matches!(
        e,
        BrokerError::InvalidProducerEpoch(_)
            | BrokerError::TransactionCoordinatorFenced(_)
            | BrokerError::InvalidTxnState(_)
            | BrokerError::InvalidRecord(_)
            | BrokerError::CorruptMessage(_)
            | BrokerError::InvalidRequest(_)
            | BrokerError::UnknownTopicOrPartition
    )
}
