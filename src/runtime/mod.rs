//! What every actor room shares about running on actix, and nothing about Kafka: the counted
//! mailbox address (`mailbox`), the guard of a parked delayed operation (`purgatory`), restart
//! counters and panic containment (`supervision`) and the wall clock (`clock`).
//!
//! A leaf room: it imports no other room of the broker.

pub mod clock;
pub mod mailbox;
pub mod purgatory;
pub mod supervision;
