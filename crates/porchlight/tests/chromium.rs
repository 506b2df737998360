//! Exported MP4s (progressive and fragmented) play in real headless Chromium (Debian's
//! `chromium`): the video element advances at least half a second and a decoded frame is
//! not blank.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Plays `file` (in `dir`) in headless Chromium; returns the page title the player sets.
fn play(dir: &std::path::Path, file: &str) -> String {
    std::fs::copy(repo_root().join("tests/chromium/play.html"), dir.join("play.html")).unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            // The page reads pixels of a file:// video; treat file:// as one origin.
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .arg(format!("file://{}/play.html?src={file}", dir.display()))
        .output()
        .expect("running chromium (make setup installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&out.stdout);
    dom.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).unwrap_or("no title").to_string()
}

#[test]
fn chromium_plays_exports() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[[cameras]]\nname = \"front\"\nmain = {{ file = {:?} }}\n[[cameras]]\nname = \"back\"\nmain = {{ file = {:?} }}\n",
            testdata("front.mp4"),
            testdata("back.mp4")
        ),
    );
    wait_until("4 s of footage", Duration::from_secs(20), || {
        agent.recorded("front") >= 100 && agent.recorded("back") >= 60
    });
    let data_dir = agent.data_dir.clone();
    agent.stop_with(libc::SIGTERM);
    for camera in ["front", "back"] {
        for fragmented in [false, true] {
            let name = format!("{camera}-{}.mp4", if fragmented { "frag" } else { "prog" });
            let out = dir.path().join(&name);
            let out_s = out.display().to_string();
            let dd = data_dir.display().to_string();
            let mut args = vec!["export", "--data-dir", &dd, "--camera", camera, "--from", "-1h", "-o", &out_s];
            if fragmented {
                args.push("--fragmented");
            }
            let (ok, text) = porchlight(&args);
            assert!(ok, "{text}");
            let title = play(dir.path(), &name);
            assert!(title.starts_with("OK "), "{name}: Chromium did not play it: {title}");
            let range: u32 = title.rsplit("range=").next().unwrap().parse().unwrap();
            assert!(range > 16, "{name}: decoded frame looks blank: {title}");
        }
    }
}
