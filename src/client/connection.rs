//! The broker's own outbound Kafka connection (async): replica fetchers talk to partition
//! leaders on other brokers with it, transaction coordinators send WriteTxnMarkers. One
//! request at a time per connection; every wait is bounded, and a response length is checked
//! before anything is allocated for it.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame;
use crate::metadata::MetadataImage;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("{0}")]
    Protocol(String),
    #[error("request to {0} timed out")]
    Timeout(String),
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
    stream: TcpStream,
    address: String,
    client_id: StrBytes,
    next_correlation_id: i32,
}

impl KafkaConnection {
    pub async fn connect(
        address: &str,
        client_id: String,
        timeout: Duration,
    ) -> Result<KafkaConnection, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| unreachable("connect timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        Ok(KafkaConnection {
            stream,
            address: address.to_string(),
            client_id: StrBytes::from_string(client_id),
            next_correlation_id: 0,
        })
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
