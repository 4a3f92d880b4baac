//! Rebalance benchmark: a consumer group of 100 librdkafka members over a 200-partition topic.
//!
//! Starts the release `troupe` binary, forms the group, then times two rebalances of the
//! Stable group: a 101st member joining, and one member leaving. A rebalance counts as done
//! when every live member holds its new assignment and together they cover every partition
//! exactly once. Members poll on threads of their own and heartbeat every 100 ms (their
//! `heartbeat.interval.ms`, which bounds how fast a member learns that a rebalance began).
//!
//! Run: `cargo bench --bench rebalance` (MEMBERS and PARTITIONS override the sizes).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{client_config, create_topic, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};

const TOPIC: &str = "rebalance-bench";
const GROUP: &str = "rebalance-bench";

/// One member: its consumer runs on its own thread and publishes what it holds.
struct Member {
    held: Arc<Mutex<Vec<i32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Member {
    fn join(broker: &Broker) -> Member {
        let consumer: BaseConsumer = client_config(broker)
            .set("group.id", GROUP)
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "30000")
            .set("heartbeat.interval.ms", "100")
            .set("partition.assignment.strategy", "roundrobin")
            .create()
            .expect("consumer");
        consumer.subscribe(&[TOPIC]).expect("subscribe");
        let held = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (held2, stop2) = (held.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(10));
                let now: Vec<i32> = consumer
                    .assignment()
                    .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                    .unwrap_or_default();
                *held2.lock().unwrap() = now;
            }
            drop(consumer); // LeaveGroup
        });
        Member {
            held,
            stop,
            thread: Some(thread),
        }
    }

    fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// True when every member holds something and together they hold each partition once.
fn settled(members: &[Member], partitions: i32) -> bool {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for m in members {
        let held = m.held.lock().unwrap();
        if held.is_empty() && (members.len() as i32) <= partitions {
            return false;
        }
        total += held.len();
        seen.extend(held.iter().copied());
    }
    total == partitions as usize && seen.len() == partitions as usize
}

/// Waits until `settled`, or gives up after two minutes.
fn time_until_settled(members: &[Member], partitions: i32, started: Instant) -> Duration {
    while !settled(members, partitions) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "group did not settle"
        );
        thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

fn env_or(name: &str, default: i32) -> i32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let members_wanted = env_or("MEMBERS", 100);
    let partitions = env_or("PARTITIONS", 200);
    let broker = Broker::start_with(&["--override", "group.initial.rebalance.delay.ms=3000"]);
    create_topic(&broker, TOPIC, partitions, &[]);

    let started = Instant::now();
    let mut members: Vec<Member> = (0..members_wanted).map(|_| Member::join(&broker)).collect();
    let formed = time_until_settled(&members, partitions, started);
    println!(
        "group formation: {members_wanted} members, {partitions} partitions: {} ms \
         (includes group.initial.rebalance.delay.ms = 3000)",
        formed.as_millis()
    );
    thread::sleep(Duration::from_secs(2));

    let started = Instant::now();
    members.push(Member::join(&broker));
    // The newcomer holds nothing until the rebalance is done.
    let joined = time_until_settled(&members, partitions, started);
    println!(
        "rebalance after a member joins ({} members): {} ms",
        members.len(),
        joined.as_millis()
    );
    thread::sleep(Duration::from_secs(2));

    let started = Instant::now();
    members.remove(0).leave();
    let left = time_until_settled(&members, partitions, started);
    println!(
        "rebalance after a member leaves ({} members): {} ms",
        members.len(),
        left.as_millis()
    );

    for m in members {
        m.leave();
    }
}
