//! `Listener`: the accept loop of one Kafka listener. Spreads new `Connection` actors over the
//! arbiters round-robin, each with the listener's security (`ListenerSecurity`: TLS and SASL
//! as `listener.security.protocol.map` and the `listener.name.<l>.` properties say); stops
//! accepting when shutdown begins. Owns nothing else.

use std::sync::Arc;

use actix::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::network::connection::Connection;
use crate::network::endpoints::ListenerEndpoint;
use crate::network::tls::TlsListener;
use crate::security::{JaasConfig, SaslListenerConfig, SaslMechanism, SecurityProtocol};

/// What a connection on one listener must go through before it is served.
#[derive(Debug)]
pub struct ListenerSecurity {
    pub name: Arc<str>,
    pub protocol: SecurityProtocol,
    /// SSL and SASL_SSL: the TLS server (certificates re-read when they change).
    pub tls: Option<Arc<TlsListener>>,
    /// SASL_PLAINTEXT and SASL_SSL: the mechanisms offered and PLAIN's users.
    pub sasl: Option<Arc<SaslListenerConfig>>,
}

impl ListenerSecurity {
    /// Builds a listener's security from the broker properties, as Kafka resolves them:
    /// `listener.name.<listener>.<property>` first, then the broker-wide property.
    pub fn from_config(
        endpoint: &ListenerEndpoint,
        config: &BrokerConfig,
    ) -> Result<ListenerSecurity, String> {
        let name = endpoint.name.as_str();
        let tls = if endpoint.protocol.uses_tls() {
            Some(Arc::new(TlsListener::from_config(name, config)?))
        } else {
            None
        };
        let sasl = if endpoint.protocol.uses_sasl() {
            Some(Arc::new(sasl_config(name, config)?))
        } else {
            None
        };
        Ok(ListenerSecurity {
            name: Arc::from(name),
            protocol: endpoint.protocol,
            tls,
            sasl,
        })
    }
}

fn sasl_config(listener: &str, config: &BrokerConfig) -> Result<SaslListenerConfig, String> {
    let mut out = SaslListenerConfig::default();
    for name in config
        .listener_value(listener, "sasl.enabled.mechanisms")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
            format!(
                "listener {listener}: SASL mechanism {name} is not served (sasl.enabled.mechanisms may list PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
            )
        })?;
        if !out.mechanisms.contains(&mechanism) {
            out.mechanisms.push(mechanism);
        }
    }
    if out.mechanisms.is_empty() {
        return Err(format!(
            "listener {listener} uses SASL but sasl.enabled.mechanisms is empty"
        ));
    }
    if out.mechanisms.contains(&SaslMechanism::Plain) {
        let jaas = config.jaas_config(listener, "PLAIN");
        if jaas.is_empty() {
            return Err(format!(
                "listener {listener} enables PLAIN but no JAAS config names its users: set listener.name.{}.plain.sasl.jaas.config",
                listener.to_ascii_lowercase()
            ));
        }
        // The JAAS errors name options and positions, never a password.
        out.plain_users = JaasConfig::parse(jaas)
            .and_then(|j| j.plain_users())
            .map_err(|e| format!("listener {listener}: PLAIN's sasl.jaas.config: {e}"))?;
    }
    Ok(out)
}

pub struct Listener {
    listener: Option<TcpListener>,
    arbiters: Vec<ArbiterHandle>,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
    security: Arc<ListenerSecurity>,
}

impl Listener {
    pub fn new(
        listener: TcpListener,
        arbiters: Vec<ArbiterHandle>,
        broker: Arc<BrokerContext>,
        shutdown: watch::Receiver<bool>,
        security: Arc<ListenerSecurity>,
    ) -> Self {
        Listener {
            listener: Some(listener),
            arbiters,
            broker,
            shutdown,
            security,
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
        let security = self.security.clone();
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
                            let security = security.clone();
                            Connection::start_in_arbiter(arbiter, move |_| {
                                // Registered with the arbiter's own reactor.
                                let stream = tokio::net::TcpStream::from_std(std_stream)
                                    .map_err(|e| tracing::warn!(%peer, error = %e, "cannot register socket"))
                                    .ok();
                                Connection::new(stream, peer, broker, shutdown, security)
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
            tracing::info!(listener = %security.name, "listener stopped accepting connections");
        };
        ctx.spawn(accept_loop.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}
