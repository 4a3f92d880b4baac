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
//! Random bytes almost never carry a correct CRC-32C, which would stop nearly every input at
//! the CRC check. So each input is run twice: as it is, and (if that differs) with the CRC of
//! every batch its framing delimits recomputed, which lets mutations of the covered fields
//! (attributes, counts, timestamps, records) reach the later checks and the append path.
//!
//! The log is thrown away and recreated once it grows past a few megabytes or segments, so a
//! long run neither fills the disk nor piles up open files.
//!
//! With `TROUPE_FUZZ_VERBOSE` set, each outcome is printed, which helps when replaying one
//! input: `TROUPE_FUZZ_VERBOSE=1 cargo fuzz run batch_validation fuzz/seeds/batch_validation/x`.
#![no_main]

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use troupe::storage::batch::{
    compute_crc, validate_produce_batches, ValidatedBatch, CRC_OFFSET, LENGTH_OFFSET, LOG_OVERHEAD,
    MIN_BATCH_LENGTH,
};
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

fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("TROUPE_FUZZ_VERBOSE").is_some())
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
        assert!(
            range.end <= len,
            "batch range {range:?} runs past {len} bytes"
        );
        expected_position = range.end;
    }
    assert_eq!(
        expected_position, len,
        "accepted payload has trailing bytes"
    );
}

/// A copy of `data` in which every batch that the length fields delimit (from the start,
/// stopping at the first that is too short or runs past the end) carries its correct CRC.
fn with_repaired_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut position = 0usize;
    while let Some(length_field) = out.get(position + LENGTH_OFFSET..position + LOG_OVERHEAD) {
        let batch_length = i32::from_be_bytes(length_field.try_into().unwrap());
        if batch_length < MIN_BATCH_LENGTH {
            break;
        }
        let end = position + LOG_OVERHEAD + batch_length as usize;
        let Some(batch) = out.get_mut(position..end) else {
            break;
        };
        let crc = compute_crc(batch);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        position = end;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let repaired = with_repaired_crcs(data);
    if repaired != data {
        check(&repaired);
    }
});

fn check(data: &[u8]) {
    let records = Bytes::copy_from_slice(data);
    let max_message_bytes = LogConfig::default().max_message_bytes;

    let validated = validate_produce_batches(&records, max_message_bytes);
    if verbose() {
        match &validated {
            Ok(batches) => eprintln!("validate: {} batch(es) accepted", batches.len()),
            Err(e) => eprintln!("validate: {e}"),
        }
    }
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
    let appended = log.append(records, 0);
    if verbose() {
        match &appended {
            Ok(info) => eprintln!(
                "append: offsets {}..={}",
                info.first_offset, info.last_offset
            ),
            Err(e) => eprintln!("append: {e}"),
        }
    }
    match appended {
        Ok(info) if info.batch_count == 0 => {
            // An idempotent producer's retry of a batch the log holds: answered with the
            // earlier batch's offsets, nothing written.
            assert!(validated.is_ok(), "a duplicate must be a valid batch");
            assert!(info.last_offset < end_before, "a duplicate points into the log");
            assert_eq!(log.log_end_offset(), end_before);
            assert_eq!(log.size_bytes(), size_before);
        }
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
            // Bytes 12..16 are the partition leader epoch, which the leader stamps (outside
            // the CRC); everything else is stored as received.
            assert_eq!(
                stored[12..16],
                log.leader_epoch().to_be_bytes(),
                "stored partition leader epoch is not the log's"
            );
            assert_eq!(
                stored[8..12],
                data[8..12],
                "stored batch length differs from the appended one"
            );
            assert_eq!(
                stored[16..first_size],
                data[16..first_size],
                "stored batch differs from the appended one beyond its base offset and leader epoch"
            );
        }
        Err(_) => {
            // Validation errors must leave the log as it was. (An append that passed
            // validation can still fail on I/O; that is not a bug of the code under test.)
            if validated.is_err() {
                assert_eq!(
                    log.log_end_offset(),
                    end_before,
                    "rejected append moved the end"
                );
                assert_eq!(log.size_bytes(), size_before, "rejected append wrote bytes");
            }
        }
    }
}
