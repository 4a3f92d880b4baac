//! `troupe acl add|list|remove`: ACLs through CreateAcls, DescribeAcls and DeleteAcls, with
//! Kafka's names for resource types, pattern types, operations and permissions (the words
//! `kafka-acls.sh` and the Admin API use), so an operator's habits carry over.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::output::{emit, Table};
use super::{check, AdminError, Cluster};
use crate::security::authorizer::{
    AclOperation, AclPermissionType, PatternType, ResourceType, CLUSTER_NAME, WILDCARD,
};

/// Which resources an `acl` command names: at most one of topic, group, cluster or
/// transactional id (none: every resource, for `list` and `remove`).
#[derive(Debug, Clone, Default)]
pub struct ResourceSelector {
    pub topic: Option<String>,
    pub group: Option<String>,
    pub cluster: bool,
    pub transactional_id: Option<String>,
    /// `literal` (default for add), `prefixed`, or for filters also `any` and `match`.
    pub pattern: Option<String>,
}

impl ResourceSelector {
    /// (resource type, resource name) the selector names; `None` when it names nothing.
    fn resource(&self) -> Result<Option<(ResourceType, String)>, AdminError> {
        let mut named = Vec::new();
        if let Some(t) = &self.topic {
            named.push((ResourceType::Topic, t.clone()));
        }
        if let Some(g) = &self.group {
            named.push((ResourceType::Group, g.clone()));
        }
        if self.cluster {
            named.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
        }
        if let Some(t) = &self.transactional_id {
            named.push((ResourceType::TransactionalId, t.clone()));
        }
        match named.len() {
            0 => Ok(None),
            1 => Ok(named.pop()),
            _ => Err(AdminError::Usage(
                "name one resource: --topic, --group, --cluster or --transactional-id".into(),
            )),
        }
    }
}

/// One ACL as `add` creates it.
#[derive(Debug, Clone)]
pub struct AclSpec {
    pub resource: ResourceSelector,
    pub principal: String,
    pub host: String,
    pub operations: Vec<String>,
    pub deny: bool,
}

/// Words are compared without case, `-` or `_`: `IdempotentWrite`, `idempotent-write` and
/// `IDEMPOTENT_WRITE` name the same operation.
fn normalized(word: &str) -> String {
    word.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Kafka's name of an operation, from its wire code (`Debug` of the enum is the name).
fn operation_name(code: i8) -> String {
    AclOperation::from_code(code).map_or_else(|| format!("UNKNOWN({code})"), |o| format!("{o:?}"))
}

fn parse_operation(word: &str) -> Result<AclOperation, AdminError> {
    let wanted = normalized(word);
    AclOperation::ALL_VALUES
        .iter()
        .copied()
        .filter(|o| !matches!(o, AclOperation::Unknown))
        .find(|o| normalized(&format!("{o:?}")) == wanted)
        .ok_or_else(|| {
            AdminError::Usage(format!(
                "unknown operation {word:?}: one of All, Read, Write, Create, Delete, Alter, \
                 Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, \
                 CreateTokens, DescribeTokens"
            ))
        })
}

fn parse_pattern(word: &str, filter: bool) -> Result<PatternType, AdminError> {
    let pattern = match normalized(word).as_str() {
        "literal" => PatternType::Literal,
        "prefixed" => PatternType::Prefixed,
        "any" if filter => PatternType::Any,
        "match" if filter => PatternType::Match,
        _ => {
            let allowed = if filter {
                "literal, prefixed, any or match"
            } else {
                "literal or prefixed"
            };
            return Err(AdminError::Usage(format!(
                "unknown pattern type {word:?}: {allowed}"
            )));
        }
    };
    Ok(pattern)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// `troupe acl add`: one ACL per operation, ALLOW unless `--deny`.
pub fn add(cluster: &mut Cluster, spec: &AclSpec) -> Result<(), AdminError> {
    let (resource_type, resource_name) = spec.resource.resource()?.ok_or_else(|| {
        AdminError::Usage(
            "name the resource: --topic, --group, --cluster or --transactional-id".into(),
        )
    })?;
    let pattern = match &spec.resource.pattern {
        Some(p) => parse_pattern(p, false)?,
        None => PatternType::Literal,
    };
    if spec.operations.is_empty() {
        return Err(AdminError::Usage("give at least one --operation".into()));
    }
    check_principal(&spec.principal)?;
    let permission = if spec.deny {
        AclPermissionType::Deny
    } else {
        AclPermissionType::Allow
    };
    let creations = spec
        .operations
        .iter()
        .map(|word| {
            let operation = parse_operation(word)?;
            if matches!(operation, AclOperation::Any) {
                return Err(AdminError::Usage(
                    "Any is a filter, not an operation an ACL can grant".into(),
                ));
            }
            Ok(AclCreation::default()
                .with_resource_type(resource_type.code())
                .with_resource_name(str_bytes(&resource_name))
                .with_resource_pattern_type(pattern.code())
                .with_principal(str_bytes(&spec.principal))
                .with_host(str_bytes(&spec.host))
                .with_operation(operation.code())
                .with_permission_type(permission.code()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count = creations.len();
    let response = cluster
        .any()
        .call(CreateAclsRequest::default().with_creations(creations))?;
    for result in response.results {
        check(
            "CreateAcls",
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )?;
    }
    eprintln!("created {count} ACL(s)");
    Ok(())
}

/// Kafka principals are `Type:name` (`User:alice`, `User:*`).
fn check_principal(principal: &str) -> Result<(), AdminError> {
    match principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(AdminError::Usage(format!(
            "principal {principal:?}: expected Type:name, e.g. User:alice"
        ))),
    }
}

/// The filter `list` and `remove` send: what the selector names (any resource when it names
/// none), the principal and host when given, any operation and permission.
fn filter_parts(
    resource: &ResourceSelector,
    principal: Option<&str>,
) -> Result<(i8, Option<StrBytes>, i8, Option<StrBytes>), AdminError> {
    let (resource_type, resource_name) = match resource.resource()? {
        Some((kind, name)) => (kind.code(), Some(str_bytes(&name))),
        None => (ResourceType::Any.code(), None),
    };
    let pattern = match &resource.pattern {
        Some(p) => parse_pattern(p, true)?,
        // A named resource is matched literally (as `kafka-acls --list --topic t` does);
        // no resource means every pattern.
        None if resource_name.is_some() => PatternType::Literal,
        None => PatternType::Any,
    };
    if let Some(p) = principal {
        check_principal(p)?;
    }
    Ok((
        resource_type,
        resource_name,
        pattern.code(),
        principal.map(str_bytes),
    ))
}

/// One row of `list` and `remove` output.
struct AclRow {
    resource_type: i8,
    resource_name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission_type: i8,
}

impl AclRow {
    fn json(&self) -> serde_json::Value {
        json!({
            "resource_type": ResourceType::from_code(self.resource_type).map_or_else(|| self.resource_type.to_string(), |r| format!("{r:?}")),
            "resource_name": self.resource_name,
            "pattern_type": PatternType::from_code(self.pattern_type).map_or_else(|| self.pattern_type.to_string(), |p| format!("{p:?}")),
            "principal": self.principal,
            "host": self.host,
            "operation": operation_name(self.operation),
            "permission_type": AclPermissionType::from_code(self.permission_type).map_or_else(|| self.permission_type.to_string(), |p| format!("{p:?}")),
        })
    }
}

fn print_rows(rows: &[AclRow], json_wanted: bool) {
    let json = serde_json::Value::Array(rows.iter().map(AclRow::json).collect());
    emit(json_wanted, json.clone(), || {
        let mut table = Table::new(&[
            "RESOURCE",
            "NAME",
            "PATTERN",
            "PRINCIPAL",
            "HOST",
            "OPERATION",
            "PERMISSION",
        ]);
        for row in json.as_array().into_iter().flatten() {
            let cell = |k: &str| row[k].as_str().unwrap_or_default().to_string();
            table.row(vec![
                cell("resource_type"),
                cell("resource_name"),
                cell("pattern_type"),
                cell("principal"),
                cell("host"),
                cell("operation"),
                cell("permission_type"),
            ]);
        }
        table.render()
    });
}

/// `troupe acl list`: the ACLs matching the selector (every ACL when it names nothing).
pub fn list(
    cluster: &mut Cluster,
    resource: &ResourceSelector,
    principal: Option<&str>,
    json_wanted: bool,
) -> Result<(), AdminError> {
    let (resource_type, resource_name, pattern, principal) = filter_parts(resource, principal)?;
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(resource_name)
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal)
        .with_host_filter(None)
        .with_operation(AclOperation::Any.code())
        .with_permission_type(AclPermissionType::Any.code());
    let response = cluster.any().call(request)?;
    check(
        "DescribeAcls",
        response.error_code,
        response.error_message.map(|m| m.to_string()),
    )?;
    let mut rows: Vec<AclRow> = response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| AclRow {
                resource_type: r.resource_type,
                resource_name: r.resource_name.to_string(),
                pattern_type: r.pattern_type,
                principal: a.principal.to_string(),
                host: a.host.to_string(),
                operation: a.operation,
                permission_type: a.permission_type,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.resource_type, &a.resource_name, &a.principal, a.operation).cmp(&(
            b.resource_type,
            &b.resource_name,
            &b.principal,
            b.operation,
        ))
    });
    print_rows(&rows, json_wanted);
    Ok(())
}

/// `troupe acl remove`: deletes the ACLs matching the selector, the principal and the
/// operations given (any operation when none is). Refuses an empty selector without a
/// principal, so one typo cannot delete every ACL of the cluster.
pub fn remove(
    cluster: &mut Cluster,
    resource: &ResourceSelector,
    principal: Option<&str>,
    operations: &[String],
    json_wanted: bool,
) -> Result<(), AdminError> {
    if resource.resource()?.is_none() && principal.is_none() {
        return Err(AdminError::Usage(
            "name a resource (--topic, --group, --cluster, --transactional-id) or a --principal"
                .into(),
        ));
    }
    let (resource_type, resource_name, pattern, principal) = filter_parts(resource, principal)?;
    let operations = if operations.is_empty() {
        vec![AclOperation::Any]
    } else {
        operations
            .iter()
            .map(|o| parse_operation(o))
            .collect::<Result<_, _>>()?
    };
    let filters = operations
        .iter()
        .map(|operation| {
            DeleteAclsFilter::default()
                .with_resource_type_filter(resource_type)
                .with_resource_name_filter(resource_name.clone())
                .with_pattern_type_filter(pattern)
                .with_principal_filter(principal.clone())
                .with_host_filter(None)
                .with_operation(operation.code())
                .with_permission_type(AclPermissionType::Any.code())
        })
        .collect();
    let response = cluster
        .any()
        .call(DeleteAclsRequest::default().with_filters(filters))?;
    let mut rows = Vec::new();
    for result in response.filter_results {
        check(
            "DeleteAcls",
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )?;
        for m in result.matching_acls {
            check(
                "DeleteAcls",
                m.error_code,
                m.error_message.map(|m| m.to_string()),
            )?;
            rows.push(AclRow {
                resource_type: m.resource_type,
                resource_name: m.resource_name.to_string(),
                pattern_type: m.pattern_type,
                principal: m.principal.to_string(),
                host: m.host.to_string(),
                operation: m.operation,
                permission_type: m.permission_type,
            });
        }
    }
    print_rows(&rows, json_wanted);
    eprintln!("removed {} ACL(s)", rows.len());
    Ok(())
}

/// The default host of an ACL: every host.
pub const ANY_HOST: &str = WILDCARD;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_parse_in_kafka_spellings() {
        assert_eq!(parse_operation("Read").unwrap(), AclOperation::Read);
        assert_eq!(
            parse_operation("idempotent-write").unwrap(),
            AclOperation::IdempotentWrite
        );
        assert_eq!(
            parse_operation("DESCRIBE_CONFIGS").unwrap(),
            AclOperation::DescribeConfigs
        );
        assert!(parse_operation("unknown").is_err());
        assert!(parse_operation("reed").is_err());
    }

    #[test]
    fn patterns_for_bindings_are_literal_or_prefixed_only() {
        assert_eq!(
            parse_pattern("prefixed", false).unwrap(),
            PatternType::Prefixed
        );
        assert!(parse_pattern("match", false).is_err());
        assert_eq!(parse_pattern("match", true).unwrap(), PatternType::Match);
    }

    #[test]
    fn a_selector_names_at_most_one_resource() {
        let both = ResourceSelector {
            topic: Some("t".into()),
            group: Some("g".into()),
            ..Default::default()
        };
        assert!(both.resource().is_err());
        let cluster = ResourceSelector {
            cluster: true,
            ..Default::default()
        };
        assert_eq!(
            cluster.resource().unwrap(),
            Some((ResourceType::Cluster, CLUSTER_NAME.to_string()))
        );
        assert_eq!(ResourceSelector::default().resource().unwrap(), None);
    }

    #[test]
    fn principals_must_have_a_type() {
        assert!(check_principal("User:alice").is_ok());
        assert!(check_principal("alice").is_err());
        assert!(check_principal("User:").is_err());
    }

    #[test]
    fn a_named_resource_is_filtered_literally_and_none_means_any() {
        let topic = ResourceSelector {
            topic: Some("orders".into()),
            ..Default::default()
        };
        let (kind, name, pattern, _) = filter_parts(&topic, None).unwrap();
        assert_eq!(kind, ResourceType::Topic.code());
        assert_eq!(name.as_deref(), Some("orders"));
        assert_eq!(pattern, PatternType::Literal.code());
        let (kind, name, pattern, principal) =
            filter_parts(&ResourceSelector::default(), Some("User:bob")).unwrap();
        assert_eq!(kind, ResourceType::Any.code());
        assert_eq!(name, None);
        assert_eq!(pattern, PatternType::Any.code());
        assert_eq!(principal.as_deref(), Some("User:bob"));
    }
}
