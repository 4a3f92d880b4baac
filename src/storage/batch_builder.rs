//! Record batches the broker writes itself: the coordinators' records in their internal topics,
//! `troupe produce`, and extensions' produces. One builder so every writer makes the same
//! well-formed batch: magic v2, uncompressed, one timestamp, base sequence -1 (no producer
//! id), or a coordinator's transactional batch (producer id and epoch, no sequence to check).
//! It never touches a client's batch: those are stored as received.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::error::StorageError;

/// One record to put in a batch.
pub struct NewRecord<'a> {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: &'a [(String, Option<Bytes>)],
}

/// One batch of `records`, all stamped `timestamp_ms`. With `transactional` =
/// `Some((producer id, producer epoch))` the batch is transactional. An empty batch is refused.
pub fn build_batch<'a>(
    records: impl IntoIterator<Item = NewRecord<'a>>,
    timestamp_ms: i64,
    transactional: Option<(i64, i16)>,
) -> Result<Bytes, StorageError> {
    let (producer_id, producer_epoch) = transactional.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: transactional.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol keeps records in one batch while offset - sequence stays the
            // same, and takes the base sequence from the first record: -1, "no sequence".
            sequence: i as i32 - 1,
            timestamp: timestamp_ms,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect(),
        })
        .collect();
    if records.is_empty() {
        return Err(StorageError::InvalidRecord("a batch needs a record".into()));
    }
    encode_records(&records, Compression::None)
}

/// Encodes `records` in magic v2 with `compression`: one batch while offset − sequence stays
/// the same from record to record. Shared with the test fixtures' batch builders (unit and
/// integration tests) and the bench's native producer, so they encode batches the way the
/// broker does.
pub fn encode_records(records: &[Record], compression: Compression) -> Result<Bytes, StorageError> {
    // Room for the uncompressed batch (61-byte header, about a dozen bytes around each
    // record's key and value), so a large batch is not copied as the buffer grows.
    let payload: usize = records
        .iter()
        .map(|r| {
            12 + r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
        })
        .sum();
    let mut buf = BytesMut::with_capacity(61 + payload);
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| StorageError::InvalidRecord(format!("encoding a record batch: {e}")))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::BatchHeader;
    use kafka_protocol::records::RecordBatchDecoder;

    fn headers() -> Vec<(String, Option<Bytes>)> {
        vec![("h".to_string(), Some(Bytes::from_static(b"x")))]
    }

    #[test]
    fn many_records_make_one_batch_that_decodes_back() {
        let headers = headers();
        let records = (0..5).map(|i| NewRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: (i != 3).then(|| Bytes::from(format!("v{i}"))),
            headers: &headers,
        });
        let batch = build_batch(records, 1_700_000_000_000, None).unwrap();
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.size() as usize, batch.len(), "exactly one batch");
        assert_eq!(header.record_count, 5);
        assert_eq!((header.producer_id, header.base_sequence), (-1, -1));
        let mut bytes = batch.clone();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let decoded = &sets[0].records;
        assert_eq!(decoded.len(), 5);
        assert_eq!(decoded[3].value, None, "a null value stays null");
        assert_eq!(decoded[4].key.as_deref(), Some(&b"k4"[..]));
        assert_eq!(decoded[0].headers.len(), 1);
        assert!(decoded.iter().all(|r| r.timestamp == 1_700_000_000_000));
    }

    #[test]
    fn a_transactional_batch_carries_its_producer() {
        let batch = build_batch(
            [NewRecord {
                key: Some(Bytes::from_static(b"k")),
                value: None,
                headers: &[],
            }],
            5,
            Some((77, 3)),
        )
        .unwrap();
        let header = BatchHeader::parse(&batch).unwrap();
        assert!(header.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch), (77, 3));
        assert_eq!(header.base_sequence, -1);
    }

    #[test]
    fn an_empty_batch_is_refused() {
        assert!(build_batch([], 0, None).is_err());
    }
}
