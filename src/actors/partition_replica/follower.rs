//! The follower's side of `PartitionReplica`: appending what it fetched from the leader,
//! truncating to the leader's log, and reporting its position to the fetcher.

use actix::prelude::*;

use super::*;
use crate::error::BrokerError;

impl PartitionReplica {
    /// Changes a follower's log with `f` (NOT_LEADER_OR_FOLLOWER unless this replica
    /// follows), then takes `high_watermark`, capped at the new log end, as the one it knows,
    /// and publishes. Returns the new log end offset.
    fn change_follower_log(
        &mut self,
        ctx: &mut Context<Self>,
        high_watermark: i64,
        f: impl FnOnce(&mut Log) -> Result<(), BrokerError>,
    ) -> Result<i64, BrokerError> {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let leo = self.with_log(ctx, |log| {
            f(log)?;
            Ok(log.log_end_offset())
        })?;
        self.known_high_watermark = high_watermark.min(leo);
        self.publish_watermarks();
        Ok(leo)
    }
}

impl Handler<AppendAsFollower> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: AppendAsFollower, ctx: &mut Context<Self>) -> Self::Result {
        let now = Self::now_ms();
        self.change_follower_log(ctx, msg.leader_high_watermark, |log| {
            if !msg.records.is_empty() {
                log.append_as_follower(msg.records, now)?;
            }
            if msg.leader_log_start_offset > log.log_start_offset()
                && msg.leader_log_start_offset <= log.log_end_offset()
            {
                log.delete_records_before(msg.leader_log_start_offset)?;
            }
            Ok(())
        })
    }
}

impl Handler<GetFollowerPosition> for PartitionReplica {
    type Result = MessageResult<GetFollowerPosition>;

    fn handle(&mut self, _: GetFollowerPosition, _: &mut Context<Self>) -> Self::Result {
        let w = self.watermarks();
        let following_epoch = match &self.role {
            Role::Follower { leader_epoch, .. } => *leader_epoch,
            _ => -1,
        };
        MessageResult(FollowerPosition {
            latest_epoch: self.log.as_ref().and_then(|l| l.latest_epoch()),
            log_end_offset: w.log_end_offset,
            high_watermark: w.high_watermark,
            log_start_offset: w.log_start_offset,
            following_epoch,
        })
    }
}

impl Handler<TruncateTo> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: TruncateTo, ctx: &mut Context<Self>) -> Self::Result {
        let tp = self.tp.clone();
        // Truncating keeps the high watermark it knew (capped at the new log end).
        let high_watermark = self.known_high_watermark;
        self.change_follower_log(ctx, high_watermark, |log| {
            let before = log.log_end_offset();
            if msg.fully {
                log.truncate_fully_and_start_at(msg.offset)?;
            } else {
                log.truncate_to(msg.offset)?;
            }
            if log.log_end_offset() != before {
                tracing::info!(partition = %tp, from = before, to = log.log_end_offset(), "truncated the follower's log to the leader's");
            }
            Ok(())
        })
    }
}
