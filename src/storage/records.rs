//! Records inside a v2 record batch, walked as raw bytes.
//!
//! The log normally never looks past a batch header. Two things need the records: a produce to
//! a compacted topic (every record must carry a key) and the log cleaner (which keeps or drops
//! records one by one and re-encodes what it keeps). Both walk the records here, so they agree
//! on what a key is.
//!
//! Records are parsed only as far as offsets, timestamps, key and value presence; everything
//! from the key length on is carried as opaque bytes. Re-encoding a kept record therefore
//! rewrites only its offset and timestamp deltas and leaves key, value and headers byte for
//! byte as the producer sent them (decoding into kafka-protocol `Record`s would merge duplicate
//! header keys and refuse non-UTF-8 ones, both of which Kafka allows). Compression and
//! decompression use kafka-protocol's codecs.
//!
//! Record layout (varints are zigzag-encoded, as in protobuf):
//!
//! ```text
//! length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
//! keyLength varint | key | valueLength varint | value | headerCount varint | headers
//! ```

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};

use super::batch::{self, BatchHeader, ValidatedBatch, RECORD_BATCH_OVERHEAD};
use super::error::StorageError;

/// Longest encoding of a 32-bit varint.
const MAX_VARINT_BYTES: usize = 5;
/// Longest encoding of a 64-bit varint.
const MAX_VARLONG_BYTES: usize = 10;

/// One record of a batch, with the fields the log reasons about decoded and the rest kept raw.
#[derive(Clone, Debug)]
pub struct RawRecord<'a> {
    /// Absolute offset: the batch's base offset plus the record's offset delta.
    pub offset: i64,
    /// Absolute timestamp as the record encodes it (base timestamp plus delta). For a
    /// LogAppendTime batch readers use the batch's max timestamp instead.
    pub timestamp: i64,
    /// The key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a null value: a tombstone, when the record has a key.
    pub value: Option<&'a [u8]>,
    attributes: u8,
    /// The record from its key length to its end, copied unchanged on re-encoding.
    tail: &'a [u8],
}

impl RawRecord<'_> {
    /// A delete marker: a keyed record with a null value.
    pub fn is_tombstone(&self) -> bool {
        self.key.is_some() && self.value.is_none()
    }
}

/// The batch's records section, decompressed when the batch is compressed. `batch` is the whole
/// batch, header included.
/// A decoded record's headers as (key, value) pairs: what the admin CLI prints and what
/// extensions receive.
pub fn header_pairs(
    headers: indexmap::IndexMap<kafka_protocol::protocol::StrBytes, Option<Bytes>>,
) -> Vec<(String, Option<Bytes>)> {
    headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

pub fn records_section<'a>(batch: &'a [u8], header: &BatchHeader) -> Result<Cow<'a, [u8]>, String> {
    let end = usize::try_from(header.size()).map_err(|e| e.to_string())?;
    let section = batch
        .get(RECORD_BATCH_OVERHEAD..end)
        .ok_or_else(|| format!("batch of {} bytes is shorter than it declares", batch.len()))?;
    let mut input = section;
    let unpack = |buf: &mut Bytes| Ok(buf.clone());
    let decompressed = match header.compression_codec() {
        0 => return Ok(Cow::Borrowed(section)),
        1 => codec::Gzip::decompress(&mut input, unpack),
        2 => codec::Snappy::decompress(&mut input, unpack),
        3 => codec::Lz4::decompress(&mut input, unpack),
        4 => codec::Zstd::decompress(&mut input, unpack),
        other => return Err(format!("unknown compression codec {other}")),
    };
    decompressed
        .map(|bytes| Cow::Owned(bytes.to_vec()))
        .map_err(|e| format!("cannot decompress records: {e:#}"))
}

/// Parses all `header.record_count` records of a (decompressed) records section. Every length
/// is checked against the bytes present; offsets must rise and stay inside the batch; nothing
/// may follow the last record.
pub fn parse_records<'a>(
    section: &'a [u8],
    header: &BatchHeader,
) -> Result<Vec<RawRecord<'a>>, String> {
    let count = usize::try_from(header.record_count)
        .map_err(|_| format!("negative record count {}", header.record_count))?;
    // Every record takes at least one byte, so the section bounds the allocation.
    let mut records = Vec::with_capacity(count.min(section.len()));
    let mut position = 0usize;
    let mut previous_delta = -1i64;
    for index in 0..count {
        let (record, offset_delta) = parse_record(section, &mut position, header)
            .map_err(|e| format!("record {index}: {e}"))?;
        if i64::from(offset_delta) <= previous_delta || offset_delta > header.last_offset_delta {
            return Err(format!(
                "record {index} has offset delta {offset_delta}, outside ({previous_delta}, {}]",
                header.last_offset_delta
            ));
        }
        previous_delta = i64::from(offset_delta);
        records.push(record);
    }
    if position != section.len() {
        return Err(format!(
            "{} bytes follow the last of {count} records",
            section.len() - position
        ));
    }
    Ok(records)
}

/// Parses the record at `*position` and moves past it; also returns its offset delta.
fn parse_record<'a>(
    section: &'a [u8],
    position: &mut usize,
    header: &BatchHeader,
) -> Result<(RawRecord<'a>, i32), String> {
    let length = read_varint(section, position)?;
    let length = usize::try_from(length).map_err(|_| format!("negative record length {length}"))?;
    let body = section
        .get(*position..position.saturating_add(length))
        .ok_or_else(|| format!("record of {length} bytes overruns its batch"))?;
    *position += length;

    let attributes = *body.first().ok_or("empty record")?;
    let mut at = 1usize;
    let timestamp_delta = read_varlong(body, &mut at)?;
    let offset_delta = read_varint(body, &mut at)?;
    let tail = &body[at..];
    let key = read_nullable_bytes(body, &mut at).map_err(|e| format!("key: {e}"))?;
    let value = read_nullable_bytes(body, &mut at).map_err(|e| format!("value: {e}"))?;
    let timestamp = header
        .base_timestamp
        .checked_add(timestamp_delta)
        .ok_or("timestamp delta overflows")?;
    let record = RawRecord {
        offset: header.base_offset + i64::from(offset_delta),
        timestamp,
        key,
        value,
        attributes,
        tail,
    };
    Ok((record, offset_delta))
}

/// A varint length followed by that many bytes; length -1 is null.
fn read_nullable_bytes<'a>(
    buf: &'a [u8],
    position: &mut usize,
) -> Result<Option<&'a [u8]>, String> {
    let length = read_varint(buf, position)?;
    if length == -1 {
        return Ok(None);
    }
    let length = usize::try_from(length).map_err(|_| format!("negative length {length}"))?;
    let bytes = buf
        .get(*position..position.saturating_add(length))
        .ok_or_else(|| format!("{length} bytes overrun the record"))?;
    *position += length;
    Ok(Some(bytes))
}

/// A compacted log keeps the latest record per key, so a record without a key has no place in
/// it; Kafka refuses the whole produce with INVALID_RECORD. Records that cannot be decoded are
/// CORRUPT_MESSAGE. `payload` is the produce payload the batches were validated from.
pub fn require_keys(payload: &[u8], batches: &[ValidatedBatch]) -> Result<(), StorageError> {
    for (n, validated) in batches.iter().enumerate() {
        let batch = &payload[validated.range()];
        match first_keyless_record(batch, &validated.header) {
            Ok(None) => {}
            Ok(Some(index)) => {
                return Err(StorageError::InvalidRecord(format!(
                "Compacted topic cannot accept message without key (record {index} of batch {n})"
            )))
            }
            Err(reason) => {
                return Err(StorageError::CorruptMessage(format!("batch {n}: {reason}")))
            }
        }
    }
    Ok(())
}

/// For a produce to a compacted topic: the index of the first record of the batch whose key is
/// null, if any. Control batches are the broker's own transaction markers and always keyed.
pub fn first_keyless_record(batch: &[u8], header: &BatchHeader) -> Result<Option<usize>, String> {
    if header.is_control() {
        return Ok(None);
    }
    let section = records_section(batch, header)?;
    let records = parse_records(&section, header)?;
    Ok(records.iter().position(|record| record.key.is_none()))
}

/// Encodes the records a cleaner kept from `original` as one batch, the way Kafka's cleaner
/// rebuilds a filtered batch: the base offset becomes the first kept offset while the batch
/// still ends at the original last offset (so lastOffsetDelta covers the dropped tail and the
/// record count is smaller than the offset span); producer id, epoch, base sequence, partition
/// leader epoch and attributes (codec, timestamp type, transactional flag) are kept. Under
/// CreateTime the base timestamp becomes the first kept record's and the max timestamp the kept
/// records' largest; a LogAppendTime batch keeps both, since its records' own timestamps mean
/// nothing. `kept` must be non-empty and in offset order.
pub fn encode_retained_batch(
    original: &BatchHeader,
    kept: &[RawRecord<'_>],
) -> Result<Vec<u8>, String> {
    let first = kept.first().ok_or("no records to encode")?;
    let base_offset = first.offset;
    let log_append_time = original.is_log_append_time();
    let (base_timestamp, max_timestamp) = if log_append_time {
        (original.base_timestamp, original.max_timestamp)
    } else {
        let max = kept
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(first.timestamp);
        (first.timestamp, max)
    };

    let mut section = Vec::new();
    for record in kept {
        encode_record(&mut section, record, base_offset, base_timestamp)?;
    }
    let mut batch = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + section.len());
    batch.resize(RECORD_BATCH_OVERHEAD, 0);
    compress_into(original.compression_codec(), &section, &mut batch)?;

    let header = BatchHeader {
        base_offset,
        batch_length: i32::try_from(batch.len() - batch::LOG_OVERHEAD)
            .map_err(|_| "re-encoded batch exceeds 2 GiB")?,
        last_offset_delta: i32::try_from(original.last_offset() - base_offset)
            .map_err(|_| "offset span exceeds a 32-bit delta")?,
        base_timestamp,
        max_timestamp,
        record_count: i32::try_from(kept.len()).map_err(|_| "too many records")?,
        crc: 0,
        ..*original
    };
    header.write_to(&mut batch[..RECORD_BATCH_OVERHEAD]);
    batch::write_crc(&mut batch);
    Ok(batch.to_vec())
}

/// Appends one record re-based on a new base offset and base timestamp.
fn encode_record(
    out: &mut Vec<u8>,
    record: &RawRecord<'_>,
    base_offset: i64,
    base_timestamp: i64,
) -> Result<(), String> {
    let offset_delta =
        i32::try_from(record.offset - base_offset).map_err(|_| "offset delta exceeds 32 bits")?;
    let timestamp_delta = record
        .timestamp
        .checked_sub(base_timestamp)
        .ok_or("timestamp delta overflows")?;
    let mut body = Vec::with_capacity(1 + MAX_VARLONG_BYTES + MAX_VARINT_BYTES + record.tail.len());
    body.push(record.attributes);
    write_varlong(&mut body, timestamp_delta);
    write_varint(&mut body, offset_delta);
    body.extend_from_slice(record.tail);
    let length = i32::try_from(body.len()).map_err(|_| "record exceeds 2 GiB")?;
    write_varint(out, length);
    out.extend_from_slice(&body);
    Ok(())
}

/// Appends `section` to `out`, compressed with the batch codec `codec`.
fn compress_into(codec: i16, section: &[u8], out: &mut BytesMut) -> Result<(), String> {
    let fill = |buf: &mut BytesMut| {
        buf.extend_from_slice(section);
        Ok(())
    };
    let result = match codec {
        0 => {
            out.extend_from_slice(section);
            Ok(())
        }
        1 => codec::Gzip::compress(out, fill),
        2 => codec::Snappy::compress(out, fill),
        3 => codec::Lz4::compress(out, fill),
        4 => codec::Zstd::compress(out, fill),
        other => return Err(format!("unknown compression codec {other}")),
    };
    result.map_err(|e| format!("cannot compress records: {e:#}"))
}

/// Reads an unsigned little-endian base-128 number of at most `max_bytes` bytes.
fn read_unsigned_varint(buf: &[u8], position: &mut usize, max_bytes: usize) -> Result<u64, String> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *buf.get(*position).ok_or("data ends inside a varint")?;
        *position += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("varint longer than {max_bytes} bytes"))
}

/// Reads a zigzag-encoded 32-bit varint.
fn read_varint(buf: &[u8], position: &mut usize) -> Result<i32, String> {
    let raw = read_unsigned_varint(buf, position, MAX_VARINT_BYTES)?;
    let raw = u32::try_from(raw).map_err(|_| "varint exceeds 32 bits".to_string())?;
    Ok((raw >> 1) as i32 ^ -((raw & 1) as i32))
}

/// Reads a zigzag-encoded 64-bit varint.
fn read_varlong(buf: &[u8], position: &mut usize) -> Result<i64, String> {
    let raw = read_unsigned_varint(buf, position, MAX_VARLONG_BYTES)?;
    Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
}

fn write_unsigned_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned_varint(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_support::encode_keyed_batch;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};

    /// A batch whose records section is `section` (header fields beyond codec and length
    /// unset), for decompression tests.
    fn batch_with_section(codec: i16, section: &[u8]) -> (Vec<u8>, BatchHeader) {
        let mut batch = vec![0u8; RECORD_BATCH_OVERHEAD];
        batch.extend_from_slice(section);
        let header = BatchHeader {
            base_offset: 0,
            batch_length: (batch.len() - crate::storage::batch::LOG_OVERHEAD) as i32,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: codec,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 1,
        };
        (batch, header)
    }

    #[test]
    fn decompression_bombs_are_refused_not_inflated() {
        use bytes::BufMut;
        use kafka_protocol::compression::{Compressor, Zstd, MAX_DECOMPRESSED_BYTES};
        // A few hundred kilobytes of zstd that inflate past the cap.
        let mut compressed = bytes::BytesMut::new();
        Zstd::compress(&mut compressed, |buf| -> anyhow::Result<()> {
            buf.put_bytes(0, MAX_DECOMPRESSED_BYTES + 1);
            Ok(())
        })
        .unwrap();
        assert!(compressed.len() < 1 << 20);
        let (batch, header) = batch_with_section(4, &compressed);
        let err = records_section(&batch, &header).unwrap_err();
        assert!(err.contains("more than"), "{err}");

        // Raw snappy whose header claims four gigabytes: refused before allocating.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0];
        let (batch, header) = batch_with_section(2, &claim);
        assert!(records_section(&batch, &header).is_err());
    }

    /// A parsed record as the tests compare it: offset, timestamp, key, has value.
    type Parsed = (i64, i64, Option<Vec<u8>>, bool);

    fn parse_all(batch: &[u8]) -> (BatchHeader, Vec<Parsed>) {
        let header = BatchHeader::parse(batch).unwrap();
        let section = records_section(batch, &header).unwrap();
        let records = parse_records(&section, &header)
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.offset,
                    r.timestamp,
                    r.key.map(<[u8]>::to_vec),
                    r.value.is_some(),
                )
            })
            .collect();
        (header, records)
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for value in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            write_varint(&mut buf, value);
            let mut at = 0;
            assert_eq!(read_varint(&buf, &mut at).unwrap(), value);
            assert_eq!(at, buf.len());
        }
        for value in [0, -1, 1 << 40, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            write_varlong(&mut buf, value);
            let mut at = 0;
            assert_eq!(read_varlong(&buf, &mut at).unwrap(), value);
        }
        assert!(read_varint(&[0x80, 0x80], &mut 0).is_err(), "truncated");
        assert!(read_varint(&[0xff; 6], &mut 0).is_err(), "too long");
    }

    #[test]
    fn parses_keys_values_and_timestamps_of_every_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = encode_keyed_batch(
                &[
                    (Some("a"), Some("1"), 100),
                    (None, Some("2"), 90),
                    (Some("c"), None, 120),
                ],
                compression,
            );
            let (header, records) = parse_all(&batch);
            assert_eq!(header.record_count, 3);
            assert_eq!(
                records,
                [
                    (0, 100, Some(b"a".to_vec()), true),
                    (1, 90, None, true),
                    (2, 120, Some(b"c".to_vec()), false),
                ],
                "{compression:?}"
            );
            assert_eq!(first_keyless_record(&batch, &header).unwrap(), Some(1));
        }
    }

    #[test]
    fn garbled_records_are_errors_not_panics() {
        let batch = encode_keyed_batch(&[(Some("k"), Some("value"), 1)], Compression::None);
        let header = BatchHeader::parse(&batch).unwrap();
        for i in RECORD_BATCH_OVERHEAD..batch.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut garbled = batch.to_vec();
                garbled[i] ^= flip;
                if let Ok(section) = records_section(&garbled, &header) {
                    let _ = parse_records(&section, &header);
                }
            }
        }
        let short = &batch[..batch.len() - 1];
        assert!(records_section(short, &header).is_err());
        let mut lying = header;
        lying.record_count = 2;
        lying.last_offset_delta = 1;
        let section = records_section(&batch, &lying).unwrap();
        assert!(
            parse_records(&section, &lying).is_err(),
            "fewer records than counted"
        );
    }

    #[test]
    fn re_encoded_batch_keeps_the_span_and_decodes_back() {
        for compression in [Compression::None, Compression::Lz4, Compression::Gzip] {
            let mut batch = encode_keyed_batch(
                &[
                    (Some("a"), Some("1"), 100),
                    (Some("b"), Some("2"), 300),
                    (Some("c"), None, 200),
                    (Some("d"), Some("4"), 400),
                ],
                compression,
            )
            .to_vec();
            batch::write_base_offset(&mut batch, 50);
            let mut header = BatchHeader::parse(&batch).unwrap();
            header.producer_id = 7;
            header.producer_epoch = 3;
            header.base_sequence = 11;
            header.partition_leader_epoch = 5;
            header.write_to(&mut batch);
            batch::write_crc(&mut batch);
            let section = records_section(&batch, &header).unwrap();
            let records = parse_records(&section, &header).unwrap();
            let kept = [records[1].clone(), records[2].clone()];

            let encoded = encode_retained_batch(&header, &kept).unwrap();
            let new = BatchHeader::parse(&encoded).unwrap();
            assert_eq!(new.size(), encoded.len() as u64);
            assert_eq!(new.base_offset, 51);
            assert_eq!(new.last_offset(), 53, "still ends where the original ended");
            assert_eq!(new.record_count, 2);
            assert_eq!(new.base_timestamp, 300);
            assert_eq!(new.max_timestamp, 300);
            assert_eq!(new.compression_codec(), header.compression_codec());
            assert_eq!(
                (new.producer_id, new.producer_epoch, new.base_sequence),
                (7, 3, 11)
            );
            assert_eq!(new.partition_leader_epoch, 5);
            assert_eq!(new.crc, batch::compute_crc(&encoded));

            // kafka-protocol's decoder (which checks the CRC) sees the same records.
            let mut bytes = Bytes::from(encoded);
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            let seen: Vec<_> = set
                .records
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(
                seen,
                [
                    (51, 300, Some(Bytes::from("b")), Some(Bytes::from("2"))),
                    (52, 200, Some(Bytes::from("c")), None),
                ]
            );
            assert_eq!(
                set.records[0].headers.get(&StrBytes::from_static_str("h")),
                Some(&Some(Bytes::from("header-1")))
            );
        }
    }
}
