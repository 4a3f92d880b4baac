//! JoinGroup: hands the member to its group's `GroupCoordinator`, which answers at once
//! (MEMBER_ID_REQUIRED, errors, static rejoin) or when the rebalance's join phase completes.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::actors::group_coordinator::coordinator::JoinGroup;
use crate::actors::group_coordinator::group::{GroupError, JoinRequest, JoinResponse};
use crate::broker::BrokerContext;
use crate::protocol::handlers::authorize;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: JoinGroupRequest,
    version: i16,
    client: ClientInfo,
) -> JoinGroupResponse {
    // Kafka's check: READ on the group.
    if let Err(e) = authorize(
        ctx,
        &client,
        AclOperation::Read,
        ResourceType::Group,
        &req.group_id,
    ) {
        return JoinGroupResponse::default().with_error_code(e.code());
    }
    let group_id = req.group_id.to_string();
    let request = JoinRequest {
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.to_vec()))
            .collect(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            -1
        },
        client_id: client.client_id,
        client_host: format!("/{}", client.host),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let member_id = request.member_id.clone();
    let answer = ctx
        .group_coordinator(&group_id)
        .send(JoinGroup { group_id, request })
        .await
        .unwrap_or(JoinResponse {
            member_id,
            result: Err(GroupError::CoordinatorNotAvailable),
        });
    encode(answer, version)
}

fn encode(answer: JoinResponse, version: i16) -> JoinGroupResponse {
    let base = JoinGroupResponse::default().with_member_id(str_bytes(&answer.member_id));
    match answer.result {
        Err(e) => base
            .with_error_code(e.code())
            .with_generation_id(-1)
            .with_protocol_name(if version >= 7 {
                None
            } else {
                Some(str_bytes(""))
            }),
        Ok(gen) => {
            let members = gen
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_group_instance_id(if version >= 5 {
                            m.group_instance_id.as_deref().map(str_bytes)
                        } else {
                            None
                        })
                        .with_metadata(m.metadata.into())
                })
                .collect();
            base.with_generation_id(gen.generation_id)
                .with_protocol_type(if version >= 7 {
                    gen.protocol_type.as_deref().map(str_bytes)
                } else {
                    None
                })
                .with_protocol_name(match (version >= 7, gen.protocol_name) {
                    (true, name) => name.as_deref().map(str_bytes),
                    (false, name) => Some(str_bytes(name.as_deref().unwrap_or(""))),
                })
                .with_leader(str_bytes(&gen.leader_id))
                .with_skip_assignment(version >= 9 && gen.skip_assignment)
                .with_members(members)
        }
    }
}
