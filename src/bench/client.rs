//! The stock client the benchmarks drive: librdkafka configs, topic creation, payloads and the
//! progress bar.

use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use super::options::{ProducerOptions, TopicOptions};

/// A librdkafka config pointed at `bootstrap`.
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "troupe-bench")
        // The bench reports its own failures; librdkafka's log lines would garble the table.
        .set("log_level", "3");
    c
}

/// A producer config from the bench's producer options.
pub fn producer_config(bootstrap: &str, p: &ProducerOptions) -> anyhow::Result<ClientConfig> {
    let acks = match p.acks.as_str() {
        "0" | "1" => p.acks.as_str(),
        "all" | "-1" => "all",
        other => anyhow::bail!("--acks must be 0, 1 or all, not {other}"),
    };
    let compression = match p.compression.as_str() {
        c @ ("none" | "gzip" | "snappy" | "lz4") => c,
        other => anyhow::bail!("--compression must be none, gzip, snappy or lz4, not {other}"),
    };
    let mut c = base_config(bootstrap);
    c.set("acks", acks)
        .set("compression.type", compression)
        .set("linger.ms", p.linger_ms.to_string())
        .set("batch.size", p.batch_size.to_string())
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "message.max.bytes",
            (p.batch_size.max(p.record_size) + 4096).to_string(),
        )
        .set("enable.idempotence", p.idempotent.to_string());
    for (key, value) in &p.producer_config {
        c.set(key, value);
    }
    Ok(c)
}

/// Creates the topic if it does not exist (any broker: through CreateTopics).
pub fn ensure_topic(bootstrap: &str, t: &TopicOptions) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(bootstrap)
        .create()
        .context("creating the admin client")?;
    let topic = NewTopic::new(
        &t.topic,
        t.partitions,
        TopicReplication::Fixed(t.replication_factor),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics([&topic], &options))
        .context("CreateTopics")?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// A value of `size` bytes: a repeating run of varied bytes, so compression has something
/// realistic (neither all zeros nor pure noise) to work on.
pub fn payload(size: usize) -> Vec<u8> {
    let words = b"troupe kafka broker record batch partition offset leader replica ";
    (0..size)
        .map(|i| words[(i * 7 + i / words.len()) % words.len()])
        .collect()
}

/// A progress bar on stderr; hidden when stderr is not a terminal or output is JSON.
pub fn progress(total: Option<u64>, json: bool, what: &str) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    let template = if total.is_some() {
        "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec})"
    } else {
        "{prefix} [{elapsed_precise}] {spinner} {human_pos} ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_string());
    bar
}
