//! Injectable clocks.
//!
//! Recording needs two notions of time: a monotonic clock that paces work and measures
//! intervals, and the wall clock that labels footage. They are separate because the wall
//! clock jumps (NTP steps, a user fixing the time zone, a Raspberry Pi booting in 1970)
//! while footage must stay in order. [`SimulatedClocks`] lets tests move either.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 90 kHz units per second: the RTP video clock and the unit of every `_90k` name.
pub const TIME_UNITS_PER_SEC: i64 = 90_000;

/// Wall-clock time as 90 kHz units since the Unix epoch.
pub type Time90k = i64;

pub trait Clocks: Send + Sync + 'static {
    /// The wall clock, in 90 kHz units since 1970-01-01T00:00:00Z.
    fn realtime_90k(&self) -> Time90k;
    /// A clock that never goes backwards.
    fn monotonic(&self) -> Instant;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RealClocks;

impl Clocks for RealClocks {
    fn realtime_90k(&self) -> Time90k {
        system_time_to_90k(SystemTime::now())
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

pub fn system_time_to_90k(t: SystemTime) -> Time90k {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => duration_to_90k(d),
        Err(e) => -duration_to_90k(e.duration()),
    }
}

pub fn duration_to_90k(d: Duration) -> i64 {
    (d.as_secs() as i64) * TIME_UNITS_PER_SEC + i64::from(d.subsec_nanos()) * 9 / 100_000
}

/// Clocks whose wall time tests can step; monotonic time follows the real clock so that
/// timers still fire.
#[derive(Clone)]
pub struct SimulatedClocks {
    offset_90k: Arc<Mutex<i64>>,
}

impl SimulatedClocks {
    pub fn new() -> Self {
        SimulatedClocks { offset_90k: Arc::new(Mutex::new(0)) }
    }

    /// Steps the wall clock by `delta_90k` (negative steps it backwards).
    pub fn jump_wall(&self, delta_90k: i64) {
        *self.offset_90k.lock().expect("clock mutex") += delta_90k;
    }
}

impl Default for SimulatedClocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Clocks for SimulatedClocks {
    fn realtime_90k(&self) -> Time90k {
        RealClocks.realtime_90k() + *self.offset_90k.lock().expect("clock mutex")
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// Formats a wall time as RFC 3339 UTC with milliseconds, e.g. `2026-11-22T18:51:15.123Z`.
pub fn format_90k(t: Time90k) -> String {
    let ms_total = t.div_euclid(90);
    let secs = ms_total.div_euclid(1000);
    let ms = ms_total.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", sod / 3600, (sod / 60) % 60, sod % 60)
}

/// Parses RFC 3339 (`2026-11-22T18:51:15Z`, optional fraction, `Z` or `±hh:mm`) into 90 kHz
/// units since the epoch.
pub fn parse_90k(s: &str) -> Result<Time90k, String> {
    let bad = || format!("expected an RFC 3339 time like 2026-11-22T18:51:15Z, got {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        s.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit())).and_then(|p| p.parse().ok()).ok_or_else(bad)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac_90k = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let digits = &s[start..i.min(start + 9)];
        let ns: i64 = format!("{digits:0<9}").parse().map_err(|_| bad())?;
        frac_90k = ns * 9 / 100_000;
    }
    let offset_s = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if rest.as_bytes()[3] != b':' {
                return Err(bad());
            }
            let v = oh * 3600 + om * 60;
            if rest.starts_with('-') { -v } else { v }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Ok(secs * TIME_UNITS_PER_SEC + frac_90k)
}

// Howard Hinnant's civil-date algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for s in ["1970-01-01T00:00:00.000Z", "2026-11-22T18:51:15.123Z", "2000-02-29T23:59:59.999Z"] {
            assert_eq!(format_90k(parse_90k(s).unwrap()), s);
        }
        assert_eq!(parse_90k("2026-11-22T19:51:15+01:00").unwrap(), parse_90k("2026-11-22T18:51:15Z").unwrap());
    }

    #[test]
    fn rfc3339_rejects_garbage() {
        for s in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-22T18:51:15", "2026-11-22T18:51:15.Z"] {
            assert!(parse_90k(s).is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn simulated_wall_clock_jumps() {
        let c = SimulatedClocks::new();
        let before = c.realtime_90k();
        c.jump_wall(-3600 * TIME_UNITS_PER_SEC);
        assert!(c.realtime_90k() < before - 3599 * TIME_UNITS_PER_SEC);
    }
}
