//! The broker's own outbound Kafka connection (async): replica fetchers talk to partition
//! leaders on other brokers with it, transaction coordinators send WriteTxnMarkers. One
//! request at a time per connection; every wait is bounded, and a response length is checked
//! before anything is allocated for it.
//!
//! A connection speaks its `ClientSecurity` (the inter-broker listener's, for the broker's
//! own connections): TLS right after the TCP connect for SSL and SASL_SSL, then the SASL
//! exchange for SASL_PLAINTEXT and SASL_SSL, all within the connect timeout. When the server
//! gives the session a lifetime (`connections.max.reauth.ms`), the connection opens a fresh,
//! freshly authenticated one before that lifetime runs out instead of being cut off.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::frame;
use super::sasl;
use super::stream::ClientStream;
use crate::metadata::MetadataImage;
use crate::security::ClientSecurity;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("{0}")]
    Protocol(String),
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The TLS handshake or the SASL exchange failed: a configuration problem more likely than
    /// a transient one. The reason names no secret.
    #[error("cannot authenticate to {address}: {reason}")]
    Authentication { address: String, reason: String },
}

impl From<frame::FrameError> for ClientError {
    fn from(e: frame::FrameError) -> ClientError {
        ClientError::Protocol(e.to_string())
    }
}

/// Where this node reaches `broker`: its `replica.fetch.peer.addresses` entry when it has one
/// (another route, e.g. through a proxy), else the host:port it registered.
pub fn broker_endpoint(
    peer_addresses: &BTreeMap<i32, String>,
    broker: i32,
    image: &MetadataImage,
) -> Option<String> {
    if let Some(a) = peer_addresses.get(&broker) {
        return Some(a.clone());
    }
    image
        .brokers
        .get(&broker)
        .map(|b| format!("{}:{}", b.host, b.port))
}

pub struct KafkaConnection {
    stream: ClientStream,
    address: String,
    client_id: StrBytes,
    next_correlation_id: i32,
    security: ClientSecurity,
    connect_timeout: Duration,
    /// When to open a fresh session: before the server's session lifetime ends (KIP-368).
    renew_at: Option<Instant>,
}

/// Share of the server's session lifetime after which a fresh session is opened (Kafka's
/// client re-authenticates between 85% and 95% of it).
const RENEW_AFTER: f64 = 0.85;

impl KafkaConnection {
    /// Connects to `address` with `security`; the TCP connect, TLS handshake and SASL
    /// exchange all finish within `timeout`.
    pub async fn connect(
        address: &str,
        client_id: String,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<KafkaConnection, ClientError> {
        let deadline = Instant::now() + timeout;
        let unreachable = |reason: String| ClientError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(address))
            .await
            .map_err(|_| unreachable("connect timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream = match security.tls() {
            None => ClientStream::Plain(tcp),
            Some(config) => {
                tokio::time::timeout_at(deadline, ClientStream::tls(tcp, address, config.clone()))
                    .await
                    .map_err(|_| unreachable("TLS handshake timed out".into()))?
                    .map_err(|e| ClientError::Authentication {
                        address: address.to_string(),
                        reason: format!("TLS handshake: {e}"),
                    })?
            }
        };
        let mut connection = KafkaConnection {
            stream,
            address: address.to_string(),
            client_id: StrBytes::from_string(client_id),
            next_correlation_id: 0,
            security: security.clone(),
            connect_timeout: timeout,
            renew_at: None,
        };
        if let Some(config) = security.sasl() {
            let left = deadline.saturating_duration_since(Instant::now());
            let started = Instant::now();
            let lifetime = sasl::authenticate(&mut connection, config, left).await?;
            connection.renew_at =
                lifetime.map(|l| started + Duration::from_secs_f64(l.as_secs_f64() * RENEW_AFTER));
        }
        Ok(connection)
    }

    /// Replaces this connection's session with a fresh one when its lifetime is nearly over.
    async fn renew_if_due(&mut self) -> Result<(), ClientError> {
        if self.renew_at.is_some_and(|at| Instant::now() >= at) {
            let fresh = KafkaConnection::connect(
                &self.address,
                self.client_id.to_string(),
                self.connect_timeout,
                &self.security,
            )
            .await?;
            *self = fresh;
        }
        Ok(())
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at `version` and waits (at most `timeout`) for its response.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        self.renew_if_due().await?;
        self.call_in_session(request, version, timeout).await
    }

    /// `call` within the current session, however old (the SASL exchange itself).
    pub(crate) async fn call_in_session<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let address = self.address.clone();
        tokio::time::timeout(timeout, self.call_inner(request, version))
            .await
            .map_err(|_| ClientError::Timeout(address))?
    }

    async fn call_inner<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = frame::request_frame(request, version, correlation_id, self.client_id.clone())?;
        let lost = |e: std::io::Error| ClientError::Unreachable {
            address: self.address.clone(),
            reason: e.to_string(),
        };
        self.stream.write_all(&frame).await.map_err(lost)?;
        let mut prefix = [0u8; 4];
        let lost = |e: std::io::Error| ClientError::Unreachable {
            address: self.address.clone(),
            reason: e.to_string(),
        };
        self.stream.read_exact(&mut prefix).await.map_err(lost)?;
        let mut body = vec![0u8; frame::response_length(prefix)?];
        self.stream.read_exact(&mut body).await.map_err(lost)?;
        Ok(frame::decode_response::<R>(
            Bytes::from(body),
            version,
            correlation_id,
        )?)
    }
}
