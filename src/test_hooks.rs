//! Test-only fault injection (feature `test-hooks`, never in a shipped build), driven through
//! `/test-hooks/...` HTTP routes by integration tests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Produce responses still to be swallowed: the request is served (its records are written),
/// then the connection closes before the response goes out — a lost response, which makes a
/// client retry a batch the log already holds.
static PRODUCE_RESPONSES_TO_DROP: AtomicUsize = AtomicUsize::new(0);

/// Arms the hook for the next `count` produce responses.
pub fn drop_produce_responses(count: usize) {
    PRODUCE_RESPONSES_TO_DROP.store(count, Ordering::SeqCst);
}

/// Whether this produce response is to be dropped (consumes one).
pub fn take_produce_response_drop() -> bool {
    PRODUCE_RESPONSES_TO_DROP
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Produce responses the hook has still to drop.
pub fn produce_responses_left_to_drop() -> usize {
    PRODUCE_RESPONSES_TO_DROP.load(Ordering::SeqCst)
}

/// While set, transaction markers are not written (every attempt fails as retriable), so a
/// test can crash the broker between PrepareCommit/PrepareAbort and the markers.
static HOLD_TXN_MARKERS: AtomicBool = AtomicBool::new(false);

pub fn hold_txn_markers(hold: bool) {
    HOLD_TXN_MARKERS.store(hold, Ordering::SeqCst);
}

pub fn txn_markers_held() -> bool {
    HOLD_TXN_MARKERS.load(Ordering::SeqCst)
}
