//! KIP-368 re-authentication on a SASL_PLAINTEXT listener (PLAIN), with raw kafka-protocol
//! requests against a real broker: SaslAuthenticate tells the session lifetime
//! (`connections.max.reauth.ms`), a session that re-authenticates in time keeps being served,
//! one that does not is closed on its next request after expiry, and a re-authentication as
//! another user is refused and closes the connection. The stock-client side (librdkafka
//! re-authenticating while it produces) is in tests/clients/secure.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::RawConnection;
use common::{free_port, Broker};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

const MAX_REAUTH_MS: i64 = 3_000;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

struct SaslBroker {
    broker: Broker,
    addr: String,
}

fn start() -> SaslBroker {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;
    let broker = Broker::start_with(&[
        "--override",
        &format!("listeners=SASL_PLAINTEXT://{addr}"),
        "--override",
        "sasl.enabled.mechanisms=PLAIN",
        "--override",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"),
        "--override",
        &format!("listener.name.sasl_plaintext.plain.connections.max.reauth.ms={MAX_REAUTH_MS}"),
        "--override",
        "connection.failed.authentication.delay.ms=0",
    ]);
    SaslBroker { broker, addr }
}

fn handshake(c: &mut RawConnection) -> std::io::Result<SaslHandshakeResponse> {
    c.try_call_typed(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    )
}

fn plain(c: &mut RawConnection, user: &str, password: &str) -> SaslAuthenticateResponse {
    let token = Bytes::from(format!("\0{user}\0{password}"));
    c.try_call_typed(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(token),
    )
    .expect("SaslAuthenticate answered")
}

/// Handshake and PLAIN as `user`; returns when it authenticated and the lifetime it was told.
fn authenticate(c: &mut RawConnection, user: &str, password: &str) -> (Instant, i64) {
    let h = handshake(c).expect("SaslHandshake answered");
    assert_eq!(h.error_code, 0);
    let started = Instant::now();
    let a = plain(c, user, password);
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    (started, a.session_lifetime_ms)
}

fn metadata(c: &mut RawConnection) -> std::io::Result<MetadataResponse> {
    c.try_call_typed(ApiKey::Metadata, 12, &MetadataRequest::default())
}

fn sleep_until(t: Instant) {
    if let Some(left) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

fn counter(b: &Broker, prefix: &str) -> u64 {
    let text = reqwest::blocking::get(b.http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

#[test]
fn a_session_that_is_not_reauthenticated_is_closed_on_its_next_request_after_expiry() {
    let s = start();
    let mut c = RawConnection::connect(&s.addr, "reauth-never");
    let (authenticated, lifetime) = authenticate(&mut c, "alice", "alice-secret");
    assert_eq!(
        lifetime, MAX_REAUTH_MS,
        "SaslAuthenticate v1+ tells the lifetime"
    );
    metadata(&mut c).expect("served while the session lives");

    sleep_until(authenticated + Duration::from_millis(MAX_REAUTH_MS as u64 + 500));
    assert!(
        metadata(&mut c).is_err(),
        "a request after the session expired closes the connection"
    );
    assert_eq!(
        counter(
            &s.broker,
            r#"troupe_expired_connections_killed_total{listener="SASL_PLAINTEXT"}"#
        ),
        1
    );
}

#[test]
fn reauthentication_renews_the_session_and_is_counted() {
    let s = start();
    let mut c = RawConnection::connect(&s.addr, "reauth-renews");
    let (first, _) = authenticate(&mut c, "alice", "alice-secret");
    // Kafka lets a re-authentication begin at most once a second.
    sleep_until(first + Duration::from_millis(1_200));
    let (renewed, lifetime) = authenticate(&mut c, "alice", "alice-secret");
    assert_eq!(lifetime, MAX_REAUTH_MS);
    // A SaslHandshake sooner than a second after the last re-authentication began is no
    // re-authentication: answered ILLEGAL_SASL_STATE like any SASL request outside one.
    let h = handshake(&mut c).expect("answered");
    assert_eq!(h.error_code, 34, "ILLEGAL_SASL_STATE");
    // Past the first session's expiry, within the renewed one.
    sleep_until(
        (first + Duration::from_millis(MAX_REAUTH_MS as u64 + 300))
            .max(renewed + Duration::from_millis(1_000)),
    );
    assert!(Instant::now() < renewed + Duration::from_millis(MAX_REAUTH_MS as u64));
    metadata(&mut c).expect("the renewed session is served");
    assert_eq!(
        counter(
            &s.broker,
            r#"troupe_reauthentication_success_total{listener="SASL_PLAINTEXT",mechanism="PLAIN"}"#
        ),
        1
    );
}

#[test]
fn reauthentication_as_another_user_is_refused_and_closes_the_connection() {
    let s = start();
    let mut c = RawConnection::connect(&s.addr, "reauth-other-user");
    let (first, _) = authenticate(&mut c, "alice", "alice-secret");
    sleep_until(first + Duration::from_millis(1_200));
    assert_eq!(handshake(&mut c).unwrap().error_code, 0);
    // bob's password is right, but the session is alice's.
    let refused = plain(&mut c, "bob", "bob-secret");
    assert_eq!(refused.error_code, SASL_AUTHENTICATION_FAILED);
    let message = refused.error_message.unwrap().to_string();
    assert!(
        message.contains(
            "Cannot change principals during re-authentication from User.alice: User.bob"
        ),
        "{message}"
    );
    assert!(!message.contains("bob-secret"));
    assert!(metadata(&mut c).is_err(), "the connection is closed");
    assert_eq!(
        counter(
            &s.broker,
            r#"troupe_reauthentication_failure_total{listener="SASL_PLAINTEXT",mechanism="PLAIN"}"#
        ),
        1
    );
    // bob on a connection of his own is fine.
    let mut other = RawConnection::connect(&s.addr, "bob");
    authenticate(&mut other, "bob", "bob-secret");
    metadata(&mut other).expect("served");
}

#[test]
fn without_a_max_reauth_a_plain_session_never_expires_and_cannot_reauthenticate() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;
    let _broker = Broker::start_with(&[
        "--override",
        &format!("listeners=SASL_PLAINTEXT://{addr}"),
        "--override",
        "sasl.enabled.mechanisms=PLAIN",
        "--override",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}"),
    ]);
    let mut c = RawConnection::connect(&addr, "no-reauth");
    let (_, lifetime) = authenticate(&mut c, "alice", "alice-secret");
    assert_eq!(lifetime, 0, "nothing bounds the session");
    std::thread::sleep(Duration::from_millis(1_100));
    let h = handshake(&mut c).expect("answered");
    assert_eq!(
        h.error_code, 34,
        "ILLEGAL_SASL_STATE: no re-authentication without a lifetime"
    );
    metadata(&mut c).expect("served");
}
