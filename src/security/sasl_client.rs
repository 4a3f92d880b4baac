//! One SASL exchange on the client side, as a broker runs it against another broker's
//! inter-broker listener: the mechanism's tokens in order (PLAIN's single message; SCRAM's
//! client-first, client-final and the check of the server's signature).
//!
//! Only the tokens: the connection layer (`client::sasl`) sends SaslHandshake and carries
//! each token in a SaslAuthenticate request. The credentials' `Debug` redacts the password
//! and no error carries it.

use super::scram::{ScramClient, ScramError};
use super::{SaslMechanism, Secret};

/// Why a client exchange could not go on. No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslClientError {
    /// The client side of this mechanism is not built (OAUTHBEARER, GSSAPI...).
    #[error("SASL mechanism {0} is not supported for a broker's own connections (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)")]
    UnsupportedMechanism(String),
    #[error("{0}")]
    Scram(#[from] ScramError),
    #[error("SASL exchange out of order: {0}")]
    IllegalState(&'static str),
}

/// The mechanism and credentials a client authenticates with (from Kafka's
/// `sasl.mechanism.inter.broker.protocol` and the JAAS `username`/`password` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslClientConfig {
    mechanism: SaslMechanism,
    username: String,
    password: Secret,
}

impl SaslClientConfig {
    /// Refuses a mechanism without a client side here.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: Secret,
    ) -> Result<SaslClientConfig, SaslClientError> {
        match mechanism {
            SaslMechanism::Plain | SaslMechanism::Scram(_) => Ok(SaslClientConfig {
                mechanism,
                username: username.into(),
                password,
            }),
            SaslMechanism::OAuthBearer => Err(SaslClientError::UnsupportedMechanism(
                mechanism.name().to_string(),
            )),
        }
    }

    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    pub fn username(&self) -> &str {
        &self.username
    }
}

enum State {
    Initial,
    /// PLAIN's message is sent; the server's (empty) answer completes it.
    PlainSent,
    /// SCRAM's client-first is sent; server-first comes next.
    ScramFirstSent(Box<ScramClient>),
    /// SCRAM's client-final is sent; server-final (its signature) comes next.
    ScramFinalSent(Box<ScramClient>),
    Done,
}

/// One exchange: [`SaslClient::initial_token`], then [`SaslClient::respond`] to each server
/// token until it returns `None` (authenticated as far as the client can tell; the server's
/// error code says the rest). Any error ends it.
pub struct SaslClient {
    config: SaslClientConfig,
    state: State,
}

impl std::fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.config.mechanism)
            .field("username", &self.config.username)
            .finish()
    }
}

impl SaslClient {
    pub fn new(config: SaslClientConfig) -> SaslClient {
        SaslClient {
            config,
            state: State::Initial,
        }
    }

    pub fn mechanism(&self) -> SaslMechanism {
        self.config.mechanism
    }

    /// The first SaslAuthenticate token: PLAIN's `\0user\0password` (RFC 4616, no
    /// authorization id) or SCRAM's client-first.
    pub fn initial_token(&mut self) -> Result<Vec<u8>, SaslClientError> {
        if !matches!(self.state, State::Initial) {
            self.state = State::Done;
            return Err(SaslClientError::IllegalState(
                "the initial token was already sent",
            ));
        }
        match self.config.mechanism {
            SaslMechanism::Plain => {
                let c = &self.config;
                let mut token =
                    Vec::with_capacity(c.username.len() + 2 + c.password.expose().len());
                token.push(0);
                token.extend_from_slice(c.username.as_bytes());
                token.push(0);
                token.extend_from_slice(c.password.expose().as_bytes());
                self.state = State::PlainSent;
                Ok(token)
            }
            SaslMechanism::Scram(m) => {
                let mut scram = Box::new(ScramClient::new(
                    m,
                    &self.config.username,
                    self.config.password.clone(),
                ));
                let first = scram.client_first()?;
                self.state = State::ScramFirstSent(scram);
                Ok(first.into_bytes())
            }
            other => Err(SaslClientError::UnsupportedMechanism(
                other.name().to_string(),
            )),
        }
    }

    /// The answer to a server token: `Some(token)` to send next, `None` when the exchange is
    /// complete on the client's side.
    pub fn respond(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, SaslClientError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::PlainSent => Ok(None),
            State::ScramFirstSent(mut scram) => {
                let last = scram.server_first(server_token)?;
                self.state = State::ScramFinalSent(scram);
                Ok(Some(last.into_bytes()))
            }
            State::ScramFinalSent(mut scram) => {
                scram.server_final(server_token)?;
                Ok(None)
            }
            State::Initial => Err(SaslClientError::IllegalState(
                "a server token before the initial token",
            )),
            State::Done => Err(SaslClientError::IllegalState("the exchange is over")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::{SaslListenerConfig, SaslSession, SaslStep};
    use crate::security::scram::{ScramCredential, ScramMechanism};
    use crate::security::PlainUsers;
    use std::sync::Arc;

    /// Drives a client exchange against the broker's own server session, as the two ends of
    /// an inter-broker connection run it; returns the principal the server authenticated.
    fn run(client: SaslClientConfig, server: &mut SaslSession) -> Result<String, String> {
        let stored =
            ScramCredential::generate(ScramMechanism::Sha512, "broker-secret", 4096).unwrap();
        let lookup = |user: &str, m: ScramMechanism| {
            (user == "broker" && m == stored.mechanism()).then(|| stored.clone())
        };
        server
            .handshake(client.mechanism().name())
            .map_err(|e| e.to_string())?;
        let mut client = SaslClient::new(client);
        let mut token = client.initial_token().map_err(|e| e.to_string())?;
        loop {
            match server
                .authenticate(&token, lookup)
                .map_err(|e| e.to_string())?
            {
                SaslStep::Challenge(challenge) => {
                    token = client
                        .respond(&challenge)
                        .map_err(|e| e.to_string())?
                        .ok_or("the client ended before the server")?;
                }
                SaslStep::Authenticated { principal, token } => {
                    assert_eq!(client.respond(&token).map_err(|e| e.to_string())?, None);
                    return Ok(principal);
                }
            }
        }
    }

    fn server(mechanisms: &[SaslMechanism]) -> SaslSession {
        SaslSession::new(Arc::new(SaslListenerConfig {
            mechanisms: mechanisms.to_vec(),
            plain_users: PlainUsers::new([("broker".to_string(), Secret::new("broker-secret"))]),
            oauthbearer: None,
        }))
    }

    #[test]
    fn scram_and_plain_clients_authenticate_against_the_server_session() {
        let scram = SaslMechanism::Scram(ScramMechanism::Sha512);
        let ok = SaslClientConfig::new(scram, "broker", Secret::new("broker-secret")).unwrap();
        assert_eq!(run(ok, &mut server(&[scram])), Ok("User:broker".into()));
        let wrong = SaslClientConfig::new(scram, "broker", Secret::new("nope")).unwrap();
        let err = run(wrong, &mut server(&[scram])).unwrap_err();
        assert!(err.contains("invalid credentials"), "{err}");
        assert!(!err.contains("nope"));

        let plain = SaslMechanism::Plain;
        let ok = SaslClientConfig::new(plain, "broker", Secret::new("broker-secret")).unwrap();
        assert_eq!(run(ok, &mut server(&[plain])), Ok("User:broker".into()));
        let wrong = SaslClientConfig::new(plain, "broker", Secret::new("nope")).unwrap();
        assert!(run(wrong, &mut server(&[plain])).is_err());
    }

    #[test]
    fn a_forged_server_final_is_refused() {
        let scram = SaslMechanism::Scram(ScramMechanism::Sha256);
        let config = SaslClientConfig::new(scram, "u", Secret::new("pw")).unwrap();
        let mut client = SaslClient::new(config);
        let first = String::from_utf8(client.initial_token().unwrap()).unwrap();
        let nonce = first.rsplit_once("r=").unwrap().1;
        let server_first = format!("r={nonce}srv,s=c2FsdA==,i=4096");
        assert!(client.respond(server_first.as_bytes()).unwrap().is_some());
        assert_eq!(
            client.respond(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(SaslClientError::Scram(ScramError::ServerSignatureMismatch))
        );
        assert!(client.respond(b"").is_err(), "the exchange is over");
    }

    #[test]
    fn oauthbearer_has_no_client_side_and_debug_redacts() {
        assert!(matches!(
            SaslClientConfig::new(SaslMechanism::OAuthBearer, "u", Secret::new("pw")),
            Err(SaslClientError::UnsupportedMechanism(_))
        ));
        let c = SaslClientConfig::new(SaslMechanism::Plain, "u", Secret::new("hunter2")).unwrap();
        assert!(!format!("{c:?} {:?}", SaslClient::new(c.clone())).contains("hunter2"));
    }
}
