//! The wire layer: framing, version negotiation and request routing.
//!
//! `handle_frame` turns one request frame into one response frame (or none, for acks=0
//! produce). It reads the API key and version itself so unsupported versions get Kafka's
//! answer, decodes with `kafka-protocol`, and hands the typed request to the thin handler in
//! `handlers/<api>.rs`. This room knows nothing of segment files; handlers talk to actors.

pub mod frame;
pub mod handlers;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::broker::BrokerContext;

/// Every API Troupe serves and the versions it serves honestly. ApiVersions advertises exactly
/// this table.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
];

pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.iter().find(|(k, _, _)| *k == key).map(|(_, lo, hi)| (*lo, *hi))
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
    Undecodable { api: ApiKey, version: i16, reason: String },
    #[error("cannot encode response: {0}")]
    Encode(String),
}

/// One request frame in, at most one response frame (length prefix included) out.
pub async fn handle_frame(ctx: &Arc<BrokerContext>, frame: Bytes) -> Result<Option<Bytes>, ProtocolError> {
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
            return encode_response(correlation_id, 0, &handlers::api_versions::unsupported()).map(Some);
        }
        return Err(ProtocolError::UnsupportedVersion { api, version });
    }
    let mut body = frame;
    let undecodable = |reason: anyhow::Error| ProtocolError::Undecodable { api, version, reason: reason.to_string() };
    let header = RequestHeader::decode(&mut body, api.request_header_version(version)).map_err(undecodable)?;
    let started = std::time::Instant::now();
    let response = route(ctx, api, version, correlation_id, &header, body).await;
    let label = format!("{api:?}");
    metrics::counter!("troupe_requests_total", "api" => label.clone()).increment(1);
    metrics::histogram!("troupe_request_latency_seconds", "api" => label).record(started.elapsed().as_secs_f64());
    response
}

async fn route(
    ctx: &Arc<BrokerContext>,
    api: ApiKey,
    version: i16,
    cid: i32,
    header: &RequestHeader,
    mut body: Bytes,
) -> Result<Option<Bytes>, ProtocolError> {
    use handlers::*;
    macro_rules! serve {
        ($req:ty, $handler:expr) => {{
            let req = decode::<$req>(&mut body, api, version)?;
            let resp = $handler(ctx, req, version).await;
            encode_response(cid, version, &resp).map(Some)
        }};
    }
    let _ = header;
    match api {
        ApiKey::Produce => {
            let req = decode::<ProduceRequest>(&mut body, api, version)?;
            let acks = req.acks;
            let resp = produce::handle(ctx, req, version).await;
            if acks == 0 {
                Ok(None) // acks=0: the client expects no response at all
            } else {
                encode_response(cid, version, &resp).map(Some)
            }
        }
        ApiKey::Fetch => serve!(FetchRequest, fetch::handle),
        ApiKey::ListOffsets => serve!(ListOffsetsRequest, list_offsets::handle),
        ApiKey::Metadata => serve!(MetadataRequest, metadata::handle),
        ApiKey::FindCoordinator => serve!(FindCoordinatorRequest, find_coordinator::handle),
        ApiKey::ApiVersions => serve!(ApiVersionsRequest, api_versions::handle),
        ApiKey::CreateTopics => serve!(CreateTopicsRequest, create_topics::handle),
        ApiKey::DeleteTopics => serve!(DeleteTopicsRequest, delete_topics::handle),
        ApiKey::InitProducerId => serve!(InitProducerIdRequest, init_producer_id::handle),
        ApiKey::DescribeConfigs => serve!(DescribeConfigsRequest, describe_configs::handle),
        ApiKey::AlterConfigs => serve!(AlterConfigsRequest, alter_configs::handle),
        ApiKey::IncrementalAlterConfigs => serve!(IncrementalAlterConfigsRequest, alter_configs::handle_incremental),
        ApiKey::DeleteRecords => serve!(DeleteRecordsRequest, delete_records::handle),
        ApiKey::CreatePartitions => serve!(CreatePartitionsRequest, create_partitions::handle),
        ApiKey::DescribeCluster => serve!(DescribeClusterRequest, describe_cluster::handle),
        other => Err(ProtocolError::UnsupportedVersion { api: other, version }),
    }
}

fn decode<T: Decodable>(body: &mut Bytes, api: ApiKey, version: i16) -> Result<T, ProtocolError> {
    T::decode(body, version).map_err(|e| ProtocolError::Undecodable { api, version, reason: e.to_string() })
}

/// Encodes header + body behind a length prefix.
pub fn encode_response<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, response: &R) -> Result<Bytes, ProtocolError> {
    let header_version = R::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| response.compute_size(version).map(|b| h + b))
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(|e| ProtocolError::Encode(e.to_string()))?;
    response.encode(&mut buf, version).map_err(|e| ProtocolError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}
