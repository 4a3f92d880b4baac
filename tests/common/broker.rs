//! One broker process: the real `troupe` binary (or an example embedding it) on loopback
//! ports with its own data dir, alone or as one node of a `Cluster`. It can be stopped
//! gracefully, killed with -9, paused (SIGSTOP) and resumed, and started again on the same dir
//! and ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Broker {
    /// Its `--node-id` in a cluster; 1 for a single broker.
    pub id: i32,
    pub kafka_port: u16,
    pub http_port: u16,
    /// The controller quorum port of a cluster node; `None` for a single broker.
    pub controller_port: Option<u16>,
    pub data_dir: PathBuf,
    /// A voter of the controller quorum (a single broker is its own controller).
    pub voter: bool,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    /// An example program embedding the broker (`examples/`), run instead of `troupe serve`.
    example: Option<PathBuf>,
    /// Every argument after `serve`.
    args: Vec<String>,
    /// Environment, in order (a later value of a name wins).
    envs: Vec<(String, String)>,
    /// How long a start waits to be ready, and SIGTERM for the exit.
    patience: Duration,
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with(&[])
    }

    /// Starts with extra `serve` arguments (e.g. `--override`, `key=value`).
    pub fn start_with(args: &[&str]) -> Broker {
        let mut b = Broker::single(args, None, &[]);
        b.start_again();
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
        let mut b = Broker::single(args, Some(program), envs);
        b.start_again();
        b
    }

    /// A single broker on fresh ports and a temporary data dir, not started yet.
    fn single(args: &[&str], example: Option<PathBuf>, envs: &[(&str, &str)]) -> Broker {
        let tmp = tempfile::tempdir().unwrap();
        let (kafka_port, http_port) = (free_port(), free_port());
        let data_dir = tmp.path().to_path_buf();
        let mut all_args = vec![
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{kafka_port}"),
            "--http".into(),
            format!("127.0.0.1:{http_port}"),
        ];
        all_args.extend(args.iter().map(|s| s.to_string()));
        let mut envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        envs.push(("RUST_LOG".into(), "info".into()));
        Broker {
            id: 1,
            kafka_port,
            http_port,
            controller_port: None,
            data_dir,
            voter: true,
            _tmp: Some(tmp),
            child: None,
            example,
            args: all_args,
            envs,
            patience: Duration::from_secs(30),
        }
    }

    /// A node of a cluster whose `args` (after `serve`) the cluster made; not started yet.
    pub fn cluster_node(
        id: i32,
        kafka_port: u16,
        http_port: u16,
        controller_port: u16,
        data_dir: PathBuf,
        voter: bool,
        args: Vec<String>,
    ) -> Broker {
        Broker {
            id,
            kafka_port,
            http_port,
            controller_port: Some(controller_port),
            data_dir,
            voter,
            _tmp: None,
            child: None,
            example: None,
            args,
            envs: vec![("RUST_LOG".into(), "info,openraft=warn".into())],
            patience: Duration::from_secs(60),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(&mut self) {
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
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start troupe");
        self.child = Some(child);
    }

    /// Whether `/readyz` answers 200 (every partition recovered, listener up); panics if the
    /// process has exited.
    pub fn is_ready(&mut self) -> bool {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "node {} exited early with {status}:\n{}",
                    self.id,
                    self.log_text()
                );
            }
        }
        reqwest::blocking::Client::new()
            .get(self.http_url("/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success())
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.is_ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node {} not ready after {timeout:?}:\n{}",
            self.id,
            self.log_text()
        );
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

    /// SIGTERM (controlled shutdown) and wait for the exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + self.patience;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!(
                    "node {} did not exit within {:?} of SIGTERM",
                    self.id, self.patience
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sigstop(&self) {
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(self.pid(), libc::SIGSTOP);
        }
    }

    pub fn sigcont(&self) {
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(self.pid(), libc::SIGCONT);
        }
    }

    /// kill -9, then start again on the same data dir and ports.
    pub fn restart(&mut self) {
        self.kill9();
        self.start_again();
    }

    /// Starts again after `kill9`/`terminate`, on the same data dir and ports, and waits
    /// until ready.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
        self.wait_ready(self.patience);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped process ignores SIGKILL until continued on some kernels' views; wake it.
            // SAFETY: a signal to our own child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGCONT);
            }
        }
        self.kill9();
        if std::env::var_os("TROUPE_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_file(self.log_path());
        }
    }
}
