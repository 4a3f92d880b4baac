//! `troupe serve`'s flags and how they, the config file and the environment become
//! `ServeOptions`. Shared by the CLI and by embedders (`Broker::builder().args(...)`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use super::{ClusterOptions, ServeOptions};
use crate::config::{read_toml_properties, BrokerConfig};
use crate::network::endpoints::{parse_listeners, ListenerEndpoint};
use crate::security::{parse_add_scram, Secret};

/// `troupe serve`'s flags (also what `Broker::builder().args(...)` parses).
#[derive(Parser, Debug)]
#[command(name = "troupe serve")]
pub struct ServeArgs {
    /// Where topics, segments and the metadata log live.
    #[arg(long, env = "TROUPE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Kafka listener address.
    #[arg(long, env = "TROUPE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// host:port clients are told to connect to (defaults to --listen).
    #[arg(long, env = "TROUPE_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    /// HTTP address for /healthz, /readyz and /metrics.
    #[arg(long, env = "TROUPE_HTTP")]
    pub http: Option<SocketAddr>,
    #[arg(long, env = "TROUPE_NODE_ID")]
    pub node_id: Option<i32>,
    /// A TOML file of broker properties by their Kafka names (see config/troupe.toml).
    #[arg(long, env = "TROUPE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Set any broker property: --override num.partitions=3 (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Address of this node's controller-quorum port (Raft and controller requests). Needed in
    /// a cluster; absent, the node runs as a single broker with a local metadata log.
    #[arg(long, env = "TROUPE_CONTROLLER_LISTEN")]
    pub controller_listen: Option<SocketAddr>,
    /// The controller quorum's voters: 1@host:port,2@host:port,3@host:port.
    #[arg(long, env = "TROUPE_CONTROLLER_VOTERS")]
    pub controller_voters: Option<String>,
    /// `combined` (broker and controller voter; the default when this node is a voter) or
    /// `broker` (follows the quorum without voting).
    #[arg(long, env = "TROUPE_ROLE")]
    pub role: Option<String>,
    /// A SCRAM credential for a new metadata log, in kafka-storage's syntax:
    /// `SCRAM-SHA-256=[name=admin,password=admin-secret]` (optionally `iterations=N`,
    /// `salt=BASE64`, or `saltedpassword=BASE64` instead of the password). Repeatable. Applied
    /// once, when the metadata log is new; ignored on later starts.
    #[arg(long = "add-scram", value_name = "MECHANISM=[name=...,password=...]", value_parser = secret_arg)]
    pub add_scram: Vec<Secret>,
}

/// Keeps an `--add-scram` value out of `Debug` (and out of clap's own error texts).
fn secret_arg(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

/// The cluster options, or None for a single broker (no voters given).
fn cluster_options(
    node_id: i32,
    listen: Option<String>,
    voters: Option<String>,
    role: Option<String>,
) -> anyhow::Result<Option<ClusterOptions>> {
    let Some(voters) = voters.filter(|v| !v.trim().is_empty()) else {
        if listen.is_some() {
            anyhow::bail!("--controller-listen needs --controller-voters");
        }
        return Ok(None);
    };
    let voters = parse_voters(&voters)?;
    let is_voter = match role.as_deref().map(str::trim) {
        None => voters.contains_key(&node_id),
        Some("combined") | Some("broker,controller") | Some("controller,broker") => true,
        Some("broker") => false,
        Some(other) => anyhow::bail!("--role must be combined or broker, not '{other}'"),
    };
    if is_voter && !voters.contains_key(&node_id) {
        anyhow::bail!("node {node_id} runs as a voter but is not in --controller-voters");
    }
    let listen: SocketAddr = match listen {
        Some(l) => l.parse()?,
        None => match voters.get(&node_id) {
            Some(addr) => addr.parse().map_err(|_| {
                anyhow::anyhow!("give --controller-listen: cannot bind the voter address '{addr}'")
            })?,
            None => anyhow::bail!("a broker-only node needs --controller-listen"),
        },
    };
    Ok(Some(ClusterOptions {
        controller_listen: listen,
        voters,
        is_voter,
    }))
}

/// `1@host:port,2@host:port` → {1: "host:port", 2: "host:port"}.
fn parse_voters(s: &str) -> anyhow::Result<std::collections::BTreeMap<i32, String>> {
    let mut out = std::collections::BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| anyhow::anyhow!("voter '{part}' is not id@host:port"))?;
        let id: i32 = id
            .parse()
            .map_err(|_| anyhow::anyhow!("voter '{part}': bad node id"))?;
        if !addr.contains(':') {
            anyhow::bail!("voter '{part}' is not id@host:port");
        }
        if out.insert(id, addr.to_string()).is_some() {
            anyhow::bail!("voter {id} is listed twice");
        }
    }
    if out.is_empty() {
        anyhow::bail!("--controller-voters lists no voter");
    }
    Ok(out)
}

/// Flags and `TROUPE_*` variables (clap) beat the file, which beats built-in defaults.
pub fn serve_options(args: ServeArgs) -> anyhow::Result<ServeOptions> {
    let file_values = match &args.config {
        Some(path) => read_toml_properties(path)?,
        None => Vec::new(),
    };
    let from_file = |key: &str| {
        file_values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = BrokerConfig::load(args.config.as_deref(), &env, &args.overrides)?;

    let data_dir = args
        .data_dir
        .or_else(|| from_file("data.dir").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./data"));
    let listen: SocketAddr = match args.listen {
        Some(l) => l,
        None => from_file("listen")
            .unwrap_or_else(|| "127.0.0.1:9092".into())
            .parse()?,
    };
    let http: SocketAddr = match args.http {
        Some(h) => h,
        None => from_file("http")
            .unwrap_or_else(|| "127.0.0.1:9644".into())
            .parse()?,
    };
    let advertised = args
        .advertised_listener
        .or_else(|| from_file("advertised.listener"))
        .unwrap_or_else(|| listen.to_string());
    let node_id = match args.node_id {
        Some(n) => n,
        None => from_file("node.id")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(1),
    };
    let cluster = cluster_options(
        node_id,
        args.controller_listen
            .map(|a| a.to_string())
            .or_else(|| from_file("controller.listener")),
        args.controller_voters
            .or_else(|| from_file("controller.quorum.voters")),
        args.role.or_else(|| from_file("process.roles")),
    )?;
    let listeners = if config.get("listeners").is_empty() {
        vec![ListenerEndpoint::plaintext(listen, &advertised).map_err(anyhow::Error::msg)?]
    } else {
        parse_listeners(
            config.get("listeners"),
            config.get("advertised.listeners"),
            config.get("listener.security.protocol.map"),
        )
        .map_err(anyhow::Error::msg)?
    };
    let inter_broker = match config.get("inter.broker.listener.name") {
        "" => listeners[0].clone(),
        name => listeners
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("inter.broker.listener.name {name} is not in listeners")
            })?,
    };
    // The inter-broker listener's address is the one the node registers and peers fetch from.
    let listen = inter_broker.bind;
    let advertised = inter_broker.advertised();
    let bootstrap_scram = args
        .add_scram
        .iter()
        .map(|spec| parse_add_scram(spec.expose()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServeOptions {
        bootstrap_scram,
        data_dir,
        listen,
        advertised,
        listeners,
        inter_broker_listener: inter_broker.name,
        http,
        node_id,
        config,
        cluster,
    })
}
