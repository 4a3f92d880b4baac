//! Moving the log's start forward: DeleteRecords and retention by time and size, both by
//! deleting whole segments from the oldest on.

use crate::storage::checkpoint;
use crate::storage::error::StorageError;
use crate::storage::segment::LogSegment;

use super::Log;

impl Log {
    /// DeleteRecords: moves log_start_offset forward to `offset` (<= log_end_offset else
    /// OffsetOutOfRange); deletes segments wholly below it; persists the checkpoint. Never
    /// moves backward. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.ensure_open()?;
        if offset < 0 || offset > self.log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        // The checkpoint goes first: if we crash before the files are gone, the start offset
        // still hides them; the other order could briefly resurrect deleted records.
        checkpoint::write_log_start_offset(&self.dir, offset)?;
        let doomed = self.count_segments_below(offset);
        self.delete_oldest_segments(doomed)?;
        self.producers.truncate_head(self.log_start_offset);
        self.leader_epoch_cache
            .truncate_from_start(self.log_start_offset)?;
        Ok(self.log_start_offset)
    }

    /// How many leading segments hold only offsets below `offset` (the next segment starts at
    /// or before it). The active segment is never counted.
    fn count_segments_below(&self, offset: i64) -> usize {
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        bases
            .windows(2)
            .take_while(|pair| pair[1] <= offset)
            .count()
    }

    /// Retention: when delete_retention_enabled, deletes whole non-active segments whose
    /// largest timestamp is older than retention_ms, and oldest segments while total size
    /// exceeds retention_bytes; moves log_start_offset to the next segment's base. Returns
    /// number of segments deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        self.ensure_open()?;
        if !self.config.delete_retention_enabled {
            return Ok(0);
        }
        let by_time = self.count_segments_breaching_retention_ms(now_ms);
        let by_size = self.count_segments_breaching_retention_bytes(by_time);
        let doomed = by_time + by_size;
        if doomed == 0 {
            return Ok(0);
        }
        let new_start = self
            .segments
            .keys()
            .nth(doomed)
            .copied()
            .unwrap_or(self.log_end_offset);
        if new_start > self.log_start_offset {
            self.log_start_offset = new_start;
            checkpoint::write_log_start_offset(&self.dir, new_start)?;
        }
        self.delete_oldest_segments(doomed)?;
        self.producers.truncate_head(self.log_start_offset);
        self.leader_epoch_cache
            .truncate_from_start(self.log_start_offset)?;
        tracing::info!(dir = %self.dir.display(), deleted = doomed, log_start_offset = self.log_start_offset, "retention deleted log segments");
        Ok(doomed)
    }

    /// Leading non-active segments whose largest timestamp is more than `retention_ms` old.
    fn count_segments_breaching_retention_ms(&self, now_ms: i64) -> usize {
        let retention_ms = self.config.retention_ms;
        if retention_ms < 0 {
            return 0;
        }
        self.inactive_segments()
            .take_while(|segment| now_ms.saturating_sub(segment.largest_timestamp()) > retention_ms)
            .count()
    }

    /// Further non-active segments, after the first `skip`, that can go while the log (less
    /// the skipped ones) stays at or above `retention_bytes` without them.
    fn count_segments_breaching_retention_bytes(&self, skip: usize) -> usize {
        let retention_bytes = self.config.retention_bytes;
        if retention_bytes < 0 {
            return 0;
        }
        let skipped: u64 = self
            .inactive_segments()
            .take(skip)
            .map(LogSegment::size)
            .sum();
        let size = i128::from(self.size_bytes() - skipped);
        let mut excess = size - i128::from(retention_bytes);
        self.inactive_segments()
            .skip(skip)
            .take_while(|segment| {
                let fits = excess - i128::from(segment.size()) >= 0;
                if fits {
                    excess -= i128::from(segment.size());
                }
                fits
            })
            .count()
    }

    /// All segments but the active one, oldest first.
    pub(super) fn inactive_segments(&self) -> impl Iterator<Item = &LogSegment> {
        let inactive = self.segments.len().saturating_sub(1);
        self.segments.values().take(inactive)
    }

    /// Removes the `count` oldest segments (never the active one) and their files.
    fn delete_oldest_segments(&mut self, count: usize) -> Result<(), StorageError> {
        for _ in 0..count.min(self.segments.len().saturating_sub(1)) {
            if let Some((_, segment)) = self.segments.pop_first() {
                segment.delete()?;
            }
        }
        checkpoint::sync_dir(&self.dir)?;
        Ok(())
    }
}
