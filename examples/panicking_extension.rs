//! What happens when a user's actor panics: Troupe restarts it and the broker keeps serving.
//! (Also the fixture `tests/extensions.rs` runs to check exactly that.)
//!
//! The extension panics when a topic whose name starts with `panic-now-` is created (inside
//! `on_event`) or `panic-later-` (inside the future it returns). For every other created topic
//! it writes the topic's name to `__extension_seen`, which shows it works again after a
//! restart. `/healthz` counts the restarts under `extension:panicking`.
//!
//! ```sh
//! cargo run --example panicking_extension -- --data-dir ./data
//! ```

use bytes::Bytes;
use futures::future::BoxFuture;
use troupe::extension::{Broker, BrokerEvent, Extension, ExtensionContext, Record};

const SEEN: &str = "__extension_seen";

struct Panicking;

impl Extension for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }

    fn on_event(&mut self, event: BrokerEvent, ctx: &ExtensionContext) -> BoxFuture<'static, ()> {
        let BrokerEvent::TopicCreated { topic, .. } = event else {
            return Box::pin(async {});
        };
        if topic.starts_with("panic-now-") {
            panic!("asked to panic at once by {topic}");
        }
        if topic == SEEN {
            return Box::pin(async {});
        }
        let ctx = ctx.clone();
        Box::pin(async move {
            if topic.starts_with("panic-later-") {
                panic!("asked to panic while working by {topic}");
            }
            if let Err(e) = ctx.ensure_topic(SEEN, 1, -1).await {
                tracing::warn!(error = %e, "cannot create {SEEN}");
                return;
            }
            let record = Record {
                key: None,
                value: Some(Bytes::from(topic)),
                headers: Vec::new(),
            };
            if let Err(e) = ctx.produce(SEEN, 0, &[record]).await {
                tracing::warn!(error = %e, "cannot write to {SEEN}");
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
        .with_actor(|| Panicking)
        .run()
}
