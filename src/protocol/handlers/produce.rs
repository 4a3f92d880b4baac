//! Produce: each partition's batches go to its `PartitionReplica` (all partitions in
//! parallel); the leader validates and appends them untouched but for the base offset.
//! acks=0 gets no response (the router drops it); acks=1 completes when the leader's append
//! does; acks=-1 (all) is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than
//! `min.insync.replicas`, and otherwise completes when the high watermark passes the records
//! (`delayed_produce`: it waits on the partition's watermarks and one `SystemTimer` wake-up
//! at the request's timeout, never polling). While it waits, losing leadership answers
//! NOT_LEADER_OR_FOLLOWER and an ISR shrinking below the minimum
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND; the timeout answers REQUEST_TIMED_OUT.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::partition_handle;
use crate::actors::delayed_produce::await_replication;
use crate::actors::partition_replica::{AppendRecords, AppendResult};
use crate::actors::replica_manager::PartitionHandle;
use crate::broker::BrokerContext;
use crate::error::BrokerError;
use crate::metadata::MetadataImage;
use crate::storage::AppendOrigin;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    let acks = req.acks;
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let image = ctx.metadata.current();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.to_string();
        let appends = topic.partition_data.into_iter().map(|p| {
            let name = name.clone();
            let handle = partition_handle(ctx, &image, &name, p.index);
            async move {
                let result = produce_partition_with(
                    ctx,
                    handle,
                    &name,
                    p.records,
                    acks,
                    timeout,
                )
                .await;
                match result {
                    Ok(r) => PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_base_offset(r.base_offset)
                        .with_log_append_time_ms(r.log_append_time)
                        .with_log_start_offset(if version >= 5 { r.log_start_offset } else { -1 }),
                    Err(e) => {
                        tracing::debug!(topic = %name, partition = p.index, error = %e, "produce refused");
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(e.code())
                            .with_error_message(if version >= 8 { Some(e.message()) } else { None })
                            .with_base_offset(-1)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(-1)
                    }
                }
            }
        });
        let partition_responses = futures::future::join_all(appends).await;
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

/// One partition's part of a Produce: the broker's produce path, also taken by extensions
/// (`ExtensionContext::produce`). Refuses internal topics, appends as the leader with `acks`,
/// and for `acks=-1` waits (at most `timeout`) for replication.
pub async fn produce_partition(
    ctx: &BrokerContext,
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    records: Option<Bytes>,
    acks: i16,
    timeout: Duration,
) -> Result<AppendResult, BrokerError> {
    let handle = partition_handle(ctx, image, topic, partition);
    produce_partition_with(ctx, handle, topic, records, acks, timeout).await
}

async fn produce_partition_with(
    ctx: &BrokerContext,
    handle: Result<PartitionHandle, BrokerError>,
    topic: &str,
    records: Option<Bytes>,
    acks: i16,
    timeout: Duration,
) -> Result<AppendResult, BrokerError> {
    if !matches!(acks, -1..=1) {
        return Err(BrokerError::InvalidRequiredAcks);
    }
    if topic == crate::actors::group_coordinator::OFFSETS_TOPIC
        || topic == crate::actors::txn_coordinator::TRANSACTION_STATE_TOPIC
    {
        // Only the coordinators write their internal topics.
        return Err(BrokerError::InvalidTopic(format!("{topic} is internal")));
    }
    let handle = handle?;
    let records = records
        .filter(|r| !r.is_empty())
        .ok_or_else(|| BrokerError::InvalidRecord("no records".into()))?;
    let appended = handle
        .addr
        .send(AppendRecords {
            records,
            origin: AppendOrigin::Client,
            required_acks: acks,
        })
        .await??;
    if acks == -1 {
        let wheel = crate::actors::system_timer::for_this_arbiter(&ctx.timer);
        await_replication(&wheel, &handle.watermarks, &appended, timeout).await?;
    }
    Ok(appended)
}
