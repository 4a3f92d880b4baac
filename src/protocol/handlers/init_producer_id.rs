//! InitProducerId. Without a transactional id (idempotent producers): hands out a producer id
//! (reserved in blocks through the `Controller`, never reused) with epoch 0, or bumps the epoch
//! of a known id (KIP-360). With one: the id's `TxnCoordinator` decides (new id, epoch bump,
//! fencing an open transaction, rotation once the epoch is exhausted).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::actors::controller::AllocateProducerId;
use crate::actors::txn_coordinator::coordinator::InitTxnProducerId;
use crate::actors::txn_coordinator::txn::{
    code_for_version, ProducerIdAndEpoch, TxnError, TxnReply, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::protocol::handlers::{authorize, authorized, authorized_for_any, CLUSTER};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

/// PRODUCER_FENCED is understood from v4; older clients get INVALID_PRODUCER_EPOCH.
const FENCED_SINCE: i16 = 4;

fn failed(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(NO_PRODUCER_EPOCH)
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: InitProducerIdRequest,
    version: i16,
    client: &ClientInfo,
) -> InitProducerIdResponse {
    // Kafka's checks: WRITE on the transactional id; an idempotent producer needs
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    let refused = match &req.transactional_id {
        Some(id) => authorize(
            ctx,
            client,
            AclOperation::Write,
            ResourceType::TransactionalId,
            id,
        )
        .err(),
        None => (!authorized(
            ctx,
            client,
            AclOperation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER,
        ) && !authorized_for_any(ctx, client, AclOperation::Write, ResourceType::Topic))
        .then_some(BrokerError::ClusterAuthorizationFailed),
    };
    if let Some(e) = refused {
        return failed(e.code());
    }
    if let Some(transactional_id) = &req.transactional_id {
        return transactional(ctx, &req, transactional_id.to_string(), version).await;
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    let allocated = ctx
        .controller
        .send(AllocateProducerId)
        .await
        .map_err(BrokerError::from)
        .and_then(|r| r);
    match allocated {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => failed(e.code()),
    }
}

async fn transactional(
    ctx: &BrokerContext,
    req: &InitProducerIdRequest,
    transactional_id: String,
    version: i16,
) -> InitProducerIdResponse {
    // v3+ may name the producer id and epoch the client holds: both or neither.
    let expected = match (req.producer_id.0, req.producer_epoch) {
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
        (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => {
            return failed(TxnError::InvalidRequest.code())
        }
        (producer_id, epoch) => Some(ProducerIdAndEpoch { producer_id, epoch }),
    };
    let msg = InitTxnProducerId {
        transactional_id: transactional_id.clone(),
        timeout_ms: req.transaction_timeout_ms,
        expected,
    };
    let result = ctx.ask_txn_coordinator(&transactional_id, msg).await;
    match result {
        Ok(TxnReply::ProducerIdAndEpoch {
            producer_id,
            producer_epoch,
        }) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        Ok(TxnReply::Done) => failed(TxnError::UnknownServerError.code()),
        Err(e) => failed(code_for_version(e, version, FENCED_SINCE)),
    }
}
