//! The admin CLI's room: `troupe topic|group|cluster|acl|user|quota|produce|consume`. Everything goes through
//! the Kafka protocol (`client.rs`), never the broker's internals, so the same commands work
//! against any Kafka-compatible broker or cluster.
//!
//! Output is a human-readable table by default and JSON with `--json`. Exit codes scripts can
//! rely on: 0 done; 1 the broker refused (the Kafka error is named, with what to do); 2 bad
//! usage; 3 no broker reachable; 4 the broker's answer could not be used.

pub mod acl;
pub mod client;
pub mod group;
pub mod output;
pub mod quota;
pub mod records;
pub mod topic;
pub mod user;

use std::time::Duration;

use kafka_protocol::error::ResponseError;

pub use client::{Cluster, Connection};

/// What went wrong in an admin command.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach {address}: {reason} (is a broker running there? see --bootstrap)")]
    Unreachable { address: String, reason: String },
    #[error("{api} failed: {name} (error code {code}){}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(), hint_for(*.code).map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Kafka {
        api: String,
        code: i16,
        name: String,
        message: Option<String>,
    },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl AdminError {
    /// A Kafka error code in a response, with the broker's message when it sent one.
    pub fn kafka(api: &str, code: i16, message: Option<String>) -> AdminError {
        let name = ResponseError::try_from_code(code)
            .map_or_else(|| format!("unknown error {code}"), |e| format!("{e:?}"));
        AdminError::Kafka {
            api: api.to_string(),
            code,
            name,
            message: message.filter(|m| !m.is_empty()),
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            AdminError::Kafka { .. } => 1,
            AdminError::Usage(_) => 2,
            AdminError::Unreachable { .. } | AdminError::Io(_) => 3,
            AdminError::Protocol(_) | AdminError::Unsupported(_) => 4,
        }
    }
}

/// What an operator can do about the common errors.
fn hint_for(code: i16) -> Option<&'static str> {
    let hint = match ResponseError::try_from_code(code)? {
        ResponseError::TopicAlreadyExists => "pick another name, or delete the topic first",
        ResponseError::UnknownTopicOrPartition => "check the name with `troupe topic list`",
        ResponseError::InvalidReplicationFactor => {
            "the replication factor cannot exceed the number of brokers"
        }
        ResponseError::InvalidPartitions => "partitions can only be added, never removed",
        ResponseError::InvalidConfig => "see docs and `troupe topic describe` for valid values",
        ResponseError::NonEmptyGroup => "stop the group's consumers first",
        ResponseError::GroupIdNotFound => "check the name with `troupe group list`",
        ResponseError::CoordinatorNotAvailable | ResponseError::CoordinatorLoadInProgress => {
            "the broker is starting; retry in a moment"
        }
        ResponseError::TopicDeletionDisabled => "set delete.topic.enable=true on the brokers",
        ResponseError::InvalidTopicException => {
            "topic names use letters, digits, '.', '_' and '-', at most 249 characters"
        }
        _ => return None,
    };
    Some(hint)
}

/// Turns a per-item error code into a result.
pub fn check(api: &str, code: i16, message: Option<String>) -> Result<(), AdminError> {
    if code == 0 {
        Ok(())
    } else {
        Err(AdminError::kafka(api, code, message))
    }
}

/// How long one request may take before the CLI gives up on the broker.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
