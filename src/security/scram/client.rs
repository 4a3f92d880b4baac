//! The client side of one SCRAM exchange (RFC 5802 section 3, RFC 7677), as a broker runs it
//! when it authenticates to another broker.
//!
//! The client proves it knows the password without sending it, and checks the server's
//! signature in `server-final`, so a server that does not hold the user's credential cannot
//! pass for one that does. Like [`super::ScramServer`] this is a state machine over messages
//! (no sockets): [`ScramClient::client_first`], then [`ScramClient::server_first`] (answered
//! with `client-final`), then [`ScramClient::server_final`]. No channel binding (`n,,`), no
//! SASLprep, as in Kafka's client. The password and the salted password never reach a
//! `Debug` or an error text.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{bounded_utf8, ScramError, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::security::Secret;

/// The gs2 header of a client without channel binding or authorization id.
const GS2_HEADER: &str = "n,,";

enum State {
    Initial,
    AwaitingServerFirst {
        client_first_bare: String,
    },
    AwaitingServerFinal {
        /// `HMAC(ServerKey, AuthMessage)`: what `v=` must carry.
        server_signature: Vec<u8>,
    },
    Done,
}

/// One exchange. Any error, or success, ends it.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: Secret,
    client_nonce: String,
    state: State,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Initial => "initial",
            State::AwaitingServerFirst { .. } => "awaiting server-first",
            State::AwaitingServerFinal { .. } => "awaiting server-final",
            State::Done => "done",
        };
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("state", &state)
            .finish()
    }
}

impl ScramClient {
    /// An exchange with a client nonce of 24 random bytes from the OS's CSPRNG.
    pub fn new(mechanism: ScramMechanism, username: &str, password: Secret) -> ScramClient {
        let mut bytes = [0u8; 24];
        OsRng.fill_bytes(&mut bytes);
        ScramClient::with_client_nonce(mechanism, username, password, BASE64.encode(bytes))
    }

    /// An exchange with a given nonce: private, so only this module's tests replay published
    /// transcripts with it.
    fn with_client_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: Secret,
        client_nonce: String,
    ) -> ScramClient {
        ScramClient {
            mechanism,
            username: username.to_owned(),
            password,
            client_nonce,
            state: State::Initial,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The `client-first-message`: `n,,n=<saslname>,r=<nonce>`.
    pub fn client_first(&mut self) -> Result<String, ScramError> {
        if !matches!(self.state, State::Initial) {
            self.state = State::Done;
            return Err(ScramError::OutOfOrder {
                expected: "server message",
                got: "client-first",
            });
        }
        let bare = format!(
            "n={},r={}",
            escape_sasl_name(&self.username),
            self.client_nonce
        );
        let first = format!("{GS2_HEADER}{bare}");
        self.state = State::AwaitingServerFirst {
            client_first_bare: bare,
        };
        Ok(first)
    }

    /// Takes the `server-first-message` (`r=,s=,i=`) and returns the `client-final-message`
    /// with the proof. Refuses a nonce that does not extend this client's, an iteration count
    /// outside Kafka's bounds (a hostile server could otherwise make the client spin) and an
    /// `e=` error.
    pub fn server_first(&mut self, message: &[u8]) -> Result<String, ScramError> {
        let client_first_bare = match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingServerFirst { client_first_bare } => client_first_bare,
            State::Initial => {
                return Err(ScramError::OutOfOrder {
                    expected: "client-first",
                    got: "server-first",
                })
            }
            State::AwaitingServerFinal { .. } => {
                return Err(ScramError::OutOfOrder {
                    expected: "server-final",
                    got: "server-first",
                })
            }
            State::Done => return Err(ScramError::Finished),
        };
        let text = bounded_utf8(message)?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRefused(printable(e)));
        }
        let mut attrs = text.split(',');
        if attrs.next().is_some_and(|a| a.starts_with("m=")) {
            return Err(ScramError::MandatoryExtension);
        }
        let mut attrs = text.split(',');
        let nonce =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("r="))
                .ok_or(ScramError::Malformed(
                    "server-first must start with r=nonce",
                ))?;
        let salt = attrs
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or(ScramError::Malformed(
                "server-first must have s=salt after r=",
            ))?;
        let iterations =
            attrs
                .next()
                .and_then(|a| a.strip_prefix("i="))
                .ok_or(ScramError::Malformed(
                    "server-first must have i=iterations after s=",
                ))?;
        if let Some(ext) = attrs.next() {
            return Err(ScramError::UnsupportedExtension(super::attr_name(ext)));
        }
        if nonce.len() <= self.client_nonce.len()
            || !nonce.starts_with(self.client_nonce.as_str())
            || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(ScramError::NonceMismatch);
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| ScramError::BadBase64("s"))?;
        if salt.is_empty() {
            return Err(ScramError::Malformed("server-first has an empty salt"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("server-first iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::IterationsOutOfRange(iterations));
        }
        let m = self.mechanism;
        let without_proof = format!("c={},r={nonce}", BASE64.encode(GS2_HEADER));
        let auth_message = format!("{client_first_bare},{text},{without_proof}");
        let salted = m.hi(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let client_signature = m.hmac(&m.hash(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.state = State::AwaitingServerFinal {
            server_signature: m.hmac(&server_key, auth_message.as_bytes()),
        };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Takes the `server-final-message` and checks its `v=ServerSignature`: only then is the
    /// server known to hold this user's credential. An `e=` error is refused with its text.
    pub fn server_final(&mut self, message: &[u8]) -> Result<(), ScramError> {
        let expected = match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingServerFinal { server_signature } => server_signature,
            State::Done => return Err(ScramError::Finished),
            _ => {
                return Err(ScramError::OutOfOrder {
                    expected: "server-first",
                    got: "server-final",
                })
            }
        };
        let text = bounded_utf8(message)?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRefused(printable(e)));
        }
        let verifier = text
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or(ScramError::Malformed("server-final must be v=signature"))?;
        let signature = BASE64
            .decode(verifier)
            .map_err(|_| ScramError::BadBase64("v"))?;
        if signature.len() != expected.len() || !bool::from(signature.ct_eq(&expected)) {
            return Err(ScramError::ServerSignatureMismatch);
        }
        Ok(())
    }
}

/// RFC 5802's saslname: `,` as `=2C` and `=` as `=3D`.
fn escape_sasl_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// A server's `e=` value as safe to print: bounded, printable ASCII.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(128)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{ScramCredential, ScramServer};
    use super::*;

    /// RFC 7677 section 3: the client's messages and its check of the server's signature,
    /// byte for byte.
    #[test]
    fn rfc7677_sha256_client_side() {
        let mut client = ScramClient::with_client_nonce(
            ScramMechanism::Sha256,
            "user",
            Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(
            client.client_first().unwrap(),
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        let last = client
            .server_first(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(client.server_final(b"v=x"), Err(ScramError::Finished));
    }

    fn exchange(
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
        stored: &ScramCredential,
    ) -> Result<(), ScramError> {
        let mut client = ScramClient::new(mechanism, user, Secret::new(password));
        let mut server = ScramServer::new(mechanism);
        let first = client.client_first()?;
        let server_first = server.client_first(first.as_bytes(), |u| {
            (u == "bro,ker=").then(|| stored.clone())
        })?;
        let last = client.server_first(server_first.as_bytes())?;
        let done = server.client_final(last.as_bytes())?;
        assert_eq!(done.user, "bro,ker=");
        client.server_final(done.server_final.as_bytes())
    }

    #[test]
    fn a_client_authenticates_against_the_server_state_machine() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let stored = ScramCredential::generate(m, "broker-secret", 4096).unwrap();
            assert_eq!(exchange(m, "bro,ker=", "broker-secret", &stored), Ok(()));
            assert_eq!(
                exchange(m, "bro,ker=", "wrong", &stored),
                Err(ScramError::InvalidProof)
            );
        }
    }

    fn after_first(server_first: &str) -> ScramError {
        let mut client = ScramClient::with_client_nonce(
            ScramMechanism::Sha256,
            "user",
            Secret::new("pencil"),
            "abc".into(),
        );
        client.client_first().unwrap();
        let err = client.server_first(server_first.as_bytes()).unwrap_err();
        assert_eq!(
            client.server_final(b"v=AAAA"),
            Err(ScramError::Finished),
            "a failed exchange is over"
        );
        err
    }

    #[test]
    fn refuses_a_server_first_it_cannot_trust() {
        use ScramError::*;
        assert_eq!(after_first("r=xyzdef,s=c2FsdA==,i=4096"), NonceMismatch);
        assert_eq!(after_first("r=abc,s=c2FsdA==,i=4096"), NonceMismatch);
        assert_eq!(
            after_first("r=abcdef,s=c2FsdA==,i=4095"),
            IterationsOutOfRange(4095)
        );
        assert_eq!(
            after_first("r=abcdef,s=c2FsdA==,i=100000000"),
            IterationsOutOfRange(100_000_000)
        );
        assert_eq!(after_first("r=abcdef,s=!!,i=4096"), BadBase64("s"));
        assert!(matches!(after_first("r=abcdef,s=,i=4096"), Malformed(_)));
        assert!(matches!(after_first("r=abcdef,i=4096"), Malformed(_)));
        assert!(matches!(
            after_first("r=abcdef,s=c2FsdA==,i=x"),
            Malformed(_)
        ));
        assert_eq!(
            after_first("m=x,r=abcdef,s=c2FsdA==,i=4096"),
            MandatoryExtension
        );
        assert_eq!(
            after_first("r=abcdef,s=c2FsdA==,i=4096,z=1"),
            UnsupportedExtension("z".into())
        );
        assert_eq!(
            after_first("e=unknown-user"),
            ServerRefused("unknown-user".into())
        );
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let mut client = ScramClient::with_client_nonce(
            ScramMechanism::Sha256,
            "user",
            Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        client.client_first().unwrap();
        client
            .server_first(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            client.server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::ServerSignatureMismatch)
        );
    }

    #[test]
    fn messages_out_of_order_are_refused_and_debug_shows_no_password() {
        let mut client = ScramClient::new(ScramMechanism::Sha512, "u", Secret::new("hunter2"));
        assert!(!format!("{client:?}").contains("hunter2"));
        assert!(matches!(
            client.server_first(b"r=a,s=c2FsdA==,i=4096"),
            Err(ScramError::OutOfOrder { .. })
        ));
        let mut client = ScramClient::new(ScramMechanism::Sha512, "u", Secret::new("hunter2"));
        client.client_first().unwrap();
        assert!(matches!(
            client.client_first(),
            Err(ScramError::OutOfOrder { .. })
        ));
    }
}
