//! `/healthz` (is the process alive, how is each subsystem and each Kafka listener) and
//! `/readyz` (the same body; 200 only when every subsystem is ready and every listener
//! serves, else 503).
//!
//! Subsystems: `storage` (partition logs recovered), `controller_quorum` (an active controller
//! is known), `coordinators` (no `__consumer_offsets`/`__transaction_state` partition still
//! loading here), `supervisors` (actor restarts; informative, never makes the node unready).
//!
//! `listeners`: one entry per Kafka listener, in `listeners` order, from its `ListenerStatus`:
//! the address bound and advertised, whether its accept loop runs (`serving`; one that does
//! not makes the node unready), connections open and accepted, its authentication (TLS client
//! authentication and failed handshakes; SASL mechanisms and exchanges by outcome, in Kafka's
//! metric names) and, on TLS listeners, the subject and expiry of the certificate it serves
//! now. Counts only: never a credential.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use super::HttpState;
use crate::actors::coordinator_partitions::coordinator_partition_counts;
use crate::network::listener_status::{ListenerSnapshot, ListenerStatus};
use crate::runtime::clock::rfc3339_utc;

#[derive(Serialize)]
pub struct Health {
    pub status: &'static str,
    pub ready: bool,
    /// Kept at the top level for scripts written against earlier versions.
    pub partitions_recovering: i64,
    pub total_restarts: u64,
    pub restarts: std::collections::BTreeMap<String, u64>,
    pub subsystems: Subsystems,
    pub listeners: Vec<Listener>,
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

/// One Kafka listener.
#[derive(Serialize)]
pub struct Listener {
    pub name: String,
    pub security_protocol: &'static str,
    /// Its accept loop runs.
    pub serving: bool,
    /// host:port the socket is bound to (the real port when 0 was asked); null until bound.
    pub bound_address: Option<String>,
    pub advertised_address: String,
    pub connections_open: u64,
    pub connections_accepted_total: u64,
    /// Null on PLAINTEXT.
    pub authentication: Option<Authentication>,
    /// TLS listeners only.
    #[serde(flatten)]
    pub certificate: Option<Certificate>,
}

#[derive(Serialize)]
pub struct Authentication {
    /// SSL and SASL_SSL.
    #[serde(flatten)]
    pub tls: Option<TlsAuthentication>,
    /// SASL_PLAINTEXT and SASL_SSL.
    #[serde(flatten)]
    pub sasl: Option<SaslAuthentication>,
}

#[derive(Serialize)]
pub struct TlsAuthentication {
    /// `ssl.client.auth`: `none`, `requested` or `required`.
    pub client_auth: &'static str,
    pub tls_handshake_failures_total: u64,
}

#[derive(Serialize)]
pub struct SaslAuthentication {
    pub sasl_mechanisms: Vec<&'static str>,
    pub successful_authentication_total: u64,
    pub failed_authentication_total: u64,
    pub successful_reauthentication_total: u64,
    pub failed_reauthentication_total: u64,
}

/// The certificate a TLS listener serves now; both null if it does not parse as X.509.
#[derive(Serialize)]
pub struct Certificate {
    /// `notAfter`, RFC 3339 in UTC.
    pub certificate_not_after: Option<String>,
    /// The subject DN, RFC 2253.
    pub certificate_subject: Option<String>,
}

impl Listener {
    fn of(l: ListenerSnapshot) -> Listener {
        let authentication = (l.tls.is_some() || l.sasl.is_some()).then(|| Authentication {
            tls: l.tls.as_ref().map(|t| TlsAuthentication {
                client_auth: t.client_auth.name(),
                tls_handshake_failures_total: t.handshake_failures_total,
            }),
            sasl: l.sasl.as_ref().map(|s| SaslAuthentication {
                sasl_mechanisms: s.mechanisms.iter().map(|m| m.name()).collect(),
                successful_authentication_total: s.successful_authentication_total,
                failed_authentication_total: s.failed_authentication_total,
                successful_reauthentication_total: s.successful_reauthentication_total,
                failed_reauthentication_total: s.failed_reauthentication_total,
            }),
        });
        let certificate = l.tls.map(|t| Certificate {
            certificate_not_after: t.certificate.as_ref().map(|c| rfc3339_utc(c.not_after_s)),
            certificate_subject: t.certificate.map(|c| c.subject),
        });
        Listener {
            name: l.name.to_string(),
            security_protocol: l.protocol.name(),
            serving: l.serving,
            bound_address: l.bound.map(|a| a.to_string()),
            advertised_address: l.advertised,
            connections_open: l.connections_open,
            connections_accepted_total: l.connections_accepted_total,
            authentication,
            certificate,
        }
    }
}

/// A listener whose accept loop does not run makes the node unready: clients it advertises
/// itself to could not connect.
fn every_listener_serves(listeners: &[Listener]) -> bool {
    listeners.iter().all(|l| l.serving)
}

fn listeners(statuses: &[std::sync::Arc<ListenerStatus>]) -> Vec<Listener> {
    statuses
        .iter()
        .map(|s| Listener::of(s.snapshot()))
        .collect()
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
    let listeners = listeners(&s.listeners);
    let ready = snap.ready
        && storage.ready
        && controller_quorum.ready
        && coordinators.ready
        && every_listener_serves(&listeners);
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
        listeners,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::network::endpoints::parse_listeners;
    use crate::security::SaslMechanism;

    fn status(listener: &str, mechanisms: Vec<SaslMechanism>) -> Arc<ListenerStatus> {
        let endpoint = parse_listeners(
            listener,
            "",
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        )
        .unwrap()
        .remove(0);
        Arc::new(ListenerStatus::new(&endpoint, None, mechanisms))
    }

    #[test]
    fn each_listener_is_one_entry_with_only_its_own_sections() {
        let plain = status("PLAINTEXT://127.0.0.1:0", Vec::new());
        let sasl = status(
            "SASL_PLAINTEXT://127.0.0.1:9093",
            vec![SaslMechanism::Plain],
        );
        plain.bound("127.0.0.1:40123".parse().unwrap());
        let _serving = plain.serving();
        let _open = sasl.connection_opened();
        sasl.authentication_failed(false);
        let entries = listeners(&[plain.clone(), sasl.clone()]);
        assert!(
            !every_listener_serves(&entries),
            "SASL_PLAINTEXT does not serve"
        );
        let json = serde_json::to_value(entries).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {
                    "name": "PLAINTEXT",
                    "security_protocol": "PLAINTEXT",
                    "serving": true,
                    "bound_address": "127.0.0.1:40123",
                    "advertised_address": "127.0.0.1:0",
                    "connections_open": 0,
                    "connections_accepted_total": 0,
                    "authentication": null,
                },
                {
                    "name": "SASL_PLAINTEXT",
                    "security_protocol": "SASL_PLAINTEXT",
                    "serving": false,
                    "bound_address": null,
                    "advertised_address": "127.0.0.1:9093",
                    "connections_open": 1,
                    "connections_accepted_total": 1,
                    "authentication": {
                        "sasl_mechanisms": ["PLAIN"],
                        "successful_authentication_total": 0,
                        "failed_authentication_total": 1,
                        "successful_reauthentication_total": 0,
                        "failed_reauthentication_total": 0,
                    },
                },
            ])
        );
        let _also_serving = sasl.serving();
        assert!(every_listener_serves(&listeners(&[plain, sasl])));
        assert!(
            every_listener_serves(&[]),
            "a node without listeners has none to wait for"
        );
    }
}
