//! The v2 record batch format, as far as the log needs to understand it.
//!
//! The log stores batches exactly as producers sent them. It only ever reads the fixed 61-byte
//! header, rewrites the base offset (which lies outside the CRC) and, for topics that use
//! LogAppendTime, the attributes and timestamps (which lie inside it, so the CRC is recomputed).
//! Everything here works on plain byte slices and checks every length before using it, because
//! the bytes come either from the network or from a file that may have been torn by a crash.
//!
//! Layout (all big-endian):
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset
//!      8     4  batchLength           (bytes after this field)
//!     12     4  partitionLeaderEpoch
//!     16     1  magic                 (2)
//!     17     4  crc                   (CRC-32C of attributes .. end)
//!     21     2  attributes            (bits 0-2 codec, 3 timestamp type, 4 txn, 5 control)
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordCount
//!     61     …  records
//! ```

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::error::StorageError;

/// Position of the batchLength field.
pub const LENGTH_OFFSET: usize = 8;
/// Bytes in front of what batchLength counts (baseOffset and batchLength themselves).
pub const LOG_OVERHEAD: usize = 12;
/// Position of the partitionLeaderEpoch field, which lies outside the CRC-covered range.
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// `partitionLeaderEpoch` of a batch no leader stamped (what producers send).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Position of the magic byte.
pub const MAGIC_OFFSET: usize = 16;
/// Position of the CRC field.
pub const CRC_OFFSET: usize = 17;
/// Position of the attributes field, which is also where the CRC-covered range starts.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Position of the lastOffsetDelta field.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Position of the baseTimestamp field.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Position of the maxTimestamp field.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Position of the producerId field.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Position of the producerEpoch field.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Position of the baseSequence field.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Position of the recordCount field.
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the fixed header; the smallest possible batch (one with no record bytes).
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Smallest legal value of batchLength.
pub const MIN_BATCH_LENGTH: i32 = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;
/// The only message format this broker stores.
pub const MAGIC_V2: i8 = 2;

const COMPRESSION_CODEC_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_LOG_APPEND_BIT: i16 = 0x08;
pub(crate) const TRANSACTIONAL_BIT: i16 = 0x10;
pub(crate) const CONTROL_BIT: i16 = 0x20;
/// zstd is codec 4; 5..=7 are undefined.
const MAX_COMPRESSION_CODEC: i16 = 4;
/// An uncompressed record takes at least 7 bytes (length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, each at least one varint byte). Checking
/// recordCount against this stops a 61-byte batch from claiming two billion offsets.
const MIN_UNCOMPRESSED_RECORD_SIZE: u64 = 7;

/// The fixed-size header of a v2 record batch, decoded but not validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Decodes the header at the start of `buf`, or `None` when fewer than 61 bytes are there.
    /// No field is checked; callers decide which defects matter to them.
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        let header = buf.get(..RECORD_BATCH_OVERHEAD)?;
        Some(BatchHeader {
            base_offset: read_i64(header, 0),
            batch_length: read_i32(header, LENGTH_OFFSET),
            partition_leader_epoch: read_i32(header, LOG_OVERHEAD),
            magic: header[MAGIC_OFFSET] as i8,
            crc: read_i32(header, CRC_OFFSET) as u32,
            attributes: read_i16(header, ATTRIBUTES_OFFSET),
            last_offset_delta: read_i32(header, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: read_i64(header, BASE_TIMESTAMP_OFFSET),
            max_timestamp: read_i64(header, MAX_TIMESTAMP_OFFSET),
            producer_id: read_i64(header, PRODUCER_ID_OFFSET),
            producer_epoch: read_i16(header, PRODUCER_EPOCH_OFFSET),
            base_sequence: read_i32(header, BASE_SEQUENCE_OFFSET),
            record_count: read_i32(header, RECORDS_COUNT_OFFSET),
        })
    }

    /// Writes the header into the first 61 bytes of `buf` (which must be at least that long),
    /// the inverse of [`BatchHeader::parse`]. The CRC is written as stored in `self`.
    pub fn write_to(&self, buf: &mut [u8]) {
        let header = &mut buf[..RECORD_BATCH_OVERHEAD];
        header[..LENGTH_OFFSET].copy_from_slice(&self.base_offset.to_be_bytes());
        header[LENGTH_OFFSET..LOG_OVERHEAD].copy_from_slice(&self.batch_length.to_be_bytes());
        header[LOG_OVERHEAD..MAGIC_OFFSET]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        header[MAGIC_OFFSET] = self.magic as u8;
        header[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&self.crc.to_be_bytes());
        header[ATTRIBUTES_OFFSET..LAST_OFFSET_DELTA_OFFSET]
            .copy_from_slice(&self.attributes.to_be_bytes());
        header[LAST_OFFSET_DELTA_OFFSET..BASE_TIMESTAMP_OFFSET]
            .copy_from_slice(&self.last_offset_delta.to_be_bytes());
        header[BASE_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET]
            .copy_from_slice(&self.base_timestamp.to_be_bytes());
        header[MAX_TIMESTAMP_OFFSET..PRODUCER_ID_OFFSET]
            .copy_from_slice(&self.max_timestamp.to_be_bytes());
        header[PRODUCER_ID_OFFSET..PRODUCER_EPOCH_OFFSET]
            .copy_from_slice(&self.producer_id.to_be_bytes());
        header[PRODUCER_EPOCH_OFFSET..BASE_SEQUENCE_OFFSET]
            .copy_from_slice(&self.producer_epoch.to_be_bytes());
        header[BASE_SEQUENCE_OFFSET..RECORDS_COUNT_OFFSET]
            .copy_from_slice(&self.base_sequence.to_be_bytes());
        header[RECORDS_COUNT_OFFSET..].copy_from_slice(&self.record_count.to_be_bytes());
    }

    /// Total bytes the batch occupies, headers included. A negative batchLength counts as zero
    /// so that the arithmetic never wraps; [`check_framing`] rejects such batches anyway.
    pub fn size(&self) -> u64 {
        LOG_OVERHEAD as u64 + self.batch_length.max(0) as u64
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset the batch after this one starts at.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Compression codec id from the low three attribute bits.
    pub fn compression_codec(&self) -> i16 {
        self.attributes & COMPRESSION_CODEC_MASK
    }

    /// Whether the broker stamped this batch with LogAppendTime, in which case every record's
    /// timestamp is the batch's max timestamp whatever its delta says.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_LOG_APPEND_BIT != 0
    }

    /// Whether the batch belongs to a transaction (which may yet be aborted).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether this is a control batch (transaction markers), which the cleaner copies as is.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
}

/// A batch of a produce request that passed validation, and where it sits in the request.
#[derive(Clone, Copy, Debug)]
pub struct ValidatedBatch {
    pub position: usize,
    pub header: BatchHeader,
}

impl ValidatedBatch {
    /// Byte range of this batch inside the produce payload.
    pub fn range(&self) -> std::ops::Range<usize> {
        // size() is at most 12 + i32::MAX and was checked to fit inside the payload.
        self.position..self.position + self.header.size() as usize
    }
}

/// Checks that batchLength is at least the header size and that the whole batch fits in the
/// `available` bytes starting at the batch. Returns the batch size.
pub fn check_framing(header: &BatchHeader, available: u64) -> Result<u64, String> {
    if header.batch_length < MIN_BATCH_LENGTH {
        return Err(format!(
            "batch length {} is below the minimum of {MIN_BATCH_LENGTH}",
            header.batch_length
        ));
    }
    let size = header.size();
    if size > available {
        return Err(format!(
            "batch declares {size} bytes but only {available} are present"
        ));
    }
    Ok(size)
}

/// Checks that the batch uses message format v2, the only one this broker stores.
pub fn check_magic(header: &BatchHeader) -> Result<(), String> {
    if header.magic != MAGIC_V2 {
        return Err(format!(
            "unsupported magic {} (only v2 record batches are accepted)",
            header.magic
        ));
    }
    Ok(())
}

/// Checks that the record count agrees with the offset delta, because the log assigns offsets
/// from the count and readers compute them from the delta.
pub fn check_record_count(header: &BatchHeader) -> Result<(), String> {
    let count = i64::from(header.record_count);
    if count < 1 {
        return Err(format!("record count {count} is not positive"));
    }
    if count != i64::from(header.last_offset_delta) + 1 {
        return Err(format!(
            "record count {count} does not match last offset delta {}",
            header.last_offset_delta
        ));
    }
    check_fits_uncompressed(header, count)
}

/// Checks the record count of a batch already in the log. The log cleaner may have removed
/// records from the batch while keeping its offset span (as Kafka's cleaner does), so fewer
/// records than the span are fine; more are not, and neither is a count that cannot fit in the
/// batch's bytes. Kafka's cleaner may also leave a batch with no records at all.
pub fn check_stored_record_count(header: &BatchHeader) -> Result<(), String> {
    let count = i64::from(header.record_count);
    let span = i64::from(header.last_offset_delta) + 1;
    if count < 0 || span < 1 || count > span {
        return Err(format!(
            "record count {count} does not fit last offset delta {}",
            header.last_offset_delta
        ));
    }
    check_fits_uncompressed(header, count)
}

/// An uncompressed batch cannot hold more records than its bytes allow.
fn check_fits_uncompressed(header: &BatchHeader, count: i64) -> Result<(), String> {
    if header.compression_codec() == 0 {
        let record_bytes = header.size().saturating_sub(RECORD_BATCH_OVERHEAD as u64);
        if (count as u64).saturating_mul(MIN_UNCOMPRESSED_RECORD_SIZE) > record_bytes {
            return Err(format!(
                "record count {count} cannot fit in {record_bytes} uncompressed record bytes"
            ));
        }
    }
    Ok(())
}

/// Checks that the compression codec is one Kafka defines (none, gzip, snappy, lz4, zstd).
pub fn check_compression_codec(header: &BatchHeader) -> Result<(), String> {
    let codec = header.compression_codec();
    if codec > MAX_COMPRESSION_CODEC {
        return Err(format!("unknown compression codec {codec}"));
    }
    Ok(())
}

/// Who is appending (Kafka's `AppendOrigin`): a client's produce request, a coordinator
/// writing its own records (group metadata and offsets, transaction state, transactional
/// offset commits), or a follower copying its leader's batches. A coordinator's transactional
/// batch carries the producer's id and epoch but no sequence: the producer did not send it, so
/// there is no sequence to check. Replicated batches were accepted by the leader already: they
/// keep their offsets, may be control batches or batches the cleaner shrank, and are not held
/// to `max.message.bytes` (`Log::append_as_follower`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppendOrigin {
    #[default]
    Client,
    Coordinator,
    Replication,
}

/// Validates every batch of a produce payload before any of it is written, so that a bad batch
/// anywhere rejects the whole request and the log never holds half of it.
///
/// Framing, magic and CRC failures are `CorruptMessage`; a batch over `max_message_bytes` is
/// `MessageTooLarge`; an intact batch whose record count or codec is wrong, a control batch,
/// or a batch with a producer id but no sequence is `InvalidRecord`.
pub fn validate_produce_batches(
    records: &Bytes,
    max_message_bytes: i32,
) -> Result<Vec<ValidatedBatch>, StorageError> {
    validate_batches(records, max_message_bytes, AppendOrigin::Client)
}

/// [`validate_produce_batches`] for either origin: a coordinator's batches may carry a
/// producer id without a sequence.
pub fn validate_batches(
    records: &Bytes,
    max_message_bytes: i32,
    origin: AppendOrigin,
) -> Result<Vec<ValidatedBatch>, StorageError> {
    if records.is_empty() {
        return Err(StorageError::InvalidRecord(
            "produce request carries no record batches".into(),
        ));
    }
    let mut batches = Vec::new();
    let mut position = 0usize;
    while position < records.len() {
        let header = validate_one_batch(records, position, max_message_bytes, origin)?;
        batches.push(ValidatedBatch { position, header });
        position += header.size() as usize;
    }
    Ok(batches)
}

/// Validates the batch starting at `position` of a produce payload and returns its header.
fn validate_one_batch(
    records: &Bytes,
    position: usize,
    max_message_bytes: i32,
    origin: AppendOrigin,
) -> Result<BatchHeader, StorageError> {
    let remaining = &records[position..];
    if remaining.len() < LOG_OVERHEAD {
        return Err(StorageError::CorruptMessage(format!(
            "{} trailing bytes at position {position} do not form a record batch",
            remaining.len()
        )));
    }
    let batch_length = read_i32(remaining, LENGTH_OFFSET);
    if batch_length < MIN_BATCH_LENGTH {
        return Err(StorageError::CorruptMessage(format!(
            "batch at position {position} has length {batch_length}, below the minimum of {MIN_BATCH_LENGTH}"
        )));
    }
    // At least 61 bytes are guaranteed from here on: batch_length >= 49 and the batch fits.
    let size = LOG_OVERHEAD as u64 + batch_length as u64;
    if size > remaining.len() as u64 {
        return Err(StorageError::CorruptMessage(format!(
            "batch at position {position} declares {size} bytes but only {} remain",
            remaining.len()
        )));
    }
    let header = BatchHeader::parse(remaining).ok_or_else(|| {
        StorageError::CorruptMessage(format!("batch at position {position} is truncated"))
    })?;
    check_magic(&header)
        .map_err(|e| StorageError::CorruptMessage(format!("batch at position {position}: {e}")))?;
    let replicated = origin == AppendOrigin::Replication;
    if !replicated && size > max_message_bytes.max(0) as u64 {
        return Err(StorageError::MessageTooLarge {
            size: size as usize,
            max: max_message_bytes,
        });
    }
    verify_crc_with_decoder(records.slice(position..position + size as usize))
        .map_err(|e| StorageError::CorruptMessage(format!("batch at position {position}: {e}")))?;
    let count_check = if replicated {
        check_stored_record_count(&header)
    } else {
        check_record_count(&header)
    };
    count_check
        .and_then(|()| check_compression_codec(&header))
        .and_then(|()| check_origin(&header, origin))
        .map_err(|e| StorageError::InvalidRecord(format!("batch at position {position}: {e}")))?;
    Ok(header)
}

/// Rules for appended batches, as Kafka's validator has them: control batches are the
/// broker's own (transaction markers, written by `append_txn_marker`, never appended), and a
/// batch with a producer id from a client carries sequences.
fn check_origin(header: &BatchHeader, origin: AppendOrigin) -> Result<(), String> {
    if origin == AppendOrigin::Replication {
        return Ok(());
    }
    if header.is_control() {
        return Err("clients are not allowed to write control records".into());
    }
    if origin == AppendOrigin::Client && header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(format!(
            "invalid sequence number {} in a batch from producer {}",
            header.base_sequence, header.producer_id
        ));
    }
    Ok(())
}

/// Runs kafka-protocol's header decoder over exactly one batch; it recomputes the CRC-32C and
/// rejects undefined codecs and negative counts. (It checks the CRC before the codec, so an
/// undefined codec only reaches [`check_compression_codec`] if the decoder is ever relaxed.)
fn verify_crc_with_decoder(mut batch: Bytes) -> Result<(), String> {
    let infos = RecordBatchDecoder::decode_batch_info(&mut batch).map_err(|e| e.to_string())?;
    if infos.len() != 1 {
        return Err(format!(
            "header decoder found {} batches, expected 1",
            infos.len()
        ));
    }
    Ok(())
}

/// CRC-32C of a whole batch's CRC-covered range (attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or(&[]))
}

/// Recomputes the CRC of a whole batch and stores it in the header. Does nothing to a slice
/// shorter than a batch header.
pub fn write_crc(batch: &mut [u8]) {
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes the offset the log assigned into the batch. The field lies outside the CRC, which is
/// why a broker can place batches without re-checksumming them.
pub fn write_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(field) = batch.get_mut(..8) {
        field.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Stamps the leader epoch the batch is written in. The field lies outside the CRC, like the
/// base offset, so the checksum stays valid. Does nothing to a slice shorter than a header.
pub fn write_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    batch[PARTITION_LEADER_EPOCH_OFFSET..MAGIC_OFFSET].copy_from_slice(&epoch.to_be_bytes());
}

/// Stamps a batch with LogAppendTime: sets the timestamp-type bit and sets both the first and
/// the max timestamp to `append_time_ms`. Those bytes are CRC-covered, so the CRC is
/// recomputed. Does nothing to a slice shorter than a batch header.
pub fn stamp_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return;
    }
    let attributes = read_i16(batch, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_LOG_APPEND_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&append_time_ms.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&append_time_ms.to_be_bytes());
    write_crc(batch);
}

/// Offsets and timestamps of every record of one stored batch, in order. Decodes (and if need
/// be decompresses) the records; a LogAppendTime batch reports its max timestamp for every
/// record, as Kafka's readers do.
pub fn record_offsets_and_timestamps(
    batch: Bytes,
    header: &BatchHeader,
) -> Result<Vec<(i64, i64)>, String> {
    let mut buf = batch;
    let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| e.to_string())?;
    let log_append_time = header.is_log_append_time();
    Ok(set
        .records
        .iter()
        .map(|record| {
            let timestamp = if log_append_time {
                header.max_timestamp
            } else {
                record.timestamp
            };
            (record.offset, timestamp)
        })
        .collect())
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    let mut raw = [0u8; 2];
    raw.copy_from_slice(&buf[at..at + 2]);
    i16::from_be_bytes(raw)
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(raw)
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(raw)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_support::encode_batch;

    #[test]
    fn parse_reads_every_header_field() {
        let batch = encode_batch(&[b"a", b"b", b"c"], &[10, 30, 20]);
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(header.base_offset, 0);
        assert_eq!(header.size(), batch.len() as u64);
        assert_eq!(header.magic, 2);
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.max_timestamp, 30);
        assert_eq!(header.crc, compute_crc(&batch));
        assert!(!header.is_log_append_time());
    }

    #[test]
    fn write_to_is_the_inverse_of_parse() {
        let batch = encode_batch(&[b"a", b"b"], &[10, 30]);
        let mut header = BatchHeader::parse(&batch).unwrap();
        header.base_offset = 1 << 40;
        header.partition_leader_epoch = 9;
        header.producer_id = 1234;
        header.producer_epoch = 5;
        header.base_sequence = 77;
        let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
        header.write_to(&mut buf);
        assert_eq!(BatchHeader::parse(&buf), Some(header));
    }

    #[test]
    fn stored_batches_may_hold_fewer_records_than_their_span() {
        let batch = encode_batch(&[b"a", b"b", b"c"], &[1, 2, 3]);
        let mut header = BatchHeader::parse(&batch).unwrap();
        header.record_count = 1;
        assert!(check_record_count(&header).is_err(), "a producer may not");
        assert!(
            check_stored_record_count(&header).is_ok(),
            "the cleaner may"
        );
        header.record_count = 0;
        assert!(check_stored_record_count(&header).is_ok());
        header.record_count = 4;
        assert!(check_stored_record_count(&header).is_err());
        header.record_count = -1;
        assert!(check_stored_record_count(&header).is_err());
    }

    #[test]
    fn parse_rejects_short_input() {
        assert!(BatchHeader::parse(&[0u8; 60]).is_none());
        assert!(BatchHeader::parse(&[]).is_none());
    }

    #[test]
    fn stamping_log_append_time_keeps_crc_valid() {
        let batch = encode_batch(&[b"x", b"y"], &[5, 6]);
        let mut stamped = batch.to_vec();
        stamp_log_append_time(&mut stamped, 123_456);
        write_base_offset(&mut stamped, 77);
        let header = BatchHeader::parse(&stamped).unwrap();
        assert!(header.is_log_append_time());
        assert_eq!(header.max_timestamp, 123_456);
        assert_eq!(header.base_timestamp, 123_456);
        assert_eq!(header.base_offset, 77);
        assert_eq!(header.crc, compute_crc(&stamped));
        assert!(validate_produce_batches(&Bytes::from(stamped.clone()), 1 << 20).is_ok());
        let records = record_offsets_and_timestamps(Bytes::from(stamped), &header).unwrap();
        assert_eq!(records, vec![(77, 123_456), (78, 123_456)]);
    }

    #[test]
    fn garbage_of_every_length_is_rejected_without_panicking() {
        let batch = encode_batch(&[b"hello"], &[1]);
        for len in 0..batch.len() {
            let cut = batch.slice(..len);
            assert!(
                validate_produce_batches(&cut, 1 << 20).is_err(),
                "len {len}"
            );
        }
        for i in 0..batch.len() {
            let mut garbled = batch.to_vec();
            garbled[i] ^= 0xff;
            // The base offset and the partition leader epoch lie outside the CRC, so flipping
            // them is legal; anything else must fail.
            let result = validate_produce_batches(&Bytes::from(garbled), 1 << 20);
            if i < LENGTH_OFFSET || (LOG_OVERHEAD..MAGIC_OFFSET).contains(&i) {
                assert!(result.is_ok(), "byte {i}");
            } else {
                assert!(result.is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn count_that_cannot_fit_is_invalid() {
        let batch = encode_batch(&[b"v"], &[1]);
        let mut forged = batch.to_vec();
        let count: i32 = 1000;
        forged[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
        forged[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4]
            .copy_from_slice(&count.to_be_bytes());
        let crc = compute_crc(&forged);
        forged[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let err = validate_produce_batches(&Bytes::from(forged), 1 << 20).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRecord(_)), "{err}");
    }

    #[test]
    fn only_a_coordinator_may_append_a_producer_batch_without_sequence() {
        // A TxnOffsetCommit as the group coordinator writes it: producer 7, no sequence.
        use crate::storage::batch_builder::{build_batch, NewRecord};
        let record = NewRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: &[],
        };
        let batch = build_batch([record], 1, Some((7, 0))).unwrap();
        let err = validate_produce_batches(&batch, 1 << 20).unwrap_err();
        assert!(matches!(err, StorageError::InvalidRecord(_)), "{err}");
        assert!(validate_batches(&batch, 1 << 20, AppendOrigin::Coordinator).is_ok());
    }

    #[test]
    fn replicated_batches_skip_the_producer_rules_but_not_the_checksum() {
        use crate::storage::txn_marker::{encode_marker_batch, ControlRecordType, EndTxnMarker};
        let marker = EndTxnMarker {
            control_type: ControlRecordType::Commit,
            coordinator_epoch: 0,
        };
        let control = encode_marker_batch(7, 0, marker, 1);
        assert!(validate_produce_batches(&control, 1 << 20).is_err());
        assert!(validate_batches(&control, 1 << 20, AppendOrigin::Replication).is_ok());
        // max.message.bytes is the leader's business.
        let big = encode_batch(&[&[b'x'; 500][..]], &[1]);
        assert!(validate_batches(&big, 100, AppendOrigin::Replication).is_ok());
        assert!(matches!(
            validate_batches(&big, 100, AppendOrigin::Client),
            Err(StorageError::MessageTooLarge { .. })
        ));
        // A batch the cleaner shrank (fewer records than its offset span) is fine.
        let mut shrunk = encode_batch(&[b"a", b"b"], &[1, 2]).to_vec();
        shrunk[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&5i32.to_be_bytes());
        write_crc(&mut shrunk);
        let shrunk = Bytes::from(shrunk);
        assert!(validate_batches(&shrunk, 1 << 20, AppendOrigin::Replication).is_ok());
        assert!(validate_produce_batches(&shrunk, 1 << 20).is_err());
        // Framing and checksum still count.
        let mut garbled = big.to_vec();
        let last = garbled.len() - 1;
        garbled[last] ^= 1;
        assert!(matches!(
            validate_batches(&Bytes::from(garbled), 1 << 20, AppendOrigin::Replication),
            Err(StorageError::CorruptMessage(_))
        ));
        assert!(matches!(
            validate_batches(
                &big.slice(..big.len() - 1),
                1 << 20,
                AppendOrigin::Replication
            ),
            Err(StorageError::CorruptMessage(_))
        ));
    }

    #[test]
    fn stamping_the_leader_epoch_keeps_the_crc() {
        let batch = encode_batch(&[b"x"], &[5]);
        let mut stamped = batch.to_vec();
        write_partition_leader_epoch(&mut stamped, 42);
        let header = BatchHeader::parse(&stamped).unwrap();
        assert_eq!(header.partition_leader_epoch, 42);
        assert_eq!(header.crc, compute_crc(&stamped));
        assert_eq!(header.crc, BatchHeader::parse(&batch).unwrap().crc);
        assert!(validate_produce_batches(&Bytes::from(stamped), 1 << 20).is_ok());
    }
}
