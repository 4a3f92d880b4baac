//! `Connection`: one per client TCP connection. Owns framing and the order of responses.
//!
//! On a TLS listener the handshake comes first (its client certificate, if any, names the
//! principal); on a SASL listener the SASL exchange (`authentication`) comes next. Then a
//! reader task turns bytes into frames (bounded by `socket.request.max.bytes`); requests are
//! handled concurrently, up to `MAX_IN_FLIGHT` per connection (librdkafka pipelines five), and
//! their responses are written strictly in request order. Bad framing or an undecodable request
//! closes this connection only, with a logged reason. On shutdown it stops reading, finishes
//! what is in flight, and closes.
//!
//! A throttled response (client quotas, KIP-219) is written at once; then the connection is
//! muted for its throttle time: no further request is read from the socket or handled until
//! it ends, so a client that ignores `throttle_time_ms` is held all the same.
//!
//! A SASL session with a lifetime (KIP-368, `connections.max.reauth.ms` or an expiring
//! credential) is renewed by a SaslHandshake: the responses of the requests before it are
//! written first, in order, then the re-authentication runs. A session past its expiry is
//! closed when its next request other than that SaslHandshake arrives, as Kafka's
//! `SocketServer` does (the requests still in flight are dropped with it).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::broker::BrokerContext;
use crate::network::authentication::{authenticate, Authenticated, QueuedFrames, SocketFrames};
use crate::network::connection_quotas::ConnectionSlot;
use crate::network::listener::ListenerSecurity;
use crate::network::listener_status::OpenConnection;
use crate::protocol::response::ResponseFrame;
use crate::protocol::{frame::read_frame, handle_frame, ProtocolError, Session};
use crate::runtime::supervision::panic_message;
use crate::security::reauth::may_begin_reauthentication;
use crate::security::{Reauthenticating, SaslMechanism, SaslSession, ANONYMOUS};

/// Requests handled at once on one connection before the reader waits.
const MAX_IN_FLIGHT: usize = 16;

pub struct Connection {
    stream: Option<TcpStream>,
    peer: SocketAddr,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
    listener: Arc<ListenerSecurity>,
    /// This connection's share of the connection limits, given back when the actor is
    /// dropped, however it stopped.
    _slot: ConnectionSlot,
    /// Counts it among its listener's open connections on `/healthz`, likewise until dropped.
    _open: OpenConnection,
}

impl Connection {
    pub fn new(
        stream: Option<TcpStream>,
        peer: SocketAddr,
        broker: Arc<BrokerContext>,
        shutdown: watch::Receiver<bool>,
        listener: Arc<ListenerSecurity>,
        slot: ConnectionSlot,
    ) -> Self {
        Connection {
            stream,
            peer,
            broker,
            shutdown,
            _open: listener.status.connection_opened(),
            listener,
            _slot: slot,
        }
    }
}

/// Where response frames go: the socket itself (file ranges by `sendfile`), or a TLS stream
/// (file ranges read and encrypted: the kernel cannot send them as they are).
pub enum FrameWriter {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<crate::network::tls::ServerTlsStream>),
}

impl FrameWriter {
    pub async fn write(&mut self, frame: &ResponseFrame) -> std::io::Result<()> {
        match self {
            FrameWriter::Plain(w) => frame.write_to(w).await,
            FrameWriter::Tls(w) => frame.write_copying(w).await,
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            FrameWriter::Plain(w) => w.shutdown().await,
            FrameWriter::Tls(w) => w.shutdown().await,
        };
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(stream) = self.stream.take() else {
            ctx.stop();
            return;
        };
        self.broker
            .active_connections
            .fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("troupe_connections").increment(1.0);
        let serving = serve(
            stream,
            self.peer,
            self.broker.clone(),
            self.shutdown.clone(),
            self.listener.clone(),
        );
        ctx.spawn(serving.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.broker
            .active_connections
            .fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("troupe_connections").decrement(1.0);
    }
}

/// Handles one request; a panic in a handler closes this connection (counted on /healthz)
/// instead of unwinding through the arbiter thread that hosts other connections and partitions.
async fn guarded_handle(
    broker: &Arc<BrokerContext>,
    frame: Bytes,
    session: &Session,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    #[cfg(feature = "test-hooks")]
    let is_produce = frame.get(..2) == Some(&[0, 0]);
    match AssertUnwindSafe(handle_frame(broker, frame, session))
        .catch_unwind()
        .await
    {
        #[cfg(feature = "test-hooks")]
        Ok(Ok(Some(_))) if is_produce && crate::test_hooks::take_produce_response_drop() => {
            Err(ProtocolError::DroppedByTestHook)
        }
        Ok(result) => result,
        Err(panic) => {
            broker.health.record_restart("connection-handler");
            Err(ProtocolError::HandlerPanicked(panic_message(
                panic.as_ref(),
            )))
        }
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
    listener: Arc<ListenerSecurity>,
) {
    let _ = stream.set_nodelay(true);
    let mut session = Session {
        host: peer.ip().to_string(),
        listener: listener.name.clone(),
        principal: Arc::from(ANONYMOUS),
    };
    match &listener.tls {
        None => {
            let (reader, writer) = stream.into_split();
            serve_stream(
                reader,
                FrameWriter::Plain(writer),
                peer,
                broker,
                shutdown,
                &listener,
                session,
            )
            .await
        }
        Some(tls) => {
            let accepted = match tls.accept(stream).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    metrics::counter!("troupe_tls_handshake_failures_total",
                        "listener" => listener.name.to_string())
                    .increment(1);
                    listener.status.tls_handshake_failed();
                    tracing::warn!(%peer, listener = %listener.name, reason = %e, "closing connection: TLS handshake failed");
                    return;
                }
            };
            if let Some(principal) = accepted.principal {
                session.principal = Arc::from(principal.as_str());
            }
            let (reader, writer) = tokio::io::split(accepted.stream);
            serve_stream(
                reader,
                FrameWriter::Tls(writer),
                peer,
                broker,
                shutdown,
                &listener,
                session,
            )
            .await
        }
    }
}

/// What a SASL-authenticated connection keeps of its session for KIP-368.
struct SaslSessionState {
    mechanism: SaslMechanism,
    /// `None`: the session never expires (and cannot be re-authenticated).
    expires_at: Option<Instant>,
    last_reauthentication_began: Option<Instant>,
}

impl SaslSessionState {
    fn new(done: Authenticated) -> SaslSessionState {
        SaslSessionState {
            mechanism: done.mechanism,
            expires_at: done.expires_at,
            last_reauthentication_began: None,
        }
    }
}

/// What to do with a request frame of an established connection.
#[derive(Debug, PartialEq, Eq)]
enum FrameAction {
    Serve,
    /// A SaslHandshake that begins a re-authentication.
    Reauthenticate,
    /// The session outlived its lifetime: close the connection.
    Expired,
}

/// Kafka's `SocketServer` rule: a SaslHandshake re-authenticates when the session has an
/// expiry and the last re-authentication began at least a second ago; otherwise an expired
/// session is closed, and everything else is served (a SaslHandshake that may not
/// re-authenticate is answered ILLEGAL_SASL_STATE by its handler).
fn classify(frame: &[u8], sasl: Option<&SaslSessionState>, now: Instant) -> FrameAction {
    let Some(sasl) = sasl else {
        return FrameAction::Serve;
    };
    let Some(expires_at) = sasl.expires_at else {
        return FrameAction::Serve;
    };
    let is_handshake = frame.get(..2) == Some(&(ApiKey::SaslHandshake as i16).to_be_bytes()[..]);
    let since_last = sasl
        .last_reauthentication_began
        .map(|began| now.saturating_duration_since(began).as_millis() as u64);
    if is_handshake && may_begin_reauthentication(since_last) {
        FrameAction::Reauthenticate
    } else if now > expires_at {
        FrameAction::Expired
    } else {
        FrameAction::Serve
    }
}

/// What writing a finished request's response leaves the connection with.
enum Written {
    /// Still open; muted until then if the response was throttled.
    Open {
        muted_until: Option<std::time::Instant>,
    },
    /// The connection must close.
    Closed,
}

/// Writes the response of a finished request.
async fn write_done(
    writer: &mut FrameWriter,
    peer: SocketAddr,
    done: Result<Option<ResponseFrame>, ProtocolError>,
) -> Written {
    match done {
        Ok(Some(response)) => {
            // A throttled acks=0 produce has nothing to send but still mutes.
            let written = if response.is_empty() {
                Ok(())
            } else {
                writer.write(&response).await
            };
            match written {
                Ok(()) => Written::Open {
                    muted_until: response.mute_until(),
                },
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        tracing::warn!(%peer, reason = %e, "closing connection: response cut short");
                    } else {
                        tracing::debug!(%peer, error = %e, "client went away");
                    }
                    Written::Closed
                }
            }
        }
        Ok(None) => Written::Open { muted_until: None },
        Err(e) => {
            tracing::warn!(%peer, reason = %e, "closing connection: bad request");
            Written::Closed
        }
    }
}

/// Serves one connection's (decrypted) byte stream: the SASL exchange if the listener asks
/// for one, then requests until the client leaves or shutdown drains it.
async fn serve_stream<R: AsyncRead + Unpin + Send + 'static>(
    mut reader: R,
    mut writer: FrameWriter,
    peer: SocketAddr,
    broker: Arc<BrokerContext>,
    mut shutdown: watch::Receiver<bool>,
    listener: &ListenerSecurity,
    mut session: Session,
) {
    let max_frame = broker
        .config
        .get_i64("socket.request.max.bytes")
        .clamp(1, i32::MAX as i64) as i32;
    let mut sasl_session = None;
    if let Some(sasl) = &listener.sasl {
        let mut frames = SocketFrames {
            reader: &mut reader,
            max_frame,
        };
        let exchange = SaslSession::new(sasl.clone());
        match authenticate(
            &mut frames,
            &mut writer,
            exchange,
            listener,
            &broker,
            &session,
        )
        .await
        {
            Ok(done) => {
                session.principal = Arc::from(done.principal.as_str());
                sasl_session = Some(SaslSessionState::new(done));
            }
            Err(end) => {
                tracing::warn!(%peer, listener = %listener.name, reason = %end, "closing connection: SASL authentication did not complete");
                writer.shutdown().await;
                return;
            }
        }
    }
    let (frames_tx, mut frames_rx) = mpsc::channel::<Bytes>(MAX_IN_FLIGHT);
    // Until when this connection is muted by a throttled response.
    let (muted_tx, mut muted_rx) = watch::channel(tokio::time::Instant::now());
    let read_task = actix::spawn(async move {
        loop {
            // Muted: read nothing from the socket until the throttle ends (it may be extended
            // while we sleep).
            loop {
                let until = *muted_rx.borrow_and_update();
                if until <= tokio::time::Instant::now() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    changed = muted_rx.changed() => if changed.is_err() { return },
                }
            }
            match read_frame(&mut reader, max_frame).await {
                Ok(Some(frame)) => {
                    if frames_tx.send(frame).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, reason = %e, "closing connection: bad frame");
                    break;
                }
            }
        }
    });

    let mut in_flight = FuturesOrdered::new();
    let mut draining = *shutdown.borrow();
    let mut muted_until = tokio::time::Instant::now();
    // Requests handled at once. A connection that has been throttled is served one request at
    // a time from then on, as Kafka serves every connection: each request is then measured
    // after the previous throttle ended, instead of a pipelined burst all recorded before the
    // first mute starts (which held a producer at about 0.7 of its quota).
    let mut in_flight_limit = MAX_IN_FLIGHT;
    loop {
        let muted = muted_until > tokio::time::Instant::now();
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                match write_done(&mut writer, peer, done).await {
                    Written::Open { muted_until: Some(until) } => {
                        in_flight_limit = 1;
                        muted_until = muted_until.max(tokio::time::Instant::from_std(until));
                        let _ = muted_tx.send(muted_until);
                    }
                    Written::Open { muted_until: None } => {}
                    Written::Closed => break,
                }
            }
            _ = tokio::time::sleep_until(muted_until), if muted && !draining => {}
            frame = frames_rx.recv(), if !draining && !muted && in_flight.len() < in_flight_limit => match frame {
                Some(frame) => match classify(&frame, sasl_session.as_ref(), Instant::now()) {
                    FrameAction::Serve => {
                        let broker = broker.clone();
                        let session = session.clone();
                        in_flight.push_back(async move { guarded_handle(&broker, frame, &session).await });
                    }
                    FrameAction::Expired => {
                        metrics::counter!("troupe_expired_connections_killed_total",
                            "listener" => listener.name.to_string())
                        .increment(1);
                        tracing::info!(%peer, listener = %listener.name, principal = %session.principal,
                            "closing connection: SASL session expired and was not re-authenticated");
                        break;
                    }
                    FrameAction::Reauthenticate => {
                        // The answers to the requests before the SaslHandshake go out first.
                        let mut written = true;
                        while let Some(done) = in_flight.next().await {
                            written = written
                                && matches!(write_done(&mut writer, peer, done).await, Written::Open { .. });
                        }
                        if !written {
                            break;
                        }
                        let (Some(sasl), Some(state)) = (&listener.sasl, sasl_session.as_mut()) else {
                            break;
                        };
                        state.last_reauthentication_began = Some(Instant::now());
                        let exchange = SaslSession::reauthenticating(
                            sasl.clone(),
                            Reauthenticating {
                                mechanism: state.mechanism,
                                principal: session.principal.to_string(),
                            },
                        );
                        let mut frames = QueuedFrames { first: Some(frame), rest: &mut frames_rx };
                        match authenticate(&mut frames, &mut writer, exchange, listener, &broker, &session).await {
                            Ok(done) => state.expires_at = done.expires_at,
                            Err(end) => {
                                tracing::warn!(%peer, listener = %listener.name, reason = %end,
                                    "closing connection: SASL re-authentication failed");
                                break;
                            }
                        }
                    }
                },
                None => draining = true,
            },
            changed = shutdown.changed(), if !draining => {
                if changed.is_err() || *shutdown.borrow() {
                    draining = true;
                }
            }
        }
        if draining && in_flight.is_empty() {
            break;
        }
    }
    read_task.abort();
    writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn frame(api_key: ApiKey) -> Vec<u8> {
        let mut f = (api_key as i16).to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 1, 0, 0, 0, 7]);
        f
    }

    fn state(expires_at: Option<Instant>, began: Option<Instant>) -> SaslSessionState {
        SaslSessionState {
            mechanism: SaslMechanism::Plain,
            expires_at,
            last_reauthentication_began: began,
        }
    }

    #[test]
    fn without_a_sasl_session_or_an_expiry_everything_is_served() {
        let now = Instant::now();
        let handshake = frame(ApiKey::SaslHandshake);
        assert_eq!(classify(&handshake, None, now), FrameAction::Serve);
        let forever = state(None, None);
        assert_eq!(
            classify(&handshake, Some(&forever), now),
            FrameAction::Serve
        );
        assert_eq!(
            classify(
                &frame(ApiKey::Produce),
                Some(&forever),
                now + Duration::from_secs(86_400)
            ),
            FrameAction::Serve
        );
    }

    #[test]
    fn a_session_past_its_expiry_is_closed_on_its_next_request() {
        let now = Instant::now();
        let s = state(Some(now + Duration::from_secs(3)), None);
        let produce = frame(ApiKey::Produce);
        assert_eq!(classify(&produce, Some(&s), now), FrameAction::Serve);
        assert_eq!(
            classify(&produce, Some(&s), now + Duration::from_secs(3)),
            FrameAction::Serve,
            "expired only once past the expiry"
        );
        let later = now + Duration::from_millis(3_001);
        assert_eq!(classify(&produce, Some(&s), later), FrameAction::Expired);
        assert_eq!(
            classify(&frame(ApiKey::SaslAuthenticate), Some(&s), later),
            FrameAction::Expired
        );
        // A SaslHandshake re-authenticates, before or after the expiry.
        let handshake = frame(ApiKey::SaslHandshake);
        assert_eq!(
            classify(&handshake, Some(&s), now),
            FrameAction::Reauthenticate
        );
        assert_eq!(
            classify(&handshake, Some(&s), later),
            FrameAction::Reauthenticate
        );
    }

    #[test]
    fn at_most_one_reauthentication_begins_a_second() {
        let now = Instant::now();
        let handshake = frame(ApiKey::SaslHandshake);
        let s = state(Some(now + Duration::from_secs(60)), Some(now));
        let soon = now + Duration::from_millis(500);
        assert_eq!(classify(&handshake, Some(&s), soon), FrameAction::Serve);
        assert_eq!(
            classify(&handshake, Some(&s), now + Duration::from_secs(1)),
            FrameAction::Reauthenticate
        );
        // Too soon and expired: closed, as Kafka does.
        let expired = state(Some(now), Some(now));
        assert_eq!(
            classify(&handshake, Some(&expired), soon),
            FrameAction::Expired
        );
    }

    #[test]
    fn a_frame_too_short_for_an_api_key_is_not_a_handshake() {
        let now = Instant::now();
        let s = state(Some(now + Duration::from_secs(60)), None);
        assert_eq!(classify(&[0], Some(&s), now), FrameAction::Serve);
        assert_eq!(classify(&[], Some(&s), now), FrameAction::Serve);
    }
}
