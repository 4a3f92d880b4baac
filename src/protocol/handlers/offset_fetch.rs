//! OffsetFetch: committed offsets of one group (v1–7; all partitions when topics is null, v2+)
//! or of several groups in one request (v8+). Partitions without a commit answer offset -1.
//! Offsets of open transactions are invisible; with RequireStable (v7+) their partitions
//! answer UNSTABLE_OFFSET_COMMIT instead. A group this node does not coordinate (or is still
//! loading) fails as a whole, where each version puts it: every requested partition (v1), the
//! top-level error (v2–7), the group's error (v8+).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::{str_bytes, topic_name};
use crate::actors::group_coordinator::coordinator::{CommittedOffset, FetchOffsets, FetchedOffset};
use crate::actors::group_coordinator::group::GroupError;
use crate::broker::BrokerContext;
use crate::error::NONE;

async fn fetch(
    ctx: &BrokerContext,
    group_id: String,
    partitions: Option<Vec<(String, i32)>>,
    require_stable: bool,
) -> Result<Vec<FetchedOffset>, GroupError> {
    ctx.ask_group_coordinator(
        &group_id,
        FetchOffsets {
            group_id: group_id.clone(),
            partitions,
            require_stable,
        },
    )
    .await
}

/// One partition's answer, in the fields both response layouts carry.
struct PartitionAnswer {
    partition: i32,
    error_code: i16,
    committed_offset: i64,
    committed_leader_epoch: i32,
    metadata: StrBytes,
}

impl PartitionAnswer {
    /// The committed leader epoch is answered from v5.
    fn new(
        partition: i32,
        committed: Option<CommittedOffset>,
        error_code: i16,
        version: i16,
    ) -> Self {
        PartitionAnswer {
            partition,
            error_code,
            committed_offset: committed.as_ref().map_or(-1, |c| c.offset),
            committed_leader_epoch: match &committed {
                Some(c) if version >= 5 => c.leader_epoch,
                _ => -1,
            },
            metadata: str_bytes(committed.and_then(|c| c.metadata).as_deref().unwrap_or("")),
        }
    }
}

/// (topic, partition) for every partition a request's topics name (the v1–7 and v8+ layouts
/// are two generated types with the same fields).
macro_rules! requested_partitions {
    ($topics:expr) => {
        $topics
            .iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(move |p| (t.name.to_string(), *p))
            })
            .collect()
    };
}

/// The v1–7 and v8+ layouts carry the same topic and partition fields in two sets of
/// generated types.
macro_rules! response_from_answers {
    ($($topic:ty, $partition:ty);*) => {$(
        impl From<PartitionAnswer> for $partition {
            fn from(a: PartitionAnswer) -> Self {
                <$partition>::default()
                    .with_partition_index(a.partition)
                    .with_error_code(a.error_code)
                    .with_committed_leader_epoch(a.committed_leader_epoch)
                    .with_committed_offset(a.committed_offset)
                    .with_metadata(Some(a.metadata))
            }
        }

        impl From<TopicAnswers> for $topic {
            fn from(t: TopicAnswers) -> Self {
                <$topic>::default()
                    .with_name(topic_name(&t.topic))
                    .with_partitions(t.partitions.into_iter().map(<$partition>::from).collect())
            }
        }
    )*};
}

response_from_answers!(
    OffsetFetchResponseTopics, OffsetFetchResponsePartitions;
    OffsetFetchResponseTopic, OffsetFetchResponsePartition
);

/// One topic's partitions' answers.
struct TopicAnswers {
    topic: String,
    partitions: Vec<PartitionAnswer>,
}

/// Per topic, its partitions' answers.
type ByTopic = BTreeMap<String, Vec<PartitionAnswer>>;

/// The answers by topic, in topic order.
fn topic_answers(by_topic: ByTopic) -> impl Iterator<Item = TopicAnswers> {
    by_topic
        .into_iter()
        .map(|(topic, partitions)| TopicAnswers { topic, partitions })
}

fn by_topic(fetched: Vec<FetchedOffset>, version: i16) -> ByTopic {
    let mut out: ByTopic = BTreeMap::new();
    for (t, p, r) in fetched {
        let (c, code) = match r {
            Ok(c) => (c, NONE),
            Err(e) => (None, e.code()),
        };
        out.entry(t)
            .or_default()
            .push(PartitionAnswer::new(p, c, code, version));
    }
    out
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let mut groups = Vec::new();
        for g in req.groups {
            let partitions = g.topics.map(|ts| requested_partitions!(ts));
            let fetched = fetch(ctx, g.group_id.to_string(), partitions, req.require_stable).await;
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) => {
                    groups.push(
                        OffsetFetchResponseGroup::default()
                            .with_group_id(GroupId(g.group_id.0))
                            .with_error_code(e.code()),
                    );
                    continue;
                }
            };
            let topics = topic_answers(by_topic(fetched, version))
                .map(OffsetFetchResponseTopics::from)
                .collect();
            groups.push(
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(g.group_id.0))
                    .with_topics(topics),
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let partitions = req.topics.map(|ts| requested_partitions!(ts));
    let require_stable = version >= 7 && req.require_stable;
    let fetched = match fetch(
        ctx,
        req.group_id.to_string(),
        partitions.clone(),
        require_stable,
    )
    .await
    {
        Ok(f) => f,
        Err(e) if version < 2 => partitions
            .unwrap_or_default()
            .into_iter()
            .map(|(t, p)| (t, p, Err(e)))
            .collect(),
        Err(e) => return OffsetFetchResponse::default().with_error_code(e.code()),
    };
    let topics = topic_answers(by_topic(fetched, version))
        .map(OffsetFetchResponseTopic::from)
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
