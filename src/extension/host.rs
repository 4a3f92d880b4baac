//! `ExtensionHost`: the actor that runs one user extension under Troupe's supervision.
//!
//! The host is an actix actor started under `actix::Supervisor` on one of the broker's
//! arbiters. It subscribes to the event bus and hands the extension one event at a time,
//! waiting for the future the extension returns before the next (events arrive in order).
//! Every call into user code, and the future it returns, runs inside panic containment: a
//! panic is logged, counted on `/healthz` as a restart of `extension:<name>`, the actor stops,
//! and the supervisor restarts it with a fresh extension from the user's factory. Events that
//! arrive while it restarts are not delivered (at most once).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::prelude::*;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::context::ExtensionContext;
use crate::events::{BrokerEvent, Delivery, EventBus};
use crate::runtime::supervision::{guard, panic_message, SupervisorState};

/// A user's actor. Implement it, then add it with `Broker::builder().with_actor(|| MyActor)`.
pub trait Extension: Send + 'static {
    /// Names the extension in logs and on `/healthz` (`extension:<name>`).
    fn name(&self) -> &str;

    /// Called when the extension starts, and again after each restart (with a fresh value
    /// from the factory). Spawn background work here with `tokio::spawn`/`actix::spawn` if
    /// needed.
    fn started(&mut self, _ctx: &ExtensionContext) {}

    /// Called for each broker event, in order; the next event waits until the returned
    /// future completes. Return `Box::pin(async {})` for events you ignore.
    fn on_event(&mut self, event: BrokerEvent, ctx: &ExtensionContext) -> BoxFuture<'static, ()>;
}

/// Makes a fresh extension (at start and after each restart).
pub type ExtensionFactory = Arc<dyn Fn() -> Box<dyn Extension> + Send + Sync>;

pub struct ExtensionHost {
    name: String,
    factory: ExtensionFactory,
    extension: Option<Box<dyn Extension>>,
    context: ExtensionContext,
    bus: EventBus,
    health: Arc<SupervisorState>,
}

impl ExtensionHost {
    pub fn new(
        factory: ExtensionFactory,
        context: ExtensionContext,
        bus: EventBus,
        health: Arc<SupervisorState>,
    ) -> Self {
        ExtensionHost {
            name: String::new(),
            factory,
            extension: None,
            context,
            bus,
            health,
        }
    }

    /// Logs and counts a panic of the extension, then stops so the supervisor restarts it.
    fn crashed(&mut self, ctx: &mut Context<Self>, message: &str) {
        tracing::error!(extension = %self.name, panic = %message, "extension panicked; restarting it");
        self.health
            .record_restart(&format!("extension:{}", self.name));
        self.extension = None;
        ctx.stop();
    }
}

impl Actor for ExtensionHost {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let factory = self.factory.clone();
        let context = self.context.clone();
        let made = guard(move || {
            let mut extension = factory();
            extension.started(&context);
            extension
        });
        match made {
            Ok(extension) => {
                self.name = extension.name().to_string();
                self.extension = Some(extension);
            }
            Err(panic) => {
                if self.name.is_empty() {
                    self.name = "unnamed".into();
                }
                // Wait a little before the supervisor tries again: a factory that always
                // panics must not spin.
                ctx.run_later(std::time::Duration::from_secs(1), move |act, ctx| {
                    act.crashed(ctx, &panic)
                });
                return;
            }
        }
        tracing::info!(extension = %self.name, "extension started");
        let subscription = self.bus.subscribe();
        let deliveries = futures::stream::unfold(subscription, |mut s| async move {
            s.next().await.map(|d| (d, s))
        });
        ctx.add_stream(deliveries);
    }
}

impl actix::Supervised for ExtensionHost {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.extension = None;
    }
}

impl StreamHandler<Delivery> for ExtensionHost {
    fn handle(&mut self, delivery: Delivery, ctx: &mut Context<Self>) {
        let event = match delivery {
            Delivery::Event(e) => e,
            Delivery::Lagged(n) => {
                tracing::warn!(extension = %self.name, dropped = n, "extension fell behind; events dropped");
                metrics::counter!("troupe_extension_events_dropped_total").increment(n);
                return;
            }
        };
        let Some(extension) = self.extension.as_mut() else {
            return;
        };
        let context = &self.context;
        match guard(|| extension.on_event(event, context)) {
            Ok(work) => {
                ctx.wait(AssertUnwindSafe(work).catch_unwind().into_actor(self).map(
                    |outcome, act, ctx| {
                        if let Err(panic) = outcome {
                            act.crashed(ctx, &panic_message(panic.as_ref()));
                        }
                    },
                ));
            }
            Err(panic) => self.crashed(ctx, &panic),
        }
    }

    /// The bus closed (the broker is stopping): nothing more will come.
    fn finished(&mut self, _: &mut Context<Self>) {}
}
