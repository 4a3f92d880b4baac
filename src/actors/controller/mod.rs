//! `Controller`: the only writer of cluster metadata.
//!
//! Every node runs one. Exactly one is *active*: on a single broker its own (the metadata log is
//! a local file, `MetadataLog`); in a cluster the one on the Raft leader of the controller
//! quorum (`crate::quorum`). A request (`ControllerRequest`: topics, partitions, configs,
//! broker registration and heartbeats, ISR changes, elections, producer id blocks) is decided by
//! the active controller against its current image (`changes.rs`, pure), committed, and answered
//! with the metadata index holding the change. Other nodes forward requests to it through the
//! quorum. The caller's node waits until its own `metadata_publisher` has applied that index, so
//! a created topic is writable on this node as soon as CreateTopics returns here.
//!
//! One change runs at a time on the active controller (`ExecuteLocal` is atomic), which keeps
//! decisions consistent with the image they were made on. While active it also keeps broker
//! heartbeat times (fencing brokers silent past `broker.session.timeout.ms`) and moves
//! leadership back to preferred replicas (`auto.leader.rebalance.enable`).
//!
//! It may not touch partitions or logs: what it commits reaches them through the publisher.

pub mod changes;
pub mod election;
pub mod placement;
pub mod quotas;
pub mod requests;
pub mod security;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metadata::{
    BrokerInfo, MetadataImage, MetadataLog, MetadataRecord, PartitionMeta, TopicMeta,
};
use crate::quorum::{MetadataUpdate, Quorum, QuorumError};
use changes::{Plan, Planner};
pub use requests::{
    AclDeletions, ControllerReply, ControllerRequest, ControllerResponse, ElectionType,
    ForwardTarget, Forwarded, NewTopic, Reassignment, ScramUpsertion, UserResults,
};

/// Producer ids are reserved from the metadata log in blocks, so ids are never reused after a
/// restart or a controller failover while most allocations cost no write.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// How long a forwarded request may take, quorum commit included.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a caller waits for its own node to apply a committed change.
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// How often the active controller checks heartbeats and leader balance.
const TICK: Duration = Duration::from_millis(250);

/// A gap between ticks past which the controller counts itself as having been too busy to read
/// heartbeats (four ticks missed).
const STALL: Duration = Duration::from_millis(1_000);

/// Where committed metadata goes.
enum Backend {
    /// One broker: a local file, applied here and handed to this node's publisher.
    Local {
        log: Arc<Mutex<MetadataLog>>,
        image: Box<MetadataImage>,
        updates: mpsc::UnboundedSender<MetadataUpdate>,
    },
    /// A cluster: the Raft quorum; every node's publisher subscribes to it.
    Quorum(Quorum),
}

pub struct Controller {
    backend: Backend,
    config: BrokerConfig,
    /// The metadata index this node's publisher has applied.
    applied: watch::Receiver<u64>,
    /// Whether this node was the active controller at the last tick.
    active: bool,
    next_producer_id: i64,
    producer_id_block_end: i64,
    /// Last heartbeat per broker (only meaningful while active).
    heartbeats: HashMap<i32, Instant>,
    /// Brokers in controlled shutdown: their heartbeats do not unfence them.
    shutting_down: BTreeSet<i32>,
    last_preferred_check: Instant,
    /// When the last tick ran: a tick far later than `TICK` means this actor was busy (a
    /// quorum write or leadership check waiting out a leader change), with heartbeats waiting
    /// unread in its mailbox.
    last_tick: Instant,
}

impl Controller {
    /// A single broker's controller over its local metadata log. `image` is the replayed log;
    /// committed changes are applied to it and sent to `updates`.
    pub fn local(
        image: MetadataImage,
        log: MetadataLog,
        updates: mpsc::UnboundedSender<MetadataUpdate>,
        applied: watch::Receiver<u64>,
        config: BrokerConfig,
    ) -> Self {
        let next = image.next_producer_id;
        Controller {
            backend: Backend::Local {
                log: Arc::new(Mutex::new(log)),
                image: Box::new(image),
                updates,
            },
            config,
            applied,
            active: true,
            next_producer_id: next,
            producer_id_block_end: next,
            heartbeats: HashMap::new(),
            shutting_down: BTreeSet::new(),
            last_preferred_check: Instant::now(),
            last_tick: Instant::now(),
        }
    }

    /// A cluster node's controller over the quorum.
    pub fn clustered(quorum: Quorum, applied: watch::Receiver<u64>, config: BrokerConfig) -> Self {
        Controller {
            backend: Backend::Quorum(quorum),
            config,
            applied,
            active: false,
            next_producer_id: 0,
            producer_id_block_end: 0,
            heartbeats: HashMap::new(),
            shutting_down: BTreeSet::new(),
            last_preferred_check: Instant::now(),
            last_tick: Instant::now(),
        }
    }

    fn is_active(&self) -> bool {
        match &self.backend {
            Backend::Local { .. } => true,
            Backend::Quorum(q) => q.is_leader(),
        }
    }

    fn image(&self) -> Arc<MetadataImage> {
        match &self.backend {
            Backend::Local { image, .. } => Arc::new((**image).clone()),
            Backend::Quorum(q) => q.image(),
        }
    }

    /// Commits records; resolves to the index that holds them (0 when there is nothing).
    fn commit(
        &mut self,
        records: Vec<MetadataRecord>,
    ) -> ResponseActFuture<Self, Result<u64, BrokerError>> {
        if records.is_empty() {
            return Box::pin(fut::ready(Ok(0)));
        }
        match &self.backend {
            Backend::Local { log, .. } => {
                let log = log.clone();
                let to_write = records.clone();
                let write = async move {
                    tokio::task::spawn_blocking(move || log.lock().append(&to_write))
                        .await
                        .map_err(|e| BrokerError::Internal(e.to_string()))?
                        .map_err(|e| BrokerError::KafkaStorage(format!("metadata log: {e}")))
                };
                Box::pin(write.into_actor(self).map(move |r, act, _| {
                    r?;
                    let Backend::Local { image, updates, .. } = &mut act.backend else {
                        unreachable!("the backend never changes")
                    };
                    for record in &records {
                        image.apply(record);
                    }
                    let index = image.version;
                    let _ = updates.send(MetadataUpdate {
                        index,
                        records,
                        image: Arc::new((**image).clone()),
                    });
                    Ok(index)
                }))
            }
            Backend::Quorum(q) => {
                let q = q.clone();
                Box::pin(
                    async move {
                        q.write(records).await.map_err(|e| match e {
                            QuorumError::NotLeader { .. } => BrokerError::NotController,
                            QuorumError::Unavailable(m) => BrokerError::Internal(m),
                            QuorumError::Storage(m) => BrokerError::KafkaStorage(m),
                        })
                    }
                    .into_actor(self),
                )
            }
        }
    }

    /// Commits a broker's registration or heartbeat. Its answer renews that broker's lease
    /// (`partition_replica/lease.rs`), so it must prove what the lease stands for: that this
    /// controller is the active one now, and will fence the broker no earlier than one session
    /// from now. A plan with records proves it by committing them (a majority stored them at
    /// this term). A plain heartbeat writes nothing, and `is_active` is only this node's belief:
    /// a former raft leader cut off from the other voters keeps it, and would go on accepting
    /// its own broker's heartbeats while the majority's new controller fences that broker and
    /// elects other leaders. So a heartbeat is answered only once the quorum confirmed that this
    /// node still leads (`Quorum::confirm_leadership`: one raft heartbeat round to the voters,
    /// a round trip when they answer, one raft heartbeat interval when they do not; the
    /// controller is held that long, like any atomic change). Otherwise NOT_CONTROLLER, and the
    /// broker's lease runs out. The alternative, renewing leases only through committed
    /// writes, would put a raft entry per broker per heartbeat in the metadata log.
    fn commit_liveness(&mut self, plan: Plan) -> ResponseActFuture<Self, ControllerReply> {
        let accepted = matches!(plan.response, ControllerResponse::Done(Ok(())));
        let quorum = match &self.backend {
            Backend::Quorum(q) if accepted && plan.records.is_empty() => q.clone(),
            _ => return self.commit_plan(plan),
        };
        let Plan { response, .. } = plan;
        let confirm = async move { quorum.confirm_leadership().await };
        Box::pin(confirm.into_actor(self).map(move |confirmed, _, _| {
            let response = match confirmed {
                Ok(()) => response,
                Err(e) => {
                    tracing::debug!(reason = %e, "broker heartbeat refused: this controller's leadership is not confirmed");
                    response.failed(BrokerError::NotController)
                }
            };
            ControllerReply { response, index: 0 }
        }))
    }

    /// Commits a plan and answers it (its successes become the commit error if that fails).
    fn commit_plan(&mut self, plan: Plan) -> ResponseActFuture<Self, ControllerReply> {
        let Plan { records, response } = plan;
        Box::pin(self.commit(records).map(move |r, _, _| match r {
            Ok(index) => ControllerReply { response, index },
            Err(e) => ControllerReply {
                response: response.failed(e),
                index: 0,
            },
        }))
    }

    fn allocate_producer_id(&mut self) -> ResponseActFuture<Self, ControllerReply> {
        if self.next_producer_id < self.producer_id_block_end {
            let id = self.next_producer_id;
            self.next_producer_id += 1;
            return Box::pin(fut::ready(ControllerReply {
                response: ControllerResponse::ProducerId(Ok(id)),
                index: 0,
            }));
        }
        let start = self.next_producer_id.max(self.image().next_producer_id);
        let block_end = start + PRODUCER_ID_BLOCK;
        let records = vec![MetadataRecord::ProducerIdBlock {
            next_producer_id: block_end,
        }];
        Box::pin(self.commit(records).map(move |r, act, _| match r {
            Ok(index) => {
                act.next_producer_id = start + 1;
                act.producer_id_block_end = block_end;
                ControllerReply {
                    response: ControllerResponse::ProducerId(Ok(start)),
                    index,
                }
            }
            Err(e) => ControllerReply {
                response: ControllerResponse::ProducerId(Err(e)),
                index: 0,
            },
        }))
    }

    /// Decides `request` against the current image.
    fn plan(&mut self, request: ControllerRequest) -> Plan {
        let image = self.image();
        let planner = Planner {
            image: &image,
            config: &self.config,
        };
        let now = Instant::now();
        match request {
            ControllerRequest::RegisterBroker(info) => {
                self.heartbeats.insert(info.id, now);
                self.shutting_down.remove(&info.id);
                planner.register_broker(info)
            }
            ControllerRequest::BrokerHeartbeat { broker_id } => {
                self.heartbeats.insert(broker_id, now);
                planner.heartbeat(broker_id, self.shutting_down.contains(&broker_id))
            }
            ControllerRequest::ControlledShutdown { broker_id } => {
                self.shutting_down.insert(broker_id);
                planner.fence(&[broker_id])
            }
            ControllerRequest::FenceBrokers { broker_ids } => planner.fence(&broker_ids),
            ControllerRequest::CreateTopics {
                topics,
                validate_only,
            } => planner.create_topics(&topics, validate_only),
            ControllerRequest::DeleteTopics { names } => planner.delete_topics(&names),
            ControllerRequest::CreatePartitions {
                topics,
                validate_only,
            } => planner.create_partitions(&topics, validate_only),
            ControllerRequest::AlterTopicConfigs {
                topic,
                configs,
                validate_only,
            } => planner.alter_topic_configs(&topic, &configs, validate_only),
            ControllerRequest::AlterPartition {
                broker_id,
                topic,
                partition,
                leader_epoch,
                partition_epoch,
                new_isr,
            } => planner.alter_partition(
                broker_id,
                &topic,
                partition,
                leader_epoch,
                partition_epoch,
                &new_isr,
            ),
            ControllerRequest::ElectLeaders {
                election,
                partitions,
            } => planner.elect_leaders(election, partitions.as_deref()),
            ControllerRequest::AlterReassignments { partitions } => {
                planner.alter_reassignments(&partitions)
            }
            ControllerRequest::CompleteReassignments => planner.complete_reassignments(),
            ControllerRequest::AlterScramCredentials {
                deletions,
                upsertions,
            } => planner.alter_scram_credentials(&deletions, &upsertions),
            ControllerRequest::CreateAcls { acls } => planner.create_acls(&acls),
            ControllerRequest::DeleteAcls { filters } => planner.delete_acls(&filters),
            ControllerRequest::AlterClientQuotas {
                alterations,
                validate_only,
            } => planner.alter_client_quotas(&alterations, validate_only),
            ControllerRequest::BootstrapScramCredentials { records } => {
                planner.bootstrap_scram_credentials(records)
            }
            ControllerRequest::AllocateProducerId => {
                unreachable!("allocate_producer_id handles it")
            }
        }
    }

    /// While active: fence silent brokers and restore preferred leaders.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Backend::Quorum(_) = &self.backend else {
            return;
        };
        let active = self.is_active();
        let image = self.image();
        let now = Instant::now();
        let busy_for = now.duration_since(self.last_tick);
        self.last_tick = now;
        if active && !self.active {
            tracing::info!(
                brokers = image.brokers.len(),
                "this node is now the active controller"
            );
            // Every broker gets a full session from now: they may have heartbeated to the
            // previous controller a moment ago.
            self.heartbeats = image.brokers.keys().map(|b| (*b, now)).collect();
            self.next_producer_id = image.next_producer_id;
            self.producer_id_block_end = image.next_producer_id;
            self.last_preferred_check = now;
        } else if active && busy_for > STALL {
            // The heartbeats of that time are still unread in the mailbox: judging brokers by
            // the ones read before would fence every broker at once (seen by the nemesis
            // harness after a leader change held this actor for 14 s). Every broker gets a full
            // session from now, as on taking over.
            tracing::warn!(
                busy_ms = busy_for.as_millis() as u64,
                "the controller could not read heartbeats for a while; every broker gets a full session"
            );
            self.heartbeats = image.brokers.keys().map(|b| (*b, now)).collect();
        }
        self.active = active;
        if !active {
            return;
        }
        let session =
            Duration::from_millis(self.config.get_i64("broker.session.timeout.ms") as u64);
        let silent: Vec<i32> = image
            .brokers
            .keys()
            .copied()
            .filter(|b| image.is_broker_live(*b))
            .filter(|b| {
                let last = *self.heartbeats.entry(*b).or_insert(now);
                now.duration_since(last) > session
            })
            .collect();
        if !silent.is_empty() {
            tracing::warn!(brokers = ?silent, "fencing brokers silent past broker.session.timeout.ms");
            ctx.address()
                .do_send(ExecuteLocal(ControllerRequest::FenceBrokers {
                    broker_ids: silent,
                }));
        }
        let reassigned_in_sync = image.reassignments.iter().any(|(t, m)| {
            m.iter().any(|(p, r)| {
                image
                    .partition(t, *p)
                    .is_some_and(|p| r.target.iter().all(|b| p.isr.contains(b)))
            })
        });
        if reassigned_in_sync {
            ctx.address()
                .do_send(ExecuteLocal(ControllerRequest::CompleteReassignments));
        }
        let interval = Duration::from_secs(
            self.config
                .get_i64("leader.imbalance.check.interval.seconds")
                .max(1) as u64,
        );
        if self.config.get_bool("auto.leader.rebalance.enable")
            && now.duration_since(self.last_preferred_check) >= interval
        {
            self.last_preferred_check = now;
            ctx.address()
                .do_send(ExecuteLocal(ControllerRequest::ElectLeaders {
                    election: ElectionType::Preferred,
                    partitions: None,
                }));
        }
    }
}

impl Actor for Controller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Backend::Quorum(_) = &self.backend {
            ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
        }
    }
}

/// Runs a request on this node, which must be the active controller (else NOT_CONTROLLER).
/// Atomic: one change at a time.
#[derive(Message)]
#[rtype(result = "ControllerReply")]
pub struct ExecuteLocal(pub ControllerRequest);

impl Handler<ExecuteLocal> for Controller {
    type Result = AtomicResponse<Self, ControllerReply>;

    fn handle(&mut self, msg: ExecuteLocal, _: &mut Context<Self>) -> Self::Result {
        if !self.is_active() {
            let response = ControllerResponse::error_for(&msg.0, BrokerError::NotController);
            return AtomicResponse::new(Box::pin(fut::ready(ControllerReply {
                response,
                index: 0,
            })));
        }
        if let ControllerRequest::AllocateProducerId = msg.0 {
            return AtomicResponse::new(self.allocate_producer_id());
        }
        let liveness = matches!(
            msg.0,
            ControllerRequest::BrokerHeartbeat { .. } | ControllerRequest::RegisterBroker(_)
        );
        let plan = self.plan(msg.0);
        if liveness {
            return AtomicResponse::new(self.commit_liveness(plan));
        }
        AtomicResponse::new(self.commit_plan(plan))
    }
}

/// Any controller request from this node: run here when this node is active, else forwarded to
/// the active controller. Answers once this node has applied the change.
#[derive(Message)]
#[rtype(result = "ControllerResponse")]
pub struct Call(pub ControllerRequest);

impl Handler<Call> for Controller {
    type Result = ResponseFuture<ControllerResponse>;

    fn handle(&mut self, msg: Call, ctx: &mut Context<Self>) -> Self::Result {
        let request = msg.0;
        let mut applied = self.applied.clone();
        let addr = ctx.address();
        let quorum = match &self.backend {
            Backend::Quorum(q) if !q.is_leader() => Some(q.clone()),
            _ => None,
        };
        Box::pin(async move {
            let fallback = |e| ControllerResponse::error_for(&request, e);
            let reply = match quorum {
                None => match addr.send(ExecuteLocal(request.clone())).await {
                    Ok(reply) => reply,
                    Err(_) => return fallback(BrokerError::NotController),
                },
                Some(q) => match forward(&q, &request).await {
                    Ok(reply) => reply,
                    Err(e) => return fallback(e),
                },
            };
            if reply.index > 0 {
                let waited =
                    tokio::time::timeout(APPLY_WAIT, applied.wait_for(|i| *i >= reply.index)).await;
                if !matches!(waited, Ok(Ok(_))) {
                    tracing::warn!(
                        index = reply.index,
                        "metadata change committed but not applied here in time"
                    );
                }
            }
            reply.response
        })
    }
}

async fn forward(q: &Quorum, request: &ControllerRequest) -> Result<ControllerReply, BrokerError> {
    let bytes = serde_json::to_vec(request).map_err(|e| BrokerError::Internal(e.to_string()))?;
    let answer = q
        .forward(bytes, FORWARD_TIMEOUT)
        .await
        .map_err(|e| match e {
            QuorumError::NotLeader { .. } => BrokerError::NotController,
            QuorumError::Unavailable(m) => {
                tracing::warn!(reason = %m, "no active controller answered");
                BrokerError::NotController
            }
            QuorumError::Storage(m) => BrokerError::KafkaStorage(m),
        })?;
    serde_json::from_slice(&answer)
        .map_err(|e| BrokerError::Internal(format!("controller answer: {e}")))
}

// ---- typed requests for callers on this node (each a `Call`) ----

/// The answer a typed request gets: which `ControllerResponse` variant carries it.
pub trait ControllerAnswer: Sized + Send + 'static {
    fn unpack(response: ControllerResponse) -> Option<Self>;
}

macro_rules! answer_variant {
    ($answer:ty, $variant:ident) => {
        impl ControllerAnswer for $answer {
            fn unpack(response: ControllerResponse) -> Option<Self> {
                match response {
                    ControllerResponse::$variant(r) => Some(r),
                    _ => None,
                }
            }
        }
    };
}

/// Per partition: ElectLeaders and AlterPartitionReassignments.
pub type PartitionResults = Vec<((String, i32), Result<(), BrokerError>)>;

answer_variant!(Result<(), BrokerError>, Done);
answer_variant!(Vec<Result<(), BrokerError>>, Each);
answer_variant!(Vec<Result<TopicMeta, BrokerError>>, Topics);
answer_variant!(Result<i64, BrokerError>, ProducerId);
answer_variant!(Result<PartitionMeta, BrokerError>, Partition);
answer_variant!(PartitionResults, Elections);
answer_variant!(UserResults, Users);
answer_variant!(AclDeletions, AclDeletions);

/// A typed message for callers on this node: the `ControllerRequest` it stands for, and the
/// answer its caller gets when no active controller answered (NOT_CONTROLLER for each item).
pub trait ControllerCall: Message<Result = Self::Answer> + Send + 'static {
    type Answer: ControllerAnswer;
    fn into_request(self) -> (ControllerRequest, Self::Answer);
}

impl<M: ControllerCall> Handler<M> for Controller {
    type Result = ResponseFuture<M::Answer>;
    fn handle(&mut self, msg: M, ctx: &mut Context<Self>) -> Self::Result {
        let (request, not_controller) = msg.into_request();
        let addr = ctx.address();
        Box::pin(async move {
            match addr.send(Call(request)).await {
                Ok(response) => M::Answer::unpack(response).unwrap_or(not_controller),
                Err(_) => not_controller,
            }
        })
    }
}

/// NOT_CONTROLLER once per item.
fn not_controller<T, I>(items: impl Iterator<Item = I>) -> Vec<Result<T, BrokerError>> {
    items.map(|_| Err(BrokerError::NotController)).collect()
}

/// NOT_CONTROLLER for each partition.
fn not_controller_per_partition<'a>(
    partitions: impl Iterator<Item = &'a (String, i32)>,
) -> PartitionResults {
    partitions
        .map(|tp| (tp.clone(), Err(BrokerError::NotController)))
        .collect()
}

/// Registers this broker (idempotent) so it appears in Metadata and placement.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct RegisterBroker(pub BrokerInfo);

impl ControllerCall for RegisterBroker {
    type Answer = Result<(), BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::RegisterBroker(self.0);
        (request, Err(BrokerError::NotController))
    }
}

/// This broker is alive.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct BrokerHeartbeat(pub i32);

impl ControllerCall for BrokerHeartbeat {
    type Answer = Result<(), BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::BrokerHeartbeat { broker_id: self.0 };
        (request, Err(BrokerError::NotController))
    }
}

/// This broker is shutting down: move its leaderships away first.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct ControlledShutdown(pub i32);

impl ControllerCall for ControlledShutdown {
    type Answer = Result<(), BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::ControlledShutdown { broker_id: self.0 };
        (request, Err(BrokerError::NotController))
    }
}

#[derive(Message)]
#[rtype(result = "Vec<Result<TopicMeta, BrokerError>>")]
pub struct CreateTopics {
    pub topics: Vec<NewTopic>,
    pub validate_only: bool,
}

impl ControllerCall for CreateTopics {
    type Answer = Vec<Result<TopicMeta, BrokerError>>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.topics.iter());
        let request = ControllerRequest::CreateTopics {
            topics: self.topics,
            validate_only: self.validate_only,
        };
        (request, refused)
    }
}

#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct DeleteTopics {
    pub names: Vec<String>,
}

impl ControllerCall for DeleteTopics {
    type Answer = Vec<Result<(), BrokerError>>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.names.iter());
        (
            ControllerRequest::DeleteTopics { names: self.names },
            refused,
        )
    }
}

#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct CreatePartitions {
    /// (topic, new total count)
    pub topics: Vec<(String, i32)>,
    pub validate_only: bool,
}

impl ControllerCall for CreatePartitions {
    type Answer = Vec<Result<(), BrokerError>>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.topics.iter());
        let request = ControllerRequest::CreatePartitions {
            topics: self.topics,
            validate_only: self.validate_only,
        };
        (request, refused)
    }
}

/// Replaces a topic's override set (AlterConfigs), or applies incremental edits already folded
/// into the full set by the caller (IncrementalAlterConfigs).
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct AlterTopicConfigs {
    pub topic: String,
    pub configs: BTreeMap<String, String>,
    pub validate_only: bool,
}

impl ControllerCall for AlterTopicConfigs {
    type Answer = Result<(), BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::AlterTopicConfigs {
            topic: self.topic,
            configs: self.configs,
            validate_only: self.validate_only,
        };
        (request, Err(BrokerError::NotController))
    }
}

#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")]
pub struct AllocateProducerId;

impl ControllerCall for AllocateProducerId {
    type Answer = Result<i64, BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::AllocateProducerId;
        (request, Err(BrokerError::NotController))
    }
}

/// A partition leader's ISR change.
#[derive(Message)]
#[rtype(result = "Result<PartitionMeta, BrokerError>")]
pub struct AlterPartition {
    pub broker_id: i32,
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

impl ControllerCall for AlterPartition {
    type Answer = Result<PartitionMeta, BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::AlterPartition {
            broker_id: self.broker_id,
            topic: self.topic,
            partition: self.partition,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr: self.new_isr,
        };
        (request, Err(BrokerError::NotController))
    }
}

/// ElectLeaders.
#[derive(Message)]
#[rtype(result = "PartitionResults")]
pub struct ElectLeaders {
    pub election: ElectionType,
    pub partitions: Option<Vec<(String, i32)>>,
}

impl ControllerCall for ElectLeaders {
    type Answer = PartitionResults;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller_per_partition(self.partitions.iter().flatten());
        let request = ControllerRequest::ElectLeaders {
            election: self.election,
            partitions: self.partitions,
        };
        (request, refused)
    }
}

/// AlterPartitionReassignments.
#[derive(Message)]
#[rtype(result = "PartitionResults")]
pub struct AlterReassignments {
    pub partitions: Vec<Reassignment>,
}

impl ControllerCall for AlterReassignments {
    type Answer = PartitionResults;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller_per_partition(self.partitions.iter().map(|(tp, _)| tp));
        let request = ControllerRequest::AlterReassignments {
            partitions: self.partitions,
        };
        (request, refused)
    }
}

/// AlterUserScramCredentials: per user, its outcome.
#[derive(Message)]
#[rtype(result = "UserResults")]
pub struct AlterScramCredentials {
    /// (user, Kafka's mechanism code)
    pub deletions: Vec<(String, i8)>,
    pub upsertions: Vec<ScramUpsertion>,
}

impl ControllerCall for AlterScramCredentials {
    type Answer = UserResults;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::AlterScramCredentials {
            deletions: self.deletions,
            upsertions: self.upsertions,
        };
        let ControllerResponse::Users(refused) =
            ControllerResponse::error_for(&request, BrokerError::NotController)
        else {
            unreachable!("error_for answers AlterScramCredentials with Users")
        };
        (request, refused)
    }
}

/// CreateAcls: one outcome per ACL, in request order.
#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct CreateAcls {
    pub acls: Vec<crate::metadata::AclRecord>,
}

impl ControllerCall for CreateAcls {
    type Answer = Vec<Result<(), BrokerError>>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.acls.iter());
        (ControllerRequest::CreateAcls { acls: self.acls }, refused)
    }
}

/// DeleteAcls: per filter, the ACLs removed.
#[derive(Message)]
#[rtype(result = "AclDeletions")]
pub struct DeleteAcls {
    pub filters: Vec<crate::metadata::AclFilter>,
}

impl ControllerCall for DeleteAcls {
    type Answer = AclDeletions;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.filters.iter());
        (
            ControllerRequest::DeleteAcls {
                filters: self.filters,
            },
            refused,
        )
    }
}

/// AlterClientQuotas: one outcome per entry, in request order.
#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct AlterClientQuotas {
    pub alterations: Vec<quotas::QuotaAlteration>,
    pub validate_only: bool,
}

impl ControllerCall for AlterClientQuotas {
    type Answer = Vec<Result<(), BrokerError>>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let refused = not_controller(self.alterations.iter());
        let request = ControllerRequest::AlterClientQuotas {
            alterations: self.alterations,
            validate_only: self.validate_only,
        };
        (request, refused)
    }
}

/// `--add-scram` on a new metadata log: these credentials, each only if its user has none of
/// that mechanism yet (so every voter of a new cluster may send the same ones).
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct BootstrapScramCredentials {
    pub records: Vec<crate::metadata::UserScramCredentialRecord>,
}

impl ControllerCall for BootstrapScramCredentials {
    type Answer = Result<(), BrokerError>;
    fn into_request(self) -> (ControllerRequest, Self::Answer) {
        let request = ControllerRequest::BootstrapScramCredentials {
            records: self.records,
        };
        (request, Err(BrokerError::NotController))
    }
}
