//! The signature on an evidence export's manifest (design/agencies.md): the agency's
//! identity key (the one the transparency log recorded when it was verified) signs the
//! manifest's exact bytes, which list the SHA-256 of every other file in the export.
//!
//! ```text
//! signature (64) by the agency identity over "porchlight/evidence/v1" 00 || manifest bytes
//! ```

use crate::Error;
use crate::keys::{IdentityPublic, Keyring, sign, verify};

const DOMAIN: &[u8] = b"porchlight/evidence/v1";

/// Signs a manifest with the keyring's identity.
pub fn sign_manifest(keyring: &Keyring, manifest: &[u8]) -> [u8; 64] {
    sign(&keyring.identity.0, DOMAIN, manifest)
}

/// Checks that `signer` signed exactly `manifest`.
pub fn verify_manifest(signer: &IdentityPublic, manifest: &[u8], signature: &[u8; 64]) -> Result<(), Error> {
    verify(signer, DOMAIN, manifest, signature, "evidence manifest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_verifies_only_unchanged_and_under_its_key() {
        let k = Keyring::generate("agency", 1).unwrap();
        let other = Keyring::generate("other", 1).unwrap();
        let m = br#"{"format":"porchlight-evidence/1"}"#;
        let sig = sign_manifest(&k, m);
        verify_manifest(&k.public().identity, m, &sig).unwrap();
        assert!(verify_manifest(&other.public().identity, m, &sig).is_err());
        for i in 0..m.len() {
            let mut b = m.to_vec();
            b[i] ^= 1;
            assert!(verify_manifest(&k.public().identity, &b, &sig).is_err(), "byte {i}");
        }
    }
}
