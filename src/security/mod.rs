//! Security's pure core: listener security protocols, the SASL exchange (PLAIN, SCRAM and
//! OAUTHBEARER server steps; PLAIN and SCRAM client steps with the [`ClientSecurity`] of a
//! broker's own connections to other brokers; OAUTHBEARER's JWT checks against a JWKS file: [`oauthbearer`]),
//! Kafka's JAAS option syntax, TLS (Kafka's `ssl.*` settings as a rustls server
//! configuration, the principal of a client certificate, keystore reload: [`tls`]) and ACL
//! authorization with the semantics of Kafka's StandardAuthorizer.
//!
//! This room owns only the arithmetic, parsing and decisions of authentication and
//! authorization, so it can be tested byte for byte against the RFCs and rule for rule
//! against Kafka without a broker. It may not touch sockets, actors or metadata: the
//! connection layer feeds it the bytes of SaslAuthenticate requests and decides what to
//! answer, whoever stores SCRAM credentials hands them in as [`ScramCredential`]s, and whoever
//! stores ACLs hands them in as [`AclBinding`]s and swaps the [`StandardAuthorizer`] built
//! from them. TLS reads the PEM files its settings name and polls them for reload, and
//! OAUTHBEARER reads its JWKS file (again when it changes), but neither opens a socket. It imports nothing else from the broker.
//!
//! Secrets (passwords, salted passwords, keys) never reach a `Debug`, `Display` or error
//! text: they live in [`Secret`] or in types whose `Debug` redacts them.

pub mod add_scram;
pub mod authorizer;
pub mod client;
pub mod client_properties;
pub mod jaas;
pub mod oauthbearer;
pub mod plain;
pub mod reauth;
pub mod sasl;
pub mod sasl_client;
pub mod scram;
pub mod tls;

pub use add_scram::{parse_add_scram, AddScramError, ScramBootstrap};
pub use authorizer::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclError, AclOperation, AclPermissionType,
    AuthorizerConfig, Decision, PatternType, ResourcePattern, ResourceType, StandardAuthorizer,
};
pub use client::{ClientSecurity, ClientSecurityError};
pub use jaas::{ClientCredentials, ControlFlag, JaasConfig, JaasError};
pub use oauthbearer::{OAuthBearerSettings, OAuthBearerValidator};
pub use plain::{PlainError, PlainUsers};
pub use sasl::{
    Reauthenticating, SaslError, SaslListenerConfig, SaslMechanism, SaslSession, SaslStep,
};
pub use sasl_client::{SaslClient, SaslClientConfig, SaslClientError};
pub use scram::{
    ScramClient, ScramCredential, ScramError, ScramMechanism, ScramServer, ScramSuccess,
};

use std::fmt;

/// Kafka's security protocols, one per listener (`listener.security.protocol.map`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's names, case-insensitive as Kafka parses them.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Kafka's wire id (Metadata v0 era `security_protocol_type`, DescribeCluster listeners).
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }
}

/// The principal of a connection that did not authenticate (PLAINTEXT, SSL without a client
/// certificate), as Kafka names it.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// A password or other secret string. Its `Debug` prints no part of it and it has no
/// `Display`, so it cannot slip into a log line by formatting.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the code that must compare or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_redacts() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
