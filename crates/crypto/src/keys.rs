//! Keys: Ed25519 identities that sign, P-256 encryption keys that receive content keys
//! through HPKE, the public bundle that binds the two, the secret keyring, and the
//! fingerprints people compare when pairing.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::stream::ContentKey;
use crate::wire::{Put, Reader, check_text};
use crate::{Error, ErrorKind, bail};

/// HPKE `info` for every content-key wrap: binds wraps to this protocol and version.
pub const WRAP_INFO: &[u8] = b"porchlight/content-key/v1";
pub const KEY_ID_BYTES: usize = 16;
/// An encapsulated P-256 key (uncompressed SEC1 point).
pub const ENC_BYTES: usize = 65;
/// A wrapped 32-byte content key: ciphertext and tag.
pub const WRAPPED_BYTES: usize = 32 + 16;
pub const ENCRYPTION_PUBLIC_BYTES: usize = 65;
pub const LABEL_BYTES_MAX: usize = 64;

/// Signs `msg` prefixed by a domain tag, so a signature for one structure can never be
/// passed off as one for another.
pub(crate) fn sign(key: &SigningKey, domain: &[u8], msg: &[u8]) -> [u8; 64] {
    let mut m = Vec::with_capacity(domain.len() + 1 + msg.len());
    m.extend_from_slice(domain);
    m.push(0);
    m.extend_from_slice(msg);
    key.sign(&m).to_bytes()
}

pub(crate) fn verify(key: &IdentityPublic, domain: &[u8], msg: &[u8], sig: &[u8; 64], what: &str) -> Result<(), Error> {
    let mut m = Vec::with_capacity(domain.len() + 1 + msg.len());
    m.extend_from_slice(domain);
    m.push(0);
    m.extend_from_slice(msg);
    // Strict verification rejects small-order keys and non-canonical signatures, so a
    // signature cannot be malleated into a second valid one.
    if key.0.verify_strict(&m, &Signature::from_bytes(sig)).is_err() {
        bail!(Authentication, "{what}: signature does not verify under {}", key.fingerprint());
    }
    Ok(())
}

/// An Ed25519 public key that signs: a user's identity or a device's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityPublic(pub(crate) VerifyingKey);

impl IdentityPublic {
    pub fn from_bytes(b: &[u8; 32]) -> Result<IdentityPublic, Error> {
        match VerifyingKey::from_bytes(b) {
            Ok(k) if !k.is_weak() => Ok(IdentityPublic(k)),
            _ => bail!(Malformed, "identity key: not a valid Ed25519 public key"),
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// What people compare: the first 100 bits of SHA-256 over a domain tag and the key,
    /// as 20 Crockford base32 characters in groups of four (`7K3M-...`). Finding a second
    /// key with the same fingerprint costs about 2^100 work.
    pub fn fingerprint(&self) -> String {
        let h = Sha256::digest([b"porchlight/fingerprint/v1\0".as_slice(), &self.to_bytes()].concat());
        let s = base32(&h[..13]);
        group(&s[..20])
    }
}

impl std::fmt::Debug for IdentityPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityPublic({})", self.fingerprint())
    }
}

/// An Ed25519 signing key. Zeroized on drop (ed25519-dalek does it).
pub struct IdentitySecret(pub(crate) SigningKey);

impl IdentitySecret {
    pub fn generate() -> IdentitySecret {
        let b = Zeroizing::new(crate::random_array::<32>());
        IdentitySecret(SigningKey::from_bytes(&b))
    }

    pub fn from_bytes(b: &[u8; 32]) -> IdentitySecret {
        IdentitySecret(SigningKey::from_bytes(b))
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> IdentityPublic {
        IdentityPublic(self.0.verifying_key())
    }
}

/// A P-256 public key that content keys are wrapped to (uncompressed SEC 1 point, checked
/// to be on the curve).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionPublic([u8; ENCRYPTION_PUBLIC_BYTES]);

/// One content key wrapped for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// [`EncryptionPublic::key_id`] of the recipient.
    pub key_id: [u8; KEY_ID_BYTES],
    /// HPKE encapsulated key.
    pub enc: [u8; ENC_BYTES],
    /// HPKE ciphertext of the content key.
    pub ciphertext: [u8; WRAPPED_BYTES],
}

impl EncryptionPublic {
    pub fn from_bytes(b: &[u8]) -> Result<EncryptionPublic, Error> {
        if b.len() != ENCRYPTION_PUBLIC_BYTES || b[0] != 0x04 {
            bail!(Malformed, "encryption key: expected a 65-byte uncompressed P-256 point");
        }
        if !crate::prim::p256_check_public(b) {
            bail!(Malformed, "encryption key: not a point on P-256");
        }
        Ok(EncryptionPublic(b.try_into().expect("65 bytes")))
    }

    pub fn to_bytes(&self) -> [u8; ENCRYPTION_PUBLIC_BYTES] {
        self.0
    }

    pub(crate) fn bytes(&self) -> &[u8; ENCRYPTION_PUBLIC_BYTES] {
        &self.0
    }

    /// First 16 bytes of SHA-256 over a domain tag and the key: names the recipient of a
    /// wrap without a trial decryption.
    pub fn key_id(&self) -> [u8; KEY_ID_BYTES] {
        let h = Sha256::digest([b"porchlight/key-id/v1\0".as_slice(), &self.0].concat());
        h[..KEY_ID_BYTES].try_into().expect("16 of 32 bytes")
    }

    /// Wraps `key` for this recipient with HPKE base mode; `aad` binds the wrap to one
    /// object (see `object`), so it cannot be moved to another.
    pub fn wrap(&self, key: &ContentKey, aad: &[u8]) -> WrappedKey {
        self.wrap_inner(key, aad, None)
    }

    /// [`wrap`](Self::wrap) with a fixed ephemeral secret: for test vectors only. Reusing an
    /// ephemeral secret is unsafe.
    #[cfg(any(test, feature = "testing"))]
    pub fn wrap_with_ephemeral(&self, key: &ContentKey, aad: &[u8], eph: &[u8; 32]) -> WrappedKey {
        self.wrap_inner(key, aad, Some(eph))
    }

    pub(crate) fn wrap_inner(&self, key: &ContentKey, aad: &[u8], eph: Option<&[u8; 32]>) -> WrappedKey {
        let (enc, ct) = crate::prim::hpke_seal(&self.0, WRAP_INFO, aad, key.as_bytes(), eph)
            .expect("HPKE seal to a validated P-256 key with a valid ephemeral cannot fail");
        WrappedKey { key_id: self.key_id(), enc, ciphertext: ct.try_into().expect("32-byte key + 16-byte tag") }
    }
}

impl std::fmt::Debug for EncryptionPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionPublic({})", hex(&self.key_id()))
    }
}

/// A P-256 private key. Never leaves its device except inside an encrypted backup.
#[derive(Clone)]
pub struct EncryptionSecret {
    sk: std::sync::Arc<crate::prim::P256Secret>,
    pk: EncryptionPublic,
}

impl EncryptionSecret {
    pub fn generate() -> EncryptionSecret {
        Self::from_secret(crate::prim::P256Secret::generate())
    }

    fn from_secret(sk: crate::prim::P256Secret) -> EncryptionSecret {
        let pk = EncryptionPublic(*sk.public());
        EncryptionSecret { sk: std::sync::Arc::new(sk), pk }
    }

    pub fn from_bytes(b: &[u8; 32]) -> Result<EncryptionSecret, Error> {
        match crate::prim::P256Secret::from_bytes(b) {
            Some(sk) => Ok(Self::from_secret(sk)),
            None => bail!(Malformed, "encryption secret: not a valid P-256 scalar"),
        }
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.sk.to_bytes()
    }

    pub fn public(&self) -> EncryptionPublic {
        self.pk.clone()
    }

    /// HPKE single-shot open with this key, for the crate's other sealed formats.
    pub(crate) fn hpke_open(
        &self,
        enc: &[u8; 65],
        info: &[u8],
        aad: &[u8],
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        crate::prim::hpke_open(&self.sk, enc, info, aad, ct)
    }

    /// Unwraps a content key wrapped to this key with the same `aad`.
    pub fn unwrap(&self, w: &WrappedKey, aad: &[u8]) -> Result<ContentKey, Error> {
        if w.key_id != self.pk.key_id() {
            bail!(NotRecipient, "wrapped key is for key {}, not {}", hex(&w.key_id), hex(&self.pk.key_id()));
        }
        match crate::prim::hpke_open(&self.sk, &w.enc, WRAP_INFO, aad, &w.ciphertext) {
            Ok(pt) => Ok(ContentKey::from_bytes(pt.as_slice().try_into().expect("32-byte content key"))),
            Err(e) if e.kind() == ErrorKind::Malformed => {
                bail!(Malformed, "wrapped key: encapsulated key is not a P-256 point")
            }
            Err(_) => bail!(Authentication, "wrapped key: HPKE open failed (altered, or wrapped for another object)"),
        }
    }
}

/// A user's public keys, self-signed by the identity key: proof that whoever holds the
/// identity chose this encryption key.
///
/// ```text
/// "PLPK" 01 | identity (32) | encryption (65) | created_ms (i64) | label (u16 len + UTF-8, 1..=64)
///           | signature (64) by identity over "porchlight/public-keys/v1" 00 || everything before it
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeys {
    pub identity: IdentityPublic,
    pub encryption: EncryptionPublic,
    pub created_ms: i64,
    pub label: String,
    signature: [u8; 64],
}

const PK_MAGIC: &[u8; 4] = b"PLPK";
const PK_DOMAIN: &[u8] = b"porchlight/public-keys/v1";

impl PublicKeys {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(200);
        v.extend_from_slice(PK_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.identity.to_bytes());
        v.extend_from_slice(&self.encryption.to_bytes());
        v.put_i64(self.created_ms);
        v.put_var(self.label.as_bytes());
        v
    }

    /// Parses and checks the self-signature.
    pub fn parse(b: &[u8]) -> Result<PublicKeys, Error> {
        let mut r = Reader::new("public keys", b);
        let pk = Self::read(&mut r)?;
        r.finish()?;
        Ok(pk)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PublicKeys, Error> {
        r.magic_version(PK_MAGIC, 1)?;
        let identity = IdentityPublic::from_bytes(&r.array("identity")?)?;
        let encryption = EncryptionPublic::from_bytes(r.take("encryption", ENCRYPTION_PUBLIC_BYTES)?)?;
        let created_ms = r.i64("created_ms")?;
        let label = r.text("label", 1, LABEL_BYTES_MAX)?;
        let signature = r.array("signature")?;
        let pk = PublicKeys { identity, encryption, created_ms, label, signature };
        verify(&pk.identity, PK_DOMAIN, &pk.signed_part(), &pk.signature, "public keys")?;
        Ok(pk)
    }
}

const POSSESSION_DOMAIN: &[u8] = b"porchlight/key-possession/v1";

/// What a server asks an account to sign before it takes the account's new public keys:
/// SHA-256 over a domain tag, the account's id and the SHA-256 of the bundle it holds now
/// (32 zero bytes when none). A proof therefore holds for one account and one state of its
/// keys: it cannot be moved to another account, nor replayed once the keys have changed.
///
/// ```text
/// SHA-256("porchlight/key-possession-challenge/v1" 00 || account id (UTF-8) || 00 || SHA-256(current bundle) or 32 × 00)
/// ```
pub fn possession_challenge(account_id: &str, current: Option<&[u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"porchlight/key-possession-challenge/v1\0");
    h.update(account_id.as_bytes());
    h.update([0]);
    h.update(current.map(|c| <[u8; 32]>::from(Sha256::digest(c))).unwrap_or([0; 32]));
    h.finalize().into()
}

/// The identity key's signature over `challenge` ([`possession_challenge`]): proof that
/// whoever uploads a bundle holds its identity's private key.
pub fn prove_possession(identity: &IdentitySecret, challenge: &[u8; 32]) -> [u8; 64] {
    sign(&identity.0, POSSESSION_DOMAIN, challenge)
}

/// Checks a [`prove_possession`] signature (strict Ed25519, like every signature here).
pub fn verify_possession(identity: &IdentityPublic, challenge: &[u8; 32], proof: &[u8; 64]) -> Result<(), Error> {
    verify(identity, POSSESSION_DOMAIN, challenge, proof, "proof of possession")
}

/// Everything secret a user (or a device) holds: the identity, the current encryption key,
/// and earlier encryption keys kept after a rotation so old clips stay readable.
///
/// ```text
/// "PLKR" 01 | created_ms (i64) | label (u16 len + UTF-8) | identity secret (32)
///           | encryption secret (32) | n (u8, 0..=32) | n × earlier encryption secret (32)
/// ```
pub struct Keyring {
    pub label: String,
    pub created_ms: i64,
    pub identity: IdentitySecret,
    pub encryption: EncryptionSecret,
    pub previous: Vec<EncryptionSecret>,
}

impl std::fmt::Debug for Keyring {
    /// Shows who, never a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring({:?}, {}, {} earlier keys)",
            self.label,
            self.identity.public().fingerprint(),
            self.previous.len()
        )
    }
}

const KR_MAGIC: &[u8; 4] = b"PLKR";
pub const PREVIOUS_KEYS_MAX: usize = 32;

impl Keyring {
    pub fn generate(label: &str, now_ms: i64) -> Result<Keyring, Error> {
        check_text("keyring", "label", label, 1, LABEL_BYTES_MAX)?;
        Ok(Keyring {
            label: label.to_owned(),
            created_ms: now_ms,
            identity: IdentitySecret::generate(),
            encryption: EncryptionSecret::generate(),
            previous: Vec::new(),
        })
    }

    /// The public bundle, signed by the identity.
    pub fn public(&self) -> PublicKeys {
        let mut pk = PublicKeys {
            identity: self.identity.public(),
            encryption: self.encryption.public(),
            created_ms: self.created_ms,
            label: self.label.clone(),
            signature: [0; 64],
        };
        pk.signature = sign(&self.identity.0, PK_DOMAIN, &pk.signed_part());
        pk
    }

    /// Finds the secret for `key_id` among the current and earlier encryption keys.
    pub fn secret_for(&self, key_id: &[u8; KEY_ID_BYTES]) -> Option<&EncryptionSecret> {
        std::iter::once(&self.encryption).chain(&self.previous).find(|s| &s.public().key_id() == key_id)
    }

    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(128 + 32 * self.previous.len()));
        v.extend_from_slice(KR_MAGIC);
        v.put_u8(1);
        v.put_i64(self.created_ms);
        v.put_var(self.label.as_bytes());
        v.extend_from_slice(self.identity.to_bytes().as_ref());
        v.extend_from_slice(self.encryption.to_bytes().as_ref());
        v.put_u8(self.previous.len() as u8);
        for p in &self.previous {
            v.extend_from_slice(p.to_bytes().as_ref());
        }
        v
    }

    pub fn parse(b: &[u8]) -> Result<Keyring, Error> {
        let mut r = Reader::new("keyring", b);
        r.magic_version(KR_MAGIC, 1)?;
        let created_ms = r.i64("created_ms")?;
        let label = r.text("label", 1, LABEL_BYTES_MAX)?;
        let identity = IdentitySecret::from_bytes(&Zeroizing::new(r.array("identity secret")?));
        let encryption = EncryptionSecret::from_bytes(&Zeroizing::new(r.array("encryption secret")?))?;
        let n = usize::from(r.u8("previous count")?);
        if n > PREVIOUS_KEYS_MAX {
            bail!(Malformed, "keyring previous count: at most {PREVIOUS_KEYS_MAX}, got {n}");
        }
        let mut previous = Vec::with_capacity(n);
        for _ in 0..n {
            previous.push(EncryptionSecret::from_bytes(&Zeroizing::new(r.array("previous secret")?))?);
        }
        r.finish()?;
        Ok(Keyring { label, created_ms, identity, encryption, previous })
    }
}

/// The short code an owner reads off their device and types into an agent (or the server
/// shows) when pairing: the owner identity's fingerprint. See [`IdentityPublic::fingerprint`].
pub fn pairing_code(owner: &IdentityPublic) -> String {
    owner.fingerprint()
}

/// Checks a typed pairing code against a key, ignoring case, spaces and dashes and reading
/// the look-alike letters I, L as 1 and O as 0 (Crockford).
pub fn check_pairing_code(owner: &IdentityPublic, typed: &str) -> Result<(), Error> {
    let norm = normalize_base32("pairing code", typed)?;
    if norm.len() != 20 {
        bail!(InvalidArgument, "pairing code: expected 20 characters, got {}", norm.len());
    }
    if norm != owner.fingerprint().replace('-', "") {
        return Err(Error::new(
            ErrorKind::Untrusted,
            format!("pairing code does not match the offered owner key {}", owner.fingerprint()),
        ));
    }
    Ok(())
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub(crate) fn base32(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &x in b {
        acc = (acc << 8) | u32::from(x);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CROCKFORD[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(CROCKFORD[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes exactly `n` bytes from Crockford base32 (already normalized).
pub(crate) fn base32_decode(s: &str, n: usize) -> Option<Vec<u8>> {
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::with_capacity(n));
    for c in s.bytes() {
        let v = CROCKFORD.iter().position(|&x| x == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (out.len() == n && acc == 0).then_some(out)
}

/// Upper-cases, drops white space and dashes, maps I/L to 1 and O to 0; rejects anything
/// else outside the alphabet. `what` names the code in errors.
pub(crate) fn normalize_base32(what: &str, s: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' => continue,
            c if c.is_whitespace() => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c if c.is_ascii() && CROCKFORD.contains(&(c as u8)) => c,
            c => bail!(InvalidArgument, "{what}: unexpected character {c:?}"),
        };
        out.push(c);
    }
    Ok(out)
}

pub(crate) fn group(s: &str) -> String {
    s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).expect("ASCII")).collect::<Vec<_>>().join("-")
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lower- or upper-case hex to bytes; None for odd lengths or other characters.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_round_trip_and_tamper() {
        let k = Keyring::generate("alice", 1_700_000_000_000).unwrap();
        let pk = k.public();
        let b = pk.encode();
        assert_eq!(PublicKeys::parse(&b).unwrap(), pk);
        for i in 0..b.len() {
            let mut t = b.clone();
            t[i] ^= 1;
            assert!(PublicKeys::parse(&t).is_err(), "flip at {i} accepted");
        }
        assert_eq!(PublicKeys::parse(&b[..b.len() - 1]).unwrap_err().kind(), ErrorKind::Malformed);
    }

    #[test]
    fn keyring_round_trip() {
        let mut k = Keyring::generate("bob", 5).unwrap();
        k.previous.push(EncryptionSecret::generate());
        let k2 = Keyring::parse(&k.encode()).unwrap();
        assert_eq!(k2.public(), k.public());
        assert!(k2.secret_for(&k.previous[0].public().key_id()).is_some());
        assert!(Keyring::generate("", 5).is_err());
    }

    #[test]
    fn wrap_unwrap_and_aad_binding() {
        let s = EncryptionSecret::generate();
        let ck = ContentKey::generate();
        let w = s.public().wrap(&ck, b"object-1");
        assert_eq!(s.unwrap(&w, b"object-1").unwrap().as_bytes(), ck.as_bytes());
        assert_eq!(s.unwrap(&w, b"object-2").unwrap_err().kind(), ErrorKind::Authentication);
        let other = EncryptionSecret::generate();
        assert_eq!(other.unwrap(&w, b"object-1").unwrap_err().kind(), ErrorKind::NotRecipient);
    }

    #[test]
    fn pairing_codes() {
        let id = IdentitySecret::generate().public();
        let code = pairing_code(&id);
        assert_eq!(code.len(), 24);
        check_pairing_code(&id, &code.to_lowercase().replace('-', " ")).unwrap();
        let other = IdentitySecret::generate().public();
        assert_eq!(check_pairing_code(&other, &code).unwrap_err().kind(), ErrorKind::Untrusted);
        assert_eq!(check_pairing_code(&id, "ABC").unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(check_pairing_code(&id, "ABC!").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn base32_round_trip() {
        for n in [0usize, 1, 5, 13, 20] {
            let b: Vec<u8> = (0..n as u8).map(|x| x.wrapping_mul(37)).collect();
            let s = base32(&b);
            assert_eq!(base32_decode(&s, n).unwrap(), b);
        }
    }
}
