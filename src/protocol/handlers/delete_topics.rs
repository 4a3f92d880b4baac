//! DeleteTopics: by name (v0–5) or by name or topic id (v6), committed by the `Controller`,
//! which also stops the partitions' actors and removes their data.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::topic_name;
use crate::actors::controller::DeleteTopics;
use crate::broker::BrokerContext;
use crate::error::BrokerError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DeleteTopicsRequest,
    version: i16,
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
