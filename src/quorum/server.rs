//! The accepting side of the quorum RPC: one task per connection, serving its requests in
//! order (a peer sends the next request only after reading the previous response).
//!
//! Raft requests go straight to the local raft core. `Forward` runs the registered
//! `ForwardHandler` only while this node leads; `AddLearner` is `membership::add_learner`.
//! A frame that breaks the protocol closes that connection with a logged reason; nothing a peer
//! sends can panic the server.
//!
//! With TLS configured every connection first completes a mutual-TLS handshake (within
//! `HANDSHAKE_TIMEOUT`): a peer without a certificate chaining to the inter-broker
//! truststore is refused before it can send a frame.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::membership;
use super::shutdown::Shutdown;
use super::types::{to_troupe_id, ForwardHandler, Raft};
use super::wire::{read_frame, write_frame, Refused, Request, Response};

/// How long a peer has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Server {
    pub(crate) node_id: i32,
    pub(crate) raft: Raft,
    pub(crate) forward: Arc<dyn ForwardHandler>,
    /// Mutual TLS; `None`: plaintext.
    pub(crate) tls: Option<TlsAcceptor>,
}

impl Server {
    /// Accepts connections until `shutdown`; each connection also stops at `shutdown`.
    pub(crate) async fn run(self: Arc<Self>, listener: TcpListener, shutdown: Shutdown) {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.wait() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let server = self.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = shutdown.wait() => {}
                            _ = server.accept(stream, peer) => {}
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(node = self.node_id, "quorum RPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// The TLS handshake when configured, then the connection's requests.
    async fn accept(&self, stream: TcpStream, peer: SocketAddr) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "quorum RPC: set_nodelay failed: {e}");
        }
        match &self.tls {
            None => self.serve_connection(stream, peer).await,
            Some(acceptor) => {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => self.serve_connection(tls, peer).await,
                    Ok(Err(e)) => tracing::warn!(
                        node = self.node_id,
                        %peer,
                        "quorum RPC: TLS handshake refused: {e}"
                    ),
                    Err(_) => tracing::warn!(
                        node = self.node_id,
                        %peer,
                        "quorum RPC: TLS handshake not finished within {HANDSHAKE_TIMEOUT:?}"
                    ),
                }
            }
        }
    }

    async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        peer: SocketAddr,
    ) {
        loop {
            let req = match read_frame::<_, Request>(&mut stream).await {
                Ok(Some(req)) => req,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(node = self.node_id, %peer, "closing quorum RPC connection: {e}");
                    return;
                }
            };
            let resp = self.handle(req).await;
            if let Err(e) = write_frame(&mut stream, &resp).await {
                tracing::debug!(node = self.node_id, %peer, "quorum RPC response not sent: {e}");
                return;
            }
        }
    }

    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::AppendEntries(rpc) => {
                Response::AppendEntries(self.raft.append_entries(rpc).await)
            }
            Request::Vote(rpc) => Response::Vote(self.raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => {
                Response::InstallSnapshot(self.raft.install_snapshot(rpc).await)
            }
            Request::Forward { from, request } => {
                Response::Forward(self.forward(from, request).await)
            }
            Request::AddLearner { id, addr } => Response::AddLearner(
                membership::add_learner(&self.raft, self.node_id, id, addr).await,
            ),
        }
    }

    async fn forward(&self, from: i32, request: Vec<u8>) -> Result<Vec<u8>, Refused> {
        let leader = self.raft.metrics().borrow().current_leader;
        let leader = leader.and_then(to_troupe_id);
        if leader != Some(self.node_id) {
            return Err(Refused::NotLeader { leader });
        }
        Ok(self.forward.handle(from, request).await)
    }
}
