//! The JSON the API speaks is the `wire` crate's; this module adds what only the server
//! needs: the checks of untrusted text and ids, and conversions from database rows.

use base::Error;

pub use wire::*;

/// Checks a 32-hex-digit id.
pub fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        bail!(InvalidArgument, "{field}: expected 32 lower-case hex digits, got {id:?}");
    }
    Ok(())
}

pub fn check_text(field: &str, s: &str, min: usize, max: usize) -> Result<(), Error> {
    let n = s.chars().count();
    if n < min || n > max {
        bail!(InvalidArgument, "{field}: expected {min} to {max} characters, got {n}");
    }
    check_chars(field, s)
}

/// Like [`check_text`] for names whose limit is in bytes of UTF-8 (a camera's name, which
/// the sealed object format bounds in bytes).
pub fn check_text_bytes(field: &str, s: &str, min: usize, max: usize) -> Result<(), Error> {
    if s.len() < min || s.len() > max {
        bail!(InvalidArgument, "{field}: expected {min} to {max} bytes of UTF-8, got {}", s.len());
    }
    check_chars(field, s)
}

/// No control characters, and none of Unicode's bidirectional controls, which can make a
/// name read differently from what it is (a right-to-left override turning "gpj.exe" into
/// "exe.jpg").
pub fn check_chars(field: &str, s: &str) -> Result<(), Error> {
    if s.chars().any(char::is_control) {
        bail!(InvalidArgument, "{field}: control characters are not allowed");
    }
    if s.chars().any(is_bidi_control) {
        bail!(InvalidArgument, "{field}: bidirectional control characters (which can disguise text) are not allowed");
    }
    Ok(())
}

pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn limit(l: Option<i64>) -> Result<i64, Error> {
    match l {
        None => Ok(200),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => bail!(InvalidArgument, "limit: expected 1 to 1000, got {n}"),
    }
}

/// An event row as the API shows it.
pub fn event_json(e: db::server::Event) -> EventJson {
    EventJson {
        id: e.id,
        camera: e.camera,
        device_id: e.device_id,
        start_ms: e.start_ms,
        end_ms: e.end_ms,
        meta_object: e.meta_object,
        snapshot_object: e.snapshot_object,
        clip_object: e.clip_object,
        size_bytes: e.size_bytes,
        in_progress: e.in_progress,
    }
}
