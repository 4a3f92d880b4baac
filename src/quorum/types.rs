//! The quorum's vocabulary: its configuration, the openraft type configuration, what it
//! publishes, how it reports errors, and the forwarding hook the controller plugs in.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::metadata::{MetadataImage, MetadataRecord};

/// openraft's node id. Troupe node ids are `i32 >= 0` everywhere else; [`to_raft_id`] and
/// [`to_troupe_id`] convert at the edge of this room.
pub type NodeId = u64;

pub const DEFAULT_ELECTION_TIMEOUT_MIN_MS: u64 = 1000;
pub const DEFAULT_ELECTION_TIMEOUT_MAX_MS: u64 = 2000;
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 250;

/// The payload of one raft log entry: the records one `Quorum::write` call replicates. They are
/// applied together, in order, so a controller decision that takes several records (a topic and
/// its partitions' leadership) is never half-visible.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

openraft::declare_raft_types!(
    /// openraft's type configuration for the metadata quorum.
    pub TypeConfig:
        D = MetadataBatch,
        R = (),
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;

/// Troupe id → raft id. Ids are validated non-negative in `Quorum::start`.
pub(crate) fn to_raft_id(id: i32) -> NodeId {
    id as NodeId
}

/// Raft id → Troupe id; `None` for an id no Troupe node can have.
pub(crate) fn to_troupe_id(id: NodeId) -> Option<i32> {
    i32::try_from(id).ok()
}

/// Mutual TLS of the quorum RPC, from the inter-broker listener's stores: the server config
/// requires a peer certificate chaining to the truststore; the client config presents this
/// node's certificate and checks the peer's against the host it dials.
#[derive(Clone)]
pub struct QuorumTls {
    pub server: std::sync::Arc<rustls::ServerConfig>,
    pub client: std::sync::Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuorumTls(mutual)")
    }
}

#[derive(Clone, Debug)]
pub struct QuorumConfig {
    pub node_id: i32,
    /// Address this node's quorum RPC server listens on (`--controller-listen`).
    pub listen: SocketAddr,
    /// This node's own advertised RPC address (what others dial). Usually == listen.
    pub advertised: String,
    /// Voter id -> "host:port" of its RPC server. Empty is not allowed here (single-node mode
    /// doesn't use the quorum at all).
    pub voters: BTreeMap<i32, String>,
    /// false: this node is a broker-only observer: it never votes, it joins as an openraft
    /// learner by asking the voters (see `join_as_observer`) and receives the log.
    pub is_voter: bool,
    /// Directory for the raft log, vote, committed index and snapshot (e.g.
    /// data/__cluster_metadata).
    pub dir: PathBuf,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// `Some`: the RPC runs over mutual TLS (the inter-broker listener uses SSL or SASL_SSL);
    /// `None`: plaintext.
    pub tls: Option<QuorumTls>,
}

impl QuorumConfig {
    /// A config with the default timings and `advertised == listen`. A node is a voter iff its
    /// id is in `voters`.
    pub fn new(
        node_id: i32,
        listen: SocketAddr,
        voters: BTreeMap<i32, String>,
        dir: PathBuf,
    ) -> QuorumConfig {
        QuorumConfig {
            node_id,
            listen,
            advertised: listen.to_string(),
            is_voter: voters.contains_key(&node_id),
            voters,
            dir,
            election_timeout_min_ms: DEFAULT_ELECTION_TIMEOUT_MIN_MS,
            election_timeout_max_ms: DEFAULT_ELECTION_TIMEOUT_MAX_MS,
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            tls: None,
        }
    }

    /// The checks openraft does not make for us: ids fit both id spaces, a voter is in its own
    /// voter set, an observer is not.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.node_id >= 0, "node id {} is negative", self.node_id);
        anyhow::ensure!(
            !self.voters.is_empty(),
            "the quorum needs at least one voter"
        );
        if let Some(id) = self.voters.keys().find(|id| **id < 0) {
            anyhow::bail!("voter id {id} is negative");
        }
        anyhow::ensure!(
            self.is_voter == self.voters.contains_key(&self.node_id),
            "node {} is_voter={} but the voter set is {:?}",
            self.node_id,
            self.is_voter,
            self.voters.keys().collect::<Vec<_>>()
        );
        anyhow::ensure!(
            !self.advertised.is_empty(),
            "node {} has no advertised quorum address",
            self.node_id
        );
        Ok(())
    }
}

/// What the state machine publishes after each apply (and after a snapshot install / restart
/// replay): the image after applying and the records just applied (empty records + a new image
/// = resync from a snapshot). Consumers reconcile against `image`.
#[derive(Clone, Debug)]
pub struct MetadataUpdate {
    /// Raft log index of the last entry this update covers.
    pub index: u64,
    pub records: Vec<MetadataRecord>,
    pub image: Arc<MetadataImage>,
}

/// Opaque controller request forwarding: the quorum carries bytes from any node to the current
/// leader's registered handler and returns the handler's bytes. (The controller defines the
/// serde types; the quorum does not know them.)
pub trait ForwardHandler: Send + Sync + 'static {
    fn handle(&self, from_node: i32, request: Vec<u8>) -> BoxFuture<'static, Vec<u8>>;
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum QuorumError {
    #[error("not the quorum leader; leader is {leader:?}")]
    NotLeader { leader: Option<i32> },
    /// No leader, a timeout, or the network. For `write` and `forward` a timeout means the
    /// outcome is unknown: the change may still commit.
    #[error("quorum unavailable: {0}")]
    Unavailable(String),
    #[error("quorum storage error: {0}")]
    Storage(String),
}
