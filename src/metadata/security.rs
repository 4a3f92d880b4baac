//! Security metadata: SCRAM credentials and ACLs as records and image entries, in Kafka's own
//! shapes (`UserScramCredentialRecord`, `AccessControlEntryRecord`) and wire codes, and the
//! ACL filter matching of Kafka's `AclBindingFilter`.
//!
//! Credential bytes are stored as base64 strings so the JSON log stays readable, and every
//! type holding a key has a `Debug` that prints none.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::security::{ScramCredential, ScramMechanism};

/// Kafka's `ResourceType` codes.
pub mod resource_type {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
    /// Codes an ACL may carry (not UNKNOWN, not ANY).
    pub fn is_concrete(code: i8) -> bool {
        (TOPIC..=USER).contains(&code)
    }
}

/// Kafka's `PatternType` codes.
pub mod pattern_type {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes.
pub mod acl_operation {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
    pub const TWO_PHASE_COMMIT: i8 = 15;
    /// Codes an ACL may carry (not UNKNOWN, not ANY).
    pub fn is_concrete(code: i8) -> bool {
        (ALL..=TWO_PHASE_COMMIT).contains(&code)
    }
}

/// Kafka's `AclPermissionType` codes.
pub mod acl_permission {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// Kafka's literal wildcard resource name and host.
pub const WILDCARD: &str = "*";

/// Serde of byte fields as standard base64 strings.
pub mod base64_bytes {
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// One user's SCRAM credential for one mechanism as the metadata log carries it (Kafka's
/// `UserScramCredentialRecord`). `mechanism` is Kafka's code (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserScramCredentialRecord {
    pub name: String,
    pub mechanism: i8,
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl UserScramCredentialRecord {
    /// The record of `user`'s credential.
    pub fn of(user: &str, credential: &ScramCredential) -> Self {
        UserScramCredentialRecord {
            name: user.to_string(),
            mechanism: credential.mechanism().kafka_type(),
            salt: credential.salt().to_vec(),
            stored_key: credential.stored_key().to_vec(),
            server_key: credential.server_key().to_vec(),
            iterations: credential.iterations() as i32,
        }
    }

    /// The image's entry of this credential.
    pub fn stored(&self) -> StoredScramCredential {
        StoredScramCredential {
            salt: self.salt.clone(),
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
            iterations: self.iterations,
        }
    }
}

impl fmt::Debug for UserScramCredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserScramCredentialRecord")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// A credential in the image (user and mechanism are its keys there).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScramCredential {
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl StoredScramCredential {
    /// The SASL code's form; `None` if the stored parts do not fit the mechanism.
    pub fn to_credential(&self, mechanism: ScramMechanism) -> Option<ScramCredential> {
        ScramCredential::from_parts(
            mechanism,
            self.salt.clone(),
            u32::try_from(self.iterations).ok()?,
            self.stored_key.clone(),
            self.server_key.clone(),
        )
        .ok()
    }
}

impl fmt::Debug for StoredScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredScramCredential")
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// One ACL (Kafka's `AccessControlEntryRecord` without its id, which keys it in the image):
/// a resource pattern and an access control entry, in Kafka's codes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclRecord {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    /// `Type:name`, e.g. `User:alice`.
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

/// Kafka's `AclBindingFilter`: `None` strings match anything; ANY codes match anything;
/// pattern type MATCH matches the ACLs that apply to the named resource (literal equal,
/// literal `*`, prefixes of the name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission_type: i8,
}

impl AclFilter {
    /// Kafka's `AclBindingFilter.isUnknown`: a filter with an UNKNOWN code matches nothing
    /// meaningful and is refused with INVALID_REQUEST.
    pub fn is_unknown(&self) -> bool {
        self.resource_type == resource_type::UNKNOWN
            || self.pattern_type == pattern_type::UNKNOWN
            || self.operation == acl_operation::UNKNOWN
            || self.permission_type == acl_permission::UNKNOWN
    }
}

/// Whether `acl` matches `filter`, by Kafka's `ResourcePatternFilter.matches` and
/// `AccessControlEntryFilter.matches`. (The authorizer's own matcher may replace this.)
pub fn acl_filter_matches(filter: &AclFilter, acl: &AclRecord) -> bool {
    resource_filter_matches(filter, acl) && entry_filter_matches(filter, acl)
}

fn resource_filter_matches(filter: &AclFilter, acl: &AclRecord) -> bool {
    if filter.resource_type != resource_type::ANY && filter.resource_type != acl.resource_type {
        return false;
    }
    if filter.pattern_type != pattern_type::ANY
        && filter.pattern_type != pattern_type::MATCH
        && filter.pattern_type != acl.pattern_type
    {
        return false;
    }
    let Some(name) = &filter.resource_name else {
        return true;
    };
    if filter.pattern_type == pattern_type::ANY || filter.pattern_type == acl.pattern_type {
        return *name == acl.resource_name;
    }
    // MATCH: the ACLs that would apply to a resource called `name`.
    match acl.pattern_type {
        pattern_type::LITERAL => *name == acl.resource_name || acl.resource_name == WILDCARD,
        pattern_type::PREFIXED => name.starts_with(&acl.resource_name),
        _ => false,
    }
}

fn entry_filter_matches(filter: &AclFilter, acl: &AclRecord) -> bool {
    if filter
        .principal
        .as_ref()
        .is_some_and(|p| *p != acl.principal)
    {
        return false;
    }
    if filter.host.as_ref().is_some_and(|h| *h != acl.host) {
        return false;
    }
    if filter.operation != acl_operation::ANY && filter.operation != acl.operation {
        return false;
    }
    filter.permission_type == acl_permission::ANY || filter.permission_type == acl.permission_type
}

/// An ACL with its id (the record that adds it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessControlEntryRecord {
    pub id: Uuid,
    #[serde(flatten)]
    pub acl: AclRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rt: i8, name: &str, pt: i8) -> AclRecord {
        AclRecord {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: acl_operation::READ,
            permission_type: acl_permission::ALLOW,
        }
    }

    fn any() -> AclFilter {
        AclFilter {
            resource_type: resource_type::ANY,
            resource_name: None,
            pattern_type: pattern_type::ANY,
            principal: None,
            host: None,
            operation: acl_operation::ANY,
            permission_type: acl_permission::ANY,
        }
    }

    #[test]
    fn filters_match_like_kafka_acl_binding_filter() {
        use pattern_type::*;
        use resource_type::*;
        let lit = acl(TOPIC, "orders", LITERAL);
        let wild = acl(TOPIC, "*", LITERAL);
        let pre = acl(TOPIC, "ord", PREFIXED);
        let group = acl(GROUP, "orders", LITERAL);
        let all = [&lit, &wild, &pre, &group];
        let matching = |f: &AclFilter| {
            all.iter()
                .filter(|a| acl_filter_matches(f, a))
                .map(|a| (**a).clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(matching(&any()).len(), 4);
        let topics = AclFilter {
            resource_type: TOPIC,
            ..any()
        };
        assert_eq!(matching(&topics).len(), 3);
        // ANY with a name: exact name of any pattern type.
        let named = AclFilter {
            resource_name: Some("orders".into()),
            ..topics.clone()
        };
        assert_eq!(matching(&named), vec![lit.clone()]);
        // MATCH: what applies to the topic "orders": literal, wildcard and prefix.
        let m = AclFilter {
            pattern_type: MATCH,
            ..named.clone()
        };
        assert_eq!(matching(&m), vec![lit.clone(), wild.clone(), pre.clone()]);
        let m_other = AclFilter {
            resource_name: Some("payments".into()),
            ..m.clone()
        };
        assert_eq!(matching(&m_other), vec![wild.clone()]);
        // LITERAL / PREFIXED: only that pattern type, names compared exactly.
        let l = AclFilter {
            pattern_type: LITERAL,
            ..topics.clone()
        };
        assert_eq!(matching(&l), vec![lit.clone(), wild.clone()]);
        let p = AclFilter {
            pattern_type: PREFIXED,
            resource_name: Some("ord".into()),
            ..topics.clone()
        };
        assert_eq!(matching(&p), vec![pre.clone()]);
        let p_full = AclFilter {
            resource_name: Some("orders".into()),
            ..p.clone()
        };
        assert!(matching(&p_full).is_empty());
        // Entry fields.
        let bob = AclFilter {
            principal: Some("User:bob".into()),
            ..any()
        };
        assert!(matching(&bob).is_empty());
        let host = AclFilter {
            host: Some("*".into()),
            principal: Some("User:alice".into()),
            ..any()
        };
        assert_eq!(matching(&host).len(), 4);
        let write = AclFilter {
            operation: acl_operation::WRITE,
            ..any()
        };
        assert!(matching(&write).is_empty());
        let deny = AclFilter {
            permission_type: acl_permission::DENY,
            ..any()
        };
        assert!(matching(&deny).is_empty());
        let allow_read = AclFilter {
            permission_type: acl_permission::ALLOW,
            operation: acl_operation::READ,
            ..any()
        };
        assert_eq!(matching(&allow_read).len(), 4);
        assert!(AclFilter {
            operation: acl_operation::UNKNOWN,
            ..any()
        }
        .is_unknown());
        assert!(!any().is_unknown());
    }

    #[test]
    fn credential_debug_redacts_keys() {
        let c = ScramCredential::new(ScramMechanism::Sha256, "pw", b"salt", 4096).unwrap();
        let r = UserScramCredentialRecord::of("alice", &c);
        let text = format!("{r:?} {:?}", r.stored());
        assert!(
            text.contains("alice") && text.contains("<redacted>"),
            "{text}"
        );
        assert!(!text.contains(&format!("{:?}", c.stored_key())), "{text}");
    }
}
