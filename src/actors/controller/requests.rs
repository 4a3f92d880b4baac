//! What may be asked of the active controller, as data. The same enum is answered locally on
//! the active controller and carried (serde JSON) through the quorum's forwarding channel from
//! any other node, so a broker never needs to know which node is active.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::Addr;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;
use crate::metadata::security::base64_bytes;
use crate::metadata::{AclFilter, AclRecord, BrokerInfo, PartitionMeta, TopicMeta};
use crate::quorum::ForwardHandler;

/// One partition of an AlterPartitionReassignments: (topic, partition) and its target replica
/// list, or None to cancel a reassignment in progress.
pub type Reassignment = ((String, i32), Option<Vec<i32>>);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub num_partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// Manual replica assignment, one broker list per partition in partition order (the
    /// request's partition indexes must be 0..n); `None` lets the controller place replicas.
    #[serde(default)]
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// Which leader election ElectLeaders asks for (Kafka's `ElectionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// One upsertion of AlterUserScramCredentials as the client sent it: the password salted
/// and iterated by the client. The controller derives the stored keys from it. Its `Debug`
/// shows no salted password.
#[derive(Clone, Serialize, Deserialize)]
pub struct ScramUpsertion {
    pub name: String,
    /// Kafka's mechanism code.
    pub mechanism: i8,
    pub iterations: i32,
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for ScramUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .field("salted_password", &"<redacted>")
            .finish()
    }
}

/// Per user: the outcome of AlterUserScramCredentials.
pub type UserResults = Vec<(String, Result<(), BrokerError>)>;

/// Per DeleteAcls filter: the ACLs it removed, or why the filter was refused.
pub type AclDeletions = Vec<Result<Vec<AclRecord>, BrokerError>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// A broker (re)starts: its address, unfenced.
    RegisterBroker(BrokerInfo),
    /// A broker is alive; a fenced one is unfenced.
    BrokerHeartbeat {
        broker_id: i32,
    },
    /// SIGTERM on a broker: move leadership away from it and take it out of every ISR.
    ControlledShutdown {
        broker_id: i32,
    },
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    /// (topic, new total count)
    CreatePartitions {
        topics: Vec<(String, i32)>,
        validate_only: bool,
    },
    /// Replaces a topic's override set.
    AlterTopicConfigs {
        topic: String,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    AllocateProducerId,
    /// A leader's ISR change (Kafka's AlterPartition): accepted only from the current leader
    /// at the current leader and partition epochs.
    AlterPartition {
        broker_id: i32,
        topic: String,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: Vec<i32>,
    },
    /// ElectLeaders; `None` partitions means every partition.
    ElectLeaders {
        election: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    },
    /// AlterPartitionReassignments: per partition a target replica list, or None to cancel.
    AlterReassignments {
        partitions: Vec<Reassignment>,
    },
    /// AlterUserScramCredentials: deletions (user, mechanism code) and upsertions.
    AlterScramCredentials {
        deletions: Vec<(String, i8)>,
        upsertions: Vec<ScramUpsertion>,
    },
    /// CreateAcls: one outcome per ACL.
    CreateAcls {
        acls: Vec<AclRecord>,
    },
    /// DeleteAcls: per filter, the ACLs it matched are removed.
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
    /// AlterClientQuotas: one outcome per entry.
    AlterClientQuotas {
        alterations: Vec<super::quotas::QuotaAlteration>,
        validate_only: bool,
    },
    /// Internal (`--add-scram` at the bootstrap of a new cluster): these credentials, each
    /// only if its user has none of that mechanism yet.
    BootstrapScramCredentials {
        records: Vec<crate::metadata::UserScramCredentialRecord>,
    },
    /// Internal (the active controller's tick): finish reassignments whose targets are in sync.
    CompleteReassignments,
    /// Internal (the active controller's own timers): fence these silent brokers.
    FenceBrokers {
        broker_ids: Vec<i32>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ControllerResponse {
    Done(Result<(), BrokerError>),
    Each(Vec<Result<(), BrokerError>>),
    Topics(Vec<Result<TopicMeta, BrokerError>>),
    ProducerId(Result<i64, BrokerError>),
    Partition(Result<PartitionMeta, BrokerError>),
    Elections(Vec<((String, i32), Result<(), BrokerError>)>),
    Users(UserResults),
    AclDeletions(AclDeletions),
}

impl ControllerResponse {
    /// The same answer with every success (and the whole answer) turned into `e`: the change
    /// could not be committed.
    pub fn failed(&self, e: BrokerError) -> ControllerResponse {
        match self {
            ControllerResponse::Done(_) => ControllerResponse::Done(Err(e)),
            ControllerResponse::Each(v) => {
                ControllerResponse::Each(v.iter().map(|r| r.clone().and(Err(e.clone()))).collect())
            }
            ControllerResponse::Topics(v) => ControllerResponse::Topics(
                v.iter().map(|r| r.clone().and(Err(e.clone()))).collect(),
            ),
            ControllerResponse::ProducerId(_) => ControllerResponse::ProducerId(Err(e)),
            ControllerResponse::Partition(_) => ControllerResponse::Partition(Err(e)),
            ControllerResponse::Elections(v) => ControllerResponse::Elections(
                v.iter()
                    .map(|(tp, r)| (tp.clone(), r.clone().and(Err(e.clone()))))
                    .collect(),
            ),
            ControllerResponse::Users(v) => ControllerResponse::Users(
                v.iter()
                    .map(|(u, r)| (u.clone(), r.clone().and(Err(e.clone()))))
                    .collect(),
            ),
            ControllerResponse::AclDeletions(v) => ControllerResponse::AclDeletions(
                v.iter().map(|r| r.clone().and(Err(e.clone()))).collect(),
            ),
        }
    }

    /// An answer of the right shape for `request` that is `e` everywhere.
    pub fn error_for(request: &ControllerRequest, e: BrokerError) -> ControllerResponse {
        match request {
            ControllerRequest::CreateTopics { topics, .. } => {
                ControllerResponse::Topics(topics.iter().map(|_| Err(e.clone())).collect())
            }
            ControllerRequest::DeleteTopics { names } => {
                ControllerResponse::Each(names.iter().map(|_| Err(e.clone())).collect())
            }
            ControllerRequest::CreatePartitions { topics, .. } => {
                ControllerResponse::Each(topics.iter().map(|_| Err(e.clone())).collect())
            }
            ControllerRequest::AllocateProducerId => ControllerResponse::ProducerId(Err(e)),
            ControllerRequest::AlterPartition { .. } => ControllerResponse::Partition(Err(e)),
            ControllerRequest::AlterReassignments { partitions } => ControllerResponse::Elections(
                partitions
                    .iter()
                    .map(|(tp, _)| (tp.clone(), Err(e.clone())))
                    .collect(),
            ),
            ControllerRequest::ElectLeaders { partitions, .. } => ControllerResponse::Elections(
                partitions
                    .iter()
                    .flatten()
                    .map(|tp| (tp.clone(), Err(e.clone())))
                    .collect(),
            ),
            ControllerRequest::AlterScramCredentials {
                deletions,
                upsertions,
            } => {
                let mut users: Vec<String> = Vec::new();
                let names = deletions
                    .iter()
                    .map(|(n, _)| n)
                    .chain(upsertions.iter().map(|u| &u.name));
                for name in names {
                    if !users.contains(name) {
                        users.push(name.clone());
                    }
                }
                ControllerResponse::Users(users.into_iter().map(|u| (u, Err(e.clone()))).collect())
            }
            ControllerRequest::CreateAcls { acls } => {
                ControllerResponse::Each(acls.iter().map(|_| Err(e.clone())).collect())
            }
            ControllerRequest::DeleteAcls { filters } => {
                ControllerResponse::AclDeletions(filters.iter().map(|_| Err(e.clone())).collect())
            }
            ControllerRequest::AlterClientQuotas { alterations, .. } => {
                ControllerResponse::Each(alterations.iter().map(|_| Err(e.clone())).collect())
            }
            _ => ControllerResponse::Done(Err(e)),
        }
    }
}

/// An answer and the metadata index that holds its change (0: nothing written). The caller
/// waits until its own node has applied that index, so what it answers next already sees the
/// change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControllerReply {
    pub response: ControllerResponse,
    pub index: u64,
}

/// Serves controller requests forwarded through the quorum by other nodes: they run on this
/// node's `Controller` only while it is the active one. The quorum needs the handler before the
/// controller exists, so the address is filled in once it has started.
pub struct Forwarded(pub ForwardTarget);

impl ForwardHandler for Forwarded {
    fn handle(
        &self,
        from_node: i32,
        request: Vec<u8>,
    ) -> futures::future::BoxFuture<'static, Vec<u8>> {
        let addr = self.0.lock().clone();
        Box::pin(async move {
            let reply = match serde_json::from_slice::<ControllerRequest>(&request) {
                Ok(request) => {
                    let Some(addr) = addr else {
                        let response =
                            ControllerResponse::error_for(&request, BrokerError::NotController);
                        return serde_json::to_vec(&ControllerReply { response, index: 0 })
                            .unwrap_or_default();
                    };
                    let fallback =
                        ControllerResponse::error_for(&request, BrokerError::NotController);
                    match addr.send(super::ExecuteLocal(request)).await {
                        Ok(reply) => reply,
                        Err(_) => ControllerReply {
                            response: fallback,
                            index: 0,
                        },
                    }
                }
                Err(e) => {
                    tracing::warn!(from_node, error = %e, "undecodable forwarded controller request");
                    ControllerReply {
                        response: ControllerResponse::Done(Err(BrokerError::InvalidRequest(
                            e.to_string(),
                        ))),
                        index: 0,
                    }
                }
            };
            serde_json::to_vec(&reply).unwrap_or_default()
        })
    }
}

/// The controller's address, once started.
pub type ForwardTarget = Arc<parking_lot::Mutex<Option<Addr<super::Controller>>>>;
