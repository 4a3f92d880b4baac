//! AlterConfigs (replaces a topic's whole override set) and IncrementalAlterConfigs (SET,
//! DELETE, APPEND, SUBTRACT on single keys), committed by the `Controller`. Broker configs are
//! static in this release: altering them is refused with INVALID_REQUEST.
//! Kafka's check: ALTER_CONFIGS on the topic, or on the cluster for a broker (or broker
//! logger) resource; else that resource answers TOPIC_ / CLUSTER_AUTHORIZATION_FAILED.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::describe_configs::RESOURCE_TOPIC;
use super::{authorize_config_resource, set_values};
use crate::actors::controller::AlterTopicConfigs;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::AclOperation;

async fn alter_topic(
    ctx: &BrokerContext,
    topic: String,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), BrokerError> {
    ctx.controller
        .send(AlterTopicConfigs {
            topic,
            configs,
            validate_only,
        })
        .await?
}

fn not_a_topic() -> BrokerError {
    BrokerError::InvalidRequest(
        "only topic configs can be altered; broker configs are static".into(),
    )
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: AlterConfigsRequest,
    _version: i16,
    client: &ClientInfo,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for res in req.resources {
        let check = authorize_config_resource(
            ctx,
            client,
            AclOperation::AlterConfigs,
            res.resource_type,
            res.resource_name.as_str(),
        );
        let outcome = if let Err(e) = check {
            Err(e)
        } else if res.resource_type != RESOURCE_TOPIC {
            Err(not_a_topic())
        } else {
            let configs = set_values(res.configs.iter().map(|c| (&c.name, c.value.as_ref())));
            alter_topic(
                ctx,
                res.resource_name.to_string(),
                configs,
                req.validate_only,
            )
            .await
        };
        let (code, message) = BrokerError::code_and_message(&outcome);
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// Applies one incremental operation to an override set.
pub fn apply_incremental(
    set: &mut BTreeMap<String, String>,
    name: &str,
    op: i8,
    value: Option<&str>,
) -> Result<(), BrokerError> {
    match op {
        0 => {
            let v = value.ok_or_else(|| {
                BrokerError::InvalidConfig(format!("SET of {name} needs a value"))
            })?;
            set.insert(name.to_string(), v.to_string());
        }
        1 => {
            set.remove(name);
        }
        2 | 3 => {
            let v = value.ok_or_else(|| {
                BrokerError::InvalidConfig(format!("list operation on {name} needs a value"))
            })?;
            let mut items: Vec<String> = set
                .get(name)
                .map(|s| {
                    s.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            for item in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                if op == 2 && !items.iter().any(|i| i == item) {
                    items.push(item.to_string());
                } else if op == 3 {
                    items.retain(|i| i != item);
                }
            }
            set.insert(name.to_string(), items.join(","));
        }
        other => {
            return Err(BrokerError::InvalidRequest(format!(
                "unknown config operation {other}"
            )))
        }
    }
    Ok(())
}

pub async fn handle_incremental(
    ctx: &Arc<BrokerContext>,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
    client: &ClientInfo,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for res in req.resources {
        let topic = res.resource_name.to_string();
        let outcome = async {
            authorize_config_resource(
                ctx,
                client,
                AclOperation::AlterConfigs,
                res.resource_type,
                &topic,
            )?;
            if res.resource_type != RESOURCE_TOPIC {
                return Err(not_a_topic());
            }
            let image = ctx.metadata.current();
            let mut set = image
                .topics
                .get(&topic)
                .ok_or(BrokerError::UnknownTopicOrPartition)?
                .configs
                .clone();
            for c in &res.configs {
                apply_incremental(
                    &mut set,
                    c.name.as_str(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.as_str()),
                )?;
            }
            alter_topic(ctx, topic.clone(), set, req.validate_only).await
        }
        .await;
        let (code, message) = BrokerError::code_and_message(&outcome);
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_operations() {
        let mut s = BTreeMap::new();
        apply_incremental(&mut s, "cleanup.policy", 0, Some("delete")).unwrap();
        apply_incremental(&mut s, "cleanup.policy", 2, Some("compact")).unwrap();
        assert_eq!(s["cleanup.policy"], "delete,compact");
        apply_incremental(&mut s, "cleanup.policy", 3, Some("delete")).unwrap();
        assert_eq!(s["cleanup.policy"], "compact");
        apply_incremental(&mut s, "cleanup.policy", 1, None).unwrap();
        assert!(s.is_empty());
        assert!(apply_incremental(&mut s, "x", 9, None).is_err());
    }
}
