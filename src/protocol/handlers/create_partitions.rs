//! CreatePartitions: grows a topic's partition count through the `Controller`; shrinking is
//! refused with INVALID_PARTITIONS, as in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::actors::controller::CreatePartitions;
use crate::broker::BrokerContext;
use crate::error::BrokerError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let wanted: Vec<(String, i32)> = req
        .topics
        .iter()
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
    let results = req
        .topics
        .into_iter()
        .zip(outcomes)
        .map(|(t, o)| {
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
