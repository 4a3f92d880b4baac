//! TEMP (replaced by the replstore branch at merge).
#![allow(unused)]
use std::collections::BTreeMap;

use crate::metadata::PartitionMeta;

#[derive(Clone, Debug)]
pub struct FollowerState {
    pub log_end_offset: i64,
    pub last_caught_up_ms: i64,
    pub last_fetch_ms: i64,
}

#[derive(Clone, Debug)]
pub struct LeaderState {
    pub local_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub followers: BTreeMap<i32, FollowerState>,
    high_watermark: i64,
    pub leader_epoch_start_offset: i64,
}

impl LeaderState {
    pub fn new(local_id: i32, p: &PartitionMeta, leader_leo: i64, now_ms: i64, initial_hw: i64) -> Self {
        let mut s = LeaderState {
            local_id,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            followers: BTreeMap::new(),
            high_watermark: initial_hw.min(leader_leo),
            leader_epoch_start_offset: leader_leo,
        };
        s.apply_partition_state(p, now_ms);
        s
    }
    pub fn apply_partition_state(&mut self, p: &PartitionMeta, now_ms: i64) {
        self.partition_epoch = p.partition_epoch;
        self.isr = p.isr.clone();
        self.replicas = p.replicas.clone();
        let local = self.local_id;
        self.followers.retain(|id, _| p.replicas.contains(id));
        for r in p.replicas.iter().filter(|r| **r != local) {
            self.followers.entry(*r).or_insert(FollowerState { log_end_offset: -1, last_caught_up_ms: now_ms, last_fetch_ms: 0 });
        }
    }
    pub fn on_follower_fetch(&mut self, id: i32, fetch_offset: i64, leader_leo: i64, now_ms: i64) {
        if let Some(f) = self.followers.get_mut(&id) {
            f.log_end_offset = fetch_offset;
            f.last_fetch_ms = now_ms;
            if fetch_offset >= leader_leo {
                f.last_caught_up_ms = now_ms;
            }
        }
    }
    pub fn maybe_advance_high_watermark(&mut self, leader_leo: i64) -> bool {
        let min = self.isr.iter().map(|r| if *r == self.local_id { leader_leo } else { self.followers.get(r).map(|f| f.log_end_offset).unwrap_or(-1) }).min().unwrap_or(leader_leo);
        if min > self.high_watermark { self.high_watermark = min; true } else { false }
    }
    pub fn high_watermark(&self) -> i64 { self.high_watermark }
    pub fn maybe_expand_isr(&self, id: i32) -> Option<Vec<i32>> {
        let f = self.followers.get(&id)?;
        if self.isr.contains(&id) || f.log_end_offset < self.high_watermark || f.log_end_offset < self.leader_epoch_start_offset { return None; }
        let mut isr = self.isr.clone(); isr.push(id); Some(isr)
    }
    pub fn isr_to_shrink(&self, now_ms: i64, lag_ms: i64) -> Option<Vec<i32>> {
        let out: Vec<i32> = self.isr.iter().copied().filter(|r| *r == self.local_id || self.followers.get(r).map_or(true, |f| now_ms - f.last_caught_up_ms <= lag_ms)).collect();
        (out.len() != self.isr.len()).then_some(out)
    }
}
