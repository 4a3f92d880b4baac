//! DeleteGroups: removes empty groups and their committed offsets; NON_EMPTY_GROUP while
//! members remain. Kafka's check: DELETE on each group (else GROUP_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::authorize;
use crate::actors::group_coordinator::coordinator::DeleteGroups;
use crate::broker::BrokerContext;
use crate::error::{ResponseError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DeleteGroupsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for id in req.groups_names {
        let group_id = id.to_string();
        if let Err(e) = authorize(
            ctx,
            client,
            AclOperation::Delete,
            ResourceType::Group,
            &group_id,
        ) {
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(e.code()),
            );
            continue;
        }
        let outcome = ctx
            .group_coordinator(&group_id)
            .send(DeleteGroups {
                group_ids: vec![group_id],
            })
            .await;
        let code = match outcome.ok().and_then(|mut v| v.pop()) {
            Some((_, Ok(()))) => NONE,
            Some((_, Err(e))) => e.code(),
            None => ResponseError::CoordinatorNotAvailable.code(),
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
