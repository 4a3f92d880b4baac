//! The Kafka listener's side of the network: accepting client connections and carrying each
//! one's frames to the protocol layer and its responses back, in order.
//!
//! This room owns sockets: which listeners a node has (`endpoints`), the accept loop
//! (`listener`, one per listener, with its TLS and SASL settings), what each listener reports
//! on `/healthz` (`listener_status`: bound address, serving, connections, authentications,
//! served certificate), the connection limits they share (`connection_quotas`) and one
//! `Connection` actor per
//! client (TLS handshake, SASL exchange, framing, in-flight limit, response order, the
//! `sendfile` of fetched file ranges). It hands every frame of an authenticated session to
//! `protocol::handle_frame` and knows nothing of what a request means.

pub mod authentication;
pub mod connection;
pub mod connection_quotas;
pub mod endpoints;
pub mod listener;
pub mod listener_status;
pub mod tls;
