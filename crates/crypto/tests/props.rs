//! Property tests: round trips at the sizes that matter, and every kind of tampering fails
//! with a clear error kind, never a panic.

use porchlight_crypto::ErrorKind;
use porchlight_crypto::grant::Grant;
use porchlight_crypto::keys::{IdentitySecret, Keyring};
use porchlight_crypto::object::{self, Header, Kind, Meta};
use porchlight_crypto::stream::{self, CHUNK_BYTES, ContentKey, SEALED_CHUNK_BYTES};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Fixture {
    device: IdentitySecret,
    alice: Keyring,
    bob: Keyring,
}

fn fx() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        device: IdentitySecret::generate(),
        alice: Keyring::generate("alice", 0).unwrap(),
        bob: Keyring::generate("bob", 0).unwrap(),
    })
}

fn meta() -> Meta {
    Meta { kind: Kind::Clip, camera: "front".into(), start_ms: 1_700_000_000_000, end_ms: 1_700_000_030_000 }
}

/// Sizes at and around chunk boundaries, plus random ones.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(CHUNK_BYTES - 1),
        Just(CHUNK_BYTES),
        Just(CHUNK_BYTES + 1),
        Just(2 * CHUNK_BYTES),
        Just(2 * CHUNK_BYTES + 1),
        0usize..3 * CHUNK_BYTES,
    ]
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn sealed(n: usize, seed: u8) -> Vec<u8> {
    let f = fx();
    object::seal(&f.device, meta(), &[f.alice.encryption.public()], &data(n, seed)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(n in size(), seed: u8) {
        let f = fx();
        let s = sealed(n, seed);
        let (h, pt) = object::open(&f.alice, &s).unwrap();
        prop_assert_eq!(pt, data(n, seed));
        prop_assert_eq!(h.plaintext_len, n as u64);
        prop_assert_eq!(s.len() - h.len, stream::sealed_len(n as u64) as usize);
        prop_assert_eq!(h.device, f.device.public());
    }

    /// Any single bit flipped anywhere in the object is caught, by the signature, the
    /// digest or a tag.
    #[test]
    fn any_bit_flip_fails(n in size(), seed: u8, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fx();
        let mut s = sealed(n, seed);
        let i = pos.index(s.len());
        s[i] ^= 1 << bit;
        let e = object::open(&f.alice, &s).unwrap_err();
        prop_assert!(matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Malformed | ErrorKind::Unsupported),
            "flip at {} of {}: {:?}", i, s.len(), e);
    }

    /// A flipped body bit also fails at the chunk level, without the digest: what a player
    /// decrypting a range relies on.
    #[test]
    fn chunk_bit_flip_fails(n in 1usize..3 * CHUNK_BYTES, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = ContentKey::generate();
        let (mut body, len, _) = stream::seal_body(&key, [9; 7], &data(n, 1)).unwrap();
        let i = pos.index(body.len());
        body[i] ^= 1 << bit;
        let e = stream::open_body(&key, [9; 7], len, None, &body).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Authentication);
    }

    /// Cutting the body anywhere (even at a chunk boundary) fails.
    #[test]
    fn truncation_fails(n in size(), cut in any::<prop::sample::Index>()) {
        let f = fx();
        let s = sealed(n, 3);
        let h = Header::parse(&s).unwrap();
        let body_len = s.len() - h.len;
        let keep = h.len + cut.index(body_len);
        let e = object::open(&f.alice, &s[..keep]).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Authentication);
        // And at the chunk level with a length that claims the shorter body: dropping
        // whole trailing chunks is caught by the last-chunk flag.
        let key = ContentKey::generate();
        let (body, _, _) = stream::seal_body(&key, [1; 7], &data(n, 1)).unwrap();
        let chunks = stream::chunk_count(n as u64);
        if chunks > 1 {
            let short = (chunks - 1) as usize * SEALED_CHUNK_BYTES;
            let e = stream::open_body(&key, [1; 7], (chunks - 1) * CHUNK_BYTES as u64, None, &body[..short]).unwrap_err();
            prop_assert_eq!(e.kind(), ErrorKind::Authentication);
        }
    }

    /// Swapping two chunks fails even though every chunk is authentic on its own.
    #[test]
    fn reordered_chunks_fail(chunks in 2usize..5, a in 0usize..5, b in 0usize..5) {
        let (a, b) = (a % chunks, b % chunks);
        prop_assume!(a != b);
        let key = ContentKey::generate();
        let n = chunks * CHUNK_BYTES;
        let (body, len, _) = stream::seal_body(&key, [2; 7], &data(n, 5)).unwrap();
        let mut parts: Vec<&[u8]> = body.chunks(SEALED_CHUNK_BYTES).collect();
        parts.swap(a, b);
        let swapped = parts.concat();
        let e = stream::open_body(&key, [2; 7], len, None, &swapped).unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Authentication);
    }

    /// Random bytes never panic any parser.
    #[test]
    fn garbage_never_panics(b in prop::collection::vec(any::<u8>(), 0..600), prefix in 0usize..7) {
        let magics: [&[u8]; 7] =
            [b"PLOB\x01", b"PLGR\x01", b"PLRS\x01", b"PLBK\x01", b"PLCF\x01", b"PLLR\x01", b"PLTR\x01"];
        let mut input = magics[prefix].to_vec();
        input.extend_from_slice(&b);
        let _ = Header::parse(&input);
        let _ = object::verify_object(&input);
        let _ = Grant::parse(&input);
        let _ = porchlight_crypto::trust::Roster::parse(&input);
        let _ = porchlight_crypto::trust::Trust::parse(&input);
        let _ = porchlight_crypto::keys::PublicKeys::parse(&input);
        let _ = porchlight_crypto::keys::Keyring::parse(&input);
        let _ = porchlight_crypto::settings::Settings::parse(&input);
        let _ = porchlight_crypto::live::LiveRequest::parse(&input);
        let _ = porchlight_crypto::live::LiveOpener::new(porchlight_crypto::keys::EncryptionSecret::generate()).open(&input);
        let _ = porchlight_crypto::talk::TalkRequest::parse(&input);
    }

    /// Talk: a request round-trips and opens for each agent it names; packets open in rising
    /// order whatever is lost on the way, and no replayed, reordered or altered packet opens.
    #[test]
    fn talk_packets_open_once_in_order(
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 1..12),
        delivered in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        flip in any::<prop::sample::Index>(),
    ) {
        use porchlight_crypto::talk::TalkRequest;
        let f = fx();
        let agents = [f.alice.public().encryption, f.bob.public().encryption];
        let (q, mut sealer) = TalkRequest::create(&f.alice, [3; 16], "door", &agents, 9).unwrap();
        let enc = q.encode();
        let back = TalkRequest::parse(&enc).unwrap();
        prop_assert_eq!(&back, &q);
        let sealed: Vec<Vec<u8>> = packets.iter().map(|p| sealer.seal(p).unwrap()).collect();
        let mut bob = back.opener(&f.bob).unwrap();
        let mut alice = back.opener(&f.alice).unwrap();
        // The relay delivers any sequence of the packets (losses, repeats, reordering):
        // exactly those newer than every packet before them open, to their plaintext.
        let mut last = 0usize;
        for d in &delivered {
            let i = d.index(sealed.len());
            let r = bob.open(&sealed[i]);
            if i + 1 > last {
                prop_assert_eq!(r.unwrap(), packets[i].clone());
                last = i + 1;
            } else {
                prop_assert!(r.is_err());
            }
        }
        let mut bad = sealed[0].clone();
        let at = flip.index(bad.len());
        bad[at] ^= 0x01;
        prop_assert!(alice.open(&bad).is_err());
        prop_assert_eq!(alice.open(&sealed[0]).unwrap(), packets[0].clone());
    }

    /// Settings round-trip for any body and recipient count, open for every recipient, and
    /// no single changed byte gets past the signature.
    #[test]
    fn settings_round_trip_and_resist_tampering(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        n in 1usize..3,
        serial in any::<u64>(),
        flip in any::<prop::sample::Index>(),
    ) {
        use porchlight_crypto::settings::Settings;
        let f = fx();
        let keys = [&f.alice, &f.bob];
        let recips: Vec<_> = keys[..n.min(2)].iter().map(|k| k.public().encryption).collect();
        let s = Settings::seal(&f.alice, [1; 16], serial, 5, &recips, &body).unwrap();
        let enc = s.encode();
        let back = Settings::parse(&enc).unwrap();
        prop_assert_eq!(&back, &s);
        prop_assert_eq!(back.encode(), enc.clone());
        for k in &keys[..n.min(2)] {
            prop_assert_eq!(back.open(k).unwrap(), body.clone());
        }
        let mut bad = enc.clone();
        bad[flip.index(enc.len())] ^= 0x80;
        prop_assert!(Settings::parse(&bad).is_err());
    }

    /// A proof of possession holds for its account and its keys' state only: another
    /// account, another current bundle, another signer or any flipped bit fails.
    #[test]
    fn possession_proofs_bind_account_and_keys(
        account in "[0-9a-f]{1,32}",
        other in "[0-9a-f]{1,32}",
        current in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        flip in 0usize..64,
        bit in 0u8..8,
    ) {
        use porchlight_crypto::keys::{possession_challenge, prove_possession, verify_possession};
        let f = fx();
        let c = possession_challenge(&account, current.as_deref());
        let proof = prove_possession(&f.alice.identity, &c);
        prop_assert!(verify_possession(&f.alice.identity.public(), &c, &proof).is_ok());
        prop_assert!(verify_possession(&f.bob.identity.public(), &c, &proof).is_err());
        if other != account {
            let c2 = possession_challenge(&other, current.as_deref());
            prop_assert!(verify_possession(&f.alice.identity.public(), &c2, &proof).is_err());
        }
        let mut changed = current.clone().unwrap_or_default();
        changed.push(1);
        let c3 = possession_challenge(&account, Some(&changed));
        prop_assert!(verify_possession(&f.alice.identity.public(), &c3, &proof).is_err());
        let mut bad = proof;
        bad[flip] ^= 1 << bit;
        prop_assert!(verify_possession(&f.alice.identity.public(), &c, &bad).is_err());
    }
}

#[test]
fn header_for_another_recipient_fails() {
    let f = fx();
    let s = sealed(1000, 1);
    assert_eq!(object::open(&f.bob, &s).unwrap_err().kind(), ErrorKind::NotRecipient);

    // Graft Bob's wrap from another object into this header (re-signed by an attacker's
    // device so the signature is not what stops it): the wrap's associated data names the
    // other object, so HPKE refuses it.
    let other = object::seal(&f.device, meta(), &[f.bob.encryption.public()], b"other").unwrap();
    let mut h = Header::parse(&s).unwrap();
    h.recipients = Header::parse(&other).unwrap().recipients;
    let mut forged = h.encode();
    forged.extend_from_slice(&s[h.len..]);
    // The signature no longer matches.
    assert_eq!(object::open(&f.bob, &forged).unwrap_err().kind(), ErrorKind::Authentication);
    // Even bypassing the signature, the wrap does not open for this object.
    let w = &h.recipients[0];
    let e = f.bob.encryption.unwrap(w, &h.wrap_aad()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
}

#[test]
fn wrong_signature_fails() {
    let f = fx();
    let s = sealed(5000, 2);
    // The same header signed by another device, claiming to be this one: the signature
    // bytes of another device's object do not verify under this device's key.
    let other_device = IdentitySecret::generate();
    let o = object::seal(&other_device, meta(), &[f.alice.encryption.public()], &data(5000, 2)).unwrap();
    let h = Header::parse(&s).unwrap();
    let ho = Header::parse(&o).unwrap();
    let mut forged = s.clone();
    forged[h.len - 64..h.len].copy_from_slice(&ho.signature);
    let e = object::verify_object(&forged).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("signature"), "{e}");
}

#[test]
fn extra_bytes_after_body_fail() {
    let f = fx();
    let mut s = sealed(10, 1);
    s.push(0);
    assert_eq!(object::open(&f.alice, &s).unwrap_err().kind(), ErrorKind::Authentication);
}
