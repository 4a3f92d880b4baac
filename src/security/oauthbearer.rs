//! SASL/OAUTHBEARER on the server side (RFC 7628, KIP-255) with Kafka's secured validator
//! (KIP-768): the client's initial response carries a signed JWT, which is checked against the
//! keys of a local JWKS file.
//!
//! What is checked, as Kafka's broker validator does: the JWS algorithm (RS256 or ES256 only:
//! `none` and the HMAC algorithms are refused), the signature with the JWKS key the token's
//! `kid` names, `exp` (required) and `nbf` with `sasl.oauthbearer.clock.skew.seconds` of
//! leeway, `iat` (required), the audience (any of `sasl.oauthbearer.expected.audience`, when
//! set), the issuer (`sasl.oauthbearer.expected.issuer`, when set), the scope claim's shape,
//! and the subject claim (`sasl.oauthbearer.sub.claim.name`), whose value is the principal.
//!
//! The JWKS file is read at startup and again when its size or modification time changes (a
//! broken new file is ignored and the previous keys stay in use). Errors name the check that
//! failed, never anything the token holds.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;

/// The largest client initial response accepted; a JWT is a few KiB at most.
pub const MAX_INITIAL_RESPONSE: usize = 64 * 1024;

/// The byte RFC 7628 separates key=value pairs with (and the client's whole answer to an error
/// challenge).
pub const SEPARATOR: u8 = 0x01;

/// A client initial response (RFC 7628 section 3.1, Kafka's OAuthBearerClientInitialResponse):
/// `n,[a=<authzid>],` `\x01` `auth=Bearer <token>` `\x01` (`key=value` `\x01`)* `\x01`.
pub struct ClientInitialResponse {
    /// The requested authorization id (empty when the client named none).
    pub authzid: String,
    /// The bearer token (a JWS in compact form).
    pub token: String,
    /// SASL extensions (KIP-342), accepted and not interpreted, as Kafka's default validator.
    pub extensions: Vec<(String, String)>,
}

impl std::fmt::Debug for ClientInitialResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInitialResponse")
            .field("authzid", &self.authzid)
            .field("token", &"<redacted>")
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

/// Why a client initial response was refused (before any token check).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitialResponseError {
    #[error("OAUTHBEARER client first message larger than {MAX_INITIAL_RESPONSE} bytes")]
    TooLarge,
    #[error("Invalid OAUTHBEARER client first message: {0}")]
    Malformed(&'static str),
}

fn is_saslname_char(c: u8) -> bool {
    (0x01..=0x7F).contains(&c) && c != b'=' && c != b','
}

/// RFC 5801's saslname: `=2C` and `=3D` are the only escapes; kept as sent, as Kafka does.
fn valid_saslname(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            match b.get(i + 1..i + 3) {
                Some(b"2C") | Some(b"3D") => i += 3,
                _ => return false,
            }
        } else if is_saslname_char(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    !b.is_empty()
}

/// Parses a client initial response.
pub fn parse_initial_response(bytes: &[u8]) -> Result<ClientInitialResponse, InitialResponseError> {
    use InitialResponseError::Malformed;
    if bytes.len() > MAX_INITIAL_RESPONSE {
        return Err(InitialResponseError::TooLarge);
    }
    let message = std::str::from_utf8(bytes).map_err(|_| Malformed("not UTF-8"))?;
    let rest = message
        .strip_prefix("n,")
        .ok_or(Malformed("no gs2 header"))?;
    let (authzid, rest) = rest.split_once(',').ok_or(Malformed("no gs2 header"))?;
    let authzid = match authzid {
        "" => String::new(),
        a => {
            let name = a
                .strip_prefix("a=")
                .ok_or(Malformed("bad authorization id"))?;
            if !valid_saslname(name) {
                return Err(Malformed("bad authorization id"));
            }
            name.to_string()
        }
    };
    let pairs = rest
        .strip_prefix('\u{1}')
        .and_then(|r| r.strip_suffix('\u{1}'))
        .ok_or(Malformed("bad separators"))?;
    let mut auth = None;
    let mut extensions: Vec<(String, String)> = Vec::new();
    if !pairs.is_empty() {
        let pairs = pairs
            .strip_suffix('\u{1}')
            .ok_or(Malformed("bad separators"))?;
        for pair in pairs.split('\u{1}') {
            let (key, value) = pair
                .split_once('=')
                .ok_or(Malformed("bad key=value pair"))?;
            if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphabetic()) {
                return Err(Malformed("bad key"));
            }
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|c| (0x21..=0x7E).contains(&c) || b" \t\r\n".contains(&c))
            {
                return Err(Malformed("bad value"));
            }
            if key == "auth" {
                auth = Some(value);
            } else {
                // A repeated key keeps its last value, as Kafka's map does.
                extensions.retain(|(k, _)| k != key);
                extensions.push((key.to_string(), value.to_string()));
            }
        }
    }
    let auth = auth.ok_or(Malformed("'auth' not specified"))?;
    let (scheme, token) = auth
        .split_once(' ')
        .ok_or(Malformed("invalid 'auth' format"))?;
    let token = token.trim_start_matches(' ');
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    if scheme.is_empty() || !scheme.bytes().all(word) {
        return Err(Malformed("invalid 'auth' format"));
    }
    if token.is_empty()
        || !token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
    {
        return Err(Malformed("invalid 'auth' format"));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Malformed("invalid scheme"));
    }
    Ok(ClientInitialResponse {
        authzid,
        token: token.to_string(),
        extensions,
    })
}

/// The JSON error challenge Kafka's server answers an invalid token with (RFC 7628 section
/// 3.2.2); the client answers it with a single `\x01` and the exchange fails.
pub const INVALID_TOKEN_CHALLENGE: &str = r#"{"status":"invalid_token"}"#;

/// The validator's settings (Kafka's `sasl.oauthbearer.*` broker properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerSettings {
    /// The JWKS file (`sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL).
    pub jwks_file: PathBuf,
    /// Any of these must be in the token's `aud`; empty: the audience is not checked.
    pub expected_audience: Vec<String>,
    /// The token's `iss` must equal it, when set.
    pub expected_issuer: Option<String>,
    pub sub_claim_name: String,
    pub scope_claim_name: String,
    pub clock_skew_seconds: u64,
}

/// The local file a `sasl.oauthbearer.jwks.endpoint.url` names. Only `file:` URLs are served:
/// fetching keys over HTTPS is not built.
pub fn jwks_file_from_url(url: &str) -> Result<PathBuf, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url:?} is not a URL (expected file:/path/to/jwks.json)"
        ));
    };
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(format!(
            "sasl.oauthbearer.jwks.endpoint.url: {scheme} URLs are not supported, only file: URLs naming a local JWKS file"
        ));
    }
    // file:/p, file:///p and file://localhost/p, as Java's URL reads them.
    let path = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(i) if i == 0 || &after[..i] == "localhost" => &after[i..],
            _ => {
                return Err(format!(
                    "sasl.oauthbearer.jwks.endpoint.url {url:?}: only local files (file:///path) are supported"
                ))
            }
        },
        None => rest,
    };
    if !path.starts_with('/') {
        return Err(format!(
            "sasl.oauthbearer.jwks.endpoint.url {url:?}: the path must be absolute (file:///path)"
        ));
    }
    Ok(PathBuf::from(path))
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    /// The subject claim's value (trimmed): the principal's name.
    pub principal_name: String,
    pub scopes: Vec<String>,
    /// `exp`, in seconds since the epoch.
    pub expires_at: u64,
}

/// Why a token was refused. No variant carries anything the token holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is not a well-formed JWS")]
    Malformed,
    #[error("the access token's signing algorithm is not accepted (RS256 and ES256 are)")]
    Algorithm,
    #[error("no key of the JWKS matches the access token's key id and algorithm")]
    UnknownKey,
    #[error("the access token's signature does not verify")]
    Signature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token's audience is not an expected one")]
    Audience,
    #[error("the access token's issuer is not the expected one")]
    Issuer,
    #[error("the access token has no valid '{0}' claim")]
    Claim(String),
}

struct JwksKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

struct LoadedJwks {
    /// Size and modification time of the file the keys were read from.
    stamp: Option<(u64, SystemTime)>,
    keys: Vec<JwksKey>,
}

fn file_stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// The keys of a JWKS document that can verify RS256 or ES256 signatures; other keys
/// (encryption keys, other curves and types) are skipped.
fn parse_jwks(text: &str) -> Result<Vec<JwksKey>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON document: {e}"))?;
    let entries = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("no \"keys\" array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        if matches!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
        ) {
            continue;
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let declared_ok = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        if !declared_ok {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(JwksKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err("no RS256 or ES256 signing key".into());
    }
    Ok(keys)
}

fn load_jwks(path: &Path) -> Result<LoadedJwks, String> {
    let stamp = file_stamp(path);
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    Ok(LoadedJwks {
        stamp,
        keys: parse_jwks(&text)?,
    })
}

/// Why a token's header did not parse: an `alg` jsonwebtoken does not know (`none`, say) is an
/// algorithm refusal, anything else a malformed token.
fn header_error(token: &str) -> TokenError {
    use base64::Engine;
    let alg = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h.get("alg").cloned());
    match alg {
        Some(serde_json::Value::String(_)) => TokenError::Algorithm,
        _ => TokenError::Malformed,
    }
}

/// Validates bearer tokens with the settings of one listener.
pub struct OAuthBearerValidator {
    settings: OAuthBearerSettings,
    jwks: RwLock<LoadedJwks>,
}

impl std::fmt::Debug for OAuthBearerValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBearerValidator")
            .field("settings", &self.settings)
            .field("keys", &self.jwks.read().keys.len())
            .finish()
    }
}

impl OAuthBearerValidator {
    /// Reads the JWKS file; fails if it cannot be read or holds no usable key.
    pub fn new(settings: OAuthBearerSettings) -> Result<OAuthBearerValidator, String> {
        let jwks = load_jwks(&settings.jwks_file)
            .map_err(|e| format!("JWKS file {}: {e}", settings.jwks_file.display()))?;
        Ok(OAuthBearerValidator {
            settings,
            jwks: RwLock::new(jwks),
        })
    }

    pub fn settings(&self) -> &OAuthBearerSettings {
        &self.settings
    }

    /// Re-reads the JWKS file if it changed since it was read. A file that no longer parses
    /// leaves the previous keys in use (and is tried again on the next change).
    fn refresh_keys(&self) {
        let stamp = file_stamp(&self.settings.jwks_file);
        if stamp.is_none() || stamp == self.jwks.read().stamp {
            return;
        }
        let mut jwks = self.jwks.write();
        if stamp == jwks.stamp {
            return;
        }
        match load_jwks(&self.settings.jwks_file) {
            Ok(fresh) => {
                tracing::info!(file = %self.settings.jwks_file.display(), keys = fresh.keys.len(), "OAUTHBEARER JWKS reloaded");
                *jwks = fresh;
            }
            Err(e) => {
                tracing::warn!(file = %self.settings.jwks_file.display(), error = %e, "OAUTHBEARER JWKS not reloaded, previous keys kept");
                jwks.stamp = stamp;
            }
        }
    }

    /// Checks a compact JWS; the principal's name is the subject claim.
    pub fn validate(&self, token: &str) -> Result<ValidatedToken, TokenError> {
        use jsonwebtoken::errors::ErrorKind;

        // The header names the algorithm; anything but RS256 and ES256 (HS*, and `none`,
        // which jsonwebtoken cannot even parse) stops here, before any key is chosen.
        let header = jsonwebtoken::decode_header(token).map_err(|_| header_error(token))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(TokenError::Algorithm);
        }
        self.refresh_keys();
        let candidates: Vec<DecodingKey> = {
            let jwks = self.jwks.read();
            jwks.keys
                .iter()
                .filter(|k| k.algorithm == header.alg)
                .filter(|k| match &header.kid {
                    Some(kid) => k.kid.as_deref() == Some(kid.as_str()),
                    None => true,
                })
                .map(|k| k.key.clone())
                .collect()
        };
        if candidates.is_empty() {
            return Err(TokenError::UnknownKey);
        }

        let s = &self.settings;
        let mut validation = Validation::new(header.alg);
        validation.leeway = s.clock_skew_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if s.expected_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&s.expected_audience);
            required.push("aud");
        }
        if let Some(issuer) = &s.expected_issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);

        let mut outcome = Err(TokenError::Signature);
        for key in &candidates {
            outcome = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
                .map(|data| data.claims)
                .map_err(|e| match e.kind() {
                    ErrorKind::InvalidSignature => TokenError::Signature,
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    ErrorKind::InvalidAudience => TokenError::Audience,
                    ErrorKind::InvalidIssuer => TokenError::Issuer,
                    ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                        "aud" => TokenError::Audience,
                        "iss" => TokenError::Issuer,
                        other => TokenError::Claim(other.to_string()),
                    },
                    ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                    _ => TokenError::Malformed,
                });
            if !matches!(outcome, Err(TokenError::Signature)) {
                break;
            }
        }
        let claims = outcome?;
        self.check_claims(&claims)
    }

    /// What Kafka checks beyond the JWS library: `exp` and `iat` numeric, the subject a
    /// non-blank string, the scope a string or a list of non-blank strings.
    fn check_claims(&self, claims: &serde_json::Value) -> Result<ValidatedToken, TokenError> {
        let s = &self.settings;
        let numeric = |name: &str| {
            claims
                .get(name)
                .and_then(|v| v.as_f64())
                .filter(|v| *v >= 0.0)
                .ok_or_else(|| TokenError::Claim(name.to_string()))
        };
        let expires_at = numeric("exp")? as u64;
        numeric("iat")?;
        let principal_name = claims
            .get(&s.sub_claim_name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| TokenError::Claim(s.sub_claim_name.clone()))?
            .to_string();
        let scope_error = || TokenError::Claim(s.scope_claim_name.clone());
        let scopes = match claims.get(&s.scope_claim_name) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::String(scope)) => vec![scope.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(scope_error))
                .collect::<Result<_, _>>()?,
            Some(_) => Vec::new(),
        };
        let scopes: Vec<String> = scopes.iter().map(|s| s.trim().to_string()).collect();
        if scopes.iter().any(String::is_empty) {
            return Err(scope_error());
        }
        Ok(ValidatedToken {
            principal_name,
            scopes,
            expires_at,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A throw-away RSA 2048 key made for these tests only (ring cannot generate RSA keys).
    const RSA_KEY_PEM: &str = include_str!("oauthbearer/test-rsa-key.pem");
    /// Its modulus, base64url (the JWK `n`); the exponent is 65537 (`AQAB`).
    const RSA_N: &str = include_str!("oauthbearer/test-rsa-n.txt");

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    struct EcKey {
        pem: String,
        x: String,
        y: String,
    }

    fn ec_key() -> EcKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        assert_eq!((raw.len(), raw[0]), (65, 4), "uncompressed P-256 point");
        EcKey {
            pem: pair.serialize_pem(),
            x: B64URL.encode(&raw[1..33]),
            y: B64URL.encode(&raw[33..65]),
        }
    }

    /// A JWKS file (`rsa-1`, `ec-1` and an HMAC key that must be ignored) in a temporary
    /// directory; the other SASL tests use it too.
    pub(crate) struct Fixture {
        _dir: tempfile::TempDir,
        jwks: PathBuf,
        ec: EcKey,
    }

    fn jwks_json(ec: &EcKey) -> String {
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": RSA_N.trim(), "e": "AQAB"},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": ec.x, "y": ec.y},
            {"kty": "oct", "kid": "hmac-1", "k": "c2VjcmV0"},
        ]})
        .to_string()
    }

    pub(crate) fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        let ec = ec_key();
        std::fs::write(&jwks, jwks_json(&ec)).unwrap();
        Fixture {
            _dir: dir,
            jwks,
            ec,
        }
    }

    fn settings(f: &Fixture) -> OAuthBearerSettings {
        OAuthBearerSettings {
            jwks_file: f.jwks.clone(),
            expected_audience: vec!["kafka".into(), "troupe".into()],
            expected_issuer: Some("https://issuer.example".into()),
            sub_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            clock_skew_seconds: 30,
        }
    }

    pub(crate) fn claims() -> serde_json::Value {
        let now = now();
        json!({"sub": "alice", "aud": ["troupe"], "iss": "https://issuer.example",
               "iat": now, "exp": now + 300, "nbf": now - 10, "scope": "produce consume"})
    }

    pub(crate) fn sign_rsa(claims: &serde_json::Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_rsa_pem(RSA_KEY_PEM.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn sign_ec(claims: &serde_json::Value, kid: &str, ec: &EcKey) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_ec_pem(ec.pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    pub(crate) fn validator(f: &Fixture) -> OAuthBearerValidator {
        OAuthBearerValidator::new(settings(f)).unwrap()
    }

    #[test]
    fn valid_rs256_and_es256_tokens_name_the_subject() {
        let f = fixture();
        let v = validator(&f);
        let ok = v.validate(&sign_rsa(&claims(), "rsa-1")).unwrap();
        assert_eq!(ok.principal_name, "alice");
        assert_eq!(ok.scopes, vec!["produce consume".to_string()]);
        let ok = v.validate(&sign_ec(&claims(), "ec-1", &f.ec)).unwrap();
        assert_eq!(ok.principal_name, "alice");
    }

    #[test]
    fn a_token_without_kid_is_checked_against_the_keys_of_its_algorithm() {
        let f = fixture();
        let v = validator(&f);
        let header = Header::new(Algorithm::RS256);
        let key = EncodingKey::from_rsa_pem(RSA_KEY_PEM.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert_eq!(v.validate(&token).unwrap().principal_name, "alice");
    }

    #[test]
    fn wrong_key_is_refused() {
        let f = fixture();
        let v = validator(&f);
        // A kid the JWKS does not hold.
        assert_eq!(
            v.validate(&sign_rsa(&claims(), "rsa-2")),
            Err(TokenError::UnknownKey)
        );
        // The right kid, another key.
        let other = ec_key();
        assert_eq!(
            v.validate(&sign_ec(&claims(), "ec-1", &other)),
            Err(TokenError::Signature)
        );
        // An RSA signature under the EC key's kid.
        assert_eq!(
            v.validate(&sign_rsa(&claims(), "ec-1")),
            Err(TokenError::UnknownKey)
        );
        // A tampered payload.
        let token = sign_rsa(&claims(), "rsa-1");
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["sub"] = json!("mallory");
        let forged = B64URL.encode(forged.to_string());
        parts[1] = &forged;
        assert_eq!(v.validate(&parts.join(".")), Err(TokenError::Signature));
    }

    #[test]
    fn time_claims_are_checked_with_the_clock_skew() {
        let f = fixture();
        let v = validator(&f);
        let now = now();
        let mut c = claims();
        c["exp"] = json!(now - 120);
        assert_eq!(v.validate(&sign_rsa(&c, "rsa-1")), Err(TokenError::Expired));
        // Within the 30 s skew: still accepted.
        c["exp"] = json!(now - 10);
        assert!(v.validate(&sign_rsa(&c, "rsa-1")).is_ok());
        let mut c = claims();
        c["nbf"] = json!(now + 120);
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::NotYetValid)
        );
        c["nbf"] = json!(now + 10);
        assert!(v.validate(&sign_rsa(&c, "rsa-1")).is_ok());
        // exp and iat are required.
        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("exp".into()))
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("iat".into()))
        );
    }

    #[test]
    fn audience_and_issuer_are_checked() {
        let f = fixture();
        let v = validator(&f);
        let mut c = claims();
        c["aud"] = json!("kafka");
        assert!(v.validate(&sign_rsa(&c, "rsa-1")).is_ok());
        c["aud"] = json!(["elsewhere"]);
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Audience)
        );
        c.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Audience)
        );
        let mut c = claims();
        c["iss"] = json!("https://other.example");
        assert_eq!(v.validate(&sign_rsa(&c, "rsa-1")), Err(TokenError::Issuer));
        c.as_object_mut().unwrap().remove("iss");
        assert_eq!(v.validate(&sign_rsa(&c, "rsa-1")), Err(TokenError::Issuer));

        // Neither configured: neither checked.
        let mut s = settings(&f);
        s.expected_audience.clear();
        s.expected_issuer = None;
        let v = OAuthBearerValidator::new(s).unwrap();
        let mut c = claims();
        c["aud"] = json!("anything");
        c["iss"] = json!("anyone");
        assert!(v.validate(&sign_rsa(&c, "rsa-1")).is_ok());
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let f = fixture();
        let v = validator(&f);
        let body = B64URL.encode(claims().to_string());
        let none = format!("{}.{body}.", B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(v.validate(&none), Err(TokenError::Algorithm));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("hmac-1".into());
        let hs =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(v.validate(&hs), Err(TokenError::Algorithm));
        // HS256 signed with the RSA public key's bytes (the classic confusion attack).
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(RSA_N.as_bytes()),
        )
        .unwrap();
        assert_eq!(v.validate(&hs), Err(TokenError::Algorithm));
        assert_eq!(v.validate("not-a-jwt"), Err(TokenError::Malformed));
    }

    #[test]
    fn the_subject_claim_is_required_and_configurable() {
        let f = fixture();
        let v = validator(&f);
        let mut c = claims();
        c.as_object_mut().unwrap().remove("sub");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("sub".into()))
        );
        c["sub"] = json!("  ");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("sub".into()))
        );
        c["sub"] = json!(42);
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("sub".into()))
        );

        let mut s = settings(&f);
        s.sub_claim_name = "client_id".into();
        let v = OAuthBearerValidator::new(s).unwrap();
        let mut c = claims();
        c["client_id"] = json!("svc-orders");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")).unwrap().principal_name,
            "svc-orders"
        );
        c.as_object_mut().unwrap().remove("client_id");
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("client_id".into()))
        );
    }

    #[test]
    fn scope_claim_shapes() {
        let f = fixture();
        let mut s = settings(&f);
        s.scope_claim_name = "scp".into();
        let v = OAuthBearerValidator::new(s).unwrap();
        let mut c = claims();
        c["scp"] = json!(["read", "write"]);
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")).unwrap().scopes,
            vec!["read".to_string(), "write".to_string()]
        );
        c["scp"] = json!(["read", " "]);
        assert_eq!(
            v.validate(&sign_rsa(&c, "rsa-1")),
            Err(TokenError::Claim("scp".into()))
        );
    }

    #[test]
    fn errors_name_no_token_contents() {
        let f = fixture();
        let v = validator(&f);
        let mut c = claims();
        c["sub"] = json!("secret-subject");
        c["aud"] = json!("secret-audience");
        let err = v.validate(&sign_rsa(&c, "secret-kid")).unwrap_err();
        let err2 = v.validate(&sign_rsa(&c, "rsa-1")).unwrap_err();
        for e in [err, err2] {
            let text = e.to_string();
            assert!(!text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn the_jwks_file_is_reread_when_it_changes() {
        let f = fixture();
        let v = validator(&f);
        let other = ec_key();
        let token = sign_ec(&claims(), "ec-2", &other);
        assert_eq!(v.validate(&token), Err(TokenError::UnknownKey));
        let rotated = json!({"keys": [
            {"kty": "EC", "kid": "ec-2", "crv": "P-256", "x": other.x, "y": other.y},
        ]});
        std::fs::write(&f.jwks, rotated.to_string()).unwrap();
        assert_eq!(v.validate(&token).unwrap().principal_name, "alice");
        // A broken file keeps the keys in use.
        std::fs::write(&f.jwks, "{ not json").unwrap();
        assert_eq!(v.validate(&token).unwrap().principal_name, "alice");
    }

    #[test]
    fn a_jwks_without_a_usable_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
        let s = OAuthBearerSettings {
            jwks_file: path.clone(),
            expected_audience: vec![],
            expected_issuer: None,
            sub_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            clock_skew_seconds: 30,
        };
        assert!(OAuthBearerValidator::new(s.clone()).is_err());
        let s = OAuthBearerSettings {
            jwks_file: dir.path().join("missing.json"),
            ..s
        };
        assert!(OAuthBearerValidator::new(s).is_err());
    }

    #[test]
    fn jwks_urls() {
        assert_eq!(
            jwks_file_from_url("file:///etc/troupe/jwks.json"),
            Ok(PathBuf::from("/etc/troupe/jwks.json"))
        );
        assert_eq!(
            jwks_file_from_url("file:/etc/jwks.json"),
            Ok(PathBuf::from("/etc/jwks.json"))
        );
        assert_eq!(
            jwks_file_from_url("file://localhost/etc/jwks.json"),
            Ok(PathBuf::from("/etc/jwks.json"))
        );
        let https = jwks_file_from_url("https://idp.example/jwks").unwrap_err();
        assert!(https.contains("not supported"), "{https}");
        assert!(jwks_file_from_url("file://host/etc/jwks.json").is_err());
        assert!(jwks_file_from_url("file:relative.json").is_err());
        assert!(jwks_file_from_url("/etc/jwks.json").is_err());
    }

    #[test]
    fn initial_response_is_parsed_as_kafka_writes_it() {
        let r = parse_initial_response(b"n,,\x01auth=Bearer abc.def-_.ghi\x01\x01").unwrap();
        assert_eq!(
            (r.authzid.as_str(), r.token.as_str()),
            ("", "abc.def-_.ghi")
        );
        assert!(r.extensions.is_empty());
        let r = parse_initial_response(
            b"n,a=alice,\x01auth=bearer  tok\x01traceId=42 x\x01logicalCluster=lc-1\x01\x01",
        )
        .unwrap();
        assert_eq!((r.authzid.as_str(), r.token.as_str()), ("alice", "tok"));
        assert_eq!(
            r.extensions,
            vec![
                ("traceId".to_string(), "42 x".to_string()),
                ("logicalCluster".to_string(), "lc-1".to_string())
            ]
        );
        assert!(!format!("{r:?}").contains("tok\""));
    }

    #[test]
    fn malformed_initial_responses_are_refused() {
        use InitialResponseError::*;
        let cases: &[&[u8]] = &[
            b"",
            b"\x01",
            b"y,,\x01auth=Bearer t\x01\x01",
            b"n,\x01auth=Bearer t\x01\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01",
            b"n,,\x01auth=Bearer t",
            b"n,,\x01\x01",
            b"n,,\x01x=y\x01\x01",
            b"n,,\x01auth=Basic dXNlcg\x01\x01",
            b"n,,\x01auth=Bearer\x01\x01",
            b"n,,\x01auth=Bearer t!t\x01\x01",
            b"n,,\x01auth=Bearer t\x01k1=v\x01\x01",
            b"n,,\x01auth=Bearer t\x01k=\x01\x01",
            b"n,,\x01auth=Bearer t\x01=v\x01\x01",
            b"n,b=x,\x01auth=Bearer t\x01\x01",
            b"n,a=,\x01auth=Bearer t\x01\x01",
            b"n,a=x=y,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01\x01\x01",
            b"n,,\x01auth=Bearer \xff\x01\x01",
        ];
        for case in cases {
            assert!(
                matches!(parse_initial_response(case), Err(Malformed(_))),
                "{case:?}"
            );
        }
        let mut big = b"n,,\x01auth=Bearer ".to_vec();
        big.resize(MAX_INITIAL_RESPONSE, b'a');
        big.extend_from_slice(b"\x01\x01");
        assert_eq!(parse_initial_response(&big).unwrap_err(), TooLarge);
    }
}
