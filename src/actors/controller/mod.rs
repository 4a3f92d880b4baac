//! `Controller`: the only writer of cluster metadata.
//!
//! Topic, partition and config changes arrive as messages, are validated against the current
//! image, written to the metadata log (fsynced on a blocking thread), applied to the image,
//! published to the `MetadataCache`, and handed to the `ReplicaManager` before the caller is
//! answered, so a created topic is writable as soon as CreateTopics returns. One change runs at
//! a time (`AtomicResponse`), which keeps the log, the image and the cache in the same order.
//! On one broker the metadata log is a local file; the cluster issue swaps it for an openraft
//! quorum behind the same messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::actors::metadata_cache::MetadataCache;
use crate::actors::replica_manager::ReplicaManager;
use crate::config::{validate_topic_configs, BrokerConfig};
use crate::error::BrokerError;
use crate::metadata::{
    validate_topic_name, MetadataImage, MetadataLog, MetadataRecord, PartitionMeta, TopicMeta,
};

pub mod election;
pub mod placement;

/// Producer ids are reserved from the metadata log in blocks, so ids are never reused after a
/// restart while most allocations cost no write.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct Controller {
    node_id: i32,
    image: MetadataImage,
    log: Arc<Mutex<MetadataLog>>,
    cache: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    broker_config: BrokerConfig,
    /// Next producer id to hand out and the end of the reserved block.
    next_producer_id: i64,
    producer_id_block_end: i64,
}

impl Controller {
    pub fn new(
        node_id: i32,
        image: MetadataImage,
        log: MetadataLog,
        cache: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        broker_config: BrokerConfig,
    ) -> Self {
        let next = image.next_producer_id;
        Controller {
            node_id,
            image,
            log: Arc::new(Mutex::new(log)),
            cache,
            replicas,
            broker_config,
            next_producer_id: next,
            producer_id_block_end: next,
        }
    }

    fn placement(
        &self,
        partitions: std::ops::Range<i32>,
        replication_factor: i16,
    ) -> Result<Vec<PartitionMeta>, BrokerError> {
        let brokers: Vec<i32> = self.image.brokers.keys().copied().collect();
        if replication_factor < 1 || replication_factor as usize > brokers.len() {
            return Err(BrokerError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is larger than the {} available broker(s)",
                brokers.len()
            )));
        }
        Ok(partitions
            .map(|index| {
                // Single broker: every replica set is this broker. The cluster issue brings the
                // seed notes' shifted placement across brokers.
                let replicas: Vec<i32> = (0..replication_factor as usize)
                    .map(|i| brokers[(index as usize + i) % brokers.len()])
                    .collect();
                PartitionMeta {
                    index,
                    leader: replicas[0],
                    isr: replicas.clone(),
                    replicas,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            })
            .collect())
    }

    fn plan_create_topic(
        &self,
        req: &NewTopic,
        planned: &BTreeMap<String, ()>,
    ) -> Result<TopicMeta, BrokerError> {
        validate_topic_name(&req.name).map_err(BrokerError::InvalidTopic)?;
        if self.image.topics.contains_key(&req.name) || planned.contains_key(&req.name) {
            return Err(BrokerError::TopicAlreadyExists(req.name.clone()));
        }
        let partitions = if req.num_partitions == -1 {
            self.broker_config.get_i64("num.partitions") as i32
        } else {
            req.num_partitions
        };
        if partitions < 1 {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {partitions}"
            )));
        }
        if partitions > 1_000_000 {
            return Err(BrokerError::InvalidPartitions(format!(
                "{partitions} partitions is more than this broker accepts"
            )));
        }
        let rf = if req.replication_factor == -1 {
            self.broker_config.get_i64("default.replication.factor") as i16
        } else {
            req.replication_factor
        };
        let configs = validate_topic_configs(&req.configs)?;
        Ok(TopicMeta {
            name: req.name.clone(),
            id: Uuid::new_v4(),
            partitions: self.placement(0..partitions, rf)?,
            configs,
            internal: req.name.starts_with("__"),
        })
    }

    /// Writes records durably, then applies and publishes them. Runs on a blocking thread for
    /// the fsync; the caller holds the actor (AtomicResponse) until it completes.
    fn commit(
        &mut self,
        records: Vec<MetadataRecord>,
    ) -> impl std::future::Future<Output = Result<(), BrokerError>> + 'static {
        let log = self.log.clone();
        let to_write = records.clone();
        async move {
            tokio::task::spawn_blocking(move || log.lock().append(&to_write))
                .await
                .map_err(|e| BrokerError::Internal(e.to_string()))?
                .map_err(|e| BrokerError::KafkaStorage(format!("metadata log: {e}")))?;
            Ok(())
        }
    }

    fn apply_and_publish(&mut self, records: &[MetadataRecord]) -> MetadataImage {
        for r in records {
            self.image.apply(r);
        }
        self.cache.publish(self.image.clone());
        self.image.clone()
    }
}

impl Actor for Controller {
    type Context = Context<Self>;
}

/// Registers this broker (idempotent) so it appears in Metadata and placement.
#[derive(Message)]
#[rtype(result = "Result<(), BrokerError>")]
pub struct RegisterBroker(pub crate::metadata::BrokerInfo);

#[derive(Clone, Debug)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub num_partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

#[derive(Message)]
#[rtype(result = "Vec<Result<TopicMeta, BrokerError>>")]
pub struct CreateTopics {
    pub topics: Vec<NewTopic>,
    pub validate_only: bool,
}

#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct DeleteTopics {
    pub names: Vec<String>,
}

#[derive(Message)]
#[rtype(result = "Vec<Result<(), BrokerError>>")]
pub struct CreatePartitions {
    /// (topic, new total count)
    pub topics: Vec<(String, i32)>,
    pub validate_only: bool,
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

#[derive(Message)]
#[rtype(result = "Result<i64, BrokerError>")]
pub struct AllocateProducerId;

type Atomic<T> = AtomicResponse<Controller, T>;

impl Handler<RegisterBroker> for Controller {
    type Result = Atomic<Result<(), BrokerError>>;
    fn handle(&mut self, msg: RegisterBroker, _: &mut Context<Self>) -> Self::Result {
        if self.image.brokers.get(&msg.0.id) == Some(&msg.0) {
            self.cache.publish(self.image.clone());
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        }
        let records = vec![MetadataRecord::RegisterBroker(msg.0)];
        let commit = self.commit(records.clone());
        AtomicResponse::new(Box::pin(commit.into_actor(self).map(move |r, act, _| {
            r?;
            act.image.controller_id = act.node_id;
            act.apply_and_publish(&records);
            Ok(())
        })))
    }
}

impl Handler<CreateTopics> for Controller {
    type Result = Atomic<Vec<Result<TopicMeta, BrokerError>>>;

    fn handle(&mut self, msg: CreateTopics, _: &mut Context<Self>) -> Self::Result {
        let mut planned = BTreeMap::new();
        let plans: Vec<Result<TopicMeta, BrokerError>> = msg
            .topics
            .iter()
            .map(|t| {
                let r = self.plan_create_topic(t, &planned);
                if r.is_ok() {
                    planned.insert(t.name.clone(), ());
                }
                r
            })
            .collect();
        if msg.validate_only {
            return AtomicResponse::new(Box::pin(fut::ready(plans)));
        }
        let records: Vec<MetadataRecord> = plans
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|t| MetadataRecord::CreateTopic(t.clone()))
            .collect();
        AtomicResponse::new(self.commit_then_apply(records, plans))
    }
}

impl Controller {
    /// Commits `records`, applies them to the image, cache and replicas, then answers
    /// `answer` — or turns every success in it into the commit error.
    fn commit_then_apply<T: Clone + 'static>(
        &mut self,
        records: Vec<MetadataRecord>,
        answer: Vec<Result<T, BrokerError>>,
    ) -> ResponseActFuture<Self, Vec<Result<T, BrokerError>>> {
        if records.is_empty() {
            return Box::pin(fut::ready(answer));
        }
        let commit = self.commit(records.clone());
        let replicas = self.replicas.clone();
        Box::pin(
            commit
                .into_actor(self)
                .map(move |r, act, _| r.map(|_| (act.apply_and_publish(&records), records)))
                .then(move |r, act, _| {
                    async move {
                        match r {
                            Ok((image, records)) => match replicas.apply(&records, &image).await {
                                Ok(()) => answer,
                                Err(e) => {
                                    answer.into_iter().map(|a| a.and(Err(e.clone()))).collect()
                                }
                            },
                            Err(e) => answer.into_iter().map(|a| a.and(Err(e.clone()))).collect(),
                        }
                    }
                    .into_actor(act)
                }),
        )
    }
}

impl Handler<DeleteTopics> for Controller {
    type Result = Atomic<Vec<Result<(), BrokerError>>>;

    fn handle(&mut self, msg: DeleteTopics, _: &mut Context<Self>) -> Self::Result {
        let enabled = self.broker_config.get_bool("delete.topic.enable");
        let mut seen = BTreeMap::new();
        let answer: Vec<Result<(), BrokerError>> = msg
            .names
            .iter()
            .map(|n| {
                if !enabled {
                    Err(BrokerError::TopicDeletionDisabled)
                } else if !self.image.topics.contains_key(n) || seen.insert(n.clone(), ()).is_some()
                {
                    Err(BrokerError::UnknownTopicOrPartition)
                } else {
                    Ok(())
                }
            })
            .collect();
        let records = msg
            .names
            .iter()
            .zip(&answer)
            .filter(|(_, a)| a.is_ok())
            .map(|(n, _)| MetadataRecord::DeleteTopic { topic: n.clone() })
            .collect();
        AtomicResponse::new(self.commit_then_apply(records, answer))
    }
}

impl Handler<CreatePartitions> for Controller {
    type Result = Atomic<Vec<Result<(), BrokerError>>>;

    fn handle(&mut self, msg: CreatePartitions, _: &mut Context<Self>) -> Self::Result {
        let mut records = Vec::new();
        let answer = msg
            .topics
            .iter()
            .map(|(name, count)| {
                let t = self.image.topics.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
                let now = t.partitions.len() as i32;
                if *count <= now {
                    return Err(BrokerError::InvalidPartitions(format!(
                        "topic currently has {now} partitions, which is higher than or equal to the requested {count}"
                    )));
                }
                if *count > 1_000_000 {
                    return Err(BrokerError::InvalidPartitions(format!("{count} partitions is more than this broker accepts")));
                }
                let rf = t.partitions.first().map(|p| p.replicas.len() as i16).unwrap_or(1);
                let partitions = self.placement(now..*count, rf)?;
                records.push(MetadataRecord::CreatePartitions { topic: name.clone(), partitions });
                Ok(())
            })
            .collect();
        if msg.validate_only {
            records.clear();
        }
        AtomicResponse::new(self.commit_then_apply(records, answer))
    }
}

impl Handler<AlterTopicConfigs> for Controller {
    type Result = Atomic<Result<(), BrokerError>>;

    fn handle(&mut self, msg: AlterTopicConfigs, _: &mut Context<Self>) -> Self::Result {
        let planned = (|| {
            if !self.image.topics.contains_key(&msg.topic) {
                return Err(BrokerError::UnknownTopicOrPartition);
            }
            validate_topic_configs(&msg.configs).map_err(BrokerError::from)
        })();
        let configs = match planned {
            Ok(c) => c,
            Err(e) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
        };
        if msg.validate_only {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(()))));
        }
        let records = vec![MetadataRecord::AlterTopicConfigs {
            topic: msg.topic,
            configs,
        }];
        let inner = self.commit_then_apply(records, vec![Ok(())]);
        AtomicResponse::new(Box::pin(inner.map(|mut v, _, _| v.pop().unwrap_or(Ok(())))))
    }
}

impl Handler<AllocateProducerId> for Controller {
    type Result = Atomic<Result<i64, BrokerError>>;

    fn handle(&mut self, _: AllocateProducerId, _: &mut Context<Self>) -> Self::Result {
        if self.next_producer_id < self.producer_id_block_end {
            let id = self.next_producer_id;
            self.next_producer_id += 1;
            return AtomicResponse::new(Box::pin(fut::ready(Ok(id))));
        }
        let block_end = self.next_producer_id + PRODUCER_ID_BLOCK;
        let records = vec![MetadataRecord::ProducerIdBlock {
            next_producer_id: block_end,
        }];
        let commit = self.commit(records.clone());
        AtomicResponse::new(Box::pin(commit.into_actor(self).map(move |r, act, _| {
            r?;
            act.apply_and_publish(&records);
            act.producer_id_block_end = block_end;
            let id = act.next_producer_id;
            act.next_producer_id += 1;
            Ok(id)
        })))
    }
}
