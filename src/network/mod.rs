//! The Kafka listener's side of the network: accepting client connections and carrying each
//! one's frames to the protocol layer and its responses back, in order.
//!
//! This room owns sockets: the accept loop (`listener`) and one `Connection` actor per client
//! (framing, in-flight limit, response order, the `sendfile` of fetched file ranges). It hands
//! every frame to `protocol::handle_frame` and knows nothing of what a request means.

pub mod connection;
pub mod listener;
