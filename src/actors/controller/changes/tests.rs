//! The controller's decisions: for each request, the metadata records it commits and the
//! answer (Kafka error codes included) it gives, against hand-built images.

use std::collections::BTreeMap;

use super::*;
use crate::metadata::OngoingReassignment;
use crate::test_support::{broker, image, partition, partitions_led_by, topic};

fn config() -> BrokerConfig {
    BrokerConfig::default()
}

fn config_with(settings: &[(&str, &str)]) -> BrokerConfig {
    let mut c = BrokerConfig::default();
    for (k, v) in settings {
        c.set(k, v).unwrap();
    }
    c
}

fn plan(image: &MetadataImage, config: &BrokerConfig, f: impl FnOnce(&Planner) -> Plan) -> Plan {
    f(&Planner { image, config })
}

fn done(plan: &Plan) -> Result<(), BrokerError> {
    match &plan.response {
        ControllerResponse::Done(r) => r.clone(),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn each(plan: &Plan) -> Vec<Result<(), BrokerError>> {
    match &plan.response {
        ControllerResponse::Each(r) => r.clone(),
        other => panic!("expected Each, got {other:?}"),
    }
}

fn created(plan: &Plan) -> Vec<Result<TopicMeta, BrokerError>> {
    match &plan.response {
        ControllerResponse::Topics(r) => r.clone(),
        other => panic!("expected Topics, got {other:?}"),
    }
}

fn altered(plan: &Plan) -> Result<PartitionMeta, BrokerError> {
    match &plan.response {
        ControllerResponse::Partition(r) => r.clone(),
        other => panic!("expected Partition, got {other:?}"),
    }
}

fn elections(plan: &Plan) -> Vec<((String, i32), Result<(), BrokerError>)> {
    match &plan.response {
        ControllerResponse::Elections(r) => r.clone(),
        other => panic!("expected Elections, got {other:?}"),
    }
}

/// The Kafka error code of a refusal.
fn code<T: std::fmt::Debug>(r: &Result<T, BrokerError>) -> i16 {
    r.as_ref().expect_err("a refusal").code()
}

fn change(
    topic: &str,
    partition: i32,
    leader: i32,
    isr: &[i32],
    epochs: (i32, i32),
    replicas: Option<&[i32]>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        topic: topic.into(),
        partition,
        leader,
        isr: isr.to_vec(),
        leader_epoch: epochs.0,
        partition_epoch: epochs.1,
        replicas: replicas.map(<[i32]>::to_vec),
    }
}

/// A partition at leader epoch 3 and partition epoch 7, so bumps show.
fn at_epochs(index: i32, replicas: &[i32], isr: &[i32], leader: i32) -> PartitionMeta {
    PartitionMeta {
        leader_epoch: 3,
        partition_epoch: 7,
        ..partition(index, replicas, isr, leader)
    }
}

fn new_topic(name: &str, partitions: i32, replication_factor: i16) -> NewTopic {
    NewTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor,
        configs: BTreeMap::new(),
        assignments: None,
    }
}

/// Applies a plan's records, as the controller does once they are committed.
fn applied(image: &MetadataImage, plan: &Plan) -> MetadataImage {
    let mut next = image.clone();
    for r in &plan.records {
        next.apply(r);
    }
    next
}

// ---- broker registration and heartbeats ----

#[test]
fn a_new_broker_is_registered() {
    let img = image(&[1], &[], []);
    let p = plan(&img, &config(), |p| p.register_broker(broker(2)));
    assert_eq!(p.records, vec![MetadataRecord::RegisterBroker(broker(2))]);
    assert_eq!(done(&p), Ok(()));
}

#[test]
fn registering_again_unchanged_writes_nothing_but_a_new_address_is_recorded() {
    let img = image(&[1, 2], &[], []);
    let p = plan(&img, &config(), |p| p.register_broker(broker(2)));
    assert!(p.records.is_empty());
    assert_eq!(done(&p), Ok(()));

    let moved = BrokerInfo {
        port: 19092,
        ..broker(2)
    };
    let p = plan(&img, &config(), |p| p.register_broker(moved.clone()));
    assert_eq!(p.records, vec![MetadataRecord::RegisterBroker(moved)]);
}

#[test]
fn a_fenced_broker_registering_again_leads_the_leaderless_partitions_in_its_isr() {
    // Partition 0 went offline with 1 the last in-sync replica; partition 1 has 2 in sync
    // (still fenced); partition 2 has a live leader.
    let t = topic(
        "t",
        vec![
            at_epochs(0, &[1, 2], &[1], -1),
            at_epochs(1, &[1, 2], &[2], -1),
            at_epochs(2, &[1, 3], &[1, 3], 3),
        ],
    );
    let img = image(&[1, 2, 3], &[1, 2], [t]);
    let p = plan(&img, &config(), |p| p.register_broker(broker(1)));
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::RegisterBroker(broker(1)),
            change("t", 0, 1, &[1], (4, 8), None),
        ]
    );
    assert_eq!(done(&p), Ok(()));
    let after = applied(&img, &p);
    assert!(after.is_broker_live(1));
    assert_eq!(after.partition("t", 0).unwrap().leader, 1);
    assert_eq!(after.partition("t", 1).unwrap().leader, -1);
}

#[test]
fn a_heartbeat_from_an_unknown_broker_is_refused() {
    let img = image(&[1], &[], []);
    let p = plan(&img, &config(), |p| p.heartbeat(9, false));
    assert!(p.records.is_empty());
    assert_eq!(done(&p), Err(BrokerError::BrokerNotAvailable(9)));
    assert_eq!(code(&done(&p)), 8);
}

#[test]
fn a_heartbeat_from_a_live_broker_or_one_shutting_down_changes_nothing() {
    let t = topic("t", vec![at_epochs(0, &[1, 2], &[2], -1)]);
    let img = image(&[1, 2], &[2], [t]);
    let live = plan(&img, &config(), |p| p.heartbeat(1, false));
    assert!(live.records.is_empty());
    assert_eq!(done(&live), Ok(()));
    // Fenced but shutting down: it stays fenced and leads nothing.
    let shutting_down = plan(&img, &config(), |p| p.heartbeat(2, true));
    assert!(shutting_down.records.is_empty());
    assert_eq!(done(&shutting_down), Ok(()));
}

#[test]
fn a_heartbeat_unfences_and_elects_only_where_the_election_is_clean() {
    let t = topic(
        "t",
        vec![
            at_epochs(0, &[1, 2], &[1], -1),
            // 2 is not in sync: no leader without unclean election.
            at_epochs(1, &[2, 1], &[3], -1),
        ],
    );
    let img = image(&[1, 2, 3], &[1, 3], [t]);
    let p = plan(&img, &config(), |p| p.heartbeat(1, false));
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::UnfenceBroker { id: 1 },
            change("t", 0, 1, &[1], (4, 8), None),
        ]
    );
    assert_eq!(done(&p), Ok(()));
}

#[test]
fn a_heartbeat_elects_uncleanly_where_the_topic_allows_it() {
    let mut t = topic("t", vec![at_epochs(0, &[2, 1], &[3], -1)]);
    t.configs
        .insert("unclean.leader.election.enable".into(), "true".into());
    let img = image(&[1, 2, 3], &[1, 3], [t]);
    let p = plan(&img, &config(), |p| p.heartbeat(1, false));
    // 2 is live and first in assignment order: it leads with an ISR of itself.
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::UnfenceBroker { id: 1 },
            change("t", 0, 2, &[2], (4, 8), None),
        ]
    );
}

// ---- fencing ----

#[test]
fn fencing_brokers_that_are_not_live_writes_nothing() {
    let t = topic("t", partitions_led_by(&[1], &[1, 2]));
    let img = image(&[1, 2], &[2], [t]);
    let p = plan(&img, &config(), |p| p.fence(&[2, 7]));
    assert!(p.records.is_empty());
    assert_eq!(done(&p), Ok(()));
}

#[test]
fn fencing_a_leader_moves_leadership_and_fencing_a_follower_shrinks_the_isr() {
    let t = topic(
        "t",
        vec![
            at_epochs(0, &[1, 2, 3], &[1, 2, 3], 1),
            at_epochs(1, &[2, 1, 3], &[2, 1, 3], 2),
            at_epochs(2, &[2, 3], &[2, 3], 2),
        ],
    );
    let img = image(&[1, 2, 3], &[], [t]);
    let p = plan(&img, &config(), |p| p.fence(&[1]));
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::FenceBroker { id: 1 },
            // The leader is gone: the next in-sync replica leads, leader epoch + 1.
            change("t", 0, 2, &[2, 3], (4, 8), None),
            // A follower: only the ISR shrinks, the leader epoch stays.
            change("t", 1, 2, &[2, 3], (3, 8), None),
        ]
    );
    assert_eq!(done(&p), Ok(()));
    let after = applied(&img, &p);
    assert!(!after.is_broker_live(1));
    assert_eq!(after.partition("t", 2), img.partition("t", 2));
}

#[test]
fn fencing_several_brokers_writes_one_change_per_partition_and_keeps_the_last_isr_member() {
    let t = topic("t", vec![at_epochs(0, &[1, 2, 3], &[1, 2], 1)]);
    let img = image(&[1, 2, 3], &[], [t]);
    let p = plan(&img, &config(), |p| p.fence(&[1, 2]));
    // Fencing 1 leaves 2 the only ISR member, itself being fenced: no leader, and the ISR
    // keeps 2 (an empty ISR would forget who has the data). 3 is not in sync.
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::FenceBroker { id: 1 },
            MetadataRecord::FenceBroker { id: 2 },
            change("t", 0, -1, &[2], (4, 8), None),
        ]
    );
}

#[test]
fn fencing_elects_an_out_of_sync_replica_only_with_unclean_election() {
    let t = topic("t", vec![at_epochs(0, &[1, 2], &[1], 1)]);
    let img = image(&[1, 2], &[], [t.clone()]);
    let clean = plan(&img, &config(), |p| p.fence(&[1]));
    assert_eq!(clean.records[1], change("t", 0, -1, &[1], (4, 8), None));

    // The broker default allows it.
    let unclean = config_with(&[("unclean.leader.election.enable", "true")]);
    let p = plan(&img, &unclean, |p| p.fence(&[1]));
    assert_eq!(p.records[1], change("t", 0, 2, &[2], (4, 8), None));

    // A topic override wins over the broker default.
    let mut strict = t;
    strict
        .configs
        .insert("unclean.leader.election.enable".into(), "false".into());
    let img = image(&[1, 2], &[], [strict]);
    let p = plan(&img, &unclean, |p| p.fence(&[1]));
    assert_eq!(p.records[1], change("t", 0, -1, &[1], (4, 8), None));
}

// ---- topic creation ----

#[test]
fn a_topic_is_placed_on_live_brokers_with_distinct_replicas() {
    let img = image(&[1, 2, 3, 4], &[4], []);
    let mut req = new_topic("orders", 6, 2);
    req.configs
        .insert("cleanup.policy".into(), "compact".into());
    let p = plan(&img, &config(), |p| p.create_topics(&[req], false));
    let answers = created(&p);
    let t = answers[0].as_ref().unwrap();
    assert_eq!(p.records, vec![MetadataRecord::CreateTopic(t.clone())]);
    assert_eq!(t.name, "orders");
    assert!(!t.internal);
    assert_eq!(
        t.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(t.partitions.len(), 6);
    for (i, part) in t.partitions.iter().enumerate() {
        assert_eq!(part.index, i as i32);
        assert_eq!(part.replicas.len(), 2);
        assert_ne!(part.replicas[0], part.replicas[1]);
        assert!(
            part.replicas.iter().all(|b| [1, 2, 3].contains(b)),
            "never on fenced broker 4: {:?}",
            part.replicas
        );
        assert_eq!(part.leader, part.replicas[0]);
        assert_eq!(part.isr, part.replicas);
        assert_eq!((part.leader_epoch, part.partition_epoch), (0, 0));
    }
    // Leadership goes round-robin over the three live brokers.
    let mut leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader).collect();
    leaders.sort();
    assert_eq!(leaders, vec![1, 1, 2, 2, 3, 3]);
}

#[test]
fn a_replication_factor_above_the_live_brokers_is_refused() {
    let img = image(&[1, 2, 3], &[3], []);
    let p = plan(&img, &config(), |p| {
        p.create_topics(&[new_topic("a", 1, 3), new_topic("b", 1, 0)], false)
    });
    assert!(p.records.is_empty());
    let answers = created(&p);
    assert!(matches!(
        answers[0],
        Err(BrokerError::InvalidReplicationFactor(_))
    ));
    assert_eq!(code(&answers[0]), 38);
    assert_eq!(code(&answers[1]), 38, "a replication factor of 0");
}

#[test]
fn defaults_come_from_the_broker_config() {
    let img = image(&[1, 2, 3], &[], []);
    let c = config_with(&[("num.partitions", "4"), ("default.replication.factor", "3")]);
    let p = plan(&img, &c, |p| {
        p.create_topics(&[new_topic("t", -1, -1)], false)
    });
    let t = created(&p).remove(0).unwrap();
    assert_eq!(t.partitions.len(), 4);
    assert!(t.partitions.iter().all(|p| p.replicas.len() == 3));
}

#[test]
fn bad_names_counts_and_configs_are_refused_each_on_its_own() {
    let img = image(&[1], &[], [topic("taken", partitions_led_by(&[1], &[1]))]);
    let mut bad_config = new_topic("bad-config", 1, 1);
    bad_config
        .configs
        .insert("no.such.config".into(), "1".into());
    let mut bad_value = new_topic("bad-value", 1, 1);
    bad_value
        .configs
        .insert("min.insync.replicas".into(), "0".into());
    let requests = [
        new_topic("bad name!", 1, 1),
        new_topic("..", 1, 1),
        new_topic("taken", 1, 1),
        new_topic("none", 0, 1),
        new_topic("too-many", 1_000_001, 1),
        bad_config,
        bad_value,
        new_topic("good", 2, 1),
    ];
    let p = plan(&img, &config(), |p| p.create_topics(&requests, false));
    let codes: Vec<i16> = created(&p)
        .iter()
        .map(|r| r.as_ref().map(|_| 0).unwrap_or_else(|e| e.code()))
        .collect();
    assert_eq!(codes, vec![17, 17, 36, 37, 37, 40, 40, 0]);
    // Only the good one is written.
    assert_eq!(p.records.len(), 1);
    assert!(matches!(&p.records[0], MetadataRecord::CreateTopic(t) if t.name == "good"));
}

#[test]
fn a_name_twice_in_one_request_is_created_once() {
    let img = image(&[1], &[], []);
    let p = plan(&img, &config(), |p| {
        p.create_topics(&[new_topic("t", 1, 1), new_topic("t", 2, 1)], false)
    });
    let answers = created(&p);
    assert_eq!(answers[0].as_ref().unwrap().partitions.len(), 1);
    assert_eq!(answers[1], Err(BrokerError::TopicAlreadyExists("t".into())));
    assert_eq!(p.records.len(), 1);
}

#[test]
fn validate_only_answers_without_writing() {
    let img = image(&[1, 2], &[], []);
    let p = plan(&img, &config(), |p| {
        p.create_topics(&[new_topic("t", 3, 2), new_topic("x", 1, 5)], true)
    });
    assert!(p.records.is_empty());
    let answers = created(&p);
    assert_eq!(answers[0].as_ref().unwrap().partitions.len(), 3);
    assert_eq!(code(&answers[1]), 38);
}

#[test]
fn internal_topics_are_marked_internal() {
    let img = image(&[1], &[], []);
    let p = plan(&img, &config(), |p| {
        p.create_topics(&[new_topic("__consumer_offsets", 2, 1)], false)
    });
    assert!(created(&p)[0].as_ref().unwrap().internal);
}

#[test]
fn a_manual_assignment_is_kept_and_led_by_its_first_live_replica() {
    let img = image(&[1, 2, 3], &[1], []);
    let mut req = new_topic("t", -1, -1);
    req.assignments = Some(vec![vec![1, 2], vec![3, 1], vec![2, 3]]);
    let p = plan(&img, &config(), |p| p.create_topics(&[req], false));
    let t = created(&p).remove(0).unwrap();
    let got: Vec<(Vec<i32>, i32)> = t
        .partitions
        .iter()
        .map(|p| (p.replicas.clone(), p.leader))
        .collect();
    // Fenced broker 1 is skipped as leader but keeps its replica.
    assert_eq!(got, vec![(vec![1, 2], 2), (vec![3, 1], 3), (vec![2, 3], 2)]);
    assert!(t.partitions.iter().all(|p| p.isr == p.replicas));
    assert_eq!(p.records, vec![MetadataRecord::CreateTopic(t)]);

    // Every replica fenced: the partition starts without a leader.
    let img = image(&[1, 2], &[1, 2], []);
    let mut req = new_topic("t", 1, 2);
    req.assignments = Some(vec![vec![1, 2]]);
    let p = plan(&img, &config(), |p| p.create_topics(&[req], false));
    assert_eq!(created(&p)[0].as_ref().unwrap().partitions[0].leader, -1);
}

#[test]
fn a_bad_manual_assignment_is_refused() {
    let img = image(&[1, 2, 3], &[], []);
    let with = |a: Vec<Vec<i32>>| {
        let mut req = new_topic("t", -1, -1);
        req.assignments = Some(a);
        let p = plan(&img, &config(), |p| p.create_topics(&[req], false));
        assert!(p.records.is_empty());
        created(&p).remove(0)
    };
    for bad in [
        vec![vec![1, 2], vec![3]],
        vec![vec![]],
        vec![vec![1, 1]],
        vec![vec![1, 9]],
    ] {
        let r = with(bad.clone());
        assert!(
            matches!(r, Err(BrokerError::InvalidReplicaAssignment(_))),
            "{bad:?}: {r:?}"
        );
        assert_eq!(code(&r), 39);
    }
}

// ---- topic deletion ----

#[test]
fn deleting_topics_writes_one_record_per_known_topic() {
    let img = image(
        &[1],
        &[],
        [
            topic("a", partitions_led_by(&[1], &[1])),
            topic("b", partitions_led_by(&[1], &[1])),
        ],
    );
    let names: Vec<String> = ["a", "missing", "b", "a"].map(String::from).to_vec();
    let p = plan(&img, &config(), |p| p.delete_topics(&names));
    assert_eq!(
        each(&p),
        vec![
            Ok(()),
            Err(BrokerError::UnknownTopicOrPartition),
            Ok(()),
            // Named twice: deleted once.
            Err(BrokerError::UnknownTopicOrPartition),
        ]
    );
    assert_eq!(
        p.records,
        vec![
            MetadataRecord::DeleteTopic { topic: "a".into() },
            MetadataRecord::DeleteTopic { topic: "b".into() },
        ]
    );
    let after = applied(&img, &p);
    assert!(after.topics.is_empty() && after.topic_ids.is_empty());
}

#[test]
fn deletion_can_be_disabled() {
    let img = image(&[1], &[], [topic("a", partitions_led_by(&[1], &[1]))]);
    let c = config_with(&[("delete.topic.enable", "false")]);
    let p = plan(&img, &c, |p| p.delete_topics(&["a".to_string()]));
    assert!(p.records.is_empty());
    assert_eq!(each(&p), vec![Err(BrokerError::TopicDeletionDisabled)]);
    assert_eq!(code(&each(&p)[0]), 73);
}

// ---- partition changes ----

#[test]
fn new_partitions_continue_the_numbering_at_the_topics_replication_factor() {
    let t = topic(
        "t",
        vec![
            partition(0, &[2, 3], &[2, 3], 2),
            partition(1, &[3, 1], &[3, 1], 3),
        ],
    );
    let img = image(&[1, 2, 3], &[], [t]);
    let p = plan(&img, &config(), |p| {
        p.create_partitions(&[("t".into(), 5)], false)
    });
    assert_eq!(each(&p), vec![Ok(())]);
    let [MetadataRecord::CreatePartitions { topic, partitions }] = &p.records[..] else {
        panic!("one CreatePartitions: {:?}", p.records);
    };
    assert_eq!(topic, "t");
    let expected = placement::assign_new_partitions(&[1, 2, 3], &[2, 3], 2..5).unwrap();
    let got: Vec<(i32, Vec<i32>, i32)> = partitions
        .iter()
        .map(|p| (p.index, p.replicas.clone(), p.leader))
        .collect();
    assert_eq!(
        got,
        expected
            .iter()
            .enumerate()
            .map(|(i, r)| (2 + i as i32, r.clone(), r[0]))
            .collect::<Vec<_>>()
    );
    assert!(partitions.iter().all(|p| p.replicas.len() == 2
        && p.isr == p.replicas
        && (p.leader_epoch, p.partition_epoch) == (0, 0)));
    assert_eq!(applied(&img, &p).topics["t"].partitions.len(), 5);
}

#[test]
fn partition_counts_that_do_not_grow_or_cannot_be_placed_are_refused() {
    let img = image(
        &[1, 2, 3],
        &[3],
        [
            topic("t", partitions_led_by(&[1, 2], &[1, 2])),
            topic("wide", partitions_led_by(&[1], &[1, 2, 3])),
        ],
    );
    let requests: Vec<(String, i32)> = vec![
        ("t".into(), 2),
        ("t".into(), 1),
        ("t".into(), 1_000_001),
        ("missing".into(), 3),
        // Three replicas, but broker 3 is fenced.
        ("wide".into(), 2),
        ("t".into(), 3),
    ];
    let p = plan(&img, &config(), |p| p.create_partitions(&requests, false));
    let codes: Vec<i16> = each(&p)
        .iter()
        .map(|r| r.as_ref().map(|_| 0).unwrap_or_else(|e| e.code()))
        .collect();
    assert_eq!(codes, vec![37, 37, 37, 3, 38, 0]);
    assert_eq!(p.records.len(), 1);
    assert!(matches!(
        &p.records[0],
        MetadataRecord::CreatePartitions { topic, partitions }
            if topic == "t" && partitions.len() == 1 && partitions[0].index == 2
    ));
}

#[test]
fn validate_only_partition_changes_write_nothing() {
    let img = image(&[1], &[], [topic("t", partitions_led_by(&[1], &[1]))]);
    let p = plan(&img, &config(), |p| {
        p.create_partitions(&[("t".into(), 3)], true)
    });
    assert_eq!(each(&p), vec![Ok(())]);
    assert!(p.records.is_empty());
}

// ---- topic configs ----

#[test]
fn topic_configs_are_validated_then_replaced_whole() {
    let img = image(&[1], &[], [topic("t", partitions_led_by(&[1], &[1]))]);
    let configs = BTreeMap::from([
        ("retention.ms".to_string(), "1000".to_string()),
        ("min.insync.replicas".to_string(), "2".to_string()),
    ]);
    let p = plan(&img, &config(), |p| {
        p.alter_topic_configs("t", &configs, false)
    });
    assert_eq!(done(&p), Ok(()));
    assert_eq!(
        p.records,
        vec![MetadataRecord::AlterTopicConfigs {
            topic: "t".into(),
            configs: configs.clone(),
        }]
    );
    assert_eq!(applied(&img, &p).topics["t"].configs, configs);

    let p = plan(&img, &config(), |p| {
        p.alter_topic_configs("t", &configs, true)
    });
    assert_eq!(done(&p), Ok(()));
    assert!(p.records.is_empty());
}

#[test]
fn configs_of_unknown_topics_or_with_bad_values_are_refused() {
    let img = image(&[1], &[], [topic("t", partitions_led_by(&[1], &[1]))]);
    let good = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
    let p = plan(&img, &config(), |p| {
        p.alter_topic_configs("missing", &good, false)
    });
    assert_eq!(done(&p), Err(BrokerError::UnknownTopicOrPartition));
    assert!(p.records.is_empty());
    for bad in [("retention.ms", "soon"), ("not.a.config", "1")] {
        let configs = BTreeMap::from([(bad.0.to_string(), bad.1.to_string())]);
        let p = plan(&img, &config(), |p| {
            p.alter_topic_configs("t", &configs, false)
        });
        assert_eq!(code(&done(&p)), 40, "{bad:?}");
        assert!(p.records.is_empty());
    }
}

// ---- AlterPartition (ISR changes) ----

fn isr_image(fenced: &[i32]) -> MetadataImage {
    image(
        &[1, 2, 3, 4],
        fenced,
        [topic("t", vec![at_epochs(0, &[1, 2, 3], &[1, 2], 1)])],
    )
}

#[test]
fn the_leader_changes_the_isr_at_the_current_epochs() {
    let img = isr_image(&[]);
    // Expanding, in the client's order: the ISR follows the assignment's order.
    let p = plan(&img, &config(), |p| {
        p.alter_partition(1, "t", 0, 3, 7, &[3, 1, 2])
    });
    let expected = PartitionMeta {
        isr: vec![1, 2, 3],
        partition_epoch: 8,
        ..at_epochs(0, &[1, 2, 3], &[1, 2], 1)
    };
    assert_eq!(altered(&p), Ok(expected.clone()));
    assert_eq!(p.records, vec![change("t", 0, 1, &[1, 2, 3], (3, 8), None)]);
    assert_eq!(applied(&img, &p).partition("t", 0), Some(&expected));

    // Shrinking: the leader epoch stays, the partition epoch moves.
    let p = plan(&img, &config(), |p| {
        p.alter_partition(1, "t", 0, 3, 7, &[1])
    });
    assert_eq!(p.records, vec![change("t", 0, 1, &[1], (3, 8), None)]);
}

#[test]
fn isr_changes_from_a_stale_or_wrong_leader_are_refused() {
    let img = isr_image(&[]);
    let refused = |broker, topic: &str, partition, le, pe, isr: &[i32]| {
        let p = plan(&img, &config(), |p| {
            p.alter_partition(broker, topic, partition, le, pe, isr)
        });
        assert!(p.records.is_empty());
        altered(&p).unwrap_err()
    };
    // (broker, topic, partition, leader epoch, partition epoch) → the refusal and its code.
    let cases = [
        ((1, "t", 5, 3, 7), BrokerError::UnknownTopicOrPartition, 3),
        (
            (1, "gone", 0, 3, 7),
            BrokerError::UnknownTopicOrPartition,
            3,
        ),
        ((2, "t", 0, 3, 7), BrokerError::NotLeaderOrFollower, 6),
        ((1, "t", 0, 2, 7), BrokerError::FencedLeaderEpoch, 74),
        ((1, "t", 0, 4, 7), BrokerError::UnknownLeaderEpoch, 75),
    ];
    for ((broker, topic, partition, le, pe), error, code) in cases {
        let e = refused(broker, topic, partition, le, pe, &[broker]);
        assert_eq!(
            (&e, e.code()),
            (&error, code),
            "{broker} {topic}-{partition} {le} {pe}"
        );
    }
    // A partition epoch behind or ahead of the controller's.
    for pe in [6, 8] {
        let e = refused(1, "t", 0, 3, pe, &[1]);
        assert!(
            matches!(e, BrokerError::InvalidUpdateVersion(_)),
            "{pe}: {e:?}"
        );
        assert_eq!(e.code(), 95);
    }
}

#[test]
fn an_isr_without_the_leader_or_with_ineligible_replicas_is_refused() {
    let img = isr_image(&[3]);
    let refused = |isr: &[i32]| {
        let p = plan(&img, &config(), |p| p.alter_partition(1, "t", 0, 3, 7, isr));
        assert!(p.records.is_empty());
        altered(&p).unwrap_err()
    };
    for isr in [&[2][..], &[1, 4], &[1, 3]] {
        let e = refused(isr);
        assert!(
            matches!(e, BrokerError::InvalidRequest(_)),
            "{isr:?}: {e:?}"
        );
        assert_eq!(e.code(), 42);
    }
    // A fenced broker already in the ISR may stay in it.
    let img = isr_image(&[2]);
    let p = plan(&img, &config(), |p| {
        p.alter_partition(1, "t", 0, 3, 7, &[1, 2])
    });
    assert_eq!(p.records, vec![change("t", 0, 1, &[1, 2], (3, 8), None)]);
}

// ---- ElectLeaders ----

fn election_image() -> MetadataImage {
    image(
        &[1, 2, 3],
        &[3],
        [topic(
            "t",
            vec![
                // The preferred replica (1) is in sync but does not lead.
                at_epochs(0, &[1, 2], &[1, 2], 2),
                // The preferred replica leads.
                at_epochs(1, &[1, 2], &[1, 2], 1),
                // The preferred replica is out of sync.
                at_epochs(2, &[1, 2], &[2], 2),
                // The preferred replica is fenced.
                at_epochs(3, &[3, 2], &[3, 2], 2),
                // Offline: its only in-sync replica is fenced, 2 is live but not in sync.
                at_epochs(4, &[3, 2], &[3], -1),
                // Offline with nothing live.
                at_epochs(5, &[3], &[3], -1),
                // Offline, with a live in-sync replica.
                at_epochs(6, &[3, 1], &[3, 1], -1),
            ],
        )],
    )
}

fn targets(partitions: &[i32]) -> Vec<(String, i32)> {
    partitions.iter().map(|p| ("t".to_string(), *p)).collect()
}

#[test]
fn a_preferred_election_moves_leadership_to_the_first_replica_when_it_can() {
    let img = election_image();
    let asked = targets(&[0, 1, 2, 3]);
    let mut asked_too = asked.clone();
    asked_too.push(("gone".into(), 0));
    let p = plan(&img, &config(), |p| {
        p.elect_leaders(ElectionType::Preferred, Some(&asked_too))
    });
    assert_eq!(p.records, vec![change("t", 0, 1, &[1, 2], (4, 8), None)]);
    let answers = elections(&p);
    let codes: Vec<((String, i32), i16)> = answers
        .iter()
        .map(|(tp, r)| {
            (
                tp.clone(),
                r.as_ref().map(|_| 0).unwrap_or_else(|e| e.code()),
            )
        })
        .collect();
    let mut expected: Vec<((String, i32), i16)> = asked.into_iter().zip([0, 84, 80, 80]).collect();
    expected.push((("gone".into(), 0), 3));
    assert_eq!(codes, expected);
}

#[test]
fn an_election_of_every_partition_answers_for_each() {
    let img = election_image();
    let p = plan(&img, &config(), |p| {
        p.elect_leaders(ElectionType::Preferred, None)
    });
    let answered: Vec<(String, i32)> = elections(&p).into_iter().map(|(tp, _)| tp).collect();
    assert_eq!(answered, targets(&[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(p.records, vec![change("t", 0, 1, &[1, 2], (4, 8), None)]);
}

#[test]
fn an_unclean_election_brings_offline_partitions_back() {
    let img = election_image();
    let p = plan(&img, &config(), |p| {
        p.elect_leaders(ElectionType::Unclean, Some(&targets(&[0, 4, 5, 6])))
    });
    assert_eq!(
        p.records,
        vec![
            // Out of sync 2 leads alone.
            change("t", 4, 2, &[2], (4, 8), None),
            // A live in-sync replica is preferred over any unclean choice; the fenced one
            // leaves the ISR.
            change("t", 6, 1, &[1], (4, 8), None),
        ]
    );
    let codes: Vec<i16> = elections(&p)
        .iter()
        .map(|(_, r)| r.as_ref().map(|_| 0).unwrap_or_else(|e| e.code()))
        .collect();
    // A live leader needs no election; nothing live is not eligible.
    assert_eq!(codes, vec![84, 0, 83, 0]);
}

// ---- reassignments ----

/// A partition and its target replicas (None: cancel).
type ReassignmentItem = ((String, i32), Option<Vec<i32>>);

fn reassignment_image(ongoing: Option<OngoingReassignment>, p: PartitionMeta) -> MetadataImage {
    let mut img = image(&[1, 2, 3, 4, 5], &[5], [topic("t", vec![p])]);
    if let Some(o) = ongoing {
        img.reassignments
            .entry("t".into())
            .or_default()
            .insert(0, o);
    }
    img
}

#[test]
fn a_reassignment_adds_the_target_replicas_first_and_records_the_original() {
    let img = reassignment_image(None, at_epochs(0, &[1, 2], &[1, 2], 1));
    let p = plan(&img, &config(), |p| {
        p.alter_reassignments(&[(("t".into(), 0), Some(vec![3, 1]))])
    });
    assert_eq!(elections(&p), vec![(("t".into(), 0), Ok(()))]);
    assert_eq!(
        p.records,
        vec![
            change("t", 0, 1, &[1, 2], (3, 8), Some(&[3, 1, 2])),
            MetadataRecord::Reassignment {
                topic: "t".into(),
                partition: 0,
                target: Some(vec![3, 1]),
                original: vec![1, 2],
            },
        ]
    );
    let after = applied(&img, &p);
    assert_eq!(after.partition("t", 0).unwrap().replicas, vec![3, 1, 2]);
    assert_eq!(
        after.reassignments["t"][&0],
        OngoingReassignment {
            target: vec![3, 1],
            original: vec![1, 2]
        }
    );
}

#[test]
fn retargeting_keeps_the_first_original_and_the_same_target_needs_nothing() {
    let ongoing = OngoingReassignment {
        target: vec![3],
        original: vec![1, 2],
    };
    let img = reassignment_image(Some(ongoing), at_epochs(0, &[3, 1, 2], &[1, 2, 3], 1));
    let p = plan(&img, &config(), |p| {
        p.alter_reassignments(&[(("t".into(), 0), Some(vec![4]))])
    });
    // 3 was only a target: it leaves the replicas and the ISR.
    assert_eq!(
        p.records,
        vec![
            change("t", 0, 1, &[1, 2], (3, 8), Some(&[4, 1, 2])),
            MetadataRecord::Reassignment {
                topic: "t".into(),
                partition: 0,
                target: Some(vec![4]),
                original: vec![1, 2],
            },
        ]
    );

    let img = reassignment_image(None, at_epochs(0, &[1, 2], &[1, 2], 1));
    let p = plan(&img, &config(), |p| {
        p.alter_reassignments(&[(("t".into(), 0), Some(vec![1, 2]))])
    });
    assert_eq!(elections(&p), vec![(("t".into(), 0), Ok(()))]);
    assert!(p.records.is_empty());
}

#[test]
fn bad_reassignments_are_refused() {
    let img = reassignment_image(None, at_epochs(0, &[1, 2], &[1, 2], 1));
    let items: Vec<ReassignmentItem> = vec![
        (("t".into(), 0), Some(vec![])),
        (("t".into(), 0), Some(vec![3, 3])),
        (("t".into(), 0), Some(vec![3, 9])),
        (("t".into(), 7), Some(vec![3])),
        (("gone".into(), 0), None),
        // Nothing to cancel.
        (("t".into(), 0), None),
    ];
    let p = plan(&img, &config(), |p| p.alter_reassignments(&items));
    assert!(p.records.is_empty());
    let codes: Vec<i16> = elections(&p)
        .iter()
        .map(|(_, r)| r.as_ref().map(|_| 0).unwrap_or_else(|e| e.code()))
        .collect();
    assert_eq!(codes, vec![39, 39, 39, 3, 3, 85]);
}

#[test]
fn cancelling_returns_to_the_original_replicas_and_leader() {
    let ongoing = OngoingReassignment {
        target: vec![3, 4],
        original: vec![1, 2],
    };
    // 3 already took over leadership.
    let img = reassignment_image(
        Some(ongoing.clone()),
        at_epochs(0, &[3, 4, 1, 2], &[3, 1, 2], 3),
    );
    let p = plan(&img, &config(), |p| {
        p.alter_reassignments(&[(("t".into(), 0), None)])
    });
    assert_eq!(elections(&p), vec![(("t".into(), 0), Ok(()))]);
    assert_eq!(
        p.records,
        vec![
            change("t", 0, 1, &[1, 2], (4, 8), Some(&[1, 2])),
            MetadataRecord::Reassignment {
                topic: "t".into(),
                partition: 0,
                target: None,
                original: vec![],
            },
        ]
    );
    let after = applied(&img, &p);
    assert!(after.reassignments.is_empty());
    assert_eq!(after.partition("t", 0).unwrap().replicas, vec![1, 2]);

    // No original replica in sync: no leader, and the first original replica is kept as the
    // ISR so the partition is not forgotten.
    let img = reassignment_image(Some(ongoing), at_epochs(0, &[3, 4, 1, 2], &[3, 4], 3));
    let p = plan(&img, &config(), |p| {
        p.alter_reassignments(&[(("t".into(), 0), None)])
    });
    assert_eq!(
        p.records[0],
        change("t", 0, -1, &[1], (4, 8), Some(&[1, 2]))
    );
}

#[test]
fn a_reassignment_completes_once_every_target_replica_is_in_sync() {
    let ongoing = OngoingReassignment {
        target: vec![3, 1],
        original: vec![1, 2],
    };
    let done_record = MetadataRecord::Reassignment {
        topic: "t".into(),
        partition: 0,
        target: None,
        original: vec![],
    };
    // 3 has not caught up: nothing yet.
    let img = reassignment_image(Some(ongoing.clone()), at_epochs(0, &[3, 1, 2], &[1, 2], 1));
    let p = plan(&img, &config(), |p| p.complete_reassignments());
    assert!(p.records.is_empty());
    assert_eq!(done(&p), Ok(()));

    // In sync, and the leader is a target replica: it keeps leading.
    let img = reassignment_image(Some(ongoing), at_epochs(0, &[3, 1, 2], &[1, 2, 3], 1));
    let p = plan(&img, &config(), |p| p.complete_reassignments());
    assert_eq!(
        p.records,
        vec![
            change("t", 0, 1, &[1, 3], (3, 8), Some(&[3, 1])),
            done_record.clone(),
        ]
    );
    let after = applied(&img, &p);
    assert!(after.reassignments.is_empty());
    assert_eq!(after.partition("t", 0).unwrap().replicas, vec![3, 1]);

    // The leader leaves: the first live in-sync target replica takes over.
    let moving = OngoingReassignment {
        target: vec![3, 4],
        original: vec![1, 2],
    };
    let img = reassignment_image(Some(moving), at_epochs(0, &[3, 4, 1, 2], &[1, 2, 3, 4], 1));
    let p = plan(&img, &config(), |p| p.complete_reassignments());
    assert_eq!(
        p.records,
        vec![
            change("t", 0, 3, &[3, 4], (4, 8), Some(&[3, 4])),
            done_record
        ]
    );
}

#[test]
fn a_reassignment_whose_targets_are_not_live_or_whose_partition_is_gone_waits() {
    // Target 5 is in sync but fenced, and the leader is not a target: no one can lead.
    let ongoing = OngoingReassignment {
        target: vec![5],
        original: vec![1],
    };
    let img = reassignment_image(Some(ongoing.clone()), at_epochs(0, &[5, 1], &[1, 5], 1));
    let p = plan(&img, &config(), |p| p.complete_reassignments());
    assert!(p.records.is_empty());

    let mut img = reassignment_image(None, at_epochs(0, &[1], &[1], 1));
    img.reassignments
        .entry("t".into())
        .or_default()
        .insert(4, ongoing);
    let p = plan(&img, &config(), |p| p.complete_reassignments());
    assert!(p.records.is_empty());
}

#[test]
fn a_partition_change_bumps_the_leader_epoch_only_for_a_new_leader() {
    let p = at_epochs(2, &[1, 2], &[1, 2], 1);
    assert_eq!(
        partition_change("t", &p, 1, vec![1], None),
        change("t", 2, 1, &[1], (3, 8), None)
    );
    assert_eq!(
        partition_change("t", &p, 2, vec![2], Some(vec![2])),
        change("t", 2, 2, &[2], (4, 8), Some(&[2]))
    );
}
