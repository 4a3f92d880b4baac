//! A 3-node (or larger) Troupe cluster of real processes on loopback, for the cluster tests:
//! each node (a `Broker` process) runs broker and controller voter (or broker only), with its
//! own ports and data dir, and can be killed, stopped (SIGSTOP), resumed and restarted. Inter-node traffic can go
//! through `Proxy`s the test controls, to cut the network between nodes.

use std::collections::BTreeMap;
use std::time::Duration;

use super::free_port;
use super::proxy::Proxy;
use super::Broker;

/// Options of a test cluster.
pub struct ClusterSpec {
    pub voters: usize,
    /// Broker-only nodes (follow the quorum as learners), ids after the voters.
    pub brokers_only: usize,
    /// Route every node-to-node connection (Raft and replica fetches) through a `Proxy`.
    pub proxied: bool,
    /// Extra `--override key=value` for every node.
    pub overrides: Vec<(String, String)>,
    /// Extra `troupe serve` arguments for every node (e.g. `--add-scram`).
    pub extra_args: Vec<String>,
    /// Extra `--override key=value` of one node, from its id and Kafka port (e.g. its own
    /// `listeners`); applied after `overrides`.
    pub per_node: Option<NodeOverrides>,
}

/// A node's own `--override`s from its id and Kafka port.
pub type NodeOverrides = Box<dyn Fn(i32, u16) -> Vec<(String, String)>>;

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            voters: 3,
            brokers_only: 0,
            proxied: false,
            overrides: Vec::new(),
            extra_args: Vec::new(),
            per_node: None,
        }
    }
}

/// Cluster tests run one at a time: several 3–5 node clusters at once on two cores would make
/// their timing (session timeouts, ISR lag) meaningless.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Cluster {
    pub nodes: Vec<Broker>,
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
            args.extend(spec.extra_args.iter().cloned());
            let mut overrides: Vec<(String, String)> = FAST
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            overrides.extend(spec.overrides.iter().cloned());
            if let Some(per_node) = &spec.per_node {
                overrides.extend(per_node(*id, kafka_ports[id]));
            }
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
            let mut node = Broker::cluster_node(
                *id,
                kafka_ports[id],
                http_port,
                controller_ports[id],
                data_dir,
                voter,
                args,
            );
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

    pub fn node(&mut self, id: i32) -> &mut Broker {
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
