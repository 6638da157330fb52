//! Heartbeat time values (`cl_get_msec` semantics from cluster-glue).
//!
//! A time is a decimal number (it may contain a `.`), optional whitespace and
//! an optional unit. Without a unit the number is in **seconds**; a unit
//! starting with `ms` (so `ms`, `msec`) means milliseconds, one starting with
//! `us` (`us`, `usec`) microseconds. The result is rounded to the nearest
//! millisecond (half rounds up). Any other unit (`s`, `sec`, `min`, ...) is
//! invalid. Like the original, only the first two letters of the unit are
//! compared, so `5msecs` is 5 ms.

use std::time::Duration;

/// Why a time value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The value does not start with a digit or `.`.
    #[error("time value [{0}] is not a number")]
    NotANumber(String),
    /// The unit is not `ms`/`msec`/`us`/`usec` (or absent).
    #[error("time value [{0}] has an unknown unit (use ms, msec, us, usec or none for seconds)")]
    BadUnit(String),
    /// The value does not fit in a millisecond count.
    #[error("time value [{0}] is too large")]
    Overflow(String),
}

const WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0c'];

/// Parses a heartbeat time value into whole milliseconds.
pub fn parse_msec(input: &str) -> Result<u64, TimeError> {
    let s = input.trim_start_matches(WHITESPACE);
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if num_len == 0 {
        return Err(TimeError::NotANumber(input.to_string()));
    }
    let (number, rest) = s.split_at(num_len);
    let units = rest.trim_start_matches(WHITESPACE);
    let lower2 = units.get(..2).map(str::to_ascii_lowercase);
    let (multiplier, divisor) = match lower2.as_deref() {
        Some("ms") => (1.0, 1.0),
        Some("us") => (1.0, 1000.0),
        _ if units.is_empty() || units.starts_with(['\n', '\r']) => (1000.0, 1.0),
        _ => return Err(TimeError::BadUnit(input.to_string())),
    };
    // Same arithmetic as the C code (double, +0.5, truncate) so that values
    // sitting exactly on a rounding boundary agree with the original.
    let ms = atof_prefix(number) * multiplier / divisor + 0.5;
    if !ms.is_finite() || ms >= 9.0e18 {
        return Err(TimeError::Overflow(input.to_string()));
    }
    Ok(ms as u64)
}

/// Parses a heartbeat time value (see the module documentation).
pub fn parse_time(input: &str) -> Result<Duration, TimeError> {
    parse_msec(input).map(Duration::from_millis)
}

/// Formats a duration the way heartbeat stores computed defaults (`"15000ms"`).
pub fn format_ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// `atof` over a string of digits and dots: the longest prefix of the form
/// `digits [. digits]` counts; `"."` alone or a second dot ends it.
fn atof_prefix(s: &str) -> f64 {
    let mut end = 0;
    let mut seen_dot = false;
    for (i, c) in s.char_indices() {
        match c {
            '0'..='9' => end = i + 1,
            '.' if !seen_dot => {
                seen_dot = true;
                end = i + 1;
            }
            _ => break,
        }
    }
    let prefix = &s[..end];
    if prefix.bytes().any(|b| b.is_ascii_digit()) {
        prefix.parse().unwrap_or(0.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u64 {
        match parse_msec(s) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn cluster_glue_documented_examples() {
        // The table from cl_get_msec's comment.
        assert_eq!(ms("1"), 1000);
        assert_eq!(ms("1000ms"), 1000);
        assert_eq!(ms("1000000us"), 1000);
        assert_eq!(ms("0.1"), 100);
        assert_eq!(ms("100ms"), 100);
        assert_eq!(ms("100000us"), 100);
        assert_eq!(ms("0.001"), 1);
        assert_eq!(ms("1ms"), 1);
        assert_eq!(ms("1000us"), 1);
        assert_eq!(ms("499us"), 0);
        assert_eq!(ms("501us"), 1);
        assert_eq!(ms("500us"), 1);
    }

    #[test]
    fn units_and_spacing() {
        assert_eq!(ms("2"), 2000);
        assert_eq!(ms("1.7"), 1700);
        assert_eq!(ms("1700ms"), 1700);
        assert_eq!(ms("1700 MS"), 1700);
        assert_eq!(ms("5msec"), 5);
        assert_eq!(ms("5usec"), 0);
        assert_eq!(ms("  30"), 30_000);
        assert_eq!(ms("30 "), 30_000);
        assert_eq!(ms(".5"), 500);
        assert_eq!(ms("1."), 1000);
        assert_eq!(ms("."), 0);
        assert_eq!(ms("1.5.7"), 1500);
        assert_eq!(ms("0.0005"), 1);
        assert_eq!(parse_time("8").ok(), Some(Duration::from_secs(8)));
    }

    #[test]
    fn rejects_other_units_and_non_numbers() {
        for bad in [
            "10s", "10sec", "1min", "ms", "", "  ", "-5", "+5", "abc", "1e3", "10 m",
        ] {
            assert!(parse_msec(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(parse_msec("10s"), Err(TimeError::BadUnit(_))));
        assert!(matches!(parse_msec("x"), Err(TimeError::NotANumber(_))));
    }

    #[test]
    fn huge_values_are_errors_not_panics() {
        let big = "9".repeat(400);
        assert!(matches!(parse_msec(&big), Err(TimeError::Overflow(_))));
    }

    #[test]
    fn format_matches_heartbeat_default_strings() {
        assert_eq!(format_ms(Duration::from_millis(15000)), "15000ms");
    }
}
