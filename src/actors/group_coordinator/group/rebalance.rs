//! The rebalance machinery: preparing a rebalance, completing the join (a new generation, the
//! protocol vote, the leader), member removal, and what each timer does when it fires.

use super::*;

impl Group {
    // ----- rebalance machinery --------------------------------------------

    pub(super) fn maybe_prepare_rebalance(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
        ) {
            self.prepare_rebalance(now_ms, fx)?;
        }

        Ok(())
    }

    /// The group's rebalance timeout: the largest of its members'.
    pub(super) fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| ms(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn prepare_rebalance(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for an assignment of a generation that will never
            // be completed must rejoin instead.
            for m in self.members.values_mut() {
                m.assignment.clear();
            }
            for id in self.member_ids_in_join_order() {
                if self.members[&id].awaiting_sync {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.awaiting_sync = false;
                    }
                    fx.push(Effect::SyncResponse {
                        member_id: id.clone(),
                        result: Err(GroupError::RebalanceInProgress),
                    });
                    self.refresh_session(&id, now_ms, fx);
                }
            }
        }
        self.clear_pending_sync(fx);
        let rebalance_timeout = self.rebalance_timeout_ms();
        let from_empty = self.state == GroupState::Empty;
        self.go(GroupState::PreparingRebalance)?;
        if from_empty {
            let delay = self.config.initial_rebalance_delay_ms;
            if delay == 0 {
                self.complete_join(now_ms, fx)?;
            } else {
                self.arm_join_timer(
                    JoinTimer::InitialDelay {
                        deadline_ms: now_ms + delay,
                        delay_ms: delay,
                        remaining_ms: rebalance_timeout.saturating_sub(delay),
                    },
                    fx,
                );
            }
        } else if self.has_all_members_joined() {
            self.complete_join(now_ms, fx)?;
        } else {
            self.arm_join_timer(
                JoinTimer::Rebalance {
                    deadline_ms: now_ms + rebalance_timeout,
                },
                fx,
            );
        }

        Ok(())
    }

    pub(super) fn arm_join_timer(&mut self, timer: JoinTimer, fx: &mut Vec<Effect>) {
        if let Some(old) = self.join_timer.take() {
            if old.kind() != timer.kind() {
                fx.push(Effect::CancelTimer { kind: old.kind() });
            }
        }
        fx.push(Effect::ScheduleTimer {
            kind: timer.kind(),
            deadline_ms: timer.deadline_ms(),
        });
        self.join_timer = Some(timer);
    }

    pub(super) fn disarm_join_timer(&mut self, fx: &mut Vec<Effect>) {
        if let Some(old) = self.join_timer.take() {
            fx.push(Effect::CancelTimer { kind: old.kind() });
        }
    }

    pub(super) fn clear_pending_sync(&mut self, fx: &mut Vec<Effect>) {
        self.pending_sync.clear();
        if self.pending_sync_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::PendingSync,
            });
        }
    }

    pub(super) fn drop_pending_sync(&mut self, member_id: &str, fx: &mut Vec<Effect>) {
        if self.pending_sync.remove(member_id) && self.pending_sync.is_empty() {
            self.clear_pending_sync(fx);
        }
    }

    /// Every member has rejoined and no MEMBER_ID_REQUIRED id is outstanding
    /// (a pending member is expected to rejoin imminently, so Kafka waits).
    pub(super) fn has_all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty()
    }

    /// Complete the join early if nobody is missing. The initial delay window
    /// never completes early: its purpose is to wait for members not yet seen.
    pub(super) fn try_complete_join(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        if self.state == GroupState::PreparingRebalance
            && !matches!(self.join_timer, Some(JoinTimer::InitialDelay { .. }))
            && self.has_all_members_joined()
        {
            self.complete_join(now_ms, fx)?;
        }

        Ok(())
    }

    /// End of the join phase: start the next generation with whoever rejoined.
    pub(super) fn complete_join(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        self.disarm_join_timer(fx);
        self.new_member_added = false;

        // Dynamic members that did not rejoin are gone. Static members are kept
        // (KIP-345): a restarting static process should get its old assignment
        // back, and its session timeout will remove it if it never returns.
        let laggards: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in laggards {
            self.remove_member(&id, fx);
        }

        let leader_rejoined = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join);
        if !leader_rejoined {
            match self.members().into_iter().find(|m| m.awaiting_join) {
                Some(m) => self.leader_id = Some(m.member_id.clone()),
                None if !self.members.is_empty() => {
                    // Only static members that have not rejoined remain: nobody
                    // to lead, so wait another round (Kafka does the same).
                    let deadline = now_ms + self.rebalance_timeout_ms();
                    self.arm_join_timer(
                        JoinTimer::Rebalance {
                            deadline_ms: deadline,
                        },
                        fx,
                    );
                    return Ok(());
                }
                None => self.leader_id = None,
            }
        }

        // GenerationIds are compared only for equality; wrap past i32::MAX to 1
        // rather than overflow.
        self.generation_id = self.generation_id.checked_add(1).unwrap_or(1);
        self.pending_sync.clear();

        if self.members.is_empty() {
            self.protocol_name = None;
            self.go(GroupState::Empty)?;
            fx.push(Effect::Persist(self.snapshot()));
            return Ok(());
        }

        let chosen = self.select_protocol();
        debug_assert!(chosen.is_some(), "join validation keeps a common protocol");
        self.protocol_name = chosen.or_else(|| {
            self.members()
                .first()
                .and_then(|m| m.protocols.first())
                .map(|(name, _)| name.clone())
        });
        // The previous generation's assignment is meaningless now; clearing it
        // keeps the persisted snapshot honest.
        for m in self.members.values_mut() {
            m.assignment.clear();
        }
        self.go(GroupState::CompletingRebalance)?;
        fx.push(Effect::Persist(self.snapshot()));

        let leader = self.leader_id.clone().unwrap_or_default();
        let everyone = self.join_members();
        for id in self.member_ids_in_join_order() {
            let was_parked = match self.members.get_mut(&id) {
                Some(m) => {
                    let parked = m.awaiting_join;
                    m.awaiting_join = false;
                    m.is_new = false;
                    parked
                }
                None => false,
            };
            if was_parked {
                fx.push(Effect::JoinResponse {
                    member_id: id.clone(),
                    response: JoinResponse {
                        member_id: id.clone(),
                        result: Ok(JoinedGeneration {
                            generation_id: self.generation_id,
                            protocol_type: self.protocol_type.clone(),
                            protocol_name: self.protocol_name.clone(),
                            leader_id: leader.clone(),
                            skip_assignment: false,
                            members: if id == leader {
                                everyone.clone()
                            } else {
                                Vec::new()
                            },
                        }),
                    },
                });
            }
            self.refresh_session(&id, now_ms, fx);
            self.pending_sync.insert(id);
        }
        let deadline = now_ms + self.rebalance_timeout_ms();
        self.pending_sync_deadline_ms = Some(deadline);
        fx.push(Effect::ScheduleTimer {
            kind: TimerKind::PendingSync,
            deadline_ms: deadline,
        });

        Ok(())
    }

    /// Kafka's protocol vote: among the protocols every member supports, each
    /// member votes for the first one in its own preference order, and the most
    /// votes wins. Ties (which Kafka breaks arbitrarily) go to the candidate
    /// with the best summed preference rank, then to the smallest name, so the
    /// outcome is deterministic.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let members: Vec<&Member> = self.members.values().collect();
        let first = members.first()?;
        let mut candidates: Vec<&str> = Vec::new();
        for (name, _) in &first.protocols {
            if !candidates.contains(&name.as_str()) && members.iter().all(|m| m.supports(name)) {
                candidates.push(name);
            }
        }
        // (votes, summed preference rank) per candidate.
        let mut tally: BTreeMap<&str, (usize, usize)> =
            candidates.iter().map(|c| (*c, (0, 0))).collect();
        for m in &members {
            if let Some((vote, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| tally.contains_key(n.as_str()))
            {
                if let Some(entry) = tally.get_mut(vote.as_str()) {
                    entry.0 += 1;
                }
            }
            for (candidate, entry) in tally.iter_mut() {
                let rank = m
                    .protocols
                    .iter()
                    .position(|(n, _)| n == candidate)
                    .unwrap_or(usize::MAX / 2);
                entry.1 = entry.1.saturating_add(rank);
            }
        }
        tally
            .into_iter()
            .max_by(|(a_name, (a_votes, a_rank)), (b_name, (b_votes, b_rank))| {
                a_votes
                    .cmp(b_votes)
                    .then(b_rank.cmp(a_rank))
                    .then(b_name.cmp(a_name))
            })
            .map(|(name, _)| name.to_string())
    }

    pub(super) fn member_ids_in_join_order(&self) -> Vec<String> {
        self.members()
            .into_iter()
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Record liveness and push the session deadline out.
    pub(super) fn refresh_session(&mut self, member_id: &str, now_ms: u64, fx: &mut Vec<Effect>) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
            let deadline = now_ms + ms(m.session_timeout_ms);
            m.session_deadline_ms = Some(deadline);
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
                deadline_ms: deadline,
            });
        }
    }

    /// Take a member out of every index. Parked requests are answered with
    /// UNKNOWN_MEMBER_ID so no reply handle is ever leaked; a still-running
    /// client then rejoins as a new member.
    pub(super) fn remove_member(
        &mut self,
        member_id: &str,
        fx: &mut Vec<Effect>,
    ) -> Option<Member> {
        let mut m = self.members.remove(member_id)?;
        m.fail_parked(member_id, String::new(), GroupError::UnknownMemberId, fx);
        if m.session_deadline_ms.take().is_some() {
            fx.push(Effect::CancelTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
            });
        }
        if let Some(instance) = &m.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        self.drop_pending_sync(member_id, fx);
        if self.is_leader(member_id) {
            self.leader_id = self.members().first().map(|m| m.member_id.clone());
        }
        Some(m)
    }

    /// Remove a member and let the group react: a settled group rebalances, a
    /// rebalancing group may now have everyone it waits for.
    pub(super) fn remove_member_and_update(
        &mut self,
        member_id: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        if self.remove_member(member_id, fx).is_none() {
            return Ok(());
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now_ms, fx)?
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, fx)?,
            GroupState::Empty | GroupState::Dead => {}
        }

        Ok(())
    }

    /// Kafka's member check: if a GroupInstanceId is given it must map to this
    /// MemberId (another id means this process was replaced: FENCED_INSTANCE_ID);
    /// otherwise the MemberId must be a member.
    pub(super) fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        match group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(current) if current != member_id => Err(GroupError::FencedInstanceId),
                Some(_) => Ok(()),
                None => Err(GroupError::UnknownMemberId),
            },
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(GroupError::UnknownMemberId),
        }
    }

    // ----- timers ----------------------------------------------------------

    /// A timer armed through [`Effect::ScheduleTimer`] expired.
    pub fn timer_fired(&mut self, kind: TimerKind, now_ms: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        let step = self.timer_fired_inner(kind, now_ms, &mut fx);
        conclude(fx, step, |_| None::<Reply>)
    }

    pub(super) fn timer_fired_inner(
        &mut self,
        kind: TimerKind,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        if self.state == GroupState::Dead {
            return Ok(());
        }
        match kind {
            TimerKind::InitialRebalanceDelay | TimerKind::RebalanceTimeout => {
                self.join_timer_fired(kind, now_ms, fx)
            }
            TimerKind::PendingSync => self.pending_sync_fired(now_ms, fx),
            TimerKind::MemberSession(id) => self.session_fired(&id, now_ms, fx),
            TimerKind::PendingMember(id) => {
                let Some(&deadline) = self.pending_members.get(&id) else {
                    return Ok(());
                };
                if now_ms < deadline {
                    fx.push(Effect::ScheduleTimer {
                        kind: TimerKind::PendingMember(id),
                        deadline_ms: deadline,
                    });
                    return Ok(());
                }
                self.pending_members.remove(&id);
                self.try_complete_join(now_ms, fx)
            }
        }
    }

    pub(super) fn join_timer_fired(
        &mut self,
        kind: TimerKind,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let Some(timer) = self.join_timer else {
            return Ok(());
        };
        if timer.kind() != kind {
            return Ok(());
        }
        if now_ms < timer.deadline_ms() {
            fx.push(Effect::ScheduleTimer {
                kind,
                deadline_ms: timer.deadline_ms(),
            });
            return Ok(());
        }
        self.join_timer = None;
        if self.state != GroupState::PreparingRebalance {
            return Ok(());
        }
        match timer {
            // Kafka's InitialDelayedJoin: if someone arrived during this window,
            // wait another window, but never beyond the rebalance timeout in
            // total.
            JoinTimer::InitialDelay {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                self.new_member_added = false;
                let next_delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                self.arm_join_timer(
                    JoinTimer::InitialDelay {
                        deadline_ms: now_ms + next_delay,
                        delay_ms: next_delay,
                        remaining_ms: remaining_ms.saturating_sub(delay_ms),
                    },
                    fx,
                );
            }
            _ => self.complete_join(now_ms, fx)?,
        }

        Ok(())
    }

    pub(super) fn pending_sync_fired(&mut self, now_ms: u64, fx: &mut Vec<Effect>) -> Step {
        let Some(deadline) = self.pending_sync_deadline_ms else {
            return Ok(());
        };
        if now_ms < deadline {
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::PendingSync,
                deadline_ms: deadline,
            });
            return Ok(());
        }
        self.pending_sync_deadline_ms = None;
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            return Ok(());
        }
        // Members that never asked for their assignment are presumed dead;
        // everyone else must rejoin so their partitions get redistributed.
        let missing: Vec<String> = self.pending_sync.iter().cloned().collect();
        for id in missing {
            self.remove_member(&id, fx);
        }
        self.prepare_rebalance(now_ms, fx)?;

        Ok(())
    }

    pub(super) fn session_fired(
        &mut self,
        member_id: &str,
        now_ms: u64,
        fx: &mut Vec<Effect>,
    ) -> Step {
        let Some(m) = self.members.get_mut(member_id) else {
            return Ok(());
        };
        let Some(deadline) = m.session_deadline_ms else {
            return Ok(());
        };
        if now_ms < deadline {
            fx.push(Effect::ScheduleTimer {
                kind: TimerKind::MemberSession(member_id.to_string()),
                deadline_ms: deadline,
            });
            return Ok(());
        }
        m.session_deadline_ms = None;
        // An established member that is parked in JoinGroup or SyncGroup cannot
        // heartbeat, so its session is treated as satisfied; the rebalance and
        // pending-sync timeouts bound how long that lasts, and the session is
        // re-armed when the member is released. A member that never completed a
        // join gets no such grace (new-member join timeout).
        if !m.is_new && (m.awaiting_join || m.awaiting_sync) {
            return Ok(());
        }
        self.remove_member_and_update(member_id, now_ms, fx)?;

        Ok(())
    }
}
