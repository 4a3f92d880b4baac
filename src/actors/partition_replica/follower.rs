//! The follower's side of `PartitionReplica`: appending what it fetched from the leader,
//! truncating to the leader's log, and reporting its position to the fetcher.

use actix::prelude::*;

use super::*;
use crate::error::BrokerError;

impl Handler<AppendAsFollower> for PartitionReplica {
    type Result = Result<i64, BrokerError>;

    fn handle(&mut self, msg: AppendAsFollower, ctx: &mut Context<Self>) -> Self::Result {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let now = Self::now_ms();
        let leo = self.with_log(ctx, |log| {
            if !msg.records.is_empty() {
                log.append_as_follower(msg.records, now)?;
            }
            if msg.leader_log_start_offset > log.log_start_offset()
                && msg.leader_log_start_offset <= log.log_end_offset()
            {
                log.delete_records_before(msg.leader_log_start_offset)?;
            }
            Ok(log.log_end_offset())
        })?;
        self.known_high_watermark = msg.leader_high_watermark.min(leo);
        self.publish_watermarks();
        Ok(leo)
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
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(BrokerError::NotLeaderOrFollower);
        }
        let tp = self.tp.clone();
        let leo = self.with_log(ctx, |log| {
            let before = log.log_end_offset();
            if msg.fully {
                log.truncate_fully_and_start_at(msg.offset)?;
            } else {
                log.truncate_to(msg.offset)?;
            }
            if log.log_end_offset() != before {
                tracing::info!(partition = %tp, from = before, to = log.log_end_offset(), "truncated the follower's log to the leader's");
            }
            Ok(log.log_end_offset())
        })?;
        self.known_high_watermark = self.known_high_watermark.min(leo);
        self.publish_watermarks();
        Ok(leo)
    }
}
