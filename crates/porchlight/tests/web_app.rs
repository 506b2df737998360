//! The web app end to end in Debian's Chromium (ui/e2e/app.e2e.ts, run by Vitest with
//! playwright-core): sign-up with keys made in the browser, pairing a real agent that
//! records from the RTSP test server, a live event, playback with a decoded frame checked,
//! recovery on a second browser, an altered clip refused, passkeys through Chromium's
//! virtual authenticator, an expired session. This test builds nothing of the app: `make
//! test` builds ui/ first and sets PORCHLIGHT_REQUIRE_UI, under which a missing piece
//! fails instead of skipping.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_web_app_end_to_end_in_chromium() {
    let ui = repo_root().join("ui");
    let required = std::env::var_os("PORCHLIGHT_REQUIRE_UI").is_some();
    for (what, path) in [
        ("ui/node_modules (make ui-deps)", ui.join("node_modules/.bin/vitest")),
        ("chromium (make setup)", "/usr/bin/chromium".into()),
    ] {
        if !path.exists() {
            assert!(!required, "{what} is missing");
            eprintln!("SKIPPED: {what} is missing");
            return;
        }
    }
    testdata("front-loop.mp4");
    let out = Command::new("npm")
        .args(["run", "--silent", "e2e"])
        .current_dir(&ui)
        .env("PORCHLIGHT_BIN", bin())
        .env("NO_COLOR", "1")
        .output()
        .expect("running npm");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "the end-to-end tests failed (above)");
}
