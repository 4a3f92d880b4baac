//! ListGroups: every group on every coordinator shard (the groups of the `__consumer_offsets`
//! partitions this node leads), filtered by state (v4+). While a shard is loading a partition
//! the answer carries COORDINATOR_LOAD_IN_PROGRESS with the groups the others know.
//! Kafka's check: DESCRIBE on the cluster lists every group; otherwise only the groups the
//! principal may DESCRIBE are listed.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{authorized, str_bytes, CLUSTER};
use crate::actors::group_coordinator::coordinator::ListGroups;
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ListGroupsRequest,
    version: i16,
    client: &ClientInfo,
) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let lists =
        futures::future::join_all(ctx.group_coordinators.iter().map(|c| c.send(ListGroups))).await;
    let mut error_code = 0;
    let mut listed = Vec::new();
    for list in lists.into_iter().flatten() {
        match list {
            Ok(l) => listed.extend(l),
            Err(e) => error_code = e.code(),
        }
    }
    let describe_all = authorized(
        ctx,
        client,
        AclOperation::Describe,
        ResourceType::Cluster,
        CLUSTER,
    );
    let groups = listed
        .into_iter()
        .filter(|(id, _, _)| {
            describe_all || authorized(ctx, client, AclOperation::Describe, ResourceType::Group, id)
        })
        .filter(|(_, _, state)| states.is_empty() || states.contains(&state.to_lowercase()))
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&protocol_type));
            let g = if version >= 4 {
                g.with_group_state(str_bytes(state))
            } else {
                g
            };
            if version >= 5 {
                g.with_group_type(str_bytes("classic"))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default()
        .with_error_code(error_code)
        .with_groups(groups)
}
