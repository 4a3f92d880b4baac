//! What the classic group shows of itself: the DescribeGroups view, and the metadata snapshot
//! the actor persists and replay turns back into a group.

use super::*;

/// DescribeGroups view of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata for the chosen protocol; empty unless the group is Stable.
    pub metadata: Vec<u8>,
    /// Empty unless the group is Stable.
    pub assignment: Vec<u8>,
}

/// DescribeGroups view of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    /// Empty unless the group is Stable (Kafka reports no protocol mid-rebalance).
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One member as persisted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// All supported protocols (subscription metadata), preference order. Kafka
    /// stores only the chosen one; keeping all lets the protocol vote after a
    /// replay see the same choices as before.
    pub protocols: ProtocolList,
    pub assignment: Vec<u8>,
}

/// Group metadata as persisted by the actor and replayed by
/// [`Group::from_snapshot`]. Members are listed in join order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMetadataSnapshot {
    pub group_id: String,
    /// State at write time. Writes emitted as [`Effect::Persist`] are only ever
    /// in Empty, CompletingRebalance (join done, assignment pending) or Stable.
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: Vec<MemberSnapshot>,
    /// Wall-clock time the group entered `state`, stamped by the coordinator when it writes
    /// the snapshot (Kafka's currentStateTimestamp); offset expiry of Empty groups counts
    /// from it. Absent in snapshots written before it existed.
    #[serde(default)]
    pub current_state_timestamp_ms: Option<i64>,
}

/// A snapshot that cannot describe a live group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSnapshot(pub String);

impl fmt::Display for InvalidSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid group snapshot: {}", self.0)
    }
}

impl std::error::Error for InvalidSnapshot {}

impl Group {
    // ----- DescribeGroups --------------------------------------------------

    /// DescribeGroups view. As in Kafka, protocol, member metadata and
    /// assignments are reported only for a Stable group: mid-rebalance they
    /// would describe a generation that is being replaced.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members()
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(&protocol)
                } else {
                    Vec::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state.as_str(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }

    // ----- snapshots -------------------------------------------------------

    /// The group's durable metadata.
    pub fn snapshot(&self) -> GroupMetadataSnapshot {
        GroupMetadataSnapshot {
            group_id: self.group_id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            members: self
                .members()
                .into_iter()
                .map(|m| m.persisted.clone())
                .collect(),
            current_state_timestamp_ms: None,
        }
    }

    /// Rebuild a group from persisted metadata (coordinator load / failover).
    ///
    /// Members' sessions restart at `now_ms`: their clients have been talking to
    /// another broker, or to nobody, and deserve a full session to find us.
    /// * Stable stays Stable with its assignment; Empty stays Empty.
    /// * CompletingRebalance (written when the join completed, before the
    ///   leader's assignment) resumes waiting for SyncGroups of that
    ///   generation, bounded by the pending-sync timeout.
    /// * PreparingRebalance (only from a snapshot taken mid-rebalance) resumes
    ///   waiting for rejoins, bounded by the rebalance timeout.
    pub fn from_snapshot(
        snapshot: GroupMetadataSnapshot,
        config: GroupConfig,
        now_ms: u64,
    ) -> Result<(Group, Vec<Effect>), InvalidSnapshot> {
        let bad = |why: String| Err(InvalidSnapshot(why));
        if snapshot.state == GroupState::Dead {
            return bad("a Dead group has no metadata to replay".into());
        }
        if (snapshot.state == GroupState::Empty) != snapshot.members.is_empty() {
            return bad(format!(
                "state {} with {} members",
                snapshot.state,
                snapshot.members.len()
            ));
        }
        let mut group = Group::new(snapshot.group_id, config);
        group.state = snapshot.state;
        group.protocol_type = snapshot.protocol_type;
        group.generation_id = snapshot.generation_id;
        group.protocol_name = snapshot.protocol_name;
        group.leader_id = snapshot.leader_id;
        for ms_ in snapshot.members {
            if group.members.contains_key(&ms_.member_id) {
                return bad(format!("duplicate MemberId {}", ms_.member_id));
            }
            if let Some(instance) = &ms_.group_instance_id {
                if group
                    .static_members
                    .insert(instance.clone(), ms_.member_id.clone())
                    .is_some()
                {
                    return bad(format!("duplicate GroupInstanceId {instance}"));
                }
            }
            let join_seq = group.next_join_seq;
            group.next_join_seq += 1;
            group.members.insert(
                ms_.member_id.clone(),
                Member {
                    persisted: ms_,
                    awaiting_join: false,
                    awaiting_sync: false,
                    last_heartbeat_ms: now_ms,
                    is_new: false,
                    join_seq,
                    session_deadline_ms: None,
                },
            );
        }
        if !group.members.is_empty() {
            if group.protocol_type.is_none() {
                return bad("members without a ProtocolType".into());
            }
            if !group
                .leader_id
                .as_ref()
                .is_some_and(|l| group.members.contains_key(l))
            {
                return bad("leader is not a member".into());
            }
            match (&group.protocol_name, group.state) {
                (Some(p), _) if group.members.values().all(|m| m.supports(p)) => {}
                (None, GroupState::PreparingRebalance) if group.select_protocol().is_some() => {}
                _ => return bad("no protocol supported by every member".into()),
            }
        }

        let mut fx = Vec::new();
        for id in group.member_ids_in_join_order() {
            group.refresh_session(&id, now_ms, &mut fx);
        }
        let deadline = now_ms + group.rebalance_timeout_ms();
        match group.state {
            GroupState::CompletingRebalance => {
                group.pending_sync = group.members.keys().cloned().collect();
                group.pending_sync_deadline_ms = Some(deadline);
                fx.push(Effect::ScheduleTimer {
                    kind: TimerKind::PendingSync,
                    deadline_ms: deadline,
                });
            }
            GroupState::PreparingRebalance => {
                group.arm_join_timer(
                    JoinTimer::Rebalance {
                        deadline_ms: deadline,
                    },
                    &mut fx,
                );
            }
            GroupState::Empty | GroupState::Stable | GroupState::Dead => {}
        }
        Ok((group, fx))
    }
}
