//! The key life-cycle and sealed clips through the real binary: keys, backup and restore,
//! pairing, a sealed export, decrypt, verify, a household roster, rotation, and tampering.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn ok(args: &[&str]) -> String {
    let (ok, text) = porchlight(args);
    assert!(ok, "{args:?} failed:\n{text}");
    text
}

fn fails(args: &[&str], code: i32, want: &str) {
    let out = Command::new(bin()).args(args).env("NO_COLOR", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: exit {:?}, stderr {err}", out.status.code());
    assert!(err.contains(want), "{args:?}: stderr {err:?} lacks {want:?}");
}

fn line_after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines().find_map(|l| l.trim().strip_prefix(label)).map(|s| s.split_whitespace().next().unwrap()).unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn keys_pairing_sealed_export_decrypt_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let data = s(&p("data"));

    // Record a few seconds of real H.264.
    ok(&[
        "demo",
        "--no-server",
        "--front",
        &s(&testdata("back.mp4")),
        "--back",
        &s(&testdata("back.mp4")),
        "--data-dir",
        &data,
        "--seconds",
        "4",
    ]);

    // The owner makes keys, backs them up, and the backup restores with the code.
    let shown = ok(&["keys", "new", "--keys", &s(&p("owner.keys")), "--label", "Alice"]);
    let code = line_after(&shown, "pairing code:").to_string();
    fails(&["keys", "new", "--keys", &s(&p("owner.keys")), "--label", "Alice"], 2, "already exists");
    let b = ok(&["keys", "export-backup", "--keys", &s(&p("owner.keys")), "-o", &s(&p("backup.plb"))]);
    let recovery = b.lines().skip_while(|l| !l.contains("recovery code")).nth(1).unwrap().trim().to_string();
    assert_eq!(recovery.len(), 39, "{b}");
    fails(
        &["keys", "import-backup", &s(&p("backup.plb")), "--keys", &s(&p("x.keys")), "--code", "ABCD"],
        2,
        "recovery code: expected 32 characters",
    );
    let wrong = "0000-0000-0000-0000-0000-0000-0000-0000";
    fails(
        &["keys", "import-backup", &s(&p("backup.plb")), "--keys", &s(&p("x.keys")), "--code", wrong],
        1,
        "recovery code does not open it",
    );
    assert!(!p("x.keys").exists());
    // The code from standard input, as a person would type it (lower case, spaces).
    let mut child = Command::new(bin())
        .args(["keys", "import-backup", &s(&p("backup.plb")), "--keys", &s(&p("restored.keys"))])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", recovery.to_lowercase().replace('-', " ")).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(line_after(&text, "pairing code:"), code, "restored keys are the same identity");

    // Pairing: the wrong code is refused, the right one pins the owner.
    ok(&["keys", "show", "--keys", &s(&p("owner.keys")), "--public-out", &s(&p("owner.pub"))]);
    ok(&["keys", "new", "--keys", &s(&p("mallory.keys")), "--label", "Alice"]);
    ok(&["keys", "show", "--keys", &s(&p("mallory.keys")), "--public-out", &s(&p("mallory.pub"))]);
    fails(
        &["pair", "--data-dir", &data, "--owner", &s(&p("mallory.pub")), "--code", &code],
        1,
        "pairing code does not match",
    );
    fails(
        &["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "--seal", "-o", &s(&p("c.plc"))],
        2,
        "not paired",
    );
    ok(&["pair", "--data-dir", &data, "--owner", &s(&p("owner.pub")), "--code", &code]);
    // Pairing by QR payload pins the same owner (on a second agent).
    let qr = line_after(&shown, "QR payload:").to_string();
    fails(&["pair", "--data-dir", &s(&p("data2")), "--qr", "porchlight:pair:v1:AAAA"], 2, "--qr");
    let t = ok(&["pair", "--data-dir", &s(&p("data2")), "--qr", &qr]);
    assert!(t.contains(&format!("paired with owner {code}")), "{t}");
    fails(&["pair", "--data-dir", &data, "--owner", &s(&p("owner.pub")), "--code", &code], 2, "already paired");

    // A sealed export decrypts to exactly the plain export (the recording has stopped, so
    // "the last hour" is the same footage both times).
    ok(&["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "-o", &s(&p("plain.mp4"))]);
    ok(&["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "--seal", "-o", &s(&p("clip.plc"))]);
    let plain = std::fs::read(p("plain.mp4")).unwrap();
    let sealed = std::fs::read(p("clip.plc")).unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"ftyp"), "the sealed file shows MP4 structure");
    ok(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("restored.keys")), "-o", &s(&p("out.mp4"))]);
    let out = std::fs::read(p("out.mp4")).unwrap();
    assert_eq!(out, plain, "decrypted clip differs from the plain export");
    assert!(!packets(&p("out.mp4")).is_empty());
    fails(
        &["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("mallory.keys")), "-o", &s(&p("m.mp4"))],
        1,
        "not sealed for any key",
    );
    assert!(!p("m.mp4").exists() && !p("m.partial").exists());

    // verify says who signed what; a flipped byte anywhere is caught.
    let v = ok(&["verify", &s(&p("clip.plc"))]);
    assert!(v.contains("clip of camera \"front\"") && v.contains("signed by device"), "{v}");
    let device = v.split("signed by device ").nth(1).unwrap().split(',').next().unwrap().to_string();
    ok(&["verify", &s(&p("clip.plc")), "--device", &device]);
    fails(&["verify", &s(&p("clip.plc")), "--device", &code], 1, "not");
    for at in [10, 100, sealed.len() / 2, sealed.len() - 1] {
        let mut t = sealed.clone();
        t[at] ^= 0x40;
        std::fs::write(p("tampered.plc"), &t).unwrap();
        let (good, text) = porchlight(&["verify", &s(&p("tampered.plc"))]);
        assert!(!good, "flip at {at} verified: {text}");
        let (good, _) =
            porchlight(&["decrypt", &s(&p("tampered.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("t.mp4"))]);
        assert!(!good && !p("t.mp4").exists(), "flip at {at} decrypted");
    }
    std::fs::write(p("short.plc"), &sealed[..sealed.len() - 100]).unwrap();
    fails(&["verify", &s(&p("short.plc"))], 1, "truncated");

    // Re-sharing with someone outside the household: a grant, the clip untouched.
    ok(&["keys", "new", "--keys", &s(&p("agency.keys")), "--label", "Agency"]);
    ok(&["keys", "show", "--keys", &s(&p("agency.keys")), "--public-out", &s(&p("agency.pub"))]);
    fails(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("agency.keys")), "-o", &s(&p("a.mp4"))], 1, "not sealed");
    ok(&[
        "share",
        &s(&p("clip.plc")),
        "--keys",
        &s(&p("owner.keys")),
        "--to",
        &s(&p("agency.pub")),
        "--purpose",
        "request 7",
        "-o",
        &s(&p("g.plg")),
    ]);
    fails(
        &[
            "share",
            &s(&p("clip.plc")),
            "--keys",
            &s(&p("mallory.keys")),
            "--to",
            &s(&p("mallory.pub")),
            "-o",
            &s(&p("g2.plg")),
        ],
        1,
        "not sealed",
    );
    ok(&[
        "decrypt",
        &s(&p("clip.plc")),
        "--keys",
        &s(&p("agency.keys")),
        "--grant",
        &s(&p("g.plg")),
        "-o",
        &s(&p("a.mp4")),
    ]);
    assert_eq!(std::fs::read(p("a.mp4")).unwrap(), plain);
    let v = ok(&["verify", &s(&p("clip.plc")), "--grant", &s(&p("g.plg"))]);
    assert!(v.contains(&format!("grant: shared by {code}")) && v.contains("request 7"), "{v}");
    assert_eq!(std::fs::read(p("clip.plc")).unwrap(), sealed, "sharing changed the clip");

    // A household member added by a roster receives later clips; rotation keeps old ones.
    ok(&["keys", "new", "--keys", &s(&p("bob.keys")), "--label", "Bob"]);
    ok(&["keys", "show", "--keys", &s(&p("bob.keys")), "--public-out", &s(&p("bob.pub"))]);
    ok(&[
        "keys",
        "roster",
        "--keys",
        &s(&p("owner.keys")),
        "--serial",
        "1",
        "--member",
        &format!("{}:full", s(&p("bob.pub"))),
        "-o",
        &s(&p("r1.plr")),
    ]);
    ok(&[
        "keys",
        "roster",
        "--keys",
        &s(&p("mallory.keys")),
        "--serial",
        "2",
        "--member",
        &format!("{}:full", s(&p("mallory.pub"))),
        "-o",
        &s(&p("evil.plr")),
    ]);
    fails(&["trust", "accept", "--data-dir", &data, &s(&p("evil.plr"))], 1, "not by the owner key");
    ok(&["trust", "accept", "--data-dir", &data, &s(&p("r1.plr"))]);
    fails(&["trust", "accept", "--data-dir", &data, &s(&p("r1.plr"))], 2, "not newer");
    ok(&["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "--seal", "-o", &s(&p("clip2.plc"))]);
    ok(&["decrypt", &s(&p("clip2.plc")), "--keys", &s(&p("bob.keys")), "-o", &s(&p("bob.mp4"))]);
    fails(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("bob.keys")), "-o", &s(&p("bob1.mp4"))], 1, "not sealed");

    ok(&["keys", "rotate", "--keys", &s(&p("owner.keys")), "--rotation-out", &s(&p("rot.plt"))]);
    ok(&["trust", "accept", "--data-dir", &data, &s(&p("rot.plt"))]);
    ok(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("old.mp4"))]);
    ok(&["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "--seal", "-o", &s(&p("clip3.plc"))]);
    ok(&["decrypt", &s(&p("clip3.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("new.mp4"))]);
    fails(&["decrypt", &s(&p("clip3.plc")), "--keys", &s(&p("restored.keys")), "-o", &s(&p("x.mp4"))], 1, "not sealed");
    // Device key rotation: new clips carry the new key, a verifier follows the statement.
    ok(&["trust", "rotate-device", "--data-dir", &data, "-o", &s(&p("dev.plt"))]);
    ok(&["export", "--data-dir", &data, "--camera", "front", "--from", "-1h", "--seal", "-o", &s(&p("clip4.plc"))]);
    fails(&["verify", &s(&p("clip4.plc")), "--device", &device], 1, "not");
    ok(&["verify", &s(&p("clip4.plc")), "--device", &device, "--device-rotation", &s(&p("dev.plt"))]);
    ok(&["verify", &s(&p("clip.plc")), "--device", &device, "--device-rotation", &s(&p("dev.plt"))]);
    fails(
        &["verify", &s(&p("clip4.plc")), "--device", &device, "--device-rotation", &s(&p("rot.plt"))],
        1,
        "not the previous device key",
    );

    let t = ok(&["trust", "show", "--data-dir", &data]);
    assert!(t.contains(&format!("pinned owner:   {code}")), "{t}");
}

/// What a co-recipient can forge (a body that decrypts chunk by chunk under the clip's key
/// but is not the body the device signed) never reaches standard output; a failed decrypt
/// leaves nothing beside its output and never writes through a planted link; `--device`
/// refuses a clip from another device, and without it the signer is named with a warning.
#[test]
fn decrypt_releases_only_verified_plaintext() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let owner = crypto::keys::Keyring::generate("owner", 0).unwrap();
    std::fs::write(p("owner.keys"), &*owner.encode()).unwrap();
    let device = crypto::keys::IdentitySecret::generate();
    let meta = crypto::object::Meta { kind: crypto::object::Kind::Clip, camera: "door".into(), start_ms: 0, end_ms: 1 };
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sealed = crypto::object::seal(&device, meta, &[owner.public().encryption], &plain).unwrap();
    std::fs::write(p("clip.plc"), &sealed).unwrap();
    // The forgery: the same signed header, a body sealed anew under the clip's key.
    let h = crypto::object::Header::parse(&sealed).unwrap();
    let key = h.content_key(&owner).unwrap();
    let other = vec![0x55u8; plain.len()];
    let (body, _, _) = crypto::stream::seal_body(&key, h.nonce_prefix, &other).unwrap();
    let mut forged = sealed[..h.len].to_vec();
    forged.extend_from_slice(&body);
    std::fs::write(p("forged.plc"), &forged).unwrap();

    let run = |args: &[&str]| Command::new(bin()).args(args).env("NO_COLOR", "1").output().unwrap();
    let out = run(&["decrypt", &s(&p("forged.plc")), "--keys", &s(&p("owner.keys")), "-o", "-"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{} bytes of unverified plaintext reached stdout", out.stdout.len());
    assert!(String::from_utf8_lossy(&out.stderr).contains("digest does not match"));
    // Asked for explicitly, one pass streams and still fails at the end.
    let out = run(&["decrypt", &s(&p("forged.plc")), "--keys", &s(&p("owner.keys")), "-o", "-", "--unverified-stream"]);
    assert!(!out.status.success() && !out.stdout.is_empty());
    // The genuine clip reaches stdout whole.
    let out = run(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("owner.keys")), "-o", "-"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, plain);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WARNING: signed by device") && err.contains(&device.public().fingerprint()), "{err}");

    // To a file: a link planted where the old code put its partial file is never written
    // through, and nothing is left beside the output.
    std::fs::write(p("victim.txt"), b"keep me").unwrap();
    std::os::unix::fs::symlink(p("victim.txt"), p("out.partial")).unwrap();
    let out = run(&["decrypt", &s(&p("forged.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("out"))]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(p("victim.txt")).unwrap(), b"keep me");
    assert!(!p("out").exists());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial") && n != "out.partial")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    ok(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("out"))]);
    assert_eq!(std::fs::read(p("out")).unwrap(), plain);
    assert_eq!(std::fs::metadata(p("out")).unwrap().permissions().mode() & 0o777, 0o600, "plaintext is private");

    // --device: the right one passes quietly; another is refused before anything is written.
    let fp = device.public().fingerprint();
    let out = run(&["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("owner.keys")), "-o", "-", "--device", &fp]);
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("WARNING"));
    let stranger = crypto::keys::IdentitySecret::generate().public().fingerprint();
    fails(
        &["decrypt", &s(&p("clip.plc")), "--keys", &s(&p("owner.keys")), "-o", &s(&p("d.mp4")), "--device", &stranger],
        1,
        "--device: the clip is signed by",
    );
    assert!(!p("d.mp4").exists());
}
