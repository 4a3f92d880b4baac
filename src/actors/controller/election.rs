//! TEMP (replaced by the replstore branch at merge).
#![allow(unused)]
use crate::error::BrokerError;
use crate::metadata::PartitionMeta;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChangeDecision {
    pub leader: i32,
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

pub fn elect_offline_leader(
    p: &PartitionMeta,
    is_live: &dyn Fn(i32) -> bool,
    unclean: bool,
) -> Option<PartitionChangeDecision> {
    let leader = p.replicas.iter().copied().find(|r| p.isr.contains(r) && is_live(*r));
    let (leader, isr) = match leader {
        Some(l) => (l, p.isr.iter().copied().filter(|r| is_live(*r)).collect()),
        None if unclean => {
            let l = p.replicas.iter().copied().find(|r| is_live(*r))?;
            (l, vec![l])
        }
        None => return None,
    };
    Some(PartitionChangeDecision {
        leader,
        isr,
        leader_epoch: p.leader_epoch + 1,
        partition_epoch: p.partition_epoch + 1,
    })
}

pub fn on_broker_fenced(
    p: &PartitionMeta,
    broker: i32,
    is_live: &dyn Fn(i32) -> bool,
    unclean: bool,
) -> Option<PartitionChangeDecision> {
    if !p.replicas.contains(&broker) {
        return None;
    }
    let isr: Vec<i32> = if p.isr == [broker] {
        p.isr.clone()
    } else {
        p.isr.iter().copied().filter(|r| *r != broker).collect()
    };
    if p.leader == broker {
        let tmp = PartitionMeta { isr: isr.clone(), ..p.clone() };
        return Some(elect_offline_leader(&tmp, is_live, unclean).unwrap_or(PartitionChangeDecision {
            leader: -1,
            isr,
            leader_epoch: p.leader_epoch + 1,
            partition_epoch: p.partition_epoch + 1,
        }));
    }
    if isr != p.isr {
        return Some(PartitionChangeDecision {
            leader: p.leader,
            isr,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch + 1,
        });
    }
    None
}

pub fn elect_preferred_leader(
    p: &PartitionMeta,
    is_live: &dyn Fn(i32) -> bool,
) -> Result<PartitionChangeDecision, BrokerError> {
    let preferred = p.replicas[0];
    if p.leader == preferred {
        return Err(BrokerError::ElectionNotNeeded("already led by the preferred replica".into()));
    }
    if !is_live(preferred) || !p.isr.contains(&preferred) {
        return Err(BrokerError::PreferredLeaderNotAvailable("preferred replica is not live and in sync".into()));
    }
    Ok(PartitionChangeDecision {
        leader: preferred,
        isr: p.isr.clone(),
        leader_epoch: p.leader_epoch + 1,
        partition_epoch: p.partition_epoch + 1,
    })
}
