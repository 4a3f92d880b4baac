//! `ListenerStatus`: what `/healthz` tells of one Kafka listener, kept while it runs.
//!
//! One per listener, made with its `ListenerSecurity` (before the HTTP thread starts, so the
//! HTTP room holds every listener's status from the first request on) and written by the
//! listener's own code: `server::startup` records the address it bound (the real port when
//! port 0 was asked), the accept loop holds a [`Serving`] guard while it runs, each
//! `Connection` holds an [`OpenConnection`] guard, and the TLS handshake and the SASL exchange
//! count their outcomes. It sits on the connection path, so it is atomics only: no lock, no
//! allocation. The HTTP room reads it with [`ListenerStatus::snapshot`]; the certificate is
//! read from the TLS acceptor then, so it follows a reload of the keystore.
//!
//! Nothing secret is kept: names, counts, and the served certificate's subject and expiry.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use crate::network::endpoints::ListenerEndpoint;
use crate::network::tls::TlsListener;
use crate::security::tls::{ClientAuth, ServedCertificate};
use crate::security::{SaslMechanism, SecurityProtocol};

/// The running state of one listener.
#[derive(Debug)]
pub struct ListenerStatus {
    name: Arc<str>,
    protocol: SecurityProtocol,
    /// The configured bind address; its port is 0 when the kernel is to choose one.
    bind: SocketAddr,
    advertised: String,
    sasl_mechanisms: Vec<SaslMechanism>,
    tls: Option<Arc<TlsListener>>,
    /// 0 until the socket is bound.
    bound_port: AtomicU16,
    serving: AtomicBool,
    connections_open: AtomicU64,
    connections_accepted: AtomicU64,
    successful_authentication: AtomicU64,
    failed_authentication: AtomicU64,
    successful_reauthentication: AtomicU64,
    failed_reauthentication: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

impl ListenerStatus {
    /// A listener not bound yet, not serving, with nothing counted. `tls` is its acceptor
    /// (SSL, SASL_SSL), `sasl_mechanisms` what it offers (SASL_PLAINTEXT, SASL_SSL).
    pub fn new(
        endpoint: &ListenerEndpoint,
        tls: Option<Arc<TlsListener>>,
        sasl_mechanisms: Vec<SaslMechanism>,
    ) -> ListenerStatus {
        ListenerStatus {
            name: Arc::from(endpoint.name.as_str()),
            protocol: endpoint.protocol,
            bind: endpoint.bind,
            advertised: endpoint.advertised(),
            sasl_mechanisms,
            tls,
            bound_port: AtomicU16::new(0),
            serving: AtomicBool::new(false),
            connections_open: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            successful_authentication: AtomicU64::new(0),
            failed_authentication: AtomicU64::new(0),
            successful_reauthentication: AtomicU64::new(0),
            failed_reauthentication: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
        }
    }

    /// The socket is bound at `address` (`TcpListener::local_addr`).
    pub fn bound(&self, address: SocketAddr) {
        self.bound_port.store(address.port(), Ordering::SeqCst);
    }

    /// The accept loop runs until the returned guard is dropped.
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.serving.store(true, Ordering::SeqCst);
        Serving(self.clone())
    }

    /// A connection was accepted (past the connection limits); it counts as open until the
    /// returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// A SASL exchange succeeded: the first authentication of a connection, or a KIP-368
    /// re-authentication.
    pub fn authentication_succeeded(&self, reauthentication: bool) {
        let counter = if reauthentication {
            &self.successful_reauthentication
        } else {
            &self.successful_authentication
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A SASL exchange failed (bad credentials, an unsupported mechanism).
    pub fn authentication_failed(&self, reauthentication: bool) {
        let counter = if reauthentication {
            &self.failed_reauthentication
        } else {
            &self.failed_authentication
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS handshake failed or timed out (or the client certificate named no principal).
    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// What the listener looks like now.
    pub fn snapshot(&self) -> ListenerSnapshot {
        let port = self.bound_port.load(Ordering::SeqCst);
        ListenerSnapshot {
            name: self.name.clone(),
            protocol: self.protocol,
            bound: (port != 0).then(|| SocketAddr::new(self.bind.ip(), port)),
            advertised: self.advertised.clone(),
            serving: self.serving.load(Ordering::SeqCst),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            connections_accepted_total: self.connections_accepted.load(Ordering::Relaxed),
            sasl: self.protocol.uses_sasl().then(|| SaslSnapshot {
                mechanisms: self.sasl_mechanisms.clone(),
                successful_authentication_total: self
                    .successful_authentication
                    .load(Ordering::Relaxed),
                failed_authentication_total: self.failed_authentication.load(Ordering::Relaxed),
                successful_reauthentication_total: self
                    .successful_reauthentication
                    .load(Ordering::Relaxed),
                failed_reauthentication_total: self.failed_reauthentication.load(Ordering::Relaxed),
            }),
            tls: self.tls.as_ref().map(|tls| TlsSnapshot {
                client_auth: tls.client_auth(),
                handshake_failures_total: self.tls_handshake_failures.load(Ordering::Relaxed),
                certificate: tls.certificate(),
            }),
        }
    }
}

/// Held by the accept loop: the listener serves until it is dropped, however the loop ends.
#[derive(Debug)]
pub struct Serving(Arc<ListenerStatus>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving.store(false, Ordering::SeqCst);
    }
}

/// Held by a `Connection`: one open connection of the listener until it is dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<ListenerStatus>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One listener at one moment, as `/healthz` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSnapshot {
    /// Kafka's listener name (`PLAINTEXT`, `SASL_SSL`, `CLIENT`...).
    pub name: Arc<str>,
    pub protocol: SecurityProtocol,
    /// The address the socket is bound to; `None` until it is.
    pub bound: Option<SocketAddr>,
    /// host:port given to clients.
    pub advertised: String,
    /// The accept loop runs.
    pub serving: bool,
    pub connections_open: u64,
    /// Connections accepted since start, past the connection limits.
    pub connections_accepted_total: u64,
    /// SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<SaslSnapshot>,
    /// SSL and SASL_SSL.
    pub tls: Option<TlsSnapshot>,
}

/// A SASL listener's mechanisms and exchanges since start, in Kafka's metric names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSnapshot {
    /// `sasl.enabled.mechanisms`, in the order given.
    pub mechanisms: Vec<SaslMechanism>,
    pub successful_authentication_total: u64,
    pub failed_authentication_total: u64,
    pub successful_reauthentication_total: u64,
    pub failed_reauthentication_total: u64,
}

/// A TLS listener's client authentication, failed handshakes and served certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSnapshot {
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
    pub handshake_failures_total: u64,
    /// The certificate new connections are served; `None` if its leaf does not parse.
    pub certificate: Option<ServedCertificate>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::endpoints::parse_listeners;

    fn status(listeners: &str) -> Arc<ListenerStatus> {
        let endpoint = parse_listeners(
            listeners,
            "",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        )
        .unwrap()
        .remove(0);
        let mechanisms = if endpoint.protocol.uses_sasl() {
            vec![SaslMechanism::OAuthBearer, SaslMechanism::Plain]
        } else {
            Vec::new()
        };
        Arc::new(ListenerStatus::new(&endpoint, None, mechanisms))
    }

    #[test]
    fn the_bound_port_replaces_port_zero_and_serving_follows_the_guard() {
        let s = status("PLAINTEXT://127.0.0.1:0");
        let before = s.snapshot();
        assert_eq!(before.bound, None, "not bound yet");
        assert!(!before.serving);
        assert_eq!(before.advertised, "127.0.0.1:0");
        assert_eq!(&*before.name, "PLAINTEXT");
        assert_eq!(before.sasl, None);
        assert_eq!(before.tls, None);

        s.bound("127.0.0.1:40123".parse().unwrap());
        let serving = s.serving();
        let now = s.snapshot();
        assert_eq!(now.bound, Some("127.0.0.1:40123".parse().unwrap()));
        assert!(now.serving);
        drop(serving);
        assert!(!s.snapshot().serving, "the accept loop ended");
    }

    #[test]
    fn connections_count_open_until_their_guard_drops_and_accepted_for_ever() {
        let s = status("PLAINTEXT://127.0.0.1:9092");
        let a = s.connection_opened();
        let b = s.connection_opened();
        let snap = s.snapshot();
        assert_eq!(
            (snap.connections_open, snap.connections_accepted_total),
            (2, 2)
        );
        drop(a);
        let c = s.connection_opened();
        drop(b);
        let snap = s.snapshot();
        assert_eq!(
            (snap.connections_open, snap.connections_accepted_total),
            (1, 3)
        );
        drop(c);
        assert_eq!(s.snapshot().connections_open, 0);
    }

    #[test]
    fn guards_count_from_many_threads_without_losing_any() {
        let s = status("PLAINTEXT://127.0.0.1:9092");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1_000 {
                        let open = s.connection_opened();
                        s.authentication_failed(false);
                        drop(open);
                    }
                });
            }
        });
        let snap = s.snapshot();
        assert_eq!(snap.connections_open, 0);
        assert_eq!(snap.connections_accepted_total, 4_000);
    }

    #[test]
    fn sasl_exchanges_are_counted_by_outcome_and_kind() {
        let s = status("SASL_PLAINTEXT://127.0.0.1:9093");
        s.authentication_succeeded(false);
        s.authentication_succeeded(false);
        s.authentication_failed(false);
        s.authentication_succeeded(true);
        s.authentication_failed(true);
        s.authentication_failed(true);
        assert_eq!(
            s.snapshot().sasl,
            Some(SaslSnapshot {
                mechanisms: vec![SaslMechanism::OAuthBearer, SaslMechanism::Plain],
                successful_authentication_total: 2,
                failed_authentication_total: 1,
                successful_reauthentication_total: 1,
                failed_reauthentication_total: 2,
            })
        );
    }
}
