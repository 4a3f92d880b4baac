//! The wall clock, in Kafka's unit: milliseconds since the Unix epoch. Record timestamps,
//! commit times and retention all count in it; durations and timeouts use `Instant` instead.
//! For people reading JSON (certificate expiry on `/healthz`), [`rfc3339_utc`] prints a time
//! as RFC 3339 in UTC.

/// Milliseconds since the Unix epoch (0 if the clock reads before it).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `seconds` since the Unix epoch as RFC 3339 in UTC, `2031-01-01T00:00:00Z`: the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`). Exact for years 0 to 9999, all
/// RFC 3339 can write (X.509 times stay within them); other years print as they come, and
/// no `i64` overflows.
pub fn rfc3339_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Days since 0000-03-01, so the leap day ends each 4-, 100- and 400-year cycle.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_based_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_based_month + 2) / 5 + 1;
    let month = if march_based_month < 10 {
        march_based_month + 3
    } else {
        march_based_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn the_wall_clock_reads_after_2020() {
        assert!(super::wall_clock_ms() > 1_577_836_800_000);
    }

    #[test]
    fn rfc3339_prints_utc_dates_of_the_gregorian_calendar() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (-631_152_000, "1950-01-01T00:00:00Z"),
            (951_827_696, "2000-02-29T12:34:56Z"),
            (1_735_689_599, "2024-12-31T23:59:59Z"),
            (1_924_992_000, "2031-01-01T00:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339_utc(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn rfc3339_never_panics_on_extreme_seconds() {
        for seconds in [i64::MIN, i64::MIN + 1, i64::MAX, -62_167_219_201] {
            assert!(rfc3339_utc(seconds).ends_with('Z'));
        }
        assert_eq!(rfc3339_utc(-62_167_219_200), "0000-01-01T00:00:00Z");
    }
}
