//! DescribeGroups: state, protocol and members as each group's `GroupCoordinator` sees them.
//! Kafka's check: DESCRIBE on each group (else GROUP_AUTHORIZATION_FAILED for it); v3+ may ask
//! for the principal's operations on each group (KIP-430).

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use super::{authorize, authorized_operations, str_bytes};
use crate::actors::group_coordinator::coordinator::DescribeGroups;
use crate::actors::group_coordinator::group::GroupError;
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DescribeGroupsRequest,
    version: i16,
    client: &ClientInfo,
) -> DescribeGroupsResponse {
    let mut groups = Vec::new();
    for id in req.groups {
        let group_id = id.to_string();
        if let Err(e) = authorize(
            ctx,
            client,
            AclOperation::Describe,
            ResourceType::Group,
            &group_id,
        ) {
            groups.push(
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(e.code()),
            );
            continue;
        }
        let described = ctx
            .group_coordinator(&group_id)
            .send(DescribeGroups {
                group_ids: vec![group_id.clone()],
            })
            .await;
        let d = match described.ok().and_then(|mut v| v.pop()) {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                groups.push(
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(e.code()),
                );
                continue;
            }
            None => {
                groups.push(
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(GroupError::CoordinatorNotAvailable.code()),
                );
                continue;
            }
        };
        let members = d
            .members
            .into_iter()
            .map(|m| {
                DescribedGroupMember::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_group_instance_id(if version >= 4 {
                        m.group_instance_id.as_deref().map(str_bytes)
                    } else {
                        None
                    })
                    .with_client_id(str_bytes(&m.client_id))
                    .with_client_host(str_bytes(&m.client_host))
                    .with_member_metadata(m.metadata.into())
                    .with_member_assignment(m.assignment.into())
            })
            .collect();
        groups.push(
            DescribedGroup::default()
                .with_group_id(GroupId(str_bytes(&d.group_id)))
                .with_group_state(str_bytes(d.state))
                .with_protocol_type(str_bytes(&d.protocol_type))
                .with_protocol_data(str_bytes(&d.protocol))
                .with_members(members)
                .with_authorized_operations(if version >= 3 && req.include_authorized_operations {
                    authorized_operations(ctx, client, ResourceType::Group, &d.group_id)
                } else {
                    i32::MIN
                }),
        );
    }
    DescribeGroupsResponse::default().with_groups(groups)
}
