//! Test harness: `Broker` runs the real `troupe` binary on free loopback ports with its own
//! data dir (alone, or as a `cluster::Cluster` node); `read_back` reads a partition back;
//! `batches` builds record batches; `raw` sends raw kafka-protocol requests; rdkafka client
//! helpers.
#![allow(dead_code)]

pub mod batches;
mod broker;
pub mod certs;
pub mod cluster;
pub mod proxy;
pub mod raw;
pub mod read_back;

use std::net::TcpListener;

pub use broker::Broker;

/// A port for a broker to bind later. Chosen below Linux's ephemeral range (32768+), so no
/// outgoing connection or `bind(:0)` listener (proxies, clients) can take it in the meantime;
/// random within 20000..32000 and checked free now.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if NEXT.load(Ordering::SeqCst) == 0 {
        let seed = (std::process::id() as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(0);
        let _ = NEXT.compare_exchange(
            0,
            20_000 + (seed % 12_000) as u16,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    loop {
        let mut port = NEXT.fetch_add(1, Ordering::SeqCst);
        if port >= 32_000 {
            NEXT.store(20_000, Ordering::SeqCst);
            port = 20_000;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn healthz(b: &Broker) -> serde_json::Value {
    reqwest::blocking::get(b.http_url("/healthz"))
        .unwrap()
        .json()
        .unwrap()
}

// ---- rdkafka helpers ----

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

pub fn client_config(b: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", b.bootstrap());
    c
}

pub fn create_topic(b: &Broker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> = client_config(b).create().unwrap();
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(&[t], &AdminOptions::new()))
        .unwrap();
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}
