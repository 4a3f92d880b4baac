//! AddPartitionsToTxn: partitions join the producer's transaction (the transaction starts
//! with the first). v0–3 come from clients, one transaction each; v4+ are batched by partition
//! leaders, several transactions at once, and may only verify (VerifyOnly) that partitions are
//! already in their transaction.
//!
//! As in Kafka, every partition must exist (else UNKNOWN_TOPIC_OR_PARTITION) and a client may
//! not add internal topics (TOPIC_AUTHORIZATION_FAILED); if any partition fails those checks
//! the transaction is left alone and the others answer OPERATION_NOT_ATTEMPTED.
//!
//! Kafka's checks: a client (v0–3) needs WRITE on the transactional id (else every partition
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on each topic (else TOPIC_AUTHORIZATION_FAILED,
//! the others OPERATION_NOT_ATTEMPTED); a broker (v4+) needs CLUSTER_ACTION on the cluster
//! (else the request's top-level CLUSTER_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::{authorize, authorized_topics, topic_name, CLUSTER};
use crate::actors::txn_coordinator::coordinator::{AddPartitionsToTxn, VerifyPartitionsInTxn};
use crate::actors::txn_coordinator::txn::{code_for_version, TxnError, TxnPartition};
use crate::broker::BrokerContext;
use crate::error::{BrokerError, ResponseError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// PRODUCER_FENCED is understood from v2; older clients get INVALID_PRODUCER_EPOCH.
const FENCED_SINCE: i16 = 2;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: AddPartitionsToTxnRequest,
    version: i16,
    client: &ClientInfo,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        // v0–3 carry one transaction at the top level: the v4 shape of it, from a client.
        let txn = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(req.v3_and_below_transactional_id)
            .with_producer_id(req.v3_and_below_producer_id)
            .with_producer_epoch(req.v3_and_below_producer_epoch)
            .with_topics(req.v3_and_below_topics);
        let results = one_transaction(ctx, &txn, version, client).await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER,
    ) {
        return AddPartitionsToTxnResponse::default().with_error_code(e.code());
    }
    let mut results = Vec::with_capacity(req.transactions.len());
    for txn in req.transactions {
        let topic_results = one_transaction(ctx, &txn, version, client).await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id)
                .with_topic_results(topic_results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

async fn one_transaction(
    ctx: &BrokerContext,
    txn: &AddPartitionsToTxnTransaction,
    version: i16,
    client: &ClientInfo,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let transactional_id = txn.transactional_id.to_string();
    let (producer_id, producer_epoch) = (txn.producer_id.0, txn.producer_epoch);
    let (topics, verify_only) = (&txn.topics, txn.verify_only);
    let image = ctx.metadata.current();
    let from_client = version < 4;
    if from_client {
        let check = authorize(
            ctx,
            client,
            AclOperation::Write,
            ResourceType::TransactionalId,
            &transactional_id,
        );
        if let Err(e) = check {
            let codes = topics.iter().flat_map(|t| {
                let code = e.code();
                t.partitions
                    .iter()
                    .map(move |p| ((t.name.to_string(), *p), code))
            });
            return by_topic(codes.collect());
        }
    }
    let writable = if from_client {
        authorized_topics(
            ctx,
            client,
            AclOperation::Write,
            topics.iter().map(|t| t.name.as_str()),
        )
    } else {
        Default::default()
    };
    let writable = &writable;
    let requested: Vec<(TxnPartition, Option<i16>)> = topics
        .iter()
        .flat_map(|t| {
            let name = t.name.to_string();
            let topic = image.topics.get(&name);
            t.partitions.iter().map(move |p| {
                let refused = match topic {
                    _ if from_client && !writable.contains(&name) => {
                        Some(BrokerError::TopicAuthorizationFailed.code())
                    }
                    Some(meta) if from_client && meta.internal => {
                        Some(ResponseError::TopicAuthorizationFailed.code())
                    }
                    Some(meta) if meta.partitions.iter().any(|m| m.index == *p) => None,
                    _ => Some(ResponseError::UnknownTopicOrPartition.code()),
                };
                ((name.clone(), *p), refused)
            })
        })
        .collect();
    let codes: Vec<(TxnPartition, i16)> = if requested.iter().any(|(_, r)| r.is_some()) {
        requested
            .into_iter()
            .map(|(tp, r)| (tp, r.unwrap_or(ResponseError::OperationNotAttempted.code())))
            .collect()
    } else {
        let partitions: Vec<TxnPartition> = requested.into_iter().map(|(tp, _)| tp).collect();
        let request = AddPartitionsToTxn {
            transactional_id: transactional_id.clone(),
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
        };
        if verify_only {
            let msg = VerifyPartitionsInTxn(request);
            let verified = ctx.ask_txn_coordinator(&transactional_id, msg).await;
            match verified {
                Ok(per_partition) => per_partition
                    .into_iter()
                    .map(|(tp, r)| {
                        let code = match r {
                            Ok(()) => NONE,
                            // v4 predates TRANSACTION_ABORTABLE.
                            Err(TxnError::TransactionAbortable) if version < 5 => {
                                TxnError::InvalidTxnState.code()
                            }
                            Err(e) => e.code(),
                        };
                        (tp, code)
                    })
                    .collect(),
                Err(e) => partitions.into_iter().map(|tp| (tp, e.code())).collect(),
            }
        } else {
            let result = ctx.ask_txn_coordinator(&transactional_id, request).await;
            let code = result.map_or_else(|e| code_for_version(e, version, FENCED_SINCE), |_| NONE);
            partitions.into_iter().map(|tp| (tp, code)).collect()
        }
    };
    by_topic(codes)
}

/// Groups per-partition codes by topic, in the order topics first appear.
fn by_topic(codes: Vec<(TxnPartition, i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<(String, Vec<AddPartitionsToTxnPartitionResult>)> = Vec::new();
    for ((topic, partition), code) in codes {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, results)) => results.push(result),
            None => out.push((topic, vec![result])),
        }
    }
    out.into_iter()
        .map(|(topic, results)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic_name(&topic))
                .with_results_by_partition(results)
        })
        .collect()
}
