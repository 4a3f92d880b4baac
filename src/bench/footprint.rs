//! `troupe bench footprint`: the broker's resident memory idle, then after creating many
//! partitions (topics of `--partitions-per-topic` each, 100 topics per CreateTopics request).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::client::{base_config, progress};
use super::options::FootprintOptions;
use super::process::{resolve_pid, sample};
use super::report::{Footprint, Report};

const TOPICS_PER_REQUEST: usize = 100;

pub fn run(o: &FootprintOptions) -> anyhow::Result<Report> {
    let pid = resolve_pid(o.common.broker_pid, &o.common.bootstrap)
        .context("footprint needs the broker's pid: run it on this machine or pass --broker-pid")?;
    let settle = Duration::from_secs_f64(o.settle_secs);
    std::thread::sleep(settle);
    let idle = sample(pid).context("reading the broker's /proc entry")?;

    let per_topic = o.partitions_per_topic.max(1);
    let topics = o.partitions.div_ceil(per_topic);
    let names: Vec<String> = (0..topics)
        .map(|i| format!("{}-{i}", o.topic_prefix))
        .collect();
    let admin: AdminClient<DefaultClientContext> = base_config(&o.common.bootstrap)
        .create()
        .context("creating the admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    let bar = progress(Some(topics as u64), o.common.json, "create topics");
    let started = Instant::now();
    for chunk in names.chunks(TOPICS_PER_REQUEST) {
        let new: Vec<NewTopic> = chunk
            .iter()
            .map(|n| NewTopic::new(n, per_topic as i32, TopicReplication::Fixed(1)))
            .collect();
        let results = futures::executor::block_on(admin.create_topics(&new, &options))
            .context("CreateTopics")?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => anyhow::bail!("creating {name}: {code}"),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    let create_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    std::thread::sleep(settle);
    let loaded = sample(pid).context("reading the broker's /proc entry")?;
    Ok(Report {
        mode: "footprint",
        bootstrap: o.common.bootstrap.clone(),
        settings: serde_json::json!({
            "partitions": topics * per_topic, "partitions_per_topic": per_topic,
            "settle_secs": o.settle_secs,
        }),
        footprint: Some(Footprint {
            pid,
            idle_rss_mb: idle.rss_bytes as f64 / 1e6,
            partitions_created: topics * per_topic,
            rss_with_partitions_mb: loaded.rss_bytes as f64 / 1e6,
            create_seconds,
        }),
        ..Default::default()
    })
}
