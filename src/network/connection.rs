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

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::broker::BrokerContext;
use crate::network::authentication::authenticate;
use crate::network::connection_quotas::ConnectionSlot;
use crate::network::listener::ListenerSecurity;
use crate::protocol::response::ResponseFrame;
use crate::protocol::{frame::read_frame, handle_frame, ProtocolError, Session};
use crate::runtime::supervision::panic_message;
use crate::security::ANONYMOUS;

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
    if let Some(sasl) = &listener.sasl {
        match authenticate(
            &mut reader,
            &mut writer,
            sasl.clone(),
            &broker,
            &session,
            max_frame,
        )
        .await
        {
            Ok(principal) => session.principal = Arc::from(principal.as_str()),
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
    loop {
        let muted = muted_until > tokio::time::Instant::now();
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                Ok(Some(response)) => {
                    let response: ResponseFrame = response;
                    let mute = response.mute();
                    let written = if response.is_empty() {
                        Ok(())
                    } else {
                        writer.write(&response).await
                    };
                    if !mute.is_zero() {
                        muted_until = muted_until.max(tokio::time::Instant::now() + mute);
                        let _ = muted_tx.send(muted_until);
                    }
                    if let Err(e) = written {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            tracing::warn!(%peer, reason = %e, "closing connection: response cut short");
                        } else {
                            tracing::debug!(%peer, error = %e, "client went away");
                        }
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%peer, reason = %e, "closing connection: bad request");
                    break;
                }
            },
            _ = tokio::time::sleep_until(muted_until), if muted && !draining => {}
            frame = frames_rx.recv(), if !draining && !muted && in_flight.len() < MAX_IN_FLIGHT => match frame {
                Some(frame) => {
                    let broker = broker.clone();
                    let session = session.clone();
                    in_flight.push_back(async move { guarded_handle(&broker, frame, &session).await });
                }
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
