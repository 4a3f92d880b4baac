//! Errors the storage layer reports to its callers.
//!
//! The variants line up with the Kafka error codes a produce, fetch or list-offsets handler has
//! to answer with, so the request layer can map them one to one without inspecting messages.

/// Everything that can go wrong in a partition's log.
#[derive(thiserror::Error, Debug)]
pub enum StorageError {
    /// The bytes are not a well-formed sequence of v2 record batches: bad framing, unknown
    /// magic, failed CRC. Kafka answers CORRUPT_MESSAGE.
    #[error("corrupt message: {0}")]
    CorruptMessage(String),

    /// One batch is larger than the topic's `max.message.bytes`. Kafka answers
    /// MESSAGE_TOO_LARGE.
    #[error("record batch of {size} bytes exceeds max.message.bytes of {max}")]
    MessageTooLarge { size: usize, max: i32 },

    /// The batch is intact but violates a record-level rule (for example its record count does
    /// not match its offset delta). Kafka answers INVALID_RECORD.
    #[error("invalid record: {0}")]
    InvalidRecord(String),

    /// A read or DeleteRecords named an offset outside `[log_start, log_end]`. Kafka answers
    /// OFFSET_OUT_OF_RANGE.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },

    /// An idempotent or transactional producer's batch or marker breaks its sequence, epoch,
    /// transaction state or coordinator epoch. Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER,
    /// INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE or TRANSACTION_COORDINATOR_FENCED.
    #[error(transparent)]
    ProducerState(#[from] super::producer_state::ProducerStateError),

    /// A follower's append does not continue its log: the first batch starts below the log
    /// end offset but ends at or after it, so it would overlap what the log holds (Kafka's
    /// `UnexpectedAppendOffsetException`). Batches wholly below the log end are skipped, not
    /// refused. The fetcher should truncate, or fetch again from the log end.
    #[error("append at offsets [{first_offset}, {last_offset}] does not continue the log end offset {log_end_offset}")]
    UnexpectedAppendOffset {
        first_offset: i64,
        last_offset: i64,
        log_end_offset: i64,
    },

    /// A follower's append holds batches whose offsets do not rise (Kafka's
    /// `OffsetsOutOfOrderException`); nothing was written.
    #[error("offsets out of order: {0}")]
    OffsetsOutOfOrder(String),

    /// The file system failed us. Kafka answers KAFKA_STORAGE_ERROR.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}
