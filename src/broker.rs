//! `BrokerContext`: what every connection and handler may reach — addresses of the actors that
//! own state, and read-only views. Holding it never grants access to another actor's state.

use std::sync::Arc;

use actix::{Addr, Handler, Message};

use crate::actors::controller::Controller;
use crate::actors::group_coordinator::coordinator::GroupCoordinator;
use crate::actors::group_coordinator::offsets_partition_for;
use crate::actors::partition_replica::lease::BrokerLease;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::actors::system_timer::SystemTimer;
use crate::actors::txn_coordinator::coordinator::TxnCoordinator;
use crate::actors::txn_coordinator::markers::MarkerWriter;
use crate::actors::txn_coordinator::txn_partition_for;
use crate::config::BrokerConfig;
use crate::error::{GroupError, TxnError};
use crate::metadata::authorizer_cache::AuthorizerCache;
use crate::metadata::cache::MetadataCache;
use crate::quota::QuotaManagers;
use crate::runtime::supervision::SupervisorState;
use crate::security::authorizer::{AclOperation, ResourceType, StandardAuthorizer};

pub struct BrokerContext {
    pub node_id: i32,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub config: BrokerConfig,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    /// Whether this broker may act as a partition leader (`partition_replica/lease.rs`):
    /// Metadata stops naming it leader while it holds none.
    pub lease: Arc<BrokerLease>,
    pub controller: Addr<Controller>,
    pub timer: Addr<SystemTimer>,
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
    /// The ACL authorizer when `authorizer.class.name` turns it on; `None`: everything is
    /// allowed (Kafka without an authorizer).
    pub authorizer: Option<Arc<AuthorizerCache>>,
    /// Client quota measurements (produce and fetch bytes, request time); the quotas
    /// themselves are in the metadata image.
    pub quotas: Arc<QuotaManagers>,
    /// Counts the checks `authorize` refuses.
    pub authorization_denials: AuthorizationDenials,
}

/// `troupe_authorization_denied_total` by resource type, with Kafka's names (Topic, Group,
/// Cluster, TransactionalId, DelegationToken, User). The counter handles are registered once,
/// when the broker context is built (after the recorder is installed), so a denial costs one
/// atomic add and no allocation.
pub struct AuthorizationDenials {
    by_type: [metrics::Counter; 6],
}

impl AuthorizationDenials {
    const TYPES: [(ResourceType, &'static str); 6] = [
        (ResourceType::Topic, "Topic"),
        (ResourceType::Group, "Group"),
        (ResourceType::Cluster, "Cluster"),
        (ResourceType::TransactionalId, "TransactionalId"),
        (ResourceType::DelegationToken, "DelegationToken"),
        (ResourceType::User, "User"),
    ];

    fn count(&self, resource_type: ResourceType) {
        if let Some(i) = Self::TYPES.iter().position(|(t, _)| *t == resource_type) {
            self.by_type[i].increment(1);
        }
    }
}

impl Default for AuthorizationDenials {
    fn default() -> Self {
        AuthorizationDenials {
            by_type: Self::TYPES.map(|(_, label)| {
                metrics::counter!("troupe_authorization_denied_total", "resource_type" => label)
            }),
        }
    }
}

impl BrokerContext {
    /// Whether `principal`, connected from `host`, may do `operation` on the named resource.
    /// Always true when no authorizer is configured. Every single-resource check of every
    /// handler comes through here, so this is where refusals are counted (as Kafka's
    /// authorizer counts each denied action).
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        match self.acl_authorizer() {
            None => true,
            Some(a) => {
                let allowed = a.authorize(principal, host, operation, resource_type, name);
                if !allowed {
                    self.authorization_denials.count(resource_type);
                }
                allowed
            }
        }
    }

    /// The authorizer of the current metadata, for checks over many resources at once
    /// (Metadata's topic list, KIP-430's authorized operations); `None` when ACLs are off.
    pub fn acl_authorizer(&self) -> Option<Arc<StandardAuthorizer>> {
        self.authorizer
            .as_ref()
            .map(|cache| cache.authorizer(&self.metadata.current()))
    }

    /// A user's stored SCRAM credential for `mechanism`, from the cluster metadata.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: crate::security::ScramMechanism,
    ) -> Option<crate::security::ScramCredential> {
        self.metadata.current().scram_credential(user, mechanism)
    }

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

    /// Asks the shard of `group_id`; a shard that is gone (restarting, shutting down) answers
    /// COORDINATOR_NOT_AVAILABLE, which clients retry.
    pub async fn ask_group_coordinator<M, R>(&self, group_id: &str, msg: M) -> Result<R, GroupError>
    where
        M: Message<Result = Result<R, GroupError>> + Send + 'static,
        R: Send + 'static,
        GroupCoordinator: Handler<M>,
    {
        self.group_coordinator(group_id)
            .send(msg)
            .await
            .unwrap_or(Err(GroupError::CoordinatorNotAvailable))
    }

    /// Asks the shard of `transactional_id`; a shard that is gone (restarting, shutting down)
    /// answers COORDINATOR_NOT_AVAILABLE, which clients retry.
    pub async fn ask_txn_coordinator<M, R>(
        &self,
        transactional_id: &str,
        msg: M,
    ) -> Result<R, TxnError>
    where
        M: Message<Result = Result<R, TxnError>> + Send + 'static,
        R: Send + 'static,
        TxnCoordinator: Handler<M>,
    {
        self.txn_coordinator(transactional_id)
            .send(msg)
            .await
            .unwrap_or(Err(TxnError::CoordinatorNotAvailable))
    }
}
