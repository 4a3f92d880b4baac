//! ACL authorization with the semantics of Kafka's `StandardAuthorizer` (KIP-801).
//!
//! This room owns the ACL vocabulary (resource patterns, access control entries, bindings and
//! the filters of DescribeAcls/DeleteAcls), the rules a new ACL must satisfy before
//! CreateAcls accepts it, and the decision itself: may principal P from host H perform
//! operation O on resource R. It does not store ACLs, read metadata or look at requests: the
//! metadata layer hands in the current bindings and the `super.users` /
//! `allow.everyone.if.no.acl.found` settings, and gets back an immutable
//! [`StandardAuthorizer`]. On every ACL change the caller builds a new one and swaps an `Arc`,
//! so a decision takes no lock and, when it finds its answer, allocates nothing.
//!
//! The decision follows `StandardAuthorizerData` exactly:
//! - a super user may do anything;
//! - the ACLs that apply to a resource are the LITERAL ones on its exact name, the LITERAL
//!   ones on the wildcard name `*`, and the PREFIXED ones whose name starts the resource's;
//!   of those, an ACL counts for a request when its principal is the requester's or `User:*`
//!   and its host is the requester's or `*`;
//! - one matching DENY denies, whatever ALLOWs match;
//! - an ACL for operation ALL covers every operation, for ALLOW and DENY alike;
//! - an ALLOW of READ, WRITE, DELETE or ALTER also allows DESCRIBE, and an ALLOW of
//!   ALTER_CONFIGS also allows DESCRIBE_CONFIGS; a DENY implies nothing beyond its own
//!   operation (DENY READ does not deny DESCRIBE, DENY DESCRIBE does not deny READ);
//! - when no ACL applies to the resource at all, for any principal, host or operation,
//!   `allow.everyone.if.no.acl.found` decides; when ACLs exist but none matched, the answer is
//!   no.

use std::collections::{BTreeMap, HashSet};

/// The resource name (and host) that ACLs use to match any name (any host).
pub const WILDCARD: &str = "*";
/// The principal that ACLs use to match any principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The only name a CLUSTER resource may have.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// Kafka's broker setting naming the principals that bypass ACLs.
pub const SUPER_USERS_CONFIG: &str = "super.users";
/// Kafka's broker setting for the answer when no ACL applies to a resource.
pub const ALLOW_EVERYONE_IF_NO_ACL_FOUND_CONFIG: &str = "allow.everyone.if.no.acl.found";

/// Declares a wire enum with its Kafka codes, `from_code`, `code` and `ALL_VALUES`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant),+];

            /// The value with Kafka's wire code `code`, if there is one.
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }
        }
    };
}

wire_enum!(
    /// The kind of resource an ACL protects (Kafka's `ResourceType`).
    ResourceType {
        Unknown = 0,
        Any = 1,
        Topic = 2,
        Group = 3,
        Cluster = 4,
        TransactionalId = 5,
        DelegationToken = 6,
        User = 7,
    }
);

wire_enum!(
    /// How a resource pattern's name matches resource names (Kafka's `PatternType`). ANY and
    /// MATCH exist only in filters.
    PatternType {
        Unknown = 0,
        Any = 1,
        Match = 2,
        Literal = 3,
        Prefixed = 4,
    }
);

wire_enum!(
    /// What an ACL allows or denies (Kafka's `AclOperation`). ANY exists only in filters.
    AclOperation {
        Unknown = 0,
        Any = 1,
        All = 2,
        Read = 3,
        Write = 4,
        Create = 5,
        Delete = 6,
        Alter = 7,
        Describe = 8,
        ClusterAction = 9,
        DescribeConfigs = 10,
        AlterConfigs = 11,
        IdempotentWrite = 12,
        CreateTokens = 13,
        DescribeTokens = 14,
    }
);

wire_enum!(
    /// Whether an ACL allows or denies (Kafka's `AclPermissionType`). ANY exists only in
    /// filters.
    AclPermissionType {
        Unknown = 0,
        Any = 1,
        Deny = 2,
        Allow = 3,
    }
);

impl ResourceType {
    /// The operations Kafka reports in KIP-430 authorized-operations bitfields for this
    /// resource type (`AclEntry.supportedOperations`); empty for UNKNOWN and ANY.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }
}

/// Why an ACL binding, filter or authorizer setting was refused. Kafka answers every
/// binding and filter refusal with INVALID_REQUEST and the message shown here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("Invalid resourceType {0:?}")]
    InvalidResourceType(ResourceType),
    #[error("Invalid patternType {0:?}")]
    InvalidPatternType(PatternType),
    #[error("Invalid operation {0:?}")]
    InvalidOperation(AclOperation),
    #[error("Invalid permissionType {0:?}")]
    InvalidPermissionType(AclPermissionType),
    #[error("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")]
    InvalidClusterName,
    #[error("Resource name should not be empty")]
    EmptyResourceName,
    #[error("Invalid principal `{0}`: expected principalType:principalName")]
    InvalidPrincipal(String),
    #[error("Unknown patternFilter.")]
    UnknownPatternFilter,
    #[error("Unknown entryFilter.")]
    UnknownEntryFilter,
}

/// The resources an ACL applies to: a LITERAL name (`*` meaning every name) or a PREFIXED
/// name (every name starting with it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    pub fn new(
        resource_type: ResourceType,
        name: impl Into<String>,
        pattern_type: PatternType,
    ) -> Self {
        ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type,
        }
    }

    /// Whether this pattern covers the resource `name` (of the pattern's own type).
    fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.name == name || self.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(self.name.as_str()),
            _ => false,
        }
    }
}

/// Who may (or may not) do what from where: principal `Type:name` or `User:*`, host an IP
/// address or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessControlEntry {
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AccessControlEntry {
    pub fn new(
        principal: impl Into<String>,
        host: impl Into<String>,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> Self {
        AccessControlEntry {
            principal: principal.into(),
            host: host.into(),
            operation,
            permission,
        }
    }

    /// The permission this entry grants for `operation` requested by `principal` from `host`,
    /// or `None` if the entry does not speak to that request. The resource is not checked.
    fn result_for(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
    ) -> Option<AclPermissionType> {
        if self.principal != principal && self.principal != WILDCARD_PRINCIPAL {
            return None;
        }
        if self.host != WILDCARD && self.host != host {
            return None;
        }
        if self.operation != AclOperation::All {
            let covered = match self.permission {
                // Implications hold for ALLOW only.
                AclPermissionType::Allow => match operation {
                    AclOperation::Describe => matches!(
                        self.operation,
                        AclOperation::Describe
                            | AclOperation::Read
                            | AclOperation::Write
                            | AclOperation::Delete
                            | AclOperation::Alter
                    ),
                    AclOperation::DescribeConfigs => matches!(
                        self.operation,
                        AclOperation::DescribeConfigs | AclOperation::AlterConfigs
                    ),
                    _ => self.operation == operation,
                },
                _ => self.operation == operation,
            };
            if !covered {
                return None;
            }
        }
        Some(self.permission)
    }
}

/// One ACL: an entry applied to a resource pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl AclBinding {
    pub fn new(pattern: ResourcePattern, entry: AccessControlEntry) -> Self {
        AclBinding { pattern, entry }
    }

    /// Whether CreateAcls may store this binding: a concrete resource type, a LITERAL or
    /// PREFIXED pattern, a concrete operation (ALL included), ALLOW or DENY, a non-empty
    /// name, `kafka-cluster` as the name of a CLUSTER resource (Kafka's
    /// `AclControlManager.validateNewAcl` and `AclApis.handleCreateAcls`), and a principal
    /// of the form `Type:name` with both parts non-empty (Kafka stores any string here and
    /// only fails when the authorizer later parses it; this refuses it up front).
    pub fn validate(&self) -> Result<(), AclError> {
        let pattern = &self.pattern;
        let entry = &self.entry;
        if matches!(
            pattern.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return Err(AclError::InvalidResourceType(pattern.resource_type));
        }
        if !matches!(
            pattern.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(AclError::InvalidPatternType(pattern.pattern_type));
        }
        if matches!(entry.operation, AclOperation::Unknown | AclOperation::Any) {
            return Err(AclError::InvalidOperation(entry.operation));
        }
        if !matches!(
            entry.permission,
            AclPermissionType::Allow | AclPermissionType::Deny
        ) {
            return Err(AclError::InvalidPermissionType(entry.permission));
        }
        if pattern.resource_type == ResourceType::Cluster && pattern.name != CLUSTER_NAME {
            return Err(AclError::InvalidClusterName);
        }
        if pattern.name.is_empty() {
            return Err(AclError::EmptyResourceName);
        }
        match entry.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
            _ => Err(AclError::InvalidPrincipal(entry.principal.clone())),
        }
    }
}

/// A filter over ACL bindings, as DescribeAcls and DeleteAcls carry it. `None` for a string
/// and ANY for an enum match everything; pattern type MATCH matches every pattern that
/// covers `name`: LITERAL on `name`, LITERAL `*`, and PREFIXED patterns that start `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// The filter that matches every binding.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    /// Whether DescribeAcls/DeleteAcls may apply this filter: none of its enums UNKNOWN
    /// (Kafka's `AclControlManager.validateFilter`).
    pub fn validate(&self) -> Result<(), AclError> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
        {
            return Err(AclError::UnknownPatternFilter);
        }
        if self.operation == AclOperation::Unknown || self.permission == AclPermissionType::Unknown
        {
            return Err(AclError::UnknownEntryFilter);
        }
        Ok(())
    }

    /// Whether `binding` passes this filter (Kafka's `AclBindingFilter.matches`).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(&binding.pattern) && self.matches_entry(&binding.entry)
    }

    fn matches_pattern(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == pattern.pattern_type {
            return *name == pattern.name;
        }
        // MATCH: every pattern that covers the filter's name.
        pattern.covers(name)
    }

    fn matches_entry(&self, entry: &AccessControlEntry) -> bool {
        if self
            .principal
            .as_ref()
            .is_some_and(|p| *p != entry.principal)
        {
            return false;
        }
        if self.host.as_ref().is_some_and(|h| *h != entry.host) {
            return false;
        }
        if self.operation != AclOperation::Any && self.operation != entry.operation {
            return false;
        }
        self.permission == AclPermissionType::Any || self.permission == entry.permission
    }
}

/// The broker settings the authorizer reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Principals (`Type:name`) allowed everything, compared as whole strings.
    pub super_users: Vec<String>,
    /// The answer when no ACL at all applies to a resource.
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// Reads Kafka's `super.users` and `allow.everyone.if.no.acl.found` values as Kafka's
    /// `StandardAuthorizer` does; an absent value means none / false.
    pub fn from_properties(
        super_users: Option<&str>,
        allow_everyone_if_no_acl_found: Option<&str>,
    ) -> Result<Self, AclError> {
        Ok(AuthorizerConfig {
            super_users: match super_users {
                Some(value) => parse_super_users(value)?,
                None => Vec::new(),
            },
            allow_everyone_if_no_acl_found: allow_everyone_if_no_acl_found
                .is_some_and(parse_java_boolean),
        })
    }
}

/// Parses `super.users`: principals separated by `;`, each trimmed, empty ones skipped, each
/// required to contain the `:` between principal type and name.
pub fn parse_super_users(value: &str) -> Result<Vec<String>, AclError> {
    let mut users = Vec::new();
    for user in value.split(';').map(str::trim).filter(|u| !u.is_empty()) {
        if !user.contains(':') {
            return Err(AclError::InvalidPrincipal(user.to_string()));
        }
        if !users.iter().any(|u| u == user) {
            users.push(user.to_string());
        }
    }
    Ok(users)
}

/// Java's `Boolean.parseBoolean` of the trimmed value: `true` in any case, anything else
/// false.
fn parse_java_boolean(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

/// What decided an authorization, for audit logs (Kafka's `MatchingRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The principal is a super user.
    SuperUser,
    /// This ACL matched: a DENY, or an ALLOW with no DENY matching.
    Acl(&'a AclBinding),
    /// ACLs exist for the resource but none matched the request.
    NoMatchingAcl,
    /// No ACL exists for the resource; `allowed` is `allow.everyone.if.no.acl.found`.
    NoAclFound { allowed: bool },
}

impl Decision<'_> {
    pub fn allowed(&self) -> bool {
        match self {
            Decision::SuperUser => true,
            Decision::Acl(binding) => binding.entry.permission == AclPermissionType::Allow,
            Decision::NoMatchingAcl => false,
            Decision::NoAclFound { allowed } => *allowed,
        }
    }
}

/// The ACLs of one resource type, indexed by name. Values are indices into the bindings.
#[derive(Debug, Default)]
struct TypeIndex {
    /// LITERAL patterns by name, the wildcard `*` among them.
    literal: BTreeMap<String, Vec<usize>>,
    /// PREFIXED patterns by prefix.
    prefixed: BTreeMap<String, Vec<usize>>,
    /// The distinct byte lengths of the prefixes, ascending: a lookup tries only the prefixes
    /// of the resource name with these lengths.
    prefix_lens: Vec<usize>,
}

/// Number of resource-type codes (0..=7); the index keeps one slot per code.
const TYPE_SLOTS: usize = 8;

/// An immutable snapshot of the ACLs and authorizer settings, answering authorization
/// questions with Kafka's `StandardAuthorizer` semantics (see the module documentation).
#[derive(Debug)]
pub struct StandardAuthorizer {
    /// Every binding, sorted and without duplicates.
    bindings: Vec<AclBinding>,
    by_type: [TypeIndex; TYPE_SLOTS],
    super_users: HashSet<String>,
    allow_everyone_if_no_acl_found: bool,
}

impl StandardAuthorizer {
    /// Builds the authorizer from the current ACLs, refusing any binding that
    /// [`AclBinding::validate`] refuses. Identical bindings are kept once.
    pub fn new(
        acls: impl IntoIterator<Item = AclBinding>,
        config: AuthorizerConfig,
    ) -> Result<Self, AclError> {
        let mut bindings: Vec<AclBinding> = acls.into_iter().collect();
        for binding in &bindings {
            binding.validate()?;
        }
        bindings.sort_unstable();
        bindings.dedup();
        let mut by_type: [TypeIndex; TYPE_SLOTS] = Default::default();
        for (i, binding) in bindings.iter().enumerate() {
            let index = &mut by_type[type_slot(binding.pattern.resource_type)];
            let map = match binding.pattern.pattern_type {
                PatternType::Literal => &mut index.literal,
                _ => &mut index.prefixed,
            };
            map.entry(binding.pattern.name.clone()).or_default().push(i);
        }
        for index in &mut by_type {
            index.prefix_lens = index.prefixed.keys().map(String::len).collect();
            index.prefix_lens.sort_unstable();
            index.prefix_lens.dedup();
        }
        Ok(StandardAuthorizer {
            bindings,
            by_type,
            super_users: config.super_users.into_iter().collect(),
            allow_everyone_if_no_acl_found: config.allow_everyone_if_no_acl_found,
        })
    }

    /// Whether `principal` (`Type:name`) connected from `host` (its IP address as text) may
    /// perform `operation` on the resource `name` of `resource_type`.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(principal, host, operation, resource_type, name)
            .allowed()
    }

    /// As [`authorize`](Self::authorize), returning what decided.
    pub fn decide(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision<'_> {
        if self.super_users.contains(principal) {
            return Decision::SuperUser;
        }
        let index = &self.by_type[type_slot(resource_type)];
        let mut any_acl = false;
        let mut allow: Option<&AclBinding> = None;
        // Returns the first DENY among `ids` that matches the request.
        let mut check = |ids: &[usize]| -> Option<&AclBinding> {
            for &id in ids {
                any_acl = true;
                let binding = &self.bindings[id];
                match binding.entry.result_for(principal, host, operation) {
                    Some(AclPermissionType::Deny) => return Some(binding),
                    Some(_) => {
                        allow.get_or_insert(binding);
                    }
                    None => {}
                }
            }
            None
        };
        if let Some(ids) = index.literal.get(name) {
            if let Some(deny) = check(ids) {
                return Decision::Acl(deny);
            }
        }
        if name != WILDCARD {
            if let Some(ids) = index.literal.get(WILDCARD) {
                if let Some(deny) = check(ids) {
                    return Decision::Acl(deny);
                }
            }
        }
        for &len in &index.prefix_lens {
            if len > name.len() {
                break;
            }
            if !name.is_char_boundary(len) {
                continue;
            }
            if let Some(ids) = index.prefixed.get(&name[..len]) {
                if let Some(deny) = check(ids) {
                    return Decision::Acl(deny);
                }
            }
        }
        match allow {
            Some(binding) => Decision::Acl(binding),
            None if any_acl => Decision::NoMatchingAcl,
            None => Decision::NoAclFound {
                allowed: self.allow_everyone_if_no_acl_found,
            },
        }
    }

    /// The KIP-430 bitfield of the `candidates` that `principal` from `host` may perform on
    /// the resource: bit `op.code()` set for each one allowed, as Kafka's
    /// `AuthHelper.authorizedOperations` builds it. Kafka passes
    /// [`ResourceType::supported_operations`] as the candidates.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
        candidates: &[AclOperation],
    ) -> i32 {
        candidates
            .iter()
            .filter(|&&op| self.authorize(principal, host, op, resource_type, name))
            .fold(0i32, |bits, op| bits | (1i32 << op.code()))
    }

    /// Every ACL, in a stable order (resource type, name, pattern type, then the entry).
    pub fn acls(&self) -> impl Iterator<Item = &AclBinding> {
        self.bindings.iter()
    }

    /// The ACLs that pass `filter`, as DescribeAcls returns them and DeleteAcls removes them.
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.bindings
            .iter()
            .filter(|binding| filter.matches(binding))
            .cloned()
            .collect()
    }

    /// Number of distinct ACLs.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    pub fn allow_everyone_if_no_acl_found(&self) -> bool {
        self.allow_everyone_if_no_acl_found
    }
}

fn type_slot(resource_type: ResourceType) -> usize {
    // Codes are 0..=7, one slot each.
    resource_type.code() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation as Op;
    use AclPermissionType::{Allow, Deny};
    use PatternType::{Literal, Prefixed};
    use ResourceType::{Cluster, Group, Topic, TransactionalId};

    const ALICE: &str = "User:alice";
    const BOB: &str = "User:bob";
    const HOST: &str = "10.0.0.1";
    const OTHER_HOST: &str = "10.0.0.2";

    fn acl(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        host: &str,
        operation: AclOperation,
        permission: AclPermissionType,
    ) -> AclBinding {
        AclBinding::new(
            ResourcePattern::new(resource_type, name, pattern_type),
            AccessControlEntry::new(principal, host, operation, permission),
        )
    }

    /// A topic ACL for any host.
    fn topic(
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: Op,
        perm: AclPermissionType,
    ) -> AclBinding {
        acl(Topic, name, pattern, principal, WILDCARD, op, perm)
    }

    fn authz(acls: Vec<AclBinding>) -> StandardAuthorizer {
        StandardAuthorizer::new(acls, AuthorizerConfig::default()).unwrap()
    }

    fn can(a: &StandardAuthorizer, principal: &str, op: Op, name: &str) -> bool {
        a.authorize(principal, HOST, op, Topic, name)
    }

    #[test]
    fn wire_codes_round_trip() {
        for &v in ResourceType::ALL_VALUES {
            assert_eq!(ResourceType::from_code(v.code()), Some(v));
        }
        for &v in PatternType::ALL_VALUES {
            assert_eq!(PatternType::from_code(v.code()), Some(v));
        }
        for &v in AclOperation::ALL_VALUES {
            assert_eq!(AclOperation::from_code(v.code()), Some(v));
        }
        for &v in AclPermissionType::ALL_VALUES {
            assert_eq!(AclPermissionType::from_code(v.code()), Some(v));
        }
        assert_eq!(ResourceType::TransactionalId.code(), 5);
        assert_eq!(ResourceType::User.code(), 7);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclOperation::DescribeTokens.code(), 14);
        assert_eq!(AclPermissionType::Allow.code(), 3);
        assert_eq!(ResourceType::from_code(8), None);
        assert_eq!(PatternType::from_code(-1), None);
        assert_eq!(AclOperation::from_code(15), None);
        assert_eq!(AclPermissionType::from_code(4), None);
    }

    #[test]
    fn exact_literal_allow() {
        let a = authz(vec![topic("orders", Literal, ALICE, Op::Read, Allow)]);
        assert!(can(&a, ALICE, Op::Read, "orders"));
        assert!(!can(&a, ALICE, Op::Write, "orders"));
        assert!(!can(&a, BOB, Op::Read, "orders"));
        // A literal name is not a prefix.
        assert!(!can(&a, ALICE, Op::Read, "orders-eu"));
        // Nor does it apply to another resource type of the same name.
        assert!(!a.authorize(ALICE, HOST, Op::Read, Group, "orders"));
    }

    #[test]
    fn allow_of_read_write_delete_alter_implies_describe() {
        for op in [Op::Read, Op::Write, Op::Delete, Op::Alter] {
            let a = authz(vec![topic("t", Literal, ALICE, op, Allow)]);
            assert!(can(&a, ALICE, Op::Describe, "t"), "{op:?} implies Describe");
            assert!(
                !can(&a, ALICE, Op::DescribeConfigs, "t"),
                "{op:?} must not imply DescribeConfigs"
            );
        }
        // Create and ClusterAction imply nothing.
        for op in [Op::Create, Op::AlterConfigs, Op::ClusterAction] {
            let a = authz(vec![topic("t", Literal, ALICE, op, Allow)]);
            assert!(
                !can(&a, ALICE, Op::Describe, "t"),
                "{op:?} must not imply Describe"
            );
        }
    }

    #[test]
    fn write_does_not_imply_read_and_describe_implies_nothing() {
        let a = authz(vec![topic("t", Literal, ALICE, Op::Write, Allow)]);
        assert!(can(&a, ALICE, Op::Write, "t"));
        assert!(!can(&a, ALICE, Op::Read, "t"));
        let a = authz(vec![topic("t", Literal, ALICE, Op::Describe, Allow)]);
        assert!(can(&a, ALICE, Op::Describe, "t"));
        assert!(!can(&a, ALICE, Op::Read, "t"));
        assert!(!can(&a, ALICE, Op::Write, "t"));
    }

    #[test]
    fn alter_configs_implies_describe_configs_only() {
        let a = authz(vec![topic("t", Literal, ALICE, Op::AlterConfigs, Allow)]);
        assert!(can(&a, ALICE, Op::AlterConfigs, "t"));
        assert!(can(&a, ALICE, Op::DescribeConfigs, "t"));
        assert!(!can(&a, ALICE, Op::Describe, "t"));
        assert!(!can(&a, ALICE, Op::Alter, "t"));
        let a = authz(vec![topic("t", Literal, ALICE, Op::DescribeConfigs, Allow)]);
        assert!(!can(&a, ALICE, Op::AlterConfigs, "t"));
    }

    #[test]
    fn allow_all_covers_every_operation() {
        let a = authz(vec![topic("t", Literal, ALICE, Op::All, Allow)]);
        for &op in Topic.supported_operations() {
            assert!(can(&a, ALICE, op, "t"), "All covers {op:?}");
        }
        assert!(!can(&a, BOB, Op::Read, "t"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Read, Allow),
            topic("t", Literal, ALICE, Op::Read, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Read, "t"));
        // The deny names its ACL.
        match a.decide(ALICE, HOST, Op::Read, Topic, "t") {
            Decision::Acl(b) => assert_eq!(b.entry.permission, Deny),
            other => panic!("expected the deny ACL, got {other:?}"),
        }
        // An ALLOW All does not beat a DENY of one operation.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::All, Allow),
            topic("t", Literal, ALICE, Op::Write, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Write, "t"));
        assert!(can(&a, ALICE, Op::Read, "t"));
    }

    #[test]
    fn deny_all_denies_everything() {
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::All, Allow),
            topic("t", Literal, ALICE, Op::All, Deny),
        ]);
        for &op in Topic.supported_operations() {
            assert!(!can(&a, ALICE, op, "t"), "Deny All denies {op:?}");
        }
    }

    #[test]
    fn deny_implies_nothing_beyond_its_operation() {
        // DENY Read does not deny Describe, which ALLOW Read implied.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Read, Allow),
            topic("t", Literal, ALICE, Op::Read, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Read, "t"));
        assert!(can(&a, ALICE, Op::Describe, "t"));
        // DENY Describe does not deny Read.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Read, Allow),
            topic("t", Literal, ALICE, Op::Describe, Deny),
        ]);
        assert!(can(&a, ALICE, Op::Read, "t"));
        assert!(!can(&a, ALICE, Op::Describe, "t"));
        // DENY AlterConfigs does not deny DescribeConfigs.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::DescribeConfigs, Allow),
            topic("t", Literal, ALICE, Op::AlterConfigs, Deny),
        ]);
        assert!(can(&a, ALICE, Op::DescribeConfigs, "t"));
    }

    #[test]
    fn prefixed_allow_with_literal_deny_that_wins() {
        let a = authz(vec![
            topic("orders", Prefixed, ALICE, Op::Read, Allow),
            topic("orders-secret", Literal, ALICE, Op::Read, Deny),
        ]);
        assert!(can(&a, ALICE, Op::Read, "orders"));
        assert!(can(&a, ALICE, Op::Read, "orders-eu"));
        assert!(can(&a, ALICE, Op::Read, "orders-secret-not"));
        assert!(!can(&a, ALICE, Op::Read, "orders-secret"));
        assert!(!can(&a, ALICE, Op::Read, "order"));
    }

    #[test]
    fn literal_allow_with_prefixed_deny_that_wins() {
        let a = authz(vec![
            topic("payments", Literal, ALICE, Op::Write, Allow),
            topic("pay", Prefixed, WILDCARD_PRINCIPAL, Op::Write, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Write, "payments"));
    }

    #[test]
    fn prefixed_versus_literal() {
        let a = authz(vec![
            topic("a", Prefixed, ALICE, Op::Read, Allow),
            topic("abc", Prefixed, BOB, Op::Read, Allow),
            topic("ab", Literal, BOB, Op::Write, Allow),
        ]);
        // Every prefix of the name is tried, short and long.
        assert!(can(&a, ALICE, Op::Read, "a"));
        assert!(can(&a, ALICE, Op::Read, "abcd"));
        assert!(can(&a, BOB, Op::Read, "abc"));
        assert!(can(&a, BOB, Op::Read, "abcd"));
        assert!(!can(&a, BOB, Op::Read, "ab"));
        // The literal "ab" applies to "ab" only.
        assert!(can(&a, BOB, Op::Write, "ab"));
        assert!(!can(&a, BOB, Op::Write, "abc"));
        // A prefixed pattern is not a wildcard and a name is not a prefix of its pattern.
        assert!(!can(&a, ALICE, Op::Read, "b"));
        assert!(!can(&a, BOB, Op::Read, "abd"));
    }

    #[test]
    fn prefixes_respect_utf8_boundaries() {
        let a = authz(vec![
            topic("é", Prefixed, ALICE, Op::Read, Allow),
            topic("x", Prefixed, BOB, Op::Read, Allow),
        ]);
        assert!(can(&a, ALICE, Op::Read, "été"));
        assert!(!can(&a, ALICE, Op::Read, "e"));
        // Prefix length 1 falls inside "ü": no panic, no match.
        assert!(!can(&a, BOB, Op::Read, "üx"));
    }

    #[test]
    fn wildcard_resource_name() {
        let a = authz(vec![topic("*", Literal, ALICE, Op::Read, Allow)]);
        assert!(can(&a, ALICE, Op::Read, "anything"));
        assert!(can(&a, ALICE, Op::Read, "*"));
        assert!(!can(&a, ALICE, Op::Write, "anything"));
        assert!(!a.authorize(ALICE, HOST, Op::Read, Group, "anything"));
        // A wildcard DENY beats a literal ALLOW.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Read, Allow),
            topic("*", Literal, ALICE, Op::Read, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Read, "t"));
        // A PREFIXED "*" is no wildcard: it covers names starting with '*'.
        let a = authz(vec![topic("*", Prefixed, ALICE, Op::Read, Allow)]);
        assert!(!can(&a, ALICE, Op::Read, "anything"));
        assert!(can(&a, ALICE, Op::Read, "*x"));
    }

    #[test]
    fn wildcard_principal() {
        let a = authz(vec![topic(
            "t",
            Literal,
            WILDCARD_PRINCIPAL,
            Op::Read,
            Allow,
        )]);
        assert!(can(&a, ALICE, Op::Read, "t"));
        assert!(can(&a, BOB, Op::Read, "t"));
        // Only User:* is a wildcard; it matches principals of any type as Kafka's does.
        assert!(can(&a, "Group:g", Op::Read, "t"));
        let a = authz(vec![topic("t", Literal, "Group:*", Op::Read, Allow)]);
        assert!(!can(&a, "Group:g", Op::Read, "t"));
        assert!(can(&a, "Group:*", Op::Read, "t"));
        // A wildcard-principal DENY beats a named ALLOW.
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Read, Allow),
            topic("t", Literal, WILDCARD_PRINCIPAL, Op::Read, Deny),
        ]);
        assert!(!can(&a, ALICE, Op::Read, "t"));
    }

    #[test]
    fn host_filter() {
        let a = authz(vec![
            acl(Topic, "t", Literal, ALICE, HOST, Op::Read, Allow),
            acl(Topic, "t", Literal, BOB, WILDCARD, Op::Read, Allow),
            acl(Topic, "t", Literal, BOB, OTHER_HOST, Op::Read, Deny),
        ]);
        assert!(a.authorize(ALICE, HOST, Op::Read, Topic, "t"));
        assert!(!a.authorize(ALICE, OTHER_HOST, Op::Read, Topic, "t"));
        assert!(a.authorize(BOB, HOST, Op::Read, Topic, "t"));
        assert!(!a.authorize(BOB, OTHER_HOST, Op::Read, Topic, "t"));
    }

    #[test]
    fn super_users_bypass_acls() {
        let config =
            AuthorizerConfig::from_properties(Some(" User:admin ; User:ops;;"), None).unwrap();
        assert_eq!(config.super_users, vec!["User:admin", "User:ops"]);
        let a = StandardAuthorizer::new(
            vec![topic("t", Literal, "User:admin", Op::All, Deny)],
            config,
        )
        .unwrap();
        assert!(a.is_super_user("User:admin"));
        assert!(a.authorize("User:admin", HOST, Op::Read, Topic, "t"));
        assert_eq!(
            a.decide("User:ops", HOST, Op::Alter, Cluster, CLUSTER_NAME),
            Decision::SuperUser
        );
        assert!(!a.authorize(ALICE, HOST, Op::Read, Topic, "t"));
        // Whole-string comparison: no case folding, no wildcard.
        assert!(!a.authorize("User:Admin", HOST, Op::Read, Topic, "t"));
    }

    #[test]
    fn super_users_parse() {
        assert_eq!(parse_super_users("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_super_users("User:a;User:a").unwrap(), vec!["User:a"]);
        assert_eq!(
            parse_super_users("User:a;bob"),
            Err(AclError::InvalidPrincipal("bob".to_string()))
        );
    }

    #[test]
    fn allow_everyone_if_no_acl_found() {
        let acls = vec![topic("t", Literal, BOB, Op::Read, Allow)];
        let closed = StandardAuthorizer::new(acls.clone(), AuthorizerConfig::default()).unwrap();
        let open = StandardAuthorizer::new(
            acls,
            AuthorizerConfig::from_properties(None, Some(" TRUE ")).unwrap(),
        )
        .unwrap();
        assert!(open.allow_everyone_if_no_acl_found());
        // A resource with no ACL at all: the setting decides.
        assert!(!can(&closed, ALICE, Op::Read, "other"));
        assert!(can(&open, ALICE, Op::Write, "other"));
        assert_eq!(
            open.decide(ALICE, HOST, Op::Read, Topic, "other"),
            Decision::NoAclFound { allowed: true }
        );
        // A resource with ACLs for someone else: denied even when open.
        assert!(!can(&open, ALICE, Op::Read, "t"));
        assert_eq!(
            open.decide(ALICE, HOST, Op::Read, Topic, "t"),
            Decision::NoMatchingAcl
        );
        // Also when the only ACL is for another operation or another host.
        let open_host = StandardAuthorizer::new(
            vec![acl(
                Topic,
                "t",
                Literal,
                ALICE,
                OTHER_HOST,
                Op::Write,
                Allow,
            )],
            AuthorizerConfig {
                super_users: vec![],
                allow_everyone_if_no_acl_found: true,
            },
        )
        .unwrap();
        assert!(!open_host.authorize(ALICE, HOST, Op::Read, Topic, "t"));
        // Prefixed and wildcard ACLs count as ACLs for the resource.
        let open_prefixed = StandardAuthorizer::new(
            vec![
                topic("t", Prefixed, BOB, Op::Read, Allow),
                acl(Group, "*", Literal, BOB, WILDCARD, Op::Read, Allow),
            ],
            AuthorizerConfig {
                super_users: vec![],
                allow_everyone_if_no_acl_found: true,
            },
        )
        .unwrap();
        assert!(!can(&open_prefixed, ALICE, Op::Read, "tx"));
        assert!(can(&open_prefixed, ALICE, Op::Read, "x"));
        assert!(!open_prefixed.authorize(ALICE, HOST, Op::Read, Group, "g"));
        // "false" and anything else mean false.
        for v in ["false", "yes", "1", ""] {
            assert!(
                !AuthorizerConfig::from_properties(None, Some(v))
                    .unwrap()
                    .allow_everyone_if_no_acl_found
            );
        }
    }

    #[test]
    fn authorized_operations_bitfield() {
        let a = authz(vec![
            topic("t", Literal, ALICE, Op::Write, Allow),
            topic("t", Literal, ALICE, Op::AlterConfigs, Allow),
        ]);
        let bits = a.authorized_operations(ALICE, HOST, Topic, "t", Topic.supported_operations());
        let expected = (1 << Op::Write.code())
            | (1 << Op::Describe.code())
            | (1 << Op::AlterConfigs.code())
            | (1 << Op::DescribeConfigs.code());
        assert_eq!(bits, expected);
        assert_eq!(
            a.authorized_operations(BOB, HOST, Topic, "t", Topic.supported_operations()),
            0
        );
        let super_user = StandardAuthorizer::new(
            vec![],
            AuthorizerConfig {
                super_users: vec![ALICE.to_string()],
                allow_everyone_if_no_acl_found: false,
            },
        )
        .unwrap();
        let all_txn = (1 << Op::Describe.code()) | (1 << Op::Write.code());
        assert_eq!(
            super_user.authorized_operations(
                ALICE,
                HOST,
                TransactionalId,
                "tx",
                TransactionalId.supported_operations()
            ),
            all_txn
        );
    }

    #[test]
    fn cluster_resource() {
        let a = authz(vec![acl(
            Cluster,
            CLUSTER_NAME,
            Literal,
            ALICE,
            WILDCARD,
            Op::IdempotentWrite,
            Allow,
        )]);
        assert!(a.authorize(ALICE, HOST, Op::IdempotentWrite, Cluster, CLUSTER_NAME));
        assert!(!a.authorize(ALICE, HOST, Op::ClusterAction, Cluster, CLUSTER_NAME));
    }

    fn sample() -> StandardAuthorizer {
        authz(vec![
            topic("orders", Literal, ALICE, Op::Read, Allow),
            topic("*", Literal, BOB, Op::Read, Allow),
            topic("ord", Prefixed, BOB, Op::Write, Deny),
            topic("inv", Prefixed, ALICE, Op::Write, Allow),
            acl(Group, "orders", Literal, ALICE, HOST, Op::Read, Allow),
        ])
    }

    /// The patterns of `found`, sorted.
    fn names(found: Vec<AclBinding>) -> Vec<(ResourceType, String, PatternType)> {
        let mut names: Vec<_> = found
            .into_iter()
            .map(|b| {
                (
                    b.pattern.resource_type,
                    b.pattern.name,
                    b.pattern.pattern_type,
                )
            })
            .collect();
        names.sort();
        names
    }

    fn pats(
        expected: &[(ResourceType, &str, PatternType)],
    ) -> Vec<(ResourceType, String, PatternType)> {
        let mut names: Vec<_> = expected
            .iter()
            .map(|&(rt, name, pt)| (rt, name.to_string(), pt))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn filter_any_matches_all() {
        let a = sample();
        assert_eq!(a.describe(&AclBindingFilter::any()).len(), 5);
        assert_eq!(a.acls().count(), 5);
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn filter_match_pattern_type() {
        let a = sample();
        let filter = AclBindingFilter {
            resource_type: Topic,
            name: Some("orders".into()),
            pattern_type: PatternType::Match,
            ..AclBindingFilter::any()
        };
        let found = names(a.describe(&filter));
        assert_eq!(
            found,
            pats(&[
                (Topic, "*", Literal),
                (Topic, "ord", Prefixed),
                (Topic, "orders", Literal)
            ])
        );
        // MATCH with the name "*" finds the literal wildcard only.
        let filter = AclBindingFilter {
            name: Some("*".into()),
            pattern_type: PatternType::Match,
            ..AclBindingFilter::any()
        };
        assert_eq!(names(a.describe(&filter)), pats(&[(Topic, "*", Literal)]));
    }

    #[test]
    fn filter_exact_pattern_types() {
        let a = sample();
        // ANY pattern type with a name: exact name, either pattern type, any resource type.
        let filter = AclBindingFilter {
            name: Some("orders".into()),
            ..AclBindingFilter::any()
        };
        let found = names(a.describe(&filter));
        assert_eq!(
            found,
            pats(&[(Topic, "orders", Literal), (Group, "orders", Literal)])
        );
        // LITERAL with a name matches that literal only, not the wildcard.
        let filter = AclBindingFilter {
            resource_type: Topic,
            name: Some("orders".into()),
            pattern_type: Literal,
            ..AclBindingFilter::any()
        };
        assert_eq!(
            names(a.describe(&filter)),
            pats(&[(Topic, "orders", Literal)])
        );
        // PREFIXED without a name: every prefixed pattern.
        let filter = AclBindingFilter {
            pattern_type: Prefixed,
            ..AclBindingFilter::any()
        };
        let found = names(a.describe(&filter));
        assert_eq!(
            found,
            pats(&[(Topic, "inv", Prefixed), (Topic, "ord", Prefixed)])
        );
        // PREFIXED with a name is exact, not a prefix test.
        let filter = AclBindingFilter {
            name: Some("orders".into()),
            pattern_type: Prefixed,
            ..AclBindingFilter::any()
        };
        assert!(a.describe(&filter).is_empty());
    }

    #[test]
    fn filter_entry_fields() {
        let a = sample();
        let by_principal = AclBindingFilter {
            principal: Some(BOB.into()),
            ..AclBindingFilter::any()
        };
        assert_eq!(a.describe(&by_principal).len(), 2);
        let by_host = AclBindingFilter {
            host: Some(HOST.into()),
            ..AclBindingFilter::any()
        };
        assert_eq!(
            names(a.describe(&by_host)),
            pats(&[(Group, "orders", Literal)])
        );
        let by_op_perm = AclBindingFilter {
            operation: Op::Write,
            permission: Deny,
            ..AclBindingFilter::any()
        };
        assert_eq!(
            names(a.describe(&by_op_perm)),
            pats(&[(Topic, "ord", Prefixed)])
        );
        // The filter's operation is compared exactly, without implications: the group's
        // READ ACL is not a DESCRIBE one.
        let by_describe_group = AclBindingFilter {
            resource_type: Group,
            operation: Op::Describe,
            ..AclBindingFilter::any()
        };
        assert!(a.describe(&by_describe_group).is_empty());
    }

    #[test]
    fn filter_validation() {
        assert_eq!(AclBindingFilter::any().validate(), Ok(()));
        let unknown_type = AclBindingFilter {
            resource_type: ResourceType::Unknown,
            ..AclBindingFilter::any()
        };
        assert_eq!(unknown_type.validate(), Err(AclError::UnknownPatternFilter));
        let unknown_pattern = AclBindingFilter {
            pattern_type: PatternType::Unknown,
            ..AclBindingFilter::any()
        };
        assert_eq!(
            unknown_pattern.validate(),
            Err(AclError::UnknownPatternFilter)
        );
        let unknown_op = AclBindingFilter {
            operation: Op::Unknown,
            ..AclBindingFilter::any()
        };
        assert_eq!(unknown_op.validate(), Err(AclError::UnknownEntryFilter));
        let unknown_perm = AclBindingFilter {
            permission: AclPermissionType::Unknown,
            ..AclBindingFilter::any()
        };
        assert_eq!(unknown_perm.validate(), Err(AclError::UnknownEntryFilter));
    }

    #[test]
    fn validation_refusals() {
        let good = topic("t", Literal, ALICE, Op::Read, Allow);
        assert_eq!(good.validate(), Ok(()));
        assert_eq!(
            topic("t", Prefixed, ALICE, Op::All, Deny).validate(),
            Ok(())
        );

        let with = |f: &dyn Fn(&mut AclBinding)| {
            let mut b = good.clone();
            f(&mut b);
            b.validate()
        };
        for rt in [ResourceType::Unknown, ResourceType::Any] {
            assert_eq!(
                with(&|b| b.pattern.resource_type = rt),
                Err(AclError::InvalidResourceType(rt))
            );
        }
        for pt in [PatternType::Unknown, PatternType::Any, PatternType::Match] {
            assert_eq!(
                with(&|b| b.pattern.pattern_type = pt),
                Err(AclError::InvalidPatternType(pt))
            );
        }
        for op in [Op::Unknown, Op::Any] {
            assert_eq!(
                with(&|b| b.entry.operation = op),
                Err(AclError::InvalidOperation(op))
            );
        }
        for perm in [AclPermissionType::Unknown, AclPermissionType::Any] {
            assert_eq!(
                with(&|b| b.entry.permission = perm),
                Err(AclError::InvalidPermissionType(perm))
            );
        }
        assert_eq!(
            with(&|b| b.pattern.name.clear()),
            Err(AclError::EmptyResourceName)
        );
        for principal in ["alice", "User:", ":alice", ""] {
            assert_eq!(
                with(&|b| b.entry.principal = principal.to_string()),
                Err(AclError::InvalidPrincipal(principal.to_string()))
            );
        }
        // CLUSTER takes kafka-cluster only, prefixed or literal.
        let cluster = |name: &str, pt| acl(Cluster, name, pt, ALICE, WILDCARD, Op::Alter, Allow);
        assert_eq!(cluster(CLUSTER_NAME, Literal).validate(), Ok(()));
        assert_eq!(cluster(CLUSTER_NAME, Prefixed).validate(), Ok(()));
        assert_eq!(
            cluster("my-cluster", Literal).validate(),
            Err(AclError::InvalidClusterName)
        );
        assert_eq!(
            cluster("", Literal).validate(),
            Err(AclError::InvalidClusterName)
        );
        assert_eq!(
            cluster("*", Literal).validate(),
            Err(AclError::InvalidClusterName)
        );
        // The user-facing messages are Kafka's.
        assert_eq!(
            AclError::InvalidClusterName.to_string(),
            "The only valid name for the CLUSTER resource is kafka-cluster"
        );
        assert_eq!(
            AclError::EmptyResourceName.to_string(),
            "Resource name should not be empty"
        );
    }

    #[test]
    fn construction_refuses_invalid_and_dedups() {
        let bad = topic("t", PatternType::Match, ALICE, Op::Read, Allow);
        assert_eq!(
            StandardAuthorizer::new(vec![bad], AuthorizerConfig::default()).unwrap_err(),
            AclError::InvalidPatternType(PatternType::Match)
        );
        let b = topic("t", Literal, ALICE, Op::Read, Allow);
        let a = authz(vec![b.clone(), b.clone()]);
        assert_eq!(a.len(), 1);
        assert_eq!(a.acls().next(), Some(&b));
        assert!(authz(vec![]).is_empty());
    }
}
