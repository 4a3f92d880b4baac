//! InitProducerId: hands out a producer id (reserved in blocks through the `Controller`, never
//! reused) with epoch 0, or bumps the epoch of a known id (KIP-360), so clients that enable
//! idempotence by default can start. Transactional ids get their coordinator in issue #4.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::actors::controller::AllocateProducerId;
use crate::broker::BrokerContext;
use crate::error::BrokerError;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
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
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}
