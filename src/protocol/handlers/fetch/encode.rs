//! The Fetch response encoded by the project itself, so record batches are never copied into
//! a response buffer: the fields around each partition's records are encoded here and the
//! records stay file ranges that the connection sends with `sendfile(2)`.
//!
//! Covers the versions Troupe serves (4–12) and the fields it sets, the tagged
//! `current_leader` (KIP-951) included, so one moved partition does not pull every other
//! partition's records into memory. Anything else (a field
//! this encoder does not write, unknown tagged fields, another version) falls back to
//! `kafka-protocol`'s encoder over the records read into memory, so the bytes on the wire are
//! the same either way; the tests compare the two byte for byte.
//!
//! One function walks the response into a `Sink`; it runs twice, once counting (the frame's
//! length prefix comes first) and once writing.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::fetch_response::{LeaderIdAndEpoch, PartitionData};
use kafka_protocol::messages::FetchResponse;

use crate::protocol::response::{ResponseFrame, ResponsePart};
use crate::protocol::{encode_response, ProtocolError};
use crate::storage::FileSlice;

/// Versions this encoder writes itself.
const ZERO_COPY_VERSIONS: std::ops::RangeInclusive<i16> = 4..=12;
/// From this version on the response is flexible (compact arrays, tagged fields).
const FIRST_FLEXIBLE: i16 = 12;

/// One partition's records: `None` encodes a null record set.
pub type PartitionRecords = Option<Vec<FileSlice>>;

/// Encodes `response` behind its length prefix. `records` holds each partition's records in
/// response order (topic by topic, partition by partition); the partitions' own `records`
/// fields are ignored.
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
    records: &[PartitionRecords],
) -> Result<ResponseFrame, ProtocolError> {
    let partitions: usize = response.responses.iter().map(|t| t.partitions.len()).sum();
    if partitions != records.len() {
        return Err(ProtocolError::Encode(format!(
            "fetch response has {partitions} partitions but {} record sets",
            records.len()
        )));
    }
    if !encodable_here(response, version) {
        return encode_materialized(correlation_id, version, response, records);
    }
    let mut count = Counter::default();
    walk(&mut count, correlation_id, version, response, records);
    let mut frame = Frame::with_capacity(count.encoded);
    frame.buf.put_i32(count.total as i32);
    walk(&mut frame, correlation_id, version, response, records);
    Ok(frame.finish())
}

/// True when every field set in `response` is one this encoder writes.
fn encodable_here(response: &FetchResponse, version: i16) -> bool {
    ZERO_COPY_VERSIONS.contains(&version)
        && response.unknown_tagged_fields.is_empty()
        && response.node_endpoints.is_empty()
        && response.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.partitions.iter().all(|p| {
                    plain_partition(p)
                        && p.aborted_transactions.as_ref().is_none_or(|txns| {
                            txns.iter().all(|a| a.unknown_tagged_fields.is_empty())
                        })
                })
        })
}

/// No tagged field set but `current_leader` (diverging epoch, snapshot id, unknown ones).
fn plain_partition(p: &PartitionData) -> bool {
    let default = PartitionData::default();
    p.unknown_tagged_fields.is_empty()
        && p.diverging_epoch == default.diverging_epoch
        && p.current_leader.unknown_tagged_fields.is_empty()
        && p.snapshot_id == default.snapshot_id
}

/// The ordinary path: records read into the response, `kafka-protocol` encodes it.
fn encode_materialized(
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
    records: &[PartitionRecords],
) -> Result<ResponseFrame, ProtocolError> {
    let mut response = response.clone();
    let mut sets = records.iter();
    for topic in &mut response.responses {
        for p in &mut topic.partitions {
            p.records = match sets.next().cloned().flatten() {
                None => None,
                Some(slices) => Some(
                    ResponseFrame::from_parts(slices.into_iter().map(ResponsePart::File).collect())
                        .to_bytes()
                        .map_err(|e| ProtocolError::Encode(format!("reading records: {e}")))?,
                ),
            };
        }
    }
    encode_response(correlation_id, version, &response).map(ResponseFrame::from)
}

/// Where the walk writes.
trait Sink {
    fn bytes(&mut self, b: &[u8]);
    fn records(&mut self, slices: &[FileSlice]);

    fn i16(&mut self, v: i16) {
        self.bytes(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    fn uvarint(&mut self, mut v: u32) {
        let mut out = [0u8; 5];
        let mut n = 0;
        while v >= 0x80 {
            out[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        out[n] = v as u8;
        self.bytes(&out[..=n]);
    }
    /// An array's (or nullable array's) length: INT32 (-1 for null), or compact
    /// UNSIGNED_VARINT of length + 1 (0 for null).
    fn array_len(&mut self, flexible: bool, len: Option<usize>) {
        match (flexible, len) {
            (false, None) => self.i32(-1),
            (false, Some(n)) => self.i32(n as i32),
            (true, None) => self.uvarint(0),
            (true, Some(n)) => self.uvarint(n as u32 + 1),
        }
    }
    fn string(&mut self, flexible: bool, s: &str) {
        if flexible {
            self.uvarint(s.len() as u32 + 1);
        } else {
            self.i16(s.len() as i16);
        }
        self.bytes(s.as_bytes());
    }
    /// No tagged fields.
    fn no_tags(&mut self, flexible: bool) {
        if flexible {
            self.uvarint(0);
        }
    }
}

fn walk(
    sink: &mut impl Sink,
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
    records: &[PartitionRecords],
) {
    let flexible = version >= FIRST_FLEXIBLE;
    // Response header (v1 for flexible versions: correlation id + tagged fields).
    sink.i32(correlation_id);
    sink.no_tags(flexible);
    sink.i32(response.throttle_time_ms);
    if version >= 7 {
        sink.i16(response.error_code);
        sink.i32(response.session_id);
    }
    let mut sets = records.iter();
    sink.array_len(flexible, Some(response.responses.len()));
    for topic in &response.responses {
        sink.string(flexible, topic.topic.as_str());
        sink.array_len(flexible, Some(topic.partitions.len()));
        for p in &topic.partitions {
            sink.i32(p.partition_index);
            sink.i16(p.error_code);
            sink.i64(p.high_watermark);
            sink.i64(p.last_stable_offset);
            if version >= 5 {
                sink.i64(p.log_start_offset);
            }
            let aborted = p.aborted_transactions.as_ref();
            sink.array_len(flexible, aborted.map(Vec::len));
            for a in aborted.into_iter().flatten() {
                sink.i64(a.producer_id.0);
                sink.i64(a.first_offset);
                sink.no_tags(flexible);
            }
            if version >= 11 {
                sink.i32(p.preferred_read_replica.0);
            }
            match sets.next().and_then(Option::as_ref) {
                None => sink.array_len(flexible, None),
                Some(slices) => {
                    let len: usize = slices.iter().map(|s| s.len as usize).sum();
                    sink.array_len(flexible, Some(len));
                    sink.records(slices);
                }
            }
            partition_tags(sink, flexible, p);
        }
        sink.no_tags(flexible);
    }
    sink.no_tags(flexible);
}

/// A partition's tagged fields: `current_leader` (tag 1) when set, as `kafka-protocol` writes
/// it (a default one is left out); none in versions before the first flexible one.
fn partition_tags(sink: &mut impl Sink, flexible: bool, p: &PartitionData) {
    if !flexible || p.current_leader == LeaderIdAndEpoch::default() {
        sink.no_tags(flexible);
        return;
    }
    const CURRENT_LEADER_TAG: u32 = 1;
    // leader id, leader epoch, and the struct's own (empty) tagged fields.
    const CURRENT_LEADER_SIZE: u32 = 4 + 4 + 1;
    sink.uvarint(1);
    sink.uvarint(CURRENT_LEADER_TAG);
    sink.uvarint(CURRENT_LEADER_SIZE);
    sink.i32(p.current_leader.leader_id.0);
    sink.i32(p.current_leader.leader_epoch);
    sink.no_tags(true);
}

/// Counts the frame: everything after the length prefix, and the encoded (non-record) part.
#[derive(Default)]
struct Counter {
    total: usize,
    encoded: usize,
}

impl Sink for Counter {
    fn bytes(&mut self, b: &[u8]) {
        self.total += b.len();
        self.encoded += b.len();
    }
    fn records(&mut self, slices: &[FileSlice]) {
        self.total += slices.iter().map(|s| s.len as usize).sum::<usize>();
    }
}

/// Builds the parts: encoded bytes accumulate in one buffer, split off at each file range.
struct Frame {
    buf: BytesMut,
    parts: Vec<ResponsePart>,
}

impl Frame {
    fn with_capacity(encoded: usize) -> Frame {
        Frame {
            buf: BytesMut::with_capacity(4 + encoded),
            parts: Vec::new(),
        }
    }

    fn finish(mut self) -> ResponseFrame {
        if !self.buf.is_empty() {
            self.parts
                .push(ResponsePart::Bytes(self.buf.split().freeze()));
        }
        ResponseFrame::from_parts(self.parts)
    }
}

impl Sink for Frame {
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn records(&mut self, slices: &[FileSlice]) {
        for s in slices.iter().filter(|s| s.len > 0) {
            if !self.buf.is_empty() {
                self.parts
                    .push(ResponsePart::Bytes(self.buf.split().freeze()));
            }
            self.parts.push(ResponsePart::File(s.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    /// A file holding `chunks` back to back, and a slice over each chunk.
    fn slices_over(chunks: &[&[u8]]) -> (tempfile::NamedTempFile, Vec<FileSlice>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"header-bytes-before-the-batches").unwrap();
        let mut position = 31u64;
        let file = Arc::new(f.reopen().unwrap());
        let mut slices = Vec::new();
        for c in chunks {
            f.write_all(c).unwrap();
            slices.push(FileSlice {
                file: file.clone(),
                position,
                len: c.len() as u32,
            });
            position += c.len() as u64;
        }
        f.flush().unwrap();
        (f, slices)
    }

    fn partition(index: i32, hw: i64, aborted: Option<Vec<AbortedTransaction>>) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(hw)
            .with_last_stable_offset(hw - 1)
            .with_log_start_offset(3)
            .with_aborted_transactions(aborted)
            .with_preferred_read_replica(BrokerId(-1))
    }

    fn topic(name: &str, partitions: Vec<PartitionData>) -> FetchableTopicResponse {
        FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_string(name.to_string())))
            .with_partitions(partitions)
    }

    /// A response with two topics, records in one, two and no slices, a null record set (an
    /// error partition) and aborted transactions present, empty and absent.
    fn sample() -> (
        FetchResponse,
        Vec<PartitionRecords>,
        tempfile::NamedTempFile,
    ) {
        let batch_a = vec![7u8; 300];
        let batch_b: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let batch_c = b"c".repeat(129);
        let (file, slices) = slices_over(&[&batch_a, &batch_b, &batch_c]);
        let aborted = vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(42))
            .with_first_offset(17)];
        let response = FetchResponse::default()
            .with_throttle_time_ms(5)
            .with_session_id(0)
            .with_responses(vec![
                topic(
                    "orders",
                    vec![
                        partition(0, 100, Some(aborted)),
                        partition(1, 50, Some(Vec::new())),
                        partition(2, 9, None).with_error_code(1),
                    ],
                ),
                topic("é-topic", vec![partition(4, 1000, None)]),
            ]);
        let records = vec![
            Some(vec![slices[0].clone()]),
            Some(vec![slices[1].clone(), slices[2].clone()]),
            None,
            Some(Vec::new()),
        ];
        (response, records, file)
    }

    /// What `kafka-protocol` encodes for the same response with the records in memory.
    fn ordinary(version: i16, response: &FetchResponse, records: &[PartitionRecords]) -> Bytes {
        let mut response = response.clone();
        let mut sets = records.iter();
        for t in &mut response.responses {
            for p in &mut t.partitions {
                p.records = sets.next().unwrap().as_ref().map(|slices| {
                    let mut b = Vec::new();
                    for s in slices {
                        b.extend_from_slice(&s.read_bytes().unwrap());
                    }
                    Bytes::from(b)
                });
            }
        }
        encode_response(99, version, &response).unwrap()
    }

    /// The zero-copy encoding of `response` keeps each of the sample's three batches a file
    /// range and writes exactly the ordinary encoder's bytes.
    fn assert_file_ranges_and_same_bytes(
        version: i16,
        response: &FetchResponse,
        records: &[PartitionRecords],
        what: &str,
    ) {
        let frame = encode_fetch_response(99, version, response, records).unwrap();
        let file_parts = frame
            .parts()
            .iter()
            .filter(|p| matches!(p, ResponsePart::File(_)))
            .count();
        assert_eq!(file_parts, 3, "{what}: every batch stays a file range");
        let expected = ordinary(version, response, records);
        assert_eq!(frame.len(), expected.len(), "{what}");
        assert_eq!(frame.to_bytes().unwrap(), expected, "{what}");
    }

    #[test]
    fn same_bytes_as_the_ordinary_encoder_in_every_served_version() {
        let (mut response, records, _file) = sample();
        for version in 4..=12 {
            if version < 7 {
                response.session_id = 0;
            }
            assert_file_ranges_and_same_bytes(version, &response, &records, &format!("v{version}"));
        }
    }

    #[test]
    fn a_current_leader_keeps_the_records_file_ranges_and_the_same_bytes() {
        let (response, records, _file) = sample();
        let leader = LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(3))
            .with_leader_epoch(300);
        // On the error partition, as the handler sets it, and on one with records.
        for at in [(0, 2), (0, 0)] {
            let mut response = response.clone();
            response.responses[at.0].partitions[at.1].current_leader = leader.clone();
            assert_file_ranges_and_same_bytes(12, &response, &records, &format!("{at:?}"));
        }
        // Only the epoch known: still written, as kafka-protocol writes anything but the default.
        let mut response = response.clone();
        response.responses[1].partitions[0].current_leader =
            LeaderIdAndEpoch::default().with_leader_epoch(4);
        let frame = encode_fetch_response(99, 12, &response, &records).unwrap();
        assert_eq!(frame.to_bytes().unwrap(), ordinary(12, &response, &records));
        // A leader with unknown tagged fields of its own is left to the ordinary encoder.
        response.responses[1].partitions[0].current_leader =
            leader.with_unknown_tagged_field(9, Bytes::from_static(b"x"));
        let frame = encode_fetch_response(99, 12, &response, &records).unwrap();
        assert!(frame
            .parts()
            .iter()
            .all(|p| matches!(p, ResponsePart::Bytes(_))));
        assert_eq!(frame.to_bytes().unwrap(), ordinary(12, &response, &records));
    }

    #[test]
    fn fields_it_does_not_write_fall_back_to_the_ordinary_encoder() {
        let (mut response, records, _file) = sample();
        response.responses[0].partitions[0].diverging_epoch =
            EpochEndOffset::default().with_epoch(3).with_end_offset(40);
        let frame = encode_fetch_response(99, 12, &response, &records).unwrap();
        assert!(frame
            .parts()
            .iter()
            .all(|p| matches!(p, ResponsePart::Bytes(_))));
        assert_eq!(frame.to_bytes().unwrap(), ordinary(12, &response, &records));
    }

    #[test]
    fn a_record_set_per_partition_is_required() {
        let (response, mut records, _file) = sample();
        records.pop();
        assert!(encode_fetch_response(1, 12, &response, &records).is_err());
    }

    #[tokio::test]
    async fn written_to_a_socket_it_arrives_byte_for_byte() {
        use tokio::io::AsyncReadExt;
        let (response, records, _file) = sample();
        let frame = encode_fetch_response(99, 12, &response, &records).unwrap();
        let expected = frame.to_bytes().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_read, mut write) = stream.into_split();
        // Twice, so a frame following a corked one is written intact too.
        frame.write_to(&mut write).await.unwrap();
        frame.write_to(&mut write).await.unwrap();
        drop(write);
        drop(_read);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 2 * expected.len());
        assert_eq!(&got[..expected.len()], &expected[..]);
        assert_eq!(&got[expected.len()..], &expected[..]);
    }
}
