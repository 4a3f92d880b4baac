//! Leader elections and the partition changes a fenced broker causes, as pure functions of a
//! partition's replicas, ISR and the brokers' liveness (Kafka's
//! `PartitionLeaderElectionAlgorithms` and KRaft's `PartitionChangeBuilder`, without eligible
//! leader replicas).
//!
//! Four kinds of election, each picking from the assignment in its order:
//! - offline (the leader is gone): the first live ISR member; else, only where the topic
//!   allows unclean election, the first live replica, which becomes the whole ISR (records
//!   it never had may be lost); else none, and the partition is offline;
//! - reassignment: the first live replica of the target assignment that is in the ISR;
//! - preferred: the first assigned replica, if it is live and in the ISR;
//! - controlled shutdown: the first live ISR member that is not shutting down; the ISR loses
//!   the brokers shutting down.
//!
//! A decision bumps the partition epoch on every change and the leader epoch only when the
//! leader changes (including to no leader), as KRaft does from 3.6 on.

use std::collections::BTreeSet;

use crate::metadata::{MetadataRecord, PartitionMeta};

/// The leader id of a partition without one.
pub const NO_LEADER: i32 = -1;

/// Which election to run (Kafka's `PartitionLeaderElectionStrategy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElectionKind {
    Offline { unclean_allowed: bool },
    Reassignment { target_replicas: Vec<i32> },
    Preferred,
    ControlledShutdown { shutting_down: BTreeSet<i32> },
}

/// The outcome of an election: the leader (or [`NO_LEADER`]) and the ISR that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionResult {
    pub leader: i32,
    pub isr: Vec<i32>,
    /// The leader came from outside the ISR.
    pub unclean: bool,
}

impl ElectionResult {
    fn none(isr: &[i32]) -> ElectionResult {
        ElectionResult {
            leader: NO_LEADER,
            isr: isr.to_vec(),
            unclean: false,
        }
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }
}

/// Runs the election `kind` over `replicas` (the assignment, preferred first) and `isr`.
/// Without a candidate the result has [`NO_LEADER`] and the ISR unchanged: for an offline
/// partition that means it stays offline; for the other kinds Kafka leaves the partition as
/// it is (the caller reports the election as not possible).
pub fn elect_leader(
    kind: &ElectionKind,
    replicas: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
) -> ElectionResult {
    match kind {
        ElectionKind::Offline { unclean_allowed } => {
            elect_offline(replicas, isr, is_live, *unclean_allowed)
        }
        ElectionKind::Reassignment { target_replicas } => {
            elect_for_reassignment(target_replicas, isr, is_live)
        }
        ElectionKind::Preferred => elect_preferred(replicas, isr, is_live),
        ElectionKind::ControlledShutdown { shutting_down } => {
            elect_for_controlled_shutdown(replicas, isr, is_live, |b| shutting_down.contains(&b))
        }
    }
}

/// Offline partition: the first live ISR member in assignment order, the ISR keeping its live
/// members; else, when `unclean_allowed`, the first live replica with an ISR of just itself;
/// else no leader.
pub fn elect_offline(
    replicas: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
    unclean_allowed: bool,
) -> ElectionResult {
    if let Some(&leader) = replicas.iter().find(|&&r| is_live(r) && isr.contains(&r)) {
        return ElectionResult {
            leader,
            isr: isr.iter().copied().filter(|&r| is_live(r)).collect(),
            unclean: false,
        };
    }
    if unclean_allowed {
        if let Some(&leader) = replicas.iter().find(|&&r| is_live(r)) {
            return ElectionResult {
                leader,
                isr: vec![leader],
                unclean: true,
            };
        }
    }
    ElectionResult::none(isr)
}

/// Reassignment: the first live replica of the target assignment that is in the ISR; the ISR
/// is unchanged.
pub fn elect_for_reassignment(
    target_replicas: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
) -> ElectionResult {
    match target_replicas
        .iter()
        .find(|&&r| is_live(r) && isr.contains(&r))
    {
        Some(&leader) => ElectionResult {
            leader,
            isr: isr.to_vec(),
            unclean: false,
        },
        None => ElectionResult::none(isr),
    }
}

/// Preferred replica: `replicas[0]` if it is live and in the ISR; the ISR is unchanged.
pub fn elect_preferred(
    replicas: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
) -> ElectionResult {
    match replicas.first() {
        Some(&preferred) if is_live(preferred) && isr.contains(&preferred) => ElectionResult {
            leader: preferred,
            isr: isr.to_vec(),
            unclean: false,
        },
        _ => ElectionResult::none(isr),
    }
}

/// Controlled shutdown: the first live ISR member that is not shutting down, with the ISR
/// losing every broker that is.
pub fn elect_for_controlled_shutdown(
    replicas: &[i32],
    isr: &[i32],
    is_live: impl Fn(i32) -> bool,
    is_shutting_down: impl Fn(i32) -> bool,
) -> ElectionResult {
    match replicas
        .iter()
        .find(|&&r| is_live(r) && isr.contains(&r) && !is_shutting_down(r))
    {
        Some(&leader) => ElectionResult {
            leader,
            isr: isr
                .iter()
                .copied()
                .filter(|&r| !is_shutting_down(r))
                .collect(),
            unclean: false,
        },
        None => ElectionResult::none(isr),
    }
}

/// A partition's new leadership as the controller records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChangeDecision {
    pub leader: i32,
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The leader was elected from outside the ISR.
    pub unclean: bool,
}

impl PartitionChangeDecision {
    /// The metadata record for it (the assignment unchanged).
    pub fn to_record(&self, topic: &str, partition: i32) -> MetadataRecord {
        MetadataRecord::PartitionChange {
            topic: topic.to_string(),
            partition,
            leader: self.leader,
            isr: self.isr.clone(),
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: None,
        }
    }
}

/// The change from `partition`'s current state to `leader` and `isr`, with its epochs: the
/// partition epoch one up, the leader epoch one up if the leader changes. `None` when nothing
/// changes.
pub fn decide(
    partition: &PartitionMeta,
    leader: i32,
    isr: Vec<i32>,
    unclean: bool,
) -> Option<PartitionChangeDecision> {
    if leader == partition.leader && isr == partition.isr {
        return None;
    }
    let leader_changed = leader != partition.leader;
    Some(PartitionChangeDecision {
        leader,
        isr,
        leader_epoch: partition.leader_epoch + i32::from(leader_changed),
        partition_epoch: partition.partition_epoch + 1,
        unclean,
    })
}

/// What fencing `broker` (silent past the session timeout, or gone) does to `partition`, as
/// KRaft's controller decides it: the broker leaves the ISR, unless it is the last member (an
/// empty ISR would forget who has the data); if it led, or the leader is otherwise not a live
/// ISR member, a new leader is elected like an offline partition's (the current leader is
/// kept when still valid), never the fenced broker. `None` when the partition does not
/// change (the broker neither leads it nor is in its ISR).
pub fn on_broker_fenced(
    partition: &PartitionMeta,
    broker: i32,
    is_live: impl Fn(i32) -> bool,
    unclean_allowed: bool,
) -> Option<PartitionChangeDecision> {
    if partition.leader != broker && !partition.isr.contains(&broker) {
        return None;
    }
    let acceptable = |r: i32| r != broker && is_live(r);
    let without: Vec<i32> = partition
        .isr
        .iter()
        .copied()
        .filter(|&r| r != broker)
        .collect();
    let target_isr = if without.is_empty() {
        partition.isr.clone()
    } else {
        without
    };
    let valid = |r: i32| target_isr.contains(&r) && acceptable(r);
    let (leader, isr, unclean) = if valid(partition.leader) {
        (partition.leader, target_isr.clone(), false)
    } else if let Some(&leader) = partition.replicas.iter().find(|&&r| valid(r)) {
        (leader, target_isr.clone(), false)
    } else if let Some(&leader) = partition
        .replicas
        .iter()
        .find(|&&r| unclean_allowed && acceptable(r))
    {
        (leader, vec![leader], true)
    } else {
        (NO_LEADER, target_isr.clone(), false)
    };
    decide(partition, leader, isr, unclean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ids: &'static [i32]) -> impl Fn(i32) -> bool {
        move |b| ids.contains(&b)
    }

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionMeta {
        PartitionMeta {
            index: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 4,
            partition_epoch: 9,
        }
    }

    fn result(leader: i32, isr: &[i32], unclean: bool) -> ElectionResult {
        ElectionResult {
            leader,
            isr: isr.to_vec(),
            unclean,
        }
    }

    #[test]
    fn offline_elects_the_first_live_isr_member_in_assignment_order() {
        let r = elect_offline(&[1, 2, 3], &[3, 2], live(&[2, 3]), false);
        assert_eq!(r, result(2, &[3, 2], false));
        // Dead ISR members leave the ISR.
        let r = elect_offline(&[1, 2, 3], &[1, 2, 3], live(&[3]), false);
        assert_eq!(r, result(3, &[3], false));
    }

    #[test]
    fn offline_without_a_live_isr_member_is_unclean_or_leaderless() {
        // Only 3 is alive, and it is not in the ISR.
        let r = elect_offline(&[1, 2, 3], &[1, 2], live(&[3]), false);
        assert_eq!(r, result(NO_LEADER, &[1, 2], false));
        assert!(!r.has_leader());
        let r = elect_offline(&[1, 2, 3], &[1, 2], live(&[3]), true);
        assert_eq!(r, result(3, &[3], true));
        // Unclean still needs a live replica.
        let r = elect_offline(&[1, 2, 3], &[1, 2], live(&[]), true);
        assert_eq!(r, result(NO_LEADER, &[1, 2], false));
    }

    #[test]
    fn reassignment_elects_from_the_target_replicas() {
        let r = elect_for_reassignment(&[4, 5, 1], &[1, 5, 4], live(&[1, 4, 5]));
        assert_eq!(r, result(4, &[1, 5, 4], false));
        // 4 has not caught up (not in the ISR): the next target replica that has.
        let r = elect_for_reassignment(&[4, 5, 1], &[1, 5], live(&[1, 4, 5]));
        assert_eq!(r, result(5, &[1, 5], false));
        let r = elect_for_reassignment(&[4, 5], &[1], live(&[1, 4, 5]));
        assert!(!r.has_leader());
    }

    #[test]
    fn preferred_elects_only_the_first_replica() {
        let r = elect_preferred(&[2, 1, 3], &[1, 2, 3], live(&[1, 2, 3]));
        assert_eq!(r, result(2, &[1, 2, 3], false));
        // Not in the ISR, or not alive: no election, though others could lead.
        assert!(!elect_preferred(&[2, 1, 3], &[1, 3], live(&[1, 2, 3])).has_leader());
        assert!(!elect_preferred(&[2, 1, 3], &[1, 2, 3], live(&[1, 3])).has_leader());
        assert!(!elect_preferred(&[], &[], live(&[1])).has_leader());
    }

    #[test]
    fn controlled_shutdown_skips_and_drops_brokers_shutting_down() {
        let shutting_down = BTreeSet::from([1]);
        let kind = ElectionKind::ControlledShutdown {
            shutting_down: shutting_down.clone(),
        };
        let r = elect_leader(&kind, &[1, 2, 3], &[1, 2, 3], live(&[1, 2, 3]));
        assert_eq!(r, result(2, &[2, 3], false));
        // The only other ISR member is dead: no leader; the partition stays as it is.
        let r = elect_leader(&kind, &[1, 2, 3], &[1, 2], live(&[1, 3]));
        assert_eq!(r, result(NO_LEADER, &[1, 2], false));
    }

    #[test]
    fn elect_leader_dispatches_every_kind() {
        let all = live(&[1, 2, 3]);
        let offline = ElectionKind::Offline {
            unclean_allowed: false,
        };
        assert_eq!(elect_leader(&offline, &[1, 2], &[2], &all).leader, 2);
        let reassign = ElectionKind::Reassignment {
            target_replicas: vec![3, 2],
        };
        assert_eq!(elect_leader(&reassign, &[1, 2], &[2, 3], &all).leader, 3);
        assert_eq!(
            elect_leader(&ElectionKind::Preferred, &[1, 2], &[2, 1], &all).leader,
            1
        );
    }

    #[test]
    fn decisions_bump_the_leader_epoch_only_for_a_new_leader() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(decide(&p, 1, vec![1, 2, 3], false), None);
        let isr_only = decide(&p, 1, vec![1, 2], false).unwrap();
        assert_eq!((isr_only.leader_epoch, isr_only.partition_epoch), (4, 10));
        let new_leader = decide(&p, 2, vec![1, 2, 3], false).unwrap();
        assert_eq!(
            (new_leader.leader_epoch, new_leader.partition_epoch),
            (5, 10)
        );
        assert_eq!(
            new_leader.to_record("t", 7),
            MetadataRecord::PartitionChange {
                topic: "t".into(),
                partition: 7,
                leader: 2,
                isr: vec![1, 2, 3],
                leader_epoch: 5,
                partition_epoch: 10,
                replicas: None,
            }
        );
    }

    #[test]
    fn fencing_a_follower_only_shrinks_the_isr() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let d = on_broker_fenced(&p, 3, live(&[1, 2]), false).unwrap();
        assert_eq!((d.leader, d.isr.clone()), (1, vec![1, 2]));
        assert_eq!((d.leader_epoch, d.partition_epoch), (4, 10));
        // A broker outside the ISR that does not lead: nothing to do.
        let p = partition(&[1, 2, 3], &[1, 2], 1);
        assert_eq!(on_broker_fenced(&p, 3, live(&[1, 2]), false), None);
    }

    #[test]
    fn fencing_the_leader_elects_the_next_isr_member() {
        let p = partition(&[1, 2, 3], &[3, 1, 2], 1);
        let d = on_broker_fenced(&p, 1, live(&[2, 3]), false).unwrap();
        // Assignment order decides, not ISR order.
        assert_eq!((d.leader, d.isr.clone(), d.unclean), (2, vec![3, 2], false));
        assert_eq!((d.leader_epoch, d.partition_epoch), (5, 10));
        // Even if the metadata still counts the fenced broker as live, it is not elected.
        let d = on_broker_fenced(&p, 1, live(&[1, 2, 3]), false).unwrap();
        assert_eq!(d.leader, 2);
        // ISR members that are not live are skipped.
        let d = on_broker_fenced(&p, 1, live(&[3]), false).unwrap();
        assert_eq!(d.leader, 3);
    }

    #[test]
    fn fencing_the_last_isr_member_keeps_it_in_the_isr_and_leaves_no_leader() {
        let p = partition(&[1, 2, 3], &[1], 1);
        let d = on_broker_fenced(&p, 1, live(&[2, 3]), false).unwrap();
        assert_eq!((d.leader, d.isr.clone()), (NO_LEADER, vec![1]));
        assert_eq!((d.leader_epoch, d.partition_epoch), (5, 10));
        // Where the topic allows it, an unclean election brings it back online.
        let d = on_broker_fenced(&p, 1, live(&[2, 3]), true).unwrap();
        assert_eq!((d.leader, d.isr.clone(), d.unclean), (2, vec![2], true));
        // A leaderless partition whose last ISR member is fenced again: nothing changes.
        let offline = partition(&[1, 2, 3], &[1], NO_LEADER);
        assert_eq!(on_broker_fenced(&offline, 1, live(&[]), false), None);
    }

    #[test]
    fn fencing_a_follower_of_a_leaderless_partition_can_elect_a_leader() {
        // The leader was fenced earlier while 2 was also down; now 3 is fenced and 2 is back.
        let p = partition(&[1, 2, 3], &[2, 3], NO_LEADER);
        let d = on_broker_fenced(&p, 3, live(&[2]), false).unwrap();
        assert_eq!((d.leader, d.isr.clone()), (2, vec![2]));
        assert_eq!(d.leader_epoch, 5);
    }
}
