//! `troupe produce TOPIC` (one record per stdin line) and `troupe consume TOPIC` (one record
//! per stdout line), speaking Produce and Fetch directly.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::topic::{leaders, partition_offsets};
use super::{check, AdminError, Cluster};
use crate::storage::batch_builder::{build_batch, NewRecord};

/// Lines sent per Produce request.
const LINES_PER_BATCH: usize = 500;
/// Newest Fetch version that still names topics (v13 switched to topic ids).
const FETCH_MAX_VERSION: i16 = 12;

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Kafka's murmur2, as its default partitioner hashes keys (so keyed records land where a
/// Java or librdkafka producer with the murmur2 partitioner would put them).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a key.
fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// One record as the CLI reads or prints it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CliRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Milliseconds since the epoch (printing only).
    pub timestamp: i64,
}

fn encode_batch(records: &[CliRecord]) -> Result<Bytes, AdminError> {
    let now = crate::runtime::clock::wall_clock_ms();
    let records = records.iter().map(|r| NewRecord {
        key: r.key.clone(),
        value: r.value.clone(),
        headers: &r.headers,
    });
    build_batch(records, now, None).map_err(|e| AdminError::Protocol(e.to_string()))
}

/// Options of `troupe produce`.
#[derive(Default)]
pub struct ProduceOptions {
    pub partition: Option<i32>,
    /// Split each line at the first occurrence into key and value.
    pub key_separator: Option<String>,
    /// The key of every record (unless the line gives one).
    pub key: Option<String>,
    /// Headers added to every record.
    pub headers: Vec<(String, String)>,
    /// Each line is a JSON object `{"key", "value", "headers": {..}, "partition"}`.
    pub json_lines: bool,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// One stdin line as a record (and its partition, when the line names one).
fn parse_line(
    line: String,
    options: &ProduceOptions,
) -> Result<(CliRecord, Option<i32>), AdminError> {
    let fixed_headers = || {
        options
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
            .collect::<Vec<_>>()
    };
    let fixed_key = options.key.as_ref().map(|k| Bytes::from(k.clone()));
    if options.json_lines {
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| AdminError::Usage(format!("not a JSON object ({e}): {line}")))?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Bytes::from(s.clone())),
            other => Some(Bytes::from(other.to_string())),
        };
        let mut headers = fixed_headers();
        if let Some(h) = v.get("headers").and_then(|h| h.as_object()) {
            headers.extend(h.iter().map(|(k, v)| (k.clone(), text(v))));
        }
        let partition = v
            .get("partition")
            .and_then(|p| p.as_i64())
            .map(|p| p as i32);
        return Ok((
            CliRecord {
                key: v.get("key").and_then(text).or(fixed_key),
                value: v.get("value").and_then(text),
                headers,
                timestamp: 0,
            },
            partition,
        ));
    }
    let (key, value) = match &options.key_separator {
        Some(sep) => match line.split_once(sep.as_str()) {
            Some((k, v)) => (Some(Bytes::from(k.to_string())), Bytes::from(v.to_string())),
            None => (fixed_key, Bytes::from(line)),
        },
        None => (fixed_key, Bytes::from(line)),
    };
    Ok((
        CliRecord {
            key,
            value: Some(value),
            headers: fixed_headers(),
            timestamp: 0,
        },
        None,
    ))
}

/// Reads stdin to its end and produces every line (acks=all). Returns how many were written.
pub fn produce(
    cluster: &mut Cluster,
    topic: &str,
    options: &ProduceOptions,
    input: impl BufRead,
) -> Result<u64, AdminError> {
    let metadata = cluster.metadata(Some(vec![topic.to_string()]))?;
    let leaders = leaders(&metadata, topic)?;
    let partitions = leaders.len() as i32;
    if let Some(p) = options.partition {
        if !leaders.contains_key(&p) {
            return Err(AdminError::Usage(format!("{topic} has no partition {p}")));
        }
    }
    let mut pending: BTreeMap<i32, Vec<CliRecord>> = BTreeMap::new();
    let mut next_keyless = 0i32;
    let mut written = 0u64;
    let bar = super::output::progress(None, options.progress, "produced");
    for line in input.lines() {
        let (record, line_partition) = parse_line(line?, options)?;
        let partition = match (line_partition.or(options.partition), &record.key) {
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, partitions),
            (None, None) => next_keyless,
        };
        if !leaders.contains_key(&partition) {
            return Err(AdminError::Usage(format!(
                "{topic} has no partition {partition}"
            )));
        }
        let batch = pending.entry(partition).or_default();
        batch.push(record);
        if batch.len() >= LINES_PER_BATCH {
            let batch = pending.remove(&partition).unwrap_or_default();
            written += send(cluster, topic, &leaders, partition, &batch)?;
            bar.set_position(written);
            next_keyless = (next_keyless + 1) % partitions.max(1);
        }
    }
    for (partition, batch) in pending {
        written += send(cluster, topic, &leaders, partition, &batch)?;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    Ok(written)
}

fn send(
    cluster: &mut Cluster,
    topic: &str,
    leaders: &BTreeMap<i32, i32>,
    partition: i32,
    batch: &[CliRecord],
) -> Result<u64, AdminError> {
    let leader = leaders.get(&partition).copied().unwrap_or(-1);
    if leader < 0 {
        return Err(AdminError::kafka(
            "Produce",
            5,
            Some(format!("partition {partition} has no leader")),
        ));
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(encode_batch(batch)?))])]);
    let response = cluster.broker(leader)?.call(request)?;
    for t in response.responses {
        for p in t.partition_responses {
            check(
                "Produce",
                p.error_code,
                p.error_message.map(|m| m.to_string()),
            )?;
        }
    }
    Ok(batch.len() as u64)
}

/// Options of `troupe consume`.
pub struct ConsumeOptions {
    pub partition: Option<i32>,
    pub from_beginning: bool,
    pub max_messages: Option<u64>,
    /// Stop once nothing new arrived for this long.
    pub idle_timeout: Duration,
    pub print_key: bool,
    /// Text format: append the headers (`k=v,k=v`) after a separator.
    pub print_headers: bool,
    pub key_separator: String,
    pub json: bool,
    /// Draw a progress bar on stderr (when it is a terminal and --max-messages is given).
    pub progress: bool,
}

/// Prints records as they arrive. Returns how many were printed.
pub fn consume(
    cluster: &mut Cluster,
    topic: &str,
    options: &ConsumeOptions,
    mut out: impl Write,
) -> Result<u64, AdminError> {
    let metadata = cluster.metadata(Some(vec![topic.to_string()]))?;
    let mut leaders = leaders(&metadata, topic)?;
    if let Some(p) = options.partition {
        leaders.retain(|partition, _| *partition == p);
        if leaders.is_empty() {
            return Err(AdminError::Usage(format!("{topic} has no partition {p}")));
        }
    }
    let start = if options.from_beginning { -2 } else { -1 };
    let mut positions = partition_offsets(cluster, topic, &leaders, start)?;
    let mut printed = 0u64;
    let mut last_progress = Instant::now();
    let bar = super::output::progress(options.max_messages, options.progress, "consumed");
    loop {
        let mut progressed = false;
        for (&partition, &leader) in &leaders {
            let Some(position) = positions.get(&partition).copied() else {
                continue;
            };
            let records = fetch(cluster, topic, leader, partition, position)?;
            for (offset, record) in records {
                if offset < position {
                    continue; // earlier records of the first batch
                }
                print_record(&mut out, options, topic, partition, offset, &record)?;
                positions.insert(partition, offset + 1);
                printed += 1;
                bar.set_position(printed);
                progressed = true;
                if options.max_messages.is_some_and(|max| printed >= max) {
                    bar.finish_and_clear();
                    return Ok(printed);
                }
            }
        }
        out.flush()?;
        if progressed {
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= options.idle_timeout {
            bar.finish_and_clear();
            return Ok(printed);
        }
    }
}

type FetchedRecord = (i64, CliRecord);

/// One Fetch of one partition (waiting up to 500 ms for data); data records only.
fn fetch(
    cluster: &mut Cluster,
    topic: &str,
    leader: i32,
    partition: i32,
    offset: i64,
) -> Result<Vec<FetchedRecord>, AdminError> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let response = cluster
        .broker(leader)?
        .call_capped(request, FETCH_MAX_VERSION)?;
    check("Fetch", response.error_code, None)?;
    let mut out = Vec::new();
    for t in response.responses {
        for p in t.partitions {
            check(
                "Fetch",
                p.error_code,
                Some(format!("partition {partition}")),
            )?;
            let Some(mut bytes) = p.records else { continue };
            while let Some(batch) = next_whole_batch(&mut bytes) {
                let mut batch = batch;
                let set = RecordBatchDecoder::decode(&mut batch)
                    .map_err(|e| AdminError::Protocol(format!("decoding records: {e}")))?;
                out.extend(set.records.into_iter().filter(|r| !r.control).map(|r| {
                    (
                        r.offset,
                        CliRecord {
                            key: r.key,
                            value: r.value,
                            headers: crate::storage::records::header_pairs(r.headers),
                            timestamp: r.timestamp,
                        },
                    )
                }));
            }
        }
    }
    Ok(out)
}

/// Splits off the next whole batch; a partial one at the end (brokers may cut the last batch
/// at the size limit) is left.
fn next_whole_batch(bytes: &mut Bytes) -> Option<Bytes> {
    if bytes.len() < 12 {
        return None;
    }
    let length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let size = 12usize.checked_add(usize::try_from(length).ok()?)?;
    if size > bytes.len() {
        return None;
    }
    Some(bytes.split_to(size))
}

fn print_record(
    out: &mut impl Write,
    options: &ConsumeOptions,
    topic: &str,
    partition: i32,
    offset: i64,
    record: &CliRecord,
) -> Result<(), AdminError> {
    let text = |b: Option<&Bytes>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    if options.json {
        let headers: serde_json::Map<String, serde_json::Value> = record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), text(v.as_ref()).into()))
            .collect();
        let line = serde_json::json!({
            "topic": topic, "partition": partition, "offset": offset,
            "timestamp": record.timestamp, "key": text(record.key.as_ref()),
            "value": text(record.value.as_ref()), "headers": headers,
        });
        writeln!(out, "{line}")?;
        return Ok(());
    }
    let mut line = String::new();
    if options.print_key {
        line.push_str(&text(record.key.as_ref()).unwrap_or_default());
        line.push_str(&options.key_separator);
    }
    line.push_str(&text(record.value.as_ref()).unwrap_or_default());
    if options.print_headers {
        let headers: Vec<String> = record
            .headers
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v.as_ref()).unwrap_or_default()))
            .collect();
        line.push_str(&options.key_separator);
        line.push_str(&headers.join(","));
    }
    writeln!(out, "{line}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_partitioner() {
        // Values from Kafka's own partitioner tests (Utils.murmur2).
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn a_partial_last_batch_is_left_alone() {
        let mut bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2]);
        assert!(next_whole_batch(&mut bytes).is_none());
    }
}
