//! The messages a `TxnCoordinator` shard accepts (one per transactional-id request), and the
//! listing line ListTransactions returns. Plain data: what each asks is decided in
//! `coordinator/requests.rs`; this file touches no state.

use actix::prelude::*;

use super::txn::{
    ProducerIdAndEpoch, TxnDescription, TxnError, TxnPartition, TxnResult, TxnState, Verified,
};

/// InitProducerId with a transactional id.
#[derive(Message)]
#[rtype(result = "TxnResult")]
pub struct InitTxnProducerId {
    pub transactional_id: String,
    pub timeout_ms: i32,
    /// The producer id and epoch the client holds (InitProducerId v3+), if it sent them.
    pub expected: Option<ProducerIdAndEpoch>,
}

/// AddPartitionsToTxn for one transactional id (partitions already checked to exist).
#[derive(Message)]
#[rtype(result = "TxnResult")]
pub struct AddPartitionsToTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TxnPartition>,
}

/// AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction.
#[derive(Message)]
#[rtype(result = "TxnResult")]
pub struct AddOffsetsToTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub group_id: String,
}

/// AddPartitionsToTxn v4+ with VerifyOnly: the same request, answered with which of its
/// partitions are in the open transaction, changing nothing.
#[derive(Message)]
#[rtype(result = "Result<Verified, TxnError>")]
pub struct VerifyPartitionsInTxn(pub AddPartitionsToTxn);

/// EndTxn: commit or abort the open transaction.
#[derive(Message)]
#[rtype(result = "TxnResult")]
pub struct EndTxn {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
}

/// DescribeTransactions for ids of this shard.
#[derive(Message)]
#[rtype(result = "Vec<(String, Result<TxnDescription, TxnError>)>")]
pub struct DescribeTxns {
    pub transactional_ids: Vec<String>,
}

/// One line of ListTransactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: TxnState,
}

/// ListTransactions: ids in one of `states` (all if empty), held by one of `producer_ids` (all
/// if empty), whose transaction has run longer than `min_duration_ms` (-1: any), among the
/// ids this shard coordinates; COORDINATOR_LOAD_IN_PROGRESS while one of its partitions loads.
#[derive(Message)]
#[rtype(result = "Result<Vec<TxnListing>, TxnError>")]
pub struct ListTxns {
    pub states: Vec<TxnState>,
    pub producer_ids: Vec<i64>,
    pub min_duration_ms: i64,
}
