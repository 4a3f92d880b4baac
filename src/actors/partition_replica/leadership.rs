//! What a partition leader knows of its followers, and Kafka's rules over it (`Partition` and
//! `Replica` in Kafka): plain data and functions, no actor, no clock, no I/O, so every rule is
//! a unit test. The `PartitionReplica` that leads the partition owns one [`LeaderState`],
//! feeds it follower fetches, controller decisions and the time, and carries out what it
//! answers (publish a high watermark, send an ISR change to the controller).
//!
//! Rules (Kafka's):
//! - A follower's log end offset is the offset of its last fetch. It was caught up at the
//!   latest time its fetch offset reached the leader's log end as of that fetch, or of the
//!   fetch before (`lastFetchLeaderLogEndOffset`), so a follower behind a busy leader by one
//!   fetch still counts as caught up.
//! - High watermark = the smallest log end offset among the leader, the maximal ISR (the ISR
//!   plus any member an expansion in flight adds) and followers that are caught up and could
//!   join the ISR; it only moves forward, and not at all while the ISR is smaller than
//!   `min.insync.replicas` (KIP-966).
//! - A follower joins the ISR (proposed to the controller) once its log end offset reaches
//!   the high watermark and the start of the current leader epoch.
//! - An ISR member other than the leader leaves it once it has not been caught up for
//!   `replica.lag.time.max.ms`.
//! - One ISR change is in flight at a time; the controller's decision (or a failure) ends it.
//!
//! Invariant: the high watermark never passes the leader's log end offset nor moves back.

use std::collections::{BTreeMap, BTreeSet};

/// A follower's log end offset before its first fetch to this leader.
pub const UNKNOWN_OFFSET: i64 = -1;

/// The controller's decision for one partition, as far as its leader cares (Kafka's
/// `LeaderAndIsr` with the assignment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderAndIsr {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The settings the rules read: `replica.lag.time.max.ms` (broker) and
/// `min.insync.replicas` (topic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    pub replica_lag_time_max_ms: i64,
    pub min_insync_replicas: i32,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
        }
    }
}

/// One follower as the leader sees it (Kafka's `ReplicaState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerState {
    /// Offset of its last fetch; [`UNKNOWN_OFFSET`] before the first one.
    pub log_end_offset: i64,
    /// The leader's log end offset when that fetch arrived (the largest seen).
    pub last_fetch_leader_log_end_offset: i64,
    pub last_fetch_ms: i64,
    /// The latest time its fetch offset reached the leader's log end.
    pub last_caught_up_ms: i64,
}

impl FollowerState {
    /// A replica never heard from (Kafka's `ReplicaState.Empty`).
    fn empty() -> FollowerState {
        FollowerState {
            log_end_offset: UNKNOWN_OFFSET,
            last_fetch_leader_log_end_offset: 0,
            last_fetch_ms: 0,
            last_caught_up_ms: 0,
        }
    }

    /// Caught up: at the leader's log end, or caught up within the last `max_lag_ms`.
    pub fn is_caught_up(&self, leader_log_end_offset: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == leader_log_end_offset
            || now_ms.saturating_sub(self.last_caught_up_ms) <= max_lag_ms
    }
}

/// Why a follower's fetch could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeadershipError {
    /// The fetching broker is not a follower of this partition (Kafka answers
    /// NOT_LEADER_OR_FOLLOWER).
    #[error("broker {0} is not a follower of this partition")]
    NotAFollower(i32),
}

/// What [`LeaderState::apply_partition_state`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionStateChange {
    /// Older than what this leader knows (a lower partition epoch): ignored.
    Stale,
    /// Another broker leads now: ignored here; the caller drops this state.
    NotLeader,
    /// A new leader epoch: it starts at the log end (the caller records it in the log with
    /// `Log::set_leader_epoch`), and followers' states were reset.
    NewLeaderEpoch,
    /// Same leader epoch, new ISR or assignment.
    Updated,
}

/// How an `acks=all` produce waiting for `required_offset` stands (Kafka's
/// `checkEnoughReplicasReachOffset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcksOutcome {
    /// The high watermark has not reached it yet.
    Waiting,
    /// Replicated.
    Done,
    /// Replicated, but the ISR is now smaller than `min.insync.replicas`
    /// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    NotEnoughReplicasAfterAppend,
}

/// The leader's view of its partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    pub local_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    /// The ISR as the controller last decided it.
    pub isr: Vec<i32>,
    /// An ISR change sent to the controller and not yet answered (Kafka's pending ISR
    /// state); no other is proposed meanwhile.
    pub pending_isr: Option<Vec<i32>>,
    /// Every assigned replica but the leader.
    pub followers: BTreeMap<i32, FollowerState>,
    pub high_watermark: i64,
    /// The leader's log end offset when this leader epoch began.
    pub leader_epoch_start_offset: i64,
    /// Brokers that may not join the ISR: fenced or in controlled shutdown (KRaft's
    /// eligibility rule). The owner keeps it current from the metadata.
    pub ineligible: BTreeSet<i32>,
    pub config: ReplicationConfig,
}

impl LeaderState {
    /// The local broker becomes leader (it was not): the epoch starts at `log_end_offset`,
    /// the high watermark starts where the log had it (what it learned as a follower), and
    /// followers are unknown, ISR members counted as caught up now (so they are not dropped
    /// before they can fetch), others not. The high watermark is then advanced if it can be.
    pub fn become_leader(
        local_id: i32,
        state: &LeaderAndIsr,
        log_end_offset: i64,
        high_watermark: i64,
        config: ReplicationConfig,
        now_ms: i64,
    ) -> LeaderState {
        let mut leader = LeaderState {
            local_id,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            replicas: state.replicas.clone(),
            isr: state.isr.clone(),
            pending_isr: None,
            followers: BTreeMap::new(),
            high_watermark: high_watermark.min(log_end_offset),
            leader_epoch_start_offset: log_end_offset,
            ineligible: BTreeSet::new(),
            config,
        };
        leader.sync_followers();
        for (id, follower) in leader.followers.iter_mut() {
            let in_isr = state.isr.contains(id);
            *follower = FollowerState {
                log_end_offset: UNKNOWN_OFFSET,
                last_fetch_leader_log_end_offset: UNKNOWN_OFFSET,
                last_fetch_ms: 0,
                last_caught_up_ms: if in_isr { now_ms } else { 0 },
            };
        }
        leader.maybe_increment_high_watermark(log_end_offset, now_ms);
        leader
    }

    /// The controller decided a new state for the partition (a leader election, an ISR change
    /// this leader or another cause asked for, a reassignment). A partition epoch older than
    /// the one known is ignored, as is a decision naming another leader. Follower states are
    /// kept for replicas still assigned and created empty for new ones; the pending ISR
    /// change, if any, is over. A new leader epoch starts at `log_end_offset` and resets every
    /// follower: ISR members caught up now and last fetched now, others not, log end offsets
    /// kept. The high watermark is then advanced if it can be (the ISR may have shrunk).
    pub fn apply_partition_state(
        &mut self,
        state: &LeaderAndIsr,
        log_end_offset: i64,
        now_ms: i64,
    ) -> PartitionStateChange {
        if state.partition_epoch < self.partition_epoch {
            return PartitionStateChange::Stale;
        }
        if state.leader != self.local_id {
            return PartitionStateChange::NotLeader;
        }
        let new_leader_epoch = state.leader_epoch > self.leader_epoch;
        self.replicas = state.replicas.clone();
        self.isr = state.isr.clone();
        self.partition_epoch = state.partition_epoch;
        self.pending_isr = None;
        self.sync_followers();
        if new_leader_epoch {
            self.leader_epoch = state.leader_epoch;
            self.leader_epoch_start_offset = log_end_offset;
            for (id, follower) in self.followers.iter_mut() {
                let in_isr = state.isr.contains(id);
                follower.last_fetch_leader_log_end_offset = log_end_offset;
                follower.last_fetch_ms = if in_isr { now_ms } else { 0 };
                follower.last_caught_up_ms = if in_isr { now_ms } else { 0 };
            }
        }
        self.maybe_increment_high_watermark(log_end_offset, now_ms);
        if new_leader_epoch {
            PartitionStateChange::NewLeaderEpoch
        } else {
            PartitionStateChange::Updated
        }
    }

    /// Keeps a state for every assigned replica but the leader, and none for others.
    fn sync_followers(&mut self) {
        let local_id = self.local_id;
        let wanted: BTreeSet<i32> = self
            .replicas
            .iter()
            .copied()
            .filter(|&id| id != local_id)
            .collect();
        self.followers.retain(|id, _| wanted.contains(id));
        for id in wanted {
            self.followers
                .entry(id)
                .or_insert_with(FollowerState::empty);
        }
    }

    /// Records a follower's fetch at `fetch_offset`, which arrived at `now_ms` while the
    /// leader's log ended at `leader_log_end_offset` (Kafka's `updateFetchStateOrThrow`). The
    /// follower's log end offset becomes the fetch offset; it was caught up now if the fetch
    /// offset reaches the leader's log end, else as of its previous fetch if it reaches the
    /// leader's log end as of that one. Returns whether its log end offset changed (then ask
    /// [`maybe_expand_isr`](Self::maybe_expand_isr) and
    /// [`maybe_increment_high_watermark`](Self::maybe_increment_high_watermark)).
    pub fn on_follower_fetch(
        &mut self,
        follower_id: i32,
        fetch_offset: i64,
        leader_log_end_offset: i64,
        now_ms: i64,
    ) -> Result<bool, LeadershipError> {
        let follower = self
            .followers
            .get_mut(&follower_id)
            .ok_or(LeadershipError::NotAFollower(follower_id))?;
        let last_caught_up_ms = if fetch_offset >= leader_log_end_offset {
            follower.last_caught_up_ms.max(now_ms)
        } else if fetch_offset >= follower.last_fetch_leader_log_end_offset {
            follower.last_caught_up_ms.max(follower.last_fetch_ms)
        } else {
            follower.last_caught_up_ms
        };
        let moved = follower.log_end_offset != fetch_offset;
        *follower = FollowerState {
            log_end_offset: fetch_offset,
            last_fetch_leader_log_end_offset: leader_log_end_offset
                .max(follower.last_fetch_leader_log_end_offset),
            last_fetch_ms: now_ms,
            last_caught_up_ms,
        };
        Ok(moved)
    }

    /// The ISR plus the members a change in flight would add: what the high watermark and
    /// `acks=all` must wait for until the controller answers (KIP-497).
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for id in pending {
                if !isr.contains(id) {
                    isr.push(*id);
                }
            }
        }
        isr
    }

    /// `min.insync.replicas`, but never more than the replication factor (Kafka's
    /// `effectiveMinIsr`).
    pub fn effective_min_isr(&self) -> usize {
        let min = usize::try_from(self.config.min_insync_replicas.max(1)).unwrap_or(1);
        min.min(self.replicas.len().max(1))
    }

    /// Whether the ISR is smaller than `min.insync.replicas`: `acks=all` produces are refused
    /// (NOT_ENOUGH_REPLICAS) and the high watermark stands still.
    pub fn is_under_min_isr(&self) -> bool {
        self.isr.len() < self.effective_min_isr()
    }

    /// Whether the ISR lacks some assigned replica.
    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// Recomputes the high watermark for a leader whose log ends at `leader_log_end_offset`
    /// (Kafka's `maybeIncrementLeaderHW`): the smallest log end offset among the leader, the
    /// maximal ISR, and the followers that are caught up and eligible to join it. It moves
    /// only forward, never past the leader's log end, and not while the ISR is under
    /// `min.insync.replicas`. Returns the new value when it moved.
    pub fn maybe_increment_high_watermark(
        &mut self,
        leader_log_end_offset: i64,
        now_ms: i64,
    ) -> Option<i64> {
        if self.is_under_min_isr() {
            return None;
        }
        let maximal_isr = self.maximal_isr();
        let lag = self.config.replica_lag_time_max_ms;
        let mut candidate = leader_log_end_offset;
        for (id, follower) in &self.followers {
            let waits_for_it = maximal_isr.contains(id)
                || (follower.is_caught_up(leader_log_end_offset, now_ms, lag)
                    && !self.ineligible.contains(id));
            if waits_for_it && follower.log_end_offset < candidate {
                candidate = follower.log_end_offset;
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            Some(candidate)
        } else {
            None
        }
    }

    /// If `follower_id` may join the ISR now, the ISR to propose to the controller (the
    /// current one plus it), recorded as pending (Kafka's `maybeExpandIsr`). It may when no
    /// change is in flight, it is an assigned follower outside the ISR, eligible, and its log
    /// end offset has reached both the high watermark and the start of this leader epoch
    /// (else data committed in this epoch could be missing from it).
    pub fn maybe_expand_isr(&mut self, follower_id: i32) -> Option<Vec<i32>> {
        if self.pending_isr.is_some()
            || self.isr.contains(&follower_id)
            || self.ineligible.contains(&follower_id)
        {
            return None;
        }
        let follower = self.followers.get(&follower_id)?;
        let in_sync = follower.log_end_offset >= self.high_watermark
            && follower.log_end_offset >= self.leader_epoch_start_offset;
        if !in_sync {
            return None;
        }
        let mut proposed = self.isr.clone();
        proposed.push(follower_id);
        self.pending_isr = Some(proposed.clone());
        Some(proposed)
    }

    /// If some ISR members other than the leader have not been caught up for
    /// `replica.lag.time.max.ms` (stuck, or too slow to reach the leader's log end), the ISR
    /// without them, recorded as pending (Kafka's `getOutOfSyncReplicas` and
    /// `maybeShrinkIsr`). A member at the leader's log end is never out of sync; one the
    /// leader has no state for always is. Nothing while a change is in flight.
    pub fn isr_to_shrink(&mut self, leader_log_end_offset: i64, now_ms: i64) -> Option<Vec<i32>> {
        if self.pending_isr.is_some() {
            return None;
        }
        let lag = self.config.replica_lag_time_max_ms;
        let out_of_sync: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|&id| id != self.local_id)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_none_or(|f| !f.is_caught_up(leader_log_end_offset, now_ms, lag))
            })
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let proposed: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|id| !out_of_sync.contains(id))
            .collect();
        self.pending_isr = Some(proposed.clone());
        Some(proposed)
    }

    /// The controller refused or lost the proposed ISR change: propose again when the rules
    /// say so.
    pub fn isr_change_failed(&mut self) {
        self.pending_isr = None;
    }

    /// Whether an `acks=all` produce that needs the high watermark at `required_offset` can be
    /// answered, and how (Kafka's `checkEnoughReplicasReachOffset`).
    pub fn check_enough_replicas_reach_offset(&self, required_offset: i64) -> AcksOutcome {
        if self.high_watermark < required_offset {
            AcksOutcome::Waiting
        } else if self.maximal_isr().len() >= self.effective_min_isr() {
            AcksOutcome::Done
        } else {
            AcksOutcome::NotEnoughReplicasAfterAppend
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 10_000;
    const T0: i64 = 1_000_000;

    fn config(min_isr: i32) -> ReplicationConfig {
        ReplicationConfig {
            replica_lag_time_max_ms: LAG,
            min_insync_replicas: min_isr,
        }
    }

    fn state(
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> LeaderAndIsr {
        LeaderAndIsr {
            leader: 1,
            leader_epoch,
            partition_epoch,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    /// Broker 1 leads replicas 1, 2, 3 (all in the ISR) from log end 100, HW 100.
    fn leader() -> LeaderState {
        LeaderState::become_leader(
            1,
            &state(5, 10, &[1, 2, 3], &[1, 2, 3]),
            100,
            100,
            config(1),
            T0,
        )
    }

    #[test]
    fn becoming_leader_starts_the_epoch_at_the_log_end() {
        let l = LeaderState::become_leader(
            1,
            &state(5, 10, &[1, 2, 3], &[1, 2]),
            100,
            80,
            config(1),
            T0,
        );
        assert_eq!(l.leader_epoch_start_offset, 100);
        assert_eq!(l.followers.keys().copied().collect::<Vec<_>>(), [2, 3]);
        // ISR members count as caught up now; the other does not.
        assert_eq!(l.followers[&2].last_caught_up_ms, T0);
        assert_eq!(l.followers[&3].last_caught_up_ms, 0);
        assert_eq!(l.followers[&2].log_end_offset, UNKNOWN_OFFSET);
        // Follower 2's log end is unknown: the HW stays where the log had it.
        assert_eq!(l.high_watermark, 80);
        // A high watermark above the log end is brought down to it.
        let l = LeaderState::become_leader(1, &state(5, 10, &[1], &[1]), 100, 120, config(1), T0);
        assert_eq!(l.high_watermark, 100);
    }

    #[test]
    fn a_fetch_sets_the_follower_log_end_and_caught_up_time() {
        let mut l = leader();
        // At the leader's log end: caught up now.
        assert_eq!(l.on_follower_fetch(2, 100, 100, T0 + 5), Ok(true));
        assert_eq!(l.followers[&2].log_end_offset, 100);
        assert_eq!(l.followers[&2].last_caught_up_ms, T0 + 5);
        assert_eq!(l.followers[&2].last_fetch_leader_log_end_offset, 100);
        // The same offset again: not moved.
        assert_eq!(l.on_follower_fetch(2, 100, 100, T0 + 6), Ok(false));
        // Unknown brokers and the leader itself are not followers.
        assert_eq!(
            l.on_follower_fetch(9, 0, 100, T0),
            Err(LeadershipError::NotAFollower(9))
        );
        assert_eq!(
            l.on_follower_fetch(1, 0, 100, T0),
            Err(LeadershipError::NotAFollower(1))
        );
    }

    #[test]
    fn a_follower_one_fetch_behind_a_busy_leader_is_still_caught_up() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, T0 + 1_000).unwrap();
        // The leader appended meanwhile: the fetch at 100 lags its log end of 110, but
        // reaches the log end of the previous fetch, so it was caught up as of that fetch.
        l.on_follower_fetch(2, 100, 110, T0 + 2_000).unwrap();
        assert_eq!(l.followers[&2].last_caught_up_ms, T0 + 1_000);
        l.on_follower_fetch(2, 110, 120, T0 + 3_000).unwrap();
        assert_eq!(l.followers[&2].last_caught_up_ms, T0 + 2_000);
        assert_eq!(l.followers[&2].last_fetch_leader_log_end_offset, 120);
        // A fetch that does not even reach the previous log end leaves the time alone.
        l.on_follower_fetch(2, 115, 130, T0 + 4_000).unwrap();
        assert_eq!(l.followers[&2].last_caught_up_ms, T0 + 2_000);
    }

    #[test]
    fn the_high_watermark_is_the_smallest_log_end_in_the_isr() {
        let mut l = leader();
        l.on_follower_fetch(2, 120, 130, T0).unwrap();
        l.on_follower_fetch(3, 110, 130, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(130, T0), Some(110));
        l.on_follower_fetch(3, 130, 130, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(130, T0), Some(120));
        l.on_follower_fetch(2, 130, 130, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(130, T0), Some(130));
        // Never past the leader's own log end.
        l.on_follower_fetch(2, 200, 130, T0).unwrap();
        l.on_follower_fetch(3, 200, 130, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(130, T0), None);
        assert_eq!(l.high_watermark, 130);
    }

    #[test]
    fn the_high_watermark_never_moves_back() {
        let mut l = leader();
        l.on_follower_fetch(2, 150, 150, T0).unwrap();
        l.on_follower_fetch(3, 150, 150, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(150, T0), Some(150));
        // A follower that truncated and fetches from lower down holds it, but does not pull
        // it back; nor does a new follower with an unknown log end.
        l.on_follower_fetch(2, 120, 160, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(160, T0), None);
        assert_eq!(l.high_watermark, 150);
        l.apply_partition_state(&state(5, 11, &[1, 2, 3, 4], &[1, 2, 3, 4]), 160, T0);
        assert_eq!(l.followers[&4].log_end_offset, UNKNOWN_OFFSET);
        assert_eq!(l.maybe_increment_high_watermark(160, T0), None);
        assert_eq!(l.high_watermark, 150);
    }

    #[test]
    fn a_lagging_follower_outside_the_isr_does_not_hold_the_high_watermark() {
        let mut l =
            LeaderState::become_leader(1, &state(5, 10, &[1, 2], &[1]), 100, 100, config(1), T0);
        l.on_follower_fetch(2, 40, 200, T0).unwrap();
        // Not caught up (last caught up at 0): the leader alone decides.
        assert_eq!(
            l.maybe_increment_high_watermark(200, T0 + LAG + 1),
            Some(200)
        );
    }

    #[test]
    fn a_caught_up_follower_about_to_join_holds_the_high_watermark() {
        let mut l =
            LeaderState::become_leader(1, &state(5, 10, &[1, 2], &[1]), 100, 100, config(1), T0);
        // It reached the leader's log end a moment ago; the leader appended since.
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        assert_eq!(l.maybe_increment_high_watermark(120, T0 + 1), None);
        assert_eq!(l.high_watermark, 100);
        // Fenced or shutting down, it may not join, and is not waited for.
        l.ineligible.insert(2);
        assert_eq!(l.maybe_increment_high_watermark(120, T0 + 1), Some(120));
    }

    #[test]
    fn the_high_watermark_stands_still_under_min_isr() {
        let mut l =
            LeaderState::become_leader(1, &state(5, 10, &[1, 2, 3], &[1]), 100, 100, config(2), T0);
        assert!(l.is_under_min_isr());
        assert_eq!(l.maybe_increment_high_watermark(150, T0), None);
        assert_eq!(
            l.check_enough_replicas_reach_offset(100),
            AcksOutcome::NotEnoughReplicasAfterAppend
        );
        assert_eq!(
            l.check_enough_replicas_reach_offset(101),
            AcksOutcome::Waiting
        );
        // min.insync.replicas above the replication factor counts as the replication factor.
        let l =
            LeaderState::become_leader(1, &state(5, 10, &[1, 2], &[1, 2]), 100, 100, config(3), T0);
        assert_eq!(l.effective_min_isr(), 2);
        assert!(!l.is_under_min_isr());
        assert!(!l.is_under_replicated());
    }

    #[test]
    fn a_follower_joins_the_isr_once_it_reaches_the_hw_and_the_epoch_start() {
        let mut l = LeaderState::become_leader(
            1,
            &state(5, 10, &[1, 2, 3], &[1, 2]),
            100,
            100,
            config(1),
            T0,
        );
        // Below the high watermark: not yet.
        l.on_follower_fetch(3, 90, 100, T0).unwrap();
        assert_eq!(l.maybe_expand_isr(3), None);
        // At the HW and the epoch start: proposed, and pending.
        l.on_follower_fetch(3, 100, 100, T0).unwrap();
        assert_eq!(l.maybe_expand_isr(3), Some(vec![1, 2, 3]));
        assert_eq!(l.pending_isr, Some(vec![1, 2, 3]));
        assert_eq!(l.maximal_isr(), [1, 2, 3]);
        // Nothing else is proposed while it is in flight.
        assert_eq!(l.maybe_expand_isr(3), None);
        assert_eq!(l.isr_to_shrink(100, T0 + 10 * LAG), None);
        // The controller's answer ends it.
        assert_eq!(
            l.apply_partition_state(&state(5, 11, &[1, 2, 3], &[1, 2, 3]), 100, T0),
            PartitionStateChange::Updated
        );
        assert_eq!(l.pending_isr, None);
        assert_eq!(l.maybe_expand_isr(3), None, "already a member");
        assert_eq!(l.maybe_expand_isr(7), None, "not assigned");
    }

    #[test]
    fn a_follower_behind_the_epoch_start_does_not_join() {
        // The leader's HW (80) lags its log end (100), where the epoch started: ISR member 3
        // has not fetched yet.
        let mut l = LeaderState::become_leader(
            1,
            &state(5, 10, &[1, 2, 3], &[1, 3]),
            100,
            80,
            config(1),
            T0,
        );
        assert_eq!(l.high_watermark, 80);
        l.on_follower_fetch(2, 90, 100, T0).unwrap();
        assert_eq!(
            l.maybe_expand_isr(2),
            None,
            "past the HW, short of the epoch start"
        );
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        assert_eq!(l.maybe_expand_isr(2), Some(vec![1, 3, 2]));
        // An ineligible broker never joins.
        l.isr_change_failed();
        l.ineligible.insert(2);
        assert_eq!(l.maybe_expand_isr(2), None);
    }

    #[test]
    fn followers_not_caught_up_for_the_lag_time_leave_the_isr() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        l.on_follower_fetch(3, 100, 100, T0).unwrap();
        // The leader moves on; follower 2 keeps up, follower 3 stops fetching.
        l.on_follower_fetch(2, 150, 150, T0 + LAG).unwrap();
        assert_eq!(
            l.isr_to_shrink(150, T0 + LAG),
            None,
            "exactly the lag is still in sync"
        );
        assert_eq!(l.isr_to_shrink(150, T0 + LAG + 1), Some(vec![1, 2]));
        assert_eq!(l.pending_isr, Some(vec![1, 2]));
        // While pending, the HW still waits for the old ISR (the maximal ISR).
        assert_eq!(l.maximal_isr(), [1, 2, 3]);
        assert_eq!(l.maybe_increment_high_watermark(150, T0 + LAG + 1), None);
        // The controller shrinks it: the HW moves.
        l.apply_partition_state(&state(5, 11, &[1, 2, 3], &[1, 2]), 150, T0 + LAG + 2);
        assert_eq!(l.high_watermark, 150);
    }

    #[test]
    fn a_follower_at_the_leader_log_end_is_never_out_of_sync() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        l.on_follower_fetch(3, 100, 100, T0).unwrap();
        // No appends for a long time: nobody lags.
        assert_eq!(l.isr_to_shrink(100, T0 + 100 * LAG), None);
    }

    #[test]
    fn a_slow_follower_that_never_reaches_the_log_end_leaves() {
        let mut l = leader();
        // Follower 2 fetches constantly but is always behind both the current and the
        // previous log end.
        let mut leader_leo = 100;
        for i in 1..=20 {
            let fetch = leader_leo - 5;
            leader_leo += 10;
            l.on_follower_fetch(2, fetch, leader_leo, T0 + i * 1_000)
                .unwrap();
        }
        l.on_follower_fetch(3, leader_leo, leader_leo, T0 + 20_000)
            .unwrap();
        assert_eq!(l.isr_to_shrink(leader_leo, T0 + 20_000), Some(vec![1, 3]));
        l.isr_change_failed();
        assert_eq!(l.pending_isr, None);
    }

    #[test]
    fn a_new_leader_epoch_resets_followers_and_starts_at_the_log_end() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        let change = l.apply_partition_state(&state(6, 11, &[1, 2, 3], &[1, 2]), 140, T0 + 50);
        assert_eq!(change, PartitionStateChange::NewLeaderEpoch);
        assert_eq!((l.leader_epoch, l.partition_epoch), (6, 11));
        assert_eq!(l.leader_epoch_start_offset, 140);
        assert_eq!(
            l.followers[&2].log_end_offset, 100,
            "log end offsets are kept"
        );
        assert_eq!(l.followers[&2].last_caught_up_ms, T0 + 50);
        assert_eq!(l.followers[&2].last_fetch_ms, T0 + 50);
        assert_eq!(l.followers[&2].last_fetch_leader_log_end_offset, 140);
        assert_eq!(l.followers[&3].last_caught_up_ms, 0, "not in the ISR");
    }

    #[test]
    fn partition_state_changes_keep_known_followers_and_drop_removed_ones() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, T0).unwrap();
        // A reassignment: 3 leaves, 4 joins the assignment (not the ISR).
        assert_eq!(
            l.apply_partition_state(&state(5, 11, &[1, 2, 4], &[1, 2]), 100, T0 + 7),
            PartitionStateChange::Updated
        );
        assert_eq!(l.followers.keys().copied().collect::<Vec<_>>(), [2, 4]);
        assert_eq!(l.followers[&2].log_end_offset, 100);
        assert_eq!(l.followers[&4].log_end_offset, UNKNOWN_OFFSET);
        assert_eq!(l.followers[&4].last_caught_up_ms, 0);
        // Stale decisions and another leader's are not applied.
        assert_eq!(
            l.apply_partition_state(&state(9, 10, &[1, 2, 3], &[1, 2, 3]), 100, T0),
            PartitionStateChange::Stale
        );
        let mut other = state(6, 12, &[1, 2, 4], &[2]);
        other.leader = 2;
        assert_eq!(
            l.apply_partition_state(&other, 100, T0),
            PartitionStateChange::NotLeader
        );
        assert_eq!((l.leader_epoch, l.partition_epoch), (5, 11));
    }

    #[test]
    fn acks_all_completes_when_the_high_watermark_passes_the_offset() {
        let mut l = leader();
        assert_eq!(
            l.check_enough_replicas_reach_offset(110),
            AcksOutcome::Waiting
        );
        l.on_follower_fetch(2, 110, 110, T0).unwrap();
        l.on_follower_fetch(3, 110, 110, T0).unwrap();
        l.maybe_increment_high_watermark(110, T0);
        assert_eq!(l.check_enough_replicas_reach_offset(110), AcksOutcome::Done);
    }
}
