//! `troupe quota set|describe`: client quotas through AlterClientQuotas and
//! DescribeClientQuotas (KIP-546), with Kafka's entity types (`user`, `client-id`, `ip`) and
//! quota keys (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage`,
//! `controller_mutation_rate`, `connection_creation_rate`).

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::output::{emit, Table};
use super::{check, AdminError, Cluster};

/// Kafka's entity type names.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// DescribeClientQuotas match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;

/// One entity component as the command line names it: a type and a name, or the type's
/// default (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub entity_type: &'static str,
    pub name: Option<String>,
}

/// The entity a `quota` command names, from its flags: `--user NAME` / `--user-default`,
/// `--client-id NAME` / `--client-default`, `--ip ADDRESS` / `--ip-default`.
#[derive(Debug, Clone, Default)]
pub struct EntitySelector {
    pub user: Option<String>,
    pub user_default: bool,
    pub client_id: Option<String>,
    pub client_default: bool,
    pub ip: Option<String>,
    pub ip_default: bool,
}

impl EntitySelector {
    pub fn components(&self) -> Result<Vec<Component>, AdminError> {
        let mut out = Vec::new();
        let mut one = |entity_type: &'static str,
                       name: &Option<String>,
                       default: bool|
         -> Result<(), AdminError> {
            match (name, default) {
                (Some(_), true) => Err(AdminError::Usage(format!(
                    "give --{entity_type} NAME or its default, not both"
                ))),
                (Some(n), false) => {
                    out.push(Component {
                        entity_type,
                        name: Some(n.clone()),
                    });
                    Ok(())
                }
                (None, true) => {
                    out.push(Component {
                        entity_type,
                        name: None,
                    });
                    Ok(())
                }
                (None, false) => Ok(()),
            }
        };
        one(USER, &self.user, self.user_default)?;
        one(CLIENT_ID, &self.client_id, self.client_default)?;
        one(IP, &self.ip, self.ip_default)?;
        if out.iter().any(|c| c.entity_type == IP) && out.len() > 1 {
            return Err(AdminError::Usage(
                "an ip quota stands alone: it cannot be combined with --user or --client-id".into(),
            ));
        }
        Ok(out)
    }
}

/// Parses `key=value` quota settings; values are numbers (bytes/s, percent, per second).
pub fn parse_settings(pairs: &[String]) -> Result<Vec<(String, f64)>, AdminError> {
    pairs
        .iter()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| AdminError::Usage(format!("--config {pair}: expected key=value")))?;
            let value: f64 = v.trim().parse().map_err(|_| {
                AdminError::Usage(format!("--config {pair}: the value must be a number"))
            })?;
            if !value.is_finite() || value < 0.0 {
                return Err(AdminError::Usage(format!(
                    "--config {pair}: the value must be a non-negative number"
                )));
            }
            Ok((k.trim().to_string(), value))
        })
        .collect()
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn entity_label(entity: &[(String, Option<String>)]) -> String {
    entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(",")
}

/// `troupe quota set`: sets `settings` and removes `removals` on one entity.
pub fn set(
    cluster: &mut Cluster,
    entity: &EntitySelector,
    settings: &[(String, f64)],
    removals: &[String],
) -> Result<(), AdminError> {
    let components = entity.components()?;
    if components.is_empty() {
        return Err(AdminError::Usage(
            "name the entity: --user/--user-default, --client-id/--client-default or --ip/--ip-default"
                .into(),
        ));
    }
    if settings.is_empty() && removals.is_empty() {
        return Err(AdminError::Usage(
            "give --config key=value or --remove key".into(),
        ));
    }
    let ops = settings
        .iter()
        .map(|(k, v)| OpData::default().with_key(str_bytes(k)).with_value(*v))
        .chain(
            removals
                .iter()
                .map(|k| OpData::default().with_key(str_bytes(k)).with_remove(true)),
        )
        .collect();
    let entry = EntryData::default()
        .with_entity(
            components
                .iter()
                .map(|c| {
                    EntityData::default()
                        .with_entity_type(str_bytes(c.entity_type))
                        .with_entity_name(c.name.as_deref().map(str_bytes))
                })
                .collect(),
        )
        .with_ops(ops);
    let response = cluster
        .any()
        .call(AlterClientQuotasRequest::default().with_entries(vec![entry]))?;
    for entry in response.entries {
        check(
            "AlterClientQuotas",
            entry.error_code,
            entry.error_message.map(|m| m.to_string()),
        )?;
    }
    let label = entity_label(
        &components
            .iter()
            .map(|c| (c.entity_type.to_string(), c.name.clone()))
            .collect::<Vec<_>>(),
    );
    eprintln!("updated quotas of {label}");
    Ok(())
}

/// `troupe quota describe`: the quotas of the entities matching the flags (a named entity
/// exactly, a `--*-default` the default), or of every entity when none is given.
pub fn describe(
    cluster: &mut Cluster,
    entity: &EntitySelector,
    strict: bool,
    json_wanted: bool,
) -> Result<(), AdminError> {
    let components = entity
        .components()?
        .into_iter()
        .map(|c| {
            let (match_type, name) = match c.name {
                Some(n) => (MATCH_EXACT, Some(str_bytes(&n))),
                None => (MATCH_DEFAULT, None),
            };
            ComponentData::default()
                .with_entity_type(str_bytes(c.entity_type))
                .with_match_type(match_type)
                .with_match(name)
        })
        .collect();
    let response = cluster.any().call(
        DescribeClientQuotasRequest::default()
            .with_components(components)
            .with_strict(strict),
    )?;
    check(
        "DescribeClientQuotas",
        response.error_code,
        response.error_message.map(|m| m.to_string()),
    )?;
    let mut rows: Vec<(String, String, f64)> = Vec::new();
    let mut entries_json = Vec::new();
    for entry in response.entries.unwrap_or_default() {
        let entity: Vec<(String, Option<String>)> = entry
            .entity
            .iter()
            .map(|e| {
                (
                    e.entity_type.to_string(),
                    e.entity_name.as_ref().map(|n| n.to_string()),
                )
            })
            .collect();
        let label = entity_label(&entity);
        let mut values = serde_json::Map::new();
        for v in &entry.values {
            rows.push((label.clone(), v.key.to_string(), v.value));
            values.insert(v.key.to_string(), json!(v.value));
        }
        entries_json.push(json!({
            "entity": entity.iter().map(|(t, n)| json!({"type": t, "name": n})).collect::<Vec<_>>(),
            "values": values,
        }));
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    emit(json_wanted, serde_json::Value::Array(entries_json), || {
        let mut table = Table::new(&["ENTITY", "QUOTA", "VALUE"]);
        for (entity, key, value) in &rows {
            table.row(vec![entity.clone(), key.clone(), value.to_string()]);
        }
        table.render()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_numbers() {
        assert_eq!(
            parse_settings(&["producer_byte_rate=1048576".into()]).unwrap(),
            vec![("producer_byte_rate".to_string(), 1048576.0)]
        );
        assert!(parse_settings(&["producer_byte_rate=fast".into()]).is_err());
        assert!(parse_settings(&["producer_byte_rate=-1".into()]).is_err());
        assert!(parse_settings(&["producer_byte_rate".into()]).is_err());
    }

    #[test]
    fn entities_are_user_client_pairs_or_an_ip_alone() {
        let pair = EntitySelector {
            user: Some("alice".into()),
            client_default: true,
            ..Default::default()
        };
        assert_eq!(
            pair.components().unwrap(),
            vec![
                Component {
                    entity_type: USER,
                    name: Some("alice".into())
                },
                Component {
                    entity_type: CLIENT_ID,
                    name: None
                }
            ]
        );
        let both = EntitySelector {
            user: Some("alice".into()),
            user_default: true,
            ..Default::default()
        };
        assert!(both.components().is_err());
        let ip_and_user = EntitySelector {
            user: Some("alice".into()),
            ip: Some("10.0.0.1".into()),
            ..Default::default()
        };
        assert!(ip_and_user.components().is_err());
    }
}
