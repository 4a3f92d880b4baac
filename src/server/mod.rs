//! Startup and shutdown of one broker: the order in which rooms come up and go down.
//!
//! `serve` reads as that order: identify the node, start the arbiters, the controller (the
//! local metadata log or the quorum), the replica manager, the metadata publisher and the
//! HTTP thread (live, not ready); register and recover every partition; create the internal
//! topics; start and load the coordinators; start the log cleaner and whatever was handed in
//! to start with the broker (the extension room's user actors); bind the Kafka listener and
//! log one ready line. Down (SIGTERM / Ctrl-C): controlled shutdown in a cluster, stop
//! accepting, let connections finish their in-flight requests, close every log cleanly, exit 0.
//! The steps are in `startup.rs`, the data dir's lock and identity in `data_dir.rs`.

pub mod args;
mod coordinator_elections;
mod data_dir;
mod metadata_publisher;
mod startup;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use anyhow::Context as _;
use tokio::sync::watch;

use crate::actors::group_coordinator::view::GroupsView;
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::system_timer::SystemTimer;
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::events::EventBus;
use crate::metadata::cache::MetadataCache;
use crate::metadata::MetadataImage;
use crate::network::endpoints::ListenerEndpoint;
use crate::quota::QuotaManagers;
use crate::runtime::supervision::SupervisorState;
use coordinator_elections::CoordinatorElections;
use startup::{Arbiters, CoordinatorDeps, NodeIdentity, Running};

/// Everything `troupe serve` was told.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// The inter-broker listener's bind address (what `--listen` sets for a one-listener node).
    pub listen: SocketAddr,
    /// The inter-broker listener's advertised host:port, registered with the controller.
    pub advertised: String,
    /// Every Kafka listener of this node (`listeners`, or one PLAINTEXT from `--listen`).
    pub listeners: Vec<ListenerEndpoint>,
    /// `inter.broker.listener.name` (the first listener when unset).
    pub inter_broker_listener: String,
    pub http: SocketAddr,
    pub node_id: i32,
    pub config: BrokerConfig,
    /// Present when this node is part of a cluster (a controller quorum is configured).
    pub cluster: Option<ClusterOptions>,
    /// `--add-scram` credentials: written when the metadata log is new, else ignored.
    pub bootstrap_scram: Vec<crate::security::ScramBootstrap>,
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

/// What code started with the broker (the extension room's user actors) is handed once the
/// broker is wired, before it serves.
pub struct Wired<'a> {
    pub broker: &'a Arc<BrokerContext>,
    pub events: &'a EventBus,
    pub health: &'a Arc<SupervisorState>,
    pub arbiters: &'a [ArbiterHandle],
}

/// Started once the broker is wired and before it serves; what it returns (actor addresses,
/// for instance) is kept until the broker stops.
pub type StartHook = Box<dyn FnOnce(&Wired) -> Box<dyn std::any::Any> + Send>;

/// Runs the broker until a shutdown signal; returns when everything is closed.
pub fn run(opts: ServeOptions) -> anyhow::Result<()> {
    run_with_hooks(opts, Vec::new())
}

/// Runs the broker with `hooks` (the extension room's builder passes its user actors here).
pub fn run_with_hooks(opts: ServeOptions, hooks: Vec<StartHook>) -> anyhow::Result<()> {
    data_dir::raise_fd_limit();
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let _lock = data_dir::lock_data_dir(&opts.data_dir)?;
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
    system.block_on(async move { serve(opts, prometheus, hooks).await })?;
    Ok(())
}

async fn serve(
    opts: ServeOptions,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    hooks: Vec<StartHook>,
) -> anyhow::Result<()> {
    let identity = NodeIdentity::of(&opts)?;
    let listener_security = startup::listener_security(&opts)?;
    let inter_broker = startup::inter_broker_security(&opts)?;
    let authorizer = startup::authorizer(&opts.config)?;
    let arbiters = Arbiters::start(&opts.config);
    let events = EventBus::default();
    let health = Arc::new(SupervisorState::default());
    let cache = Arc::new(MetadataCache::new(MetadataImage {
        cluster_id: identity.cluster_id.clone(),
        controller_id: -1,
        ..Default::default()
    }));
    let mut control = startup::start_controller(&opts, &identity, &inter_broker).await?;
    let lease = startup::broker_lease(&opts, &control);
    let replicas = startup::start_replica_manager(
        &opts,
        &inter_broker,
        &control,
        &lease,
        &events,
        &health,
        &arbiters,
    );
    let timer = SystemTimer::default().start();
    let elections = Arc::new(CoordinatorElections::new(
        opts.node_id,
        &[OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC],
    ));
    let first_image =
        startup::start_metadata_publisher(&mut control, &cache, &replicas, &elections, &events);
    let groups_view = Arc::new(GroupsView::default());
    let http_addr = crate::http::spawn(
        opts.http,
        crate::http::HttpState {
            node_id: opts.node_id,
            health: health.clone(),
            replicas: replicas.clone(),
            metadata: cache.clone(),
            groups: groups_view.clone(),
            controller: control.active_controller.clone(),
            clustered: control.clustered(),
            listeners: listener_security.iter().map(|l| l.status.clone()).collect(),
            prometheus,
        },
    )
    .with_context(|| format!("binding HTTP on {}", opts.http))?;
    startup::join_cluster(
        &opts,
        &identity,
        &control,
        &lease,
        &replicas,
        &cache,
        first_image,
    )
    .await?;
    health.mark_started();

    let internal = startup::ensure_internal_topics(&control, &cache, &opts.config).await?;
    let coordinators = startup::start_coordinators(
        CoordinatorDeps {
            opts: &opts,
            arbiters: &arbiters,
            control: &control,
            replicas: &replicas,
            cache: &cache,
            timer: &timer,
            groups_view: &groups_view,
            events: &events,
            internal: &internal,
            inter_broker: &inter_broker,
        },
        &elections,
    )
    .await;
    let _log_cleaner = startup::start_log_cleaner(&replicas, &opts.config);
    let broker = Arc::new(BrokerContext {
        node_id: opts.node_id,
        advertised_host: identity.advertised_host,
        advertised_port: identity.advertised_port,
        config: opts.config.clone(),
        metadata: cache.clone(),
        replicas: replicas.clone(),
        lease,
        controller: control.controller.clone(),
        timer,
        health: health.clone(),
        active_connections: Default::default(),
        group_coordinators: coordinators.groups,
        offsets_partitions: internal.offsets_partitions,
        txn_coordinators: coordinators.txns,
        txn_partitions: internal.txn_partitions,
        markers: coordinators.markers,
        authorizer,
        quotas: Arc::new(QuotaManagers::new(
            opts.config.get_i64("quota.window.size.seconds"),
            opts.config.get_i64("quota.window.num"),
        )),
        authorization_denials: Default::default(),
    });
    let wired = Wired {
        broker: &broker,
        events: &events,
        health: &health,
        arbiters: &arbiters.handles,
    };
    let _started_with_broker: Vec<Box<dyn std::any::Any>> =
        hooks.into_iter().map(|hook| hook(&wired)).collect();

    let (stop_accepting, accepting) = watch::channel(false);
    let bound =
        startup::start_listeners(&opts, &listener_security, &arbiters, &broker, accepting).await?;
    startup::reload_certificates_on_sighup(&listener_security);
    health.set_serving(true);
    for (endpoint, addr) in opts.listeners.iter().zip(&bound) {
        tracing::info!(listener = %endpoint.name, protocol = endpoint.protocol.name(),
            bound = %addr, advertised = %endpoint.advertised(), "Kafka listener serving");
    }
    let kafka_addr = bound[0];
    tracing::info!(
        kafka = %kafka_addr, advertised = %opts.advertised, http = %http_addr, node_id = opts.node_id,
        arbiters = arbiters.count(), data_dir = %opts.data_dir.display(), "troupe ready"
    );

    startup::wait_for_shutdown_signal().await;
    startup::shut_down(Running {
        opts,
        arbiters,
        control,
        replicas,
        broker,
        health,
        stop_accepting,
    })
    .await;
    Ok(())
}
