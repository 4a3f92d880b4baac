//! TxnOffsetCommit: offsets committed inside a transaction. The group's coordinator checks the
//! member (v3+ send member id and generation; older producers send neither and are accepted),
//! writes them as the producer's transactional batch, and keeps them pending, invisible to
//! OffsetFetch, until the transaction's marker commits or drops them.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::requested_offsets;
use crate::actors::group_coordinator::coordinator::{CommitTxnOffsets, CommittedOffset};
use crate::broker::BrokerContext;
use crate::error::{GroupError, ResponseError, NONE};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let group_id = req.group_id.to_string();
    let image = ctx.metadata.current();
    let exists = |topic: &str, partition: i32| {
        image
            .topics
            .get(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.index == partition))
    };
    let offsets: Vec<(String, i32, CommittedOffset)> = requested_offsets!(req.topics, version >= 2)
        .filter(|(t, p, _)| exists(t, *p))
        .collect();
    let code = if offsets.is_empty() {
        NONE
    } else {
        let msg = CommitTxnOffsets {
            group_id: group_id.clone(),
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            member_id: req.member_id.to_string(),
            generation_id: req.generation_id,
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            offsets,
        };
        GroupError::code_of(&ctx.ask_group_coordinator(&group_id, msg).await)
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if exists(&name, p.partition_index) {
                        code
                    } else {
                        ResponseError::UnknownTopicOrPartition.code()
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
