//! One stop signal shared by the quorum's own tasks (RPC server, its connections, the leader
//! watcher, an observer's join loop). Unlike `Notify`, a task that starts waiting after the
//! signal still sees it.

use tokio::sync::watch;

#[derive(Clone)]
pub(crate) struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub(crate) fn new() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    pub(crate) fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub(crate) fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once `trigger` has been called (immediately if it already was).
    pub(crate) async fn wait(&self) {
        let mut rx = self.rx.clone();
        // `wait_for` checks the current value first; its only error is the sender being gone,
        // which cannot happen while `self` holds it.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}
