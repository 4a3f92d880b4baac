//! JoinGroup: new, known and static members (KIP-345, KIP-394, KIP-814), `group.max.size`,
//! and the protocol checks a joining member must pass.

use super::*;

impl Group {
    // ----- JoinGroup -------------------------------------------------------

    /// Handle a JoinGroup. `next_id` yields a fresh unique suffix (a UUID in
    /// production, a counter in tests); new MemberIds are
    /// `{GroupInstanceId or ClientId}-{suffix}` as in Kafka.
    pub fn join(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        next_id: &mut dyn FnMut() -> String,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let member_id = req.member_id.clone();
        let step = self.join_step(req, now_ms, next_id, &mut fx);
        conclude(fx, step, |e| {
            Reply::Join(JoinResponse {
                member_id,
                result: Err(e),
            })
        })
    }

    /// Admits the join (or answers its refusal), joins the member, then re-checks the join as
    /// Kafka does after every JoinGroup: this one may have been the last member the rebalance
    /// was waiting for.
    fn join_step(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        next_id: &mut dyn FnMut() -> String,
        fx: &mut Vec<Effect>,
    ) -> Step {
        if !self.admit_join(&req, now_ms, fx)? {
            return Ok(());
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, now_ms, fx, next_id)?;
        } else {
            self.join_known_member(req, now_ms, fx)?;
        }
        self.try_complete_join(now_ms, fx)
    }

    /// Whether a JoinGroup may join at all; a refusal is answered here (an invalid session
    /// timeout, a Dead group, a full group, whose refused known member is evicted).
    fn admit_join(
        &mut self,
        req: &JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<bool, IllegalTransition> {
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            join_reply(
                fx,
                req.member_id.clone(),
                Err(GroupError::InvalidSessionTimeout),
            );
            return Ok(false);
        }
        if self.state == GroupState::Dead {
            join_reply(
                fx,
                req.member_id.clone(),
                Err(GroupError::CoordinatorNotAvailable),
            );
            return Ok(false);
        }
        if !self.accept_joining_member(req) {
            // Kafka evicts a known member that is refused here: the group may
            // have been over the limit after `group.max.size` was lowered.
            if self.members.contains_key(&req.member_id) {
                self.remove_member_and_update(&req.member_id, now_ms, fx)?;
            }
            join_reply(fx, String::new(), Err(GroupError::GroupMaxSizeReached));
            return Ok(false);
        }
        Ok(true)
    }

    /// `group.max.size` admission. Mid-rebalance the number of members that
    /// already rejoined is what counts, so a shrunken limit keeps the earliest
    /// rejoiners and turns away the rest. A static member replacing its own
    /// GroupInstanceId does not grow the group and is always admitted.
    pub(super) fn accept_joining_member(&self, req: &JoinRequest) -> bool {
        let Some(max) = self.config.max_size else {
            return true;
        };
        let replacing_static = req.member_id.is_empty()
            && req
                .group_instance_id
                .as_ref()
                .is_some_and(|i| self.static_members.contains_key(i));
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                replacing_static
                    || self
                        .members
                        .get(&req.member_id)
                        .is_some_and(|m| m.awaiting_join)
                    || self.members.values().filter(|m| m.awaiting_join).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                replacing_static
                    || self.members.contains_key(&req.member_id)
                    || self.members.len() < max
            }
        }
    }

    /// Whether a member announcing `protocols` can be in this group. Kafka
    /// requires the group's ProtocolType and at least one protocol every member
    /// supports. The member being updated (`exclude`) is left out of the
    /// comparison, since its old protocol list is about to be replaced.
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &ProtocolList,
        exclude: Option<&str>,
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| Some(m.member_id.as_str()) != exclude)
            .collect();
        protocols
            .iter()
            .any(|(name, _)| others.iter().all(|m| m.supports(name)))
    }

    /// A JoinGroup without a member id: the member gets `{instance or client id}-{suffix}`,
    /// the suffix taken only once the join is accepted.
    pub(super) fn join_new_member(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
        member_id_suffix: impl FnOnce() -> String,
    ) -> Step {
        let replaced = req
            .group_instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i))
            .cloned();
        if !self.supports_protocols(&req.protocol_type, &req.protocols, replaced.as_deref()) {
            join_reply(
                fx,
                String::new(),
                Err(GroupError::InconsistentGroupProtocol),
            );
            return Ok(());
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", member_id_suffix());
        if req.group_instance_id.is_some() {
            // Static members skip MEMBER_ID_REQUIRED: the GroupInstanceId already
            // identifies them across retries.
            match replaced {
                Some(old_id) => {
                    self.update_static_member_and_rebalance(&old_id, new_id, req, now_ms, fx)?
                }
                None => self.add_member_and_rebalance(new_id, req, now_ms, fx)?,
            }
        } else if req.require_known_member_id {
            let deadline = now_ms + ms(req.session_timeout_ms);
            self.pending_members.insert(new_id.clone(), deadline);
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::PendingMember(new_id.clone()),
                deadline_ms: deadline,
            });
            join_reply(fx, new_id, Err(GroupError::MemberIdRequired));
        } else {
            self.add_member_and_rebalance(new_id, req, now_ms, fx)?;
        }

        Ok(())
    }

    pub(super) fn join_known_member(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let member_id = req.member_id.clone();
        let exclude = self
            .members
            .contains_key(&member_id)
            .then_some(member_id.as_str());
        if !self.supports_protocols(&req.protocol_type, &req.protocols, exclude) {
            join_reply(fx, member_id, Err(GroupError::InconsistentGroupProtocol));
            return Ok(());
        }
        if self.pending_members.contains_key(&member_id) {
            if req.group_instance_id.is_some() {
                // Pending ids are only ever handed to dynamic members; Kafka
                // treats this as an internal error too.
                join_reply(fx, member_id, Err(GroupError::UnknownServerError));
                return Ok(());
            }
            self.add_member_and_rebalance(member_id, req, now_ms, fx)?;
            return Ok(());
        }
        if let Err(e) = self.validate_current_member(&member_id, req.group_instance_id.as_deref()) {
            join_reply(fx, member_id, Err(e));
            return Ok(());
        }
        let (unchanged, is_leader) = {
            let m = &self.members[&member_id];
            (m.protocols == req.protocols, self.is_leader(&member_id))
        };
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now_ms, fx)?,
            GroupState::CompletingRebalance if unchanged => {
                // Most likely the member lost our JoinGroup response: repeat it.
                let result = self.current_generation(is_leader, None, false);
                join_reply(fx, member_id, Ok(result));
            }
            GroupState::CompletingRebalance => self.update_member_and_rebalance(req, now_ms, fx)?,
            GroupState::Stable if is_leader || !unchanged => {
                // A leader's JoinGroup always rebalances: that is how a consumer
                // leader reacts to topic metadata changes that do not alter any
                // member's metadata.
                self.update_member_and_rebalance(req, now_ms, fx)?
            }
            GroupState::Stable => {
                let result = self.current_generation(false, None, false);
                join_reply(fx, member_id, Ok(result));
            }
            GroupState::Empty | GroupState::Dead => {
                join_reply(fx, member_id, Err(GroupError::UnknownMemberId));
            }
        }

        Ok(())
    }

    /// The JoinGroup answer for the current generation.
    pub(super) fn current_generation(
        &self,
        with_members: bool,
        leader_override: Option<String>,
        skip_assignment: bool,
    ) -> JoinedGeneration {
        JoinedGeneration {
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: leader_override
                .or_else(|| self.leader_id.clone())
                .unwrap_or_default(),
            skip_assignment,
            members: if with_members {
                self.join_members()
            } else {
                Vec::new()
            },
        }
    }

    /// Every member's metadata for the chosen protocol, in join order.
    pub(super) fn join_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members()
            .into_iter()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(protocol),
            })
            .collect()
    }

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(super) fn update_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let Some(m) = self.members.get_mut(&req.member_id) else {
            join_reply(fx, req.member_id, Err(GroupError::UnknownMemberId));
            return Ok(());
        };
        m.rebalance_timeout_ms = effective_rebalance_timeout(&req);
        m.session_timeout_ms = req.session_timeout_ms;
        m.protocols = req.protocols;
        m.awaiting_join = true;
        fx.push(Effect::ParkJoin {
            member_id: req.member_id,
        });
        self.maybe_prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    pub(super) fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        // Only arrivals during generation 0's delay window extend it.
        if self.state == GroupState::PreparingRebalance && self.generation_id == 0 {
            self.new_member_added = true;
        }
        if self.pending_members.remove(&member_id).is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingMember(member_id.clone()),
            });
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        let join_seq = self.next_join_seq;
        self.next_join_seq += 1;
        let deadline = now_ms + self.config.new_member_join_timeout_ms;
        let rebalance_timeout_ms = effective_rebalance_timeout(&req);
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                persisted: MemberSnapshot {
                    member_id: member_id.clone(),
                    group_instance_id: req.group_instance_id,
                    client_id: req.client_id,
                    client_host: req.client_host,
                    session_timeout_ms: req.session_timeout_ms,
                    rebalance_timeout_ms,
                    protocols: req.protocols,
                    assignment: Vec::new(),
                },
                awaiting_join: true,
                awaiting_sync: false,
                last_heartbeat_ms: now_ms,
                is_new: true,
                join_seq,
                session_deadline_ms: Some(deadline),
            },
        );
        fx.push(Effect::ParkJoin {
            member_id: member_id.clone(),
        });
        fx.push(Effect::ScheduleTimer {
            kind: TimerKind::MemberSession(member_id),
            deadline_ms: deadline,
        });
        self.maybe_prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    /// KIP-345: a known GroupInstanceId rejoined without a MemberId, i.e. the
    /// process restarted. The new MemberId takes over the old member's place
    /// (and its assignment); the old MemberId is fenced from now on.
    pub(super) fn update_static_member_and_rebalance(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let leader_before = self.leader_id.clone();
        self.replace_static_member(old_id, &new_id, fx);
        self.refresh_session(&new_id, now_ms, fx);
        if let Some(m) = self.members.get_mut(&new_id) {
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = effective_rebalance_timeout(&req);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
        }
        match self.state {
            GroupState::Stable => {
                if self.select_protocol() == self.protocol_name {
                    // Nothing the assignment depends on changed: no rebalance.
                    // The MemberId swap must be durable before the member learns
                    // its new id, or a failover would fence the live process.
                    fx.push(Effect::Persist(self.snapshot()));
                    let is_leader = self.is_leader(&new_id);
                    // Pre-v9 clients get the *old* leader id, so a restarted
                    // leader acts as a follower instead of recomputing a
                    // trivial assignment; v9+ clients are told they lead but
                    // must skip the assignment (KIP-814).
                    let result = if req.supports_skip_assignment {
                        self.current_generation(is_leader, None, is_leader)
                    } else {
                        self.current_generation(
                            false,
                            Some(leader_before.unwrap_or_default()),
                            false,
                        )
                    };
                    join_reply(fx, new_id, Ok(result));
                } else {
                    self.park_join(&new_id, fx);
                    self.maybe_prepare_rebalance(now_ms, fx)?;
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be computing an assignment keyed by the
                // old MemberId; only a new round keeps ids and assignment aligned.
                self.park_join(&new_id, fx);
                self.prepare_rebalance(now_ms, fx)?;
            }
            GroupState::PreparingRebalance => self.park_join(&new_id, fx),
            GroupState::Empty | GroupState::Dead => {
                // A known static member implies members, hence neither state.
                join_reply(fx, new_id, Err(GroupError::UnknownServerError));
            }
        }

        Ok(())
    }

    pub(super) fn park_join(&mut self, member_id: &str, fx: &mut Vec<Effect>) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.awaiting_join = true;
            fx.push(Effect::ParkJoin {
                member_id: member_id.to_string(),
            });
        }
    }

    pub(super) fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: &str,
        fx: &mut Vec<Effect>,
    ) {
        let Some(mut m) = self.members.remove(old_id) else {
            return;
        };
        // Fence the old process immediately if it is waiting on us, so two
        // processes never both believe they own the instance.
        m.fail_parked(old_id, old_id.to_string(), GroupError::FencedInstanceId, fx);
        if m.session_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::MemberSession(old_id.to_string()),
            });
        }
        m.member_id = new_id.to_string();
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        if let Some(instance) = &m.group_instance_id {
            self.static_members
                .insert(instance.clone(), new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.members.insert(new_id.to_string(), m);
    }
}

pub(super) fn effective_rebalance_timeout(req: &JoinRequest) -> i32 {
    if req.rebalance_timeout_ms < 0 {
        req.session_timeout_ms
    } else {
        req.rebalance_timeout_ms
    }
}
