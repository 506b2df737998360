//! Bad command-line input gets a clear error naming the flag or field, exit code 2, and
//! changes nothing.

mod common;

use std::process::Command;

use common::*;

fn check(args: &[&str], want: &str) {
    let out = Command::new(bin()).args(args).env("NO_COLOR", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit {:?}, stderr {err}", out.status.code());
    assert!(err.contains(want), "{args:?}: stderr {err:?} lacks {want:?}");
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[cameras]]\nname = \"front\"\nmain = { url = \"rtsp://x/y\" }\n[recording]\nflush_interval_ms = 10\n",
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    check(&["config", "check", &cfg_s], "line 5: expected an integer in 50..=5000, got 10");
    check(&["agent", "--config", &cfg_s], "line 5");
    check(&["config", "check", &format!("{d}/missing.toml")], "missing.toml");
    check(&["check", "--data-dir", &d], "no recording database");
    check(&["recordings"], "give --data-dir or --config");

    // A real (empty) data folder: record nothing, then ask for bad exports.
    let empty = dir.path().join("data");
    let (ok, text) = porchlight(&[
        "demo",
        "--no-server",
        "--front",
        &testdata("back.mp4").display().to_string(),
        "--back",
        &testdata("back.mp4").display().to_string(),
        "--data-dir",
        &empty.display().to_string(),
        "--seconds",
        "1",
    ]);
    assert!(ok, "{text}");
    let e = empty.display().to_string();
    let out = dir.path().join("out.mp4");
    let o = out.display().to_string();
    check(
        &["export", "--data-dir", &e, "--camera", "nope", "--from", "-1m", "-o", &o],
        "--camera: no stream nope/main",
    );
    check(
        &["export", "--data-dir", &e, "--camera", "front", "--stream", "side", "--from", "-1m", "-o", &o],
        "--stream",
    );
    check(
        &["export", "--data-dir", &e, "--camera", "front", "--from", "yesterday", "-o", &o],
        "--from: expected an RFC 3339",
    );
    check(
        &["export", "--data-dir", &e, "--camera", "front", "--from", "-1m", "--to", "-2m", "-o", &o],
        "--to must be after --from",
    );
    check(&["export", "--data-dir", &e, "--camera", "front", "--from", "-5y", "-o", &o], "--from: expected a unit");
    check(&["demo", "--front", &cfg_s, "--back", &cfg_s, "--data-dir", &e], "is not a usable MP4 file");
    assert!(!out.exists() && !dir.path().join("out.mp4.partial").exists(), "a failed export left a file");

    // Motion settings are checked before any work, naming the flag and the problem.
    let clip = testdata("back.mp4").display().to_string();
    check(&["motion", &clip, "--zone", "top=0,0 1,0 0.5,0.5 1,0.2"], "--zone top: edge 1 crosses edge 3");
    check(&["motion", &clip, "--zone", "door=0,0 1.5,0 1,1"], "--zone door: point 1 (1.5, 0) leaves the frame");
    check(&["motion", &clip, "--mask", "0,0 1,0"], "--mask: expected 3..=64 points");
    check(&["motion", &clip, "--zone", "nozone"], "expected NAME=x,y");
    check(&["motion", &clip, "--sensitivity", "0"], "sensitivity: expected 1..=100");
    check(&["motion", &testdata("h265.mp4").display().to_string()], "H.264 only");
    let (ok, text) = porchlight(&["motion", &clip]);
    assert!(ok && text.contains("analysed") && text.contains("0 decoding or detector errors"), "{text}");
    // Settings from a configuration file's camera.
    let example = repo_root().join("porchlight.example.toml").display().to_string();
    let (ok, text) = porchlight(&["motion", &clip, "--config", &example, "--camera", "front"]);
    assert!(ok && text.contains("analysed"), "{text}");
    check(&["motion", &clip, "--config", &example, "--camera", "back"], "--camera: ");
    check(&["motion", &clip, "--config", &example, "--camera", "front", "--sensitivity", "5"], "cannot be used with");
}
