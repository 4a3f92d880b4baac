//! The outbound Kafka client: how Troupe talks to a Kafka broker as a client does.
//!
//! Used by the replica fetchers (fetching from partition leaders on other brokers), the
//! transaction coordinator's marker channels (WriteTxnMarkers) and the admin CLI. This room owns
//! the request and response framing on the client side (`frame`) and the broker's async
//! connection (`connection`); the admin CLI's blocking connection builds on the same framing.
//! It knows the wire, the metadata image (to find a broker's address) and the security room's
//! `ClientSecurity` (TLS and SASL client steps, which `stream` and `sasl` apply to the
//! socket), nothing of actors, logs or the broker's own request handling.

pub mod connection;
pub mod frame;
mod sasl;
pub mod stream;

pub use connection::{broker_endpoint, ClientError, KafkaConnection};
