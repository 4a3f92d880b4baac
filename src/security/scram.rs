//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, as Kafka runs them
//! (the client side, for a broker authenticating to another: [`ScramClient`]).
//!
//! SCRAM lets the broker check a password it never stores: it keeps only the salted,
//! iterated derivation's `StoredKey` and `ServerKey` ([`ScramCredential`]), and the client
//! proves it knows the password without sending it. The exchange is a state machine
//! ([`ScramServer`]) because each message is only valid after the one before it, and every
//! check of the RFC (the gs2 header echoed in `c=`, the combined nonce, the proof) is a
//! typed refusal. An unknown user is answered with a fake credential until the proof, so
//! probing names learns nothing before the final step. Like Kafka, no SASLprep is applied:
//! a password is hashed as its UTF-8 bytes.

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

mod client;

pub use client::ScramClient;

/// Kafka's minimum iteration count for SCRAM credentials (and RFC 7677's recommendation).
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's maximum iteration count for SCRAM credentials: more would let whoever sets a
/// credential make every login of that user (and the credential's creation) arbitrarily slow.
pub const MAX_ITERATIONS: u32 = 16384;
/// Largest SCRAM client message accepted.
pub const MAX_SCRAM_MESSAGE: usize = 4096;

/// The two SCRAM mechanisms Kafka offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name, as in a SaslHandshake request.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's wire and record code of the mechanism (`ScramMechanism.type()`: 1 is
    /// SCRAM-SHA-256, 2 is SCRAM-SHA-512), as in AlterUserScramCredentials and
    /// `UserScramCredentialRecord`.
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a Kafka code; `None` for Kafka's UNKNOWN (0) and anything else.
    pub fn from_kafka_type(code: i8) -> Option<ScramMechanism> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hash_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    /// `SaltedPassword = Hi(password, salt, iterations)`: what a client sends in
    /// AlterUserScramCredentials (the admin CLI computes it; the broker never sees the
    /// password).
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        self.hi(password.as_bytes(), salt, iterations)
    }

    /// RFC 5802's `Hi`: PBKDF2 with this mechanism's HMAC, one block.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => hi::<Hmac<Sha256>>(password, salt, iterations),
            ScramMechanism::Sha512 => hi::<Hmac<Sha512>>(password, salt, iterations),
        }
    }
}

fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
    <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = keyed::<M>(key);
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hi<M: Mac + hmac::digest::KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let key = keyed::<M>(password);
    let mut m = key.clone();
    m.update(salt);
    m.update(&1u32.to_be_bytes());
    let mut u = m.finalize().into_bytes();
    let mut out = u.to_vec();
    for _ in 1..iterations {
        let mut m = key.clone();
        m.update(&u);
        u = m.finalize().into_bytes();
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

/// What the server keeps of a SCRAM password: salt, iteration count, `StoredKey =
/// H(HMAC(SaltedPassword, "Client Key"))` and `ServerKey = HMAC(SaltedPassword, "Server
/// Key")`. Its `Debug` shows neither key.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    mechanism: ScramMechanism,
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl ScramCredential {
    /// Derives the credential of `password` with the given salt. Refuses fewer than
    /// [`MIN_ITERATIONS`] or more than [`MAX_ITERATIONS`] iterations and an empty salt.
    pub fn new(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::IterationsOutOfRange(iterations));
        }
        if salt.is_empty() {
            return Err(ScramError::BadCredential);
        }
        let salted = mechanism.hi(password.as_bytes(), salt, iterations);
        ScramCredential::from_salted_password(mechanism, salt, &salted, iterations)
    }

    /// The credential of a password the client already salted and iterated (`SaltedPassword
    /// = Hi(password, salt, iterations)`), as Kafka's AlterUserScramCredentials upsertion
    /// carries it: the server derives `StoredKey` and `ServerKey` and keeps neither the salted
    /// password nor the password. Refuses iterations outside [`MIN_ITERATIONS`]..=
    /// [`MAX_ITERATIONS`], an empty salt and an empty salted password.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::IterationsOutOfRange(iterations));
        }
        if salt.is_empty() || salted_password.is_empty() {
            return Err(ScramError::BadCredential);
        }
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        Ok(ScramCredential {
            mechanism,
            salt: salt.to_vec(),
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
        })
    }

    /// Derives the credential of `password` under a fresh random 32-byte salt (as Kafka's
    /// `ScramFormatter` generates one).
    pub fn generate(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<ScramCredential, ScramError> {
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        ScramCredential::new(mechanism, password, &salt, iterations)
    }

    /// A credential as stored (e.g. from a `UserScramCredentialsRecord`), without the
    /// password. Refuses keys of the wrong length for the mechanism, an empty salt and a
    /// non-positive iteration count.
    pub fn from_parts(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        iterations: u32,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    ) -> Result<ScramCredential, ScramError> {
        let len = mechanism.hash_len();
        if salt.is_empty() || iterations == 0 || stored_key.len() != len || server_key.len() != len
        {
            return Err(ScramError::BadCredential);
        }
        Ok(ScramCredential {
            mechanism,
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn stored_key(&self) -> &[u8] {
        &self.stored_key
    }

    pub fn server_key(&self) -> &[u8] {
        &self.server_key
    }

    /// The stand-in for a user that does not exist: a salt that is the same for the same
    /// name on every attempt (so it cannot be told from a real one by asking twice) and
    /// random keys no proof matches.
    fn fake(mechanism: ScramMechanism, user: &str) -> ScramCredential {
        static FAKE_SALT_KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let secret = FAKE_SALT_KEY.get_or_init(|| {
            let mut k = [0u8; 32];
            OsRng.fill_bytes(&mut k);
            k
        });
        let mut salt = mechanism.hmac(secret, user.as_bytes());
        salt.truncate(32);
        let mut stored_key = vec![0u8; mechanism.hash_len()];
        let mut server_key = vec![0u8; mechanism.hash_len()];
        OsRng.fill_bytes(&mut stored_key);
        OsRng.fill_bytes(&mut server_key);
        ScramCredential {
            mechanism,
            salt,
            iterations: MIN_ITERATIONS,
            stored_key,
            server_key,
        }
    }
}

/// Why a SCRAM exchange failed. No variant carries a password, key, proof or nonce.
/// `UnknownUser` and `InvalidProof` print the same text, so forwarding the message to the
/// client does not reveal whether the user exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("SCRAM message of {0} bytes exceeds the {MAX_SCRAM_MESSAGE}-byte limit")]
    TooLarge(usize),
    #[error("SCRAM message is not valid UTF-8")]
    NotUtf8,
    #[error("SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingUnsupported,
    #[error("SCRAM authorization id must equal the username")]
    AuthzidMismatch,
    #[error("SCRAM mandatory extension (m=) is not supported")]
    MandatoryExtension,
    #[error("SCRAM extension `{0}` is not supported")]
    UnsupportedExtension(String),
    #[error("SCRAM attribute `{0}=` is not valid base64")]
    BadBase64(&'static str),
    #[error("SCRAM channel binding in client-final does not match the gs2 header")]
    ChannelBindingMismatch,
    #[error("SCRAM nonce in client-final is not the combined nonce of this exchange")]
    NonceMismatch,
    #[error("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM")]
    UnknownUser,
    #[error("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM")]
    InvalidProof,
    #[error("SCRAM {got} received while expecting {expected}")]
    OutOfOrder {
        expected: &'static str,
        got: &'static str,
    },
    #[error("SCRAM exchange is over; no more messages are accepted")]
    Finished,
    #[error("SCRAM credential needs {MIN_ITERATIONS} to {MAX_ITERATIONS} iterations, got {0}")]
    IterationsOutOfRange(u32),
    #[error("SCRAM credential has an empty salt or keys of the wrong length")]
    BadCredential,
    /// Client side: the server answered with `e=<reason>` (printable ASCII, bounded).
    #[error("SCRAM server refused the exchange: {0}")]
    ServerRefused(String),
    /// Client side: `server-final`'s signature is not the one this password gives, so the
    /// server does not hold the user's credential.
    #[error("SCRAM server signature does not match: the server does not know this credential")]
    ServerSignatureMismatch,
}

/// A completed exchange: who authenticated and the `server-final-message` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramSuccess {
    pub user: String,
    pub server_final: String,
}

/// Where an exchange stands; each client message moves it once.
enum State {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Pending>),
    Done,
}

struct Pending {
    user: String,
    known: bool,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// The server side of one SCRAM exchange: [`ScramServer::client_first`] then
/// [`ScramServer::client_final`]. Any error, or success, ends it.
pub struct ScramServer {
    mechanism: ScramMechanism,
    server_nonce: String,
    state: State,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::AwaitingClientFirst => "awaiting client-first",
            State::AwaitingClientFinal(_) => "awaiting client-final",
            State::Done => "done",
        };
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("state", &state)
            .finish()
    }
}

impl ScramServer {
    /// A new exchange with a server nonce of 32 bytes from the OS's CSPRNG.
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        ScramServer::with_server_nonce(mechanism, BASE64.encode(bytes))
    }

    /// An exchange with a given server nonce. Private: outside this module every exchange
    /// gets a random one; this module's tests fix it to replay published transcripts.
    fn with_server_nonce(mechanism: ScramMechanism, server_nonce: String) -> ScramServer {
        ScramServer {
            mechanism,
            server_nonce,
            state: State::AwaitingClientFirst,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Takes the `client-first-message`, looks the user up through `lookup` and returns the
    /// `server-first-message`. An unknown user (or one whose credential is for the other
    /// mechanism) gets an answer from a fake credential and fails only at the final step.
    pub fn client_first(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<String, ScramError> {
        match self.state {
            State::AwaitingClientFirst => {}
            State::AwaitingClientFinal(_) => {
                self.state = State::Done;
                return Err(ScramError::OutOfOrder {
                    expected: "client-final",
                    got: "client-first",
                });
            }
            State::Done => return Err(ScramError::Finished),
        }
        self.state = State::Done;
        let text = bounded_utf8(message)?;
        let first = parse_client_first(text)?;
        let (credential, known) = match lookup(&first.user) {
            Some(c) if c.mechanism == self.mechanism => (c, true),
            _ => (ScramCredential::fake(self.mechanism, &first.user), false),
        };
        let nonce = format!("{}{}", first.client_nonce, self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::AwaitingClientFinal(Box::new(Pending {
            user: first.user,
            known,
            credential,
            gs2_header: first.gs2_header.to_owned(),
            client_first_bare: first.bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        }));
        Ok(server_first)
    }

    /// Takes the `client-final-message`, checks channel binding, nonce and proof, and
    /// returns the user with the `server-final-message` (`v=ServerSignature`).
    pub fn client_final(&mut self, message: &[u8]) -> Result<ScramSuccess, ScramError> {
        let pending = match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingClientFinal(p) => p,
            State::AwaitingClientFirst => {
                return Err(ScramError::OutOfOrder {
                    expected: "client-first",
                    got: "client-final",
                })
            }
            State::Done => return Err(ScramError::Finished),
        };
        let text = bounded_utf8(message)?;
        let (without_proof, proof_b64) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("client-final has no proof (p=)"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("client-final must start with c="))?;
        let cbind = BASE64
            .decode(cbind)
            .map_err(|_| ScramError::BadBase64("c"))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("client-final must have r= after c="))?;
        if let Some(ext) = attrs.next() {
            return Err(ScramError::UnsupportedExtension(attr_name(ext)));
        }
        if cbind != pending.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        // librdkafka before 2.x sends its own nonce again in front of the combined one
        // (`r=<client nonce><client nonce><server nonce>`); Apache Kafka accepted that for years
        // (its check was `endsWith`), and Debian's kcat still does it. Exactly that form is
        // accepted, nothing looser: the proof covers the message as sent either way.
        let client_nonce = &pending.nonce[..pending.nonce.len() - self.server_nonce.len()];
        let legacy = nonce.len() == client_nonce.len() + pending.nonce.len()
            && nonce.starts_with(client_nonce)
            && nonce.ends_with(pending.nonce.as_str());
        if nonce != pending.nonce && !legacy {
            return Err(ScramError::NonceMismatch);
        }
        let proof = BASE64
            .decode(proof_b64)
            .map_err(|_| ScramError::BadBase64("p"))?;
        let m = self.mechanism;
        let auth_message = format!(
            "{},{},{}",
            pending.client_first_bare, pending.server_first, without_proof
        );
        let credential = &pending.credential;
        let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(if pending.known {
                ScramError::InvalidProof
            } else {
                ScramError::UnknownUser
            });
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let proven: bool = m.hash(&client_key).ct_eq(&credential.stored_key).into();
        if !pending.known {
            return Err(ScramError::UnknownUser);
        }
        if !proven {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(ScramSuccess {
            user: pending.user,
            server_final: format!("v={}", BASE64.encode(server_signature)),
        })
    }
}

fn bounded_utf8(message: &[u8]) -> Result<&str, ScramError> {
    if message.len() > MAX_SCRAM_MESSAGE {
        return Err(ScramError::TooLarge(message.len()));
    }
    std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8)
}

/// The name of an `attr=value` extension, never its value.
fn attr_name(ext: &str) -> String {
    ext.split('=')
        .next()
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect()
}

struct ClientFirst<'a> {
    gs2_header: &'a str,
    bare: &'a str,
    user: String,
    client_nonce: &'a str,
}

fn parse_client_first(text: &str) -> Result<ClientFirst<'_>, ScramError> {
    let mut parts = text.splitn(3, ',');
    let (Some(cbind_flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ScramError::Malformed("client-first needs a gs2 header"));
    };
    match cbind_flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
        _ => {
            return Err(ScramError::Malformed(
                "gs2 channel-binding flag must be n, y or p=",
            ))
        }
    }
    let authzid = match authzid {
        "" => None,
        a => Some(sasl_name(
            a.strip_prefix("a=")
                .ok_or(ScramError::Malformed("gs2 authzid must be a=name"))?,
        )?),
    };
    let gs2_header = &text[..text.len() - bare.len()];
    let mut attrs = bare.split(',');
    let user_attr = attrs
        .next()
        .ok_or(ScramError::Malformed("client-first has no username"))?;
    if user_attr.starts_with("m=") {
        return Err(ScramError::MandatoryExtension);
    }
    let user = sasl_name(
        user_attr
            .strip_prefix("n=")
            .ok_or(ScramError::Malformed("client-first must have n=username"))?,
    )?;
    if user.is_empty() {
        return Err(ScramError::Malformed("username is empty"));
    }
    let client_nonce =
        attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed(
                "client-first must have r=nonce after n=",
            ))?;
    if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ScramError::Malformed(
            "client nonce must be printable ASCII",
        ));
    }
    if let Some(ext) = attrs.next() {
        return Err(ScramError::UnsupportedExtension(attr_name(ext)));
    }
    if authzid.is_some_and(|a| a != user) {
        return Err(ScramError::AuthzidMismatch);
    }
    Ok(ClientFirst {
        gs2_header,
        bare,
        user,
        client_nonce,
    })
}

/// RFC 5802's saslname: `=2C` is `,`, `=3D` is `=`, any other `=` is an error.
fn sasl_name(raw: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in SCRAM name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn rfc_credential() -> ScramCredential {
        let salt = BASE64.decode(RFC_SALT).unwrap();
        ScramCredential::new(ScramMechanism::Sha256, "pencil", &salt, 4096).unwrap()
    }

    fn rfc_server() -> ScramServer {
        ScramServer::with_server_nonce(ScramMechanism::Sha256, RFC_SERVER_NONCE.into())
    }

    fn lookup_user(user: &str) -> Option<ScramCredential> {
        (user == "user").then(rfc_credential)
    }

    /// RFC 7677 section 3, driven through the state machine byte for byte.
    #[test]
    fn rfc7677_sha256_example() {
        let mut server = rfc_server();
        let server_first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", lookup_user)
            .unwrap();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let done = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(done.user, "user");
        assert_eq!(
            done.server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert_eq!(
            server.client_final(b"c=biws"),
            Err(ScramError::Finished),
            "a completed exchange takes no more messages"
        );
    }

    /// A SCRAM client, written from RFC 5802 section 3, for round trips.
    struct TestClient {
        mechanism: ScramMechanism,
        password: &'static str,
        gs2_header: &'static str,
        client_first_bare: String,
    }

    impl TestClient {
        fn first(&self) -> String {
            format!("{}{}", self.gs2_header, self.client_first_bare)
        }

        /// The client-final message and the server signature the client expects.
        fn last(&self, server_first: &str) -> (String, String) {
            let m = self.mechanism;
            let mut nonce = None;
            let mut salt = None;
            let mut iterations = None;
            for attr in server_first.split(',') {
                match attr.split_at(2) {
                    ("r=", v) => nonce = Some(v.to_owned()),
                    ("s=", v) => salt = Some(BASE64.decode(v).unwrap()),
                    ("i=", v) => iterations = Some(v.parse::<u32>().unwrap()),
                    _ => panic!("unexpected attribute in server-first"),
                }
            }
            let without_proof =
                format!("c={},r={}", BASE64.encode(self.gs2_header), nonce.unwrap());
            let salted = m.hi(
                self.password.as_bytes(),
                &salt.unwrap(),
                iterations.unwrap(),
            );
            let client_key = m.hmac(&salted, b"Client Key");
            let auth = format!("{},{server_first},{without_proof}", self.client_first_bare);
            let signature = m.hmac(&m.hash(&client_key), auth.as_bytes());
            let proof: Vec<u8> = client_key
                .iter()
                .zip(&signature)
                .map(|(a, b)| a ^ b)
                .collect();
            let server_signature = m.hmac(&m.hmac(&salted, b"Server Key"), auth.as_bytes());
            (
                format!("{without_proof},p={}", BASE64.encode(proof)),
                format!("v={}", BASE64.encode(server_signature)),
            )
        }
    }

    #[test]
    fn sha512_round_trip_with_escaped_name_and_authzid() {
        let credential =
            ScramCredential::new(ScramMechanism::Sha512, "s3cr3t ünicode", b"salty", 8192).unwrap();
        let client = TestClient {
            mechanism: ScramMechanism::Sha512,
            password: "s3cr3t ünicode",
            gs2_header: "y,a=al=2Cice=3D,",
            client_first_bare: "n=al=2Cice=3D,r=clientnonce123".into(),
        };
        let mut server = ScramServer::new(ScramMechanism::Sha512);
        let server_first = server
            .client_first(client.first().as_bytes(), |u| {
                (u == "al,ice=").then(|| credential.clone())
            })
            .unwrap();
        assert!(server_first.starts_with("r=clientnonce123"));
        assert!(server_first.ends_with(",s=c2FsdHk=,i=8192"));
        let (last, expected_v) = client.last(&server_first);
        let done = server.client_final(last.as_bytes()).unwrap();
        assert_eq!(done.user, "al,ice=");
        assert_eq!(done.server_final, expected_v);
    }

    #[test]
    fn wrong_password_fails_at_the_proof() {
        let client = TestClient {
            mechanism: ScramMechanism::Sha256,
            password: "not-pencil",
            gs2_header: "n,,",
            client_first_bare: "n=user,r=abc".into(),
        };
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let server_first = server
            .client_first(client.first().as_bytes(), lookup_user)
            .unwrap();
        let (last, _) = client.last(&server_first);
        assert_eq!(
            server.client_final(last.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn unknown_user_is_answered_until_the_final_step() {
        let first = |server: &mut ScramServer| {
            server
                .client_first(b"n,,n=nobody,r=abc", lookup_user)
                .unwrap()
        };
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let server_first = first(&mut server);
        let again = first(&mut ScramServer::new(ScramMechanism::Sha256));
        let salt_of = |s: &str| s.split(',').nth(1).unwrap().to_owned();
        assert_eq!(
            salt_of(&server_first),
            salt_of(&again),
            "a stable fake salt"
        );
        assert!(server_first.ends_with(",i=4096"));
        let client = TestClient {
            mechanism: ScramMechanism::Sha256,
            password: "pencil",
            gs2_header: "n,,",
            client_first_bare: "n=nobody,r=abc".into(),
        };
        let (last, _) = client.last(&server_first);
        let err = server.client_final(last.as_bytes()).unwrap_err();
        assert_eq!(err, ScramError::UnknownUser);
        assert_eq!(err.to_string(), ScramError::InvalidProof.to_string());
    }

    #[test]
    fn a_credential_of_the_other_mechanism_counts_as_unknown() {
        let client = TestClient {
            mechanism: ScramMechanism::Sha512,
            password: "pencil",
            gs2_header: "n,,",
            client_first_bare: "n=user,r=abc".into(),
        };
        let mut fresh = ScramServer::new(ScramMechanism::Sha512);
        let server_first = fresh
            .client_first(client.first().as_bytes(), lookup_user)
            .unwrap();
        let (last, _) = client.last(&server_first);
        assert_eq!(
            fresh.client_final(last.as_bytes()),
            Err(ScramError::UnknownUser)
        );
    }

    fn first_error(message: &[u8]) -> ScramError {
        let mut server = rfc_server();
        let err = server.client_first(message, lookup_user).unwrap_err();
        assert_eq!(
            server.client_first(b"n,,n=user,r=abc", lookup_user),
            Err(ScramError::Finished),
            "a failed exchange is over"
        );
        err
    }

    #[test]
    fn refuses_bad_client_first_messages() {
        use ScramError::*;
        assert_eq!(
            first_error(b"p=tls-unique,,n=user,r=abc"),
            ChannelBindingUnsupported
        );
        assert!(matches!(first_error(b"x,,n=user,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,n=user,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,,n=user"), Malformed(_)));
        assert!(matches!(first_error(b"n,,n=user,r="), Malformed(_)));
        assert!(matches!(first_error(b"n,,n=,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,,n=us=er,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,,n=user=2,r=abc"), Malformed(_)));
        assert!(matches!(first_error(b"n,u,n=user,r=abc"), Malformed(_)));
        assert_eq!(first_error(b"n,,m=ext,n=user,r=abc"), MandatoryExtension);
        assert_eq!(
            first_error(b"n,,n=user,r=abc,tokenauth=true"),
            UnsupportedExtension("tokenauth".into())
        );
        assert_eq!(first_error(b"n,a=admin,n=user,r=abc"), AuthzidMismatch);
        assert_eq!(first_error(b"n,,n=user,r=a\xffc"), NotUtf8);
        let mut big = b"n,,n=user,r=".to_vec();
        big.resize(MAX_SCRAM_MESSAGE + 1, b'a');
        assert_eq!(first_error(&big), TooLarge(MAX_SCRAM_MESSAGE + 1));
    }

    const RFC_NONCE: &str = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const RFC_PROOF: &str = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

    fn final_error(message: &str) -> ScramError {
        let mut server = rfc_server();
        server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", lookup_user)
            .unwrap();
        let err = server.client_final(message.as_bytes()).unwrap_err();
        assert_eq!(
            server.client_final(message.as_bytes()),
            Err(ScramError::Finished),
            "a failed exchange is over"
        );
        err
    }

    #[test]
    fn refuses_bad_client_final_messages() {
        use ScramError::*;
        let wrong_nonce = &RFC_NONCE[..RFC_NONCE.len() - 1];
        assert_eq!(
            final_error(&format!("c=biws,r={wrong_nonce},p={RFC_PROOF}")),
            NonceMismatch
        );
        assert_eq!(
            final_error(&format!("c=biws,r={RFC_NONCE}x,p={RFC_PROOF}")),
            NonceMismatch
        );
        assert_eq!(
            final_error(&format!("c=eSws,r={RFC_NONCE},p={RFC_PROOF}")),
            ChannelBindingMismatch
        );
        assert_eq!(
            final_error(&format!("c=b!ws,r={RFC_NONCE},p={RFC_PROOF}")),
            BadBase64("c")
        );
        assert_eq!(
            final_error(&format!("c=biws,r={RFC_NONCE},p=%%%")),
            BadBase64("p")
        );
        assert_eq!(
            final_error(&format!("c=biws,r={RFC_NONCE},p=AAAA")),
            InvalidProof
        );
        let mut flipped = BASE64.decode(RFC_PROOF).unwrap();
        flipped[0] ^= 1;
        let flipped = BASE64.encode(flipped);
        assert_eq!(
            final_error(&format!("c=biws,r={RFC_NONCE},p={flipped}")),
            InvalidProof
        );
        assert!(matches!(
            final_error(&format!("c=biws,r={RFC_NONCE}")),
            Malformed(_)
        ));
        assert!(matches!(
            final_error(&format!("r={RFC_NONCE},p={RFC_PROOF}")),
            Malformed(_)
        ));
        assert_eq!(
            final_error(&format!("c=biws,r={RFC_NONCE},x=secretish,p={RFC_PROOF}")),
            UnsupportedExtension("x".into())
        );
        let big = format!("c=biws,r={RFC_NONCE},p={}", "A".repeat(MAX_SCRAM_MESSAGE));
        assert_eq!(final_error(&big), TooLarge(big.len()));
    }

    #[test]
    fn refuses_messages_out_of_order() {
        let mut server = rfc_server();
        assert_eq!(
            server.client_final(b"c=biws,r=abc,p=AAAA"),
            Err(ScramError::OutOfOrder {
                expected: "client-first",
                got: "client-final"
            })
        );
        let mut server = rfc_server();
        server
            .client_first(b"n,,n=user,r=abc", lookup_user)
            .unwrap();
        assert_eq!(
            server.client_first(b"n,,n=user,r=abc", lookup_user),
            Err(ScramError::OutOfOrder {
                expected: "client-final",
                got: "client-first"
            })
        );
        assert_eq!(
            server.client_final(b"c=biws,r=abc,p=AAAA"),
            Err(ScramError::Finished)
        );
    }

    #[test]
    fn credentials_need_enough_iterations_and_well_formed_parts() {
        let m = ScramMechanism::Sha512;
        assert_eq!(
            ScramCredential::new(m, "pw", b"salt", 4095),
            Err(ScramError::IterationsOutOfRange(4095))
        );
        assert_eq!(
            ScramCredential::new(m, "pw", b"salt", MAX_ITERATIONS + 1),
            Err(ScramError::IterationsOutOfRange(MAX_ITERATIONS + 1))
        );
        assert!(
            ScramCredential::new(ScramMechanism::Sha256, "pw", b"salt", MAX_ITERATIONS).is_ok()
        );
        assert_eq!(
            ScramCredential::new(m, "pw", b"", 4096),
            Err(ScramError::BadCredential)
        );
        let c = ScramCredential::new(m, "pw", b"salt", 4096).unwrap();
        assert_eq!((c.stored_key().len(), c.server_key().len()), (64, 64));
        let rebuilt = ScramCredential::from_parts(
            m,
            c.salt().to_vec(),
            c.iterations(),
            c.stored_key().to_vec(),
            c.server_key().to_vec(),
        )
        .unwrap();
        assert_eq!(rebuilt, c);
        assert_eq!(
            ScramCredential::from_parts(
                ScramMechanism::Sha256,
                c.salt().to_vec(),
                4096,
                c.stored_key().to_vec(),
                c.server_key().to_vec()
            ),
            Err(ScramError::BadCredential)
        );
        let a = ScramCredential::generate(m, "pw", 4096).unwrap();
        let b = ScramCredential::generate(m, "pw", 4096).unwrap();
        assert_eq!(a.salt().len(), 32);
        assert_ne!(a.salt(), b.salt());
        assert_ne!(a.stored_key(), b.stored_key());
    }

    #[test]
    fn a_salted_password_gives_the_credential_of_its_password() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let salt = b"some salt";
            let from_password = ScramCredential::new(m, "pencil", salt, 4096).unwrap();
            let salted = m.hi(b"pencil", salt, 4096);
            let from_salted =
                ScramCredential::from_salted_password(m, salt, &salted, 4096).unwrap();
            assert_eq!(from_password, from_salted);
            assert_eq!(
                ScramCredential::from_salted_password(m, salt, &salted, 4095),
                Err(ScramError::IterationsOutOfRange(4095))
            );
            assert_eq!(
                ScramCredential::from_salted_password(m, b"", &salted, 4096),
                Err(ScramError::BadCredential)
            );
            assert_eq!(
                ScramCredential::from_salted_password(m, salt, b"", 4096),
                Err(ScramError::BadCredential)
            );
            assert_eq!(ScramMechanism::from_kafka_type(m.kafka_type()), Some(m));
        }
        assert_eq!(ScramMechanism::from_kafka_type(0), None);
        assert_eq!(ScramMechanism::Sha512.kafka_type(), 2);
    }

    #[test]
    fn debug_and_errors_show_no_secret() {
        let c = rfc_credential();
        let debug = format!("{c:?}");
        assert!(!debug.contains(&format!("{:?}", c.stored_key())), "{debug}");
        assert!(!debug.contains(&format!("{:?}", c.server_key())), "{debug}");
        assert!(debug.contains("<redacted>"));
        let err = final_error(&format!("c=biws,r={RFC_NONCE},p=AAAA"));
        assert!(!format!("{err} {err:?}").contains("AAAA"));
        let err = final_error(&format!("c=biws,r={RFC_NONCE},x=secretish,p={RFC_PROOF}"));
        assert!(!format!("{err} {err:?}").contains("secretish"));
        let mut server = rfc_server();
        server
            .client_first(b"n,,n=user,r=abc", lookup_user)
            .unwrap();
        assert!(!format!("{server:?}").contains("hvYD"));
    }

    #[test]
    fn server_nonces_are_random_and_printable() {
        let mut a = ScramServer::new(ScramMechanism::Sha256);
        let mut b = ScramServer::new(ScramMechanism::Sha256);
        let fa = a.client_first(b"n,,n=user,r=abc", lookup_user).unwrap();
        let fb = b.client_first(b"n,,n=user,r=abc", lookup_user).unwrap();
        let nonce = |s: &str| s.split(',').next().unwrap().to_owned();
        assert_ne!(nonce(&fa), nonce(&fb));
        assert!(nonce(&fa).len() > "r=abc".len() + 40);
        assert!(nonce(&fa)
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b','));
        assert_eq!(
            ScramMechanism::from_name("SCRAM-SHA-512"),
            Some(ScramMechanism::Sha512)
        );
        assert_eq!(ScramMechanism::Sha256.name(), "SCRAM-SHA-256");
        assert_eq!(ScramMechanism::from_name("PLAIN"), None);
    }
}
