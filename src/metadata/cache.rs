//! `MetadataCache`: this broker's read-mostly view of cluster metadata.
//!
//! The `Controller` is its only writer (`publish`); connections read it without a round trip
//! (`current` clones an `Arc`). It owns nothing but the current image.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::metadata::MetadataImage;

#[derive(Default)]
pub struct MetadataCache {
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataCache {
    pub fn new(image: MetadataImage) -> Self {
        MetadataCache {
            image: RwLock::new(Arc::new(image)),
        }
    }

    /// The current image; holders keep a consistent snapshot while newer ones are published.
    pub fn current(&self) -> Arc<MetadataImage> {
        self.image.read().clone()
    }

    /// Swaps in a newer image. Only the controller calls this.
    pub fn publish(&self, image: MetadataImage) {
        metrics::gauge!("troupe_partitions").set(image.partition_count() as f64);
        metrics::gauge!("troupe_topics").set(image.topics.len() as f64);
        *self.image.write() = Arc::new(image);
    }
}
