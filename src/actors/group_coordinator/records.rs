//! The records a `GroupCoordinator` writes to its `__consumer_offsets` partitions, modelled on
//! Kafka's layout: the key starts with an int16 version that says what it is (1: a committed
//! offset keyed by group, topic and partition; 2: group metadata keyed by group), so that
//! compaction keeps the latest record per key. Values are JSON (Troupe's own value format);
//! a null value is a tombstone (offset or group deleted).
//!
//! TxnOffsetCommit writes its offset records in a transactional batch (the producer's id and
//! epoch, the transactional bit) as Kafka does; they count only once a COMMIT marker of that
//! producer follows in the same partition, which replay (`decode_batches`) reports as
//! [`LoadedEntry::Marker`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::RecordBatchDecoder;
use serde::{Deserialize, Serialize};

use super::coordinator::CommittedOffset;
use super::group::GroupMetadataSnapshot;
use crate::storage::batch_builder::{build_batch, NewRecord};

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        value: Option<GroupMetadataSnapshot>,
    },
}

#[derive(Serialize, Deserialize)]
struct OffsetValue {
    offset: i64,
    leader_epoch: i32,
    metadata: Option<String>,
    commit_timestamp_ms: i64,
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len().min(i16::MAX as usize) as i16);
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

fn get_string(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 || buf.remaining() < len as usize {
        return None;
    }
    String::from_utf8(buf.split_to(len as usize).to_vec()).ok()
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut b, group);
    put_string(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_KEY_VERSION);
    put_string(&mut b, group);
    b.freeze()
}

pub fn offset_value(c: &CommittedOffset) -> Bytes {
    let v = OffsetValue {
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata: c.metadata.clone(),
        commit_timestamp_ms: c.commit_timestamp_ms,
    };
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

pub fn group_value(s: &GroupMetadataSnapshot) -> Bytes {
    Bytes::from(serde_json::to_vec(s).unwrap_or_default())
}

/// Decodes one record; unknown or malformed records are skipped (None), never fatal.
pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Option<OffsetsRecord> {
    let mut key = key?.clone();
    if key.remaining() < 2 {
        return None;
    }
    match key.get_i16() {
        OFFSET_KEY_VERSION | 0 => {
            let group = get_string(&mut key)?;
            let topic = get_string(&mut key)?;
            if key.remaining() < 4 {
                return None;
            }
            let partition = key.get_i32();
            let value = match value {
                None => None,
                Some(v) => {
                    let v: OffsetValue = serde_json::from_slice(v).ok()?;
                    Some(CommittedOffset {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp_ms: v.commit_timestamp_ms,
                    })
                }
            };
            Some(OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            })
        }
        GROUP_KEY_VERSION => {
            let group = get_string(&mut key)?;
            let value = match value {
                None => None,
                Some(v) => Some(serde_json::from_slice(v).ok()?),
            };
            Some(OffsetsRecord::Group { group, value })
        }
        _ => None,
    }
}

/// One uncompressed record batch holding these key/value pairs.
pub fn batch(entries: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Bytes {
    encode(entries, now_ms, None)
}

/// One transactional batch of a TxnOffsetCommit: the producer's id and epoch, the
/// transactional bit, and no sequence numbers (base sequence -1). A coordinator's write is not
/// a client's, so there is no sequence to check (Kafka appends it with the coordinator origin,
/// which skips sequence validation).
pub fn txn_batch(
    entries: &[(Bytes, Option<Bytes>)],
    producer_id: i64,
    producer_epoch: i16,
    now_ms: i64,
) -> Bytes {
    encode(entries, now_ms, Some((producer_id, producer_epoch)))
}

fn encode(entries: &[(Bytes, Option<Bytes>)], now_ms: i64, producer: Option<(i64, i16)>) -> Bytes {
    let records = entries.iter().map(|(key, value)| NewRecord {
        key: Some(key.clone()),
        value: value.clone(),
        headers: &[],
    });
    // An empty batch comes back empty, and the log refuses it, which the caller reports.
    build_batch(records, now_ms, producer).unwrap_or_default()
}

/// One entry read back from `__consumer_offsets`, in log order.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedEntry {
    /// A group or offset record. `batch_offset`: its batch's first offset (which of two
    /// commits is newer). `txn_producer_id`: set when the batch is transactional, i.e. a
    /// TxnOffsetCommit that waits for its producer's marker.
    Record {
        record: OffsetsRecord,
        batch_offset: i64,
        txn_producer_id: Option<i64>,
    },
    /// A transaction marker (control batch): the producer's pending offsets in this partition
    /// are committed or dropped.
    Marker { producer_id: i64, commit: bool },
}

/// The control record key: int16 version, int16 type (0 = ABORT, 1 = COMMIT). Other types
/// are not transaction markers.
fn marker_commit(key: Option<&Bytes>) -> Option<bool> {
    let key = key?;
    if key.len() < 4 {
        return None;
    }
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Decodes every record in stored batches (as read from the log) into `LoadedEntry`s, with
/// the offset after the last record seen (where the next read starts).
pub fn decode_batches(mut bytes: Bytes) -> (Vec<LoadedEntry>, Option<i64>) {
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
        return (Vec::new(), None);
    };
    let mut decoded = Vec::new();
    let mut next = None;
    for set in &sets {
        let Some(batch_offset) = set.records.iter().map(|r| r.offset).min() else {
            continue;
        };
        for r in &set.records {
            next = next.max(Some(r.offset + 1));
            if r.control {
                if let Some(commit) = marker_commit(r.key.as_ref()) {
                    decoded.push(LoadedEntry::Marker {
                        producer_id: r.producer_id,
                        commit,
                    });
                }
                continue;
            }
            if let Some(record) = decode(r.key.as_ref(), r.value.as_ref()) {
                decoded.push(LoadedEntry::Record {
                    record,
                    batch_offset,
                    txn_producer_id: r.transactional.then_some(r.producer_id),
                });
            }
        }
    }
    (decoded, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::group_coordinator::group::{GroupState, MemberSnapshot};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    #[test]
    fn offsets_and_group_metadata_round_trip_through_a_batch() {
        let committed = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: Some("m".into()),
            commit_timestamp_ms: 5,
        };
        let snapshot = GroupMetadataSnapshot {
            group_id: "g".into(),
            state: GroupState::Stable,
            protocol_type: Some("consumer".into()),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader_id: Some("a".into()),
            members: vec![MemberSnapshot {
                member_id: "a".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "h".into(),
                session_timeout_ms: 6000,
                rebalance_timeout_ms: 6000,
                protocols: vec![("range".into(), vec![1, 2])],
                assignment: vec![3],
            }],
            current_state_timestamp_ms: Some(9),
        };
        let b = batch(
            &[
                (offset_key("g", "t", 1), Some(offset_value(&committed))),
                (group_key("g"), Some(group_value(&snapshot))),
                (offset_key("g", "t", 2), None),
            ],
            5,
        );
        let (decoded, next) = decode_batches(b);
        assert_eq!(next, Some(3));
        assert_eq!(decoded.len(), 3);
        let decoded: Vec<OffsetsRecord> = decoded
            .into_iter()
            .map(|e| match e {
                LoadedEntry::Record {
                    record,
                    batch_offset: 0,
                    txn_producer_id: None,
                } => record,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            decoded[0],
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 1,
                value: Some(committed)
            }
        );
        assert_eq!(
            decoded[1],
            OffsetsRecord::Group {
                group: "g".into(),
                value: Some(snapshot)
            }
        );
        assert_eq!(
            decoded[2],
            OffsetsRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: None
            }
        );
    }

    /// A control batch as the partition side writes it: key = version 0, type; value =
    /// version 0, coordinator epoch.
    fn marker(producer_id: i64, commit: bool, offset: i64) -> Bytes {
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 5,
            key: Some(Bytes::from(vec![0, 0, 0, commit as u8])),
            value: Some(Bytes::from_static(b"\x00\x00\x00\x00\x00\x00")),
            headers: Default::default(),
        };
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            [record].iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn transactional_offsets_and_markers_are_told_apart() {
        let committed = CommittedOffset {
            offset: 9,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 5,
        };
        let entries = [
            (offset_key("g", "t", 0), Some(offset_value(&committed))),
            (offset_key("g", "t", 1), Some(offset_value(&committed))),
        ];
        let txn = txn_batch(&entries, 77, 3, 5);
        let header = crate::storage::batch::BatchHeader::parse(&txn).unwrap();
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!(header.producer_id, 77);
        assert_eq!(header.producer_epoch, 3);
        assert_eq!(header.base_sequence, -1, "no sequence numbers");
        assert_eq!(
            header.last_offset_delta, 1,
            "one batch for the whole commit"
        );

        let mut log = BytesMut::new();
        log.extend_from_slice(&txn);
        log.extend_from_slice(&marker(77, true, 2));
        log.extend_from_slice(&marker(78, false, 3));
        let (decoded, next) = decode_batches(log.freeze());
        assert_eq!(next, Some(4));
        assert_eq!(decoded.len(), 4);
        assert!(matches!(
            &decoded[1],
            LoadedEntry::Record {
                batch_offset: 0,
                txn_producer_id: Some(77),
                ..
            }
        ));
        assert_eq!(
            decoded[2],
            LoadedEntry::Marker {
                producer_id: 77,
                commit: true
            }
        );
        assert_eq!(
            decoded[3],
            LoadedEntry::Marker {
                producer_id: 78,
                commit: false
            }
        );
    }

    #[test]
    fn garbage_keys_are_skipped() {
        assert_eq!(
            decode(Some(&Bytes::from_static(b"\x00\x01\x7f")), None),
            None
        );
        assert_eq!(
            decode(Some(&Bytes::from_static(b"\x00\x09abc")), None),
            None
        );
        assert_eq!(decode(None, None), None);
    }
}
