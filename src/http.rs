//! The HTTP surface on `--http`: `/healthz` (live; JSON with actor restart counts),
//! `/readyz` (200 only once every partition has recovered and the listener is up) and
//! `/metrics` (Prometheus text). Runs on its own thread and runtime so it answers even while
//! the actor arbiters are busy. Reads shared views only; never sends work to actors.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::actors::replica_manager::ReplicaManager;
use crate::actors::supervisor::SupervisorState;

#[derive(Clone)]
pub struct HttpState {
    pub health: Arc<SupervisorState>,
    pub replicas: Arc<ReplicaManager>,
    pub prometheus: PrometheusHandle,
}

pub fn router(state: HttpState) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text));
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

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    (StatusCode::OK, Json(s.health.snapshot()))
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let snap = s.health.snapshot();
    let code = if snap.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(snap))
}

async fn metrics_text(State(s): State<HttpState>) -> impl IntoResponse {
    let mut text = s.prometheus.render();
    // Per-partition offsets come from the partitions' published watermarks at scrape time,
    // so the append path pays nothing for them.
    text.push_str("# TYPE troupe_partition_log_end_offset gauge\n");
    for (tp, h) in s.replicas.all() {
        let leo = h.watermarks.borrow().log_end_offset;
        text.push_str(&format!(
            "troupe_partition_log_end_offset{{topic=\"{}\",partition=\"{}\"}} {}\n",
            tp.topic, tp.partition, leo
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
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
