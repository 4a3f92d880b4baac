//! Fan-out of applied metadata: the latest image and every `MetadataUpdate`, in apply order, to
//! each subscriber.
//!
//! Publishing and subscribing take the same lock, so a new subscriber's first message (the
//! current image with no records) and the updates after it form a gap-free sequence.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::types::MetadataUpdate;
use crate::metadata::{MetadataImage, MetadataRecord};

#[derive(Default)]
pub(crate) struct Updates {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    index: u64,
    image: Arc<MetadataImage>,
    subscribers: Vec<mpsc::UnboundedSender<MetadataUpdate>>,
}

impl Updates {
    /// Makes `image` current and sends the update to every live subscriber.
    pub(crate) fn publish(
        &self,
        index: u64,
        records: Vec<MetadataRecord>,
        image: Arc<MetadataImage>,
    ) {
        let mut inner = self.inner.lock();
        inner.index = index;
        inner.image = image.clone();
        let update = MetadataUpdate {
            index,
            records,
            image,
        };
        inner.subscribers.retain(|s| s.send(update.clone()).is_ok());
    }

    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.inner.lock().image.clone()
    }

    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<MetadataUpdate> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.inner.lock();
        let current = MetadataUpdate {
            index: inner.index,
            records: Vec::new(),
            image: inner.image.clone(),
        };
        if tx.send(current).is_ok() {
            inner.subscribers.push(tx);
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_starts_from_the_current_image_then_gets_every_update() {
        let updates = Updates::default();
        let mut image = MetadataImage::default();
        let record = MetadataRecord::ProducerIdBlock {
            next_producer_id: 7,
        };
        image.apply(&record);
        updates.publish(3, vec![record.clone()], Arc::new(image.clone()));

        let mut rx = updates.subscribe();
        let first = rx.try_recv().unwrap();
        assert_eq!((first.index, first.records.len()), (3, 0));
        assert_eq!(*first.image, image);

        image.apply(&record);
        updates.publish(4, vec![record.clone()], Arc::new(image.clone()));
        let next = rx.try_recv().unwrap();
        assert_eq!((next.index, next.records), (4, vec![record]));
        assert_eq!(*updates.image(), image);

        drop(rx);
        updates.publish(5, vec![], Arc::new(image));
        assert!(
            updates.inner.lock().subscribers.is_empty(),
            "closed subscribers are dropped"
        );
    }
}
