//! Transaction markers: the control batches that end a producer's transaction in a partition.
//!
//! This room owns the bytes of a marker, as Kafka's `EndTransactionMarker` and
//! `ControlRecordType` define them: building one for the log to append, and reading one back
//! when the producer state is replayed. Nothing else in the broker writes control batches.
//!
//! A marker is a v2 record batch with the transactional and control attributes set, no
//! compression, CreateTime, the producer's id and epoch, base sequence -1, and one record at
//! offset delta 0 and timestamp delta 0 whose
//!
//! ```text
//! key   = version int16 (0) | type int16 (0 ABORT, 1 COMMIT)
//! value = version int16 (0) | coordinator epoch int32
//! ```
//!
//! with no headers. That is 61 header bytes and a 17-byte record. Other control types (KRaft's
//! leader-change and snapshot records) never reach a partition's log here; reading one, or a
//! control batch the cleaner emptied, yields no marker.

use bytes::{Bytes, BytesMut};

use super::batch::{
    self, BatchHeader, CONTROL_BIT, MAGIC_V2, RECORD_BATCH_OVERHEAD, TRANSACTIONAL_BIT,
};
use super::producer_state::NO_SEQUENCE;
use super::records;

/// Attributes of a marker batch: transactional and control, nothing else.
const MARKER_ATTRIBUTES: i16 = TRANSACTIONAL_BIT | CONTROL_BIT;
/// Version of the control record key and of the marker value this broker writes.
const CURRENT_VERSION: i16 = 0;
/// Bytes of a control record key: version and type.
const CONTROL_KEY_SIZE: usize = 4;
/// Bytes of a marker value: version and coordinator epoch.
const MARKER_VALUE_SIZE: usize = 6;
/// The partition leader epoch a marker is built with; the log stamps its current leader epoch
/// over it when it assigns the offset, as it does for every batch it appends.
const PARTITION_LEADER_EPOCH: i32 = 0;

/// Kafka's `ControlRecordType` for the two kinds of transaction marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRecordType {
    Abort,
    Commit,
}

impl ControlRecordType {
    /// The type id in a control record key.
    pub fn type_id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
        }
    }

    fn from_type_id(id: i16) -> Option<ControlRecordType> {
        match id {
            0 => Some(ControlRecordType::Abort),
            1 => Some(ControlRecordType::Commit),
            _ => None,
        }
    }
}

/// Kafka's `EndTransactionMarker`: how a transaction ended and which coordinator epoch said so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub control_type: ControlRecordType,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    pub fn is_abort(&self) -> bool {
        self.control_type == ControlRecordType::Abort
    }
}

/// The marker batch for `producer_id` at `producer_epoch`, stamped `timestamp_ms`, with base
/// offset 0 (the log assigns the real one) and a correct CRC-32C.
pub fn encode_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: EndTxnMarker,
    timestamp_ms: i64,
) -> Bytes {
    let record = encode_marker_record(marker);
    let mut bytes = BytesMut::zeroed(RECORD_BATCH_OVERHEAD);
    bytes.extend_from_slice(&record);
    let header = BatchHeader {
        base_offset: 0,
        batch_length: (bytes.len() - batch::LOG_OVERHEAD) as i32,
        partition_leader_epoch: PARTITION_LEADER_EPOCH,
        magic: MAGIC_V2,
        crc: 0,
        attributes: MARKER_ATTRIBUTES,
        last_offset_delta: 0,
        base_timestamp: timestamp_ms,
        max_timestamp: timestamp_ms,
        producer_id,
        producer_epoch,
        base_sequence: NO_SEQUENCE,
        record_count: 1,
    };
    header.write_to(&mut bytes);
    batch::write_crc(&mut bytes);
    bytes.freeze()
}

/// The one record of a marker batch: length, attributes 0, timestamp delta 0, offset delta 0,
/// key, value, no headers. Every varint here fits in one byte.
fn encode_marker_record(marker: EndTxnMarker) -> Vec<u8> {
    let mut body = vec![0u8, 0, 0]; // attributes, timestamp delta, offset delta
    body.push(zigzag_byte(CONTROL_KEY_SIZE));
    body.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    body.extend_from_slice(&marker.control_type.type_id().to_be_bytes());
    body.push(zigzag_byte(MARKER_VALUE_SIZE));
    body.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    body.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    body.push(0); // header count
    let mut record = vec![zigzag_byte(body.len())];
    record.extend_from_slice(&body);
    record
}

/// A small non-negative number as a one-byte zigzag varint.
fn zigzag_byte(n: usize) -> u8 {
    debug_assert!(n < 64, "one-byte varints only");
    (n << 1) as u8
}

/// Reads the marker in a stored control batch (`batch` is the whole batch). `Ok(None)` for a
/// control batch without records or of another control type; `Err` when its record cannot be
/// decoded or its key or value is too short or has a negative version (Kafka's checks).
pub fn read_marker(batch: &[u8], header: &BatchHeader) -> Result<Option<EndTxnMarker>, String> {
    if !header.is_control() {
        return Err("not a control batch".into());
    }
    let section = records::records_section(batch, header)?;
    let parsed = records::parse_records(&section, header)?;
    let Some(record) = parsed.first() else {
        return Ok(None);
    };
    let key = record.key.ok_or("control record without key")?;
    if key.len() < CONTROL_KEY_SIZE || read_i16(key, 0) < 0 {
        return Err(format!("bad control record key of {} bytes", key.len()));
    }
    let Some(control_type) = ControlRecordType::from_type_id(read_i16(key, 2)) else {
        return Ok(None);
    };
    let value = record.value.ok_or("transaction marker without value")?;
    if value.len() < MARKER_VALUE_SIZE || read_i16(value, 0) < 0 {
        return Err(format!(
            "bad transaction marker value of {} bytes",
            value.len()
        ));
    }
    let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    Ok(Some(EndTxnMarker {
        control_type,
        coordinator_epoch,
    }))
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    const PID: i64 = 7_000_000_001;

    fn marker(control_type: ControlRecordType, coordinator_epoch: i32) -> EndTxnMarker {
        EndTxnMarker {
            control_type,
            coordinator_epoch,
        }
    }

    #[test]
    fn kafka_protocol_decodes_a_marker_as_a_control_batch() {
        for (control_type, type_id) in [
            (ControlRecordType::Abort, 0),
            (ControlRecordType::Commit, 1),
        ] {
            let bytes = encode_marker_batch(PID, 3, marker(control_type, 17), 1_234);
            assert_eq!(bytes.len(), 78, "61-byte header and a 17-byte record");
            let header = BatchHeader::parse(&bytes).unwrap();
            assert_eq!(header.crc, batch::compute_crc(&bytes));
            assert!(header.is_control() && header.is_transactional());
            assert_eq!(header.compression_codec(), 0);
            assert_eq!(header.base_sequence, -1);

            let mut buf = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            assert_eq!(set.records.len(), 1);
            let record = &set.records[0];
            assert!(record.control && record.transactional);
            assert_eq!((record.producer_id, record.producer_epoch), (PID, 3));
            assert_eq!((record.offset, record.timestamp), (0, 1_234));
            assert_eq!(record.sequence, -1);
            let mut key = vec![0, 0];
            key.extend_from_slice(&(type_id as i16).to_be_bytes());
            assert_eq!(record.key.as_deref(), Some(&key[..]));
            assert_eq!(
                record.value.as_deref(),
                Some(&[0u8, 0, 0, 0, 0, 17][..]),
                "version 0, coordinator epoch 17"
            );
            assert!(record.headers.is_empty());
        }
    }

    #[test]
    fn read_marker_is_the_inverse_of_encoding() {
        for m in [
            marker(ControlRecordType::Abort, 0),
            marker(ControlRecordType::Commit, i32::MAX),
        ] {
            let bytes = encode_marker_batch(PID, 0, m, 1);
            let header = BatchHeader::parse(&bytes).unwrap();
            assert_eq!(read_marker(&bytes, &header), Ok(Some(m)));
        }
    }

    #[test]
    fn read_marker_refuses_damage_and_ignores_other_control_types() {
        let bytes = encode_marker_batch(PID, 0, marker(ControlRecordType::Abort, 1), 1);
        let header = BatchHeader::parse(&bytes).unwrap();
        let key_type_at = RECORD_BATCH_OVERHEAD + 1 + 3 + 1 + 2;
        let mut leader_change = bytes.to_vec();
        leader_change[key_type_at + 1] = 2;
        assert_eq!(read_marker(&leader_change, &header), Ok(None));
        let mut negative_version = bytes.to_vec();
        negative_version[key_type_at - 2] = 0xff;
        assert!(read_marker(&negative_version, &header).is_err());
        let mut data = header;
        data.attributes = 0x10;
        assert!(read_marker(&bytes, &data).is_err());
        assert!(read_marker(&bytes[..70], &header).is_err());
    }
}
