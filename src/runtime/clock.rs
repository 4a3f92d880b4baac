//! The wall clock, in Kafka's unit: milliseconds since the Unix epoch. Record timestamps,
//! commit times and retention all count in it; durations and timeouts use `Instant` instead.

/// Milliseconds since the Unix epoch (0 if the clock reads before it).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wall_clock_reads_after_2020() {
        assert!(super::wall_clock_ms() > 1_577_836_800_000);
    }
}
