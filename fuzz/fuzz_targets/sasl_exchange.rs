//! Arbitrary bytes through one connection's SASL exchange (`security::SaslSession`), the
//! state machine an unauthenticated peer drives on a SASL listener.
//!
//! The first byte picks the mechanism SaslHandshake names (PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512, or one the listener does not enable); the rest is split at 0xFF bytes into
//! the SaslAuthenticate tokens, fed in order. A stored SCRAM credential exists for `user`.
//! The exchange must never panic, must end at its first error (every later step refused), may
//! report a principal only from a step that answered `Authenticated`, and no error may carry
//! the stored password.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use troupe::security::{
    PlainUsers, SaslError, SaslListenerConfig, SaslMechanism, SaslSession, SaslStep, ScramCredential,
    ScramMechanism, Secret,
};

fn listener() -> Arc<SaslListenerConfig> {
    static CONFIG: OnceLock<Arc<SaslListenerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(SaslListenerConfig {
                mechanisms: vec![
                    SaslMechanism::Plain,
                    SaslMechanism::Scram(ScramMechanism::Sha256),
                    SaslMechanism::Scram(ScramMechanism::Sha512),
                ],
                plain_users: PlainUsers::new([("user".to_string(), Secret::new("pencil"))]),
                oauthbearer: None,
            })
        })
        .clone()
}

/// Stored credentials for `user` (computed once: the 4096 iterations are the slow part).
fn credential(mechanism: ScramMechanism) -> ScramCredential {
    static SHA256: OnceLock<ScramCredential> = OnceLock::new();
    static SHA512: OnceLock<ScramCredential> = OnceLock::new();
    let cell = match mechanism {
        ScramMechanism::Sha256 => &SHA256,
        ScramMechanism::Sha512 => &SHA512,
    };
    cell.get_or_init(|| {
        ScramCredential::new(mechanism, "pencil", b"fuzz-salt-0123456", 4096).expect("valid")
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let mechanism = match choice % 4 {
        0 => "PLAIN",
        1 => "SCRAM-SHA-256",
        2 => "SCRAM-SHA-512",
        _ => "GSSAPI",
    };
    let mut session = SaslSession::new(listener());
    if session.handshake(mechanism).is_err() {
        assert_eq!(mechanism, "GSSAPI", "an enabled mechanism was refused");
        assert!(session.authenticate(rest, |_, _| None).is_err());
        return;
    }
    let mut ended = false;
    for token in rest.split(|b| *b == 0xFF) {
        let step = session.authenticate(token, |user, m| (user == "user").then(|| credential(m)));
        match step {
            Ok(SaslStep::Challenge(_)) => assert!(!ended, "a step after the end was answered"),
            Ok(SaslStep::Authenticated { principal, .. }) => {
                assert!(!ended, "a step after the end was answered");
                assert_eq!(principal, "User:user");
                assert!(session.is_authenticated());
                ended = true;
            }
            Err(SaslError::AuthenticationFailed(message)) => {
                // The stored PLAIN password must never appear in an error, unless the client
                // itself sent those bytes (a refused attribute name is named in the error).
                let sent = data.windows(6).any(|w| w == b"pencil");
                assert!(sent || !message.contains("pencil"), "an error repeated the password");
                assert!(!session.is_authenticated());
                ended = true;
            }
            Err(_) => ended = true,
        }
    }
});
