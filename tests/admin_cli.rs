//! The admin CLI against a real broker: topics are created, listed, described with their
//! offsets, altered and deleted; records go in and out through `produce` and `consume`;
//! groups are described with per-partition lag, reset and deleted; failures exit with the
//! documented codes and name the Kafka error.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

fn troupe(b: &Broker, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(args)
        .args(["--bootstrap", &b.bootstrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(b: &Broker, args: &[&str]) -> String {
    let out = troupe(b, args, None);
    assert!(
        out.status.success(),
        "troupe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(b: &Broker, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    serde_json::from_str(&ok(b, &with_json)).unwrap()
}

#[test]
fn topics_records_and_groups_through_the_cli() {
    let b = Broker::start_with(&["--override", "group.initial.rebalance.delay.ms=0"]);
    ok(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
        ],
    );

    // Creating it again is the broker's TOPIC_ALREADY_EXISTS: exit 1, named, with a hint.
    let again = troupe(&b, &["topic", "create", "orders"], None);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("TopicAlreadyExists") && stderr.contains("hint"),
        "{stderr}"
    );

    let listed = json(&b, &["topic", "list"]);
    assert_eq!(listed[0]["name"], "orders");
    assert_eq!(listed[0]["partitions"], 3);

    // 30 records to partition 1, read back in order.
    let lines: String = (0..30).map(|i| format!("line-{i}\n")).collect();
    let produced = troupe(&b, &["produce", "orders", "--partition", "1"], Some(&lines));
    assert!(produced.status.success());
    let consumed = ok(
        &b,
        &[
            "consume",
            "orders",
            "--partition",
            "1",
            "--from-beginning",
            "--max-messages",
            "30",
        ],
    );
    assert_eq!(consumed, lines);

    let described = json(&b, &["topic", "describe", "orders"]);
    assert_eq!(described["configs"]["retention.ms"], "3600000");
    let ends: Vec<i64> = described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["log_end_offset"].as_i64().unwrap())
        .collect();
    assert_eq!(ends, vec![0, 30, 0]);

    ok(&b, &["topic", "alter", "orders", "--partitions", "4"]);
    assert_eq!(
        json(&b, &["topic", "describe", "orders"])["partitions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // A live member has committed 10 of partition 1: describe shows it with lag 20.
    let member: BaseConsumer = client_config(&b)
        .set("group.id", "billing")
        .set("enable.auto.commit", "false")
        .set("client.id", "billing-app")
        .create()
        .unwrap();
    member.subscribe(&["orders"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while member.assignment().unwrap().count() == 0 {
        let _ = member.poll(Duration::from_millis(100));
        assert!(Instant::now() < deadline, "the member never got partitions");
    }
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("orders", 1, Offset::Offset(10))
        .unwrap();
    member.commit(&commit, CommitMode::Sync).unwrap();
    let group = json(&b, &["group", "describe", "billing"]);
    assert_eq!(group["state"], "Stable");
    assert_eq!(group["members"], 1);
    let p1 = group["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == 1)
        .unwrap()
        .clone();
    assert_eq!(p1["committed_offset"], 10);
    assert_eq!(p1["log_end_offset"], 30);
    assert_eq!(p1["lag"], 20);
    assert_eq!(p1["client_id"], "billing-app");
    assert_eq!(group["total_lag"], 20);

    // A group with members cannot be deleted (NON_EMPTY_GROUP, exit 1)…
    let refused = troupe(&b, &["group", "delete", "billing"], None);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("NonEmptyGroup"));
    drop(member); // LeaveGroup

    // …but once empty its offsets can be reset, and it can be deleted.
    ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-earliest",
            "--execute",
        ],
    );
    let reset = json(&b, &["group", "describe", "billing"]);
    assert_eq!(reset["total_lag"], 30);
    assert!(ok(&b, &["group", "list"]).contains("billing"));
    ok(&b, &["group", "delete", "billing"]);
    assert!(!ok(&b, &["group", "list"]).contains("billing"));

    ok(&b, &["topic", "delete", "orders"]);
    let gone = troupe(&b, &["topic", "describe", "orders"], None);
    assert_eq!(gone.status.code(), Some(1));

    let status = json(&b, &["cluster", "status"]);
    assert_eq!(status["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(status["offline_partitions"], 0);
}

#[test]
fn an_unreachable_broker_exits_with_code_three() {
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "topic",
            "list",
            "--bootstrap",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[test]
fn produce_and_consume_carry_keys_headers_and_json() {
    let b = Broker::start();
    ok(&b, &["topic", "create", "events", "--partitions", "2"]);
    // Text lines with a fixed key and headers on every record.
    let out = troupe(
        &b,
        &[
            "produce",
            "events",
            "--key",
            "user-7",
            "--header",
            "source=cli",
            "--header",
            "v=2",
        ],
        Some("first\nsecond\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // JSON lines: each its own key, headers and partition.
    let out = troupe(
        &b,
        &["produce", "events", "--format", "json"],
        Some(concat!(
            r#"{"key":"a","value":"third","headers":{"trace":"t-1"},"partition":1}"#,
            "\n",
            r#"{"value":"fourth","partition":0}"#,
            "\n"
        )),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = troupe(
        &b,
        &["produce", "events", "--format", "json"],
        Some("not json\n"),
    );
    assert_eq!(bad.status.code(), Some(2), "a bad line is a usage error");

    let lines = ok(
        &b,
        &[
            "consume",
            "events",
            "--from-beginning",
            "--max-messages",
            "4",
            "--json",
        ],
    );
    let mut records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records.sort_by_key(|r| r["value"].as_str().unwrap().to_string());
    let by_value = |v: &str| records.iter().find(|r| r["value"] == v).unwrap().clone();
    let first = by_value("first");
    assert_eq!(first["key"], "user-7");
    assert_eq!(first["headers"]["source"], "cli");
    assert_eq!(first["headers"]["v"], "2");
    assert_eq!(first["topic"], "events");
    assert!(first["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    let third = by_value("third");
    assert_eq!(
        (third["key"].as_str(), third["partition"].as_i64()),
        (Some("a"), Some(1))
    );
    assert_eq!(third["headers"]["trace"], "t-1");
    let fourth = by_value("fourth");
    assert_eq!(
        (fourth["key"].clone(), fourth["partition"].as_i64()),
        (Value::Null, Some(0))
    );

    // Text output with key and headers.
    let text = ok(
        &b,
        &[
            "consume",
            "events",
            "--partition",
            "1",
            "--from-beginning",
            "--max-messages",
            "1",
            "--print-key",
            "--print-headers",
            "--key-separator",
            "|",
        ],
    );
    assert_eq!(text.trim(), "a|third|trace=t-1");
}

/// `troupe user scram`, `troupe acl` against a broker with the StandardAuthorizer on (the
/// PLAINTEXT CLI is `User:ANONYMOUS`, made a super user here): credentials are set, listed
/// without secrets and deleted; ACLs are added, listed by resource and principal, and
/// removed by operation; a second principal is refused by the broker with exit code 1.
#[test]
fn scram_users_and_acls_through_the_cli() {
    let b = Broker::start_with(&[
        "--override",
        "authorizer.class.name=standard",
        "--override",
        "super.users=User:ANONYMOUS",
    ]);
    ok(
        &b,
        &[
            "user",
            "scram",
            "set",
            "alice",
            "--mechanism",
            "SCRAM-SHA-256",
            "--password",
            "alice-secret",
        ],
    );
    ok(
        &b,
        &[
            "user",
            "scram",
            "set",
            "alice",
            "--password",
            "alice-secret",
            "--iterations",
            "8192",
        ],
    );
    let users = json(&b, &["user", "scram", "list"]);
    assert_eq!(
        users,
        serde_json::json!([
            {"user": "alice", "mechanism": "SCRAM-SHA-256", "iterations": 4096},
            {"user": "alice", "mechanism": "SCRAM-SHA-512", "iterations": 8192},
        ])
    );
    assert!(!b.log_text().contains("alice-secret"));

    ok(
        &b,
        &[
            "acl",
            "add",
            "--topic",
            "orders",
            "--principal",
            "User:alice",
            "--operation",
            "Read",
            "--operation",
            "describe",
        ],
    );
    ok(
        &b,
        &[
            "acl",
            "add",
            "--topic",
            "orders-",
            "--resource-pattern-type",
            "prefixed",
            "--principal",
            "User:alice",
            "--operation",
            "Write",
            "--deny",
        ],
    );
    ok(
        &b,
        &[
            "acl",
            "add",
            "--group",
            "billing",
            "--principal",
            "User:bob",
            "--operation",
            "Read",
        ],
    );
    let on_orders = json(&b, &["acl", "list", "--topic", "orders"]);
    let ops: Vec<&str> = on_orders
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["Read", "Describe"], "{on_orders}");
    assert_eq!(on_orders[0]["pattern_type"], "Literal");
    assert_eq!(on_orders[0]["permission_type"], "Allow");
    assert_eq!(on_orders[0]["host"], "*");
    let alices = json(&b, &["acl", "list", "--principal", "User:alice"]);
    assert_eq!(alices.as_array().unwrap().len(), 3, "{alices}");
    let denied = alices
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["permission_type"] == "Deny")
        .unwrap();
    assert_eq!(
        (
            denied["resource_name"].as_str(),
            denied["pattern_type"].as_str()
        ),
        (Some("orders-"), Some("Prefixed"))
    );
    assert_eq!(json(&b, &["acl", "list"]).as_array().unwrap().len(), 4);

    let removed = json(
        &b,
        &[
            "acl",
            "remove",
            "--topic",
            "orders",
            "--principal",
            "User:alice",
            "--operation",
            "read",
        ],
    );
    assert_eq!(removed.as_array().unwrap().len(), 1, "{removed}");
    assert_eq!(removed[0]["operation"], "Read");
    let left = json(&b, &["acl", "list", "--topic", "orders"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["operation"], "Describe");

    // Removing needs a resource or a principal: no accidental "delete every ACL".
    let everything = troupe(&b, &["acl", "remove"], None);
    assert_eq!(everything.status.code(), Some(2));

    ok(
        &b,
        &[
            "user",
            "scram",
            "delete",
            "alice",
            "--mechanism",
            "SCRAM-SHA-256",
        ],
    );
    let users = json(&b, &["user", "scram", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["mechanism"], "SCRAM-SHA-512");
    // Deleting a credential that is not there is the broker's RESOURCE_NOT_FOUND: exit 1.
    let missing = troupe(
        &b,
        &[
            "user",
            "scram",
            "delete",
            "alice",
            "--mechanism",
            "SCRAM-SHA-256",
        ],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ResourceNotFound"));
}

/// Without being a super user (no ACLs, allow.everyone.if.no.acl.found=false) the CLI is told
/// CLUSTER_AUTHORIZATION_FAILED, exits 1 and says so.
#[test]
fn the_cli_names_an_authorization_failure() {
    let b = Broker::start_with(&["--override", "authorizer.class.name=standard"]);
    let out = troupe(
        &b,
        &[
            "acl",
            "add",
            "--cluster",
            "--principal",
            "User:eve",
            "--operation",
            "All",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ClusterAuthorizationFailed"), "{stderr}");
    let out = troupe(&b, &["user", "scram", "list"], None);
    assert_eq!(out.status.code(), Some(1));
}

/// `troupe quota set|describe` against the broker's AlterClientQuotas/DescribeClientQuotas:
/// a client-id quota and a user default are set, described (all, and one entity exactly),
/// one key removed; a bad value is a usage error before anything is sent.
#[test]
fn client_quotas_through_the_cli() {
    let b = Broker::start();
    ok(
        &b,
        &[
            "quota",
            "set",
            "--client-id",
            "limited",
            "--config",
            "producer_byte_rate=1048576",
            "--config",
            "consumer_byte_rate=2097152",
        ],
    );
    ok(
        &b,
        &[
            "quota",
            "set",
            "--user-default",
            "--config",
            "request_percentage=50",
        ],
    );
    let all = json(&b, &["quota", "describe"]);
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let limited = json(&b, &["quota", "describe", "--client-id", "limited"]);
    assert_eq!(limited.as_array().unwrap().len(), 1, "{limited}");
    assert_eq!(limited[0]["entity"][0]["type"], "client-id");
    assert_eq!(limited[0]["entity"][0]["name"], "limited");
    assert_eq!(limited[0]["values"]["producer_byte_rate"], 1048576.0);
    assert_eq!(limited[0]["values"]["consumer_byte_rate"], 2097152.0);
    let defaults = json(&b, &["quota", "describe", "--user-default"]);
    assert_eq!(defaults[0]["entity"][0]["name"], Value::Null);
    assert_eq!(defaults[0]["values"]["request_percentage"], 50.0);

    ok(
        &b,
        &[
            "quota",
            "set",
            "--client-id",
            "limited",
            "--remove",
            "consumer_byte_rate",
        ],
    );
    let limited = json(&b, &["quota", "describe", "--client-id", "limited"]);
    assert_eq!(
        limited[0]["values"],
        serde_json::json!({"producer_byte_rate": 1048576.0})
    );

    // An unknown key is the broker's INVALID_REQUEST (exit 1); a non-number never leaves.
    let unknown = troupe(
        &b,
        &[
            "quota",
            "set",
            "--client-id",
            "x",
            "--config",
            "bogus_rate=1",
        ],
        None,
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("InvalidRequest"));
    let nan = troupe(
        &b,
        &[
            "quota",
            "set",
            "--client-id",
            "x",
            "--config",
            "producer_byte_rate=fast",
        ],
        None,
    );
    assert_eq!(nan.status.code(), Some(2));
}
