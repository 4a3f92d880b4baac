//! The log cleaner: log compaction for topics whose `cleanup.policy` contains `compact`.
//!
//! A compacted log keeps, for every key, at least the latest record with that key. This room
//! owns the storage half of Kafka's LogCleaner; so far, the [`offset_map::OffsetMap`] of the
//! dirty section.

pub mod offset_map;
