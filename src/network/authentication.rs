//! The SASL exchange of a connection on a SASL listener (KIP-152 framing): at the start,
//! ApiVersions may come first, then SaslHandshake, then SaslAuthenticate requests until the
//! mechanism is done; nothing else is served before it succeeds. Any failure answers the
//! client, waits `connection.failed.authentication.delay.ms` and closes the connection.
//!
//! Re-authentication (KIP-368) runs the same exchange again on an authenticated connection,
//! begun by a SaslHandshake (the connection decides when one may begin, see `connection`):
//! the same mechanism and principal are required, ApiVersions is not expected, and success
//! renews the session's lifetime. Each successful exchange tells the client (SaslAuthenticate
//! v1+) the session's lifetime: `connections.max.reauth.ms` of the listener and mechanism,
//! bounded by the credential's own expiry (an OAUTHBEARER token's `exp`), or 0 when nothing
//! bounds it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::broker::BrokerContext;
use crate::network::connection::FrameWriter;
use crate::network::listener::ListenerSecurity;
use crate::network::listener_status::ListenerStatus;
use crate::protocol::frame::read_frame;
use crate::protocol::handlers::{sasl_authenticate, sasl_handshake};
use crate::protocol::response::ResponseFrame;
use crate::protocol::{encode_response, handle_frame, parse_request, ParsedRequest, Session};
use crate::runtime::clock::wall_clock_ms;
use crate::security::reauth::session_lifetime_ms;
use crate::security::{SaslMechanism, SaslSession, SaslStep};

/// Why the exchange ended without a principal; the connection is closed after it.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticationEnd {
    #[error("client went away during SASL authentication")]
    ClientGone,
    #[error("{0}")]
    Refused(String),
}

/// A finished exchange.
#[derive(Debug)]
pub struct Authenticated {
    /// `User:<name>`.
    pub principal: String,
    pub mechanism: SaslMechanism,
    /// When the session expires (KIP-368); `None`: never.
    pub expires_at: Option<Instant>,
}

/// Where an exchange reads the client's requests from.
pub(crate) trait FrameSource {
    /// The next request frame; `Ok(None)` when the client went away.
    async fn next_frame(&mut self) -> Result<Option<Bytes>, String>;
}

/// The socket itself, one frame at a time: the first exchange, before anything else is read.
pub(crate) struct SocketFrames<'a, R> {
    pub reader: &'a mut R,
    pub max_frame: i32,
}

impl<R: AsyncRead + Unpin> FrameSource for SocketFrames<'_, R> {
    async fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        read_frame(self.reader, self.max_frame)
            .await
            .map_err(|e| format!("bad frame: {e}"))
    }
}

/// Frames the connection's reader task already read: a re-authentication, beginning with the
/// SaslHandshake that started it.
pub(crate) struct QueuedFrames<'a> {
    pub first: Option<Bytes>,
    pub rest: &'a mut mpsc::Receiver<Bytes>,
}

impl FrameSource for QueuedFrames<'_> {
    async fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        match self.first.take() {
            Some(frame) => Ok(Some(frame)),
            None => Ok(self.rest.recv().await),
        }
    }
}

/// Runs `exchange` (a first authentication or a re-authentication) to its end.
pub(crate) async fn authenticate(
    frames: &mut impl FrameSource,
    writer: &mut FrameWriter,
    mut exchange: SaslSession,
    listener: &ListenerSecurity,
    broker: &Arc<BrokerContext>,
    session: &Session,
) -> Result<Authenticated, AuthenticationEnd> {
    let counters = Counters {
        listener: session.listener.to_string(),
        reauthentication: exchange.is_reauthentication(),
        status: &listener.status,
    };
    let during = if counters.reauthentication {
        "during SASL re-authentication"
    } else {
        "before SASL authentication completed"
    };
    loop {
        let frame = match frames.next_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Err(AuthenticationEnd::ClientGone),
            Err(e) => return Err(AuthenticationEnd::Refused(e)),
        };
        let parsed = parse_request(frame.clone())
            .map_err(|e| AuthenticationEnd::Refused(format!("bad request: {e}")))?;
        let (version, correlation_id, body) = match parsed {
            ParsedRequest::UnsupportedApiVersions { .. } if !counters.reauthentication => {
                answer_normally(writer, broker, frame, session).await?;
                continue;
            }
            ParsedRequest::UnsupportedApiVersions { .. } => {
                return Err(AuthenticationEnd::Refused(format!(
                    "ApiVersions request {during}"
                )))
            }
            ParsedRequest::Request {
                version,
                correlation_id,
                body,
                ..
            } => (version, correlation_id, *body),
        };
        match body {
            // Kafka serves ApiVersions before the first exchange only.
            RequestKind::ApiVersions(_) if !counters.reauthentication => {
                answer_normally(writer, broker, frame, session).await?
            }
            RequestKind::SaslHandshake(req) => {
                let (response, outcome) = sasl_handshake::handle(&mut exchange, &req);
                write(writer, encode_response(correlation_id, version, &response)).await?;
                if let Err(e) = outcome {
                    counters.failure(req.mechanism.as_str());
                    return Err(AuthenticationEnd::Refused(e.to_string()));
                }
                if version == 0 {
                    // v0 announces raw, unframed tokens next: the pre-KIP-152 flow, refused.
                    return Err(AuthenticationEnd::Refused(
                        "SaslHandshake v0 (the unframed SASL flow) is not served; clients must use SaslAuthenticate".into(),
                    ));
                }
            }
            RequestKind::SaslAuthenticate(req) => {
                let (response, outcome) =
                    sasl_authenticate::handle(&mut exchange, &req, |user, mechanism| {
                        broker.scram_credential(user, mechanism)
                    });
                let mechanism = exchange.mechanism();
                let mechanism_name = mechanism.map(|m| m.name()).unwrap_or("none");
                match (outcome, mechanism) {
                    (Ok(SaslStep::Challenge(_)), _) => {
                        write(writer, encode_response(correlation_id, version, &response)).await?;
                    }
                    (Ok(SaslStep::Authenticated { principal, .. }), Some(mechanism)) => {
                        let lifetime = session_lifetime_ms(
                            listener.max_reauth_ms(mechanism),
                            exchange.credential_expiry_ms(),
                            wall_clock_ms(),
                        );
                        let expires_at =
                            lifetime.map(|ms| Instant::now() + Duration::from_millis(ms as u64));
                        // Not encoded below v1: those clients are not told, and are
                        // disconnected at expiry all the same (Kafka does the same).
                        let response = response.with_session_lifetime_ms(lifetime.unwrap_or(0));
                        write(writer, encode_response(correlation_id, version, &response)).await?;
                        counters.success(mechanism_name);
                        tracing::debug!(listener = %session.listener, host = %session.host,
                            principal, mechanism = mechanism_name, session_lifetime_ms = lifetime,
                            reauthentication = counters.reauthentication, "SASL session authenticated");
                        return Ok(Authenticated {
                            principal,
                            mechanism,
                            expires_at,
                        });
                    }
                    (Ok(SaslStep::Authenticated { .. }), None) => {
                        return Err(AuthenticationEnd::Refused(
                            "SASL exchange ended without a mechanism".into(),
                        ))
                    }
                    (Err(e), _) => {
                        counters.failure(mechanism_name);
                        write(writer, encode_response(correlation_id, version, &response)).await?;
                        // Kafka's delayed close: the answer goes out at once, the connection
                        // closes `connection.failed.authentication.delay.ms` later, so a
                        // client guessing passwords cannot retry faster than that.
                        let delay = broker
                            .config
                            .get_i64("connection.failed.authentication.delay.ms")
                            .max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        return Err(AuthenticationEnd::Refused(e.to_string()));
                    }
                }
            }
            other => {
                return Err(AuthenticationEnd::Refused(format!(
                    "{} request {during}",
                    crate::protocol::api_label(&other)
                )))
            }
        }
    }
}

/// The success and failure counters of one exchange: `troupe_authentication_*` for a first
/// authentication, `troupe_reauthentication_*` for a re-authentication, by listener and
/// mechanism; and the listener's own on `/healthz`.
struct Counters<'a> {
    listener: String,
    reauthentication: bool,
    status: &'a ListenerStatus,
}

impl Counters<'_> {
    fn success(&self, mechanism: &'static str) {
        self.status.authentication_succeeded(self.reauthentication);
        let name = if self.reauthentication {
            "troupe_reauthentication_success_total"
        } else {
            "troupe_authentication_success_total"
        };
        metrics::counter!(name, "listener" => self.listener.clone(), "mechanism" => mechanism)
            .increment(1);
    }

    fn failure(&self, mechanism: &str) {
        self.status.authentication_failed(self.reauthentication);
        let mechanism = SaslMechanism::from_name(mechanism)
            .map(|m| m.name())
            .unwrap_or("unsupported");
        let name = if self.reauthentication {
            "troupe_reauthentication_failure_total"
        } else {
            "troupe_authentication_failure_total"
        };
        metrics::counter!(name, "listener" => self.listener.clone(), "mechanism" => mechanism)
            .increment(1);
    }
}

async fn answer_normally(
    writer: &mut FrameWriter,
    broker: &Arc<BrokerContext>,
    frame: Bytes,
    session: &Session,
) -> Result<(), AuthenticationEnd> {
    match handle_frame(broker, frame, session).await {
        Ok(Some(response)) => writer
            .write(&response)
            .await
            .map_err(|_| AuthenticationEnd::ClientGone),
        Ok(None) => Ok(()),
        Err(e) => Err(AuthenticationEnd::Refused(format!("bad request: {e}"))),
    }
}

async fn write(
    writer: &mut FrameWriter,
    encoded: Result<Bytes, crate::protocol::ProtocolError>,
) -> Result<(), AuthenticationEnd> {
    let bytes = encoded.map_err(|e| AuthenticationEnd::Refused(e.to_string()))?;
    writer
        .write(&ResponseFrame::from(bytes))
        .await
        .map_err(|_| AuthenticationEnd::ClientGone)
}
