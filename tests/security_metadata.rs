//! SCRAM credentials and ACLs are cluster metadata: created, described and deleted through
//! Kafka's admin APIs (raw frames: rdkafka 0.39 has no ACL or SCRAM admin calls), surviving a
//! restart, and `--add-scram` seeds a new metadata log only.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::cluster::{Cluster, ClusterSpec};
use common::raw::RawConnection;
use common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

// Kafka's codes (ResourceType, PatternType, AclOperation, AclPermissionType, ScramMechanism).
const TOPIC: i8 = 2;
const ANY: i8 = 1;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALLOW: i8 = 3;
const SHA256: i8 = 1;
const SHA512: i8 = 2;
const RESOURCE_NOT_FOUND: i16 = 91;

struct Conn {
    raw: RawConnection,
}

impl Conn {
    fn open(b: &Broker) -> Conn {
        Conn {
            raw: RawConnection::open(b, "security-test"),
        }
    }

    fn call(&mut self, api: ApiKey, version: i16, request: RequestKind) -> ResponseKind {
        self.raw.call(api, version, &request)
    }

    /// user → [(mechanism, iterations)] of every user.
    fn describe_scram(&mut self) -> Vec<(String, Vec<(i8, i32)>)> {
        let ResponseKind::DescribeUserScramCredentials(r) = self.call(
            ApiKey::DescribeUserScramCredentials,
            0,
            RequestKind::DescribeUserScramCredentials(
                DescribeUserScramCredentialsRequest::default(),
            ),
        ) else {
            unreachable!()
        };
        assert_eq!(r.error_code, 0);
        r.results
            .iter()
            .map(|u| {
                assert_eq!(u.error_code, 0);
                let infos = u
                    .credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect();
                (u.user.to_string(), infos)
            })
            .collect()
    }

    fn alter_scram(
        &mut self,
        deletions: &[(&str, i8)],
        upsertions: &[(&str, i8, i32)],
    ) -> Vec<(String, i16)> {
        let request = AlterUserScramCredentialsRequest::default()
            .with_deletions(
                deletions
                    .iter()
                    .map(|(u, m)| {
                        alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                            .with_name(StrBytes::from_string(u.to_string()))
                            .with_mechanism(*m)
                    })
                    .collect(),
            )
            .with_upsertions(
                upsertions
                    .iter()
                    .map(|(u, m, it)| {
                        alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                            .with_name(StrBytes::from_string(u.to_string()))
                            .with_mechanism(*m)
                            .with_iterations(*it)
                            .with_salt(Bytes::from_static(b"0123456789abcdef"))
                            .with_salted_password(Bytes::from(vec![42u8; 64]))
                    })
                    .collect(),
            );
        let ResponseKind::AlterUserScramCredentials(r) = self.call(
            ApiKey::AlterUserScramCredentials,
            0,
            RequestKind::AlterUserScramCredentials(request),
        ) else {
            unreachable!()
        };
        r.results
            .iter()
            .map(|u| (u.user.to_string(), u.error_code))
            .collect()
    }

    fn create_acls(&mut self, acls: &[(&str, i8, &str, i8)]) -> Vec<i16> {
        let creations = acls
            .iter()
            .map(|(name, pattern, principal, op)| {
                create_acls_request::AclCreation::default()
                    .with_resource_type(TOPIC)
                    .with_resource_name(StrBytes::from_string(name.to_string()))
                    .with_resource_pattern_type(*pattern)
                    .with_principal(StrBytes::from_string(principal.to_string()))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(*op)
                    .with_permission_type(ALLOW)
            })
            .collect();
        let ResponseKind::CreateAcls(r) = self.call(
            ApiKey::CreateAcls,
            3,
            RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(creations)),
        ) else {
            unreachable!()
        };
        r.results.iter().map(|r| r.error_code).collect()
    }

    /// (resource name, pattern type, principal, operation) of every ACL a MATCH filter on the
    /// topic `name` returns (or every ACL for `None`).
    fn describe_acls(&mut self, name: Option<&str>) -> Vec<(String, i8, String, i8)> {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(name.map(|n| StrBytes::from_string(n.to_string())))
            .with_pattern_type_filter(if name.is_some() { 2 } else { ANY })
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        let ResponseKind::DescribeAcls(r) =
            self.call(ApiKey::DescribeAcls, 3, RequestKind::DescribeAcls(request))
        else {
            unreachable!()
        };
        assert_eq!(r.error_code, 0);
        let mut out: Vec<_> = r
            .resources
            .iter()
            .flat_map(|res| {
                res.acls.iter().map(move |a| {
                    (
                        res.resource_name.to_string(),
                        res.pattern_type,
                        a.principal.to_string(),
                        a.operation,
                    )
                })
            })
            .collect();
        out.sort();
        out
    }

    fn delete_acls_of(&mut self, principal: &str) -> Vec<String> {
        let filter = delete_acls_request::DeleteAclsFilter::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_host_filter(None)
            .with_principal_filter(Some(StrBytes::from_string(principal.to_string())))
            .with_operation(ANY)
            .with_permission_type(ANY);
        let ResponseKind::DeleteAcls(r) = self.call(
            ApiKey::DeleteAcls,
            3,
            RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![filter])),
        ) else {
            unreachable!()
        };
        assert_eq!(r.filter_results[0].error_code, 0);
        r.filter_results[0]
            .matching_acls
            .iter()
            .map(|a| a.resource_name.to_string())
            .collect()
    }
}

#[test]
fn scram_credentials_and_acls_are_metadata_that_survive_restarts() {
    let mut b = Broker::start_with(&[
        "--add-scram",
        "SCRAM-SHA-256=[name=admin,password=admin-secret]",
    ]);
    let mut c = Conn::open(&b);
    // --add-scram seeded the new metadata log.
    assert_eq!(
        c.describe_scram(),
        vec![("admin".into(), vec![(SHA256, 4096)])]
    );

    assert_eq!(
        c.alter_scram(&[], &[("alice", SHA512, 8192), ("bob", SHA256, 4096)]),
        vec![("alice".into(), 0), ("bob".into(), 0)]
    );
    assert_eq!(
        c.alter_scram(&[("admin", SHA256), ("carol", SHA256)], &[]),
        vec![("admin".into(), 0), ("carol".into(), RESOURCE_NOT_FOUND)]
    );
    assert_eq!(
        c.create_acls(&[
            ("orders", LITERAL, "User:alice", READ),
            ("ord", PREFIXED, "User:bob", WRITE),
            ("payments", LITERAL, "User:bob", READ),
        ]),
        vec![0, 0, 0]
    );
    assert_eq!(c.describe_acls(None).len(), 3);
    // What applies to the topic "orders": the literal and the prefixed ACL.
    assert_eq!(
        c.describe_acls(Some("orders")),
        vec![
            ("ord".into(), PREFIXED, "User:bob".into(), WRITE),
            ("orders".into(), LITERAL, "User:alice".into(), READ),
        ]
    );
    let mut removed = c.delete_acls_of("User:bob");
    removed.sort();
    assert_eq!(removed, vec!["ord".to_string(), "payments".to_string()]);

    let expected_users = vec![
        ("alice".to_string(), vec![(SHA512, 8192)]),
        ("bob".to_string(), vec![(SHA256, 4096)]),
    ];
    let expected_acls = vec![(
        "orders".to_string(),
        LITERAL,
        "User:alice".to_string(),
        READ,
    )];
    assert_eq!(c.describe_scram(), expected_users);
    assert_eq!(c.describe_acls(None), expected_acls);

    // A clean restart and a crash: the same state, and --add-scram (still on the command line)
    // does not bring the deleted admin credential back.
    drop(c);
    b.terminate();
    b.start_again();
    let mut c = Conn::open(&b);
    assert_eq!(c.describe_scram(), expected_users);
    assert_eq!(c.describe_acls(None), expected_acls);
    drop(c);
    b.restart();
    let mut c = Conn::open(&b);
    assert_eq!(c.describe_scram(), expected_users);
    assert_eq!(c.describe_acls(None), expected_acls);

    let log = b.log_text();
    assert!(log.contains("--add-scram ignored"), "{log}");
    assert!(
        !log.contains("admin-secret"),
        "the password reached the log"
    );
}

#[test]
fn a_bad_add_scram_value_names_the_user_but_not_the_password() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "serve",
            "--data-dir",
            tempfile::tempdir().unwrap().path().to_str().unwrap(),
            "--add-scram",
            "SCRAM-SHA-256=[name=admin,password=hunter2,iterations=12]",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("admin") && text.contains("SCRAM-SHA-256"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

/// Polls `f` until it returns true (30 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn in_a_cluster_add_scram_seeds_the_new_quorum_and_acls_replicate() {
    let mut cluster = Cluster::start(ClusterSpec {
        extra_args: vec![
            "--add-scram".into(),
            "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]".into(),
        ],
        ..Default::default()
    });
    let admin = vec![("admin".to_string(), vec![(SHA512, 8192)])];
    for id in 1..=3 {
        let mut c = Conn::open(cluster.node(id));
        eventually("--add-scram visible on every node", || {
            c.describe_scram() == admin
        });
    }
    // Written through node 1 (forwarded when it is not the active controller), seen on all.
    let mut c = Conn::open(cluster.node(1));
    assert_eq!(
        c.create_acls(&[("orders", LITERAL, "User:alice", READ)]),
        vec![0]
    );
    assert_eq!(
        c.alter_scram(&[], &[("alice", SHA256, 4096)]),
        vec![("alice".into(), 0)]
    );
    for id in 1..=3 {
        let mut c = Conn::open(cluster.node(id));
        eventually("the ACL and credential replicated", || {
            c.describe_acls(None).len() == 1 && c.describe_scram().len() == 2
        });
    }
    assert!(!cluster.logs().contains("admin-secret"));
}
