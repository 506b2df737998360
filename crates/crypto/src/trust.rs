//! Which keys an agent may encrypt to.
//!
//! Pairing pins the owner's identity key on the agent: the owner's device shows a pairing
//! code (the key's fingerprint) or a QR payload (the whole public bundle), and the agent
//! accepts an offered owner key only if it matches. From then on the agent believes three
//! kinds of signed statement, whoever relays them (in practice the untrusted server):
//!
//! - a [`Rotation`] signed by the current owner identity, naming the owner's next public
//!   bundle (itself self-signed by the new identity): the chain that lets the owner replace
//!   their keys;
//! - a [`Roster`] signed by the current owner identity: the household members whose keys
//!   new objects are encrypted to, each with a role and a time window, and a serial number
//!   that must grow, so an old roster (one that still lists a removed member) cannot be
//!   replayed;
//! - household settings ([`crate::settings`]) signed by the current owner identity;
//! - nothing else: there is no way to add a recipient without the owner's signature.
//!
//! ```text
//! roster:   "PLRS" 01 | household_id (16) | serial (u64) | issued_ms (i64) | signer identity (32)
//!           | n (u8, 1..=32) | n × (role (u8) | from_ms (i64) | until_ms (i64) | public keys (u16 len + bytes))
//!           | signature (64) by signer over "porchlight/roster/v1" 00 || everything before it
//! rotation: "PLRT" 01 | old identity (32) | issued_ms (i64) | new public keys (u16 len + bytes)
//!           | signature (64) by the old identity over "porchlight/rotation/v1" 00 || everything before it
//! trust:    "PLTR" 01 | household_id (16) | pinned public keys (u16 len + bytes)
//!           | n (u8, 0..=64) | n × rotation (u16 len + bytes) | roster present (u8) | [roster (u16 len + bytes)]
//! ```

use crate::keys::{EncryptionPublic, IdentityPublic, Keyring, PublicKeys, check_pairing_code, sign, verify};
use crate::wire::{Put, Reader};
use crate::{Error, ErrorKind, bail};

const ROSTER_MAGIC: &[u8; 4] = b"PLRS";
const ROSTER_DOMAIN: &[u8] = b"porchlight/roster/v1";
const ROTATION_MAGIC: &[u8; 4] = b"PLRT";
const ROTATION_DOMAIN: &[u8] = b"porchlight/rotation/v1";
const TRUST_MAGIC: &[u8; 4] = b"PLTR";
pub const MEMBERS_MAX: usize = 32;
/// Prefix of a QR pairing payload; the rest is the owner's public bundle in base64url.
pub const QR_PREFIX: &str = "porchlight:pair:v1:";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    Owner = 1,
    Full = 2,
    Standard = 3,
    /// Live view and their own time window only.
    Limited = 4,
    /// Time-limited: sees nothing recorded before the invitation.
    Guest = 5,
}

impl Role {
    fn from_u8(v: u8) -> Result<Role, Error> {
        Ok(match v {
            1 => Role::Owner,
            2 => Role::Full,
            3 => Role::Standard,
            4 => Role::Limited,
            5 => Role::Guest,
            _ => bail!(Malformed, "roster role: expected 1..=5, got {v}"),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    /// New objects starting in `from_ms..until_ms` are encrypted to this member.
    pub from_ms: i64,
    pub until_ms: i64,
    pub keys: PublicKeys,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    pub household_id: [u8; 16],
    pub serial: u64,
    pub issued_ms: i64,
    pub signer: IdentityPublic,
    pub members: Vec<Member>,
    signature: [u8; 64],
}

impl Roster {
    /// Signs a roster with the owner's keyring.
    pub fn create(
        owner: &Keyring,
        household_id: [u8; 16],
        serial: u64,
        issued_ms: i64,
        members: Vec<Member>,
    ) -> Result<Roster, Error> {
        if members.is_empty() || members.len() > MEMBERS_MAX {
            bail!(InvalidArgument, "roster members: expected 1..={MEMBERS_MAX}, got {}", members.len());
        }
        if let Some(m) = members.iter().find(|m| m.until_ms <= m.from_ms) {
            bail!(InvalidArgument, "roster member {:?}: until_ms must be after from_ms", m.keys.label);
        }
        let mut r =
            Roster { household_id, serial, issued_ms, signer: owner.identity.public(), members, signature: [0; 64] };
        r.signature = sign(&owner.identity.0, ROSTER_DOMAIN, &r.signed_part());
        Ok(r)
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(80 + self.members.len() * 220);
        v.extend_from_slice(ROSTER_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.household_id);
        v.put_u64(self.serial);
        v.put_i64(self.issued_ms);
        v.extend_from_slice(&self.signer.to_bytes());
        v.put_u8(self.members.len() as u8);
        for m in &self.members {
            v.put_u8(m.role as u8);
            v.put_i64(m.from_ms);
            v.put_i64(m.until_ms);
            v.put_var(&m.keys.encode());
        }
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Parses and checks the signature (by the roster's own signer: whether that signer is
    /// trusted is [`Trust::accept_roster`]'s business).
    pub fn parse(b: &[u8]) -> Result<Roster, Error> {
        let mut r = Reader::new("roster", b);
        r.magic_version(ROSTER_MAGIC, 1)?;
        let household_id = r.array("household_id")?;
        let serial = r.u64("serial")?;
        let issued_ms = r.i64("issued_ms")?;
        let signer = IdentityPublic::from_bytes(&r.array("signer")?)?;
        let n = usize::from(r.u8("member count")?);
        if n == 0 || n > MEMBERS_MAX {
            bail!(Malformed, "roster member count: expected 1..={MEMBERS_MAX}, got {n}");
        }
        let mut members = Vec::with_capacity(n);
        for _ in 0..n {
            let role = Role::from_u8(r.u8("role")?)?;
            let from_ms = r.i64("from_ms")?;
            let until_ms = r.i64("until_ms")?;
            if until_ms <= from_ms {
                bail!(Malformed, "roster member until_ms: {until_ms} is not after from_ms {from_ms}");
            }
            let keys = PublicKeys::parse(r.var("member keys", 1, 1024)?)?;
            members.push(Member { role, from_ms, until_ms, keys });
        }
        let signature = r.array("signature")?;
        r.finish()?;
        let ro = Roster { household_id, serial, issued_ms, signer, members, signature };
        verify(&ro.signer, ROSTER_DOMAIN, &ro.signed_part(), &ro.signature, "roster")?;
        Ok(ro)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub old: IdentityPublic,
    pub issued_ms: i64,
    pub new: PublicKeys,
    signature: [u8; 64],
}

impl Rotation {
    /// The old keyring vouches for the new one's public bundle.
    pub fn create(old: &Keyring, new: &Keyring, issued_ms: i64) -> Rotation {
        let mut r = Rotation { old: old.identity.public(), issued_ms, new: new.public(), signature: [0; 64] };
        r.signature = sign(&old.identity.0, ROTATION_DOMAIN, &r.signed_part());
        r
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(240);
        v.extend_from_slice(ROTATION_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.old.to_bytes());
        v.put_i64(self.issued_ms);
        v.put_var(&self.new.encode());
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.signed_part();
        v.extend_from_slice(&self.signature);
        v
    }

    pub fn parse(b: &[u8]) -> Result<Rotation, Error> {
        let mut r = Reader::new("rotation", b);
        r.magic_version(ROTATION_MAGIC, 1)?;
        let old = IdentityPublic::from_bytes(&r.array("old identity")?)?;
        let issued_ms = r.i64("issued_ms")?;
        let new = PublicKeys::parse(r.var("new keys", 1, 1024)?)?;
        let signature = r.array("signature")?;
        r.finish()?;
        let ro = Rotation { old, issued_ms, new, signature };
        verify(&ro.old, ROTATION_DOMAIN, &ro.signed_part(), &ro.signature, "rotation")?;
        Ok(ro)
    }
}

/// What a paired agent trusts. Persisted by the agent; every change goes through a method
/// that checks a signature chain back to the pinned key, and loading re-checks the whole
/// chain, so the stored state cannot name an owner the pin does not lead to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    pub household_id: [u8; 16],
    /// The owner bundle fixed at pairing. Never changes.
    pinned: PublicKeys,
    /// Each rotation signed by the identity before it, starting from the pinned one.
    rotations: Vec<Rotation>,
    roster: Option<Roster>,
}

pub const ROTATIONS_MAX: usize = 64;

impl Trust {
    /// Pairs with an owner bundle that arrived over an untrusted channel, checked against
    /// the pairing code the person typed.
    pub fn pair_with_code(household_id: [u8; 16], offered: &[u8], code: &str) -> Result<Trust, Error> {
        let owner = PublicKeys::parse(offered)?;
        check_pairing_code(&owner.identity, code)?;
        Ok(Trust { household_id, pinned: owner, rotations: Vec::new(), roster: None })
    }

    /// Pairs from a QR payload, which carries the owner's whole bundle.
    pub fn pair_with_qr(household_id: [u8; 16], payload: &str) -> Result<Trust, Error> {
        let Some(b64) = payload.trim().strip_prefix(QR_PREFIX) else {
            bail!(InvalidArgument, "pairing payload: expected it to start with {QR_PREFIX:?}");
        };
        let Some(bytes) = base64url_decode(b64) else {
            bail!(InvalidArgument, "pairing payload: not base64url after the prefix");
        };
        let owner = PublicKeys::parse(&bytes)?;
        Ok(Trust { household_id, pinned: owner, rotations: Vec::new(), roster: None })
    }

    /// The owner identity fixed at pairing.
    pub fn pinned(&self) -> IdentityPublic {
        self.pinned.identity
    }

    /// The owner's current public bundle: the pinned one, or the end of the rotation chain.
    pub fn owner(&self) -> &PublicKeys {
        self.rotations.last().map(|r| &r.new).unwrap_or(&self.pinned)
    }

    pub fn roster(&self) -> Option<&Roster> {
        self.roster.as_ref()
    }

    /// Follows one rotation from the current owner identity.
    pub fn accept_rotation(&mut self, r: &Rotation) -> Result<(), Error> {
        // Re-checked here, not only at parse: the statement's fields are public, so what
        // reaches this method must prove itself again.
        verify(&r.old, ROTATION_DOMAIN, &r.signed_part(), &r.signature, "rotation")?;
        PublicKeys::parse(&r.new.encode())?;
        let cur = self.owner();
        if r.old != cur.identity {
            return Err(Error::new(
                ErrorKind::Untrusted,
                format!(
                    "rotation is signed by {}, not by the current owner key {}",
                    r.old.fingerprint(),
                    cur.identity.fingerprint()
                ),
            ));
        }
        if r.issued_ms < cur.created_ms {
            bail!(Stale, "rotation issued at {} predates the current owner keys ({})", r.issued_ms, cur.created_ms);
        }
        if self.rotations.len() >= ROTATIONS_MAX {
            bail!(InvalidArgument, "rotations: at most {ROTATIONS_MAX} per pairing; pair again");
        }
        // The roster in force was signed by the old identity; it stays in force (the owner
        // re-signs at their convenience) and later rosters must come from the new one.
        self.rotations.push(r.clone());
        Ok(())
    }

    /// Accepts a roster signed by the current owner identity, for this household, newer
    /// than the one held.
    pub fn accept_roster(&mut self, r: &Roster) -> Result<(), Error> {
        // Re-checked here too (public fields; see `accept_rotation`), members included.
        verify(&r.signer, ROSTER_DOMAIN, &r.signed_part(), &r.signature, "roster")?;
        for m in &r.members {
            PublicKeys::parse(&m.keys.encode())?;
        }
        let owner = self.owner().identity;
        if r.signer != owner {
            return Err(Error::new(
                ErrorKind::Untrusted,
                format!(
                    "roster is signed by {}, not by the owner key {} this agent trusts",
                    r.signer.fingerprint(),
                    owner.fingerprint()
                ),
            ));
        }
        if r.household_id != self.household_id {
            return Err(Error::new(ErrorKind::Untrusted, "roster is for another household"));
        }
        if let Some(cur) = &self.roster
            && r.serial <= cur.serial
        {
            bail!(Stale, "roster serial {} is not newer than the accepted serial {}", r.serial, cur.serial);
        }
        self.roster = Some(r.clone());
        Ok(())
    }

    /// Checks that household settings come from the current owner identity and this
    /// household (the serial, which must grow, is the holder's to compare: see
    /// [`crate::settings`]).
    pub fn check_settings(&self, s: &crate::settings::Settings) -> Result<(), Error> {
        let owner = self.owner().identity;
        if s.signer != owner {
            return Err(Error::new(
                ErrorKind::Untrusted,
                format!(
                    "settings are signed by {}, not by the owner key {} this agent trusts",
                    s.signer.fingerprint(),
                    owner.fingerprint()
                ),
            ));
        }
        if s.household_id != self.household_id {
            return Err(Error::new(ErrorKind::Untrusted, "settings are for another household"));
        }
        Ok(())
    }

    /// Checks that a live view request may be answered at `now_ms`: signed (already checked
    /// by the parser) by the current owner identity or by a roster member whose window
    /// covers now and whose identity was not rotated away, for this household, and recent.
    pub fn check_live(&self, q: &crate::live::LiveRequest, now_ms: i64) -> Result<(), Error> {
        self.check_signer("live request", &q.household_id, q.issued_ms, &q.member, now_ms).map(|_| ())
    }

    /// Checks that a talk request may be played at `now_ms`: as [`Trust::check_live`], and
    /// the signer's role speaks for the household (the owner, full and standard members,
    /// guests inside their window; not limited members, who only watch).
    pub fn check_talk(&self, q: &crate::talk::TalkRequest, now_ms: i64) -> Result<(), Error> {
        match self.check_signer("talk request", &q.household_id, q.issued_ms, &q.member, now_ms)? {
            Some(m) if m.role == Role::Limited => {
                Err(Error::new(ErrorKind::Untrusted, "talk request: a limited member may watch, not talk"))
            }
            _ => Ok(()),
        }
    }

    /// The signer of a request for `household_id` issued at `issued_ms`: `None` for the
    /// owner, the roster entry for a member whose window covers now; refused otherwise.
    fn check_signer(
        &self,
        what: &str,
        household_id: &[u8; 16],
        issued_ms: i64,
        signer: &IdentityPublic,
        now_ms: i64,
    ) -> Result<Option<&Member>, Error> {
        if *household_id != self.household_id {
            return Err(Error::new(ErrorKind::Untrusted, format!("{what} is for another household")));
        }
        if (now_ms - issued_ms).abs() > crate::live::REQUEST_MAX_AGE_MS {
            bail!(
                Stale,
                "{what} was issued {} ms from now; at most {} ms",
                now_ms - issued_ms,
                crate::live::REQUEST_MAX_AGE_MS
            );
        }
        if *signer == self.owner().identity {
            return Ok(None);
        }
        let retired: Vec<IdentityPublic> = self.rotations.iter().map(|r| r.old).collect();
        let member = self
            .roster
            .as_ref()
            .and_then(|r| r.members.iter().find(|m| m.keys.identity == *signer && !retired.contains(&m.keys.identity)));
        match member {
            Some(m) if (m.from_ms..m.until_ms).contains(&now_ms) => Ok(Some(m)),
            Some(_) => Err(Error::new(ErrorKind::Untrusted, format!("{what}: the member's window does not cover now"))),
            None => Err(Error::new(
                ErrorKind::Untrusted,
                format!("{what} is signed by {}, who is not in the owner's roster", signer.fingerprint()),
            )),
        }
    }

    /// The stretch of recorded time a live request's signer may see footage of
    /// (`[from, until)`, Unix ms): everything for the owner, the roster window for a member.
    /// The request is checked as [`Trust::check_live`] checks it first.
    pub fn footage_window(&self, q: &crate::live::LiveRequest, now_ms: i64) -> Result<(i64, i64), Error> {
        self.check_live(q, now_ms)?;
        if q.member == self.owner().identity {
            return Ok((i64::MIN, i64::MAX));
        }
        let m = self.roster.as_ref().and_then(|r| r.members.iter().find(|m| m.keys.identity == q.member));
        m.map(|m| (m.from_ms, m.until_ms)).ok_or_else(|| Error::new(ErrorKind::Untrusted, "not in the roster"))
    }

    /// The keys a new object starting at `start_ms` is encrypted to: the owner's current
    /// encryption key and every roster member whose window covers `start_ms`, without
    /// duplicates. Keys of owner identities that were rotated away are never used again,
    /// even if a roster signed before the rotation still lists them: a rotation may be the
    /// answer to a lost device.
    pub fn recipients(&self, start_ms: i64) -> Vec<EncryptionPublic> {
        let mut out = vec![self.owner().encryption.clone()];
        let retired: Vec<IdentityPublic> = self.rotations.iter().map(|r| r.old).collect();
        if let Some(r) = &self.roster {
            for m in &r.members {
                if (m.from_ms..m.until_ms).contains(&start_ms)
                    && !retired.contains(&m.keys.identity)
                    && !out.contains(&m.keys.encryption)
                {
                    out.push(m.keys.encryption.clone());
                }
            }
        }
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(TRUST_MAGIC);
        v.put_u8(1);
        v.extend_from_slice(&self.household_id);
        v.put_var(&self.pinned.encode());
        v.put_u8(self.rotations.len() as u8);
        for r in &self.rotations {
            v.put_var(&r.encode());
        }
        match &self.roster {
            Some(r) => {
                v.put_u8(1);
                v.put_var(&r.encode());
            }
            None => v.put_u8(0),
        }
        v
    }

    /// Parses a stored trust state by replaying it: every rotation must chain from the
    /// pinned bundle and the roster must be signed by an identity on that chain.
    pub fn parse(b: &[u8]) -> Result<Trust, Error> {
        let mut r = Reader::new("trust", b);
        r.magic_version(TRUST_MAGIC, 1)?;
        let household_id = r.array("household_id")?;
        let pinned = PublicKeys::parse(r.var("pinned", 1, 1024)?)?;
        let mut t = Trust { household_id, pinned, rotations: Vec::new(), roster: None };
        let n = usize::from(r.u8("rotation count")?);
        if n > ROTATIONS_MAX {
            bail!(Malformed, "trust rotation count: at most {ROTATIONS_MAX}, got {n}");
        }
        for _ in 0..n {
            t.accept_rotation(&Rotation::parse(r.var("rotation", 1, 2048)?)?)?;
        }
        let roster = match r.u8("roster present")? {
            0 => None,
            1 => Some(Roster::parse(r.var("roster", 1, 65535)?)?),
            v => bail!(Malformed, "trust roster present: expected 0 or 1, got {v}"),
        };
        r.finish()?;
        if let Some(ro) = &roster {
            let on_chain = std::iter::once(&t.pinned.identity).chain(t.rotations.iter().map(|x| &x.new.identity));
            if !on_chain.into_iter().any(|id| *id == ro.signer) || ro.household_id != t.household_id {
                bail!(Untrusted, "stored roster is not signed by an owner key this pairing leads to");
            }
        }
        t.roster = roster;
        Ok(t)
    }
}

/// The household id an owner key implies when nobody assigned one: the first 16 bytes of
/// SHA-256 over a domain tag and the owner identity. (The server issue assigns households
/// explicitly; this keeps a server-less pairing well defined.)
pub fn household_id_for(owner: &IdentityPublic) -> [u8; 16] {
    use sha2::Digest;
    let h = sha2::Sha256::digest([b"porchlight/household/v1\0".as_slice(), &owner.to_bytes()].concat());
    h[..16].try_into().expect("16 of 32 bytes")
}

/// The QR pairing payload for an owner's public bundle.
pub fn qr_payload(owner: &PublicKeys) -> String {
    format!("{QR_PREFIX}{}", base64url(&owner.encode()))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn base64url(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for c in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &x) in c.iter().enumerate() {
            n |= (B64.iter().position(|&y| y == x)? as u32) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
    }
    // Only the canonical encoding is accepted (unused trailing bits zero).
    (base64url(&out) == s).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trip() {
        for n in 0..20usize {
            let b: Vec<u8> = (0..n as u8).map(|x| x.wrapping_mul(91).wrapping_add(7)).collect();
            assert_eq!(base64url_decode(&base64url(&b)).unwrap(), b, "n={n}");
        }
        assert!(base64url_decode("A").is_none());
        assert!(base64url_decode("AB").is_none(), "non-canonical trailing bits");
        assert!(base64url_decode("a+==").is_none());
    }
}
