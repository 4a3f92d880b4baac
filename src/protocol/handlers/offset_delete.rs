//! OffsetDelete: removes a group's committed offsets for partitions it is not subscribed to.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::topic_name;
use crate::actors::group_coordinator::coordinator::DeleteOffsets;
use crate::broker::BrokerContext;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetDeleteRequest,
    _version: i16,
) -> OffsetDeleteResponse {
    let group_id = req.group_id.to_string();
    let partitions = req
        .topics
        .iter()
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
            for (t, p, code) in answers {
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
