//! Client quotas on the request path (KIP-13, KIP-124, KIP-219): what each request records
//! against which quota, the throttle time its response carries, and the empty answer of a
//! throttled fetch. The connection mutes itself for the same time (`ResponseFrame::muted_for`).
//!
//! Kafka's rules: Produce records the request's bytes against `producer_byte_rate`, a
//! consumer's Fetch its response's bytes against `consumer_byte_rate` (followers are never
//! throttled), and every client request the time spent handling it against
//! `request_percentage` (capped at one window); the response carries the larger throttle.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::*;

use crate::broker::BrokerContext;
use crate::protocol::ClientInfo;
use crate::quota::quota_user;

/// Responses that carry Kafka's `throttle_time_ms`.
pub trait Throttled {
    fn set_throttle_time_ms(&mut self, throttle_ms: i64);
}

macro_rules! throttled {
    ($($response:ty),* $(,)?) => {
        $(impl Throttled for $response {
            fn set_throttle_time_ms(&mut self, throttle_ms: i64) {
                self.throttle_time_ms = throttle_ms.clamp(0, i32::MAX as i64) as i32;
            }
        })*
    };
}

throttled!(
    ProduceResponse,
    FetchResponse,
    ListOffsetsResponse,
    MetadataResponse,
    FindCoordinatorResponse,
    ApiVersionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    InitProducerIdResponse,
    DescribeConfigsResponse,
    AlterConfigsResponse,
    IncrementalAlterConfigsResponse,
    DeleteRecordsResponse,
    CreatePartitionsResponse,
    DescribeClusterResponse,
    JoinGroupResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    DescribeGroupsResponse,
    ListGroupsResponse,
    DeleteGroupsResponse,
    OffsetDeleteResponse,
    AddPartitionsToTxnResponse,
    AddOffsetsToTxnResponse,
    EndTxnResponse,
    TxnOffsetCommitResponse,
    DescribeTransactionsResponse,
    ListTransactionsResponse,
    OffsetForLeaderEpochResponse,
    ElectLeadersResponse,
    AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsResponse,
    DescribeAclsResponse,
    CreateAclsResponse,
    DeleteAclsResponse,
    DescribeUserScramCredentialsResponse,
    AlterUserScramCredentialsResponse,
    DescribeClientQuotasResponse,
    AlterClientQuotasResponse,
);

/// Runs `f` and measures the time spent polling it: the time this request occupied a thread,
/// not the time it waited (a long-poll fetch or an `acks=all` produce waits for free).
pub async fn timed<F: Future>(f: F) -> (F::Output, Duration) {
    let mut f = pin!(f);
    let mut busy = Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let polled = f.as_mut().poll(cx);
        busy += started.elapsed();
        polled
    })
    .await;
    (out, busy)
}

/// Kafka's request-time unit: percent of one thread, over a second.
fn percentage(busy: Duration) -> f64 {
    busy.as_nanos() as f64 * 100.0 / 1e9
}

/// Records `busy` against the client's request quota; the throttle (ms) it calls for.
pub fn request_throttle(ctx: &Arc<BrokerContext>, client: &ClientInfo, busy: Duration) -> i64 {
    let image = ctx.metadata.current();
    ctx.quotas.request.record(
        &image,
        quota_user(&client.principal),
        &client.client_id,
        percentage(busy),
        ctx.quotas.now_ms(),
    )
}

/// Produce: the request's bytes against `producer_byte_rate`, its time against
/// `request_percentage`; the larger throttle, counted under its quota type.
pub fn produce_throttle(
    ctx: &Arc<BrokerContext>,
    client: &ClientInfo,
    request_bytes: usize,
    busy: Duration,
) -> i64 {
    let image = ctx.metadata.current();
    let user = quota_user(&client.principal);
    let now = ctx.quotas.now_ms();
    let bandwidth =
        ctx.quotas
            .produce
            .record(&image, user, &client.client_id, request_bytes as f64, now);
    let request = request_throttle(ctx, client, busy);
    if bandwidth > request {
        ctx.quotas.produce.throttle(bandwidth);
    } else {
        ctx.quotas.request.throttle(request);
    }
    bandwidth.max(request)
}

/// A consumer's Fetch: the response's bytes against `consumer_byte_rate`, its time against
/// `request_percentage`. When it is throttled the bytes are taken back: the response sent is
/// the empty one of `throttled_fetch_response`.
pub fn fetch_throttle(
    ctx: &Arc<BrokerContext>,
    client: &ClientInfo,
    response_bytes: usize,
    busy: Duration,
) -> i64 {
    let image = ctx.metadata.current();
    let user = quota_user(&client.principal);
    let now = ctx.quotas.now_ms();
    let bytes = response_bytes as f64;
    let bandwidth = ctx
        .quotas
        .fetch
        .record(&image, user, &client.client_id, bytes, now);
    let request = request_throttle(ctx, client, busy);
    let throttle = bandwidth.max(request);
    if throttle > 0 {
        ctx.quotas
            .fetch
            .unrecord(&image, user, &client.client_id, bytes, now);
        if bandwidth > request {
            ctx.quotas.fetch.throttle(bandwidth);
        } else {
            ctx.quotas.request.throttle(request);
        }
    }
    throttle
}

/// Kafka's `getThrottledResponse`: no partitions, the throttle time, the same session.
pub fn throttled_fetch_response(response: &FetchResponse, throttle_ms: i64) -> FetchResponse {
    let mut empty = FetchResponse::default()
        .with_error_code(0)
        .with_session_id(response.session_id);
    empty.set_throttle_time_ms(throttle_ms);
    empty
}
