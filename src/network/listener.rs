//! `Listener`: the accept loop of the Kafka listener. Spreads new `Connection` actors over the
//! arbiters round-robin; stops accepting when shutdown begins. Owns nothing else.

use std::sync::Arc;

use actix::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broker::BrokerContext;
use crate::network::connection::Connection;

pub struct Listener {
    listener: Option<TcpListener>,
    arbiters: Vec<ArbiterHandle>,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
}

impl Listener {
    pub fn new(
        listener: TcpListener,
        arbiters: Vec<ArbiterHandle>,
        broker: Arc<BrokerContext>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Listener {
            listener: Some(listener),
            arbiters,
            broker,
            shutdown,
        }
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let arbiters = self.arbiters.clone();
        let broker = self.broker.clone();
        let mut shutdown = self.shutdown.clone();
        let accept_loop = async move {
            let mut next = 0usize;
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            let Ok(std_stream) = stream.into_std() else { continue };
                            let arbiter = &arbiters[next % arbiters.len()];
                            next = next.wrapping_add(1);
                            let broker = broker.clone();
                            let shutdown = shutdown.clone();
                            Connection::start_in_arbiter(arbiter, move |_| {
                                // Registered with the arbiter's own reactor.
                                let stream = tokio::net::TcpStream::from_std(std_stream)
                                    .map_err(|e| tracing::warn!(%peer, error = %e, "cannot register socket"))
                                    .ok();
                                Connection::new(stream, peer, broker, shutdown)
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    },
                    _ = shutdown.changed() => break,
                }
            }
            tracing::info!("listener stopped accepting connections");
        };
        ctx.spawn(accept_loop.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}
