//! OffsetCommit: checked against the group's member and generation (generation -1 with no
//! member id for groups without members), then stored by the `GroupCoordinator`.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::requested_offsets;
use crate::actors::group_coordinator::coordinator::CommitOffsets;
use crate::broker::BrokerContext;
use crate::error::GroupError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let group_id = req.group_id.to_string();
    let offsets = requested_offsets!(req.topics, version >= 6).collect();
    let msg = CommitOffsets {
        group_id: group_id.clone(),
        member_id: req.member_id.to_string(),
        generation_id: req.generation_id_or_member_epoch,
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    };
    let code = GroupError::code_of(&ctx.ask_group_coordinator(&group_id, msg).await);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
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
