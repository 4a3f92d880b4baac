//! The node's footing on its machine: the data dir's lock, its `meta.properties` (the cluster
//! id), the cluster id a quorum's nodes derive from their voters, and the descriptor limit.

use std::path::Path;

/// Every node of a cluster derives the same cluster id from the voter set.
pub(super) fn cluster_id_of_voters(voters: &std::collections::BTreeMap<i32, String>) -> String {
    let text: String = voters.iter().map(|(id, a)| format!("{id}@{a},")).collect();
    let a = crc32c::crc32c(text.as_bytes());
    let b = crc32c::crc32c_append(a, b"troupe");
    format!("troupe-{a:08x}{b:08x}")
}

/// `meta.properties` holds the cluster id, made once per data dir, like Kafka's.
pub(super) fn load_or_create_cluster_id(dir: &Path, node_id: i32) -> anyhow::Result<String> {
    let path = dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id=")) {
            return Ok(id.trim().to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
    let tmp = dir.join("meta.properties.tmp");
    std::fs::write(
        &tmp,
        format!("version=1\ncluster.id={id}\nnode.id={node_id}\n"),
    )?;
    std::fs::rename(&tmp, &path)?;
    Ok(id)
}

/// An exclusive lock on the data dir: two brokers on one directory would corrupt it.
pub(super) fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "data dir {} is in use by another troupe process",
            dir.display()
        );
    }
    Ok(f)
}

/// Each partition keeps a few files open; lift the soft descriptor limit to the hard one.
pub(super) fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
