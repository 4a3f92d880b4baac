//! OffsetDelete: removes a group's committed offsets for partitions it is not subscribed to.
//! Kafka's checks: DELETE on the group (else GROUP_AUTHORIZATION_FAILED for the request), READ
//! on each topic (else its partitions answer TOPIC_AUTHORIZATION_FAILED, left alone).

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{authorize, authorized_topics, topic_name};
use crate::actors::group_coordinator::coordinator::DeleteOffsets;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetDeleteRequest,
    _version: i16,
    client: &ClientInfo,
) -> OffsetDeleteResponse {
    let group_id = req.group_id.to_string();
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Delete,
        ResourceType::Group,
        &group_id,
    ) {
        return OffsetDeleteResponse::default().with_error_code(e.code());
    }
    let readable = authorized_topics(
        ctx,
        client,
        AclOperation::Read,
        req.topics.iter().map(|t| t.name.as_str()),
    );
    let refused = req
        .topics
        .iter()
        .filter(|t| !readable.contains(t.name.as_str()))
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let code = BrokerError::TopicAuthorizationFailed.code();
                (t.name.to_string(), p.partition_index, code)
            })
        });
    let refused: Vec<_> = refused.collect();
    let partitions = req
        .topics
        .iter()
        .filter(|t| readable.contains(t.name.as_str()))
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let outcome = ctx
        .ask_group_coordinator(
            &group_id,
            DeleteOffsets {
                group_id: group_id.clone(),
                partitions,
            },
        )
        .await;
    match outcome {
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(answers) => {
            let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
            for (t, p, code) in answers.into_iter().chain(refused) {
                let partition = OffsetDeleteResponsePartition::default()
                    .with_partition_index(p)
                    .with_error_code(code);
                match topics.iter_mut().find(|x| x.name.as_str() == t) {
                    Some(topic) => topic.partitions.push(partition),
                    None => topics.push(
                        OffsetDeleteResponseTopic::default()
                            .with_name(topic_name(&t))
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
