//! Crash-safe replacement of small files (vote, committed index, purge point, snapshot).
//!
//! A file is replaced by writing `<name>.tmp`, fsyncing it, renaming it over `<name>` and
//! fsyncing the directory, so after a crash at any point a reader finds either the old or the
//! new content, never a mix. These are blocking calls: run them off the async runtime.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Atomically replaces `dir/name` with `bytes`; returns once the new content is durable.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes renames and creations inside `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The content of `dir/name`, or `None` when it does not exist. A leftover `<name>.tmp` (a crash
/// before the rename) is ignored: the rename is the commit point.
pub(crate) fn read_file(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    match fs::read(dir.join(name)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`replace_file`] on the blocking pool.
pub(crate) async fn replace_file_async(
    dir: PathBuf,
    name: &'static str,
    bytes: Vec<u8>,
) -> io::Result<()> {
    tokio::task::spawn_blocking(move || replace_file(&dir, name, &bytes))
        .await
        .map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_then_read_and_stale_tmp_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_file(dir.path(), "vote").unwrap(), None);
        replace_file(dir.path(), "vote", b"one").unwrap();
        replace_file(dir.path(), "vote", b"two").unwrap();
        // A crash between writing the temp file and the rename leaves the old content in force.
        fs::write(dir.path().join("vote.tmp"), b"half").unwrap();
        assert_eq!(
            read_file(dir.path(), "vote").unwrap().as_deref(),
            Some(&b"two"[..])
        );
    }
}
