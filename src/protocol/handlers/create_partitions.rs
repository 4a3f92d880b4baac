//! CreatePartitions: grows a topic's partition count through the `Controller`; shrinking is
//! refused with INVALID_PARTITIONS, as in Kafka. Kafka's check: ALTER on each topic (else
//! TOPIC_AUTHORIZATION_FAILED, not grown).

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::authorize;
use crate::actors::controller::CreatePartitions;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: CreatePartitionsRequest,
    _version: i16,
    client: &ClientInfo,
) -> CreatePartitionsResponse {
    let checks: Vec<Result<(), BrokerError>> = req
        .topics
        .iter()
        .map(|t| {
            authorize(
                ctx,
                client,
                AclOperation::Alter,
                ResourceType::Topic,
                &t.name,
            )
        })
        .collect();
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
        .zip(&checks)
        .filter(|(_, c)| c.is_ok())
        .map(|(t, _)| t)
        .map(|t| (t.name.to_string(), t.count))
        .collect();
    let outcomes = match ctx
        .controller
        .send(CreatePartitions {
            topics: wanted.clone(),
            validate_only: req.validate_only,
        })
        .await
    {
        Ok(o) => o,
        Err(e) => vec![Err(BrokerError::from(e)); wanted.len()],
    };
    let mut outcomes = outcomes.into_iter();
    let results = req
        .topics
        .into_iter()
        .zip(checks)
        .map(|(t, check)| {
            let o = check.and_then(|()| {
                outcomes
                    .next()
                    .unwrap_or(Err(BrokerError::Internal("missing answer".into())))
            });
            let r = CreatePartitionsTopicResult::default().with_name(t.name);
            match o {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(e.message())),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
