//! Test certificates made at test time: a CA and one certificate for `127.0.0.1` that brokers
//! share, good as server and as client (what an inter-broker listener's keystore must be).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA and one certificate all brokers share: subject `CN=broker`, SAN `127.0.0.1`, good as
/// server and client (the inter-broker listener's keystore is both).
pub fn write_certificates(dir: &std::path::Path) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "troupe-cluster-test-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "broker");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let keystore = dir.join("broker.keystore.pem");
    let truststore = dir.join("truststore.pem");
    std::fs::write(&keystore, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    std::fs::write(&truststore, ca_cert.pem()).unwrap();
    (
        keystore.display().to_string(),
        truststore.display().to_string(),
    )
}
