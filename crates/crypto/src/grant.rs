//! Re-sharing: a grant wraps an existing object's content key for one more recipient,
//! made on a device that can already open the object. The body and the device-signed
//! header are untouched; the grant is a separate, signed statement by whoever shared.
//!
//! ```text
//! "PLGR" 01 | object_id (16) | body digest (32) | granter identity (32) | granted_ms (i64)
//!           | purpose (u16 len + UTF-8, 0..=128) | key_id (16) | enc (65) | wrapped key (48)
//!           | signature (64) by the granter over "porchlight/grant/v1" 00 || everything before it
//! ```
//!
//! The wrap uses the object's own associated data (`object_id || body digest`), so a grant
//! opens only the object it names.

use crate::keys::{EncryptionPublic, IdentityPublic, Keyring, WrappedKey, sign, verify};
use crate::object::{self, Header};
use crate::stream::{self, ContentKey};
use crate::wire::{Put, Reader, check_text};
use crate::{Error, bail};

const MAGIC: &[u8; 4] = b"PLGR";
const DOMAIN: &[u8] = b"porchlight/grant/v1";
pub const PURPOSE_BYTES_MAX: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub object_id: [u8; 16],
    pub body_digest: [u8; 32],
    pub granter: IdentityPublic,
    pub granted_ms: i64,
    /// Why, in the granter's words (for an agency: the request it answers).
    pub purpose: String,
    pub wrapped: WrappedKey,
    signature: [u8; 64],
}

impl Grant {
    /// Unwraps `header`'s content key with `keyring` (which must be able to open the object)
    /// and wraps it for `recipient`, signed by the keyring's identity.
    pub fn create(
        keyring: &Keyring,
        header: &Header,
        recipient: &EncryptionPublic,
        purpose: &str,
        now_ms: i64,
    ) -> Result<Grant, Error> {
        Self::create_inner(keyring, header, purpose, now_ms, |k, aad| recipient.wrap(k, aad))
    }

    /// [`create`](Self::create) with a fixed HPKE ephemeral secret: for test vectors only.
    #[cfg(any(test, feature = "testing"))]
    pub fn create_with_ephemeral(
        keyring: &Keyring,
        header: &Header,
        recipient: &EncryptionPublic,
        purpose: &str,
        now_ms: i64,
        eph: &[u8; 32],
    ) -> Result<Grant, Error> {
        Self::create_inner(keyring, header, purpose, now_ms, |k, aad| recipient.wrap_with_ephemeral(k, aad, eph))
    }

    fn create_inner(
        keyring: &Keyring,
        header: &Header,
        purpose: &str,
        now_ms: i64,
        wrap: impl FnOnce(&crate::stream::ContentKey, &[u8]) -> WrappedKey,
    ) -> Result<Grant, Error> {
        check_text("grant", "purpose", purpose, 0, PURPOSE_BYTES_MAX)?;
        let key = header.content_key(keyring)?;
        let mut g = Grant {
            object_id: header.object_id,
            body_digest: header.body_digest,
            granter: keyring.identity.public(),
            granted_ms: now_ms,
            purpose: purpose.to_owned(),
            wrapped: wrap(&key, &header.wrap_aad()),
            signature: [0; 64],
        };
        g.signature = sign(&keyring.identity.0, DOMAIN, &g.signed_part());
        Ok(g)
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(300);
        v.extend_from_slice(MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.object_id);
        v.extend_from_slice(&self.body_digest);
        v.extend_from_slice(&self.granter.to_bytes());
        v.put_i64(self.granted_ms);
        v.put_var(self.purpose.as_bytes());
        v.extend_from_slice(&self.wrapped.key_id);
        v.extend_from_slice(&self.wrapped.enc);
        v.extend_from_slice(&self.wrapped.ciphertext);
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses and checks the granter's signature.
    pub fn parse(b: &[u8]) -> Result<Grant, Error> {
        let mut r = Reader::new("grant", b);
        r.magic_version(MAGIC, 1)?;
        let object_id = r.array("object_id")?;
        let body_digest = r.array("body_digest")?;
        let granter = IdentityPublic::from_bytes(&r.array("granter")?)?;
        let granted_ms = r.i64("granted_ms")?;
        let purpose = r.text("purpose", 0, PURPOSE_BYTES_MAX)?;
        let wrapped =
            WrappedKey { key_id: r.array("key_id")?, enc: r.array("enc")?, ciphertext: r.array("wrapped key")? };
        let signature = r.array("signature")?;
        r.finish()?;
        let g = Grant { object_id, body_digest, granter, granted_ms, purpose, wrapped, signature };
        verify(&g.granter, DOMAIN, &g.signed_part(), &g.signature, "grant")?;
        Ok(g)
    }

    /// Whether this grant names the object `h` heads.
    pub fn is_for(&self, h: &Header) -> bool {
        h.object_id == self.object_id && h.body_digest == self.body_digest
    }

    /// Unwraps the content key of the object `h` heads with the recipient's keyring.
    pub fn content_key(&self, keyring: &Keyring, h: &Header) -> Result<ContentKey, Error> {
        if !self.is_for(h) {
            bail!(NotRecipient, "grant is for another object");
        }
        let Some(secret) = keyring.secret_for(&self.wrapped.key_id) else {
            bail!(NotRecipient, "grant is for another recipient key than {:?}", keyring.label);
        };
        secret.unwrap(&self.wrapped, &h.wrap_aad())
    }

    /// Verifies `sealed` (device signature, body digest), checks that this grant is for it,
    /// and decrypts it with the recipient's keyring.
    pub fn open(&self, keyring: &Keyring, sealed: &[u8]) -> Result<(Header, Vec<u8>), Error> {
        let h = object::verify_object(sealed)?;
        let key = self.content_key(keyring, &h)?;
        let pt = stream::open_body(&key, h.nonce_prefix, h.plaintext_len, None, &sealed[h.len..])?;
        Ok((h, pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::keys::IdentitySecret;
    use crate::object::{Kind, Meta, seal};

    #[test]
    fn reshare_opens_only_its_object() {
        let dev = IdentitySecret::generate();
        let owner = Keyring::generate("owner", 0).unwrap();
        let agency = Keyring::generate("agency", 0).unwrap();
        let meta = Meta { kind: Kind::Clip, camera: "front".into(), start_ms: 0, end_ms: 10 };
        let a = seal(&dev, meta.clone(), &[owner.encryption.public()], b"clip a").unwrap();
        let b = seal(&dev, meta, &[owner.encryption.public()], b"clip b").unwrap();
        let ha = Header::parse(&a).unwrap();
        let g = Grant::create(&owner, &ha, &agency.encryption.public(), "request 7", 5).unwrap();
        let g = Grant::parse(&g.encode()).unwrap();
        assert_eq!(g.granter, owner.identity.public());
        assert_eq!(g.open(&agency, &a).unwrap().1, b"clip a");
        assert_eq!(g.open(&agency, &b).unwrap_err().kind(), ErrorKind::NotRecipient);
        // The agency cannot open the object without the grant, and the owner's keyring is
        // not the grant's recipient.
        assert_eq!(object::open(&agency, &a).unwrap_err().kind(), ErrorKind::NotRecipient);
        assert_eq!(g.open(&owner, &a).unwrap_err().kind(), ErrorKind::NotRecipient);
        // Someone who cannot open the object cannot grant it.
        let eve = Keyring::generate("eve", 0).unwrap();
        assert_eq!(
            Grant::create(&eve, &ha, &eve.encryption.public(), "", 0).unwrap_err().kind(),
            ErrorKind::NotRecipient
        );
    }
}
