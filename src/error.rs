//! The broker's errors as typed enums, and their mapping to Kafka's error codes: this file is
//! the one place where an error becomes a number. `BrokerError` is what partitions, the
//! controller and most handlers return; `TxnError` and `GroupError` are the coordinators'.
//! Each maps to kafka-protocol's `ResponseError` (Kafka's own list, typed), whose `code()` is
//! what goes on the wire. Handlers compare and build codes through `ResponseError` too, never
//! with a literal number.

pub use kafka_protocol::error::ResponseError;

use crate::config::ConfigError;
use crate::storage::producer_state::ProducerStateError;
use crate::storage::StorageError;

/// The code of an answer without error (Kafka's NONE).
pub const NONE: i16 = 0;

/// Serializable: controller answers travel between nodes of a cluster.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BrokerError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("unknown topic id")]
    UnknownTopicId,
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("corrupt message: {0}")]
    CorruptMessage(String),
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error("acks must be -1, 0 or 1")]
    InvalidRequiredAcks,
    #[error("this broker is not the leader of that partition")]
    NotLeaderOrFollower,
    #[error("the partition is recovering or restarting")]
    LeaderNotAvailable,
    #[error("request timed out")]
    RequestTimedOut,
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    TopicDeletionDisabled,
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("{0}")]
    OutOfOrderSequence(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("{0}")]
    TransactionCoordinatorFenced(String),
    #[error("the in-sync replicas ({isr}) are fewer than min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: i64 },
    #[error("written, but the in-sync replicas shrank below min.insync.replicas before it was replicated")]
    NotEnoughReplicasAfterAppend,
    #[error("the request's leader epoch is older than this broker's")]
    FencedLeaderEpoch,
    #[error("the request's leader epoch is newer than this broker's")]
    UnknownLeaderEpoch,
    #[error("this node is not the active controller")]
    NotController,
    #[error("{0}")]
    InvalidUpdateVersion(String),
    #[error("broker {0} is not registered or is fenced")]
    BrokerNotAvailable(i32),
    #[error("this broker is not the coordinator")]
    NotCoordinator,
    #[error("the coordinator is loading its state")]
    CoordinatorLoadInProgress,
    #[error("{0}")]
    ElectionNotNeeded(String),
    #[error("{0}")]
    NoReassignmentInProgress(String),
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    #[error("{0}")]
    UnsupportedSaslMechanism(String),
    #[error("{0}")]
    UnacceptableCredential(String),
    #[error("{0}")]
    DuplicateResource(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("storage error: {0}")]
    KafkaStorage(String),
    /// A request names something this version of the protocol does not know (an unknown
    /// quota entity type in DescribeClientQuotas).
    #[error("{0}")]
    UnsupportedVersion(String),
    /// The authorizer refused the request on a topic, group, the cluster or a transactional
    /// id (with `authorizer.class.name` set).
    #[error("Topic authorization failed.")]
    TopicAuthorizationFailed,
    #[error("Group authorization failed.")]
    GroupAuthorizationFailed,
    #[error("Cluster authorization failed.")]
    ClusterAuthorizationFailed,
    #[error("Transactional Id authorization failed.")]
    TransactionalIdAuthorizationFailed,
    /// Another broker could not be reached or answered nothing usable.
    #[error("network error: {0}")]
    NetworkException(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl BrokerError {
    /// The Kafka error code a client sees for this error.
    pub fn code(&self) -> i16 {
        let e = match self {
            BrokerError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
            BrokerError::UnknownTopicId => ResponseError::UnknownTopicId,
            BrokerError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            BrokerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            BrokerError::InvalidConfig(_) => ResponseError::InvalidConfig,
            BrokerError::InvalidRequest(_) => ResponseError::InvalidRequest,
            BrokerError::CorruptMessage(_) => ResponseError::CorruptMessage,
            BrokerError::InvalidRecord(_) => ResponseError::InvalidRecord,
            BrokerError::MessageTooLarge(_) => ResponseError::MessageTooLarge,
            BrokerError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            BrokerError::InvalidRequiredAcks => ResponseError::InvalidRequiredAcks,
            BrokerError::NotLeaderOrFollower => ResponseError::NotLeaderOrFollower,
            BrokerError::LeaderNotAvailable => ResponseError::LeaderNotAvailable,
            BrokerError::RequestTimedOut => ResponseError::RequestTimedOut,
            BrokerError::TopicDeletionDisabled => ResponseError::TopicDeletionDisabled,
            BrokerError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            BrokerError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
            BrokerError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
            BrokerError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
            BrokerError::TransactionCoordinatorFenced(_) => {
                ResponseError::TransactionCoordinatorFenced
            }
            BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            BrokerError::NotEnoughReplicasAfterAppend => {
                ResponseError::NotEnoughReplicasAfterAppend
            }
            BrokerError::FencedLeaderEpoch => ResponseError::FencedLeaderEpoch,
            BrokerError::UnknownLeaderEpoch => ResponseError::UnknownLeaderEpoch,
            BrokerError::NotController => ResponseError::NotController,
            BrokerError::TopicAuthorizationFailed => ResponseError::TopicAuthorizationFailed,
            BrokerError::GroupAuthorizationFailed => ResponseError::GroupAuthorizationFailed,
            BrokerError::ClusterAuthorizationFailed => ResponseError::ClusterAuthorizationFailed,
            BrokerError::TransactionalIdAuthorizationFailed => {
                ResponseError::TransactionalIdAuthorizationFailed
            }
            BrokerError::InvalidUpdateVersion(_) => ResponseError::InvalidUpdateVersion,
            BrokerError::BrokerNotAvailable(_) => ResponseError::BrokerNotAvailable,
            BrokerError::NotCoordinator => ResponseError::NotCoordinator,
            BrokerError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            BrokerError::ElectionNotNeeded(_) => ResponseError::ElectionNotNeeded,
            BrokerError::NoReassignmentInProgress(_) => ResponseError::NoReassignmentInProgress,
            BrokerError::PreferredLeaderNotAvailable(_) => {
                ResponseError::PreferredLeaderNotAvailable
            }
            BrokerError::EligibleLeadersNotAvailable(_) => {
                ResponseError::EligibleLeadersNotAvailable
            }
            BrokerError::UnsupportedSaslMechanism(_) => ResponseError::UnsupportedSaslMechanism,
            BrokerError::UnacceptableCredential(_) => ResponseError::UnacceptableCredential,
            BrokerError::DuplicateResource(_) => ResponseError::DuplicateResource,
            BrokerError::ResourceNotFound(_) => ResponseError::ResourceNotFound,
            BrokerError::KafkaStorage(_) => ResponseError::KafkaStorageError,
            BrokerError::UnsupportedVersion(_) => ResponseError::UnsupportedVersion,
            BrokerError::NetworkException(_) => ResponseError::NetworkException,
            BrokerError::Internal(_) => ResponseError::UnknownServerError,
        };
        e.code()
    }

    /// The errors after which Produce and Fetch name the partition's current leader
    /// (KIP-951): this node does not lead it, or the client's leader epoch is stale.
    pub fn names_current_leader(&self) -> bool {
        matches!(
            self,
            BrokerError::NotLeaderOrFollower | BrokerError::FencedLeaderEpoch
        )
    }

    /// The human-readable message for responses that carry one.
    pub fn message(&self) -> kafka_protocol::protocol::StrBytes {
        kafka_protocol::protocol::StrBytes::from_string(self.to_string())
    }

    /// The error code and message a per-resource answer carries for `outcome`.
    pub fn code_and_message<T>(
        outcome: &Result<T, BrokerError>,
    ) -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
        match outcome {
            Ok(_) => (NONE, None),
            Err(e) => (e.code(), Some(e.message())),
        }
    }
}

/// Kafka errors of the transaction APIs (the transaction coordinator's state machine and
/// its handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnError {
    /// An invariant broke, or no producer id could be allocated.
    UnknownServerError,
    CoordinatorLoadInProgress,
    /// Writing `__transaction_state` failed; retriable.
    CoordinatorNotAvailable,
    /// This shard does not own the id's partition.
    NotCoordinator,
    /// E.g. an empty transactional id.
    InvalidRequest,
    /// The request does not fit the transaction's state.
    InvalidTxnState,
    /// Unknown id, or another producer id holds it.
    InvalidProducerIdMapping,
    /// Not in 1..=`transaction.max.timeout.ms`.
    InvalidTransactionTimeout,
    /// A commit or abort is completing; retry.
    ConcurrentTransactions,
    /// A newer producer with this id exists. Older request versions get
    /// INVALID_PRODUCER_EPOCH instead (`code_for_version`).
    ProducerFenced,
    /// DescribeTransactions of an unknown id.
    TransactionalIdNotFound,
    /// A verified partition is not in the transaction.
    TransactionAbortable,
}

impl TxnError {
    pub fn kafka_error(self) -> ResponseError {
        match self {
            TxnError::UnknownServerError => ResponseError::UnknownServerError,
            TxnError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            TxnError::NotCoordinator => ResponseError::NotCoordinator,
            TxnError::InvalidRequest => ResponseError::InvalidRequest,
            TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
            TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
            TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
            TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
            TxnError::ProducerFenced => ResponseError::ProducerFenced,
            TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
            TxnError::TransactionAbortable => ResponseError::TransactionAbortable,
        }
    }

    pub fn code(self) -> i16 {
        self.kafka_error().code()
    }
}

impl std::fmt::Display for TxnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", self.code())
    }
}

impl std::error::Error for TxnError {}

/// The error code a transaction request of `version` gets: PRODUCER_FENCED became a code of
/// its own at `fenced_since` (InitProducerId v4, AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2);
/// older clients understand only INVALID_PRODUCER_EPOCH, as Kafka answers them.
pub fn code_for_version(e: TxnError, version: i16, fenced_since: i16) -> i16 {
    if e == TxnError::ProducerFenced && version < fenced_since {
        ResponseError::InvalidProducerEpoch.code()
    } else {
        e.code()
    }
}

/// Kafka errors of the group APIs (the group coordinator's state machine and its handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupError {
    /// An internal invariant was violated.
    UnknownServerError,
    /// The group's partition is replaying.
    CoordinatorLoadInProgress,
    /// The group is Dead (deleted or being unloaded), or a write failed; the client
    /// rediscovers the coordinator and retries.
    CoordinatorNotAvailable,
    /// This shard does not hold the group's partition (or it was unloaded).
    NotCoordinator,
    /// The request carries a stale generation.
    IllegalGeneration,
    /// The protocol type differs, or no protocol is supported by every member.
    InconsistentGroupProtocol,
    UnknownMemberId,
    /// Outside the broker's min/max bounds.
    InvalidSessionTimeout,
    /// The member must rejoin.
    RebalanceInProgress,
    /// DeleteGroups on a group with members.
    NonEmptyGroup,
    GroupIdNotFound,
    /// KIP-394: rejoin with the member id handed out.
    MemberIdRequired,
    GroupMaxSizeReached,
    /// KIP-345: another process now owns this group instance id.
    FencedInstanceId,
    /// TxnOffsetCommit from a producer a newer one fenced (the `__consumer_offsets` partition
    /// refused its epoch).
    InvalidProducerEpoch,
    /// OffsetFetch with RequireStable while a transaction holds an uncommitted offset for the
    /// partition; the client retries.
    UnstableOffsetCommit,
}

impl GroupError {
    pub fn kafka_error(&self) -> ResponseError {
        match self {
            GroupError::UnknownServerError => ResponseError::UnknownServerError,
            GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::NotCoordinator => ResponseError::NotCoordinator,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
        }
    }

    /// The Kafka wire error code.
    pub fn code(&self) -> i16 {
        self.kafka_error().code()
    }

    /// The code of an answer: NONE or the error's.
    pub fn code_of<T>(result: &Result<T, GroupError>) -> i16 {
        result.as_ref().map_or_else(GroupError::code, |_| NONE)
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", kafka_name(self.kafka_error()), self.code())
    }
}

impl std::error::Error for GroupError {}

/// Kafka's name of an error as its docs and logs spell it: `MEMBER_ID_REQUIRED`.
pub fn kafka_name(e: ResponseError) -> String {
    let mut name = String::new();
    for (i, c) in format!("{e:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

impl From<StorageError> for BrokerError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::CorruptMessage(m) => BrokerError::CorruptMessage(m),
            StorageError::InvalidRecord(m) => BrokerError::InvalidRecord(m),
            StorageError::MessageTooLarge { size, max } => BrokerError::MessageTooLarge(format!(
                "batch of {size} bytes exceeds max.message.bytes={max}"
            )),
            StorageError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            } => BrokerError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            },
            StorageError::ProducerState(e) => match e {
                ProducerStateError::InvalidProducerEpoch { .. } => {
                    BrokerError::InvalidProducerEpoch(e.to_string())
                }
                ProducerStateError::OutOfOrderSequence { .. } => {
                    BrokerError::OutOfOrderSequence(e.to_string())
                }
                ProducerStateError::InvalidTxnState { .. } => {
                    BrokerError::InvalidTxnState(e.to_string())
                }
                ProducerStateError::TransactionCoordinatorFenced { .. } => {
                    BrokerError::TransactionCoordinatorFenced(e.to_string())
                }
            },
            // Follower-side conditions the fetcher handles; never a client's answer. Kafka's
            // exceptions for them have no error code of their own.
            e @ (StorageError::UnexpectedAppendOffset { .. }
            | StorageError::OffsetsOutOfOrder(_)) => BrokerError::Internal(e.to_string()),
            StorageError::Io(io) => BrokerError::KafkaStorage(io.to_string()),
        }
    }
}

impl From<ConfigError> for BrokerError {
    fn from(e: ConfigError) -> Self {
        BrokerError::InvalidConfig(e.to_string())
    }
}

/// A request whose actor went away (stopped for a restart) is retriable for the client.
impl From<actix::MailboxError> for BrokerError {
    fn from(_: actix::MailboxError) -> Self {
        BrokerError::LeaderNotAvailable
    }
}

/// The Kafka code of a refused SASL step (SaslHandshake / SaslAuthenticate).
pub fn sasl_error_code(e: &crate::security::SaslError) -> i16 {
    use crate::security::SaslError;
    match e {
        SaslError::UnsupportedMechanism(_) => ResponseError::UnsupportedSaslMechanism,
        SaslError::IllegalState(_) => ResponseError::IllegalSaslState,
        SaslError::AuthenticationFailed(_) => ResponseError::SaslAuthenticationFailed,
    }
    .code()
}

/// The code of the ILLEGAL_SASL_STATE answer to SASL requests outside an exchange.
pub fn illegal_sasl_state() -> i16 {
    ResponseError::IllegalSaslState.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(BrokerError::UnknownTopicOrPartition.code(), 3);
        assert_eq!(BrokerError::CorruptMessage(String::new()).code(), 2);
        assert_eq!(BrokerError::MessageTooLarge(String::new()).code(), 10);
        assert_eq!(BrokerError::InvalidTopic(String::new()).code(), 17);
        assert_eq!(BrokerError::TopicAlreadyExists(String::new()).code(), 36);
        assert_eq!(BrokerError::InvalidPartitions(String::new()).code(), 37);
        assert_eq!(BrokerError::InvalidConfig(String::new()).code(), 40);
        assert_eq!(BrokerError::NotLeaderOrFollower.code(), 6);
        assert_eq!(BrokerError::InvalidProducerEpoch(String::new()).code(), 47);
        assert_eq!(BrokerError::InvalidTxnState(String::new()).code(), 48);
        assert_eq!(BrokerError::NotEnoughReplicas { isr: 1, min: 2 }.code(), 19);
        assert_eq!(BrokerError::NotEnoughReplicasAfterAppend.code(), 20);
        assert_eq!(BrokerError::FencedLeaderEpoch.code(), 74);
        assert_eq!(BrokerError::UnknownLeaderEpoch.code(), 75);
        assert_eq!(BrokerError::NotController.code(), 41);
        assert_eq!(BrokerError::NotCoordinator.code(), 16);
        assert_eq!(
            BrokerError::TransactionCoordinatorFenced(String::new()).code(),
            52
        );
    }

    #[test]
    fn coordinator_errors_show_kafka_names_and_codes() {
        assert_eq!(
            GroupError::MemberIdRequired.to_string(),
            "MEMBER_ID_REQUIRED (79)"
        );
        assert_eq!(
            GroupError::UnknownServerError.to_string(),
            "UNKNOWN_SERVER_ERROR (-1)"
        );
        assert_eq!(GroupError::UnstableOffsetCommit.code(), 88);
        assert_eq!(TxnError::ProducerFenced.code(), 90);
        assert_eq!(code_for_version(TxnError::ProducerFenced, 1, 2), 47);
        assert_eq!(code_for_version(TxnError::ProducerFenced, 2, 2), 90);
    }
}
