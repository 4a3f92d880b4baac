//! The wire layer: framing, version negotiation and request routing.
//!
//! `handle_frame` turns one request frame into one response frame (or none, for acks=0
//! produce). It reads the API key and version itself so unsupported versions get Kafka's
//! answer, decodes with `kafka-protocol`, and hands the typed request to the thin handler in
//! `handlers/<api>.rs`. This room knows nothing of segment files; handlers talk to actors.

pub mod frame;
pub mod handlers;
pub mod response;
pub mod throttle;

use response::ResponseFrame;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::broker::BrokerContext;

/// Every API Troupe serves and the versions it serves honestly. ApiVersions advertises exactly
/// this table; each range lies inside what `kafka-protocol` can decode (unit-tested), and
/// `tests/version_matrix.rs` sends every version to a real broker.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // Transactions (transaction version 1: EndTxn v5 and TxnOffsetCommit v5, where every
    // EndTxn bumps the epoch, are not served). AddPartitionsToTxn v4+ is the batched form
    // partition leaders send.
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    // Replication: followers truncate by leader epoch before fetching.
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    // SASL (KIP-152 framing). On a SASL listener the connection runs the exchange itself
    // before anything else is served; anywhere else they are answered ILLEGAL_SASL_STATE.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    // Security metadata (issue #15). The ACL APIs' v0 is gone from Kafka 4 and kafka-protocol.
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    // Client quotas (KIP-546).
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::DescribeClientQuotas, 0, 1),
];

pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, lo, hi)| (*lo, *hi))
}

/// Why a connection is closed instead of answered.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame of {0} bytes is too short for a request header")]
    ShortFrame(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("cannot decode {api:?} v{version}: {reason}")]
    Undecodable {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("cannot encode response: {0}")]
    Encode(String),
    #[error("the handler panicked: {0}")]
    HandlerPanicked(String),
    /// Feature `test-hooks`: the response was dropped on purpose.
    #[error("test hook dropped the response")]
    DroppedByTestHook,
}

/// A request frame, decoded.
pub enum ParsedRequest {
    /// A request we serve, at a version we serve.
    Request {
        version: i16,
        correlation_id: i32,
        header: RequestHeader,
        /// Boxed: the decoded body is hundreds of bytes, the other variant four.
        body: Box<RequestKind>,
    },
    /// ApiVersions at a version we do not speak: answered in the v0 layout.
    UnsupportedApiVersions { correlation_id: i32 },
}

/// Decodes one frame without touching any broker state (the fuzz target's entry point).
/// Errors mean "close this connection".
pub fn parse_request(frame: Bytes) -> Result<ParsedRequest, ProtocolError> {
    if frame.len() < 8 {
        return Err(ProtocolError::ShortFrame(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| ProtocolError::UnknownApiKey(raw_key))?;
    let Some((lo, hi)) = supported_range(api) else {
        return Err(ProtocolError::UnsupportedVersion { api, version });
    };
    if version < lo || version > hi {
        if api == ApiKey::ApiVersions {
            // Kafka's rule: answer in the v0 layout so the client can pick a version we have.
            return Ok(ParsedRequest::UnsupportedApiVersions { correlation_id });
        }
        return Err(ProtocolError::UnsupportedVersion { api, version });
    }
    let mut body = frame;
    let undecodable = |reason: anyhow::Error| ProtocolError::Undecodable {
        api,
        version,
        reason: reason.to_string(),
    };
    let header = RequestHeader::decode(&mut body, api.request_header_version(version))
        .map_err(undecodable)?;
    let request = RequestKind::decode(api, &mut body, version).map_err(undecodable)?;
    Ok(ParsedRequest::Request {
        version,
        correlation_id,
        header,
        body: Box::new(request),
    })
}

/// Who is on the other end of a connection: its address, the listener it came through and
/// the principal it authenticated as (`User:ANONYMOUS` when it did not).
#[derive(Clone, Debug)]
pub struct Session {
    pub host: String,
    pub listener: Arc<str>,
    pub principal: Arc<str>,
}

/// Who sent a request: the header's client id and the connection's session. Group members
/// are described with these, and the authorizer decides by them.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub client_id: String,
    pub host: String,
    pub listener: Arc<str>,
    pub principal: Arc<str>,
}

/// One request frame in, at most one response frame (length prefix included) out.
pub async fn handle_frame(
    ctx: &Arc<BrokerContext>,
    frame: Bytes,
    session: &Session,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    let request_bytes = frame.len();
    let (version, correlation_id, request) = match parse_request(frame)? {
        ParsedRequest::UnsupportedApiVersions { correlation_id } => {
            return encode_response(correlation_id, 0, &handlers::api_versions::unsupported())
                .map(|b| Some(b.into()));
        }
        ParsedRequest::Request {
            version,
            correlation_id,
            body,
            header,
        } => {
            let client = ClientInfo {
                client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
                host: session.host.clone(),
                listener: session.listener.clone(),
                principal: session.principal.clone(),
            };
            (version, correlation_id, (*body, client))
        }
    };
    let (request, client) = request;
    let label = api_label(&request);
    let started = std::time::Instant::now();
    let response = route(ctx, version, correlation_id, request, client, request_bytes).await;
    metrics::counter!("troupe_requests_total", "api" => label).increment(1);
    metrics::histogram!("troupe_request_latency_seconds", "api" => label)
        .record(started.elapsed().as_secs_f64());
    response
}

pub fn api_label(request: &RequestKind) -> &'static str {
    match request {
        RequestKind::Produce(_) => "Produce",
        RequestKind::Fetch(_) => "Fetch",
        RequestKind::ListOffsets(_) => "ListOffsets",
        RequestKind::Metadata(_) => "Metadata",
        RequestKind::FindCoordinator(_) => "FindCoordinator",
        RequestKind::ApiVersions(_) => "ApiVersions",
        RequestKind::CreateTopics(_) => "CreateTopics",
        RequestKind::DeleteTopics(_) => "DeleteTopics",
        RequestKind::InitProducerId(_) => "InitProducerId",
        RequestKind::DescribeConfigs(_) => "DescribeConfigs",
        RequestKind::AlterConfigs(_) => "AlterConfigs",
        RequestKind::IncrementalAlterConfigs(_) => "IncrementalAlterConfigs",
        RequestKind::DeleteRecords(_) => "DeleteRecords",
        RequestKind::CreatePartitions(_) => "CreatePartitions",
        RequestKind::DescribeCluster(_) => "DescribeCluster",
        RequestKind::JoinGroup(_) => "JoinGroup",
        RequestKind::SyncGroup(_) => "SyncGroup",
        RequestKind::Heartbeat(_) => "Heartbeat",
        RequestKind::LeaveGroup(_) => "LeaveGroup",
        RequestKind::OffsetCommit(_) => "OffsetCommit",
        RequestKind::OffsetFetch(_) => "OffsetFetch",
        RequestKind::DescribeGroups(_) => "DescribeGroups",
        RequestKind::ListGroups(_) => "ListGroups",
        RequestKind::DeleteGroups(_) => "DeleteGroups",
        RequestKind::OffsetDelete(_) => "OffsetDelete",
        RequestKind::AddPartitionsToTxn(_) => "AddPartitionsToTxn",
        RequestKind::AddOffsetsToTxn(_) => "AddOffsetsToTxn",
        RequestKind::EndTxn(_) => "EndTxn",
        RequestKind::WriteTxnMarkers(_) => "WriteTxnMarkers",
        RequestKind::TxnOffsetCommit(_) => "TxnOffsetCommit",
        RequestKind::DescribeTransactions(_) => "DescribeTransactions",
        RequestKind::ListTransactions(_) => "ListTransactions",
        RequestKind::OffsetForLeaderEpoch(_) => "OffsetForLeaderEpoch",
        RequestKind::ElectLeaders(_) => "ElectLeaders",
        RequestKind::AlterPartitionReassignments(_) => "AlterPartitionReassignments",
        RequestKind::ListPartitionReassignments(_) => "ListPartitionReassignments",
        RequestKind::SaslHandshake(_) => "SaslHandshake",
        RequestKind::SaslAuthenticate(_) => "SaslAuthenticate",
        RequestKind::DescribeAcls(_) => "DescribeAcls",
        RequestKind::CreateAcls(_) => "CreateAcls",
        RequestKind::DeleteAcls(_) => "DeleteAcls",
        RequestKind::DescribeUserScramCredentials(_) => "DescribeUserScramCredentials",
        RequestKind::AlterUserScramCredentials(_) => "AlterUserScramCredentials",
        RequestKind::DescribeClientQuotas(_) => "DescribeClientQuotas",
        RequestKind::AlterClientQuotas(_) => "AlterClientQuotas",
        _ => "Other",
    }
}

async fn route(
    ctx: &Arc<BrokerContext>,
    version: i16,
    cid: i32,
    request: RequestKind,
    client: ClientInfo,
    request_bytes: usize,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    use handlers::*;
    use throttle::{request_throttle, timed, Throttled};
    macro_rules! serve {
        ($req:expr, $handler:expr) => {{
            let resp = $handler(ctx, $req, version).await;
            encode_response(cid, version, &resp).map(|b| Some(b.into()))
        }};
    }
    // For handlers that answer by who is asking (its listener, its principal). The time spent
    // in the handler counts against the client's request quota.
    macro_rules! serve_client {
        ($req:expr, $handler:expr) => {{
            let (mut resp, busy) = timed($handler(ctx, $req, version, &client)).await;
            let throttle_ms = request_throttle(ctx, &client, busy);
            ctx.quotas.request.throttle(throttle_ms);
            resp.set_throttle_time_ms(throttle_ms);
            encode_response(cid, version, &resp)
                .map(|b| Some(ResponseFrame::from(b).muted_for(throttle_ms)))
        }};
    }
    match request {
        RequestKind::Produce(req) => {
            let acks = req.acks;
            let (mut resp, busy) = timed(produce::handle(ctx, req, version, &client)).await;
            let throttle_ms = throttle::produce_throttle(ctx, &client, request_bytes, busy);
            if acks == 0 {
                // acks=0: the client expects no response at all; a throttle still mutes.
                return Ok(
                    (throttle_ms > 0).then(|| ResponseFrame::default().muted_for(throttle_ms))
                );
            }
            resp.set_throttle_time_ms(throttle_ms);
            encode_response(cid, version, &resp)
                .map(|b| Some(ResponseFrame::from(b).muted_for(throttle_ms)))
        }
        RequestKind::Fetch(req) => {
            let from_follower = if version >= 15 {
                req.replica_state.replica_id.0 >= 0
            } else {
                req.replica_id.0 >= 0
            };
            let (reply, busy) = timed(fetch::handle(ctx, req, version, &client)).await;
            let frame =
                fetch::encode_fetch_response(cid, version, &reply.response, &reply.records)?;
            if from_follower {
                // Replication is never throttled by client quotas.
                return Ok(Some(frame));
            }
            let throttle_ms = throttle::fetch_throttle(ctx, &client, frame.len(), busy);
            if throttle_ms == 0 {
                return Ok(Some(frame));
            }
            // Kafka answers a throttled fetch empty (its bytes were taken back from the quota).
            let empty = throttle::throttled_fetch_response(&reply.response, throttle_ms);
            fetch::encode_fetch_response(cid, version, &empty, &[])
                .map(|f| Some(f.muted_for(throttle_ms)))
        }
        RequestKind::ListOffsets(req) => serve_client!(req, list_offsets::handle),
        RequestKind::Metadata(req) => serve_client!(req, metadata::handle),
        RequestKind::FindCoordinator(req) => serve_client!(req, find_coordinator::handle),
        RequestKind::ApiVersions(req) => serve!(req, api_versions::handle),
        RequestKind::CreateTopics(req) => serve_client!(req, create_topics::handle),
        RequestKind::DeleteTopics(req) => serve_client!(req, delete_topics::handle),
        RequestKind::InitProducerId(req) => serve_client!(req, init_producer_id::handle),
        RequestKind::DescribeConfigs(req) => serve_client!(req, describe_configs::handle),
        RequestKind::AlterConfigs(req) => serve_client!(req, alter_configs::handle),
        RequestKind::IncrementalAlterConfigs(req) => {
            serve_client!(req, alter_configs::handle_incremental)
        }
        RequestKind::DeleteRecords(req) => serve_client!(req, delete_records::handle),
        RequestKind::CreatePartitions(req) => serve_client!(req, create_partitions::handle),
        RequestKind::DescribeCluster(req) => serve_client!(req, describe_cluster::handle),
        RequestKind::JoinGroup(req) => {
            let (mut resp, busy) =
                timed(join_group::handle(ctx, req, version, client.clone())).await;
            let throttle_ms = request_throttle(ctx, &client, busy);
            ctx.quotas.request.throttle(throttle_ms);
            resp.set_throttle_time_ms(throttle_ms);
            encode_response(cid, version, &resp)
                .map(|b| Some(ResponseFrame::from(b).muted_for(throttle_ms)))
        }
        RequestKind::SyncGroup(req) => serve_client!(req, sync_group::handle),
        RequestKind::Heartbeat(req) => serve_client!(req, heartbeat::handle),
        RequestKind::LeaveGroup(req) => serve_client!(req, leave_group::handle),
        RequestKind::OffsetCommit(req) => serve_client!(req, offset_commit::handle),
        RequestKind::OffsetFetch(req) => serve_client!(req, offset_fetch::handle),
        RequestKind::DescribeGroups(req) => serve_client!(req, describe_groups::handle),
        RequestKind::ListGroups(req) => serve_client!(req, list_groups::handle),
        RequestKind::DeleteGroups(req) => serve_client!(req, delete_groups::handle),
        RequestKind::OffsetDelete(req) => serve_client!(req, offset_delete::handle),
        RequestKind::AddPartitionsToTxn(req) => serve_client!(req, add_partitions_to_txn::handle),
        RequestKind::AddOffsetsToTxn(req) => serve_client!(req, add_offsets_to_txn::handle),
        RequestKind::EndTxn(req) => serve_client!(req, end_txn::handle),
        // Inter-broker (a cluster action): exempt from client quotas.
        RequestKind::WriteTxnMarkers(req) => {
            let resp = write_txn_markers::handle(ctx, req, version, &client).await;
            encode_response(cid, version, &resp).map(|b| Some(b.into()))
        }
        RequestKind::TxnOffsetCommit(req) => serve_client!(req, txn_offset_commit::handle),
        RequestKind::DescribeTransactions(req) => serve_client!(req, describe_transactions::handle),
        RequestKind::ListTransactions(req) => serve_client!(req, list_transactions::handle),
        RequestKind::OffsetForLeaderEpoch(req) => {
            serve_client!(req, offset_for_leader_epoch::handle)
        }
        RequestKind::ElectLeaders(req) => serve_client!(req, elect_leaders::handle),
        RequestKind::AlterPartitionReassignments(req) => {
            serve_client!(req, partition_reassignments::alter)
        }
        RequestKind::ListPartitionReassignments(req) => {
            serve_client!(req, partition_reassignments::list)
        }
        // Reached only outside a SASL exchange: a plaintext or SSL listener, or a session that
        // already authenticated (re-authentication is not offered).
        RequestKind::SaslHandshake(req) => {
            encode_response(cid, version, &sasl_handshake::illegal_state(req))
                .map(|b| Some(b.into()))
        }
        RequestKind::SaslAuthenticate(_) => {
            encode_response(cid, version, &sasl_authenticate::illegal_state())
                .map(|b| Some(b.into()))
        }
        RequestKind::DescribeAcls(req) => serve_client!(req, acls::describe),
        RequestKind::CreateAcls(req) => serve_client!(req, acls::create),
        RequestKind::DeleteAcls(req) => serve_client!(req, acls::delete),
        RequestKind::DescribeUserScramCredentials(req) => {
            serve_client!(req, scram_credentials::describe)
        }
        RequestKind::AlterUserScramCredentials(req) => {
            serve_client!(req, scram_credentials::alter)
        }
        RequestKind::DescribeClientQuotas(req) => serve_client!(req, client_quotas::describe),
        RequestKind::AlterClientQuotas(req) => serve_client!(req, client_quotas::alter),
        // parse_request admits only APIs in SUPPORTED_APIS, all routed above.
        other => Err(ProtocolError::Encode(format!(
            "no handler for {}",
            api_label(&other)
        ))),
    }
}

/// Encodes header + body behind a length prefix.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> Result<Bytes, ProtocolError> {
    let header_version = R::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| response.compute_size(version).map(|b| h + b))
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_decodable_by_kafka_protocol() {
        for (api, lo, hi) in SUPPORTED_APIS {
            let valid = api.valid_versions();
            assert!(
                valid.min <= *lo && *hi <= valid.max,
                "{api:?} {lo}..={hi} outside {valid:?}"
            );
        }
    }

    #[test]
    fn short_unknown_and_unsupported_frames_are_refused() {
        assert!(matches!(
            parse_request(Bytes::from_static(b"\x00\x12")),
            Err(ProtocolError::ShortFrame(2))
        ));
        assert!(matches!(
            parse_request(Bytes::from_static(b"\xff\xff\xff\xff\x00\x00\x00\x01")),
            Err(ProtocolError::UnknownApiKey(-1))
        ));
        // Produce v0 is below the supported floor: the connection is closed.
        assert!(matches!(
            parse_request(Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x01")),
            Err(ProtocolError::UnsupportedVersion { .. })
        ));
        // ApiVersions v99 gets the v0-layout answer.
        assert!(matches!(
            parse_request(Bytes::from_static(b"\x00\x12\x00\x63\x00\x00\x00\x07")),
            Ok(ParsedRequest::UnsupportedApiVersions { correlation_id: 7 })
        ));
        // A truncated body closes the connection instead of panicking.
        assert!(matches!(
            parse_request(Bytes::from_static(b"\x00\x00\x00\x09\x00\x00\x00\x01\x00")),
            Err(ProtocolError::Undecodable { .. })
        ));
    }
}
