//! TLS on the dialing side of a broker's own connections (replica fetchers, transaction
//! marker channels, the controller quorum's RPC): a rustls `ClientConfig` that trusts the
//! listener's truststore and presents its keystore as the client certificate, as Kafka's
//! broker does with the inter-broker listener's `ssl.*` settings; and the quorum's server
//! configuration, which requires such a certificate from every peer (mutual TLS).
//!
//! The server's certificate is checked against the host the broker dials (its IP SANs for an
//! IP address), as Kafka's default `ssl.endpoint.identification.algorithm=https` does.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};

use super::{
    load_key_material, load_truststore, ring_provider, select_cipher_suites, ClientAuth, Keystore,
    TlsError, TlsSettings, TlsVersion, Truststore, SSL_CIPHER_SUITES, SSL_ENABLED_PROTOCOLS,
    SSL_KEYSTORE_CERTIFICATE_CHAIN, SSL_KEYSTORE_KEY, SSL_KEYSTORE_LOCATION,
    SSL_TRUSTSTORE_LOCATION,
};
use crate::security::Secret;

/// What a TLS client needs: whom to trust, and optionally which certificate to present.
#[derive(Debug, Clone)]
pub struct ClientTlsSettings {
    /// The CA certificates the server's certificate must chain to.
    pub truststore: Truststore,
    /// The client certificate and its key (mutual TLS); `None` presents none.
    pub keystore: Option<Keystore>,
    /// `ssl.key.password` of an encrypted keystore key.
    pub key_password: Option<Secret>,
    /// Never empty.
    pub protocols: Vec<TlsVersion>,
    /// IANA names; empty means rustls' defaults.
    pub cipher_suites: Vec<String>,
}

impl ClientTlsSettings {
    /// A broker's client side of its inter-broker listener, as Kafka derives it: the
    /// listener's truststore is what peers' certificates must chain to, its keystore is the
    /// client certificate, its protocols and cipher suites apply too. A listener without a
    /// truststore is refused: a broker has no other trust (no JVM default store here).
    pub fn from_listener(settings: &TlsSettings) -> Result<ClientTlsSettings, TlsError> {
        let truststore = settings.truststore.clone().ok_or(TlsError::Missing {
            property: SSL_TRUSTSTORE_LOCATION,
        })?;
        Ok(ClientTlsSettings {
            truststore,
            keystore: Some(settings.keystore.clone()),
            key_password: settings.key_password.clone(),
            protocols: settings.protocols.clone(),
            cipher_suites: settings.cipher_suites.clone(),
        })
    }
}

/// The rustls client configuration of `settings`, reading the stores now. No ALPN.
pub fn build_client_config(settings: &ClientTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: select_cipher_suites(&settings.cipher_suites)?,
        ..ring_provider()
    });
    let versions: Vec<&'static SupportedProtocolVersion> =
        settings.protocols.iter().map(|v| v.rustls()).collect();
    let (roots, _) = load_truststore(&settings.truststore)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls {
            context: format!("{SSL_ENABLED_PROTOCOLS} with {SSL_CIPHER_SUITES}"),
            source,
        })?
        .with_root_certificates(roots);
    let config = match &settings.keystore {
        None => builder.with_no_client_auth(),
        Some(keystore) => {
            let material = load_key_material(keystore, settings.key_password.as_ref())?;
            builder
                .with_client_auth_cert(material.chain, material.key)
                .map_err(|source| TlsError::Rustls {
                    context: match keystore {
                        Keystore::File(path) => {
                            format!("{SSL_KEYSTORE_LOCATION} ({})", path.display())
                        }
                        Keystore::Inline { .. } => {
                            format!("{SSL_KEYSTORE_KEY} with {SSL_KEYSTORE_CERTIFICATE_CHAIN}")
                        }
                    },
                    source,
                })?
        }
    };
    Ok(Arc::new(config))
}

/// The server side of a broker-to-broker protocol of its own (the controller quorum's RPC)
/// over the inter-broker listener's stores: its keystore as the server certificate, and a
/// peer certificate chaining to its truststore required whatever the listener's
/// `ssl.client.auth` says (a peer is always another broker).
pub fn build_peer_server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let mut mutual = settings.clone();
    mutual.client_auth = ClientAuth::Required;
    super::build_server_config(&mutual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::ServerName;
    use std::path::PathBuf;

    #[test]
    fn a_listener_without_a_truststore_gives_no_client_side() {
        let settings = TlsSettings::from_lookup(|p| {
            (p == SSL_KEYSTORE_LOCATION).then(|| "/nonexistent/keystore.pem".to_string())
        })
        .unwrap();
        let err = ClientTlsSettings::from_listener(&settings).unwrap_err();
        assert!(err.to_string().contains(SSL_TRUSTSTORE_LOCATION), "{err}");
    }

    #[test]
    fn unreadable_stores_name_the_property_and_file() {
        let settings = ClientTlsSettings {
            truststore: Truststore::File(PathBuf::from("/nonexistent/ca.pem")),
            keystore: None,
            key_password: None,
            protocols: vec![TlsVersion::Tls13],
            cipher_suites: Vec::new(),
        };
        let err = build_client_config(&settings).unwrap_err().to_string();
        assert!(err.contains("ssl.truststore.location"), "{err}");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(ServerName::try_from("127.0.0.1").is_ok());
    }
}
