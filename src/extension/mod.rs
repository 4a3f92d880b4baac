//! The extension surface: how a user's crate runs Troupe with actors of its own.
//!
//! ```no_run
//! use troupe::extension::{Broker, BrokerEvent, Extension, ExtensionContext};
//! use futures::future::BoxFuture;
//!
//! struct Greeter;
//! impl Extension for Greeter {
//!     fn name(&self) -> &str { "greeter" }
//!     fn on_event(&mut self, event: BrokerEvent, _: &ExtensionContext) -> BoxFuture<'static, ()> {
//!         if let BrokerEvent::TopicCreated { topic, .. } = event {
//!             println!("hello, {topic}");
//!         }
//!         Box::pin(async {})
//!     }
//! }
//!
//! fn main() -> anyhow::Result<()> {
//!     Broker::builder().args_from_env()?.with_actor(|| Greeter).run()
//! }
//! ```
//!
//! This room owns the public extension API, the event bus and the hosting of user actors
//! (`host`: supervised, panics contained and restarted). Other rooms emit events into the bus;
//! extensions reach the broker only through `ExtensionContext` (metadata reads, topic
//! creation, the produce path), never another actor's state. See docs/extensions.md.

mod context;
mod host;

use std::ffi::OsString;
use std::sync::Arc;

use clap::Parser;

pub use crate::events::{decode_appended, AppendedRecord, BrokerEvent, EventBus};
pub use context::{ExtensionContext, Record};
pub use host::{Extension, ExtensionFactory};

use host::ExtensionHost;

use crate::server::args::{serve_options, ServeArgs};
use crate::server::{ServeOptions, StartHook, Wired};

/// A Troupe broker embedded in a program of the user's.
pub struct Broker;

impl Broker {
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }
}

/// Collects the broker's options and the user's actors; `run` serves until SIGTERM/Ctrl-C.
#[derive(Default)]
pub struct BrokerBuilder {
    options: Option<ServeOptions>,
    extensions: Vec<ExtensionFactory>,
}

impl BrokerBuilder {
    /// Options built in code.
    pub fn options(mut self, options: ServeOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Options from `troupe serve`'s flags (`--data-dir`, `--listen`, `--config`, ...; the
    /// first item is the program name), with the same environment and file handling.
    pub fn args<I, T>(mut self, args: I) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let parsed = ServeArgs::try_parse_from(args)?;
        self.options = Some(serve_options(parsed)?);
        Ok(self)
    }

    /// Options from this process's command line, as `troupe serve` reads them.
    pub fn args_from_env(self) -> anyhow::Result<Self> {
        self.args(std::env::args_os())
    }

    /// Adds a user actor. `factory` makes it at start and again after each restart.
    pub fn with_actor<E, F>(mut self, factory: F) -> Self
    where
        E: Extension,
        F: Fn() -> E + Send + Sync + 'static,
    {
        self.extensions
            .push(Arc::new(move || Box::new(factory()) as Box<dyn Extension>));
        self
    }

    /// Runs the broker (defaults as `troupe serve` without flags if no options were given).
    pub fn run(self) -> anyhow::Result<()> {
        let options = match self.options {
            Some(o) => o,
            None => serve_options(ServeArgs::try_parse_from(["troupe"])?)?,
        };
        crate::server::run_with_hooks(options, vec![start_hosts(self.extensions)])
    }
}

/// The hook that starts one supervised `ExtensionHost` per user actor, spread over the
/// arbiters. The addresses are kept for the whole run: actix's Supervisor restarts a stopped
/// actor only while someone still holds its address.
fn start_hosts(extensions: Vec<ExtensionFactory>) -> StartHook {
    Box::new(move |wired: &Wired| {
        let hosts: Vec<actix::Addr<ExtensionHost>> = extensions
            .into_iter()
            .enumerate()
            .map(|(i, factory)| {
                let (context, bus, health) = (
                    ExtensionContext::new(wired.broker.clone()),
                    wired.events.clone(),
                    wired.health.clone(),
                );
                let arbiter = &wired.arbiters[i % wired.arbiters.len()];
                actix::Supervisor::start_in_arbiter(arbiter, move |_| {
                    ExtensionHost::new(factory, context, bus, health)
                })
            })
            .collect();
        Box::new(hosts) as Box<dyn std::any::Any>
    })
}
