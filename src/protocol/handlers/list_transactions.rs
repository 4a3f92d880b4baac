//! ListTransactions: every transactional id of every shard, filtered by state names, producer
//! ids and (v1+) how long the transaction has run. State names Kafka does not know are
//! returned in UnknownStateFilters (and match nothing). Kafka's check: only the ids the
//! principal may DESCRIBE are listed.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::{authorized, str_bytes};
use crate::actors::txn_coordinator::coordinator::ListTxns;
use crate::actors::txn_coordinator::txn::{TxnError, TxnState};
use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ListTransactionsRequest,
    version: i16,
    client: &ClientInfo,
) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(name.clone()),
        }
    }
    let response = ListTransactionsResponse::default().with_unknown_state_filters(unknown.clone());
    if !unknown.is_empty() && states.is_empty() {
        // Only unknown states were asked for: nothing can match.
        return response;
    }
    let query = || ListTxns {
        states: states.clone(),
        producer_ids: req.producer_id_filters.iter().map(|p| p.0).collect(),
        min_duration_ms: if version >= 1 {
            req.duration_filter
        } else {
            -1
        },
    };
    let asks = ctx.txn_coordinators.iter().map(|c| c.send(query()));
    let mut listed = Vec::new();
    for answer in futures::future::join_all(asks).await {
        match answer {
            Ok(Ok(l)) => listed.extend(l),
            Ok(Err(e)) => return response.with_error_code(e.code()),
            Err(_) => return response.with_error_code(TxnError::CoordinatorNotAvailable.code()),
        }
    }
    let transaction_states = listed
        .into_iter()
        .filter(|l| {
            authorized(
                ctx,
                client,
                AclOperation::Describe,
                ResourceType::TransactionalId,
                &l.transactional_id,
            )
        })
        .map(|l| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(&l.transactional_id)))
                .with_producer_id(ProducerId(l.producer_id))
                .with_transaction_state(str_bytes(l.state.as_str()))
        })
        .collect();
    response.with_transaction_states(transaction_states)
}
