//! Small state files kept beside a partition's segments.
//!
//! `log-start-offset` remembers how far DeleteRecords and retention moved the start of the log,
//! which segment file names alone cannot tell once the first segment still holds offsets below
//! it. `cleaner-offset-checkpoint` remembers how far the log cleaner has compacted the log: the
//! first dirty offset, where its next pass starts building the offset map. Both share one
//! format, two text lines: a version (0) and the offset. `clean-shutdown` is an empty marker written as the very last step of closing a log; its
//! presence at open means every file was flushed and indexes were cut to size, so recovery can
//! trust them instead of rescanning the tail.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// File holding the log start offset.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// File holding the log cleaner's first dirty offset (Kafka keeps one such checkpoint per log
/// directory; Troupe keeps one per partition, beside the segments it describes).
pub const CLEANER_OFFSET_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Marker file whose presence means the log was closed cleanly.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";
/// Suffix of the file a checkpoint is written to before it is renamed into place.
pub const TEMP_FILE_SUFFIX: &str = ".tmp";

/// Format version written on the first line of the checkpoint, so the format can change later.
const CHECKPOINT_VERSION: u32 = 0;
/// A valid checkpoint is two short lines; anything longer is not ours and is not read whole.
const MAX_CHECKPOINT_BYTES: u64 = 256;

/// Durably replaces the log start offset checkpoint.
pub fn write_log_start_offset(dir: &Path, log_start_offset: i64) -> io::Result<()> {
    write_offset_checkpoint(dir, LOG_START_OFFSET_FILE, log_start_offset)
}

/// Reads the log start offset checkpoint. A missing file is `None`; so is a malformed one (it
/// is logged), because the segments still give a safe lower bound for the start.
pub fn read_log_start_offset(dir: &Path) -> io::Result<Option<i64>> {
    read_offset_checkpoint(dir, LOG_START_OFFSET_FILE)
}

/// Durably replaces the cleaner's first dirty offset.
pub fn write_cleaner_offset(dir: &Path, first_dirty_offset: i64) -> io::Result<()> {
    write_offset_checkpoint(dir, CLEANER_OFFSET_CHECKPOINT_FILE, first_dirty_offset)
}

/// Reads the cleaner's first dirty offset. Missing or malformed is `None`: the cleaner then
/// starts from the log start offset, which costs a longer pass but never loses a record.
pub fn read_cleaner_offset(dir: &Path) -> io::Result<Option<i64>> {
    read_offset_checkpoint(dir, CLEANER_OFFSET_CHECKPOINT_FILE)
}

/// Durably replaces the offset checkpoint `name`.
fn write_offset_checkpoint(dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    write_file_atomically(
        dir,
        name,
        format!("{CHECKPOINT_VERSION}\n{offset}\n").as_bytes(),
    )
}

/// Durably replaces `dir/name` with `contents`: write a temp file, fsync it, rename it over the
/// old one, fsync the directory. A crash leaves either the old or the new file; a leftover temp
/// file is removed by the next `Log::open`.
pub fn write_file_atomically(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let target = dir.join(name);
    let temp = dir.join(format!("{name}{TEMP_FILE_SUFFIX}"));
    {
        let mut file = File::create(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&temp, &target)?;
    sync_dir(dir)
}

/// Reads the offset checkpoint `name`; missing or malformed (logged) is `None`.
fn read_offset_checkpoint(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    if file
        .take(MAX_CHECKPOINT_BYTES)
        .read_to_string(&mut text)
        .is_err()
    {
        tracing::warn!(path = %path.display(), "offset checkpoint is not text; ignoring it");
        return Ok(None);
    }
    let parsed = parse_offset_checkpoint(&text);
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "malformed offset checkpoint; ignoring it");
    }
    Ok(parsed)
}

/// Parses "version\noffset\n".
fn parse_offset_checkpoint(text: &str) -> Option<i64> {
    let mut lines = text.lines();
    let version: u32 = lines.next()?.trim().parse().ok()?;
    if version != CHECKPOINT_VERSION {
        return None;
    }
    let offset: i64 = lines.next()?.trim().parse().ok()?;
    (offset >= 0).then_some(offset)
}

/// Whether the previous owner of this directory closed the log cleanly.
pub fn has_clean_shutdown_marker(dir: &Path) -> bool {
    dir.join(CLEAN_SHUTDOWN_FILE).exists()
}

/// Writes the clean-shutdown marker durably. Must be the last write of a close.
pub fn write_clean_shutdown_marker(dir: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(CLEAN_SHUTDOWN_FILE))?;
    file.sync_all()?;
    sync_dir(dir)
}

/// Removes the marker once the log is open, so that a crash from now on is seen as unclean.
pub fn remove_clean_shutdown_marker(dir: &Path) -> io::Result<()> {
    match fs::remove_file(dir.join(CLEAN_SHUTDOWN_FILE)) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fsyncs a directory so that file creations, renames and removals in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_start_offset_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), None);
        write_log_start_offset(dir.path(), 42).unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), Some(42));
        write_log_start_offset(dir.path(), 1_000_000).unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), Some(1_000_000));
    }

    #[test]
    fn cleaner_offset_round_trips_beside_log_start_offset() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cleaner_offset(dir.path()).unwrap(), None);
        write_log_start_offset(dir.path(), 5).unwrap();
        write_cleaner_offset(dir.path(), 17).unwrap();
        assert_eq!(read_cleaner_offset(dir.path()).unwrap(), Some(17));
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), Some(5));
        fs::write(dir.path().join(CLEANER_OFFSET_CHECKPOINT_FILE), "0\nx\n").unwrap();
        assert_eq!(read_cleaner_offset(dir.path()).unwrap(), None);
    }

    #[test]
    fn malformed_checkpoint_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for junk in ["", "0\n", "1\n5\n", "0\n-3\n", "0\nabc\n", "\u{0}\u{1}"] {
            fs::write(dir.path().join(LOG_START_OFFSET_FILE), junk).unwrap();
            assert_eq!(read_log_start_offset(dir.path()).unwrap(), None, "{junk:?}");
        }
        fs::write(dir.path().join(LOG_START_OFFSET_FILE), vec![b'7'; 100_000]).unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), None);
    }

    #[test]
    fn marker_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_clean_shutdown_marker(dir.path()));
        write_clean_shutdown_marker(dir.path()).unwrap();
        assert!(has_clean_shutdown_marker(dir.path()));
        remove_clean_shutdown_marker(dir.path()).unwrap();
        assert!(!has_clean_shutdown_marker(dir.path()));
        remove_clean_shutdown_marker(dir.path()).unwrap();
    }
}
