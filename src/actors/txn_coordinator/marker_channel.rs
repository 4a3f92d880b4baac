//! `MarkerChannelManager` (Kafka's TransactionMarkerChannelManager, reduced): sends
//! WriteTxnMarkers requests to the brokers that lead the partitions of a transaction.
//!
//! One channel per destination broker: a task that owns the only connection to it
//! (`KafkaConnection`, opened on first use and reused) and sends the requests queued to it one
//! at a time, so the connection's socket is only ever touched by the task and runtime that
//! opened it, whichever coordinator shard asked. Every wait is bounded: the connect timeout,
//! then the request timeout. A failed call drops the connection; a call that failed on a
//! reused connection (the peer may have closed it while idle) is tried once more on a fresh
//! one. What to do about a failure (retry with backoff, give up) is the marker writer's
//! decision, not the channel's.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::client::{broker_endpoint, ClientError, KafkaConnection};
use crate::metadata::MetadataImage;
use crate::security::ClientSecurity;

/// The one WriteTxnMarkers version this broker serves and sends.
const WRITE_TXN_MARKERS_VERSION: i16 = 1;

/// Timeouts of the inter-broker calls.
#[derive(Clone, Debug)]
pub struct ChannelSettings {
    pub client_id: String,
    pub connect_timeout: Duration,
    /// Longer than the receiving broker's own wait for its markers' replication
    /// (`request.timeout.ms`), so a slow but successful write is not cut off here.
    pub request_timeout: Duration,
    /// How channels connect: the inter-broker listener's security.
    pub security: ClientSecurity,
}

type Reply = oneshot::Sender<Result<WriteTxnMarkersResponse, ClientError>>;
/// A channel task's queue: requests and where each answer goes.
type Queue = mpsc::UnboundedSender<(WriteTxnMarkersRequest, Reply)>;

pub struct MarkerChannelManager {
    settings: ChannelSettings,
    /// `replica.fetch.peer.addresses`: routes to brokers other than their registered address.
    peer_addresses: BTreeMap<i32, String>,
    /// Destination broker → (endpoint, queue of its channel task).
    channels: Mutex<HashMap<i32, (String, Queue)>>,
}

impl MarkerChannelManager {
    pub fn new(settings: ChannelSettings, peer_addresses: BTreeMap<i32, String>) -> Self {
        MarkerChannelManager {
            settings,
            peer_addresses,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Where `broker` is reached, from the image (None: not registered).
    pub fn endpoint(&self, broker: i32, image: &MetadataImage) -> Option<String> {
        broker_endpoint(&self.peer_addresses, broker, image)
    }

    /// Sends `request` to `broker` at `endpoint` through its channel (started on first use,
    /// or again when the broker's address changed or its task ended).
    pub async fn send(
        &self,
        broker: i32,
        endpoint: &str,
        request: WriteTxnMarkersRequest,
    ) -> Result<WriteTxnMarkersResponse, ClientError> {
        let (tx, rx) = oneshot::channel();
        let queued = {
            let mut channels = self.channels.lock();
            let reusable = channels
                .get(&broker)
                .is_some_and(|(e, q)| e == endpoint && !q.is_closed());
            if !reusable {
                let (q, jobs) = mpsc::unbounded_channel();
                actix::spawn(run_channel(
                    endpoint.to_string(),
                    self.settings.clone(),
                    jobs,
                ));
                channels.insert(broker, (endpoint.to_string(), q));
            }
            channels[&broker].1.send((request, tx)).is_ok()
        };
        let gone = || ClientError::Unreachable {
            address: endpoint.to_string(),
            reason: "marker channel stopped".into(),
        };
        if !queued {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// One destination's channel: serves its queue until every sender is gone.
async fn run_channel(
    endpoint: String,
    settings: ChannelSettings,
    mut jobs: mpsc::UnboundedReceiver<(WriteTxnMarkersRequest, Reply)>,
) {
    let mut connection: Option<KafkaConnection> = None;
    while let Some((request, reply)) = jobs.recv().await {
        let reused = connection.is_some();
        let mut result = call(&mut connection, &endpoint, &settings, &request).await;
        if reused && matches!(result, Err(ClientError::Unreachable { .. })) {
            result = call(&mut connection, &endpoint, &settings, &request).await;
        }
        if let Err(e) = &result {
            tracing::debug!(%endpoint, error = %e, "WriteTxnMarkers call failed");
        }
        let _ = reply.send(result);
    }
}

/// One call on the channel's connection, opening it if needed; any failure drops it.
async fn call(
    connection: &mut Option<KafkaConnection>,
    endpoint: &str,
    settings: &ChannelSettings,
    request: &WriteTxnMarkersRequest,
) -> Result<WriteTxnMarkersResponse, ClientError> {
    let mut conn = match connection.take() {
        Some(c) => c,
        None => {
            KafkaConnection::connect(
                endpoint,
                settings.client_id.clone(),
                settings.connect_timeout,
                &settings.security,
            )
            .await?
        }
    };
    let result = conn
        .call(request, WRITE_TXN_MARKERS_VERSION, settings.request_timeout)
        .await;
    if result.is_ok() {
        *connection = Some(conn);
    }
    result
}
