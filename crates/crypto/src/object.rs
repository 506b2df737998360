//! Sealed objects: a clip, snapshot or thumbnail encrypted under a fresh content key,
//! wrapped for each recipient, and signed by the device that recorded it.
//!
//! ```text
//! header:
//!   "PLOB" 01 | header_len (u32, whole header incl. signature) | kind (u8)
//!   | object_id (16) | device identity (32) | camera (u16 len + UTF-8, 1..=64)
//!   | start_ms (i64) | end_ms (i64) | plaintext_len (u64) | chunk_log2 (u8, = 16)
//!   | nonce_prefix (7) | body digest (32, SHA-256 of the sealed body)
//!   | n (u8, 1..=32) | n × (key_id (16) | enc (65) | wrapped key (48))
//!   | signature (64) by the device over "porchlight/object/v1" 00 || every header byte before it
//! body:
//!   the chunks of `stream`, back to back
//! ```
//!
//! Each wrap uses HPKE `aad = object_id || body digest`, so a wrapped key cannot be moved
//! into another object's header. The signature covers the digest, so it covers the body:
//! anyone holding the file can check which device made it, for which camera and time
//! range, and for whom, without being able to decrypt it.

use sha2::{Digest, Sha256};

use crate::keys::{
    ENC_BYTES, EncryptionPublic, IdentityPublic, IdentitySecret, KEY_ID_BYTES, Keyring, WRAPPED_BYTES, WrappedKey,
    sign, verify,
};
use crate::stream::{self, ContentKey, NONCE_PREFIX_BYTES, Opener, Sealer};
use crate::wire::{Put, Reader, check_text};
use crate::{Error, bail};

const MAGIC: &[u8; 4] = b"PLOB";
const DOMAIN: &[u8] = b"porchlight/object/v1";
pub const RECIPIENTS_MAX: usize = 32;
pub const CAMERA_BYTES_MAX: usize = 64;
const RECIPIENT_BYTES: usize = KEY_ID_BYTES + ENC_BYTES + WRAPPED_BYTES;
/// Bytes a reader needs to learn the header's length.
pub const PREFIX_BYTES: usize = 9;
/// The longest possible header.
pub const HEADER_BYTES_MAX: usize =
    9 + 1 + 16 + 32 + 2 + CAMERA_BYTES_MAX + 8 + 8 + 8 + 1 + 7 + 32 + 1 + RECIPIENTS_MAX * RECIPIENT_BYTES + 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// An MP4 clip.
    Clip = 1,
    /// A full-size JPEG snapshot.
    Snapshot = 2,
    /// A small JPEG thumbnail.
    Thumbnail = 3,
    /// An event's metadata (labels, zones, scores) as JSON: what the server must not read.
    Event = 4,
}

impl Kind {
    fn from_u8(v: u8) -> Result<Kind, Error> {
        Ok(match v {
            1 => Kind::Clip,
            2 => Kind::Snapshot,
            3 => Kind::Thumbnail,
            4 => Kind::Event,
            _ => {
                bail!(Unsupported, "object kind: expected 1 (clip), 2 (snapshot), 3 (thumbnail) or 4 (event), got {v}")
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Clip => "clip",
            Kind::Snapshot => "snapshot",
            Kind::Thumbnail => "thumbnail",
            Kind::Event => "event",
        }
    }
}

/// What an object is, as the recording device states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Meta {
    fn check(&self) -> Result<(), Error> {
        check_text("object", "camera", &self.camera, 1, CAMERA_BYTES_MAX)?;
        if self.end_ms < self.start_ms {
            bail!(InvalidArgument, "object end_ms: {} is before start_ms {}", self.end_ms, self.start_ms);
        }
        Ok(())
    }
}

/// A parsed, signature-checked header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub meta: Meta,
    pub object_id: [u8; 16],
    pub device: IdentityPublic,
    pub plaintext_len: u64,
    pub nonce_prefix: [u8; NONCE_PREFIX_BYTES],
    pub body_digest: [u8; 32],
    pub recipients: Vec<WrappedKey>,
    pub signature: [u8; 64],
    /// The header's encoded length: the body starts here.
    pub len: usize,
}

/// The associated data every wrap of this object's content key uses.
pub fn wrap_aad(object_id: &[u8; 16], body_digest: &[u8; 32]) -> [u8; 48] {
    let mut a = [0u8; 48];
    a[..16].copy_from_slice(object_id);
    a[16..].copy_from_slice(body_digest);
    a
}

fn header_len(camera: &str, recipients: usize) -> usize {
    9 + 1 + 16 + 32 + 2 + camera.len() + 8 + 8 + 8 + 1 + 7 + 32 + 1 + recipients * RECIPIENT_BYTES + 64
}

/// Reads the header length from the first [`PREFIX_BYTES`] of an object, so a reader can
/// fetch exactly the header before the body.
pub fn header_len_from_prefix(prefix: &[u8]) -> Result<usize, Error> {
    let mut r = Reader::new("object header", prefix);
    r.magic_version(MAGIC, 1)?;
    let n = r.u32("header_len")? as usize;
    if n > HEADER_BYTES_MAX {
        bail!(Malformed, "object header_len: {n} exceeds the largest possible header ({HEADER_BYTES_MAX})");
    }
    Ok(n)
}

impl Header {
    /// Parses the header at the start of `b` (which may continue with the body) and checks
    /// its signature. Says nothing yet about the body: see [`verify`].
    pub fn parse(b: &[u8]) -> Result<Header, Error> {
        let len = header_len_from_prefix(b.get(..PREFIX_BYTES).unwrap_or(b))?;
        let Some(hb) = b.get(..len) else {
            bail!(Malformed, "object header: header_len is {len} but only {} bytes are present", b.len());
        };
        let mut r = Reader::new("object header", hb);
        r.take("prefix", PREFIX_BYTES)?;
        let kind = Kind::from_u8(r.u8("kind")?)?;
        let object_id = r.array("object_id")?;
        let device = IdentityPublic::from_bytes(&r.array("device")?)?;
        let camera = r.text("camera", 1, CAMERA_BYTES_MAX)?;
        let start_ms = r.i64("start_ms")?;
        let end_ms = r.i64("end_ms")?;
        if end_ms < start_ms {
            bail!(Malformed, "object header end_ms: {end_ms} is before start_ms {start_ms}");
        }
        let plaintext_len = r.u64("plaintext_len")?;
        if plaintext_len > stream::PLAINTEXT_BYTES_MAX {
            bail!(Malformed, "object header plaintext_len: {plaintext_len} exceeds {}", stream::PLAINTEXT_BYTES_MAX);
        }
        let log2 = r.u8("chunk_log2")?;
        if log2 != 16 {
            bail!(Unsupported, "object header chunk_log2: this build reads 16, got {log2}");
        }
        let nonce_prefix = r.array("nonce_prefix")?;
        let body_digest = r.array("body_digest")?;
        let n = usize::from(r.u8("recipient count")?);
        if n == 0 || n > RECIPIENTS_MAX {
            bail!(Malformed, "object header recipient count: expected 1..={RECIPIENTS_MAX}, got {n}");
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            recipients.push(WrappedKey {
                key_id: r.array("recipient key_id")?,
                enc: r.array("recipient enc")?,
                ciphertext: r.array("recipient wrapped key")?,
            });
        }
        let signed = r.pos();
        let signature = r.array("signature")?;
        r.finish()?;
        verify(&device, DOMAIN, &hb[..signed], &signature, "object header")?;
        Ok(Header {
            meta: Meta { kind, camera, start_ms, end_ms },
            object_id,
            device,
            plaintext_len,
            nonce_prefix,
            body_digest,
            recipients,
            signature,
            len,
        })
    }

    fn encode_unsigned(&self) -> Vec<u8> {
        let len = header_len(&self.meta.camera, self.recipients.len());
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(MAGIC);
        v.put_u8(1);
        v.put_u32(len as u32);
        v.put_u8(self.meta.kind as u8);
        v.extend_from_slice(&self.object_id);
        v.extend_from_slice(&self.device.to_bytes());
        v.put_var(self.meta.camera.as_bytes());
        v.put_i64(self.meta.start_ms);
        v.put_i64(self.meta.end_ms);
        v.put_u64(self.plaintext_len);
        v.put_u8(16);
        v.extend_from_slice(&self.nonce_prefix);
        v.extend_from_slice(&self.body_digest);
        v.put_u8(self.recipients.len() as u8);
        for w in &self.recipients {
            v.extend_from_slice(&w.key_id);
            v.extend_from_slice(&w.enc);
            v.extend_from_slice(&w.ciphertext);
        }
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.encode_unsigned();
        v.extend_from_slice(&self.signature);
        v
    }

    pub fn wrap_aad(&self) -> [u8; 48] {
        wrap_aad(&self.object_id, &self.body_digest)
    }

    /// Unwraps the content key with whichever of the keyring's encryption keys (current or
    /// earlier) the object was sealed for.
    pub fn content_key(&self, keyring: &Keyring) -> Result<ContentKey, Error> {
        for w in &self.recipients {
            if let Some(s) = keyring.secret_for(&w.key_id) {
                return s.unwrap(w, &self.wrap_aad());
            }
        }
        bail!(NotRecipient, "object is not sealed for any key of {:?}", keyring.label)
    }

    pub fn opener(&self, key: &ContentKey) -> Result<Opener, Error> {
        Opener::new(key, self.nonce_prefix, self.plaintext_len)
    }
}

/// Seals a body fed chunk by chunk: the header (which carries the body's digest) is
/// produced at the end, with a length known from the start so a file writer can reserve it.
pub struct ObjectSealer {
    meta: Meta,
    recipients: Vec<EncryptionPublic>,
    key: ContentKey,
    object_id: [u8; 16],
    nonce_prefix: [u8; NONCE_PREFIX_BYTES],
    sealer: Sealer,
}

impl ObjectSealer {
    pub fn new(meta: Meta, recipients: &[EncryptionPublic]) -> Result<ObjectSealer, Error> {
        Self::new_fixed(meta, recipients, ContentKey::generate(), crate::random_array(), crate::random_array())
    }

    /// [`new`](Self::new) with a fixed key, object id and nonce prefix: for test vectors
    /// only. Reusing a content key with the same nonce prefix destroys confidentiality.
    #[cfg(any(test, feature = "testing"))]
    pub fn new_with(
        meta: Meta,
        recipients: &[EncryptionPublic],
        key: ContentKey,
        object_id: [u8; 16],
        nonce_prefix: [u8; NONCE_PREFIX_BYTES],
    ) -> Result<ObjectSealer, Error> {
        Self::new_fixed(meta, recipients, key, object_id, nonce_prefix)
    }

    fn new_fixed(
        meta: Meta,
        recipients: &[EncryptionPublic],
        key: ContentKey,
        object_id: [u8; 16],
        nonce_prefix: [u8; NONCE_PREFIX_BYTES],
    ) -> Result<ObjectSealer, Error> {
        meta.check()?;
        if recipients.is_empty() || recipients.len() > RECIPIENTS_MAX {
            bail!(InvalidArgument, "recipients: expected 1..={RECIPIENTS_MAX}, got {}", recipients.len());
        }
        Ok(ObjectSealer {
            sealer: Sealer::new(&key, nonce_prefix),
            meta,
            recipients: recipients.to_vec(),
            key,
            object_id,
            nonce_prefix,
        })
    }

    pub fn header_len(&self) -> usize {
        header_len(&self.meta.camera, self.recipients.len())
    }

    /// See [`Sealer::seal_chunk`].
    pub fn seal_chunk(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        self.sealer.seal_chunk(chunk, last, out)
    }

    /// Wraps the content key for every recipient and signs: returns the encoded header.
    pub fn finish(self, device: &IdentitySecret) -> Result<Vec<u8>, Error> {
        self.finish_inner(device, |r, k, aad| r.wrap(k, aad))
    }

    /// [`finish`](Self::finish) with fixed HPKE ephemeral secrets, one per recipient: for
    /// test vectors only.
    #[cfg(any(test, feature = "testing"))]
    pub fn finish_with_ephemerals(self, device: &IdentitySecret, ephs: &[[u8; 32]]) -> Result<Vec<u8>, Error> {
        if ephs.len() != self.recipients.len() {
            bail!(InvalidArgument, "ephemerals: expected {}, got {}", self.recipients.len(), ephs.len());
        }
        let mut i = 0;
        self.finish_inner(device, |r, k, aad| {
            i += 1;
            r.wrap_with_ephemeral(k, aad, &ephs[i - 1])
        })
    }

    fn finish_inner(
        self,
        device: &IdentitySecret,
        mut wrap: impl FnMut(&EncryptionPublic, &ContentKey, &[u8]) -> WrappedKey,
    ) -> Result<Vec<u8>, Error> {
        let (plaintext_len, body_digest) = self.sealer.finish()?;
        let aad = wrap_aad(&self.object_id, &body_digest);
        let mut h = Header {
            meta: self.meta,
            object_id: self.object_id,
            device: device.public(),
            plaintext_len,
            nonce_prefix: self.nonce_prefix,
            body_digest,
            recipients: self.recipients.iter().map(|r| wrap(r, &self.key, &aad)).collect(),
            signature: [0; 64],
            len: 0,
        };
        let unsigned = h.encode_unsigned();
        h.signature = sign(&device.0, DOMAIN, &unsigned);
        Ok(h.encode())
    }
}

/// Seals `plaintext` in memory: header followed by body.
pub fn seal(
    device: &IdentitySecret,
    meta: Meta,
    recipients: &[EncryptionPublic],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut s = ObjectSealer::new(meta, recipients)?;
    let mut body = Vec::with_capacity(stream::sealed_len(plaintext.len() as u64) as usize);
    let n = stream::chunk_count(plaintext.len() as u64) as usize;
    for (i, c) in plaintext.chunks(stream::CHUNK_BYTES).enumerate() {
        s.seal_chunk(c, i + 1 == n, &mut body)?;
    }
    if plaintext.is_empty() {
        s.seal_chunk(&[], true, &mut body)?;
    }
    let mut out = s.finish(device)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks everything that needs no key: the header's signature, the body's length and its
/// digest. On success the object is exactly what `header.device` signed.
pub fn verify_object(sealed: &[u8]) -> Result<Header, Error> {
    let h = Header::parse(sealed)?;
    let body = &sealed[h.len..];
    if body.len() as u64 != stream::sealed_len(h.plaintext_len) {
        bail!(
            Authentication,
            "object body: expected {} bytes, got {} (truncated or padded)",
            stream::sealed_len(h.plaintext_len),
            body.len()
        );
    }
    let d: [u8; 32] = Sha256::digest(body).into();
    if d != h.body_digest {
        bail!(Authentication, "object body: digest does not match the signed header (altered)");
    }
    Ok(h)
}

/// Verifies and decrypts an object held in memory.
pub fn open(keyring: &Keyring, sealed: &[u8]) -> Result<(Header, Vec<u8>), Error> {
    let h = verify_object(sealed)?;
    let key = h.content_key(keyring)?;
    let pt = stream::open_body(&key, h.nonce_prefix, h.plaintext_len, None, &sealed[h.len..])?;
    Ok((h, pt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn meta() -> Meta {
        Meta { kind: Kind::Clip, camera: "front".into(), start_ms: 1000, end_ms: 31_000 }
    }

    #[test]
    fn round_trip_and_header_len() {
        let dev = IdentitySecret::generate();
        let alice = Keyring::generate("alice", 0).unwrap();
        let bob = Keyring::generate("bob", 0).unwrap();
        let pt: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let sealed = seal(&dev, meta(), &[alice.encryption.public(), bob.encryption.public()], &pt).unwrap();
        let (h, got) = open(&alice, &sealed).unwrap();
        assert_eq!(got, pt);
        assert_eq!(h.device, dev.public());
        assert_eq!(h.len, header_len("front", 2));
        assert_eq!(open(&bob, &sealed).unwrap().1, pt);
        let eve = Keyring::generate("eve", 0).unwrap();
        assert_eq!(open(&eve, &sealed).unwrap_err().kind(), ErrorKind::NotRecipient);
    }

    #[test]
    fn bad_arguments() {
        let dev = IdentitySecret::generate();
        let a = Keyring::generate("a", 0).unwrap().encryption.public();
        assert_eq!(seal(&dev, meta(), &[], b"x").unwrap_err().kind(), ErrorKind::InvalidArgument);
        let mut m = meta();
        m.end_ms = 0;
        assert_eq!(seal(&dev, m, std::slice::from_ref(&a), b"x").unwrap_err().kind(), ErrorKind::InvalidArgument);
        let mut m = meta();
        m.camera = "x".repeat(65);
        assert_eq!(seal(&dev, m, &[a], b"x").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
