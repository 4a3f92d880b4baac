//! `GroupsView`: a read-only picture of the groups this node coordinates, for the HTTP surface
//! (`/v1/groups`, consumer-group lag on `/metrics`). Each coordinator shard replaces its own
//! entry once a second from its state; readers never reach into a coordinator. The picture may
//! be a second old; DescribeGroups and OffsetFetch remain the authoritative answers.

use std::collections::HashMap;

use parking_lot::RwLock;
use serde::Serialize;

/// One group as its coordinator last published it.
#[derive(Clone, Debug, Serialize)]
pub struct GroupSummary {
    pub group_id: String,
    /// Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead.
    pub state: &'static str,
    pub protocol_type: Option<String>,
    /// The chosen assignor (consumer groups) once a generation formed.
    pub protocol: Option<String>,
    pub generation_id: i32,
    pub members: Vec<MemberSummary>,
    pub offsets: Vec<CommittedPartition>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CommittedPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Every shard's last published groups.
#[derive(Default)]
pub struct GroupsView {
    shards: RwLock<HashMap<usize, Vec<GroupSummary>>>,
}

impl GroupsView {
    /// Replaces what `shard` coordinates.
    pub fn publish(&self, shard: usize, groups: Vec<GroupSummary>) {
        self.shards.write().insert(shard, groups);
    }

    /// Every group coordinated here, sorted by id.
    pub fn groups(&self) -> Vec<GroupSummary> {
        let mut all: Vec<GroupSummary> = self.shards.read().values().flatten().cloned().collect();
        all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        all
    }

    pub fn group(&self, group_id: &str) -> Option<GroupSummary> {
        self.shards
            .read()
            .values()
            .flatten()
            .find(|g| g.group_id == group_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str) -> GroupSummary {
        GroupSummary {
            group_id: id.into(),
            state: "Empty",
            protocol_type: None,
            protocol: None,
            generation_id: 0,
            members: Vec::new(),
            offsets: Vec::new(),
        }
    }

    #[test]
    fn a_shard_replaces_only_its_own_groups() {
        let view = GroupsView::default();
        view.publish(0, vec![group("b"), group("a")]);
        view.publish(1, vec![group("c")]);
        assert_eq!(
            view.groups()
                .iter()
                .map(|g| g.group_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        view.publish(0, vec![]);
        assert!(view.group("a").is_none());
        assert_eq!(view.group("c").unwrap().group_id, "c");
    }
}
