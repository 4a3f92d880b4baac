//! CreateAcls and DeleteAcls (committed by the `Controller`), DescribeAcls (answered from this
//! node's metadata image). ACLs travel in Kafka's codes; filters match as Kafka's
//! `AclBindingFilter` (`metadata::acl_filter_matches`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, str_bytes, CLUSTER};
use crate::actors::controller::{CreateAcls, DeleteAcls};
use crate::broker::BrokerContext;
use crate::error::{BrokerError, NONE};
use crate::metadata::{acl_filter_matches, AclFilter, AclRecord, MetadataImage};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn create(
    ctx: &Arc<BrokerContext>,
    req: CreateAclsRequest,
    _version: i16,
    client: &ClientInfo,
) -> CreateAclsResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    let acls: Vec<AclRecord> = req
        .creations
        .iter()
        .map(|c| AclRecord {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission_type: c.permission_type,
        })
        .collect();
    let n = acls.len();
    let results = match refused {
        Some(e) => vec![Err(e); n],
        None => match ctx.controller.send(CreateAcls { acls }).await {
            Ok(results) => results,
            Err(e) => vec![Err(BrokerError::from(e)); n],
        },
    };
    let results = results
        .iter()
        .map(|outcome| {
            let (code, message) = BrokerError::code_and_message(outcome);
            AclCreationResult::default()
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

fn filter_of(
    resource_type: i8,
    resource_name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission_type: i8,
) -> AclFilter {
    AclFilter {
        resource_type,
        resource_name: resource_name.map(|s| s.to_string()),
        pattern_type,
        principal: principal.map(|s| s.to_string()),
        host: host.map(|s| s.to_string()),
        operation,
        permission_type,
    }
}

pub async fn describe(
    ctx: &Arc<BrokerContext>,
    req: DescribeAclsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DescribeAclsResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::Describe,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    if let Some(e) = refused {
        return DescribeAclsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(&e.to_string())));
    }
    let filter = filter_of(
        req.resource_type_filter,
        req.resource_name_filter.as_ref(),
        req.pattern_type_filter,
        req.principal_filter.as_ref(),
        req.host_filter.as_ref(),
        req.operation,
        req.permission_type,
    );
    let image = ctx.metadata.current();
    match describe_acls(&image, &filter) {
        Ok(resources) => DescribeAclsResponse::default()
            .with_error_code(NONE)
            .with_resources(resources),
        Err(e) => DescribeAclsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(e.message())),
    }
}

/// The image's ACLs matching `filter`, grouped by resource pattern as DescribeAcls answers.
pub fn describe_acls(
    image: &MetadataImage,
    filter: &AclFilter,
) -> Result<Vec<DescribeAclsResource>, BrokerError> {
    if filter.is_unknown() {
        return Err(BrokerError::InvalidRequest(
            "the filter has an UNKNOWN resource type, pattern type, operation or permission".into(),
        ));
    }
    let mut by_resource: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in image
        .acls
        .values()
        .filter(|a| acl_filter_matches(filter, a))
    {
        by_resource
            .entry((acl.resource_type, &acl.resource_name, acl.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&acl.principal))
                    .with_host(str_bytes(&acl.host))
                    .with_operation(acl.operation)
                    .with_permission_type(acl.permission_type),
            );
    }
    Ok(by_resource
        .into_iter()
        .map(|((rt, name, pt), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(rt)
                .with_resource_name(str_bytes(name))
                .with_pattern_type(pt)
                .with_acls(acls)
        })
        .collect())
}

pub async fn delete(
    ctx: &Arc<BrokerContext>,
    req: DeleteAclsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DeleteAclsResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::Alter,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    let filters: Vec<AclFilter> = req
        .filters
        .iter()
        .map(|f| {
            filter_of(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let n = filters.len();
    let results = match refused {
        Some(e) => vec![Err(e); n],
        None => match ctx.controller.send(DeleteAcls { filters }).await {
            Ok(results) => results,
            Err(e) => vec![Err(BrokerError::from(e)); n],
        },
    };
    let results = results
        .iter()
        .map(|outcome| {
            let (code, message) = BrokerError::code_and_message(outcome);
            let matching = outcome
                .as_ref()
                .map(|acls| acls.iter().map(matching_acl).collect())
                .unwrap_or_default();
            DeleteAclsFilterResult::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_matching_acls(matching)
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn matching_acl(acl: &AclRecord) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_error_code(NONE)
        .with_resource_type(acl.resource_type)
        .with_resource_name(str_bytes(&acl.resource_name))
        .with_pattern_type(acl.pattern_type)
        .with_principal(str_bytes(&acl.principal))
        .with_host(str_bytes(&acl.host))
        .with_operation(acl.operation)
        .with_permission_type(acl.permission_type)
}
