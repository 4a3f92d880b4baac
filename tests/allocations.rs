//! The hot paths allocate per batch, never per record: appending a batch of 1,000 records to a
//! log, or reading it back as file ranges for the zero-copy fetch, makes no more heap
//! allocations than doing the same with a batch of 2 records. Counted with a global allocator
//! that tallies allocations made on the test's own thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use common::batches::plain_batch;
use kafka_protocol::records::Compression;
use troupe::storage::log::{Log, LogConfig};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations `f` makes on this thread.
fn allocations_of<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

fn batch(records: usize, compression: Compression) -> Bytes {
    let records = (0..records).map(|i| {
        (
            Some(Bytes::from(format!("key-{i}"))),
            Some(Bytes::from(vec![b'v'; 100])),
            1_700_000_000_000 + i as i64,
        )
    });
    plain_batch(records, compression)
}

/// The record count in the header of a single batch.
fn batch_record_count(batch: &[u8]) -> i64 {
    i64::from(i32::from_be_bytes(batch[57..61].try_into().unwrap()))
}

/// (allocations to append `batch`, allocations to read it back) on a warmed-up log.
fn append_then_read(log: &mut Log, batch: Bytes, now: i64) -> (u64, u64) {
    let records = batch_record_count(&batch);
    let (appending, info) = allocations_of(|| log.append(batch, now).unwrap());
    assert_eq!(info.batch_count, 1, "one batch");
    assert_eq!(info.record_count, records);
    let end = info.last_offset + 1;
    let (reading, read) =
        allocations_of(|| log.read(info.first_offset, 1 << 20, end, true).unwrap());
    assert!(read.bytes > 0, "the batch reads back");
    (appending, reading)
}

#[test]
fn appending_and_reading_allocate_per_batch_not_per_record() {
    for compression in [Compression::None, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogConfig::default(), 1_700_000_000_000).unwrap();
        // Warm up: the first append and read may set things up once.
        append_then_read(&mut log, batch(2, compression), 1_700_000_000_000);

        let (small_append, small_read) =
            append_then_read(&mut log, batch(2, compression), 1_700_000_000_001);
        let (large_append, large_read) =
            append_then_read(&mut log, batch(1000, compression), 1_700_000_000_002);
        // A few allocations of slack for growing per-batch bookkeeping (an index entry).
        assert!(
            large_append <= small_append + 2,
            "{compression:?}: appending 1,000 records allocated {large_append} times, 2 records {small_append}"
        );
        assert!(
            large_read <= small_read + 2,
            "{compression:?}: reading 1,000 records allocated {large_read} times, 2 records {small_read}"
        );
        assert!(
            small_append < 50 && small_read < 20,
            "per-batch costs stay small: {small_append}, {small_read}"
        );
    }
}
