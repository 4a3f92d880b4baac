//! ApiVersions must be honest: every API at every version it advertises answers a real request
//! with a response that decodes at that version (the connection is never dropped).

mod common;

use bytes::Bytes;
use common::raw::RawConnection;
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use troupe::protocol::SUPPORTED_APIS;

const TOPIC: &str = "matrix";
/// The transactional id InitProducerId creates and the other transaction APIs name.
const TXN_ID: &str = "matrix-tx";
/// A producer id no coordinator handed out.
const UNKNOWN_PRODUCER: i64 = 999_999_999;

fn txn_id(id: &'static str) -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(id))
}

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

fn batch() -> Bytes {
    let record = (
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static(b"v")),
        1_700_000_000_000,
    );
    batches::plain_batch([record], Compression::None)
}

/// A meaningful request of each API (touching the test topic where it can).
fn request(api: ApiKey, version: i16) -> RequestKind {
    match api {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(name())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch())),
                    ])]),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(10)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(name())
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20)])]),
        ),
        ApiKey::ListOffsets => RequestKind::ListOffsets(
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(name())
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1),
                    ])]),
        ),
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(name())),
            ])))
        }
        ApiKey::FindCoordinator => {
            let r = FindCoordinatorRequest::default();
            RequestKind::FindCoordinator(if version >= 4 {
                r.with_coordinator_keys(vec![StrBytes::from_static_str("g")])
            } else {
                r.with_key(StrBytes::from_static_str("g"))
            })
        }
        ApiKey::ApiVersions => RequestKind::ApiVersions(if version >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("matrix"))
                .with_client_software_version(StrBytes::from_static_str("1"))
        } else {
            ApiVersionsRequest::default()
        }),
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_validate_only(version >= 1)
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(format!("new-{version}"))))
                    .with_num_partitions(2)
                    .with_replication_factor(1)]),
        ),
        ApiKey::DeleteTopics => {
            let missing = TopicName(StrBytes::from_static_str("does-not-exist"));
            RequestKind::DeleteTopics(if version >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    delete_topics_request::DeleteTopicState::default().with_name(Some(missing)),
                ])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![missing])
            })
        }
        // Odd versions take the transactional path, even ones the idempotent one.
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id((version % 2 == 1).then(|| txn_id(TXN_ID)))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        ApiKey::AddPartitionsToTxn => {
            let topics = vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(name())
                    .with_partitions(vec![0]),
            ];
            RequestKind::AddPartitionsToTxn(if version >= 4 {
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(txn_id(TXN_ID))
                        .with_producer_id(ProducerId(UNKNOWN_PRODUCER))
                        .with_producer_epoch(0)
                        .with_verify_only(true)
                        .with_topics(topics),
                ])
            } else {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(txn_id(TXN_ID))
                    .with_v3_and_below_producer_id(ProducerId(UNKNOWN_PRODUCER))
                    .with_v3_and_below_producer_epoch(0)
                    .with_v3_and_below_topics(topics)
            })
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn_id(TXN_ID))
                .with_producer_id(ProducerId(UNKNOWN_PRODUCER))
                .with_producer_epoch(0)
                .with_group_id(GroupId(StrBytes::from_static_str("committer"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(txn_id(TXN_ID))
                .with_producer_id(ProducerId(UNKNOWN_PRODUCER))
                .with_producer_epoch(0)
                .with_committed(true),
        ),
        ApiKey::WriteTxnMarkers => {
            RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(UNKNOWN_PRODUCER))
                    .with_producer_epoch(0)
                    .with_transaction_result(false)
                    .with_coordinator_epoch(0)
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(TopicName(StrBytes::from_static_str("no-such-topic")))
                            .with_partition_indexes(vec![0]),
                    ]),
            ]))
        }
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(txn_id(TXN_ID))
                .with_group_id(GroupId(StrBytes::from_static_str("txn-committer")))
                .with_producer_id(ProducerId(UNKNOWN_PRODUCER))
                .with_producer_epoch(0)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(name())
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
        ),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![txn_id(TXN_ID), txn_id("nobody")]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(vec![
                    StrBytes::from_static_str("Empty"),
                    StrBytes::from_static_str("Bogus"),
                ])
                .with_duration_filter(if version >= 1 { 0 } else { -1 }),
        ),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(if version >= 3 { -1 } else { 0 }))
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(name())
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_current_leader_epoch(if version >= 2 { -1 } else { 0 })
                                .with_leader_epoch(0),
                        ]),
                ]),
        ),
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(5_000)
                .with_allow_replication_factor_change(true)
                .with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(name())
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(None),
                        ]),
                ]),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(5_000)
                .with_topics(None),
        ),
        ApiKey::ElectLeaders => RequestKind::ElectLeaders(
            ElectLeadersRequest::default()
                .with_election_type(0)
                .with_timeout_ms(5_000)
                .with_topic_partitions(Some(vec![
                    elect_leaders_request::TopicPartitions::default()
                        .with_topic(name())
                        .with_partitions(vec![0]),
                ])),
        ),
        ApiKey::DescribeConfigs => {
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str(TOPIC)),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("1")),
            ]))
        }
        ApiKey::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(TOPIC))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("86400000")))]),
        ]))
        }
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str(TOPIC))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_static_str("retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(StrBytes::from_static_str("86400000"))),
                    ]),
            ]),
        ),
        ApiKey::DeleteRecords => {
            RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(name())
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(0),
                    ]),
            ]))
        }
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_validate_only(true)
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(name())
                        .with_count(3),
                ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(format!("matrix-{version}"))))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(if version >= 1 { 10_000 } else { -1 })
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"meta"))]),
        ),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("nobody")))
                .with_generation_id(1),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("nobody")))
                .with_generation_id(1),
        ),
        ApiKey::LeaveGroup => {
            let r = LeaveGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("nobody")));
            RequestKind::LeaveGroup(if version >= 3 {
                r.with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(StrBytes::from_static_str("m"))])
            } else {
                r.with_member_id(StrBytes::from_static_str("m"))
            })
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("committer")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(name())
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("committer")))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(name())
                            .with_partition_indexes(vec![0]),
                    ])),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("committer")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(name())
                        .with_partition_indexes(vec![0]),
                ]))
        }),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("committer"))]),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("committer")))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(name())
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        ),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_static_str("nobody"))]),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            DescribeAclsRequest::default()
                .with_resource_name_filter(None)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(
            vec![create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(format!("matrix-{version}")))
                .with_resource_pattern_type(3)
                .with_principal(StrBytes::from_static_str("User:matrix"))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(3)
                .with_permission_type(3)],
        )),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(
            vec![delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(StrBytes::from_string(format!("matrix-{version}"))))
                .with_pattern_type_filter(3)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1)],
        )),
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default())
        }
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                    .with_name(StrBytes::from_static_str("matrix"))
                    .with_mechanism(1)
                    .with_iterations(4096)
                    .with_salt(Bytes::from_static(b"salt"))
                    .with_salted_password(Bytes::from(vec![7u8; 32])),
            ]),
        ),
        ApiKey::AlterClientQuotas => {
            RequestKind::AlterClientQuotas(AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("client-id"))
                        .with_entity_name(Some(StrBytes::from_string(format!(
                            "matrix-{version}"
                        ))))])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(StrBytes::from_static_str("producer_byte_rate"))
                        .with_value(1048576.0)]),
            ]))
        }
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(
            DescribeClientQuotasRequest::default().with_components(vec![
                describe_client_quotas_request::ComponentData::default()
                    .with_entity_type(StrBytes::from_static_str("client-id"))
                    // SPECIFIED carries no match string (kafka-protocol's default is an
                    // empty one, which Kafka refuses with INVALID_REQUEST).
                    .with_match_type(2)
                    .with_match(None),
            ]),
        ),
        // This broker's listener is PLAINTEXT: both answer ILLEGAL_SASL_STATE (checked below);
        // the SASL exchange itself is exercised on SASL listeners by tests/clients/secure.
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        ),
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p")),
        ),
        other => panic!("no request built for {other:?}: add one when advertising it"),
    }
}

#[test]
fn every_advertised_version_answers() {
    // No initial rebalance delay: JoinGroup v0-3 answer when the join phase completes.
    let b = Broker::start_with(&["--override", "group.initial.rebalance.delay.ms=0"]);
    create_topic(&b, TOPIC, 1, &[]);
    let mut conn = RawConnection::open(&b, "matrix");
    for (api, lo, hi) in SUPPORTED_APIS {
        for v in *lo..=*hi {
            let resp = conn.call(*api, v, &request(*api, v));
            if let ResponseKind::Produce(p) = &resp {
                assert_eq!(
                    p.responses[0].partition_responses[0].error_code, 0,
                    "Produce v{v}"
                );
            }
            if let ResponseKind::Metadata(m) = &resp {
                assert_eq!(m.topics[0].error_code, 0, "Metadata v{v}");
                assert_eq!(m.topics[0].partitions.len(), 1);
            }
            if let ResponseKind::JoinGroup(j) = &resp {
                // v4+ asks new members to come back with the id it hands out (KIP-394).
                let expected = if v >= 4 { 79 } else { 0 };
                assert_eq!(j.error_code, expected, "JoinGroup v{v}");
            }
            if let ResponseKind::OffsetDelete(d) = &resp {
                assert_eq!(d.error_code, 0, "OffsetDelete v{v}");
                assert_eq!(
                    d.topics[0].partitions[0].error_code, 0,
                    "an Empty group's offsets can be deleted"
                );
            }
            if let ResponseKind::OffsetCommit(c) = &resp {
                assert_eq!(c.topics[0].partitions[0].error_code, 0, "OffsetCommit v{v}");
            }
            if let ResponseKind::InitProducerId(r) = &resp {
                assert_eq!(r.error_code, 0, "InitProducerId v{v}");
                assert!(r.producer_id.0 >= 0 && r.producer_epoch >= 0);
            }
            if let ResponseKind::AddPartitionsToTxn(r) = &resp {
                let results = if v >= 4 {
                    &r.results_by_transaction[0].topic_results
                } else {
                    &r.results_by_topic_v3_and_below
                };
                let code = results[0].results_by_partition[0].partition_error_code;
                assert_eq!(
                    code, 49,
                    "AddPartitionsToTxn v{v}: INVALID_PRODUCER_ID_MAPPING"
                );
            }
            if let ResponseKind::AddOffsetsToTxn(r) = &resp {
                assert_eq!(r.error_code, 49, "AddOffsetsToTxn v{v}");
            }
            if let ResponseKind::EndTxn(r) = &resp {
                assert_eq!(r.error_code, 49, "EndTxn v{v}");
            }
            if let ResponseKind::WriteTxnMarkers(r) = &resp {
                let code = r.markers[0].topics[0].partitions[0].error_code;
                assert_eq!(code, 3, "WriteTxnMarkers v{v}: no such partition");
            }
            if let ResponseKind::TxnOffsetCommit(r) = &resp {
                assert_eq!(
                    r.topics[0].partitions[0].error_code, 0,
                    "TxnOffsetCommit v{v}"
                );
            }
            if let ResponseKind::DescribeTransactions(r) = &resp {
                let states = &r.transaction_states;
                assert_eq!(states[0].error_code, 0, "DescribeTransactions v{v}");
                assert_eq!(states[0].transaction_state.as_str(), "Empty");
                assert_eq!(states[1].error_code, 105, "TRANSACTIONAL_ID_NOT_FOUND");
            }
            if let ResponseKind::ListTransactions(r) = &resp {
                assert_eq!(r.error_code, 0, "ListTransactions v{v}");
                assert_eq!(r.unknown_state_filters.len(), 1);
                assert!(r
                    .transaction_states
                    .iter()
                    .any(|s| s.transactional_id.0.as_str() == TXN_ID));
            }
            if let ResponseKind::DescribeAcls(r) = &resp {
                assert_eq!(r.error_code, 0, "DescribeAcls v{v}");
            }
            if let ResponseKind::CreateAcls(r) = &resp {
                assert_eq!(r.results[0].error_code, 0, "CreateAcls v{v}");
            }
            if let ResponseKind::DeleteAcls(r) = &resp {
                assert_eq!(r.filter_results[0].error_code, 0, "DeleteAcls v{v}");
                assert_eq!(
                    r.filter_results[0].matching_acls.len(),
                    1,
                    "DeleteAcls v{v}"
                );
            }
            if let ResponseKind::DescribeUserScramCredentials(r) = &resp {
                assert_eq!(r.error_code, 0, "DescribeUserScramCredentials v{v}");
            }
            if let ResponseKind::AlterUserScramCredentials(r) = &resp {
                assert_eq!(r.results[0].error_code, 0, "AlterUserScramCredentials v{v}");
            }
            if let ResponseKind::AlterClientQuotas(r) = &resp {
                assert_eq!(r.entries[0].error_code, 0, "AlterClientQuotas v{v}");
            }
            if let ResponseKind::DescribeClientQuotas(r) = &resp {
                assert_eq!(r.error_code, 0, "DescribeClientQuotas v{v}");
                assert!(
                    r.entries.as_ref().is_some_and(|e| !e.is_empty()),
                    "DescribeClientQuotas v{v} lists the quota AlterClientQuotas set"
                );
            }
            if let ResponseKind::SaslHandshake(r) = &resp {
                assert_eq!(r.error_code, 34, "SaslHandshake v{v}: ILLEGAL_SASL_STATE");
            }
            if let ResponseKind::SaslAuthenticate(r) = &resp {
                assert_eq!(
                    r.error_code, 34,
                    "SaslAuthenticate v{v}: ILLEGAL_SASL_STATE"
                );
            }
            if let ResponseKind::Fetch(f) = &resp {
                assert_eq!(f.responses[0].partitions[0].error_code, 0, "Fetch v{v}");
                assert!(
                    f.responses[0].partitions[0]
                        .records
                        .as_ref()
                        .is_some_and(|r| !r.is_empty()),
                    "Fetch v{v} returned data"
                );
            }
        }
    }
    // ApiVersions lists exactly the table.
    let ResponseKind::ApiVersions(av) =
        conn.call(ApiKey::ApiVersions, 3, &request(ApiKey::ApiVersions, 3))
    else {
        unreachable!()
    };
    let listed: Vec<(i16, i16, i16)> = av
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    let table: Vec<(i16, i16, i16)> = SUPPORTED_APIS
        .iter()
        .map(|(k, lo, hi)| (*k as i16, *lo, *hi))
        .collect();
    assert_eq!(listed, table);
}
