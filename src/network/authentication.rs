//! The SASL exchange at the start of a connection on a SASL listener (KIP-152 framing):
//! ApiVersions may come first, then SaslHandshake, then SaslAuthenticate requests until the
//! mechanism is done. Requests are taken one at a time; nothing else is served before the
//! exchange succeeds, and any failure answers the client, waits
//! `connection.failed.authentication.delay.ms` and closes the connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;
use tokio::io::AsyncRead;

use crate::broker::BrokerContext;
use crate::network::connection::FrameWriter;
use crate::protocol::frame::read_frame;
use crate::protocol::handlers::{sasl_authenticate, sasl_handshake};
use crate::protocol::response::ResponseFrame;
use crate::protocol::{encode_response, handle_frame, parse_request, ParsedRequest, Session};
use crate::security::{SaslListenerConfig, SaslSession, SaslStep};

/// Why the exchange ended without a principal; the connection is closed after it.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticationEnd {
    #[error("client went away during SASL authentication")]
    ClientGone,
    #[error("{0}")]
    Refused(String),
}

/// Runs the exchange; returns the authenticated principal (`User:<name>`).
pub async fn authenticate<R: AsyncRead + Unpin>(
    reader: &mut R,
    writer: &mut FrameWriter,
    sasl: Arc<SaslListenerConfig>,
    broker: &Arc<BrokerContext>,
    session: &Session,
    max_frame: i32,
) -> Result<String, AuthenticationEnd> {
    let mut exchange = SaslSession::new(sasl);
    let listener = session.listener.to_string();
    loop {
        let frame = match read_frame(reader, max_frame).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Err(AuthenticationEnd::ClientGone),
            Err(e) => return Err(AuthenticationEnd::Refused(format!("bad frame: {e}"))),
        };
        let parsed = parse_request(frame.clone())
            .map_err(|e| AuthenticationEnd::Refused(format!("bad request: {e}")))?;
        let (version, correlation_id, body) = match parsed {
            ParsedRequest::UnsupportedApiVersions { .. } => {
                answer_normally(writer, broker, frame, session).await?;
                continue;
            }
            ParsedRequest::Request {
                version,
                correlation_id,
                body,
                ..
            } => (version, correlation_id, *body),
        };
        match body {
            RequestKind::ApiVersions(_) => answer_normally(writer, broker, frame, session).await?,
            RequestKind::SaslHandshake(req) => {
                let (response, outcome) = sasl_handshake::handle(&mut exchange, &req);
                write(writer, encode_response(correlation_id, version, &response)).await?;
                if let Err(e) = outcome {
                    count_failure(&listener, req.mechanism.as_str());
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
                let mechanism = exchange_mechanism(&exchange);
                match outcome {
                    Ok(SaslStep::Challenge(_)) => {
                        write(writer, encode_response(correlation_id, version, &response)).await?;
                    }
                    Ok(SaslStep::Authenticated { principal, .. }) => {
                        write(writer, encode_response(correlation_id, version, &response)).await?;
                        metrics::counter!("troupe_authentication_success_total",
                            "listener" => listener.clone(), "mechanism" => mechanism)
                        .increment(1);
                        return Ok(principal);
                    }
                    Err(e) => {
                        count_failure(&listener, mechanism);
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
                    "{} request before SASL authentication completed",
                    crate::protocol::api_label(&other)
                )))
            }
        }
    }
}

fn exchange_mechanism(exchange: &SaslSession) -> &'static str {
    exchange.mechanism().map(|m| m.name()).unwrap_or("none")
}

fn count_failure(listener: &str, mechanism: &str) {
    let mechanism = crate::security::SaslMechanism::from_name(mechanism)
        .map(|m| m.name())
        .unwrap_or("unsupported");
    metrics::counter!("troupe_authentication_failure_total",
        "listener" => listener.to_string(), "mechanism" => mechanism)
    .increment(1);
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
