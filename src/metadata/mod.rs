//! Cluster metadata as data: the records the `Controller` writes, the image every
//! `MetadataCache` serves, and the on-disk metadata log they are replayed from.
//!
//! This room owns the shape of metadata and its durable log; it knows nothing of actors or the
//! wire. The cluster issue replaces `MetadataLog` with an openraft log without touching the
//! records or the image.

pub mod authorizer_cache;
pub mod cache;
pub mod quotas;
pub mod security;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::security::{ScramCredential, ScramMechanism};
pub use quotas::{ClientQuotaRecord, ClientQuotas, EntityData};
pub use security::{
    acl_filter_matches, AccessControlEntryRecord, AclFilter, AclRecord, StoredScramCredential,
    UserScramCredentialRecord,
};

/// One partition's assignment and leadership.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionMeta {
    pub index: i32,
    /// Assigned replicas (AR), preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionMeta>,
    /// Topic-level config overrides (validated Kafka names → values).
    pub configs: BTreeMap<String, String>,
    pub internal: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    /// The inter-broker listener's advertised address (what replica fetchers dial).
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Every listener's advertised address, as Kafka registers a broker's endpoints. Empty in
    /// records from before listeners were named: then `host`/`port` serve every client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<BrokerEndpoint>,
}

/// One listener of a broker as clients reach it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerEndpoint {
    /// Kafka's listener name, upper case.
    pub listener: String,
    pub host: String,
    pub port: i32,
}

impl BrokerInfo {
    /// The address a client that connected through `listener` is given for this broker;
    /// `None` when the broker has no such listener (Kafka leaves it out of the answer). An
    /// empty listener name (in-process callers) gets the inter-broker address.
    pub fn address_for(&self, listener: &str) -> Option<(&str, i32)> {
        if self.endpoints.is_empty() || listener.is_empty() {
            return Some((&self.host, self.port));
        }
        self.endpoints
            .iter()
            .find(|e| e.listener.eq_ignore_ascii_case(listener))
            .map(|e| (e.host.as_str(), e.port))
    }
}

/// A partition's leader as KIP-951 tells a client that asked the wrong node (Produce v10+,
/// Fetch v12+ after NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH): who leads it, at which
/// epoch, and where that client reaches it, so it skips a Metadata round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentLeader<'a> {
    /// -1 when no live leader is known.
    pub leader_id: i32,
    /// -1 when no live leader is known.
    pub leader_epoch: i32,
    /// The leader's address on the client's listener: `None` when the leader is unknown, or
    /// has no endpoint on that listener (then Kafka names the leader but gives no address).
    pub endpoint: Option<LeaderEndpoint<'a>>,
}

/// A leader's address as a client on one listener reaches it (Kafka's `NodeEndpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderEndpoint<'a> {
    pub node_id: i32,
    pub host: &'a str,
    pub port: i32,
    pub rack: Option<&'a str>,
}

impl<'a> CurrentLeader<'a> {
    /// What Kafka answers when it knows no leader: id -1, epoch -1, no endpoint.
    pub const UNKNOWN: CurrentLeader<'static> = CurrentLeader {
        leader_id: -1,
        leader_epoch: -1,
        endpoint: None,
    };

    /// This answer as node `node_id` may give it: a node that may not present itself as live
    /// (a broker without its lease, whose image may name it leader of partitions the
    /// controller has already moved) names no leader rather than itself, which would send the
    /// client straight back to it.
    pub fn told_by(self, node_id: i32, presents_itself_live: bool) -> CurrentLeader<'a> {
        if self.leader_id == node_id && !presents_itself_live {
            CurrentLeader::UNKNOWN
        } else {
            self
        }
    }
}

/// A change to cluster metadata, as written to the metadata log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    RegisterBroker(BrokerInfo),
    CreateTopic(TopicMeta),
    CreatePartitions {
        topic: String,
        partitions: Vec<PartitionMeta>,
    },
    /// Replaces the topic's whole override set.
    AlterTopicConfigs {
        topic: String,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        topic: String,
    },
    /// The broker stopped heartbeating (or is shutting down): it leads nothing and is left out
    /// of Metadata until it is unfenced.
    FenceBroker {
        id: i32,
    },
    /// A fenced broker heartbeats again.
    UnfenceBroker {
        id: i32,
    },
    /// One partition's new leadership or ISR (or replica set, during a reassignment), decided by
    /// the active controller. Every field is the new value; replay applies it verbatim.
    PartitionChange {
        topic: String,
        partition: i32,
        leader: i32,
        isr: Vec<i32>,
        leader_epoch: i32,
        partition_epoch: i32,
        /// The new assignment when a reassignment changes it; `None` keeps the current one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replicas: Option<Vec<i32>>,
    },
    /// A reassignment of one partition starts (`target` set: the replicas it will end with,
    /// `original` the ones it had) or ends (`target` None: completed or cancelled). While it runs
    /// the partition's replicas are the union, new ones first.
    Reassignment {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
        #[serde(default)]
        original: Vec<i32>,
    },
    /// The next producer id block handed out starts here (ids are never reused).
    ProducerIdBlock {
        next_producer_id: i64,
    },
    /// A user's SCRAM credential for one mechanism is set (Kafka's `UserScramCredentialRecord`;
    /// its `Debug` shows no key).
    UserScramCredential(UserScramCredentialRecord),
    /// A user's SCRAM credential for one mechanism (Kafka's code) is removed.
    RemoveUserScramCredential {
        name: String,
        mechanism: i8,
    },
    /// An ACL is added (Kafka's `AccessControlEntryRecord`).
    AccessControlEntry(AccessControlEntryRecord),
    /// The ACL with this id is removed (Kafka's `RemoveAccessControlEntryRecord`).
    RemoveAccessControlEntry {
        id: Uuid,
    },
    /// A client quota is set or removed (Kafka's `ClientQuotaRecord`).
    ClientQuota(ClientQuotaRecord),
}

/// A partition reassignment in progress.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub target: Vec<i32>,
    pub original: Vec<i32>,
}

/// The read-mostly view of metadata. Cheap to clone via `Arc`. Serializable: it is the
/// controller quorum's snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Registered brokers that are fenced (silent past `broker.session.timeout.ms`, or shut
    /// down): they lead nothing and Metadata leaves them out.
    #[serde(default)]
    pub fenced_brokers: std::collections::BTreeSet<i32>,
    /// Ongoing reassignments: topic → partition → (target replicas, original replicas).
    #[serde(default)]
    pub reassignments: BTreeMap<String, BTreeMap<i32, OngoingReassignment>>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub topic_ids: BTreeMap<Uuid, String>,
    pub next_producer_id: i64,
    /// SCRAM credentials: user → Kafka's mechanism code → credential.
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<i8, StoredScramCredential>>,
    /// ACLs by id.
    #[serde(default)]
    pub acls: BTreeMap<Uuid, AclRecord>,
    /// Client quotas: entity → key → value.
    #[serde(default)]
    pub client_quotas: ClientQuotas,
    /// Number of records applied; bumps on every change.
    pub version: u64,
}

impl MetadataImage {
    /// Applies one record. Records were validated by the controller before being written, so
    /// replay applies them without re-checking; a record naming a missing topic is skipped.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.version += 1;
        match record {
            MetadataRecord::RegisterBroker(b) => {
                self.brokers.insert(b.id, b.clone());
                self.fenced_brokers.remove(&b.id);
            }
            MetadataRecord::FenceBroker { id } => {
                self.fenced_brokers.insert(*id);
            }
            MetadataRecord::UnfenceBroker { id } => {
                self.fenced_brokers.remove(id);
            }
            MetadataRecord::PartitionChange {
                topic,
                partition,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
                replicas,
            } => {
                if let Some(p) = self
                    .topics
                    .get_mut(topic)
                    .and_then(|t| t.partitions.get_mut(*partition as usize))
                {
                    p.leader = *leader;
                    p.isr = isr.clone();
                    p.leader_epoch = *leader_epoch;
                    p.partition_epoch = *partition_epoch;
                    if let Some(r) = replicas {
                        p.replicas = r.clone();
                    }
                }
            }
            MetadataRecord::CreateTopic(t) => {
                self.topic_ids.insert(t.id, t.name.clone());
                self.topics.insert(t.name.clone(), t.clone());
            }
            MetadataRecord::CreatePartitions { topic, partitions } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.partitions.extend(partitions.iter().cloned());
                }
            }
            MetadataRecord::AlterTopicConfigs { topic, configs } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.configs = configs.clone();
                }
            }
            MetadataRecord::DeleteTopic { topic } => {
                if let Some(t) = self.topics.remove(topic) {
                    self.topic_ids.remove(&t.id);
                }
                self.reassignments.remove(topic);
            }
            MetadataRecord::Reassignment {
                topic,
                partition,
                target,
                original,
            } => match target {
                Some(target) => {
                    self.reassignments.entry(topic.clone()).or_default().insert(
                        *partition,
                        OngoingReassignment {
                            target: target.clone(),
                            original: original.clone(),
                        },
                    );
                }
                None => {
                    if let Some(m) = self.reassignments.get_mut(topic) {
                        m.remove(partition);
                        if m.is_empty() {
                            self.reassignments.remove(topic);
                        }
                    }
                }
            },
            MetadataRecord::ProducerIdBlock { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::UserScramCredential(r) => {
                self.scram_credentials
                    .entry(r.name.clone())
                    .or_default()
                    .insert(r.mechanism, r.stored());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(m) = self.scram_credentials.get_mut(name) {
                    m.remove(mechanism);
                    if m.is_empty() {
                        self.scram_credentials.remove(name);
                    }
                }
            }
            MetadataRecord::AccessControlEntry(r) => {
                self.acls.insert(r.id, r.acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                self.acls.remove(id);
            }
            MetadataRecord::ClientQuota(r) => self.client_quotas.apply(r),
        }
    }

    /// `user`'s SCRAM credential for `mechanism`, for the SASL exchange.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<ScramCredential> {
        self.scram_credentials
            .get(user)?
            .get(&mechanism.kafka_type())?
            .to_credential(mechanism)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicMeta> {
        self.topic_ids.get(id).and_then(|n| self.topics.get(n))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMeta> {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition as usize))
    }

    /// Registered and not fenced.
    pub fn is_broker_live(&self, id: i32) -> bool {
        self.brokers.contains_key(&id) && !self.fenced_brokers.contains(&id)
    }

    /// The current leader of `topic`/`partition` for a client that connected through
    /// `listener`, its address resolved as Metadata resolves it (`BrokerInfo::address_for`).
    /// A leader that is not live (fenced, or no longer registered) counts as unknown, as in
    /// Metadata, which names no leader then: its address would only send the client to a node
    /// that refuses it.
    pub fn current_leader(&self, topic: &str, partition: i32, listener: &str) -> CurrentLeader<'_> {
        let Some(p) = self.partition(topic, partition) else {
            return CurrentLeader::UNKNOWN;
        };
        let Some(broker) = self.brokers.get(&p.leader) else {
            return CurrentLeader::UNKNOWN;
        };
        if !self.is_broker_live(broker.id) {
            return CurrentLeader::UNKNOWN;
        }
        let endpoint = broker
            .address_for(listener)
            .map(|(host, port)| LeaderEndpoint {
                node_id: broker.id,
                host,
                port,
                rack: broker.rack.as_deref(),
            });
        CurrentLeader {
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
            endpoint,
        }
    }

    pub fn partition_count(&self) -> usize {
        self.topics.values().map(|t| t.partitions.len()).sum()
    }
}

/// Kafka's topic name rule: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be '{name}'"));
    }
    if name.len() > 249 {
        return Err(format!(
            "topic name is {} characters, the limit is 249",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name contains '{c}'; only [a-zA-Z0-9._-] are allowed"
        ));
    }
    Ok(())
}

/// The durable metadata log: one record per line, `<crc32c hex> <json>`. Replay stops at the
/// first line that is torn or fails its checksum and truncates the file there, so a crash in
/// the middle of a write loses only the unacknowledged change.
pub struct MetadataLog {
    path: PathBuf,
    file: File,
}

impl MetadataLog {
    /// Opens (creating) the log under `dir` and returns it with every intact record.
    pub fn open(dir: &Path) -> std::io::Result<(MetadataLog, Vec<MetadataRecord>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("metadata.log");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        let mut records = Vec::new();
        let mut good_len: u64 = 0;
        {
            let mut reader = BufReader::new(&file);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                match parse_line(line.trim_end_matches('\n')) {
                    Some(r) => {
                        records.push(r);
                        good_len += n as u64;
                    }
                    None => break,
                }
            }
        }
        if file.metadata()?.len() != good_len {
            tracing::warn!(path = %path.display(), kept = records.len(), "metadata log had a torn tail; truncating");
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok((MetadataLog { path, file }, records))
    }

    /// Appends records and fsyncs before returning: a change is acknowledged only once durable.
    pub fn append(&mut self, records: &[MetadataRecord]) -> std::io::Result<()> {
        let mut buf = String::new();
        for r in records {
            let json = serde_json::to_string(r).map_err(std::io::Error::other)?;
            buf.push_str(&format!(
                "{:08x} {}\n",
                crc32c::crc32c(json.as_bytes()),
                json
            ));
        }
        self.file.write_all(buf.as_bytes())?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn parse_line(line: &str) -> Option<MetadataRecord> {
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    if crc32c::crc32c(json.as_bytes()) != crc {
        return None;
    }
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::CreateTopic(test_support::topic(
            name,
            test_support::partitions_led_by(&[1], &[1]),
        ))
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "has space", "slash/name", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn log_replays_and_truncates_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, recs) = MetadataLog::open(dir.path()).unwrap();
            assert!(recs.is_empty());
            log.append(&[topic("a"), topic("b")]).unwrap();
        }
        // A torn write: half a line at the end.
        let path = dir.path().join("metadata.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"deadbeef {\"type\":\"DeleteTo").unwrap();
        drop(f);
        let (mut log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 2);
        log.append(&[MetadataRecord::DeleteTopic { topic: "a".into() }])
            .unwrap();
        let (_, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 3);
        let mut image = MetadataImage::default();
        recs.iter().for_each(|r| image.apply(r));
        assert!(image.topics.contains_key("b") && !image.topics.contains_key("a"));
        assert_eq!(image.topic_ids.len(), 1);
    }

    #[test]
    fn credentials_and_acls_replay_and_survive_a_snapshot() {
        use security::{acl_operation, acl_permission, pattern_type, resource_type};
        let dir = tempfile::tempdir().unwrap();
        let alice = ScramCredential::new(ScramMechanism::Sha256, "pw", b"salt", 4096).unwrap();
        let alice512 = ScramCredential::new(ScramMechanism::Sha512, "pw", b"salt", 8192).unwrap();
        let acl = AclRecord {
            resource_type: resource_type::TOPIC,
            resource_name: "orders".into(),
            pattern_type: pattern_type::LITERAL,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: acl_operation::READ,
            permission_type: acl_permission::ALLOW,
        };
        let (id1, id2) = (Uuid::new_v4(), Uuid::new_v4());
        let records = vec![
            MetadataRecord::UserScramCredential(UserScramCredentialRecord::of("alice", &alice)),
            MetadataRecord::UserScramCredential(UserScramCredentialRecord::of("alice", &alice512)),
            MetadataRecord::UserScramCredential(UserScramCredentialRecord::of("bob", &alice)),
            MetadataRecord::RemoveUserScramCredential {
                name: "bob".into(),
                mechanism: 1,
            },
            MetadataRecord::AccessControlEntry(AccessControlEntryRecord {
                id: id1,
                acl: acl.clone(),
            }),
            MetadataRecord::AccessControlEntry(AccessControlEntryRecord {
                id: id2,
                acl: acl.clone(),
            }),
            MetadataRecord::RemoveAccessControlEntry { id: id1 },
        ];
        {
            let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
            log.append(&records).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join("metadata.log")).unwrap();
        assert!(text.contains("\"salt\":\"c2FsdA==\""), "{text}");
        let (_, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replayed, records);
        let mut image = MetadataImage::default();
        replayed.iter().for_each(|r| image.apply(r));
        assert_eq!(
            image.scram_credential("alice", ScramMechanism::Sha256),
            Some(alice.clone())
        );
        assert_eq!(
            image.scram_credential("alice", ScramMechanism::Sha512),
            Some(alice512)
        );
        assert_eq!(image.scram_credential("bob", ScramMechanism::Sha256), None);
        assert!(!image.scram_credentials.contains_key("bob"));
        assert_eq!(image.acls.len(), 1);
        assert_eq!(image.acls.get(&id2), Some(&acl));
        // The image is the quorum's snapshot: through serde and back unchanged.
        let snapshot = serde_json::to_string(&image).unwrap();
        let restored: MetadataImage = serde_json::from_str(&snapshot).unwrap();
        assert_eq!(restored, image);
        // A snapshot from before these fields existed still loads.
        let mut old: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
        old.as_object_mut().unwrap().remove("scram_credentials");
        old.as_object_mut().unwrap().remove("acls");
        let old: MetadataImage = serde_json::from_value(old).unwrap();
        assert!(old.acls.is_empty() && old.scram_credentials.is_empty());
        // No key in the image's or the record's Debug.
        let debug = format!("{image:?} {records:?}");
        assert!(
            !debug.contains(&format!("{:?}", alice.stored_key())),
            "{debug}"
        );
    }

    /// Partition 0 of "t" led by broker 2 at leader epoch 7, brokers 1–3 registered (3
    /// fenced); broker 2 in rack "r2" with a CLIENT and an EXTERNAL listener.
    fn led_by_two() -> MetadataImage {
        let mut partitions = test_support::partitions_led_by(&[2, 3, -1], &[1, 2, 3]);
        partitions[0].leader_epoch = 7;
        let mut image =
            test_support::image(&[1, 2, 3], &[3], [test_support::topic("t", partitions)]);
        let two = image.brokers.get_mut(&2).unwrap();
        two.rack = Some("r2".into());
        two.endpoints = vec![
            BrokerEndpoint {
                listener: "CLIENT".into(),
                host: "inside-2".into(),
                port: 19092,
            },
            BrokerEndpoint {
                listener: "EXTERNAL".into(),
                host: "outside-2.example".into(),
                port: 29092,
            },
        ];
        image
    }

    #[test]
    fn a_known_leader_is_named_with_its_epoch_and_address() {
        let image = led_by_two();
        assert_eq!(
            image.current_leader("t", 0, "CLIENT"),
            CurrentLeader {
                leader_id: 2,
                leader_epoch: 7,
                endpoint: Some(LeaderEndpoint {
                    node_id: 2,
                    host: "inside-2",
                    port: 19092,
                    rack: Some("r2"),
                }),
            }
        );
    }

    #[test]
    fn the_address_is_the_one_advertised_on_the_clients_listener() {
        let image = led_by_two();
        let external = image.current_leader("t", 0, "external").endpoint.unwrap();
        assert_eq!((external.host, external.port), ("outside-2.example", 29092));
        // Every client on one listener is told what Metadata tells it.
        let broker = &image.brokers[&2];
        for listener in ["CLIENT", "EXTERNAL", ""] {
            let e = image.current_leader("t", 0, listener).endpoint.unwrap();
            assert_eq!(
                Some((e.host, e.port)),
                broker.address_for(listener),
                "{listener}"
            );
        }
        // A leader without that listener is named, without an address, as Kafka does.
        let other = image.current_leader("t", 0, "REPLICATION");
        assert_eq!((other.leader_id, other.leader_epoch), (2, 7));
        assert_eq!(other.endpoint, None);
    }

    #[test]
    fn an_unknown_leader_is_minus_one_without_an_address() {
        let image = led_by_two();
        for (topic, partition) in [("t", 2), ("t", 3), ("t", -1), ("t", i32::MIN), ("u", 0)] {
            assert_eq!(
                image.current_leader(topic, partition, "CLIENT"),
                CurrentLeader::UNKNOWN,
                "{topic}-{partition}"
            );
        }
        // A leader that is no longer registered is no better.
        let mut gone = led_by_two();
        gone.brokers.remove(&2);
        assert_eq!(
            gone.current_leader("t", 0, "CLIENT"),
            CurrentLeader::UNKNOWN
        );
    }

    #[test]
    fn a_fenced_leader_is_not_named() {
        let image = led_by_two();
        assert_eq!(
            image.current_leader("t", 1, "CLIENT"),
            CurrentLeader::UNKNOWN
        );
        let mut unfenced = image.clone();
        unfenced.apply(&MetadataRecord::UnfenceBroker { id: 3 });
        let three = unfenced.current_leader("t", 1, "CLIENT");
        assert_eq!((three.leader_id, three.leader_epoch), (3, 0));
        assert_eq!(
            three.endpoint.map(|e| (e.node_id, e.host, e.port)),
            Some((3, "broker3", 9093))
        );
    }

    #[test]
    fn a_node_without_its_lease_does_not_name_itself() {
        let image = led_by_two();
        let told = |node_id, lease_held| {
            image
                .current_leader("t", 0, "CLIENT")
                .told_by(node_id, lease_held)
                .leader_id
        };
        // Node 2 leads partition 0: it names itself only while it holds its lease (a fenced
        // leader epoch answered by the leader itself); other nodes name it either way.
        assert_eq!(told(2, true), 2);
        assert_eq!(told(2, false), -1);
        assert_eq!(told(1, true), 2);
        assert_eq!(told(1, false), 2);
    }

    #[test]
    fn a_garbled_line_stops_replay() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
            log.append(&[topic("a"), topic("b")]).unwrap();
        }
        let path = dir.path().join("metadata.log");
        let mut text = std::fs::read_to_string(&path).unwrap();
        let second = text.find('\n').unwrap() + 12;
        text.replace_range(second..second + 1, "#");
        std::fs::write(&path, text).unwrap();
        let (_, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 1);
    }
}
