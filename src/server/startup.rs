//! The start-up steps of one broker, in the order `serve` takes them, and the shutdown that
//! undoes them. Each step is a function named for what it brings up; what later steps need
//! it returns, so the order is the data flow and nothing is filled in after construction.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot, watch};

use super::coordinator_elections::{CoordinatorElections, Shards};
use super::metadata_publisher::MetadataPublisher;
use super::{data_dir, ServeOptions};
use crate::actors::controller::{
    BootstrapScramCredentials, BrokerHeartbeat, ControlledShutdown, Controller, ControllerRequest,
    ControllerResponse, CreateTopics, ExecuteLocal, ForwardTarget, Forwarded, NewTopic,
    RegisterBroker,
};
use crate::actors::group_coordinator::coordinator::GroupCoordinator;
use crate::actors::group_coordinator::view::GroupsView;
use crate::actors::group_coordinator::OFFSETS_TOPIC;
use crate::actors::log_cleaner::{CleanerSettings, LogCleaner};
use crate::actors::partition_replica::lease::BrokerLease;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::partition_replica::ReplicaContext;
use crate::actors::replica_fetcher::{FetchSettings, ReplicaFetcherManager};
use crate::actors::system_timer::SystemTimer;
use crate::actors::txn_coordinator::coordinator::{TxnCoordinator, TxnCoordinatorSetup};
use crate::actors::txn_coordinator::marker_channel::{ChannelSettings, MarkerChannelManager};
use crate::actors::txn_coordinator::markers::{MarkerWriter, MarkerWriterSetup};
use crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC;
use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::events::EventBus;
use crate::metadata::authorizer_cache::{is_standard_authorizer, AuthorizerCache};
use crate::metadata::cache::MetadataCache;
use crate::metadata::UserScramCredentialRecord;
use crate::metadata::{BrokerEndpoint, BrokerInfo, MetadataImage, MetadataLog};
use crate::network::connection_quotas::{ConnectionLimits, ConnectionQuotas};
use crate::network::listener::{Listener, ListenerSecurity};
use crate::quorum::{MetadataUpdate, Quorum, QuorumConfig, QuorumTls};
use crate::runtime::supervision::SupervisorState;
use crate::security::authorizer::AuthorizerConfig;
use crate::security::tls::{build_peer_server_config, TlsSettings};
use crate::security::ClientSecurity;

/// Who this node is: its cluster and the address clients are told.
pub struct NodeIdentity {
    pub cluster_id: String,
    pub advertised_host: String,
    pub advertised_port: i32,
}

impl NodeIdentity {
    /// A single broker keeps its cluster id in `meta.properties`; a cluster's nodes derive
    /// the same one from the voter set.
    pub fn of(opts: &ServeOptions) -> anyhow::Result<NodeIdentity> {
        let (advertised_host, advertised_port) = split_host_port(&opts.advertised)?;
        let cluster_id = match &opts.cluster {
            None => data_dir::load_or_create_cluster_id(&opts.data_dir, opts.node_id)?,
            Some(c) => data_dir::cluster_id_of_voters(&c.voters),
        };
        Ok(NodeIdentity {
            cluster_id,
            advertised_host,
            advertised_port,
        })
    }
}

/// The actor arbiters (`num.arbiters`; 0 = one per core): partitions, connections and
/// coordinator shards are spread over them.
pub struct Arbiters {
    arbiters: Vec<Arbiter>,
    pub handles: Vec<ArbiterHandle>,
}

impl Arbiters {
    pub fn start(config: &BrokerConfig) -> Arbiters {
        let count = match config.get_i64("num.arbiters") {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n as usize,
        };
        let arbiters: Vec<Arbiter> = (0..count).map(|_| Arbiter::new()).collect();
        let handles = arbiters.iter().map(|a| a.handle()).collect();
        Arbiters { arbiters, handles }
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    fn stop(self) {
        for a in self.arbiters {
            a.stop();
        }
    }
}

/// The controller side of this node: the `Controller` actor, the ordered metadata updates it
/// (or the quorum) commits, which node is the active controller, and the quorum in a cluster.
pub struct ControlPlane {
    pub controller: Addr<Controller>,
    /// Taken once by the metadata publisher.
    updates: Option<mpsc::UnboundedReceiver<MetadataUpdate>>,
    pub active_controller: watch::Receiver<Option<i32>>,
    pub quorum: Option<Quorum>,
    /// Where the metadata publisher reports the index it applied; controller callers wait on
    /// the receiving side.
    applied: Option<watch::Sender<u64>>,
    /// A single broker is always its own active controller: the sender of that watch lives as
    /// long as the node.
    _fixed_controller: Option<watch::Sender<Option<i32>>>,
}

impl ControlPlane {
    pub fn clustered(&self) -> bool {
        self.quorum.is_some()
    }
}

/// Starts the `Controller`: on a single broker over the metadata log replayed from disk, in
/// a cluster over the openraft quorum (which this node joins as a voter or an observer).
pub async fn start_controller(
    opts: &ServeOptions,
    identity: &NodeIdentity,
    inter_broker: &InterBrokerSecurity,
) -> anyhow::Result<ControlPlane> {
    let (applied_tx, applied_rx) = watch::channel(0u64);
    let Some(c) = &opts.cluster else {
        let (metadata_log, records) = MetadataLog::open(&opts.data_dir.join("__cluster_metadata"))?;
        let fresh = records.is_empty();
        let mut image = MetadataImage {
            cluster_id: identity.cluster_id.clone(),
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
        let (updates_tx, updates_rx) = mpsc::unbounded_channel();
        let _ = updates_tx.send(MetadataUpdate {
            index: image.version,
            records: Vec::new(),
            image: Arc::new(image.clone()),
        });
        let controller = Controller::local(
            image,
            metadata_log,
            updates_tx,
            applied_rx,
            opts.config.clone(),
        )
        .start();
        if fresh && !opts.bootstrap_scram.is_empty() {
            // Directly on the local controller: the publisher that `Call` waits on starts later.
            let request = ControllerRequest::BootstrapScramCredentials {
                records: scram_records(opts),
            };
            match controller.send(ExecuteLocal(request)).await?.response {
                ControllerResponse::Done(Ok(())) => {}
                ControllerResponse::Done(Err(e)) => {
                    return Err(anyhow::Error::new(e).context("writing the --add-scram credentials"))
                }
                other => anyhow::bail!("unexpected controller answer {other:?}"),
            }
            tracing::info!(
                users = ?scram_users(opts),
                "--add-scram credentials written to the new metadata log"
            );
        } else if !opts.bootstrap_scram.is_empty() {
            ignore_add_scram(opts);
        }
        let (fixed_tx, fixed_rx) = watch::channel(Some(opts.node_id));
        return Ok(ControlPlane {
            controller,
            updates: Some(updates_rx),
            active_controller: fixed_rx,
            quorum: None,
            applied: Some(applied_tx),
            _fixed_controller: Some(fixed_tx),
        });
    };
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
            tls: inter_broker.quorum_tls.clone(),
        },
        Arc::new(Forwarded(target.clone())),
    )
    .await
    .context("starting the controller quorum")?;
    let controller = Controller::clustered(quorum.clone(), applied_rx, opts.config.clone()).start();
    *target.lock() = Some(controller.clone());
    if !opts.bootstrap_scram.is_empty() {
        if quorum.was_pristine() {
            bootstrap_scram_in_cluster(controller.clone(), scram_records(opts), scram_users(opts));
        } else {
            ignore_add_scram(opts);
        }
    }
    if !c.is_voter {
        let q = quorum.clone();
        actix::spawn(async move {
            if let Err(e) = q.join_as_observer().await {
                tracing::error!(error = %e, "cannot join the controller quorum as an observer");
            }
        });
    }
    Ok(ControlPlane {
        controller,
        updates: Some(quorum.subscribe()),
        active_controller: quorum.leader_watch(),
        quorum: Some(quorum),
        applied: Some(applied_tx),
        _fixed_controller: None,
    })
}

/// The `--add-scram` credentials as records.
fn scram_records(opts: &ServeOptions) -> Vec<UserScramCredentialRecord> {
    opts.bootstrap_scram
        .iter()
        .map(|b| UserScramCredentialRecord::of(&b.user, &b.credential))
        .collect()
}

/// (user, mechanism) of each `--add-scram` credential, for logs.
fn scram_users(opts: &ServeOptions) -> Vec<(String, &'static str)> {
    opts.bootstrap_scram
        .iter()
        .map(|b| (b.user.clone(), b.credential.mechanism().name()))
        .collect()
}

fn ignore_add_scram(opts: &ServeOptions) {
    tracing::info!(
        users = ?scram_users(opts),
        "--add-scram ignored: the metadata log is not new"
    );
}

/// A voter of a new cluster: its `--add-scram` credentials go to whichever controller is
/// active once there is one (retried until it answers; credentials another voter already
/// wrote are skipped by the controller).
fn bootstrap_scram_in_cluster(
    controller: Addr<Controller>,
    records: Vec<UserScramCredentialRecord>,
    users: Vec<(String, &'static str)>,
) {
    actix::spawn(async move {
        loop {
            let call = BootstrapScramCredentials {
                records: records.clone(),
            };
            match controller.send(call).await {
                Ok(Ok(())) => {
                    tracing::info!(users = ?users, "--add-scram credentials written at the cluster's bootstrap");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "--add-scram credentials not written yet; retrying")
                }
                Err(_) => return,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// Whether this broker may act as a partition leader (`partition_replica/lease.rs`): a single
/// broker always; a cluster node for `broker.session.timeout.ms` after each heartbeat (or
/// registration) the active controller accepted was sent, so not until it has registered.
/// In a cluster its expiry timer starts here, for the life of the node.
pub fn broker_lease(opts: &ServeOptions, control: &ControlPlane) -> Arc<BrokerLease> {
    if !control.clustered() {
        return Arc::new(BrokerLease::unbounded());
    }
    let session = Duration::from_millis(opts.config.get_i64("broker.session.timeout.ms") as u64);
    let lease = Arc::new(BrokerLease::session(session));
    let timer = lease.clone();
    actix::spawn(async move { timer.watch_expiry().await });
    lease
}

/// The registry of this node's partition replicas and the fetchers that follow other
/// leaders. Nothing is opened yet: the metadata publisher's first reconcile does that.
pub fn start_replica_manager(
    opts: &ServeOptions,
    inter_broker: &InterBrokerSecurity,
    control: &ControlPlane,
    lease: &Arc<BrokerLease>,
    events: &EventBus,
    health: &Arc<SupervisorState>,
    arbiters: &Arbiters,
) -> Arc<ReplicaManager> {
    let replica_context = Arc::new(ReplicaContext {
        node_id: opts.node_id,
        controller: Some(control.controller.clone()),
        replica_lag_time_max_ms: opts.config.get_i64("replica.lag.time.max.ms"),
        events: events.clone(),
        lease: lease.clone(),
    });
    let fetchers = ReplicaFetcherManager::new(
        FetchSettings::from_config(opts.node_id, &opts.config, inter_broker.client.clone()),
        peer_addresses(&opts.config),
    );
    Arc::new(ReplicaManager::new(
        replica_context,
        opts.data_dir.clone(),
        arbiters.handles.clone(),
        health.clone(),
        opts.config.clone(),
        Some(fetchers),
    ))
}

/// Starts the task that applies committed metadata here, in order. The returned receiver
/// fires once the first update (the image as of startup) is applied.
pub fn start_metadata_publisher(
    control: &mut ControlPlane,
    cache: &Arc<MetadataCache>,
    replicas: &Arc<ReplicaManager>,
    elections: &Arc<CoordinatorElections>,
    events: &EventBus,
) -> oneshot::Receiver<()> {
    let (first_tx, first_rx) = oneshot::channel();
    let updates = control
        .updates
        .take()
        .expect("the metadata publisher starts once");
    let applied = control
        .applied
        .take()
        .expect("the metadata publisher starts once");
    actix::spawn(
        MetadataPublisher {
            cache: cache.clone(),
            replicas: replicas.clone(),
            elections: elections.clone(),
            applied,
            controller: control.active_controller.clone(),
            events: events.clone(),
        }
        .run(updates, first_tx),
    );
    first_rx
}

/// Registers with the active controller, waits until every partition assigned here is open
/// (recovery), then keeps the high-watermark checkpoint and, in a cluster, the heartbeats
/// going; each accepted registration or heartbeat renews the broker's lease. A single broker
/// removes partition directories its metadata no longer names.
pub async fn join_cluster(
    opts: &ServeOptions,
    identity: &NodeIdentity,
    control: &ControlPlane,
    lease: &Arc<BrokerLease>,
    replicas: &Arc<ReplicaManager>,
    cache: &MetadataCache,
    first_image: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    register_broker(
        &control.controller,
        lease,
        BrokerInfo {
            id: opts.node_id,
            host: identity.advertised_host.clone(),
            port: identity.advertised_port,
            rack: None,
            endpoints: opts
                .listeners
                .iter()
                .map(|l| BrokerEndpoint {
                    listener: l.name.clone(),
                    host: l.advertised_host.clone(),
                    port: l.advertised_port,
                })
                .collect(),
        },
        control.clustered(),
    )
    .await?;
    let _ = first_image.await;
    tracing::info!(
        partitions = replicas.partition_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "partitions recovered"
    );
    let checkpointed = replicas.clone();
    actix::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            checkpointed.checkpoint_high_watermarks().await;
        }
    });
    if control.clustered() {
        spawn_heartbeats(
            control.controller.clone(),
            lease.clone(),
            opts.node_id,
            &opts.config,
        );
    } else {
        replicas.remove_orphan_dirs(&cache.current());
    }
    Ok(())
}

/// The partition counts of the coordinators' internal topics, which fix every group's and
/// transactional id's coordinator partition.
pub struct InternalTopics {
    pub offsets_partitions: i32,
    pub txn_partitions: i32,
}

/// Creates `__consumer_offsets` and `__transaction_state` if they do not exist.
pub async fn ensure_internal_topics(
    control: &ControlPlane,
    cache: &MetadataCache,
    config: &BrokerConfig,
) -> anyhow::Result<InternalTopics> {
    let offsets_partitions = ensure_internal_topic(
        control,
        cache,
        InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: "offsets.topic.num.partitions",
            replication_factor: "offsets.topic.replication.factor",
            segment_bytes: "offsets.topic.segment.bytes",
        },
        config,
    )
    .await?;
    let txn_partitions = ensure_internal_topic(
        control,
        cache,
        InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: "transaction.state.log.num.partitions",
            replication_factor: "transaction.state.log.replication.factor",
            segment_bytes: "transaction.state.log.segment.bytes",
        },
        config,
    )
    .await?;
    Ok(InternalTopics {
        offsets_partitions,
        txn_partitions,
    })
}

/// The coordinator shards, one group and one transaction coordinator per arbiter, and the
/// marker writer they share with the WriteTxnMarkers handler.
pub struct Coordinators {
    pub groups: Vec<Addr<GroupCoordinator>>,
    pub txns: Vec<Addr<TxnCoordinator>>,
    pub markers: MarkerWriter,
}

/// What the coordinator shards are built from.
pub struct CoordinatorDeps<'a> {
    pub opts: &'a ServeOptions,
    pub arbiters: &'a Arbiters,
    pub control: &'a ControlPlane,
    pub replicas: &'a Arc<ReplicaManager>,
    pub cache: &'a Arc<MetadataCache>,
    pub timer: &'a Addr<SystemTimer>,
    pub groups_view: &'a Arc<GroupsView>,
    pub events: &'a EventBus,
    pub internal: &'a InternalTopics,
    pub inter_broker: &'a InterBrokerSecurity,
}

/// Starts the group coordinator shards, then the transaction coordinator shards (markers for
/// `__consumer_offsets` partitions tell the groups' shards, and replaying
/// `__transaction_state` may resend markers at once), registers them with the elections and
/// waits until what this node already leads is loaded (on one broker: every partition).
pub async fn start_coordinators(
    deps: CoordinatorDeps<'_>,
    elections: &CoordinatorElections,
) -> Coordinators {
    let CoordinatorDeps {
        opts,
        arbiters,
        control,
        replicas,
        cache,
        timer,
        groups_view,
        events,
        internal,
        inter_broker,
    } = deps;
    let started = Instant::now();
    let group_config = crate::actors::group_coordinator::group_config(&opts.config);
    let retention = crate::actors::group_coordinator::offsets_retention(&opts.config);
    let millis = |name: &str| Duration::from_millis(opts.config.get_i64(name).max(1) as u64);
    let offsets_write_timeout = millis("offsets.commit.timeout.ms");
    let offsets_partitions = internal.offsets_partitions;
    let groups = arbiters
        .handles
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
    let request_timeout = millis("request.timeout.ms");
    let marker_channels = MarkerChannelManager::new(
        ChannelSettings {
            client_id: format!("troupe-txn-markers-{}", opts.node_id),
            connect_timeout: request_timeout.min(Duration::from_secs(10)),
            request_timeout: request_timeout + Duration::from_secs(5),
            security: inter_broker.client.clone(),
        },
        peer_addresses(&opts.config),
    );
    let markers = MarkerWriter::new(MarkerWriterSetup {
        node_id: opts.node_id,
        replicas: replicas.clone(),
        metadata: cache.clone(),
        group_coordinators: groups.clone(),
        wheel: timer.clone(),
        write_timeout: request_timeout,
        channels: Arc::new(marker_channels),
    });
    let txn_config = crate::actors::txn_coordinator::txn_config(&opts.config);
    let abort_check_interval =
        millis("transaction.abort.timed.out.transaction.cleanup.interval.ms");
    let expiry_check_interval =
        millis("transaction.remove.expired.transaction.cleanup.interval.ms");
    let txns = arbiters
        .handles
        .iter()
        .enumerate()
        .map(|(shard, arbiter)| {
            let setup = TxnCoordinatorSetup {
                config: txn_config,
                abort_check_interval,
                expiry_check_interval,
                write_timeout: request_timeout,
                replicas: replicas.clone(),
                controller: control.controller.clone(),
                wheel: timer.clone(),
                markers: markers.clone(),
                shard,
                txn_partitions: internal.txn_partitions,
                offsets_partitions,
            };
            TxnCoordinator::start_in_arbiter(arbiter, move |_| TxnCoordinator::new(setup))
        })
        .collect::<Vec<_>>();
    // The shards coordinate what this node leads: from now on elections and resignations
    // reach them as they are applied; what it already leads loads now. Serving waits for those
    // loads (on one broker: every partition), as it waited for the full replay before.
    let mut loads = elections.register(OFFSETS_TOPIC, Shards::of(&groups));
    loads.extend(elections.register(TRANSACTION_STATE_TOPIC, Shards::of(&txns)));
    let loading = loads.len();
    futures::future::join_all(loads).await;
    tracing::info!(
        partitions = loading,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "coordinator partitions loaded"
    );
    Coordinators {
        groups,
        txns,
        markers,
    }
}

/// Compaction runs beside the partitions, never on their threads: the cleaner's rewrites go
/// to blocking threads and only the swap happens on a partition's actor.
pub fn start_log_cleaner(
    replicas: &Arc<ReplicaManager>,
    config: &BrokerConfig,
) -> Addr<LogCleaner> {
    LogCleaner::new(replicas.clone(), CleanerSettings::from_config(config)).start()
}

/// The ACL authorizer `authorizer.class.name` asks for (`None`: no authorizer, everything
/// allowed). Any other class name is refused rather than silently ignored.
pub fn authorizer(config: &BrokerConfig) -> anyhow::Result<Option<Arc<AuthorizerCache>>> {
    let class = config.get("authorizer.class.name");
    if class.trim().is_empty() {
        return Ok(None);
    }
    if !is_standard_authorizer(class) {
        anyhow::bail!(
            "authorizer.class.name {class} is not served; use org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        );
    }
    let settings = AuthorizerConfig::from_properties(
        Some(config.get("super.users")),
        Some(config.get("allow.everyone.if.no.acl.found")),
    )
    .map_err(|e| anyhow::anyhow!("super.users / allow.everyone.if.no.acl.found: {e}"))?;
    Ok(Some(Arc::new(AuthorizerCache::new(settings))))
}

/// How this node's own connections to other brokers are secured: replica fetchers and marker
/// channels (`client`), and the controller quorum's RPC (`quorum_tls`).
pub struct InterBrokerSecurity {
    pub client: ClientSecurity,
    /// Mutual TLS of the quorum RPC when the inter-broker listener uses SSL or SASL_SSL.
    pub quorum_tls: Option<QuorumTls>,
}

/// The inter-broker listener's security as this node's client side, as Kafka derives it (see
/// `ClientSecurity::inter_broker`): checked at startup, so a missing truststore, Kafka's
/// default GSSAPI or a JAAS config without `username`/`password` stops the node with an error
/// naming the property (never a password). A single node has no peers: plaintext, unchecked.
pub fn inter_broker_security(opts: &ServeOptions) -> anyhow::Result<InterBrokerSecurity> {
    if opts.cluster.is_none() {
        return Ok(InterBrokerSecurity {
            client: ClientSecurity::plaintext(),
            quorum_tls: None,
        });
    }
    let listener = opts
        .listeners
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(&opts.inter_broker_listener))
        .with_context(|| {
            format!(
                "inter-broker listener {} is not among the listeners",
                opts.inter_broker_listener
            )
        })?;
    let name = listener.name.as_str();
    let lookup = |property: &str| {
        let value = opts.config.listener_value(name, property);
        (!value.is_empty()).then(|| value.to_string())
    };
    let client = ClientSecurity::inter_broker(name, listener.protocol, lookup, |mechanism| {
        opts.config.jaas_config(name, mechanism).to_string()
    })
    .map_err(|e| anyhow::anyhow!("inter-broker security: {e}"))?;
    let quorum_tls = match client.tls() {
        None => None,
        Some(client_tls) => {
            let server = TlsSettings::from_lookup(lookup)
                .and_then(|settings| build_peer_server_config(&settings))
                .map_err(|e| anyhow::anyhow!("listener {name}: quorum RPC TLS: {e}"))?;
            Some(QuorumTls {
                server,
                client: client_tls.clone(),
            })
        }
    };
    tracing::info!(
        listener = name,
        protocol = listener.protocol.name(),
        sasl_mechanism = client.sasl().map(|s| s.mechanism().name()),
        sasl_username = client.sasl().map(|s| s.username()),
        quorum_tls = quorum_tls.is_some(),
        "inter-broker connections secured as the inter-broker listener"
    );
    Ok(InterBrokerSecurity { client, quorum_tls })
}

/// Each listener's security (TLS stores read, SASL users parsed), before anything is bound:
/// a broken keystore or JAAS line stops the node at startup, naming the listener.
pub fn listener_security(opts: &ServeOptions) -> anyhow::Result<Vec<Arc<ListenerSecurity>>> {
    opts.listeners
        .iter()
        .map(|l| {
            ListenerSecurity::from_config(l, &opts.config)
                .map(Arc::new)
                .map_err(anyhow::Error::msg)
        })
        .collect()
}

/// The Kafka listeners: each binds, then accepts connections onto the arbiters until
/// `shutdown`; TLS listeners start watching their certificate files. Returns the bound
/// addresses in `opts.listeners` order.
pub async fn start_listeners(
    opts: &ServeOptions,
    security: &[Arc<ListenerSecurity>],
    arbiters: &Arbiters,
    broker: &Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Vec<SocketAddr>> {
    let names: Vec<&str> = opts.listeners.iter().map(|l| l.name.as_str()).collect();
    let limits = ConnectionLimits::from_config(&opts.config, &names, &opts.inter_broker_listener)
        .map_err(anyhow::Error::msg)?;
    let quotas = Arc::new(ConnectionQuotas::new(limits));
    let mut bound = Vec::new();
    for (endpoint, security) in opts.listeners.iter().zip(security) {
        let listener = tokio::net::TcpListener::bind(endpoint.bind)
            .await
            .with_context(|| {
                format!(
                    "binding Kafka listener {} on {}",
                    endpoint.name, endpoint.bind
                )
            })?;
        let address = listener.local_addr()?;
        security.status.bound(address);
        bound.push(address);
        if let Some(tls) = &security.tls {
            tls.watch_files();
        }
        Listener::new(
            listener,
            arbiters.handles.clone(),
            broker.clone(),
            shutdown.clone(),
            security.clone(),
            quotas.clone(),
        )
        .start();
    }
    Ok(bound)
}

/// SIGHUP re-reads every TLS listener's certificate files (they are also polled).
pub fn reload_certificates_on_sighup(security: &[Arc<ListenerSecurity>]) {
    use tokio::signal::unix::{signal, SignalKind};
    let tls: Vec<_> = security.iter().filter_map(|s| s.tls.clone()).collect();
    if tls.is_empty() {
        return;
    }
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        return;
    };
    actix::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-reading TLS certificate files");
            for listener in &tls {
                listener.reload();
            }
        }
    });
}

/// What shutting down needs to reach.
pub struct Running {
    pub opts: ServeOptions,
    pub arbiters: Arbiters,
    pub control: ControlPlane,
    pub replicas: Arc<ReplicaManager>,
    pub broker: Arc<BrokerContext>,
    pub health: Arc<SupervisorState>,
    pub stop_accepting: watch::Sender<bool>,
}

/// Down, in order: move leadership away (controlled shutdown, in a cluster), stop accepting,
/// let connections finish their in-flight requests (at most 10 s), close every log cleanly,
/// leave the quorum, stop the arbiters and the system.
pub async fn shut_down(running: Running) {
    let (opts, control) = (&running.opts, &running.control);
    if control.clustered() && opts.config.get_bool("controlled.shutdown.enable") {
        tracing::info!("shutdown requested: moving leadership away (controlled shutdown)");
        let moved = tokio::time::timeout(
            Duration::from_secs(15),
            control.controller.send(ControlledShutdown(opts.node_id)),
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
    running.health.set_serving(false);
    let _ = running.stop_accepting.send(true);
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while running.broker.active_connections.load(Ordering::SeqCst) > 0
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.replicas.close_all().await;
    if let Some(q) = &control.quorum {
        q.shutdown().await;
    }
    tracing::info!("all partitions closed; bye");
    running.arbiters.stop();
    System::current().stop();
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
    control: &ControlPlane,
    cache: &MetadataCache,
    topic: InternalTopic,
    config: &BrokerConfig,
) -> anyhow::Result<i32> {
    let (controller, clustered) = (&control.controller, control.clustered());
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
    lease: &BrokerLease,
    info: BrokerInfo,
    clustered: bool,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let sent_at = Instant::now();
        match controller.send(RegisterBroker(info.clone())).await? {
            Ok(()) => {
                lease.renew(sent_at);
                return Ok(());
            }
            Err(e) if clustered && std::time::Instant::now() < deadline => {
                tracing::info!(reason = %e, "waiting for an active controller to register with");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("registering broker: {e}")),
        }
    }
}

/// Heartbeats to the active controller every `broker.heartbeat.interval.ms`; a controller that
/// no longer knows this broker gets it registered again by the next heartbeat's answer. Each
/// accepted heartbeat renews the lease from when it was sent (the controller confirmed it
/// still leads a quorum before accepting it). One that has not been answered within a session
/// is given up: its answer could no longer extend the lease, and the next one goes out.
fn spawn_heartbeats(
    controller: Addr<Controller>,
    lease: Arc<BrokerLease>,
    node_id: i32,
    config: &BrokerConfig,
) {
    let interval = Duration::from_millis(config.get_i64("broker.heartbeat.interval.ms") as u64);
    let session = Duration::from_millis(config.get_i64("broker.session.timeout.ms") as u64);
    // Each heartbeat runs on its own: one sent to a controller that has just been paused or
    // cut off hangs until the session ends, and the next ones must meanwhile reach whichever
    // node the quorum elects instead, or that new controller fences every broker whose
    // heartbeat is stuck behind it (the nemesis harness saw all partitions go leaderless that
    // way). At most session / interval of them are ever outstanding; the lease keeps the
    // latest send time any of them proves, so a late answer never shortens it.
    actix::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if !controller.connected() {
                return;
            }
            let sent_at = Instant::now();
            let answer = controller.send(BrokerHeartbeat(node_id));
            let lease = lease.clone();
            actix::spawn(async move {
                match tokio::time::timeout(session, answer).await {
                    Ok(Ok(Ok(()))) => lease.renew(sent_at),
                    Ok(Ok(Err(e))) => tracing::debug!(reason = %e, "heartbeat not accepted"),
                    Ok(Err(_)) => {}
                    Err(_) => tracing::debug!("heartbeat not answered within the session"),
                }
            });
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

pub async fn wait_for_shutdown_signal() {
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
