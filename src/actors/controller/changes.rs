//! The active controller's decisions as pure functions of the current image: each request
//! becomes the metadata records to commit and the answer to give once they are committed.
//! Nothing here writes or waits; `Controller` commits the records and replies.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::election::{self, PartitionChangeDecision};
use super::placement;
use super::requests::{ControllerResponse, ElectionType, NewTopic, Reassignment};
use crate::config::{validate_topic_configs, BrokerConfig};
use crate::error::BrokerError;
use crate::metadata::{
    validate_topic_name, BrokerInfo, MetadataImage, MetadataRecord, PartitionMeta, TopicMeta,
};

/// Records to commit, and the answer once they are.
pub struct Plan {
    pub records: Vec<MetadataRecord>,
    pub response: ControllerResponse,
}

impl Plan {
    fn answer(response: ControllerResponse) -> Plan {
        Plan {
            records: Vec::new(),
            response,
        }
    }
}

#[cfg(test)]
impl Plan {
    /// The Kafka error code of each result of an `Each` answer (0 for success), for tests of
    /// the planners that answer per item (ACLs, SCRAM credentials, client quotas).
    pub fn each_code(&self) -> Vec<i16> {
        let ControllerResponse::Each(results) = &self.response else {
            panic!("expected Each, got {:?}", self.response)
        };
        results
            .iter()
            .map(|r| r.as_ref().err().map_or(0, |e| e.code()))
            .collect()
    }
}

pub struct Planner<'a> {
    pub image: &'a MetadataImage,
    pub config: &'a BrokerConfig,
}

impl Planner<'_> {
    /// Registered, unfenced brokers in id order: where new replicas may go.
    fn live_brokers(&self) -> Vec<i32> {
        self.image
            .brokers
            .keys()
            .copied()
            .filter(|b| self.image.is_broker_live(*b))
            .collect()
    }

    fn unclean_allowed(&self, topic: &str) -> bool {
        let topic_value = self
            .image
            .topics
            .get(topic)
            .and_then(|t| t.configs.get("unclean.leader.election.enable"));
        match topic_value {
            Some(v) => v == "true",
            None => self.config.get_bool("unclean.leader.election.enable"),
        }
    }

    pub fn register_broker(&self, info: BrokerInfo) -> Plan {
        let unchanged = self.image.brokers.get(&info.id) == Some(&info)
            && !self.image.fenced_brokers.contains(&info.id);
        let mut records = Vec::new();
        if !unchanged {
            records.push(MetadataRecord::RegisterBroker(info.clone()));
            records.extend(
                self.leaderless_elections(|b| b == info.id || self.image.is_broker_live(b)),
            );
        }
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }

    /// A heartbeat from a fenced broker unfences it and gives leaderless partitions whose ISR
    /// it is in a leader again.
    pub fn heartbeat(&self, broker_id: i32, shutting_down: bool) -> Plan {
        if !self.image.brokers.contains_key(&broker_id) {
            return Plan::answer(ControllerResponse::Done(Err(
                BrokerError::BrokerNotAvailable(broker_id),
            )));
        }
        if !self.image.fenced_brokers.contains(&broker_id) || shutting_down {
            return Plan::answer(ControllerResponse::Done(Ok(())));
        }
        let mut records = vec![MetadataRecord::UnfenceBroker { id: broker_id }];
        records
            .extend(self.leaderless_elections(|b| b == broker_id || self.image.is_broker_live(b)));
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }

    /// Partitions without a leader that can have one now that `is_live` says who is up.
    fn leaderless_elections(&self, is_live: impl Fn(i32) -> bool) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for t in self.image.topics.values() {
            let unclean = self.unclean_allowed(&t.name);
            for p in t.partitions.iter().filter(|p| p.leader < 0) {
                let r = election::elect_offline(&p.replicas, &p.isr, &is_live, unclean);
                if r.leader >= 0 {
                    if let Some(d) = election::decide(p, r.leader, r.isr, r.unclean) {
                        out.push(d.to_record(&t.name, p.index));
                    }
                }
            }
        }
        out
    }

    /// Fences brokers (silent, or shutting down): they lose every leadership and leave every
    /// ISR they are not the last member of.
    pub fn fence(&self, broker_ids: &[i32]) -> Plan {
        let fenced: Vec<i32> = broker_ids
            .iter()
            .copied()
            .filter(|b| self.image.is_broker_live(*b))
            .collect();
        if fenced.is_empty() {
            return Plan::answer(ControllerResponse::Done(Ok(())));
        }
        let is_live = |b: i32| self.image.is_broker_live(b) && !fenced.contains(&b);
        let mut records: Vec<MetadataRecord> = fenced
            .iter()
            .map(|id| MetadataRecord::FenceBroker { id: *id })
            .collect();
        for t in self.image.topics.values() {
            let unclean = self.unclean_allowed(&t.name);
            for p in &t.partitions {
                let mut state = p.clone();
                let mut changed = false;
                for b in &fenced {
                    if let Some(d) = election::on_broker_fenced(&state, *b, is_live, unclean) {
                        apply_decision(&mut state, &d);
                        changed = true;
                    }
                }
                if changed {
                    records.push(MetadataRecord::PartitionChange {
                        topic: t.name.clone(),
                        partition: p.index,
                        leader: state.leader,
                        isr: state.isr.clone(),
                        leader_epoch: state.leader_epoch,
                        partition_epoch: state.partition_epoch,
                        replicas: None,
                    });
                }
            }
        }
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }

    fn placement(
        &self,
        partitions: std::ops::Range<i32>,
        replication_factor: i16,
        existing: Option<&TopicMeta>,
    ) -> Result<Vec<PartitionMeta>, BrokerError> {
        let brokers = self.live_brokers();
        if replication_factor < 1 || replication_factor as usize > brokers.len() {
            return Err(BrokerError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is larger than the {} available broker(s)",
                brokers.len()
            )));
        }
        let start = partitions.start;
        let assignments = match existing.and_then(|t| t.partitions.first()) {
            Some(p0) => {
                placement::assign_new_partitions(&brokers, &p0.replicas, partitions.clone())
            }
            None => placement::assign_replicas_randomly(
                &brokers,
                partitions.clone(),
                replication_factor as usize,
                &mut rand::thread_rng(),
            ),
        }
        .map_err(|e| BrokerError::InvalidReplicationFactor(e.to_string()))?;
        Ok(assignments
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| PartitionMeta {
                index: start + i as i32,
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
            })
            .collect())
    }

    /// A client's own replica lists: every partition the same replication factor, no broker
    /// twice, every broker registered (Kafka's checks).
    fn manual_placement(
        &self,
        assignments: &[Vec<i32>],
    ) -> Result<Vec<PartitionMeta>, BrokerError> {
        let rf = assignments.first().map(Vec::len).unwrap_or(0);
        for (i, replicas) in assignments.iter().enumerate() {
            if replicas.is_empty() || replicas.len() != rf {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "partition {i} has {} replicas; every partition needs the same non-zero count",
                    replicas.len()
                )));
            }
            let mut sorted = replicas.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != replicas.len() {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "partition {i} lists a broker twice"
                )));
            }
            if let Some(b) = replicas
                .iter()
                .find(|b| !self.image.brokers.contains_key(b))
            {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "broker {b} is not registered"
                )));
            }
        }
        Ok(assignments
            .iter()
            .enumerate()
            .map(|(i, replicas)| {
                let leader = replicas
                    .iter()
                    .copied()
                    .find(|b| self.image.is_broker_live(*b))
                    .unwrap_or(-1);
                PartitionMeta {
                    index: i as i32,
                    leader,
                    isr: replicas.clone(),
                    replicas: replicas.clone(),
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            })
            .collect())
    }

    fn plan_topic(
        &self,
        req: &NewTopic,
        planned: &BTreeMap<String, ()>,
    ) -> Result<TopicMeta, BrokerError> {
        validate_topic_name(&req.name).map_err(BrokerError::InvalidTopic)?;
        if self.image.topics.contains_key(&req.name) || planned.contains_key(&req.name) {
            return Err(BrokerError::TopicAlreadyExists(req.name.clone()));
        }
        let partitions = if req.num_partitions == -1 {
            self.config.get_i64("num.partitions") as i32
        } else {
            req.num_partitions
        };
        if partitions < 1 {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions must be at least 1, got {partitions}"
            )));
        }
        if partitions > 1_000_000 {
            return Err(BrokerError::InvalidPartitions(format!(
                "{partitions} partitions is more than this broker accepts"
            )));
        }
        let rf = if req.replication_factor == -1 {
            self.config.get_i64("default.replication.factor") as i16
        } else {
            req.replication_factor
        };
        let configs = validate_topic_configs(&req.configs)?;
        let partitions = match &req.assignments {
            Some(a) => self.manual_placement(a)?,
            None => self.placement(0..partitions, rf, None)?,
        };
        Ok(TopicMeta {
            name: req.name.clone(),
            id: Uuid::new_v4(),
            partitions,
            configs,
            internal: req.name.starts_with("__"),
        })
    }

    pub fn create_topics(&self, topics: &[NewTopic], validate_only: bool) -> Plan {
        let mut planned = BTreeMap::new();
        let plans: Vec<Result<TopicMeta, BrokerError>> = topics
            .iter()
            .map(|t| {
                let r = self.plan_topic(t, &planned);
                if r.is_ok() {
                    planned.insert(t.name.clone(), ());
                }
                r
            })
            .collect();
        let records = if validate_only {
            Vec::new()
        } else {
            plans
                .iter()
                .filter_map(|p| p.as_ref().ok())
                .map(|t| MetadataRecord::CreateTopic(t.clone()))
                .collect()
        };
        Plan {
            records,
            response: ControllerResponse::Topics(plans),
        }
    }

    pub fn delete_topics(&self, names: &[String]) -> Plan {
        let enabled = self.config.get_bool("delete.topic.enable");
        let mut seen = BTreeMap::new();
        let answer: Vec<Result<(), BrokerError>> = names
            .iter()
            .map(|n| {
                if !enabled {
                    Err(BrokerError::TopicDeletionDisabled)
                } else if !self.image.topics.contains_key(n) || seen.insert(n.clone(), ()).is_some()
                {
                    Err(BrokerError::UnknownTopicOrPartition)
                } else {
                    Ok(())
                }
            })
            .collect();
        let records = names
            .iter()
            .zip(&answer)
            .filter(|(_, a)| a.is_ok())
            .map(|(n, _)| MetadataRecord::DeleteTopic { topic: n.clone() })
            .collect();
        Plan {
            records,
            response: ControllerResponse::Each(answer),
        }
    }

    pub fn create_partitions(&self, topics: &[(String, i32)], validate_only: bool) -> Plan {
        let mut records = Vec::new();
        let answer = topics
            .iter()
            .map(|(name, count)| {
                let t = self
                    .image
                    .topics
                    .get(name)
                    .ok_or(BrokerError::UnknownTopicOrPartition)?;
                let now = t.partitions.len() as i32;
                if *count <= now {
                    return Err(BrokerError::InvalidPartitions(format!(
                        "topic currently has {now} partitions, which is higher than or equal to the requested {count}"
                    )));
                }
                if *count > 1_000_000 {
                    return Err(BrokerError::InvalidPartitions(format!(
                        "{count} partitions is more than this broker accepts"
                    )));
                }
                let rf = t.partitions.first().map(|p| p.replicas.len() as i16).unwrap_or(1);
                let partitions = self.placement(now..*count, rf, Some(t))?;
                records.push(MetadataRecord::CreatePartitions {
                    topic: name.clone(),
                    partitions,
                });
                Ok(())
            })
            .collect();
        if validate_only {
            records.clear();
        }
        Plan {
            records,
            response: ControllerResponse::Each(answer),
        }
    }

    pub fn alter_topic_configs(
        &self,
        topic: &str,
        configs: &BTreeMap<String, String>,
        validate_only: bool,
    ) -> Plan {
        if !self.image.topics.contains_key(topic) {
            return Plan::answer(ControllerResponse::Done(Err(
                BrokerError::UnknownTopicOrPartition,
            )));
        }
        let configs = match validate_topic_configs(configs) {
            Ok(c) => c,
            Err(e) => return Plan::answer(ControllerResponse::Done(Err(e.into()))),
        };
        let records = if validate_only {
            Vec::new()
        } else {
            vec![MetadataRecord::AlterTopicConfigs {
                topic: topic.to_string(),
                configs,
            }]
        };
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }

    /// Kafka's AlterPartition: the leader proposes a new ISR at the epochs it knows.
    pub fn alter_partition(
        &self,
        broker_id: i32,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: &[i32],
    ) -> Plan {
        let fail = |e| Plan::answer(ControllerResponse::Partition(Err(e)));
        let Some(p) = self.image.partition(topic, partition) else {
            return fail(BrokerError::UnknownTopicOrPartition);
        };
        if p.leader != broker_id {
            return fail(BrokerError::NotLeaderOrFollower);
        }
        if leader_epoch < p.leader_epoch {
            return fail(BrokerError::FencedLeaderEpoch);
        }
        if leader_epoch > p.leader_epoch {
            return fail(BrokerError::UnknownLeaderEpoch);
        }
        if partition_epoch != p.partition_epoch {
            return fail(BrokerError::InvalidUpdateVersion(format!(
                "partition epoch {partition_epoch} is not the current {}",
                p.partition_epoch
            )));
        }
        if !new_isr.contains(&broker_id) {
            return fail(BrokerError::InvalidRequest(
                "the new ISR must contain the leader".into(),
            ));
        }
        if let Some(b) = new_isr.iter().find(|b| {
            !p.replicas.contains(b) || (!p.isr.contains(b) && !self.image.is_broker_live(**b))
        }) {
            return fail(BrokerError::InvalidRequest(format!(
                "replica {b} is not eligible for the ISR"
            )));
        }
        let mut isr: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| new_isr.contains(r))
            .collect();
        isr.dedup();
        let mut next = p.clone();
        next.isr = isr;
        next.partition_epoch += 1;
        Plan {
            records: vec![MetadataRecord::PartitionChange {
                topic: topic.to_string(),
                partition,
                leader: next.leader,
                isr: next.isr.clone(),
                leader_epoch: next.leader_epoch,
                partition_epoch: next.partition_epoch,
                replicas: None,
            }],
            response: ControllerResponse::Partition(Ok(next)),
        }
    }

    /// ElectLeaders, and the controller's own preferred-leader rebalance.
    pub fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[(String, i32)]>,
    ) -> Plan {
        let targets: Vec<(String, i32)> = match partitions {
            Some(p) => p.to_vec(),
            None => self
                .image
                .topics
                .values()
                .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.index)))
                .collect(),
        };
        let is_live = |b: i32| self.image.is_broker_live(b);
        let mut records = Vec::new();
        let mut answers = Vec::new();
        for (topic, index) in targets {
            let Some(p) = self.image.partition(&topic, index) else {
                answers.push(((topic, index), Err(BrokerError::UnknownTopicOrPartition)));
                continue;
            };
            let decision = match election {
                ElectionType::Preferred => {
                    let r = election::elect_preferred(&p.replicas, &p.isr, is_live);
                    if p.replicas.first() == Some(&p.leader) {
                        Err(BrokerError::ElectionNotNeeded(
                            "the preferred replica already leads".into(),
                        ))
                    } else if r.leader < 0 {
                        Err(BrokerError::PreferredLeaderNotAvailable(
                            "the preferred replica is not live and in sync".into(),
                        ))
                    } else {
                        Ok(election::decide(p, r.leader, r.isr, false))
                    }
                }
                ElectionType::Unclean => {
                    if p.leader >= 0 && is_live(p.leader) {
                        Err(BrokerError::ElectionNotNeeded(
                            "the partition has a live leader".into(),
                        ))
                    } else {
                        let r = election::elect_offline(&p.replicas, &p.isr, is_live, true);
                        if r.leader < 0 {
                            Err(BrokerError::EligibleLeadersNotAvailable(
                                "no live replica".into(),
                            ))
                        } else {
                            Ok(election::decide(p, r.leader, r.isr, r.unclean))
                        }
                    }
                }
            };
            match decision {
                Ok(d) => {
                    if let Some(d) = d {
                        records.push(d.to_record(&topic, index));
                    }
                    answers.push(((topic, index), Ok(())));
                }
                Err(e) => answers.push(((topic, index), Err(e))),
            }
        }
        Plan {
            records,
            response: ControllerResponse::Elections(answers),
        }
    }
}

impl Planner<'_> {
    /// AlterPartitionReassignments: `Some(target)` starts (or retargets) a reassignment — the
    /// replicas become target ∪ original, so new replicas catch up while the old ones still
    /// serve; `None` cancels one, back to the original replicas.
    pub fn alter_reassignments(&self, items: &[Reassignment]) -> Plan {
        let mut records = Vec::new();
        let mut answers = Vec::new();
        for ((topic, index), target) in items {
            let result = self.plan_reassignment(topic, *index, target.as_deref(), &mut records);
            answers.push(((topic.clone(), *index), result));
        }
        Plan {
            records,
            response: ControllerResponse::Elections(answers),
        }
    }

    fn plan_reassignment(
        &self,
        topic: &str,
        index: i32,
        target: Option<&[i32]>,
        records: &mut Vec<MetadataRecord>,
    ) -> Result<(), BrokerError> {
        let p = self
            .image
            .partition(topic, index)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let ongoing = self
            .image
            .reassignments
            .get(topic)
            .and_then(|m| m.get(&index));
        let Some(target) = target else {
            let ongoing = ongoing.ok_or_else(|| {
                BrokerError::NoReassignmentInProgress(format!(
                    "{topic}-{index} is not being reassigned"
                ))
            })?;
            let original = ongoing.original.clone();
            let mut isr: Vec<i32> = p
                .isr
                .iter()
                .copied()
                .filter(|r| original.contains(r))
                .collect();
            let leader = if original.contains(&p.leader) {
                p.leader
            } else {
                original
                    .iter()
                    .copied()
                    .find(|r| isr.contains(r) && self.image.is_broker_live(*r))
                    .unwrap_or(-1)
            };
            if isr.is_empty() {
                isr = vec![original[0]];
            }
            records.push(partition_change(
                topic,
                p,
                leader,
                isr,
                Some(original.clone()),
            ));
            records.push(MetadataRecord::Reassignment {
                topic: topic.to_string(),
                partition: index,
                target: None,
                original: Vec::new(),
            });
            return Ok(());
        };
        let mut distinct = target.to_vec();
        distinct.sort();
        distinct.dedup();
        if target.is_empty() || distinct.len() != target.len() {
            return Err(BrokerError::InvalidReplicaAssignment(
                "the target replicas must be non-empty and distinct".into(),
            ));
        }
        if let Some(b) = target.iter().find(|b| !self.image.brokers.contains_key(b)) {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "broker {b} is not registered"
            )));
        }
        let original = ongoing
            .map(|o| o.original.clone())
            .unwrap_or_else(|| p.replicas.clone());
        if ongoing.is_none() && target == p.replicas.as_slice() {
            return Ok(());
        }
        let mut replicas = target.to_vec();
        replicas.extend(original.iter().copied().filter(|r| !target.contains(r)));
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|r| replicas.contains(r))
            .collect();
        records.push(partition_change(topic, p, p.leader, isr, Some(replicas)));
        records.push(MetadataRecord::Reassignment {
            topic: topic.to_string(),
            partition: index,
            target: Some(target.to_vec()),
            original,
        });
        Ok(())
    }

    /// Reassignments whose target replicas are all in sync finish: the replicas become the
    /// target, the ISR loses the others, and a leader outside the target hands over to the
    /// first live in-sync target replica (Kafka's reassignment election).
    pub fn complete_reassignments(&self) -> Plan {
        let mut records = Vec::new();
        for (topic, partitions) in &self.image.reassignments {
            for (index, ongoing) in partitions {
                let Some(p) = self.image.partition(topic, *index) else {
                    continue;
                };
                if !ongoing.target.iter().all(|r| p.isr.contains(r)) {
                    continue;
                }
                let is_live = |b: i32| self.image.is_broker_live(b);
                let isr: Vec<i32> = p
                    .isr
                    .iter()
                    .copied()
                    .filter(|r| ongoing.target.contains(r))
                    .collect();
                let leader = if ongoing.target.contains(&p.leader) && is_live(p.leader) {
                    p.leader
                } else {
                    let r = election::elect_for_reassignment(&ongoing.target, &isr, is_live);
                    if r.leader < 0 {
                        continue;
                    }
                    r.leader
                };
                records.push(partition_change(
                    topic,
                    p,
                    leader,
                    isr,
                    Some(ongoing.target.clone()),
                ));
                records.push(MetadataRecord::Reassignment {
                    topic: topic.clone(),
                    partition: *index,
                    target: None,
                    original: Vec::new(),
                });
            }
        }
        Plan {
            records,
            response: ControllerResponse::Done(Ok(())),
        }
    }
}

/// A partition change to `leader`/`isr` (and maybe new replicas): partition epoch + 1, leader
/// epoch + 1 when the leader changes.
fn partition_change(
    topic: &str,
    p: &PartitionMeta,
    leader: i32,
    isr: Vec<i32>,
    replicas: Option<Vec<i32>>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        topic: topic.to_string(),
        partition: p.index,
        leader,
        isr,
        leader_epoch: p.leader_epoch + i32::from(leader != p.leader),
        partition_epoch: p.partition_epoch + 1,
        replicas,
    }
}

fn apply_decision(state: &mut PartitionMeta, d: &PartitionChangeDecision) {
    state.leader = d.leader;
    state.isr = d.isr.clone();
    state.leader_epoch = d.leader_epoch;
    state.partition_epoch = d.partition_epoch;
}

#[cfg(test)]
mod tests;
