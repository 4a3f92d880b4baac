//! Connection limits against a real broker process (KIP-402): `max.connections.per.ip` closes
//! the connection past the limit at once and accepts again once one closes; an override in
//! `max.connections.per.ip.overrides` raises it for one address; `max.connections` on a
//! listener holds further accepts (the client waits in the backlog) until a connection closes;
//! `max.connection.creation.rate` spreads new connections out.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// A client connection that speaks just enough Kafka: ApiVersions v0.
struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

/// What became of a request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Served,
    /// The broker closed the connection (EOF, or a reset).
    Closed,
    /// Nothing within the read timeout.
    NoAnswer,
}

impl Client {
    fn connect(b: &Broker) -> Client {
        Client::connect_to(&b.bootstrap())
    }

    fn connect_to(address: &str) -> Client {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            correlation_id: 0,
        }
    }

    /// Sends ApiVersions v0 and reads its answer.
    fn api_versions(&mut self) -> Outcome {
        self.correlation_id += 1;
        let client_id = b"limits-test";
        let mut frame = Vec::new();
        let size = 2 + 2 + 4 + 2 + client_id.len();
        frame.extend_from_slice(&(size as i32).to_be_bytes());
        frame.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
        frame.extend_from_slice(&0i16.to_be_bytes());
        frame.extend_from_slice(&self.correlation_id.to_be_bytes());
        frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
        frame.extend_from_slice(client_id);
        if self.stream.write_all(&frame).is_err() {
            return Outcome::Closed;
        }
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Outcome::NoAnswer
            }
            Err(_) => return Outcome::Closed,
        }
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).unwrap();
        assert_eq!(body[..4], self.correlation_id.to_be_bytes());
        assert_eq!(body[4..6], [0, 0], "ApiVersions error code");
        Outcome::Served
    }

    /// Whether the broker closed this connection without being asked anything.
    fn closed_by_broker(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
        }
    }
}

/// Opens connections until one is served (the broker may not have seen an earlier close yet;
/// until then each attempt is refused and closed).
fn served_connection(b: &Broker) -> Client {
    served_connection_to(b, &b.bootstrap())
}

fn served_connection_to(b: &Broker, address: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = Client::connect_to(address);
        match c.api_versions() {
            Outcome::Served => return c,
            other => assert!(
                Instant::now() < deadline,
                "no connection served after a close: {other:?}\n{}",
                b.log_text()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scrape(b: &Broker) -> String {
    reqwest::blocking::get(b.http_url("/metrics"))
        .unwrap()
        .text()
        .unwrap()
}

/// The value of the first sample whose line starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Every connection-limit metric in the scrape has its row in docs/metrics.md.
fn assert_documented(text: &str) {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    for name in [
        "troupe_listener_connections",
        "troupe_connections_refused_total",
        "troupe_connection_accept_waits_total",
    ] {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{name} is not in docs/metrics.md"
        );
    }
    for line in text.lines().filter(|l| {
        l.starts_with("troupe_listener_connections")
            || l.starts_with("troupe_connections_refused")
            || l.starts_with("troupe_connection_accept")
    }) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "{name} is exported but not in docs/metrics.md"
        );
    }
}

#[test]
fn max_connections_per_ip_closes_the_connection_past_the_limit() {
    let b = Broker::start_with(&["--override", "max.connections.per.ip=3"]);
    let mut served: Vec<Client> = (0..3).map(|_| Client::connect(&b)).collect();
    for c in &mut served {
        assert_eq!(c.api_versions(), Outcome::Served);
    }

    let mut fourth = Client::connect(&b);
    assert!(fourth.closed_by_broker(), "the fourth connection was kept");
    for c in &mut served {
        assert_eq!(
            c.api_versions(),
            Outcome::Served,
            "a served client was hurt"
        );
    }

    let text = scrape(&b);
    let refused = sample(
        &text,
        "troupe_connections_refused_total",
        &[
            "listener=\"PLAINTEXT\"",
            "reason=\"max.connections.per.ip\"",
        ],
    );
    assert!(refused >= Some(1.0), "refusal not counted:\n{text}");
    assert_eq!(
        sample(
            &text,
            "troupe_listener_connections",
            &["listener=\"PLAINTEXT\""]
        ),
        Some(3.0)
    );
    assert_documented(&text);
    assert!(
        b.log_text().contains("rejected connection"),
        "no log line for the refusal"
    );

    // One leaves: a new one is served again, and the limit still holds after it.
    drop(served.pop());
    served.push(served_connection(&b));
    let mut again = Client::connect(&b);
    assert!(again.closed_by_broker(), "the limit no longer holds");
}

#[test]
fn a_failed_sasl_exchange_gives_its_connection_back() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let b = Broker::start_with(&[
        "--override",
        &format!("listeners=SASL_PLAINTEXT://{address}"),
        "--override",
        "sasl.enabled.mechanisms=PLAIN",
        "--override",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";",
        "--override",
        "max.connections.per.ip=1",
    ]);
    // Unauthenticated, the one connection still counts: a second is refused.
    let mut first = Client::connect_to(&address);
    assert_eq!(first.api_versions(), Outcome::Served);
    assert!(Client::connect_to(&address).closed_by_broker());

    // A Metadata request before authenticating ends the SASL exchange and the connection...
    let mut metadata = Vec::new();
    metadata.extend_from_slice(&14i32.to_be_bytes()); // the frame size
    metadata.extend_from_slice(&3i16.to_be_bytes()); // Metadata v0
    metadata.extend_from_slice(&0i16.to_be_bytes());
    metadata.extend_from_slice(&99i32.to_be_bytes());
    metadata.extend_from_slice(&(-1i16).to_be_bytes()); // no client id
    metadata.extend_from_slice(&0i32.to_be_bytes()); // no topics
    first.stream.write_all(&metadata).unwrap();
    let mut rest = Vec::new();
    let _ = first.stream.read_to_end(&mut rest);
    // ...and its slot: the next connection from the same address is served.
    served_connection_to(&b, &address);
    assert!(
        b.log_text()
            .contains("SASL authentication did not complete"),
        "the first connection did not end in its SASL exchange"
    );
}

#[test]
fn an_override_raises_the_limit_of_one_address() {
    let b = Broker::start_with(&[
        "--override",
        "max.connections.per.ip=1",
        "--override",
        "max.connections.per.ip.overrides=127.0.0.1:5",
    ]);
    let mut served: Vec<Client> = (0..5).map(|_| Client::connect(&b)).collect();
    for c in &mut served {
        assert_eq!(c.api_versions(), Outcome::Served);
    }
    let mut sixth = Client::connect(&b);
    assert!(
        sixth.closed_by_broker(),
        "the override's limit did not hold"
    );
}

#[test]
fn listener_max_connections_holds_accepts_until_one_closes() {
    let b = Broker::start_with(&["--override", "listener.name.plaintext.max.connections=2"]);
    let mut served: Vec<Client> = (0..2).map(|_| Client::connect(&b)).collect();
    for c in &mut served {
        assert_eq!(c.api_versions(), Outcome::Served);
    }

    // The third connects (the kernel's backlog takes it) but is not served while two are open.
    let mut third = Client::connect(&b);
    third
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        third.api_versions(),
        Outcome::NoAnswer,
        "accepted past max.connections"
    );

    drop(served.pop());
    // Once one closes, the waiting client is accepted and its request answered.
    third
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut len = [0u8; 4];
    third
        .stream
        .read_exact(&mut len)
        .expect("the held connection was not served after a close");
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    third.stream.read_exact(&mut body).unwrap();
    assert_eq!(body[..4], third.correlation_id.to_be_bytes());

    let text = scrape(&b);
    let waits = sample(
        &text,
        "troupe_connection_accept_waits_total",
        &["listener=\"PLAINTEXT\"", "reason=\"max.connections\""],
    );
    assert!(waits >= Some(1.0), "the wait was not counted:\n{text}");
    assert_documented(&text);
}

#[test]
fn creation_rate_spreads_new_connections_out() {
    let b = Broker::start_with(&["--override", "max.connection.creation.rate=2"]);
    // Let the bucket fill after start-up, then open six: two at once, four at half a second.
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..6 {
        let mut c = Client::connect(&b);
        assert_eq!(c.api_versions(), Outcome::Served);
        clients.push(c);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1800),
        "six connections in {elapsed:?} at 2 per second"
    );
}
