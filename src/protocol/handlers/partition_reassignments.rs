//! AlterPartitionReassignments and ListPartitionReassignments. A reassignment first grows the
//! partition's replicas to target ∪ original (new replicas fetch and catch up while the old
//! ones keep serving); once every target replica is in the ISR the active controller shrinks
//! the replicas to the target, electing a target replica as leader if the old one leaves.
//! A null replica list cancels (back to the original replicas).
//!
//! Kafka's checks: ALTER on the cluster to alter, DESCRIBE on the cluster to list (else the
//! request's CLUSTER_AUTHORIZATION_FAILED; Alter's partitions carry it too).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{authorize, topic_name, CLUSTER};
use crate::actors::controller::{AlterReassignments, PartitionResults};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn alter(
    ctx: &Arc<BrokerContext>,
    req: AlterPartitionReassignmentsRequest,
    version: i16,
    client: &ClientInfo,
) -> AlterPartitionReassignmentsResponse {
    let check = authorize(
        ctx,
        client,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER,
    );
    if let Err(e) = check {
        return alter_refused(req, version, e);
    }
    let image = ctx.metadata.current();
    let mut partitions = Vec::new();
    let mut refused = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let tp = (t.name.to_string(), p.partition_index);
            let target: Option<Vec<i32>> =
                p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            let changes_factor = match (&target, image.partition(&tp.0, tp.1)) {
                (Some(target), Some(current)) => {
                    let original = image
                        .reassignments
                        .get(&tp.0)
                        .and_then(|m| m.get(&tp.1))
                        .map(|o| o.original.len())
                        .unwrap_or(current.replicas.len());
                    target.len() != original
                }
                _ => false,
            };
            // KIP-860: from v1 a caller may forbid changing the replication factor (v0 callers
            // always could).
            if changes_factor && version >= 1 && !req.allow_replication_factor_change {
                refused.push((
                    tp,
                    BrokerError::InvalidReplicationFactor(
                        "the reassignment would change the replication factor".into(),
                    ),
                ));
            } else {
                partitions.push((tp, target));
            }
        }
    }
    let mut answers = match ctx
        .controller
        .send(AlterReassignments {
            partitions: partitions.clone(),
        })
        .await
    {
        Ok(a) => a,
        Err(_) => partitions
            .into_iter()
            .map(|(tp, _)| (tp, Err(BrokerError::NotController)))
            .collect(),
    };
    answers.extend(refused.into_iter().map(|(tp, e)| (tp, Err(e))));
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let outcome = answer_for(&answers, t.name.as_str(), p.partition_index);
                    let (code, message) = BrokerError::code_and_message(&outcome);
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(echoed(&req, version))
        .with_responses(responses)
}

/// The response field exists from v1; v0 keeps its default.
fn echoed(req: &AlterPartitionReassignmentsRequest, version: i16) -> bool {
    if version >= 1 {
        req.allow_replication_factor_change
    } else {
        AlterPartitionReassignmentsResponse::default().allow_replication_factor_change
    }
}

/// The request, and every partition of it, answering `e` (Kafka's error response).
fn alter_refused(
    req: AlterPartitionReassignmentsRequest,
    version: i16,
    e: BrokerError,
) -> AlterPartitionReassignmentsResponse {
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(e.code())
                        .with_error_message(Some(e.message()))
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(echoed(&req, version))
        .with_error_code(e.code())
        .with_error_message(Some(e.message()))
        .with_responses(responses)
}

pub async fn list(
    ctx: &Arc<BrokerContext>,
    req: ListPartitionReassignmentsRequest,
    _version: i16,
    client: &ClientInfo,
) -> ListPartitionReassignmentsResponse {
    let check = authorize(
        ctx,
        client,
        AclOperation::Describe,
        ResourceType::Cluster,
        CLUSTER,
    );
    if let Err(e) = check {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(e.message()));
    }
    let image = ctx.metadata.current();
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(ts) => ts
            .iter()
            .any(|t| t.name.as_str() == topic && t.partition_indexes.contains(&partition)),
    };
    let mut topics = Vec::new();
    for (topic, ongoing) in &image.reassignments {
        let partitions: Vec<OngoingPartitionReassignment> = ongoing
            .iter()
            .filter(|(p, _)| wanted(topic, **p))
            .filter_map(|(p, r)| {
                let current = image.partition(topic, *p)?;
                let ids = |v: Vec<i32>| v.into_iter().map(BrokerId).collect::<Vec<_>>();
                Some(
                    OngoingPartitionReassignment::default()
                        .with_partition_index(*p)
                        .with_replicas(ids(current.replicas.clone()))
                        .with_adding_replicas(ids(r
                            .target
                            .iter()
                            .copied()
                            .filter(|b| !r.original.contains(b))
                            .collect()))
                        .with_removing_replicas(ids(r
                            .original
                            .iter()
                            .copied()
                            .filter(|b| !r.target.contains(b))
                            .collect())),
                )
            })
            .collect();
        if !partitions.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(topic_name(topic))
                    .with_partitions(partitions),
            );
        }
    }
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// The controller's answer for one partition of the request (every partition gets one).
fn answer_for(answers: &PartitionResults, topic: &str, partition: i32) -> Result<(), BrokerError> {
    answers
        .iter()
        .find(|((n, i), _)| n == topic && *i == partition)
        .map(|(_, r)| r.clone())
        .unwrap_or(Err(BrokerError::Internal("no answer".into())))
}
