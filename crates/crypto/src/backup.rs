//! Key backup: the only form in which a user's private keys may leave their device.
//!
//! The device generates a recovery code of 160 random bits, shown once as 32 Crockford
//! base32 characters in eight groups of four, for the user to write down. The backup key is
//! `HKDF-SHA256(ikm = the code's 20 bytes, salt = 16 random bytes stored in the backup,
//! info = "porchlight/backup/v1")`, and the keyring is sealed under it with AES-256-GCM.
//! Because the code is machine-generated with 160 bits of entropy, guessing it is as hard
//! as guessing an AES-128 key twice over, so no slow password hash is needed: the
//! derivation is one HKDF, which every browser does natively in WebCrypto in microseconds.
//! (A person-chosen password would need Argon2 or a large PBKDF2 count; we do not accept
//! one.)
//!
//! ```text
//! "PLBK" 01 | salt (16) | nonce (12) | AES-256-GCM(keyring encoding) with its 16-byte tag
//!   associated data: the 33 bytes before the ciphertext
//! ```

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keys::{Keyring, base32, base32_decode, group, normalize_base32};
use crate::prim::Gcm;
use crate::wire::{Put, Reader};
use crate::{Error, bail};

const MAGIC: &[u8; 4] = b"PLBK";
const INFO: &[u8] = b"porchlight/backup/v1";
pub const CODE_BYTES: usize = 20;
const HEADER_BYTES: usize = 4 + 1 + 16 + 12;

/// A recovery code. Displays as `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
pub struct RecoveryCode(Zeroizing<[u8; CODE_BYTES]>);

impl RecoveryCode {
    pub fn generate() -> RecoveryCode {
        RecoveryCode(Zeroizing::new(crate::random_array()))
    }

    pub fn from_bytes(b: [u8; CODE_BYTES]) -> RecoveryCode {
        RecoveryCode(Zeroizing::new(b))
    }

    /// Reads a typed code: case, spaces and dashes do not matter, and I, L, O read as 1, 1, 0.
    pub fn parse(s: &str) -> Result<RecoveryCode, Error> {
        let norm = Zeroizing::new(normalize_base32("recovery code", s)?);
        if norm.len() != 32 {
            bail!(InvalidArgument, "recovery code: expected 32 characters (8 groups of 4), got {}", norm.len());
        }
        match base32_decode(&norm, CODE_BYTES) {
            Some(b) => Ok(RecoveryCode(Zeroizing::new(b.try_into().expect("20 bytes")))),
            None => bail!(InvalidArgument, "recovery code: not a valid code"),
        }
    }

    pub fn display(&self) -> Zeroizing<String> {
        Zeroizing::new(group(&base32(self.0.as_ref())))
    }

    fn key(&self, salt: &[u8; 16]) -> Zeroizing<[u8; 32]> {
        let mut k = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(salt), self.0.as_ref()).expand(INFO, k.as_mut()).expect("32 bytes is a valid length");
        k
    }
}

/// Seals `keyring` under `code` with a fresh salt and nonce.
pub fn seal(keyring: &Keyring, code: &RecoveryCode) -> Vec<u8> {
    seal_fixed(keyring, code, crate::random_array(), crate::random_array())
}

/// [`seal`] with a fixed salt and nonce: for test vectors only.
#[cfg(any(test, feature = "testing"))]
pub fn seal_with(keyring: &Keyring, code: &RecoveryCode, salt: [u8; 16], nonce: [u8; 12]) -> Vec<u8> {
    seal_fixed(keyring, code, salt, nonce)
}

fn seal_fixed(keyring: &Keyring, code: &RecoveryCode, salt: [u8; 16], nonce: [u8; 12]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_BYTES + 200);
    v.extend_from_slice(MAGIC);
    v.put_u8(1);
    v.extend_from_slice(&salt);
    v.extend_from_slice(&nonce);
    let plain = keyring.encode();
    v.extend_from_slice(&plain);
    let key = code.key(&salt);
    let (aad, body) = v.split_at_mut(HEADER_BYTES);
    let tag = Gcm::new(&key).seal(nonce, aad, body);
    v.extend_from_slice(&tag);
    v
}

/// Opens a backup with the code; a wrong code and a damaged backup are indistinguishable.
pub fn open(backup: &[u8], code: &RecoveryCode) -> Result<Keyring, Error> {
    let mut r = Reader::new("backup", backup);
    r.magic_version(MAGIC, 1)?;
    let salt: [u8; 16] = r.array("salt")?;
    let nonce: [u8; 12] = r.array("nonce")?;
    let rest = backup.len() - r.pos();
    if rest < 16 {
        bail!(Malformed, "backup: {rest} bytes of ciphertext, expected at least the 16-byte tag");
    }
    let (ct, tag) = backup[HEADER_BYTES..].split_at(rest - 16);
    let mut plain = Zeroizing::new(ct.to_vec());
    let key = code.key(&salt);
    let tag: [u8; 16] = tag.try_into().expect("16 bytes");
    if !Gcm::new(&key).open(nonce, &backup[..HEADER_BYTES], plain.as_mut_slice(), &tag) {
        bail!(Authentication, "backup: the recovery code does not open it (wrong code, or the backup is damaged)");
    }
    Keyring::parse(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn round_trip_and_wrong_code() {
        let k = Keyring::generate("alice", 1).unwrap();
        let code = RecoveryCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 39);
        let b = seal(&k, &code);
        let typed = RecoveryCode::parse(&shown.to_lowercase()).unwrap();
        assert_eq!(open(&b, &typed).unwrap().public(), k.public());
        let wrong = RecoveryCode::generate();
        assert_eq!(open(&b, &wrong).unwrap_err().kind(), ErrorKind::Authentication);
        assert_eq!(open(&b[..20], &code).unwrap_err().kind(), ErrorKind::Malformed);
        assert_eq!(RecoveryCode::parse("ABCD").err().unwrap().kind(), ErrorKind::InvalidArgument);
    }
}
