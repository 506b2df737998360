//! Motion analysis while recording: the agent decodes the analysed stream on its own
//! thread and reports motion in status.json; a stream it cannot decode is reported there
//! too, and is still recorded in full.

mod common;

use common::*;

#[test]
fn demo_reports_motion_and_undecodable_streams() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // back.mp4 is Baseline (decodable, with moving content); front.mp4 has B-frames.
    let (ok, text) = porchlight(&[
        "demo",
        "--no-server",
        "--front",
        &testdata("back.mp4").display().to_string(),
        "--back",
        &testdata("front.mp4").display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--seconds",
        "6",
    ]);
    assert!(ok, "{text}");
    let st = status(&data);
    let cam =
        |name: &str| st.iter().find(|s| s["camera"] == name).unwrap_or_else(|| panic!("no {name} in {st:?}")).clone();
    let front = cam("front");
    assert!(front["motion"]["events"].as_u64().unwrap() >= 1, "{front}");
    assert!(front["motion"]["last_error"].is_null(), "{front}");
    let back = cam("back");
    assert!(back["motion"]["last_error"].as_str().unwrap().contains("B-frames"), "{back}");
    assert!(back["frames_recorded"].as_u64().unwrap() > 50, "the undecodable stream is still recorded: {back}");
    let (ok, text) = porchlight(&["check", "--data-dir", &data.display().to_string()]);
    assert!(ok, "{text}");
}

#[test]
fn the_sub_stream_is_the_one_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // front: a B-frame main stream with a B-frame-free sub-stream, as cameras send.
    let (ok, text) = porchlight(&[
        "demo",
        "--no-server",
        "--front",
        &testdata("front.mp4").display().to_string(),
        "--front-sub",
        &testdata("front-sub.mp4").display().to_string(),
        "--back",
        &testdata("back.mp4").display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--seconds",
        "6",
    ]);
    assert!(ok, "{text}");
    let st = status(&data);
    let get =
        |cam: &str, stream: &str| st.iter().find(|s| s["camera"] == cam && s["stream"] == stream).unwrap().clone();
    assert!(get("front", "main").get("motion").is_none(), "the main stream is not analysed");
    let sub = get("front", "sub");
    assert!(sub["motion"]["last_error"].is_null() && sub["motion"]["events"].as_u64().unwrap() >= 1, "{sub}");
    assert!(get("front", "main")["frames_recorded"].as_u64().unwrap() > 50);
    assert!(sub["frames_recorded"].as_u64().unwrap() > 50, "the sub-stream is recorded too");
}
