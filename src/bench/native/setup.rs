//! What a native produce run needs before its first record, asked over the run's own security
//! through the admin CLI's connection: the topic (CreateTopics; one that exists is taken as
//! it is), each partition's leader and where to reach it (Metadata, as the listener dialled
//! advertises its brokers), the Produce version to speak (ApiVersions) and, for an idempotent
//! run, a producer id (InitProducerId).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, InitProducerIdRequest, MetadataResponse, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::batch::ProducerIdentity;
use crate::admin::topic::leaders;
use crate::admin::{check, Cluster, REQUEST_TIMEOUT};
use crate::bench::options::TopicOptions;
use crate::security::ClientSecurity;

/// Kafka's TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Produce v13 names topics by id; the producer names them.
const PRODUCE_MAX_VERSION: i16 = 12;
/// How long a new topic may take to have a leader for every partition.
const LEADERS_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how a run produces.
#[derive(Debug)]
pub struct Target {
    /// Partition → its leader's address.
    pub leaders: BTreeMap<i32, String>,
    pub produce_version: i16,
    pub producer: Option<ProducerIdentity>,
}

pub fn prepare(
    bootstrap: &str,
    security: &ClientSecurity,
    topic: &TopicOptions,
    idempotent: bool,
) -> anyhow::Result<Target> {
    let mut cluster = Cluster::connect_with(bootstrap, REQUEST_TIMEOUT, security.clone())?;
    create_topic(&mut cluster, topic)?;
    let leaders = wait_for_leaders(&mut cluster, &topic.topic)?;
    let produce_version = cluster
        .any()
        .version_for::<ProduceRequest>()?
        .min(PRODUCE_MAX_VERSION);
    let producer = if idempotent {
        Some(init_producer_id(&mut cluster)?)
    } else {
        None
    };
    Ok(Target {
        leaders,
        produce_version,
        producer,
    })
}

fn create_topic(cluster: &mut Cluster, t: &TopicOptions) -> anyhow::Result<()> {
    let replication_factor = i16::try_from(t.replication_factor).map_err(|_| {
        anyhow::anyhow!("--replication-factor {} is too large", t.replication_factor)
    })?;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(REQUEST_TIMEOUT.as_millis() as i32)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(t.topic.clone())))
            .with_num_partitions(t.partitions)
            .with_replication_factor(replication_factor)]);
    for r in cluster.any().call(request)?.topics {
        if r.error_code != TOPIC_ALREADY_EXISTS {
            check(
                "CreateTopics",
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
    }
    Ok(())
}

/// Partition → leader address, once every partition has a leader.
fn wait_for_leaders(cluster: &mut Cluster, topic: &str) -> anyhow::Result<BTreeMap<i32, String>> {
    let deadline = Instant::now() + LEADERS_TIMEOUT;
    loop {
        let metadata = cluster.metadata(Some(vec![topic.to_string()]))?;
        // A topic just created may not be in metadata yet: UNKNOWN_TOPIC_OR_PARTITION.
        if let Some(found) = leader_addresses(&metadata, topic) {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "topic {topic}: not every partition has a leader after {LEADERS_TIMEOUT:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Partition → leader address, if the topic has partitions and each has a known leader.
fn leader_addresses(metadata: &MetadataResponse, topic: &str) -> Option<BTreeMap<i32, String>> {
    let brokers: BTreeMap<i32, String> = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
        .collect();
    let leaders = leaders(metadata, topic).ok()?;
    if leaders.is_empty() {
        return None;
    }
    leaders
        .into_iter()
        .map(|(partition, leader)| Some((partition, brokers.get(&leader)?.clone())))
        .collect()
}

fn init_producer_id(cluster: &mut Cluster) -> anyhow::Result<ProducerIdentity> {
    let response = cluster.any().call(
        InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    )?;
    check("InitProducerId", response.error_code, None)?;
    Ok(ProducerIdentity {
        producer_id: response.producer_id.0,
        producer_epoch: response.producer_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;

    fn metadata(leaders: &[i32]) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9093)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(i as i32)
                                .with_leader_id(BrokerId(*l))
                        })
                        .collect(),
                )])
    }

    #[test]
    fn every_partition_needs_a_leader_the_metadata_names() {
        let found = leader_addresses(&metadata(&[1, 1]), "t").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[&1], "127.0.0.1:9093");
        assert!(
            leader_addresses(&metadata(&[1, -1]), "t").is_none(),
            "no leader yet"
        );
        assert!(
            leader_addresses(&metadata(&[1, 2]), "t").is_none(),
            "unknown broker"
        );
        assert!(leader_addresses(&metadata(&[]), "t").is_none());
        assert!(leader_addresses(&metadata(&[1]), "other").is_none());
    }
}
