//! Walking a segment file's batches header by header without trusting what it says: every
//! length is checked against the bytes that remain before it is followed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::storage::batch::{self, BatchHeader, ATTRIBUTES_OFFSET, RECORD_BATCH_OVERHEAD};

/// How many bytes the header scanner reads at a time. Big enough that walking small batches
/// costs few syscalls, small enough to allocate per read.
const SCAN_BUFFER_SIZE: usize = 16 * 1024;
/// Chunk size for checksumming batches that do not fit in the scan buffer.
const CRC_CHUNK_SIZE: usize = 64 * 1024;

/// Offset after the last whole, well-framed batch of a file in `.log` format that is not open
/// as a segment (a `.swap` file at recovery); `base_offset` if it holds none.
pub fn scan_next_offset(path: &Path, base_offset: i64) -> io::Result<i64> {
    let file = File::open(path)?;
    let mut scanner = BatchScanner::new(&file, file.metadata()?.len());
    let mut position = 0u64;
    let mut next_offset = base_offset;
    while let Scanned::Batch(header) = scanner.batch_at(position)? {
        next_offset = header.next_offset();
        position += header.size();
    }
    Ok(next_offset)
}

/// What a header scan found at a position of the log file.
pub(super) enum Scanned {
    /// The position is exactly the end of the scanned range.
    End,
    /// A batch whose header frames correctly (length and magic).
    Batch(BatchHeader),
    /// Something that is not a whole v2 batch, and why.
    Defect(String),
}

/// Reads batch headers of a segment file through a buffer, so that walking many small batches
/// costs one pread per buffer rather than one per batch.
pub(super) struct BatchScanner<'a> {
    file: &'a File,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    buf_len: usize,
}

impl<'a> BatchScanner<'a> {
    /// Scans `file` up to (not including) byte `end`.
    pub(super) fn new(file: &'a File, end: u64) -> BatchScanner<'a> {
        BatchScanner {
            file,
            end,
            buf: vec![0u8; SCAN_BUFFER_SIZE],
            buf_start: 0,
            buf_len: 0,
        }
    }

    /// The batch starting at `position`, with its framing and magic checked.
    pub(super) fn batch_at(&mut self, position: u64) -> io::Result<Scanned> {
        if position == self.end {
            return Ok(Scanned::End);
        }
        let available = self.end.saturating_sub(position);
        if available < RECORD_BATCH_OVERHEAD as u64 {
            return Ok(Scanned::Defect(format!(
                "{available} bytes at position {position} are too few for a batch header"
            )));
        }
        let header = match BatchHeader::parse(self.buffered(position, RECORD_BATCH_OVERHEAD)?) {
            Some(header) => header,
            None => return Ok(Scanned::Defect("short header read".into())),
        };
        if let Err(defect) =
            batch::check_framing(&header, available).and_then(|_| batch::check_magic(&header))
        {
            return Ok(Scanned::Defect(format!(
                "batch at position {position}: {defect}"
            )));
        }
        Ok(Scanned::Batch(header))
    }

    /// `len` bytes at `position` (which the caller checked lie before `end`), from the buffer
    /// if there, else after refilling the buffer from `position`.
    fn buffered(&mut self, position: u64, len: usize) -> io::Result<&[u8]> {
        let buffered_end = self.buf_start + self.buf_len as u64;
        if position < self.buf_start || position + len as u64 > buffered_end {
            let want = (self.end - position).min(self.buf.len() as u64) as usize;
            self.file.read_exact_at(&mut self.buf[..want], position)?;
            self.buf_start = position;
            self.buf_len = want;
        }
        let at = (position - self.buf_start) as usize;
        Ok(&self.buf[at..(at + len).min(self.buf_len)])
    }

    /// CRC-32C of the batch's covered range (attributes to end), from the buffer when the
    /// batch is in it, else streamed in fixed-size chunks so no allocation follows its length.
    pub(super) fn crc_of_batch(&mut self, position: u64, header: &BatchHeader) -> io::Result<u32> {
        let size = header.size();
        let buffered_end = self.buf_start + self.buf_len as u64;
        if position >= self.buf_start && position + size <= buffered_end {
            let at = (position - self.buf_start) as usize;
            return Ok(batch::compute_crc(&self.buf[at..at + size as usize]));
        }
        let mut crc = 0u32;
        let mut chunk = vec![0u8; CRC_CHUNK_SIZE];
        let mut from = position + ATTRIBUTES_OFFSET as u64;
        let to = position + size;
        while from < to {
            let n = (to - from).min(CRC_CHUNK_SIZE as u64) as usize;
            self.file.read_exact_at(&mut chunk[..n], from)?;
            crc = crc32c::crc32c_append(crc, &chunk[..n]);
            from += n as u64;
        }
        Ok(crc)
    }
}
