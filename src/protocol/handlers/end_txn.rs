//! EndTxn: commit or abort the producer's open transaction. Answered once PrepareCommit /
//! PrepareAbort is written to `__transaction_state`; the markers follow, and the next
//! transaction waits (CONCURRENT_TRANSACTIONS) until they all landed. Kafka's check: WRITE on
//! the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::authorize;
use crate::actors::txn_coordinator::coordinator::EndTxn;
use crate::actors::txn_coordinator::txn::code_for_version;
use crate::broker::BrokerContext;
use crate::error::NONE;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// PRODUCER_FENCED is understood from v2; older clients get INVALID_PRODUCER_EPOCH.
const FENCED_SINCE: i16 = 2;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: EndTxnRequest,
    version: i16,
    client: &ClientInfo,
) -> EndTxnResponse {
    let transactional_id = req.transactional_id.to_string();
    if let Err(e) = authorize(
        ctx,
        client,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &transactional_id,
    ) {
        return EndTxnResponse::default().with_error_code(e.code());
    }
    let msg = EndTxn {
        transactional_id: transactional_id.clone(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        commit: req.committed,
    };
    let result = ctx.ask_txn_coordinator(&transactional_id, msg).await;
    let code = result.map_or_else(|e| code_for_version(e, version, FENCED_SINCE), |_| NONE);
    EndTxnResponse::default().with_error_code(code)
}
