//! Storage: a partition's log on disk, in Kafka's on-disk format.
//!
//! This room owns segment files, indexes, recovery, retention and checkpoints. It knows
//! nothing of Kafka requests or actors: callers hand it record batches exactly as received and
//! get back offsets and byte ranges of segment files to serve.
//!
//! A partition directory holds:
//!
//! - `NNNNNNNNNNNNNNNNNNNN.log` — record batches (magic v2) of one [`segment::LogSegment`],
//!   named by its base offset, 20 digits zero-padded;
//! - `.index` / `.timeindex` beside each — sparse, memory-mapped [`index::OffsetIndex`] and
//!   [`index::TimeIndex`];
//! - `.txnindex` beside a segment holding an ABORT marker — its aborted transactions
//!   ([`txn_index::TransactionIndex`]);
//! - `NNNNNNNNNNNNNNNNNNNN.snapshot` — the producer state as of that offset;
//! - `log-start-offset` — where DeleteRecords and retention moved the start of the log;
//! - `cleaner-offset-checkpoint` — for compacted topics, how far the [`cleaner`] got;
//! - `leader-epoch-checkpoint` — which leader epoch wrote which stretch of the log
//!   ([`leader_epoch::LeaderEpochCache`]), for truncation after a leader change;
//! - `cleaner/` — only while a cleaning pass runs: the new segments it writes, which
//!   [`Log::install_cleaned`] swaps in through `.swap` files (a crash mid-swap is finished at
//!   open);
//! - `clean-shutdown` — present only between a clean [`Log::close`] and the next
//!   [`Log::open`], telling recovery it may trust the index files.
//!
//! [`Log`] ties these together: appends (validate every batch, then assign offsets, write,
//! index, roll), transaction markers ([`txn_marker`]) and the last stable offset, reads of
//! whole batches as [`FileSlice`]s, timestamp lookups, DeleteRecords, retention, flushing, and
//! recovery after a crash. The [`cleaner`] compacts logs of topics
//! with `cleanup.policy=compact`; [`records`] walks the records inside a batch for it and for
//! the key check on produce to such topics.

pub mod batch;
pub mod batch_builder;
pub mod checkpoint;
pub mod cleaner;
pub mod error;
pub mod index;
pub mod leader_epoch;
pub mod log;
pub mod producer_state;
pub mod records;
pub mod replication_checkpoint;
pub mod segment;
pub mod txn_index;
pub mod txn_marker;

pub use self::log::{AppendInfo, Log, LogConfig, ReadResult, TimestampType};
pub use batch::AppendOrigin;
pub use cleaner::{
    clean, CleanableSnapshot, CleanedGroup, CleanedLog, CleanerConfig, CleanerStats,
    InstallOutcome, ReplacedSegment, SegmentSnapshot,
};
pub use error::StorageError;
pub use leader_epoch::{EpochEntry, LeaderEpochCache};
pub use segment::{FileSlice, LogSegment};
pub use txn_index::AbortedTxn;

/// Removes a file; one that is not there is no error (recovery and cleaning remove files that
/// a crash may have removed already).
pub(crate) fn remove_if_exists(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
