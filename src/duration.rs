//! Durations as users write them: `300ms`, `30s`, `5m`, `2h`, `1d`, `1h30m`.

use std::time::Duration;

/// Parses a human duration. A bare number is rejected: the unit must be explicit.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration (expected e.g. 30s, 5m, 2h)".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("duration {t:?} needs a unit (e.g. {t}s or {t}m)"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration {t:?}: {e} (expected e.g. 30s, 5m, 2h)"))
}

/// Formats a duration compactly (`1m30s`, `250ms`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse("10").unwrap_err().contains("needs a unit"));
        assert!(parse("soon").is_err());
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
    }
}
