//! The broker process seen from `/proc`: CPU seconds, resident memory, and which local process
//! listens on the bootstrap port. Linux only; elsewhere the readings are absent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// User + system CPU time since the process started.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// The kernel's high-water mark of the resident set (`VmHWM`), since the process started.
    pub peak_rss_bytes: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; None once the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are
    // plain. utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after ")".
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11)?.parse::<u64>().ok()? as f64 + fields.get(12)?.parse::<u64>().ok()? as f64;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Some(Sample {
        cpu_seconds: ticks / hz,
        rss_bytes: kib("VmRSS:"),
        peak_rss_bytes: kib("VmHWM:"),
    })
}

/// The process listening on TCP `port` on this machine, found through `/proc/net/tcp{,6}`
/// (the socket's inode) and `/proc/*/fd` (who holds it). Needs permission to read other
/// processes' descriptors (same user or root).
pub fn listening_pid(port: u16) -> Option<u32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    if inodes.iter().any(|i| i == inode) {
                        return Some(pid);
                    }
                }
            }
        }
    }
    None
}

fn listening_inodes(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == LISTEN && local_port == Some(port) {
                out.push(inode.to_string());
            }
        }
    }
    out
}

/// The pid to meter: the one given, else the local listener on the first bootstrap port.
pub fn resolve_pid(given: Option<u32>, bootstrap: &str) -> Option<u32> {
    given.or_else(|| {
        let first = bootstrap.split(',').next()?.trim();
        let (host, port) = first.rsplit_once(':')?;
        let local = matches!(
            host,
            "127.0.0.1" | "localhost" | "::1" | "[::1]" | "0.0.0.0"
        );
        if !local {
            return None;
        }
        listening_pid(port.parse().ok()?)
    })
}

/// Samples a process's RSS every 100 ms on a thread, keeping the largest seen during a run.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(now) = sample(pid) {
                    p.fetch_max(now.rss_bytes, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the largest RSS seen.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_and_finds_its_listener() {
        let me = std::process::id();
        let s = sample(me).expect("own /proc entry");
        assert!(s.rss_bytes > 0 && s.peak_rss_bytes >= s.rss_bytes);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listening_pid(port), Some(me));
        assert_eq!(resolve_pid(None, &format!("127.0.0.1:{port}")), Some(me));
        drop(listener);
        assert_eq!(listening_pid(port), None);
    }
}
