//! TxnOffsetCommit: offsets committed inside a transaction. The group's coordinator checks the
//! member (v3+ send member id and generation; older producers send neither and are accepted),
//! writes them as the producer's transactional batch, and keeps them pending, invisible to
//! OffsetFetch, until the transaction's marker commits or drops them.
//!
//! Kafka's checks: WRITE on the transactional id (else every partition
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group (else GROUP_AUTHORIZATION_FAILED),
//! READ on each topic (else its partitions TOPIC_AUTHORIZATION_FAILED, not committed).

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{authorize, authorized_topics, requested_offsets};
use crate::actors::group_coordinator::coordinator::{CommitTxnOffsets, CommittedOffset};
use crate::broker::BrokerContext;
use crate::error::{BrokerError, GroupError, ResponseError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: TxnOffsetCommitRequest,
    version: i16,
    client: &ClientInfo,
) -> TxnOffsetCommitResponse {
    let group_id = req.group_id.to_string();
    let check = authorize(
        ctx,
        client,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    )
    .and_then(|()| {
        authorize(
            ctx,
            client,
            AclOperation::Read,
            ResourceType::Group,
            &group_id,
        )
    });
    if let Err(e) = check {
        return respond(req, |_, _| e.code());
    }
    let readable = authorized_topics(
        ctx,
        client,
        AclOperation::Read,
        req.topics.iter().map(|t| t.name.as_str()),
    );
    let image = ctx.metadata.current();
    let exists = |topic: &str, partition: i32| {
        image
            .topics
            .get(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.index == partition))
    };
    let offsets: Vec<(String, i32, CommittedOffset)> = requested_offsets!(req.topics, version >= 2)
        .filter(|(t, p, _)| readable.contains(t) && exists(t, *p))
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
    respond(req, |name, partition| {
        if !readable.contains(name) {
            BrokerError::TopicAuthorizationFailed.code()
        } else if exists(name, partition) {
            code
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        }
    })
}

/// Every requested partition, with its code.
fn respond(
    req: TxnOffsetCommitRequest,
    code: impl Fn(&str, i32) -> i16,
) -> TxnOffsetCommitResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(t.name.as_str(), p.partition_index))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
