//! `/healthz` (is the process alive and how is each subsystem) and `/readyz` (the same body;
//! 200 only when every subsystem is ready and the Kafka listener serves, else 503).
//!
//! Subsystems: `storage` (partition logs recovered), `controller_quorum` (an active controller
//! is known), `coordinators` (no `__consumer_offsets`/`__transaction_state` partition still
//! loading here), `supervisors` (actor restarts; informative, never makes the node unready).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use super::HttpState;
use crate::actors::coordinator_partitions::coordinator_partition_counts;

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub ready: bool,
    /// Kept at the top level for scripts written against earlier versions.
    pub partitions_recovering: i64,
    pub total_restarts: u64,
    pub restarts: std::collections::BTreeMap<String, u64>,
    pub subsystems: Subsystems,
}

#[derive(Serialize)]
pub struct Subsystems {
    pub storage: Storage,
    pub controller_quorum: ControllerQuorum,
    pub coordinators: Coordinators,
    pub supervisors: Supervisors,
}

#[derive(Serialize)]
pub struct Storage {
    pub ready: bool,
    pub partitions_hosted: usize,
    pub partitions_recovering: i64,
}

#[derive(Serialize)]
pub struct ControllerQuorum {
    pub ready: bool,
    /// `single` (local metadata log) or `raft` (a controller quorum).
    pub mode: &'static str,
    pub active_controller_id: Option<i32>,
    pub is_active_controller: bool,
    /// Metadata log index this node has applied.
    pub metadata_version: u64,
    pub brokers_registered: usize,
    pub brokers_fenced: usize,
}

#[derive(Serialize)]
pub struct Coordinators {
    pub ready: bool,
    pub partitions_loading: i64,
    pub partitions_active: i64,
    pub groups: usize,
}

#[derive(Serialize)]
pub struct Supervisors {
    pub ready: bool,
    pub total_restarts: u64,
    pub restarts: std::collections::BTreeMap<String, u64>,
}

pub fn health(s: &HttpState) -> Health {
    let snap = s.health.snapshot();
    let image = s.metadata.current();
    let controller = *s.controller.borrow();
    let (loading, active) = coordinator_partition_counts();
    let storage = Storage {
        ready: snap.ready || snap.partitions_recovering == 0,
        partitions_hosted: s.replicas.partition_count(),
        partitions_recovering: snap.partitions_recovering,
    };
    let controller_quorum = ControllerQuorum {
        ready: controller.is_some(),
        mode: if s.clustered { "raft" } else { "single" },
        active_controller_id: controller,
        is_active_controller: s.is_active_controller(),
        metadata_version: image.version,
        brokers_registered: image.brokers.len(),
        brokers_fenced: image.fenced_brokers.len(),
    };
    let coordinators = Coordinators {
        ready: loading == 0,
        partitions_loading: loading,
        partitions_active: active,
        groups: s.groups.groups().len(),
    };
    let ready = snap.ready && storage.ready && controller_quorum.ready && coordinators.ready;
    Health {
        status: snap.status,
        ready,
        partitions_recovering: snap.partitions_recovering,
        total_restarts: snap.total_restarts,
        restarts: snap.restarts.clone(),
        subsystems: Subsystems {
            storage,
            controller_quorum,
            coordinators,
            supervisors: Supervisors {
                ready: true,
                total_restarts: snap.total_restarts,
                restarts: snap.restarts,
            },
        },
    }
}

pub async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    (StatusCode::OK, Json(health(&s)))
}

pub async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    let body = health(&s);
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
