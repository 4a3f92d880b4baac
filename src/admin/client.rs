//! A small blocking Kafka client for the admin CLI: one TCP connection per broker, versions
//! negotiated with ApiVersions, requests and responses as kafka-protocol's generated types.
//! It speaks only the Kafka protocol, so the CLI works against any Kafka-compatible broker.
//!
//! A connection speaks a `ClientSecurity` (e.g. from a client properties file): TLS right
//! after the TCP connect for SSL and SASL_SSL, then, after ApiVersions, SaslHandshake and
//! SaslAuthenticate with the security room's PLAIN or SCRAM client tokens.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FindCoordinatorRequest, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::AdminError;
use crate::client::frame::{self, FrameError};
use crate::client::stream::server_name;
use crate::security::{ClientSecurity, SaslClient, SaslClientConfig};

/// The socket of a connection: TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Completes the TLS handshake on `tcp` now (within its socket timeouts), so a refused
/// certificate is reported as such rather than as the first request failing.
fn tls_stream(
    mut tcp: TcpStream,
    address: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> std::io::Result<Stream> {
    let mut connection = rustls::ClientConnection::new(config, server_name(address)?)
        .map_err(std::io::Error::other)?;
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp)?;
    }
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(
        connection, tcp,
    ))))
}

/// More round trips than any supported mechanism needs (SCRAM takes two).
const MAX_SASL_ROUND_TRIPS: usize = 4;

const CLIENT_ID: &str = "troupe-admin";

/// One connection to one broker.
pub struct Connection {
    address: String,
    stream: Stream,
    /// API key → (min, max) version the broker serves.
    versions: HashMap<i16, (i16, i16)>,
    next_correlation_id: i32,
}

impl Connection {
    /// Connects and learns the broker's API versions (ApiVersions v0, which every broker
    /// answers).
    pub fn connect(address: &str, timeout: Duration) -> Result<Connection, AdminError> {
        Connection::connect_with(address, timeout, &ClientSecurity::plaintext())
    }

    /// [`Connection::connect`] with `security`: TLS, then ApiVersions, then SASL.
    pub fn connect_with(
        address: &str,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Connection, AdminError> {
        let unreachable = |e: std::io::Error| AdminError::Unreachable {
            address: address.to_string(),
            reason: e.to_string(),
        };
        let socket = address
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| AdminError::Unreachable {
                address: address.to_string(),
                reason: "no address".into(),
            })?;
        let stream = TcpStream::connect_timeout(&socket, timeout).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(unreachable)?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(unreachable)?;
        let _ = stream.set_nodelay(true);
        let stream = match security.tls() {
            None => Stream::Plain(stream),
            Some(config) => tls_stream(stream, address, config.clone()).map_err(|e| {
                AdminError::Unreachable {
                    address: address.to_string(),
                    reason: format!("TLS handshake: {e}"),
                }
            })?,
        };
        let mut connection = Connection {
            address: address.to_string(),
            stream,
            versions: HashMap::new(),
            next_correlation_id: 1,
        };
        let api_versions = connection.call_at(ApiVersionsRequest::default(), 0)?;
        if api_versions.error_code != 0 {
            return Err(AdminError::kafka(
                "ApiVersions",
                api_versions.error_code,
                None,
            ));
        }
        connection.versions = api_versions
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if let Some(sasl) = security.sasl() {
            connection.authenticate(sasl)?;
        }
        Ok(connection)
    }

    /// SaslHandshake, then SaslAuthenticate with each client token until the mechanism's
    /// exchange is complete. A refusal is the broker's error code and message (no secret).
    fn authenticate(&mut self, config: &SaslClientConfig) -> Result<(), AdminError> {
        let mechanism = config.mechanism().name();
        let handshake = self.call(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        )?;
        if handshake.error_code != 0 {
            let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(AdminError::kafka(
                "SaslHandshake",
                handshake.error_code,
                Some(format!(
                    "{mechanism} is not enabled; the listener offers {}",
                    offered.join(",")
                )),
            ));
        }
        let address = self.address.clone();
        let refused = |e: crate::security::SaslClientError| {
            AdminError::Protocol(format!("SASL {mechanism} with {address}: {e}"))
        };
        let mut client = SaslClient::new(config.clone());
        let mut token = client.initial_token().map_err(refused)?;
        for _ in 0..MAX_SASL_ROUND_TRIPS {
            let response =
                self.call(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)))?;
            if response.error_code != 0 {
                return Err(AdminError::kafka(
                    "SaslAuthenticate",
                    response.error_code,
                    response.error_message.as_ref().map(|m| m.to_string()),
                ));
            }
            match client.respond(&response.auth_bytes).map_err(refused)? {
                Some(next) => token = next,
                None => return Ok(()),
            }
        }
        Err(AdminError::Protocol(format!(
            "SASL {mechanism} with {} did not complete in {MAX_SASL_ROUND_TRIPS} round trips",
            self.address
        )))
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at the highest version both sides know.
    pub fn call<R: Request>(&mut self, request: R) -> Result<R::Response, AdminError> {
        let version = self.version_for::<R>()?;
        self.call_at(request, version)
    }

    /// Sends `request` at the highest version both sides know, but at most `max` (for APIs
    /// whose newer versions change shape, like Fetch v13 naming topics by id).
    pub fn call_capped<R: Request>(
        &mut self,
        request: R,
        max: i16,
    ) -> Result<R::Response, AdminError> {
        let version = self.version_for::<R>()?.min(max);
        self.call_at(request, version)
    }

    /// The version a request goes out at: the highest both sides know.
    pub fn version_for<R: Request>(&self) -> Result<i16, AdminError> {
        let api = api_name(R::KEY);
        let (min, max) =
            self.versions.get(&R::KEY).copied().ok_or_else(|| {
                AdminError::Unsupported(format!("the broker does not serve {api}"))
            })?;
        let version = max.min(R::VERSIONS.max);
        if version < min.max(R::VERSIONS.min) {
            return Err(AdminError::Unsupported(format!(
                "no {api} version both sides know (broker {min}..{max})"
            )));
        }
        Ok(version)
    }

    fn call_at<R: Request>(&mut self, request: R, version: i16) -> Result<R::Response, AdminError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let api = api_name(R::KEY);
        let protocol =
            |e: FrameError| AdminError::Protocol(format!("{api} to {}: {e}", self.address));
        let frame = frame::request_frame(
            &request,
            version,
            correlation_id,
            StrBytes::from_static_str(CLIENT_ID),
        )
        .map_err(protocol)?;
        self.stream.write_all(&frame).map_err(|e| self.lost(e))?;
        let mut prefix = [0u8; 4];
        self.stream
            .read_exact(&mut prefix)
            .map_err(|e| self.lost(e))?;
        let mut response = vec![0u8; frame::response_length(prefix).map_err(protocol)?];
        self.stream
            .read_exact(&mut response)
            .map_err(|e| self.lost(e))?;
        frame::decode_response::<R>(Bytes::from(response), version, correlation_id)
            .map_err(protocol)
    }

    fn lost(&self, e: std::io::Error) -> AdminError {
        AdminError::Unreachable {
            address: self.address.clone(),
            reason: e.to_string(),
        }
    }
}

fn api_name(key: i16) -> String {
    ApiKey::try_from(key).map_or_else(|_| format!("API {key}"), |k| format!("{k:?}"))
}

/// The cluster as the CLI reaches it: the bootstrap connection plus connections to other
/// brokers opened on demand (partition leaders, group coordinators).
pub struct Cluster {
    bootstrap: Connection,
    others: HashMap<i32, Connection>,
    timeout: Duration,
    security: ClientSecurity,
}

impl Cluster {
    /// Connects to the first reachable address of `bootstrap` (`host:port[,host:port...]`),
    /// trying them in order, so a cluster with one node down is still administrable.
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<Cluster, AdminError> {
        Cluster::connect_with(bootstrap, timeout, ClientSecurity::plaintext())
    }

    /// [`Cluster::connect`] with `security` on every connection (e.g. from `--command-config`).
    pub fn connect_with(
        bootstrap: &str,
        timeout: Duration,
        security: ClientSecurity,
    ) -> Result<Cluster, AdminError> {
        let mut last = None;
        for address in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Connection::connect_with(address, timeout, &security) {
                Ok(connection) => {
                    return Ok(Cluster {
                        bootstrap: connection,
                        others: HashMap::new(),
                        timeout,
                        security,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AdminError::Usage("--bootstrap lists no address".into())))
    }

    /// The bootstrap broker (any broker answers metadata and forwards admin requests).
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata for `topics` (None: every topic).
    pub fn metadata(
        &mut self,
        topics: Option<Vec<String>>,
    ) -> Result<MetadataResponse, AdminError> {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        use kafka_protocol::messages::TopicName;
        let request = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(topics.map(|names| {
                names
                    .into_iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n))))
                    })
                    .collect()
            }));
        self.bootstrap.call(request)
    }

    /// A connection to broker `node_id`, as metadata advertises it.
    pub fn broker(&mut self, node_id: i32) -> Result<&mut Connection, AdminError> {
        if self.others.contains_key(&node_id) {
            return Ok(self.others.get_mut(&node_id).expect("checked above"));
        }
        let metadata = self.metadata(Some(Vec::new()))?;
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == node_id)
            .ok_or_else(|| AdminError::Protocol(format!("no broker {node_id} in metadata")))?;
        let address = format!("{}:{}", broker.host, broker.port);
        if address == self.bootstrap.address() {
            return Ok(&mut self.bootstrap);
        }
        let connection = Connection::connect_with(&address, self.timeout, &self.security)?;
        Ok(self.others.entry(node_id).or_insert(connection))
    }

    /// A connection to the coordinator of a group (key type 0) or transactional id (1).
    pub fn coordinator(&mut self, key: &str, key_type: i8) -> Result<&mut Connection, AdminError> {
        let version = self.bootstrap.version_for::<FindCoordinatorRequest>()?;
        let key_bytes = StrBytes::from_string(key.to_string());
        let request = FindCoordinatorRequest::default().with_key_type(key_type);
        // v4 batches keys; earlier versions name one.
        let request = if version >= 4 {
            request.with_coordinator_keys(vec![key_bytes])
        } else {
            request.with_key(key_bytes)
        };
        let response = self.bootstrap.call(request)?;
        let (code, node) = if version >= 4 {
            let c = response
                .coordinators
                .first()
                .ok_or_else(|| AdminError::Protocol("FindCoordinator answered nothing".into()))?;
            (c.error_code, c.node_id.0)
        } else {
            (response.error_code, response.node_id.0)
        };
        if code != 0 {
            return Err(AdminError::kafka("FindCoordinator", code, None));
        }
        self.broker(node)
    }
}
