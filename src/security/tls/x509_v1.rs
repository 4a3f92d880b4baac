//! Client certificates in X.509 version 1, which rustls's WebPKI verifier refuses outright
//! but Java (and so Apache Kafka) accepts: `openssl x509 -req` without an extensions file
//! still makes them, and operators' existing client certificates are often of that kind.
//!
//! [`V1TolerantVerifier`] wraps the WebPKI verifier and changes nothing for version 3
//! certificates. A version 1 end-entity certificate is accepted when it is within its
//! validity period and signed directly by a certificate of the truststore (a v1 certificate
//! cannot mark an intermediate as a CA, so no chain through one is tried); its handshake
//! signature is checked against its public key. TLS 1.2 handshakes with a v1 certificate are
//! refused: rustls offers raw-key signature checks for TLS 1.3 only.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls13_signature_with_raw_key, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};
use x509_parser::time::ASN1Time;

#[derive(Debug)]
pub struct V1TolerantVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// The truststore's certificates (DER), the possible issuers of a v1 certificate.
    anchors: Vec<Vec<u8>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl V1TolerantVerifier {
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        anchors: Vec<Vec<u8>>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        V1TolerantVerifier {
            inner,
            anchors,
            algorithms,
        }
    }

    fn verify_v1(&self, end_entity: &[u8], now: UnixTime) -> Result<(), &'static str> {
        let (_, cert) =
            X509Certificate::from_der(end_entity).map_err(|_| "unparsable certificate")?;
        let now = ASN1Time::from_timestamp(now.as_secs() as i64).map_err(|_| "bad clock")?;
        if !cert.validity().is_valid_at(now) {
            return Err("certificate expired or not yet valid");
        }
        let signed_by_anchor = self.anchors.iter().any(|anchor| {
            X509Certificate::from_der(anchor).is_ok_and(|(_, issuer)| {
                issuer.subject().as_raw() == cert.issuer().as_raw()
                    && cert.verify_signature(Some(issuer.public_key())).is_ok()
            })
        });
        if signed_by_anchor {
            Ok(())
        } else {
            Err("not signed by a truststore certificate")
        }
    }
}

/// The certificate's public key when it is an X.509 v1 certificate.
fn v1_public_key(cert: &[u8]) -> Option<Vec<u8>> {
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    (parsed.version() == X509Version::V1).then(|| parsed.public_key().raw.to_vec())
}

impl ClientCertVerifier for V1TolerantVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(refused) if v1_public_key(end_entity).is_some() => {
                match self.verify_v1(end_entity, now) {
                    Ok(()) => Ok(ClientCertVerified::assertion()),
                    Err(reason) => {
                        tracing::debug!(%reason, "X.509 v1 client certificate refused");
                        Err(refused)
                    }
                }
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if v1_public_key(cert).is_some() {
            return Err(Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(V1OverTls12)),
            )));
        }
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match v1_public_key(cert) {
            Some(spki) => verify_tls13_signature_with_raw_key(
                message,
                &SubjectPublicKeyInfoDer::from(spki.as_slice()),
                dss,
                &self.algorithms,
            ),
            None => self.inner.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[derive(Debug)]
struct V1OverTls12;

impl std::fmt::Display for V1OverTls12 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an X.509 v1 client certificate is accepted over TLS 1.3 only")
    }
}

impl std::error::Error for V1OverTls12 {}
