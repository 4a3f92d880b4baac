//! Arbitrary bytes as the `records` field of a produce request, through the storage layer.
//!
//! 1. `validate_produce_batches` must return `Ok` or `Err`, never panic. When it accepts the
//!    input, the batches it reports must tile the input exactly, and lowering the size limit
//!    below the largest batch must turn the answer into `MessageTooLarge`.
//! 2. The same bytes are appended to a real `Log` (one per process, in a directory under the
//!    system temp dir named after the pid). An append must succeed only if validation did; a
//!    rejected append must leave the log untouched; after a successful append, reading from
//!    the first assigned offset must return the appended batch with only its base offset
//!    rewritten.
//!
//! The log is thrown away and recreated once it grows past a few megabytes or segments, so a
//! long run neither fills the disk nor piles up open files.
#![no_main]

use std::path::PathBuf;
use std::sync::Mutex;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use troupe::storage::batch::{validate_produce_batches, ValidatedBatch};
use troupe::storage::{Log, LogConfig, StorageError};

const MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;
const MAX_SEGMENTS: usize = 8;

struct FuzzLog {
    dir: PathBuf,
    log: Log,
}

impl FuzzLog {
    fn create() -> FuzzLog {
        let dir = std::env::temp_dir().join(format!(
            "troupe-fuzz-batch-validation-{}",
            std::process::id()
        ));
        // A directory left by an earlier process with the same pid would make the log
        // recover someone else's data.
        let _ = std::fs::remove_dir_all(&dir);
        let log = Log::open(&dir, LogConfig::default(), 0).expect("open an empty log");
        FuzzLog { dir, log }
    }

    fn needs_reset(&self) -> bool {
        self.log.size_bytes() > MAX_LOG_BYTES || self.log.segment_count() > MAX_SEGMENTS
    }
}

static LOG: Mutex<Option<FuzzLog>> = Mutex::new(None);

/// Checks that accepted batches cover the payload back to back, with nothing left over.
fn check_tiling(batches: &[ValidatedBatch], len: usize) {
    assert!(!batches.is_empty(), "accepted a payload with no batches");
    let mut expected_position = 0usize;
    for batch in batches {
        assert_eq!(batch.position, expected_position, "batches do not abut");
        assert_eq!(batch.header.magic, 2);
        assert!(batch.header.record_count >= 1);
        let range = batch.range();
        assert!(range.end <= len, "batch range {range:?} runs past {len} bytes");
        expected_position = range.end;
    }
    assert_eq!(expected_position, len, "accepted payload has trailing bytes");
}

fuzz_target!(|data: &[u8]| {
    let records = Bytes::copy_from_slice(data);
    let max_message_bytes = LogConfig::default().max_message_bytes;

    let validated = validate_produce_batches(&records, max_message_bytes);
    if let Ok(batches) = &validated {
        check_tiling(batches, data.len());
        let largest = batches.iter().map(|b| b.header.size()).max().unwrap_or(0);
        let tighter = i32::try_from(largest - 1).expect("accepted batch fits the i32 limit");
        match validate_produce_batches(&records, tighter) {
            Err(StorageError::MessageTooLarge { .. }) => {}
            other => panic!(
                "limit {tighter} below the largest batch ({largest} bytes) gave {:?}",
                other.map(|b| b.len())
            ),
        }
    }

    let mut guard = LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.as_ref().is_some_and(FuzzLog::needs_reset) {
        if let Some(old) = guard.take() {
            let FuzzLog { dir, log } = old;
            drop(log);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let fuzz_log = guard.get_or_insert_with(FuzzLog::create);
    let log = &mut fuzz_log.log;

    let end_before = log.log_end_offset();
    let size_before = log.size_bytes();
    match log.append(records, 0) {
        Ok(info) => {
            let batches = match &validated {
                Ok(batches) => batches,
                Err(e) => panic!("append accepted a payload validation rejected: {e}"),
            };
            assert_eq!(info.first_offset, end_before);
            assert_eq!(info.bytes, data.len());
            assert_eq!(info.batch_count, batches.len());
            assert_eq!(log.log_end_offset(), info.last_offset + 1);

            let read = log
                .read(info.first_offset, data.len(), i64::MAX, true)
                .expect("read from the first offset of a successful append");
            assert!(
                read.bytes > 0 && !read.slices.is_empty(),
                "read at offset {} returned no data after appending {} bytes",
                info.first_offset,
                data.len()
            );
            let stored = read.slices[0].read_bytes().expect("read the stored batch");
            let first_size = batches[0].header.size() as usize;
            assert!(
                stored.len() >= first_size,
                "read returned {} bytes, less than the first batch's {first_size}",
                stored.len()
            );
            assert_eq!(
                stored[..8],
                info.first_offset.to_be_bytes(),
                "stored base offset is not the assigned one"
            );
            assert_eq!(
                stored[8..first_size],
                data[8..first_size],
                "stored batch differs from the appended one beyond its base offset"
            );
        }
        Err(_) => {
            // Validation errors must leave the log as it was. (An append that passed
            // validation can still fail on I/O; that is not a bug of the code under test.)
            if validated.is_err() {
                assert_eq!(log.log_end_offset(), end_before, "rejected append moved the end");
                assert_eq!(log.size_bytes(), size_before, "rejected append wrote bytes");
            }
        }
    }
});
