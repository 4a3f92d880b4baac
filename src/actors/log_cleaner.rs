//! `LogCleaner`: compacts the logs whose `cleanup.policy` includes `compact` (Kafka's log
//! cleaner), `__consumer_offsets` among them.
//!
//! Every `log.cleaner.backoff.ms` it asks each `PartitionReplica` for a cleanable snapshot of
//! its log (closed segments and the cleaner checkpoint; nothing for non-compacted logs), then
//! cleans the logs whose dirty ratio reaches their `min.cleanable.dirty.ratio`, dirtiest first,
//! one at a time. The rewrite (`storage::cleaner::clean`: offset map, new segment files) runs
//! on a blocking thread and reads only closed segments through their open file handles; the
//! partition actor then swaps the new segments in (`InstallCleaned`), cheaply, between
//! appends. The cleaner never writes a live segment file and never touches the active segment;
//! a log that changed meanwhile (retention, DeleteRecords) keeps its old segments.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::actors::partition_replica::replica_manager::{PartitionHandle, ReplicaManager};
use crate::actors::partition_replica::{InstallCleaned, TakeCleanableSnapshot, TopicPartition};
use crate::config::BrokerConfig;
use crate::runtime::clock::wall_clock_ms;
use crate::storage::{self, CleanableSnapshot, CleanerConfig};

/// The broker-wide cleaner settings.
#[derive(Clone, Debug)]
pub struct CleanerSettings {
    /// `log.cleaner.enable`.
    pub enabled: bool,
    /// `log.cleaner.backoff.ms`.
    pub backoff: Duration,
    /// The offset map's bound: `log.cleaner.dedupe.buffer.size` × load factor.
    pub cleaner: CleanerConfig,
}

impl CleanerSettings {
    pub fn from_config(config: &BrokerConfig) -> CleanerSettings {
        let buffer = config.get_i64("log.cleaner.dedupe.buffer.size").max(0) as u64;
        let load_factor: f64 = config
            .get("log.cleaner.io.buffer.load.factor")
            .parse()
            .unwrap_or(0.9);
        CleanerSettings {
            enabled: config.get_bool("log.cleaner.enable"),
            backoff: Duration::from_millis(config.get_i64("log.cleaner.backoff.ms").max(1) as u64),
            cleaner: CleanerConfig::from_dedupe_buffer(buffer, load_factor),
        }
    }
}

pub struct LogCleaner {
    replicas: Arc<ReplicaManager>,
    settings: CleanerSettings,
    /// A pass is running; ticks meanwhile are skipped.
    busy: bool,
}

impl LogCleaner {
    pub fn new(replicas: Arc<ReplicaManager>, settings: CleanerSettings) -> LogCleaner {
        LogCleaner {
            replicas,
            settings,
            busy: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let pass = clean_dirty_logs(self.replicas.clone(), self.settings.cleaner.clone());
        ctx.spawn(pass.into_actor(self).map(|_, act, _| act.busy = false));
    }
}

impl Actor for LogCleaner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.settings.enabled {
            tracing::info!("log cleaner disabled (log.cleaner.enable=false)");
            return;
        }
        ctx.run_interval(self.settings.backoff, |act, ctx| act.tick(ctx));
    }
}

/// One pass: every compacted log that is dirty enough is cleaned once, dirtiest first.
async fn clean_dirty_logs(replicas: Arc<ReplicaManager>, config: CleanerConfig) {
    let mut dirty = Vec::new();
    for (tp, handle) in replicas.all() {
        let Ok(Some(snapshot)) = handle.addr.send(TakeCleanableSnapshot).await else {
            continue;
        };
        if snapshot.needs_cleaning() {
            dirty.push((snapshot.dirty_ratio(), tp, handle, snapshot));
        }
    }
    dirty.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ratio, tp, handle, snapshot) in dirty {
        clean_one(tp, handle, snapshot, ratio, config.clone()).await;
    }
}

/// Cleans one log on a blocking thread and hands the result to its partition actor.
async fn clean_one(
    tp: TopicPartition,
    handle: PartitionHandle,
    snapshot: CleanableSnapshot,
    dirty_ratio: f64,
    config: CleanerConfig,
) {
    let started = std::time::Instant::now();
    let now = wall_clock_ms();
    let cleaned =
        tokio::task::spawn_blocking(move || storage::clean(&snapshot, &config, now)).await;
    let cleaned = match cleaned {
        Ok(Ok(Some(cleaned))) => cleaned,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(partition = %tp, error = %e, "cleaning failed");
            metrics::counter!("troupe_log_cleaner_failures_total").increment(1);
            return;
        }
        Err(e) => {
            tracing::error!(partition = %tp, error = %e, "cleaner thread panicked");
            metrics::counter!("troupe_log_cleaner_failures_total").increment(1);
            return;
        }
    };
    let stats = cleaned.stats.clone();
    match handle.addr.send(InstallCleaned(cleaned)).await {
        Ok(Ok(outcome)) => {
            metrics::counter!("troupe_log_cleaner_passes_total").increment(1);
            metrics::counter!("troupe_log_cleaner_records_removed_total")
                .increment(stats.records_read.saturating_sub(stats.records_retained));
            metrics::counter!("troupe_log_cleaner_bytes_reclaimed_total")
                .increment(stats.bytes_read.saturating_sub(stats.bytes_written));
            tracing::info!(
                partition = %tp,
                dirty_ratio,
                records_read = stats.records_read,
                records_retained = stats.records_retained,
                bytes_read = stats.bytes_read,
                bytes_written = stats.bytes_written,
                map_full = stats.map_full,
                groups_installed = outcome.installed,
                groups_skipped = outcome.skipped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "log cleaned"
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(partition = %tp, error = %e, "installing cleaned segments failed")
        }
        Err(e) => {
            tracing::warn!(partition = %tp, error = %e, "partition gone before cleaned segments were installed")
        }
    }
}
