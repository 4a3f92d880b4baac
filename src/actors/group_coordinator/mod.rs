//! Consumer groups (issue #3). `group` is the classic rebalance protocol as a plain state
//! machine: no I/O, no clock, no actor; operations return `Effect`s (replies, parked requests,
//! timers, persistence) for the `GroupCoordinator` actor to carry out.
//!
//! Not wired to the wire layer yet: the `GroupCoordinator` actor, the `__consumer_offsets`
//! persistence and the JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit handlers come
//! next (see issue #3's notes). Until then ApiVersions does not advertise those APIs.

pub mod group;
