//! FindCoordinator: on one broker every group (key type 0) and transactional id (key type 1)
//! is coordinated here. Other key types are INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::error::BrokerError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let host = str_bytes(&ctx.advertised_host);
    // v0 has no key type: groups only.
    let known_key_type = version == 0 || matches!(req.key_type, 0 | 1);
    if !known_key_type {
        let invalid = BrokerError::InvalidRequest(String::new()).code();
        if version >= 4 {
            let coordinators = req
                .coordinator_keys
                .into_iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(invalid)
                })
                .collect();
            return FindCoordinatorResponse::default().with_coordinators(coordinators);
        }
        return FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(invalid);
    }
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
