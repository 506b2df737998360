//! The server's parsing of untrusted credentials and codes: bearer tokens, cookies, TOTP
//! codes, hex and base32 fields, forwarded client addresses, sealed TOTP secrets and key
//! files. None may panic; what parses must round-trip.
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
        // A trusted proxy's forwarded address is the peer or one the header names.
        let peer: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let proxies = [api::state::Cidr::parse("127.0.0.0/8").unwrap()];
        for name in ["forwarded", "x-forwarded-for"] {
            let mut h = axum::http::HeaderMap::new();
            h.insert(name, axum::http::HeaderValue::from_bytes(data).unwrap());
            let got = api::auth::forwarded_client(peer, &proxies, &h);
            assert!(got == peer || !proxies[0].contains(got), "{got} is a trusted proxy's address");
        }
    }
    let _ = api::state::Cidr::parse(s);
    let keys = api::totp_keys::TotpKeys::parse(data);
    let k = api::totp_keys::TotpKeys::generate();
    let _ = k.open("account", data);
    if let Ok(keys) = keys {
        assert_eq!(api::totp_keys::TotpKeys::parse(&keys.encode()).unwrap().ids(), keys.ids());
    }
});
