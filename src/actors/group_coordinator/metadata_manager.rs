//! Persistence of a `GroupCoordinator` shard's groups in `__consumer_offsets` (Kafka's
//! `GroupMetadataManager`): writing records with `acks=all`, replaying a partition when this
//! node is elected its leader, forgetting it on resignation, deciding transactional offsets
//! when markers land, and expiring old offsets (`offsets.retention.minutes`).
//!
//! It touches groups only through their `GroupEntry`, and logs only through their
//! `PartitionReplica` (`delayed_produce::append_replicated`, `replay_partition`).

use std::collections::HashMap;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::entry::GroupKind;
use super::expiry::{expired_offsets, GroupActivity};
use super::group::{Group, GroupMetadataSnapshot, GroupState};
use super::records::{self, LoadedEntry, OffsetsRecord};
use super::requests::{Caller, GroupRequest};
use super::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::coordinator_partitions::PartitionState;
use crate::actors::coordinator_partitions::{
    append_to_own_partition, elect_partition, CoordinatorPartitions, PartitionLoader,
};
use crate::actors::partition_replica::replica_manager::PartitionHandle;
use crate::error::BrokerError;

use super::coordinator::GroupCoordinator;

/// Records to append: (key, value or None for a tombstone).
pub type Records = Vec<(bytes::Bytes, Option<bytes::Bytes>)>;

impl GroupCoordinator {
    /// Appends records to the group's `__consumer_offsets` partition; resolves to the
    /// batch's first offset (-1 when there was nothing to write).
    pub(super) fn append(
        &self,
        group_id: &str,
        entries: Records,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let batch = (!entries.is_empty()).then(|| records::batch(&entries, Self::wall_clock_ms()));
        self.write_batch(group_id, batch)
    }

    /// Appends a TxnOffsetCommit's records as the producer's transactional batch.
    pub(super) fn append_txn(
        &self,
        group_id: &str,
        entries: Records,
        producer_id: i64,
        producer_epoch: i16,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let batch = (!entries.is_empty()).then(|| {
            records::txn_batch(&entries, producer_id, producer_epoch, Self::wall_clock_ms())
        });
        self.write_batch(group_id, batch)
    }

    /// Writes with `acks=all` and waits for replication (at most `offsets.commit.timeout.ms`).
    fn write_batch(
        &self,
        group_id: &str,
        batch: Option<bytes::Bytes>,
    ) -> impl std::future::Future<Output = Result<i64, BrokerError>> + 'static {
        let write = batch.map(|batch| {
            append_to_own_partition(
                &self.replicas,
                OFFSETS_TOPIC,
                self.partition_of(group_id),
                batch,
                &self.wheel,
                self.write_timeout,
            )
        });
        async move {
            match write {
                Some(write) => write.await,
                None => Ok(-1),
            }
        }
    }

    /// An election: replays the partition unless it is already here (then only its epoch
    /// moves). `loaded` fires once it is Active, or the load was superseded.
    pub(super) fn elect(
        &mut self,
        ctx: &mut Context<Self>,
        partition: i32,
        leader_epoch: i32,
        loaded: Option<oneshot::Sender<()>>,
    ) {
        elect_partition(self, ctx, partition, leader_epoch, loaded);
    }

    /// A resignation: the partition's groups are removed (their parked callers and the
    /// requests waiting behind their writes answer NOT_COORDINATOR, so clients find the new
    /// coordinator).
    pub(super) fn unload(&mut self, ctx: &mut Context<Self>, partition: i32) {
        if !self.partitions.resign(partition) {
            return;
        }
        self.deferred_txn_completions.remove(&partition);
        let ids: Vec<String> = self
            .entries
            .keys()
            .filter(|g| self.partition_of(g) == partition)
            .cloned()
            .collect();
        let mut dropped = 0;
        for id in ids {
            if let Some(entry) = self.remove_entry(ctx, &id) {
                dropped += usize::from(entry.group.is_some());
            }
        }
        tracing::info!(
            shard = self.shard,
            partition,
            groups = dropped,
            "group coordinator unloaded a __consumer_offsets partition"
        );
    }

    /// A marker of `producer_id` is in `__consumer_offsets` partition `partition`: its pending
    /// offsets for the groups of that partition become committed or are dropped. A group with
    /// a write in flight takes the decision after it, in order.
    pub(super) fn complete_txn_offsets(
        &mut self,
        ctx: &mut Context<Self>,
        producer_id: i64,
        commit: bool,
        partition: i32,
    ) {
        let n = self.offsets_partitions;
        let ids: Vec<String> = self
            .entries
            .iter()
            .filter(|(g, e)| {
                offsets_partition_for(g, n) == partition && e.pending_txn.has_producer(producer_id)
            })
            .map(|(g, _)| g.clone())
            .collect();
        for id in ids {
            let request = GroupRequest::CompleteTxn {
                producer_id,
                commit,
            };
            self.route(ctx, id, request);
        }
    }

    /// A marker from the marker writer: decided now if the partition is here, after its
    /// replay if it is loading, ignored otherwise (its next load reads the marker).
    pub(super) fn marker_landed(
        &mut self,
        ctx: &mut Context<Self>,
        producer_id: i64,
        commit: bool,
        partition: i32,
    ) {
        match self.partitions.state(partition) {
            Some(PartitionState::Active { .. }) => {
                self.complete_txn_offsets(ctx, producer_id, commit, partition)
            }
            Some(PartitionState::Loading { .. }) => self
                .deferred_txn_completions
                .entry(partition)
                .or_default()
                .push((producer_id, commit)),
            None => {}
        }
    }

    /// Rebuilds one partition's groups from its entries, in log order: a transactional offset
    /// stays pending until its producer's marker in the same partition commits or drops it;
    /// ones still undecided stay pending (their `TxnCoordinator` finishes the transaction and
    /// tells us). Markers that landed while it loaded are applied after.
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<LoadedEntry>) {
        let mut snapshots: HashMap<String, Option<GroupMetadataSnapshot>> = HashMap::new();
        let count = entries.len();
        for entry in entries {
            self.apply_loaded_entry(ctx, partition, entry, &mut snapshots);
        }
        for (producer_id, commit) in self
            .deferred_txn_completions
            .remove(&partition)
            .unwrap_or_default()
        {
            self.complete_txn_offsets(ctx, producer_id, commit, partition);
        }
        let now = self.now_ms();
        let mut groups = 0;
        for (group_id, snapshot) in snapshots {
            let Some(snapshot) = snapshot else {
                self.forget_if_vacant(&group_id);
                continue;
            };
            let entry = self.entry(&group_id);
            if snapshot.state == GroupState::Empty {
                let since = snapshot
                    .current_state_timestamp_ms
                    .unwrap_or_else(Self::wall_clock_ms);
                entry.empty_since = Some(since);
            }
            match Group::from_snapshot(snapshot, self.config.clone(), now) {
                Ok((group, effects)) => {
                    groups += 1;
                    let entry = self.entry(&group_id);
                    entry.group = Some(GroupKind::Classic(group));
                    let inc = entry.incarnation;
                    self.run_effects(ctx, &group_id, inc, effects.into(), Caller::None);
                }
                Err(e) => {
                    tracing::warn!(group = %group_id, error = %e, "skipping unreadable group metadata")
                }
            }
        }
        tracing::info!(
            shard = self.shard,
            partition,
            records = count,
            groups,
            "group coordinator loaded a __consumer_offsets partition"
        );
    }

    fn apply_loaded_entry(
        &mut self,
        ctx: &mut Context<Self>,
        partition: i32,
        entry: LoadedEntry,
        snapshots: &mut HashMap<String, Option<GroupMetadataSnapshot>>,
    ) {
        let (record, batch_offset, txn_producer_id) = match entry {
            LoadedEntry::Marker {
                producer_id,
                commit,
            } => return self.complete_txn_offsets(ctx, producer_id, commit, partition),
            LoadedEntry::Record {
                record,
                batch_offset,
                txn_producer_id,
            } => (record, batch_offset, txn_producer_id),
        };
        match record {
            OffsetsRecord::Group { group, value } => {
                if value.is_none() {
                    // Deleted: replay drops its pending transactional offsets as the live
                    // DeleteGroups did.
                    if let Some(entry) = self.entries.get_mut(&group) {
                        entry.pending_txn.clear();
                    }
                }
                snapshots.insert(group, value);
            }
            OffsetsRecord::Offset {
                group,
                topic,
                partition: p,
                value,
            } => {
                let entry = self.entry(&group);
                match (txn_producer_id, value) {
                    (Some(producer_id), Some(committed)) => {
                        entry
                            .pending_txn
                            .add(producer_id, (topic, p), committed, batch_offset)
                    }
                    (Some(producer_id), None) => entry.pending_txn.remove(producer_id, &(topic, p)),
                    (None, Some(c)) => entry.put_offset((topic, p), c, batch_offset),
                    (None, None) => {
                        entry.offsets.remove(&(topic, p));
                    }
                }
                self.forget_if_vacant(&group);
            }
        }
    }

    /// `offsets.retention.minutes`: tombstones expired offsets, then removes Empty groups
    /// left with no offsets (they become Dead, as in Kafka). A group with a write in flight
    /// is left for the next check.
    pub(super) fn expire_offsets(&mut self, ctx: &mut Context<Self>) {
        let now = Self::wall_clock_ms();
        let ids: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.is_listed() && !e.writing)
            .map(|(g, _)| g.clone())
            .collect();
        for group_id in ids {
            let Some(entry) = self.entries.get_mut(&group_id) else {
                continue;
            };
            let activity = entry.activity();
            let expired = expired_offsets(
                entry.offsets.iter().map(|(k, s)| (k, &s.committed)),
                &activity,
                self.retention.retention_ms,
                now,
            );
            let mut tombstones: Records = Vec::new();
            for key in expired {
                tombstones.push((records::offset_key(&group_id, &key.0, key.1), None));
                entry.offsets.remove(&key);
            }
            let expired_offsets_count = tombstones.len();
            let group_is_empty = matches!(activity, GroupActivity::Empty { .. });
            if group_is_empty && entry.offsets.is_empty() && entry.pending_txn.is_empty() {
                let inc = entry.incarnation;
                if let Some(group) = entry.classic_mut() {
                    if let Ok(effects) = group.delete() {
                        self.run_effects(ctx, &group_id, inc, effects.into(), Caller::None);
                    }
                    tombstones.push((records::group_key(&group_id), None));
                }
                self.remove_entry(ctx, &group_id);
            }
            if tombstones.is_empty() {
                continue;
            }
            tracing::info!(group = %group_id, expired_offsets = expired_offsets_count, "expired committed offsets");
            let write = self.append(&group_id, tombstones);
            ctx.spawn(write.into_actor(self).map(move |r, _, _| {
                if let Err(e) = r {
                    tracing::warn!(group = %group_id, error = %e, "writing expired-offset tombstones failed");
                }
            }));
        }
    }
}

impl PartitionLoader for GroupCoordinator {
    type Entry = LoadedEntry;
    const TOPIC: &'static str = OFFSETS_TOPIC;
    fn partition_handle(&self, partition: i32) -> Option<PartitionHandle> {
        self.replicas.get(OFFSETS_TOPIC, partition)
    }
    fn coordinator_partitions(&mut self) -> &mut CoordinatorPartitions {
        &mut self.partitions
    }
    fn decode(bytes: bytes::Bytes) -> (Vec<Self::Entry>, Option<i64>) {
        records::decode_batches(bytes)
    }
    fn apply_loaded(&mut self, ctx: &mut Context<Self>, partition: i32, entries: Vec<Self::Entry>) {
        GroupCoordinator::apply_loaded(self, ctx, partition, entries)
    }
}
