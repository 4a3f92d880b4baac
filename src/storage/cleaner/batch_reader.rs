//! Reading a closed segment's batches for the cleaner, off the owner's thread.
//!
//! The reader only ever uses positional reads (`pread`) on the segment's shared `Arc<File>`, so
//! it needs no lock and no cursor: the owner keeps appending to the active segment, and may
//! even delete this segment (retention), while the cleaner reads on; an unlinked file stays
//! readable through an open handle.
//!
//! Every batch is checked before the cleaner believes it (framing, magic, record count, CRC):
//! the cleaner writes what it reads into a new segment, and must never launder a damaged batch
//! into one that looks freshly written.

use std::os::unix::fs::FileExt;

use super::SegmentSnapshot;
use crate::storage::batch::{self, BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::storage::error::StorageError;

/// Bytes read per `pread`; a batch larger than this gets a buffer of its own size.
const READ_BUFFER_BYTES: usize = 1024 * 1024;

/// Walks one segment's batches in file order.
pub(super) struct BatchReader<'a> {
    segment: &'a SegmentSnapshot,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_start: u64,
    /// Bytes of `buf` holding file data.
    buf_len: usize,
    /// File position of the next batch.
    position: u64,
}

impl<'a> BatchReader<'a> {
    pub(super) fn new(segment: &'a SegmentSnapshot) -> BatchReader<'a> {
        BatchReader {
            segment,
            buf: Vec::new(),
            buf_start: 0,
            buf_len: 0,
            position: 0,
        }
    }

    /// The next batch's header and bytes, or `None` at the end of the segment. A batch that
    /// fails a check is CorruptMessage, naming the segment and position.
    pub(super) fn next_batch(&mut self) -> Result<Option<(BatchHeader, &[u8])>, StorageError> {
        let position = self.position;
        let available = self.segment.size.saturating_sub(position);
        if available == 0 {
            return Ok(None);
        }
        if available < RECORD_BATCH_OVERHEAD as u64 {
            return Err(self.corrupt(
                position,
                format!("{available} bytes are too few for a batch"),
            ));
        }
        let parsed = BatchHeader::parse(self.buffered(position, RECORD_BATCH_OVERHEAD)?);
        let header = parsed.ok_or_else(|| self.corrupt(position, "short header".into()))?;
        let size = batch::check_framing(&header, available)
            .and_then(|size| batch::check_magic(&header).map(|()| size))
            .and_then(|size| batch::check_stored_record_count(&header).map(|()| size))
            .map_err(|reason| self.corrupt(position, reason))?;
        let len = usize::try_from(size).map_err(|e| self.corrupt(position, e.to_string()))?;
        let crc = batch::compute_crc(self.buffered(position, len)?);
        if crc != header.crc {
            let reason = format!("CRC mismatch (stored {:#x}, computed {crc:#x})", header.crc);
            return Err(self.corrupt(position, reason));
        }
        self.position = position + size;
        let at = (position - self.buf_start) as usize;
        Ok(Some((header, &self.buf[at..at + len])))
    }

    /// `len` bytes at `position`, which the caller checked lie inside the segment; read into
    /// the buffer first unless it already holds them.
    fn buffered(&mut self, position: u64, len: usize) -> Result<&[u8], StorageError> {
        let buffered_end = self.buf_start + self.buf_len as u64;
        if position < self.buf_start || position + len as u64 > buffered_end {
            let remaining = self.segment.size - position;
            let want = len.max(READ_BUFFER_BYTES).min(remaining as usize);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            self.segment
                .log_file
                .read_exact_at(&mut self.buf[..want], position)?;
            self.buf_start = position;
            self.buf_len = want;
        }
        let at = (position - self.buf_start) as usize;
        Ok(&self.buf[at..at + len])
    }

    fn corrupt(&self, position: u64, reason: String) -> StorageError {
        StorageError::CorruptMessage(format!(
            "segment {} at position {position}: {reason}",
            self.segment.base_offset
        ))
    }
}
