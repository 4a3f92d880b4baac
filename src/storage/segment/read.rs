//! The read path of a segment: finding the batch that holds an offset, reading whole batches
//! up to byte and offset limits, and looking records up by timestamp.

use std::io;
use std::sync::Arc;

use super::scanner::{BatchScanner, Scanned};
use super::{FileSlice, LogSegment, SegmentRead};
use crate::storage::batch::{self, BatchHeader};
use crate::storage::error::StorageError;
use crate::storage::index::NO_TIMESTAMP;

impl LogSegment {
    /// Position and header of the first batch whose last offset is >= `offset`: the batch that
    /// holds `offset`, or the one after the gap it falls in. `None` if no such batch is here.
    pub fn translate_offset(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let mut scanner = BatchScanner::new(&self.log, self.size);
        let mut position = self.index_position_for(offset);
        loop {
            match scanner.batch_at(position)? {
                Scanned::End => return Ok(None),
                Scanned::Defect(reason) => {
                    tracing::warn!(base_offset = self.base_offset, reason = %reason, "unreadable batch while looking up an offset");
                    return Ok(None);
                }
                Scanned::Batch(header) if header.last_offset() >= offset => {
                    return Ok(Some((position, header)))
                }
                Scanned::Batch(header) => position += header.size(),
            }
        }
    }

    /// Calls `f` with the header of every batch holding offsets at or after `from_offset`, in
    /// file order, reading headers only, and the batch as a [`FileSlice`] for a caller that
    /// needs more. Stops quietly at a defect (recovery cuts those), or at `f`'s first error.
    pub fn for_each_batch_header<E: From<io::Error>>(
        &self,
        from_offset: i64,
        mut f: impl FnMut(&BatchHeader, FileSlice) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((mut position, _)) = self.translate_offset(from_offset)? else {
            return Ok(());
        };
        let mut scanner = BatchScanner::new(&self.log, self.size);
        while let Scanned::Batch(header) = scanner.batch_at(position)? {
            let slice = FileSlice {
                file: Arc::clone(&self.log),
                position,
                len: header.size() as u32,
            };
            f(&header, slice)?;
            position += header.size();
        }
        Ok(())
    }

    /// Where the offset index says to start scanning for `offset`; an entry pointing past the
    /// end of the data (a damaged index) is ignored.
    fn index_position_for(&self, offset: i64) -> u64 {
        let position = u64::from(self.offset_index.lookup(offset).position);
        if position < self.size {
            position
        } else {
            0
        }
    }

    /// Whole batches from `start_position` (a batch boundary) while their base offset is below
    /// `max_offset` and they fit in `max_bytes`; with `min_one_batch` the first batch is taken
    /// even if it alone exceeds `max_bytes`.
    ///
    /// The batches up to the furthest offset index entry both bounds allow are taken without
    /// reading their headers; only the few after it are read one by one. Reading every header
    /// made a cold consumer's fetch wait on the disk once per batch before `sendfile` started.
    pub fn read(
        &self,
        start_position: u64,
        max_bytes: u64,
        max_offset: i64,
        min_one_batch: bool,
    ) -> io::Result<SegmentRead> {
        let mut scanner = BatchScanner::new(&self.log, self.size);
        let mut len = 0u64;
        let mut next_offset = self.base_offset;
        let limit = start_position.saturating_add(max_bytes.min(u64::from(u32::MAX)));
        if let Some(entry) = self.offset_index.last_entry_within(limit, max_offset) {
            let position = u64::from(entry.position);
            if position > start_position && position < self.size {
                if let Scanned::Batch(header) = scanner.batch_at(position)? {
                    len = position - start_position;
                    next_offset = header.base_offset;
                }
            }
        }
        let stopped = loop {
            match scanner.batch_at(start_position + len)? {
                Scanned::End => break false,
                Scanned::Defect(reason) => {
                    tracing::warn!(base_offset = self.base_offset, reason = %reason, "unreadable batch while reading");
                    break true;
                }
                Scanned::Batch(header) => {
                    if header.base_offset >= max_offset {
                        break true;
                    }
                    let grown = len + header.size();
                    let first_batch_exception = len == 0 && min_one_batch;
                    if (grown > max_bytes && !first_batch_exception) || grown > u64::from(u32::MAX)
                    {
                        break true;
                    }
                    len = grown;
                    next_offset = header.next_offset();
                }
            }
        };
        let slice = (len > 0).then(|| FileSlice {
            file: Arc::clone(&self.log),
            position: start_position,
            len: len as u32,
        });
        Ok(SegmentRead {
            slice,
            next_offset,
            stopped,
        })
    }

    /// The first record at or after `start_offset` whose timestamp is >= `timestamp`, as
    /// (offset, timestamp), searching batches from the time index's hint onward: the first
    /// batch whose max timestamp reaches `timestamp` is decoded to find the record.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        start_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let hint = self.time_index.lookup(timestamp);
        let mut position = self.index_position_for(hint.offset.max(start_offset));
        let mut scanner = BatchScanner::new(&self.log, self.size);
        loop {
            let header = match scanner.batch_at(position)? {
                Scanned::End | Scanned::Defect(_) => return Ok(None),
                Scanned::Batch(header) => header,
            };
            if header.last_offset() >= start_offset && header.max_timestamp >= timestamp {
                let found = self.first_record_matching(position, &header, |offset, ts| {
                    offset >= start_offset && ts >= timestamp
                })?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            position += header.size();
        }
    }

    /// The segment's largest timestamp and the offset of the (first) record carrying it.
    pub fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let max = self.max_timestamp_so_far;
        if max <= NO_TIMESTAMP {
            return Ok(None);
        }
        let shallow = Some((max, self.offset_of_max_timestamp_so_far));
        let Some((position, header)) =
            self.translate_offset(self.offset_of_max_timestamp_so_far)?
        else {
            return Ok(shallow);
        };
        let found = self.first_record_matching(position, &header, |_, ts| ts == max)?;
        Ok(found.map(|(offset, ts)| (ts, offset)).or(shallow))
    }

    /// Decodes the batch at `position` and returns the first (offset, timestamp) accepted by
    /// `wanted`. A batch that cannot be decoded (an unsupported codec) answers at batch level:
    /// its first wanted offset with its max timestamp.
    fn first_record_matching(
        &self,
        position: u64,
        header: &BatchHeader,
        wanted: impl Fn(i64, i64) -> bool,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let bytes = FileSlice {
            file: Arc::clone(&self.log),
            position,
            len: header.size() as u32,
        }
        .read_bytes()?;
        match batch::record_offsets_and_timestamps(bytes, header) {
            Ok(records) => Ok(records.into_iter().find(|&(offset, ts)| wanted(offset, ts))),
            Err(reason) => {
                tracing::warn!(base_offset = header.base_offset, reason = %reason, "could not decode batch; answering at batch level");
                let offset = (header.base_offset..=header.last_offset())
                    .find(|&offset| wanted(offset, header.max_timestamp));
                Ok(offset.map(|offset| (offset, header.max_timestamp)))
            }
        }
    }
}
