//! Test vectors: fixed keys, nonces and ephemeral randomness in, exact bytes out.
//!
//! `testdata/vectors.json` is checked in and documented in `design/crypto-format.md`; this
//! test recomputes every vector and asserts equality, so a change to the format cannot go
//! unnoticed. `tests/vectors_independent.py` checks the same file with an independent
//! implementation (Python `cryptography`), as the browser's will in a later issue.
//! Regenerate (only for a deliberate format change, with a new version number) with
//! `PORCHLIGHT_WRITE_VECTORS=1 cargo test -p porchlight-crypto --test vectors`.

use hex::encode as hx;
use porchlight_crypto::backup::{self, RecoveryCode};
use porchlight_crypto::grant::Grant;
use porchlight_crypto::keys::{EncryptionSecret, IdentitySecret, Keyring, WRAP_INFO};
use porchlight_crypto::object::{self, Header, Kind, Meta, ObjectSealer};
use porchlight_crypto::settings::Settings;
use porchlight_crypto::stream::{self, CHUNK_BYTES, ContentKey, Sealer};
use serde_json::{Value, json};

fn seq(start: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| start.wrapping_add(i as u8)).collect()
}

fn arr<const N: usize>(start: u8) -> [u8; N] {
    seq(start, N).try_into().unwrap()
}

/// The plaintext of the stream vectors: byte i is i mod 251.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn keyring(label: &str, id_seed: u8, enc_seed: u8, created_ms: i64) -> Keyring {
    Keyring {
        label: label.into(),
        created_ms,
        identity: IdentitySecret::from_bytes(&arr(id_seed)),
        encryption: EncryptionSecret::from_bytes(&arr(enc_seed)).unwrap(),
        previous: Vec::new(),
    }
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hx(sha2::Sha256::digest(b))
}

fn compute() -> Value {
    let mut streams = Vec::new();
    let key = ContentKey::from_bytes(arr(0x00));
    let prefix: [u8; 7] = arr(0xa0);
    for len in [0usize, 5, CHUNK_BYTES, CHUNK_BYTES + 1] {
        let (sealed, _, digest) = stream::seal_body(&key, prefix, &pattern(len)).unwrap();
        let n = stream::chunk_count(len as u64);
        let nonces: Vec<String> = (0..n).map(|i| hx(stream::nonce(&prefix, i as u32, i + 1 == n))).collect();
        let o = stream::Opener::new(&key, prefix, len as u64).unwrap();
        let tags: Vec<String> = (0..n)
            .map(|i| {
                let r = o.sealed_range(i).unwrap();
                hx(&sealed[r.end as usize - 16..r.end as usize])
            })
            .collect();
        let mut v = json!({
            "key": hx(key.as_bytes()),
            "nonce_prefix": hx(prefix),
            "plaintext_len": len,
            "nonces": nonces,
            "tags": tags,
            "sealed_len": sealed.len(),
            "sealed_sha256": hx(digest),
        });
        if len <= 64 {
            v["sealed"] = json!(hx(&sealed));
        }
        streams.push(v);
    }
    // The sealer agrees chunk by chunk.
    let mut s = Sealer::new(&key, prefix);
    let mut out = Vec::new();
    s.seal_chunk(&pattern(5), true, &mut out).unwrap();
    assert_eq!(streams[1]["sealed"], json!(hx(&out)));

    let alice = keyring("alice", 0x11, 0x31, 1_700_000_000_000);
    let pk = alice.public();
    let keys = json!({
        "identity_seed": hx(alice.identity.to_bytes().as_ref()),
        "identity_public": hx(pk.identity.to_bytes()),
        "fingerprint": pk.identity.fingerprint(),
        "encryption_secret": hx(alice.encryption.to_bytes().as_ref()),
        "encryption_public": hx(pk.encryption.to_bytes()),
        "key_id": hx(pk.encryption.key_id()),
        "created_ms": pk.created_ms,
        "label": pk.label,
        "public_keys": hx(pk.encode()),
    });

    // The proof of possession an account gives with new keys, once with no keys yet and
    // once against the bundle above.
    let possession: Vec<Value> = [None, Some(pk.encode())]
        .into_iter()
        .map(|current| {
            let account_id = "0123456789abcdef0123456789abcdef";
            let c = porchlight_crypto::keys::possession_challenge(account_id, current.as_deref());
            json!({
                "account_id": account_id,
                "current": current.as_deref().map(hx),
                "challenge": hx(c),
                "proof": hx(porchlight_crypto::keys::prove_possession(&alice.identity, &c)),
            })
        })
        .collect();

    let aad = b"porchlight test aad";
    let ck = ContentKey::from_bytes(arr(0x50));
    let eph: [u8; 32] = arr(0x61);
    let w = alice.encryption.public().wrap_with_ephemeral(&ck, aad, &eph);
    assert_eq!(alice.encryption.unwrap(&w, aad).unwrap().as_bytes(), ck.as_bytes());
    let wrap = json!({
        "suite": "DHKEM(P-256, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode",
        "info": String::from_utf8(WRAP_INFO.to_vec()).unwrap(),
        "recipient_secret": hx(alice.encryption.to_bytes().as_ref()),
        "ephemeral_secret": hx(eph),
        "content_key": hx(ck.as_bytes()),
        "aad": hx(aad),
        "enc": hx(w.enc),
        "ciphertext": hx(w.ciphertext),
    });

    let device = IdentitySecret::from_bytes(&arr(0x71));
    let meta =
        Meta { kind: Kind::Clip, camera: "front door".into(), start_ms: 1_700_000_000_000, end_ms: 1_700_000_030_000 };
    let plaintext = b"porchlight test vector: not really an MP4\n";
    let okey = ContentKey::from_bytes(arr(0x90));
    let oid: [u8; 16] = arr(0xc0);
    let oprefix: [u8; 7] = arr(0xd0);
    let bob = keyring("bob", 0x12, 0x32, 1_700_000_000_000);
    let mut sealer = ObjectSealer::new_with(
        meta.clone(),
        &[alice.encryption.public(), bob.encryption.public()],
        okey.clone(),
        oid,
        oprefix,
    )
    .unwrap();
    let mut body = Vec::new();
    sealer.seal_chunk(plaintext, true, &mut body).unwrap();
    let ephs: [[u8; 32]; 2] = [arr(0x62), arr(0x63)];
    let mut sealed = sealer.finish_with_ephemerals(&device, &ephs).unwrap();
    let header_len = sealed.len();
    sealed.extend_from_slice(&body);
    let (h, pt) = object::open(&alice, &sealed).unwrap();
    assert_eq!(pt, plaintext);
    let obj = json!({
        "device_seed": hx(device.to_bytes().as_ref()),
        "device_public": hx(device.public().to_bytes()),
        "kind": 1,
        "camera": meta.camera,
        "start_ms": meta.start_ms,
        "end_ms": meta.end_ms,
        "content_key": hx(okey.as_bytes()),
        "object_id": hx(oid),
        "nonce_prefix": hx(oprefix),
        "plaintext": String::from_utf8(plaintext.to_vec()).unwrap(),
        "recipients": ["keys (alice)", "bob: identity seed 12.., encryption secret 32.."],
        "bob_encryption_secret": hx(bob.encryption.to_bytes().as_ref()),
        "ephemeral_secrets": [hx(ephs[0]), hx(ephs[1])],
        "header_len": header_len,
        "wrap_aad": hx(h.wrap_aad()),
        "sealed": hx(&sealed),
    });

    let agency = keyring("agency", 0x13, 0x33, 1_700_000_000_000);
    let geph: [u8; 32] = arr(0x64);
    let g = Grant::create_with_ephemeral(
        &alice,
        &Header::parse(&sealed).unwrap(),
        &agency.encryption.public(),
        "request 42",
        1_700_000_100_000,
        &geph,
    )
    .unwrap();
    assert_eq!(g.open(&agency, &sealed).unwrap().1, plaintext);
    let grant = json!({
        "granter": "keys (alice)",
        "agency_encryption_secret": hx(agency.encryption.to_bytes().as_ref()),
        "ephemeral_secret": hx(geph),
        "purpose": g.purpose,
        "granted_ms": g.granted_ms,
        "grant": hx(g.encode()),
    });

    let code = RecoveryCode::from_bytes(arr(0xe0));
    let salt: [u8; 16] = arr(0x01);
    let nonce: [u8; 12] = arr(0x21);
    let b = backup::seal_with(&alice, &code, salt, nonce);
    assert_eq!(backup::open(&b, &code).unwrap().public(), alice.public());
    let bk = json!({
        "code_bytes": hx(seq(0xe0, 20)),
        "code": code.display().as_str(),
        "salt": hx(salt),
        "nonce": hx(nonce),
        "info": "porchlight/backup/v1",
        "keyring": hx(alice.encode().as_slice()),
        "backup": hx(&b),
    });

    // Household settings from alice (the owner) to herself and bob.
    let skey = ContentKey::from_bytes(arr(0x70));
    let snonce: [u8; 12] = arr(0x90);
    let sephs: [[u8; 32]; 2] = [arr(0x35), arr(0x55)];
    let body = br#"{"mode":"away","cameras":{"front":{"label":"Front door"}}}"#;
    let bob_pub = EncryptionSecret::from_bytes(&arr(0x44)).unwrap().public();
    let s = Settings::seal_with(
        &alice,
        [0x0c; 16],
        7,
        1_700_000_200_000,
        &[alice.encryption.public(), bob_pub.clone()],
        body,
        (&skey, snonce, &sephs),
    )
    .unwrap();
    assert_eq!(Settings::parse(&s.encode()).unwrap().open(&alice).unwrap(), body);
    let settings = json!({
        "signer": "keys (alice)",
        "recipients": [hx(alice.encryption.public().to_bytes()), hx(bob_pub.to_bytes())],
        "bob_encryption_secret": hx(seq(0x44, 32)),
        "household_id": hx([0x0c; 16]),
        "serial": 7,
        "issued_ms": 1_700_000_200_000i64,
        "content_key": hx(skey.as_bytes()),
        "nonce": hx(snonce),
        "ephemeral_secrets": [hx(sephs[0]), hx(sephs[1])],
        "body": std::str::from_utf8(body).unwrap(),
        "settings": hx(s.encode()),
    });

    json!({
        "comment": "Porchlight crypto format v1 test vectors; see design/crypto-format.md. All hex is lowercase.",
        "stream": streams,
        "keys": keys,
        "possession": possession,
        "wrap": wrap,
        "object": obj,
        "grant": grant,
        "backup": bk,
        "settings": settings,
        "sha256_of_object": sha256(&sealed),
    })
}

#[test]
fn vectors_match_the_checked_in_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors.json");
    let got = compute();
    // Deterministic: computing twice gives the same bytes.
    assert_eq!(got, compute());
    if std::env::var_os("PORCHLIGHT_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "vector {k:?} changed");
    }
    assert_eq!(got, want);
}
