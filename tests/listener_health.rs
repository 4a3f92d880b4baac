//! `/healthz` and `/readyz` report each Kafka listener (issue #15), on a real broker with a
//! PLAINTEXT, an SSL (on port 0) and a SASL_SSL listener: each listener's protocol and bound
//! port, its open connections going up while a client holds one and down after it leaves,
//! the SASL failure count rising on a wrong password, and the served certificate's expiry
//! following a keystore replaced on disk. Never a password or key in the body.

mod common;

use std::time::{Duration, Instant};

use common::certs::TestCa;
use common::raw::RawConnection;
use common::{free_port, Broker};
use serde_json::Value;
use troupe::admin::client::Connection;
use troupe::admin::AdminError;
use troupe::security::client_properties::client_security_from_properties;

const SASL_AUTHENTICATION_FAILED: i16 = 58;
const TIMEOUT: Duration = Duration::from_secs(10);

fn get(b: &Broker, path: &str) -> (u16, String) {
    let response = reqwest::blocking::get(b.http_url(path)).unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn listeners(b: &Broker) -> Vec<Value> {
    let (code, body) = get(b, "/healthz");
    assert_eq!(code, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    health["listeners"].as_array().cloned().unwrap_or_default()
}

fn listener(b: &Broker, name: &str) -> Value {
    listeners(b)
        .into_iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no listener {name} on /healthz"))
}

/// Polls `/healthz` until `field` (a JSON pointer) of listener `name` is `want`: the broker
/// counts a connection's end, or reloads a certificate, a moment after the client sees it.
fn wait_for(b: &Broker, name: &str, field: &str, want: Value) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let got = listener(b, name).pointer(field).cloned();
        if got.as_ref() == Some(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{field} is {got:?}, not {want}, after {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connect(address: &str, properties: &str) -> Result<Connection, AdminError> {
    let security = client_security_from_properties(properties).unwrap();
    Connection::connect_with(address, TIMEOUT, &security)
}

#[test]
fn healthz_reports_each_listener_its_connections_authentications_and_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::generate();
    let keystore = certs.path().join("broker.keystore.pem");
    let truststore = certs.path().join("truststore.pem");
    ca.write_keystore(&keystore, Some((2035, 1, 1)));
    ca.write_truststore(&truststore);
    let (plain_port, sasl_ssl_port) = (free_port(), free_port());
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;
    let b = Broker::start_with(&[
        "--override",
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:{plain_port},SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:{sasl_ssl_port}"
        ),
        "--override",
        &format!("ssl.keystore.location={}", keystore.display()),
        "--override",
        &format!(
            "listener.name.ssl.ssl.truststore.location={}",
            truststore.display()
        ),
        "--override",
        "listener.name.ssl.ssl.client.auth=requested",
        "--override",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "--override",
        &format!("listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}"),
        "--override",
        "connection.failed.authentication.delay.ms=0",
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=admin-secret]",
    ]);

    // Each listener, in `listeners` order, with its protocol and the port it really bound.
    let all = listeners(&b);
    let names: Vec<&str> = all.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["PLAINTEXT", "SSL", "SASL_SSL"]);
    for l in &all {
        assert_eq!(l["security_protocol"], l["name"], "{l}");
        assert_eq!(l["serving"], true, "{l}");
    }
    let plain = &all[0];
    assert_eq!(
        plain["bound_address"],
        format!("127.0.0.1:{plain_port}").as_str()
    );
    assert_eq!(
        plain["advertised_address"],
        format!("127.0.0.1:{plain_port}").as_str()
    );
    assert_eq!(plain["authentication"], Value::Null);
    assert!(plain.get("certificate_not_after").is_none(), "{plain}");
    let ssl = &all[1];
    let ssl_address = ssl["bound_address"].as_str().unwrap().to_string();
    let ssl_port: u16 = ssl_address.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_ne!(
        ssl_port, 0,
        "the port the kernel chose, not the 0 asked for"
    );
    assert_eq!(ssl["authentication"]["client_auth"], "requested");
    assert!(ssl["authentication"].get("sasl_mechanisms").is_none());
    assert_eq!(ssl["certificate_subject"], "CN=broker");
    assert_eq!(ssl["certificate_not_after"], "2035-01-01T00:00:00Z");
    let sasl_ssl = &all[2];
    assert_eq!(
        sasl_ssl["bound_address"],
        format!("127.0.0.1:{sasl_ssl_port}").as_str()
    );
    assert_eq!(
        sasl_ssl["authentication"],
        serde_json::json!({
            "client_auth": "none",
            "tls_handshake_failures_total": 0,
            "sasl_mechanisms": ["PLAIN", "SCRAM-SHA-512"],
            "successful_authentication_total": 0,
            "failed_authentication_total": 0,
            "successful_reauthentication_total": 0,
            "failed_reauthentication_total": 0,
        })
    );
    assert_eq!(sasl_ssl["certificate_not_after"], "2035-01-01T00:00:00Z");

    // Open connections: up while a client holds one, down after it leaves; accepted stays.
    let tls_client = format!(
        "security.protocol=SSL\nssl.ca.location={}\n",
        truststore.display()
    );
    let sasl_client = |user: &str, password: &str| {
        format!(
            "security.protocol=SASL_SSL\nssl.ca.location={}\nsasl.mechanism=PLAIN\n\
             sasl.username={user}\nsasl.password={password}\n",
            truststore.display()
        )
    };
    let plain_before = listener(&b, "PLAINTEXT")["connections_open"]
        .as_u64()
        .unwrap();
    let held_plain = RawConnection::connect(&format!("127.0.0.1:{plain_port}"), "held");
    let held_ssl = connect(&ssl_address, &tls_client).unwrap();
    let held_sasl = connect(
        &format!("127.0.0.1:{sasl_ssl_port}"),
        &sasl_client("alice", "alice-secret"),
    )
    .unwrap();
    wait_for(
        &b,
        "PLAINTEXT",
        "/connections_open",
        (plain_before + 1).into(),
    );
    wait_for(&b, "SSL", "/connections_open", 1.into());
    wait_for(&b, "SASL_SSL", "/connections_open", 1.into());
    assert_eq!(listener(&b, "SASL_SSL")["connections_accepted_total"], 1);
    wait_for(
        &b,
        "SASL_SSL",
        "/authentication/successful_authentication_total",
        1.into(),
    );
    drop((held_plain, held_ssl, held_sasl));
    wait_for(&b, "PLAINTEXT", "/connections_open", plain_before.into());
    wait_for(&b, "SSL", "/connections_open", 0.into());
    wait_for(&b, "SASL_SSL", "/connections_open", 0.into());
    assert_eq!(listener(&b, "SSL")["connections_accepted_total"], 1);

    // A wrong password counts as a failed authentication on its listener only.
    match connect(
        &format!("127.0.0.1:{sasl_ssl_port}"),
        &sasl_client("alice", "not-alice-secret"),
    ) {
        Err(AdminError::Kafka { code, .. }) => assert_eq!(code, SASL_AUTHENTICATION_FAILED),
        other => panic!("a wrong password must be refused: {:?}", other.err()),
    }
    let authentication = listener(&b, "SASL_SSL")["authentication"].clone();
    assert_eq!(authentication["failed_authentication_total"], 1);
    assert_eq!(authentication["successful_authentication_total"], 1);
    // A client that does not speak TLS to a TLS listener is a failed handshake.
    let mut not_tls = std::net::TcpStream::connect(&ssl_address).unwrap();
    std::io::Write::write_all(&mut not_tls, b"\0\0\0\x10not a TLS hello!").unwrap();
    drop(not_tls);
    wait_for(
        &b,
        "SSL",
        "/authentication/tls_handshake_failures_total",
        1.into(),
    );

    // Rotation: a certificate of another validity replaces the keystore file; SIGHUP (or the
    // 5 s poll) reloads it, and both TLS listeners now report what they serve.
    ca.write_keystore(&keystore, Some((2031, 6, 1)));
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(b.pid(), libc::SIGHUP);
    }
    wait_for(
        &b,
        "SSL",
        "/certificate_not_after",
        "2031-06-01T00:00:00Z".into(),
    );
    wait_for(
        &b,
        "SASL_SSL",
        "/certificate_not_after",
        "2031-06-01T00:00:00Z".into(),
    );
    // The rotated certificate is the one served: a new connection handshakes with it.
    connect(&ssl_address, &tls_client).unwrap();

    let (code, body) = get(&b, "/readyz");
    assert_eq!(code, 200, "{body}");
    for secret in ["alice-secret", "admin-secret", "PRIVATE KEY"] {
        assert!(!body.contains(secret), "{secret} on /readyz: {body}");
    }
}
