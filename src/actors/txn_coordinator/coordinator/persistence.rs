//! A `TxnCoordinator` shard's `__transaction_state` partitions: the write of each state change
//! (`append`), the replay of a partition it is elected for (`LoadPartition`, through the shared
//! `PartitionLoader`) and what a resignation drops (`UnloadPartition`). It reaches the log only
//! through the shared `append_to_own_partition` and `load_partition`; what a change means is
//! the state machine's (`txn.rs`), what follows a write the coordinator's (`coordinator.rs`).

use std::future::Future;

use actix::prelude::*;

use super::TxnCoordinator;
use crate::actors::coordinator_partitions::{
    append_to_own_partition, elect_partition, CoordinatorPartitions, LoadPartition,
    PartitionLoader, UnloadPartition,
};
use crate::actors::partition_replica::replica_manager::PartitionHandle;
use crate::actors::txn_coordinator::txn::{Effect, TxnMetadata};
use crate::actors::txn_coordinator::{records, txn_partition_for, TRANSACTION_STATE_TOPIC};
use crate::error::BrokerError;
use crate::runtime::clock::wall_clock_ms;

impl TxnCoordinator {
    /// Appends one id's record to its `__transaction_state` partition with `acks=all` and
    /// waits for replication (at most `request.timeout.ms`).
    pub(super) fn append(
        &self,
        meta: &TxnMetadata,
    ) -> impl Future<Output = Result<(), BrokerError>> + 'static {
        let batch = crate::actors::group_coordinator::records::batch(
            &[(records::key(&meta.transactional_id), records::value(meta))],
            wall_clock_ms(),
        );
        let write = append_to_own_partition(
            &self.setup.replicas,
            TRANSACTION_STATE_TOPIC,
            self.partition_of(&meta.transactional_id),
            batch,
            &self.setup.wheel,
            self.setup.write_timeout,
        );
        async move { write.await.map(|_base_offset| ()) }
    }

    /// Installs one partition's ids (last record per id wins, a tombstone forgets it), then
    /// finishes what they left prepared and re-arms the timeouts of open transactions.
    fn apply_loaded(
        &mut self,
        ctx: &mut Context<Self>,
        partition: i32,
        loaded: Vec<records::TxnRecord>,
    ) {
        let count = loaded.len();
        let mut ids: Vec<String> = Vec::new();
        for r in loaded {
            ids.push(r.transactional_id.clone());
            match r.metadata {
                Some(meta) => self.txns.insert(r.transactional_id, meta),
                None => self.txns.remove(&r.transactional_id),
            };
        }
        ids.sort();
        ids.dedup();
        let recovering: Vec<(String, Vec<Effect>)> = ids
            .into_iter()
            .filter_map(|id| {
                let effects = self.txns.get(&id)?.recover();
                (!effects.is_empty()).then_some((id, effects))
            })
            .collect();
        tracing::info!(
            shard = self.setup.shard,
            partition,
            records = count,
            transactional_ids = self.txns.len(),
            completing = recovering
                .iter()
                .filter(|(_, fx)| fx.iter().any(|e| matches!(e, Effect::WriteMarkers { .. })))
                .count(),
            "transaction coordinator loaded a __transaction_state partition"
        );
        for (id, effects) in recovering {
            self.run(ctx, id, effects, None);
        }
    }

    /// A resignation: the partition's ids, their timeouts and their marker rounds are
    /// dropped; the new coordinator reads them back and finishes what was prepared.
    fn unload(&mut self, ctx: &mut Context<Self>, partition: i32) {
        if !self.partitions.resign(partition) {
            return;
        }
        let n = self.setup.txn_partitions;
        let here = |id: &str| txn_partition_for(id, n) == partition;
        let ids: Vec<String> = self.txns.keys().filter(|id| here(id)).cloned().collect();
        for id in &ids {
            self.txns.remove(id);
            self.cancel(id);
        }
        let rounds: Vec<String> = self
            .marker_rounds
            .keys()
            .filter(|id| here(id))
            .cloned()
            .collect();
        for id in rounds {
            if let Some((_, task)) = self.marker_rounds.remove(&id) {
                ctx.cancel_future(task);
            }
        }
        tracing::info!(
            shard = self.setup.shard,
            partition,
            transactional_ids = ids.len(),
            "transaction coordinator unloaded a __transaction_state partition"
        );
    }
}

impl Handler<LoadPartition> for TxnCoordinator {
    type Result = ();

    fn handle(&mut self, msg: LoadPartition, ctx: &mut Context<Self>) {
        elect_partition(self, ctx, msg.partition, msg.leader_epoch, msg.loaded);
    }
}

impl Handler<UnloadPartition> for TxnCoordinator {
    type Result = ();

    fn handle(&mut self, msg: UnloadPartition, ctx: &mut Context<Self>) {
        self.unload(ctx, msg.partition);
    }
}

impl PartitionLoader for TxnCoordinator {
    type Entry = records::TxnRecord;
    const TOPIC: &'static str = TRANSACTION_STATE_TOPIC;
    fn partition_handle(&self, partition: i32) -> Option<PartitionHandle> {
        self.setup.replicas.get(TRANSACTION_STATE_TOPIC, partition)
    }
    fn coordinator_partitions(&mut self) -> &mut CoordinatorPartitions {
        &mut self.partitions
    }
    fn decode(bytes: bytes::Bytes) -> (Vec<Self::Entry>, Option<i64>) {
        records::decode_batches(bytes)
    }
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<Self::Entry>) {
        TxnCoordinator::apply_loaded(self, ctx, partition, entries)
    }
}
