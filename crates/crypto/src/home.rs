//! A household's exact home point, sealed for one account's own keys (design/neighbourhood.md,
//! design/crypto-format.md). The server keeps only this ciphertext and the point's H3 cell.
//!
//! ```text
//! "PLHP" 01 | HPKE enc (65) | ciphertext (16 + 16-byte tag)
//! plaintext: latitude, longitude (f64, little-endian)
//! info "porchlight/home-point/v1", aad the household id (UTF-8)
//! ```
//! The web app writes and reads the same bytes (`ui/src/screens/Neighbourhood.tsx`).

use crate::{Error, ErrorKind, bail};

use crate::keys::{EncryptionPublic, EncryptionSecret};

const MAGIC: &[u8; 4] = b"PLHP";
const INFO: &[u8] = b"porchlight/home-point/v1";
/// The sealed point's length.
pub const SEALED_BYTES: usize = 4 + 1 + 65 + 16 + 16;

/// Seals `(lat, lon)` for the holder of `to`, bound to `household_id`.
pub fn seal(to: &EncryptionPublic, household_id: &str, lat: f64, lon: f64) -> Vec<u8> {
    let mut pt = [0u8; 16];
    pt[..8].copy_from_slice(&lat.to_le_bytes());
    pt[8..].copy_from_slice(&lon.to_le_bytes());
    let (enc, ct) = crate::prim::hpke_seal(to.bytes(), INFO, household_id.as_bytes(), &pt, None)
        .expect("HPKE seal to a validated P-256 key cannot fail");
    [MAGIC.as_slice(), &[1], &enc, &ct].concat()
}

/// Opens a sealed point with `key`; fails on another household's point, another account's
/// key, or any altered byte.
pub fn open(key: &EncryptionSecret, household_id: &str, sealed: &[u8]) -> Result<(f64, f64), Error> {
    if sealed.len() != SEALED_BYTES || &sealed[..4] != MAGIC || sealed[4] != 1 {
        bail!(Malformed, "sealed point: expected {SEALED_BYTES} bytes starting PLHP 01");
    }
    let enc: &[u8; 65] = sealed[5..70].try_into().expect("65 bytes");
    let pt = key.hpke_open(enc, INFO, household_id.as_bytes(), &sealed[70..]).map_err(|e| match e.kind() {
        ErrorKind::Malformed => Error::new(ErrorKind::Malformed, "sealed point: not a P-256 encapsulation"),
        _ => Error::new(
            ErrorKind::Authentication,
            "sealed point: cannot open (another key, another household, or altered)",
        ),
    })?;
    let lat = f64::from_le_bytes(pt[..8].try_into().expect("16-byte plaintext"));
    let lon = f64::from_le_bytes(pt[8..16].try_into().expect("16-byte plaintext"));
    Ok((lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keyring;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_point_opens_only_with_its_key_and_household(lat in -90.0f64..90.0, lon in -180.0f64..180.0, flip in 0usize..SEALED_BYTES) {
            let k = Keyring::generate("me", 1).unwrap();
            let other = Keyring::generate("them", 1).unwrap();
            let s = seal(&k.encryption.public(), "h1", lat, lon);
            prop_assert_eq!(s.len(), SEALED_BYTES);
            prop_assert_eq!(open(&k.encryption, "h1", &s).unwrap(), (lat, lon));
            prop_assert!(open(&k.encryption, "h2", &s).is_err());
            prop_assert!(open(&other.encryption, "h1", &s).is_err());
            let mut bad = s.clone();
            bad[flip] ^= 1;
            prop_assert!(open(&k.encryption, "h1", &bad).is_err());
            prop_assert!(open(&k.encryption, "h1", &s[..SEALED_BYTES - 1]).is_err());
        }
    }
}

#[cfg(test)]
mod vectors {
    use super::*;

    /// The web app's seal of (52.2053, 0.1218) for household "h1" and the secret
    /// [7; 32] opens here (ui/src/homepoint.test.ts opens this crate's).
    #[test]
    fn the_web_apps_sealed_point_opens() {
        let key = EncryptionSecret::from_bytes(&[7; 32]).unwrap();
        let from_web = crate::keys::unhex(WEB).unwrap();
        assert_eq!(open(&key, "h1", &from_web).unwrap(), (52.2053, 0.1218));
    }

    const WEB: &str = "504c48500104e23cfc486ad1ed76dd7ca81886c421fbbcece17c23c46c17ae3b2a7258190b4226a86e19912b9891d3720f29737f0c17437448a1498b38b03f599cde035f99f33f3cc7f6a0dd5cb8691e319866bc80f5a51853178cedc92c29a04168f924369b";
}
