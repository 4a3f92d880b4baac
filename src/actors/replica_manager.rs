//! `ReplicaManager`: the registry and lifecycle of this broker's `PartitionReplica` actors.
//!
//! Not an actor itself: a shared map from topic to partition handles that connections read
//! without a round trip. It turns metadata changes into actor starts (logs opened on a blocking
//! thread, then the actor placed on the arbiter its partition hashes to) and stops. It never
//! touches a log: each `PartitionReplica` owns its own.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::actors::partition_replica::{
    ClosePartition, PartitionReplica, TopicPartition, UpdateLogConfig, Watermarks,
};
use crate::actors::supervisor::SupervisorState;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metadata::{MetadataImage, MetadataRecord, TopicMeta};
use crate::storage::Log;

/// Partition logs opened concurrently at startup.
const OPENERS: usize = 16;

/// What a connection needs to talk to a partition.
#[derive(Clone)]
pub struct PartitionHandle {
    pub addr: Addr<PartitionReplica>,
    /// The partition's watermarks; parked fetches wait on the high watermark or, under
    /// READ_COMMITTED, the last stable offset.
    pub watermarks: watch::Receiver<Watermarks>,
}

pub struct ReplicaManager {
    data_dir: PathBuf,
    arbiters: Vec<ArbiterHandle>,
    partitions: DashMap<String, BTreeMap<i32, PartitionHandle>>,
    health: Arc<SupervisorState>,
    broker_config: BrokerConfig,
}

impl ReplicaManager {
    pub fn new(
        data_dir: PathBuf,
        arbiters: Vec<ArbiterHandle>,
        health: Arc<SupervisorState>,
        broker_config: BrokerConfig,
    ) -> Self {
        ReplicaManager {
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

    /// Starts actors for every partition of the image (broker startup).
    pub async fn open_all(self: &Arc<Self>, image: &MetadataImage) -> Result<(), BrokerError> {
        let topics: Vec<TopicMeta> = image.topics.values().cloned().collect();
        for t in &topics {
            for _ in &t.partitions {
                self.health.recovery_started();
            }
        }
        // Recovery waits mostly on the disk (checkpoint and tail fsyncs), so several openers
        // on the blocking pool overlap those waits.
        let work: Vec<(TopicMeta, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.clone(), p.index)))
            .collect();
        let chunks = work
            .chunks(work.len().div_ceil(OPENERS).max(1))
            .map(|c| c.to_vec())
            .collect::<Vec<_>>();
        let mut tasks = Vec::new();
        for chunk in chunks {
            let this = self.clone();
            tasks.push(async move {
                for (topic, p) in chunk {
                    let r = this.start_partition(&topic, p).await;
                    this.health.recovery_finished();
                    r?;
                }
                Ok::<(), BrokerError>(())
            });
        }
        for r in futures::future::join_all(tasks).await {
            r?;
        }
        Ok(())
    }

    /// Opens (recovering) a partition's log off the actor threads and starts its actor.
    async fn start_partition(&self, topic: &TopicMeta, partition: i32) -> Result<(), BrokerError> {
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
        let addr = actix::Supervisor::start_in_arbiter(&arbiter, move |_| {
            PartitionReplica::new(tp2, dir, config, log, tx, health, retention, flush)
        });
        self.partitions.entry(tp.topic.clone()).or_default().insert(
            partition,
            PartitionHandle {
                addr,
                watermarks: rx,
            },
        );
        Ok(())
    }

    /// Applies committed metadata records: start, reconfigure or remove partition actors.
    pub async fn apply(
        &self,
        records: &[MetadataRecord],
        image: &MetadataImage,
    ) -> Result<(), BrokerError> {
        for r in records {
            match r {
                MetadataRecord::CreateTopic(t) => {
                    for p in &t.partitions {
                        self.start_partition(t, p.index).await?;
                    }
                }
                MetadataRecord::CreatePartitions { topic, partitions } => {
                    if let Some(t) = image.topics.get(topic) {
                        for p in partitions {
                            self.start_partition(t, p.index).await?;
                        }
                    }
                }
                MetadataRecord::AlterTopicConfigs { topic, configs } => {
                    let config = self.broker_config.log_config(configs);
                    if let Some(m) = self.partitions.get(topic) {
                        for h in m.values() {
                            h.addr.do_send(UpdateLogConfig(config.clone()));
                        }
                    }
                }
                MetadataRecord::DeleteTopic { topic } => {
                    if let Some((_, m)) = self.partitions.remove(topic) {
                        for h in m.values() {
                            let _ = h.addr.send(ClosePartition { delete_data: true }).await;
                        }
                    }
                }
                MetadataRecord::RegisterBroker(_)
                | MetadataRecord::ProducerIdBlock { .. }
                | MetadataRecord::FenceBroker { .. }
                | MetadataRecord::UnfenceBroker { .. }
                | MetadataRecord::PartitionChange { .. } => {}
            }
        }
        Ok(())
    }

    /// Closes every partition cleanly (flush, clean-shutdown marker). Used on shutdown.
    pub async fn close_all(&self) {
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
