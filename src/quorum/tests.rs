//! In-process clusters over real TCP on 127.0.0.1: election, replication, forwarding, failover,
//! restart from disk (with snapshots and purged logs), and an observer joining as a learner.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use super::handle::Tuning;
use super::state_machine::stored_snapshot_last_log_id;
use super::*;
use crate::metadata::{MetadataImage, MetadataRecord};
use crate::test_support;

/// Upper bound on any one test; the suite as a whole should stay well under 30 s.
const TEST_TIMEOUT: Duration = Duration::from_secs(25);
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Runs one test with tracing set up, failing it if it takes longer than `TEST_TIMEOUT`.
async fn bounded(test: impl std::future::Future<Output = ()>) {
    init_tracing();
    timeout(TEST_TIMEOUT, test).await.expect("test timed out");
}

/// Forwards `message` from `node` and returns the handler's reply as text.
async fn forwarded(node: &Quorum, message: &str) -> String {
    let reply = node
        .forward(message.as_bytes().to_vec(), FORWARD_TIMEOUT)
        .await
        .unwrap();
    String::from_utf8(reply).unwrap()
}

/// A listener on a port the OS picked. The test keeps it open until the node that uses the
/// port starts, so no other node (of this or a concurrent test) is handed the same port.
fn reserve_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Answers with who handled what from whom.
struct Echo {
    node: i32,
}

impl ForwardHandler for Echo {
    fn handle(&self, from_node: i32, request: Vec<u8>) -> BoxFuture<'static, Vec<u8>> {
        let reply = format!(
            "{} handled {} from {from_node}",
            self.node,
            String::from_utf8_lossy(&request)
        );
        async move { reply.into_bytes() }.boxed()
    }
}

/// Addresses and directories of a test cluster; nodes can be started, stopped and restarted
/// on the same ones.
struct Cluster {
    root: tempfile::TempDir,
    voters: BTreeMap<i32, String>,
    listens: BTreeMap<i32, SocketAddr>,
    /// Port reservations of nodes that have not started yet.
    reserved: parking_lot::Mutex<BTreeMap<i32, std::net::TcpListener>>,
    tuning: Tuning,
}

impl Cluster {
    fn new(voter_ids: &[i32], observer_ids: &[i32], tuning: Tuning) -> Cluster {
        let reserved: BTreeMap<i32, std::net::TcpListener> = voter_ids
            .iter()
            .chain(observer_ids)
            .map(|id| (*id, reserve_port()))
            .collect();
        let listens: BTreeMap<i32, SocketAddr> = reserved
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap()))
            .collect();
        let voters = voter_ids
            .iter()
            .map(|id| (*id, listens[id].to_string()))
            .collect();
        Cluster {
            root: tempfile::tempdir().unwrap(),
            voters,
            listens,
            reserved: parking_lot::Mutex::new(reserved),
            tuning,
        }
    }

    fn dir(&self, id: i32) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    async fn start(&self, id: i32) -> Quorum {
        drop(self.reserved.lock().remove(&id));
        let mut cfg = QuorumConfig::new(id, self.listens[&id], self.voters.clone(), self.dir(id));
        // Fast enough for tests, slow enough for two busy cores.
        cfg.election_timeout_min_ms = 400;
        cfg.election_timeout_max_ms = 800;
        cfg.heartbeat_interval_ms = 100;
        Quorum::start_tuned(cfg, Arc::new(Echo { node: id }), self.tuning)
            .await
            .unwrap()
    }

    async fn start_voters(&self) -> BTreeMap<i32, Quorum> {
        let mut nodes = BTreeMap::new();
        for id in self.voters.keys() {
            nodes.insert(*id, self.start(*id).await);
        }
        nodes
    }
}

async fn shutdown_all(nodes: &BTreeMap<i32, Quorum>) {
    for q in nodes.values() {
        q.shutdown().await;
    }
}

/// Polls `cond` every 20 ms (the caller's test timeout bounds the wait).
async fn eventually(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node in `nodes` names the same leader, that leader is one of them, and
/// it knows it leads. Returns its id.
async fn agreed_leader(nodes: &BTreeMap<i32, Quorum>) -> i32 {
    let mut agreed = None;
    eventually(|| {
        let views: Vec<Option<i32>> = nodes.values().map(|q| q.leader()).collect();
        agreed = match views[0] {
            Some(l)
                if views.iter().all(|v| *v == Some(l))
                    && nodes.get(&l).is_some_and(|q| q.is_leader()) =>
            {
                Some(l)
            }
            _ => None,
        };
        agreed.is_some()
    })
    .await;
    agreed.unwrap()
}

async fn all_images_equal(nodes: &BTreeMap<i32, Quorum>, expected: &MetadataImage) {
    for q in nodes.values() {
        eventually(|| *q.image() == *expected).await;
    }
}

fn broker(id: i32) -> MetadataRecord {
    MetadataRecord::RegisterBroker(test_support::broker(id))
}

fn topic(name: &str) -> MetadataRecord {
    MetadataRecord::CreateTopic(test_support::topic(
        name,
        test_support::partitions_led_by(&[1], &[1, 2, 3]),
    ))
}

fn producer_ids(next: i64) -> MetadataRecord {
    MetadataRecord::ProducerIdBlock {
        next_producer_id: next,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_replicate_and_forward() {
    bounded(async {
        let cluster = Cluster::new(&[1, 2, 3], &[], Tuning::default());
        let nodes = cluster.start_voters().await;
        let leader = agreed_leader(&nodes).await;
        let follower = *nodes.keys().find(|id| **id != leader).unwrap();

        let index = nodes[&leader]
            .write(vec![broker(1), topic("orders")])
            .await
            .unwrap();
        assert!(index > 0);
        // Applied on the leader before `write` returned.
        let image = nodes[&leader].image();
        assert_eq!(image.version, 2);
        assert!(image.brokers.contains_key(&1) && image.topics.contains_key("orders"));
        all_images_equal(&nodes, &image).await;

        assert_eq!(
            nodes[&follower].write(vec![broker(9)]).await,
            Err(QuorumError::NotLeader {
                leader: Some(leader)
            })
        );
        assert_eq!(*nodes[&follower].leader_watch().borrow(), Some(leader));

        assert_eq!(
            forwarded(&nodes[&follower], "ping").await,
            format!("{leader} handled ping from {follower}")
        );
        assert_eq!(
            forwarded(&nodes[&leader], "local").await,
            format!("{leader} handled local from {leader}")
        );

        // A peer that breaks the protocol loses its connection; the node carries on.
        for junk in [&u32::MAX.to_be_bytes()[..], &[0, 0, 0, 2, b'{', b'x'][..]] {
            let mut conn = tokio::net::TcpStream::connect(cluster.listens[&leader])
                .await
                .unwrap();
            conn.write_all(junk).await.unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(conn.read(&mut buf).await.unwrap(), 0, "connection closed");
        }
        assert_eq!(
            forwarded(&nodes[&follower], "still").await,
            format!("{leader} handled still from {follower}")
        );

        shutdown_all(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_loss_elects_a_new_leader_and_writes_continue() {
    bounded(async {
        let cluster = Cluster::new(&[1, 2, 3], &[], Tuning::default());
        let mut nodes = cluster.start_voters().await;
        let old = agreed_leader(&nodes).await;
        nodes[&old].write(vec![broker(1)]).await.unwrap();
        let image = nodes[&old].image();
        all_images_equal(&nodes, &image).await;

        let stopped = nodes.remove(&old).unwrap();
        stopped.shutdown().await;
        let mut leader_changes = nodes.values().next().unwrap().leader_watch();

        let new = agreed_leader(&nodes).await;
        assert_ne!(new, old);
        assert_eq!(*leader_changes.borrow_and_update(), Some(new));
        nodes[&new].write(vec![broker(2)]).await.unwrap();
        let image = nodes[&new].image();
        assert!(image.brokers.contains_key(&1) && image.brokers.contains_key(&2));
        all_images_equal(&nodes, &image).await;

        let other = *nodes.keys().find(|id| **id != new).unwrap();
        assert_eq!(
            forwarded(&nodes[&other], "after").await,
            format!("{new} handled after from {other}")
        );

        shutdown_all(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_the_image_from_snapshot_and_log() {
    bounded(async {
        let tuning = Tuning {
            snapshot_every: 5,
            logs_kept_after_snapshot: 2,
        };
        let cluster = Cluster::new(&[1, 2, 3], &[], tuning);
        let mut nodes = cluster.start_voters().await;
        let leader = agreed_leader(&nodes).await;
        for i in 0..12 {
            nodes[&leader]
                .write(vec![producer_ids(100 * i)])
                .await
                .unwrap();
        }
        nodes[&leader]
            .write(vec![topic("after-snapshot")])
            .await
            .unwrap();
        let image = nodes[&leader].image();
        all_images_equal(&nodes, &image).await;
        for id in nodes.keys() {
            let dir = cluster.dir(*id);
            eventually(|| stored_snapshot_last_log_id(&dir).is_some_and(|l| l.index >= 10)).await;
        }

        // One follower restarts; it missed a write while it was down.
        let follower = *nodes.keys().find(|id| **id != leader).unwrap();
        let before = nodes[&follower].image();
        nodes.remove(&follower).unwrap().shutdown().await;
        nodes[&leader].write(vec![broker(4)]).await.unwrap();
        let restarted = cluster.start(follower).await;
        assert_eq!(
            *restarted.image(),
            *before,
            "image back from disk before start returns"
        );
        nodes.insert(follower, restarted);
        let image = nodes[&leader].image();
        all_images_equal(&nodes, &image).await;

        // The whole quorum restarts: every node comes back with the same image, elects a
        // leader and takes writes.
        shutdown_all(&nodes).await;
        let mut nodes = BTreeMap::new();
        for id in cluster.voters.keys() {
            let q = cluster.start(*id).await;
            assert_eq!(*q.image(), *image, "node {id} restored identically");
            nodes.insert(*id, q);
        }
        let leader = agreed_leader(&nodes).await;
        nodes[&leader].write(vec![broker(5)]).await.unwrap();
        let image = nodes[&leader].image();
        assert_eq!(image.brokers.len(), 2);
        all_images_equal(&nodes, &image).await;
        shutdown_all(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_joins_as_learner_and_receives_updates() {
    bounded(async {
        // The voter's log is purged behind its snapshots, so the observer must be brought up
        // to date with an InstallSnapshot before it gets entries.
        let tuning = Tuning {
            snapshot_every: 3,
            logs_kept_after_snapshot: 0,
        };
        let cluster = Cluster::new(&[1], &[7], tuning);
        let voter = cluster.start(1).await;
        eventually(|| voter.is_leader()).await;
        for i in 0..8 {
            voter.write(vec![producer_ids(i)]).await.unwrap();
        }
        voter.write(vec![broker(1)]).await.unwrap();
        eventually(|| stored_snapshot_last_log_id(&cluster.dir(1)).is_some_and(|l| l.index >= 6))
            .await;

        let observer = cluster.start(7).await;
        let mut updates = observer.subscribe();
        let first = updates.recv().await.unwrap();
        assert!(first.records.is_empty());
        assert_eq!(*first.image, MetadataImage::default());
        assert!(!observer.is_leader());

        observer.join_as_observer().await.unwrap();
        let caught_up = voter.image();
        loop {
            let update = updates.recv().await.unwrap();
            if *update.image == *caught_up {
                break;
            }
        }
        let learners: Vec<u64> = {
            let m = voter.raft_metrics();
            m.membership_config.membership().learner_ids().collect()
        };
        assert_eq!(learners, vec![7]);

        // A live change arrives as records.
        let index = voter.write(vec![topic("live")]).await.unwrap();
        let update = updates.recv().await.unwrap();
        assert_eq!(update.index, index);
        assert_eq!(
            update.records,
            vec![topic_record_of(&voter.image(), "live")]
        );
        assert_eq!(*update.image, *voter.image());

        // An observer is a follower for everything else: it knows the leader, refuses writes
        // and forwards to the leader. Joining again (a restart) is a no-op.
        eventually(|| observer.leader() == Some(1)).await;
        assert_eq!(
            observer.write(vec![broker(7)]).await,
            Err(QuorumError::NotLeader { leader: Some(1) })
        );
        assert_eq!(forwarded(&observer, "hi").await, "1 handled hi from 7");
        observer.join_as_observer().await.unwrap();

        observer.shutdown().await;
        voter.shutdown().await;
    })
    .await;
}

/// The CreateTopic record as applied (its uuid was generated by the writer).
fn topic_record_of(image: &MetadataImage, name: &str) -> MetadataRecord {
    MetadataRecord::CreateTopic(image.topics[name].clone())
}
