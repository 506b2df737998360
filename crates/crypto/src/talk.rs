//! Talking through a camera, encrypted between one browser and the camera's agent.
//!
//! The browser makes a fresh content key for the talk session, wraps it for each of the
//! household's agents (their encryption keys), and signs a request with the member's
//! identity key; the server relays the request and then the browser's packets to the agent,
//! and can do nothing else with them: it holds no wrapped key's secret, and the member's
//! signature binds the wraps, so it cannot swap in a key of its own without the signature
//! failing. The agent plays only packets of a session that a member of its roster (or the
//! owner) signed moments ago.
//!
//! ```text
//! request: "PLTR" 01 | household_id (16) | camera (u8 len + UTF-8, 1..=64) | talk_id (16)
//!          | issued_ms (i64) | member identity (32)
//!          | n (u8, 1..=16) | n × (key_id (16) | enc (65) | wrapped key (48))
//!          | signature (64) by the member over "porchlight/talk/v1" 00 || everything before it
//! wrap:    HPKE to the agent's encryption key, info "porchlight/content-key/v1",
//!          aad "porchlight/talk/v1" 00 || household_id || talk_id
//! packet:  seq (u64, 1, 2, …) | AES-256-GCM(content key, nonce = 00 00 00 00 || seq,
//!          aad = "PLTP" || talk_id || seq, one Opus packet of 1..=1275 bytes)
//! ```
//!
//! A talk request may be as old as a live one when the agent sees it
//! ([`crate::live::REQUEST_MAX_AGE_MS`]; `Trust::check_talk` applies it).
//!
//! Packets carry their sequence number so that a relay's loss (a dropped packet) costs a
//! moment of sound, not the session; the agent refuses a number at or below the last one it
//! played, so a replayed or reordered packet is never played.

use crate::keys::{
    ENC_BYTES, EncryptionPublic, IdentityPublic, KEY_ID_BYTES, Keyring, WRAPPED_BYTES, WrappedKey, sign, verify,
};
use crate::prim::{Gcm, TAG};
use crate::stream::ContentKey;
use crate::wire::{Put, Reader};
use crate::{Error, ErrorKind, bail};

const REQUEST_MAGIC: &[u8; 4] = b"PLTR";
const PACKET_MAGIC: &[u8; 4] = b"PLTP";
const DOMAIN: &[u8] = b"porchlight/talk/v1";
/// Most agents a household's talk key is wrapped for.
pub const RECIPIENTS_MAX: usize = 16;
/// Largest Opus packet (RFC 6716, section 3.4).
pub const OPUS_BYTES_MAX: usize = 1275;
/// Largest sealed packet: sequence number, the largest Opus packet, the tag.
pub const PACKET_BYTES_MAX: usize = 8 + OPUS_BYTES_MAX + TAG;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TalkRequest {
    pub household_id: [u8; 16],
    pub camera: String,
    pub talk_id: [u8; 16],
    pub issued_ms: i64,
    pub member: IdentityPublic,
    pub wraps: Vec<WrappedKey>,
    signature: [u8; 64],
}

fn wrap_aad(household_id: &[u8; 16], talk_id: &[u8; 16]) -> Vec<u8> {
    [DOMAIN, &[0], household_id, talk_id].concat()
}

impl TalkRequest {
    /// Makes a session's key and signs its request for `agents` (the browser does this;
    /// here for tests and tools). Returns the request and the sealer for its packets.
    pub fn create(
        member: &Keyring,
        household_id: [u8; 16],
        camera: &str,
        agents: &[EncryptionPublic],
        issued_ms: i64,
    ) -> Result<(TalkRequest, TalkSealer), Error> {
        crate::wire::check_text("talk request", "camera", camera, 1, 64)?;
        if agents.is_empty() || agents.len() > RECIPIENTS_MAX {
            bail!(InvalidArgument, "talk request: {} agents, expected 1 to {RECIPIENTS_MAX}", agents.len());
        }
        let talk_id: [u8; 16] = crate::random_array();
        let key = ContentKey::generate();
        let aad = wrap_aad(&household_id, &talk_id);
        let wraps = agents.iter().map(|a| a.wrap(&key, &aad)).collect();
        let mut r = TalkRequest {
            household_id,
            camera: camera.to_owned(),
            talk_id,
            issued_ms,
            member: member.identity.public(),
            wraps,
            signature: [0; 64],
        };
        r.signature = sign(&member.identity.0, DOMAIN, &r.signed_part());
        let sealer = TalkSealer { gcm: Gcm::new(key.as_bytes()), talk_id, next: 1 };
        Ok((r, sealer))
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(160 + self.wraps.len() * (KEY_ID_BYTES + ENC_BYTES + WRAPPED_BYTES));
        v.extend_from_slice(REQUEST_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.household_id);
        v.put_u8(self.camera.len() as u8);
        v.extend_from_slice(self.camera.as_bytes());
        v.extend_from_slice(&self.talk_id);
        v.put_i64(self.issued_ms);
        v.extend_from_slice(&self.member.to_bytes());
        v.put_u8(self.wraps.len() as u8);
        for w in &self.wraps {
            v.extend_from_slice(&w.key_id);
            v.extend_from_slice(&w.enc);
            v.extend_from_slice(&w.ciphertext);
        }
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses and checks the member's signature (whether the member may talk is the
    /// agent's roster's business).
    pub fn parse(b: &[u8]) -> Result<TalkRequest, Error> {
        let mut r = Reader::new("talk request", b);
        r.magic_version(REQUEST_MAGIC, 1)?;
        let household_id = r.array("household_id")?;
        let n = usize::from(r.u8("camera length")?);
        let camera = std::str::from_utf8(r.take("camera", n)?)
            .map_err(|_| Error::new(ErrorKind::Malformed, "talk request camera: not UTF-8"))?
            .to_owned();
        crate::wire::check_text("talk request", "camera", &camera, 1, 64)?;
        let talk_id = r.array("talk_id")?;
        let issued_ms = r.i64("issued_ms")?;
        let member = IdentityPublic::from_bytes(&r.array("member")?)?;
        let n = usize::from(r.u8("recipients")?);
        if n == 0 || n > RECIPIENTS_MAX {
            bail!(Malformed, "talk request: {n} recipients, expected 1 to {RECIPIENTS_MAX}");
        }
        let mut wraps = Vec::with_capacity(n);
        for _ in 0..n {
            wraps.push(WrappedKey {
                key_id: r.array("key_id")?,
                enc: r.array("enc")?,
                ciphertext: r.array("wrapped key")?,
            });
        }
        let signature = r.array("signature")?;
        r.finish()?;
        let q = TalkRequest { household_id, camera, talk_id, issued_ms, member, wraps, signature };
        verify(&q.member, DOMAIN, &q.signed_part(), &q.signature, "talk request")?;
        Ok(q)
    }

    /// The agent's end: unwraps the session key with the agent's keys.
    pub fn opener(&self, agent: &Keyring) -> Result<TalkOpener, Error> {
        let aad = wrap_aad(&self.household_id, &self.talk_id);
        for secret in std::iter::once(&agent.encryption).chain(agent.previous.iter()) {
            let id = secret.public().key_id();
            if let Some(w) = self.wraps.iter().find(|w| w.key_id == id) {
                let key = secret.unwrap(w, &aad)?;
                return Ok(TalkOpener { gcm: Gcm::new(key.as_bytes()), talk_id: self.talk_id, last: 0 });
            }
        }
        bail!(NotRecipient, "talk request: not sealed for this agent's keys")
    }
}

fn nonce(seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

fn packet_aad(talk_id: &[u8; 16], seq: u64) -> [u8; 28] {
    let mut a = [0u8; 28];
    a[..4].copy_from_slice(PACKET_MAGIC);
    a[4..20].copy_from_slice(talk_id);
    a[20..].copy_from_slice(&seq.to_be_bytes());
    a
}

/// The browser's end (the web app has its own in `ui/src/talk.ts`; this one is for tests
/// and tools).
pub struct TalkSealer {
    gcm: Gcm,
    talk_id: [u8; 16],
    next: u64,
}

impl TalkSealer {
    /// The next Opus packet, sealed.
    pub fn seal(&mut self, opus: &[u8]) -> Result<Vec<u8>, Error> {
        if opus.is_empty() || opus.len() > OPUS_BYTES_MAX {
            bail!(InvalidArgument, "talk packet: {} bytes of Opus, expected 1 to {OPUS_BYTES_MAX}", opus.len());
        }
        let seq = self.next;
        self.next += 1;
        let mut v = Vec::with_capacity(8 + opus.len() + TAG);
        v.put_u64(seq);
        let mut body = opus.to_vec();
        let tag = self.gcm.seal(nonce(seq), &packet_aad(&self.talk_id, seq), &mut body);
        v.extend_from_slice(&body);
        v.extend_from_slice(&tag);
        Ok(v)
    }
}

/// The agent's end: opens packets in rising order of their sequence numbers.
pub struct TalkOpener {
    gcm: Gcm,
    talk_id: [u8; 16],
    last: u64,
}

impl TalkOpener {
    /// Opens one sealed packet; refuses one that is malformed, altered, not of this
    /// session, or not newer than the last one opened (a replay or a reordering).
    pub fn open(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        if packet.len() < 8 + 1 + TAG || packet.len() > PACKET_BYTES_MAX {
            bail!(Malformed, "talk packet: {} bytes, expected {} to {PACKET_BYTES_MAX}", packet.len(), 8 + 1 + TAG);
        }
        let seq = u64::from_be_bytes(packet[..8].try_into().expect("8 bytes"));
        if seq <= self.last {
            bail!(Authentication, "talk packet {seq}: not after packet {} (replayed or out of order)", self.last);
        }
        let (ct, tag) = packet[8..].split_at(packet.len() - 8 - TAG);
        let mut out = ct.to_vec();
        if !self.gcm.open(nonce(seq), &packet_aad(&self.talk_id, seq), &mut out, tag.try_into().expect("16 bytes")) {
            bail!(Authentication, "talk packet {seq}: altered, or not of this session");
        }
        self.last = seq;
        Ok(out)
    }

    /// The sequence number of the last packet opened (0 before the first).
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(label: &str) -> Keyring {
        Keyring::generate(label, 1_700_000_000_000).expect("keys")
    }

    #[test]
    fn a_session_opens_on_the_agent_in_order_and_refuses_replays() {
        let (member, agent, other) = (keyring("member"), keyring("agent"), keyring("other"));
        let (q, mut sealer) =
            TalkRequest::create(&member, [7; 16], "door", &[other.public().encryption, agent.public().encryption], 5)
                .expect("request");
        let q = TalkRequest::parse(&q.encode()).expect("parses");
        assert_eq!(q.camera, "door");
        let mut opener = q.opener(&agent).expect("sealed for the agent");
        let (p1, p2, p3) = (sealer.seal(b"one").unwrap(), sealer.seal(b"two").unwrap(), sealer.seal(b"three").unwrap());
        assert_eq!(opener.open(&p1).unwrap(), b"one");
        // p2 lost on the way: p3 still plays; p2 arriving late does not, nor p3 again.
        assert_eq!(opener.open(&p3).unwrap(), b"three");
        assert!(opener.open(&p2).is_err(), "late");
        assert!(opener.open(&p3).is_err(), "replayed");
        assert_eq!(opener.last(), 3);
        // Another household's agent is not a recipient.
        assert_eq!(q.opener(&keyring("stranger")).err().map(|e| e.kind()), Some(ErrorKind::NotRecipient));
    }

    #[test]
    fn a_packet_of_another_session_or_altered_is_refused() {
        let (member, agent) = (keyring("member"), keyring("agent"));
        let (q1, mut s1) = TalkRequest::create(&member, [1; 16], "door", &[agent.public().encryption], 5).unwrap();
        let (_q2, mut s2) = TalkRequest::create(&member, [1; 16], "door", &[agent.public().encryption], 5).unwrap();
        let mut o1 = q1.opener(&agent).unwrap();
        assert!(o1.open(&s2.seal(b"hello").unwrap()).is_err(), "another session's packet");
        let mut p = s1.seal(b"hello").unwrap();
        p[9] ^= 1;
        assert!(o1.open(&p).is_err(), "altered");
        assert!(o1.open(&[0; 10]).is_err(), "short");
        assert!(s1.seal(&[0; OPUS_BYTES_MAX + 1]).is_err(), "too long to seal");
        assert!(s1.seal(&[]).is_err(), "empty");
    }

    #[test]
    fn the_signature_covers_the_wraps() {
        let (member, agent) = (keyring("member"), keyring("agent"));
        let (q, _) = TalkRequest::create(&member, [1; 16], "door", &[agent.public().encryption], 5).unwrap();
        // The server swaps in a wrap of a key of its own for the agent's key id.
        let key = ContentKey::generate();
        let mut forged = q.clone();
        let w = agent.public().encryption.wrap(&key, &wrap_aad(&q.household_id, &q.talk_id));
        forged.wraps = vec![w];
        assert!(TalkRequest::parse(&forged.encode()).is_err());
        // Every byte of the request matters.
        let good = q.encode();
        for i in (0..good.len()).step_by(7) {
            let mut b = good.clone();
            b[i] ^= 0x40;
            assert!(TalkRequest::parse(&b).is_err(), "byte {i} changed and still parses");
        }
    }
}
