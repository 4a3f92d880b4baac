//! The messages a `GroupCoordinator` shard accepts, and the committed offset they carry. Each
//! names its group; the shard answers every one exactly once.

use actix::prelude::*;
use std::time::Duration;

use super::group::{
    GroupDescription, GroupError, JoinRequest, JoinResponse, LeaveMember, LeaveResult, SyncRequest,
    SyncResult,
};

/// A committed offset as OffsetFetch returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// Wall-clock time the coordinator stored it (offset expiry counts from here).
    pub commit_timestamp_ms: i64,
}

/// `offsets.retention.minutes` and how often to apply it.
#[derive(Clone, Copy, Debug)]
pub struct OffsetsRetention {
    pub retention_ms: i64,
    pub check_interval: Duration,
}

#[derive(Message)]
#[rtype(result = "JoinResponse")]
pub struct JoinGroup {
    pub group_id: String,
    pub request: JoinRequest,
}

#[derive(Message)]
#[rtype(result = "SyncResult")]
pub struct SyncGroup {
    pub group_id: String,
    pub request: SyncRequest,
}

#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct Heartbeat {
    pub group_id: String,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
}

#[derive(Message)]
#[rtype(result = "LeaveResult")]
pub struct LeaveGroup {
    pub group_id: String,
    pub members: Vec<LeaveMember>,
}

/// OffsetCommit for one group: every partition gets the same verdict.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct CommitOffsets {
    pub group_id: String,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

/// One partition of an OffsetFetch answer: its committed offset (None if never committed), or
/// UNSTABLE_OFFSET_COMMIT.
pub type FetchedOffset = (String, i32, Result<Option<CommittedOffset>, GroupError>);

/// OffsetFetch: the requested partitions, or every committed one when `partitions` is None.
/// Offsets of open transactions are never returned; with `require_stable` (v7+) a partition
/// that has one answers UNSTABLE_OFFSET_COMMIT, so the client retries once it is decided.
/// The whole group fails with NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS.
#[derive(Message)]
#[rtype(result = "Result<Vec<FetchedOffset>, GroupError>")]
pub struct FetchOffsets {
    pub group_id: String,
    pub partitions: Option<Vec<(String, i32)>>,
    pub require_stable: bool,
}

/// TxnOffsetCommit for one group: validated like OffsetCommit (identified members must be
/// current), written as the producer's transactional batch, then kept pending until the
/// producer's transaction marker decides it.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct CommitTxnOffsets {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

/// From the marker writer, once a COMMIT or ABORT marker of `producer_id` is in
/// `__consumer_offsets` partition `partition`: decide that producer's pending offsets there.
/// While the partition loads the decision waits for the replay; a partition not held here is
/// ignored (its next load reads the marker from the log).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompleteTxnOffsets {
    pub producer_id: i64,
    pub commit: bool,
    pub partition: i32,
}

/// DescribeGroups: one answer per id, in order (NOT_COORDINATOR or
/// COORDINATOR_LOAD_IN_PROGRESS for ids this shard cannot serve now).
#[derive(Message)]
#[rtype(result = "Vec<Result<GroupDescription, GroupError>>")]
pub struct DescribeGroups {
    pub group_ids: Vec<String>,
}

/// (group id, protocol type, state) of the groups this shard coordinates;
/// COORDINATOR_LOAD_IN_PROGRESS while one of its partitions is loading.
#[derive(Message)]
#[rtype(result = "Result<Vec<(String, String, &'static str)>, GroupError>")]
pub struct ListGroups;

#[derive(Message)]
#[rtype(result = "Vec<(String, Result<(), GroupError>)>")]
pub struct DeleteGroups {
    pub group_ids: Vec<String>,
}

/// An OffsetDelete answer: (topic, partition, error code) per partition, or the group's error.
pub type DeletedOffsets = Result<Vec<(String, i32, i16)>, GroupError>;

/// OffsetDelete: drops committed offsets of partitions the group is not subscribed to.
/// Answers per partition (GROUP_SUBSCRIBED_TO_TOPIC for topics an active member subscribes to).
#[derive(Message)]
#[rtype(result = "DeletedOffsets")]
pub struct DeleteOffsets {
    pub group_id: String,
    pub partitions: Vec<(String, i32)>,
}
