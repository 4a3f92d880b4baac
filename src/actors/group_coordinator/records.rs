//! The records a `GroupCoordinator` writes to its `__consumer_offsets` partitions, modelled on
//! Kafka's layout: the key starts with an int16 version that says what it is (1: a committed
//! offset keyed by group, topic and partition; 2: group metadata keyed by group), so that
//! compaction keeps the latest record per key. Values are JSON (Troupe's own value format);
//! a null value is a tombstone (offset or group deleted).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use super::coordinator::CommittedOffset;
use super::group::GroupMetadataSnapshot;

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
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: now_ms,
            key: Some(k.clone()),
            value: v.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    // Encoding in-memory records of our own cannot fail short of a bug; an empty batch is then
    // refused by the log, which the caller reports.
    let _ = RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    );
    buf.freeze()
}

/// Decodes every record in stored batches (as read from the log) into `OffsetsRecord`s, with
/// the offset after the last record seen (where the next read starts).
pub fn decode_batches(mut bytes: Bytes) -> (Vec<OffsetsRecord>, Option<i64>) {
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
        return (Vec::new(), None);
    };
    let records: Vec<&Record> = sets.iter().flat_map(|set| set.records.iter()).collect();
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
    use crate::actors::group_coordinator::group::{GroupState, MemberSnapshot};

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
