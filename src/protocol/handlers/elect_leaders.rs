//! ElectLeaders: ask the active controller for a preferred (election type 0) or unclean (1)
//! leader election of the listed partitions, or of every partition when the list is null.
//! Preferred: the first assigned replica leads again if it is live and in sync
//! (ELECTION_NOT_NEEDED if it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise).
//! Unclean: a partition without a live leader gets the first live replica even out of sync
//! (ELIGIBLE_LEADERS_NOT_AVAILABLE when there is none).
//!
//! Kafka's check: ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED, top level from v1 and
//! on every listed partition).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{authorize, topic_name, CLUSTER};
use crate::actors::controller::{ElectLeaders, ElectionType};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ElectLeadersRequest,
    version: i16,
    client: &ClientInfo,
) -> ElectLeadersResponse {
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER,
    ) {
        return refused(req, version, e);
    }
    let election = match (version, req.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        (_, other) => {
            let e = BrokerError::InvalidRequest(format!("unknown election type {other}"));
            return ElectLeadersResponse::default().with_error_code(e.code());
        }
    };
    let partitions: Option<Vec<(String, i32)>> = req.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.topic.to_string();
                t.partitions.into_iter().map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let answers = match ctx
        .controller
        .send(ElectLeaders {
            election,
            partitions,
        })
        .await
    {
        Ok(a) => a,
        Err(_) => {
            return ElectLeadersResponse::default()
                .with_error_code(BrokerError::NotController.code())
        }
    };
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), result) in answers {
        let (code, message) = match result {
            Ok(()) => (0, None),
            Err(e) => (e.code(), Some(e.message())),
        };
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(topic, results)| {
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&topic))
                    .with_partition_result(results)
            })
            .collect(),
    )
}

/// Every listed partition (and, from v1, the request) answering `e`.
fn refused(req: ElectLeadersRequest, version: i16, e: BrokerError) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    PartitionResult::default()
                        .with_partition_id(p)
                        .with_error_code(e.code())
                        .with_error_message(Some(e.message()))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    let response = ElectLeadersResponse::default().with_replica_election_results(results);
    if version >= 1 {
        response.with_error_code(e.code())
    } else {
        response
    }
}
