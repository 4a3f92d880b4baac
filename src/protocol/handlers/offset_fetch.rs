//! OffsetFetch: committed offsets of one group (v1–7; all partitions when topics is null, v2+)
//! or of several groups in one request (v8+). Partitions without a commit answer offset -1.
//! Offsets of open transactions are invisible; with RequireStable (v7+) their partitions
//! answer UNSTABLE_OFFSET_COMMIT instead. A group this node does not coordinate (or is still
//! loading) fails as a whole, where each version puts it: every requested partition (v1), the
//! top-level error (v2–7), the group's error (v8+).
//!
//! Kafka's checks: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED, placed as above) and
//! DESCRIBE on each topic (`fetch_group`).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::{authorize, authorized_topics, str_bytes, topic_name};
use crate::actors::group_coordinator::coordinator::{CommittedOffset, FetchOffsets, FetchedOffset};
use crate::actors::group_coordinator::group::GroupError;
use crate::broker::BrokerContext;
use crate::error::{BrokerError, NONE};
use crate::protocol::ClientInfo;
use crate::security::authorizer::{AclOperation, ResourceType};

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

/// One group's answers after Kafka's checks: DESCRIBE on the group (else the group's error is
/// GROUP_AUTHORIZATION_FAILED), DESCRIBE on each topic (requested partitions of other topics
/// answer TOPIC_AUTHORIZATION_FAILED; an all-topics fetch leaves them out). Err: the code the
/// whole group fails with.
async fn fetch_group(
    ctx: &BrokerContext,
    client: &ClientInfo,
    group_id: &str,
    partitions: Option<Vec<(String, i32)>>,
    require_stable: bool,
    version: i16,
) -> Result<ByTopic, i16> {
    authorize(
        ctx,
        client,
        AclOperation::Describe,
        ResourceType::Group,
        group_id,
    )
    .map_err(|e| e.code())?;
    let (partitions, refused) = match partitions {
        None => (None, Vec::new()),
        Some(ps) => {
            let describable = authorized_topics(
                ctx,
                client,
                AclOperation::Describe,
                ps.iter().map(|(t, _)| t.as_str()),
            );
            let (allowed, refused): (Vec<_>, Vec<_>) =
                ps.into_iter().partition(|(t, _)| describable.contains(t));
            (Some(allowed), refused)
        }
    };
    let all_topics = partitions.is_none();
    let mut fetched = fetch(ctx, group_id.to_string(), partitions, require_stable)
        .await
        .map_err(|e| e.code())?;
    if all_topics {
        let describable = authorized_topics(
            ctx,
            client,
            AclOperation::Describe,
            fetched.iter().map(|(t, _, _)| t.as_str()),
        );
        fetched.retain(|(t, _, _)| describable.contains(t));
    }
    let mut answers = by_topic(fetched, version);
    for (t, p) in refused {
        let code = BrokerError::TopicAuthorizationFailed.code();
        answers
            .entry(t)
            .or_default()
            .push(PartitionAnswer::new(p, None, code, version));
    }
    Ok(answers)
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetFetchRequest,
    version: i16,
    client: &ClientInfo,
) -> OffsetFetchResponse {
    if version >= 8 {
        let mut groups = Vec::new();
        for g in req.groups {
            let partitions = g.topics.map(|ts| requested_partitions!(ts));
            let group = OffsetFetchResponseGroup::default().with_group_id(GroupId(g.group_id.0));
            let fetched = fetch_group(
                ctx,
                client,
                group.group_id.as_str(),
                partitions,
                req.require_stable,
                version,
            )
            .await;
            groups.push(match fetched {
                Ok(answers) => group.with_topics(
                    topic_answers(answers)
                        .map(OffsetFetchResponseTopics::from)
                        .collect(),
                ),
                Err(code) => group.with_error_code(code),
            });
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let partitions = req.topics.map(|ts| requested_partitions!(ts));
    let require_stable = version >= 7 && req.require_stable;
    let answers = match fetch_group(
        ctx,
        client,
        req.group_id.as_str(),
        partitions.clone(),
        require_stable,
        version,
    )
    .await
    {
        Ok(a) => a,
        Err(code) if version < 2 => {
            let mut out = ByTopic::new();
            for (t, p) in partitions.unwrap_or_default() {
                out.entry(t)
                    .or_default()
                    .push(PartitionAnswer::new(p, None, code, version));
            }
            out
        }
        Err(code) => return OffsetFetchResponse::default().with_error_code(code),
    };
    let topics = topic_answers(answers)
        .map(OffsetFetchResponseTopic::from)
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
