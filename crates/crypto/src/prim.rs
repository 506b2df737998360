//! The primitives underneath everything: AES-256-GCM and P-256 ECDH from AWS-LC (through
//! `aws-lc-rs`: the same assembly as OpenSSL's, so clip encryption runs at OpenSSL's speed),
//! and HPKE (RFC 9180) base mode for exactly one suite, DHKEM(P-256, HKDF-SHA256) /
//! HKDF-SHA256 / AES-256-GCM, written out here on top of them.
//!
//! Why not the `hpke` crate: its pure-Rust P-256 takes about 330 µs per scalar
//! multiplication on our machine, so one wrap cost 1 ms against a goal of 200 µs
//! (BENCHMARKS.md). HPKE for one fixed suite is short (RFC 9180 §4.1, §5.1, §7.1.3), and
//! the tests hold it to the `hpke` crate in both directions (`tests/hpke_interop.rs`), to
//! RFC 9180's own test vectors for the KEM, and to an independent Python implementation.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, bail};

pub(crate) const TAG: usize = 16;

/// An AES-256-GCM key, expanded once.
pub(crate) struct Gcm(LessSafeKey);

impl Gcm {
    pub(crate) fn new(key: &[u8; 32]) -> Gcm {
        Gcm(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key")))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; TAG] {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .expect("AES-GCM accepts any input up to 64 GiB");
        tag.as_ref().try_into().expect("16-byte tag")
    }

    /// Encrypts `input` into `out` (same length) and returns the tag. Out of place, because
    /// copying a 64 KiB chunk first cost more than encrypting it.
    pub(crate) fn seal_into(&self, nonce: [u8; 12], aad: &[u8], input: &[u8], out: &mut [u8]) -> [u8; TAG] {
        let mut tag = [0u8; TAG];
        self.0
            .seal_out_of_place_scatter(Nonce::assume_unique_for_key(nonce), Aad::from(aad), input, out, &[], &mut tag)
            .expect("AES-GCM accepts any input up to 64 GiB, and the lengths match");
        tag
    }

    /// Decrypts `input` into `out` (same length); on failure `out`'s contents are
    /// unspecified.
    pub(crate) fn open_into(&self, nonce: [u8; 12], aad: &[u8], input: &[u8], tag: &[u8; TAG], out: &mut [u8]) -> bool {
        self.0.open_separate_gather(Nonce::assume_unique_for_key(nonce), Aad::from(aad), input, tag, out).is_ok()
    }

    /// Decrypts `buf` in place; on failure `buf`'s contents are unspecified.
    pub(crate) fn open(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; TAG]) -> bool {
        self.0.open_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), tag, buf).is_ok()
    }
}

/// A validated P-256 public key, uncompressed (0x04 || x || y).
pub(crate) fn p256_check_public(b: &[u8]) -> bool {
    b.len() == 65
        && b[0] == 0x04
        && agreement::ParsedPublicKey::try_from(&UnparsedPublicKey::new(&ECDH_P256, b)).is_ok()
}

/// A P-256 secret, parsed once (AWS-LC's key object keeps its public point, so neither a
/// wrap nor an unwrap recomputes it). AWS-LC clears the scalar when the key is freed.
pub(crate) struct P256Secret {
    key: PrivateKey,
    public: [u8; 65],
}

impl P256Secret {
    pub(crate) fn generate() -> P256Secret {
        let key = PrivateKey::generate(&ECDH_P256).expect("P-256 key generation");
        Self::with_key(key).expect("a generated key has a public point")
    }

    /// None if the scalar is zero or not below the group order.
    pub(crate) fn from_bytes(sk: &[u8; 32]) -> Option<P256Secret> {
        Self::with_key(PrivateKey::from_private_key(&ECDH_P256, sk).ok()?)
    }

    fn with_key(key: PrivateKey) -> Option<P256Secret> {
        let public = key.compute_public_key().ok()?.as_ref().try_into().ok()?;
        Some(P256Secret { key, public })
    }

    pub(crate) fn public(&self) -> &[u8; 65] {
        &self.public
    }

    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
        let b: EcPrivateKeyBin<'static> = self.key.as_be_bytes().expect("P-256 keys serialize");
        Zeroizing::new(b.as_ref().try_into().expect("32-byte P-256 scalar"))
    }

    fn dh(&self, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
        match agreement::agree(&self.key, UnparsedPublicKey::new(&ECDH_P256, peer), (), |s| {
            Ok(Zeroizing::new(<[u8; 32]>::try_from(s).map_err(|_| ())?))
        }) {
            Ok(z) => Ok(z),
            Err(()) => bail!(Malformed, "P-256 public key: not a point on the curve"),
        }
    }
}

// RFC 9180 identifiers of our one suite.
const KEM_SUITE: &[u8] = b"KEM\x00\x10";
const HPKE_SUITE: &[u8] = b"HPKE\x00\x10\x00\x01\x00\x02";

fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut labeled = Zeroizing::new(Vec::with_capacity(7 + suite.len() + label.len() + ikm.len()));
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(suite);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled);
    Zeroizing::new(prk.into())
}

fn labeled_expand<const L: usize>(suite: &[u8], prk: &[u8; 32], label: &[u8], info: &[u8]) -> Zeroizing<[u8; L]> {
    let mut labeled = Vec::with_capacity(9 + suite.len() + label.len() + info.len());
    labeled.extend_from_slice(&(L as u16).to_be_bytes());
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(suite);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(info);
    let mut out = Zeroizing::new([0u8; L]);
    Hkdf::<Sha256>::from_prk(prk).expect("32-byte PRK").expand(&labeled, out.as_mut()).expect("L is small");
    out
}

/// DHKEM's ExtractAndExpand (RFC 9180 §4.1).
fn shared_secret(dh: &[u8; 32], enc: &[u8], pk_r: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh);
    let mut ctx = Vec::with_capacity(130);
    ctx.extend_from_slice(enc);
    ctx.extend_from_slice(pk_r);
    labeled_expand::<32>(KEM_SUITE, &prk, b"shared_secret", &ctx)
}

/// KeySchedule for mode_base (RFC 9180 §5.1): the AEAD key and base nonce.
fn key_schedule(shared: &[u8; 32], info: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    key_schedule_for::<32>(HPKE_SUITE, shared, info)
}

/// [`key_schedule`] for any suite id and key length (the tests check it against RFC 9180's
/// AES-128 vectors).
fn key_schedule_for<const NK: usize>(suite: &[u8], shared: &[u8; 32], info: &[u8]) -> (Zeroizing<[u8; NK]>, [u8; 12]) {
    let mut ctx = Vec::with_capacity(65);
    ctx.push(0);
    ctx.extend_from_slice(labeled_extract(suite, b"", b"psk_id_hash", b"").as_ref());
    ctx.extend_from_slice(labeled_extract(suite, b"", b"info_hash", info).as_ref());
    let secret = labeled_extract(suite, shared, b"secret", b"");
    let key = labeled_expand::<NK>(suite, &secret, b"key", &ctx);
    let nonce = labeled_expand::<12>(suite, &secret, b"base_nonce", &ctx);
    (key, *nonce)
}

/// HPKE single-shot seal to `pk_r` (sequence number 0). `eph` fixes the ephemeral secret
/// for test vectors; otherwise a fresh one is drawn.
pub(crate) fn hpke_seal(
    pk_r: &[u8; 65],
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    eph: Option<&[u8; 32]>,
) -> Result<([u8; 65], Vec<u8>), Error> {
    let sk_e = match eph {
        Some(e) => match P256Secret::from_bytes(e) {
            Some(k) => k,
            None => bail!(InvalidArgument, "ephemeral secret: not a valid P-256 scalar"),
        },
        None => P256Secret::generate(),
    };
    let enc = *sk_e.public();
    let z = sk_e.dh(pk_r)?;
    let shared = shared_secret(&z, &enc, pk_r);
    let (key, nonce) = key_schedule(&shared, info);
    let mut ct = Vec::with_capacity(pt.len() + TAG);
    ct.extend_from_slice(pt);
    let tag = Gcm::new(&key).seal(nonce, aad, &mut ct);
    ct.extend_from_slice(&tag);
    Ok((enc, ct))
}

/// HPKE single-shot open with the recipient's secret `sk_r`.
pub(crate) fn hpke_open(
    sk_r: &P256Secret,
    enc: &[u8; 65],
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if ct.len() < TAG {
        bail!(Malformed, "HPKE ciphertext: shorter than its tag");
    }
    let z = sk_r.dh(enc)?;
    let shared = shared_secret(&z, enc, sk_r.public());
    let (key, nonce) = key_schedule(&shared, info);
    let (body, tag) = ct.split_at(ct.len() - TAG);
    let mut pt = Zeroizing::new(body.to_vec());
    if !Gcm::new(&key).open(nonce, aad, &mut pt, tag.try_into().expect("16 bytes")) {
        bail!(Authentication, "HPKE open failed");
    }
    Ok(pt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 9180 Appendix A.3.1 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base
    /// mode): our KEM must produce the RFC's shared secret from its keys, and our key
    /// schedule (run with that vector's suite id and key length) its key and base nonce.
    #[test]
    fn rfc9180_a3_kem() {
        let sk_e: [u8; 32] = h("4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb").try_into().unwrap();
        let pk_r: [u8; 65] = h("04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0").try_into().unwrap();
        let e = P256Secret::from_bytes(&sk_e).unwrap();
        assert_eq!(*e.to_bytes(), sk_e);
        let enc = *e.public();
        assert_eq!(
            enc.to_vec(),
            h(
                "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4"
            )
        );
        let z = e.dh(&pk_r).unwrap();
        let shared = shared_secret(&z, &enc, &pk_r);
        assert_eq!(shared.to_vec(), h("c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8"));
        let sk_r: [u8; 32] = h("f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2").try_into().unwrap();
        let r = P256Secret::from_bytes(&sk_r).unwrap();
        assert_eq!(*r.public(), pk_r);
        assert_eq!(r.dh(&enc).unwrap(), z, "decap agrees");
        let (key, nonce) = key_schedule_for::<16>(
            b"HPKE\x00\x10\x00\x01\x00\x01",
            &shared,
            &h("4f6465206f6e2061204772656369616e2055726e"),
        );
        assert_eq!(key.to_vec(), h("868c066ef58aae6dc589b6cfdd18f97e"));
        assert_eq!(nonce.to_vec(), h("4e0bc5018beba4bf004cca59"));
    }

    #[test]
    fn seal_open_round_trip_and_failures() {
        let sk = P256Secret::generate();
        let pk = *sk.public();
        let (enc, ct) = hpke_seal(&pk, b"info", b"aad", b"secret", None).unwrap();
        assert_eq!(hpke_open(&sk, &enc, b"info", b"aad", &ct).unwrap().as_slice(), b"secret");
        assert!(hpke_open(&sk, &enc, b"info", b"aaD", &ct).is_err());
        assert!(hpke_open(&sk, &enc, b"inf0", b"aad", &ct).is_err());
        let mut bad = enc;
        bad[10] ^= 1;
        assert!(!p256_check_public(&bad));
        assert!(hpke_open(&sk, &bad, b"info", b"aad", &ct).is_err());
        assert!(P256Secret::from_bytes(&[0; 32]).is_none());
        assert!(P256Secret::from_bytes(&[0xff; 32]).is_none());
    }
}
