//! The record batches the native producer sends: magic v2, encoded by kafka-protocol's
//! `RecordBatchEncoder` (CRC-32C, varints and compression are its), one timestamp per batch,
//! no key. Without a producer id a batch has base sequence -1; with one (`--idempotent`) each
//! partition's batches carry consecutive sequences, as Kafka's idempotent producer's do.

use bytes::Bytes;
use kafka_protocol::records::{Compression, Record, TimestampType};

use crate::storage::batch_builder::encode_records;

/// Bytes of a v2 batch header (base offset to record count).
const BATCH_HEADER_BYTES: usize = 61;
/// Bytes a record adds around its value: length, attributes, timestamp and offset deltas,
/// null key, value length, header count (10 for 1 KiB values in batches of about a thousand;
/// at most 13 in batches of up to 2^21 records and 2 MB).
const RECORD_OVERHEAD_BYTES: usize = 12;

/// The producer an idempotent run writes as (InitProducerId's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The compression a `--compression` name asks for (the set the librdkafka driver takes).
pub fn compression(name: &str) -> anyhow::Result<Compression> {
    Ok(match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        other => anyhow::bail!("--compression must be none, gzip, snappy or lz4, not {other}"),
    })
}

/// Records of `record_size` bytes that fit in a batch of `batch_size` bytes (at least one,
/// as librdkafka sends a record larger than `batch.size` alone).
pub fn records_per_batch(batch_size: usize, record_size: usize) -> usize {
    (batch_size.saturating_sub(BATCH_HEADER_BYTES) / (record_size + RECORD_OVERHEAD_BYTES)).max(1)
}

/// One batch of `count` records, each with `value`, stamped `timestamp_ms`. With a producer
/// the records take sequences from `base_sequence` on.
pub fn encode_batch(
    value: &Bytes,
    count: usize,
    timestamp_ms: i64,
    producer: Option<(ProducerIdentity, i32)>,
    compression: Compression,
) -> anyhow::Result<Bytes> {
    let (producer_id, producer_epoch, base_sequence) = match producer {
        Some((p, sequence)) => (p.producer_id, p.producer_epoch, sequence),
        None => (-1, -1, -1),
    };
    // kafka-protocol keeps records in one batch while offset - sequence stays the same and
    // takes the batch's base sequence from its first record.
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: timestamp_ms,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    Ok(encode_records(&records, compression)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn a_batch_is_one_v2_batch_of_the_records_asked_for() {
        let value = Bytes::from(vec![7u8; 100]);
        for c in ["none", "lz4", "gzip", "snappy"] {
            let mut batch =
                encode_batch(&value, 50, 1_700_000_000_000, None, compression(c).unwrap()).unwrap();
            let sets = RecordBatchDecoder::decode_all(&mut batch).unwrap();
            assert_eq!(sets.len(), 1, "{c}: one batch");
            let records = &sets[0].records;
            assert_eq!(records.len(), 50, "{c}");
            assert!(records.iter().all(|r| r.value.as_ref() == Some(&value)));
            assert_eq!((records[0].producer_id, records[0].sequence), (-1, -1));
        }
        assert!(compression("zstd").is_err());
    }

    #[test]
    fn an_idempotent_batch_carries_its_producer_and_consecutive_sequences() {
        let producer = ProducerIdentity {
            producer_id: 4000,
            producer_epoch: 2,
        };
        let value = Bytes::from_static(b"v");
        let mut batch =
            encode_batch(&value, 3, 1, Some((producer, 10)), Compression::None).unwrap();
        let sets = RecordBatchDecoder::decode_all(&mut batch).unwrap();
        assert_eq!(sets.len(), 1);
        let sequences: Vec<i32> = sets[0].records.iter().map(|r| r.sequence).collect();
        assert_eq!(sequences, [10, 11, 12]);
        assert!(sets[0]
            .records
            .iter()
            .all(|r| r.producer_id == 4000 && r.producer_epoch == 2 && !r.transactional));
    }

    #[test]
    fn a_batch_holds_what_fits_in_batch_size_and_never_less_than_one_record() {
        let n = records_per_batch(1_000_000, 1024);
        let value = Bytes::from(vec![1u8; 1024]);
        let batch = encode_batch(&value, n, 0, None, Compression::None).unwrap();
        assert!(batch.len() <= 1_000_000, "{} bytes", batch.len());
        assert!(batch.len() > 980_000, "nearly full: {} bytes", batch.len());
        assert_eq!(records_per_batch(100, 1024), 1);
    }
}
