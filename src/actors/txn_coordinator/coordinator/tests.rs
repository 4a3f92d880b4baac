//! The `TxnCoordinator` actor with real collaborators on a temporary data dir: one node that
//! leads `__transaction_state` partitions 0 and 1 and the data topic `t`, a local controller
//! for producer ids, a timer wheel, and markers written into `t` for real. Partition 2 of
//! `__transaction_state` has no replica here, so electing this shard for it leaves it loading.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::actors::coordinator_partitions::{LoadPartition, UnloadPartition};
use crate::actors::group_coordinator::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::txn_coordinator::marker_channel::{ChannelSettings, MarkerChannelManager};
use crate::actors::txn_coordinator::markers::MarkerWriterSetup;
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metadata::cache::MetadataCache;
use crate::metadata::MetadataLog;
use crate::test_support::{image, node_one_replicas, partition, partitions_led_by, topic};

const TXN_PARTITIONS: i32 = 3;
const OFFSETS_PARTITIONS: i32 = 4;
const TIMEOUT_MS: i32 = 60_000;

struct Node {
    coordinator: Addr<TxnCoordinator>,
    replicas: Arc<ReplicaManager>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    _applied: watch::Sender<u64>,
}

/// How often the shard sweeps for timed-out transactions and expired ids, and its limits.
struct Timing {
    abort_check_interval: Duration,
    expiry_check_interval: Duration,
    config: TxnConfig,
}

impl Default for Timing {
    /// Sweeps an hour apart: only the transactions' own timers act.
    fn default() -> Self {
        Timing {
            abort_check_interval: Duration::from_secs(3600),
            expiry_check_interval: Duration::from_secs(3600),
            config: TxnConfig::default(),
        }
    }
}

async fn start(timing: Timing) -> Node {
    let data = tempfile::tempdir().unwrap();
    let meta = tempfile::tempdir().unwrap();
    let img = image(
        &[1, 2],
        &[],
        [
            topic(TRANSACTION_STATE_TOPIC, partitions_led_by(&[1, 1], &[1])),
            topic("t", partitions_led_by(&[1, 1], &[1])),
            // Led by no one: its markers cannot be written, so a transaction in it stays
            // prepared.
            topic("offline", vec![partition(0, &[2], &[2], -1)]),
        ],
    );
    let replicas = node_one_replicas(data.path(), &img).await;
    let (log, _) = MetadataLog::open(meta.path()).unwrap();
    let (updates, _) = tokio::sync::mpsc::unbounded_channel();
    // Every metadata change counts as applied here at once.
    let (applied, applied_rx) = watch::channel(u64::MAX);
    let controller = Controller::local(
        img.clone(),
        log,
        updates,
        applied_rx,
        BrokerConfig::default(),
    )
    .start();
    let wheel = SystemTimer::default().start();
    let markers = MarkerWriter::new(MarkerWriterSetup {
        node_id: 1,
        replicas: replicas.clone(),
        metadata: Arc::new(MetadataCache::new(img)),
        group_coordinators: Vec::new(),
        wheel: wheel.clone(),
        write_timeout: Duration::from_secs(5),
        channels: Arc::new(MarkerChannelManager::new(
            ChannelSettings {
                client_id: "test".into(),
                connect_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(5),
                security: Default::default(),
            },
            BTreeMap::new(),
        )),
    });
    let coordinator = TxnCoordinator::new(TxnCoordinatorSetup {
        config: timing.config,
        abort_check_interval: timing.abort_check_interval,
        expiry_check_interval: timing.expiry_check_interval,
        write_timeout: Duration::from_secs(5),
        replicas: replicas.clone(),
        controller,
        wheel,
        markers,
        shard: 0,
        txn_partitions: TXN_PARTITIONS,
        offsets_partitions: OFFSETS_PARTITIONS,
    })
    .start();
    Node {
        coordinator,
        replicas,
        _dirs: (data, meta),
        _applied: applied,
    }
}

async fn started() -> Node {
    start(Timing::default()).await
}

impl Node {
    /// Sends `msg` to the coordinator and waits for its answer.
    async fn ask<M>(&self, msg: M) -> M::Result
    where
        M: Message + Send + 'static,
        M::Result: Send,
        TxnCoordinator: Handler<M>,
    {
        self.coordinator.send(msg).await.unwrap()
    }

    async fn load(&self, partition: i32, leader_epoch: i32) {
        let (tx, rx) = oneshot::channel();
        self.ask(LoadPartition {
            partition,
            leader_epoch,
            loaded: Some(tx),
        })
        .await;
        rx.await.unwrap();
    }

    async fn unload(&self, partition: i32) {
        self.ask(UnloadPartition { partition }).await;
    }

    async fn init(&self, id: &str, expected: Option<(i64, i16)>) -> TxnResult {
        self.init_with_timeout(id, TIMEOUT_MS, expected).await
    }

    async fn init_with_timeout(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> TxnResult {
        self.ask(InitTxnProducerId {
            transactional_id: id.into(),
            timeout_ms,
            expected: expected
                .map(|(producer_id, epoch)| ProducerIdAndEpoch { producer_id, epoch }),
        })
        .await
    }

    /// InitProducerId that must succeed: the producer id and epoch.
    async fn producer(&self, id: &str) -> (i64, i16) {
        match self.init(id, None).await {
            Ok(TxnReply::ProducerIdAndEpoch {
                producer_id,
                producer_epoch,
            }) => (producer_id, producer_epoch),
            other => panic!("InitProducerId of {id}: {other:?}"),
        }
    }

    async fn add(
        &self,
        id: &str,
        (pid, epoch): (i64, i16),
        partitions: &[(&str, i32)],
    ) -> TxnResult {
        self.ask(AddPartitionsToTxn {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: txn_partitions(partitions),
        })
        .await
    }

    async fn verify(
        &self,
        id: &str,
        (pid, epoch): (i64, i16),
        partitions: &[(&str, i32)],
    ) -> Result<Verified, TxnError> {
        self.ask(VerifyPartitionsInTxn(AddPartitionsToTxn {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: txn_partitions(partitions),
        }))
        .await
    }

    async fn add_offsets(&self, id: &str, (pid, epoch): (i64, i16), group_id: &str) -> TxnResult {
        self.ask(AddOffsetsToTxn {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            group_id: group_id.into(),
        })
        .await
    }

    async fn end(&self, id: &str, (pid, epoch): (i64, i16), commit: bool) -> TxnResult {
        self.ask(EndTxn {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit,
        })
        .await
    }

    async fn describe(&self, id: &str) -> Result<TxnDescription, TxnError> {
        let transactional_ids = vec![id.to_string()];
        let mut described = self.ask(DescribeTxns { transactional_ids }).await;
        assert_eq!(described.len(), 1);
        let (answered, result) = described.remove(0);
        assert_eq!(answered, id);
        result
    }

    async fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
    ) -> Result<Vec<TxnListing>, TxnError> {
        self.ask(ListTxns {
            states: states.to_vec(),
            producer_ids: producer_ids.to_vec(),
            min_duration_ms,
        })
        .await
    }

    /// Waits (at most 10 s) until the id's transaction is in `state`; its description then.
    async fn until_state(&self, id: &str, state: TxnState) -> TxnDescription {
        for _ in 0..200 {
            let d = self.describe(id).await.unwrap();
            if d.state == state {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{id} never reached {state}: {:?}", self.describe(id).await);
    }

    /// Waits (at most 10 s) until the partition's high watermark is `offset`.
    async fn until_high_watermark(&self, topic: &str, partition: i32, offset: i64) {
        for _ in 0..200 {
            if self.high_watermark(topic, partition) == offset {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{topic}-{partition} stayed at {}, not {offset}",
            self.high_watermark(topic, partition)
        );
    }

    fn high_watermark(&self, topic: &str, partition: i32) -> i64 {
        self.replicas
            .get(topic, partition)
            .unwrap()
            .watermarks
            .borrow()
            .high_watermark
    }
}

fn txn_partitions(partitions: &[(&str, i32)]) -> Vec<TxnPartition> {
    partitions
        .iter()
        .map(|(t, p)| (t.to_string(), *p))
        .collect()
}

/// A transactional id whose `__transaction_state` partition is `partition`.
fn id_in(partition: i32, n: usize) -> String {
    (0..)
        .map(|i| format!("txn-{i}"))
        .filter(|id| txn_partition_for(id, TXN_PARTITIONS) == partition)
        .nth(n)
        .unwrap()
}

fn done() -> TxnResult {
    Ok(TxnReply::Done)
}

fn pid_epoch(r: TxnResult) -> (i64, i16) {
    match r {
        Ok(TxnReply::ProducerIdAndEpoch {
            producer_id,
            producer_epoch,
        }) => (producer_id, producer_epoch),
        other => panic!("expected a producer id and epoch: {other:?}"),
    }
}

#[actix::test]
async fn ids_of_partitions_not_led_here_get_not_coordinator() {
    let node = started().await;
    let (id0, id1) = (id_in(0, 0), id_in(1, 0));
    assert_eq!(node.init(&id0, None).await, Err(TxnError::NotCoordinator));
    node.load(0, 0).await;
    let producer = pid_epoch(node.init(&id0, None).await);
    let refused = Err(TxnError::NotCoordinator);
    assert_eq!(node.init(&id1, None).await, refused);
    assert_eq!(node.add(&id1, producer, &[("t", 0)]).await, refused);
    assert_eq!(node.end(&id1, producer, true).await, refused);
    assert_eq!(
        node.verify(&id1, producer, &[("t", 0)]).await,
        Err(TxnError::NotCoordinator)
    );
    assert_eq!(node.describe(&id1).await, Err(TxnError::NotCoordinator));
    assert_eq!(TxnError::NotCoordinator.code(), 16);

    // Resigned: its ids are forgotten and refused.
    node.unload(0).await;
    assert_eq!(node.add(&id0, producer, &[("t", 0)]).await, refused);
    assert_eq!(node.describe(&id0).await, Err(TxnError::NotCoordinator));
    assert_eq!(node.list(&[], &[], -1).await, Ok(vec![]));
}

#[actix::test]
async fn ids_of_a_partition_still_loading_get_load_in_progress() {
    let node = started().await;
    node.load(0, 0).await;
    let loaded_id = id_in(0, 0);
    node.producer(&loaded_id).await;
    // Partition 2 has no replica here: its replay fails and is retried, so it stays loading.
    node.ask(LoadPartition {
        partition: 2,
        leader_epoch: 0,
        loaded: None,
    })
    .await;
    let loading = id_in(2, 0);
    let refused = Err(TxnError::CoordinatorLoadInProgress);
    assert_eq!(node.init(&loading, None).await, refused);
    assert_eq!(node.end(&loading, (0, 0), true).await, refused);
    assert_eq!(
        node.describe(&loading).await,
        Err(TxnError::CoordinatorLoadInProgress)
    );
    assert_eq!(
        node.list(&[], &[], -1).await,
        Err(TxnError::CoordinatorLoadInProgress)
    );
    assert_eq!(TxnError::CoordinatorLoadInProgress.code(), 14);
    // The loaded partition serves meanwhile.
    assert_eq!(
        node.describe(&loaded_id).await.unwrap().state,
        TxnState::Empty
    );

    node.unload(2).await;
    assert_eq!(
        node.init(&loading, None).await,
        Err(TxnError::NotCoordinator)
    );
    assert_eq!(node.list(&[], &[], -1).await.unwrap().len(), 1);
}

#[actix::test]
async fn init_allocates_a_producer_id_then_bumps_the_epoch() {
    let node = started().await;
    node.load(0, 0).await;
    let (a, b) = (id_in(0, 0), id_in(0, 1));
    assert_eq!(node.high_watermark(TRANSACTION_STATE_TOPIC, 0), 0);
    let (pid, epoch) = node.producer(&a).await;
    assert_eq!(epoch, 0);
    // Written to __transaction_state (and replicated) before the answer.
    assert_eq!(node.high_watermark(TRANSACTION_STATE_TOPIC, 0), 1);
    assert_eq!(node.producer(&a).await, (pid, 1));
    let (other, other_epoch) = node.producer(&b).await;
    assert_ne!(other, pid, "each transactional id gets its own producer id");
    assert_eq!(other_epoch, 0);

    // A client that names its producer id and epoch (v3+) gets a bump of that epoch...
    assert_eq!(node.init(&a, Some((pid, 1))).await, Ok(pid_reply(pid, 2)));
    // ...and its retry the same answer, while an older epoch or another id is fenced.
    assert_eq!(node.init(&a, Some((pid, 1))).await, Ok(pid_reply(pid, 2)));
    assert_eq!(
        node.init(&a, Some((pid, 0))).await,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        node.init(&a, Some((other, 2))).await,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(TxnError::ProducerFenced.code(), 90);

    let d = node.describe(&a).await.unwrap();
    assert_eq!(
        (d.state, d.producer_id, d.producer_epoch, d.timeout_ms),
        (TxnState::Empty, pid, 2, TIMEOUT_MS)
    );
}

fn pid_reply(producer_id: i64, producer_epoch: i16) -> TxnReply {
    TxnReply::ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

#[actix::test]
async fn init_arguments_are_checked_before_anything_else() {
    let node = started().await;
    // Not even loaded: the arguments are refused first.
    assert_eq!(node.init("", None).await, Err(TxnError::InvalidRequest));
    let id = id_in(0, 0);
    let max = TxnConfig::default().max_timeout_ms;
    for timeout in [0, -5, max + 1] {
        assert_eq!(
            node.init_with_timeout(&id, timeout, None).await,
            Err(TxnError::InvalidTransactionTimeout),
            "timeout {timeout}"
        );
    }
    node.load(0, 0).await;
    assert_eq!(
        node.init_with_timeout(&id, max, None).await.map(|_| ()),
        Ok(())
    );
    assert_eq!(TxnError::InvalidTransactionTimeout.code(), 50);
}

#[actix::test]
async fn a_committed_transaction_gets_markers_in_its_partitions_then_completes() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    assert_eq!(node.add(&id, producer, &[("t", 0)]).await, done());
    assert_eq!(node.add(&id, producer, &[("t", 1), ("t", 0)]).await, done());
    let d = node.describe(&id).await.unwrap();
    assert_eq!(d.state, TxnState::Ongoing);
    assert_eq!(
        d.partitions,
        vec![("t".to_string(), 0), ("t".to_string(), 1)]
    );
    assert!(d.start_ms > 0);

    let verified = node
        .verify(&id, producer, &[("t", 1), ("t", 5)])
        .await
        .unwrap();
    assert_eq!(
        verified,
        vec![
            (("t".to_string(), 1), Ok(())),
            (("t".to_string(), 5), Err(TxnError::TransactionAbortable)),
        ]
    );

    assert_eq!(node.end(&id, producer, true).await, done());
    let d = node.until_state(&id, TxnState::CompleteCommit).await;
    assert!(d.partitions.is_empty());
    assert_eq!(d.producer_epoch, producer.1);
    // One commit marker in each partition, replicated.
    assert_eq!(node.high_watermark("t", 0), 1);
    assert_eq!(node.high_watermark("t", 1), 1);
    // Init, two adds (the second grew the set), prepare, complete.
    assert_eq!(node.high_watermark(TRANSACTION_STATE_TOPIC, 0), 5);

    // A retried commit is answered as done; an abort now does not fit.
    assert_eq!(node.end(&id, producer, true).await, done());
    assert_eq!(
        node.end(&id, producer, false).await,
        Err(TxnError::InvalidTxnState)
    );
}

#[actix::test]
async fn an_aborted_transaction_completes_with_abort_markers() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    assert_eq!(node.add(&id, producer, &[("t", 1)]).await, done());
    assert_eq!(node.end(&id, producer, false).await, done());
    node.until_state(&id, TxnState::CompleteAbort).await;
    assert_eq!(node.high_watermark("t", 1), 1);
    assert_eq!(node.high_watermark("t", 0), 0, "not in the transaction");
    // The next transaction starts from the completed one.
    assert_eq!(node.add(&id, producer, &[("t", 0)]).await, done());
    let d = node.describe(&id).await.unwrap();
    assert_eq!(d.state, TxnState::Ongoing);
    assert_eq!(d.partitions, vec![("t".to_string(), 0)]);
}

#[actix::test]
async fn requests_of_an_unknown_id_a_wrong_producer_or_an_old_epoch_are_refused() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let unknown = id_in(0, 1);
    assert_eq!(
        node.add(&unknown, (0, 0), &[("t", 0)]).await,
        Err(TxnError::InvalidProducerIdMapping)
    );
    assert_eq!(
        node.describe(&unknown).await,
        Err(TxnError::TransactionalIdNotFound)
    );
    assert_eq!(TxnError::TransactionalIdNotFound.code(), 105);
    assert_eq!(
        node.add("", (0, 0), &[("t", 0)]).await,
        Err(TxnError::InvalidRequest)
    );

    node.producer(&id).await;
    let (pid, epoch) = node.producer(&id).await;
    assert_eq!(epoch, 1);
    let written = node.high_watermark(TRANSACTION_STATE_TOPIC, 0);
    assert_eq!(
        node.add(&id, (pid, 0), &[("t", 0)]).await,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        node.add(&id, (pid + 1, 1), &[("t", 0)]).await,
        Err(TxnError::InvalidProducerIdMapping)
    );
    assert_eq!(TxnError::InvalidProducerIdMapping.code(), 49);
    assert_eq!(
        node.verify(&id, (pid, 0), &[("t", 0)]).await,
        Err(TxnError::ProducerFenced)
    );
    // Nothing is open to end.
    assert_eq!(
        node.end(&id, (pid, 1), true).await,
        Err(TxnError::InvalidTxnState)
    );
    assert_eq!(TxnError::InvalidTxnState.code(), 48);
    assert_eq!(
        node.end(&id, (pid, 0), false).await,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        node.high_watermark(TRANSACTION_STATE_TOPIC, 0),
        written,
        "refusals write nothing"
    );
    assert_eq!(node.describe(&id).await.unwrap().state, TxnState::Empty);
}

#[actix::test]
async fn add_offsets_adds_the_groups_offsets_partition() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    assert_eq!(node.add_offsets(&id, producer, "group-a").await, done());
    let d = node.describe(&id).await.unwrap();
    assert_eq!(
        d.partitions,
        vec![(
            OFFSETS_TOPIC.to_string(),
            offsets_partition_for("group-a", OFFSETS_PARTITIONS)
        )]
    );
    // `__consumer_offsets` does not exist on this node: nothing to mark, the commit completes.
    assert_eq!(node.end(&id, producer, true).await, done());
    node.until_state(&id, TxnState::CompleteCommit).await;

    let newer = (producer.0, producer.1 + 1);
    assert_eq!(
        node.add_offsets(&id, newer, "group-a").await,
        Err(TxnError::ProducerFenced)
    );
}

#[actix::test]
async fn init_during_an_open_transaction_fences_and_aborts_it() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let old = node.producer(&id).await;
    assert_eq!(node.add(&id, old, &[("t", 0)]).await, done());
    // The new producer is told to retry while the old one's transaction is aborted.
    assert_eq!(
        node.init(&id, None).await,
        Err(TxnError::ConcurrentTransactions)
    );
    assert_eq!(TxnError::ConcurrentTransactions.code(), 51);
    let d = node.until_state(&id, TxnState::CompleteAbort).await;
    assert_eq!(
        d.producer_epoch,
        old.1 + 1,
        "the abort fenced the old epoch"
    );
    assert_eq!(node.high_watermark("t", 0), 1, "the abort marker");
    assert_eq!(
        node.end(&id, old, true).await,
        Err(TxnError::ProducerFenced)
    );
    // The retry gets the epoch after the fencing one.
    assert_eq!(node.init(&id, None).await, Ok(pid_reply(old.0, old.1 + 2)));
}

#[actix::test]
async fn a_prepared_transaction_refuses_changes_until_its_markers_land() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    assert_eq!(node.add(&id, producer, &[("offline", 0)]).await, done());
    assert_eq!(node.end(&id, producer, true).await, done());
    // The marker cannot be written (no leader): the transaction stays prepared.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        node.describe(&id).await.unwrap().state,
        TxnState::PrepareCommit
    );
    let busy = Err(TxnError::ConcurrentTransactions);
    assert_eq!(node.end(&id, producer, true).await, busy);
    assert_eq!(node.add(&id, producer, &[("t", 0)]).await, busy);
    assert_eq!(node.init(&id, None).await, busy);
    assert_eq!(
        node.verify(&id, producer, &[("offline", 0)]).await,
        Err(TxnError::ConcurrentTransactions)
    );
    // Asking to abort what is being committed does not fit.
    assert_eq!(
        node.end(&id, producer, false).await,
        Err(TxnError::InvalidTxnState)
    );
    assert_eq!(
        node.list(&[TxnState::PrepareCommit], &[], -1).await,
        Ok(vec![TxnListing {
            transactional_id: id.clone(),
            producer_id: producer.0,
            state: TxnState::PrepareCommit,
        }])
    );
}

#[actix::test]
async fn a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    // The periodic sweep is an hour away: the transaction's own timer aborts it.
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = pid_epoch(node.init_with_timeout(&id, 100, None).await);
    assert_eq!(node.add(&id, producer, &[("t", 1)]).await, done());
    let d = node.until_state(&id, TxnState::CompleteAbort).await;
    assert_eq!(d.producer_epoch, producer.1 + 1);
    assert_eq!(node.high_watermark("t", 1), 1, "the abort marker");
    assert_eq!(
        node.end(&id, producer, true).await,
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        node.add(&id, producer, &[("t", 1)]).await,
        Err(TxnError::ProducerFenced)
    );
}

#[actix::test]
async fn the_periodic_sweep_aborts_what_no_timer_did() {
    let node = start(Timing {
        abort_check_interval: Duration::from_millis(50),
        ..Timing::default()
    })
    .await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = pid_epoch(node.init_with_timeout(&id, 100, None).await);
    assert_eq!(node.add(&id, producer, &[("t", 0)]).await, done());
    // The timer is disarmed as a resignation would, but the id stays: only the sweep is left.
    node.ask(DisarmForTest { id: id.clone() }).await;
    let d = node.until_state(&id, TxnState::CompleteAbort).await;
    assert_eq!(d.producer_epoch, producer.1 + 1);
}

/// Test-only: forgets an id's armed timeout, as a lost wake-up would.
#[derive(Message)]
#[rtype(result = "()")]
struct DisarmForTest {
    id: String,
}

impl Handler<DisarmForTest> for TxnCoordinator {
    type Result = ();

    fn handle(&mut self, msg: DisarmForTest, _: &mut Context<Self>) {
        self.cancel(&msg.id);
    }
}

#[actix::test]
async fn list_and_describe_show_the_ids_this_shard_coordinates() {
    let node = started().await;
    node.load(0, 0).await;
    node.load(1, 0).await;
    let (a, b) = (id_in(0, 0), id_in(1, 0));
    let pa = node.producer(&a).await;
    let pb = node.producer(&b).await;
    assert_eq!(node.add(&b, pb, &[("t", 0)]).await, done());

    let all = node.list(&[], &[], -1).await.unwrap();
    let listing = |id: &str, pid: i64, state| TxnListing {
        transactional_id: id.to_string(),
        producer_id: pid,
        state,
    };
    let mut expected = vec![
        listing(&a, pa.0, TxnState::Empty),
        listing(&b, pb.0, TxnState::Ongoing),
    ];
    expected.sort_by(|x, y| x.transactional_id.cmp(&y.transactional_id));
    assert_eq!(all, expected);
    assert_eq!(
        node.list(&[TxnState::Ongoing], &[], -1).await,
        Ok(vec![listing(&b, pb.0, TxnState::Ongoing)])
    );
    assert_eq!(
        node.list(&[], &[pa.0], -1).await,
        Ok(vec![listing(&a, pa.0, TxnState::Empty)])
    );
    // Open for an hour or more: not the transaction that just started.
    assert_eq!(
        node.list(&[TxnState::Ongoing], &[], 3_600_000).await,
        Ok(vec![])
    );
    assert_eq!(
        node.list(&[TxnState::CompleteCommit], &[], -1).await,
        Ok(vec![])
    );

    let d = node.describe(&b).await.unwrap();
    assert_eq!(
        (
            d.transactional_id.as_str(),
            d.state,
            d.producer_id,
            d.producer_epoch
        ),
        (b.as_str(), TxnState::Ongoing, pb.0, pb.1)
    );
    assert_eq!(d.partitions, vec![("t".to_string(), 0)]);
    assert_eq!(node.describe("").await, Err(TxnError::InvalidRequest));
}

#[actix::test]
async fn a_partition_elected_again_serves_what_was_written_before() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    assert_eq!(node.add(&id, producer, &[("t", 0), ("t", 1)]).await, done());
    let before = node.describe(&id).await.unwrap();

    node.unload(0).await;
    assert_eq!(node.describe(&id).await, Err(TxnError::NotCoordinator));
    node.load(0, 1).await;
    assert_eq!(node.describe(&id).await, Ok(before));
    assert_eq!(node.end(&id, producer, true).await, done());
    node.until_state(&id, TxnState::CompleteCommit).await;
    assert_eq!(
        (node.high_watermark("t", 0), node.high_watermark("t", 1)),
        (1, 1)
    );
}

#[actix::test]
async fn a_prepared_transaction_is_finished_by_the_next_election() {
    let node = started().await;
    node.load(0, 0).await;
    let id = id_in(0, 0);
    let producer = node.producer(&id).await;
    // Both in the transaction; "offline" keeps the first marker round from completing.
    assert_eq!(
        node.add(&id, producer, &[("t", 0), ("offline", 0)]).await,
        done()
    );
    assert_eq!(node.end(&id, producer, false).await, done());
    // The first round's marker lands in "t"; the one for "offline" is retried.
    node.until_high_watermark("t", 0, 1).await;
    assert_eq!(
        node.describe(&id).await.unwrap().state,
        TxnState::PrepareAbort
    );
    // Resigned and elected again: the replay finds it prepared and writes its markers again.
    node.unload(0).await;
    node.load(0, 1).await;
    assert_eq!(
        node.describe(&id).await.unwrap().state,
        TxnState::PrepareAbort
    );
    node.until_high_watermark("t", 0, 2).await;
}

/// Test-only: appends `meta` to its `__transaction_state` partition the way the shard writes
/// its own changes, without installing it.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
struct WriteRecordForTest(TxnMetadata);

impl Handler<WriteRecordForTest> for TxnCoordinator {
    type Result = ResponseFuture<Result<(), BrokerError>>;

    fn handle(&mut self, msg: WriteRecordForTest, _: &mut Context<Self>) -> Self::Result {
        Box::pin(self.append(&msg.0))
    }
}

#[actix::test]
async fn an_exhausted_epoch_moves_the_id_to_a_new_producer_id() {
    let node = started().await;
    let id = id_in(0, 0);
    // What an earlier coordinator left: producer 77 two bumps from the last epoch.
    let mut left = TxnMetadata::new(id.clone(), 77, TIMEOUT_MS, wall_clock_ms());
    left.producer_epoch = i16::MAX - 2;
    node.ask(WriteRecordForTest(left)).await.unwrap();
    node.load(0, 0).await;
    let d = node.describe(&id).await.unwrap();
    assert_eq!((d.producer_id, d.producer_epoch), (77, i16::MAX - 2));

    assert_eq!(node.init(&id, None).await, Ok(pid_reply(77, i16::MAX - 1)));
    // The last epoch is kept to fence with: the id gets a fresh producer id at epoch 0.
    let (fresh, epoch) = node.producer(&id).await;
    assert_ne!(fresh, 77);
    assert_eq!(epoch, 0);
    let d = node.describe(&id).await.unwrap();
    assert_eq!((d.producer_id, d.producer_epoch), (fresh, 0));
    // The old producer is fenced off the id.
    assert_eq!(
        node.add(&id, (77, i16::MAX - 1), &[("t", 0)]).await,
        Err(TxnError::InvalidProducerIdMapping)
    );
}

#[actix::test]
async fn idle_ids_expire_but_open_transactions_do_not() {
    let node = start(Timing {
        expiry_check_interval: Duration::from_millis(50),
        config: TxnConfig {
            id_expiration_ms: 300,
            ..TxnConfig::default()
        },
        ..Timing::default()
    })
    .await;
    node.load(0, 0).await;
    let (idle, open) = (id_in(0, 0), id_in(0, 1));
    let (idle_pid, _) = node.producer(&idle).await;
    let open_producer = node.producer(&open).await;
    assert_eq!(node.add(&open, open_producer, &[("t", 0)]).await, done());
    for _ in 0..200 {
        if node.describe(&idle).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        node.describe(&idle).await,
        Err(TxnError::TransactionalIdNotFound)
    );
    assert_eq!(node.describe(&open).await.unwrap().state, TxnState::Ongoing);
    // The tombstone is in the log: elected again, the id is still gone.
    node.unload(0).await;
    node.load(0, 1).await;
    assert_eq!(
        node.describe(&idle).await,
        Err(TxnError::TransactionalIdNotFound)
    );
    // Used again, it starts over with a new producer id.
    let (again, epoch) = node.producer(&idle).await;
    assert_ne!(again, idle_pid);
    assert_eq!(epoch, 0);
}
