//! The leader's side of `PartitionReplica`: becoming leader or follower, client appends and
//! transaction markers, record deletion, and the ISR (following followers' fetches, moving
//! the high watermark, proposing expansions and shrinks to the controller). The leader's
//! bookkeeping itself (`LeaderState`) lives in `leadership`.

use actix::prelude::*;

use super::leadership::{LeaderAndIsr, LeaderState, ReplicationConfig};
use super::*;
use crate::actors::controller::AlterPartition;
use crate::error::BrokerError;
use crate::events::BrokerEvent;
use crate::metadata::PartitionMeta;
use crate::storage::AppendInfo;

impl PartitionReplica {
    /// Leader-only operations: NOT_LEADER_OR_FOLLOWER elsewhere, and the caller's leader
    /// epoch (when given) must match: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
    pub(super) fn check_leader(&self, current_leader_epoch: i32) -> Result<(), BrokerError> {
        let my_epoch = match &self.role {
            Role::Leader(s) => s.leader_epoch,
            Role::Follower { leader_epoch, .. } => {
                check_epoch(current_leader_epoch, *leader_epoch)?;
                return Err(BrokerError::NotLeaderOrFollower);
            }
            Role::Unknown => return Err(BrokerError::NotLeaderOrFollower),
        };
        check_epoch(current_leader_epoch, my_epoch)
    }

    /// A write as leader (records, a marker, a deletion): `check_leader`, and this broker must
    /// hold its lease (`lease.rs`). Without it the controller may already have elected another
    /// leader, so the client is sent to look for it (NOT_LEADER_OR_FOLLOWER, at every acks
    /// level) rather than left waiting for a replication that cannot come.
    fn check_writable_leader(&self) -> Result<(), BrokerError> {
        self.check_leader(-1)?;
        if !self.context.lease.is_held() {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        Ok(())
    }

    /// An `acks=all` write is refused up front while the ISR is smaller than
    /// `min.insync.replicas` (NOT_ENOUGH_REPLICAS, nothing written); returns that minimum.
    fn check_min_insync(&self, required_acks: i16) -> Result<i64, BrokerError> {
        let min_insync_replicas = self.config.min_insync_replicas;
        let isr_size = match &self.role {
            Role::Leader(s) => s.isr.len(),
            _ => 0,
        };
        if required_acks == -1 && (isr_size as i64) < min_insync_replicas {
            return Err(BrokerError::NotEnoughReplicas {
                isr: isr_size,
                min: min_insync_replicas,
            });
        }
        Ok(min_insync_replicas)
    }

    /// The leader epoch this replica leads at (-1 when it does not lead).
    fn leader_epoch(&self) -> i32 {
        match &self.role {
            Role::Leader(s) => s.leader_epoch,
            _ => -1,
        }
    }

    /// After anything that moved this leader's log end or a follower: recompute the high
    /// watermark (smallest LEO in the ISR) and publish.
    fn advance_high_watermark(&mut self) {
        let leo = self.log.as_ref().map(|l| l.log_end_offset());
        if let (Some(leo), Role::Leader(s)) = (leo, &mut self.role) {
            s.maybe_increment_high_watermark(leo, Self::now_ms());
            self.known_high_watermark = s.high_watermark;
        }
        self.publish_watermarks();
    }

    /// After a leader append (records or a marker): moves the high watermark and answers
    /// with where `info` landed.
    fn appended(
        &mut self,
        info: &AppendInfo,
        leader_epoch: i32,
        min_insync_replicas: i64,
    ) -> AppendResult {
        self.advance_high_watermark();
        AppendResult {
            base_offset: info.first_offset,
            next_offset: info.last_offset + 1,
            log_append_time: info.log_append_time,
            log_start_offset: self.watermarks().log_start_offset,
            leader_epoch,
            min_insync_replicas,
        }
    }

    /// Asks the controller for a new ISR (Kafka's AlterPartition); the answer, or the
    /// metadata update carrying it, brings the new state.
    fn propose_isr(&mut self, new_isr: Vec<i32>, ctx: &mut Context<Self>) {
        let Role::Leader(s) = &self.role else { return };
        if self.isr_change_in_flight {
            return;
        }
        let Some(controller) = self.context.controller.clone() else {
            return;
        };
        tracing::info!(partition = %self.tp, isr = ?s.isr, proposed = ?new_isr, "proposing an ISR change");
        let request = AlterPartition {
            broker_id: self.context.node_id,
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            leader_epoch: s.leader_epoch,
            partition_epoch: s.partition_epoch,
            new_isr,
        };
        self.isr_change_in_flight = true;
        controller
            .send(request)
            .into_actor(self)
            .map(|answer, act, _| {
                act.isr_change_in_flight = false;
                match answer {
                    Ok(Ok(state)) => act.apply_leader_state(&state),
                    other => {
                        let reason = match other {
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                            Ok(Ok(_)) => unreachable!(),
                        };
                        tracing::warn!(partition = %act.tp, %reason, "ISR change not made");
                        if let Role::Leader(s) = &mut act.role {
                            s.isr_change_failed();
                        }
                    }
                }
            })
            .spawn(ctx);
    }

    /// A newer partition state for the leader this replica already is (an ISR change).
    fn apply_leader_state(&mut self, state: &PartitionMeta) {
        let now = Self::now_ms();
        let leo = self.log.as_ref().map(|l| l.log_end_offset()).unwrap_or(0);
        if let Role::Leader(s) = &mut self.role {
            if state.leader_epoch == s.leader_epoch && state.partition_epoch >= s.partition_epoch {
                let (before, after) = (s.isr.len(), state.isr.len());
                s.apply_partition_state(&leader_and_isr(state), leo, now);
                if after > before {
                    metrics::counter!("troupe_isr_expands_total").increment(1);
                } else if after < before {
                    metrics::counter!("troupe_isr_shrinks_total").increment(1);
                }
            }
        }
        self.advance_high_watermark();
    }

    /// Every half `replica.lag.time.max.ms`: followers that have not caught up for that long
    /// leave the ISR.
    pub(super) fn maybe_shrink_isr(&mut self, ctx: &mut Context<Self>) {
        let now = Self::now_ms();
        let leo = self.log.as_ref().map(|l| l.log_end_offset()).unwrap_or(0);
        if self.isr_change_in_flight {
            return;
        }
        let proposal = match &mut self.role {
            Role::Leader(s) => s.isr_to_shrink(leo, now),
            _ => None,
        };
        if let Some(new_isr) = proposal {
            self.propose_isr(new_isr, ctx);
        }
    }

    /// A follower fetched from `fetch_offset`: that is its log end offset now. It may move
    /// the high watermark (waking `acks=all` produces) or earn it a place in the ISR.
    pub(super) fn on_follower_fetch(
        &mut self,
        replica_id: i32,
        fetch_offset: i64,
        ctx: &mut Context<Self>,
    ) {
        let now = Self::now_ms();
        let Some(leo) = self.log.as_ref().map(|l| l.log_end_offset()) else {
            return;
        };
        let expand = match &mut self.role {
            Role::Leader(s) => {
                if s.on_follower_fetch(replica_id, fetch_offset, leo, now)
                    .is_err()
                {
                    return; // not a replica of this partition
                }
                s.maybe_increment_high_watermark(leo, now);
                if self.isr_change_in_flight {
                    None
                } else {
                    s.maybe_expand_isr(replica_id)
                }
            }
            _ => None,
        };
        self.advance_high_watermark();
        if let Some(new_isr) = expand {
            self.propose_isr(new_isr, ctx);
        }
    }
}

fn leader_and_isr(state: &PartitionMeta) -> LeaderAndIsr {
    LeaderAndIsr {
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
    }
}

/// Kafka's leader epoch check of a request: -1 means the caller did not say.
fn check_epoch(requested: i32, mine: i32) -> Result<(), BrokerError> {
    if requested < 0 || requested == mine {
        Ok(())
    } else if requested < mine {
        Err(BrokerError::FencedLeaderEpoch)
    } else {
        Err(BrokerError::UnknownLeaderEpoch)
    }
}

impl Handler<AppendRecords> for PartitionReplica {
    type Result = Result<AppendResult, BrokerError>;

    fn handle(&mut self, msg: AppendRecords, ctx: &mut Context<Self>) -> Self::Result {
        self.check_writable_leader()?;
        let min_insync_replicas = self.check_min_insync(msg.required_acks)?;
        let leader_epoch = self.leader_epoch();
        let now = Self::now_ms();
        let announced = self
            .context
            .events
            .has_subscribers()
            .then(|| msg.records.clone());
        let info = self.with_log(ctx, |log| {
            Ok(log.append_from(msg.records, now, msg.origin)?)
        })?;
        metrics::counter!("troupe_bytes_in_total").increment(info.bytes as u64);
        metrics::counter!("troupe_records_in_total").increment(info.record_count as u64);
        if let Some(records) = announced {
            self.context.events.emit(|| BrokerEvent::BatchAppended {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                base_offset: info.first_offset,
                last_offset: info.last_offset,
                record_count: info.record_count as u32,
                records,
            });
        }
        Ok(self.appended(&info, leader_epoch, min_insync_replicas))
    }
}

impl Handler<WriteTxnMarker> for PartitionReplica {
    type Result = Result<AppendResult, BrokerError>;

    fn handle(&mut self, msg: WriteTxnMarker, ctx: &mut Context<Self>) -> Self::Result {
        self.check_writable_leader()?;
        let min_insync_replicas = self.check_min_insync(msg.required_acks)?;
        let now = Self::now_ms();
        let info = self.with_log(ctx, |log| {
            Ok(log.append_txn_marker(
                msg.producer_id,
                msg.producer_epoch,
                msg.coordinator_epoch,
                msg.commit,
                now,
            )?)
        })?;
        let leader_epoch = self.leader_epoch();
        Ok(self.appended(&info, leader_epoch, min_insync_replicas))
    }
}

impl Handler<DeleteRecordsBefore> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: DeleteRecordsBefore, ctx: &mut Context<Self>) -> Self::Result {
        self.check_writable_leader()?;
        let w = self.watermarks();
        let offset = if msg.offset == -1 {
            w.high_watermark
        } else {
            msg.offset
        };
        if offset < 0 || offset > w.high_watermark {
            return Err(BrokerError::OffsetOutOfRange {
                offset,
                log_start: w.log_start_offset,
                log_end: w.high_watermark,
            });
        }
        let log_start = self.with_log(ctx, |log| Ok(log.delete_records_before(offset)?))?;
        self.publish_watermarks();
        Ok(log_start)
    }
}

impl Handler<BecomeLeaderOrFollower> for PartitionReplica {
    type Result = ();

    fn handle(&mut self, msg: BecomeLeaderOrFollower, ctx: &mut Context<Self>) {
        let state = msg.state;
        let me = self.context.node_id;
        let now = Self::now_ms();
        if state.leader == me {
            let already =
                matches!(&self.role, Role::Leader(s) if s.leader_epoch == state.leader_epoch);
            if already {
                self.apply_leader_state(&state);
                return;
            }
            let epoch = state.leader_epoch;
            let started = self.with_log(ctx, |log| {
                log.set_leader_epoch(epoch)?;
                Ok(log.log_end_offset())
            });
            let Ok(leo) = started else { return };
            tracing::info!(partition = %self.tp, leader_epoch = epoch, isr = ?state.isr, log_end_offset = leo, "became leader");
            let config = ReplicationConfig {
                replica_lag_time_max_ms: self.context.replica_lag_time_max_ms,
                min_insync_replicas: self.config.min_insync_replicas.clamp(1, i32::MAX as i64)
                    as i32,
            };
            self.role = Role::Leader(LeaderState::become_leader(
                me,
                &leader_and_isr(&state),
                leo,
                self.known_high_watermark,
                config,
                now,
            ));
            self.isr_change_in_flight = false;
        } else {
            if !matches!(&self.role, Role::Follower { leader, leader_epoch } if *leader == state.leader && *leader_epoch == state.leader_epoch)
            {
                tracing::info!(partition = %self.tp, leader = state.leader, leader_epoch = state.leader_epoch, "became follower");
            }
            if let Role::Leader(s) = &self.role {
                self.known_high_watermark = s.high_watermark;
            }
            self.role = if state.leader >= 0 {
                Role::Follower {
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                }
            } else {
                Role::Unknown
            };
        }
        self.advance_high_watermark();
    }
}
