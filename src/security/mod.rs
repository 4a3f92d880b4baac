//! SASL's pure core: the PLAIN and SCRAM server exchanges and Kafka's JAAS option syntax.
//!
//! This room owns only the arithmetic and parsing of authentication, so it can be tested
//! byte for byte against the RFCs without a broker. It may not touch sockets, actors or
//! metadata: the connection layer feeds it the bytes of SaslAuthenticate requests and decides
//! what to answer, and whoever stores SCRAM credentials hands them in as [`ScramCredential`]s.
//! It imports nothing else from the broker.
//!
//! Secrets (passwords, salted passwords, keys) never reach a `Debug`, `Display` or error
//! text: they live in [`Secret`] or in types whose `Debug` redacts them.

pub mod add_scram;
pub mod jaas;
pub mod plain;
pub mod scram;

pub use add_scram::{parse_add_scram, AddScramError, ScramBootstrap};
pub use jaas::{ClientCredentials, ControlFlag, JaasConfig, JaasError};
pub use plain::{PlainError, PlainUsers};
pub use scram::{ScramCredential, ScramError, ScramMechanism, ScramServer, ScramSuccess};

use std::fmt;

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
