//! Reads from `PartitionReplica`: records (for consumers and followers), offset lookups by
//! time or position, a leader epoch's end offset, the watermarks, and replaying a whole
//! partition into a coordinator.

use actix::prelude::*;
use bytes::Bytes;

use super::*;
use crate::error::BrokerError;

/// Reads a partition this node leads from its log start to its log end, whole batches at a
/// time, as a coordinator loads its internal-topic partition. `decode` turns the bytes of some
/// whole batches into entries and the offset after the last batch it read; reading stops
/// early (keeping what was decoded) at a batch `decode` cannot get past. A read the partition
/// refuses (no longer the leader, restarting) fails the whole replay: a partial load must
/// never pass for a complete one.
pub async fn replay_partition<T>(
    addr: &Addr<PartitionReplica>,
    mut decode: impl FnMut(Bytes) -> (Vec<T>, Option<i64>),
) -> Result<Vec<T>, BrokerError> {
    let mut entries = Vec::new();
    let marks = addr.send(GetWatermarks).await?;
    let mut offset = marks.log_start_offset;
    while offset < marks.log_end_offset {
        let read = addr
            .send(ReadRecords {
                fetch_offset: offset,
                max_bytes: 1 << 20,
                min_one_batch: true,
                isolation_level: IsolationLevel::LogEnd,
                replica_id: -1,
                current_leader_epoch: -1,
            })
            .await??;
        let mut bytes = bytes::BytesMut::new();
        for slice in &read.slices {
            let b = slice
                .read_bytes()
                .map_err(|e| BrokerError::KafkaStorage(e.to_string()))?;
            bytes.extend_from_slice(&b);
        }
        let (decoded, next) = decode(bytes.freeze());
        entries.extend(decoded);
        match next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    Ok(entries)
}

impl Handler<ReadRecords> for PartitionReplica {
    type Result = Result<ReadResult, BrokerError>;

    fn handle(&mut self, msg: ReadRecords, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        let from_follower = msg.replica_id >= 0;
        if from_follower {
            // A follower whose log runs past ours has diverged: it must truncate, and its
            // offset must not count as replication progress (it would join the ISR).
            let w = self.watermarks();
            if msg.fetch_offset < w.log_start_offset || msg.fetch_offset > w.log_end_offset {
                return Err(BrokerError::OffsetOutOfRange {
                    offset: msg.fetch_offset,
                    log_start: w.log_start_offset,
                    log_end: w.log_end_offset,
                });
            }
            self.on_follower_fetch(msg.replica_id, msg.fetch_offset, ctx);
        }
        let watermarks = self.watermarks();
        let read_committed = msg.isolation_level == IsolationLevel::ReadCommitted;
        let upper_bound = if from_follower {
            watermarks.log_end_offset
        } else {
            watermarks.fetchable_offset(msg.isolation_level)
        };
        let (read, aborted_transactions) = self.with_log(ctx, |log| {
            let read = log.read(
                msg.fetch_offset,
                msg.max_bytes,
                upper_bound,
                msg.min_one_batch,
            )?;
            let aborted = read_committed
                .then(|| log.aborted_transactions(msg.fetch_offset, read.next_offset));
            Ok((read, aborted))
        })?;
        Ok(ReadResult {
            slices: read.slices,
            bytes: read.bytes,
            watermarks,
            aborted_transactions,
        })
    }
}

impl Handler<ListOffset> for PartitionReplica {
    type Result = Result<(i64, i64), BrokerError>;

    fn handle(&mut self, msg: ListOffset, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        let w = self.watermarks();
        let fetchable = w.fetchable_offset(msg.isolation_level);
        let found = match msg.timestamp {
            -1 => return Ok((fetchable, -1)),
            -2 => return Ok((w.log_start_offset, -1)),
            -3 => self.with_log(ctx, |log| {
                Ok(log.max_timestamp().map(|(ts, offset)| (offset, ts)))
            })?,
            ts => self.with_log(ctx, |log| Ok(log.offset_for_timestamp(ts)?))?,
        };
        // As Kafka: only offsets a reader at this isolation level could fetch.
        Ok(found
            .filter(|&(offset, _)| offset < fetchable)
            .unwrap_or((-1, -1)))
    }
}

impl Handler<GetWatermarks> for PartitionReplica {
    type Result = MessageResult<GetWatermarks>;
    fn handle(&mut self, _: GetWatermarks, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.watermarks())
    }
}

impl Handler<EpochEndOffset> for PartitionReplica {
    type Result = Result<(i32, i64), BrokerError>;

    fn handle(&mut self, msg: EpochEndOffset, ctx: &mut Context<Self>) -> Self::Result {
        self.check_leader(msg.current_leader_epoch)?;
        self.with_log(ctx, |log| Ok(log.end_offset_for_leader_epoch(msg.epoch)))
    }
}
