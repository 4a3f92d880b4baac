//! Observers joining the quorum as openraft learners: the observer's retry loop and the
//! leader's side of the request.
//!
//! The voter set is fixed by configuration (every voter initializes the cluster with it);
//! the only membership change this room makes is adding a learner or correcting its address.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};

use super::network::Peers;
use super::shutdown::Shutdown;
use super::types::{to_raft_id, to_troupe_id, QuorumError, Raft};
use super::wire::{Refused, Request, Response};

/// Deadline for one AddLearner call (it waits for the membership entry to commit).
const JOIN_RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a voter could not add us before asking the next one.
const JOIN_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Leader side of `AddLearner`: adds `id` at `addr` as a learner. Idempotent: an observer that
/// restarts asks again and gets `Ok` without a new membership entry; one whose address changed
/// gets it updated.
pub(crate) async fn add_learner(
    raft: &Raft,
    me: i32,
    id: i32,
    addr: String,
) -> Result<(), Refused> {
    if id < 0 {
        return Err(Refused::Failed(format!("node id {id} is negative")));
    }
    let (leader, membership) = {
        let m = raft.metrics();
        let m = m.borrow();
        (m.current_leader, m.membership_config.clone())
    };
    if leader != Some(to_raft_id(me)) {
        return Err(Refused::NotLeader {
            leader: leader.and_then(to_troupe_id),
        });
    }
    let rid = to_raft_id(id);
    let membership = membership.membership();
    if membership.voter_ids().any(|v| v == rid) {
        return Err(Refused::Failed(format!(
            "node {id} is a quorum voter; it cannot join as an observer"
        )));
    }
    let node = BasicNode::new(&addr);
    let res = match membership.get_node(&rid) {
        Some(known) if known.addr == addr => return Ok(()),
        Some(known) => {
            tracing::info!(node = id, old = %known.addr, new = %addr, "quorum observer moved; updating its address");
            raft.change_membership(ChangeMembers::SetNodes(BTreeMap::from([(rid, node)])), true)
                .await
        }
        None => {
            tracing::info!(node = id, %addr, "adding quorum observer as a learner");
            raft.add_learner(rid, node, false).await
        }
    };
    res.map(|_| ()).map_err(|e| match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Refused::NotLeader {
            leader: f.leader_id.and_then(to_troupe_id),
        },
        other => Refused::Failed(other.to_string()),
    })
}

/// Observer side: asks voters (the leader they name first) to add `me` at `advertised` until
/// one does, or the quorum shuts down.
pub(crate) async fn join(
    peers: &Peers,
    voters: &BTreeMap<i32, String>,
    me: i32,
    advertised: &str,
    shutdown: &Shutdown,
) -> Result<(), QuorumError> {
    let voter_addrs: Vec<&String> = voters.values().collect();
    let mut next_voter = 0usize;
    let mut hint: Option<String> = None;
    let req = Request::AddLearner {
        id: me,
        addr: advertised.to_string(),
    };
    loop {
        if shutdown.is_triggered() {
            return Err(QuorumError::Unavailable(
                "the quorum is shutting down".into(),
            ));
        }
        let addr = match hint.take() {
            Some(a) => a,
            None => {
                let addr = voter_addrs[next_voter % voter_addrs.len()].clone();
                next_voter += 1;
                addr
            }
        };
        match peers.call(&addr, &req, JOIN_RPC_TIMEOUT).await {
            Ok(Response::AddLearner(Ok(()))) => {
                tracing::info!(node = me, via = %addr, "joined the quorum as an observer");
                return Ok(());
            }
            Ok(Response::AddLearner(Err(Refused::NotLeader { leader: Some(l) }))) => {
                if let Some(leader_addr) = voters.get(&l).filter(|a| **a != addr) {
                    hint = Some(leader_addr.clone());
                    continue;
                }
            }
            Ok(Response::AddLearner(Err(Refused::Failed(reason)))) => {
                tracing::warn!(node = me, via = %addr, "quorum refused to add this observer: {reason}");
            }
            // No leader yet (an election is under way): ask again after the pause.
            Ok(Response::AddLearner(Err(Refused::NotLeader { .. }))) => {}
            Ok(other) => {
                tracing::warn!(node = me, via = %addr, "unexpected answer to AddLearner: {other:?}")
            }
            Err(e) => tracing::debug!(node = me, via = %addr, "AddLearner failed: {e}"),
        }
        tokio::select! {
            _ = shutdown.wait() => {}
            _ = tokio::time::sleep(JOIN_RETRY_PAUSE) => {}
        }
    }
}
