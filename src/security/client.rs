//! A client's security: which of Kafka's security protocols a connection speaks, the rustls
//! client configuration for SSL and SASL_SSL, and the SASL mechanism and credentials for
//! SASL_PLAINTEXT and SASL_SSL. The broker's own connections to other brokers get theirs from
//! the inter-broker listener ([`ClientSecurity::inter_broker`]), as Kafka derives them.
//!
//! Pure: it reads the PEM files the settings name, never a socket (the `client` room applies
//! it to its connections). Its `Debug` and its errors never show a password or key.

use std::fmt;
use std::sync::Arc;

use super::jaas::{JaasConfig, JaasError};
use super::sasl_client::{SaslClientConfig, SaslClientError};
use super::tls::{build_client_config, ClientTlsSettings, TlsError, TlsSettings};
use super::{SaslMechanism, SecurityProtocol};

/// Kafka's broker property naming the mechanism brokers authenticate to each other with.
pub const SASL_MECHANISM_INTER_BROKER_PROTOCOL: &str = "sasl.mechanism.inter.broker.protocol";

/// Why a client security could not be built. Names properties and files, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ClientSecurityError {
    #[error("listener {listener}: TLS for the broker's own connections: {source}")]
    Tls {
        listener: String,
        #[source]
        source: TlsError,
    },
    #[error("{SASL_MECHANISM_INTER_BROKER_PROTOCOL}={mechanism} is not supported (Kafka's default is GSSAPI, which Troupe does not implement): set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 when the inter-broker listener {listener} uses SASL")]
    UnsupportedInterBrokerMechanism { listener: String, mechanism: String },
    #[error("{SASL_MECHANISM_INTER_BROKER_PROTOCOL}={mechanism} must be one of the inter-broker listener {listener}'s sasl.enabled.mechanisms")]
    MechanismNotEnabled { listener: String, mechanism: String },
    #[error("listener {listener}: the broker authenticates to other brokers as the username and password options of {property}, which is not set")]
    MissingJaas { listener: String, property: String },
    #[error("listener {listener}: {property}: {source}")]
    Jaas {
        listener: String,
        property: String,
        #[source]
        source: JaasError,
    },
    #[error("{0}")]
    Sasl(#[from] SaslClientError),
    #[error("security protocol {protocol} needs {what}")]
    Incomplete {
        protocol: &'static str,
        what: &'static str,
    },
}

/// How a client connection is secured.
#[derive(Clone)]
pub struct ClientSecurity {
    protocol: SecurityProtocol,
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<SaslClientConfig>,
}

impl fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol.name())
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl Default for ClientSecurity {
    fn default() -> Self {
        ClientSecurity::plaintext()
    }
}

impl ClientSecurity {
    pub fn plaintext() -> ClientSecurity {
        ClientSecurity {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }

    /// A protocol with what it needs: a TLS configuration for SSL and SASL_SSL, SASL
    /// credentials for SASL_PLAINTEXT and SASL_SSL (and nothing it does not use).
    pub fn new(
        protocol: SecurityProtocol,
        tls: Option<Arc<rustls::ClientConfig>>,
        sasl: Option<SaslClientConfig>,
    ) -> Result<ClientSecurity, ClientSecurityError> {
        let incomplete = |what| ClientSecurityError::Incomplete {
            protocol: protocol.name(),
            what,
        };
        if protocol.uses_tls() && tls.is_none() {
            return Err(incomplete("a TLS configuration"));
        }
        if protocol.uses_sasl() && sasl.is_none() {
            return Err(incomplete("a SASL mechanism and credentials"));
        }
        Ok(ClientSecurity {
            protocol,
            tls: tls.filter(|_| protocol.uses_tls()),
            sasl: sasl.filter(|_| protocol.uses_sasl()),
        })
    }

    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The TLS client configuration (SSL, SASL_SSL).
    pub fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    /// The SASL mechanism and credentials (SASL_PLAINTEXT, SASL_SSL).
    pub fn sasl(&self) -> Option<&SaslClientConfig> {
        self.sasl.as_ref()
    }

    /// The broker's security towards other brokers, from its inter-broker listener, as Kafka
    /// derives it: the listener's security protocol; for TLS its truststore as trust and its
    /// keystore as the client certificate ([`ClientTlsSettings::from_listener`]); for SASL
    /// `sasl.mechanism.inter.broker.protocol` (refused unless PLAIN or SCRAM, and unless the
    /// listener enables it) with the `username` and `password` options of that listener's
    /// JAAS config for the mechanism (Kafka's PlainLoginModule and ScramLoginModule client
    /// options).
    ///
    /// `lookup` resolves a property as the listener sees it (`listener.name.<l>.` first);
    /// `jaas` gives the JAAS config of a mechanism on the listener (empty when unset).
    pub fn inter_broker(
        listener: &str,
        protocol: SecurityProtocol,
        lookup: impl Fn(&str) -> Option<String>,
        jaas: impl Fn(&str) -> String,
    ) -> Result<ClientSecurity, ClientSecurityError> {
        let tls = if protocol.uses_tls() {
            let tls_error = |source| ClientSecurityError::Tls {
                listener: listener.to_string(),
                source,
            };
            let settings = TlsSettings::from_lookup(&lookup).map_err(tls_error)?;
            let client = ClientTlsSettings::from_listener(&settings).map_err(tls_error)?;
            Some(build_client_config(&client).map_err(tls_error)?)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(inter_broker_sasl(listener, &lookup, jaas)?)
        } else {
            None
        };
        ClientSecurity::new(protocol, tls, sasl)
    }
}

fn inter_broker_sasl(
    listener: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    jaas: impl Fn(&str) -> String,
) -> Result<SaslClientConfig, ClientSecurityError> {
    let name = lookup(SASL_MECHANISM_INTER_BROKER_PROTOCOL)
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GSSAPI".to_string());
    let mechanism = SaslMechanism::from_name(&name)
        .filter(|m| !matches!(m, SaslMechanism::OAuthBearer))
        .ok_or_else(|| ClientSecurityError::UnsupportedInterBrokerMechanism {
            listener: listener.to_string(),
            mechanism: name.clone(),
        })?;
    let enabled = lookup("sasl.enabled.mechanisms").unwrap_or_default();
    if !enabled.split(',').any(|m| m.trim() == name) {
        return Err(ClientSecurityError::MechanismNotEnabled {
            listener: listener.to_string(),
            mechanism: name,
        });
    }
    let property = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    );
    let value = jaas(&name);
    if value.trim().is_empty() {
        return Err(ClientSecurityError::MissingJaas {
            listener: listener.to_string(),
            property,
        });
    }
    let jaas_error = |source| ClientSecurityError::Jaas {
        listener: listener.to_string(),
        property: property.clone(),
        source,
    };
    let credentials = JaasConfig::parse(&value)
        .and_then(|j| j.client_credentials())
        .map_err(jaas_error)?;
    Ok(SaslClientConfig::new(
        mechanism,
        credentials.username,
        credentials.password,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inter_broker(
        protocol: SecurityProtocol,
        props: &[(&str, &str)],
        jaas: &[(&str, &str)],
    ) -> Result<ClientSecurity, ClientSecurityError> {
        let props: HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let jaas: HashMap<String, String> = jaas
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientSecurity::inter_broker(
            "BROKER",
            protocol,
            |p| props.get(p).cloned(),
            |m| jaas.get(m).cloned().unwrap_or_default(),
        )
    }

    const SCRAM_JAAS: &str = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";"#;

    #[test]
    fn sasl_plaintext_takes_the_mechanism_and_the_jaas_username_and_password() {
        let s = inter_broker(
            SecurityProtocol::SaslPlaintext,
            &[
                (SASL_MECHANISM_INTER_BROKER_PROTOCOL, "SCRAM-SHA-512"),
                ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
            ],
            &[("SCRAM-SHA-512", SCRAM_JAAS)],
        )
        .unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::SaslPlaintext);
        assert!(s.tls().is_none());
        let sasl = s.sasl().unwrap();
        assert_eq!(sasl.username(), "broker");
        assert_eq!(sasl.mechanism().name(), "SCRAM-SHA-512");
        let debug = format!("{s:?}");
        assert!(!debug.contains("broker-secret"), "{debug}");
    }

    #[test]
    fn gssapi_the_kafka_default_is_refused_with_a_clear_error() {
        let enabled = [("sasl.enabled.mechanisms", "PLAIN")];
        let err = inter_broker(SecurityProtocol::SaslPlaintext, &enabled, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sasl.mechanism.inter.broker.protocol=GSSAPI"),
            "{err}"
        );
        assert!(
            err.contains("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            "{err}"
        );
        for m in ["OAUTHBEARER", "scram-sha-512", "NOPE"] {
            let err = inter_broker(
                SecurityProtocol::SaslPlaintext,
                &[(SASL_MECHANISM_INTER_BROKER_PROTOCOL, m)],
                &[],
            )
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ClientSecurityError::UnsupportedInterBrokerMechanism { .. }
                ),
                "{m}: {err}"
            );
        }
    }

    #[test]
    fn the_mechanism_must_be_enabled_and_have_credentials_whose_password_is_never_printed() {
        let err = inter_broker(
            SecurityProtocol::SaslPlaintext,
            &[
                (SASL_MECHANISM_INTER_BROKER_PROTOCOL, "PLAIN"),
                ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
            ],
            &[],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ClientSecurityError::MechanismNotEnabled { .. }
        ));
        let props = [
            (SASL_MECHANISM_INTER_BROKER_PROTOCOL, "PLAIN"),
            ("sasl.enabled.mechanisms", "PLAIN"),
        ];
        let err = inter_broker(SecurityProtocol::SaslPlaintext, &props, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listener.name.broker.plain.sasl.jaas.config"),
            "{err}"
        );
        // A broker's PLAIN JAAS with only its users: no client credentials in it.
        let users_only = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="s3cret-pw";"#;
        let err = inter_broker(
            SecurityProtocol::SaslPlaintext,
            &props,
            &[("PLAIN", users_only)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("username"), "{err}");
        assert!(!err.contains("s3cret-pw"), "{err}");
        let with_client = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="s3cret-pw" user_broker="s3cret-pw";"#;
        let s = inter_broker(
            SecurityProtocol::SaslPlaintext,
            &props,
            &[("PLAIN", with_client)],
        )
        .unwrap();
        assert_eq!(s.sasl().unwrap().username(), "broker");
    }

    #[test]
    fn ssl_needs_the_listeners_stores_and_plaintext_needs_nothing() {
        let err = inter_broker(
            SecurityProtocol::Ssl,
            &[("ssl.keystore.location", "/nonexistent/broker.pem")],
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listener BROKER"), "{err}");
        assert!(err.contains("ssl.truststore.location"), "{err}");
        let s = inter_broker(SecurityProtocol::Plaintext, &[], &[]).unwrap();
        assert!(s.tls().is_none() && s.sasl().is_none());
        assert!(matches!(
            ClientSecurity::new(SecurityProtocol::SaslSsl, None, None),
            Err(ClientSecurityError::Incomplete { .. })
        ));
    }
}
