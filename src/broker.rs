//! `BrokerContext`: what every connection and handler may reach — addresses of the actors that
//! own state, and read-only views. Holding it never grants access to another actor's state.

use std::sync::Arc;

use actix::Addr;

use crate::actors::controller::Controller;
use crate::actors::group_coordinator::coordinator::GroupCoordinator;
use crate::actors::group_coordinator::offsets_partition_for;
use crate::actors::metadata_cache::MetadataCache;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::supervisor::SupervisorState;
use crate::actors::timer_wheel::TimerWheel;
use crate::actors::txn_coordinator::coordinator::TxnCoordinator;
use crate::actors::txn_coordinator::markers::MarkerWriter;
use crate::actors::txn_coordinator::txn_partition_for;
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
    /// Consumer-group coordinator shards; see `group_coordinator`.
    pub group_coordinators: Vec<Addr<GroupCoordinator>>,
    /// Partitions of `__consumer_offsets` as created (a later config change cannot move
    /// groups).
    pub offsets_partitions: i32,
    /// Transaction coordinator shards; see `txn_coordinator`.
    pub txn_coordinators: Vec<Addr<TxnCoordinator>>,
    /// Partitions of `__transaction_state` as created.
    pub txn_partitions: i32,
    /// Writes transaction markers: the WriteTxnMarkers handler into partitions led here.
    pub markers: MarkerWriter,
}

impl BrokerContext {
    /// The coordinator shard of a group: its `__consumer_offsets` partition modulo the shards.
    pub fn group_coordinator(&self, group_id: &str) -> &Addr<GroupCoordinator> {
        let partition = offsets_partition_for(group_id, self.offsets_partitions) as usize;
        &self.group_coordinators[partition % self.group_coordinators.len()]
    }

    /// The coordinator shard of a transactional id: its `__transaction_state` partition
    /// modulo the shards.
    pub fn txn_coordinator(&self, transactional_id: &str) -> &Addr<TxnCoordinator> {
        let partition = txn_partition_for(transactional_id, self.txn_partitions) as usize;
        &self.txn_coordinators[partition % self.txn_coordinators.len()]
    }
}
