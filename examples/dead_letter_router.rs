//! A dead-letter router: a Troupe broker that copies every record carrying a marker header
//! from its topic to `<topic>.DLT`, keeping key, value and headers and adding where it came
//! from (`dlt.origin.topic`, `dlt.origin.partition`, `dlt.origin.offset`).
//!
//! ```sh
//! TROUPE_DLT_TOPICS=orders,payments TROUPE_DLT_HEADER=x-dead-letter \
//!   cargo run --example dead_letter_router -- --data-dir ./data
//! ```
//!
//! `TROUPE_DLT_TOPICS` lists the source topics (comma-separated; required); `TROUPE_DLT_HEADER`
//! names the header (default `x-dead-letter`); `TROUPE_DLT_HEADER_VALUE`, when set, routes only
//! records whose header has that value. Compressed batches are decoded; transaction markers are
//! skipped, and transactional records are routed when appended (an aborted one is routed
//! too: the router sees appends, not commits). The source records stay where they are: Kafka
//! logs are append-only, so "moving" means copying to the DLT, which consumers of the source
//! skip by the same header. The router runs on the node leading each source partition; it
//! writes to the DLT partition of the same number when this node leads it, else partition 0
//! when it leads that, and logs a warning otherwise.

use bytes::Bytes;
use futures::future::BoxFuture;
use troupe::extension::{
    decode_appended, AppendedRecord, Broker, BrokerEvent, Extension, ExtensionContext, Record,
};

struct Router {
    topics: Vec<String>,
    header: String,
    value: Option<Bytes>,
}

impl Router {
    fn from_env() -> Router {
        Router {
            topics: std::env::var("TROUPE_DLT_TOPICS")
                .unwrap_or_default()
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            header: std::env::var("TROUPE_DLT_HEADER").unwrap_or_else(|_| "x-dead-letter".into()),
            value: std::env::var("TROUPE_DLT_HEADER_VALUE")
                .ok()
                .map(Bytes::from),
        }
    }

    fn matches(&self, r: &AppendedRecord) -> bool {
        !r.control
            && r.headers.iter().any(|(k, v)| {
                *k == self.header
                    && self
                        .value
                        .as_ref()
                        .is_none_or(|want| v.as_ref() == Some(want))
            })
    }
}

/// The DLT copy of `r`, read at `offset` of `topic`'s `partition`.
fn dead_letter(r: AppendedRecord, topic: &str, partition: i32) -> Record {
    let mut headers = r.headers;
    headers.push((
        "dlt.origin.topic".into(),
        Some(Bytes::from(topic.to_string())),
    ));
    headers.push((
        "dlt.origin.partition".into(),
        Some(Bytes::from(partition.to_string())),
    ));
    headers.push((
        "dlt.origin.offset".into(),
        Some(Bytes::from(r.offset.to_string())),
    ));
    Record {
        key: r.key,
        value: r.value,
        headers,
    }
}

impl Extension for Router {
    fn name(&self) -> &str {
        "dead-letter-router"
    }

    fn started(&mut self, ctx: &ExtensionContext) {
        if self.topics.is_empty() {
            tracing::warn!("TROUPE_DLT_TOPICS is empty: nothing to route");
        }
        for topic in &self.topics {
            let (ctx, dlt) = (ctx.clone(), format!("{topic}.DLT"));
            actix::spawn(async move {
                if let Err(e) = ctx.ensure_topic(&dlt, 1, -1).await {
                    tracing::warn!(topic = %dlt, error = %e, "cannot create the dead-letter topic yet");
                }
            });
        }
    }

    fn on_event(&mut self, event: BrokerEvent, ctx: &ExtensionContext) -> BoxFuture<'static, ()> {
        let BrokerEvent::BatchAppended {
            topic,
            partition,
            base_offset,
            records,
            ..
        } = event
        else {
            return Box::pin(async {});
        };
        if !self.topics.contains(&topic) {
            return Box::pin(async {});
        }
        let routed: Vec<Record> = match decode_appended(&records, base_offset) {
            Ok(decoded) => decoded
                .into_iter()
                .filter(|r| self.matches(r))
                .map(|r| dead_letter(r, &topic, partition))
                .collect(),
            Err(e) => {
                tracing::warn!(%topic, partition, error = %e, "cannot decode appended records");
                return Box::pin(async {});
            }
        };
        if routed.is_empty() {
            return Box::pin(async {});
        }
        let ctx = ctx.clone();
        Box::pin(async move {
            let dlt = format!("{topic}.DLT");
            if let Err(e) = ctx.ensure_topic(&dlt, 1, -1).await {
                tracing::warn!(topic = %dlt, error = %e, "cannot create the dead-letter topic");
                return;
            }
            let target = [partition, 0].into_iter().find(|p| ctx.leads(&dlt, *p));
            let Some(target) = target else {
                tracing::warn!(topic = %dlt, "no dead-letter partition is led here; records not routed");
                return;
            };
            match ctx.produce(&dlt, target, &routed).await {
                Ok(offset) => tracing::debug!(topic = %dlt, offset, count = routed.len(), "routed"),
                Err(e) => tracing::warn!(topic = %dlt, error = %e, "routing failed"),
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
        .with_actor(Router::from_env)
        .run()
}
