//! SASL PLAIN (RFC 4616) on the server side.
//!
//! PLAIN sends the password in the clear, so the only thing the server can do wrong is leak
//! it or how close a guess came: the message is bounded before it is parsed, errors name no
//! field's value, and the password check compares fixed-length digests in constant time, so
//! neither the length of the stored password nor whether the user exists shows in the timing.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Secret;

/// Longest PLAIN message accepted (Kafka's own limit is higher; 1 KiB is ample for a name
/// and a password and caps what an unauthenticated peer makes the server parse).
pub const MAX_PLAIN_MESSAGE: usize = 1024;

/// Why a PLAIN message was refused. No variant carries the name or password sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    #[error("SASL/PLAIN message of {0} bytes exceeds the {MAX_PLAIN_MESSAGE}-byte limit")]
    TooLarge(usize),
    #[error("SASL/PLAIN message is not valid UTF-8")]
    NotUtf8,
    #[error("SASL/PLAIN message must be [authzid] NUL authcid NUL passwd")]
    Malformed,
    #[error("SASL/PLAIN username is empty")]
    EmptyUsername,
    #[error("SASL/PLAIN password is empty")]
    EmptyPassword,
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthzidMismatch,
    #[error("Authentication failed: Invalid username or password")]
    InvalidCredentials,
}

/// The users a PLAIN server accepts and their passwords (Kafka's `user_<name>` JAAS options).
#[derive(Clone, Default)]
pub struct PlainUsers {
    users: HashMap<String, Secret>,
}

impl fmt::Debug for PlainUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("PlainUsers").field("users", &names).finish()
    }
}

impl PlainUsers {
    pub fn new(users: impl IntoIterator<Item = (String, Secret)>) -> Self {
        PlainUsers {
            users: users.into_iter().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Runs the server's one step: parses `message` and checks it against the table.
    /// Returns the authenticated user name.
    pub fn authenticate(&self, message: &[u8]) -> Result<String, PlainError> {
        if message.len() > MAX_PLAIN_MESSAGE {
            return Err(PlainError::TooLarge(message.len()));
        }
        let text = std::str::from_utf8(message).map_err(|_| PlainError::NotUtf8)?;
        let mut fields = text.split('\0');
        let (Some(authzid), Some(authcid), Some(passwd), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(PlainError::Malformed);
        };
        if authcid.is_empty() {
            return Err(PlainError::EmptyUsername);
        }
        if passwd.is_empty() {
            return Err(PlainError::EmptyPassword);
        }
        if !authzid.is_empty() && authzid != authcid {
            return Err(PlainError::AuthzidMismatch);
        }
        // An unknown user is compared against a digest no password has, so it costs the
        // same as a wrong password.
        let expected = match self.users.get(authcid) {
            Some(secret) => Sha256::digest(secret.expose().as_bytes()).into(),
            None => [0u8; 32],
        };
        let given: [u8; 32] = Sha256::digest(passwd.as_bytes()).into();
        let matches: bool = given.ct_eq(&expected).into();
        if matches && self.users.contains_key(authcid) {
            Ok(authcid.to_owned())
        } else {
            Err(PlainError::InvalidCredentials)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> PlainUsers {
        PlainUsers::new([
            ("alice".to_owned(), Secret::new("alice-secret")),
            ("admin".to_owned(), Secret::new("admin-secret")),
        ])
    }

    #[test]
    fn accepts_a_known_user_with_and_without_authzid() {
        assert_eq!(
            users().authenticate(b"\0alice\0alice-secret"),
            Ok("alice".into())
        );
        assert_eq!(
            users().authenticate(b"admin\0admin\0admin-secret"),
            Ok("admin".into())
        );
    }

    #[test]
    fn refuses_wrong_password_and_unknown_user_alike() {
        let wrong = users().authenticate(b"\0alice\0admin-secret").unwrap_err();
        let prefix = users().authenticate(b"\0alice\0alice-secre").unwrap_err();
        let unknown = users()
            .authenticate(b"\0mallory\0alice-secret")
            .unwrap_err();
        assert_eq!(wrong, PlainError::InvalidCredentials);
        assert_eq!(prefix, PlainError::InvalidCredentials);
        assert_eq!(unknown, PlainError::InvalidCredentials);
        assert_eq!(wrong.to_string(), unknown.to_string());
    }

    #[test]
    fn refuses_an_authzid_other_than_the_user() {
        assert_eq!(
            users().authenticate(b"admin\0alice\0alice-secret"),
            Err(PlainError::AuthzidMismatch)
        );
    }

    #[test]
    fn refuses_malformed_messages() {
        let u = users();
        assert_eq!(
            u.authenticate(b"alice\0alice-secret"),
            Err(PlainError::Malformed)
        );
        assert_eq!(u.authenticate(b""), Err(PlainError::Malformed));
        assert_eq!(
            u.authenticate(b"\0alice\0alice-secret\0extra"),
            Err(PlainError::Malformed)
        );
        assert_eq!(
            u.authenticate(b"\0\0alice-secret"),
            Err(PlainError::EmptyUsername)
        );
        assert_eq!(u.authenticate(b"\0alice\0"), Err(PlainError::EmptyPassword));
        assert_eq!(
            u.authenticate(b"\0alice\0alice-\xffsecret"),
            Err(PlainError::NotUtf8)
        );
    }

    #[test]
    fn refuses_oversized_messages_before_parsing() {
        let mut msg = b"\0alice\0".to_vec();
        msg.resize(MAX_PLAIN_MESSAGE, b'x');
        assert_eq!(
            users().authenticate(&msg),
            Err(PlainError::InvalidCredentials)
        );
        msg.push(b'x');
        assert_eq!(
            users().authenticate(&msg),
            Err(PlainError::TooLarge(MAX_PLAIN_MESSAGE + 1))
        );
    }

    #[test]
    fn errors_and_debug_name_no_secret() {
        let u = users();
        assert!(!format!("{u:?}").contains("secret"));
        assert!(format!("{u:?}").contains("alice"));
        for msg in [
            &b"\0alice\0guess-pass"[..],
            b"admin\0alice\0guess-pass",
            b"\0alice\0guess-pass\0",
        ] {
            let e = u.authenticate(msg).unwrap_err();
            assert!(!e.to_string().contains("guess"), "{e}");
            assert!(!format!("{e:?}").contains("guess"), "{e:?}");
        }
    }
}
