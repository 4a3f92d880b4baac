//! SyncGroup: followers wait for the leader's assignment; the `GroupCoordinator` answers every
//! member when it arrives.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::actors::group_coordinator::coordinator::SyncGroup;
use crate::actors::group_coordinator::group::SyncRequest;
use crate::broker::BrokerContext;
use crate::protocol::handlers::authorize;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: SyncGroupRequest,
    version: i16,
    client: &ClientInfo,
) -> SyncGroupResponse {
    // Kafka's check: READ on the group.
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return SyncGroupResponse::default().with_error_code(e.code());
    }
    let group_id = req.group_id.to_string();
    let request = SyncRequest {
        member_id: req.member_id.to_string(),
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: req.protocol_type.as_ref().map(|s| s.to_string()),
        protocol_name: req.protocol_name.as_ref().map(|s| s.to_string()),
        assignments: req
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
            .collect(),
    };
    let result = ctx
        .ask_group_coordinator(
            &group_id,
            SyncGroup {
                group_id: group_id.clone(),
                request,
            },
        )
        .await;
    match result {
        Err(e) => SyncGroupResponse::default().with_error_code(e.code()),
        Ok(a) => {
            let r = SyncGroupResponse::default().with_assignment(a.assignment.into());
            if version >= 5 {
                r.with_protocol_type(a.protocol_type.as_deref().map(str_bytes))
                    .with_protocol_name(a.protocol_name.as_deref().map(str_bytes))
            } else {
                r
            }
        }
    }
}
