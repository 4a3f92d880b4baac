//! `/metrics`: what the recorder collected (request rates and latencies, bytes, ISR changes,
//! purgatory sizes, restarts, flush latency) plus gauges computed at scrape time from shared
//! views, so the hot paths pay nothing for them: partition and leader counts, under-replicated
//! and offline partitions, the active controller, per-partition offsets, consumer-group lag and
//! mailbox depth. docs/metrics.md lists every metric.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::IntoResponse;

use super::HttpState;
use crate::runtime::mailbox;

pub async fn metrics_text(State(s): State<HttpState>) -> impl IntoResponse {
    let mut text = s.prometheus.render();
    scrape_time_gauges(&s, &mut text);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

fn gauge(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Appends the gauges read from the metadata image, watermarks and groups view.
fn scrape_time_gauges(s: &HttpState, text: &mut String) {
    let image = s.metadata.current();
    let hosted = s.replicas.all();
    let mut leaders = 0;
    let mut under_replicated = 0;
    let mut offline = 0;
    for topic in image.topics.values() {
        for p in &topic.partitions {
            if p.leader == s.node_id {
                leaders += 1;
                if p.isr.len() < p.replicas.len() {
                    under_replicated += 1;
                }
            }
            if p.leader < 0 {
                offline += 1;
            }
        }
    }
    let active = s.is_active_controller();
    gauge(
        text,
        "troupe_partition_count",
        "Partition replicas hosted by this broker.",
    );
    let _ = writeln!(text, "troupe_partition_count {}", hosted.len());
    gauge(text, "troupe_leader_count", "Partitions this broker leads.");
    let _ = writeln!(text, "troupe_leader_count {leaders}");
    gauge(
        text,
        "troupe_under_replicated_partitions",
        "Partitions led here whose ISR is smaller than their replica set.",
    );
    let _ = writeln!(
        text,
        "troupe_under_replicated_partitions {under_replicated}"
    );
    gauge(
        text,
        "troupe_offline_partitions",
        "Partitions without a leader (reported by the active controller; 0 elsewhere).",
    );
    let _ = writeln!(
        text,
        "troupe_offline_partitions {}",
        if active { offline } else { 0 }
    );
    gauge(
        text,
        "troupe_active_controller_count",
        "1 on the node hosting the active controller, else 0.",
    );
    let _ = writeln!(text, "troupe_active_controller_count {}", u8::from(active));

    gauge(
        text,
        "troupe_actor_mailbox_depth",
        "Messages sent to actors of a kind and not yet answered.",
    );
    for (kind, depth) in mailbox::depths() {
        let _ = writeln!(
            text,
            "troupe_actor_mailbox_depth{{actor=\"{kind}\"}} {depth}"
        );
    }

    gauge(
        text,
        "troupe_partition_log_end_offset",
        "Log end offset of each partition hosted here.",
    );
    let mut log_ends = std::collections::HashMap::new();
    for (tp, h) in &hosted {
        let w = *h.watermarks.borrow();
        let _ = writeln!(
            text,
            "troupe_partition_log_end_offset{{topic=\"{}\",partition=\"{}\"}} {}",
            tp.topic, tp.partition, w.log_end_offset
        );
        log_ends.insert((tp.topic.as_str(), tp.partition), w.high_watermark);
    }
    gauge(
        text,
        "troupe_consumer_group_lag",
        "High watermark minus the group's committed offset, for groups coordinated here and partitions hosted here.",
    );
    let groups = s.groups.groups();
    let mut group_totals = Vec::new();
    for g in &groups {
        let mut total = 0i64;
        let mut max = 0i64;
        for o in &g.offsets {
            let Some(hw) = log_ends.get(&(o.topic.as_str(), o.partition)) else {
                continue;
            };
            let lag = (hw - o.offset).max(0);
            total += lag;
            max = max.max(lag);
            let _ = writeln!(
                text,
                "troupe_consumer_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {lag}",
                escape(&g.group_id),
                o.topic,
                o.partition
            );
        }
        group_totals.push((g.group_id.as_str(), total, max));
    }
    gauge(
        text,
        "troupe_consumer_group_lag_sum",
        "A group's lag summed over its partitions.",
    );
    for (group, total, _) in &group_totals {
        let _ = writeln!(
            text,
            "troupe_consumer_group_lag_sum{{group=\"{}\"}} {total}",
            escape(group)
        );
    }
    gauge(
        text,
        "troupe_consumer_group_lag_max",
        "A group's largest partition lag.",
    );
    for (group, _, max) in &group_totals {
        let _ = writeln!(
            text,
            "troupe_consumer_group_lag_max{{group=\"{}\"}} {max}",
            escape(group)
        );
    }
}

/// A label value in Prometheus text: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
