//! Household settings: what the owner tells the agents (camera names, motion zones, privacy
//! masks, sensitivity, the Disarmed/Home/Away modes and which one is on), sealed so the
//! server that relays them cannot read them, and signed so it cannot change them.
//!
//! Why sealed: the mode says when a home is empty and the zones sketch its layout; the
//! server has no use for either. Why signed by the owner: an agent obeys a document only if
//! the identity it pinned at pairing (or one rotated to from it) signed it, and only if its
//! serial is higher than the last one it obeyed, so a replayed "Disarmed" cannot switch the
//! cameras off.
//!
//! ```text
//! settings: "PLCF" 01 | household_id (16) | serial (u64) | issued_ms (i64) | signer identity (32)
//!           | n (u8, 1..=64) | n × (key_id (16) | enc (65) | wrapped key (48))
//!           | nonce (12) | body length (u32, 16..=262160) | body (AES-256-GCM of the JSON, tag last)
//!           | signature (64) by signer over "porchlight/settings/v1" 00 || everything before it
//! ```
//!
//! The content key is wrapped exactly as an object's ([`EncryptionPublic::wrap`]), with
//! `"porchlight/settings/v1" 00 || household_id || serial` as the wrap's associated data, so
//! a wrap cannot be moved into another document. The body's associated data is everything
//! before the nonce. The body is JSON whose meaning is the agent's and the app's business,
//! not this crate's.

use crate::keys::{
    ENC_BYTES, EncryptionPublic, IdentityPublic, KEY_ID_BYTES, Keyring, WRAPPED_BYTES, WrappedKey, sign, verify,
};
use crate::prim::{Gcm, TAG};
use crate::stream::ContentKey;
use crate::wire::{Put, Reader};
use crate::{Error, ErrorKind, bail};

const MAGIC: &[u8; 4] = b"PLCF";
const DOMAIN: &[u8] = b"porchlight/settings/v1";
/// Most recipients: every roster member and every agent of the household.
pub const RECIPIENTS_MAX: usize = 64;
/// Largest plaintext body (JSON): ample for 64 cameras with many zones each.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub household_id: [u8; 16],
    pub serial: u64,
    pub issued_ms: i64,
    pub signer: IdentityPublic,
    pub recipients: Vec<WrappedKey>,
    nonce: [u8; 12],
    body: Vec<u8>,
    signature: [u8; 64],
}

/// A fixed content key, nonce and one HPKE ephemeral per recipient (test vectors only).
pub type Fixed<'a> = (&'a ContentKey, [u8; 12], &'a [[u8; 32]]);

fn wrap_aad(household_id: &[u8; 16], serial: u64) -> Vec<u8> {
    [DOMAIN, &[0], household_id, &serial.to_be_bytes()].concat()
}

impl Settings {
    /// Encrypts `plaintext` to `recipients` and signs it with `owner`.
    pub fn seal(
        owner: &Keyring,
        household_id: [u8; 16],
        serial: u64,
        issued_ms: i64,
        recipients: &[EncryptionPublic],
        plaintext: &[u8],
    ) -> Result<Settings, Error> {
        Self::seal_inner(owner, household_id, serial, issued_ms, recipients, plaintext, None)
    }

    /// [`seal`](Self::seal) with a fixed content key, nonce and HPKE ephemerals (one per
    /// recipient): for test vectors only. Reusing any of them is unsafe.
    #[cfg(any(test, feature = "testing"))]
    #[allow(clippy::too_many_arguments)]
    pub fn seal_with(
        owner: &Keyring,
        household_id: [u8; 16],
        serial: u64,
        issued_ms: i64,
        recipients: &[EncryptionPublic],
        plaintext: &[u8],
        fixed: Fixed<'_>,
    ) -> Result<Settings, Error> {
        if fixed.2.len() != recipients.len() {
            bail!(InvalidArgument, "settings: one ephemeral per recipient");
        }
        Self::seal_inner(owner, household_id, serial, issued_ms, recipients, plaintext, Some(fixed))
    }

    fn seal_inner(
        owner: &Keyring,
        household_id: [u8; 16],
        serial: u64,
        issued_ms: i64,
        recipients: &[EncryptionPublic],
        plaintext: &[u8],
        fixed: Option<Fixed<'_>>,
    ) -> Result<Settings, Error> {
        if recipients.is_empty() || recipients.len() > RECIPIENTS_MAX {
            bail!(InvalidArgument, "settings recipients: expected 1..={RECIPIENTS_MAX}, got {}", recipients.len());
        }
        if plaintext.len() > BODY_BYTES_MAX {
            bail!(InvalidArgument, "settings body: {} bytes, at most {BODY_BYTES_MAX}", plaintext.len());
        }
        let generated;
        let (key, nonce) = match fixed {
            Some((k, n, _)) => (k, n),
            None => {
                generated = ContentKey::generate();
                (&generated, crate::random_array::<12>())
            }
        };
        let aad = wrap_aad(&household_id, serial);
        let wraps = recipients
            .iter()
            .enumerate()
            .map(|(i, r)| match fixed {
                Some((_, _, ephs)) => r.wrap_inner(key, &aad, Some(&ephs[i])),
                None => r.wrap(key, &aad),
            })
            .collect();
        let mut s = Settings {
            household_id,
            serial,
            issued_ms,
            signer: owner.identity.public(),
            recipients: wraps,
            nonce,
            body: Vec::new(),
            signature: [0; 64],
        };
        let mut body = plaintext.to_vec();
        let tag = Gcm::new(key.as_bytes()).seal(nonce, &s.body_aad(), &mut body);
        body.extend_from_slice(&tag);
        s.body = body;
        s.signature = sign(&owner.identity.0, DOMAIN, &s.signed_part());
        Ok(s)
    }

    /// Everything before the nonce: the body's associated data.
    fn body_aad(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(70 + self.recipients.len() * 129);
        v.extend_from_slice(MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.household_id);
        v.put_u64(self.serial);
        v.put_i64(self.issued_ms);
        v.extend_from_slice(&self.signer.to_bytes());
        v.put_u8(self.recipients.len() as u8);
        for w in &self.recipients {
            v.extend_from_slice(&w.key_id);
            v.extend_from_slice(&w.enc);
            v.extend_from_slice(&w.ciphertext);
        }
        v
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = self.body_aad();
        v.extend_from_slice(&self.nonce);
        v.put_u32(self.body.len() as u32);
        v.extend_from_slice(&self.body);
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses and checks the signature by the document's own signer (whether that signer
    /// is the owner is [`crate::trust::Trust::check_settings`]'s business).
    pub fn parse(b: &[u8]) -> Result<Settings, Error> {
        let mut r = Reader::new("settings", b);
        r.magic_version(MAGIC, 1)?;
        let household_id = r.array("household_id")?;
        let serial = r.u64("serial")?;
        let issued_ms = r.i64("issued_ms")?;
        let signer = IdentityPublic::from_bytes(&r.array("signer")?)?;
        let n = usize::from(r.u8("recipient count")?);
        if n == 0 || n > RECIPIENTS_MAX {
            bail!(Malformed, "settings recipient count: expected 1..={RECIPIENTS_MAX}, got {n}");
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            let key_id: [u8; KEY_ID_BYTES] = r.array("recipient key_id")?;
            let enc: [u8; ENC_BYTES] = r.array("recipient enc")?;
            let ciphertext: [u8; WRAPPED_BYTES] = r.array("recipient wrapped key")?;
            recipients.push(WrappedKey { key_id, enc, ciphertext });
        }
        let nonce = r.array("nonce")?;
        let len = r.u32("body length")? as usize;
        if !(TAG..=BODY_BYTES_MAX + TAG).contains(&len) {
            bail!(Malformed, "settings body length: expected {TAG}..={}, got {len}", BODY_BYTES_MAX + TAG);
        }
        let body = r.take("body", len)?.to_vec();
        let signature = r.array("signature")?;
        r.finish()?;
        let s = Settings { household_id, serial, issued_ms, signer, recipients, nonce, body, signature };
        verify(&s.signer, DOMAIN, &s.signed_part(), &s.signature, "settings")?;
        Ok(s)
    }

    /// Decrypts the body with whichever of `keyring`'s encryption keys it was sealed for.
    pub fn open(&self, keyring: &Keyring) -> Result<Vec<u8>, Error> {
        let aad = wrap_aad(&self.household_id, self.serial);
        let w = self
            .recipients
            .iter()
            .find(|w| keyring.secret_for(&w.key_id).is_some())
            .ok_or_else(|| Error::new(ErrorKind::NotRecipient, "settings are not sealed for this keyring"))?;
        let key = keyring.secret_for(&w.key_id).expect("found above").unwrap(w, &aad)?;
        let (ct, tag) = self.body.split_at(self.body.len() - TAG);
        let mut out = ct.to_vec();
        if !Gcm::new(key.as_bytes()).open(self.nonce, &self.body_aad(), &mut out, tag.try_into().expect("16 bytes")) {
            bail!(Authentication, "settings body: the tag does not verify");
        }
        Ok(out)
    }
}
