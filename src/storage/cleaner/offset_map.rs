//! The cleaner's OffsetMap: for each key of the dirty section, the offset of its latest record.
//!
//! Like Kafka's SkimpyOffsetMap it stores a 128-bit hash of each key rather than the key, so an
//! entry costs a fixed [`OFFSET_MAP_ENTRY_BYTES`] bytes however long keys are, and it refuses
//! new keys once it holds `max_entries` (the dedupe buffer's worth). Unlike Kafka's it does not
//! allocate the whole buffer up front: the table starts small and doubles as keys arrive, up to
//! the slot count the buffer allows.
//!
//! The hash is SipHash-1-3 (the standard library's `RandomState`) run twice under one random
//! key with a different domain byte in front of the key, giving 128 bits. The map lives only
//! for one cleaning pass, so the hash need not be stable across runs, and a random key means no
//! producer can choose keys that collide. Two distinct keys sharing all 128 bits, which would
//! make the cleaner drop the older one's latest record, has probability about n²/2¹²⁹ for n
//! keys: below 10⁻²⁴ for a billion keys.

use std::hash::{BuildHasher, Hash, Hasher};

use std::collections::hash_map::RandomState;

/// Bytes one entry takes: a 128-bit key hash and a 64-bit offset.
pub const OFFSET_MAP_ENTRY_BYTES: usize = 24;

/// Slots the table starts with (24 KiB), unless the limit is lower.
const INITIAL_SLOTS: usize = 1024;
/// Below its final size the table doubles once this share of its slots is used, keeping probe
/// sequences short while it grows.
const GROWTH_LOAD_FACTOR: f64 = 0.7;
/// Offsets are never negative, so this marks an empty slot.
const EMPTY: i64 = -1;

/// One table slot; `offset == EMPTY` means unused.
#[derive(Clone, Copy)]
struct Slot {
    hash: [u64; 2],
    offset: i64,
}

const EMPTY_SLOT: Slot = Slot {
    hash: [0, 0],
    offset: EMPTY,
};

/// Key hash → latest offset, holding at most a fixed number of keys.
pub struct OffsetMap {
    slots: Vec<Slot>,
    entries: usize,
    max_entries: usize,
    /// The most slots the table may grow to: enough for `max_entries` at a load of 0.9, which
    /// is what the dedupe buffer pays for (`max_entries` = buffer / 24 × 0.9).
    max_slots: usize,
    hasher: RandomState,
}

impl OffsetMap {
    /// An empty map that will accept up to `max_entries` distinct keys.
    pub fn new(max_entries: usize) -> OffsetMap {
        let max_slots = max_entries
            .saturating_add(max_entries / 9)
            .saturating_add(1);
        OffsetMap {
            slots: vec![EMPTY_SLOT; INITIAL_SLOTS.min(max_slots)],
            entries: 0,
            max_entries,
            max_slots,
            hasher: RandomState::new(),
        }
    }

    /// Records `offset` as the latest for `key`. Returns false, changing nothing, when the key
    /// is new and the map already holds `max_entries` keys. Offsets must be put in ascending
    /// order, so a known key's offset is simply replaced.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = self.hash(key);
        let slot = self.find_slot(hash);
        if self.slots[slot].offset != EMPTY {
            self.slots[slot].offset = offset;
            return true;
        }
        if self.entries >= self.max_entries {
            return false;
        }
        if self.should_grow() {
            self.grow();
            let slot = self.find_slot(hash);
            self.slots[slot] = Slot { hash, offset };
        } else {
            self.slots[slot] = Slot { hash, offset };
        }
        self.entries += 1;
        true
    }

    /// The latest offset recorded for `key`.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        let slot = &self.slots[self.find_slot(self.hash(key))];
        (slot.offset != EMPTY).then_some(slot.offset)
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes the table currently occupies.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }

    /// 128 bits of keyed SipHash: two runs under one key, separated by a leading domain byte.
    fn hash(&self, key: &[u8]) -> [u64; 2] {
        let half = |domain: u8| {
            let mut hasher = self.hasher.build_hasher();
            hasher.write_u8(domain);
            key.hash(&mut hasher);
            hasher.finish()
        };
        [half(0), half(1)]
    }

    /// The slot holding `hash`, or the empty slot where it would go (linear probing). The
    /// table always has an empty slot, so the search ends.
    fn find_slot(&self, hash: [u64; 2]) -> usize {
        let len = self.slots.len();
        // Map the hash onto [0, len) by multiplication, which needs no power-of-two length.
        let mut slot = ((u128::from(hash[0]) * len as u128) >> 64) as usize;
        loop {
            let candidate = &self.slots[slot];
            if candidate.offset == EMPTY || candidate.hash == hash {
                return slot;
            }
            slot += 1;
            if slot == len {
                slot = 0;
            }
        }
    }

    /// Whether one more entry calls for a bigger table. At its final size the table only has
    /// to keep one slot empty, which `max_slots` > `max_entries` guarantees.
    fn should_grow(&self) -> bool {
        let len = self.slots.len();
        len < self.max_slots && (self.entries + 1) as f64 > len as f64 * GROWTH_LOAD_FACTOR
    }

    /// Doubles the table (never past `max_slots`) and re-inserts every entry.
    fn grow(&mut self) {
        let new_len = self.slots.len().saturating_mul(2).min(self.max_slots);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; new_len]);
        for entry in old.into_iter().filter(|slot| slot.offset != EMPTY) {
            let slot = self.find_slot(entry.hash);
            self.slots[slot] = entry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key() {
        let mut map = OffsetMap::new(100_000);
        for offset in 0..50_000i64 {
            let key = format!("key-{}", offset % 5000);
            assert!(map.put(key.as_bytes(), offset));
        }
        assert_eq!(map.len(), 5000);
        for k in 0..5000i64 {
            let key = format!("key-{k}");
            assert_eq!(map.get(key.as_bytes()), Some(45_000 + k));
        }
        assert_eq!(map.get(b"key-5000"), None);
        assert_eq!(map.get(b""), None);
        assert!(map.put(b"", 60_000), "the empty key is a key");
        assert_eq!(map.get(b""), Some(60_000));
    }

    #[test]
    fn refuses_new_keys_when_full_but_updates_known_ones() {
        let mut map = OffsetMap::new(10);
        for k in 0..10i64 {
            assert!(map.put(&k.to_be_bytes(), k));
        }
        assert!(!map.put(&10i64.to_be_bytes(), 10));
        assert_eq!(map.get(&10i64.to_be_bytes()), None);
        assert!(
            map.put(&3i64.to_be_bytes(), 11),
            "a known key still moves on"
        );
        assert_eq!(map.get(&3i64.to_be_bytes()), Some(11));
        assert_eq!(map.len(), 10);

        let mut nothing = OffsetMap::new(0);
        assert!(!nothing.put(b"k", 0));
        assert!(nothing.is_empty());
    }

    #[test]
    fn grows_on_demand_within_the_dedupe_buffer() {
        let max_entries = 1_000_000;
        let mut map = OffsetMap::new(max_entries);
        assert!(map.allocated_bytes() <= INITIAL_SLOTS * OFFSET_MAP_ENTRY_BYTES);
        for k in 0..max_entries as i64 {
            assert!(map.put(&k.to_le_bytes(), k), "key {k}");
        }
        assert!(!map.put(b"one more", 0));
        // max_entries was sized as 0.9 of the buffer's entries, so the table stays within it.
        let buffer = (max_entries as f64 / 0.9) as usize * OFFSET_MAP_ENTRY_BYTES;
        assert!(map.allocated_bytes() <= buffer + OFFSET_MAP_ENTRY_BYTES);
        assert_eq!(std::mem::size_of::<Slot>(), OFFSET_MAP_ENTRY_BYTES);
        for k in (0..max_entries as i64).step_by(997) {
            assert_eq!(map.get(&k.to_le_bytes()), Some(k));
        }
    }
}
