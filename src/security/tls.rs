//! TLS for Kafka listeners: Kafka's `ssl.*` settings (PEM stores, KIP-651), a rustls server
//! configuration built from them, the principal of a client certificate, and keystore reload.
//!
//! This module owns turning settings into a [`rustls::ServerConfig`], a peer certificate into
//! a principal name, and the served certificate into what an operator checks of it
//! ([`ServedCertificate`]: subject and expiry). It does not open sockets or read broker configuration: the caller resolves
//! each property (including Kafka's per-listener `listener.name.<l>.<prop>` override) and hands
//! a lookup to [`TlsSettings::from_lookup`]; the connection layer wraps its sockets in the
//! acceptor of a [`ReloadingAcceptor`] and asks [`PrincipalMapper::client_principal`] who the
//! peer is. rustls on ring: no OpenSSL.
//!
//! Key material and `ssl.key.password` live in [`Secret`]s; no `Debug`, `Display` or error text
//! of this module prints them. Errors name the property and the file instead.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use regex::Regex;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::Secret;

mod client;
mod x509_v1;

pub use client::{build_client_config, build_peer_server_config, ClientTlsSettings};

/// `ssl.keystore.type`: only `PEM` is supported.
pub const SSL_KEYSTORE_TYPE: &str = "ssl.keystore.type";
/// `ssl.keystore.location`: a PEM file with the private key and the certificate chain.
pub const SSL_KEYSTORE_LOCATION: &str = "ssl.keystore.location";
/// `ssl.keystore.key`: the private key as inline PEM.
pub const SSL_KEYSTORE_KEY: &str = "ssl.keystore.key";
/// `ssl.keystore.certificate.chain`: the certificate chain as inline PEM.
pub const SSL_KEYSTORE_CERTIFICATE_CHAIN: &str = "ssl.keystore.certificate.chain";
/// `ssl.key.password`: the password of an encrypted PKCS#8 private key.
pub const SSL_KEY_PASSWORD: &str = "ssl.key.password";
/// `ssl.truststore.type`: only `PEM` is supported.
pub const SSL_TRUSTSTORE_TYPE: &str = "ssl.truststore.type";
/// `ssl.truststore.location`: a PEM file of CA certificates client certificates chain to.
pub const SSL_TRUSTSTORE_LOCATION: &str = "ssl.truststore.location";
/// `ssl.truststore.certificates`: the same as inline PEM.
pub const SSL_TRUSTSTORE_CERTIFICATES: &str = "ssl.truststore.certificates";
/// `ssl.client.auth`: `none`, `requested` or `required`.
pub const SSL_CLIENT_AUTH: &str = "ssl.client.auth";
/// `ssl.enabled.protocols`: a comma list of `TLSv1.2` and `TLSv1.3`.
pub const SSL_ENABLED_PROTOCOLS: &str = "ssl.enabled.protocols";
/// `ssl.cipher.suites`: a comma list of IANA cipher suite names; empty means rustls' defaults.
pub const SSL_CIPHER_SUITES: &str = "ssl.cipher.suites";
/// `ssl.principal.mapping.rules`: Kafka's `RULE:pattern/replacement/[LU]` and `DEFAULT` list.
pub const SSL_PRINCIPAL_MAPPING_RULES: &str = "ssl.principal.mapping.rules";

/// Why TLS settings, key material or a principal mapping could not be used. Every variant
/// names the property (and file) at fault; none carries key bytes or a password.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{property} is required")]
    Missing { property: &'static str },
    #[error("{property}={value:?} is invalid: {reason}")]
    Invalid {
        property: &'static str,
        value: String,
        reason: String,
    },
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
    /// PEM that does not parse, or lacks what it must hold. `origin` is the file path or
    /// `inline`.
    #[error("{property} ({origin}): {reason}")]
    Pem {
        property: &'static str,
        origin: String,
        reason: String,
    },
    #[error("{property}: {reason}")]
    KeyPassword {
        property: &'static str,
        reason: String,
    },
    #[error("{context}: {source}")]
    Rustls {
        context: String,
        #[source]
        source: rustls::Error,
    },
    #[error("client certificate verifier from {SSL_TRUSTSTORE_LOCATION}/{SSL_TRUSTSTORE_CERTIFICATES}: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{SSL_PRINCIPAL_MAPPING_RULES}: {0}")]
    Principal(#[from] PrincipalError),
}

/// Whether and how the broker asks for client certificates (`ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for; a client without one is let in (as `User:ANONYMOUS`
    /// unless SASL names it), one with an untrusted certificate is refused.
    Requested,
    /// A client without a certificate chaining to the truststore is refused.
    Required,
}

impl ClientAuth {
    /// Kafka's value of `ssl.client.auth`.
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Requested => "requested",
            ClientAuth::Required => "required",
        }
    }
}

/// A TLS protocol version of `ssl.enabled.protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }

    /// Kafka's (and Java's) name of the version.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// Where the private key and certificate chain come from.
#[derive(Clone)]
pub enum Keystore {
    /// `ssl.keystore.location`: one PEM file holding the key and the chain.
    File(PathBuf),
    /// `ssl.keystore.key` and `ssl.keystore.certificate.chain`.
    Inline { key: Secret, chain: String },
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keystore::File(path) => f.debug_tuple("File").field(path).finish(),
            Keystore::Inline { key, chain } => f
                .debug_struct("Inline")
                .field("key", key)
                .field("chain", &format_args!("<{} bytes of PEM>", chain.len()))
                .finish(),
        }
    }
}

/// Where the CA certificates that client certificates must chain to come from.
#[derive(Clone)]
pub enum Truststore {
    /// `ssl.truststore.location`.
    File(PathBuf),
    /// `ssl.truststore.certificates`.
    Inline(String),
}

impl fmt::Debug for Truststore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Truststore::File(path) => f.debug_tuple("File").field(path).finish(),
            Truststore::Inline(pem) => {
                write!(f, "Inline(<{} bytes of PEM>)", pem.len())
            }
        }
    }
}

/// A listener's TLS settings, by Kafka's property names (PEM stores only).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub keystore: Keystore,
    /// `ssl.key.password`: set only for an encrypted PKCS#8 key.
    pub key_password: Option<Secret>,
    pub truststore: Option<Truststore>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`, never empty.
    pub protocols: Vec<TlsVersion>,
    /// `ssl.cipher.suites` as given (IANA names); empty means rustls' defaults.
    pub cipher_suites: Vec<String>,
    pub principal_mapper: PrincipalMapper,
}

impl fmt::Display for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keystore {
            Keystore::File(path) => write!(f, "keystore {}", path.display())?,
            Keystore::Inline { .. } => f.write_str("keystore inline")?,
        }
        if self.key_password.is_some() {
            f.write_str(" (encrypted key)")?;
        }
        match &self.truststore {
            Some(Truststore::File(path)) => write!(f, ", truststore {}", path.display())?,
            Some(Truststore::Inline(_)) => f.write_str(", truststore inline")?,
            None => {}
        }
        let protocols: Vec<&str> = self.protocols.iter().map(|p| p.name()).collect();
        write!(
            f,
            ", client auth {:?}, protocols {}",
            self.client_auth,
            protocols.join(",")
        )?;
        if !self.cipher_suites.is_empty() {
            write!(f, ", cipher suites {}", self.cipher_suites.join(","))?;
        }
        Ok(())
    }
}

impl TlsSettings {
    /// Reads the settings through `lookup`, which returns a property's value or `None`; an
    /// empty value counts as unset. The caller resolves listener overrides
    /// (`listener.name.<l>.<prop>` before `<prop>`) inside `lookup`.
    ///
    /// `ssl.keystore.type` and `ssl.truststore.type` may be unset (meaning PEM here, the only
    /// type supported) or `PEM`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TlsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        for property in [SSL_KEYSTORE_TYPE, SSL_TRUSTSTORE_TYPE] {
            if let Some(kind) = get(property) {
                if !kind.trim().eq_ignore_ascii_case("PEM") {
                    return Err(TlsError::Invalid {
                        property,
                        value: kind,
                        reason: "only PEM stores are supported (no JKS or PKCS12)".into(),
                    });
                }
            }
        }

        let keystore = match (
            get(SSL_KEYSTORE_LOCATION),
            get(SSL_KEYSTORE_KEY),
            get(SSL_KEYSTORE_CERTIFICATE_CHAIN),
        ) {
            (Some(_), Some(_), _) => {
                return Err(TlsError::Conflict {
                    first: SSL_KEYSTORE_LOCATION,
                    second: SSL_KEYSTORE_KEY,
                })
            }
            (Some(_), None, Some(_)) => {
                return Err(TlsError::Conflict {
                    first: SSL_KEYSTORE_LOCATION,
                    second: SSL_KEYSTORE_CERTIFICATE_CHAIN,
                })
            }
            (Some(path), None, None) => Keystore::File(PathBuf::from(path.trim())),
            (None, Some(key), Some(chain)) => Keystore::Inline {
                key: Secret::new(key),
                chain,
            },
            (None, Some(_), None) => {
                return Err(TlsError::Missing {
                    property: SSL_KEYSTORE_CERTIFICATE_CHAIN,
                })
            }
            (None, None, Some(_)) => {
                return Err(TlsError::Missing {
                    property: SSL_KEYSTORE_KEY,
                })
            }
            (None, None, None) => {
                return Err(TlsError::Missing {
                    property: SSL_KEYSTORE_LOCATION,
                })
            }
        };
        // The password itself may be anything, even blank-looking: take it unfiltered.
        let key_password = lookup(SSL_KEY_PASSWORD)
            .filter(|v| !v.is_empty())
            .map(Secret::new);

        let truststore = match (
            get(SSL_TRUSTSTORE_LOCATION),
            get(SSL_TRUSTSTORE_CERTIFICATES),
        ) {
            (Some(_), Some(_)) => {
                return Err(TlsError::Conflict {
                    first: SSL_TRUSTSTORE_LOCATION,
                    second: SSL_TRUSTSTORE_CERTIFICATES,
                })
            }
            (Some(path), None) => Some(Truststore::File(PathBuf::from(path.trim()))),
            (None, Some(pem)) => Some(Truststore::Inline(pem)),
            (None, None) => None,
        };

        let client_auth = match get(SSL_CLIENT_AUTH) {
            None => ClientAuth::None,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => {
                    return Err(TlsError::Invalid {
                        property: SSL_CLIENT_AUTH,
                        value: v,
                        reason: "expected none, requested or required".into(),
                    })
                }
            },
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(TlsError::Missing {
                property: SSL_TRUSTSTORE_LOCATION,
            });
        }

        let protocols_value = get(SSL_ENABLED_PROTOCOLS).unwrap_or("TLSv1.2,TLSv1.3".into());
        let mut protocols = Vec::new();
        for name in comma_list(&protocols_value) {
            let version = match name {
                "TLSv1.2" => TlsVersion::Tls12,
                "TLSv1.3" => TlsVersion::Tls13,
                other => {
                    return Err(TlsError::Invalid {
                        property: SSL_ENABLED_PROTOCOLS,
                        value: protocols_value.clone(),
                        reason: format!("unsupported protocol {other:?} (TLSv1.2 and TLSv1.3 are)"),
                    })
                }
            };
            if !protocols.contains(&version) {
                protocols.push(version);
            }
        }
        if protocols.is_empty() {
            return Err(TlsError::Invalid {
                property: SSL_ENABLED_PROTOCOLS,
                value: protocols_value,
                reason: "no protocol enabled".into(),
            });
        }

        let cipher_suites: Vec<String> = get(SSL_CIPHER_SUITES)
            .map(|v| comma_list(&v).map(str::to_string).collect())
            .unwrap_or_default();
        // Refuse unknown names now rather than when the listener starts.
        select_cipher_suites(&cipher_suites)?;

        let principal_mapper = PrincipalMapper::parse(
            &get(SSL_PRINCIPAL_MAPPING_RULES).unwrap_or_else(|| "DEFAULT".into()),
        )?;

        Ok(TlsSettings {
            keystore,
            key_password,
            truststore,
            client_auth,
            protocols,
            cipher_suites,
            principal_mapper,
        })
    }

    /// The files these settings read, for reload.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Keystore::File(path) = &self.keystore {
            files.push(path.clone());
        }
        if let Some(Truststore::File(path)) = &self.truststore {
            files.push(path.clone());
        }
        files
    }
}

fn comma_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The IANA name of a rustls cipher suite (rustls spells TLS 1.3 suites `TLS13_...`).
fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn select_cipher_suites(names: &[String]) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    if names.is_empty() {
        return Ok(ring_provider().cipher_suites);
    }
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;
    let mut chosen = Vec::new();
    for name in names {
        let suite = all.iter().find(|s| {
            iana_name(s).eq_ignore_ascii_case(name)
                || format!("{:?}", s.suite()).eq_ignore_ascii_case(name)
        });
        match suite {
            Some(suite) => chosen.push(*suite),
            None => {
                let known: Vec<String> = all.iter().map(iana_name).collect();
                return Err(TlsError::Invalid {
                    property: SSL_CIPHER_SUITES,
                    value: names.join(","),
                    reason: format!("unknown cipher suite {name:?}; known: {}", known.join(",")),
                });
            }
        }
    }
    Ok(chosen)
}

/// The certificate chain and private key of a keystore.
struct KeyMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn read_file(property: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        property,
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(property: &'static str, origin: &str, reason: impl fmt::Display) -> TlsError {
    TlsError::Pem {
        property,
        origin: origin.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_certs(
    property: &'static str,
    origin: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(property, origin, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(property, origin, "no CERTIFICATE in it"));
    }
    Ok(certs)
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key of `pem`: an encrypted PKCS#8 key when `password` is set (as Kafka
/// requires), else an unencrypted PKCS#8, PKCS#1 or SEC1 key. Errors never quote the PEM.
fn parse_key(
    property: &'static str,
    origin: &str,
    pem: &[u8],
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = String::from_utf8_lossy(pem);
    let encrypted = text.find(ENCRYPTED_BEGIN).and_then(|start| {
        text[start..]
            .find(ENCRYPTED_END)
            .map(|end| &text[start..start + end + ENCRYPTED_END.len()])
    });
    match (encrypted, password) {
        (Some(block), Some(password)) => {
            let (_, doc) = pkcs8::SecretDocument::from_pem(block).map_err(|e| {
                pem_error(property, origin, format!("bad ENCRYPTED PRIVATE KEY: {e}"))
            })?;
            let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| {
                pem_error(property, origin, format!("bad ENCRYPTED PRIVATE KEY: {e}"))
            })?;
            let plain =
                info.decrypt(password.expose().as_bytes())
                    .map_err(|e| TlsError::KeyPassword {
                        property: SSL_KEY_PASSWORD,
                        reason: format!(
                            "cannot decrypt the key of {property} ({origin}) with it: {e} \
                         (wrong password, or an encryption other than PBES2)"
                        ),
                    })?;
            Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                plain.as_bytes().to_vec(),
            )))
        }
        (Some(_), None) => Err(TlsError::KeyPassword {
            property: SSL_KEY_PASSWORD,
            reason: format!(
                "the key of {property} ({origin}) is encrypted; set {SSL_KEY_PASSWORD}"
            ),
        }),
        (None, Some(_)) => Err(TlsError::KeyPassword {
            property: SSL_KEY_PASSWORD,
            reason: format!(
                "is set but {property} ({origin}) holds no ENCRYPTED PRIVATE KEY; \
                 unset it for an unencrypted key"
            ),
        }),
        (None, None) => PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                pem_error(property, origin, "no PRIVATE KEY in it")
            }
            e => pem_error(property, origin, format!("bad PEM: {e}")),
        }),
    }
}

fn load_keystore(settings: &TlsSettings) -> Result<KeyMaterial, TlsError> {
    load_key_material(&settings.keystore, settings.key_password.as_ref())
}

fn load_key_material(
    keystore: &Keystore,
    password: Option<&Secret>,
) -> Result<KeyMaterial, TlsError> {
    match keystore {
        Keystore::File(path) => {
            let pem = read_file(SSL_KEYSTORE_LOCATION, path)?;
            let origin = path.display().to_string();
            let chain = parse_certs(SSL_KEYSTORE_LOCATION, &origin, &pem)?;
            let key = parse_key(SSL_KEYSTORE_LOCATION, &origin, &pem, password)?;
            Ok(KeyMaterial { chain, key })
        }
        Keystore::Inline { key, chain } => {
            let chain = parse_certs(SSL_KEYSTORE_CERTIFICATE_CHAIN, "inline", chain.as_bytes())?;
            let key = parse_key(
                SSL_KEYSTORE_KEY,
                "inline",
                key.expose().as_bytes(),
                password,
            )?;
            Ok(KeyMaterial { chain, key })
        }
    }
}

/// The truststore as rustls roots, and its certificates (DER) for [`x509_v1`].
fn load_truststore(truststore: &Truststore) -> Result<(RootCertStore, Vec<Vec<u8>>), TlsError> {
    let (property, origin, certs) = match truststore {
        Truststore::File(path) => {
            let pem = read_file(SSL_TRUSTSTORE_LOCATION, path)?;
            let origin = path.display().to_string();
            let certs = parse_certs(SSL_TRUSTSTORE_LOCATION, &origin, &pem)?;
            (SSL_TRUSTSTORE_LOCATION, origin, certs)
        }
        Truststore::Inline(pem) => {
            let certs = parse_certs(SSL_TRUSTSTORE_CERTIFICATES, "inline", pem.as_bytes())?;
            (SSL_TRUSTSTORE_CERTIFICATES, "inline".to_string(), certs)
        }
    };
    let mut roots = RootCertStore::empty();
    let mut anchors = Vec::new();
    for cert in certs {
        anchors.push(cert.as_ref().to_vec());
        roots
            .add(cert)
            .map_err(|e| pem_error(property, &origin, format!("unusable CA certificate: {e}")))?;
    }
    Ok((roots, anchors))
}

/// rustls' ring provider. rustls deprecates it for lacking post-quantum key exchange, which
/// only its aws-lc provider has; aws-lc needs cmake to build, which the build machines lack,
/// and Kafka clients (Java's JSSE) do not offer post-quantum groups either.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Builds the rustls server configuration of `settings`, reading the stores now. No ALPN.
pub fn build_server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    build_served(settings).map(|served| served.config)
}

/// What a listener serves: its rustls configuration and what its leaf certificate says, both
/// from one read of the keystore, so the two always describe the same certificate.
struct Served {
    config: Arc<ServerConfig>,
    /// `None` when the leaf does not parse as X.509 here (rustls served it all the same).
    certificate: Option<ServedCertificate>,
}

fn build_served(settings: &TlsSettings) -> Result<Served, TlsError> {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: select_cipher_suites(&settings.cipher_suites)?,
        ..ring_provider()
    });
    let versions: Vec<&'static SupportedProtocolVersion> =
        settings.protocols.iter().map(|v| v.rustls()).collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls {
            context: format!("{SSL_ENABLED_PROTOCOLS} with {SSL_CIPHER_SUITES}"),
            source,
        })?;
    let builder = match (settings.client_auth, &settings.truststore) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(TlsError::Missing {
                property: SSL_TRUSTSTORE_LOCATION,
            })
        }
        (auth, Some(truststore)) => {
            let (roots, anchors) = load_truststore(truststore)?;
            let algorithms = provider.signature_verification_algorithms;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(Arc::new(x509_v1::V1TolerantVerifier::new(
                verifier.build()?,
                anchors,
                algorithms,
            )))
        }
    };
    let material = load_keystore(settings)?;
    let certificate = material.chain.first().and_then(ServedCertificate::of);
    let config = builder
        .with_single_cert(material.chain, material.key)
        .map_err(|source| TlsError::Rustls {
            context: match &settings.keystore {
                Keystore::File(path) => {
                    format!("{SSL_KEYSTORE_LOCATION} ({})", path.display())
                }
                Keystore::Inline { .. } => {
                    format!("{SSL_KEYSTORE_KEY} with {SSL_KEYSTORE_CERTIFICATE_CHAIN}")
                }
            },
            source,
        })?;
    Ok(Served {
        config: Arc::new(config),
        certificate,
    })
}

/// What an operator needs to know of the certificate a listener serves (the first of its
/// keystore's chain, the one clients check): whose it is and when it expires. Public facts
/// of the certificate only; nothing of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedCertificate {
    /// The subject DN as [`subject_dn`] prints it (RFC 2253, as Java does).
    pub subject: String,
    /// `notAfter`, in seconds since the Unix epoch (UTC).
    pub not_after_s: i64,
}

impl ServedCertificate {
    /// Reads a DER certificate; `None` if it does not parse.
    pub fn of(cert: &CertificateDer<'_>) -> Option<ServedCertificate> {
        use x509_parser::prelude::FromDer;
        let (_, parsed) =
            x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).ok()?;
        Some(ServedCertificate {
            subject: subject_dn(cert).ok()?,
            not_after_s: parsed.validity().not_after.timestamp(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

/// Why a principal mapping rule or a client certificate's name could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("invalid rule {rule:?}: {reason}")]
    InvalidRule { rule: String, reason: String },
    /// Kafka fails the authentication in this case rather than falling back to anything.
    #[error("no rule applies to {dn:?}")]
    NoMatchingRule { dn: String },
    #[error("cannot read the client certificate's subject: {0}")]
    BadCertificate(String),
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Map {
        /// `^(?:pattern)$`: Java's `Matcher.matches()`.
        whole: Regex,
        /// `pattern`, for the replace-all over the name that Kafka does after the match.
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// Kafka's `ssl.principal.mapping.rules` (its `SslPrincipalMapper`): rules tried in order on
/// the RFC 2253 subject DN, the first that applies gives the name.
///
/// Syntax: rules separated by commas (whitespace around them, newlines included, is
/// ignored, and so are empty rules; a newline between two rules also separates them here,
/// where Kafka would drop the first). A rule is `DEFAULT` (the DN itself) or
/// `RULE:pattern/replacement/` with an optional `L` or `U` after the last slash to lower- or
/// upper-case the result. In pattern and replacement `\/` is a literal slash and other `\x`
/// pass through; the pattern must match the whole DN. The replacement is Java's: `$n` is
/// group n (more digits are taken while the group exists, a group that does not exist is a
/// literal), `${name}` a named group, `\x` the literal `x`.
///
/// Patterns are run by the `regex` crate: Java-only constructs (look-around,
/// back-references, possessive quantifiers) are refused when the rules are parsed.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl PrincipalMapper {
    /// Parses `ssl.principal.mapping.rules`. Empty means no rule at all (every name fails),
    /// as in Kafka; the property's default is `DEFAULT`.
    pub fn parse(rules: &str) -> Result<Self, PrincipalError> {
        let mut parsed = Vec::new();
        let chars: Vec<char> = rules.chars().collect();
        let mut i = 0;
        loop {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i >= chars.len() {
                break;
            }
            if chars[i] == ',' {
                i += 1;
                continue;
            }
            let start = i;
            let rest: String = chars[i..].iter().collect();
            let rule = if rest.starts_with("DEFAULT") {
                i += "DEFAULT".len();
                Rule::Default
            } else if rest.starts_with("RULE:") {
                i += "RULE:".len();
                let pattern = rule_part(&chars, &mut i, true);
                let replacement = rule_part(&chars, &mut i, false);
                let (pattern, replacement) = match (pattern, replacement) {
                    (Some(p), Some(r)) => (p, r),
                    _ => {
                        return Err(invalid_rule(
                            &chars,
                            start,
                            i,
                            "expected RULE:pattern/replacement/ with an optional L or U",
                        ))
                    }
                };
                let case = match chars.get(i) {
                    Some('L') => {
                        i += 1;
                        Case::Lower
                    }
                    Some('U') => {
                        i += 1;
                        Case::Upper
                    }
                    _ => Case::Keep,
                };
                let compile = |re: &str| {
                    Regex::new(re).map_err(|e| PrincipalError::InvalidRule {
                        rule: chars[start..i].iter().collect(),
                        reason: format!("bad pattern: {e}"),
                    })
                };
                Rule::Map {
                    whole: compile(&format!("^(?:{pattern})$"))?,
                    pattern: compile(&pattern)?,
                    replacement,
                    case,
                }
            } else {
                // Kafka takes anything else up to the next comma as one (invalid) rule.
                while i < chars.len() && chars[i] != ',' {
                    i += 1;
                }
                return Err(invalid_rule(
                    &chars,
                    start,
                    i,
                    "a rule is DEFAULT or RULE:pattern/replacement/[LU]",
                ));
            };
            // Only whitespace may follow a rule before the comma, newline or end.
            let mut newline = false;
            while i < chars.len() && chars[i].is_whitespace() {
                newline |= chars[i] == '\n';
                i += 1;
            }
            if i < chars.len() && chars[i] != ',' && !newline {
                let mut end = i;
                while end < chars.len() && chars[end] != ',' && chars[end] != '\n' {
                    end += 1;
                }
                let rule: String = chars[start..end].iter().collect();
                let unmatched: String = chars[i..end].iter().collect();
                return Err(PrincipalError::InvalidRule {
                    rule: rule.trim().to_string(),
                    reason: format!("unmatched substring {unmatched:?}"),
                });
            }
            parsed.push(rule);
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The name the rules give `dn` (an RFC 2253 DN), without the `User:` prefix.
    pub fn principal_name(&self, dn: &str) -> Result<String, PrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Map {
                    whole,
                    pattern,
                    replacement,
                    case,
                } => {
                    if !whole.is_match(dn) {
                        continue;
                    }
                    let name = replace_all(pattern, dn, replacement);
                    return Ok(match case {
                        Case::Keep => name,
                        Case::Lower => name.to_lowercase(),
                        Case::Upper => name.to_uppercase(),
                    });
                }
            }
        }
        Err(PrincipalError::NoMatchingRule { dn: dn.to_string() })
    }

    /// The principal (`User:<name>`) of a TLS client from its certificate chain (leaf first,
    /// as rustls' `peer_certificates()` gives it). `Ok(None)`: no certificate (Kafka's
    /// `User:ANONYMOUS`, unless SASL authenticates the client). `Err`: a certificate whose
    /// subject cannot be read or that no rule maps; Kafka fails the authentication then.
    pub fn client_principal(
        &self,
        certs: &[CertificateDer<'_>],
    ) -> Result<Option<String>, PrincipalError> {
        let Some(leaf) = certs.first() else {
            return Ok(None);
        };
        let dn = subject_dn(leaf)?;
        Ok(Some(format!("User:{}", self.principal_name(&dn)?)))
    }
}

impl Default for PrincipalMapper {
    /// `DEFAULT`: the DN itself.
    fn default() -> Self {
        PrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

fn invalid_rule(chars: &[char], start: usize, end: usize, reason: &str) -> PrincipalError {
    let mut end = end.min(chars.len());
    while end < chars.len() && chars[end] != ',' && chars[end] != '\n' {
        end += 1;
    }
    PrincipalError::InvalidRule {
        rule: chars[start..end]
            .iter()
            .collect::<String>()
            .trim()
            .to_string(),
        reason: reason.to_string(),
    }
}

/// One slash-terminated part of a RULE, from `*i`; `None` if the slash is missing. In the
/// pattern `\/` becomes `/` and other escapes stay for the regex; in the replacement every
/// escape stays for [`expand`].
fn rule_part(chars: &[char], i: &mut usize, pattern: bool) -> Option<String> {
    let mut out = String::new();
    while *i < chars.len() {
        match chars[*i] {
            '/' => {
                *i += 1;
                return Some(out);
            }
            '\\' => {
                let next = *chars.get(*i + 1)?;
                if !(pattern && next == '/') {
                    out.push('\\');
                }
                out.push(next);
                *i += 2;
            }
            c => {
                out.push(c);
                *i += 1;
            }
        }
    }
    None
}

/// Java's `String.replaceAll(pattern, replacement)`.
fn replace_all(pattern: &Regex, text: &str, replacement: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for caps in pattern.captures_iter(text) {
        let m = caps.get(0).expect("group 0 always matches");
        out.push_str(&text[last..m.start()]);
        expand(&caps, replacement, &mut out);
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Java's `Matcher.appendReplacement` syntax, with Kafka's leniency: a `$n` naming a group
/// that does not exist is copied literally.
fn expand(caps: &regex::Captures<'_>, replacement: &str, out: &mut String) {
    let groups = caps.len() - 1;
    let chars: Vec<char> = replacement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '$' if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                let first = chars[i + 1].to_digit(10).unwrap_or(0) as usize;
                if first > groups {
                    out.push('$');
                    i += 1;
                    continue;
                }
                let mut group = first;
                let mut j = i + 2;
                while let Some(d) = chars.get(j).and_then(|c| c.to_digit(10)) {
                    let longer = group * 10 + d as usize;
                    if longer > groups {
                        break;
                    }
                    group = longer;
                    j += 1;
                }
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
                i = j;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let close = chars[i + 2..].iter().position(|&c| c == '}');
                let name: Option<String> = close.map(|n| chars[i + 2..i + 2 + n].iter().collect());
                match name {
                    Some(name) => {
                        if let Some(m) = caps.name(&name) {
                            out.push_str(m.as_str());
                        }
                        i += 3 + name.chars().count();
                    }
                    None => {
                        out.push('$');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// The subject DN of a certificate as Java's `X500Principal.getName()` prints it (RFC 2253):
/// the most specific RDN first, comma-separated without spaces, multi-valued RDNs joined by
/// `+`; CN, C, L, ST, O, OU, STREET, DC and UID by keyword, other attributes by OID with the
/// value as `#` and the hex of its DER; `,=+<>#;"\` escaped with a backslash, as are leading
/// and trailing spaces.
pub fn subject_dn(cert: &CertificateDer<'_>) -> Result<String, PrincipalError> {
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref())
        .map_err(|e| PrincipalError::BadCertificate(e.to_string()))?;
    let rdns: Vec<String> = parsed
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let value = atv.attr_value();
                    let keyword = rfc2253_keyword(&oid);
                    let text = keyword.and_then(|_| der_string(value.header.tag().0, value.data));
                    match (keyword, text) {
                        (Some(keyword), Some(text)) => format!("{keyword}={}", escape_value(&text)),
                        (keyword, _) => {
                            format!("{}=#{}", keyword.unwrap_or(&oid), hex_tlv(value))
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

fn rfc2253_keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The text of a directory string Java prints as text (PrintableString, T61String,
/// IA5String, GeneralString, UTF8String, BMPString); `None` for other types, printed as hex.
fn der_string(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        12 => std::str::from_utf8(data).ok().map(str::to_string),
        19 | 20 | 22 | 27 => Some(data.iter().map(|&b| b as char).collect()),
        30 => {
            if !data.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn escape_value(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let lead = chars.iter().take_while(|&&c| c == ' ' || c == '\r').count();
    let trail = chars
        .iter()
        .rev()
        .take_while(|&&c| c == ' ' || c == '\r')
        .count();
    let mut out = String::with_capacity(value.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if ",=+<>#;\"\\".contains(c) || i < lead || i >= chars.len() - trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The DER (tag, length, content) of an attribute value, as lowercase hex.
fn hex_tlv(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> String {
    let mut der = Vec::with_capacity(value.data.len() + 6);
    match value.header.raw_tag() {
        Some(raw) => der.extend_from_slice(raw),
        None => {
            let class = (value.header.class() as u8) << 6;
            let constructed = if value.header.is_constructed() {
                0x20
            } else {
                0
            };
            der.push(class | constructed | (value.header.tag().0 as u8 & 0x1f));
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(value.data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------------

/// What a file looked like when last read: reload when either changes (or it appears or
/// disappears).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl FileStamp {
    fn take(path: &Path) -> Self {
        let seen = std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        FileStamp {
            path: path.to_path_buf(),
            seen,
        }
    }
}

/// A listener's TLS acceptor that follows its keystore and truststore files: the current
/// configuration sits behind an atomic swap, so a handshake never waits on a reload and a
/// connection already accepted keeps the configuration it was accepted with.
pub struct ReloadingAcceptor {
    settings: TlsSettings,
    current: ArcSwap<Served>,
    stamps: Mutex<Vec<FileStamp>>,
}

impl fmt::Debug for ReloadingAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingAcceptor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ReloadingAcceptor {
    /// Builds the first configuration; fails as [`build_server_config`] does.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let stamps = settings
            .files()
            .iter()
            .map(|p| FileStamp::take(p))
            .collect();
        let served = build_served(&settings)?;
        Ok(ReloadingAcceptor {
            settings,
            current: ArcSwap::from_pointee(served),
            stamps: Mutex::new(stamps),
        })
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load().config.clone()
    }

    /// The certificate the current configuration serves; changes with a reload. `None` when
    /// its leaf does not parse as X.509 here.
    pub fn certificate(&self) -> Option<ServedCertificate> {
        self.current.load().certificate.clone()
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Re-reads the stores if a file's modification time or length changed since the last
    /// read. `Ok(true)`: a new configuration is in place; `Ok(false)`: nothing changed. A new
    /// configuration that fails to build is refused with a warning naming the file and why,
    /// and the old one stays; it is not retried until a file changes again.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let mut stamps = self.stamps.lock();
        let now: Vec<FileStamp> = stamps.iter().map(|s| FileStamp::take(&s.path)).collect();
        if now == *stamps {
            return Ok(false);
        }
        let changed: Vec<String> = now
            .iter()
            .zip(stamps.iter())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.path.display().to_string())
            .collect();
        *stamps = now;
        match build_served(&self.settings) {
            Ok(served) => {
                self.current.store(Arc::new(served));
                tracing::info!(files = %changed.join(","), "TLS stores reloaded");
                Ok(true)
            }
            Err(error) => {
                tracing::warn!(
                    files = %changed.join(","),
                    %error,
                    "refused the changed TLS stores; keeping the previous configuration"
                );
                Err(error)
            }
        }
    }

    /// Polls the files every `interval` on the current tokio runtime and reloads them when
    /// they change. The task ends when the acceptor is dropped. (A SIGHUP handler calls
    /// [`Self::reload_if_changed`] directly.)
    pub fn spawn_reload_watcher(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(acceptor) = weak.upgrade() else {
                    return;
                };
                // The stores are small files; a refusal has been logged already.
                let _ = acceptor.reload_if_changed();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::ServerName;
    use std::collections::HashMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A test CA and the certificates it signs.
    struct Ca {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    /// A certificate and its key, as PEM.
    struct Issued {
        cert_pem: String,
        key_pem: String,
        key_der: Vec<u8>,
    }

    impl Issued {
        fn chain_der(&self) -> Vec<CertificateDer<'static>> {
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap()
        }
        fn key(&self) -> PrivateKeyDer<'static> {
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
        }
    }

    impl Ca {
        fn new(name: &str) -> Ca {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name = DistinguishedName::new();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let cert = params.self_signed(&key).unwrap();
            Ca { cert, key }
        }

        fn issue(&self, sans: &[&str], dn: &[(DnType, &str)], server: bool) -> Issued {
            self.issue_with(sans, dn, server, |_| {})
        }

        fn issue_with(
            &self,
            sans: &[&str],
            dn: &[(DnType, &str)],
            server: bool,
            adjust: impl FnOnce(&mut CertificateParams),
        ) -> Issued {
            let key = KeyPair::generate().unwrap();
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).unwrap();
            adjust(&mut params);
            params.distinguished_name = DistinguishedName::new();
            for (ty, value) in dn {
                params.distinguished_name.push(ty.clone(), *value);
            }
            params.extended_key_usages = vec![if server {
                ExtendedKeyUsagePurpose::ServerAuth
            } else {
                ExtendedKeyUsagePurpose::ClientAuth
            }];
            let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
            Issued {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
                key_der: key.serialize_der(),
            }
        }

        fn server(&self) -> Issued {
            self.issue(
                &["localhost", "127.0.0.1"],
                &[(DnType::CommonName, "localhost")],
                true,
            )
        }

        /// A server certificate that expires at the start of `year`-01-01 (UTC).
        fn server_until(&self, year: i32) -> Issued {
            self.issue_with(
                &["localhost", "127.0.0.1"],
                &[(DnType::CommonName, "rotated")],
                true,
                |params| params.not_after = rcgen::date_time_ymd(year, 1, 1),
            )
        }

        fn client(&self, cn: &str) -> Issued {
            self.issue(&[], &[(DnType::CommonName, cn)], false)
        }
    }

    /// Test files: the CA, a server keystore (key + chain) and a truststore.
    struct Fixture {
        dir: tempfile::TempDir,
        ca: Ca,
        server: Issued,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let ca = Ca::new("troupe-test-ca");
            let server = ca.server();
            let fixture = Fixture { dir, ca, server };
            fixture.write_keystore(&fixture.server);
            std::fs::write(fixture.truststore(), fixture.ca.cert.pem()).unwrap();
            fixture
        }
        fn keystore(&self) -> PathBuf {
            self.dir.path().join("server.keystore.pem")
        }
        fn truststore(&self) -> PathBuf {
            self.dir.path().join("truststore.pem")
        }
        fn write_keystore(&self, issued: &Issued) {
            // Kafka's PEM keystore: the key, then the chain.
            let pem = format!("{}{}", issued.key_pem, issued.cert_pem);
            std::fs::write(self.keystore(), pem).unwrap();
        }
        /// Settings from these files plus `extra` properties.
        fn settings(&self, extra: &[(&str, &str)]) -> Result<TlsSettings, TlsError> {
            let mut props: HashMap<String, String> = HashMap::new();
            props.insert(SSL_KEYSTORE_TYPE.into(), "PEM".into());
            props.insert(
                SSL_KEYSTORE_LOCATION.into(),
                self.keystore().display().to_string(),
            );
            props.insert(
                SSL_TRUSTSTORE_LOCATION.into(),
                self.truststore().display().to_string(),
            );
            for (k, v) in extra {
                props.insert(k.to_string(), v.to_string());
            }
            TlsSettings::from_lookup(|name| props.get(name).cloned())
        }
    }

    fn client_config(
        ca: &Ca,
        client: Option<&Issued>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(ring_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match client {
            Some(c) => builder
                .with_client_auth_cert(c.chain_der(), c.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

    /// A handshake and a one-byte echo over an in-memory pipe. `Ok` with the server's view of
    /// the client certificates, or `Err` with the first side's error.
    async fn handshake(
        acceptor: TlsAcceptor,
        client: Arc<rustls::ClientConfig>,
    ) -> Result<Option<Vec<CertificateDer<'static>>>, String> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server = async move {
            let mut stream = acceptor
                .accept(server_io)
                .await
                .map_err(|e| format!("server: {e}"))?;
            let certs = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect());
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| format!("server read: {e}"))?;
            stream
                .write_all(&byte)
                .await
                .map_err(|e| format!("server write: {e}"))?;
            stream
                .flush()
                .await
                .map_err(|e| format!("server flush: {e}"))?;
            Ok::<_, String>(certs)
        };
        let client = async move {
            let connector = tokio_rustls::TlsConnector::from(client);
            let name = ServerName::try_from("localhost").unwrap();
            let mut stream = connector
                .connect(name, client_io)
                .await
                .map_err(|e| format!("client: {e}"))?;
            stream
                .write_all(b"k")
                .await
                .map_err(|e| format!("client write: {e}"))?;
            stream
                .flush()
                .await
                .map_err(|e| format!("client flush: {e}"))?;
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| format!("client read: {e}"))?;
            assert_eq!(&byte, b"k");
            Ok::<_, String>(())
        };
        let (server, client) = tokio::join!(server, client);
        let certs = server?;
        client?;
        Ok(certs)
    }

    fn acceptor(settings: &TlsSettings) -> TlsAcceptor {
        TlsAcceptor::from(build_server_config(settings).unwrap())
    }

    /// A broker's certificate, good as server and as client (what inter-broker mutual TLS
    /// needs of the keystore).
    fn broker_cert(ca: &Ca) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "broker");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    #[tokio::test]
    async fn brokers_talk_mutual_tls_with_the_inter_broker_listeners_stores() {
        let f = Fixture::new();
        f.write_keystore(&broker_cert(&f.ca));
        // The listener's own ssl.client.auth does not matter: peers must present a certificate.
        let settings = f.settings(&[]).unwrap();
        let server = TlsAcceptor::from(build_peer_server_config(&settings).unwrap());
        let client =
            build_client_config(&ClientTlsSettings::from_listener(&settings).unwrap()).unwrap();
        let certs = handshake(server.clone(), client).await.unwrap().unwrap();
        assert_eq!(subject_dn(&certs[0]).unwrap(), "CN=broker");

        // A peer without a certificate is refused.
        let anonymous = build_client_config(&ClientTlsSettings {
            keystore: None,
            ..ClientTlsSettings::from_listener(&settings).unwrap()
        })
        .unwrap();
        assert!(handshake(server, anonymous).await.is_err());

        // A client that trusts another CA refuses the server.
        let other = Fixture::new();
        let mut distrusting = ClientTlsSettings::from_listener(&settings).unwrap();
        distrusting.truststore = Truststore::File(other.truststore());
        assert!(handshake(
            TlsAcceptor::from(build_peer_server_config(&settings).unwrap()),
            build_client_config(&distrusting).unwrap(),
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn server_only_tls_works() {
        let f = Fixture::new();
        let settings = f.settings(&[]).unwrap();
        assert_eq!(settings.client_auth, ClientAuth::None);
        assert_eq!(
            settings.protocols,
            vec![TlsVersion::Tls12, TlsVersion::Tls13]
        );
        let certs = handshake(acceptor(&settings), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();
        assert!(certs.is_none());
        // Both versions work by default.
        for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
            handshake(acceptor(&settings), client_config(&f.ca, None, &[v]))
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn required_client_auth_needs_a_trusted_certificate() {
        let f = Fixture::new();
        let settings = f.settings(&[(SSL_CLIENT_AUTH, "required")]).unwrap();
        let acc = acceptor(&settings);

        let err = handshake(acc.clone(), client_config(&f.ca, None, BOTH))
            .await
            .unwrap_err();
        assert!(err.starts_with("server"), "{err}");

        // A certificate from another CA is refused too.
        let other = Ca::new("other-ca");
        let stranger = other.client("troupe-client");
        let err = handshake(acc.clone(), client_config(&f.ca, Some(&stranger), BOTH))
            .await
            .unwrap_err();
        assert!(err.starts_with("server"), "{err}");

        let client = f.ca.client("troupe-client");
        let certs = handshake(acc, client_config(&f.ca, Some(&client), BOTH))
            .await
            .unwrap()
            .expect("the server sees the client certificate");
        let principal = settings.principal_mapper.client_principal(&certs).unwrap();
        assert_eq!(principal.as_deref(), Some("User:CN=troupe-client"));
    }

    #[tokio::test]
    async fn requested_client_auth_accepts_both() {
        let f = Fixture::new();
        let settings = f.settings(&[(SSL_CLIENT_AUTH, "Requested")]).unwrap();
        assert_eq!(settings.client_auth, ClientAuth::Requested);
        let acc = acceptor(&settings);
        let certs = handshake(acc.clone(), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();
        assert!(certs.is_none());
        assert_eq!(
            settings
                .principal_mapper
                .client_principal(&certs.unwrap_or_default())
                .unwrap(),
            None
        );
        let client = f.ca.client("troupe-client");
        let certs = handshake(acc, client_config(&f.ca, Some(&client), BOTH))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.principal_mapper.client_principal(&certs).unwrap(),
            Some("User:CN=troupe-client".to_string())
        );
    }

    #[tokio::test]
    async fn tls13_only_refuses_a_tls12_client() {
        let f = Fixture::new();
        let settings = f.settings(&[(SSL_ENABLED_PROTOCOLS, " TLSv1.3 ")]).unwrap();
        assert_eq!(settings.protocols, vec![TlsVersion::Tls13]);
        let acc = acceptor(&settings);
        handshake(
            acc.clone(),
            client_config(&f.ca, None, &[&rustls::version::TLS12]),
        )
        .await
        .unwrap_err();
        handshake(acc, client_config(&f.ca, None, &[&rustls::version::TLS13]))
            .await
            .unwrap();

        let err = f
            .settings(&[(SSL_ENABLED_PROTOCOLS, "TLSv1.1,TLSv1.2")])
            .unwrap_err();
        assert!(err.to_string().contains(SSL_ENABLED_PROTOCOLS), "{err}");
    }

    #[tokio::test]
    async fn cipher_suites_by_iana_name() {
        let f = Fixture::new();
        let settings = f
            .settings(&[(
                SSL_CIPHER_SUITES,
                "TLS_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            )])
            .unwrap();
        handshake(acceptor(&settings), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();
        let err = f
            .settings(&[(SSL_CIPHER_SUITES, "TLS_RSA_WITH_RC4_128_MD5")])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(SSL_CIPHER_SUITES) && text.contains("TLS_RSA_WITH_RC4_128_MD5"),
            "{text}"
        );
    }

    #[test]
    fn mapping_rules() {
        let m = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n  RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\n RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.principal_name("CN=kafka-svc,OU=ServiceUsers,O=Org,C=US")
                .unwrap(),
            "kafka-svc"
        );
        assert_eq!(
            m.principal_name("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US")
                .unwrap(),
            "duke@javasoft"
        );
        assert_eq!(
            m.principal_name("O=x,cn=bob.smith,C=US").unwrap(),
            "BOB.SMITH"
        );
        assert_eq!(m.principal_name("OU=nobody").unwrap(), "OU=nobody");

        // No match and no DEFAULT: Kafka fails the authentication.
        let m = PrincipalMapper::parse("RULE:^CN=(.*)$/$1/").unwrap();
        assert_eq!(m.principal_name("CN=a").unwrap(), "a");
        assert_eq!(
            m.principal_name("OU=a"),
            Err(PrincipalError::NoMatchingRule { dn: "OU=a".into() })
        );
        // The first rule that applies wins; DEFAULT applies to everything.
        let m = PrincipalMapper::parse("DEFAULT,RULE:^CN=(.*)$/$1/").unwrap();
        assert_eq!(m.principal_name("CN=a").unwrap(), "CN=a");
        assert_eq!(
            PrincipalMapper::default().principal_name("CN=a").unwrap(),
            "CN=a"
        );
        // Empty rules are ignored; only whitespace may surround a rule.
        let m = PrincipalMapper::parse(",,  RULE:^CN=([^,]*).*$/$1/U  ,, DEFAULT ,").unwrap();
        assert_eq!(m.principal_name("CN=a,O=b").unwrap(), "A");
        // Escaped slashes, literal and out-of-range $n in the replacement.
        let m = PrincipalMapper::parse(r"RULE:^CN=([^\/]*)\/(.*)$/$2\/$1 $3 \$1/").unwrap();
        assert_eq!(m.principal_name("CN=a/b").unwrap(), "b/a $3 $1");
        // $12 with one group is group 1 then "2".
        let m = PrincipalMapper::parse("RULE:^CN=(.*)$/$12/").unwrap();
        assert_eq!(m.principal_name("CN=x").unwrap(), "x2");
        // Commas inside a pattern belong to it.
        let m = PrincipalMapper::parse("RULE:^CN=([^,]*),O=(.*)$/$2:$1/,DEFAULT").unwrap();
        assert_eq!(m.principal_name("CN=a,O=b").unwrap(), "b:a");

        for bad in [
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT X",
            "rule:^CN=(.*)$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*)$/$1/LU",
            "RULE:^CN=((.*)$/$1/",
            "RULE:(?<=x)CN/$1/",
        ] {
            let err = PrincipalMapper::parse(bad).expect_err(bad);
            assert!(
                matches!(err, PrincipalError::InvalidRule { .. }),
                "{bad}: {err}"
            );
        }
        // Through the settings, a bad rule names the property.
        let err = TlsSettings::from_lookup(|name| match name {
            SSL_KEYSTORE_LOCATION => Some("/nonexistent".into()),
            SSL_PRINCIPAL_MAPPING_RULES => Some("RULE:x".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains(SSL_PRINCIPAL_MAPPING_RULES),
            "{err}"
        );
    }

    #[test]
    fn subject_dn_is_printed_like_x500_principal() {
        let ca = Ca::new("ca");
        let bob = ca.issue(
            &[],
            &[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, "acme"),
                (DnType::OrganizationalUnitName, "eng"),
                (DnType::CommonName, "bob"),
            ],
            false,
        );
        assert_eq!(
            subject_dn(&bob.chain_der()[0]).unwrap(),
            "CN=bob,OU=eng,O=acme,C=US"
        );
        let odd = ca.issue(&[], &[(DnType::CommonName, " a,b+c=d#\"<x>;\\ ")], false);
        assert_eq!(
            subject_dn(&odd.chain_der()[0]).unwrap(),
            r#"CN=\ a\,b\+c\=d\#\"\<x\>\;\\\ "#
        );
        let mapper = PrincipalMapper::parse("RULE:^CN=([a-z]+),.*$/$1/L").unwrap();
        assert_eq!(
            mapper
                .client_principal(&bob.chain_der())
                .unwrap()
                .as_deref(),
            Some("User:bob")
        );
        assert_eq!(
            mapper.client_principal(&odd.chain_der()),
            Err(PrincipalError::NoMatchingRule {
                dn: r#"CN=\ a\,b\+c\=d\#\"\<x\>\;\\\ "#.into()
            })
        );
    }

    #[tokio::test]
    async fn reload_refuses_garbage_and_takes_a_new_certificate() {
        let f = Fixture::new();
        let reloading = Arc::new(ReloadingAcceptor::new(f.settings(&[]).unwrap()).unwrap());
        assert!(!reloading.reload_if_changed().unwrap());
        let old = reloading.acceptor();
        let first = reloading.certificate().expect("rcgen's certificate parses");
        assert_eq!(first.subject, "CN=localhost");
        assert_eq!(first.not_after_s, RCGEN_DEFAULT_NOT_AFTER_S);

        // Garbage: refused, the old configuration stays.
        std::fs::write(
            f.keystore(),
            "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n",
        )
        .unwrap();
        let err = reloading.reload_if_changed().unwrap_err();
        assert!(
            err.to_string()
                .contains(&f.keystore().display().to_string()),
            "{err}"
        );
        assert!(Arc::ptr_eq(&reloading.config(), &build_config_of(&old)));
        assert_eq!(reloading.certificate(), Some(first.clone()));
        handshake(reloading.acceptor(), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();
        // Not retried while the file stays as it is.
        assert!(!reloading.reload_if_changed().unwrap());

        // A new certificate from a new CA: picked up; clients trusting only the new CA now
        // get through, the acceptor taken before still serves the old certificate.
        // It expires sooner: what the served certificate says follows the reload.
        let new_ca = Ca::new("rotated-ca");
        let new_server = new_ca.server_until(2031);
        f.write_keystore(&new_server);
        assert!(reloading.reload_if_changed().unwrap());
        assert_eq!(
            reloading.certificate(),
            Some(ServedCertificate {
                subject: "CN=rotated".into(),
                not_after_s: 1_924_992_000, // 2031-01-01T00:00:00Z
            })
        );
        handshake(reloading.acceptor(), client_config(&new_ca, None, BOTH))
            .await
            .unwrap();
        handshake(reloading.acceptor(), client_config(&f.ca, None, BOTH))
            .await
            .unwrap_err();
        handshake(old, client_config(&f.ca, None, BOTH))
            .await
            .unwrap();

        // The watcher picks up a change by itself.
        let watcher = reloading.spawn_reload_watcher(Duration::from_millis(20));
        f.write_keystore(&f.server);
        let before = reloading.config();
        for _ in 0..200 {
            if !Arc::ptr_eq(&before, &reloading.config()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handshake(reloading.acceptor(), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();
        drop(reloading);
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the watcher ends with its acceptor")
            .unwrap();
    }

    /// 4096-01-01T00:00:00Z, rcgen's `notAfter` when a test does not set one.
    const RCGEN_DEFAULT_NOT_AFTER_S: i64 = 67_090_118_400;

    #[test]
    fn the_served_certificate_is_the_leaf_of_the_chain() {
        let f = Fixture::new();
        // Kafka's PEM keystore may carry the chain up to the CA after the leaf; the CA's
        // certificate (rcgen's default validity, CN=troupe-test-ca) is not the one served.
        let leaf = f.ca.server_until(2040);
        let chain = format!("{}{}{}", leaf.key_pem, leaf.cert_pem, f.ca.cert.pem());
        std::fs::write(f.keystore(), chain).unwrap();
        let reloading = ReloadingAcceptor::new(f.settings(&[]).unwrap()).unwrap();
        assert_eq!(
            reloading.certificate(),
            Some(ServedCertificate {
                subject: "CN=rotated".into(),
                not_after_s: 2_208_988_800, // 2040-01-01T00:00:00Z
            })
        );
    }

    #[test]
    fn a_certificate_that_does_not_parse_has_no_served_certificate() {
        for der in [&b""[..], &[0x30, 0x03, 0x02, 0x01][..], &[0xff; 64][..]] {
            assert_eq!(ServedCertificate::of(&CertificateDer::from(der)), None);
        }
        let f = Fixture::new();
        let good = f.server.chain_der();
        let mut cut = good[0].as_ref().to_vec();
        cut.truncate(cut.len() / 2);
        assert_eq!(ServedCertificate::of(&CertificateDer::from(cut)), None);
    }

    fn build_config_of(acceptor: &TlsAcceptor) -> Arc<ServerConfig> {
        acceptor.config().clone()
    }

    #[tokio::test]
    async fn inline_pem_keystore_and_truststore() {
        let f = Fixture::new();
        let client = f.ca.client("troupe-client");
        let props: HashMap<&str, String> = [
            (SSL_KEYSTORE_TYPE, "PEM".to_string()),
            (SSL_KEYSTORE_KEY, f.server.key_pem.clone()),
            (SSL_KEYSTORE_CERTIFICATE_CHAIN, f.server.cert_pem.clone()),
            (SSL_TRUSTSTORE_CERTIFICATES, f.ca.cert.pem()),
            (SSL_CLIENT_AUTH, "required".to_string()),
        ]
        .into_iter()
        .collect();
        let settings = TlsSettings::from_lookup(|name| props.get(name).cloned()).unwrap();
        assert!(settings.files().is_empty());
        let certs = handshake(
            acceptor(&settings),
            client_config(&f.ca, Some(&client), BOTH),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            settings.principal_mapper.client_principal(&certs).unwrap(),
            Some("User:CN=troupe-client".into())
        );
        // Inline settings never reload.
        let reloading = ReloadingAcceptor::new(settings).unwrap();
        assert!(!reloading.reload_if_changed().unwrap());
    }

    #[tokio::test]
    async fn encrypted_pkcs8_key_with_ssl_key_password() {
        use pkcs8::der::pem::LineEnding;
        let f = Fixture::new();
        let info = pkcs8::PrivateKeyInfo::try_from(f.server.key_der.as_slice()).unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16])
                .unwrap();
        let encrypted = info.encrypt_with_params(params, "s3cret-pw").unwrap();
        let key_pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap();
        std::fs::write(f.keystore(), format!("{}{}", *key_pem, f.server.cert_pem)).unwrap();

        let settings = f.settings(&[(SSL_KEY_PASSWORD, "s3cret-pw")]).unwrap();
        handshake(acceptor(&settings), client_config(&f.ca, None, BOTH))
            .await
            .unwrap();

        for (extra, needle) in [
            (vec![], "is encrypted; set ssl.key.password"),
            (vec![(SSL_KEY_PASSWORD, "wrong")], "cannot decrypt"),
        ] {
            let settings = f.settings(&extra).unwrap();
            let err = build_server_config(&settings).unwrap_err().to_string();
            assert!(
                err.contains(SSL_KEY_PASSWORD) && err.contains(needle),
                "{err}"
            );
            assert!(
                !err.contains("s3cret-pw") && !err.contains("wrong\""),
                "{err}"
            );
        }
        // A password for an unencrypted key is a mistake, not silently ignored.
        f.write_keystore(&f.server);
        let settings = f.settings(&[(SSL_KEY_PASSWORD, "s3cret-pw")]).unwrap();
        let err = build_server_config(&settings).unwrap_err().to_string();
        assert!(err.contains(SSL_KEY_PASSWORD), "{err}");
    }

    #[test]
    fn errors_name_the_property_and_never_the_secrets() {
        let f = Fixture::new();
        let missing = f.dir.path().join("no-such-keystore.pem");
        let props: HashMap<&str, String> = [
            (SSL_KEYSTORE_LOCATION, missing.display().to_string()),
            (SSL_KEY_PASSWORD, "hunter2-password".to_string()),
        ]
        .into_iter()
        .collect();
        let settings = TlsSettings::from_lookup(|name| props.get(name).cloned()).unwrap();
        let err = build_server_config(&settings).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(SSL_KEYSTORE_LOCATION) && text.contains(&missing.display().to_string()),
            "{text}"
        );
        assert!(matches!(err, TlsError::Read { .. }));
        for shown in [
            format!("{settings:?}"),
            settings.to_string(),
            format!("{err:?}"),
        ] {
            assert!(!shown.contains("hunter2-password"), "{shown}");
        }

        // Inline key material never shows either.
        let inline: HashMap<&str, String> = [
            (SSL_KEYSTORE_KEY, f.server.key_pem.clone()),
            (SSL_KEYSTORE_CERTIFICATE_CHAIN, f.server.cert_pem.clone()),
            (SSL_KEY_PASSWORD, "hunter2-password".to_string()),
        ]
        .into_iter()
        .collect();
        let settings = TlsSettings::from_lookup(|name| inline.get(name).cloned()).unwrap();
        let key_body = f.server.key_pem.lines().nth(1).unwrap().to_string();
        let err = build_server_config(&settings).unwrap_err();
        for shown in [
            format!("{settings:?}"),
            settings.to_string(),
            format!("{err:?}"),
            err.to_string(),
        ] {
            assert!(!shown.contains("hunter2-password"), "{shown}");
            assert!(!shown.contains(&key_body), "{shown}");
            assert!(!shown.contains("PRIVATE KEY-----"), "{shown}");
        }

        // Garbage inline key: the error names the property, not the bytes.
        let garbage: HashMap<&str, String> = [
            (
                SSL_KEYSTORE_KEY,
                "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz!!\n-----END PRIVATE KEY-----\n"
                    .to_string(),
            ),
            (SSL_KEYSTORE_CERTIFICATE_CHAIN, f.server.cert_pem.clone()),
        ]
        .into_iter()
        .collect();
        let settings = TlsSettings::from_lookup(|name| garbage.get(name).cloned()).unwrap();
        let err = build_server_config(&settings).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains(SSL_KEYSTORE_KEY), "{text}");
        assert!(!text.contains("c2VjcmV0LWJ5dGVz"), "{text}");

        // Settings that cannot work are refused by name.
        for (props, needle) in [
            (vec![], SSL_KEYSTORE_LOCATION),
            (
                vec![(SSL_KEYSTORE_LOCATION, "a"), (SSL_KEYSTORE_TYPE, "JKS")],
                SSL_KEYSTORE_TYPE,
            ),
            (
                vec![(SSL_KEYSTORE_LOCATION, "a"), (SSL_KEYSTORE_KEY, "k")],
                SSL_KEYSTORE_KEY,
            ),
            (
                vec![(SSL_KEYSTORE_KEY, "k")],
                SSL_KEYSTORE_CERTIFICATE_CHAIN,
            ),
            (
                vec![(SSL_KEYSTORE_LOCATION, "a"), (SSL_CLIENT_AUTH, "required")],
                SSL_TRUSTSTORE_LOCATION,
            ),
            (
                vec![(SSL_KEYSTORE_LOCATION, "a"), (SSL_CLIENT_AUTH, "sometimes")],
                SSL_CLIENT_AUTH,
            ),
        ] {
            let map: HashMap<&str, &str> = props.into_iter().collect();
            let err =
                TlsSettings::from_lookup(|name| map.get(name).map(|v| v.to_string())).unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }
}
