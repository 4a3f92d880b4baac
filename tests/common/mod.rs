//! Test harness: starts the real `troupe` binary on free loopback ports with its own data dir,
//! and can stop it gracefully, kill -9 it, and restart it on the same dir and ports.
#![allow(dead_code)]

pub mod cluster;
pub mod proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    pub kafka_port: u16,
    pub http_port: u16,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// An example program embedding the broker (`examples/`), run instead of `troupe serve`.
    example: Option<PathBuf>,
    envs: Vec<(String, String)>,
}

/// A port for a broker to bind later. Chosen below Linux's ephemeral range (32768+), so no
/// outgoing connection or `bind(:0)` listener (proxies, clients) can take it in the meantime;
/// random within 20000..32000 and checked free now.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if NEXT.load(Ordering::SeqCst) == 0 {
        let seed = (std::process::id() as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(0);
        let _ = NEXT.compare_exchange(
            0,
            20_000 + (seed % 12_000) as u16,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    loop {
        let mut port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(20_000, Ordering::SeqCst);
            port = 20_000;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with(&[])
    }

    /// Starts with extra `serve` arguments (e.g. `--override`, `key=value`).
    pub fn start_with(args: &[&str]) -> Broker {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Broker {
            kafka_port: free_port(),
            http_port: free_port(),
            data_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            child: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            example: None,
            envs: Vec::new(),
        };
        b.spawn();
        b
    }

    /// Starts the example `name` (a program built on `troupe::extension::Broker`, taking
    /// `troupe serve`'s flags) with environment `envs`. Examples are built by `cargo test`
    /// (and `cargo build --examples`) next to the `troupe` binary.
    pub fn start_example(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Broker {
        let program = Path::new(env!("CARGO_BIN_EXE_troupe"))
            .parent()
            .expect("target dir")
            .join("examples")
            .join(name);
        assert!(
            program.exists(),
            "{} is not built: run `cargo build --examples` (cargo test builds it)",
            program.display()
        );
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Broker {
            kafka_port: free_port(),
            http_port: free_port(),
            data_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            child: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            example: Some(program),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        b.spawn();
        b
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = match &self.example {
            None => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
                c.arg("serve");
                c
            }
            Some(program) => Command::new(program),
        };
        let child = command
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.kafka_port))
            .arg("--http")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .args(&self.extra_args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start troupe");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30));
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200 (every partition recovered, listener up).
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("troupe exited early with {status}:\n{}", self.log_text());
                }
            }
            if let Ok(r) = reqwest::blocking::get(self.http_url("/readyz")) {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("troupe not ready after {timeout:?}:\n{}", self.log_text());
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// kill -9: no chance to flush or write clean-shutdown markers.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("troupe did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Starts again after `kill9`/`terminate`, on the same data dir and ports.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(self.log_path());
    }
}

pub fn healthz(b: &Broker) -> serde_json::Value {
    reqwest::blocking::get(b.http_url("/healthz"))
        .unwrap()
        .json()
        .unwrap()
}

// ---- rdkafka helpers ----

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

pub fn client_config(b: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", b.bootstrap());
    c
}

pub fn create_topic(b: &Broker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = client_config(b).create().unwrap();
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap();
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}
