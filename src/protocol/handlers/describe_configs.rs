//! DescribeConfigs: topic configs (override, broker synonym or default, with synonyms when
//! asked) and broker configs, both from the one config table in `crate::config`.
//! Kafka's check: DESCRIBE_CONFIGS on the topic, or on the cluster for a broker (or broker
//! logger) resource; else that resource answers TOPIC_ / CLUSTER_AUTHORIZATION_FAILED.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{authorize_config_resource, str_bytes};
use crate::broker::BrokerContext;
use crate::config::{ConfigDef, ConfigSource, Scope, CONFIG_DEFS};
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::AclOperation;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DescribeConfigsRequest,
    version: i16,
    client: &ClientInfo,
) -> DescribeConfigsResponse {
    let image = ctx.metadata.current();
    let results = req
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let wanted = |d: &&ConfigDef| {
                res.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == d.name))
            };
            let base = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            if let Err(e) = authorize_config_resource(
                ctx,
                client,
                AclOperation::DescribeConfigs,
                res.resource_type,
                &name,
            ) {
                return base
                    .with_error_code(e.code())
                    .with_error_message(Some(e.message()));
            }
            match res.resource_type {
                RESOURCE_TOPIC => match image.topics.get(&name) {
                    None => base.with_error_code(BrokerError::UnknownTopicOrPartition.code()),
                    Some(t) => {
                        let configs = CONFIG_DEFS
                            .iter()
                            .filter(|d| d.scope == Scope::Topic)
                            .filter(wanted)
                            .map(|d| {
                                let (value, source) = ctx.config.topic_value(&t.configs, d);
                                let synonyms = if req.include_synonyms && version >= 1 {
                                    topic_synonyms(ctx, &t.configs, d)
                                } else {
                                    vec![]
                                };
                                entry(d, &value, source, req.include_documentation, version)
                                    .with_synonyms(synonyms)
                            })
                            .collect();
                        base.with_configs(configs)
                    }
                },
                RESOURCE_BROKER if name.is_empty() || name == ctx.node_id.to_string() => {
                    let configs = CONFIG_DEFS
                        .iter()
                        .filter(|d| d.scope == Scope::Broker)
                        .filter(wanted)
                        .map(|d| {
                            let source = if ctx.config.is_explicit(d.name) {
                                ConfigSource::StaticBrokerConfig
                            } else {
                                ConfigSource::Default
                            };
                            entry(
                                d,
                                ctx.config.get(d.name),
                                source,
                                req.include_documentation,
                                version,
                            )
                            .with_read_only(true)
                        })
                        .collect();
                    base.with_configs(configs)
                }
                _ => base
                    .with_error_code(BrokerError::InvalidRequest(String::new()).code())
                    .with_error_message(Some(str_bytes(
                        "unsupported resource type or unknown broker",
                    ))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// One described config. `config_source` exists from v1 (v0 has `is_default` instead),
/// `config_type` and `documentation` from v3.
fn entry(
    d: &ConfigDef,
    value: &str,
    source: ConfigSource,
    docs: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    // A secret is reported as sensitive, never by value (Kafka does the same).
    let sensitive = d.kind == crate::config::ConfigKind::Password;
    let r = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(d.name))
        .with_value((!sensitive).then(|| str_bytes(value)))
        .with_is_sensitive(sensitive);
    let r = if version >= 1 {
        r.with_config_source(source as i8)
    } else {
        r
    };
    if version >= 3 {
        r.with_config_type(d.kind.describe_code())
            .with_documentation(if docs { Some(str_bytes(d.doc)) } else { None })
    } else {
        r
    }
}

/// Synonyms in precedence order: the topic override, the broker property, the default.
fn topic_synonyms(
    ctx: &BrokerContext,
    overrides: &std::collections::BTreeMap<String, String>,
    d: &ConfigDef,
) -> Vec<DescribeConfigsSynonym> {
    let mut out = Vec::new();
    if let Some(v) = overrides.get(d.name) {
        out.push(
            DescribeConfigsSynonym::default()
                .with_name(str_bytes(d.name))
                .with_value(Some(str_bytes(v)))
                .with_source(ConfigSource::TopicConfig as i8),
        );
    }
    if let Some(syn) = d.broker_synonym {
        let source = if ctx.config.is_explicit(syn) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::Default
        };
        out.push(
            DescribeConfigsSynonym::default()
                .with_name(str_bytes(syn))
                .with_value(Some(str_bytes(ctx.config.get(syn))))
                .with_source(source as i8),
        );
    }
    out
}
