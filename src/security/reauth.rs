//! KIP-368 re-authentication arithmetic, as Kafka's `SaslServerAuthenticator` and
//! `KafkaChannel` do it: how long an authenticated SASL session lives (bounded by
//! `connections.max.reauth.ms` and by the credential's own expiry, such as an OAUTHBEARER
//! token's `exp`) and Kafka's limit of one re-authentication a second per connection.
//!
//! Pure functions of times in milliseconds; the connection layer reads the clocks, tells the
//! client the lifetime in SaslAuthenticate (v1+) and closes a session that outlived it.

/// Kafka's `MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS`: a SaslHandshake sooner than this after the
/// previous re-authentication began is not a re-authentication (it is answered
/// ILLEGAL_SASL_STATE, as outside any exchange).
pub const MIN_REAUTH_INTERVAL_MS: u64 = 1_000;

/// The lifetime of a session authenticated at `now_ms` (milliseconds since the epoch), as
/// Kafka's `calcCompletionTimesAndReturnSessionLifetimeMs` computes it:
///
/// - `None` when nothing bounds it: `connections.max.reauth.ms` is 0 (off) and the credential
///   does not expire. The client is told 0 and the session never expires.
/// - otherwise the milliseconds until the session expires: `max_reauth_ms` (when > 0), the
///   time left until `credential_expiry_ms` (when the credential has one), the smaller of the
///   two; never negative.
pub fn session_lifetime_ms(
    max_reauth_ms: i64,
    credential_expiry_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let max_reauth = (max_reauth_ms > 0).then_some(max_reauth_ms);
    let credential_left = credential_expiry_ms.map(|exp| exp.saturating_sub(now_ms));
    let lifetime = match (max_reauth, credential_left) {
        (None, None) => return None,
        (Some(m), None) => m,
        (None, Some(c)) => c,
        (Some(m), Some(c)) => m.min(c),
    };
    Some(lifetime.max(0))
}

/// Whether a SaslHandshake `since_last_start_ms` after the previous re-authentication began
/// (`None`: none began yet) may start another one.
pub fn may_begin_reauthentication(since_last_start_ms: Option<u64>) -> bool {
    since_last_start_ms.is_none_or(|ms| ms >= MIN_REAUTH_INTERVAL_MS)
}

/// Kafka's `KafkaPrincipal` as its re-authentication errors print it: `User.alice` for
/// `User:alice`.
pub fn principal_for_message(principal: &str) -> String {
    principal.replacen(':', ".", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn no_bound_means_no_expiry_and_zero_for_the_client() {
        assert_eq!(session_lifetime_ms(0, None, NOW), None);
        // Negative is treated as off too (the config's range refuses it anyway).
        assert_eq!(session_lifetime_ms(-5, None, NOW), None);
    }

    #[test]
    fn max_reauth_alone_is_the_lifetime() {
        assert_eq!(session_lifetime_ms(3_000, None, NOW), Some(3_000));
    }

    #[test]
    fn credential_expiry_alone_bounds_the_session_even_with_reauth_off() {
        // Kafka: an OAUTHBEARER token's exp bounds the session even when
        // connections.max.reauth.ms is 0.
        assert_eq!(
            session_lifetime_ms(0, Some(NOW + 60_000), NOW),
            Some(60_000)
        );
    }

    #[test]
    fn the_smaller_bound_wins() {
        assert_eq!(
            session_lifetime_ms(3_000, Some(NOW + 60_000), NOW),
            Some(3_000)
        );
        assert_eq!(
            session_lifetime_ms(600_000, Some(NOW + 60_000), NOW),
            Some(60_000)
        );
    }

    #[test]
    fn an_expired_credential_gives_zero_never_negative() {
        assert_eq!(session_lifetime_ms(3_000, Some(NOW - 10), NOW), Some(0));
        assert_eq!(session_lifetime_ms(0, Some(i64::MIN), NOW), Some(0));
        assert_eq!(
            session_lifetime_ms(0, Some(i64::MAX), i64::MIN),
            Some(i64::MAX)
        );
    }

    #[test]
    fn at_most_one_reauthentication_a_second() {
        assert!(may_begin_reauthentication(None));
        assert!(!may_begin_reauthentication(Some(0)));
        assert!(!may_begin_reauthentication(Some(999)));
        assert!(may_begin_reauthentication(Some(1_000)));
    }

    #[test]
    fn principals_print_as_kafka_prints_them() {
        assert_eq!(principal_for_message("User:alice"), "User.alice");
        assert_eq!(principal_for_message("User:CN=a:b"), "User.CN=a:b");
    }
}
