//! A Kafka client properties file (what `--command-config FILE` names) as a
//! [`ClientSecurity`]: the security settings of Java's clients and librdkafka's, by their own
//! names, so an operator's existing file works unchanged.
//!
//! Read: `security.protocol`; `sasl.mechanism` with `sasl.username`/`sasl.password`
//! (librdkafka) or `sasl.jaas.config` (Java); trust from `ssl.ca.location` (librdkafka) or
//! `ssl.truststore.location`/`ssl.truststore.certificates` (PEM); a client certificate from
//! `ssl.certificate.location` + `ssl.key.location` (librdkafka, two PEM files) or
//! `ssl.keystore.location` (one PEM file, key and chain) or `ssl.keystore.key` +
//! `ssl.keystore.certificate.chain`; `ssl.key.password`; `ssl.enabled.protocols` and
//! `ssl.cipher.suites`. Anything else (bootstrap.servers, client.id...) is left to the caller.
//! Errors name the property, never a password.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::client::{ClientSecurity, ClientSecurityError};
use super::jaas::{JaasConfig, JaasError};
use super::sasl_client::SaslClientConfig;
use super::tls::{
    build_client_config, ClientTlsSettings, Keystore, TlsError, TlsSettings, Truststore,
};
use super::{SaslMechanism, Secret, SecurityProtocol};

#[derive(Debug, thiserror::Error)]
pub enum ClientPropertiesError {
    #[error("{property}={value:?} is invalid: {reason}")]
    Invalid {
        property: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{0} is required for this security.protocol and sasl.mechanism")]
    Missing(&'static str),
    #[error("{first} and {second} are both set; set only one")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
    #[error("{property}: cannot read {}: {source}", path.display())]
    Read {
        property: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sasl.jaas.config: {0}")]
    Jaas(#[from] JaasError),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Security(#[from] ClientSecurityError),
    #[error("cannot read {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Java's `.properties` syntax, as far as client config files use it: `key=value`,
/// `key: value` or `key value`, `#` and `!` comments, a trailing `\` continuing the line.
pub fn parse_properties(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            logical.push_str(continued);
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        let split = entry.find(['=', ':', ' ', '\t']).unwrap_or(entry.len());
        let key = entry[..split].trim();
        let rest = entry[split..].trim_start();
        let value = rest
            .strip_prefix(['=', ':'])
            .unwrap_or(rest)
            .trim()
            .to_string();
        if !key.is_empty() {
            out.insert(key.to_string(), value);
        }
    }
    out
}

/// The security of a client properties file's text.
pub fn client_security_from_properties(
    text: &str,
) -> Result<ClientSecurity, ClientPropertiesError> {
    let props = parse_properties(text);
    let get = |name: &str| props.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let protocol = match get("security.protocol") {
        None => SecurityProtocol::Plaintext,
        Some(name) => {
            SecurityProtocol::from_name(name).ok_or_else(|| ClientPropertiesError::Invalid {
                property: "security.protocol",
                value: name.to_string(),
                reason: "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            })?
        }
    };
    let tls = if protocol.uses_tls() {
        Some(build_client_config(&tls_settings(&props)?)?)
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        Some(sasl_settings(&props)?)
    } else {
        None
    };
    Ok(ClientSecurity::new(protocol, tls, sasl)?)
}

/// The security of the client properties file at `path` (what `--command-config` names).
pub fn client_security_from_file(path: &Path) -> Result<ClientSecurity, ClientPropertiesError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClientPropertiesError::File {
        path: path.to_path_buf(),
        source,
    })?;
    client_security_from_properties(&text)
}

fn read(property: &'static str, path: &str) -> Result<String, ClientPropertiesError> {
    std::fs::read_to_string(path).map_err(|source| ClientPropertiesError::Read {
        property,
        path: PathBuf::from(path),
        source,
    })
}

fn tls_settings(
    props: &HashMap<String, String>,
) -> Result<ClientTlsSettings, ClientPropertiesError> {
    let get = |name: &str| props.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    // Protocols, cipher suites, `ssl.key.password` and PEM-only store types are read as a
    // listener's are; the listener's required keystore is stood in for (a client's is
    // optional, resolved below), and nothing is read from disk here.
    let mut base = TlsSettings::from_lookup(|name| match name {
        "ssl.keystore.location" => Some("unused".to_string()),
        "ssl.keystore.key" | "ssl.keystore.certificate.chain" | "ssl.client.auth" => None,
        "ssl.truststore.location" | "ssl.truststore.certificates" => None,
        other => get(other).map(str::to_string),
    })?;
    let truststore = match (
        get("ssl.ca.location"),
        get("ssl.truststore.location"),
        get("ssl.truststore.certificates"),
    ) {
        (Some(path), None, None) | (None, Some(path), None) => {
            Truststore::File(PathBuf::from(path))
        }
        (None, None, Some(pem)) => Truststore::Inline(pem.to_string()),
        (None, None, None) => return Err(ClientPropertiesError::Missing("ssl.ca.location")),
        (Some(_), Some(_), _) => {
            return Err(ClientPropertiesError::Conflict {
                first: "ssl.ca.location",
                second: "ssl.truststore.location",
            })
        }
        (_, _, Some(_)) => {
            return Err(ClientPropertiesError::Conflict {
                first: "ssl.truststore.location",
                second: "ssl.truststore.certificates",
            })
        }
    };
    let keystore = match (
        get("ssl.certificate.location"),
        get("ssl.key.location"),
        get("ssl.keystore.location"),
        get("ssl.keystore.key"),
        get("ssl.keystore.certificate.chain"),
    ) {
        (None, None, None, None, None) => None,
        (Some(cert), Some(key), None, None, None) => Some(Keystore::Inline {
            key: Secret::new(read("ssl.key.location", key)?),
            chain: read("ssl.certificate.location", cert)?,
        }),
        (Some(_), None, None, None, None) => {
            return Err(ClientPropertiesError::Missing("ssl.key.location"))
        }
        (None, Some(_), None, None, None) => {
            return Err(ClientPropertiesError::Missing("ssl.certificate.location"))
        }
        (None, None, Some(path), None, None) => Some(Keystore::File(PathBuf::from(path))),
        (None, None, None, Some(key), Some(chain)) => Some(Keystore::Inline {
            key: Secret::new(key),
            chain: chain.to_string(),
        }),
        (None, None, None, Some(_), None) => {
            return Err(ClientPropertiesError::Missing(
                "ssl.keystore.certificate.chain",
            ))
        }
        (None, None, None, None, Some(_)) => {
            return Err(ClientPropertiesError::Missing("ssl.keystore.key"))
        }
        _ => {
            return Err(ClientPropertiesError::Conflict {
                first: "ssl.certificate.location/ssl.key.location",
                second: "ssl.keystore.*",
            })
        }
    };
    Ok(ClientTlsSettings {
        truststore,
        key_password: keystore.as_ref().and(base.key_password.take()),
        keystore,
        protocols: base.protocols,
        cipher_suites: base.cipher_suites,
    })
}

fn sasl_settings(
    props: &HashMap<String, String>,
) -> Result<SaslClientConfig, ClientPropertiesError> {
    let get = |name: &str| props.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    // Kafka's and librdkafka's default mechanism is GSSAPI, which is not built here.
    let name = get("sasl.mechanism").unwrap_or("GSSAPI");
    let mechanism = SaslMechanism::from_name(name)
        .filter(|m| !matches!(m, SaslMechanism::OAuthBearer))
        .ok_or_else(|| ClientPropertiesError::Invalid {
            property: "sasl.mechanism",
            value: name.to_string(),
            reason: "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        })?;
    // The password is taken as given, spaces included.
    let password = props.get("sasl.password").filter(|p| !p.is_empty());
    let (username, password) = match (get("sasl.username"), password, get("sasl.jaas.config")) {
        (Some(_), _, Some(_)) => {
            return Err(ClientPropertiesError::Conflict {
                first: "sasl.username",
                second: "sasl.jaas.config",
            })
        }
        (Some(user), Some(password), None) => (user.to_string(), Secret::new(password.clone())),
        (Some(_), None, None) => return Err(ClientPropertiesError::Missing("sasl.password")),
        (None, _, Some(jaas)) => {
            let credentials = JaasConfig::parse(jaas)?.client_credentials()?;
            (credentials.username, credentials.password)
        }
        (None, _, None) => return Err(ClientPropertiesError::Missing("sasl.username")),
    };
    Ok(SaslClientConfig::new(mechanism, username, password).map_err(ClientSecurityError::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let p = parse_properties(
            "# comment\n! also\nsecurity.protocol=SASL_SSL\nsasl.mechanism : SCRAM-SHA-512\n\
             client.id my client\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \\\n  required username=\"alice\" password=\"a=b c\";\n\nempty=\n",
        );
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(p["client.id"], "my client");
        assert_eq!(
            p["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"a=b c\";"
        );
        assert_eq!(p["empty"], "");
    }

    #[test]
    fn sasl_plaintext_with_librdkafka_or_java_credentials() {
        let s = client_security_from_properties(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=alice\nsasl.password=alice-secret\n",
        )
        .unwrap();
        assert_eq!(s.protocol(), SecurityProtocol::SaslPlaintext);
        assert_eq!(s.sasl().unwrap().username(), "alice");
        assert!(!format!("{s:?}").contains("alice-secret"));
        let s = client_security_from_properties(
            "security.protocol=sasl_plaintext\nsasl.mechanism=SCRAM-SHA-256\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"bob\" password=\"pw\";\n",
        )
        .unwrap();
        assert_eq!(s.sasl().unwrap().username(), "bob");
        assert_eq!(s.sasl().unwrap().mechanism().name(), "SCRAM-SHA-256");
        assert!(
            client_security_from_properties("bootstrap.servers=x:9092\n")
                .unwrap()
                .sasl()
                .is_none()
        );
    }

    #[test]
    fn refusals_name_the_property_and_never_the_password() {
        let err = |text: &str| {
            client_security_from_properties(text)
                .unwrap_err()
                .to_string()
        };
        let e = err("security.protocol=SASL_PLAINTEXT\nsasl.username=a\nsasl.password=p4ss\n");
        assert!(e.contains("sasl.mechanism") && e.contains("GSSAPI"), "{e}");
        let e = err("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=a\n");
        assert!(e.contains("sasl.password"), "{e}");
        let e = err("security.protocol=TLS\n");
        assert!(e.contains("security.protocol"), "{e}");
        let e = err("security.protocol=SSL\n");
        assert!(e.contains("ssl.ca.location"), "{e}");
        let e = err("security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let e = err(
            "security.protocol=SSL\nssl.ca.location=/x\nssl.certificate.location=/nonexistent/c.pem\n",
        );
        assert!(e.contains("ssl.key.location"), "{e}");
        let e = err("security.protocol=SSL\nssl.ca.location=/x\nssl.key.location=/nonexistent/k.pem\nssl.certificate.location=/nonexistent/c.pem\nssl.key.password=s3cret\n");
        assert!(
            e.contains("ssl.key.location") && !e.contains("s3cret"),
            "{e}"
        );
        let e = err("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=a\nsasl.password=p4ss\nssl.ca.location=/x\nssl.truststore.location=/y\n");
        assert!(e.contains("set only one") && !e.contains("p4ss"), "{e}");
    }
}
