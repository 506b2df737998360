//! Web Push to a closed app: the message encryption of RFC 8291 (the `aes128gcm` content
//! coding of RFC 8188 under a key agreed with the browser's subscription) and the server's
//! identification to push services by VAPID (RFC 8292).
//!
//! What is pushed is only what the server already knows: the household, the event's id,
//! camera, start and whether it is still going on. The app's service worker fetches the
//! sealed event with it and opens it with the keys the browser holds; the push service
//! (a browser vendor's) sees neither the label nor the picture, and, thanks to the
//! encryption here, not even the ids.

use base::{Error, err};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hkdf::Hkdf;
use sha2::Sha256;

/// The record size announced in the header (RFC 8188): one record holds any payload the
/// server sends (a few hundred bytes).
const RECORD_SIZE: u32 = 4096;
/// The largest payload: push services accept 4096 bytes of body.
pub const PAYLOAD_MAX: usize = 3000;

/// A browser's subscription keys: its P-256 public key (`p256dh`, 65 bytes uncompressed)
/// and its authentication secret (`auth`, 16 bytes), as the Push API hands them out
/// (base64url).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionKeys {
    pub p256dh: [u8; 65],
    pub auth: [u8; 16],
}

impl SubscriptionKeys {
    /// Parses the keys a browser sent (untrusted): each named in its error.
    pub fn parse(p256dh: &str, auth: &str) -> Result<SubscriptionKeys, Error> {
        let key = B64
            .decode(p256dh.trim_end_matches('='))
            .map_err(|_| err!(InvalidArgument, "p256dh: expected base64url"))?;
        let key: [u8; 65] = key
            .try_into()
            .map_err(|_| err!(InvalidArgument, "p256dh: expected an uncompressed P-256 point (65 bytes)"))?;
        if p256::PublicKey::from_sec1_bytes(&key).is_err() {
            bail!(InvalidArgument, "p256dh: not a point on P-256");
        }
        let auth =
            B64.decode(auth.trim_end_matches('=')).map_err(|_| err!(InvalidArgument, "auth: expected base64url"))?;
        let auth: [u8; 16] = auth.try_into().map_err(|_| err!(InvalidArgument, "auth: expected 16 bytes"))?;
        Ok(SubscriptionKeys { p256dh: key, auth })
    }
}

/// A P-256 key pair: the server's VAPID key, or the one-time key of a message.
pub struct KeyPair {
    secret: p256::SecretKey,
}

/// Shows the public key only.
impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({})", self.public_b64())
    }
}

impl KeyPair {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> KeyPair {
        loop {
            let mut b = [0u8; 32];
            crypto::random_bytes(&mut b);
            if let Ok(k) = KeyPair::from_bytes(&b) {
                return k;
            }
        }
    }

    /// The key whose private scalar is `b` (big-endian).
    pub fn from_bytes(b: &[u8; 32]) -> Result<KeyPair, Error> {
        let secret = p256::SecretKey::from_slice(b).map_err(|_| err!(InvalidArgument, "not a P-256 private key"))?;
        Ok(KeyPair { secret })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes().into()
    }

    /// The public key, uncompressed (65 bytes).
    pub fn public(&self) -> [u8; 65] {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let p = self.secret.public_key().to_sec1_point(false);
        p.as_bytes().try_into().expect("an uncompressed P-256 point is 65 bytes")
    }

    /// The public key as base64url: the application server key a browser subscribes with,
    /// and the `k` of the VAPID header.
    pub fn public_b64(&self) -> String {
        B64.encode(self.public())
    }

    fn agree(&self, peer: &[u8; 65]) -> Result<[u8; 32], Error> {
        let peer = p256::PublicKey::from_sec1_bytes(peer)
            .map_err(|_| err!(InvalidArgument, "p256dh: not a point on P-256"))?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        Ok((*shared.raw_secret_bytes()).into())
    }

    /// An ES256 JWT (RFC 7515, 7518) over `claims`.
    fn jwt(&self, claims: &serde_json::Value) -> String {
        use p256::ecdsa::signature::Signer;
        let head = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let body = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing = format!("{head}.{body}");
        let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(&self.secret).sign(signing.as_bytes());
        format!("{signing}.{}", B64.encode(sig.to_bytes()))
    }

    /// The `Authorization` header value for a push to `endpoint` (RFC 8292): a JWT for the
    /// endpoint's origin, valid for `valid_s` from `now_s`, naming `subject` (a `mailto:`
    /// or `https:` contact for the push service).
    pub fn vapid(&self, endpoint: &url::Url, subject: &str, now_s: i64, valid_s: i64) -> String {
        let aud = endpoint.origin().ascii_serialization();
        let t = self.jwt(&serde_json::json!({"aud": aud, "exp": now_s + valid_s, "sub": subject}));
        format!("vapid t={t}, k={}", self.public_b64())
    }
}

/// Queues a push of event `e` for every browser subscribed to the household whose account
/// may see it now (a member whose role views footage, a guest before their access ends,
/// inside their footage window) and whose cameras include the event's.
pub async fn alert(st: &crate::state::AppState, household_id: &str, e: &wire::EventJson) -> Result<u64, Error> {
    let subs = st.db.push_subscriptions(household_id, None).await?;
    if subs.is_empty() {
        return Ok(0);
    }
    let msg = wire::PushMessage {
        household_id: household_id.to_owned(),
        event_id: e.id.clone(),
        camera: e.camera.clone(),
        start_ms: e.start_ms,
        in_progress: e.in_progress,
        meta_object: e.meta_object.clone(),
        snapshot_object: e.snapshot_object.clone(),
    };
    let body = serde_json::to_vec(&msg).expect("a push message serializes");
    let mut queued = 0;
    // Whether each account may see the event, read once however many browsers it has.
    let mut may_see = std::collections::HashMap::new();
    for s in subs {
        if !s.cameras.is_empty() && !s.cameras.contains(&e.camera) {
            continue;
        }
        let allowed = match may_see.get(&s.account_id) {
            Some(&a) => a,
            None => {
                let a = st.db.member(household_id, &s.account_id).await?.is_some_and(|m| {
                    !crate::auth::guest_expired(&m, st.now_ms())
                        && crate::auth::allows(m.role, wire::Permission::View)
                        && crate::auth::in_window(&m, e.start_ms)
                });
                may_see.insert(s.account_id.clone(), a);
                a
            }
        };
        if !allowed {
            continue;
        }
        let Ok(keys) = SubscriptionKeys::parse(&s.p256dh, &s.auth) else { continue };
        let target = crate::webhook::Target::Push { subscription_id: s.id, keys };
        if st.pushes.enqueue(st, crate::webhook::Delivery { url: s.endpoint, body: body.clone(), target }) {
            queued += 1;
        }
    }
    Ok(queued)
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out).expect("HKDF output of at most 32 bytes");
}

/// The content-encryption key and nonce of a message (RFC 8291 §3.3, 3.4; RFC 8188 §2.2,
/// 2.3): from the ECDH secret between the browser's key and the message's sender key, the
/// browser's authentication secret, both public keys and the message's salt.
fn record_key(to: &SubscriptionKeys, ecdh: &[u8; 32], as_public: &[u8; 65], salt: &[u8; 16]) -> ([u8; 16], [u8; 12]) {
    let mut key_info = Vec::with_capacity(14 + 130);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&to.p256dh);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    hkdf(&to.auth, ecdh, &key_info, &mut ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", &mut cek);
    hkdf(salt, &ikm, b"Content-Encoding: nonce\0", &mut nonce);
    (cek, nonce)
}

/// Encrypts `payload` for a subscription (RFC 8291 §3, RFC 8188): `sender` is a key pair
/// used for this message only and `salt` 16 random bytes, both fresh per message
/// ([`encrypt`] makes them). Returns the request body: the header (salt, record size, the
/// sender's public key) and one record.
pub fn encrypt_with(
    to: &SubscriptionKeys,
    payload: &[u8],
    sender: &KeyPair,
    salt: &[u8; 16],
) -> Result<Vec<u8>, Error> {
    use aes_gcm::aead::{Aead, KeyInit};
    if payload.len() > PAYLOAD_MAX {
        bail!(InvalidArgument, "push payload: {} bytes, at most {PAYLOAD_MAX}", payload.len());
    }
    let as_public = sender.public();
    let (cek, nonce) = record_key(to, &sender.agree(&to.p256dh)?, &as_public, salt);
    // One record, the last: the payload and its delimiter (2), no padding.
    let mut record = Vec::with_capacity(payload.len() + 1);
    record.extend_from_slice(payload);
    record.push(2);
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).expect("a 16-byte key");
    let sealed = cipher
        .encrypt(&nonce.into(), record.as_slice())
        .map_err(|_| err!(Internal, "push payload: encryption failed"))?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Encrypts `payload` for a subscription with a fresh key pair and salt.
pub fn encrypt(to: &SubscriptionKeys, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut salt = [0u8; 16];
    crypto::random_bytes(&mut salt);
    encrypt_with(to, payload, &KeyPair::generate(), &salt)
}

/// The browser's side (RFC 8291 §3, 8188): what a user agent holding `ua` and `to.auth`
/// reads from `body`. The server never needs it; tests use it to check what was sent, as
/// a push service's browser would.
pub fn decrypt(ua: &KeyPair, to: &SubscriptionKeys, body: &[u8]) -> Result<Vec<u8>, Error> {
    use aes_gcm::aead::{Aead, KeyInit};
    if body.len() < 21 {
        bail!(InvalidArgument, "push body: shorter than its header");
    }
    let salt: [u8; 16] = body[..16].try_into().expect("16 bytes");
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen + 17 {
        bail!(InvalidArgument, "push body: the key id is not a P-256 public key, or there is no record");
    }
    let as_public: [u8; 65] = body[21..86].try_into().expect("65 bytes");
    let (cek, nonce) = record_key(to, &ua.agree(&as_public)?, &as_public, &salt);
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&cek).expect("a 16-byte key");
    let mut plain = cipher
        .decrypt(&nonce.into(), &body[86..])
        .map_err(|_| err!(InvalidArgument, "push body: the record does not open"))?;
    // Strip the padding and the last record's delimiter.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(2) {
        bail!(InvalidArgument, "push body: not a single last record");
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 §5, byte for byte.
    #[test]
    fn the_rfc_8291_example() {
        let to = SubscriptionKeys::parse(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "BTBZMqHH6r4Tts7J_aSIgg",
        )
        .unwrap();
        let sender =
            KeyPair::from_bytes(&b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw").try_into().unwrap()).unwrap();
        assert_eq!(
            sender.public_b64(),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        let salt: [u8; 16] = b("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(&to, b"When I grow up, I want to be a watermelon", &sender, &salt).unwrap();
        assert_eq!(
            B64.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        // And the browser's side opens it.
        let ua = KeyPair::from_bytes(&b("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94").try_into().unwrap()).unwrap();
        assert_eq!(decrypt(&ua, &to, &body).unwrap(), b"When I grow up, I want to be a watermelon");
    }

    #[test]
    fn bad_subscription_keys_name_their_field() {
        let good_key = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        for (k, a, field) in [
            ("!!", "BTBZMqHH6r4Tts7J_aSIgg", "p256dh:"),
            ("BCVx", "BTBZMqHH6r4Tts7J_aSIgg", "p256dh:"),
            (&B64.encode([4u8; 65]) as &str, "BTBZMqHH6r4Tts7J_aSIgg", "p256dh: not a point"),
            (good_key, "BTBZ", "auth:"),
            (good_key, "***", "auth:"),
        ] {
            let e = SubscriptionKeys::parse(k, a).unwrap_err();
            assert!(e.to_string().contains(field), "{k} {a}: {e}");
        }
    }

    #[test]
    fn vapid_tokens_verify_with_the_public_key_and_name_the_origin() {
        use p256::ecdsa::signature::Verifier;
        let k = KeyPair::generate();
        let endpoint = url::Url::parse("https://push.example.net:8443/w/abc?x=1").unwrap();
        let h = k.vapid(&endpoint, "mailto:ops@example.org", 1_000, 43_200);
        let (t, key) = h.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(key, k.public_b64());
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&b(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!((claims["exp"].as_i64(), claims["sub"].as_str()), (Some(44_200), Some("mailto:ops@example.org")));
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&b(key)).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&b(parts[2])).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
    }

    proptest::proptest! {
        /// Any payload up to the limit round-trips to a fresh subscriber; a changed byte
        /// anywhere in the body does not open.
        #[test]
        fn payloads_round_trip_and_tampering_is_caught(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..600), flip in 0usize..2000) {
            let ua = KeyPair::generate();
            let mut auth = [0u8; 16];
            crypto::random_bytes(&mut auth);
            let to = SubscriptionKeys { p256dh: ua.public(), auth };
            let body = encrypt(&to, &payload).unwrap();
            proptest::prop_assert_eq!(decrypt(&ua, &to, &body).unwrap(), payload);
            let mut bad = body.clone();
            let i = flip % bad.len();
            bad[i] ^= 1;
            // The record size field (bytes 16..20) is not read by the single-record reader.
            if !(16..20).contains(&i) {
                proptest::prop_assert!(decrypt(&ua, &to, &bad).is_err());
            }
        }
    }
}
