//! LeaveGroup: one member (v0–2) or a batch by member or instance id (v3+, KIP-345).

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::str_bytes;
use crate::actors::group_coordinator::coordinator::LeaveGroup;
use crate::actors::group_coordinator::group::LeaveMember;
use crate::broker::BrokerContext;
use crate::protocol::handlers::authorize;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: LeaveGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> LeaveGroupResponse {
    // Kafka's check: READ on the group.
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return LeaveGroupResponse::default().with_error_code(e.code());
    }
    let group_id = req.group_id.to_string();
    let members = if version >= 3 {
        req.members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            })
            .collect()
    } else {
        vec![LeaveMember {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let result = ctx
        .ask_group_coordinator(
            &group_id,
            LeaveGroup {
                group_id: group_id.clone(),
                members,
            },
        )
        .await;
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(results) if version < 3 => {
            let code = results
                .first()
                .and_then(|r| r.result.as_ref().err())
                .map(|e| e.code())
                .unwrap_or(0);
            LeaveGroupResponse::default().with_error_code(code)
        }
        Ok(results) => LeaveGroupResponse::default().with_members(
            results
                .into_iter()
                .map(|r| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(&r.member_id))
                        .with_group_instance_id(r.group_instance_id.as_deref().map(str_bytes))
                        .with_error_code(r.result.err().map(|e| e.code()).unwrap_or(0))
                })
                .collect(),
        ),
    }
}
