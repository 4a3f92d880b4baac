//! Kafka's `kafka-storage format --add-scram` syntax, which `troupe serve --add-scram` takes to
//! seed SCRAM credentials into a new metadata log: `MECHANISM=[name=USER,password=PASSWORD]`,
//! optionally with `iterations=N`, `salt=BASE64` and, instead of the password,
//! `saltedpassword=BASE64`. Values may be double-quoted.
//!
//! No error text carries the password, the salted password or the spec itself: a bad spec is
//! described by its mechanism and user only.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

use super::scram::{ScramCredential, ScramMechanism, MIN_ITERATIONS};
use super::Secret;

/// One parsed `--add-scram` value: a user and its derived credential.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramBootstrap {
    pub user: String,
    pub credential: ScramCredential,
}

impl fmt::Debug for ScramBootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramBootstrap")
            .field("user", &self.user)
            .field("credential", &self.credential)
            .finish()
    }
}

/// Why an `--add-scram` value was refused. Names the mechanism and user when they could be
/// read; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddScramError {
    #[error("--add-scram: expected MECHANISM=[name=...,password=...]: {0}")]
    Syntax(&'static str),
    #[error("--add-scram: unknown SCRAM mechanism '{0}' (SCRAM-SHA-256 or SCRAM-SHA-512)")]
    UnknownMechanism(String),
    #[error("--add-scram {mechanism} for user '{user}': {reason}")]
    Invalid {
        mechanism: &'static str,
        user: String,
        reason: String,
    },
}

/// Parses one `--add-scram` value and derives its credential (a random 32-byte salt and
/// 4096 iterations unless given).
pub fn parse_add_scram(spec: &str) -> Result<ScramBootstrap, AddScramError> {
    let (mechanism, rest) = spec
        .split_once('=')
        .ok_or(AddScramError::Syntax("no '=' after the mechanism"))?;
    let mechanism = mechanism.trim();
    let mechanism = ScramMechanism::from_name(mechanism)
        .ok_or_else(|| AddScramError::UnknownMechanism(mechanism.to_string()))?;
    let body = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(AddScramError::Syntax(
            "the user's settings must be in [...]",
        ))?;
    let mut name = None;
    let mut password: Option<Secret> = None;
    let mut salted: Option<Secret> = None;
    let mut salt = None;
    let mut iterations = None;
    let mut unknown = None;
    for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or(AddScramError::Syntax("a setting without '='"))?;
        let value = unquote(value.trim());
        match key.trim() {
            "name" => name = Some(value.to_string()),
            "password" => password = Some(Secret::new(value)),
            "saltedpassword" => salted = Some(Secret::new(value)),
            "salt" => salt = Some(value.to_string()),
            "iterations" => iterations = Some(value.to_string()),
            other => unknown = Some(other.to_string()),
        }
    }
    let user = name
        .filter(|n| !n.is_empty())
        .ok_or(AddScramError::Syntax("no name=USER"))?;
    let invalid = |reason: String| AddScramError::Invalid {
        mechanism: mechanism.name(),
        user: user.clone(),
        reason,
    };
    if let Some(key) = unknown {
        return Err(invalid(format!("unknown setting '{key}'")));
    }
    let iterations = match iterations {
        None => MIN_ITERATIONS,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| invalid(format!("iterations '{v}' is not a number")))?,
    };
    let salt = match salt {
        Some(s) => BASE64
            .decode(s.as_bytes())
            .map_err(|_| invalid("salt is not base64".into()))?,
        None => {
            let mut s = vec![0u8; 32];
            OsRng.fill_bytes(&mut s);
            s
        }
    };
    let credential = match (password, salted) {
        (Some(p), None) => ScramCredential::new(mechanism, p.expose(), &salt, iterations),
        (None, Some(sp)) => {
            let sp = BASE64
                .decode(sp.expose().as_bytes())
                .map_err(|_| invalid("saltedpassword is not base64".into()))?;
            ScramCredential::from_salted_password(mechanism, &salt, &sp, iterations)
        }
        (Some(_), Some(_)) => {
            return Err(invalid("give password or saltedpassword, not both".into()))
        }
        (None, None) => return Err(invalid("no password".into())),
    }
    .map_err(|e| invalid(e.to_string()))?;
    Ok(ScramBootstrap { user, credential })
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_storage_syntax() {
        let b = parse_add_scram("SCRAM-SHA-256=[name=admin,password=admin-secret]").unwrap();
        assert_eq!(b.user, "admin");
        assert_eq!(b.credential.mechanism(), ScramMechanism::Sha256);
        assert_eq!(b.credential.iterations(), 4096);
        assert_eq!(b.credential.salt().len(), 32);

        let b = parse_add_scram(
            "SCRAM-SHA-512=[name=\"alice\",iterations=8192,salt=\"c2FsdA==\",password=\"pw\"]",
        )
        .unwrap();
        let expected = ScramCredential::new(ScramMechanism::Sha512, "pw", b"salt", 8192).unwrap();
        assert_eq!(b.user, "alice");
        assert_eq!(b.credential, expected);
    }

    #[test]
    fn errors_name_mechanism_and_user_never_the_password() {
        for spec in [
            "SCRAM-SHA-256=[name=admin,password=hunter2,iterations=10]",
            "SCRAM-SHA-256=[name=admin,password=hunter2,salt=%%%]",
            "SCRAM-SHA-256=[name=admin,password=hunter2,bogus=1]",
            "SCRAM-SHA-256=[password=hunter2]",
            "SCRAM-SHA-256=name=admin,password=hunter2",
            "SCRAM-SHA-1=[name=admin,password=hunter2]",
            "hunter2",
        ] {
            let e = parse_add_scram(spec).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{spec}: {e}");
        }
        let e = parse_add_scram("SCRAM-SHA-256=[name=admin,password=hunter2,iterations=10]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("SCRAM-SHA-256") && e.contains("admin"), "{e}");
    }
}
