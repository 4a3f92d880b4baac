//! One thin handler per Kafka API: decode is done by the router; each handler authorizes
//! what Kafka's `KafkaApis` authorizes for that API (`authorize`, a no-op without
//! `authorizer.class.name`), asks the subsystem that owns the state (an actor by message;
//! Produce and Fetch the `ReplicaManager`) and builds the response. No handler keeps state.

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod client_quotas;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod scram_credentials;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use crate::actors::group_coordinator::coordinator::CommittedOffset;
use crate::actors::partition_replica::replica_manager::PartitionHandle;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// Whether the request's principal may do `operation` on the named resource.
pub(crate) fn authorized(
    ctx: &BrokerContext,
    client: &ClientInfo,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    ctx.authorize(
        &client.principal,
        &client.host,
        operation,
        resource_type,
        name,
    )
}

/// `authorized`, as the error Kafka answers a refusal with for that resource type.
pub(crate) fn authorize(
    ctx: &BrokerContext,
    client: &ClientInfo,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> Result<(), BrokerError> {
    if authorized(ctx, client, operation, resource_type, name) {
        return Ok(());
    }
    // Counted by `BrokerContext::authorize`, the one check every handler goes through.
    Err(match resource_type {
        ResourceType::Group => BrokerError::GroupAuthorizationFailed,
        ResourceType::Cluster => BrokerError::ClusterAuthorizationFailed,
        ResourceType::TransactionalId => BrokerError::TransactionalIdAuthorizationFailed,
        _ => BrokerError::TopicAuthorizationFailed,
    })
}

/// Kafka's `authorizeByResourceType`: whether the principal may do `operation` on some
/// resource of this type — an ALLOW ACL for it exists, and no DENY on the wildcard name
/// (every resource of the type) takes it back. Super users always may.
pub(crate) fn authorized_for_any(
    ctx: &BrokerContext,
    client: &ClientInfo,
    operation: AclOperation,
    resource_type: ResourceType,
) -> bool {
    use crate::security::authorizer::{
        AclBinding, AclPermissionType, PatternType, WILDCARD, WILDCARD_PRINCIPAL,
    };
    let Some(a) = ctx.acl_authorizer() else {
        return true;
    };
    if a.is_super_user(&client.principal) {
        return true;
    }
    let applies = |b: &AclBinding| {
        b.pattern.resource_type == resource_type
            && (b.entry.principal == *client.principal || b.entry.principal == WILDCARD_PRINCIPAL)
            && (b.entry.host == WILDCARD || b.entry.host == client.host)
            && (b.entry.operation == operation || b.entry.operation == AclOperation::All)
    };
    let denied_everywhere = a.acls().any(|b| {
        applies(b)
            && b.entry.permission == AclPermissionType::Deny
            && b.pattern.pattern_type == PatternType::Literal
            && b.pattern.name == WILDCARD
    });
    !denied_everywhere
        && a.acls()
            .any(|b| applies(b) && b.entry.permission == AclPermissionType::Allow)
}

/// The topics of `topics` the principal may do `operation` on (each name asked once).
pub(crate) fn authorized_topics<'a>(
    ctx: &BrokerContext,
    client: &ClientInfo,
    operation: AclOperation,
    topics: impl IntoIterator<Item = &'a str>,
) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    let mut allowed = std::collections::HashSet::new();
    for t in topics {
        if seen.insert(t) && authorize(ctx, client, operation, ResourceType::Topic, t).is_ok() {
            allowed.insert(t.to_string());
        }
    }
    allowed
}

/// Kafka's check of a config resource (DescribeConfigs, AlterConfigs,
/// IncrementalAlterConfigs): `operation` on the topic for a topic, on the cluster for a
/// broker or broker logger. Other resource types are left to the handler to refuse.
pub(crate) fn authorize_config_resource(
    ctx: &BrokerContext,
    client: &ClientInfo,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), BrokerError> {
    match resource_type {
        describe_configs::RESOURCE_TOPIC => {
            authorize(ctx, client, operation, ResourceType::Topic, name)
        }
        describe_configs::RESOURCE_BROKER | describe_configs::RESOURCE_BROKER_LOGGER => {
            authorize(ctx, client, operation, ResourceType::Cluster, CLUSTER)
        }
        _ => Ok(()),
    }
}

/// KIP-430's bit field of the operations the principal may do on a resource (all of the
/// type's operations when no authorizer is configured, as Kafka answers).
pub(crate) fn authorized_operations(
    ctx: &BrokerContext,
    client: &ClientInfo,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    let supported = resource_type.supported_operations();
    match ctx.acl_authorizer() {
        Some(a) => a.authorized_operations(
            &client.principal,
            &client.host,
            resource_type,
            name,
            supported,
        ),
        None => supported.iter().fold(0, |bits, op| bits | (1 << op.code())),
    }
}

/// Kafka's cluster resource name, for cluster-level checks.
pub(crate) const CLUSTER: &str = crate::security::authorizer::CLUSTER_NAME;

/// Finds the actor of a partition hosted here, or the error a client is answered with
/// (`ReplicaManager::partition_or_error`).
pub(crate) fn partition_handle(
    ctx: &BrokerContext,
    image: &MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<PartitionHandle, BrokerError> {
    ctx.replicas.partition_or_error(image, topic, partition)
}

/// (topic, partition, offset) for every partition of an OffsetCommit or TxnOffsetCommit
/// request's `topics` (two generated types with the same fields); `$with_epoch`: whether this
/// version carries the committed leader epoch.
macro_rules! requested_offsets {
    ($topics:expr, $with_epoch:expr) => {
        $topics.iter().flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let committed = $crate::protocol::handlers::committed_offset(
                    p.committed_offset,
                    ($with_epoch).then_some(p.committed_leader_epoch),
                    p.committed_metadata.as_ref(),
                );
                (t.name.to_string(), p.partition_index, committed)
            })
        })
    };
}
pub(crate) use requested_offsets;

/// An offset as OffsetCommit and TxnOffsetCommit send it (the leader epoch only from the
/// versions that carry it). The coordinator stamps its own clock when it stores the offset.
pub(crate) fn committed_offset(
    offset: i64,
    leader_epoch: Option<i32>,
    metadata: Option<&StrBytes>,
) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: leader_epoch.unwrap_or(-1),
        metadata: metadata.map(|m| m.to_string()),
        commit_timestamp_ms: 0,
    }
}

/// The configs a request sets: name → value, leaving out those sent without a value.
pub(crate) fn set_values<'a>(
    configs: impl Iterator<Item = (&'a StrBytes, Option<&'a StrBytes>)>,
) -> std::collections::BTreeMap<String, String> {
    configs
        .filter_map(|(name, value)| value.map(|v| (name.to_string(), v.to_string())))
        .collect()
}

pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
