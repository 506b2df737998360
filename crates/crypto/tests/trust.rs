//! The server relays every key an agent learns; these tests play a malicious server and
//! check that it can never get its own key (or anyone the owner did not approve) into the
//! recipients of a new clip. Each attack is one line of `design/threat-model.md`.

use porchlight_crypto::ErrorKind;
use porchlight_crypto::grant::Grant;
use porchlight_crypto::keys::{IdentitySecret, Keyring, pairing_code};
use porchlight_crypto::object::{self, Header, Kind, Meta};
use porchlight_crypto::trust::{Member, Role, Roster, Rotation, Trust, qr_payload};

const HH: [u8; 16] = [7; 16];
const T0: i64 = 1_700_000_000_000;

fn member(k: &Keyring, role: Role) -> Member {
    Member { role, from_ms: 0, until_ms: i64::MAX, keys: k.public() }
}

fn meta(start_ms: i64) -> Meta {
    Meta { kind: Kind::Clip, camera: "door".into(), start_ms, end_ms: start_ms + 30_000 }
}

/// Pairs honestly: the agent receives the owner's bundle from the server and the code
/// from the person standing next to it.
fn paired(owner: &Keyring) -> Trust {
    let code = pairing_code(&owner.identity.public());
    Trust::pair_with_code(HH, &owner.public().encode(), &code).unwrap()
}

#[test]
fn server_cannot_substitute_the_owner_key_at_pairing() {
    let owner = Keyring::generate("owner", T0).unwrap();
    let server = Keyring::generate("owner", T0).unwrap(); // Same label: only keys differ.
    let code = pairing_code(&owner.identity.public());
    let e = Trust::pair_with_code(HH, &server.public().encode(), &code).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Untrusted);
    // A bundle whose encryption key was swapped under the owner's identity fails its
    // self-signature.
    let mut forged = owner.public().encode();
    let enc_at = 5 + 32;
    let swap = server.public().encode();
    forged[enc_at..enc_at + 65].copy_from_slice(&swap[enc_at..enc_at + 65]);
    let e = Trust::pair_with_code(HH, &forged, &code).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    // The QR payload carries the whole bundle, so there is nothing to substitute.
    let t = Trust::pair_with_qr(HH, &qr_payload(&owner.public())).unwrap();
    assert_eq!(t.pinned(), owner.identity.public());
}

#[test]
fn server_cannot_inject_a_recipient() {
    let owner = Keyring::generate("owner", T0).unwrap();
    let bob = Keyring::generate("bob", T0).unwrap();
    // The server's keys carry the owner's label, so spliced bundles have the same length
    // and only the signatures can catch them.
    let server = Keyring::generate("owner", T0).unwrap();
    let mut t = paired(&owner);
    t.accept_roster(
        &Roster::create(&owner, HH, 1, T0, vec![member(&owner, Role::Owner), member(&bob, Role::Full)]).unwrap(),
    )
    .unwrap();

    // 1. A roster the server signs itself.
    let r = Roster::create(&server, HH, 2, T0, vec![member(&server, Role::Full)]).unwrap();
    assert_eq!(t.accept_roster(&r).unwrap_err().kind(), ErrorKind::Untrusted);

    // 2. The owner's roster with the server's key spliced in: the signature breaks.
    let honest = Roster::create(&owner, HH, 2, T0, vec![member(&owner, Role::Owner)]).unwrap();
    let mut bytes = honest.encode();
    let own = owner.public().encode();
    let pos = bytes.windows(own.len()).position(|w| w == own.as_slice()).unwrap();
    bytes.splice(pos..pos + own.len(), server.public().encode());
    assert_eq!(Roster::parse(&bytes).unwrap_err().kind(), ErrorKind::Authentication);

    // 3. A rotation the server signs, or one that swaps the new bundle under the owner's
    //    signature.
    let rot = Rotation::create(&server, &server, T0 + 1);
    assert_eq!(t.clone().accept_rotation(&rot).unwrap_err().kind(), ErrorKind::Untrusted);
    let honest_rot = Rotation::create(&owner, &Keyring::generate("owner2", T0 + 1).unwrap(), T0 + 1);
    let mut rb = honest_rot.encode();
    let newpk = honest_rot.new.encode();
    let p = rb.windows(newpk.len()).position(|w| w == newpk.as_slice()).unwrap();
    rb.splice(p..p + newpk.len(), server.public().encode());
    assert!(Rotation::parse(&rb).is_err());

    // 4. An owner-signed roster for another household.
    let other = Roster::create(&owner, [8; 16], 5, T0, vec![member(&server, Role::Full)]).unwrap();
    assert_eq!(t.accept_roster(&other).unwrap_err().kind(), ErrorKind::Untrusted);

    // 4b. A parsed owner roster whose members are changed in memory afterwards.
    let mut tampered = Roster::parse(&honest.encode()).unwrap();
    tampered.members.push(member(&server, Role::Full));
    tampered.serial = 3;
    assert_eq!(t.accept_roster(&tampered).unwrap_err().kind(), ErrorKind::Authentication);

    // 5. A stored trust state edited on disk to swap the pinned owner (the agent re-checks
    //    on load: the roster no longer chains to the pin).
    let mut stored = t.encode();
    let p = stored.windows(own.len()).position(|w| w == own.as_slice()).unwrap();
    stored.splice(p..p + own.len(), server.public().encode());
    assert_eq!(Trust::parse(&stored).unwrap_err().kind(), ErrorKind::Untrusted);

    // After all of it the recipients are exactly the owner and Bob, and a clip sealed to
    // them cannot be opened by the server.
    let rec = t.recipients(T0);
    assert_eq!(rec, vec![owner.encryption.public(), bob.encryption.public()]);
    let device = IdentitySecret::generate();
    let clip = object::seal(&device, meta(T0), &rec, b"footage").unwrap();
    assert_eq!(object::open(&server, &clip).unwrap_err().kind(), ErrorKind::NotRecipient);
    assert_eq!(object::open(&bob, &clip).unwrap().1, b"footage");
    assert_eq!(Trust::parse(&t.encode()).unwrap(), t);
}

#[test]
fn removal_stops_new_clips_and_old_rosters_cannot_be_replayed() {
    let owner = Keyring::generate("owner", T0).unwrap();
    let bob = Keyring::generate("bob", T0).unwrap();
    let device = IdentitySecret::generate();
    let mut t = paired(&owner);
    let with_bob =
        Roster::create(&owner, HH, 1, T0, vec![member(&owner, Role::Owner), member(&bob, Role::Standard)]).unwrap();
    t.accept_roster(&with_bob).unwrap();
    let before = object::seal(&device, meta(T0), &t.recipients(T0), b"before").unwrap();

    let without = Roster::create(&owner, HH, 2, T0 + 10, vec![member(&owner, Role::Owner)]).unwrap();
    t.accept_roster(&without).unwrap();
    // The server replays the roster that still lists Bob.
    assert_eq!(t.accept_roster(&with_bob).unwrap_err().kind(), ErrorKind::Stale);
    let after = object::seal(&device, meta(T0 + 20), &t.recipients(T0 + 20), b"after").unwrap();
    assert_eq!(object::open(&bob, &after).unwrap_err().kind(), ErrorKind::NotRecipient);
    // Honest limit: what Bob was given before removal stays readable by Bob.
    assert_eq!(object::open(&bob, &before).unwrap().1, b"before");
}

#[test]
fn time_windows_limit_guests() {
    let owner = Keyring::generate("owner", T0).unwrap();
    let guest = Keyring::generate("guest", T0).unwrap();
    let mut t = paired(&owner);
    let g = Member { role: Role::Guest, from_ms: T0 + 1000, until_ms: T0 + 5000, keys: guest.public() };
    t.accept_roster(&Roster::create(&owner, HH, 1, T0, vec![member(&owner, Role::Owner), g]).unwrap()).unwrap();
    assert_eq!(t.recipients(T0).len(), 1, "nothing before the invitation");
    assert_eq!(t.recipients(T0 + 1000).len(), 2);
    assert_eq!(t.recipients(T0 + 5000).len(), 1, "nothing after it ends");
}

#[test]
fn rotation_keeps_old_clips_readable_and_moves_trust() {
    let mut owner = Keyring::generate("owner", T0).unwrap();
    let device = IdentitySecret::generate();
    let mut t = paired(&owner);
    let old_clip = object::seal(&device, meta(T0), &t.recipients(T0), b"old").unwrap();

    let mut next = Keyring::generate("owner", T0 + 100).unwrap();
    let rot = Rotation::create(&owner, &next, T0 + 100);
    t.accept_rotation(&Rotation::parse(&rot.encode()).unwrap()).unwrap();
    assert_eq!(t.owner().identity, next.identity.public());
    assert_eq!(t.pinned(), owner.identity.public(), "the pin records where the chain starts");
    // A roster accepted before the rotation lists the old owner keys; they are retired.
    let mut t2 = paired(&owner);
    t2.accept_roster(&Roster::create(&owner, HH, 1, T0, vec![member(&owner, Role::Owner)]).unwrap()).unwrap();
    t2.accept_rotation(&rot).unwrap();
    assert_eq!(t2.recipients(T0 + 200), vec![next.encryption.public()]);
    // The owner keeps the old encryption key in the new keyring.
    next.previous.push(std::mem::replace(&mut owner.encryption, porchlight_crypto::keys::EncryptionSecret::generate()));
    let new_clip = object::seal(&device, meta(T0 + 200), &t.recipients(T0 + 200), b"new").unwrap();
    assert_eq!(object::open(&next, &old_clip).unwrap().1, b"old");
    assert_eq!(object::open(&next, &new_clip).unwrap().1, b"new");
    // Rosters must now come from the new identity; the old one is no longer trusted.
    let stale = Roster::create(&owner, HH, 9, T0, vec![member(&owner, Role::Owner)]).unwrap();
    assert_eq!(t.accept_roster(&stale).unwrap_err().kind(), ErrorKind::Untrusted);
    t.accept_roster(&Roster::create(&next, HH, 1, T0 + 300, vec![member(&next, Role::Owner)]).unwrap()).unwrap();
    // The same rotation cannot be applied twice (its old key is no longer current).
    assert_eq!(t.accept_rotation(&rot).unwrap_err().kind(), ErrorKind::Untrusted);
}

#[test]
fn resharing_to_an_agency_leaves_the_body_alone() {
    let owner = Keyring::generate("owner", T0).unwrap();
    let agency = Keyring::generate("agency", T0).unwrap();
    let device = IdentitySecret::generate();
    let t = paired(&owner);
    let clip = object::seal(&device, meta(T0), &t.recipients(T0), &vec![5u8; 200_000]).unwrap();
    let h = Header::parse(&clip).unwrap();
    let g = Grant::create(&owner, &h, &agency.encryption.public(), "request 12", T0 + 5).unwrap();
    let (h2, body) = g.open(&agency, &clip).unwrap();
    assert_eq!(body.len(), 200_000);
    assert_eq!(h2.device, device.public(), "the agency verifies which device recorded it");
    assert_eq!(g.granter, owner.identity.public(), "and who shared it");
}

mod settings {
    use super::*;
    use porchlight_crypto::settings::Settings;

    const BODY: &[u8] = br#"{"mode":"away"}"#;

    #[test]
    fn agent_and_members_open_what_the_owner_sealed_and_nobody_else_can() {
        let owner = Keyring::generate("owner", T0).unwrap();
        let agent = Keyring::generate("agent", T0).unwrap();
        let server = Keyring::generate("server", T0).unwrap();
        let recipients = [owner.public().encryption, agent.public().encryption];
        let s = Settings::seal(&owner, HH, 3, T0, &recipients, BODY).unwrap();
        let parsed = Settings::parse(&s.encode()).unwrap();
        assert_eq!(parsed, s);
        paired(&owner).check_settings(&parsed).unwrap();
        assert_eq!(parsed.open(&agent).unwrap(), BODY);
        assert_eq!(parsed.open(&owner).unwrap(), BODY);
        assert_eq!(parsed.open(&server).unwrap_err().kind(), ErrorKind::NotRecipient);
    }

    #[test]
    fn server_cannot_forge_replay_or_redirect_settings() {
        let owner = Keyring::generate("owner", T0).unwrap();
        let agent = Keyring::generate("agent", T0).unwrap();
        let server = Keyring::generate("owner", T0).unwrap();
        let t = paired(&owner);
        // Signed by anyone but the pinned owner: refused, even if well formed.
        let forged = Settings::seal(&server, HH, 9, T0, &[agent.public().encryption], BODY).unwrap();
        assert_eq!(t.check_settings(&forged).unwrap_err().kind(), ErrorKind::Untrusted);
        // The owner's settings for another household: refused.
        let other = Settings::seal(&owner, [8; 16], 9, T0, &[agent.public().encryption], BODY).unwrap();
        assert_eq!(t.check_settings(&other).unwrap_err().kind(), ErrorKind::Untrusted);
        // Any changed byte (serial, wraps, body, signature) breaks the signature.
        let good = Settings::seal(&owner, HH, 4, T0, &[agent.public().encryption], BODY).unwrap().encode();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 1;
            assert!(Settings::parse(&b).is_err(), "byte {i} flipped still parses");
        }
        // Truncated or extended: refused with a clear error.
        assert_eq!(Settings::parse(&good[..good.len() - 1]).unwrap_err().kind(), ErrorKind::Malformed);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(Settings::parse(&longer).unwrap_err().kind(), ErrorKind::Malformed);
    }

    #[test]
    fn sealing_checks_its_inputs() {
        let owner = Keyring::generate("owner", T0).unwrap();
        let e = Settings::seal(&owner, HH, 1, T0, &[], BODY).unwrap_err();
        assert!(e.to_string().contains("settings recipients"), "{e}");
        let big = vec![b' '; porchlight_crypto::settings::BODY_BYTES_MAX + 1];
        let e = Settings::seal(&owner, HH, 1, T0, &[owner.public().encryption], &big).unwrap_err();
        assert!(e.to_string().contains("settings body"), "{e}");
    }
}

mod live {
    use super::*;
    use porchlight_crypto::keys::EncryptionSecret;
    use porchlight_crypto::live::{LiveOpener, LiveRequest, LiveSealer};

    #[test]
    fn a_live_stream_opens_only_for_the_session_key_and_in_order() {
        let member = Keyring::generate("member", T0).unwrap();
        let session = EncryptionSecret::generate();
        let q = LiveRequest::create(&member, HH, "door", session.public(), T0).unwrap();
        let back = LiveRequest::parse(&q.encode()).unwrap();
        assert_eq!(back, q);
        assert_eq!(back.member, member.identity.public());
        // Every changed byte of the request breaks its signature.
        let enc = q.encode();
        for i in 0..enc.len() {
            let mut b = enc.clone();
            b[i] ^= 1;
            assert!(LiveRequest::parse(&b).is_err(), "byte {i}");
        }

        let mut s = LiveSealer::new(&back.session_key);
        let header = s.header();
        let segs: Vec<Vec<u8>> = (0..3u8).map(|i| s.seal(&[i; 100]).unwrap()).collect();
        let payload = |m: &[u8]| m[4..].to_vec();
        let mut o = LiveOpener::new(session.clone());
        assert_eq!(o.open(&payload(&header)).unwrap(), None);
        for (i, m) in segs.iter().enumerate() {
            assert_eq!(o.open(&payload(m)).unwrap().unwrap(), vec![i as u8; 100]);
        }
        // Anyone else's key (the server's) opens nothing.
        let mut other = LiveOpener::new(EncryptionSecret::generate());
        assert!(other.open(&payload(&header)).is_err());
        // A dropped or repeated segment stops the stream.
        let mut o = LiveOpener::new(session.clone());
        o.open(&payload(&header)).unwrap();
        assert_eq!(o.open(&payload(&segs[1])).unwrap_err().kind(), ErrorKind::Authentication);
        let mut o = LiveOpener::new(session);
        o.open(&payload(&header)).unwrap();
        o.open(&payload(&segs[0])).unwrap();
        assert_eq!(o.open(&payload(&segs[0])).unwrap_err().kind(), ErrorKind::Authentication);
    }
}

#[test]
fn only_the_owner_and_current_members_may_watch_live() {
    use porchlight_crypto::keys::EncryptionSecret;
    use porchlight_crypto::live::LiveRequest;
    let owner = Keyring::generate("owner", T0).unwrap();
    let bob = Keyring::generate("bob", T0).unwrap();
    let guest = Keyring::generate("guest", T0).unwrap();
    let server = Keyring::generate("owner", T0).unwrap();
    let mut t = paired(&owner);
    let window = Member { role: Role::Guest, from_ms: T0, until_ms: T0 + 3_600_000, keys: guest.public() };
    t.accept_roster(
        &Roster::create(&owner, HH, 1, T0, vec![member(&owner, Role::Owner), member(&bob, Role::Limited), window])
            .unwrap(),
    )
    .unwrap();
    let ask = |k: &Keyring, hh: [u8; 16], at: i64| {
        LiveRequest::create(k, hh, "door", EncryptionSecret::generate().public(), at).unwrap()
    };
    let now = T0 + 1000;
    t.check_live(&ask(&owner, HH, now), now).unwrap();
    t.check_live(&ask(&bob, HH, now), now).unwrap();
    t.check_live(&ask(&guest, HH, now), now).unwrap();
    // The server's own key, another household, a stale request, a guest after their window.
    assert_eq!(t.check_live(&ask(&server, HH, now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.check_live(&ask(&owner, [1; 16], now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.check_live(&ask(&bob, HH, now - 120_000), now).unwrap_err().kind(), ErrorKind::Stale);
    let late = T0 + 7_200_000;
    assert_eq!(t.check_live(&ask(&guest, HH, late), late).unwrap_err().kind(), ErrorKind::Untrusted);
    // What each may see of the recording: the owner everything, a member their window.
    assert_eq!(t.footage_window(&ask(&owner, HH, now), now).unwrap(), (i64::MIN, i64::MAX));
    assert_eq!(t.footage_window(&ask(&guest, HH, now), now).unwrap(), (T0, T0 + 3_600_000));
    assert_eq!(t.footage_window(&ask(&server, HH, now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.footage_window(&ask(&guest, HH, late), late).unwrap_err().kind(), ErrorKind::Untrusted);
}

#[test]
fn only_the_owner_and_members_who_speak_for_the_household_may_talk() {
    use porchlight_crypto::talk::TalkRequest;
    let owner = Keyring::generate("owner", T0).unwrap();
    let (carol, bob, guest, agent) = (
        Keyring::generate("carol", T0).unwrap(),
        Keyring::generate("bob", T0).unwrap(),
        Keyring::generate("guest", T0).unwrap(),
        Keyring::generate("agent", T0).unwrap(),
    );
    let server = Keyring::generate("owner", T0).unwrap();
    let mut t = paired(&owner);
    let window = Member { role: Role::Guest, from_ms: T0, until_ms: T0 + 3_600_000, keys: guest.public() };
    let roster = vec![member(&owner, Role::Owner), member(&carol, Role::Standard), member(&bob, Role::Limited), window];
    t.accept_roster(&Roster::create(&owner, HH, 1, T0, roster).unwrap()).unwrap();
    let ask = |k: &Keyring, hh: [u8; 16], at: i64| {
        TalkRequest::create(k, hh, "door", &[agent.public().encryption], at).unwrap().0
    };
    let now = T0 + 1000;
    t.check_talk(&ask(&owner, HH, now), now).unwrap();
    t.check_talk(&ask(&carol, HH, now), now).unwrap();
    t.check_talk(&ask(&guest, HH, now), now).unwrap();
    // A limited member watches but does not talk; the server's key, another household, a
    // stale request and a guest after their window are refused.
    assert_eq!(t.check_talk(&ask(&bob, HH, now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.check_talk(&ask(&server, HH, now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.check_talk(&ask(&owner, [1; 16], now), now).unwrap_err().kind(), ErrorKind::Untrusted);
    assert_eq!(t.check_talk(&ask(&carol, HH, now - 120_000), now).unwrap_err().kind(), ErrorKind::Stale);
    let late = T0 + 7_200_000;
    assert_eq!(t.check_talk(&ask(&guest, HH, late), late).unwrap_err().kind(), ErrorKind::Untrusted);
}
