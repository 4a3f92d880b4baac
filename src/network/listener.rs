//! `Listener`: the accept loop of one Kafka listener. Spreads new `Connection` actors over the
//! arbiters round-robin, each with the listener's security (`ListenerSecurity`: TLS and SASL
//! as `listener.security.protocol.map` and the `listener.name.<l>.` properties say), within
//! the connection limits (`ConnectionQuotas`: it pauses at `max.connections`, delays past
//! `max.connection.creation.rate`, closes a connection past `max.connections.per.ip`); stops
//! accepting when shutdown begins. Its `ListenerStatus` says it serves while the loop runs.
//! Owns nothing else.

use std::sync::Arc;

use actix::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broker::BrokerContext;
use crate::config::BrokerConfig;
use crate::network::connection::Connection;
use crate::network::connection_quotas::ConnectionQuotas;
use crate::network::endpoints::ListenerEndpoint;
use crate::network::listener_status::ListenerStatus;
use crate::network::tls::TlsListener;
use crate::security::oauthbearer::jwks_file_from_url;
use crate::security::{
    JaasConfig, OAuthBearerSettings, OAuthBearerValidator, SaslListenerConfig, SaslMechanism,
    SecurityProtocol,
};

/// What a connection on one listener must go through before it is served.
#[derive(Debug)]
pub struct ListenerSecurity {
    pub name: Arc<str>,
    pub protocol: SecurityProtocol,
    /// SSL and SASL_SSL: the TLS server (certificates re-read when they change).
    pub tls: Option<Arc<TlsListener>>,
    /// SASL_PLAINTEXT and SASL_SSL: the mechanisms offered and PLAIN's users.
    pub sasl: Option<Arc<SaslListenerConfig>>,
    /// `connections.max.reauth.ms` of each enabled SASL mechanism on this listener (KIP-368;
    /// 0: off), resolved as Kafka does per listener and mechanism.
    pub max_reauth_ms: Vec<(SaslMechanism, i64)>,
    /// What `/healthz` reports of this listener; its connections and exchanges count in it.
    pub status: Arc<ListenerStatus>,
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
        let max_reauth_ms = sasl
            .iter()
            .flat_map(|s| s.mechanisms.iter())
            .map(|&m| {
                let value =
                    config.listener_mechanism_value(name, m.name(), "connections.max.reauth.ms");
                (m, value.trim().parse::<i64>().unwrap_or(0).max(0))
            })
            .collect();
        let status = Arc::new(ListenerStatus::new(
            endpoint,
            tls.clone(),
            sasl.as_ref()
                .map(|s| s.mechanisms.clone())
                .unwrap_or_default(),
        ));
        Ok(ListenerSecurity {
            name: Arc::from(name),
            protocol: endpoint.protocol,
            tls,
            sasl,
            max_reauth_ms,
            status,
        })
    }

    /// `connections.max.reauth.ms` for sessions authenticated with `mechanism` (0: off).
    pub fn max_reauth_ms(&self, mechanism: SaslMechanism) -> i64 {
        self.max_reauth_ms
            .iter()
            .find(|(m, _)| *m == mechanism)
            .map_or(0, |(_, ms)| *ms)
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
                "listener {listener}: SASL mechanism {name} is not served (sasl.enabled.mechanisms may list PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)"
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
    if out.mechanisms.contains(&SaslMechanism::OAuthBearer) {
        out.oauthbearer = Some(Arc::new(oauthbearer_validator(listener, config)?));
    }
    Ok(out)
}

/// OAUTHBEARER's validator for a listener, from the `sasl.oauthbearer.*` properties (per
/// listener through `listener.name.<l>.`). Kafka's default, unsecured validator (unsigned
/// tokens) is not served: a JWKS file is required.
fn oauthbearer_validator(
    listener: &str,
    config: &BrokerConfig,
) -> Result<OAuthBearerValidator, String> {
    let value = |name: &str| config.listener_value(listener, name).trim().to_string();
    let url = value("sasl.oauthbearer.jwks.endpoint.url");
    if url.is_empty() {
        return Err(format!(
            "listener {listener} enables OAUTHBEARER but sasl.oauthbearer.jwks.endpoint.url is not set: name the JWKS file whose keys verify tokens (file:///path/to/jwks.json)"
        ));
    }
    let jwks_file = jwks_file_from_url(&url).map_err(|e| format!("listener {listener}: {e}"))?;
    let issuer = value("sasl.oauthbearer.expected.issuer");
    let settings = OAuthBearerSettings {
        jwks_file,
        expected_audience: value("sasl.oauthbearer.expected.audience")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        expected_issuer: (!issuer.is_empty()).then_some(issuer),
        sub_claim_name: value("sasl.oauthbearer.sub.claim.name"),
        scope_claim_name: value("sasl.oauthbearer.scope.claim.name"),
        clock_skew_seconds: config
            .listener_value(listener, "sasl.oauthbearer.clock.skew.seconds")
            .trim()
            .parse()
            .map_err(|_| {
                format!("listener {listener}: sasl.oauthbearer.clock.skew.seconds must be a non-negative integer")
            })?,
    };
    if settings.sub_claim_name.is_empty() {
        return Err(format!(
            "listener {listener}: sasl.oauthbearer.sub.claim.name is empty"
        ));
    }
    OAuthBearerValidator::new(settings)
        .map_err(|e| format!("listener {listener}: OAUTHBEARER: {e}"))
}

pub struct Listener {
    listener: Option<TcpListener>,
    arbiters: Vec<ArbiterHandle>,
    broker: Arc<BrokerContext>,
    shutdown: watch::Receiver<bool>,
    security: Arc<ListenerSecurity>,
    quotas: Arc<ConnectionQuotas>,
}

impl Listener {
    pub fn new(
        listener: TcpListener,
        arbiters: Vec<ArbiterHandle>,
        broker: Arc<BrokerContext>,
        shutdown: watch::Receiver<bool>,
        security: Arc<ListenerSecurity>,
        quotas: Arc<ConnectionQuotas>,
    ) -> Self {
        Listener {
            listener: Some(listener),
            arbiters,
            broker,
            shutdown,
            security,
            quotas,
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
        let quotas = self.quotas.clone();
        let mut shutdown = self.shutdown.clone();
        let accept_loop = async move {
            let _serving = security.status.serving();
            let mut next = 0usize;
            loop {
                // At max.connections the socket stays in the kernel's backlog until a
                // connection of this listener (or, for the broker-wide limit, any) closes.
                tokio::select! {
                    _ = quotas.wait_for_slot(&security.name) => {}
                    _ = shutdown.changed() => break,
                }
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = shutdown.changed() => break,
                };
                let slot = tokio::select! {
                    slot = quotas.admit(&security.name, peer.ip()) => slot,
                    _ = shutdown.changed() => break,
                };
                let slot = match slot {
                    Ok(slot) => slot,
                    Err(refused) => {
                        // Kafka closes it at once; the client sees the connection end.
                        tracing::info!(%peer, listener = %security.name, reason = %refused, "rejected connection");
                        metrics::counter!("troupe_connections_refused_total",
                            "listener" => security.name.to_string(), "reason" => refused.reason())
                        .increment(1);
                        drop(stream);
                        continue;
                    }
                };
                let Ok(std_stream) = stream.into_std() else {
                    continue;
                };
                let arbiter = &arbiters[next % arbiters.len()];
                next = next.wrapping_add(1);
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                let security = security.clone();
                // The slot travels with the connection: if the arbiter cannot start it, the
                // dropped closure gives it back.
                Connection::start_in_arbiter(arbiter, move |_| {
                    // Registered with the arbiter's own reactor.
                    let stream = tokio::net::TcpStream::from_std(std_stream)
                        .map_err(|e| tracing::warn!(%peer, error = %e, "cannot register socket"))
                        .ok();
                    Connection::new(stream, peer, broker, shutdown, security, slot)
                });
            }
            tracing::info!(listener = %security.name, "listener stopped accepting connections");
        };
        ctx.spawn(accept_loop.into_actor(self).map(|_, _, ctx| ctx.stop()));
    }
}
