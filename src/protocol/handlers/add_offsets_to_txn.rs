//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so its
//! TxnOffsetCommits get the transaction's marker.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::actors::txn_coordinator::coordinator::AddOffsetsToTxn;
use crate::actors::txn_coordinator::txn::{code_for_version, TxnError};
use crate::broker::BrokerContext;
use crate::error::NONE;

/// PRODUCER_FENCED is understood from v2; older clients get INVALID_PRODUCER_EPOCH.
const FENCED_SINCE: i16 = 2;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let transactional_id = req.transactional_id.to_string();
    let result = ctx
        .txn_coordinator(&transactional_id)
        .send(AddOffsetsToTxn {
            transactional_id,
            producer_id: req.producer_id.0,
            producer_epoch: req.producer_epoch,
            group_id: req.group_id.to_string(),
        })
        .await
        .unwrap_or(Err(TxnError::CoordinatorNotAvailable));
    let code = match result {
        Ok(_) => NONE,
        Err(e) => code_for_version(e, version, FENCED_SINCE),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
