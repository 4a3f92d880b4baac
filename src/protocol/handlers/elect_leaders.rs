//! ElectLeaders: ask the active controller for a preferred (election type 0) or unclean (1)
//! leader election of the listed partitions, or of every partition when the list is null.
//! Preferred: the first assigned replica leads again if it is live and in sync
//! (ELECTION_NOT_NEEDED if it already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise).
//! Unclean: a partition without a live leader gets the first live replica even out of sync
//! (ELIGIBLE_LEADERS_NOT_AVAILABLE when there is none).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::topic_name;
use crate::actors::controller::{ElectLeaders, ElectionType};
use crate::broker::BrokerContext;
use crate::error::BrokerError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
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
