//! The server's parsing of untrusted credentials and codes: bearer tokens, cookies, TOTP
//! codes, hex and base32 fields. None may panic; what parses must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Some((id, secret)) = api::auth::parse_token(s) {
        assert_eq!(api::auth::format_token(id, secret), s);
    }
    if let Ok(b) = api::secrets::hex_decode("f", s, 64) {
        assert_eq!(crypto::keys::hex(&b), s.to_ascii_lowercase());
    }
    let _ = api::secrets::base32_rfc4648_decode(s);
    let _ = api::secrets::totp_match(b"12345678901234567890", s, 1_700_000_000_000);
    if let Ok(v) = axum::http::HeaderValue::from_bytes(data) {
        let mut h = axum::http::HeaderMap::new();
        h.insert(axum::http::header::COOKIE, v);
        let _ = api::auth::cookie(&h, "pl_session");
    }
});
