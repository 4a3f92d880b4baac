//! `ReplicaFetcher`: one per source broker this node follows partitions of. It pulls their
//! records with Kafka Fetch requests (replica id set, so the leader reads up to its log end and
//! learns how far this follower got) and hands them to the local `PartitionReplica`s, which
//! append them with the leader's offsets.
//!
//! Before fetching a partition whose leader changed, the follower truncates: it asks the
//! leader (OffsetForLeaderEpoch) where its latest epoch ends there and cuts its log at that
//! offset if its own goes further, so a deposed leader's unreplicated tail never survives.
//! A fetch the leader answers with OFFSET_OUT_OF_RANGE means the follower is either ahead
//! (truncate again) or behind the leader's log start (restart the log there).
//!
//! It owns the connection to its leader and the fetch position of each partition; it never
//! touches a log (messages to the partition actors only). `ReplicaFetcherManager` (not an
//! actor) decides which fetcher follows which partition from the metadata.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;

use crate::actors::partition_replica::replica_manager::PartitionHandle;
use crate::actors::partition_replica::{
    AppendAsFollower, GetFollowerPosition, TopicPartition, TruncateTo,
};
use crate::client::{broker_endpoint, ClientError, KafkaConnection};
use crate::config::BrokerConfig;
use crate::error::{ResponseError, NONE};
use crate::metadata::{MetadataImage, PartitionMeta};
use crate::security::ClientSecurity;

const FETCH_VERSION: i16 = 12;
const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
const LIST_OFFSETS_VERSION: i16 = 5;
const OFFSET_OUT_OF_RANGE: i16 = ResponseError::OffsetOutOfRange.code();

/// Replica fetch settings from the broker config.
#[derive(Clone, Debug)]
pub struct FetchSettings {
    pub node_id: i32,
    pub max_wait_ms: i32,
    pub partition_max_bytes: i32,
    pub response_max_bytes: i32,
    pub backoff: Duration,
    pub request_timeout: Duration,
    /// How the fetcher connects to leaders: the inter-broker listener's security.
    pub security: ClientSecurity,
}

impl FetchSettings {
    pub fn from_config(
        node_id: i32,
        config: &BrokerConfig,
        security: ClientSecurity,
    ) -> FetchSettings {
        FetchSettings {
            node_id,
            security,
            max_wait_ms: config.get_i64("replica.fetch.wait.max.ms") as i32,
            partition_max_bytes: config.get_i64("replica.fetch.max.bytes") as i32,
            response_max_bytes: config.get_i64("replica.fetch.response.max.bytes") as i32,
            backoff: Duration::from_millis(config.get_i64("replica.fetch.backoff.ms") as u64),
            request_timeout: Duration::from_millis(
                config.get_i64("request.timeout.ms").max(1000) as u64
            ),
        }
    }
}

/// One followed partition.
#[derive(Clone)]
struct Followed {
    handle: PartitionHandle,
    leader_epoch: i32,
    fetch_offset: i64,
    needs_truncation: bool,
}

pub struct ReplicaFetcher {
    leader_id: i32,
    endpoint: String,
    settings: FetchSettings,
    partitions: BTreeMap<TopicPartition, Followed>,
    connection: Option<KafkaConnection>,
    round_running: bool,
}

impl ReplicaFetcher {
    pub fn new(leader_id: i32, endpoint: String, settings: FetchSettings) -> Self {
        ReplicaFetcher {
            leader_id,
            endpoint,
            settings,
            partitions: BTreeMap::new(),
            connection: None,
            round_running: false,
        }
    }

    /// Starts a fetch round unless one is running; when it ends the next one starts, after a
    /// backoff if it failed or had nothing to do.
    fn start_round(&mut self, ctx: &mut Context<Self>) {
        if self.round_running || self.partitions.is_empty() {
            return;
        }
        self.round_running = true;
        let work: Vec<(TopicPartition, Followed)> = self
            .partitions
            .iter()
            .map(|(tp, f)| (tp.clone(), f.clone()))
            .collect();
        let round = Round {
            connection: self.connection.take(),
            endpoint: self.endpoint.clone(),
            settings: self.settings.clone(),
        };
        round
            .run(work)
            .into_actor(self)
            .map(|(connection, outcomes, result), act, ctx| {
                act.round_running = false;
                act.connection = connection;
                let mut progressed = false;
                for (tp, epoch, outcome) in outcomes {
                    let Some(f) = act.partitions.get_mut(&tp) else {
                        continue;
                    };
                    if f.leader_epoch != epoch {
                        continue; // leadership moved during the round
                    }
                    match outcome {
                        Outcome::FetchFrom(offset) => {
                            progressed = true;
                            f.fetch_offset = offset;
                            f.needs_truncation = false;
                        }
                        Outcome::Truncate => f.needs_truncation = true,
                        Outcome::Wait => {}
                    }
                }
                let delay = match result {
                    Ok(()) if progressed => Duration::ZERO,
                    Ok(()) => act.settings.backoff.min(Duration::from_millis(100)),
                    Err(e) => {
                        tracing::warn!(leader = act.leader_id, endpoint = %act.endpoint, error = %e, "replica fetch failed; backing off");
                        act.connection = None;
                        act.settings.backoff
                    }
                };
                if delay.is_zero() {
                    act.start_round(ctx);
                } else {
                    ctx.run_later(delay, |act, ctx| act.start_round(ctx));
                }
            })
            .spawn(ctx);
    }
}

impl Actor for ReplicaFetcher {
    type Context = Context<Self>;
}

/// Follow `tp` from this fetcher's leader at `leader_epoch` (truncating first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddPartition {
    pub tp: TopicPartition,
    pub handle: PartitionHandle,
    pub leader_epoch: i32,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RemovePartition(pub TopicPartition);

impl Handler<AddPartition> for ReplicaFetcher {
    type Result = ();
    fn handle(&mut self, msg: AddPartition, ctx: &mut Context<Self>) {
        let fetch_offset = msg.handle.watermarks.borrow().log_end_offset;
        self.partitions.insert(
            msg.tp,
            Followed {
                handle: msg.handle,
                leader_epoch: msg.leader_epoch,
                fetch_offset,
                needs_truncation: true,
            },
        );
        self.start_round(ctx);
    }
}

impl Handler<RemovePartition> for ReplicaFetcher {
    type Result = ();
    fn handle(&mut self, msg: RemovePartition, _: &mut Context<Self>) {
        self.partitions.remove(&msg.0);
    }
}

/// Stop for good (shutdown, or the leader's address changed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopFetcher;

impl Handler<StopFetcher> for ReplicaFetcher {
    type Result = ();
    fn handle(&mut self, _: StopFetcher, ctx: &mut Context<Self>) {
        self.partitions.clear();
        ctx.stop();
    }
}

/// What a round learned about one partition.
enum Outcome {
    /// Fetch from here next (truncation done, or records appended).
    FetchFrom(i64),
    /// The logs may have diverged: truncate before fetching again.
    Truncate,
    /// Nothing to do now (leader not ready, partition not yet told its role, an error).
    Wait,
}

/// One round's inputs, moved into its future.
struct Round {
    connection: Option<KafkaConnection>,
    endpoint: String,
    settings: FetchSettings,
}

type RoundResult = (
    Option<KafkaConnection>,
    Vec<(TopicPartition, i32, Outcome)>,
    Result<(), ClientError>,
);

impl Round {
    async fn run(mut self, work: Vec<(TopicPartition, Followed)>) -> RoundResult {
        let mut connection = match self.connection.take() {
            Some(c) => c,
            None => match KafkaConnection::connect(
                &self.endpoint,
                format!("troupe-replica-{}", self.settings.node_id),
                self.settings.request_timeout,
                &self.settings.security,
            )
            .await
            {
                Ok(c) => c,
                Err(e) => return (None, Vec::new(), Err(e)),
            },
        };
        let mut outcomes = Vec::new();
        let (truncate, fetch): (Vec<_>, Vec<_>) =
            work.into_iter().partition(|(_, f)| f.needs_truncation);
        if !truncate.is_empty() {
            match self.truncate(&mut connection, truncate).await {
                Ok(o) => outcomes.extend(o),
                Err(e) => return (None, outcomes, Err(e)),
            }
        }
        if !fetch.is_empty() {
            match self.fetch(&mut connection, fetch).await {
                Ok(o) => outcomes.extend(o),
                Err(e) => return (None, outcomes, Err(e)),
            }
        }
        (Some(connection), outcomes, Ok(()))
    }

    /// OffsetForLeaderEpoch for each partition's latest epoch, then truncate to where the
    /// leader says that epoch ends.
    async fn truncate(
        &self,
        connection: &mut KafkaConnection,
        work: Vec<(TopicPartition, Followed)>,
    ) -> Result<Vec<(TopicPartition, i32, Outcome)>, ClientError> {
        let mut outcomes = Vec::new();
        let mut asks = Vec::new();
        for (tp, f) in work {
            let Ok(position) = f.handle.addr.send(GetFollowerPosition).await else {
                outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                continue;
            };
            if position.following_epoch != f.leader_epoch {
                // The partition has not been told about this leader yet.
                outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                continue;
            }
            match position.latest_epoch {
                None => outcomes.push((
                    tp,
                    f.leader_epoch,
                    Outcome::FetchFrom(position.log_end_offset),
                )),
                Some(epoch) => asks.push((tp, f, epoch, position)),
            }
        }
        if asks.is_empty() {
            return Ok(outcomes);
        }
        let mut by_topic: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
        for (tp, f, epoch, _) in &asks {
            by_topic.entry(tp.topic.clone()).or_default().push(
                OffsetForLeaderPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(f.leader_epoch)
                    .with_leader_epoch(*epoch),
            );
        }
        let request = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(self.settings.node_id))
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetForLeaderTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = connection
            .call(
                &request,
                OFFSET_FOR_LEADER_EPOCH_VERSION,
                self.settings.request_timeout,
            )
            .await?;
        let mut answers: HashMap<(String, i32), (i16, i32, i64)> = HashMap::new();
        for t in response.topics {
            for p in t.partitions {
                answers.insert(
                    (t.topic.0.to_string(), p.partition),
                    (p.error_code, p.leader_epoch, p.end_offset),
                );
            }
        }
        for (tp, f, _, position) in asks {
            let answer = answers.get(&(tp.topic.clone(), tp.partition)).copied();
            let target = match answer {
                Some((NONE, epoch, end_offset)) if epoch >= 0 && end_offset >= 0 => {
                    end_offset.min(position.log_end_offset)
                }
                // The leader knows no epoch at or below ours: keep what is surely committed.
                Some((NONE, _, _)) => position.high_watermark.min(position.log_end_offset),
                _ => {
                    outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                    continue;
                }
            };
            let truncated = f
                .handle
                .addr
                .send(TruncateTo {
                    offset: target,
                    fully: false,
                })
                .await;
            match truncated {
                Ok(Ok(leo)) => outcomes.push((tp, f.leader_epoch, Outcome::FetchFrom(leo))),
                Ok(Err(e)) => {
                    tracing::warn!(partition = %tp, error = %e, "truncation failed");
                    outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                }
                Err(_) => outcomes.push((tp, f.leader_epoch, Outcome::Wait)),
            }
        }
        Ok(outcomes)
    }

    async fn fetch(
        &self,
        connection: &mut KafkaConnection,
        work: Vec<(TopicPartition, Followed)>,
    ) -> Result<Vec<(TopicPartition, i32, Outcome)>, ClientError> {
        let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, f) in &work {
            let log_start = f.handle.watermarks.borrow().log_start_offset;
            by_topic.entry(tp.topic.clone()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_current_leader_epoch(f.leader_epoch)
                    .with_fetch_offset(f.fetch_offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(log_start)
                    .with_partition_max_bytes(self.settings.partition_max_bytes),
            );
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(self.settings.node_id))
            .with_max_wait_ms(self.settings.max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(self.settings.response_max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let timeout = self.settings.request_timeout
            + Duration::from_millis(self.settings.max_wait_ms.max(0) as u64);
        let response = connection.call(&request, FETCH_VERSION, timeout).await?;
        let mut answers = HashMap::new();
        for t in response.responses {
            for p in t.partitions {
                answers.insert((t.topic.0.to_string(), p.partition_index), p);
            }
        }
        let mut outcomes = Vec::new();
        let mut out_of_range = Vec::new();
        for (tp, f) in work {
            let Some(p) = answers.remove(&(tp.topic.clone(), tp.partition)) else {
                outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                continue;
            };
            match p.error_code {
                NONE => {
                    let appended = f
                        .handle
                        .addr
                        .send(AppendAsFollower {
                            records: p.records.unwrap_or_default(),
                            leader_high_watermark: p.high_watermark,
                            leader_log_start_offset: p.log_start_offset,
                        })
                        .await;
                    match appended {
                        Ok(Ok(leo)) => outcomes.push((tp, f.leader_epoch, Outcome::FetchFrom(leo))),
                        Ok(Err(e)) => {
                            tracing::warn!(partition = %tp, error = %e, "follower append failed; truncating before the next fetch");
                            outcomes.push((tp, f.leader_epoch, Outcome::Truncate));
                        }
                        Err(_) => outcomes.push((tp, f.leader_epoch, Outcome::Wait)),
                    }
                }
                OFFSET_OUT_OF_RANGE => out_of_range.push((tp, f)),
                code => {
                    tracing::debug!(partition = %tp, code, "replica fetch error; waiting for metadata");
                    outcomes.push((tp, f.leader_epoch, Outcome::Wait));
                }
            }
        }
        for (tp, f) in out_of_range {
            let outcome = self.recover_out_of_range(connection, &tp, &f).await?;
            outcomes.push((tp, f.leader_epoch, outcome));
        }
        Ok(outcomes)
    }

    /// Behind the leader's log start: restart the log there. Otherwise ahead: truncate.
    async fn recover_out_of_range(
        &self,
        connection: &mut KafkaConnection,
        tp: &TopicPartition,
        f: &Followed,
    ) -> Result<Outcome, ClientError> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(self.settings.node_id))
            .with_isolation_level(0)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_current_leader_epoch(f.leader_epoch)
                    .with_timestamp(-2)])]);
        let response = connection
            .call(
                &request,
                LIST_OFFSETS_VERSION,
                self.settings.request_timeout,
            )
            .await?;
        let earliest = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == tp.partition && p.error_code == NONE)
            .map(|p| p.offset);
        match earliest {
            Some(start) if f.fetch_offset < start => {
                let restarted = f
                    .handle
                    .addr
                    .send(TruncateTo {
                        offset: start,
                        fully: true,
                    })
                    .await;
                Ok(match restarted {
                    Ok(Ok(leo)) => Outcome::FetchFrom(leo),
                    _ => Outcome::Wait,
                })
            }
            Some(_) => Ok(Outcome::Truncate),
            None => Ok(Outcome::Wait),
        }
    }
}

/// Which fetcher follows which partition. Not an actor: the metadata publisher calls it as
/// partitions change role; it starts a fetcher per source broker on first use.
pub struct ReplicaFetcherManager {
    settings: FetchSettings,
    /// How this node reaches other brokers when that differs from their registered address
    /// (`replica.fetch.peer.addresses`, e.g. through a proxy): broker id → host:port.
    peer_addresses: BTreeMap<i32, String>,
    fetchers: Mutex<HashMap<i32, (String, Addr<ReplicaFetcher>)>>,
    /// Which leader each followed partition is fetched from.
    followed: Mutex<HashMap<TopicPartition, i32>>,
}

impl ReplicaFetcherManager {
    pub fn new(settings: FetchSettings, peer_addresses: BTreeMap<i32, String>) -> Arc<Self> {
        Arc::new(ReplicaFetcherManager {
            settings,
            peer_addresses,
            fetchers: Mutex::new(HashMap::new()),
            followed: Mutex::new(HashMap::new()),
        })
    }

    /// A partition's state changed: follow it from its new leader, or stop following it.
    pub fn partition_state_changed(
        &self,
        tp: &TopicPartition,
        state: &PartitionMeta,
        image: &MetadataImage,
        handle: PartitionHandle,
    ) {
        let follow = state.leader >= 0 && state.leader != self.settings.node_id;
        let previous = self.followed.lock().get(tp).copied();
        if previous.is_some() && (!follow || previous != Some(state.leader)) {
            self.remove_partition(tp);
        }
        if !follow {
            return;
        }
        let Some(endpoint) = self.endpoint(state.leader, image) else {
            tracing::warn!(partition = %tp, leader = state.leader, "leader has no registered address");
            return;
        };
        let fetcher = self.fetcher_for(state.leader, endpoint);
        self.followed.lock().insert(tp.clone(), state.leader);
        fetcher.do_send(AddPartition {
            tp: tp.clone(),
            handle,
            leader_epoch: state.leader_epoch,
        });
    }

    pub fn remove_partition(&self, tp: &TopicPartition) {
        if let Some(leader) = self.followed.lock().remove(tp) {
            if let Some((_, addr)) = self.fetchers.lock().get(&leader) {
                addr.do_send(RemovePartition(tp.clone()));
            }
        }
    }

    pub fn stop_all(&self) {
        for (_, (_, addr)) in self.fetchers.lock().drain() {
            addr.do_send(StopFetcher);
        }
        self.followed.lock().clear();
    }

    fn endpoint(&self, broker: i32, image: &MetadataImage) -> Option<String> {
        broker_endpoint(&self.peer_addresses, broker, image)
    }

    fn fetcher_for(&self, leader: i32, endpoint: String) -> Addr<ReplicaFetcher> {
        let mut fetchers = self.fetchers.lock();
        if let Some((known, addr)) = fetchers.get(&leader) {
            if *known == endpoint && addr.connected() {
                return addr.clone();
            }
            addr.do_send(StopFetcher);
        }
        let addr = ReplicaFetcher::new(leader, endpoint.clone(), self.settings.clone()).start();
        fetchers.insert(leader, (endpoint, addr.clone()));
        addr
    }
}
