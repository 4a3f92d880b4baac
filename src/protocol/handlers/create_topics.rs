//! CreateTopics: validated and committed by the `Controller` (`validate_only` checks without
//! committing). v5+ responses list each new topic's effective configs.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{authorize, authorized, set_values, str_bytes, CLUSTER};
use crate::actors::controller::{CreateTopics, NewTopic};
use crate::broker::BrokerContext;
use crate::config::{Scope, CONFIG_DEFS};
use crate::error::BrokerError;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: CreateTopicsRequest,
    version: i16,
    client: &ClientInfo,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    let mut new_topics = Vec::new();
    let mut invalid: Vec<Option<BrokerError>> = Vec::new();
    // Kafka's check: CREATE on the cluster, or else on each topic.
    let may_create_any = authorized(
        ctx,
        client,
        AclOperation::Create,
        ResourceType::Cluster,
        CLUSTER,
    );
    for t in &req.topics {
        if !may_create_any {
            if let Err(e) = authorize(
                ctx,
                client,
                AclOperation::Create,
                ResourceType::Topic,
                &t.name,
            ) {
                invalid.push(Some(e));
                continue;
            }
        }
        if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
            invalid.push(Some(BrokerError::InvalidRequest(
                "both replica assignments and partitions/replication factor were given".into(),
            )));
            continue;
        }
        let (num_partitions, replication_factor) = if t.assignments.is_empty() {
            (t.num_partitions, t.replication_factor)
        } else {
            (
                t.assignments.len() as i32,
                t.assignments[0].broker_ids.len() as i16,
            )
        };
        let configs = set_values(t.configs.iter().map(|c| (&c.name, c.value.as_ref())));
        invalid.push(None);
        let mut assignments: Vec<(i32, Vec<i32>)> = t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect();
        assignments.sort_by_key(|(p, _)| *p);
        new_topics.push(NewTopic {
            name: t.name.to_string(),
            num_partitions,
            replication_factor,
            configs,
            assignments: (!assignments.is_empty())
                .then(|| assignments.into_iter().map(|(_, b)| b).collect()),
        });
    }
    let outcomes = match ctx
        .controller
        .send(CreateTopics {
            topics: new_topics,
            validate_only: req.validate_only,
        })
        .await
    {
        Ok(o) => o,
        Err(e) => vec![Err(BrokerError::from(e)); invalid.iter().filter(|i| i.is_none()).count()],
    };
    let mut outcomes = outcomes.into_iter();
    for (t, pre) in req.topics.iter().zip(invalid) {
        let outcome = match pre {
            Some(e) => Err(e),
            None => outcomes.next().unwrap_or(Err(BrokerError::Internal(
                "missing controller answer".into(),
            ))),
        };
        let r = CreatableTopicResult::default().with_name(t.name.clone());
        results.push(match outcome {
            // Topic id, counts and configs are answered from v5 (topic id from v7).
            Ok(_) if version < 5 => r,
            Ok(meta) => {
                let configs = CONFIG_DEFS
                    .iter()
                    .filter(|d| d.scope == Scope::Topic)
                    .map(|d| {
                        let (value, source) = ctx.config.topic_value(&meta.configs, d);
                        CreatableTopicConfigs::default()
                            .with_name(str_bytes(d.name))
                            .with_value(Some(str_bytes(&value)))
                            .with_config_source(source as i8)
                    })
                    .collect();
                r.with_topic_id(if version >= 7 {
                    meta.id
                } else {
                    Default::default()
                })
                .with_num_partitions(meta.partitions.len() as i32)
                .with_replication_factor(
                    meta.partitions
                        .first()
                        .map(|p| p.replicas.len() as i16)
                        .unwrap_or(1),
                )
                .with_configs(Some(configs))
            }
            Err(e) => r
                .with_error_code(e.code())
                .with_error_message(if version >= 1 {
                    Some(e.message())
                } else {
                    None
                })
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}
