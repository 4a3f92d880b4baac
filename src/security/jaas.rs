//! Kafka's `sasl.jaas.config` value: one JAAS login-module entry.
//!
//! Kafka configures SASL users and client credentials through this Java syntax rather than
//! through ordinary properties, so operators' existing values must parse unchanged:
//! `<LoginModuleClass> <flag> key="value" key=value ... ;`, with `//` and `/* */` comments
//! and Java string escapes inside quotes. Option values are often passwords, so the parsed
//! entry's `Debug` shows option keys only and no error quotes a value.

use std::fmt;

use super::{PlainUsers, Secret};

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// JAAS's control flag of a login module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// Why a JAAS value did not parse or lacks what was asked of it. Positions are character
/// offsets into the value; option keys may be named, option values never are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    #[error("JAAS config is empty: expected `<LoginModule> <flag> [options] ;`")]
    Empty,
    #[error("JAAS config has no control flag after the login module")]
    MissingControlFlag,
    #[error(
        "JAAS config control flag `{0}` is not one of required, requisite, sufficient, optional"
    )]
    BadControlFlag(String),
    #[error("JAAS config option `{key}` at {position} has no `=`")]
    MissingEquals { key: String, position: usize },
    #[error("JAAS config option `{key}` has no value")]
    MissingValue { key: String },
    #[error("JAAS config option `{key}` has an unterminated quoted value")]
    UnterminatedQuote { key: String },
    #[error("JAAS config has an unexpected character at {position}")]
    Unexpected { position: usize },
    #[error("JAAS config has an unterminated /* comment")]
    UnterminatedComment,
    #[error("JAAS config does not end with `;`")]
    MissingSemicolon,
    #[error("JAAS config must hold exactly one login module; more follows at {position}")]
    TrailingInput { position: usize },
    #[error("JAAS config option `{0}` is given twice")]
    DuplicateOption(String),
    #[error("JAAS config login module `{found}` is not {expected}")]
    WrongLoginModule {
        found: String,
        expected: &'static str,
    },
    #[error("JAAS config lacks the `{0}` option")]
    MissingOption(&'static str),
}

/// One parsed login-module entry.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    login_module: String,
    control_flag: ControlFlag,
    options: Vec<(String, Secret)>,
}

impl fmt::Debug for JaasConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("JaasConfig")
            .field("login_module", &self.login_module)
            .field("control_flag", &self.control_flag)
            .field("option_keys", &keys)
            .finish()
    }
}

/// A client's `username` and `password` (PlainLoginModule and ScramLoginModule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub username: String,
    pub password: Secret,
}

impl JaasConfig {
    pub fn parse(value: &str) -> Result<JaasConfig, JaasError> {
        Parser::new(value).entry()
    }

    pub fn login_module(&self) -> &str {
        &self.login_module
    }

    pub fn control_flag(&self) -> ControlFlag {
        self.control_flag
    }

    /// The value of option `key`. Values may be secrets: do not log them.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose())
    }

    /// The broker's PLAIN users: every `user_<name>="<password>"` option of a PlainLoginModule.
    pub fn plain_users(&self) -> Result<PlainUsers, JaasError> {
        self.expect_module(&[PLAIN_LOGIN_MODULE], "PlainLoginModule")?;
        Ok(PlainUsers::new(self.options.iter().filter_map(|(k, v)| {
            k.strip_prefix("user_")
                .filter(|name| !name.is_empty())
                .map(|name| (name.to_owned(), v.clone()))
        })))
    }

    /// A client's credentials: `username` and `password` of a Plain- or ScramLoginModule.
    pub fn client_credentials(&self) -> Result<ClientCredentials, JaasError> {
        self.expect_module(
            &[PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE],
            "PlainLoginModule or ScramLoginModule",
        )?;
        let username = self
            .option("username")
            .ok_or(JaasError::MissingOption("username"))?;
        let password = self
            .option("password")
            .ok_or(JaasError::MissingOption("password"))?;
        Ok(ClientCredentials {
            username: username.to_owned(),
            password: Secret::new(password),
        })
    }

    fn expect_module(&self, modules: &[&str], expected: &'static str) -> Result<(), JaasError> {
        if modules.contains(&self.login_module.as_str()) {
            Ok(())
        } else {
            Err(JaasError::WrongLoginModule {
                found: self.login_module.clone(),
                expected,
            })
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '=' | ';' | '"')
}

impl Parser {
    fn new(value: &str) -> Self {
        Parser {
            chars: value.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_blank(&mut self) -> Result<(), JaasError> {
        loop {
            match (self.peek(), self.chars.get(self.pos + 1).copied()) {
                (Some(c), _) if c.is_whitespace() => self.pos += 1,
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                (Some('/'), Some('*')) => {
                    self.pos += 2;
                    loop {
                        match (self.peek(), self.chars.get(self.pos + 1).copied()) {
                            (Some('*'), Some('/')) => {
                                self.pos += 2;
                                break;
                            }
                            (Some(_), _) => self.pos += 1,
                            (None, _) => return Err(JaasError::UnterminatedComment),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    /// A quoted value, the opening quote already consumed. Escapes as Java's: `\n`, `\t`,
    /// `\r`, `\b`, `\f`, and a backslash before any other character stands for that character.
    fn quoted(&mut self, key: &str) -> Result<String, JaasError> {
        let mut out = String::new();
        loop {
            let unterminated = || JaasError::UnterminatedQuote {
                key: key.to_owned(),
            };
            let c = self.peek().ok_or_else(unterminated)?;
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek().ok_or_else(unterminated)?;
                    self.pos += 1;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        other => other,
                    });
                }
                other => out.push(other),
            }
        }
    }

    fn entry(mut self) -> Result<JaasConfig, JaasError> {
        self.skip_blank()?;
        if self.peek().is_none() {
            return Err(JaasError::Empty);
        }
        let login_module = self
            .word()
            .ok_or(JaasError::Unexpected { position: self.pos })?;
        self.skip_blank()?;
        let flag = self.word().ok_or(JaasError::MissingControlFlag)?;
        let control_flag = match flag.to_ascii_lowercase().as_str() {
            "required" => ControlFlag::Required,
            "requisite" => ControlFlag::Requisite,
            "sufficient" => ControlFlag::Sufficient,
            "optional" => ControlFlag::Optional,
            _ => return Err(JaasError::BadControlFlag(flag)),
        };
        let mut options: Vec<(String, Secret)> = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                None => return Err(JaasError::MissingSemicolon),
                Some(';') => {
                    self.pos += 1;
                    self.skip_blank()?;
                    if self.peek().is_some() {
                        return Err(JaasError::TrailingInput { position: self.pos });
                    }
                    return Ok(JaasConfig {
                        login_module,
                        control_flag,
                        options,
                    });
                }
                Some(_) => {}
            }
            let key = self
                .word()
                .ok_or(JaasError::Unexpected { position: self.pos })?;
            self.skip_blank()?;
            if self.peek() != Some('=') {
                return Err(JaasError::MissingEquals {
                    key,
                    position: self.pos,
                });
            }
            self.pos += 1;
            self.skip_blank()?;
            let value = if self.peek() == Some('"') {
                self.pos += 1;
                self.quoted(&key)?
            } else {
                self.word()
                    .ok_or_else(|| JaasError::MissingValue { key: key.clone() })?
            };
            if options.iter().any(|(k, _)| *k == key) {
                return Err(JaasError::DuplicateOption(key));
            }
            options.push((key, Secret::new(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_plain_server_example() {
        let cfg = JaasConfig::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_admin="admin-secret";"#,
        )
        .unwrap();
        assert_eq!(cfg.login_module(), PLAIN_LOGIN_MODULE);
        assert_eq!(cfg.control_flag(), ControlFlag::Required);
        let users = cfg.plain_users().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(
            users.authenticate(b"\0alice\0alice-secret"),
            Ok("alice".into())
        );
        assert_eq!(
            users.authenticate(b"\0admin\0admin-secret"),
            Ok("admin".into())
        );
    }

    #[test]
    fn parses_flags_unquoted_values_escapes_and_comments() {
        let cfg = JaasConfig::parse(
            "  org.apache.kafka.common.security.scram.ScramLoginModule Sufficient\n\
             // the client\n username=bob /* quoted: */ password = \"p\\\"a\\\\ss\\nw d\" ;  ",
        )
        .unwrap();
        assert_eq!(cfg.control_flag(), ControlFlag::Sufficient);
        let creds = cfg.client_credentials().unwrap();
        assert_eq!(creds.username, "bob");
        assert_eq!(creds.password.expose(), "p\"a\\ss\nw d");
        for (flag, want) in [
            ("requisite", ControlFlag::Requisite),
            ("optional", ControlFlag::Optional),
            ("required", ControlFlag::Required),
        ] {
            let cfg = JaasConfig::parse(&format!("{PLAIN_LOGIN_MODULE} {flag};")).unwrap();
            assert_eq!(cfg.control_flag(), want);
            assert!(cfg.plain_users().unwrap().is_empty());
        }
    }

    #[test]
    fn typed_access_checks_the_login_module() {
        let cfg =
            JaasConfig::parse(&format!("{SCRAM_LOGIN_MODULE} required user_x=\"y\";")).unwrap();
        assert!(matches!(
            cfg.plain_users(),
            Err(JaasError::WrongLoginModule { .. })
        ));
        assert_eq!(
            cfg.client_credentials(),
            Err(JaasError::MissingOption("username"))
        );
        let cfg = JaasConfig::parse(&format!("{PLAIN_LOGIN_MODULE} required username=u;")).unwrap();
        assert_eq!(
            cfg.client_credentials(),
            Err(JaasError::MissingOption("password"))
        );
        let cfg = JaasConfig::parse("com.example.Other required username=u password=p;").unwrap();
        assert!(matches!(
            cfg.client_credentials(),
            Err(JaasError::WrongLoginModule { .. })
        ));
    }

    #[test]
    fn refuses_malformed_values() {
        let m = PLAIN_LOGIN_MODULE;
        let cases: Vec<(String, JaasError)> = vec![
            ("   ".into(), JaasError::Empty),
            (m.to_string(), JaasError::MissingControlFlag),
            (
                format!("{m} mandatory;"),
                JaasError::BadControlFlag("mandatory".into()),
            ),
            (format!("{m} required"), JaasError::MissingSemicolon),
            (
                format!("{m} required user_a=\"x\""),
                JaasError::MissingSemicolon,
            ),
            (
                format!("{m} required user_a \"x\";"),
                JaasError::MissingEquals {
                    key: "user_a".into(),
                    position: m.len() + 17,
                },
            ),
            (
                format!("{m} required user_a=;"),
                JaasError::MissingValue {
                    key: "user_a".into(),
                },
            ),
            (
                format!("{m} required user_a=\"x;"),
                JaasError::UnterminatedQuote {
                    key: "user_a".into(),
                },
            ),
            (
                format!("{m} required /* x;"),
                JaasError::UnterminatedComment,
            ),
            (
                format!("{m} required; {m} required;"),
                JaasError::TrailingInput {
                    position: m.len() + 11,
                },
            ),
            (
                format!("{m} required a=1 a=2;"),
                JaasError::DuplicateOption("a".into()),
            ),
            (
                format!("{m} required =x;"),
                JaasError::Unexpected {
                    position: m.len() + 10,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(JaasConfig::parse(&input), Err(want), "{input}");
        }
    }

    #[test]
    fn never_shows_option_values() {
        let cfg = JaasConfig::parse(&format!(
            "{PLAIN_LOGIN_MODULE} required user_alice=\"topsecret\" username=u password=topsecret2;"
        ))
        .unwrap();
        let debug = format!(
            "{cfg:?} {:?} {:?}",
            cfg.plain_users().unwrap(),
            cfg.client_credentials().unwrap()
        );
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("user_alice"));
        for bad in [
            format!("{PLAIN_LOGIN_MODULE} required user_a=\"topsecret"),
            format!("{PLAIN_LOGIN_MODULE} required user_a=\"topsecret\" user_a=topsecret;"),
            format!("{PLAIN_LOGIN_MODULE} required user_a=topsecret"),
            format!("{PLAIN_LOGIN_MODULE} required user_a=topsecret; x"),
        ] {
            let e = JaasConfig::parse(&bad).unwrap_err();
            assert!(!e.to_string().contains("topsecret"), "{e}");
            assert!(!format!("{e:?}").contains("topsecret"), "{e:?}");
        }
    }
}
