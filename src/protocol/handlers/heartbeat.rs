//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::actors::group_coordinator::coordinator::Heartbeat;
use crate::broker::BrokerContext;
use crate::protocol::handlers::authorize;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: HeartbeatRequest,
    _version: i16,
    client: &ClientInfo,
) -> HeartbeatResponse {
    // Kafka's check: READ on the group.
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return HeartbeatResponse::default().with_error_code(e.code());
    }
    let group_id = req.group_id.to_string();
    let msg = Heartbeat {
        group_id: group_id.clone(),
        member_id: req.member_id.to_string(),
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let result = ctx.ask_group_coordinator(&group_id, msg).await;
    HeartbeatResponse::default().with_error_code(result.err().map(|e| e.code()).unwrap_or(0))
}
