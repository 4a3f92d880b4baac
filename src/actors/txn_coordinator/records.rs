//! The records a `TxnCoordinator` writes to its `__transaction_state` partitions, after
//! Kafka's layout: key = int16 version (0) + the transactional id as a Kafka string, so that
//! compaction keeps the latest record of each id. The value is Troupe's own format: the JSON of
//! the whole [`TxnMetadata`]. A null value (tombstone) means the id expired.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::RecordBatchDecoder;

use super::txn::{TxnMetadata, TxnState};

/// Kafka's `TransactionLogKey` version.
const TXN_KEY_VERSION: i16 = 0;

pub fn key(transactional_id: &str) -> Bytes {
    let id = &transactional_id.as_bytes()[..transactional_id.len().min(i16::MAX as usize)];
    let mut b = BytesMut::with_capacity(4 + id.len());
    b.put_i16(TXN_KEY_VERSION);
    b.put_i16(id.len() as i16);
    b.put_slice(id);
    b.freeze()
}

/// The value written for a state change: None (a tombstone) for Dead.
pub fn value(meta: &TxnMetadata) -> Option<Bytes> {
    (meta.state != TxnState::Dead)
        .then(|| Bytes::from(serde_json::to_vec(meta).unwrap_or_default()))
}

/// One `__transaction_state` record: the id and its metadata, None for a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub metadata: Option<TxnMetadata>,
}

/// Decodes one record; unknown or unreadable records are skipped (None), never fatal.
pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Option<TxnRecord> {
    let mut key = key?.clone();
    if key.remaining() < 4 || key.get_i16() != TXN_KEY_VERSION {
        return None;
    }
    let len = key.get_i16();
    if len < 0 || key.remaining() < len as usize {
        return None;
    }
    let transactional_id = String::from_utf8(key.split_to(len as usize).to_vec()).ok()?;
    let metadata = match value {
        None => None,
        Some(v) => {
            let m: TxnMetadata = serde_json::from_slice(v).ok()?;
            if m.transactional_id != transactional_id {
                return None;
            }
            Some(m)
        }
    };
    Some(TxnRecord {
        transactional_id,
        metadata,
    })
}

/// Decodes stored batches (as read from the log); returns the records and the offset after
/// the last record seen (where the next read starts).
pub fn decode_batches(mut bytes: Bytes) -> (Vec<TxnRecord>, Option<i64>) {
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
        return (Vec::new(), None);
    };
    let records: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
    let next = records.iter().map(|r| r.offset + 1).max();
    let decoded = records
        .into_iter()
        .filter(|r| !r.control)
        .filter_map(|r| decode(r.key.as_ref(), r.value.as_ref()))
        .collect();
    (decoded, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::group_coordinator::records::batch;

    #[test]
    fn state_changes_and_tombstones_round_trip_through_a_batch() {
        let mut meta = TxnMetadata::new("tx-1", 42, 60_000, 7);
        meta.state = TxnState::Ongoing;
        meta.partitions.insert(("t".into(), 3));
        let mut dead = meta.clone();
        dead.state = TxnState::Dead;
        assert_eq!(value(&dead), None, "Dead is written as a tombstone");
        let b = batch(
            &[(key("tx-1"), value(&meta)), (key("tx-1"), value(&dead))],
            7,
        );
        let (decoded, next) = decode_batches(b);
        assert_eq!(next, Some(2));
        assert_eq!(
            decoded,
            vec![
                TxnRecord {
                    transactional_id: "tx-1".into(),
                    metadata: Some(meta)
                },
                TxnRecord {
                    transactional_id: "tx-1".into(),
                    metadata: None
                },
            ]
        );
    }

    #[test]
    fn key_is_kafkas_layout() {
        assert_eq!(&key("ab")[..], b"\x00\x00\x00\x02ab");
    }

    #[test]
    fn unreadable_records_are_skipped() {
        assert_eq!(decode(None, None), None);
        assert_eq!(
            decode(Some(&Bytes::from_static(b"\x00\x01\x00\x01a")), None),
            None
        );
        assert_eq!(
            decode(Some(&Bytes::from_static(b"\x00\x00\x00\x09a")), None),
            None
        );
        let other = TxnMetadata::new("other", 1, 1, 1);
        let v = value(&other).unwrap();
        assert_eq!(
            decode(Some(&key("tx")), Some(&v)),
            None,
            "value of another id"
        );
        assert_eq!(
            decode(Some(&key("tx")), Some(&Bytes::from_static(b"{"))),
            None
        );
    }
}
