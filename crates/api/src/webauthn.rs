//! WebAuthn for passkeys, verified by webauthn-rs: the relying party for the server's
//! `public_url`, the in-memory ceremonies between a start and a finish request, and the
//! two checks of an authenticator's answer (untrusted JSON in, a verified credential or an
//! error naming `credential` out). The HTTP side is `routes::passkeys`.

use std::collections::HashMap;
use std::sync::Mutex;

use base::{Error, err};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// A WebAuthn ceremony between its start and finish requests, kept in memory for the
/// session that started it. One per session: a new start replaces the previous one, and a
/// finish takes it, so each challenge is answered at most once.
pub enum Ceremony {
    Register { state: PasskeyRegistration, name: String },
    Login(PasskeyAuthentication),
}

/// The ceremonies in flight, keyed by session, each dropped after `CEREMONY_MS`. The table
/// is bounded: when it is full of live ceremonies, new ones are refused (starting one needs
/// a session, and sign-in attempts are rate-limited per address). Generic only so that the
/// tests can put plain values in it.
pub struct Ceremonies<T = Ceremony> {
    map: Mutex<HashMap<String, (i64, T)>>,
}

impl<T> Default for Ceremonies<T> {
    fn default() -> Self {
        Ceremonies { map: Mutex::new(HashMap::new()) }
    }
}

/// As long as webauthn-rs tells the browser to wait (its default timeout, 5 minutes).
pub const CEREMONY_MS: i64 = 300_000;
const CEREMONIES_MAX: usize = 10_000;

impl<T> Ceremonies<T> {
    pub fn put(&self, session: &str, now_ms: i64, c: T) -> Result<(), Error> {
        let mut m = self.map.lock().expect("ceremonies");
        if m.len() >= CEREMONIES_MAX && !m.contains_key(session) {
            m.retain(|_, (expires, _)| *expires > now_ms);
            if m.len() >= CEREMONIES_MAX {
                bail!(ResourceExhausted, "passkey: too many ceremonies in progress; try again in a minute");
            }
        }
        m.insert(session.to_owned(), (now_ms + CEREMONY_MS, c));
        Ok(())
    }

    /// Removes and returns the session's ceremony if it has not expired.
    pub fn take(&self, session: &str, now_ms: i64) -> Option<T> {
        let (expires, c) = self.map.lock().expect("ceremonies").remove(session)?;
        (expires > now_ms).then_some(c)
    }
}

/// The relying party for `public_url`; an error names what is wrong with the URL.
pub fn relying_party(public_url: &url::Url) -> Result<Webauthn, Error> {
    let Some(host) = public_url.domain() else {
        bail!(
            InvalidArgument,
            "public_url: expected a host name (passkeys cannot be bound to an IP address), got {public_url}"
        );
    };
    if !matches!(public_url.scheme(), "https" | "http") || public_url.path() != "/" {
        bail!(InvalidArgument, "public_url: expected https://HOST[:PORT] with no path, got {public_url}");
    }
    WebauthnBuilder::new(host, public_url)
        .and_then(|b| b.rp_name("Porchlight").build())
        .map_err(|e| err!(InvalidArgument, "public_url: {public_url} cannot be a WebAuthn origin: {e}"))
}

/// The WebAuthn user handle: derived from the account id, so that it is stable and says
/// nothing about the email address.
pub fn user_handle(account_id: &str) -> Uuid {
    let d = Sha256::digest(format!("porchlight user handle {account_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    Uuid::from_bytes(b)
}

/// Reads an authenticator's answer (`RegisterPublicKeyCredential` or `PublicKeyCredential`)
/// from untrusted JSON; an error names `credential`.
pub fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        err!(InvalidArgument, "credential: expected a WebAuthn PublicKeyCredential with base64url fields: {e}")
    })
}

/// Checks an answer to a registration challenge: the origin, the challenge, the flags
/// (user verification required) and the attestation's self-signature.
pub fn finish_registration(
    rp: &Webauthn,
    state: &PasskeyRegistration,
    credential: &RegisterPublicKeyCredential,
) -> Result<Passkey, Error> {
    rp.finish_passkey_registration(credential, state).map_err(|e| {
        err!(InvalidArgument, "credential: the authenticator's answer does not verify against the challenge: {e}")
    })
}

/// Checks an answer to a sign-in challenge against the passkeys the challenge offered: the
/// origin, the challenge, the flags, the signature and the counter.
pub fn finish_login(
    rp: &Webauthn,
    state: &PasskeyAuthentication,
    credential: &PublicKeyCredential,
) -> Result<AuthenticationResult, Error> {
    rp.finish_passkey_authentication(credential, state)
        .map_err(|e| err!(Unauthenticated, "credential: the passkey's answer does not verify: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a model: a ceremony is taken at most once, only by its own session, only
        /// before it expires, and a new start replaces the session's previous one.
        #[test]
        fn ceremonies_are_single_use_per_session_and_expire(
            ops in proptest::collection::vec((0u8..4, any::<bool>(), 0i64..200_000), 1..200)
        ) {
            let c = Ceremonies::<u32>::default();
            let mut model: HashMap<u8, (i64, u32)> = HashMap::new();
            let mut now = 0i64;
            for (i, (session, put, step)) in ops.into_iter().enumerate() {
                now += step;
                let key = format!("s{session}");
                if put {
                    c.put(&key, now, i as u32).unwrap();
                    model.insert(session, (now + CEREMONY_MS, i as u32));
                } else {
                    let want = model.remove(&session).filter(|(exp, _)| *exp > now).map(|(_, v)| v);
                    prop_assert_eq!(c.take(&key, now), want);
                    prop_assert_eq!(c.take(&key, now), None);
                }
            }
        }
    }

    #[test]
    fn a_full_table_refuses_new_sessions_until_ceremonies_expire() {
        let c = Ceremonies::<()>::default();
        for i in 0..CEREMONIES_MAX {
            c.put(&format!("s{i}"), 0, ()).unwrap();
        }
        let e = c.put("new", 1, ()).unwrap_err();
        assert_eq!(e.kind(), base::ErrorKind::ResourceExhausted);
        c.put("s1", 1, ()).expect("a session already in the table may restart its ceremony");
        c.put("new", CEREMONY_MS + 1, ()).expect("expired ceremonies make room");
        assert!(c.take("s2", CEREMONY_MS + 1).is_none(), "s2 expired");
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle("a"), user_handle("a"));
        assert_ne!(user_handle("a"), user_handle("b"));
    }
}
