//! The `GroupCoordinator` shard against real `__consumer_offsets` partitions: it serves only
//! what it has loaded, removes a group whole, and holds only a group whose write waits.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::coordinator::*;
use super::group::*;
use super::{offsets_partition_for, OFFSETS_TOPIC};
use crate::actors::coordinator_partitions::{LoadPartition, UnloadPartition};
use crate::actors::system_timer::SystemTimer;
use crate::events::{BrokerEvent, EventBus};
use crate::metadata::{MetadataImage, PartitionMeta, TopicMeta};

/// A one-node image where node 1 leads both partitions of `__consumer_offsets`; with
/// `unreplicated`, partition 0 also lists node 2 in its ISR, which never fetches, so no write
/// there reaches the high watermark.
fn image(unreplicated: bool) -> MetadataImage {
    let mut image = MetadataImage::default();
    let partitions = (0..2)
        .map(|index| PartitionMeta {
            index,
            replicas: if unreplicated && index == 0 {
                vec![1, 2]
            } else {
                vec![1]
            },
            isr: if unreplicated && index == 0 {
                vec![1, 2]
            } else {
                vec![1]
            },
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        })
        .collect();
    image.topics.insert(
        OFFSETS_TOPIC.into(),
        TopicMeta {
            name: OFFSETS_TOPIC.into(),
            id: Default::default(),
            partitions,
            configs: Default::default(),
            internal: true,
        },
    );
    image
}

/// How a test shard is set up. `Default` is the common case: both partitions replicated by
/// node 1 alone (every write commits at once), the default group config, offsets that never
/// expire, nobody listening for events, and a 5s write timeout.
struct ShardSetup {
    image: MetadataImage,
    config: GroupConfig,
    retention: OffsetsRetention,
    events: EventBus,
    write_timeout: Duration,
}

impl Default for ShardSetup {
    fn default() -> Self {
        ShardSetup {
            image: image(false),
            config: GroupConfig::default(),
            retention: never_expire(),
            events: EventBus::default(),
            write_timeout: Duration::from_secs(5),
        }
    }
}

async fn start(dir: &std::path::Path) -> Addr<GroupCoordinator> {
    ShardSetup::default().start(dir).await
}

impl ShardSetup {
    async fn start(self, dir: &std::path::Path) -> Addr<GroupCoordinator> {
        let ShardSetup {
            image,
            config,
            retention,
            events,
            write_timeout,
        } = self;
        let replicas = crate::test_support::node_one_replicas(dir, &image).await;
        GroupCoordinator::new(
            config,
            retention,
            write_timeout,
            SystemTimer::default().start(),
            replicas,
            0,
            2,
        )
        .with_events(events)
        .start()
    }
}

async fn load(gc: &Addr<GroupCoordinator>, partition: i32) {
    let (tx, rx) = oneshot::channel();
    gc.send(LoadPartition {
        partition,
        leader_epoch: 0,
        loaded: Some(tx),
    })
    .await
    .unwrap();
    rx.await.unwrap();
}

fn commit(group_id: &str, offset: i64) -> CommitOffsets {
    CommitOffsets {
        group_id: group_id.into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![(
            "t".into(),
            0,
            CommittedOffset {
                offset,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: 0,
            },
        )],
    }
}

fn fetch(group_id: &str) -> FetchOffsets {
    FetchOffsets {
        group_id: group_id.into(),
        partitions: None,
        require_stable: false,
    }
}

fn join(group_id: &str) -> JoinGroup {
    JoinGroup {
        group_id: group_id.into(),
        request: JoinRequest {
            member_id: String::new(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Vec::new())],
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            client_id: "c".into(),
            client_host: "h".into(),
            require_known_member_id: false,
            supports_skip_assignment: false,
        },
    }
}

/// A group id whose `__consumer_offsets` partition (of 2) is `partition`.
fn group_in(partition: i32) -> String {
    (0..)
        .map(|i| format!("group-{i}"))
        .find(|g| offsets_partition_for(g, 2) == partition)
        .unwrap()
}

#[actix::test]
async fn a_shard_serves_what_it_loaded_and_forgets_what_it_unloaded() {
    let dir = tempfile::tempdir().unwrap();
    let gc = start(dir.path()).await;
    let (g0, g1) = (group_in(0), group_in(1));

    let refused = gc.send(commit(&g0, 5)).await.unwrap();
    assert_eq!(
        refused,
        Err(GroupError::NotCoordinator),
        "nothing loaded yet"
    );
    load(&gc, 0).await;
    assert_eq!(gc.send(commit(&g0, 5)).await.unwrap(), Ok(()));
    let other = gc.send(commit(&g1, 7)).await.unwrap();
    assert_eq!(
        other,
        Err(GroupError::NotCoordinator),
        "partition 1 is not loaded"
    );
    let listed = gc.send(ListGroups).await.unwrap().unwrap();
    assert_eq!(listed.len(), 1);

    // A member parked in the initial rebalance delay when the partition moves away.
    let parked = gc.send(join(&g0));
    gc.send(UnloadPartition { partition: 0 }).await.unwrap();
    let answer = parked.await.unwrap();
    assert_eq!(answer.result.unwrap_err(), GroupError::NotCoordinator);
    let gone = gc.send(fetch(&g0)).await.unwrap();
    assert_eq!(gone, Err(GroupError::NotCoordinator));
    let described = gc
        .send(DescribeGroups {
            group_ids: vec![g0.clone()],
        })
        .await
        .unwrap();
    assert_eq!(
        described[0].as_ref().unwrap_err(),
        &GroupError::NotCoordinator
    );
    assert!(gc.send(ListGroups).await.unwrap().unwrap().is_empty());

    // Elected again: the committed offset is read back from the log.
    load(&gc, 0).await;
    let fetched = gc.send(fetch(&g0)).await.unwrap().unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].2.as_ref().unwrap().as_ref().unwrap().offset, 5);
}

/// No initial rebalance delay, so a lone member's JoinGroup completes the join at once.
fn quick_config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

/// One member joins `group_id` and, as leader, syncs: the group is Stable at the returned
/// (member id, generation).
async fn form_stable(gc: &Addr<GroupCoordinator>, group_id: &str) -> (String, i32) {
    let joined = gc.send(join(group_id)).await.unwrap();
    let generation = joined.result.unwrap().generation_id;
    let synced = gc
        .send(SyncGroup {
            group_id: group_id.into(),
            request: SyncRequest {
                member_id: joined.member_id.clone(),
                generation_id: generation,
                group_instance_id: None,
                protocol_type: None,
                protocol_name: None,
                assignments: vec![(joined.member_id.clone(), b"a".to_vec())],
            },
        })
        .await
        .unwrap();
    assert!(synced.is_ok(), "{synced:?}");
    (joined.member_id, generation)
}

async fn leave(gc: &Addr<GroupCoordinator>, group_id: &str, member_id: &str) {
    let left = gc
        .send(LeaveGroup {
            group_id: group_id.into(),
            members: vec![LeaveMember {
                member_id: member_id.into(),
                group_instance_id: None,
            }],
        })
        .await
        .unwrap();
    assert!(left.is_ok(), "{left:?}");
}

async fn delete(gc: &Addr<GroupCoordinator>, group_id: &str) {
    let deleted = gc
        .send(DeleteGroups {
            group_ids: vec![group_id.into()],
        })
        .await
        .unwrap();
    assert_eq!(deleted, vec![(group_id.to_string(), Ok(()))]);
}

/// The next `GroupRebalanced` event, if one comes within a second.
async fn next_rebalance(events: &mut crate::events::Subscription) -> Option<(String, i32)> {
    use crate::events::Delivery;
    let wait = async {
        loop {
            match events.next().await {
                Some(Delivery::Event(BrokerEvent::GroupRebalanced {
                    group_id,
                    generation_id,
                    ..
                })) => return Some((group_id, generation_id)),
                Some(_) => continue,
                None => return None,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(1), wait)
        .await
        .ok()
        .flatten()
}

/// Regression: the last announced generation outlived DeleteGroups, so a group created
/// again under the same id reached generation 1 silently.
#[actix::test]
async fn a_recreated_group_announces_its_first_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let gc = ShardSetup {
        config: quick_config(),
        events: bus,
        ..ShardSetup::default()
    }
    .start(dir.path())
    .await;
    let g = group_in(0);
    load(&gc, 0).await;

    let (member, generation) = form_stable(&gc, &g).await;
    assert_eq!(
        next_rebalance(&mut events).await,
        Some((g.clone(), generation))
    );
    leave(&gc, &g, &member).await;
    delete(&gc, &g).await;

    let (_, again) = form_stable(&gc, &g).await;
    assert_eq!(
        again, generation,
        "a new group starts its generations afresh"
    );
    assert_eq!(
        next_rebalance(&mut events).await,
        Some((g.clone(), again)),
        "the recreated group's first rebalance is announced"
    );
}

/// Regression: DeleteGroups left the group's empty-since time behind, so a group created
/// again under the same id had its new offsets expire counted from when the deleted group
/// emptied instead of from their commit.
#[actix::test]
async fn a_recreated_group_does_not_inherit_the_deleted_ones_empty_since() {
    let dir = tempfile::tempdir().unwrap();
    // Expiry runs at 1 s, 2 s, 3 s, 4 s after the start; the steps below fall between
    // those checks, so none of them races a check.
    let retention = OffsetsRetention {
        retention_ms: 1_500,
        check_interval: Duration::from_secs(1),
    };
    let started = tokio::time::Instant::now();
    let gc = ShardSetup {
        config: quick_config(),
        retention,
        ..ShardSetup::default()
    }
    .start(dir.path())
    .await;
    let g = group_in(0);
    load(&gc, 0).await;

    // A group that empties at once (its offset keeps it from expiring meanwhile), deleted.
    let (member, _) = form_stable(&gc, &g).await;
    let committed = gc
        .send(CommitOffsets {
            member_id: member.clone(),
            generation_id: 1,
            ..commit(&g, 3)
        })
        .await
        .unwrap();
    assert_eq!(committed, Ok(()));
    leave(&gc, &g, &member).await;
    delete(&gc, &g).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "setup too slow"
    );

    // Longer than the retention after it emptied, the same id commits again: the check at
    // 3 s must keep that offset (it is 0.5 s old), the one at 4 s may expire it.
    tokio::time::sleep_until(started + Duration::from_millis(2_500)).await;
    assert_eq!(gc.send(commit(&g, 9)).await.unwrap(), Ok(()));
    tokio::time::sleep_until(started + Duration::from_millis(3_500)).await;
    let fetched = gc.send(fetch(&g)).await.unwrap().unwrap();
    assert_eq!(
        fetched.len(),
        1,
        "the new commit expired at once: {fetched:?}"
    );
    assert_eq!(fetched[0].2.as_ref().unwrap().as_ref().unwrap().offset, 9);
}

fn never_expire() -> OffsetsRetention {
    OffsetsRetention {
        retention_ms: i64::MAX,
        check_interval: Duration::from_secs(3600),
    }
}

fn offset_of(fetched: &[FetchedOffset]) -> Option<i64> {
    match fetched {
        [(_, _, Ok(Some(c)))] => Some(c.offset),
        _ => None,
    }
}

/// While a group's write waits for replication (here it never gets it and times out), another
/// group of the same shard is served; the waiting group's later requests wait behind it, and
/// an unload answers them NOT_COORDINATOR.
#[actix::test]
async fn a_write_waiting_for_replication_holds_only_its_own_group() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(3);
    let gc = ShardSetup {
        image: image(true),
        write_timeout: timeout,
        ..ShardSetup::default()
    }
    .start(dir.path())
    .await;
    let (stuck, free) = (group_in(0), group_in(1));
    load(&gc, 0).await;
    load(&gc, 1).await;

    let started = tokio::time::Instant::now();
    let stuck_commit = actix::spawn(gc.send(commit(&stuck, 1)));
    let stuck_fetch = actix::spawn(gc.send(fetch(&stuck)));
    let served = tokio::time::timeout(Duration::from_secs(2), async {
        let committed = gc.send(commit(&free, 2)).await.unwrap();
        let fetched = gc.send(fetch(&free)).await.unwrap();
        (committed, fetched)
    })
    .await
    .expect("the other group was held up by the waiting write");
    assert_eq!(served.0, Ok(()));
    assert_eq!(offset_of(&served.1.unwrap()), Some(2));
    assert!(
        !stuck_commit.is_finished(),
        "the write cannot be replicated"
    );
    assert!(
        !stuck_fetch.is_finished(),
        "it waits behind its group's write"
    );

    // The partition moves away: the waiting fetch is answered at once, the write when it
    // gives up.
    gc.send(UnloadPartition { partition: 0 }).await.unwrap();
    let fetched = stuck_fetch.await.unwrap().unwrap();
    assert_eq!(fetched, Err(GroupError::NotCoordinator));
    assert!(
        started.elapsed() < timeout,
        "answered before the write timed out"
    );
    let committed = stuck_commit.await.unwrap().unwrap();
    assert_eq!(committed, Err(GroupError::CoordinatorNotAvailable));
}

/// A group's requests run in arrival order even while its writes are in flight: each fetch
/// sees the commits sent before it and none sent after.
#[actix::test]
async fn a_groups_requests_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let gc = start(dir.path()).await;
    let g = group_in(0);
    load(&gc, 0).await;

    // Sent without waiting: all four are in the shard's mailbox before the first write ends.
    let first_commit = gc.send(commit(&g, 1));
    let first_fetch = gc.send(fetch(&g));
    let second_commit = gc.send(commit(&g, 2));
    let second_fetch = gc.send(fetch(&g));
    assert_eq!(first_commit.await.unwrap(), Ok(()));
    assert_eq!(offset_of(&first_fetch.await.unwrap().unwrap()), Some(1));
    assert_eq!(second_commit.await.unwrap(), Ok(()));
    assert_eq!(offset_of(&second_fetch.await.unwrap().unwrap()), Some(2));
}
