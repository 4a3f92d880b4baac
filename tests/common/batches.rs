//! Record batches as a plain producer (no producer id) sends them, for tests that write the
//! wire protocol or the log themselves.

use bytes::Bytes;
use kafka_protocol::records::{Compression, Record, TimestampType};

/// One v2 batch of `records` (key, value, timestamp) at offsets 0.., partition leader epoch
/// 0, create-time timestamps, base sequence -1 (no producer id).
pub fn plain_batch(
    records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>, i64)>,
    compression: Compression,
) -> Bytes {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value, timestamp))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch whenever offset - sequence changes: keeping
            // it constant makes one batch (base sequence -1: no producer id).
            sequence: i as i32 - 1,
            timestamp,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    troupe::storage::batch_builder::encode_records(&records, compression).unwrap()
}
