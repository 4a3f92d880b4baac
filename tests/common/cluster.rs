//! A 3-node (or larger) Troupe cluster of real processes on loopback, for the cluster tests:
//! each node runs broker and controller voter (or broker only), with its own ports and data
//! dir, and can be killed, stopped (SIGSTOP), resumed and restarted. Inter-node traffic can go
//! through `Proxy`s the test controls, to cut the network between nodes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::proxy::Proxy;

pub struct Node {
    pub id: i32,
    pub kafka_port: u16,
    pub http_port: u16,
    pub controller_port: u16,
    pub data_dir: PathBuf,
    pub voter: bool,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
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

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_troupe"))
            .arg("serve")
            .args(&self.args)
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start troupe");
        self.child = Some(child);
    }

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

    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.is_ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
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

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (controlled shutdown) and wait for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("node {} did not exit within 60 s of SIGTERM", self.id);
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

    /// Starts again on the same data dir and ports, and waits until ready.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
        self.wait_ready(Duration::from_secs(60));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped process ignores SIGKILL until continued on some kernels' views; wake it.
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

/// Options of a test cluster.
pub struct ClusterSpec {
    pub voters: usize,
    /// Broker-only nodes (follow the quorum as learners), ids after the voters.
    pub brokers_only: usize,
    /// Route every node-to-node connection (Raft and replica fetches) through a `Proxy`.
    pub proxied: bool,
    /// Extra `--override key=value` for every node.
    pub overrides: Vec<(String, String)>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            voters: 3,
            brokers_only: 0,
            proxied: false,
            overrides: Vec::new(),
        }
    }
}

/// Cluster tests run one at a time: several 3–5 node clusters at once on two cores would make
/// their timing (session timeouts, ISR lag) meaningless.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// (from, to) → the proxy `from` uses to reach `to`'s controller port and Kafka port.
    pub proxies: BTreeMap<(i32, i32), (Proxy, Proxy)>,
    _tmp: tempfile::TempDir,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// Quick failure detection for tests; every value is still a real setting.
const FAST: &[(&str, &str)] = &[
    ("broker.heartbeat.interval.ms", "500"),
    ("broker.session.timeout.ms", "3000"),
    ("replica.lag.time.max.ms", "3000"),
    ("replica.fetch.wait.max.ms", "200"),
    ("replica.fetch.backoff.ms", "200"),
    ("controller.quorum.election.timeout.ms", "500"),
    ("offsets.topic.replication.factor", "3"),
    ("offsets.topic.num.partitions", "6"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.num.partitions", "6"),
    ("group.initial.rebalance.delay.ms", "0"),
    ("default.replication.factor", "3"),
];

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if std::env::var_os("TROUPE_KEEP_LOGS").is_some() {
            let tmp = std::mem::replace(&mut self._tmp, tempfile::tempdir().unwrap());
            std::mem::forget(tmp);
        }
    }
}

impl Cluster {
    pub fn start(spec: ClusterSpec) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        if std::env::var_os("TROUPE_KEEP_LOGS").is_some() {
            eprintln!("cluster data and logs under {}", tmp.path().display());
        }
        let total = spec.voters + spec.brokers_only;
        let ids: Vec<i32> = (1..=total as i32).collect();
        let controller_ports: BTreeMap<i32, u16> = ids.iter().map(|i| (*i, free_port())).collect();
        let kafka_ports: BTreeMap<i32, u16> = ids.iter().map(|i| (*i, free_port())).collect();
        let mut proxies = BTreeMap::new();
        if spec.proxied {
            for from in &ids {
                for to in &ids {
                    if from != to {
                        let raft = Proxy::start(controller_ports[to]);
                        let kafka = Proxy::start(kafka_ports[to]);
                        proxies.insert((*from, *to), (raft, kafka));
                    }
                }
            }
        }
        let mut nodes = Vec::new();
        for id in &ids {
            let voter = (*id as usize) <= spec.voters;
            let voters: Vec<String> = ids
                .iter()
                .filter(|v| (**v as usize) <= spec.voters)
                .map(|v| {
                    let port = match proxies.get(&(*id, *v)) {
                        Some((raft, _)) => raft.port,
                        None => controller_ports[v],
                    };
                    format!("{v}@127.0.0.1:{port}")
                })
                .collect();
            let data_dir = tmp.path().join(format!("node-{id}"));
            let http_port = free_port();
            let mut args: Vec<String> = vec![
                "--node-id".into(),
                id.to_string(),
                "--data-dir".into(),
                data_dir.display().to_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", kafka_ports[id]),
                "--http".into(),
                format!("127.0.0.1:{http_port}"),
                "--controller-listen".into(),
                format!("127.0.0.1:{}", controller_ports[id]),
                "--controller-voters".into(),
                voters.join(","),
            ];
            if !voter {
                args.extend(["--role".into(), "broker".into()]);
            }
            let mut overrides: Vec<(String, String)> = FAST
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            overrides.extend(spec.overrides.iter().cloned());
            if spec.proxied {
                let peers: Vec<String> = ids
                    .iter()
                    .filter(|p| *p != id)
                    .map(|p| format!("{p}=127.0.0.1:{}", proxies[&(*id, *p)].1.port))
                    .collect();
                overrides.push(("replica.fetch.peer.addresses".into(), peers.join(",")));
            }
            for (k, v) in overrides {
                args.push("--override".into());
                args.push(format!("{k}={v}"));
            }
            let mut node = Node {
                id: *id,
                kafka_port: kafka_ports[id],
                http_port,
                controller_port: controller_ports[id],
                data_dir,
                voter,
                args,
                child: None,
            };
            node.spawn();
            nodes.push(node);
        }
        let mut cluster = Cluster {
            nodes,
            proxies,
            _tmp: tmp,
            _turn: turn,
        };
        for n in &mut cluster.nodes {
            n.wait_ready(Duration::from_secs(60));
        }
        cluster
    }

    pub fn node(&mut self, id: i32) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).expect("node id")
    }

    /// Every running node's Kafka address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.bootstrap())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Cuts (or restores) every connection between `id` and the other nodes.
    pub fn isolate(&self, id: i32, cut: bool) {
        for ((from, to), (raft, kafka)) in &self.proxies {
            if *from == id || *to == id {
                raft.set_blocked(cut);
                kafka.set_blocked(cut);
            }
        }
    }

    /// All logs, for a failing assertion's message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("===== node {} =====\n{}", n.id, n.log_text()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
