//! STUB: placeholder with the agreed API until the `quorum` branch lands (replaced at merge).
#![allow(unused)]
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metadata::{MetadataImage, MetadataRecord};

pub type NodeId = u64;

pub struct QuorumConfig {
    pub node_id: i32,
    pub listen: std::net::SocketAddr,
    pub advertised: String,
    pub voters: BTreeMap<i32, String>,
    pub is_voter: bool,
    pub dir: std::path::PathBuf,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
}

#[derive(Clone, Debug)]
pub struct MetadataUpdate {
    pub index: u64,
    pub records: Vec<MetadataRecord>,
    pub image: Arc<MetadataImage>,
}

pub trait ForwardHandler: Send + Sync + 'static {
    fn handle(&self, from_node: i32, request: Vec<u8>)
        -> futures::future::BoxFuture<'static, Vec<u8>>;
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum QuorumError {
    #[error("not the quorum leader; leader is {leader:?}")]
    NotLeader { leader: Option<i32> },
    #[error("quorum unavailable: {0}")]
    Unavailable(String),
    #[error("quorum storage error: {0}")]
    Storage(String),
}

#[derive(Clone)]
pub struct Quorum {}

impl Quorum {
    pub async fn start(cfg: QuorumConfig, forward: Arc<dyn ForwardHandler>) -> anyhow::Result<Quorum> {
        unimplemented!()
    }
    pub async fn write(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        unimplemented!()
    }
    pub fn leader(&self) -> Option<i32> {
        unimplemented!()
    }
    pub fn is_leader(&self) -> bool {
        unimplemented!()
    }
    pub fn leader_watch(&self) -> tokio::sync::watch::Receiver<Option<i32>> {
        unimplemented!()
    }
    pub fn image(&self) -> Arc<MetadataImage> {
        unimplemented!()
    }
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<MetadataUpdate> {
        unimplemented!()
    }
    pub async fn forward(&self, request: Vec<u8>, timeout: std::time::Duration) -> Result<Vec<u8>, QuorumError> {
        unimplemented!()
    }
    pub async fn join_as_observer(&self) -> Result<(), QuorumError> {
        unimplemented!()
    }
    pub async fn shutdown(&self) {}
}
