//! The names of a segment's files: a 20-digit zero-padded base offset and a suffix per kind
//! of file, so a directory listing sorts in offset order.

use std::path::{Path, PathBuf};

/// Suffix of a segment's record file.
pub const LOG_FILE_SUFFIX: &str = ".log";
/// Suffix of a segment's offset index.
pub const INDEX_FILE_SUFFIX: &str = ".index";
/// Suffix of a segment's time index.
pub const TIME_INDEX_FILE_SUFFIX: &str = ".timeindex";
/// Suffix of a segment's transaction index (its aborted transactions).
pub const TXN_INDEX_FILE_SUFFIX: &str = ".txnindex";
/// Suffix a file gets while it is being deleted; leftovers are removed at open.
pub const DELETED_FILE_SUFFIX: &str = ".deleted";
/// Suffix of a compaction's temporary output; leftovers are removed at open.
pub const CLEANED_FILE_SUFFIX: &str = ".cleaned";
/// Suffix a cleaned segment's files carry while they replace the segments they clean; a
/// `.log.swap` found at open is a swap that a crash interrupted.
pub const SWAP_FILE_SUFFIX: &str = ".swap";

/// The 20-digit zero-padded name stem Kafka gives every file of a segment.
pub fn file_name_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Path of the `.log` file of the segment starting at `base_offset`.
pub fn log_file_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{}{LOG_FILE_SUFFIX}", file_name_stem(base_offset)))
}

/// Path of the `.index` file of the segment starting at `base_offset`.
pub fn offset_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{INDEX_FILE_SUFFIX}",
        file_name_stem(base_offset)
    ))
}

/// Path of the `.timeindex` file of the segment starting at `base_offset`.
pub fn time_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{TIME_INDEX_FILE_SUFFIX}",
        file_name_stem(base_offset)
    ))
}

/// Path of the `.txnindex` file of the segment starting at `base_offset`.
pub fn txn_index_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{TXN_INDEX_FILE_SUFFIX}",
        file_name_stem(base_offset)
    ))
}

/// `path` with [`SWAP_FILE_SUFFIX`] appended.
pub fn swap_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(SWAP_FILE_SUFFIX);
    PathBuf::from(name)
}

/// The base offset named by a segment file name with the given suffix (`"…20 digits…" +
/// suffix`), or `None` for any other name.
pub fn parse_segment_file_name(name: &str, suffix: &str) -> Option<i64> {
    let stem = name.strip_suffix(suffix)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}
