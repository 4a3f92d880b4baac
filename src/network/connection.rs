//! `Connection`: one per client TCP connection. Owns framing and the order of responses.
//!
//! A reader task turns bytes into frames (bounded by `socket.request.max.bytes`); requests are
//! handled concurrently, up to `MAX_IN_FLIGHT` per connection (librdkafka pipelines five), and
//! their responses are written strictly in request order. Bad framing or an undecodable request
//! closes this connection only, with a logged reason. On shutdown it stops reading, finishes
//! what is in flight, and closes.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::broker::BrokerContext;
use crate::protocol::response::ResponseFrame;
use crate::protocol::{frame::read_frame, handle_frame, ProtocolError};
use crate::runtime::supervision::panic_message;

/// Requests handled at once on one connection before the reader waits.
const MAX_IN_FLIGHT: usize = 16;

pub struct Connection {
    stream: Option<TcpStream>,
    peer: SocketAddr,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    pub fn new(
        stream: Option<TcpStream>,
        peer: SocketAddr,
        broker: Arc<BrokerContext>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Connection {
            stream,
            peer,
            broker,
            shutdown,
        }
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
    peer: &str,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    #[cfg(feature = "test-hooks")]
    let is_produce = frame.get(..2) == Some(&[0, 0]);
    match AssertUnwindSafe(handle_frame(broker, frame, peer))
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
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let max_frame = broker
        .config
        .get_i64("socket.request.max.bytes")
        .clamp(1, i32::MAX as i64) as i32;
    let (mut reader, mut writer) = stream.into_split();
    let host = peer.ip().to_string();
    let (frames_tx, mut frames_rx) = mpsc::channel::<Bytes>(MAX_IN_FLIGHT);
    let read_task = actix::spawn(async move {
        loop {
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
    loop {
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                Ok(Some(response)) => {
                    let response: ResponseFrame = response;
                    if let Err(e) = response.write_to(&mut writer).await {
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
            frame = frames_rx.recv(), if !draining && in_flight.len() < MAX_IN_FLIGHT => match frame {
                Some(frame) => {
                    let broker = broker.clone();
                    let host = host.clone();
                    in_flight.push_back(async move { guarded_handle(&broker, frame, &host).await });
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
    let _ = writer.shutdown().await;
}
