//! `replication-offset-checkpoint`: the high watermark of every partition of a data dir in one
//! file (Kafka's format: a version line `0`, a count line, then `topic partition offset` lines),
//! written atomically every few seconds and at shutdown. A partition that restarts takes its
//! high watermark from here (capped at its log end), so readers never see it move backwards
//! or see records past what was committed before the restart.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use super::checkpoint::sync_dir;

pub const REPLICATION_OFFSET_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";

/// A partition's file would have at most a few hundred bytes per line; bound what is read.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

pub type HighWatermarks = BTreeMap<(String, i32), i64>;

/// Durably replaces the checkpoint: temp file, fsync, rename, fsync the directory.
pub fn write(dir: &Path, marks: &HighWatermarks) -> io::Result<()> {
    let target = dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE);
    let temp = dir.join(format!("{REPLICATION_OFFSET_CHECKPOINT_FILE}.tmp"));
    let mut text = format!("0\n{}\n", marks.len());
    for ((topic, partition), offset) in marks {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    {
        let mut f = File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&temp, &target)?;
    sync_dir(dir)
}

/// Reads the checkpoint; missing is empty, and so is a malformed file (logged): partitions then
/// start from their log start offset, which is safe, only slower to expose records again.
pub fn read(dir: &Path) -> HighWatermarks {
    let path = dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE);
    let Ok(file) = File::open(&path) else {
        return HighWatermarks::new();
    };
    let mut text = String::new();
    if file.take(MAX_FILE_BYTES).read_to_string(&mut text).is_err() {
        tracing::warn!(path = %path.display(), "unreadable high watermark checkpoint; ignoring it");
        return HighWatermarks::new();
    }
    match parse(&text) {
        Some(m) => m,
        None => {
            tracing::warn!(path = %path.display(), "malformed high watermark checkpoint; ignoring it");
            HighWatermarks::new()
        }
    }
}

fn parse(text: &str) -> Option<HighWatermarks> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = HighWatermarks::new();
    for line in lines.by_ref().take(count) {
        let mut parts = line.rsplitn(3, ' ');
        let offset: i64 = parts.next()?.parse().ok()?;
        let partition: i32 = parts.next()?.parse().ok()?;
        let topic = parts.next()?.to_string();
        out.insert((topic, partition), offset);
    }
    (out.len() == count).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        let mut marks = HighWatermarks::new();
        marks.insert(("orders".into(), 0), 42);
        marks.insert(("__consumer_offsets".into(), 7), 0);
        write(dir.path(), &marks).unwrap();
        assert_eq!(read(dir.path()), marks);
        std::fs::write(
            dir.path().join(REPLICATION_OFFSET_CHECKPOINT_FILE),
            "0\n3\na 0 1\n",
        )
        .unwrap();
        assert!(
            read(dir.path()).is_empty(),
            "a count that does not match is malformed"
        );
    }
}
