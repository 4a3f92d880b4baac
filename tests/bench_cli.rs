//! `troupe bench` against a real broker: the numbers it prints are the records that really
//! moved (checked against the topic's offsets), and it finds and meters the local broker;
//! `produce --driver native` does the same over SASL_SSL and plaintext listeners.

mod common;

use std::process::Command;
use std::time::Duration;

use common::certs::write_certificates;
use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn bench(b: &Broker, args: &[&str]) -> serde_json::Value {
    bench_at(&b.bootstrap(), args)
}

fn run_bench(bootstrap: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
        .arg("bench")
        .args(args)
        .args(["--bootstrap", bootstrap, "--json"])
        .output()
        .expect("running troupe bench")
}

fn bench_at(bootstrap: &str, args: &[&str]) -> serde_json::Value {
    let out = run_bench(bootstrap, args);
    assert!(
        out.status.success(),
        "troupe bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn end_offsets(b: &Broker, topic: &str, partitions: i32) -> i64 {
    end_offsets_at(&b.bootstrap(), topic, partitions)
}

/// The sum of the topic's partition end offsets (librdkafka over a plaintext listener).
fn end_offsets_at(bootstrap: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

#[test]
fn produce_consume_and_e2e_report_what_really_moved() {
    let b = Broker::start();
    let produced = bench(
        &b,
        &[
            "produce",
            "--topic",
            "bench-t",
            "--partitions",
            "4",
            "--records",
            "5000",
            "--record-size",
            "100",
            "--compression",
            "lz4",
        ],
    );
    assert_eq!(produced["records"], 5000);
    assert_eq!(produced["bytes"], 500_000);
    assert_eq!(produced["errors"], 0);
    assert_eq!(
        end_offsets(&b, "bench-t", 4),
        5000,
        "the topic holds what was reported"
    );
    // The broker is local: the bench found its pid through the listening socket.
    assert_eq!(produced["broker"]["pid"], b.pid());
    // CPU time moves in clock ticks (10 ms): a short run may not register one.
    assert!(produced["broker"]["cpu_seconds"].as_f64().unwrap() >= 0.0);
    assert!(produced["broker"]["rss_start_mb"].as_f64().unwrap() > 1.0);
    assert!(produced["broker"]["rss_peak_mb"].as_f64().unwrap() > 1.0);

    let consumed = bench(&b, &["consume", "--topic", "bench-t"]);
    assert_eq!(consumed["records"], 5000);
    assert_eq!(consumed["bytes"], 500_000);

    let e2e = bench(
        &b,
        &[
            "e2e",
            "--topic",
            "bench-e2e",
            "--partitions",
            "2",
            "--rate",
            "500",
            "--duration-secs",
            "2",
            "--warmup-secs",
            "0.5",
            "--linger-ms",
            "0",
        ],
    );
    let received = e2e["records"].as_u64().unwrap();
    assert!(
        (900..=1000).contains(&received),
        "about rate x duration: {e2e}"
    );
    assert_eq!(e2e["errors"], 0);
    assert_eq!(end_offsets(&b, "bench-e2e", 2) as u64, received);
    let latency = &e2e["latency_ms"];
    assert!(latency["samples"].as_u64().unwrap() > 500);
    let (p50, p99, max) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
    );
    assert!(
        p50 > 0.0 && p50 <= p99 && p99 <= max,
        "ordered percentiles: {latency}"
    );
}

#[test]
fn footprint_counts_the_partitions_it_created() {
    let b = Broker::start();
    let report = bench(
        &b,
        &[
            "footprint",
            "--partitions",
            "40",
            "--partitions-per-topic",
            "10",
            "--settle-secs",
            "0.2",
        ],
    );
    let f = &report["footprint"];
    assert_eq!(f["pid"], b.pid());
    assert_eq!(f["partitions_created"], 40);
    assert!(f["idle_rss_mb"].as_f64().unwrap() > 1.0);
    let consumer: BaseConsumer = client_config(&b).create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let created: usize = metadata
        .topics()
        .iter()
        .filter(|t| t.name().starts_with("troupe-footprint-"))
        .map(|t| t.partitions().len())
        .sum();
    assert_eq!(created, 40);
}

/// `produce --driver native` against one broker with a PLAINTEXT and a SASL_SSL (SCRAM)
/// listener: over each, what it reports is in the topic; over SASL_SSL also idempotent and
/// compressed. librdkafka (built without SSL) refuses the same properties file, naming the
/// native driver.
#[test]
fn the_native_driver_produces_over_sasl_ssl_and_plaintext() {
    let certs = tempfile::tempdir().unwrap();
    let (keystore, truststore) = write_certificates(certs.path());
    let (plain_port, secure_port) = (free_port(), free_port());
    let b = Broker::start_with(&[
        "--override",
        &format!("listeners=PLAINTEXT://127.0.0.1:{plain_port},SASL_SSL://127.0.0.1:{secure_port}"),
        "--override",
        &format!("ssl.keystore.location={keystore}"),
        "--override",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "--add-scram",
        "SCRAM-SHA-512=[name=bench,password=bench-secret]",
    ]);
    let properties = certs.path().join("bench.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=bench\n\
             sasl.password=bench-secret\nssl.ca.location={truststore}\n"
        ),
    )
    .unwrap();
    let properties = properties.to_str().unwrap();
    let (plain, secure) = (
        format!("127.0.0.1:{plain_port}"),
        format!("127.0.0.1:{secure_port}"),
    );
    let runs: [(&str, &str, &str, &[&str]); 3] = [
        (
            &secure,
            "SASL_SSL",
            "native-sasl-ssl",
            &["--command-config", properties],
        ),
        (
            &secure,
            "SASL_SSL",
            "native-sasl-ssl-idempotent",
            &[
                "--command-config",
                properties,
                "--idempotent",
                "--compression",
                "lz4",
            ],
        ),
        (&plain, "PLAINTEXT", "native-plaintext", &[]),
    ];
    for (bootstrap, protocol, topic, extra) in runs {
        let mut args = vec![
            "produce",
            "--driver",
            "native",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--records",
            "3000",
            "--record-size",
            "200",
            "--acks",
            "all",
            // 96 records per batch: many requests on each of the two connections per leader.
            "--batch-size",
            "20000",
            "--connections",
            "2",
        ];
        args.extend_from_slice(extra);
        let report = bench_at(bootstrap, &args);
        assert_eq!(report["settings"]["driver"], "native", "{report}");
        assert_eq!(report["settings"]["security_protocol"], protocol);
        assert_eq!(report["records"], 3000, "{report}");
        assert_eq!(report["bytes"], 600_000);
        assert_eq!(report["errors"], 0);
        assert!(report["megabytes_per_second"].as_f64().unwrap() > 0.0);
        assert_eq!(
            report["broker"]["pid"],
            b.pid(),
            "metered through its listener"
        );
        assert!(report["client"]["cpu_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(
            end_offsets_at(&plain, topic, 3),
            3000,
            "{topic} holds what was reported"
        );
    }

    let out = run_bench(
        &secure,
        &["produce", "--records", "10", "--command-config", properties],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("security.protocol=SASL_SSL needs --driver native"),
        "{stderr}"
    );
}
