//! AlterClientQuotas (committed by the `Controller`) and DescribeClientQuotas (answered from
//! this node's metadata image), authorized as Kafka's `KafkaApis` does: ALTER_CONFIGS on the
//! cluster to alter, DESCRIBE_CONFIGS on the cluster to describe. Entities, keys and values
//! travel in Kafka's shapes (`metadata::quotas`).

use std::sync::Arc;

use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlterEntity, EntryData as AlterEntry,
};
use kafka_protocol::messages::describe_client_quotas_response::{
    EntityData as DescribeEntity, EntryData as DescribeEntry, ValueData,
};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};

use super::{authorize, str_bytes, CLUSTER};
use crate::actors::controller::quotas::{QuotaAlteration, QuotaOp};
use crate::actors::controller::AlterClientQuotas;
use crate::broker::BrokerContext;
use crate::error::{BrokerError, NONE};
use crate::metadata::quotas::{QuotaFilter, QuotaFilterError};
use crate::metadata::EntityData;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn alter(
    ctx: &Arc<BrokerContext>,
    req: AlterClientQuotasRequest,
    _version: i16,
    client: &ClientInfo,
) -> AlterClientQuotasResponse {
    let refused = authorize(
        ctx,
        client,
        AclOperation::AlterConfigs,
        ResourceType::Cluster,
        CLUSTER,
    )
    .err();
    let alterations: Vec<QuotaAlteration> = req
        .entries
        .iter()
        .map(|e| QuotaAlteration {
            entity: e
                .entity
                .iter()
                .map(|d| EntityData {
                    entity_type: d.entity_type.to_string(),
                    entity_name: d.entity_name.as_ref().map(|n| n.to_string()),
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|o| QuotaOp {
                    key: o.key.to_string(),
                    value: o.value,
                    remove: o.remove,
                })
                .collect(),
        })
        .collect();
    let n = alterations.len();
    let results = match refused {
        Some(e) => vec![Err(e); n],
        None => {
            let call = AlterClientQuotas {
                alterations,
                validate_only: req.validate_only,
            };
            match ctx.controller.send(call).await {
                Ok(results) => results,
                Err(e) => vec![Err(BrokerError::from(e)); n],
            }
        }
    };
    let entries = req
        .entries
        .iter()
        .zip(results.iter())
        .map(|(entry, outcome)| {
            let (code, message) = BrokerError::code_and_message(outcome);
            let entity = entry
                .entity
                .iter()
                .map(|d| {
                    AlterEntity::default()
                        .with_entity_type(d.entity_type.clone())
                        .with_entity_name(d.entity_name.clone())
                })
                .collect();
            AlterEntry::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(entity)
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

pub async fn describe(
    ctx: &Arc<BrokerContext>,
    req: DescribeClientQuotasRequest,
    _version: i16,
    client: &ClientInfo,
) -> DescribeClientQuotasResponse {
    let answer = authorize(
        ctx,
        client,
        AclOperation::DescribeConfigs,
        ResourceType::Cluster,
        CLUSTER,
    )
    .and_then(|()| describe_entries(ctx, &req));
    match answer {
        Ok(entries) => DescribeClientQuotasResponse::default()
            .with_error_code(NONE)
            .with_entries(Some(entries)),
        Err(e) => DescribeClientQuotasResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(e.message()))
            .with_entries(None),
    }
}

fn describe_entries(
    ctx: &BrokerContext,
    req: &DescribeClientQuotasRequest,
) -> Result<Vec<DescribeEntry>, BrokerError> {
    let components: Vec<(String, i8, Option<String>)> = req
        .components
        .iter()
        .map(|c| {
            (
                c.entity_type.to_string(),
                c.match_type,
                c._match.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    let filter = QuotaFilter::new(&components, req.strict).map_err(|e| match e {
        QuotaFilterError::InvalidRequest(m) => BrokerError::InvalidRequest(m),
        QuotaFilterError::UnsupportedEntityType(m) => BrokerError::UnsupportedVersion(m),
    })?;
    let image = ctx.metadata.current();
    Ok(image
        .client_quotas
        .describe(&filter)
        .into_iter()
        .map(|(entity, values)| {
            DescribeEntry::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            DescribeEntity::default()
                                .with_entity_type(str_bytes(t))
                                .with_entity_name(n.as_deref().map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(*v))
                        .collect(),
                )
        })
        .collect())
}
