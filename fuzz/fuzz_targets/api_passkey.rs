//! An authenticator's answer is untrusted JSON: reading it and checking it against a
//! registration or sign-in challenge never panics, and nothing the fuzzer writes verifies
//! (that would take an ES256 signature over a fresh random challenge, by a key it lacks).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential};

const ORIGIN: &str = "http://localhost:8600";

/// The relying party and one passkey registered with a software authenticator.
static RP: LazyLock<(Webauthn, Passkey)> = LazyLock::new(|| {
    let origin = url::Url::parse(ORIGIN).unwrap();
    let rp = api::webauthn::relying_party(&origin).unwrap();
    let (options, state) =
        rp.start_passkey_registration(api::webauthn::user_handle("fuzz"), "fuzz", "fuzz", None).unwrap();
    let answer = SoftPasskey::new(true).do_registration(origin, options).unwrap();
    let passkey = api::webauthn::finish_registration(&rp, &state, &answer).unwrap();
    (rp, passkey)
});

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let (rp, passkey) = &*RP;
    if let Ok(c) = api::webauthn::parse::<PublicKeyCredential>(v.clone()) {
        let (_, state) = rp.start_passkey_authentication(std::slice::from_ref(passkey)).unwrap();
        assert!(api::webauthn::finish_login(rp, &state, &c).is_err(), "a forged assertion verified");
    }
    if let Ok(c) = api::webauthn::parse::<RegisterPublicKeyCredential>(v) {
        let (_, state) =
            rp.start_passkey_registration(api::webauthn::user_handle("fuzz"), "fuzz", "fuzz", None).unwrap();
        assert!(api::webauthn::finish_registration(rp, &state, &c).is_err(), "a forged registration verified");
    }
});
