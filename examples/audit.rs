//! An audit actor: a Troupe broker that writes one record per topic creation or deletion to
//! an audit topic (`__troupe_audit` by default; `TROUPE_AUDIT_TOPIC` changes it).
//!
//! Run it like `troupe serve` (same flags, config file and environment):
//!
//! ```sh
//! cargo run --example audit -- --data-dir ./data --listen 127.0.0.1:9092
//! kcat -b 127.0.0.1:9092 -C -t __troupe_audit
//! ```
//!
//! Each record's key is the topic name and its value a JSON object:
//! `{"event":"topic_created","topic":"orders","partitions":3,"replication_factor":1,"at_ms":...,"node":1}`.
//! Every node of a cluster sees each change; only the node leading the audit topic's single
//! partition writes it, so each change is recorded once.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use troupe::extension::{Broker, BrokerEvent, Extension, ExtensionContext, Record};

struct Audit {
    topic: String,
}

impl Audit {
    fn from_env() -> Audit {
        Audit {
            topic: std::env::var("TROUPE_AUDIT_TOPIC").unwrap_or_else(|_| "__troupe_audit".into()),
        }
    }
}

/// The audit record for an event, or None for events that are not audited.
fn audit_record(event: &BrokerEvent, node: i32, audit_topic: &str) -> Option<Record> {
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (topic, value) = match event {
        BrokerEvent::TopicCreated {
            topic,
            partitions,
            replication_factor,
        } => (
            topic,
            serde_json::json!({
                "event": "topic_created", "topic": topic, "partitions": partitions,
                "replication_factor": replication_factor, "at_ms": at_ms, "node": node,
            }),
        ),
        BrokerEvent::TopicDeleted { topic } => (
            topic,
            serde_json::json!({
                "event": "topic_deleted", "topic": topic, "at_ms": at_ms, "node": node,
            }),
        ),
        _ => return None,
    };
    // The audit topic's own creation is not news.
    if topic == audit_topic {
        return None;
    }
    Some(Record {
        key: Some(Bytes::from(topic.clone())),
        value: Some(Bytes::from(value.to_string())),
        headers: Vec::new(),
    })
}

impl Extension for Audit {
    fn name(&self) -> &str {
        "audit"
    }

    fn started(&mut self, ctx: &ExtensionContext) {
        // Create the audit topic up front (one partition keeps the records in order).
        let (ctx, topic) = (ctx.clone(), self.topic.clone());
        actix::spawn(async move {
            if let Err(e) = ctx.ensure_topic(&topic, 1, -1).await {
                tracing::warn!(%topic, error = %e, "cannot create the audit topic yet");
            }
        });
    }

    fn on_event(&mut self, event: BrokerEvent, ctx: &ExtensionContext) -> BoxFuture<'static, ()> {
        let Some(record) = audit_record(&event, ctx.node_id(), &self.topic) else {
            return Box::pin(async {});
        };
        let (ctx, topic) = (ctx.clone(), self.topic.clone());
        Box::pin(async move {
            if let Err(e) = ctx.ensure_topic(&topic, 1, -1).await {
                tracing::warn!(%topic, error = %e, "cannot create the audit topic");
                return;
            }
            if !ctx.leads(&topic, 0) {
                return; // the leader's node writes it
            }
            if let Err(e) = ctx.produce(&topic, 0, &[record]).await {
                tracing::warn!(%topic, error = %e, "audit record not written");
            }
        })
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    Broker::builder()
        .args_from_env()?
        .with_actor(Audit::from_env)
        .run()
}
