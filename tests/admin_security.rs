//! The admin CLI's connection over SASL_SSL: a client properties file (librdkafka's and Java's
//! names) gives the `ClientSecurity`, the connection does TLS, ApiVersions, then SCRAM or
//! PLAIN; a wrong password is the broker's SASL_AUTHENTICATION_FAILED, an untrusted server a
//! refused TLS handshake.

mod common;

use std::time::Duration;

use common::certs::write_certificates;
use common::{free_port, Broker};
use troupe::admin::client::Cluster;
use troupe::admin::AdminError;
use troupe::security::client_properties::client_security_from_properties;

const SASL_AUTHENTICATION_FAILED: i16 = 58;

fn connect(address: &str, properties: &str) -> Result<Cluster, AdminError> {
    let security = client_security_from_properties(properties).unwrap();
    Cluster::connect_with(address, Duration::from_secs(10), security)
}

#[test]
fn the_admin_connection_authenticates_over_sasl_ssl_from_a_properties_file() {
    let certs = tempfile::tempdir().unwrap();
    let (keystore, truststore) = write_certificates(certs.path());
    let port = free_port();
    let plain_jaas = r#"listener.name.secure.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;
    let _broker = Broker::start_with(&[
        "--override",
        &format!("listeners=SECURE://127.0.0.1:{port}"),
        "--override",
        "listener.security.protocol.map=SECURE:SASL_SSL",
        "--override",
        &format!("ssl.keystore.location={keystore}"),
        "--override",
        "sasl.enabled.mechanisms=SCRAM-SHA-256,PLAIN",
        "--override",
        plain_jaas,
        "--add-scram",
        "SCRAM-SHA-256=[name=admin,password=admin-secret]",
    ]);
    let address = format!("127.0.0.1:{port}");

    let scram = format!(
        "bootstrap.servers={address}\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n\
         sasl.username=admin\nsasl.password=admin-secret\nssl.ca.location={truststore}\n"
    );
    let mut cluster = connect(&address, &scram).unwrap();
    let metadata = cluster.metadata(None).unwrap();
    assert_eq!(metadata.brokers.len(), 1);
    assert_eq!(metadata.brokers[0].port, port as i32);

    let plain = format!(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nssl.truststore.location={truststore}\n\
         sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"alice-secret\";\n"
    );
    connect(&address, &plain).unwrap().metadata(None).unwrap();

    let wrong = scram.replace("admin-secret", "not-the-password");
    match connect(&address, &wrong) {
        Err(e @ AdminError::Kafka { code, .. }) => {
            assert_eq!(code, SASL_AUTHENTICATION_FAILED, "{e}");
            assert!(!e.to_string().contains("not-the-password"), "{e}");
        }
        other => panic!("a wrong password must be refused: {:?}", other.err()),
    }

    // A client that trusts another CA refuses the broker's certificate.
    let elsewhere = tempfile::tempdir().unwrap();
    let (_, other_ca) = write_certificates(elsewhere.path());
    let untrusting = scram.replace(&truststore, &other_ca);
    match connect(&address, &untrusting) {
        Err(AdminError::Unreachable { reason, .. }) => {
            assert!(reason.contains("TLS handshake"), "{reason}")
        }
        other => panic!("an untrusted server must be refused: {:?}", other.err()),
    }
}

/// `troupe ... --command-config FILE`: the CLI itself over SASL_SSL, with the authorizer on and
/// the SCRAM user a super user: it creates a user and an ACL and lists them; without the file
/// it cannot even connect (the only listener is SASL_SSL).
#[test]
fn the_cli_administers_a_sasl_ssl_broker_with_command_config() {
    let certs = tempfile::tempdir().unwrap();
    let (keystore, truststore) = write_certificates(certs.path());
    let port = free_port();
    let _broker = Broker::start_with(&[
        "--override",
        &format!("listeners=SECURE://127.0.0.1:{port}"),
        "--override",
        "listener.security.protocol.map=SECURE:SASL_SSL",
        "--override",
        &format!("ssl.keystore.location={keystore}"),
        "--override",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "--override",
        "authorizer.class.name=standard",
        "--override",
        "super.users=User:admin",
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=admin-secret]",
    ]);
    let properties = certs.path().join("admin.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=admin\n\
             sasl.password=admin-secret\nssl.ca.location={truststore}\n"
        ),
    )
    .unwrap();
    let bootstrap = format!("127.0.0.1:{port}");
    let troupe = |args: &[&str], with_config: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"));
        command.args(args).args(["--bootstrap", &bootstrap]);
        if with_config {
            command.arg("--command-config").arg(&properties);
        }
        command.output().unwrap()
    };
    let ok = |args: &[&str]| {
        let out = troupe(args, true);
        assert!(
            out.status.success(),
            "troupe {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&[
        "user",
        "scram",
        "set",
        "carol",
        "--password",
        "carol-secret",
    ]);
    ok(&[
        "acl",
        "add",
        "--topic",
        "ledger",
        "--principal",
        "User:carol",
        "--operation",
        "Read",
    ]);
    let users: serde_json::Value =
        serde_json::from_str(&ok(&["user", "scram", "list", "--json"])).unwrap();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "carol"]);
    let acls: serde_json::Value =
        serde_json::from_str(&ok(&["acl", "list", "--topic", "ledger", "--json"])).unwrap();
    assert_eq!(acls[0]["principal"], "User:carol");

    // Without the properties file the CLI speaks plaintext to a SASL_SSL port: no answer.
    let out = troupe(&["user", "scram", "list"], false);
    assert!(!out.status.success());
    // A file that does not exist is a usage error (2), named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "topic",
            "list",
            "--bootstrap",
            &bootstrap,
            "--command-config",
            "/nonexistent.properties",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.properties"));
}
