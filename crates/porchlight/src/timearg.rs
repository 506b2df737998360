//! Time arguments on the command line: RFC 3339, `now`, or relative to now (`-5m`).

use base::clock::{Time90k, parse_90k};

/// Parses `s` against the current time `now_90k`.
pub fn parse(s: &str, now_90k: Time90k) -> Result<Time90k, String> {
    let rel = s.strip_prefix("now").unwrap_or(s);
    if rel.is_empty() {
        return Ok(now_90k);
    }
    if let Some(r) = rel.strip_prefix('-') {
        let (num, unit) = r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len()));
        let n: i64 = num.parse().map_err(|_| format!("expected a time like -5m, got {s:?}"))?;
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("expected a unit s, m, h or d in {s:?}")),
        };
        return n.checked_mul(secs * 90_000).map(|d| now_90k - d).ok_or_else(|| format!("{s:?} is too far back"));
    }
    parse_90k(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_000_000 * 90_000;
        assert_eq!(parse("now", now), Ok(now));
        assert_eq!(parse("-5m", now), Ok(now - 300 * 90_000));
        assert_eq!(parse("now-90s", now), Ok(now - 90 * 90_000));
        assert_eq!(parse("1970-01-12T13:46:40Z", now), Ok(now));
        assert!(parse("-5y", now).unwrap_err().contains("unit"));
        assert!(parse("tomorrow", now).is_err());
        assert!(parse("-99999999999999999d", now).is_err());
    }
}
