//! A hierarchical timing wheel: the clock behind the broker's purgatory of delayed operations.
//!
//! Requests such as a `Fetch` with `max_wait_ms` or a `Produce` with `acks=all` park in
//! purgatory until either their condition is met or their timeout passes. A broker can hold
//! many thousands of these at once, most of which are completed (and so cancelled) long before
//! they expire. A binary heap would make every insert and cancel cost `O(log n)`; the timing
//! wheel makes both `O(1)` and only pays for time that actually has something due.
//!
//! # Layout
//!
//! * **Level 0** is a ring of `wheel_size` buckets, each spanning `tick_ms`, so it covers
//!   `tick_ms * wheel_size` ms ahead of its current time (its *interval*).
//! * A deadline beyond that goes to an **overflow wheel** whose tick is the lower wheel's whole
//!   interval (level 1 of a 1 ms × 20 wheel has 20 ms buckets and spans 400 ms, level 2 has
//!   400 ms buckets and spans 8 s, …). Overflow wheels are created lazily, only when a deadline
//!   needs them, and there are never more than about `log_wheel_size(2^64)` of them.
//! * Every non-empty bucket has an **expiration**: the start of the time slice it covers. The
//!   expirations of all non-empty buckets sit in one ordered set, the analogue of the
//!   `DelayQueue` of buckets in Kafka's `SystemTimer`. [`TimingWheel::next_expiration`] reads its
//!   head, and [`TimingWheel::advance`] pops from it, so advancing jumps straight from one due
//!   bucket to the next instead of stepping over empty ticks. The set holds at most one entry per
//!   bucket (`levels × wheel_size`, a few hundred at most), independent of how many timers exist.
//!
//! When a bucket expires its timers are either handed back (deadline reached) or re-inserted
//! relative to the advanced clock, which drops them into a finer level: the *cascade*. A timer
//! therefore moves at most once per level during its life.
//!
//! # Precision
//!
//! Unlike Kafka, which fires a task as soon as its bucket's tick begins, this wheel never hands
//! back an item before its deadline even when `tick_ms > 1`: items whose deadline falls inside
//! the current tick wait in a small *holding* list keyed by its earliest deadline. With the
//! default 1 ms tick a timer fires at exactly its deadline millisecond.
//!
//! Timers live in a slab indexed by [`TimerId`]; each bucket is an intrusive doubly linked list
//! threaded through the slab, so cancelling is an unlink plus a slot free. Ids carry a
//! generation so a stale id can never cancel a newer timer that reused its slot.

use std::collections::BTreeSet;
use std::fmt;

/// Kafka's purgatory ticks once per millisecond (`SystemTimer` default).
pub const DEFAULT_TICK_MS: u64 = 1;
/// Kafka's purgatory uses 20 buckets per wheel (`SystemTimer` default).
pub const DEFAULT_WHEEL_SIZE: usize = 20;

/// "No entry" marker for the intrusive links.
const NIL: u32 = u32::MAX;
/// Pseudo-level used in [`ListRef`] and queue keys for the holding list.
const HOLDING_LEVEL: u32 = u32::MAX;

/// Handle of one scheduled timer, returned by [`TimingWheel::insert`] and accepted by
/// [`TimingWheel::cancel`].
///
/// It packs a slab index with a generation counter, so an id that outlived its timer (fired or
/// cancelled) is simply not found rather than matching whatever timer reused the slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId(u64);

impl TimerId {
    fn new(index: u32, generation: u32) -> Self {
        TimerId((u64::from(generation) << 32) | u64::from(index))
    }

    fn index(self) -> u32 {
        // Truncation is the point: the low half is the slab index.
        self.0 as u32
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The raw value, for logging and metrics labels. It has no meaning outside the wheel that
    /// issued it.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Which list a timer is linked into: a bucket of some level, or the holding list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ListRef {
    level: u32,
    slot: u32,
}

const HOLDING: ListRef = ListRef {
    level: HOLDING_LEVEL,
    slot: 0,
};

struct Timer<T> {
    deadline_ms: u64,
    list: ListRef,
    prev: u32,
    next: u32,
    item: T,
}

enum Slot<T> {
    Occupied { generation: u32, timer: Timer<T> },
    Vacant { generation: u32, next_free: u32 },
}

/// A bucket (Kafka's `TimerTaskList`): an intrusive list of timers plus the expiration under
/// which it is currently registered in the queue. `expiration == None` iff the list is empty.
struct Bucket {
    head: u32,
    tail: u32,
    expiration: Option<u64>,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        head: NIL,
        tail: NIL,
        expiration: None,
    };
}

/// One wheel of the hierarchy.
struct Level {
    tick_ms: u64,
    /// `tick_ms * wheel_size`; kept as `u128` because the top levels legitimately exceed `u64`
    /// (such a level covers every representable deadline and never needs an overflow wheel).
    interval_ms: u128,
    /// Start of the tick the wheel is in: always a multiple of `tick_ms`, never decreasing.
    current_time_ms: u64,
    buckets: Vec<Bucket>,
}

impl Level {
    fn new(tick_ms: u64, wheel_size: usize, start_ms: u64) -> Self {
        let mut buckets = Vec::with_capacity(wheel_size);
        buckets.resize_with(wheel_size, || Bucket::EMPTY);
        Level {
            tick_ms,
            interval_ms: u128::from(tick_ms) * wheel_size as u128,
            current_time_ms: start_ms - start_ms % tick_ms,
            buckets,
        }
    }

    /// Does `deadline_ms` fall within this wheel's span from its current time?
    fn covers(&self, deadline_ms: u64) -> bool {
        u128::from(deadline_ms) < u128::from(self.current_time_ms) + self.interval_ms
    }
}

/// Hierarchical timing wheel holding items of type `T` until their deadline (in ms on whatever
/// monotonic clock the caller drives it with).
///
/// The wheel has no clock of its own: the owner calls [`advance`](Self::advance) with the
/// current time, typically when [`next_expiration`](Self::next_expiration) says something is
/// due. The clock only moves forward; an `advance` to an earlier time hands back what is due by
/// then but does not rewind anything.
pub struct TimingWheel<T> {
    wheel_size: usize,
    /// Level 0 first; overflow wheels appended lazily.
    levels: Vec<Level>,
    /// Timers whose deadline lies before the end of level 0's current tick (including deadlines
    /// already in the past). Its `expiration` is the earliest deadline it holds (possibly stale,
    /// i.e. too early, after a cancel, which only costs a spurious wake-up).
    holding: Bucket,
    slots: Vec<Slot<T>>,
    free_head: u32,
    len: usize,
    /// `(expiration_ms, level, slot)` for every non-empty bucket: Kafka's DelayQueue of buckets.
    queue: BTreeSet<(u64, u32, u32)>,
}

impl<T> TimingWheel<T> {
    /// A wheel whose level 0 has `wheel_size` buckets of `tick_ms` each, with its clock at
    /// `start_ms`. Kafka's purgatory uses a 1 ms tick and 20 buckets ([`DEFAULT_TICK_MS`],
    /// [`DEFAULT_WHEEL_SIZE`]).
    ///
    /// Degenerate shapes are clamped rather than rejected: `tick_ms` is at least 1 and
    /// `wheel_size` at least 2 (a one-bucket wheel would make every overflow wheel as fine as the
    /// one below it, so the hierarchy would never end).
    pub fn new(tick_ms: u64, wheel_size: usize, start_ms: u64) -> Self {
        let tick_ms = tick_ms.max(1);
        let wheel_size = wheel_size.max(2);
        TimingWheel {
            wheel_size,
            levels: vec![Level::new(tick_ms, wheel_size, start_ms)],
            holding: Bucket::EMPTY,
            slots: Vec::new(),
            free_head: NIL,
            len: 0,
            queue: BTreeSet::new(),
        }
    }

    /// Number of timers not yet fired or cancelled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `item` to be handed back by the first [`advance`](Self::advance) whose `now_ms`
    /// is at least `deadline_ms`. A deadline at or before the wheel's current time fires on the
    /// next advance. `O(1)` in the number of timers: a slab slot, a list append and, when the
    /// bucket was empty, one insert into the bounded expiration set (plus, rarely, the lazy
    /// creation of an overflow wheel).
    pub fn insert(&mut self, deadline_ms: u64, item: T) -> TimerId {
        let timer = Timer {
            deadline_ms,
            list: HOLDING,
            prev: NIL,
            next: NIL,
            item,
        };
        let (index, generation) = self.alloc(timer);
        self.len += 1;
        self.place(index);
        TimerId::new(index, generation)
    }

    /// Removes a pending timer and returns its item, or `None` if the id is unknown, already
    /// fired or already cancelled. `O(1)`: an unlink from the bucket's list, plus dropping the
    /// bucket from the (small, bounded) expiration set if it became empty.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let index = id.index();
        let list = match self.slots.get(index as usize) {
            Some(Slot::Occupied { generation, timer }) if *generation == id.generation() => {
                timer.list
            }
            _ => return None,
        };
        self.unlink(index, list);
        let bucket = bucket_mut(&mut self.levels, &mut self.holding, list)?;
        if bucket.head == NIL {
            if let Some(expiration) = bucket.expiration.take() {
                self.queue.remove(&(expiration, list.level, list.slot));
            }
        }
        self.release(index)
    }

    /// Moves the clock to `now_ms` and returns every item whose deadline is `<= now_ms`, in
    /// deadline order (ties keep insertion order within a bucket).
    ///
    /// Only buckets whose expiration has come are visited, in expiration order; each is either
    /// fired or cascaded into finer levels, so the cost is proportional to the timers touched,
    /// not to the time skipped. Advancing to an earlier time than the wheel's clock fires what is
    /// due by `now_ms` but never moves the clock back.
    pub fn advance(&mut self, now_ms: u64) -> Vec<T> {
        let mut fired: Vec<(u64, T)> = Vec::new();
        while let Some(&(expiration, level, slot)) = self.queue.first() {
            if expiration > now_ms {
                break;
            }
            self.queue.remove(&(expiration, level, slot));
            let list = ListRef { level, slot };
            if level != HOLDING_LEVEL {
                // Bring every level to this bucket's time so the cascade lands in finer
                // buckets relative to it (Kafka's `advanceClock` before `flush`).
                self.advance_clock(expiration);
            }
            let Some(bucket) = bucket_mut(&mut self.levels, &mut self.holding, list) else {
                continue;
            };
            let mut cursor = bucket.head;
            *bucket = Bucket::EMPTY;
            while cursor != NIL {
                let Some(Slot::Occupied { timer, .. }) = self.slots.get(cursor as usize) else {
                    break;
                };
                let (next, deadline_ms) = (timer.next, timer.deadline_ms);
                if deadline_ms <= now_ms {
                    if let Some(item) = self.release(cursor) {
                        fired.push((deadline_ms, item));
                    }
                } else {
                    self.place(cursor);
                }
                cursor = next;
            }
        }
        self.advance_clock(now_ms);
        // Buckets are drained in expiration order but the holding list and cascades can
        // interleave; a stable sort gives callers a simple contract.
        fired.sort_by_key(|(deadline_ms, _)| *deadline_ms);
        fired.into_iter().map(|(_, item)| item).collect()
    }

    /// The earliest time at which [`advance`](Self::advance) has work to do, or `None` if no
    /// timer is pending. A driver sleeps until then. For a far-away timer this is the expiration
    /// of its coarse bucket, earlier than its deadline: advancing there cascades it and yields a
    /// later, finer `next_expiration`. It may also be earlier than needed after a cancel (never
    /// later than a pending deadline). `O(log b)` with `b` the number of non-empty buckets.
    pub fn next_expiration(&self) -> Option<u64> {
        self.queue.first().map(|&(expiration, _, _)| expiration)
    }

    /// Sets each level's current time to the start of its tick containing `time_ms`, never
    /// moving backwards.
    fn advance_clock(&mut self, time_ms: u64) {
        for level in &mut self.levels {
            let tick_start = time_ms - time_ms % level.tick_ms;
            if tick_start > level.current_time_ms {
                level.current_time_ms = tick_start;
            }
        }
    }

    /// Links an allocated but unlinked timer into the list its deadline belongs to, relative to
    /// the current clock (Kafka's `TimingWheel.add`).
    fn place(&mut self, index: u32) {
        let Some(Slot::Occupied { timer, .. }) = self.slots.get(index as usize) else {
            return;
        };
        let deadline_ms = timer.deadline_ms;
        let level0 = &self.levels[0];
        if u128::from(deadline_ms) < u128::from(level0.current_time_ms) + u128::from(level0.tick_ms)
        {
            self.place_holding(index, deadline_ms);
            return;
        }
        let mut depth = 0usize;
        loop {
            if depth == self.levels.len() {
                // Lazily grow an overflow wheel whose tick is the whole span of the one below.
                // We only get here when the deadline is beyond that span, so the span fits u64.
                let below = &self.levels[depth - 1];
                let Ok(tick_ms) = u64::try_from(below.interval_ms) else {
                    self.place_holding(index, deadline_ms);
                    return;
                };
                let start_ms = below.current_time_ms;
                self.levels
                    .push(Level::new(tick_ms, self.wheel_size, start_ms));
            }
            let level = &mut self.levels[depth];
            if level.covers(deadline_ms) {
                let virtual_id = deadline_ms / level.tick_ms;
                let slot = (virtual_id % self.wheel_size as u64) as usize;
                let expiration = virtual_id * level.tick_ms;
                let bucket = &mut level.buckets[slot];
                match bucket.expiration {
                    None => {
                        bucket.expiration = Some(expiration);
                        self.queue.insert((expiration, depth as u32, slot as u32));
                    }
                    Some(current) if current == expiration => {}
                    Some(_) => {
                        // Cannot happen: a level's live buckets all lie strictly within one
                        // revolution ahead of its current time, so one slot never holds two
                        // expirations. Should the invariant ever break, the holding list still
                        // fires the timer at its exact deadline instead of corrupting a bucket.
                        self.place_holding(index, deadline_ms);
                        return;
                    }
                }
                let list = ListRef {
                    level: depth as u32,
                    slot: slot as u32,
                };
                self.link(index, list);
                return;
            }
            depth += 1;
        }
    }

    fn place_holding(&mut self, index: u32, deadline_ms: u64) {
        match self.holding.expiration {
            Some(earliest) if earliest <= deadline_ms => {}
            previous => {
                if let Some(earliest) = previous {
                    self.queue.remove(&(earliest, HOLDING.level, HOLDING.slot));
                }
                self.holding.expiration = Some(deadline_ms);
                self.queue
                    .insert((deadline_ms, HOLDING.level, HOLDING.slot));
            }
        }
        self.link(index, HOLDING);
    }

    /// Appends timer `index` at the tail of `list`.
    fn link(&mut self, index: u32, list: ListRef) {
        let Some(bucket) = bucket_mut(&mut self.levels, &mut self.holding, list) else {
            return;
        };
        let old_tail = bucket.tail;
        bucket.tail = index;
        if old_tail == NIL {
            bucket.head = index;
        }
        if let Some(timer) = timer_mut(&mut self.slots, old_tail) {
            timer.next = index;
        }
        if let Some(timer) = timer_mut(&mut self.slots, index) {
            timer.list = list;
            timer.prev = old_tail;
            timer.next = NIL;
        }
    }

    /// Removes timer `index` from `list`, leaving its own links dangling (it is about to be
    /// released or relinked).
    fn unlink(&mut self, index: u32, list: ListRef) {
        let Some(timer) = timer_mut(&mut self.slots, index) else {
            return;
        };
        let (prev, next) = (timer.prev, timer.next);
        match timer_mut(&mut self.slots, prev) {
            Some(timer) => timer.next = next,
            None => {
                if let Some(bucket) = bucket_mut(&mut self.levels, &mut self.holding, list) {
                    bucket.head = next;
                }
            }
        }
        match timer_mut(&mut self.slots, next) {
            Some(timer) => timer.prev = prev,
            None => {
                if let Some(bucket) = bucket_mut(&mut self.levels, &mut self.holding, list) {
                    bucket.tail = prev;
                }
            }
        }
    }

    /// Stores `timer` in a free slot (or a new one) and returns its index and generation.
    fn alloc(&mut self, timer: Timer<T>) -> (u32, u32) {
        if let Some(Slot::Vacant {
            generation,
            next_free,
        }) = self.slots.get(self.free_head as usize)
        {
            let (index, generation) = (self.free_head, *generation);
            self.free_head = *next_free;
            self.slots[index as usize] = Slot::Occupied { generation, timer };
            return (index, generation);
        }
        // A slab of u32::MAX live timers would need far more memory than any broker has; the
        // allocation fails long before the index could collide with NIL.
        let index = self.slots.len() as u32;
        self.slots.push(Slot::Occupied {
            generation: 0,
            timer,
        });
        (index, 0)
    }

    /// Frees slot `index` (already unlinked), bumping its generation so outstanding ids for it
    /// go stale, and returns the item.
    fn release(&mut self, index: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        let generation = match slot {
            Slot::Occupied { generation, .. } => generation.wrapping_add(1),
            Slot::Vacant { .. } => return None,
        };
        let vacant = Slot::Vacant {
            generation,
            next_free: self.free_head,
        };
        let Slot::Occupied { timer, .. } = std::mem::replace(slot, vacant) else {
            return None;
        };
        self.free_head = index;
        self.len -= 1;
        Some(timer.item)
    }
}

impl<T> fmt::Debug for TimingWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingWheel")
            .field("tick_ms", &self.levels[0].tick_ms)
            .field("wheel_size", &self.wheel_size)
            .field("current_time_ms", &self.levels[0].current_time_ms)
            .field("levels", &self.levels.len())
            .field("len", &self.len)
            .field("next_expiration", &self.next_expiration())
            .finish()
    }
}

fn bucket_mut<'a>(
    levels: &'a mut [Level],
    holding: &'a mut Bucket,
    list: ListRef,
) -> Option<&'a mut Bucket> {
    if list.level == HOLDING_LEVEL {
        Some(holding)
    } else {
        levels
            .get_mut(list.level as usize)?
            .buckets
            .get_mut(list.slot as usize)
    }
}

fn timer_mut<T>(slots: &mut [Slot<T>], index: u32) -> Option<&mut Timer<T>> {
    match slots.get_mut(index as usize) {
        Some(Slot::Occupied { timer, .. }) => Some(timer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Small deterministic PRNG (xorshift64*) so the model tests need no extra dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, bound: u64) -> u64 {
            if bound == 0 {
                0
            } else {
                self.next() % bound
            }
        }
    }

    fn kafka_wheel<T>() -> TimingWheel<T> {
        TimingWheel::new(DEFAULT_TICK_MS, DEFAULT_WHEEL_SIZE, 0)
    }

    /// Drives the wheel the way the actor does (jumping to `next_expiration`) and records the
    /// time at which each item came out.
    fn drive_to_empty<T: Copy>(wheel: &mut TimingWheel<T>) -> (Vec<(u64, T)>, usize) {
        let mut out = Vec::new();
        let mut steps = 0;
        while let Some(at) = wheel.next_expiration() {
            steps += 1;
            assert!(steps < 1_000_000, "driver did not converge");
            for item in wheel.advance(at) {
                out.push((at, item));
            }
        }
        (out, steps)
    }

    #[test]
    fn fires_at_exact_deadline_not_before() {
        let mut wheel = kafka_wheel();
        let id = wheel.insert(5, "a");
        assert_eq!(wheel.len(), 1);
        assert!(wheel.advance(4).is_empty());
        assert_eq!(wheel.advance(5), vec!["a"]);
        assert!(wheel.is_empty());
        assert_eq!(wheel.cancel(id), None, "fired timer cannot be cancelled");
        assert!(wheel.advance(100).is_empty());
    }

    #[test]
    fn boundary_deadlines_fire_exactly_on_time_across_levels() {
        for &deadline in &[
            1u64, 19, 20, 21, 399, 400, 401, 7_999, 8_000, 160_000, 1_000_000,
        ] {
            let mut wheel = kafka_wheel();
            wheel.insert(deadline, deadline);
            assert!(
                wheel.advance(deadline - 1).is_empty(),
                "deadline {deadline} fired a ms early"
            );
            assert_eq!(
                wheel.advance(deadline),
                vec![deadline],
                "deadline {deadline}"
            );
            assert!(wheel.is_empty());
            assert_eq!(wheel.next_expiration(), None);
        }
    }

    #[test]
    fn driver_following_next_expiration_sees_each_deadline_exactly() {
        let deadlines = [
            1u64,
            19,
            20,
            399,
            400,
            8_000,
            1_000_000,
            1_000_000,
            123_456_789,
        ];
        let mut wheel = kafka_wheel();
        for &d in &deadlines {
            wheel.insert(d, d);
        }
        let (fired, steps) = drive_to_empty(&mut wheel);
        for (at, deadline) in &fired {
            assert_eq!(at, deadline, "fired at {at}, deadline {deadline}");
        }
        let mut got: Vec<u64> = fired.iter().map(|&(_, d)| d).collect();
        got.sort_unstable();
        assert_eq!(got, deadlines.to_vec());
        // Jumping bucket to bucket: a handful of cascades per timer, not one step per ms.
        assert!(steps < 60, "took {steps} steps");
    }

    #[test]
    fn cancel_prevents_firing_and_returns_item() {
        let mut wheel = kafka_wheel();
        let keep = wheel.insert(30, "keep");
        let drop_near = wheel.insert(10, "near");
        let drop_far = wheel.insert(5_000, "far");
        assert_eq!(wheel.cancel(drop_near), Some("near"));
        assert_eq!(wheel.cancel(drop_far), Some("far"));
        assert_eq!(wheel.cancel(drop_near), None, "double cancel");
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.advance(10_000), vec!["keep"]);
        assert_eq!(wheel.cancel(keep), None);
    }

    #[test]
    fn stale_id_cannot_cancel_a_timer_reusing_its_slot() {
        let mut wheel = kafka_wheel();
        let old = wheel.insert(10, 1);
        assert_eq!(wheel.cancel(old), Some(1));
        let new = wheel.insert(10, 2);
        assert_ne!(old, new);
        assert_eq!(wheel.cancel(old), None);
        assert_eq!(wheel.advance(10), vec![2]);
        // An id from a different wheel or made up is just unknown.
        assert_eq!(wheel.cancel(TimerId(u64::MAX)), None);
    }

    #[test]
    fn cancel_in_middle_of_bucket_keeps_neighbours() {
        let mut wheel = kafka_wheel();
        let ids: Vec<_> = (0..5).map(|i| wheel.insert(7, i)).collect();
        assert_eq!(wheel.cancel(ids[2]), Some(2));
        assert_eq!(wheel.cancel(ids[0]), Some(0));
        assert_eq!(wheel.cancel(ids[4]), Some(4));
        assert_eq!(wheel.advance(7), vec![1, 3]);
    }

    #[test]
    fn next_expiration_tracks_earliest_bucket() {
        let mut wheel = kafka_wheel();
        assert_eq!(wheel.next_expiration(), None);
        let late = wheel.insert(15, ());
        assert_eq!(wheel.next_expiration(), Some(15));
        let early = wheel.insert(3, ());
        assert_eq!(wheel.next_expiration(), Some(3));
        wheel.cancel(early);
        assert_eq!(wheel.next_expiration(), Some(15));
        wheel.cancel(late);
        assert_eq!(wheel.next_expiration(), None);

        // Far timer: first the coarse bucket's start, then finer ones, never past the deadline.
        wheel.insert(1_000_000, ());
        let mut previous = 0;
        while let Some(at) = wheel.next_expiration() {
            assert!(at > previous && at <= 1_000_000);
            previous = at;
            wheel.advance(at);
        }
        assert_eq!(previous, 1_000_000);
    }

    #[test]
    fn past_deadlines_fire_on_next_advance() {
        let mut wheel = TimingWheel::new(1, 20, 1_000);
        wheel.insert(10, "ancient");
        wheel.insert(1_000, "now");
        assert_eq!(wheel.next_expiration(), Some(10));
        assert_eq!(wheel.advance(1_000), vec!["ancient", "now"]);
    }

    #[test]
    fn advance_with_large_jumps_fires_everything_due_in_order() {
        let mut wheel = kafka_wheel();
        let deadlines = [9_000_000u64, 3, 400, 77_777, 19, 8_000, 5_000_000_000];
        for &d in &deadlines {
            wheel.insert(d, d);
        }
        assert_eq!(wheel.advance(10_000), vec![3, 19, 400, 8_000]);
        assert_eq!(wheel.advance(10_000_000), vec![77_777, 9_000_000]);
        // Inserts after a jump are relative to the new clock.
        wheel.insert(10_000_005, 10_000_005);
        assert!(wheel.advance(10_000_004).is_empty());
        assert_eq!(wheel.advance(u64::MAX / 2), vec![10_000_005, 5_000_000_000]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut wheel = TimingWheel::new(0, 0, u64::MAX - 5);
        wheel.insert(u64::MAX, 1);
        wheel.insert(0, 2);
        wheel.insert(u64::MAX - 5, 3);
        assert_eq!(wheel.advance(u64::MAX - 1), vec![2, 3]);
        assert_eq!(wheel.advance(u64::MAX), vec![1]);

        let mut wheel = TimingWheel::new(u64::MAX, 1_000, 0);
        wheel.insert(u64::MAX, "max");
        wheel.insert(1, "one");
        assert_eq!(wheel.next_expiration(), Some(1));
        assert_eq!(wheel.advance(1), vec!["one"]);
        assert_eq!(wheel.advance(u64::MAX), vec!["max"]);

        let mut wheel = kafka_wheel();
        let id = wheel.insert(u64::MAX, ());
        wheel.insert(u64::MAX - 1, ());
        assert!(wheel.advance(u64::MAX - 2).is_empty());
        assert_eq!(wheel.cancel(id), Some(()));
        assert_eq!(wheel.advance(u64::MAX).len(), 1);
        // Going backwards is harmless.
        assert!(wheel.advance(0).is_empty());
    }

    #[test]
    fn coarse_tick_never_fires_early() {
        // tick 10: items inside the current tick wait in the holding list for their exact ms.
        let mut wheel = TimingWheel::new(10, 4, 100);
        wheel.insert(108, "a");
        wheel.insert(131, "b");
        assert!(wheel.advance(105).is_empty());
        assert_eq!(wheel.next_expiration(), Some(108));
        assert!(wheel.advance(107).is_empty());
        assert_eq!(wheel.advance(108), vec!["a"]);
        assert!(wheel.advance(130).is_empty());
        assert_eq!(wheel.advance(131), vec!["b"]);
    }

    #[test]
    fn many_timers_fire_in_deadline_order() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut wheel = kafka_wheel();
        let mut deadlines = Vec::new();
        for _ in 0..100_000 {
            let d = 1 + rng.below(2_000_000);
            deadlines.push(d);
            wheel.insert(d, d);
        }
        assert_eq!(wheel.len(), 100_000);
        let mut fired = Vec::new();
        let mut now = 0;
        while now < 2_000_000 {
            now += 1 + rng.below(50_000);
            let batch = wheel.advance(now);
            assert!(batch.iter().all(|&d| d <= now));
            fired.extend(batch);
        }
        deadlines.sort_unstable();
        assert_eq!(fired, deadlines);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_expiration(), None);
    }

    /// Random inserts, cancels and advances against a naive model (an ordered set of
    /// `(deadline, value)`), for several wheel shapes including coarse ticks and tiny wheels.
    #[test]
    fn matches_naive_model() {
        use std::collections::BTreeSet;
        for &(tick, size, start, seed) in &[
            (1u64, 20usize, 0u64, 1u64),
            (1, 20, 12_345, 2),
            (7, 5, 3, 3),
            (1, 2, 0, 4),
            (3, 8, 1_000_001, 5),
        ] {
            let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
            let mut wheel = TimingWheel::new(tick, size, start);
            let mut pending: BTreeSet<(u64, u64)> = BTreeSet::new();
            let mut deadline_of: HashMap<u64, u64> = HashMap::new();
            let mut ids: Vec<(u64, TimerId)> = Vec::new();
            let mut now = start;
            let mut serial = 0u64;
            for _ in 0..30_000 {
                match rng.below(10) {
                    0..=4 => {
                        let scale = [5u64, 50, 2_000, 100_000, 50_000_000][rng.below(5) as usize];
                        let deadline = if rng.below(20) == 0 {
                            now.saturating_sub(rng.below(100))
                        } else {
                            now + rng.below(scale)
                        };
                        serial += 1;
                        let id = wheel.insert(deadline, serial);
                        pending.insert((deadline, serial));
                        deadline_of.insert(serial, deadline);
                        ids.push((serial, id));
                    }
                    5 | 6 if !ids.is_empty() => {
                        // May pick an already fired timer: then both sides say "not pending".
                        let pick = rng.below(ids.len() as u64) as usize;
                        let (value, id) = ids.swap_remove(pick);
                        let was_pending = pending.remove(&(deadline_of[&value], value));
                        assert_eq!(wheel.cancel(id), was_pending.then_some(value));
                    }
                    _ => {
                        let step = [0u64, 1, 3, 20, 400, 10_000, 3_000_000][rng.below(7) as usize];
                        now += rng.below(step + 1);
                        let got: Vec<(u64, u64)> = wheel
                            .advance(now)
                            .into_iter()
                            .map(|v| (deadline_of[&v], v))
                            .collect();
                        assert!(
                            got.windows(2).all(|w| w[0].0 <= w[1].0),
                            "not in deadline order"
                        );
                        let mut got_sorted = got.clone();
                        got_sorted.sort_unstable();
                        let want: Vec<(u64, u64)> =
                            pending.range(..(now + 1, 0)).copied().collect();
                        for w in &want {
                            pending.remove(w);
                        }
                        assert_eq!(got_sorted, want, "tick {tick} size {size} now {now}");
                    }
                }
                assert_eq!(wheel.len(), pending.len());
                match (wheel.next_expiration(), pending.first()) {
                    (None, None) => {}
                    (Some(next), Some(&(earliest, _))) => assert!(next <= earliest),
                    (next, earliest) => panic!("next_expiration {next:?} vs earliest {earliest:?}"),
                }
            }
            // Drain: a driver jumping to next_expiration sees every remaining deadline exactly.
            let (fired, _) = drive_to_empty(&mut wheel);
            for (at, value) in fired {
                let deadline = deadline_of[&value];
                assert!(
                    pending.remove(&(deadline, value)),
                    "fired twice or unknown: {value}"
                );
                assert_eq!(at, deadline, "value {value}");
            }
            assert!(pending.is_empty());
        }
    }
}
