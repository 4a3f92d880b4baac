//! DeleteTopics: by name (v0–5) or by name or topic id (v6), committed by the `Controller`,
//! which also stops the partitions' actors and removes their data.
//!
//! Kafka's checks, per topic: without DESCRIBE on it TOPIC_AUTHORIZATION_FAILED whether or not
//! it exists (and, named by id, its name is not answered); an unknown topic the principal may
//! describe UNKNOWN_TOPIC_OR_PARTITION (by id UNKNOWN_TOPIC_ID); then DELETE on it, else
//! TOPIC_AUTHORIZATION_FAILED.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::{authorize, topic_name};
use crate::actors::controller::DeleteTopics;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DeleteTopicsRequest,
    version: i16,
    client: &ClientInfo,
) -> DeleteTopicsResponse {
    let image = ctx.metadata.current();
    // Resolve every entry to (name, id) or an error.
    let entries: Vec<(Option<String>, uuid::Uuid, Result<(), BrokerError>)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => {
                    let id = image
                        .topics
                        .get(n.as_str())
                        .map(|m| m.id)
                        .unwrap_or_default();
                    (Some(n.to_string()), id, Ok(()))
                }
                None => match image.topic_by_id(&t.topic_id) {
                    Some(m) => (Some(m.name.clone()), t.topic_id, Ok(())),
                    None => (None, t.topic_id, Err(BrokerError::UnknownTopicId)),
                },
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| {
                (
                    Some(n.to_string()),
                    image
                        .topics
                        .get(n.as_str())
                        .map(|m| m.id)
                        .unwrap_or_default(),
                    Ok(()),
                )
            })
            .collect()
    };
    // Authorization, once the name is known: DESCRIBE first (hiding whether the topic
    // exists), then DELETE on an existing topic.
    let entries: Vec<_> = entries
        .into_iter()
        .map(|(name, id, pre)| {
            let Some(n) = name.as_deref().filter(|_| pre.is_ok()) else {
                return (name, id, pre);
            };
            if let Err(e) = authorize(ctx, client, AclOperation::Describe, ResourceType::Topic, n) {
                // Named by id only: without DESCRIBE the name is not answered.
                let name = if version >= 6 && id_only(&req, &id) {
                    None
                } else {
                    name.clone()
                };
                return (name, id, Err(e));
            }
            // An unknown topic is left to the controller (UNKNOWN_TOPIC_OR_PARTITION).
            let check = if image.topics.contains_key(n) {
                authorize(ctx, client, AclOperation::Delete, ResourceType::Topic, n)
            } else {
                Ok(())
            };
            (name, id, check)
        })
        .collect();
    let names: Vec<String> = entries
        .iter()
        .filter(|e| e.2.is_ok())
        .filter_map(|e| e.0.clone())
        .collect();
    let outcomes = match ctx
        .controller
        .send(DeleteTopics {
            names: names.clone(),
        })
        .await
    {
        Ok(o) => o,
        Err(e) => vec![Err(BrokerError::from(e)); names.len()],
    };
    let mut outcomes = outcomes.into_iter();
    let responses = entries
        .into_iter()
        .map(|(name, id, pre)| {
            let outcome = pre.and_then(|_| {
                outcomes
                    .next()
                    .unwrap_or(Err(BrokerError::Internal("missing answer".into())))
            });
            let r = DeletableTopicResult::default()
                .with_name(name.as_deref().map(topic_name))
                .with_topic_id(if version >= 6 { id } else { Default::default() });
            match outcome {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(if version >= 5 {
                        Some(e.message())
                    } else {
                        None
                    }),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Whether a v6 request named this topic by id only.
fn id_only(req: &DeleteTopicsRequest, id: &uuid::Uuid) -> bool {
    !id.is_nil()
        && req
            .topics
            .iter()
            .any(|t| t.name.is_none() && t.topic_id == *id)
}
