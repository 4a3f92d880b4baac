//! OffsetCommit: checked against the group's member and generation (generation -1 with no
//! member id for groups without members), then stored by the `GroupCoordinator`.
//!
//! Kafka's checks: READ on the group (else every partition GROUP_AUTHORIZATION_FAILED), READ
//! on each topic (else that topic's partitions TOPIC_AUTHORIZATION_FAILED, not committed).

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{authorize, authorized_topics, requested_offsets};
use crate::actors::group_coordinator::coordinator::CommitOffsets;
use crate::broker::BrokerContext;
use crate::error::{BrokerError, GroupError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetCommitRequest,
    version: i16,
    client: &ClientInfo,
) -> OffsetCommitResponse {
    let group_id = req.group_id.to_string();
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Read,
        ResourceType::Group,
        &group_id,
    ) {
        return respond(req, |_| e.code());
    }
    let readable = authorized_topics(
        ctx,
        client,
        AclOperation::Read,
        req.topics.iter().map(|t| t.name.as_str()),
    );
    let offsets: Vec<_> = requested_offsets!(req.topics, version >= 6)
        .filter(|(t, _, _)| readable.contains(t))
        .collect();
    let refused_any = req
        .topics
        .iter()
        .any(|t| !readable.contains(t.name.as_str()));
    // As Kafka: nothing left to commit once the refused topics are gone, no coordinator call.
    let code = if offsets.is_empty() && refused_any {
        NONE
    } else {
        let msg = CommitOffsets {
            group_id: group_id.clone(),
            member_id: req.member_id.to_string(),
            generation_id: req.generation_id_or_member_epoch,
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            offsets,
        };
        GroupError::code_of(&ctx.ask_group_coordinator(&group_id, msg).await)
    };
    respond(req, |topic| {
        if readable.contains(topic) {
            code
        } else {
            BrokerError::TopicAuthorizationFailed.code()
        }
    })
}

/// Every requested partition, with its topic's code.
fn respond(req: OffsetCommitRequest, code: impl Fn(&str) -> i16) -> OffsetCommitResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let code = code(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
