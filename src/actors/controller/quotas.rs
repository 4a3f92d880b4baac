//! The active controller's decision on AlterClientQuotas, a pure function of the image (like
//! `security.rs`): each entity's alterations become `ClientQuota` records, with the checks and
//! error codes of Kafka's `ClientQuotaControlManager` (entity types and their combinations,
//! the keys each combination takes, positive and, for byte rates, integral values).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::changes::{Plan, Planner};
use super::requests::ControllerResponse;
use crate::error::BrokerError;
use crate::metadata::quotas::{key, QuotaEntity, CLIENT_ID, IP, USER};
use crate::metadata::{ClientQuotaRecord, EntityData, MetadataRecord};

/// One entity's alterations of AlterClientQuotas as the client sent them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuotaAlteration {
    pub entity: Vec<EntityData>,
    pub ops: Vec<QuotaOp>,
}

/// Set `key` to `value`, or remove it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuotaOp {
    pub key: String,
    pub value: f64,
    pub remove: bool,
}

/// How a quota key's value is typed (Kafka's `QuotaConfig` definitions).
#[derive(Clone, Copy)]
enum ValueType {
    Long,
    Int,
    Double,
}

/// The keys an entity of users and/or client ids takes.
const USER_CLIENT_KEYS: &[(&str, ValueType)] = &[
    (key::PRODUCER_BYTE_RATE, ValueType::Long),
    (key::CONSUMER_BYTE_RATE, ValueType::Long),
    (key::REQUEST_PERCENTAGE, ValueType::Double),
    (key::CONTROLLER_MUTATION_RATE, ValueType::Double),
];

/// The keys an ip entity takes (KIP-612).
const IP_KEYS: &[(&str, ValueType)] = &[(key::CONNECTION_CREATION_RATE, ValueType::Int)];

impl Planner<'_> {
    /// AlterClientQuotas: one outcome per request entry. An entity named twice is refused
    /// (INVALID_REQUEST) in every entry that names it and nothing of it is written; a removal
    /// of a key that is not set writes nothing; a value equal to the current one writes
    /// nothing. `validate_only`: the same answers, no records.
    pub fn alter_client_quotas(
        &self,
        alterations: &[QuotaAlteration],
        validate_only: bool,
    ) -> Plan {
        let mut seen: BTreeMap<QuotaEntity, usize> = BTreeMap::new();
        for a in alterations {
            *seen.entry(entity_of(&a.entity)).or_default() += 1;
        }
        let mut records = Vec::new();
        let mut results = Vec::new();
        for a in alterations {
            let entity = entity_of(&a.entity);
            let outcome = if seen.get(&entity).copied().unwrap_or(0) > 1 {
                Err(BrokerError::InvalidRequest(format!(
                    "ignoring duplicate entity {}",
                    describe_entity(&entity)
                )))
            } else {
                self.alter_entity(a, &entity)
            };
            results.push(outcome.map(|mut r| records.append(&mut r)));
        }
        if validate_only {
            records.clear();
        }
        Plan {
            records,
            response: ControllerResponse::Each(results),
        }
    }

    fn alter_entity(
        &self,
        a: &QuotaAlteration,
        entity: &QuotaEntity,
    ) -> Result<Vec<MetadataRecord>, BrokerError> {
        let keys = validate_entity(&a.entity)?;
        let current = self.image.client_quotas.0.get(entity);
        let mut records = Vec::new();
        let mut done: Vec<&str> = Vec::new();
        for op in &a.ops {
            if done.contains(&op.key.as_str()) {
                return Err(BrokerError::InvalidRequest(format!(
                    "duplicate quota key {} for entity {}",
                    op.key,
                    describe_entity(entity)
                )));
            }
            done.push(&op.key);
            let existing = current.and_then(|q| q.get(&op.key)).copied();
            if op.remove {
                if existing.is_some() {
                    records.push(record(entity, &op.key, 0.0, true));
                }
                continue;
            }
            validate_value(keys, &op.key, op.value)?;
            if existing != Some(op.value) {
                records.push(record(entity, &op.key, op.value, false));
            }
        }
        Ok(records)
    }
}

fn entity_of(entity: &[EntityData]) -> QuotaEntity {
    entity
        .iter()
        .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
        .collect()
}

fn describe_entity(entity: &QuotaEntity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect();
    format!("({})", parts.join(", "))
}

fn record(entity: &QuotaEntity, key: &str, value: f64, remove: bool) -> MetadataRecord {
    MetadataRecord::ClientQuota(ClientQuotaRecord {
        entity: entity
            .iter()
            .map(|(t, n)| EntityData {
                entity_type: t.clone(),
                entity_name: n.clone(),
            })
            .collect(),
        key: key.to_string(),
        value,
        remove,
    })
}

/// Kafka's `validateEntity` then `configKeysForEntityType`: known, distinct, non-empty entity
/// types; ip alone or users and/or client ids. Returns the keys the entity takes.
fn validate_entity(
    entity: &[EntityData],
) -> Result<&'static [(&'static str, ValueType)], BrokerError> {
    let invalid = |m: String| Err(BrokerError::InvalidRequest(m));
    if entity.is_empty() {
        return invalid("invalid empty client quota entity".into());
    }
    let mut types: Vec<&str> = Vec::new();
    for e in entity {
        if types.contains(&e.entity_type.as_str()) {
            return invalid(format!(
                "invalid client quota entity, duplicate entity entry {}",
                e.entity_type
            ));
        }
        if ![USER, CLIENT_ID, IP].contains(&e.entity_type.as_str()) {
            return invalid(format!(
                "unhandled client quota entity type: {}",
                e.entity_type
            ));
        }
        if e.entity_name.as_deref() == Some("") {
            return invalid(format!("empty {} not supported", e.entity_type));
        }
        types.push(&e.entity_type);
    }
    if let Some(ip) = entity.iter().find(|e| e.entity_type == IP) {
        if types.len() > 1 {
            return invalid(
                "invalid quota entity combination: an ip entity cannot be combined with user or client-id"
                    .into(),
            );
        }
        // Kafka also resolves host names here; Troupe takes addresses only (no DNS lookups on
        // the controller).
        if let Some(name) = &ip.entity_name {
            if name.parse::<std::net::IpAddr>().is_err() {
                return invalid(format!("{name} is not a valid IP address"));
            }
        }
        return Ok(IP_KEYS);
    }
    Ok(USER_CLIENT_KEYS)
}

/// Kafka's `validateQuotaKeyValue`: a key the entity takes, a value above 0, integral and in
/// range for integer keys. Non-finite values are refused too.
fn validate_value(keys: &[(&str, ValueType)], key: &str, value: f64) -> Result<(), BrokerError> {
    let invalid = |m: String| Err(BrokerError::InvalidRequest(m));
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return invalid(format!("invalid configuration key {key}"));
    };
    if !value.is_finite() {
        return invalid(format!("quota {key} must be a finite number"));
    }
    if value <= 0.0 {
        return invalid(format!("quota {key} must be greater than 0"));
    }
    let max = match kind {
        ValueType::Double => return Ok(()),
        ValueType::Int => i32::MAX as f64,
        ValueType::Long => i64::MAX as f64,
    };
    if value > max {
        return invalid(format!("proposed value for {key} is too large"));
    }
    if (value % 1.0).abs() > 1e-6 {
        return invalid(format!("{key} cannot be a fractional value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::error::ResponseError;
    use crate::metadata::MetadataImage;

    fn plan(image: &MetadataImage, alterations: &[QuotaAlteration], validate_only: bool) -> Plan {
        let config = BrokerConfig::default();
        Planner {
            image,
            config: &config,
        }
        .alter_client_quotas(alterations, validate_only)
    }

    fn alteration(entity: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> QuotaAlteration {
        QuotaAlteration {
            entity: entity
                .iter()
                .map(|(t, n)| EntityData {
                    entity_type: t.to_string(),
                    entity_name: n.map(str::to_string),
                })
                .collect(),
            ops: ops
                .iter()
                .map(|(k, v, r)| QuotaOp {
                    key: k.to_string(),
                    value: *v,
                    remove: *r,
                })
                .collect(),
        }
    }

    #[test]
    fn alterations_follow_kafkas_checks() {
        let invalid = ResponseError::InvalidRequest.code();
        let mut image = MetadataImage::default();
        let limited = [(CLIENT_ID, Some("limited"))];
        let good = [
            alteration(&limited, &[(key::PRODUCER_BYTE_RATE, 1048576.0, false)]),
            alteration(
                &[(USER, Some("alice")), (CLIENT_ID, None)],
                &[
                    (key::CONSUMER_BYTE_RATE, 2048.0, false),
                    (key::REQUEST_PERCENTAGE, 12.5, false),
                    (key::CONTROLLER_MUTATION_RATE, 0.5, false),
                ],
            ),
            alteration(
                &[(IP, Some("10.1.2.3"))],
                &[(key::CONNECTION_CREATION_RATE, 5.0, false)],
            ),
            alteration(
                &[(IP, None)],
                &[(key::CONNECTION_CREATION_RATE, 5.0, false)],
            ),
        ];
        let p = plan(&image, &good, true);
        assert_eq!(p.each_code(), vec![0, 0, 0, 0]);
        assert!(p.records.is_empty(), "validate_only writes nothing");
        let p = plan(&image, &good, false);
        assert_eq!(p.each_code(), vec![0, 0, 0, 0]);
        assert_eq!(p.records.len(), 6);
        p.records.iter().for_each(|r| image.apply(r));
        assert_eq!(
            image
                .client_quotas
                .resolve(key::PRODUCER_BYTE_RATE, "anyone", "limited")
                .map(|r| r.limit),
            Some(1048576.0)
        );
        // The same values again write nothing.
        assert!(plan(&image, &good, false).records.is_empty());

        let bad = [
            alteration(&[], &[(key::PRODUCER_BYTE_RATE, 1.0, false)]),
            alteration(
                &[("group", Some("g"))],
                &[(key::PRODUCER_BYTE_RATE, 1.0, false)],
            ),
            alteration(
                &[(USER, Some(""))],
                &[(key::PRODUCER_BYTE_RATE, 1.0, false)],
            ),
            alteration(
                &[(USER, Some("u")), (USER, Some("v"))],
                &[(key::PRODUCER_BYTE_RATE, 1.0, false)],
            ),
            alteration(
                &[(IP, Some("10.0.0.1")), (USER, Some("u"))],
                &[(key::CONNECTION_CREATION_RATE, 1.0, false)],
            ),
            alteration(
                &[(IP, Some("not-an-ip"))],
                &[(key::CONNECTION_CREATION_RATE, 1.0, false)],
            ),
            alteration(&[(IP, None)], &[(key::PRODUCER_BYTE_RATE, 1.0, false)]),
            alteration(
                &[(USER, Some("u"))],
                &[(key::CONNECTION_CREATION_RATE, 1.0, false)],
            ),
            alteration(&[(USER, Some("u"))], &[("bogus_rate", 1.0, false)]),
            alteration(
                &[(USER, Some("u"))],
                &[(key::PRODUCER_BYTE_RATE, 0.0, false)],
            ),
            alteration(
                &[(USER, Some("u"))],
                &[(key::PRODUCER_BYTE_RATE, -5.0, false)],
            ),
            alteration(
                &[(USER, Some("u"))],
                &[(key::PRODUCER_BYTE_RATE, 10.5, false)],
            ),
            alteration(
                &[(USER, Some("u"))],
                &[(key::REQUEST_PERCENTAGE, f64::NAN, false)],
            ),
            alteration(
                &[(USER, Some("u"))],
                &[(key::PRODUCER_BYTE_RATE, 1e300, false)],
            ),
            alteration(
                &[(IP, None)],
                &[(key::CONNECTION_CREATION_RATE, 3e9, false)],
            ),
            alteration(
                &[(USER, Some("u"))],
                &[
                    (key::PRODUCER_BYTE_RATE, 1.0, false),
                    (key::PRODUCER_BYTE_RATE, 2.0, false),
                ],
            ),
        ];
        let p = plan(&image, &bad, false);
        assert_eq!(p.each_code(), vec![invalid; bad.len()]);
        assert!(p.records.is_empty());

        // A refused entity does not stop the others; a duplicated entity is refused twice.
        let p = plan(
            &image,
            &[
                alteration(
                    &[(USER, Some("bob"))],
                    &[(key::PRODUCER_BYTE_RATE, 1.0, false)],
                ),
                alteration(
                    &[(USER, Some("bob"))],
                    &[(key::CONSUMER_BYTE_RATE, 1.0, false)],
                ),
                alteration(
                    &[(USER, Some("carol"))],
                    &[(key::PRODUCER_BYTE_RATE, 1.0, false)],
                ),
                alteration(&[(USER, Some("dave"))], &[("nope", 1.0, false)]),
            ],
            false,
        );
        assert_eq!(p.each_code(), vec![invalid, invalid, 0, invalid]);
        assert_eq!(p.records.len(), 1);

        // Removal: of a set key writes a removal, of an unset one nothing; an invalid value in
        // a removal is not checked (Kafka ignores the value of a removal).
        let p = plan(
            &image,
            &[
                alteration(&limited, &[(key::PRODUCER_BYTE_RATE, -1.0, true)]),
                alteration(
                    &[(CLIENT_ID, Some("other"))],
                    &[(key::PRODUCER_BYTE_RATE, 0.0, true)],
                ),
            ],
            false,
        );
        assert_eq!(p.each_code(), vec![0, 0]);
        assert_eq!(p.records.len(), 1);
        p.records.iter().for_each(|r| image.apply(r));
        assert!(image
            .client_quotas
            .resolve(key::PRODUCER_BYTE_RATE, "anyone", "limited")
            .is_none());
    }
}
