//! TEMP: signatures the replstore branch implements (deleted at merge).
#![allow(unused)]
use bytes::Bytes;

use super::{AppendInfo, Log};
use crate::storage::error::StorageError;

impl Log {
    pub fn set_leader_epoch(&mut self, epoch: i32) -> Result<(), StorageError> {
        Ok(())
    }
    pub fn latest_leader_epoch(&self) -> Option<i32> {
        None
    }
    pub fn append_as_follower(&mut self, records: Bytes, now_ms: i64) -> Result<AppendInfo, StorageError> {
        unimplemented!()
    }
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        unimplemented!()
    }
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        unimplemented!()
    }
    pub fn end_offset_for_leader_epoch(&self, epoch: i32) -> (i32, i64) {
        (-1, -1)
    }
}
