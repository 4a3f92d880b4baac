//! Writes the seed inputs for the fuzz targets into fuzz/seeds/<target>/.
//!
//! request_decode seeds are request frame bodies (what follows the 4-byte length prefix) and,
//! for the frame reader, whole length-prefixed frames. batch_validation seeds are produce
//! payloads: one or more v2 record batches as a producer would send them.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/seedgen/Cargo.toml`.
//! The output is deterministic, so re-running only rewrites identical files.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, ProduceRequest, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One v2 batch holding `count` records with small keys and values, compressed as asked.
fn record_batch(count: usize, compression: Compression) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Offset and sequence advance together so the encoder keeps one batch.
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value number {i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode record batch");
    buf.freeze()
}

/// A request frame body: header at the version the API key and version call for, then body.
fn request_body<T: Encodable>(api: ApiKey, version: i16, correlation_id: i32, body: &T) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("seedgen")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api.request_header_version(version))
        .expect("encode request header");
    body.encode(&mut buf, version).expect("encode request body");
    buf.to_vec()
}

/// The body with its 4-byte big-endian length prefix, as it travels on the socket.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn produce(records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("seeds")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    println!("{} ({} bytes)", path.display(), bytes.len());
}

fn main() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let requests = seeds.join("request_decode");
    let batches = seeds.join("batch_validation");
    fs::create_dir_all(&requests).expect("create seeds/request_decode");
    fs::create_dir_all(&batches).expect("create seeds/batch_validation");

    let api_versions = request_body(
        ApiKey::ApiVersions,
        3,
        1,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("troupe-seedgen"))
            .with_client_software_version(StrBytes::from_static_str("0.0.0")),
    );
    let metadata = request_body(
        ApiKey::Metadata,
        12,
        2,
        &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("seeds"))))])),
    );
    let metadata_v1 = request_body(
        ApiKey::Metadata,
        1,
        3,
        &MetadataRequest::default().with_topics(None),
    );
    let produce_v9 = request_body(
        ApiKey::Produce,
        9,
        4,
        &produce(record_batch(2, Compression::None)),
    );
    let produce_v3 = request_body(
        ApiKey::Produce,
        3,
        5,
        &produce(record_batch(1, Compression::Gzip)),
    );

    write(&requests, "api_versions_v3", &api_versions);
    write(&requests, "api_versions_v3_framed", &framed(&api_versions));
    write(&requests, "metadata_v12", &metadata);
    write(&requests, "metadata_v1", &metadata_v1);
    write(&requests, "produce_v9", &produce_v9);
    let mut two_frames = framed(&api_versions);
    two_frames.extend_from_slice(&framed(&produce_v3));
    write(
        &requests,
        "api_versions_then_produce_v3_framed",
        &two_frames,
    );

    write(
        &batches,
        "uncompressed_3_records",
        &record_batch(3, Compression::None),
    );
    write(
        &batches,
        "gzip_2_records",
        &record_batch(2, Compression::Gzip),
    );
    write(
        &batches,
        "snappy_2_records",
        &record_batch(2, Compression::Snappy),
    );
    write(
        &batches,
        "lz4_2_records",
        &record_batch(2, Compression::Lz4),
    );
    write(
        &batches,
        "zstd_2_records",
        &record_batch(2, Compression::Zstd),
    );
    let mut two_batches = record_batch(1, Compression::None).to_vec();
    two_batches.extend_from_slice(&record_batch(4, Compression::None));
    write(&batches, "two_uncompressed_batches", &two_batches);
}
