//! The read-only HTTP admin API: `/v1/cluster`, `/v1/topics`, `/v1/topics/{name}`,
//! `/v1/groups`, `/v1/groups/{id}`. JSON views of this node's metadata image, the partitions it
//! hosts and the groups it coordinates: what `troupe cluster status`, `topic describe` and
//! `group describe` show over the Kafka protocol. Unknown names answer 404 with a JSON error.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::HttpState;
use crate::actors::group_coordinator::view::GroupSummary;
use crate::metadata::{MetadataImage, TopicMeta};

#[derive(Serialize)]
struct Broker {
    id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
    fenced: bool,
}

pub async fn cluster(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let image = s.metadata.current();
    let brokers: Vec<Broker> = image
        .brokers
        .values()
        .map(|b| Broker {
            id: b.id,
            host: b.host.clone(),
            port: b.port,
            rack: b.rack.clone(),
            fenced: image.fenced_brokers.contains(&b.id),
        })
        .collect();
    let partitions = || image.topics.values().flat_map(|t| t.partitions.iter());
    Json(json!({
        "cluster_id": image.cluster_id,
        "node_id": s.node_id,
        "controller_id": *s.controller.borrow(),
        "metadata_version": image.version,
        "brokers": brokers,
        "topics": image.topics.len(),
        "partitions": partitions().count(),
        "under_replicated_partitions": partitions().filter(|p| p.isr.len() < p.replicas.len()).count(),
        "offline_partitions": partitions().filter(|p| p.leader < 0).count(),
    }))
}

pub async fn topics(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let image = s.metadata.current();
    let list: Vec<_> = image
        .topics
        .values()
        .map(|t| {
            json!({
                "name": t.name,
                "id": t.id,
                "internal": t.internal,
                "partitions": t.partitions.len(),
                "replication_factor": t.partitions.first().map_or(0, |p| p.replicas.len()),
            })
        })
        .collect();
    Json(json!({ "topics": list }))
}

pub async fn topic(State(s): State<HttpState>, Path(name): Path<String>) -> Response {
    let image = s.metadata.current();
    match image.topics.get(&name) {
        Some(t) => Json(describe_topic(&s, &image, t)).into_response(),
        None => not_found("topic", &name),
    }
}

fn describe_topic(s: &HttpState, image: &MetadataImage, t: &TopicMeta) -> serde_json::Value {
    let partitions: Vec<_> = t
        .partitions
        .iter()
        .map(|p| {
            let local = s.replicas.get(&t.name, p.index).map(|h| {
                let w = *h.watermarks.borrow();
                json!({
                    "log_start_offset": w.log_start_offset,
                    "high_watermark": w.high_watermark,
                    "last_stable_offset": w.last_stable_offset,
                    "log_end_offset": w.log_end_offset,
                })
            });
            json!({
                "partition": p.index,
                "leader": p.leader,
                "leader_epoch": p.leader_epoch,
                "replicas": p.replicas,
                "isr": p.isr,
                "offline_replicas": p.replicas.iter()
                    .filter(|r| !image.brokers.contains_key(r) || image.fenced_brokers.contains(r))
                    .collect::<Vec<_>>(),
                "hosted_here": local,
            })
        })
        .collect();
    json!({
        "name": t.name,
        "id": t.id,
        "internal": t.internal,
        "configs": t.configs,
        "partitions": partitions,
    })
}

pub async fn groups(State(s): State<HttpState>) -> Json<serde_json::Value> {
    let list: Vec<_> = s
        .groups
        .groups()
        .into_iter()
        .map(|g| {
            json!({
                "group_id": g.group_id,
                "state": g.state,
                "protocol_type": g.protocol_type,
                "members": g.members.len(),
            })
        })
        .collect();
    Json(json!({ "coordinator": s.node_id, "groups": list }))
}

pub async fn group(State(s): State<HttpState>, Path(id): Path<String>) -> Response {
    match s.groups.group(&id) {
        Some(g) => Json(describe_group(&s, g)).into_response(),
        None => not_found("group", &id),
    }
}

fn describe_group(s: &HttpState, g: GroupSummary) -> serde_json::Value {
    let offsets: Vec<_> = g
        .offsets
        .iter()
        .map(|o| {
            let hw = s
                .replicas
                .get(&o.topic, o.partition)
                .map(|h| h.watermarks.borrow().high_watermark);
            json!({
                "topic": o.topic,
                "partition": o.partition,
                "committed_offset": o.offset,
                "high_watermark": hw,
                "lag": hw.map(|hw| (hw - o.offset).max(0)),
            })
        })
        .collect();
    json!({
        "coordinator": s.node_id,
        "group_id": g.group_id,
        "state": g.state,
        "protocol_type": g.protocol_type,
        "protocol": g.protocol,
        "generation_id": g.generation_id,
        "members": g.members,
        "offsets": offsets,
    })
}

fn not_found(kind: &str, name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no {kind} named '{name}' here"), kind: name })),
    )
        .into_response()
}
