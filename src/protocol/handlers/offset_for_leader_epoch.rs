//! OffsetForLeaderEpoch: where a leader epoch ends in the leader's log. A follower that saw a
//! new leader asks with the latest epoch in its own log and truncates to the answer, so a
//! deposed leader's unreplicated tail never survives (Kafka's KIP-101/KIP-279). Answered by the
//! partition's leader from its leader-epoch checkpoint.
//!
//! Kafka's check (KIP-320 opened the API to consumers): CLUSTER_ACTION on the cluster allows
//! every topic; otherwise DESCRIBE on each topic, else its partitions answer
//! TOPIC_AUTHORIZATION_FAILED. The replica id is not part of the check, as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset as EpochEndOffsetResponse, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{authorize, authorized, partition_handle, CLUSTER};
use crate::actors::partition_replica::EpochEndOffset;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetForLeaderEpochRequest,
    version: i16,
    client: &ClientInfo,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.metadata.current();
    let cluster_action = authorized(
        ctx,
        client,
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER,
    );
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.topic.to_string();
        let allowed = if cluster_action {
            Ok(())
        } else {
            authorize(
                ctx,
                client,
                AclOperation::Describe,
                ResourceType::Topic,
                &name,
            )
        };
        let lookups = t.partitions.into_iter().map(|p| {
            let handle = allowed
                .clone()
                .and_then(|()| partition_handle(ctx, &image, &name, p.partition));
            async move {
                let answer: Result<(i32, i64), BrokerError> = async {
                    handle?
                        .addr
                        .send(EpochEndOffset {
                            epoch: p.leader_epoch,
                            current_leader_epoch: if version >= 2 {
                                p.current_leader_epoch
                            } else {
                                -1
                            },
                        })
                        .await?
                }
                .await;
                let out = EpochEndOffsetResponse::default().with_partition(p.partition);
                match answer {
                    Ok((epoch, end_offset)) => out
                        .with_leader_epoch(if version >= 1 { epoch } else { -1 })
                        .with_end_offset(end_offset),
                    Err(e) => out
                        .with_error_code(e.code())
                        .with_leader_epoch(-1)
                        .with_end_offset(-1),
                }
            }
        });
        let partitions = futures::future::join_all(lookups).await;
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
