//! Durations on the command line, RFC 3339 timestamps and kubectl-style ages — by hand,
//! without a date library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `--wait-timeout` value that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: expected seconds or a duration like 90s, 10m, 1h30m, 500ms")]
pub struct InvalidDuration {
    /// What was given.
    pub input: String,
}

/// Parses a bare number of seconds (`45`) or a Go duration (`90s`, `10m`, `1h30m`,
/// `500ms`, `1.5h`; see [`knserve_core::duration::parse_duration`]).
pub fn parse_duration(input: &str) -> Result<Duration, InvalidDuration> {
    let text = input.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    knserve_core::duration::parse_duration(text).map_err(|_| InvalidDuration {
        input: input.to_owned(),
    })
}

/// The wall clock in seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub use knserve_core::time::parse_rfc3339;

/// A duration as kubectl and kn print ages (`45s`, `3m20s`, `5h`, `2d3h`, `400d`, `3y2d`).
///
/// Same thresholds as Kubernetes' `duration.HumanDuration`; a negative duration (clock
/// skew) prints as `0s`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        }
    } else if minutes < 3 * 60 {
        format!("{minutes}m")
    } else if hours < 8 {
        match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        }
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        match days % 365 {
            0 => format!("{}y", days / 365),
            d => format!("{}y{d}d", days / 365),
        }
    } else {
        format!("{}y", days / 365)
    }
}

/// The age of an object created at `timestamp` (RFC 3339), seen at `now` (Unix seconds);
/// `<unknown>` when the timestamp is missing or malformed, as kn prints it.
pub fn age(timestamp: Option<&str>, now: i64) -> String {
    match timestamp.and_then(parse_rfc3339) {
        Some(created) => human_duration(now - created),
        None => "<unknown>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_units_and_compounds() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("45"),
            Ok(Duration::from_secs(45)),
            "a bare number is seconds"
        );
    }

    #[test]
    fn durations_reject_unknown_units_and_garbage() {
        for bad in ["", "10x", "m", "-3s", "10 m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} is not a duration");
        }
    }

    #[test]
    fn timestamps_parse_with_zulu_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-03-01T00:00:00Z"), Some(1_709_251_200));
        assert_eq!(
            parse_rfc3339("2024-03-01T02:00:00.123456+02:00"),
            Some(1_709_251_200),
            "an offset east of UTC is subtracted"
        );
        assert_eq!(parse_rfc3339("2000-02-29T12:30:05Z"), Some(951_827_405));
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for bad in [
            "",
            "2024-03-01",
            "2024-13-01T00:00:00Z",
            "2024-03-01T00:00:00",
            "2024-03-01T00:00:00+0200",
            "20x4-03-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?} is not RFC 3339");
        }
    }

    #[test]
    fn ages_follow_kubectl_thresholds() {
        let cases = [
            (-5, "0s"),
            (45, "45s"),
            (119, "119s"),
            (200, "3m20s"),
            (300, "5m"),
            (3000, "50m"),
            (4 * 3600 + 120, "4h2m"),
            (20 * 3600, "20h"),
            (3 * 86_400 + 5 * 3600, "3d5h"),
            (400 * 86_400, "400d"),
            (3 * 365 * 86_400 + 2 * 86_400, "3y2d"),
            (10 * 365 * 86_400, "10y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "age of {seconds}s");
        }
    }

    #[test]
    fn age_of_a_missing_timestamp_is_unknown() {
        assert_eq!(age(None, 100), "<unknown>");
        assert_eq!(age(Some("yesterday"), 100), "<unknown>");
        assert_eq!(age(Some("1970-01-01T00:00:10Z"), 100), "90s");
    }
}
