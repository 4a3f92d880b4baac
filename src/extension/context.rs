//! `ExtensionContext`: what an extension may do with the broker — read metadata, create
//! topics, and produce records through the same path a client's Produce takes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::actors::controller::{CreateTopics, NewTopic};
use crate::actors::partition_replica::replica_manager::AppendOptions;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::storage::batch_builder::{build_batch, NewRecord};

/// One record to produce.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Handed to every extension call; cheap to clone into the futures an extension returns.
#[derive(Clone)]
pub struct ExtensionContext {
    broker: Arc<BrokerContext>,
}

impl ExtensionContext {
    pub(crate) fn new(broker: Arc<BrokerContext>) -> Self {
        ExtensionContext { broker }
    }

    pub fn node_id(&self) -> i32 {
        self.broker.node_id
    }

    /// The cluster metadata as this node has applied it.
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.broker.metadata.current()
    }

    /// Whether this node leads `topic`'s `partition` (where `produce` to it succeeds).
    pub fn leads(&self, topic: &str, partition: i32) -> bool {
        self.metadata()
            .topics
            .get(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.index == partition))
            .is_some_and(|p| p.leader == self.broker.node_id)
    }

    /// Creates a topic unless it exists (with the broker's default replication factor when
    /// `replication_factor` is -1). Returns once this node has applied the creation.
    pub async fn ensure_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<(), BrokerError> {
        if self.metadata().topics.contains_key(name) {
            return Ok(());
        }
        let replication_factor = if replication_factor < 0 {
            self.broker.config.get_i64("default.replication.factor") as i16
        } else {
            replication_factor
        };
        let answer = self
            .broker
            .controller
            .send(CreateTopics {
                topics: vec![NewTopic {
                    name: name.to_string(),
                    num_partitions: partitions,
                    replication_factor,
                    configs: Default::default(),
                    assignments: None,
                }],
                validate_only: false,
            })
            .await
            .map_err(|_| BrokerError::CoordinatorNotAvailable)?;
        match answer.into_iter().next() {
            Some(Ok(_)) | Some(Err(BrokerError::TopicAlreadyExists(_))) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err(BrokerError::Internal(
                "the controller gave no answer".into(),
            )),
        }
    }

    /// Produces `records` as one batch to `topic`'s `partition` with `acks=all`, through the
    /// broker's own produce path, `ReplicaManager::append_to_partition` (the same validation,
    /// append and replication wait as a client's Produce). The partition must be led by this node (else
    /// NOT_LEADER_OR_FOLLOWER, as a client would get). Returns the first record's offset.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[Record],
    ) -> Result<i64, BrokerError> {
        let batch = encode_batch(records)?;
        let image = self.broker.metadata.current();
        let options = AppendOptions {
            required_acks: -1,
            timeout: Duration::from_millis(
                self.broker.config.get_i64("request.timeout.ms").max(1) as u64
            ),
            image: &image,
            timer: &self.broker.timer,
        };
        let appended = self
            .broker
            .replicas
            .append_to_partition(options, topic, partition, Some(batch))
            .await?;
        Ok(appended.base_offset)
    }
}

/// A v2 record batch of `records`, uncompressed, timestamped now.
fn encode_batch(records: &[Record]) -> Result<Bytes, BrokerError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records = records.iter().map(|r| NewRecord {
        key: r.key.clone(),
        value: r.value.clone(),
        headers: &r.headers,
    });
    Ok(build_batch(records, now, None)?)
}
