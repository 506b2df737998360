//! The signed statements a server relays (grants, rosters, rotations, settings, public keys,
//! live and talk requests, talk packets, sealed home points) and the agent's stored trust state and key files: every parser must
//! fail cleanly on bad input, and whatever parses must re-encode to the same bytes.
#![no_main]
use crypto::grant::Grant;
use crypto::keys::{Keyring, PublicKeys};
use crypto::trust::{Roster, Rotation, Trust};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Grant::parse(data) {
        assert_eq!(g.encode(), data);
    }
    if let Ok(r) = Roster::parse(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(r) = Rotation::parse(data) {
        assert_eq!(r.encode(), data);
    }
    if let Ok(p) = PublicKeys::parse(data) {
        assert_eq!(p.encode(), data);
    }
    if let Ok(s) = crypto::settings::Settings::parse(data) {
        assert_eq!(s.encode(), data);
    }
    if let Ok(q) = crypto::live::LiveRequest::parse(data) {
        assert_eq!(q.encode(), data);
    }
    if let Ok(q) = crypto::talk::TalkRequest::parse(data) {
        assert_eq!(q.encode(), data);
    }
    // A talk packet from the relay: refused unless sealed for the session, never a panic.
    assert!(talk_opener().lock().expect("lock").open(data).is_err());
    if let Ok(t) = Trust::parse(data) {
        assert_eq!(t.encode(), data);
    }
    if let Ok(k) = Keyring::parse(data) {
        assert_eq!(k.encode().as_slice(), data);
    }
    let _ = crypto::trust::base64url_decode(std::str::from_utf8(data).unwrap_or(""));
    // A sealed home point from the server: refused or opened, never a panic (and random
    // bytes never open).
    let key = home_key();
    assert!(crypto::home::open(&key.encryption, "h", data).is_err());
});

fn talk_opener() -> &'static std::sync::Mutex<crypto::talk::TalkOpener> {
    static OPENER: std::sync::OnceLock<std::sync::Mutex<crypto::talk::TalkOpener>> = std::sync::OnceLock::new();
    OPENER.get_or_init(|| {
        let agent = home_key();
        let (q, _) = crypto::talk::TalkRequest::create(agent, [0; 16], "door", &[agent.public().encryption], 0)
            .expect("a talk request");
        std::sync::Mutex::new(q.opener(agent).expect("sealed for the agent"))
    })
}

fn home_key() -> &'static Keyring {
    static KEY: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Keyring::generate("fuzz", 0).expect("a keyring"))
}
