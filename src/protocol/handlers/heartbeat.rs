//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::actors::group_coordinator::coordinator::Heartbeat;
use crate::broker::BrokerContext;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: HeartbeatRequest,
    _version: i16,
) -> HeartbeatResponse {
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
