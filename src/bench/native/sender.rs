//! One connection's sender (the part of Kafka's producer that drains batches into Produce
//! requests): it connects to a partition leader with the run's security, then sends one
//! Produce request at a time, each with one full batch for every partition it serves, until
//! the run's record count or duration is used up. A record counts as delivered once its
//! partition's response says so; a refused partition's records count as errors and are not
//! retried (an idempotent partition then resends from the same sequence).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use indicatif::ProgressBar;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::records::Compression;
use tokio::time::Instant;

use super::batch::{encode_batch, ProducerIdentity};
use crate::client::KafkaConnection;
use crate::security::ClientSecurity;

/// The TCP connect, TLS handshake and SASL exchange of a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Produce's own `timeout_ms` (how long the leader may wait for acks=all).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;
/// How long the sender waits for a Produce response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
const CLIENT_ID: &str = "troupe-bench";

/// What every sender of a run shares: how much is left to send and what has been delivered.
pub struct RunProgress {
    record_limit: Option<u64>,
    deadline: Option<Instant>,
    claimed: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

impl RunProgress {
    pub fn new(record_limit: Option<u64>, time_limit: Option<Duration>) -> RunProgress {
        RunProgress {
            record_limit,
            deadline: time_limit.map(|t| Instant::now() + t),
            claimed: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Up to `want` more records to send; 0 once the count or the duration is used up.
    fn claim(&self, want: u64) -> u64 {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        let Some(limit) = self.record_limit else {
            return want;
        };
        let mut claimed = self.claimed.load(Ordering::Relaxed);
        loop {
            let granted = want.min(limit.saturating_sub(claimed));
            if granted == 0 {
                return 0;
            }
            match self.claimed.compare_exchange_weak(
                claimed,
                claimed + granted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return granted,
                Err(now) => claimed = now,
            }
        }
    }
}

/// What one sender sends, and where.
pub struct Sender {
    pub address: String,
    pub partitions: Vec<i32>,
    pub security: ClientSecurity,
    pub topic: TopicName,
    pub produce_version: i16,
    /// Produce `acks`: 1 or -1.
    pub acks: i16,
    pub records_per_batch: usize,
    pub compression: Compression,
    pub producer: Option<ProducerIdentity>,
    pub value: Bytes,
}

impl Sender {
    pub async fn run(self, progress: Arc<RunProgress>, bar: ProgressBar) -> anyhow::Result<()> {
        let mut connection = KafkaConnection::connect(
            &self.address,
            CLIENT_ID.to_string(),
            CONNECT_TIMEOUT,
            &self.security,
        )
        .await?;
        // The next sequence of each partition (idempotent runs).
        let mut sequences = vec![0i32; self.partitions.len()];
        loop {
            let timestamp_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut counts = Vec::with_capacity(self.partitions.len());
            let mut partition_data = Vec::with_capacity(self.partitions.len());
            for (i, &partition) in self.partitions.iter().enumerate() {
                let n = progress.claim(self.records_per_batch as u64) as usize;
                if n == 0 {
                    break;
                }
                let producer = self.producer.map(|p| (p, sequences[i]));
                let batch = encode_batch(&self.value, n, timestamp_ms, producer, self.compression)?;
                partition_data.push(
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                );
                counts.push((i, n));
            }
            if counts.is_empty() {
                return Ok(());
            }
            let request = ProduceRequest::default()
                .with_acks(self.acks)
                .with_timeout_ms(PRODUCE_TIMEOUT_MS)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(self.topic.clone())
                    .with_partition_data(partition_data)]);
            let response = connection
                .call(&request, self.produce_version, RESPONSE_TIMEOUT)
                .await?;
            for (i, n) in counts {
                let partition = self.partitions[i];
                let accepted = response
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .any(|p| p.index == partition && p.error_code == 0);
                if accepted {
                    progress.delivered.fetch_add(n as u64, Ordering::Relaxed);
                    sequences[i] = sequences[i].wrapping_add(n as i32);
                    bar.inc(n as u64);
                } else {
                    progress.failed.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_never_exceed_the_record_count() {
        let p = RunProgress::new(Some(2500), None);
        assert_eq!(p.claim(1000), 1000);
        assert_eq!(p.claim(1000), 1000);
        assert_eq!(p.claim(1000), 500);
        assert_eq!(p.claim(1000), 0);
    }

    #[tokio::test]
    async fn claims_stop_at_the_deadline_of_a_timed_run() {
        let p = RunProgress::new(None, Some(Duration::from_millis(50)));
        assert_eq!(p.claim(7), 7);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(p.claim(7), 0);
    }
}
