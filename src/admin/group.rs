//! `troupe group list|describe|reset-offsets|delete`.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::json;

use super::output::{emit, Table};
use super::topic::{leaders, partition_offsets};
use super::{check, AdminError, Cluster};

/// FindCoordinator key type of a consumer group.
const GROUP_KEY: i8 = 0;

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

pub fn list(cluster: &mut Cluster, json_wanted: bool) -> Result<(), AdminError> {
    let response = cluster.any().call(ListGroupsRequest::default())?;
    check("ListGroups", response.error_code, None)?;
    let mut groups: Vec<(String, String, String)> = response
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.group_state.to_string(),
                g.protocol_type.to_string(),
            )
        })
        .collect();
    groups.sort();
    let json = json!(groups
        .iter()
        .map(|(g, s, p)| json!({"group": g, "state": s, "protocol_type": p}))
        .collect::<Vec<_>>());
    emit(json_wanted, json, || {
        let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
        for (g, s, p) in &groups {
            table.row(vec![g.clone(), s.clone(), p.clone()]);
        }
        table.render()
    });
    Ok(())
}

/// The partitions a consumer-protocol assignment gives a member (version i16, then an array
/// of topic name + partition array, then user data). Unreadable bytes give nothing.
pub fn assigned_partitions(assignment: &[u8]) -> Vec<(String, i32)> {
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if buf.len() < n {
            return None;
        }
        let (head, tail) = buf.split_at(n);
        *buf = tail;
        Some(head)
    }
    fn parse(mut buf: &[u8]) -> Option<Vec<(String, i32)>> {
        let mut out = Vec::new();
        take(&mut buf, 2)?; // version
        let topics = i32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take(&mut buf, 2)?.try_into().ok()?);
            let topic = String::from_utf8_lossy(take(&mut buf, len.max(0) as usize)?).into_owned();
            let count = i32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?);
            for _ in 0..count.max(0) {
                let partition = i32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?);
                out.push((topic.clone(), partition));
            }
        }
        Some(out)
    }
    parse(assignment).unwrap_or_default()
}

/// Committed offsets of every partition the group has committed.
fn committed_offsets(
    cluster: &mut Cluster,
    group: &str,
) -> Result<BTreeMap<(String, i32), i64>, AdminError> {
    let connection = cluster.coordinator(group, GROUP_KEY)?;
    let version = connection.version_for::<OffsetFetchRequest>()?;
    let request = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(None)])
    } else {
        // Null topics: every partition the group committed (the default is an empty list).
        OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(None)
    };
    let response = connection.call(request)?;
    let mut committed = BTreeMap::new();
    if version >= 8 {
        for g in response.groups {
            check("OffsetFetch", g.error_code, None)?;
            for t in g.topics {
                for p in t.partitions {
                    if p.committed_offset >= 0 {
                        committed
                            .insert((t.name.to_string(), p.partition_index), p.committed_offset);
                    }
                }
            }
        }
    } else {
        check("OffsetFetch", response.error_code, None)?;
        for t in response.topics {
            for p in t.partitions {
                if p.committed_offset >= 0 {
                    committed.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
    }
    Ok(committed)
}

/// Log end offsets of every partition of `topics`.
fn log_end_offsets(
    cluster: &mut Cluster,
    topics: &BTreeSet<String>,
) -> Result<BTreeMap<(String, i32), i64>, AdminError> {
    let mut ends = BTreeMap::new();
    if topics.is_empty() {
        return Ok(ends);
    }
    let metadata = cluster.metadata(Some(topics.iter().cloned().collect()))?;
    for topic in topics {
        let Ok(leaders) = leaders(&metadata, topic) else {
            continue; // deleted since: no lag to show
        };
        for (partition, offset) in partition_offsets(cluster, topic, &leaders, -1)? {
            ends.insert((topic.clone(), partition), offset);
        }
    }
    Ok(ends)
}

pub fn describe(cluster: &mut Cluster, group: &str, json_wanted: bool) -> Result<(), AdminError> {
    let response = cluster
        .coordinator(group, GROUP_KEY)?
        .call(DescribeGroupsRequest::default().with_groups(vec![group_id(group)]))?;
    let described = response
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| AdminError::Protocol("DescribeGroups answered nothing".into()))?;
    check(
        "DescribeGroups",
        described.error_code,
        described.error_message.map(|m| m.to_string()),
    )?;
    let committed = committed_offsets(cluster, group)?;
    if described.group_state.as_str() == "Dead" && committed.is_empty() {
        return Err(AdminError::kafka(
            "DescribeGroups",
            69,
            Some(format!("no group {group}")),
        ));
    }
    let mut owner: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    for m in &described.members {
        for tp in assigned_partitions(&m.member_assignment) {
            owner.insert(
                tp,
                (
                    m.member_id.to_string(),
                    m.client_id.to_string(),
                    m.client_host.to_string(),
                ),
            );
        }
    }
    let partitions: BTreeSet<(String, i32)> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let topics: BTreeSet<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
    let ends = log_end_offsets(cluster, &topics)?;
    let rows: Vec<serde_json::Value> = partitions
        .iter()
        .map(|tp| {
            let committed = committed.get(tp).copied();
            let end = ends.get(tp).copied();
            let lag = match (committed, end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            let (member, client, host) = owner.get(tp).cloned().unwrap_or_default();
            json!({
                "topic": tp.0, "partition": tp.1, "committed_offset": committed,
                "log_end_offset": end, "lag": lag, "member_id": member,
                "client_id": client, "host": host,
            })
        })
        .collect();
    let total_lag: i64 = rows.iter().filter_map(|r| r["lag"].as_i64()).sum();
    let json = json!({
        "group": group,
        "state": described.group_state.to_string(),
        "protocol_type": described.protocol_type.to_string(),
        "protocol": described.protocol_data.to_string(),
        "members": described.members.len(),
        "total_lag": total_lag,
        "partitions": rows,
    });
    emit(json_wanted, json.clone(), || {
        let mut out = format!(
            "Group: {group}  state: {}  protocol: {}  members: {}  total lag: {total_lag}\n",
            described.group_state,
            described.protocol_data,
            described.members.len()
        );
        let mut table = Table::new(&[
            "TOPIC",
            "PARTITION",
            "COMMITTED",
            "LOG-END",
            "LAG",
            "MEMBER",
            "CLIENT",
            "HOST",
        ]);
        let show = |v: &serde_json::Value| match v {
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::String(s) if s.is_empty() => "-".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for r in json["partitions"].as_array().into_iter().flatten() {
            table.row(
                [
                    "topic",
                    "partition",
                    "committed_offset",
                    "log_end_offset",
                    "lag",
                    "member_id",
                    "client_id",
                    "host",
                ]
                .iter()
                .map(|k| show(&r[*k]))
                .collect(),
            );
        }
        out.push_str(&table.render());
        out
    });
    Ok(())
}

pub fn delete(cluster: &mut Cluster, group: &str) -> Result<(), AdminError> {
    let response = cluster
        .coordinator(group, GROUP_KEY)?
        .call(DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]))?;
    for r in response.results {
        check("DeleteGroups", r.error_code, None)?;
    }
    eprintln!("deleted group {group}");
    Ok(())
}

/// Where `reset-offsets` moves a group.
#[derive(Clone, Copy, Debug)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
}

/// Moves the group's committed offsets of `topic` (all partitions). The group must have no
/// active members (the broker refuses otherwise). Without `execute` only prints the plan.
pub fn reset_offsets(
    cluster: &mut Cluster,
    group: &str,
    topic: &str,
    to: ResetTo,
    execute: bool,
    json_wanted: bool,
) -> Result<(), AdminError> {
    let metadata = cluster.metadata(Some(vec![topic.to_string()]))?;
    let leaders = leaders(&metadata, topic)?;
    let targets: BTreeMap<i32, i64> = match to {
        ResetTo::Earliest => partition_offsets(cluster, topic, &leaders, -2)?,
        ResetTo::Latest => partition_offsets(cluster, topic, &leaders, -1)?,
        ResetTo::Offset(n) => leaders.keys().map(|p| (*p, n)).collect(),
    };
    if execute {
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    targets
                        .iter()
                        .map(|(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                        })
                        .collect(),
                )]);
        let response = cluster.coordinator(group, GROUP_KEY)?.call(request)?;
        for t in response.topics {
            for p in t.partitions {
                check(
                    "OffsetCommit",
                    p.error_code,
                    Some(format!("partition {}", p.partition_index)),
                )?;
            }
        }
    }
    let json = json!({
        "group": group, "topic": topic, "executed": execute,
        "offsets": targets.iter().map(|(p, o)| json!({"partition": p, "offset": o})).collect::<Vec<_>>(),
    });
    emit(json_wanted, json, || {
        let mut table = Table::new(&["TOPIC", "PARTITION", "NEW-OFFSET"]);
        for (p, o) in &targets {
            table.row(vec![topic.to_string(), p.to_string(), o.to_string()]);
        }
        let mut out = table.render();
        if !execute {
            out.push_str("(dry run: add --execute to commit these offsets)\n");
        }
        out
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::assigned_partitions;

    #[test]
    fn reads_consumer_protocol_assignments() {
        // version 0, [("orders", [0, 2])], no user data
        let bytes = b"\x00\x00\x00\x00\x00\x01\x00\x06orders\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x02\xff\xff\xff\xff";
        assert_eq!(
            assigned_partitions(bytes),
            vec![("orders".to_string(), 0), ("orders".to_string(), 2)]
        );
        assert!(assigned_partitions(b"\x00").is_empty());
    }
}
