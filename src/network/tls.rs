//! A TLS listener's server side: the handshake of each accepted socket (with a deadline, so a
//! peer that never finishes it holds nothing), the principal its client certificate names,
//! and the keystore reload that new connections pick up.
//!
//! The TLS arithmetic (stores, rustls config, subject DNs, mapping rules) is the security
//! room's; this file only applies it to sockets.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::BrokerConfig;
use crate::security::tls::{
    ClientAuth, PrincipalMapper, ReloadingAcceptor, ServedCertificate, TlsSettings,
};

/// A TLS stream as the connection serves it.
pub type ServerTlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the keystore and truststore files are checked for a change.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

pub struct TlsListener {
    acceptor: Arc<ReloadingAcceptor>,
    mapper: PrincipalMapper,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("acceptor", &self.acceptor)
            .finish()
    }
}

/// A finished handshake.
pub struct Accepted {
    pub stream: ServerTlsStream,
    /// `User:<mapped subject>` when the client presented a certificate.
    pub principal: Option<String>,
}

impl TlsListener {
    /// The listener's TLS settings as Kafka resolves them (`listener.name.<l>.ssl.*` first,
    /// then the broker-wide `ssl.*`). Errors name the property and file, never key material.
    pub fn from_config(listener: &str, config: &BrokerConfig) -> Result<TlsListener, String> {
        let settings = TlsSettings::from_lookup(|property| {
            let value = config.listener_value(listener, property);
            (!value.is_empty()).then(|| value.to_string())
        })
        .map_err(|e| format!("listener {listener}: {e}"))?;
        let acceptor =
            ReloadingAcceptor::new(settings).map_err(|e| format!("listener {listener}: {e}"))?;
        let mapper =
            PrincipalMapper::parse(config.listener_value(listener, "ssl.principal.mapping.rules"))
                .map_err(|e| format!("listener {listener}: ssl.principal.mapping.rules: {e}"))?;
        Ok(TlsListener {
            acceptor: Arc::new(acceptor),
            mapper,
        })
    }

    /// Starts re-reading the stores when they change (on the current runtime); also call
    /// [`TlsListener::reload`] on SIGHUP.
    pub fn watch_files(&self) {
        self.acceptor.spawn_reload_watcher(RELOAD_INTERVAL);
    }

    /// Re-reads the stores now if a file changed; a broken file is refused (and logged) and
    /// the current certificates stay.
    pub fn reload(&self) {
        let _ = self.acceptor.reload_if_changed();
    }

    /// The certificate new connections are served (it changes with a reload).
    pub fn certificate(&self) -> Option<ServedCertificate> {
        self.acceptor.certificate()
    }

    /// `ssl.client.auth` of this listener.
    pub fn client_auth(&self) -> ClientAuth {
        self.acceptor.settings().client_auth
    }

    pub async fn accept(&self, tcp: TcpStream) -> io::Result<Accepted> {
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.acceptor().accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let principal = match stream.get_ref().1.peer_certificates() {
            Some(certs) => self
                .mapper
                .client_principal(certs)
                .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?,
            None => None,
        };
        Ok(Accepted { stream, principal })
    }
}
