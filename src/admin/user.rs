//! `troupe user scram set|list|delete`: SCRAM credentials through AlterUserScramCredentials and
//! DescribeUserScramCredentials (KIP-554). As Kafka's Admin client does, the password is salted
//! and iterated here (`SaltedPassword = Hi(password, salt, i)`, a fresh random salt each time):
//! the broker receives neither the password nor anything that is logged.

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use rand::RngCore;
use serde_json::json;

use super::output::{emit, Table};
use super::{check, AdminError, Cluster};
use crate::security::scram::{ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// Kafka's name (`SCRAM-SHA-256`, `SCRAM-SHA-512`) to the mechanism.
pub fn parse_mechanism(name: &str) -> Result<ScramMechanism, AdminError> {
    ScramMechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
        AdminError::Usage(format!(
            "unknown SCRAM mechanism {name:?}: SCRAM-SHA-256 or SCRAM-SHA-512"
        ))
    })
}

/// The upsertion for `user`'s `password` under a fresh 32-byte salt.
fn upsertion(
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: u32,
) -> ScramCredentialUpsertion {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salted = mechanism.salted_password(password, &salt, iterations);
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(mechanism.kafka_type())
        .with_iterations(iterations as i32)
        .with_salt(Bytes::copy_from_slice(&salt))
        .with_salted_password(Bytes::from(salted))
}

fn check_results(response: AlterUserScramCredentialsResponse) -> Result<(), AdminError> {
    for result in response.results {
        check(
            "AlterUserScramCredentials",
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )?;
    }
    Ok(())
}

/// `troupe user scram set NAME --mechanism M --password P [--iterations N]`.
pub fn set(
    cluster: &mut Cluster,
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: u32,
) -> Result<(), AdminError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(AdminError::Usage(format!(
            "--iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        )));
    }
    if password.is_empty() {
        return Err(AdminError::Usage("the password is empty".into()));
    }
    let request = AlterUserScramCredentialsRequest::default()
        .with_upsertions(vec![upsertion(user, mechanism, password, iterations)]);
    check_results(cluster.any().call(request)?)?;
    eprintln!("set {} credential of {user}", mechanism.name());
    Ok(())
}

/// `troupe user scram delete NAME --mechanism M`.
pub fn delete(
    cluster: &mut Cluster,
    user: &str,
    mechanism: ScramMechanism,
) -> Result<(), AdminError> {
    let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(StrBytes::from_string(user.to_string()))
            .with_mechanism(mechanism.kafka_type()),
    ]);
    check_results(cluster.any().call(request)?)?;
    eprintln!("deleted {} credential of {user}", mechanism.name());
    Ok(())
}

/// `troupe user scram list [NAME...]`: users (all when none is named) with their mechanisms
/// and iteration counts. Never a salt or a key.
pub fn list(cluster: &mut Cluster, users: &[String], json_wanted: bool) -> Result<(), AdminError> {
    let request = DescribeUserScramCredentialsRequest::default().with_users(if users.is_empty() {
        None
    } else {
        Some(
            users
                .iter()
                .map(|u| UserName::default().with_name(StrBytes::from_string(u.clone())))
                .collect(),
        )
    });
    let response = cluster.any().call(request)?;
    check(
        "DescribeUserScramCredentials",
        response.error_code,
        response.error_message.map(|m| m.to_string()),
    )?;
    let mut rows = Vec::new();
    for result in response.results {
        check(
            "DescribeUserScramCredentials",
            result.error_code,
            result
                .error_message
                .map(|m| format!("{}: {m}", result.user)),
        )?;
        for info in result.credential_infos {
            let mechanism = ScramMechanism::from_kafka_type(info.mechanism).map_or_else(
                || format!("UNKNOWN({})", info.mechanism),
                |m| m.name().into(),
            );
            rows.push((result.user.to_string(), mechanism, info.iterations));
        }
    }
    rows.sort();
    let json = serde_json::Value::Array(
        rows.iter()
            .map(|(user, mechanism, iterations)| {
                json!({"user": user, "mechanism": mechanism, "iterations": iterations})
            })
            .collect(),
    );
    emit(json_wanted, json, || {
        let mut table = Table::new(&["USER", "MECHANISM", "ITERATIONS"]);
        for (user, mechanism, iterations) in &rows {
            table.row(vec![
                user.clone(),
                mechanism.clone(),
                iterations.to_string(),
            ]);
        }
        table.render()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::scram::ScramCredential;

    #[test]
    fn an_upsertion_carries_the_salted_password_the_broker_derives_the_same_keys_from() {
        let up = upsertion("alice", ScramMechanism::Sha256, "alice-secret", 4096);
        assert_eq!(up.mechanism, ScramMechanism::Sha256.kafka_type());
        assert_eq!(up.iterations, 4096);
        assert_eq!(up.salt.len(), 32);
        let from_wire = ScramCredential::from_salted_password(
            ScramMechanism::Sha256,
            &up.salt,
            &up.salted_password,
            4096,
        )
        .unwrap();
        let from_password =
            ScramCredential::new(ScramMechanism::Sha256, "alice-secret", &up.salt, 4096).unwrap();
        assert_eq!(from_wire.stored_key(), from_password.stored_key());
        assert_eq!(from_wire.server_key(), from_password.server_key());
        // The password itself is nowhere in the request.
        assert!(!up
            .salted_password
            .windows(b"alice-secret".len())
            .any(|w| w == b"alice-secret"));
    }

    #[test]
    fn two_upsertions_use_two_salts() {
        let a = upsertion("u", ScramMechanism::Sha512, "p", 4096);
        let b = upsertion("u", ScramMechanism::Sha512, "p", 4096);
        assert_ne!(a.salt, b.salt);
    }

    #[test]
    fn mechanisms_parse_by_kafka_name() {
        assert_eq!(
            parse_mechanism("scram-sha-512").unwrap(),
            ScramMechanism::Sha512
        );
        assert!(parse_mechanism("PLAIN").is_err());
    }
}
