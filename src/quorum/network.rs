//! The dialing side of the quorum RPC: a pool of reusable connections per peer address, and
//! openraft's `RaftNetwork` on top of it.
//!
//! A connection carries one request at a time. A call takes an idle connection to the address
//! (or dials a new one), and puts it back only after a complete response: a call cut short by
//! its timeout or an error drops the connection, so a late response can never be read as the
//! answer to the next request. An idle connection the peer has closed (it restarted) is noticed
//! and discarded when taken. Every call has a deadline covering dial, send and receive.
//!
//! Failures map to openraft's retryable errors: a failed dial is `Unreachable` (openraft backs
//! off before retrying), anything after that is `NetworkError`.
//!
//! With TLS configured, a dial is the TCP connect plus the TLS handshake (this node's
//! certificate presented, the peer's checked against the host dialed), within the same
//! deadline; a failed handshake is `Unreachable` too (nothing was sent).

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use parking_lot::Mutex;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::types::{NodeId, TypeConfig};
use super::wire::{read_frame, write_frame, Request, Response};

/// Idle connections kept per address; more concurrent calls than this dial extra connections
/// that are closed after use.
const MAX_IDLE_PER_PEER: usize = 4;

#[derive(Debug)]
pub(crate) enum CallError {
    /// The request was never sent: dialing failed or timed out.
    Connect(io::Error),
    /// The request may have been delivered; no complete response came back.
    Io(io::Error),
    Timeout(Duration),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "connect failed: {e}"),
            CallError::Io(e) => write!(f, "connection failed: {e}"),
            CallError::Timeout(t) => write!(f, "no response within {t:?}"),
        }
    }
}

impl CallError {
    fn into_io(self) -> io::Error {
        match self {
            CallError::Connect(e) | CallError::Io(e) => e,
            t @ CallError::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, t.to_string()),
        }
    }
}

/// A connection of the RPC: TCP, or TLS over TCP.
pub(crate) trait PeerIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PeerIo for T {}

type PeerStream = Box<dyn PeerIo>;

pub(crate) struct Peers {
    idle: Mutex<HashMap<String, Vec<PeerStream>>>,
    tls: Option<TlsConnector>,
}

impl Peers {
    /// `tls`: dial every peer over TLS with this client config; `None`: plaintext.
    pub(crate) fn new(tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> Peers {
        Peers {
            idle: Mutex::default(),
            tls: tls.map(TlsConnector::from),
        }
    }

    /// TCP connect, then the TLS handshake when configured.
    async fn dial(&self, addr: &str) -> io::Result<PeerStream> {
        let tcp = TcpStream::connect(addr).await?;
        // Small request/response frames: Nagle plus delayed ACKs would add ~40 ms.
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(connector) => {
                let stream = connector.connect(server_name(addr)?, tcp).await?;
                Ok(Box::new(stream))
            }
        }
    }

    /// One request/response exchange with `addr`, all within `timeout`.
    pub(crate) async fn call(
        &self,
        addr: &str,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let deadline = Instant::now() + timeout;
        let mut conn = match self.take_idle(addr) {
            Some(c) => c,
            None => match tokio::time::timeout_at(deadline, self.dial(addr)).await {
                Err(_) => {
                    return Err(CallError::Connect(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("dialing {addr} took over {timeout:?}"),
                    )))
                }
                Ok(Err(e)) => return Err(CallError::Connect(e)),
                Ok(Ok(c)) => c,
            },
        };
        let exchange = async {
            write_frame(&mut conn, req).await?;
            read_frame::<_, Response>(&mut conn).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection")
            })
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => Err(CallError::Timeout(timeout)),
            Ok(Err(e)) => Err(CallError::Io(e)),
            Ok(Ok(resp)) => {
                self.put_idle(addr, conn);
                Ok(resp)
            }
        }
    }

    fn take_idle(&self, addr: &str) -> Option<PeerStream> {
        let mut idle = self.idle.lock();
        let conns = idle.get_mut(addr)?;
        while let Some(mut conn) = conns.pop() {
            if is_open(&mut conn) {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, addr: &str, conn: PeerStream) {
        let mut idle = self.idle.lock();
        let conns = idle.entry(addr.to_string()).or_default();
        if conns.len() < MAX_IDLE_PER_PEER {
            conns.push(conn);
        }
    }

    /// Closes every idle connection (shutdown).
    pub(crate) fn clear(&self) {
        self.idle.lock().clear();
    }
}

/// An idle connection has nothing to read; readable means the peer closed it (EOF or reset) or
/// broke the protocol. Either way it is unusable. Polled once without waiting, so over TLS the
/// records that carry no data (session tickets) are taken in and only data or a close counts.
fn is_open(conn: &mut PeerStream) -> bool {
    let mut probe = [0u8; 1];
    let mut buf = ReadBuf::new(&mut probe);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    matches!(
        std::pin::Pin::new(conn).poll_read(&mut cx, &mut buf),
        std::task::Poll::Pending
    )
}

/// The name the peer's certificate must carry: the host of `host:port` (an IP address is
/// matched against the certificate's IP SANs).
fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}")))
}

/// Hands openraft one client per (replication stream or election, target).
/// Voters are dialed at this node's configured address for them (its `voters` map), not the
/// one in the replicated membership, which is whichever node initialized it saw; learners at
/// the membership's address.
pub(crate) struct NetworkFactory {
    peers: std::sync::Arc<Peers>,
    configured: std::collections::BTreeMap<NodeId, String>,
}

impl NetworkFactory {
    pub(crate) fn new(
        peers: std::sync::Arc<Peers>,
        configured: std::collections::BTreeMap<NodeId, String>,
    ) -> NetworkFactory {
        NetworkFactory { peers, configured }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: self
                .configured
                .get(&target)
                .cloned()
                .unwrap_or_else(|| node.addr.clone()),
            peers: self.peers.clone(),
        }
    }
}

pub(crate) struct PeerClient {
    target: NodeId,
    addr: String,
    peers: std::sync::Arc<Peers>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn call<E: std::error::Error>(
        &self,
        req: Request,
        option: &RPCOption,
    ) -> RpcResult<Response, E> {
        self.peers
            .call(&self.addr, &req, option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
                other => RPCError::Network(NetworkError::new(&other.into_io())),
            })
    }

    fn remote<E: std::error::Error>(
        &self,
        e: RaftError<NodeId, E>,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }

    fn mismatched<E: std::error::Error>(
        &self,
        got: &Response,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "node {} answered with the wrong response kind: {got:?}",
                self.target
            ),
        );
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.call(Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(res) => res.map_err(|e| self.remote(e)),
            other => Err(self.mismatched(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.call(Request::InstallSnapshot(rpc), &option).await? {
            Response::InstallSnapshot(res) => res.map_err(|e| self.remote(e)),
            other => Err(self.mismatched(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(Request::Vote(rpc), &option).await? {
            Response::Vote(res) => res.map_err(|e| self.remote(e)),
            other => Err(self.mismatched(&other)),
        }
    }
}
