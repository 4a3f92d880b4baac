//! One connection's SASL exchange on the server side: SaslHandshake picks a mechanism,
//! SaslAuthenticate carries its tokens (KIP-152 framing), and the exchange ends authenticated
//! with a principal or failed.
//!
//! This is the state machine only; the connection layer decodes the requests, calls
//! [`SaslSession::handshake`] and [`SaslSession::authenticate`], encodes the answers and
//! closes the connection after a failure. SCRAM credentials are looked up through a closure
//! so this room stays ignorant of where they are stored (the cluster metadata).
//!
//! Re-authentication (KIP-368) runs the same exchange again on an authenticated connection
//! ([`SaslSession::reauthenticating`]); as in Kafka it must use the mechanism of the original
//! exchange and end with the same principal, or it fails.
//!
//! OAUTHBEARER (RFC 7628) answers an invalid token with Kafka's JSON error challenge
//! (`{"status":"invalid_token"}`); the client acknowledges it with a single `\x01` and the
//! exchange then fails with SASL_AUTHENTICATION_FAILED.

use std::sync::Arc;

use super::oauthbearer::{self, OAuthBearerValidator};
use super::plain::PlainUsers;
use super::scram::{ScramCredential, ScramMechanism, ScramServer};

/// A SASL mechanism Troupe serves, by Kafka's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        match name {
            "PLAIN" => Some(SaslMechanism::Plain),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            other => ScramMechanism::from_name(other).map(SaslMechanism::Scram),
        }
    }
}

/// What one SASL listener offers: its enabled mechanisms (in the operator's order, as
/// SaslHandshake lists them), for PLAIN its users, for OAUTHBEARER its token validator.
#[derive(Clone, Debug, Default)]
pub struct SaslListenerConfig {
    pub mechanisms: Vec<SaslMechanism>,
    pub plain_users: PlainUsers,
    pub oauthbearer: Option<Arc<OAuthBearerValidator>>,
}

impl SaslListenerConfig {
    pub fn mechanism_names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }
}

/// Why an exchange step was refused. The connection answers with the matching Kafka error
/// (see `error::SaslFailure`) and closes. Messages never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// SaslHandshake named a mechanism this listener does not enable.
    #[error("Unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    /// A request that this point of the exchange does not allow.
    #[error("Unexpected SASL request: {0}")]
    IllegalState(&'static str),
    /// The client's credentials (or its message) were not accepted.
    #[error("{0}")]
    AuthenticationFailed(String),
}

/// A step that went through: either more to say (SCRAM's server-first) or done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    Challenge(Vec<u8>),
    Authenticated {
        /// `User:<name>`.
        principal: String,
        /// The last server token (SCRAM's server-final; empty for PLAIN).
        token: Vec<u8>,
    },
}

enum State {
    AwaitingHandshake,
    Handshaken(SaslMechanism),
    Scram(Box<ScramServer>),
    /// OAUTHBEARER sent its error challenge; the client's `\x01` ends the exchange. Holds why
    /// the token was refused.
    OAuthBearerRefused(String),
    /// Re-authentication named another mechanism than the original exchange's. Kafka answers
    /// the SaslHandshake with NONE and fails the next SaslAuthenticate with this message.
    ReauthBadMechanism(String),
    Authenticated,
    Failed,
}

/// The exchange of one connection.
pub struct SaslSession {
    config: Arc<SaslListenerConfig>,
    mechanism: Option<SaslMechanism>,
    state: State,
    /// Set when this exchange re-authenticates a session: what it must match.
    reauthenticating: Option<Reauthenticating>,
    /// When the credential that authenticated expires (ms since the epoch): an OAUTHBEARER
    /// token's `exp`. `None` for credentials without one (PLAIN, SCRAM).
    credential_expiry_ms: Option<i64>,
}

/// The session a re-authentication renews: its mechanism and principal must not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reauthenticating {
    pub mechanism: SaslMechanism,
    /// `User:<name>`.
    pub principal: String,
}

impl std::fmt::Debug for SaslSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::AwaitingHandshake => "awaiting handshake",
            State::Handshaken(_) => "handshaken",
            State::Scram(_) => "scram in progress",
            State::OAuthBearerRefused(_) => "oauthbearer token refused",
            State::ReauthBadMechanism(_) => "re-authentication with another mechanism",
            State::Authenticated => "authenticated",
            State::Failed => "failed",
        };
        f.debug_struct("SaslSession")
            .field("state", &state)
            .finish()
    }
}

impl SaslSession {
    pub fn new(config: Arc<SaslListenerConfig>) -> SaslSession {
        SaslSession {
            config,
            mechanism: None,
            state: State::AwaitingHandshake,
            reauthenticating: None,
            credential_expiry_ms: None,
        }
    }

    /// A re-authentication (KIP-368) of the session `previous` authenticated.
    pub fn reauthenticating(
        config: Arc<SaslListenerConfig>,
        previous: Reauthenticating,
    ) -> SaslSession {
        SaslSession {
            reauthenticating: Some(previous),
            ..SaslSession::new(config)
        }
    }

    pub fn is_reauthentication(&self) -> bool {
        self.reauthenticating.is_some()
    }

    /// When the credential of a finished exchange expires (ms since the epoch), if it does.
    pub fn credential_expiry_ms(&self) -> Option<i64> {
        self.credential_expiry_ms
    }

    pub fn config(&self) -> &SaslListenerConfig {
        &self.config
    }

    /// The mechanism SaslHandshake chose, once it did.
    pub fn mechanism(&self) -> Option<SaslMechanism> {
        self.mechanism
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Authenticated)
    }

    /// SaslHandshake: choose `mechanism` if this listener enables it.
    pub fn handshake(&mut self, mechanism: &str) -> Result<SaslMechanism, SaslError> {
        if !matches!(self.state, State::AwaitingHandshake) {
            self.state = State::Failed;
            return Err(SaslError::IllegalState(
                "SaslHandshake after the mechanism was chosen",
            ));
        }
        match SaslMechanism::from_name(mechanism).filter(|m| self.config.mechanisms.contains(m)) {
            Some(m) => {
                self.mechanism = Some(m);
                self.state = match &self.reauthenticating {
                    Some(previous) if previous.mechanism != m => State::ReauthBadMechanism(format!(
                        "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                        m.name(),
                        previous.mechanism.name()
                    )),
                    _ => State::Handshaken(m),
                };
                Ok(m)
            }
            None => {
                self.state = State::Failed;
                Err(SaslError::UnsupportedMechanism(mechanism.to_string()))
            }
        }
    }

    /// SaslAuthenticate: one client token. Any error ends the exchange for good.
    pub fn authenticate(
        &mut self,
        token: &[u8],
        scram_credential: impl FnOnce(&str, ScramMechanism) -> Option<ScramCredential>,
    ) -> Result<SaslStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (step, next) = match state {
            State::AwaitingHandshake => {
                return Err(SaslError::IllegalState(
                    "SaslAuthenticate before SaslHandshake",
                ))
            }
            State::Authenticated | State::Failed => {
                return Err(SaslError::IllegalState(
                    "SaslAuthenticate after the exchange ended",
                ))
            }
            State::Handshaken(SaslMechanism::Plain) => {
                let user = self
                    .config
                    .plain_users
                    .authenticate(token)
                    .map_err(|e| SaslError::AuthenticationFailed(e.to_string()))?;
                let step = SaslStep::Authenticated {
                    principal: format!("User:{user}"),
                    token: Vec::new(),
                };
                (step, State::Authenticated)
            }
            State::Handshaken(SaslMechanism::Scram(mechanism)) => {
                let mut server = Box::new(ScramServer::new(mechanism));
                let server_first = server
                    .client_first(token, |user| scram_credential(user, mechanism))
                    .map_err(|e| scram_failed(mechanism, &e))?;
                (
                    SaslStep::Challenge(server_first.into_bytes()),
                    State::Scram(server),
                )
            }
            State::ReauthBadMechanism(reason) => {
                return Err(SaslError::AuthenticationFailed(reason))
            }
            State::Handshaken(SaslMechanism::OAuthBearer) => {
                let (step, next, expiry) =
                    oauthbearer_initial(self.config.oauthbearer.as_deref(), token)?;
                self.credential_expiry_ms = expiry;
                (step, next)
            }
            State::OAuthBearerRefused(reason) => {
                return Err(SaslError::AuthenticationFailed(
                    if token == [oauthbearer::SEPARATOR] {
                        format!("Authentication failed: {reason}")
                    } else {
                        "Invalid OAUTHBEARER client message after an error challenge".into()
                    },
                ))
            }
            State::Scram(mut server) => {
                let mechanism = server.mechanism();
                let done = server
                    .client_final(token)
                    .map_err(|e| scram_failed(mechanism, &e))?;
                let step = SaslStep::Authenticated {
                    principal: format!("User:{}", done.user),
                    token: done.server_final.into_bytes(),
                };
                (step, State::Authenticated)
            }
        };
        if let (SaslStep::Authenticated { principal, .. }, Some(previous)) =
            (&step, &self.reauthenticating)
        {
            if *principal != previous.principal {
                // Kafka's ensurePrincipalUnchanged; the state stays Failed.
                return Err(SaslError::AuthenticationFailed(format!(
                    "Cannot change principals during re-authentication from {}: {}",
                    super::reauth::principal_for_message(&previous.principal),
                    super::reauth::principal_for_message(principal)
                )));
            }
        }
        self.state = next;
        Ok(step)
    }
}

/// OAUTHBEARER's only client step: a valid token authenticates its subject; a refused one
/// gets the JSON error challenge. A malformed message fails at once, as in Kafka.
/// On success also the token's `exp` in ms since the epoch (it bounds the session, KIP-368).
fn oauthbearer_initial(
    validator: Option<&OAuthBearerValidator>,
    token: &[u8],
) -> Result<(SaslStep, State, Option<i64>), SaslError> {
    let failed = |e: String| SaslError::AuthenticationFailed(e);
    let response = oauthbearer::parse_initial_response(token).map_err(|e| failed(e.to_string()))?;
    let validator = validator
        .ok_or_else(|| failed("OAUTHBEARER has no token validator on this listener".into()))?;
    match validator.validate(&response.token) {
        Ok(valid) => {
            if !response.authzid.is_empty() && response.authzid != valid.principal_name {
                return Err(failed(
                    "Authentication failed: Client requested an authorization id that is different from the token's principal name".into(),
                ));
            }
            let step = SaslStep::Authenticated {
                principal: format!("User:{}", valid.principal_name),
                token: Vec::new(),
            };
            let expiry_ms = i64::try_from(valid.expires_at)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            Ok((step, State::Authenticated, Some(expiry_ms)))
        }
        Err(e) => Ok((
            SaslStep::Challenge(oauthbearer::INVALID_TOKEN_CHALLENGE.as_bytes().to_vec()),
            State::OAuthBearerRefused(e.to_string()),
            None,
        )),
    }
}

/// Kafka's wording for bad credentials (which never tells an unknown user from a wrong
/// password); a malformed message is named as such. No variant carries a secret.
fn scram_failed(mechanism: ScramMechanism, reason: &super::scram::ScramError) -> SaslError {
    use super::scram::ScramError;
    SaslError::AuthenticationFailed(match reason {
        ScramError::UnknownUser | ScramError::InvalidProof => format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
            mechanism.name()
        ),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Secret;

    fn config(mechanisms: &[SaslMechanism]) -> Arc<SaslListenerConfig> {
        Arc::new(SaslListenerConfig {
            mechanisms: mechanisms.to_vec(),
            plain_users: PlainUsers::new([
                ("alice".to_string(), Secret::new("alice-secret")),
                ("bob".to_string(), Secret::new("bob-secret")),
            ]),
            oauthbearer: None,
        })
    }

    fn no_credentials(_: &str, _: ScramMechanism) -> Option<ScramCredential> {
        None
    }

    #[test]
    fn plain_exchange_authenticates_a_known_user() {
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        assert_eq!(s.handshake("PLAIN"), Ok(SaslMechanism::Plain));
        let step = s.authenticate(b"\0alice\0alice-secret", no_credentials);
        assert_eq!(
            step,
            Ok(SaslStep::Authenticated {
                principal: "User:alice".into(),
                token: vec![]
            })
        );
        assert!(s.is_authenticated());
        // A second exchange on the same session is out of order.
        assert!(matches!(
            s.authenticate(b"\0alice\0alice-secret", no_credentials),
            Err(SaslError::IllegalState(_))
        ));
    }

    #[test]
    fn plain_wrong_password_fails_without_naming_it() {
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        s.handshake("PLAIN").unwrap();
        let err = s
            .authenticate(b"\0alice\0guess-123", no_credentials)
            .unwrap_err();
        assert!(matches!(err, SaslError::AuthenticationFailed(_)));
        assert!(!err.to_string().contains("guess-123"));
        assert!(!s.is_authenticated());
    }

    #[test]
    fn handshake_refuses_a_mechanism_the_listener_does_not_enable() {
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        assert_eq!(
            s.handshake("SCRAM-SHA-256"),
            Err(SaslError::UnsupportedMechanism("SCRAM-SHA-256".into()))
        );
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        assert!(matches!(
            s.handshake("GSSAPI"),
            Err(SaslError::UnsupportedMechanism(_))
        ));
    }

    #[test]
    fn out_of_order_requests_are_illegal_state() {
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        assert!(matches!(
            s.authenticate(b"\0alice\0alice-secret", no_credentials),
            Err(SaslError::IllegalState(_))
        ));
        let mut s = SaslSession::new(config(&[SaslMechanism::Plain]));
        s.handshake("PLAIN").unwrap();
        assert!(matches!(
            s.handshake("PLAIN"),
            Err(SaslError::IllegalState(_))
        ));
    }

    /// The client side of RFC 5802 for `pencil`, computed here: the client-final message for
    /// `server_first`, sending `nonce` as its r= attribute.
    fn client_final(
        salt: &[u8],
        client_first_bare: &str,
        server_first: &str,
        nonce: &str,
    ) -> String {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        use hmac::{Hmac, Mac};
        use sha2::{Digest, Sha256};

        let hmac = |key: &[u8], data: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        };
        let mut salted = hmac(b"pencil", &[salt, &[0, 0, 0, 1]].concat());
        let mut u = salted.clone();
        for _ in 1..4096 {
            u = hmac(b"pencil", &u);
            salted.iter_mut().zip(&u).for_each(|(a, b)| *a ^= b);
        }
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = Sha256::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    /// Runs a SCRAM-SHA-256 exchange for `user`/`pencil`; `nonce_sent` picks the r= of the
    /// client-final from (client nonce, combined nonce).
    fn scram_exchange(nonce_sent: impl Fn(&str, &str) -> String) -> Result<SaslStep, SaslError> {
        let mech = ScramMechanism::Sha256;
        let salt = b"0123456789abcdef";
        let stored = ScramCredential::new(mech, "pencil", salt, 4096).unwrap();
        let mut s = SaslSession::new(config(&[SaslMechanism::Scram(mech)]));
        s.handshake("SCRAM-SHA-256").unwrap();
        let client_first_bare = "n=user,r=clientnonce";
        let lookup = |user: &str, m: ScramMechanism| {
            assert_eq!((user, m), ("user", mech));
            Some(stored.clone())
        };
        let SaslStep::Challenge(server_first) = s
            .authenticate(format!("n,,{client_first_bare}").as_bytes(), lookup)
            .unwrap()
        else {
            panic!("expected a challenge")
        };
        let server_first = String::from_utf8(server_first).unwrap();
        let combined = server_first
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .unwrap()
            .to_string();
        assert!(combined.starts_with("clientnonce"));
        let nonce = nonce_sent("clientnonce", &combined);
        let message = client_final(salt, client_first_bare, &server_first, &nonce);
        let outcome = s.authenticate(message.as_bytes(), no_credentials);
        assert_eq!(s.is_authenticated(), outcome.is_ok());
        outcome
    }

    #[test]
    fn scram_exchange_authenticates_with_a_stored_credential() {
        let step = scram_exchange(|_, combined| combined.to_string()).unwrap();
        let SaslStep::Authenticated { principal, token } = step else {
            panic!("expected success")
        };
        assert_eq!(principal, "User:user");
        assert!(String::from_utf8(token).unwrap().starts_with("v="));
    }

    /// librdkafka 2.0 (Debian's kcat) repeats its own nonce in front of the combined one;
    /// exactly that form is accepted, any other prefix is not.
    #[test]
    fn scram_accepts_the_legacy_librdkafka_nonce_and_nothing_looser() {
        let legacy = scram_exchange(|client, combined| format!("{client}{combined}"));
        assert!(
            matches!(legacy, Ok(SaslStep::Authenticated { .. })),
            "{legacy:?}"
        );
        let other_prefix = scram_exchange(|_, combined| format!("xxxxxxxxxxx{combined}"));
        assert!(matches!(
            other_prefix,
            Err(SaslError::AuthenticationFailed(_))
        ));
        let truncated = scram_exchange(|_, combined| combined[1..].to_string());
        assert!(matches!(truncated, Err(SaslError::AuthenticationFailed(_))));
    }

    fn oauth_session(f: &crate::security::oauthbearer::tests::Fixture) -> SaslSession {
        use crate::security::oauthbearer::tests::validator;
        let config = Arc::new(SaslListenerConfig {
            mechanisms: vec![SaslMechanism::OAuthBearer],
            plain_users: PlainUsers::default(),
            oauthbearer: Some(Arc::new(validator(f))),
        });
        let mut s = SaslSession::new(config);
        assert_eq!(s.handshake("OAUTHBEARER"), Ok(SaslMechanism::OAuthBearer));
        s
    }

    fn initial_response(authzid: &str, token: &str) -> Vec<u8> {
        format!("n,{authzid},\x01auth=Bearer {token}\x01\x01").into_bytes()
    }

    #[test]
    fn oauthbearer_valid_token_authenticates_its_subject() {
        use crate::security::oauthbearer::tests::{claims, fixture, sign_rsa};
        let f = fixture();
        let mut s = oauth_session(&f);
        let token = sign_rsa(&claims(), "rsa-1");
        assert_eq!(
            s.authenticate(&initial_response("a=alice", &token), no_credentials),
            Ok(SaslStep::Authenticated {
                principal: "User:alice".into(),
                token: vec![]
            })
        );
        assert!(s.is_authenticated());
        // An authorization id other than the subject is refused.
        let mut s = oauth_session(&f);
        let err = s
            .authenticate(&initial_response("a=bob", &token), no_credentials)
            .unwrap_err();
        assert!(matches!(err, SaslError::AuthenticationFailed(_)));
    }

    #[test]
    fn oauthbearer_refused_token_gets_the_error_challenge_then_fails() {
        use crate::security::oauthbearer::tests::{claims, fixture, sign_rsa};
        let f = fixture();
        let mut s = oauth_session(&f);
        let token = sign_rsa(&claims(), "unknown-kid");
        assert_eq!(
            s.authenticate(&initial_response("", &token), no_credentials),
            Ok(SaslStep::Challenge(
                br#"{"status":"invalid_token"}"#.to_vec()
            ))
        );
        let err = s.authenticate(b"\x01", no_credentials).unwrap_err();
        let SaslError::AuthenticationFailed(message) = &err else {
            panic!("{err:?}")
        };
        assert!(!message.contains(&token) && !message.contains("unknown-kid"));
        assert!(!s.is_authenticated());
        assert!(matches!(
            s.authenticate(&initial_response("", &token), no_credentials),
            Err(SaslError::IllegalState(_))
        ));
        // Anything but \x01 after the challenge also ends the exchange.
        let mut s = oauth_session(&f);
        s.authenticate(&initial_response("", &token), no_credentials)
            .unwrap();
        assert!(matches!(
            s.authenticate(&initial_response("", &token), no_credentials),
            Err(SaslError::AuthenticationFailed(_))
        ));
        // A malformed first message fails at once.
        let mut s = oauth_session(&f);
        assert!(matches!(
            s.authenticate(b"n,,auth=Bearer x", no_credentials),
            Err(SaslError::AuthenticationFailed(_))
        ));
    }

    #[test]
    fn scram_unknown_user_fails_at_the_final_step() {
        let mut s = SaslSession::new(config(&[SaslMechanism::Scram(ScramMechanism::Sha512)]));
        s.handshake("SCRAM-SHA-512").unwrap();
        let first = s.authenticate(b"n,,n=nobody,r=abc", no_credentials);
        let Ok(SaslStep::Challenge(server_first)) = first else {
            panic!("an unknown user still gets a challenge: {first:?}")
        };
        let nonce = String::from_utf8(server_first)
            .unwrap()
            .split(',')
            .find_map(|a| a.strip_prefix("r=").map(str::to_string))
            .unwrap();
        let final_msg = format!("c=biws,r={nonce},p=AAAA");
        assert!(matches!(
            s.authenticate(final_msg.as_bytes(), no_credentials),
            Err(SaslError::AuthenticationFailed(_))
        ));
    }

    fn alice_by(mechanism: SaslMechanism) -> Reauthenticating {
        Reauthenticating {
            mechanism,
            principal: "User:alice".into(),
        }
    }

    #[test]
    fn reauthentication_as_the_same_principal_succeeds() {
        let mut s = SaslSession::reauthenticating(
            config(&[SaslMechanism::Plain]),
            alice_by(SaslMechanism::Plain),
        );
        assert!(s.is_reauthentication());
        assert_eq!(s.handshake("PLAIN"), Ok(SaslMechanism::Plain));
        assert!(matches!(
            s.authenticate(b"\0alice\0alice-secret", no_credentials),
            Ok(SaslStep::Authenticated { principal, .. }) if principal == "User:alice"
        ));
        assert!(s.is_authenticated());
        assert_eq!(
            s.credential_expiry_ms(),
            None,
            "PLAIN's credential never expires"
        );
    }

    #[test]
    fn reauthentication_as_another_principal_fails_with_kafkas_message() {
        let mut s = SaslSession::reauthenticating(
            config(&[SaslMechanism::Plain]),
            alice_by(SaslMechanism::Plain),
        );
        s.handshake("PLAIN").unwrap();
        let err = s
            .authenticate(b"\0bob\0bob-secret", no_credentials)
            .unwrap_err();
        assert_eq!(
            err,
            SaslError::AuthenticationFailed(
                "Cannot change principals during re-authentication from User.alice: User.bob"
                    .into()
            )
        );
        assert!(!s.is_authenticated());
        // A first authentication as bob is of course fine.
        let mut first = SaslSession::new(config(&[SaslMechanism::Plain]));
        first.handshake("PLAIN").unwrap();
        assert!(first
            .authenticate(b"\0bob\0bob-secret", no_credentials)
            .is_ok());
    }

    #[test]
    fn reauthentication_with_another_mechanism_fails_at_the_authenticate_step() {
        let both = [
            SaslMechanism::Plain,
            SaslMechanism::Scram(ScramMechanism::Sha256),
        ];
        let mut s = SaslSession::reauthenticating(
            config(&both),
            alice_by(SaslMechanism::Scram(ScramMechanism::Sha256)),
        );
        // Kafka answers the handshake NONE (the mechanism is enabled) ...
        assert_eq!(s.handshake("PLAIN"), Ok(SaslMechanism::Plain));
        // ... and refuses the token that follows, whatever it is.
        let err = s
            .authenticate(b"\0alice\0alice-secret", no_credentials)
            .unwrap_err();
        assert_eq!(
            err,
            SaslError::AuthenticationFailed(
                "SASL mechanism 'PLAIN' requested by client is not supported for re-authentication of mechanism 'SCRAM-SHA-256'"
                    .into()
            )
        );
        assert!(!s.is_authenticated());
        // A mechanism the listener does not enable is refused at the handshake, as always.
        let mut s = SaslSession::reauthenticating(
            config(&[SaslMechanism::Plain]),
            alice_by(SaslMechanism::Plain),
        );
        assert!(matches!(
            s.handshake("SCRAM-SHA-512"),
            Err(SaslError::UnsupportedMechanism(_))
        ));
    }

    #[test]
    fn oauthbearer_remembers_the_tokens_expiry() {
        use crate::security::oauthbearer::tests::{claims, fixture, sign_rsa};
        let f = fixture();
        let mut s = oauth_session(&f);
        let c = claims();
        let exp = c["exp"].as_i64().unwrap();
        let token = sign_rsa(&c, "rsa-1");
        assert_eq!(s.credential_expiry_ms(), None);
        s.authenticate(&initial_response("", &token), no_credentials)
            .unwrap();
        assert_eq!(s.credential_expiry_ms(), Some(exp * 1000));
    }
}
