//! The HTTP surface on `--http`: `/healthz` and `/readyz` (JSON per subsystem and per Kafka
//! listener: `health`), `/metrics` (Prometheus text: `metrics`) and the read-only admin API
//! under `/v1` (`admin_api`). Runs on its own thread and runtime so it answers even while the
//! actor arbiters are busy. Reads shared views only (metadata image, partition watermarks, the
//! groups view, supervision counters, each listener's `ListenerStatus`); never sends work to
//! actors.

mod admin_api;
mod health;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
#[cfg(feature = "test-hooks")]
use axum::{extract::State, http::StatusCode, response::IntoResponse};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::actors::group_coordinator::view::GroupsView;
use crate::actors::partition_replica::replica_manager::ReplicaManager;
use crate::metadata::cache::MetadataCache;
use crate::network::listener_status::ListenerStatus;
use crate::runtime::supervision::SupervisorState;

#[derive(Clone)]
pub struct HttpState {
    pub node_id: i32,
    pub health: Arc<SupervisorState>,
    pub replicas: Arc<ReplicaManager>,
    pub metadata: Arc<MetadataCache>,
    pub groups: Arc<GroupsView>,
    /// The active controller's node id, as this node knows it.
    pub controller: tokio::sync::watch::Receiver<Option<i32>>,
    /// Whether this node runs in a cluster (a Raft controller quorum) or alone.
    pub clustered: bool,
    /// Every Kafka listener of this node, in `listeners` order.
    pub listeners: Arc<[Arc<ListenerStatus>]>,
    pub prometheus: PrometheusHandle,
}

impl HttpState {
    /// Whether this node hosts the active controller.
    pub fn is_active_controller(&self) -> bool {
        *self.controller.borrow() == Some(self.node_id)
    }
}

pub fn router(state: HttpState) -> Router {
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics_text))
        .route("/v1/cluster", get(admin_api::cluster))
        .route("/v1/topics", get(admin_api::topics))
        .route("/v1/topics/:name", get(admin_api::topic))
        .route("/v1/groups", get(admin_api::groups))
        .route("/v1/groups/:id", get(admin_api::group));
    #[cfg(feature = "test-hooks")]
    let router = router
        .route(
            "/test-hooks/panic/:topic/:partition",
            axum::routing::post(inject_panic),
        )
        .route(
            "/test-hooks/drop-produce-responses/:count",
            axum::routing::post(drop_produce_responses),
        )
        .route(
            "/test-hooks/drop-produce-responses",
            get(produce_responses_left_to_drop),
        )
        .route(
            "/test-hooks/hold-txn-markers/:hold",
            axum::routing::post(hold_txn_markers),
        );
    router.with_state(state)
}

/// Test-only (feature `test-hooks`): makes one partition's actor panic inside a handler.
#[cfg(feature = "test-hooks")]
async fn inject_panic(
    State(s): State<HttpState>,
    axum::extract::Path((topic, partition)): axum::extract::Path<(String, i32)>,
) -> impl IntoResponse {
    match s.replicas.get(&topic, partition) {
        None => (StatusCode::NOT_FOUND, "no such partition".to_string()),
        Some(h) => {
            let r = h
                .addr
                .send(crate::actors::partition_replica::InjectPanic)
                .await;
            (StatusCode::OK, format!("{r:?}"))
        }
    }
}

/// Test-only (feature `test-hooks`): the next `count` produce responses are lost.
#[cfg(feature = "test-hooks")]
async fn drop_produce_responses(
    axum::extract::Path(count): axum::extract::Path<usize>,
) -> impl IntoResponse {
    crate::test_hooks::drop_produce_responses(count);
    StatusCode::OK
}

/// Test-only (feature `test-hooks`): stop (`true`) or resume (`false`) writing transaction
/// markers.
#[cfg(feature = "test-hooks")]
async fn hold_txn_markers(
    axum::extract::Path(hold): axum::extract::Path<bool>,
) -> impl IntoResponse {
    crate::test_hooks::hold_txn_markers(hold);
    StatusCode::OK
}

/// Test-only (feature `test-hooks`): how many armed drops have not happened yet.
#[cfg(feature = "test-hooks")]
async fn produce_responses_left_to_drop() -> impl IntoResponse {
    crate::test_hooks::produce_responses_left_to_drop().to_string()
}

/// Binds and serves on a dedicated thread; returns once the socket is bound.
pub fn spawn(addr: SocketAddr, state: HttpState) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("troupe-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the HTTP runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot serve HTTP");
                        return;
                    }
                };
                if let Err(e) = axum::serve(listener, router(state)).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        })?;
    Ok(bound)
}
