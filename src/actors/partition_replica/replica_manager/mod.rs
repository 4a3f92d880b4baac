//! `ReplicaManager`: the registry and lifecycle of this broker's `PartitionReplica` actors,
//! and the produce and fetch paths over them (Kafka's `ReplicaManager`).
//!
//! Not an actor itself: a shared map from topic to partition handles that connections read
//! without a round trip. It turns metadata changes into actor starts (logs opened on a blocking
//! thread, then the actor placed on the arbiter its partition hashes to) and stops. It never
//! touches a log: each `PartitionReplica` owns its own, and is reached by message.
//!
//! - `mod.rs`: the registry (`PartitionHandle`s), `reconcile`, checkpoints, shutdown.
//! - `append.rs`: [`ReplicaManager::append_records`] (Kafka's `appendRecords`), the produce
//!   path of clients and extensions.
//! - `delayed_produce.rs`: the `acks=all` wait for replication (Kafka's `DelayedProduce`).
//! - `fetch.rs`: [`ReplicaManager::fetch_messages`] (Kafka's `fetchMessages`), the fetch path
//!   of consumers and followers.
//! - `delayed_fetch.rs`: a fetch parked until `min_bytes` arrive (Kafka's `DelayedFetch`).
//!
//! None of them knows the wire: handlers decode requests into the named types here and encode
//! what comes back.

mod append;
mod delayed_fetch;
pub mod delayed_produce;
mod fetch;

pub use append::{
    AppendOptions, PartitionAppend, PartitionAppendResult, TopicAppend, TopicAppendResult,
};
pub use fetch::{FetchParams, FetchPartition, FetchPartitionResult, FetchResult, FetchedRecords};

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::actors::partition_replica::lease::BrokerLease;
use crate::actors::partition_replica::{
    BecomeLeaderOrFollower, ClosePartition, PartitionReplica, PartitionReplicaSetup,
    ReplicaContext, TopicPartition, UpdateLogConfig, Watermarks,
};
use crate::actors::replica_fetcher::ReplicaFetcherManager;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionMeta, TopicMeta};
use crate::runtime::mailbox::{CountedAddr, PARTITION_MAILBOX};
use crate::runtime::supervision::SupervisorState;
use crate::storage::replication_checkpoint::{self, HighWatermarks};
use crate::storage::Log;

/// Partition logs opened concurrently at startup.
const OPENERS: usize = 16;

/// What opening a partition needs of its topic.
struct TopicToOpen {
    name: String,
    configs: BTreeMap<String, String>,
}

/// What a connection needs to talk to a partition.
#[derive(Clone)]
pub struct PartitionHandle {
    /// Sends are counted as the partitions' mailbox depth (`mailbox`).
    pub addr: CountedAddr<PartitionReplica>,
    /// The partition's watermarks; parked fetches wait on the high watermark or, under
    /// READ_COMMITTED, the last stable offset.
    pub watermarks: watch::Receiver<Watermarks>,
    /// This broker's lease (`lease.rs`): a write parked for replication gives up as soon as
    /// it runs out.
    pub lease: Arc<BrokerLease>,
}

pub struct ReplicaManager {
    node_id: i32,
    data_dir: PathBuf,
    /// What every partition actor is handed: this node's id, the controller (ISR changes),
    /// replication settings.
    replica_context: Arc<ReplicaContext>,
    /// The partition state each partition was last told.
    states: DashMap<TopicPartition, PartitionMeta>,
    /// The topic configs last applied to each topic's partitions.
    configs: DashMap<String, BTreeMap<String, String>>,
    /// High watermarks read from `replication-offset-checkpoint` at startup: where each
    /// partition's high watermark starts.
    checkpointed_high_watermarks: HighWatermarks,
    /// The last checkpoint written, to skip unchanged rewrites.
    last_checkpoint: parking_lot::Mutex<HighWatermarks>,
    /// Replica fetchers of the partitions this node follows (None: unit tests that follow
    /// nothing).
    fetchers: Option<Arc<ReplicaFetcherManager>>,
    arbiters: Vec<ArbiterHandle>,
    partitions: DashMap<String, BTreeMap<i32, PartitionHandle>>,
    health: Arc<SupervisorState>,
    broker_config: BrokerConfig,
}

impl ReplicaManager {
    pub fn new(
        replica_context: Arc<ReplicaContext>,
        data_dir: PathBuf,
        arbiters: Vec<ArbiterHandle>,
        health: Arc<SupervisorState>,
        broker_config: BrokerConfig,
        fetchers: Option<Arc<ReplicaFetcherManager>>,
    ) -> Self {
        ReplicaManager {
            node_id: replica_context.node_id,
            replica_context,
            states: DashMap::new(),
            configs: DashMap::new(),
            fetchers,
            checkpointed_high_watermarks: replication_checkpoint::read(&data_dir),
            last_checkpoint: Default::default(),
            data_dir,
            arbiters,
            partitions: DashMap::new(),
            health,
            broker_config,
        }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<PartitionHandle> {
        self.partitions
            .get(topic)
            .and_then(|m| m.get(&partition).cloned())
    }

    /// The handle of a partition hosted here (Kafka's `getPartitionOrError`). A partition the
    /// metadata knows but this broker has no actor for (still opening, or led elsewhere) is
    /// NOT_LEADER_OR_FOLLOWER, which clients retry after refreshing metadata; one the metadata
    /// does not know is UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition_or_error(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionHandle, BrokerError> {
        if let Some(handle) = self.get(topic, partition) {
            return Ok(handle);
        }
        let known = image
            .topics
            .get(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.index == partition));
        Err(if known {
            BrokerError::NotLeaderOrFollower
        } else {
            BrokerError::UnknownTopicOrPartition
        })
    }

    pub fn partition_count(&self) -> usize {
        self.partitions.iter().map(|e| e.value().len()).sum()
    }

    /// Every partition handle, for shutdown.
    pub fn all(&self) -> Vec<(TopicPartition, PartitionHandle)> {
        self.partitions
            .iter()
            .flat_map(|e| {
                let topic = e.key().clone();
                e.value()
                    .iter()
                    .map(|(p, h)| {
                        (
                            TopicPartition {
                                topic: topic.clone(),
                                partition: *p,
                            },
                            h.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn partition_dir(&self, tp: &TopicPartition) -> PathBuf {
        self.data_dir.join(format!("{}-{}", tp.topic, tp.partition))
    }

    /// The arbiter a partition lives on: a stable hash of topic and partition.
    fn arbiter_for(&self, tp: &TopicPartition) -> ArbiterHandle {
        let mut h = DefaultHasher::new();
        tp.hash(&mut h);
        self.arbiters[(h.finish() as usize) % self.arbiters.len()].clone()
    }

    /// Brings this node's partitions in line with `image`: opens (recovering) the partitions
    /// assigned here that are not running, tells every partition whose leadership, ISR or
    /// replicas changed its new state (which makes it leader or follower and moves its
    /// replica fetching), applies changed topic configs, and closes — deleting their data —
    /// partitions that `records` took away from this node (topic deletion, reassignment).
    /// Partitions missing from an image for any other reason are left alone: a node whose
    /// metadata is still catching up must never delete data.
    pub async fn reconcile(
        self: &Arc<Self>,
        image: &MetadataImage,
        records: &[MetadataRecord],
    ) -> Result<(), BrokerError> {
        self.close_removed(image, records).await;
        let assigned: Vec<(&TopicMeta, &PartitionMeta)> = image
            .topics
            .values()
            .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
            .filter(|(_, p)| p.replicas.contains(&self.node_id))
            .collect();
        // One shared copy of each topic's name and configs: cloning the whole `TopicMeta`
        // per partition made creating a topic of N partitions cost O(N²) memory.
        let mut topics: HashMap<&str, Arc<TopicToOpen>> = HashMap::new();
        let to_open: Vec<(Arc<TopicToOpen>, i32)> = assigned
            .iter()
            .filter(|(t, p)| self.get(&t.name, p.index).is_none())
            .map(|(t, p)| {
                let topic = topics.entry(t.name.as_str()).or_insert_with(|| {
                    Arc::new(TopicToOpen {
                        name: t.name.clone(),
                        configs: t.configs.clone(),
                    })
                });
                (topic.clone(), p.index)
            })
            .collect();
        let opened = self.open_many(to_open).await;
        for (t, p) in &assigned {
            let tp = TopicPartition {
                topic: t.name.clone(),
                partition: p.index,
            };
            let Some(handle) = self.get(&tp.topic, tp.partition) else {
                continue;
            };
            if self.configs.get(&tp.topic).is_none_or(|c| *c != t.configs) {
                let config = self.broker_config.log_config(&t.configs);
                if let Some(m) = self.partitions.get(&tp.topic) {
                    for h in m.values() {
                        h.addr.do_send(UpdateLogConfig(config.clone()));
                    }
                }
                self.configs.insert(tp.topic.clone(), t.configs.clone());
            }
            if self.states.get(&tp).as_deref() != Some(*p) {
                self.states.insert(tp.clone(), (*p).clone());
                handle.addr.do_send(BecomeLeaderOrFollower {
                    state: (*p).clone(),
                });
                if let Some(fetchers) = self.fetchers.as_ref() {
                    fetchers.partition_state_changed(&tp, p, image, handle);
                }
            }
        }
        opened
    }

    /// Closes and deletes partitions the records took from this node.
    async fn close_removed(&self, image: &MetadataImage, records: &[MetadataRecord]) {
        let mut removed: Vec<TopicPartition> = Vec::new();
        for r in records {
            match r {
                MetadataRecord::DeleteTopic { topic } => {
                    if let Some(m) = self.partitions.get(topic) {
                        removed.extend(m.keys().map(|p| TopicPartition {
                            topic: topic.clone(),
                            partition: *p,
                        }));
                    }
                }
                MetadataRecord::PartitionChange {
                    topic,
                    partition,
                    replicas: Some(replicas),
                    ..
                } if !replicas.contains(&self.node_id) => {
                    let still_assigned = image
                        .partition(topic, *partition)
                        .is_some_and(|p| p.replicas.contains(&self.node_id));
                    if !still_assigned {
                        removed.push(TopicPartition {
                            topic: topic.clone(),
                            partition: *partition,
                        });
                    }
                }
                _ => {}
            }
        }
        for tp in removed {
            if let Some(fetchers) = self.fetchers.as_ref() {
                fetchers.remove_partition(&tp);
            }
            self.states.remove(&tp);
            let handle = self
                .partitions
                .get_mut(&tp.topic)
                .and_then(|mut m| m.remove(&tp.partition));
            if self.partitions.get(&tp.topic).is_some_and(|m| m.is_empty()) {
                self.partitions.remove(&tp.topic);
                self.configs.remove(&tp.topic);
            }
            if let Some(h) = handle {
                let _ = h.addr.send(ClosePartition { delete_data: true }).await;
            }
        }
    }

    /// Opens partitions concurrently (recovery waits mostly on the disk, so several openers on
    /// the blocking pool overlap those waits).
    async fn open_many(
        self: &Arc<Self>,
        work: Vec<(Arc<TopicToOpen>, i32)>,
    ) -> Result<(), BrokerError> {
        for _ in &work {
            self.health.recovery_started();
        }
        let chunks = work
            .chunks(work.len().div_ceil(OPENERS).max(1))
            .map(|c| c.to_vec())
            .collect::<Vec<_>>();
        let mut tasks = Vec::new();
        for chunk in chunks {
            let this = self.clone();
            tasks.push(async move {
                let mut first_error = None;
                for (topic, p) in chunk {
                    let r = this.start_partition(&topic, p).await;
                    this.health.recovery_finished();
                    if let Err(e) = r {
                        tracing::error!(topic = %topic.name, partition = p, error = %e, "cannot open partition");
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            });
        }
        let mut result = Ok(());
        for r in futures::future::join_all(tasks).await {
            if let Err(e) = r {
                result = Err(e);
            }
        }
        result
    }

    /// Opens (recovering) a partition's log off the actor threads and starts its actor.
    async fn start_partition(
        &self,
        topic: &TopicToOpen,
        partition: i32,
    ) -> Result<(), BrokerError> {
        let tp = TopicPartition {
            topic: topic.name.clone(),
            partition,
        };
        if self.get(&tp.topic, partition).is_some() {
            return Ok(());
        }
        let dir = self.partition_dir(&tp);
        let config = self.broker_config.log_config(&topic.configs);
        let log = open_log_blocking(dir.clone(), config.clone()).await?;
        let (tx, rx) = watch::channel(Watermarks::of(&log));
        let health = self.health.clone();
        let retention = Duration::from_millis(
            self.broker_config
                .get_i64("log.retention.check.interval.ms")
                .max(1) as u64,
        );
        let flush = Duration::from_millis(
            self.broker_config
                .get_i64("log.flush.scheduler.interval.ms")
                .max(1) as u64,
        );
        let arbiter = self.arbiter_for(&tp);
        let tp2 = tp.clone();
        let context = self.replica_context.clone();
        let high_watermark = self
            .checkpointed_high_watermarks
            .get(&(tp.topic.clone(), partition))
            .copied();
        let addr = actix::Supervisor::start_in_arbiter(&arbiter, move |_| {
            let mut replica = PartitionReplica::new(PartitionReplicaSetup {
                tp: tp2,
                dir,
                config,
                log,
                watermarks_tx: tx,
                health,
                retention_check_interval: retention,
                flush_check_interval: flush,
                context,
            });
            if let Some(hw) = high_watermark {
                replica.start_high_watermark_at(hw);
            }
            replica
        });
        self.configs
            .entry(tp.topic.clone())
            .or_insert_with(|| topic.configs.clone());
        self.partitions.entry(tp.topic.clone()).or_default().insert(
            partition,
            PartitionHandle {
                addr: CountedAddr::new(addr, &PARTITION_MAILBOX),
                watermarks: rx,
                lease: self.replica_context.lease.clone(),
            },
        );
        Ok(())
    }

    /// Writes every partition's high watermark to `replication-offset-checkpoint` (on a
    /// blocking thread) when any changed since the last write. Runs every few seconds and at
    /// shutdown.
    pub async fn checkpoint_high_watermarks(&self) {
        let marks: HighWatermarks = self
            .all()
            .into_iter()
            .map(|(tp, h)| {
                (
                    (tp.topic, tp.partition),
                    h.watermarks.borrow().high_watermark,
                )
            })
            .collect();
        if *self.last_checkpoint.lock() == marks {
            return;
        }
        let dir = self.data_dir.clone();
        let to_write = marks.clone();
        match tokio::task::spawn_blocking(move || replication_checkpoint::write(&dir, &to_write))
            .await
        {
            Ok(Ok(())) => *self.last_checkpoint.lock() = marks,
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the high watermark checkpoint"),
            Err(e) => tracing::warn!(error = %e, "high watermark checkpoint task failed"),
        }
    }

    /// Closes every partition cleanly (flush, clean-shutdown marker). Used on shutdown.
    pub async fn close_all(&self) {
        if let Some(fetchers) = self.fetchers.as_ref() {
            fetchers.stop_all();
        }
        self.checkpoint_high_watermarks().await;
        let all = self.all();
        let closes = all
            .iter()
            .map(|(_, h)| h.addr.send(ClosePartition { delete_data: false }));
        futures::future::join_all(closes).await;
        self.partitions.clear();
    }

    /// Removes partition directories that no topic in the image owns (a topic deleted while
    /// the broker was down after the record was written but before the files went).
    pub fn remove_orphan_dirs(&self, image: &MetadataImage) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some((topic, part)) = name.rsplit_once('-') else {
                continue;
            };
            if part.parse::<i32>().is_err() || !e.path().is_dir() {
                continue;
            }
            let owned = image
                .topics
                .get(topic)
                .is_some_and(|t| t.partitions.iter().any(|p| p.index.to_string() == part));
            if !owned {
                tracing::info!(dir = %name, "removing partition directory of a deleted topic");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

async fn open_log_blocking(
    dir: PathBuf,
    config: crate::storage::LogConfig,
) -> Result<Log, BrokerError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    tokio::task::spawn_blocking(move || Log::open(Path::new(&dir), config, now))
        .await
        .map_err(|e| BrokerError::Internal(e.to_string()))?
        .map_err(BrokerError::from)
}
