//! `troupe topic create|list|describe|alter|delete` and `troupe cluster status`.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::output::{emit, Table};
use super::{check, AdminError, Cluster};

/// ConfigResource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// ListOffsets timestamps.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// DescribeConfigs config_source of a value nobody set.
const DEFAULT_CONFIG_SOURCE: i8 = 5;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Parses `key=value` pairs from `--config`.
pub fn parse_configs(pairs: &[String]) -> Result<Vec<(String, String)>, AdminError> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| AdminError::Usage(format!("--config {pair}: expected key=value")))
        })
        .collect()
}

pub fn create(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), AdminError> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            )]);
    let response = cluster.any().call(request)?;
    for t in response.topics {
        check(
            "CreateTopics",
            t.error_code,
            t.error_message.map(|m| m.to_string()),
        )?;
    }
    eprintln!("created topic {topic} with {partitions} partitions");
    Ok(())
}

pub fn delete(cluster: &mut Cluster, topic: &str) -> Result<(), AdminError> {
    let connection = cluster.any();
    let version = connection.version_for::<DeleteTopicsRequest>()?;
    let request = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    let request = if version >= 6 {
        request.with_topics(vec![
            DeleteTopicState::default().with_name(Some(name(topic)))
        ])
    } else {
        request.with_topic_names(vec![name(topic)])
    };
    let response = connection.call(request)?;
    for r in response.responses {
        check(
            "DeleteTopics",
            r.error_code,
            r.error_message.map(|m| m.to_string()),
        )?;
    }
    eprintln!("deleted topic {topic}");
    Ok(())
}

pub fn list(
    cluster: &mut Cluster,
    json_wanted: bool,
    include_internal: bool,
) -> Result<(), AdminError> {
    let metadata = cluster.metadata(None)?;
    let mut topics: Vec<(String, usize, usize, bool)> = metadata
        .topics
        .iter()
        .filter(|t| include_internal || !t.is_internal)
        .filter_map(|t| {
            let name = t.name.as_ref()?.to_string();
            let rf = t.partitions.first().map_or(0, |p| p.replica_nodes.len());
            Some((name, t.partitions.len(), rf, t.is_internal))
        })
        .collect();
    topics.sort();
    let json = json!(topics
        .iter()
        .map(|(n, p, rf, internal)| json!({"name": n, "partitions": p, "replication_factor": rf, "internal": internal}))
        .collect::<Vec<_>>());
    emit(json_wanted, json, || {
        let mut table = Table::new(&["TOPIC", "PARTITIONS", "REPLICATION"]);
        for (n, p, rf, _) in &topics {
            table.row(vec![n.clone(), p.to_string(), rf.to_string()]);
        }
        table.render()
    });
    Ok(())
}

/// One partition as `describe` shows it.
struct PartitionView {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    log_start_offset: i64,
    log_end_offset: i64,
}

fn ids(list: &[BrokerId]) -> Vec<i32> {
    list.iter().map(|b| b.0).collect()
}

fn join(list: &[i32]) -> String {
    list.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Offsets at `timestamp` (EARLIEST / LATEST) of each partition, asked of its leader.
pub fn partition_offsets(
    cluster: &mut Cluster,
    topic: &str,
    leaders: &BTreeMap<i32, i32>,
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>, AdminError> {
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (partition, leader) in leaders {
        by_leader.entry(*leader).or_default().push(*partition);
    }
    let mut offsets = BTreeMap::new();
    for (leader, partitions) in by_leader {
        if leader < 0 {
            continue; // offline: no offsets to tell
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let response = cluster.broker(leader)?.call(request)?;
        for t in response.topics {
            for p in t.partitions {
                check("ListOffsets", p.error_code, None)?;
                offsets.insert(p.partition_index, p.offset);
            }
        }
    }
    Ok(offsets)
}

/// Partition → leader of `topic`, from metadata.
pub fn leaders(metadata: &MetadataResponse, topic: &str) -> Result<BTreeMap<i32, i32>, AdminError> {
    let t = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .ok_or_else(|| AdminError::kafka("Metadata", 3, Some(format!("no topic {topic}"))))?;
    check("Metadata", t.error_code, Some(format!("topic {topic}")))?;
    Ok(t.partitions
        .iter()
        .map(|p| (p.partition_index, p.leader_id.0))
        .collect())
}

pub fn describe(cluster: &mut Cluster, topic: &str, json_wanted: bool) -> Result<(), AdminError> {
    let metadata = cluster.metadata(Some(vec![topic.to_string()]))?;
    let leaders = leaders(&metadata, topic)?;
    let t = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .expect("leaders() found it");
    let starts = partition_offsets(cluster, topic, &leaders, EARLIEST)?;
    let ends = partition_offsets(cluster, topic, &leaders, LATEST)?;
    let mut partitions: Vec<PartitionView> = t
        .partitions
        .iter()
        .map(|p| PartitionView {
            partition: p.partition_index,
            leader: p.leader_id.0,
            replicas: ids(&p.replica_nodes),
            isr: ids(&p.isr_nodes),
            log_start_offset: starts.get(&p.partition_index).copied().unwrap_or(-1),
            log_end_offset: ends.get(&p.partition_index).copied().unwrap_or(-1),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    let configs = topic_configs(cluster, topic)?;
    let json = json!({
        "name": topic,
        "internal": t.is_internal,
        "configs": configs,
        "partitions": partitions.iter().map(|p| json!({
            "partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr,
            "log_start_offset": p.log_start_offset, "log_end_offset": p.log_end_offset,
        })).collect::<Vec<_>>(),
    });
    emit(json_wanted, json, || {
        let mut out = format!("Topic: {topic}  partitions: {}\n", partitions.len());
        if !configs.is_empty() {
            let set: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("Configs: {}\n", set.join(", ")));
        }
        let mut table = Table::new(&[
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "LOG-START",
            "LOG-END",
        ]);
        for p in &partitions {
            table.row(vec![
                p.partition.to_string(),
                p.leader.to_string(),
                join(&p.replicas),
                join(&p.isr),
                p.log_start_offset.to_string(),
                p.log_end_offset.to_string(),
            ]);
        }
        out.push_str(&table.render());
        out
    });
    Ok(())
}

/// The topic's configs that are not defaults.
fn topic_configs(
    cluster: &mut Cluster,
    topic: &str,
) -> Result<BTreeMap<String, String>, AdminError> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(str_bytes(topic))]);
    let response = cluster.any().call(request)?;
    let mut configs = BTreeMap::new();
    for r in response.results {
        check(
            "DescribeConfigs",
            r.error_code,
            r.error_message.map(|m| m.to_string()),
        )?;
        for c in r.configs {
            if c.config_source != DEFAULT_CONFIG_SOURCE && !c.is_sensitive {
                configs.insert(
                    c.name.to_string(),
                    c.value.map(|v| v.to_string()).unwrap_or_default(),
                );
            }
        }
    }
    Ok(configs)
}

/// Sets (or with an empty value, removes) topic configs, and grows the partition count.
pub fn alter(
    cluster: &mut Cluster,
    topic: &str,
    configs: &[(String, String)],
    partitions: Option<i32>,
) -> Result<(), AdminError> {
    if configs.is_empty() && partitions.is_none() {
        return Err(AdminError::Usage(
            "nothing to alter: give --config key=value or --partitions N".into(),
        ));
    }
    if !configs.is_empty() {
        const SET: i8 = 0;
        const DELETE: i8 = 1;
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(str_bytes(topic))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            let (op, value) = if v.is_empty() {
                                (DELETE, None)
                            } else {
                                (SET, Some(str_bytes(v)))
                            };
                            AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_config_operation(op)
                                .with_value(value)
                        })
                        .collect(),
                ),
        ]);
        let response = cluster.any().call(request)?;
        for r in response.responses {
            check(
                "IncrementalAlterConfigs",
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
    }
    if let Some(count) = partitions {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(count)]);
        let response = cluster.any().call(request)?;
        for r in response.results {
            check(
                "CreatePartitions",
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
    }
    eprintln!("altered topic {topic}");
    Ok(())
}

/// `troupe cluster status`: brokers, the controller, under-replicated and offline partitions.
pub fn cluster_status(cluster: &mut Cluster, json_wanted: bool) -> Result<(), AdminError> {
    let metadata = cluster.metadata(None)?;
    let mut under_replicated = 0;
    let mut offline = 0;
    let mut partitions = 0;
    for t in &metadata.topics {
        for p in &t.partitions {
            partitions += 1;
            if p.leader_id.0 < 0 {
                offline += 1;
            }
            if p.isr_nodes.len() < p.replica_nodes.len() {
                under_replicated += 1;
            }
        }
    }
    let brokers: Vec<(i32, String)> = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
        .collect();
    let json = json!({
        "cluster_id": metadata.cluster_id.as_ref().map(|c| c.to_string()),
        "controller": metadata.controller_id.0,
        "brokers": brokers.iter().map(|(id, a)| json!({"node_id": id, "address": a})).collect::<Vec<_>>(),
        "topics": metadata.topics.len(),
        "partitions": partitions,
        "under_replicated_partitions": under_replicated,
        "offline_partitions": offline,
    });
    emit(json_wanted, json, || {
        let mut out = format!(
            "Cluster: {}  controller: {}\n",
            metadata
                .cluster_id
                .as_ref()
                .map_or("-".to_string(), |c| c.to_string()),
            metadata.controller_id.0
        );
        out.push_str(&format!(
            "Topics: {}  partitions: {partitions}  under-replicated: {under_replicated}  offline: {offline}\n",
            metadata.topics.len()
        ));
        let mut table = Table::new(&["BROKER", "ADDRESS"]);
        for (id, address) in &brokers {
            table.row(vec![id.to_string(), address.clone()]);
        }
        out.push_str(&table.render());
        out
    });
    Ok(())
}
