//! The active controller's decisions on security metadata, as pure functions of the image
//! (like `changes.rs`): AlterUserScramCredentials, CreateAcls and DeleteAcls become
//! `UserScramCredential`/`RemoveUserScramCredential` and `AccessControlEntry`/
//! `RemoveAccessControlEntry` records, with Kafka's validation and error codes
//! (`ScramControlManager`, `AclControlManager`).

use std::collections::{BTreeSet, HashMap, HashSet};

use uuid::Uuid;

use super::changes::{Plan, Planner};
use super::requests::{ControllerResponse, ScramUpsertion};
use crate::error::BrokerError;
use crate::metadata::security::{acl_operation, acl_permission, pattern_type, resource_type};
use crate::metadata::{
    acl_filter_matches, AccessControlEntryRecord, AclFilter, AclRecord, MetadataRecord,
    UserScramCredentialRecord,
};
use crate::security::scram::{MAX_ITERATIONS, MIN_ITERATIONS};
use crate::security::{ScramCredential, ScramMechanism};

/// Kafka's name of the one CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

enum ScramOp<'a> {
    Delete(i8),
    Upsert(&'a ScramUpsertion),
}

impl Planner<'_> {
    /// AlterUserScramCredentials, as Kafka's `ScramControlManager`: each user's first
    /// operation is validated when it is met; a user whose first operation was valid and who
    /// appears again gets DUPLICATE_RESOURCE and nothing of it changes; later appearances of a
    /// refused user are ignored. Results are per user, in order of first appearance.
    pub fn alter_scram_credentials(
        &self,
        deletions: &[(String, i8)],
        upsertions: &[ScramUpsertion],
    ) -> Plan {
        let mut order: Vec<&str> = Vec::new();
        let mut accepted: HashMap<&str, MetadataRecord> = HashMap::new();
        let mut refused: HashMap<&str, BrokerError> = HashMap::new();
        let all = deletions
            .iter()
            .map(|(name, m)| (name.as_str(), ScramOp::Delete(*m)))
            .chain(
                upsertions
                    .iter()
                    .map(|u| (u.name.as_str(), ScramOp::Upsert(u))),
            );
        for (name, op) in all {
            if !order.contains(&name) {
                order.push(name);
            }
            if refused.contains_key(name) {
                continue;
            }
            if accepted.remove(name).is_some() {
                refused.insert(
                    name,
                    BrokerError::DuplicateResource(
                        "a user credential cannot be altered twice in the same request".into(),
                    ),
                );
                continue;
            }
            let outcome = match op {
                ScramOp::Delete(m) => self.scram_deletion(name, m),
                ScramOp::Upsert(u) => scram_upsertion(u),
            };
            match outcome {
                Ok(record) => {
                    accepted.insert(name, record);
                }
                Err(e) => {
                    refused.insert(name, e);
                }
            }
        }
        let mut records = Vec::new();
        let mut results = Vec::new();
        for name in order {
            let outcome = match (accepted.remove(name), refused.remove(name)) {
                (_, Some(e)) => Err(e),
                (Some(record), None) => {
                    records.push(record);
                    Ok(())
                }
                (None, None) => unreachable!("every user is accepted or refused"),
            };
            results.push((name.to_string(), outcome));
        }
        Plan {
            records,
            response: ControllerResponse::Users(results),
        }
    }

    fn scram_deletion(&self, name: &str, mechanism: i8) -> Result<MetadataRecord, BrokerError> {
        scram_user_and_mechanism(name, mechanism)?;
        let exists = self
            .image
            .scram_credentials
            .get(name)
            .is_some_and(|m| m.contains_key(&mechanism));
        if !exists {
            return Err(BrokerError::ResourceNotFound(
                "attempt to delete a user credential that does not exist".into(),
            ));
        }
        Ok(MetadataRecord::RemoveUserScramCredential {
            name: name.to_string(),
            mechanism,
        })
    }

    /// `--add-scram` at a cluster's bootstrap: each credential whose user has none of that
    /// mechanism yet.
    pub fn bootstrap_scram_credentials(&self, records: Vec<UserScramCredentialRecord>) -> Plan {
        let records = records
            .into_iter()
            .filter(|r| {
                !self
                    .image
                    .scram_credentials
                    .get(&r.name)
                    .is_some_and(|m| m.contains_key(&r.mechanism))
            })
            .map(MetadataRecord::UserScramCredential)
            .collect();
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }

    /// CreateAcls: each ACL validated on its own (INVALID_REQUEST with Kafka's reasons); an ACL
    /// identical to one that exists (or to an earlier one of the request) succeeds without a
    /// new record. Each new ACL gets a random id.
    pub fn create_acls(&self, acls: &[AclRecord]) -> Plan {
        let mut existing: BTreeSet<&AclRecord> = self.image.acls.values().collect();
        let mut records = Vec::new();
        let mut results = Vec::new();
        for acl in acls {
            let outcome = validate_new_acl(acl).map(|()| {
                if existing.insert(acl) {
                    records.push(MetadataRecord::AccessControlEntry(
                        AccessControlEntryRecord {
                            id: Uuid::new_v4(),
                            acl: acl.clone(),
                        },
                    ));
                }
            });
            results.push(outcome);
        }
        Plan {
            records,
            response: ControllerResponse::Each(results),
        }
    }

    /// DeleteAcls: per filter, every ACL it matches is removed and returned (an ACL matched by
    /// several filters is returned by each, removed once). A filter with an UNKNOWN code is
    /// refused with INVALID_REQUEST.
    pub fn delete_acls(&self, filters: &[AclFilter]) -> Plan {
        let mut removed: HashSet<Uuid> = HashSet::new();
        let mut records = Vec::new();
        let mut results = Vec::new();
        for filter in filters {
            if filter.is_unknown() {
                results.push(Err(BrokerError::InvalidRequest(
                    "the filter has an UNKNOWN resource type, pattern type, operation or permission"
                        .into(),
                )));
                continue;
            }
            let mut matched = Vec::new();
            for (id, acl) in &self.image.acls {
                if acl_filter_matches(filter, acl) {
                    matched.push(acl.clone());
                    if removed.insert(*id) {
                        records.push(MetadataRecord::RemoveAccessControlEntry { id: *id });
                    }
                }
            }
            results.push(Ok(matched));
        }
        Plan {
            records,
            response: ControllerResponse::AclDeletions(results),
        }
    }
}

/// Kafka's order: an empty user name first, then the mechanism.
fn scram_user_and_mechanism(name: &str, code: i8) -> Result<ScramMechanism, BrokerError> {
    if name.is_empty() {
        return Err(BrokerError::UnacceptableCredential(
            "username must not be empty".into(),
        ));
    }
    ScramMechanism::from_kafka_type(code).ok_or_else(|| {
        BrokerError::UnsupportedSaslMechanism(format!("unknown SCRAM mechanism {code}"))
    })
}

fn scram_upsertion(u: &ScramUpsertion) -> Result<MetadataRecord, BrokerError> {
    let mechanism = scram_user_and_mechanism(&u.name, u.mechanism)?;
    if u.iterations < MIN_ITERATIONS as i32 {
        return Err(BrokerError::UnacceptableCredential(format!(
            "too few iterations: {} is below {MIN_ITERATIONS}",
            u.iterations
        )));
    }
    if u.iterations > MAX_ITERATIONS as i32 {
        return Err(BrokerError::UnacceptableCredential(format!(
            "too many iterations: {} is above {MAX_ITERATIONS}",
            u.iterations
        )));
    }
    if u.salt.is_empty() {
        return Err(BrokerError::UnacceptableCredential(
            "salt must not be empty".into(),
        ));
    }
    if u.salted_password.is_empty() {
        return Err(BrokerError::UnacceptableCredential(
            "salted password must not be empty".into(),
        ));
    }
    let credential = ScramCredential::from_salted_password(
        mechanism,
        &u.salt,
        &u.salted_password,
        u.iterations as u32,
    )
    .map_err(|e| BrokerError::UnacceptableCredential(e.to_string()))?;
    Ok(MetadataRecord::UserScramCredential(
        UserScramCredentialRecord::of(&u.name, &credential),
    ))
}

/// Kafka's checks of a new ACL (`AclControlManager.validateNewAcl` and the broker's
/// CreateAcls handler).
fn validate_new_acl(acl: &AclRecord) -> Result<(), BrokerError> {
    let invalid = |m: String| Err(BrokerError::InvalidRequest(m));
    if !resource_type::is_concrete(acl.resource_type) {
        return invalid(format!("invalid resource type {}", acl.resource_type));
    }
    if acl.pattern_type != pattern_type::LITERAL && acl.pattern_type != pattern_type::PREFIXED {
        return invalid(format!("invalid pattern type {}", acl.pattern_type));
    }
    if !acl_operation::is_concrete(acl.operation) {
        return invalid(format!("invalid operation {}", acl.operation));
    }
    if acl.permission_type != acl_permission::ALLOW && acl.permission_type != acl_permission::DENY {
        return invalid(format!("invalid permission type {}", acl.permission_type));
    }
    if acl.resource_name.is_empty() {
        return invalid("resource name should not be empty".into());
    }
    if acl.resource_type == resource_type::CLUSTER && acl.resource_name != CLUSTER_RESOURCE_NAME {
        return invalid(format!(
            "the only valid name for the CLUSTER resource is {CLUSTER_RESOURCE_NAME}"
        ));
    }
    match acl.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
        _ => {
            return invalid(format!(
                "could not parse principal '{}': expected Type:name",
                acl.principal
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::error::ResponseError;
    use crate::metadata::MetadataImage;

    fn plan_on(image: &MetadataImage, f: impl FnOnce(&Planner) -> Plan) -> Plan {
        let config = BrokerConfig::default();
        let planner = Planner {
            image,
            config: &config,
        };
        f(&planner)
    }

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: vec![7; 32],
        }
    }

    fn users(plan: &Plan) -> Vec<(String, i16)> {
        let ControllerResponse::Users(v) = &plan.response else {
            panic!("{:?}", plan.response)
        };
        v.iter()
            .map(|(u, r)| (u.clone(), r.as_ref().err().map_or(0, |e| e.code())))
            .collect()
    }

    #[test]
    fn scram_alterations_follow_kafkas_rules() {
        let mut image = MetadataImage::default();
        let plan = plan_on(&image, |p| {
            p.alter_scram_credentials(&[], &[upsert("alice", 1, 4096), upsert("bob", 2, 8192)])
        });
        assert_eq!(users(&plan), vec![("alice".into(), 0), ("bob".into(), 0)]);
        plan.records.iter().for_each(|r| image.apply(r));
        let alice = image
            .scram_credential("alice", ScramMechanism::Sha256)
            .unwrap();
        let expected =
            ScramCredential::from_salted_password(ScramMechanism::Sha256, b"salt", &[7; 32], 4096)
                .unwrap();
        assert_eq!(alice, expected);

        let code = |e: ResponseError| e.code();
        let plan = plan_on(&image, |p| {
            p.alter_scram_credentials(
                &[
                    ("alice".into(), 1),
                    ("carol".into(), 1),
                    ("dave".into(), 3),
                    ("".into(), 1),
                ],
                &[
                    upsert("alice", 2, 4096),
                    upsert("erin", 0, 4096),
                    upsert("frank", 1, 4095),
                    upsert("grace", 1, 16385),
                    ScramUpsertion {
                        salt: Vec::new(),
                        ..upsert("heidi", 1, 4096)
                    },
                    upsert("", 1, 4096),
                    upsert("bob", 1, 4096),
                    upsert("ivan", 1, 4096),
                    upsert("ivan", 2, 4096),
                    upsert("ivan", 2, 4096),
                    upsert("frank", 1, 4096),
                ],
            )
        });
        assert_eq!(
            users(&plan),
            vec![
                ("alice".into(), code(ResponseError::DuplicateResource)),
                ("carol".into(), code(ResponseError::ResourceNotFound)),
                ("dave".into(), code(ResponseError::UnsupportedSaslMechanism)),
                ("".into(), code(ResponseError::UnacceptableCredential)),
                ("erin".into(), code(ResponseError::UnsupportedSaslMechanism)),
                ("frank".into(), code(ResponseError::UnacceptableCredential)),
                ("grace".into(), code(ResponseError::UnacceptableCredential)),
                ("heidi".into(), code(ResponseError::UnacceptableCredential)),
                ("bob".into(), 0),
                ("ivan".into(), code(ResponseError::DuplicateResource)),
            ]
        );
        // Only bob's upsertion is written.
        assert_eq!(plan.records.len(), 1);
        let plan = plan_on(&image, |p| {
            p.alter_scram_credentials(&[("".into(), 1)], &[])
        });
        assert_eq!(
            users(&plan),
            vec![("".into(), code(ResponseError::UnacceptableCredential))]
        );
        let plan = plan_on(&image, |p| {
            p.alter_scram_credentials(&[], &[upsert("", 1, 4096)])
        });
        assert_eq!(
            users(&plan),
            vec![("".into(), code(ResponseError::UnacceptableCredential))]
        );
        let plan = plan_on(&image, |p| {
            p.alter_scram_credentials(&[("alice".into(), 1), ("bob".into(), 1)], &[])
        });
        assert_eq!(
            users(&plan),
            vec![
                ("alice".into(), 0),
                ("bob".into(), code(ResponseError::ResourceNotFound))
            ]
        );
        plan.records.iter().for_each(|r| image.apply(r));
        assert!(image
            .scram_credential("alice", ScramMechanism::Sha256)
            .is_none());
        assert!(image
            .scram_credential("bob", ScramMechanism::Sha512)
            .is_some());
    }

    fn acl(name: &str) -> AclRecord {
        AclRecord {
            resource_type: resource_type::TOPIC,
            resource_name: name.into(),
            pattern_type: pattern_type::LITERAL,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: acl_operation::READ,
            permission_type: acl_permission::ALLOW,
        }
    }

    #[test]
    fn acls_are_validated_created_once_and_deleted_by_filter() {
        let mut image = MetadataImage::default();
        let invalid = ResponseError::InvalidRequest.code();
        let bad = [
            AclRecord {
                resource_type: resource_type::ANY,
                ..acl("t")
            },
            AclRecord {
                resource_type: resource_type::UNKNOWN,
                ..acl("t")
            },
            AclRecord {
                pattern_type: pattern_type::MATCH,
                ..acl("t")
            },
            AclRecord {
                operation: acl_operation::ANY,
                ..acl("t")
            },
            AclRecord {
                permission_type: acl_permission::ANY,
                ..acl("t")
            },
            acl(""),
            AclRecord {
                principal: "alice".into(),
                ..acl("t")
            },
            AclRecord {
                resource_type: resource_type::CLUSTER,
                ..acl("t")
            },
        ];
        let plan = plan_on(&image, |p| p.create_acls(&bad));
        assert_eq!(plan.each_code(), vec![invalid; bad.len()]);
        assert!(plan.records.is_empty());

        let cluster = AclRecord {
            resource_type: resource_type::CLUSTER,
            ..acl(CLUSTER_RESOURCE_NAME)
        };
        let prefixed = AclRecord {
            pattern_type: pattern_type::PREFIXED,
            ..acl("ord")
        };
        let good = [
            acl("orders"),
            acl("orders"),
            cluster.clone(),
            prefixed.clone(),
        ];
        let plan = plan_on(&image, |p| p.create_acls(&good));
        assert_eq!(plan.each_code(), vec![0, 0, 0, 0]);
        assert_eq!(plan.records.len(), 3, "the duplicate is written once");
        plan.records.iter().for_each(|r| image.apply(r));
        // Already present: success, nothing written.
        let plan = plan_on(&image, |p| p.create_acls(&[acl("orders")]));
        assert_eq!(plan.each_code(), vec![0]);
        assert!(plan.records.is_empty());

        let any = AclFilter {
            resource_type: resource_type::ANY,
            resource_name: None,
            pattern_type: pattern_type::ANY,
            principal: None,
            host: None,
            operation: acl_operation::ANY,
            permission_type: acl_permission::ANY,
        };
        let topic_match = AclFilter {
            resource_type: resource_type::TOPIC,
            resource_name: Some("orders".into()),
            pattern_type: pattern_type::MATCH,
            ..any.clone()
        };
        let unknown = AclFilter {
            pattern_type: pattern_type::UNKNOWN,
            ..any.clone()
        };
        let plan = plan_on(&image, |p| {
            p.delete_acls(&[topic_match.clone(), unknown, topic_match])
        });
        let ControllerResponse::AclDeletions(results) = &plan.response else {
            panic!()
        };
        let mut first = results[0].clone().unwrap();
        first.sort();
        let mut expected = vec![acl("orders"), prefixed.clone()];
        expected.sort();
        assert_eq!(first, expected);
        assert_eq!(results[1].as_ref().unwrap_err().code(), invalid);
        assert_eq!(results[2].as_ref().unwrap().len(), 2);
        assert_eq!(plan.records.len(), 2, "each ACL removed once");
        plan.records.iter().for_each(|r| image.apply(r));
        assert_eq!(image.acls.values().collect::<Vec<_>>(), vec![&cluster]);
    }

    #[test]
    fn bootstrap_credentials_skip_existing_ones() {
        let mut image = MetadataImage::default();
        let c = ScramCredential::new(ScramMechanism::Sha256, "pw", b"salt", 4096).unwrap();
        let r = UserScramCredentialRecord::of("admin", &c);
        let plan = plan_on(&image, |p| p.bootstrap_scram_credentials(vec![r.clone()]));
        assert_eq!(plan.records.len(), 1);
        plan.records.iter().for_each(|r| image.apply(r));
        let plan = plan_on(&image, |p| p.bootstrap_scram_credentials(vec![r]));
        assert!(plan.records.is_empty());
    }
}
