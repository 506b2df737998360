//! Evidence exports and `porchlight verify-evidence DIR` (design/agencies.md).
//!
//! An export is a folder: the clips as MP4, each clip's sealed object exactly as the
//! recording device signed it, and `manifest.json`, signed by the agency's logged identity
//! key in `manifest.sig`. The manifest lists every other file with its SHA-256; holds the
//! request, each clip's grant and content key, the chain of custody, and the transparency
//! log entries (the agency's verification, the request, each answer) with inclusion proofs
//! in one signed tree head. The check needs nothing but the folder (and, to pin the log, its
//! key): any changed, missing or extra byte fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use api::log::{Entry, Record};
use base::{Error, ErrorKind, ResultExt, err};
use crypto::grant::Grant;
use crypto::keys::{PublicKeys, hex, unhex};
use crypto::tlog::{self, Hash, SignedTreeHead};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "porchlight-evidence/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub exported_ms: i64,
    pub server: String,
    pub agency: AgencyPart,
    /// The request as the agency holds it (the server's JSON).
    pub request: serde_json::Value,
    pub log: LogPart,
    pub clips: Vec<ClipPart>,
    pub custody: Vec<serde_json::Value>,
    pub files: Vec<FilePart>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgencyPart {
    pub id: String,
    pub name: String,
    /// The logged public key bundle, hex: its identity signs the manifest.
    pub public_keys: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProvedEntry {
    pub index: u64,
    pub body: String,
    pub proof: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogPart {
    pub log_key: String,
    /// The signed tree head (hex) every proof is for.
    pub head: String,
    pub agency_entry: ProvedEntry,
    pub request_entry: ProvedEntry,
    pub grant_entries: Vec<ProvedEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClipPart {
    pub resident: i64,
    /// The log index of the answer that shared it.
    pub grant_log_index: u64,
    pub object_id: String,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Paths inside the export.
    pub mp4: String,
    pub sealed: String,
    /// The owner's grant, hex.
    pub grant: String,
    /// The clip's content key, hex: disclosed for this one clip, so that anyone can check
    /// that the MP4 is exactly what the device sealed.
    pub content_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilePart {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// Writes an export (the web app writes the same format; this is for the tests).
#[cfg(test)]
pub fn write(
    dir: &Path,
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
    keyring: &crypto::keys::Keyring,
) -> Result<(), Error> {
    let mut m = manifest.clone();
    m.files = files
        .iter()
        .map(|(p, b)| FilePart { path: p.clone(), sha256: hex(&Sha256::digest(b)), size: b.len() as u64 })
        .collect();
    for (p, b) in files {
        let path = dir.join(p);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).err_kind(ErrorKind::Internal, || format!("creating {}", d.display()))?;
        }
        std::fs::write(&path, b).err_kind(ErrorKind::Internal, || format!("writing {}", path.display()))?;
    }
    let bytes = serde_json::to_vec_pretty(&m).expect("serializes");
    let sig = crypto::evidence::sign_manifest(keyring, &bytes);
    std::fs::write(dir.join(MANIFEST), &bytes).err_kind(ErrorKind::Internal, || "writing the manifest".to_owned())?;
    std::fs::write(dir.join(SIGNATURE), hex(&sig)).err_kind(ErrorKind::Internal, || "writing the signature".to_owned())
}

#[derive(clap::Args)]
pub struct VerifyEvidenceArgs {
    /// The export's folder (unpack the .tar the web app saves).
    pub dir: PathBuf,
    /// The transparency log's key (hex) as the server publishes it; without it, the key in
    /// the export is used and its fingerprint printed to compare.
    #[arg(long)]
    pub log_key: Option<String>,
}

fn bad(what: impl std::fmt::Display) -> Error {
    err!(DataLoss, "EVIDENCE FAILS: {what}")
}

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) -> Result<(), Error> {
    for e in std::fs::read_dir(dir).err_kind(ErrorKind::InvalidArgument, || format!("reading {}", dir.display()))? {
        let e = e.err_kind(ErrorKind::Internal, || format!("reading {}", dir.display()))?;
        let p = e.path();
        let t = e.file_type().err_kind(ErrorKind::Internal, || format!("reading {}", p.display()))?;
        if t.is_dir() {
            files_under(&p, base, out)?;
        } else {
            let rel = p.strip_prefix(base).expect("under base").to_string_lossy().into_owned();
            out.insert(rel);
        }
    }
    Ok(())
}

fn to_hash(s: &str, what: &str) -> Result<Hash, Error> {
    unhex(s).and_then(|b| b.try_into().ok()).ok_or_else(|| bad(format!("{what}: not a 32-byte hash")))
}

fn check_entry(e: &ProvedEntry, head: &SignedTreeHead, what: &str) -> Result<Record, Error> {
    let proof = e.proof.iter().map(|h| to_hash(h, what)).collect::<Result<Vec<_>, _>>()?;
    tlog::verify_inclusion(&tlog::leaf_hash(e.body.as_bytes()), e.index, head.head.size, &proof, &head.head.root)
        .map_err(|x| bad(format!("{what} (log entry {}) is not in the signed log: {x}", e.index)))?;
    Record::parse(&e.body).map_err(|x| bad(format!("{what}: {x}")))
}

/// Everything `verify-evidence` established, for its report.
#[derive(Debug)]
pub struct Verified {
    pub agency: String,
    pub request_id: String,
    pub clips: usize,
    pub custody: usize,
    pub log_fingerprint: String,
    pub head_size: u64,
}

pub fn verify(dir: &Path, log_key: Option<&str>) -> Result<Verified, Error> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| bad(format!("{name}: {e}")));
    let manifest_bytes = read(MANIFEST)?;
    let sig_text = read(SIGNATURE)?;
    let sig: [u8; 64] = unhex(String::from_utf8_lossy(&sig_text).trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("manifest.sig: not a 64-byte signature in hex"))?;
    let m: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| bad(format!("manifest.json: {e}")))?;
    if m.format != FORMAT {
        return Err(bad(format!("manifest.json: format {:?}, expected {FORMAT:?}", m.format)));
    }
    // The agency's logged keys signed the manifest.
    let agency_keys = unhex(&m.agency.public_keys)
        .and_then(|b| PublicKeys::parse(&b).ok())
        .ok_or_else(|| bad("agency.public_keys: not a signed key bundle"))?;
    crypto::evidence::verify_manifest(&agency_keys.identity, &manifest_bytes, &sig)
        .map_err(|e| bad(format!("manifest.sig: {e} (the manifest was changed, or not signed by the agency)")))?;

    // Every file is listed, and every listed file is there, byte for byte.
    let mut present = BTreeSet::new();
    files_under(dir, dir, &mut present)?;
    present.remove(MANIFEST);
    present.remove(SIGNATURE);
    let listed: BTreeMap<&str, &FilePart> = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for p in &present {
        if !listed.contains_key(p.as_str()) {
            return Err(bad(format!("{p}: not in the manifest")));
        }
    }
    let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for f in &m.files {
        if f.path.contains("..") || f.path.starts_with('/') {
            return Err(bad(format!("{}: a path outside the export", f.path)));
        }
        let b = read(&f.path)?;
        if b.len() as u64 != f.size || hex(&Sha256::digest(&b)) != f.sha256 {
            return Err(bad(format!("{}: its bytes are not the ones the manifest lists", f.path)));
        }
        contents.insert(&f.path, b);
    }

    // The log: its head, and the entries of the agency, the request and each answer.
    let key_hex = log_key.unwrap_or(&m.log.log_key);
    let key = crypto::keys::IdentityPublic::from_bytes(&to_hash(key_hex, "log key")?)
        .map_err(|e| bad(format!("log key: {e}")))?;
    let head_bytes = unhex(&m.log.head).ok_or_else(|| bad("log.head: not hex"))?;
    let head = SignedTreeHead::verify(&head_bytes, &key).map_err(|e| bad(format!("log.head: {e}")))?;
    let agency_rec = check_entry(&m.log.agency_entry, &head, "the agency's verification")?;
    match &agency_rec.entry {
        Entry::AgencyVerified { agency_id, public_keys, .. }
            if *agency_id == m.agency.id && *public_keys == m.agency.public_keys => {}
        _ => return Err(bad("the agency's log entry does not verify this agency with these keys")),
    }
    let rid = m.request["id"].as_str().ok_or_else(|| bad("request.id: missing"))?.to_owned();
    let req_rec = check_entry(&m.log.request_entry, &head, "the request")?;
    let (window_from, window_until) = match &req_rec.entry {
        Entry::RequestMade { request_id, agency_id, category, window_from_ms, window_until_ms, area, .. }
            if *request_id == rid
                && *agency_id == m.agency.id
                && m.request["category"] == category.as_str()
                && m.request["window_from_ms"] == *window_from_ms
                && m.request["window_until_ms"] == *window_until_ms
                && serde_json::from_value::<api::log::Area>(m.request["area"].clone()).ok().as_ref() == Some(area) =>
        {
            (*window_from_ms, *window_until_ms)
        }
        _ => return Err(bad("the request's log entry does not match the request in the manifest")),
    };
    let mut answers: BTreeMap<u64, i64> = BTreeMap::new();
    for (i, e) in m.log.grant_entries.iter().enumerate() {
        match check_entry(e, &head, &format!("answer {}", i + 1))?.entry {
            Entry::GrantMade { request_id, clips, .. } if request_id == rid => {
                answers.insert(e.index, clips);
            }
            _ => return Err(bad(format!("answer {}: its log entry is not an answer to this request", i + 1))),
        }
    }

    // Each clip: the device's signature, the owner's grant for this request and this
    // agency, and the MP4 is exactly the sealed plaintext.
    let purpose = api::grant_purpose(&rid);
    let mut per_answer: BTreeMap<u64, i64> = BTreeMap::new();
    for c in &m.clips {
        let what = format!("clip {}", c.object_id);
        let sealed =
            contents.get(c.sealed.as_str()).ok_or_else(|| bad(format!("{what}: {} is not in the export", c.sealed)))?;
        let mp4 = contents.get(c.mp4.as_str()).ok_or_else(|| bad(format!("{what}: {} is not in the export", c.mp4)))?;
        let h = crypto::object::verify_object(sealed)
            .map_err(|e| bad(format!("{what}: the device signature fails: {e}")))?;
        if hex(&h.object_id) != c.object_id
            || h.meta.camera != c.camera
            || h.meta.start_ms != c.start_ms
            || h.meta.end_ms != c.end_ms
        {
            return Err(bad(format!("{what}: the manifest's camera or times are not the ones the device signed")));
        }
        if h.meta.end_ms <= window_from || h.meta.start_ms >= window_until {
            return Err(bad(format!("{what}: recorded outside the request's window")));
        }
        let g = unhex(&c.grant)
            .and_then(|b| Grant::parse(&b).ok())
            .ok_or_else(|| bad(format!("{what}: the grant does not verify")))?;
        if !g.is_for(&h) || g.purpose != purpose || g.wrapped.key_id != agency_keys.encryption.key_id() {
            return Err(bad(format!("{what}: the grant is not for this clip, this request and this agency")));
        }
        let key: [u8; 32] =
            unhex(&c.content_key).and_then(|b| b.try_into().ok()).ok_or_else(|| bad(format!("{what}: content_key")))?;
        let plain = crypto::stream::open_body(
            &crypto::stream::ContentKey::from_bytes(key),
            h.nonce_prefix,
            h.plaintext_len,
            Some(&h.body_digest),
            &sealed[h.len..],
        )
        .map_err(|e| bad(format!("{what}: the content key does not open it: {e}")))?;
        if plain != *mp4 {
            return Err(bad(format!("{what}: {} is not what the device recorded", c.mp4)));
        }
        if !answers.contains_key(&c.grant_log_index) {
            return Err(bad(format!("{what}: shared by an answer that is not in the export's log entries")));
        }
        *per_answer.entry(c.grant_log_index).or_default() += 1;
    }
    for (index, n) in &per_answer {
        if *n > answers[index] {
            return Err(bad(format!("answer at log entry {index}: {n} clips exported, {} logged", answers[index])));
        }
    }
    for c in &m.custody {
        if let Some(o) = c["object_id"].as_str()
            && !m.clips.iter().any(|x| x.object_id == o)
        {
            return Err(bad(format!("custody: a download of {o}, which is not in the export")));
        }
    }
    Ok(Verified {
        agency: m.agency.name.clone(),
        request_id: rid,
        clips: m.clips.len(),
        custody: m.custody.len(),
        log_fingerprint: key.fingerprint(),
        head_size: head.head.size,
    })
}

pub fn run(a: VerifyEvidenceArgs) -> Result<(), Error> {
    let v = verify(&a.dir, a.log_key.as_deref())?;
    println!(
        "evidence OK: {} clip(s) for request {} by {}, unaltered since the devices sealed them; \
         {} custody record(s); request, agency and answers proved in the log {} at {} entries{}",
        v.clips,
        v.request_id,
        v.agency,
        v.custody,
        v.log_fingerprint,
        v.head_size,
        if a.log_key.is_none() {
            " (pass --log-key to pin the log's key instead of trusting the export's)"
        } else {
            ""
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::log::Area;
    use crypto::keys::{IdentitySecret, Keyring};
    use crypto::object::{Kind, Meta};
    use crypto::tlog::Nodes;

    const T: i64 = 1_790_000_000_000;

    /// A complete export of one clip, as the web app makes it, in `dir`; returns the log key
    /// and the agency's keys.
    fn export(dir: &Path) -> (String, Keyring) {
        let agency = Keyring::generate("13th Precinct", T).unwrap();
        let owner = Keyring::generate("owner", T).unwrap();
        let device = Keyring::generate("porch", T).unwrap();
        let log_key = IdentitySecret::generate();
        let rid = "ab".repeat(16);
        let mp4 = b"\0\0\0\x18ftypisom not really an mp4, but bytes".repeat(3000);
        let sealed = crypto::object::seal(
            &device.identity,
            Meta {
                kind: Kind::Clip,
                camera: "porch".into(),
                start_ms: T - 4 * 3_600_000,
                end_ms: T - 4 * 3_600_000 + 20_000,
            },
            &[owner.public().encryption],
            &mp4,
        )
        .unwrap();
        let h = crypto::object::Header::parse(&sealed).unwrap();
        let g = Grant::create(&owner, &h, &agency.public().encryption, &api::grant_purpose(&rid), T).unwrap();
        let key = g.content_key(&agency, &h).unwrap();
        let area = Area::Circle { lat: 40.74, lon: -73.99, radius_m: 300.0 };
        let (from, until) = (T - 5 * 3_600_000, T - 3 * 3_600_000);
        let keys_hex = hex(&agency.public().encode());
        let records = [
            Record::new(
                Entry::AgencyVerified {
                    agency_id: "cd".repeat(16),
                    name: "13th Precinct".into(),
                    jurisdiction: "NY".into(),
                    website: "https://pd.example".into(),
                    phone: "+1 212 555 0100".into(),
                    public_keys: keys_hex.clone(),
                    fingerprint: agency.public().identity.fingerprint(),
                    statement: "called".into(),
                },
                T,
            ),
            Record::new(
                Entry::RequestMade {
                    request_id: rid.clone(),
                    agency_id: "cd".repeat(16),
                    agency: "13th Precinct".into(),
                    category: "burglary".into(),
                    area: area.clone(),
                    area_m2: 282_743,
                    window_from_ms: from,
                    window_until_ms: until,
                    expires_ms: T + 86_400_000,
                    households_offered: 12,
                },
                T,
            ),
            Record::new(
                Entry::GrantMade { request_id: rid.clone(), agency_id: "cd".repeat(16), clips: 1, duration_ms: 20_000 },
                T,
            ),
        ];
        let bodies: Vec<String> = records.iter().map(|r| r.to_row().body).collect();
        let mut tree = tlog::MemoryTree::new();
        // Some unrelated entries before, so the proofs are not trivial.
        for i in 0..5 {
            tree.push(tlog::leaf_hash(format!("other {i}").as_bytes()));
        }
        let first = tree.size();
        for b in &bodies {
            tree.push(tlog::leaf_hash(b.as_bytes()));
        }
        let head =
            SignedTreeHead::sign(&log_key, tlog::TreeHead { size: tree.size(), root: tree.root(), timestamp_ms: T });
        let proved = |i: u64| ProvedEntry {
            index: first + i,
            body: bodies[i as usize].clone(),
            proof: tlog::inclusion_proof_at(&tree, first + i, tree.size()).unwrap().iter().map(|h| hex(h)).collect(),
        };
        let oid = hex(&h.object_id);
        let m = Manifest {
            format: FORMAT.into(),
            exported_ms: T,
            server: "http://localhost:8600".into(),
            agency: AgencyPart { id: "cd".repeat(16), name: "13th Precinct".into(), public_keys: keys_hex },
            request: serde_json::json!({"id": rid, "category": "burglary", "window_from_ms": from, "window_until_ms": until, "area": area}),
            log: LogPart {
                log_key: hex(&log_key.public().to_bytes()),
                head: hex(&head.encode()),
                agency_entry: proved(0),
                request_entry: proved(1),
                grant_entries: vec![proved(2)],
            },
            clips: vec![ClipPart {
                resident: 1,
                grant_log_index: first + 2,
                object_id: oid.clone(),
                camera: "porch".into(),
                start_ms: h.meta.start_ms,
                end_ms: h.meta.end_ms,
                mp4: format!("clips/resident-1-{oid}.mp4"),
                sealed: format!("sealed/{oid}.plob"),
                grant: hex(&g.encode()),
                content_key: hex(key.as_bytes()),
            }],
            custody: vec![
                serde_json::json!({"action": "download", "object_id": oid, "account_id": "ef".repeat(16), "created_ms": T}),
                serde_json::json!({"action": "export", "object_id": null, "account_id": "ef".repeat(16), "created_ms": T + 1}),
            ],
            files: Vec::new(),
        };
        let files = vec![(format!("clips/resident-1-{oid}.mp4"), mp4), (format!("sealed/{oid}.plob"), sealed)];
        write(dir, &m, &files, &agency).unwrap();
        (hex(&log_key.public().to_bytes()), agency)
    }

    fn all_files(dir: &Path) -> Vec<PathBuf> {
        let mut s = BTreeSet::new();
        files_under(dir, dir, &mut s).unwrap();
        s.into_iter().map(|p| dir.join(p)).collect()
    }

    #[test]
    fn an_export_verifies_and_any_changed_byte_fails_it() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _) = export(dir.path());
        let v = verify(dir.path(), Some(&key)).unwrap();
        assert_eq!((v.clips, v.custody, v.head_size), (1, 2, 8));
        // Every file, a byte flipped at its start, middle and end.
        for f in all_files(dir.path()) {
            let orig = std::fs::read(&f).unwrap();
            for at in [0, orig.len() / 2, orig.len() - 1] {
                let mut b = orig.clone();
                b[at] ^= 0x01;
                std::fs::write(&f, &b).unwrap();
                let e = verify(dir.path(), Some(&key)).unwrap_err();
                assert!(e.msg().starts_with("EVIDENCE FAILS"), "{}: {e}", f.display());
            }
            std::fs::write(&f, &orig).unwrap();
        }
        verify(dir.path(), Some(&key)).unwrap();
        // An extra file, a missing file, another log key.
        std::fs::write(dir.path().join("clips/extra.mp4"), b"x").unwrap();
        assert!(verify(dir.path(), Some(&key)).unwrap_err().msg().contains("not in the manifest"));
        std::fs::remove_file(dir.path().join("clips/extra.mp4")).unwrap();
        let other = hex(&IdentitySecret::generate().public().to_bytes());
        assert!(verify(dir.path(), Some(&other)).unwrap_err().msg().contains("log.head"));
        let sealed = all_files(dir.path()).into_iter().find(|p| p.extension().is_some_and(|e| e == "plob")).unwrap();
        std::fs::remove_file(&sealed).unwrap();
        assert!(verify(dir.path(), Some(&key)).is_err());
    }

    #[test]
    fn a_manifest_that_lies_about_the_clip_fails_even_when_resigned() {
        // Signed again by the agency: the signature holds, the content does not.
        let dir = tempfile::tempdir().unwrap();
        let (key, agency) = export(dir.path());
        let m: Manifest = serde_json::from_slice(&std::fs::read(dir.path().join(MANIFEST)).unwrap()).unwrap();
        for change in 0..3 {
            let mut m2 = m.clone();
            match change {
                0 => m2.clips[0].camera = "back".into(),
                1 => m2.request["window_until_ms"] = serde_json::json!(T),
                _ => m2.custody.push(serde_json::json!({"action": "download", "object_id": "00".repeat(16)})),
            }
            assert_ne!(m2, m);
            let ok = verify_with(&m2, dir.path(), &key, &agency);
            assert!(ok.is_err(), "change {change} passed");
        }
        // The same manifest, signed again, passes: the failures above were the content.
        verify_with(&m, dir.path(), &key, &agency).unwrap();
    }

    /// Writes `m` as the manifest, signed again by the agency.
    fn verify_with(m: &Manifest, dir: &Path, key: &str, agency: &Keyring) -> Result<Verified, Error> {
        let bytes = serde_json::to_vec_pretty(m).unwrap();
        std::fs::write(dir.join(MANIFEST), &bytes).unwrap();
        std::fs::write(dir.join(SIGNATURE), hex(&crypto::evidence::sign_manifest(agency, &bytes))).unwrap();
        verify(dir, Some(key))
    }
}
