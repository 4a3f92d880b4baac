//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so its
//! TxnOffsetCommits get the transaction's marker. Kafka's checks: WRITE on the transactional
//! id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group (GROUP_AUTHORIZATION_FAILED).

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::authorize;
use crate::actors::txn_coordinator::coordinator::AddOffsetsToTxn;
use crate::actors::txn_coordinator::txn::code_for_version;
use crate::broker::BrokerContext;
use crate::error::NONE;
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// PRODUCER_FENCED is understood from v2; older clients get INVALID_PRODUCER_EPOCH.
const FENCED_SINCE: i16 = 2;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: AddOffsetsToTxnRequest,
    version: i16,
    client: &ClientInfo,
) -> AddOffsetsToTxnResponse {
    let transactional_id = req.transactional_id.to_string();
    let check = authorize(
        ctx,
        client,
        AclOperation::Write,
        ResourceType::TransactionalId,
        &transactional_id,
    )
    .and_then(|()| {
        authorize(
            ctx,
            client,
            AclOperation::Read,
            ResourceType::Group,
            &req.group_id,
        )
    });
    if let Err(e) = check {
        return AddOffsetsToTxnResponse::default().with_error_code(e.code());
    }
    let msg = AddOffsetsToTxn {
        transactional_id: transactional_id.clone(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        group_id: req.group_id.to_string(),
    };
    let result = ctx.ask_txn_coordinator(&transactional_id, msg).await;
    let code = result.map_or_else(|e| code_for_version(e, version, FENCED_SINCE), |_| NONE);
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
