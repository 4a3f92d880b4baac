//! The metadata publisher: applies committed metadata on this node, in commit order.
//!
//! A task on the system arbiter (not an actor: it has no mailbox, only the ordered stream of
//! `MetadataUpdate`s from the local controller or the quorum). For each update it swaps the new
//! image into the `MetadataCache` (with the current active controller's id), then lets the
//! `ReplicaManager` reconcile this node's partitions with it (open, lead, follow, close), then
//! tells `CoordinatorElections` (which loads and unloads the coordinators' internal-topic
//! partitions this node now leads or no longer leads; their partitions already have their new
//! role), then publishes the update's index on the `applied` watch, which controller callers
//! wait on. It owns no metadata of its own and never writes any.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::coordinator_elections::CoordinatorElections;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::events::{metadata_changes, EventBus};
use crate::metadata::cache::MetadataCache;
use crate::metadata::MetadataImage;
use crate::quorum::MetadataUpdate;

pub struct MetadataPublisher {
    pub cache: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    /// Coordinator shards load what this node leads of `__consumer_offsets` and
    /// `__transaction_state`.
    pub elections: Arc<CoordinatorElections>,
    /// The index of the last update fully applied here.
    pub applied: watch::Sender<u64>,
    /// The active controller's node id (None: no quorum leader right now).
    pub controller: watch::Receiver<Option<i32>>,
    /// Topic, leader and broker changes go to extensions from here, on every node.
    pub events: EventBus,
}

impl MetadataPublisher {
    /// Runs until the update stream ends. `first_applied` fires once the first update (the
    /// image as of startup) is applied: every partition assigned here has been opened.
    pub async fn run(
        mut self,
        mut updates: mpsc::UnboundedReceiver<MetadataUpdate>,
        first_applied: oneshot::Sender<()>,
    ) {
        let mut first_applied = Some(first_applied);
        let mut current: Option<Arc<MetadataImage>> = None;
        let mut controller_known = true;
        loop {
            tokio::select! {
                update = updates.recv() => {
                    let Some(update) = update else { break };
                    self.publish(&update.image);
                    if let Err(e) = self.replicas.reconcile(&update.image, &update.records).await {
                        tracing::error!(error = %e, index = update.index, "applying metadata to partitions failed");
                    }
                    let replicas = &self.replicas;
                    self.elections.publish(&update.image, |topic, p| replicas.get(topic, p).is_some());
                    if let Some(before) = &current {
                        if self.events.has_subscribers() {
                            for event in metadata_changes(before, &update.image) {
                                self.events.emit(|| event);
                            }
                        }
                    }
                    current = Some(update.image.clone());
                    self.applied.send_replace(update.index);
                    if let Some(tx) = first_applied.take() {
                        let _ = tx.send(());
                    }
                }
                changed = self.controller.changed(), if controller_known => {
                    if changed.is_err() {
                        // The quorum is gone (shutdown): keep applying what is queued.
                        controller_known = false;
                        continue;
                    }
                    if let Some(image) = &current {
                        self.publish(image);
                    }
                }
            }
        }
    }

    fn publish(&self, image: &MetadataImage) {
        let mut image = image.clone();
        image.controller_id = self.controller.borrow().unwrap_or(-1);
        self.cache.publish(image);
    }
}
