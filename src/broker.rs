//! `BrokerContext`: what every connection and handler may reach — addresses of the actors that
//! own state, and read-only views. Holding it never grants access to another actor's state.

use std::sync::Arc;

use actix::Addr;

use crate::actors::controller::Controller;
use crate::actors::metadata_cache::MetadataCache;
use crate::actors::replica_manager::ReplicaManager;
use crate::actors::supervisor::SupervisorState;
use crate::actors::timer_wheel::TimerWheel;
use crate::config::BrokerConfig;

pub struct BrokerContext {
    pub node_id: i32,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub config: BrokerConfig,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: Addr<Controller>,
    pub timer: Addr<TimerWheel>,
    pub health: Arc<SupervisorState>,
    /// Open client connections; shutdown waits for them to finish their in-flight requests.
    pub active_connections: std::sync::atomic::AtomicI64,
}
