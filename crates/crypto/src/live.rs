//! Live view, encrypted between the agent and one browser.
//!
//! The browser makes a fresh P-256 key for the session and signs a request with the
//! member's identity key; the server relays the request to the agent and the agent's stream
//! back, and can do nothing else: the agent streams only to a session key that a member of
//! its roster (or the owner) signed moments ago, so the server cannot substitute its own.
//!
//! ```text
//! request: "PLLR" 01 | household_id (16) | camera (u8 len + UTF-8, 1..=64) | session key (65, P-256)
//!          | issued_ms (i64) | member identity (32)
//!          | signature (64) by the member over "porchlight/live/v1" 00 || everything before it
//! stream:  a sequence of messages, each u32 length (big-endian) || payload;
//!          payload 0: "PLLV" 01 | enc (65) | wrapped content key (48)
//!                     (HPKE to the session key, info "porchlight/content-key/v1",
//!                      aad "porchlight/live/v1" 00 || session key)
//!          payload i ≥ 1: AES-256-GCM(content key, nonce = 00 00 00 00 || i (u64),
//!                      aad = session key, one fMP4 segment: the init segment, then fragments)
//! ```
//!
//! Counting nonces from 1 in order means a relay that drops, repeats or reorders a
//! segment makes the next one fail to open.

use crate::keys::{EncryptionPublic, EncryptionSecret, IdentityPublic, Keyring, WrappedKey, sign, verify};
use crate::prim::{Gcm, TAG};
use crate::stream::ContentKey;
use crate::wire::{Put, Reader};
use crate::{Error, ErrorKind, bail};

const REQUEST_MAGIC: &[u8; 4] = b"PLLR";
const HEADER_MAGIC: &[u8; 4] = b"PLLV";
const DOMAIN: &[u8] = b"porchlight/live/v1";
/// How old a request may be when the agent sees it (clock skew included).
pub const REQUEST_MAX_AGE_MS: i64 = 60_000;
/// Largest segment: a 4K key frame at a high bit rate fits with room to spare.
pub const SEGMENT_BYTES_MAX: usize = 8 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRequest {
    pub household_id: [u8; 16],
    pub camera: String,
    pub session_key: EncryptionPublic,
    pub issued_ms: i64,
    pub member: IdentityPublic,
    signature: [u8; 64],
}

impl LiveRequest {
    /// Signs a request (the browser does this; here for tests and tools).
    pub fn create(
        member: &Keyring,
        household_id: [u8; 16],
        camera: &str,
        session_key: EncryptionPublic,
        issued_ms: i64,
    ) -> Result<LiveRequest, Error> {
        crate::wire::check_text("live request", "camera", camera, 1, 64)?;
        let mut r = LiveRequest {
            household_id,
            camera: camera.to_owned(),
            session_key,
            issued_ms,
            member: member.identity.public(),
            signature: [0; 64],
        };
        r.signature = sign(&member.identity.0, DOMAIN, &r.signed_part());
        Ok(r)
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(200);
        v.extend_from_slice(REQUEST_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.household_id);
        v.put_u8(self.camera.len() as u8);
        v.extend_from_slice(self.camera.as_bytes());
        v.extend_from_slice(&self.session_key.to_bytes());
        v.put_i64(self.issued_ms);
        v.extend_from_slice(&self.member.to_bytes());
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses and checks the member's signature (whether the member may watch is the
    /// agent's roster's business).
    pub fn parse(b: &[u8]) -> Result<LiveRequest, Error> {
        let mut r = Reader::new("live request", b);
        r.magic_version(REQUEST_MAGIC, 1)?;
        let household_id = r.array("household_id")?;
        let n = usize::from(r.u8("camera length")?);
        let camera = std::str::from_utf8(r.take("camera", n)?)
            .map_err(|_| Error::new(ErrorKind::Malformed, "live request camera: not UTF-8"))?
            .to_owned();
        crate::wire::check_text("live request", "camera", &camera, 1, 64)?;
        let session_key = EncryptionPublic::from_bytes(&r.array::<65>("session key")?)?;
        let issued_ms = r.i64("issued_ms")?;
        let member = IdentityPublic::from_bytes(&r.array("member")?)?;
        let signature = r.array("signature")?;
        r.finish()?;
        let q = LiveRequest { household_id, camera, session_key, issued_ms, member, signature };
        verify(&q.member, DOMAIN, &q.signed_part(), &q.signature, "live request")?;
        Ok(q)
    }
}

fn nonce(i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

fn wrap_aad(session_key: &EncryptionPublic) -> Vec<u8> {
    [DOMAIN, &[0], &session_key.to_bytes()].concat()
}

/// The agent's end: the header, then each segment sealed in order.
pub struct LiveSealer {
    gcm: Gcm,
    aad: [u8; 65],
    next: u64,
    header: Vec<u8>,
}

impl LiveSealer {
    pub fn new(session_key: &EncryptionPublic) -> LiveSealer {
        let key = ContentKey::generate();
        let w = session_key.wrap(&key, &wrap_aad(session_key));
        let mut header = Vec::with_capacity(4 + 1 + 65 + 48);
        header.extend_from_slice(HEADER_MAGIC);
        header.push(1);
        header.extend_from_slice(&w.enc);
        header.extend_from_slice(&w.ciphertext);
        LiveSealer { gcm: Gcm::new(key.as_bytes()), aad: session_key.to_bytes(), next: 1, header }
    }

    /// Payload 0, framed.
    pub fn header(&self) -> Vec<u8> {
        frame(&self.header)
    }

    /// The next segment, sealed and framed.
    pub fn seal(&mut self, segment: &[u8]) -> Result<Vec<u8>, Error> {
        if segment.len() > SEGMENT_BYTES_MAX {
            bail!(InvalidArgument, "live segment: {} bytes, at most {SEGMENT_BYTES_MAX}", segment.len());
        }
        let mut buf = segment.to_vec();
        let tag = self.gcm.seal(nonce(self.next), &self.aad, &mut buf);
        buf.extend_from_slice(&tag);
        self.next += 1;
        Ok(frame(&buf))
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.put_u32(payload.len() as u32);
    v.extend_from_slice(payload);
    v
}

/// The viewer's end (the browser has its own in `ui/src/live.ts`; this one is for tests).
pub struct LiveOpener {
    secret: EncryptionSecret,
    gcm: Option<Gcm>,
    next: u64,
}

impl LiveOpener {
    pub fn new(secret: EncryptionSecret) -> LiveOpener {
        LiveOpener { secret, gcm: None, next: 1 }
    }

    /// Opens the next payload (without its length prefix): `None` for the header, the
    /// segment otherwise.
    pub fn open(&mut self, payload: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let public = self.secret.public();
        let Some(gcm) = &self.gcm else {
            let mut r = Reader::new("live header", payload);
            r.magic_version(HEADER_MAGIC, 1)?;
            let w = WrappedKey { key_id: public.key_id(), enc: r.array("enc")?, ciphertext: r.array("wrapped key")? };
            r.finish()?;
            let key = self.secret.unwrap(&w, &wrap_aad(&public))?;
            self.gcm = Some(Gcm::new(key.as_bytes()));
            return Ok(None);
        };
        if payload.len() < TAG {
            bail!(Malformed, "live segment: shorter than its tag");
        }
        let (ct, tag) = payload.split_at(payload.len() - TAG);
        let mut out = ct.to_vec();
        if !gcm.open(nonce(self.next), &public.to_bytes(), &mut out, tag.try_into().expect("16 bytes")) {
            bail!(Authentication, "live segment {}: altered, dropped or out of order", self.next);
        }
        self.next += 1;
        Ok(Some(out))
    }
}
