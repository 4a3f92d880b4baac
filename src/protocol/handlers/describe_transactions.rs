//! DescribeTransactions: state, producer, timeout, start time and partitions of each
//! transactional id, asked of the shard that owns it. Unknown (or expiring) ids answer
//! TRANSACTIONAL_ID_NOT_FOUND. Kafka's check: DESCRIBE on each transactional id (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED for it).

use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TransactionalId,
};

use super::{authorize, str_bytes, topic_name};
use crate::actors::txn_coordinator::coordinator::DescribeTxns;
use crate::actors::txn_coordinator::txn::{TxnDescription, TxnError};
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: DescribeTransactionsRequest,
    _version: i16,
    client: &ClientInfo,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        let id = id.to_string();
        let check = authorize(
            ctx,
            client,
            AclOperation::Describe,
            ResourceType::TransactionalId,
            &id,
        );
        if let Err(e) = check {
            states.push(
                TransactionState::default()
                    .with_transactional_id(TransactionalId(str_bytes(&id)))
                    .with_error_code(e.code()),
            );
            continue;
        }
        let described = ctx
            .txn_coordinator(&id)
            .send(DescribeTxns {
                transactional_ids: vec![id.clone()],
            })
            .await
            .ok()
            .and_then(|mut v| v.pop())
            .map(|(_, r)| r)
            .unwrap_or(Err(TxnError::CoordinatorNotAvailable));
        states.push(state(&id, described));
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

fn state(id: &str, described: Result<TxnDescription, TxnError>) -> TransactionState {
    let base = TransactionState::default().with_transactional_id(TransactionalId(str_bytes(id)));
    let d = match described {
        Ok(d) => d,
        Err(e) => return base.with_error_code(e.code()),
    };
    let mut topics: Vec<TopicData> = Vec::new();
    for (topic, partition) in d.partitions {
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                TopicData::default()
                    .with_topic(topic_name(&topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    base.with_transaction_state(str_bytes(d.state.as_str()))
        .with_transaction_timeout_ms(d.timeout_ms)
        .with_transaction_start_time_ms(d.start_ms)
        .with_producer_id(ProducerId(d.producer_id))
        .with_producer_epoch(d.producer_epoch)
        .with_topics(topics)
}
