//! How a `TxnCoordinator` shard answers each of its messages (`messages.rs`): the id is
//! checked (its partition led here and loaded), its `TxnMetadata` decides, and the coordinator
//! carries out the effects (`coordinator.rs`), answering once a state change is replicated.
//! Reads (VerifyPartitionsInTxn, DescribeTxns, ListTxns) answer at once. Owns no state and
//! writes nothing itself.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::TxnCoordinator;
use crate::actors::controller::AllocateProducerId;
use crate::actors::group_coordinator::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::txn_coordinator::messages::*;
use crate::actors::txn_coordinator::txn::*;
use crate::runtime::clock::wall_clock_ms;

fn reply_future(rx: oneshot::Receiver<TxnResult>) -> ResponseFuture<TxnResult> {
    Box::pin(async move { rx.await.unwrap_or(Err(TxnError::CoordinatorNotAvailable)) })
}

fn ready<T: Send + 'static>(value: T) -> ResponseFuture<T> {
    Box::pin(async move { value })
}

impl TxnCoordinator {
    /// Checks the id before an operation on it; the metadata, or the error to answer.
    fn lookup(&self, transactional_id: &str) -> Result<&TxnMetadata, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        self.check(transactional_id)?;
        self.txns
            .get(transactional_id)
            .ok_or(TxnError::InvalidProducerIdMapping)
    }

    /// A request on an existing id: checks it, lets its state machine decide, and answers
    /// once the effects (a write first, if any) are carried out.
    fn decide(
        &mut self,
        ctx: &mut Context<Self>,
        transactional_id: String,
        plan: impl FnOnce(&TxnMetadata) -> Vec<Effect>,
    ) -> ResponseFuture<TxnResult> {
        let effects = match self.lookup(&transactional_id) {
            Ok(meta) => plan(meta),
            Err(e) => return ready(Err(e)),
        };
        let (tx, rx) = oneshot::channel();
        self.run(ctx, transactional_id, effects, Some(tx));
        reply_future(rx)
    }

    fn init_with(
        &mut self,
        ctx: &mut Context<Self>,
        msg: InitTxnProducerId,
        fresh_producer_id: Option<i64>,
        tx: oneshot::Sender<TxnResult>,
    ) {
        let now = wall_clock_ms();
        let effects = match (self.txns.get(&msg.transactional_id), fresh_producer_id) {
            (Some(meta), fresh) => meta.init_producer_id(msg.timeout_ms, msg.expected, fresh, now),
            (None, Some(producer_id)) => {
                TxnMetadata::new(&msg.transactional_id, producer_id, msg.timeout_ms, now)
                    .init_producer_id(msg.timeout_ms, msg.expected, None, now)
            }
            (None, None) => vec![Effect::Reply(Err(TxnError::UnknownServerError))],
        };
        self.run(ctx, msg.transactional_id, effects, Some(tx));
    }
}

impl Handler<InitTxnProducerId> for TxnCoordinator {
    type Result = ResponseFuture<TxnResult>;

    fn handle(&mut self, msg: InitTxnProducerId, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = validate_init(&msg.transactional_id, msg.timeout_ms, &self.setup.config) {
            return ready(Err(e));
        }
        if let Err(e) = self.check(&msg.transactional_id) {
            return ready(Err(e));
        }
        let (tx, rx) = oneshot::channel();
        let needs_producer_id = self
            .txns
            .get(&msg.transactional_id)
            .is_none_or(|m| m.needs_new_producer_id(msg.expected));
        if needs_producer_id {
            // Waited for, so no other request of this shard runs between the allocation and
            // its use.
            let allocate = self.setup.controller.send(AllocateProducerId);
            ctx.wait(allocate.into_actor(self).map(move |r, act, ctx| match r {
                Ok(Ok(producer_id)) => act.init_with(ctx, msg, Some(producer_id), tx),
                other => {
                    tracing::warn!(transactional_id = %msg.transactional_id, result = ?other.map(|r| r.map(|_| ())),
                        "allocating a producer id failed");
                    let _ = tx.send(Err(TxnError::CoordinatorNotAvailable));
                }
            }));
        } else {
            self.init_with(ctx, msg, None, tx);
        }
        reply_future(rx)
    }
}

impl Handler<AddPartitionsToTxn> for TxnCoordinator {
    type Result = ResponseFuture<TxnResult>;

    fn handle(&mut self, msg: AddPartitionsToTxn, ctx: &mut Context<Self>) -> Self::Result {
        self.decide(ctx, msg.transactional_id, |meta| {
            meta.add_partitions(
                msg.producer_id,
                msg.producer_epoch,
                &msg.partitions,
                wall_clock_ms(),
            )
        })
    }
}

impl Handler<AddOffsetsToTxn> for TxnCoordinator {
    type Result = ResponseFuture<TxnResult>;

    fn handle(&mut self, msg: AddOffsetsToTxn, ctx: &mut Context<Self>) -> Self::Result {
        let partition = offsets_partition_for(&msg.group_id, self.setup.offsets_partitions);
        <Self as Handler<AddPartitionsToTxn>>::handle(
            self,
            AddPartitionsToTxn {
                transactional_id: msg.transactional_id,
                producer_id: msg.producer_id,
                producer_epoch: msg.producer_epoch,
                partitions: vec![(OFFSETS_TOPIC.to_string(), partition)],
            },
            ctx,
        )
    }
}

impl Handler<VerifyPartitionsInTxn> for TxnCoordinator {
    type Result = MessageResult<VerifyPartitionsInTxn>;

    fn handle(&mut self, msg: VerifyPartitionsInTxn, _: &mut Context<Self>) -> Self::Result {
        let VerifyPartitionsInTxn(msg) = msg;
        MessageResult(self.lookup(&msg.transactional_id).and_then(|meta| {
            meta.verify_partitions(msg.producer_id, msg.producer_epoch, &msg.partitions)
        }))
    }
}

impl Handler<EndTxn> for TxnCoordinator {
    type Result = ResponseFuture<TxnResult>;

    fn handle(&mut self, msg: EndTxn, ctx: &mut Context<Self>) -> Self::Result {
        self.decide(ctx, msg.transactional_id, |meta| {
            meta.end_txn(
                msg.producer_id,
                msg.producer_epoch,
                msg.commit,
                wall_clock_ms(),
            )
        })
    }
}

impl Handler<DescribeTxns> for TxnCoordinator {
    type Result = MessageResult<DescribeTxns>;

    fn handle(&mut self, msg: DescribeTxns, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.transactional_ids
                .into_iter()
                .map(|id| {
                    let described = match self.lookup(&id) {
                        Ok(meta) if meta.state != TxnState::Dead => Ok(meta.describe()),
                        Ok(_) | Err(TxnError::InvalidProducerIdMapping) => {
                            Err(TxnError::TransactionalIdNotFound)
                        }
                        Err(e) => Err(e),
                    };
                    (id, described)
                })
                .collect(),
        )
    }
}

impl Handler<ListTxns> for TxnCoordinator {
    type Result = MessageResult<ListTxns>;

    fn handle(&mut self, msg: ListTxns, _: &mut Context<Self>) -> Self::Result {
        if self.partitions.any_loading() {
            return MessageResult(Err(TxnError::CoordinatorLoadInProgress));
        }
        let now = wall_clock_ms();
        let mut listed: Vec<TxnListing> = self
            .txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| msg.states.is_empty() || msg.states.contains(&m.state))
            .filter(|m| msg.producer_ids.is_empty() || msg.producer_ids.contains(&m.producer_id))
            .filter(|m| msg.min_duration_ms < 0 || now - m.start_ms > msg.min_duration_ms)
            .map(|m| TxnListing {
                transactional_id: m.transactional_id.clone(),
                producer_id: m.producer_id,
                state: m.state,
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        MessageResult(Ok(listed))
    }
}
