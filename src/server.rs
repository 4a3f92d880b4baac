//! Startup and shutdown of one broker: the order in which rooms come up and go down.
//!
//! Up: lock the data dir, replay the metadata log into the `Controller` and `MetadataCache`,
//! start the HTTP thread (live, not ready), open every partition (recovery) on the arbiters,
//! bind the Kafka listener, log one ready line. Down (SIGTERM / Ctrl-C): stop accepting, let
//! connections finish their in-flight requests, close every log cleanly, exit 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use tokio::sync::watch;

use crate::actors::controller::{Controller, CreateTopics, NewTopic, RegisterBroker};
use crate::actors::group_coordinator::coordinator::GroupCoordinator;
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::listener::Listener;
use crate::actors::metadata_cache::MetadataCache;
use crate::actors::replica_manager::ReplicaManager;
use crate::actors::supervisor::SupervisorState;
use crate::actors::timer_wheel::TimerWheel;
use crate::actors::txn_coordinator::coordinator::{TxnCoordinator, TxnCoordinatorSetup};
use crate::actors::txn_coordinator::markers::MarkerWriter;
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::metadata::{BrokerInfo, MetadataImage, MetadataLog};

/// Everything `troupe serve` was told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// host:port clients are told to connect to.
    pub advertised: String,
    pub http: SocketAddr,
    pub node_id: i32,
    pub config: BrokerConfig,
    /// Present when this node is part of a cluster (a controller quorum is configured).
    pub cluster: Option<ClusterOptions>,
}

/// How this node joins the controller quorum.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// This node's controller-quorum port (Raft traffic and forwarded controller requests).
    pub controller_listen: SocketAddr,
    /// Voter node id → host:port of its controller-quorum port.
    pub voters: std::collections::BTreeMap<i32, String>,
    /// A voter runs a controller too; a broker-only node follows the quorum as a learner.
    pub is_voter: bool,
}

/// Runs the broker until a shutdown signal; returns when everything is closed.
pub fn run(opts: ServeOptions) -> anyhow::Result<()> {
    raise_fd_limit();
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let _lock = lock_data_dir(&opts.data_dir)?;
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let system = actix::System::new();
    system.block_on(async move { serve(opts, prometheus).await })?;
    Ok(())
}

async fn serve(
    opts: ServeOptions,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<()> {
    let (advertised_host, advertised_port) = split_host_port(&opts.advertised)?;
    let cluster_id = load_or_create_cluster_id(&opts.data_dir, opts.node_id)?;

    let (metadata_log, records) = MetadataLog::open(&opts.data_dir.join("__cluster_metadata"))?;
    let mut image = MetadataImage {
        cluster_id,
        controller_id: opts.node_id,
        ..Default::default()
    };
    for r in &records {
        image.apply(r);
    }
    tracing::info!(
        records = records.len(),
        topics = image.topics.len(),
        partitions = image.partition_count(),
        "metadata log replayed"
    );

    let arbiter_count = match opts.config.get_i64("num.arbiters") {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n as usize,
    };
    let arbiters: Vec<Arbiter> = (0..arbiter_count).map(|_| Arbiter::new()).collect();
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(|a| a.handle()).collect();

    let health = Arc::new(SupervisorState::default());
    let cache = Arc::new(MetadataCache::new(image.clone()));
    let replicas = Arc::new(ReplicaManager::new(
        opts.data_dir.clone(),
        handles.clone(),
        health.clone(),
        opts.config.clone(),
    ));
    let controller = Controller::new(
        opts.node_id,
        image.clone(),
        metadata_log,
        cache.clone(),
        replicas.clone(),
        opts.config.clone(),
    )
    .start();
    controller
        .send(RegisterBroker(BrokerInfo {
            id: opts.node_id,
            host: advertised_host.clone(),
            port: advertised_port,
            rack: None,
        }))
        .await?
        .map_err(|e| anyhow::anyhow!("registering broker: {e}"))?;
    let timer = TimerWheel::default().start();

    let http_addr = crate::http::spawn(
        opts.http,
        crate::http::HttpState {
            health: health.clone(),
            replicas: replicas.clone(),
            prometheus,
        },
    )
    .with_context(|| format!("binding HTTP on {}", opts.http))?;

    let started = std::time::Instant::now();
    replicas
        .open_all(&cache.current())
        .await
        .map_err(|e| anyhow::anyhow!("opening partitions: {e}"))?;
    replicas.remove_orphan_dirs(&cache.current());
    health.mark_started();
    tracing::info!(
        partitions = replicas.partition_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partitions recovered"
    );

    let offsets_partitions = ensure_internal_topic(
        &controller,
        &cache,
        OFFSETS_TOPIC,
        &opts.config,
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.topic.segment.bytes",
    )
    .await?;
    let txn_partitions = ensure_internal_topic(
        &controller,
        &cache,
        TRANSACTION_STATE_TOPIC,
        &opts.config,
        "transaction.state.log.num.partitions",
        "transaction.state.log.replication.factor",
        "transaction.state.log.segment.bytes",
    )
    .await?;
    let group_config = crate::actors::group_coordinator::group_config(&opts.config);
    let retention = crate::actors::group_coordinator::offsets_retention(&opts.config);
    let shards = handles.len();
    let group_coordinators = handles
        .iter()
        .enumerate()
        .map(|(shard, arbiter)| {
            let (config, wheel, replicas) = (group_config.clone(), timer.clone(), replicas.clone());
            GroupCoordinator::start_in_arbiter(arbiter, move |_| {
                GroupCoordinator::new(
                    config,
                    retention,
                    wheel,
                    replicas,
                    shard,
                    shards,
                    offsets_partitions,
                )
            })
        })
        .collect::<Vec<_>>();
    // Transaction coordinators start after the group coordinators: markers for
    // `__consumer_offsets` partitions tell the groups' shards, and replaying
    // `__transaction_state` may resend markers at once.
    let markers = MarkerWriter::new(replicas.clone(), cache.clone(), group_coordinators.clone());
    let txn_config = crate::actors::txn_coordinator::txn_config(&opts.config);
    let interval = |name: &str| Duration::from_millis(opts.config.get_i64(name).max(1) as u64);
    let abort_check_interval =
        interval("transaction.abort.timed.out.transaction.cleanup.interval.ms");
    let expiry_check_interval =
        interval("transaction.remove.expired.transaction.cleanup.interval.ms");
    let txn_coordinators = handles
        .iter()
        .enumerate()
        .map(|(shard, arbiter)| {
            let setup = TxnCoordinatorSetup {
                config: txn_config,
                abort_check_interval,
                expiry_check_interval,
                replicas: replicas.clone(),
                controller: controller.clone(),
                wheel: timer.clone(),
                markers: markers.clone(),
                shard,
                shards,
                txn_partitions,
                offsets_partitions,
            };
            TxnCoordinator::start_in_arbiter(arbiter, move |_| TxnCoordinator::new(setup))
        })
        .collect();
    // Compaction runs beside the partitions, never on their threads: the cleaner's rewrites go
    // to blocking threads and only the swap happens on a partition's actor.
    let _log_cleaner = crate::actors::log_cleaner::LogCleaner::new(
        replicas.clone(),
        crate::actors::log_cleaner::CleanerSettings::from_config(&opts.config),
    )
    .start();
    let broker = Arc::new(BrokerContext {
        node_id: opts.node_id,
        advertised_host,
        advertised_port,
        config: opts.config.clone(),
        metadata: cache.clone(),
        replicas: replicas.clone(),
        controller,
        timer,
        health: health.clone(),
        active_connections: Default::default(),
        group_coordinators,
        offsets_partitions,
        txn_coordinators,
        txn_partitions,
        markers,
    });

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding Kafka listener on {}", opts.listen))?;
    let kafka_addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    Listener::new(listener, handles.clone(), broker.clone(), shutdown_rx).start();
    health.set_serving(true);
    tracing::info!(
        kafka = %kafka_addr, advertised = %opts.advertised, http = %http_addr, node_id = opts.node_id,
        arbiters = arbiter_count, data_dir = %opts.data_dir.display(), "troupe ready"
    );

    wait_for_shutdown_signal().await;
    tracing::info!("shutdown requested: draining connections");
    health.set_serving(false);
    let _ = shutdown_tx.send(true);
    let drain_deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.active_connections.load(Ordering::SeqCst) > 0
        && std::time::Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replicas.close_all().await;
    tracing::info!("all partitions closed; bye");
    for a in arbiters {
        a.stop();
    }
    System::current().stop();
    Ok(())
}

/// Creates a coordinator's internal topic (`__consumer_offsets`, `__transaction_state`:
/// compacted, partitions, replication factor and segment size from the named configs) on first
/// start; returns its partition count, which fixes every group's or transactional id's
/// coordinator partition.
async fn ensure_internal_topic(
    controller: &Addr<Controller>,
    cache: &MetadataCache,
    name: &str,
    config: &BrokerConfig,
    partitions_config: &str,
    replication_config: &str,
    segment_bytes_config: &str,
) -> anyhow::Result<i32> {
    if let Some(t) = cache.current().topics.get(name) {
        return Ok(t.partitions.len() as i32);
    }
    let partitions = config.get_i64(partitions_config) as i32;
    let topic = NewTopic {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor: config.get_i64(replication_config) as i16,
        configs: [
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                config.get_i64(segment_bytes_config).to_string(),
            ),
        ]
        .into_iter()
        .collect(),
    };
    let mut results = controller
        .send(CreateTopics {
            topics: vec![topic],
            validate_only: false,
        })
        .await?;
    match results.pop() {
        Some(Ok(_)) => Ok(partitions),
        Some(Err(e)) => Err(anyhow::anyhow!("creating {name}: {e}")),
        None => Err(anyhow::anyhow!("creating {name}: no answer")),
    }
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn split_host_port(s: &str) -> anyhow::Result<(String, i32)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("'{s}' is not host:port"))?;
    let port: u16 = port.parse().with_context(|| format!("bad port in '{s}'"))?;
    Ok((
        host.trim_matches(|c| c == '[' || c == ']').to_string(),
        port as i32,
    ))
}

/// `meta.properties` holds the cluster id, made once per data dir, like Kafka's.
fn load_or_create_cluster_id(dir: &Path, node_id: i32) -> anyhow::Result<String> {
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
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
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
fn raise_fd_limit() {
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
