//! Test certificates made at test time: a CA and one certificate for `127.0.0.1` that brokers
//! share, good as server and as client (what an inter-broker listener's keystore must be).
//! `TestCa` issues more of them from one CA, with the validity a test asks for (rotation).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA and one certificate all brokers share: subject `CN=broker`, SAN `127.0.0.1`, good as
/// server and client (the inter-broker listener's keystore is both).
pub fn write_certificates(dir: &Path) -> (String, String) {
    let ca = TestCa::generate();
    let keystore = dir.join("broker.keystore.pem");
    let truststore = dir.join("truststore.pem");
    ca.write_keystore(&keystore, None);
    ca.write_truststore(&truststore);
    (
        keystore.display().to_string(),
        truststore.display().to_string(),
    )
}

/// A test CA.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn generate() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "troupe-cluster-test-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = ca.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    /// The CA's certificate as a PEM truststore.
    pub fn write_truststore(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }

    /// A PEM keystore (key, then certificate) for `CN=broker`, SAN `127.0.0.1`, good as server
    /// and client; it expires at the start of `not_after` (year, month, day, UTC), or rcgen's
    /// default (4096-01-01) when `None`. Written to a temporary file and renamed into place,
    /// so a broker polling `path` never reads half of it.
    pub fn write_keystore(&self, path: &Path, not_after: Option<(i32, u8, u8)>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "broker");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if let Some((year, month, day)) = not_after {
            params.not_after = rcgen::date_time_ymd(year, month, day);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let partial = path.with_extension("partial");
        std::fs::write(&partial, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
        std::fs::rename(&partial, path).unwrap();
    }
}
