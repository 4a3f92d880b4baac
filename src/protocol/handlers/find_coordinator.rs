//! FindCoordinator: on one broker every group and transactional id is coordinated here.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::broker::BrokerContext;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let host = str_bytes(&ctx.advertised_host);
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(ctx.node_id))
                    .with_host(host.clone())
                    .with_port(ctx.advertised_port)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(ctx.node_id))
        .with_host(host)
        .with_port(ctx.advertised_port)
}
