//! Startup and shutdown of one broker: the order in which rooms come up and go down.
//!
//! Up: lock the data dir, replay the metadata log into the `Controller` and `MetadataCache`,
//! start the HTTP thread (live, not ready), open every partition (recovery) on the arbiters,
//! bind the Kafka listener, log one ready line. Down (SIGTERM / Ctrl-C): stop accepting, let
//! connections finish their in-flight requests, close every log cleanly, exit 0.

pub mod args;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use tokio::sync::watch;

use crate::actors::controller::{
    BrokerHeartbeat, ControlledShutdown, Controller, CreateTopics, ForwardTarget, Forwarded,
    NewTopic, RegisterBroker,
};
use crate::actors::coordinator_partitions::{CoordinatorElections, Shards};
use crate::actors::group_coordinator::coordinator::GroupCoordinator;
use crate::actors::group_coordinator::view::GroupsView;
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::listener::Listener;
use crate::actors::metadata_cache::MetadataCache;
use crate::actors::metadata_publisher::MetadataPublisher;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::partition_replica::ReplicaContext;
use crate::actors::replica_fetcher::{FetchSettings, ReplicaFetcherManager};
use crate::actors::supervisor::SupervisorState;
use crate::actors::timer_wheel::TimerWheel;
use crate::actors::txn_coordinator::coordinator::{TxnCoordinator, TxnCoordinatorSetup};
use crate::actors::txn_coordinator::marker_channel::{ChannelSettings, MarkerChannelManager};
use crate::actors::txn_coordinator::markers::MarkerWriter;
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::extension::{EventBus, ExtensionContext, ExtensionHost};
use crate::metadata::{BrokerInfo, MetadataImage, MetadataLog};
use crate::quorum::{MetadataUpdate, Quorum, QuorumConfig};

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
    run_with_extensions(opts, Vec::new())
}

/// Runs the broker with user actors (`extension`), each started under supervision once the
/// broker is wired and before it serves.
pub fn run_with_extensions(
    opts: ServeOptions,
    extensions: Vec<crate::extension::ExtensionFactory>,
) -> anyhow::Result<()> {
    raise_fd_limit();
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let _lock = lock_data_dir(&opts.data_dir)?;
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        // Every histogram (request latency, log flush) as a Prometheus histogram with these
        // bounds in seconds, rather than a summary: histograms aggregate across brokers.
        .set_buckets(&[
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0, 30.0,
        ])
        .context("setting histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let system = actix::System::new();
    system.block_on(async move { serve(opts, prometheus, extensions).await })?;
    Ok(())
}

async fn serve(
    opts: ServeOptions,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    extensions: Vec<crate::extension::ExtensionFactory>,
) -> anyhow::Result<()> {
    let events = EventBus::default();
    let (advertised_host, advertised_port) = split_host_port(&opts.advertised)?;
    let cluster_id = match &opts.cluster {
        None => load_or_create_cluster_id(&opts.data_dir, opts.node_id)?,
        Some(c) => cluster_id_of_voters(&c.voters),
    };

    let arbiter_count = match opts.config.get_i64("num.arbiters") {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n as usize,
    };
    let arbiters: Vec<Arbiter> = (0..arbiter_count).map(|_| Arbiter::new()).collect();
    let handles: Vec<ArbiterHandle> = arbiters.iter().map(|a| a.handle()).collect();

    let health = Arc::new(SupervisorState::default());
    let cache = Arc::new(MetadataCache::new(MetadataImage {
        cluster_id: cluster_id.clone(),
        controller_id: -1,
        ..Default::default()
    }));
    let replica_context = Arc::new(ReplicaContext {
        node_id: opts.node_id,
        controller: std::sync::OnceLock::new(),
        replica_lag_time_max_ms: opts.config.get_i64("replica.lag.time.max.ms"),
        events: events.clone(),
    });
    let replicas = Arc::new(ReplicaManager::new(
        replica_context.clone(),
        opts.data_dir.clone(),
        handles.clone(),
        health.clone(),
        opts.config.clone(),
    ));
    let _ = replicas.fetchers.set(ReplicaFetcherManager::new(
        FetchSettings::from_config(opts.node_id, &opts.config),
        peer_addresses(&opts.config),
    ));
    let (applied_tx, applied_rx) = watch::channel(0u64);

    let (controller, updates, controller_id, quorum) = match &opts.cluster {
        None => {
            let (metadata_log, records) =
                MetadataLog::open(&opts.data_dir.join("__cluster_metadata"))?;
            let mut image = MetadataImage {
                cluster_id: cluster_id.clone(),
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
            let (updates_tx, updates_rx) = tokio::sync::mpsc::unbounded_channel();
            let _ = updates_tx.send(MetadataUpdate {
                index: image.version,
                records: Vec::new(),
                image: Arc::new(image.clone()),
            });
            let controller = Controller::local(
                image,
                metadata_log,
                updates_tx,
                applied_rx.clone(),
                opts.config.clone(),
            )
            .start();
            let (_fixed_tx, fixed_rx) = watch::channel(Some(opts.node_id));
            // Keep the sender alive for the whole run: the controller never moves.
            std::mem::forget(_fixed_tx);
            (controller, updates_rx, fixed_rx, None)
        }
        Some(c) => {
            let target: ForwardTarget = Default::default();
            let election_ms = opts.config.get_i64("controller.quorum.election.timeout.ms") as u64;
            let quorum = Quorum::start(
                QuorumConfig {
                    node_id: opts.node_id,
                    listen: c.controller_listen,
                    advertised: c
                        .voters
                        .get(&opts.node_id)
                        .cloned()
                        .unwrap_or_else(|| c.controller_listen.to_string()),
                    voters: c.voters.clone(),
                    is_voter: c.is_voter,
                    dir: opts.data_dir.join("__cluster_metadata"),
                    election_timeout_min_ms: election_ms,
                    election_timeout_max_ms: election_ms * 2,
                    heartbeat_interval_ms: (election_ms / 4).max(10),
                },
                Arc::new(Forwarded(target.clone())),
            )
            .await
            .context("starting the controller quorum")?;
            let controller =
                Controller::clustered(quorum.clone(), applied_rx.clone(), opts.config.clone())
                    .start();
            *target.lock() = Some(controller.clone());
            if !c.is_voter {
                let q = quorum.clone();
                actix::spawn(async move {
                    if let Err(e) = q.join_as_observer().await {
                        tracing::error!(error = %e, "cannot join the controller quorum as an observer");
                    }
                });
            }
            let updates = quorum.subscribe();
            let leader = quorum.leader_watch();
            (controller, updates, leader, Some(quorum))
        }
    };
    let _ = replica_context.controller.set(controller.clone());
    let timer = TimerWheel::default().start();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let elections = Arc::new(CoordinatorElections::new(
        opts.node_id,
        &[OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC],
    ));
    actix::spawn(
        MetadataPublisher {
            cache: cache.clone(),
            replicas: replicas.clone(),
            elections: elections.clone(),
            applied: applied_tx,
            controller: controller_id.clone(),
            events: events.clone(),
        }
        .run(updates, first_tx),
    );

    let groups_view = Arc::new(GroupsView::default());
    let http_addr = crate::http::spawn(
        opts.http,
        crate::http::HttpState {
            node_id: opts.node_id,
            health: health.clone(),
            replicas: replicas.clone(),
            metadata: cache.clone(),
            groups: groups_view.clone(),
            controller: controller_id.clone(),
            clustered: quorum.is_some(),
            prometheus,
        },
    )
    .with_context(|| format!("binding HTTP on {}", opts.http))?;

    let started = std::time::Instant::now();
    register_broker(
        &controller,
        BrokerInfo {
            id: opts.node_id,
            host: advertised_host.clone(),
            port: advertised_port,
            rack: None,
        },
        quorum.is_some(),
    )
    .await?;
    let _ = first_rx.await;
    health.mark_started();
    tracing::info!(
        partitions = replicas.partition_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partitions recovered"
    );
    {
        let replicas = replicas.clone();
        actix::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                replicas.checkpoint_high_watermarks().await;
            }
        });
    }
    if quorum.is_none() {
        replicas.remove_orphan_dirs(&cache.current());
    } else {
        spawn_heartbeats(controller.clone(), opts.node_id, &opts.config);
    }

    let offsets_partitions = ensure_internal_topic(
        &controller,
        &cache,
        InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: "offsets.topic.num.partitions",
            replication_factor: "offsets.topic.replication.factor",
            segment_bytes: "offsets.topic.segment.bytes",
        },
        &opts.config,
        quorum.is_some(),
    )
    .await?;
    let txn_partitions = ensure_internal_topic(
        &controller,
        &cache,
        InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: "transaction.state.log.num.partitions",
            replication_factor: "transaction.state.log.replication.factor",
            segment_bytes: "transaction.state.log.segment.bytes",
        },
        &opts.config,
        quorum.is_some(),
    )
    .await?;
    let group_config = crate::actors::group_coordinator::group_config(&opts.config);
    let retention = crate::actors::group_coordinator::offsets_retention(&opts.config);
    let millis = |name: &str| Duration::from_millis(opts.config.get_i64(name).max(1) as u64);
    let offsets_write_timeout = millis("offsets.commit.timeout.ms");
    let group_coordinators = handles
        .iter()
        .enumerate()
        .map(|(shard, arbiter)| {
            let (config, wheel, replicas) = (group_config.clone(), timer.clone(), replicas.clone());
            let (view, events) = (groups_view.clone(), events.clone());
            GroupCoordinator::start_in_arbiter(arbiter, move |_| {
                GroupCoordinator::new(
                    config,
                    retention,
                    offsets_write_timeout,
                    wheel,
                    replicas,
                    shard,
                    offsets_partitions,
                )
                .with_view(view)
                .with_events(events)
            })
        })
        .collect::<Vec<_>>();
    // Transaction coordinators start after the group coordinators: markers for
    // `__consumer_offsets` partitions tell the groups' shards, and replaying
    // `__transaction_state` may resend markers at once.
    let request_timeout = millis("request.timeout.ms");
    let marker_channels = MarkerChannelManager::new(
        ChannelSettings {
            client_id: format!("troupe-txn-markers-{}", opts.node_id),
            connect_timeout: request_timeout.min(Duration::from_secs(10)),
            request_timeout: request_timeout + Duration::from_secs(5),
        },
        peer_addresses(&opts.config),
    );
    let markers = MarkerWriter::new(
        opts.node_id,
        replicas.clone(),
        cache.clone(),
        group_coordinators.clone(),
        timer.clone(),
        request_timeout,
        Arc::new(marker_channels),
    );
    let txn_config = crate::actors::txn_coordinator::txn_config(&opts.config);
    let abort_check_interval =
        millis("transaction.abort.timed.out.transaction.cleanup.interval.ms");
    let expiry_check_interval =
        millis("transaction.remove.expired.transaction.cleanup.interval.ms");
    let txn_coordinators = handles
        .iter()
        .enumerate()
        .map(|(shard, arbiter)| {
            let setup = TxnCoordinatorSetup {
                config: txn_config,
                abort_check_interval,
                expiry_check_interval,
                write_timeout: request_timeout,
                replicas: replicas.clone(),
                controller: controller.clone(),
                wheel: timer.clone(),
                markers: markers.clone(),
                shard,
                txn_partitions,
                offsets_partitions,
            };
            TxnCoordinator::start_in_arbiter(arbiter, move |_| TxnCoordinator::new(setup))
        })
        .collect::<Vec<_>>();
    // The shards coordinate what this node leads: from now on elections and resignations
    // reach them as they are applied; what it already leads loads now. Serving waits for those
    // loads (on one broker: every partition), as it waited for the full replay before.
    let mut loads = elections.register(OFFSETS_TOPIC, Shards::of(&group_coordinators));
    loads.extend(elections.register(TRANSACTION_STATE_TOPIC, Shards::of(&txn_coordinators)));
    let loading = loads.len();
    futures::future::join_all(loads).await;
    tracing::info!(
        partitions = loading,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "coordinator partitions loaded"
    );
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
        controller: controller.clone(),
        timer,
        health: health.clone(),
        active_connections: Default::default(),
        group_coordinators,
        offsets_partitions,
        txn_coordinators,
        txn_partitions,
        markers,
    });

    // The addresses are kept for the whole run: actix's Supervisor restarts a stopped actor
    // only while someone still holds its address.
    let _extension_hosts: Vec<Addr<ExtensionHost>> = extensions
        .into_iter()
        .enumerate()
        .map(|(i, factory)| {
            let (context, bus, health) = (
                ExtensionContext::new(broker.clone()),
                events.clone(),
                health.clone(),
            );
            actix::Supervisor::start_in_arbiter(&handles[i % handles.len()], move |_| {
                ExtensionHost::new(factory, context, bus, health)
            })
        })
        .collect();

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
    if quorum.is_some() && opts.config.get_bool("controlled.shutdown.enable") {
        tracing::info!("shutdown requested: moving leadership away (controlled shutdown)");
        let moved = tokio::time::timeout(
            Duration::from_secs(15),
            controller.send(ControlledShutdown(opts.node_id)),
        )
        .await;
        match moved {
            Ok(Ok(Ok(()))) => tracing::info!("leadership moved away"),
            other => {
                tracing::warn!(outcome = ?other.map(|r| r.map(|r| r.err())), "controlled shutdown incomplete; stopping anyway")
            }
        }
    }
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
    if let Some(q) = &quorum {
        q.shutdown().await;
    }
    tracing::info!("all partitions closed; bye");
    for a in arbiters {
        a.stop();
    }
    System::current().stop();
    Ok(())
}

/// An internal topic and the broker configs that shape it.
struct InternalTopic {
    name: &'static str,
    partitions: &'static str,
    replication_factor: &'static str,
    segment_bytes: &'static str,
}

/// Creates a coordinator's internal topic (`__consumer_offsets`, `__transaction_state`:
/// compacted, partitions, replication factor and segment size from the named configs) on first
/// start; returns its partition count, which fixes every group's or transactional id's
/// coordinator partition. In a cluster the creation may have to wait for enough brokers to
/// register (the replication factor), so it retries in the background and the configured
/// count is returned at once.
async fn ensure_internal_topic(
    controller: &Addr<Controller>,
    cache: &MetadataCache,
    topic: InternalTopic,
    config: &BrokerConfig,
    clustered: bool,
) -> anyhow::Result<i32> {
    if let Some(t) = cache.current().topics.get(topic.name) {
        return Ok(t.partitions.len() as i32);
    }
    let partitions = config.get_i64(topic.partitions) as i32;
    let request = CreateTopics {
        topics: vec![NewTopic {
            name: topic.name.to_string(),
            num_partitions: partitions,
            replication_factor: config.get_i64(topic.replication_factor) as i16,
            configs: [
                ("cleanup.policy".to_string(), "compact".to_string()),
                (
                    "segment.bytes".to_string(),
                    config.get_i64(topic.segment_bytes).to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            assignments: None,
        }],
        validate_only: false,
    };
    if !clustered {
        return match controller.send(request).await?.pop() {
            Some(Ok(_)) => Ok(partitions),
            Some(Err(e)) => Err(anyhow::anyhow!("creating {}: {e}", topic.name)),
            None => Err(anyhow::anyhow!("creating {}: no answer", topic.name)),
        };
    }
    let controller = controller.clone();
    let name = topic.name;
    actix::spawn(async move {
        loop {
            let topics = request.topics.clone();
            let answer = controller
                .send(CreateTopics {
                    topics,
                    validate_only: false,
                })
                .await;
            match answer.ok().and_then(|mut v| v.pop()) {
                Some(Ok(_)) | Some(Err(BrokerError::TopicAlreadyExists(_))) => return,
                Some(Err(e)) => {
                    tracing::info!(topic = name, reason = %e, "internal topic not created yet; retrying")
                }
                None => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(partitions)
}

/// Registers this broker with the active controller; in a cluster, retried while the quorum
/// elects its first leader.
async fn register_broker(
    controller: &Addr<Controller>,
    info: BrokerInfo,
    clustered: bool,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match controller.send(RegisterBroker(info.clone())).await? {
            Ok(()) => return Ok(()),
            Err(e) if clustered && std::time::Instant::now() < deadline => {
                tracing::info!(reason = %e, "waiting for an active controller to register with");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("registering broker: {e}")),
        }
    }
}

/// Heartbeats to the active controller every `broker.heartbeat.interval.ms`; a controller that
/// no longer knows this broker gets it registered again by the next heartbeat's answer.
fn spawn_heartbeats(controller: Addr<Controller>, node_id: i32, config: &BrokerConfig) {
    let interval = Duration::from_millis(config.get_i64("broker.heartbeat.interval.ms") as u64);
    actix::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            match controller.send(BrokerHeartbeat(node_id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(reason = %e, "heartbeat not accepted"),
                Err(_) => return,
            }
        }
    });
}

/// `replica.fetch.peer.addresses` (`2=host:port,3=host:port`): how this node reaches other
/// brokers for replication when it is not their registered address.
fn peer_addresses(config: &BrokerConfig) -> std::collections::BTreeMap<i32, String> {
    config
        .get("replica.fetch.peer.addresses")
        .split(',')
        .filter_map(|p| {
            let (id, addr) = p.trim().split_once('=')?;
            Some((id.trim().parse().ok()?, addr.trim().to_string()))
        })
        .collect()
}

/// Every node of a cluster derives the same cluster id from the voter set.
fn cluster_id_of_voters(voters: &std::collections::BTreeMap<i32, String>) -> String {
    let text: String = voters.iter().map(|(id, a)| format!("{id}@{a},")).collect();
    let a = crc32c::crc32c(text.as_bytes());
    let b = crc32c::crc32c_append(a, b"troupe");
    format!("troupe-{a:08x}{b:08x}")
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
