//! Issue #15: each API authorizes what Kafka's `KafkaApis` authorizes, with Kafka's error
//! codes. A broker runs the standard authorizer with `allow.everyone.if.no.acl.found=true` and
//! no super users; the PLAINTEXT client (User:ANONYMOUS) denies itself the resources named
//! `denied…` (prefixed DENY ALL ACLs on topics, groups and transactional ids) and, last,
//! CLUSTER_ACTION on the cluster (after which it may no longer create ACLs: an ACL then exists
//! on the cluster and none allows ALTER). Every denied resource must answer its authorization
//! error while the others keep working.

mod common;

use std::time::{Duration, Instant};

use common::raw::RawConnection;
use common::*;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const ALLOWED: &str = "allowed";
const DENIED: &str = "denied";
const ALLOWED_GROUP: &str = "allowed-group";
const DENIED_GROUP: &str = "denied-group";
const ALLOWED_TX: &str = "allowed-tx";
const DENIED_TX: &str = "denied-tx";

// Kafka's ACL codes (AclOperation, AclPermissionType, ResourceType, PatternType).
const OP_ALL: i8 = 2;
const OP_CLUSTER_ACTION: i8 = 9;
const DENY: i8 = 2;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const RESOURCE_TOPIC_CONFIG: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

struct Conn {
    raw: RawConnection,
}

impl Conn {
    fn open(b: &Broker) -> Conn {
        Conn {
            raw: RawConnection::open(b, "authz"),
        }
    }

    fn send(&mut self, version: i16, request: RequestKind) -> ResponseKind {
        self.raw.call(request_api(&request), version, &request)
    }
}

fn request_api(r: &RequestKind) -> ApiKey {
    match r {
        RequestKind::CreateAcls(_) => ApiKey::CreateAcls,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::DescribeConfigs(_) => ApiKey::DescribeConfigs,
        RequestKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::EndTxn(_) => ApiKey::EndTxn,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        RequestKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        RequestKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::ElectLeaders(_) => ApiKey::ElectLeaders,
        other => panic!("no API key mapped for {other:?}"),
    }
}

/// A DENY of `operation` for User:ANONYMOUS from any host.
fn deny(
    resource_type: i8,
    name: &str,
    pattern: i8,
    operation: i8,
) -> create_acls_request::AclCreation {
    create_acls_request::AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s("User:ANONYMOUS"))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(DENY)
}

fn create_acls(c: &mut Conn, creations: Vec<create_acls_request::AclCreation>) {
    let n = creations.len();
    let resp = c.send(
        3,
        RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(creations)),
    );
    let ResponseKind::CreateAcls(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.results.len(), n);
    for res in r.results {
        assert_eq!(res.error_code, 0, "CreateAcls: {:?}", res.error_message);
    }
}

/// Polls until `done` holds (ACLs reach the authorizer through the metadata log).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn offset_commit(c: &mut Conn, group: &str, topics: &[&str]) -> Vec<(String, i16)> {
    let topics = topics
        .iter()
        .map(|t| {
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(5),
                ])
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(topics);
    let resp = c.send(8, RequestKind::OffsetCommit(req));
    let ResponseKind::OffsetCommit(r) = resp else {
        panic!("{resp:?}")
    };
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code))
        })
        .collect()
}

fn describe_topic_config(c: &mut Conn, name: &str) -> i16 {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC_CONFIG)
            .with_resource_name(s(name)),
    ]);
    let resp = c.send(4, RequestKind::DescribeConfigs(req));
    let ResponseKind::DescribeConfigs(r) = resp else {
        panic!("{resp:?}")
    };
    r.results[0].error_code
}

fn write_txn_markers(c: &mut Conn) -> Vec<i16> {
    let req = WriteTxnMarkersRequest::default().with_markers(vec![
        write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(1))
            .with_producer_epoch(0)
            .with_transaction_result(false)
            .with_coordinator_epoch(0)
            .with_topics(vec![
                write_txn_markers_request::WritableTxnMarkerTopic::default()
                    .with_name(topic(ALLOWED))
                    .with_partition_indexes(vec![0]),
            ]),
    ]);
    let resp = c.send(1, RequestKind::WriteTxnMarkers(req));
    let ResponseKind::WriteTxnMarkers(r) = resp else {
        panic!("{resp:?}")
    };
    r.markers
        .iter()
        .flat_map(|m| m.topics.iter())
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn list_groups(c: &mut Conn) -> Vec<String> {
    let resp = c.send(4, RequestKind::ListGroups(ListGroupsRequest::default()));
    let ResponseKind::ListGroups(r) = resp else {
        panic!("{resp:?}")
    };
    r.groups.iter().map(|g| g.group_id.to_string()).collect()
}

fn add_partitions_v3(c: &mut Conn, txn: &str, topics: &[&str]) -> Vec<(String, i16)> {
    let topics = topics
        .iter()
        .map(|t| {
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(topic(t))
                .with_partitions(vec![0])
        })
        .collect();
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
        .with_v3_and_below_producer_id(ProducerId(42))
        .with_v3_and_below_producer_epoch(0)
        .with_v3_and_below_topics(topics);
    let resp = c.send(3, RequestKind::AddPartitionsToTxn(req));
    let ResponseKind::AddPartitionsToTxn(r) = resp else {
        panic!("{resp:?}")
    };
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| (t.name.to_string(), p.partition_error_code))
        })
        .collect()
}

#[test]
fn each_api_answers_kafkas_authorization_errors() {
    let b = Broker::start_with(&[
        "--override",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "--override",
        "allow.everyone.if.no.acl.found=true",
    ]);
    create_topic(&b, ALLOWED, 1, &[]);
    create_topic(&b, DENIED, 1, &[]);
    let mut c = Conn::open(&b);

    // Before any ACL: offsets of both topics in both groups (which creates the groups).
    for group in [ALLOWED_GROUP, DENIED_GROUP] {
        let codes = offset_commit(&mut c, group, &[ALLOWED, DENIED]);
        assert!(codes.iter().all(|(_, e)| *e == 0), "{group}: {codes:?}");
    }
    let mut groups = list_groups(&mut c);
    groups.sort();
    assert_eq!(groups, vec![ALLOWED_GROUP, DENIED_GROUP]);

    create_acls(
        &mut c,
        vec![
            deny(TOPIC, DENIED, PREFIXED, OP_ALL),
            deny(GROUP, DENIED, PREFIXED, OP_ALL),
            deny(TRANSACTIONAL_ID, DENIED, PREFIXED, OP_ALL),
        ],
    );
    let taf = code(ResponseError::TopicAuthorizationFailed);
    let gaf = code(ResponseError::GroupAuthorizationFailed);
    let caf = code(ResponseError::ClusterAuthorizationFailed);
    let tiaf = code(ResponseError::TransactionalIdAuthorizationFailed);
    eventually("the topic DENY", || {
        describe_topic_config(&mut c, DENIED) == taf
    });

    // DescribeConfigs: DESCRIBE_CONFIGS on the topic.
    assert_eq!(describe_topic_config(&mut c, ALLOWED), 0);

    // OffsetCommit: READ on the group, then on each topic.
    assert_eq!(
        offset_commit(&mut c, ALLOWED_GROUP, &[ALLOWED, DENIED]),
        vec![(ALLOWED.to_string(), 0), (DENIED.to_string(), taf)]
    );
    assert_eq!(
        offset_commit(&mut c, DENIED_GROUP, &[ALLOWED, DENIED]),
        vec![(ALLOWED.to_string(), gaf), (DENIED.to_string(), gaf)]
    );

    // OffsetFetch v7: DESCRIBE on the group (top level), DESCRIBE on each requested topic.
    let fetch_v7 = |c: &mut Conn, group: &str| {
        let topics = [ALLOWED, DENIED]
            .iter()
            .map(|t| {
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic(t))
                    .with_partition_indexes(vec![0])
            })
            .collect();
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(topics));
        let resp = c.send(7, RequestKind::OffsetFetch(req));
        let ResponseKind::OffsetFetch(r) = resp else {
            panic!("{resp:?}")
        };
        r
    };
    let r = fetch_v7(&mut c, ALLOWED_GROUP);
    assert_eq!(r.error_code, 0);
    let answers: Vec<(String, i16, i64)> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.error_code, p.committed_offset))
        })
        .collect();
    assert_eq!(
        answers,
        vec![(ALLOWED.to_string(), 0, 5), (DENIED.to_string(), taf, -1)]
    );
    assert_eq!(fetch_v7(&mut c, DENIED_GROUP).error_code, gaf);

    // OffsetFetch v8: per group; an all-topics fetch leaves the denied topic out.
    let req = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(ALLOWED_GROUP)))
            .with_topics(None),
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(DENIED_GROUP)))
            .with_topics(None),
    ]);
    let resp = c.send(8, RequestKind::OffsetFetch(req));
    let ResponseKind::OffsetFetch(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.groups[0].error_code, 0);
    let names: Vec<String> = r.groups[0]
        .topics
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, vec![ALLOWED.to_string()]);
    assert_eq!(r.groups[1].error_code, gaf);

    // DeleteTopics: no DESCRIBE → TOPIC_AUTHORIZATION_FAILED whether the topic exists or not;
    // an unknown topic that may be described → UNKNOWN_TOPIC_OR_PARTITION.
    let req = DeleteTopicsRequest::default().with_topic_names(vec![
        topic(DENIED),
        topic("denied-ghost"),
        topic("ghost"),
    ]);
    let resp = c.send(4, RequestKind::DeleteTopics(req));
    let ResponseKind::DeleteTopics(r) = resp else {
        panic!("{resp:?}")
    };
    let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        vec![taf, taf, code(ResponseError::UnknownTopicOrPartition)]
    );

    // CreatePartitions: ALTER on each topic.
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic(DENIED))
                .with_count(2),
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic(ALLOWED))
                .with_count(2),
        ]);
    let resp = c.send(2, RequestKind::CreatePartitions(req));
    let ResponseKind::CreatePartitions(r) = resp else {
        panic!("{resp:?}")
    };
    let codes: Vec<(String, i16)> = r
        .results
        .iter()
        .map(|t| (t.name.to_string(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![(DENIED.to_string(), taf), (ALLOWED.to_string(), 0)]
    );

    // DeleteGroups: DELETE on each group (an unknown group without a DENY is not refused).
    let req = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(s(DENIED_GROUP)), GroupId(s("ghost-group"))]);
    let resp = c.send(2, RequestKind::DeleteGroups(req));
    let ResponseKind::DeleteGroups(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.results[0].error_code, gaf);
    assert_ne!(r.results[1].error_code, gaf);

    // Transactions: WRITE on the transactional id, then READ/WRITE on the group and topics.
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(DENIED_TX)))
        .with_producer_id(ProducerId(42))
        .with_producer_epoch(0)
        .with_committed(true);
    let resp = c.send(3, RequestKind::EndTxn(req));
    let ResponseKind::EndTxn(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.error_code, tiaf);

    let codes = add_partitions_v3(&mut c, DENIED_TX, &[ALLOWED, DENIED]);
    assert_eq!(
        codes,
        vec![(ALLOWED.to_string(), tiaf), (DENIED.to_string(), tiaf)]
    );
    let codes = add_partitions_v3(&mut c, ALLOWED_TX, &[ALLOWED, DENIED]);
    assert_eq!(
        codes,
        vec![
            (
                ALLOWED.to_string(),
                code(ResponseError::OperationNotAttempted)
            ),
            (DENIED.to_string(), taf)
        ]
    );

    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(ALLOWED_TX)))
        .with_producer_id(ProducerId(42))
        .with_producer_epoch(0)
        .with_group_id(GroupId(s(DENIED_GROUP)));
    let resp = c.send(3, RequestKind::AddOffsetsToTxn(req));
    let ResponseKind::AddOffsetsToTxn(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.error_code, gaf);

    let txn_commit = |c: &mut Conn, txn: &str| {
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(txn)))
            .with_group_id(GroupId(s(ALLOWED_GROUP)))
            .with_producer_id(ProducerId(42))
            .with_producer_epoch(0)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic(DENIED))
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(7),
                    ]),
            ]);
        let resp = c.send(3, RequestKind::TxnOffsetCommit(req));
        let ResponseKind::TxnOffsetCommit(r) = resp else {
            panic!("{resp:?}")
        };
        r.topics[0].partitions[0].error_code
    };
    assert_eq!(txn_commit(&mut c, DENIED_TX), tiaf);
    assert_eq!(txn_commit(&mut c, ALLOWED_TX), taf);

    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s(DENIED_TX))]);
    let resp = c.send(0, RequestKind::DescribeTransactions(req));
    let ResponseKind::DescribeTransactions(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.transaction_states[0].error_code, tiaf);

    // ListGroups with DESCRIBE on the cluster (no cluster ACL yet): every group.
    assert!(list_groups(&mut c).contains(&DENIED_GROUP.to_string()));

    // Last: deny CLUSTER_ACTION. From now on an ACL names the cluster, so every cluster
    // operation needs an ALLOW (none exists): DESCRIBE too.
    create_acls(
        &mut c,
        vec![deny(CLUSTER, "kafka-cluster", LITERAL, OP_CLUSTER_ACTION)],
    );
    eventually("the cluster DENY", || {
        write_txn_markers(&mut c).iter().all(|e| *e == caf)
    });
    assert_eq!(write_txn_markers(&mut c), vec![caf]);

    // ListGroups without DESCRIBE on the cluster: only the groups it may DESCRIBE.
    let groups = list_groups(&mut c);
    assert!(groups.contains(&ALLOWED_GROUP.to_string()), "{groups:?}");
    assert!(!groups.contains(&DENIED_GROUP.to_string()), "{groups:?}");

    // AddPartitionsToTxn v4+ (broker to broker): CLUSTER_ACTION, at the top level.
    let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
        add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(s(ALLOWED_TX)))
            .with_producer_id(ProducerId(42))
            .with_producer_epoch(0)
            .with_verify_only(true)
            .with_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic(ALLOWED))
                    .with_partitions(vec![0]),
            ]),
    ]);
    let resp = c.send(4, RequestKind::AddPartitionsToTxn(req));
    let ResponseKind::AddPartitionsToTxn(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.error_code, caf);

    // ElectLeaders: ALTER on the cluster.
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(topic(ALLOWED))
        .with_partitions(vec![0])]));
    let resp = c.send(2, RequestKind::ElectLeaders(req));
    let ResponseKind::ElectLeaders(r) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.error_code, caf);
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        caf
    );

    // Every refusal above is counted by resource type, and nothing the client was allowed.
    let text = reqwest::blocking::get(b.http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let denied = |resource_type: &str| {
        let sample =
            format!("troupe_authorization_denied_total{{resource_type=\"{resource_type}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(sample.as_str()))
            .map(|v| v.trim().parse::<f64>().unwrap())
            .unwrap_or_else(|| panic!("no {sample}in:\n{text}"))
    };
    for resource_type in ["Topic", "Group", "TransactionalId", "Cluster"] {
        assert!(denied(resource_type) >= 1.0, "{resource_type}");
    }
    assert_eq!(denied("DelegationToken"), 0.0);
}
