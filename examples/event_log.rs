//! An event log: a Troupe broker whose extension writes one JSON record per broker event to
//! `__troupe_events`, so every kind of event can be watched with any consumer:
//!
//! ```sh
//! cargo run --example event_log -- --data-dir ./data
//! kcat -b 127.0.0.1:9092 -C -t __troupe_events
//! ```
//!
//! It also shows what happens when a user's actor panics: creating a topic named
//! `panic-now-…` makes it panic inside `on_event`, `panic-later-…` inside the future it
//! returns. Troupe restarts it (counted on `/healthz` under `extension:event-log`) and the
//! broker keeps serving; `tests/extensions.rs` checks both.
//!
//! Appends to internal topics (`__…`, its own included) are not logged.

use bytes::Bytes;
use futures::future::BoxFuture;
use troupe::extension::{Broker, BrokerEvent, Extension, ExtensionContext, Record};

const EVENTS: &str = "__troupe_events";

struct EventLog;

/// The JSON line for an event; None for events not logged.
fn describe(event: &BrokerEvent) -> Option<serde_json::Value> {
    use serde_json::json;
    Some(match event {
        BrokerEvent::BatchAppended { topic, .. } if topic.starts_with("__") => return None,
        BrokerEvent::BatchAppended {
            topic,
            partition,
            base_offset,
            last_offset,
            record_count,
            ..
        } => json!({"event": "batch_appended", "topic": topic, "partition": partition,
                    "base_offset": base_offset, "last_offset": last_offset, "records": record_count}),
        BrokerEvent::GroupRebalanced {
            group_id,
            generation_id,
            protocol,
            members,
        } => json!({"event": "group_rebalanced", "group": group_id, "generation": generation_id,
                    "protocol": protocol, "members": members.len()}),
        BrokerEvent::LeaderChanged {
            topic,
            partition,
            leader,
            leader_epoch,
        } => json!({"event": "leader_changed", "topic": topic, "partition": partition,
                    "leader": leader, "leader_epoch": leader_epoch}),
        BrokerEvent::BrokerJoined { node_id } => json!({"event": "broker_joined", "node": node_id}),
        BrokerEvent::BrokerLeft { node_id } => json!({"event": "broker_left", "node": node_id}),
        BrokerEvent::TopicCreated {
            topic, partitions, ..
        } => json!({"event": "topic_created", "topic": topic, "partitions": partitions}),
        BrokerEvent::TopicDeleted { topic } => json!({"event": "topic_deleted", "topic": topic}),
        _ => return None,
    })
}

impl Extension for EventLog {
    fn name(&self) -> &str {
        "event-log"
    }

    fn on_event(&mut self, event: BrokerEvent, ctx: &ExtensionContext) -> BoxFuture<'static, ()> {
        if let BrokerEvent::TopicCreated { topic, .. } = &event {
            if topic.starts_with("panic-now-") {
                panic!("asked to panic at once by {topic}");
            }
        }
        let panic_later = matches!(&event, BrokerEvent::TopicCreated { topic, .. } if topic.starts_with("panic-later-"));
        let Some(line) = describe(&event) else {
            return Box::pin(async {});
        };
        let ctx = ctx.clone();
        Box::pin(async move {
            if panic_later {
                panic!("asked to panic while working by {line}");
            }
            if let Err(e) = ctx.ensure_topic(EVENTS, 1, -1).await {
                tracing::warn!(error = %e, "cannot create {EVENTS}");
                return;
            }
            if !ctx.leads(EVENTS, 0) {
                return; // in a cluster the node leading the log writes it
            }
            let record = Record {
                key: None,
                value: Some(Bytes::from(line.to_string())),
                headers: Vec::new(),
            };
            if let Err(e) = ctx.produce(EVENTS, 0, &[record]).await {
                tracing::warn!(error = %e, "cannot write to {EVENTS}");
            }
        })
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    Broker::builder()
        .args_from_env()?
        .with_actor(|| EventLog)
        .run()
}
