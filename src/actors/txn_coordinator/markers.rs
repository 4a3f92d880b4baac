//! Writing transaction markers: `MarkerWriter::write_all` is the coordinator's side (each
//! partition of a transaction gets its marker wherever it is led), `write_local` the one path
//! by which a marker enters a partition led here, shared by the local coordinator and the
//! WriteTxnMarkers request (another broker's coordinator), so a marker always has the same
//! consequences.
//!
//! Routing follows this node's metadata: a partition led here is written locally; one led by
//! another live broker goes to it in a WriteTxnMarkers request (v1, one per broker per call,
//! all its partitions in it) through that broker's `MarkerChannelManager` channel; one without
//! a live leader fails with a retriable error, as does any partition its leader refuses with
//! NOT_LEADER_OR_FOLLOWER — the coordinator retries with backoff and routes again each time. A
//! partition whose topic is gone needs no marker.
//!
//! Locally a marker goes to the partition's `PartitionReplica` as `WriteTxnMarker` with
//! `acks=all` (as Kafka writes markers) and is complete once the high watermark passes it
//! (`delayed_produce`, bounded by `request.timeout.ms`), so a transaction is never completed
//! on a marker a new leader could lose. When the partition is one of `__consumer_offsets`,
//! the group coordinator that owns it is then told (`CompleteTxnOffsets`), so the producer's
//! pending transactional offsets there become visible or are dropped; on replay the same
//! control batch tells it the same thing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::protocol::StrBytes;

use super::marker_channel::MarkerChannelManager;
use super::txn::TxnPartition;
use crate::actors::group_coordinator::coordinator::{CompleteTxnOffsets, GroupCoordinator};
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::partition_replica::replica_manager::delayed_produce::await_replication;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::partition_replica::WriteTxnMarker;
use crate::actors::system_timer::SystemTimer;
use crate::error::BrokerError;
use crate::metadata::cache::MetadataCache;
use crate::metadata::MetadataImage;

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
    /// In the partition's log and replicated.
    Written,
    /// The partition no longer exists (its topic was deleted): there is nothing to mark, so
    /// the transaction need not wait for it.
    PartitionGone,
}

/// Where one partition's marker goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Local,
    Remote {
        broker: i32,
        endpoint: String,
    },
    /// Decided without writing: the partition is gone, or has no reachable leader now.
    Done(Result<MarkerOutcome, BrokerError>),
}

/// Everything a marker write reaches.
#[derive(Clone)]
pub struct MarkerWriterSetup {
    pub node_id: i32,
    pub replicas: Arc<ReplicaManager>,
    pub metadata: Arc<MetadataCache>,
    /// The group coordinator shards; `__consumer_offsets` partition p belongs to shard
    /// p % shards.
    pub group_coordinators: Vec<Addr<GroupCoordinator>>,
    pub wheel: Addr<SystemTimer>,
    /// `request.timeout.ms`: how long a local marker waits for replication.
    pub write_timeout: Duration,
    pub channels: Arc<MarkerChannelManager>,
}

/// Writes markers with what its setup reaches. Cheap to clone.
#[derive(Clone)]
pub struct MarkerWriter {
    setup: MarkerWriterSetup,
}

impl MarkerWriter {
    pub fn new(setup: MarkerWriterSetup) -> MarkerWriter {
        MarkerWriter { setup }
    }

    /// Writes the marker into every partition, wherever each is led; one result per
    /// partition, in order. Errors are worth retrying (no leader, leader moved, replication
    /// timed out, a broker unreachable) unless `is_retriable` says the partition refused the
    /// marker itself.
    pub async fn write_all(
        &self,
        partitions: &[TxnPartition],
        marker: TxnMarker,
    ) -> Vec<Result<MarkerOutcome, BrokerError>> {
        let image = self.setup.metadata.current();
        let mut results: Vec<Option<Result<MarkerOutcome, BrokerError>>> =
            vec![None; partitions.len()];
        let mut local = Vec::new();
        let mut remote: BTreeMap<(i32, String), Vec<usize>> = BTreeMap::new();
        for (i, (topic, partition)) in partitions.iter().enumerate() {
            let endpoint = |broker| self.setup.channels.endpoint(broker, &image);
            match route(&image, self.setup.node_id, topic, *partition, endpoint) {
                Route::Local => local.push(i),
                Route::Remote { broker, endpoint } => {
                    remote.entry((broker, endpoint)).or_default().push(i)
                }
                Route::Done(r) => results[i] = Some(r),
            }
        }
        let locals = futures::future::join_all(local.iter().map(|&i| {
            let (topic, partition) = &partitions[i];
            self.write_local(topic, *partition, marker)
        }));
        let remotes = futures::future::join_all(remote.iter().map(|((broker, endpoint), idx)| {
            let parts: Vec<TxnPartition> = idx.iter().map(|&i| partitions[i].clone()).collect();
            async move { self.write_remote(*broker, endpoint, &parts, marker).await }
        }));
        let (locals, remotes) = futures::future::join(locals, remotes).await;
        for (i, r) in local.into_iter().zip(locals) {
            results[i] = Some(r);
        }
        for (idx, rs) in remote.into_values().zip(remotes) {
            for (i, r) in idx.into_iter().zip(rs) {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(BrokerError::Internal("marker not routed".into()))))
            .collect()
    }

    /// Writes one marker into a partition hosted here (it must be its leader) and waits for it
    /// to be replicated; then decides pending transactional offsets if it is a
    /// `__consumer_offsets` partition.
    pub async fn write_local(
        &self,
        topic: &str,
        partition: i32,
        marker: TxnMarker,
    ) -> Result<MarkerOutcome, BrokerError> {
        #[cfg(feature = "test-hooks")]
        if crate::test_hooks::txn_markers_held() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let Some(handle) = self.setup.replicas.get(topic, partition) else {
            let known = self
                .setup
                .metadata
                .current()
                .partition(topic, partition)
                .is_some();
            return if known {
                Err(BrokerError::NotLeaderOrFollower)
            } else {
                Ok(MarkerOutcome::PartitionGone)
            };
        };
        let appended = handle
            .addr
            .send(WriteTxnMarker {
                producer_id: marker.producer_id,
                producer_epoch: marker.producer_epoch,
                coordinator_epoch: marker.coordinator_epoch,
                commit: marker.commit,
                required_acks: -1,
            })
            .await??;
        await_replication(
            &self.setup.wheel,
            &handle,
            &appended,
            self.setup.write_timeout,
        )
        .await?;
        if topic == OFFSETS_TOPIC && !self.setup.group_coordinators.is_empty() {
            let shard = partition as usize % self.setup.group_coordinators.len();
            // Awaited, so the offsets are decided before the transaction is marked complete.
            self.setup.group_coordinators[shard]
                .send(CompleteTxnOffsets {
                    producer_id: marker.producer_id,
                    commit: marker.commit,
                    partition,
                })
                .await
                .map_err(BrokerError::from)?;
        }
        Ok(MarkerOutcome::Written)
    }

    /// One WriteTxnMarkers request to `broker` for all of `partitions`.
    async fn write_remote(
        &self,
        broker: i32,
        endpoint: &str,
        partitions: &[TxnPartition],
        marker: TxnMarker,
    ) -> Vec<Result<MarkerOutcome, BrokerError>> {
        match self
            .setup
            .channels
            .send(broker, endpoint, marker_request(marker, partitions))
            .await
        {
            Ok(response) => remote_results(&response, marker.producer_id, partitions, broker),
            Err(e) => {
                let e = BrokerError::NetworkException(format!("broker {broker}: {e}"));
                partitions.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

/// Where a partition's marker goes, by this node's image: gone (no such partition), here, to
/// its live leader, or nowhere yet (retried).
fn route(
    image: &MetadataImage,
    node_id: i32,
    topic: &str,
    partition: i32,
    endpoint: impl Fn(i32) -> Option<String>,
) -> Route {
    let Some(p) = image.partition(topic, partition) else {
        return Route::Done(Ok(MarkerOutcome::PartitionGone));
    };
    if p.leader == node_id {
        return Route::Local;
    }
    if p.leader < 0 || !image.is_broker_live(p.leader) {
        return Route::Done(Err(BrokerError::LeaderNotAvailable));
    }
    match endpoint(p.leader) {
        Some(endpoint) => Route::Remote {
            broker: p.leader,
            endpoint,
        },
        None => Route::Done(Err(BrokerError::LeaderNotAvailable)),
    }
}

/// A WriteTxnMarkers request carrying `marker` for `partitions` (topics in first-seen order).
fn marker_request(marker: TxnMarker, partitions: &[TxnPartition]) -> WriteTxnMarkersRequest {
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partition_indexes.push(*partition),
            None => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(StrBytes::from_string(topic.clone()).into())
                    .with_partition_indexes(vec![*partition]),
            ),
        }
    }
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(marker.producer_id))
        .with_producer_epoch(marker.producer_epoch)
        .with_transaction_result(marker.commit)
        .with_coordinator_epoch(marker.coordinator_epoch)
        .with_topics(topics)])
}

/// Each partition's outcome in a WriteTxnMarkers answer from `broker`.
fn remote_results(
    response: &WriteTxnMarkersResponse,
    producer_id: i64,
    partitions: &[TxnPartition],
    broker: i32,
) -> Vec<Result<MarkerOutcome, BrokerError>> {
    let code = |topic: &str, partition: i32| {
        response
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == producer_id)
            .flat_map(|m| m.topics.iter())
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .map(|p| p.error_code)
    };
    partitions
        .iter()
        .map(|(topic, partition)| match code(topic, *partition) {
            Some(0) => Ok(MarkerOutcome::Written),
            Some(code) => Err(remote_error(code, broker)),
            None => Err(BrokerError::NetworkException(format!(
                "broker {broker} did not answer for {topic}-{partition}"
            ))),
        })
        .collect()
}

/// The error a partition leader answered, as far as the retry decision needs it.
fn remote_error(code: i16, broker: i32) -> BrokerError {
    let from = |what: &str| format!("{what} (from broker {broker})");
    match code {
        2 => BrokerError::CorruptMessage(from("corrupt marker")),
        3 => BrokerError::UnknownTopicOrPartition,
        5 => BrokerError::LeaderNotAvailable,
        6 => BrokerError::NotLeaderOrFollower,
        7 => BrokerError::RequestTimedOut,
        19 | 20 => BrokerError::NotEnoughReplicasAfterAppend,
        42 => BrokerError::InvalidRequest(from("invalid request")),
        47 => BrokerError::InvalidProducerEpoch(from("stale producer epoch")),
        48 => BrokerError::InvalidTxnState(from("invalid transaction state")),
        52 => BrokerError::TransactionCoordinatorFenced(from("a newer coordinator wrote there")),
        56 => BrokerError::KafkaStorage(from("storage error")),
        87 => BrokerError::InvalidRecord(from("invalid marker")),
        other => BrokerError::NetworkException(from(&format!("error code {other}"))),
    }
}

/// Whether a failed marker write should be tried again. Refusals by the partition itself
/// would fail forever: a stale producer epoch, a coordinator epoch older than one that already
/// wrote a marker there (TRANSACTION_COORDINATOR_FENCED: a newer coordinator owns the id), a
/// corrupt request. Kafka gives up on the partition for those too. A leader that does not know
/// the partition (its metadata is behind this node's) is retried: each retry routes again, and
/// a partition whose topic was deleted ends as `PartitionGone`.
pub fn is_retriable(e: &BrokerError) -> bool {
    !matches!(
        e,
        BrokerError::InvalidProducerEpoch(_)
            | BrokerError::TransactionCoordinatorFenced(_)
            | BrokerError::InvalidTxnState(_)
            | BrokerError::InvalidRecord(_)
            | BrokerError::CorruptMessage(_)
            | BrokerError::InvalidRequest(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, partitions_led_by, topic};
    use kafka_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };

    /// Brokers 1 to 3 (3 fenced); `t`'s partitions led by 1, 2, 3 and no one.
    fn image() -> MetadataImage {
        let partitions = partitions_led_by(&[1, 2, 3, -1], &[1, 2, 3]);
        test_support::image(&[1, 2, 3], &[3], [topic("t", partitions)])
    }

    #[test]
    fn markers_go_to_the_partition_leader_by_this_nodes_metadata() {
        let image = image();
        let endpoint = |b: i32| (b != 2).then(|| format!("b{b}:900{b}"));
        let to = |p| route(&image, 1, "t", p, |b| Some(format!("b{b}:900{b}")));
        assert_eq!(to(0), Route::Local);
        assert_eq!(
            to(1),
            Route::Remote {
                broker: 2,
                endpoint: "b2:9002".into()
            }
        );
        // Fenced leader, no leader: retried later.
        assert_eq!(to(2), Route::Done(Err(BrokerError::LeaderNotAvailable)));
        assert_eq!(to(3), Route::Done(Err(BrokerError::LeaderNotAvailable)));
        // Deleted topic or partition: nothing to mark.
        assert_eq!(to(4), Route::Done(Ok(MarkerOutcome::PartitionGone)));
        assert_eq!(
            route(&image, 1, "gone", 0, endpoint),
            Route::Done(Ok(MarkerOutcome::PartitionGone))
        );
        // A leader with no known address.
        assert_eq!(
            route(&image, 1, "t", 1, endpoint),
            Route::Done(Err(BrokerError::LeaderNotAvailable))
        );
    }

    #[test]
    fn one_request_per_broker_and_each_partition_gets_its_answer() {
        let marker = TxnMarker {
            producer_id: 7,
            producer_epoch: 2,
            coordinator_epoch: 5,
            commit: true,
        };
        let parts: Vec<TxnPartition> = vec![
            ("a".into(), 0),
            ("b".into(), 1),
            ("a".into(), 2),
            ("c".into(), 0),
        ];
        let request = marker_request(marker, &parts);
        assert_eq!(request.markers.len(), 1);
        let m = &request.markers[0];
        assert_eq!(
            (
                m.producer_id.0,
                m.producer_epoch,
                m.coordinator_epoch,
                m.transaction_result
            ),
            (7, 2, 5, true)
        );
        let topics: Vec<(&str, Vec<i32>)> = m
            .topics
            .iter()
            .map(|t| (t.name.0.as_str(), t.partition_indexes.clone()))
            .collect();
        assert_eq!(
            topics,
            vec![("a", vec![0, 2]), ("b", vec![1]), ("c", vec![0])]
        );

        let answer = |name: &str, codes: &[(i32, i16)]| {
            WritableTxnMarkerTopicResult::default()
                .with_name(StrBytes::from_string(name.to_string()).into())
                .with_partitions(
                    codes
                        .iter()
                        .map(|&(p, c)| {
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(p)
                                .with_error_code(c)
                        })
                        .collect(),
                )
        };
        let response = WriteTxnMarkersResponse::default().with_markers(vec![
            WritableTxnMarkerResult::default()
                .with_producer_id(ProducerId(7))
                .with_topics(vec![
                    answer("a", &[(0, 0), (2, 6)]),
                    answer("b", &[(1, 52)]),
                ]),
        ]);
        let results = remote_results(&response, 7, &parts, 2);
        assert_eq!(results[0], Ok(MarkerOutcome::Written));
        assert_eq!(results[2], Err(BrokerError::NotLeaderOrFollower));
        assert!(is_retriable(results[2].as_ref().unwrap_err()));
        let fenced = results[1].as_ref().unwrap_err();
        assert_eq!(fenced.code(), 52);
        assert!(!is_retriable(fenced));
        // No answer for a partition: retried.
        assert!(matches!(results[3], Err(BrokerError::NetworkException(_))));
        assert!(is_retriable(results[3].as_ref().unwrap_err()));
        assert!(is_retriable(&remote_error(3, 2)));
    }
}
