//! Shared helpers for the binary's integration tests: real RTSP server, real agent
//! process, ffprobe.
#![allow(dead_code)]

pub mod web;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A generated clip; `make testdata` (run by `make test`) creates them.
pub fn testdata(name: &str) -> PathBuf {
    let p = repo_root().join("testdata/generated").join(name);
    assert!(p.exists(), "{} is missing: run `make testdata` first", p.display());
    p
}

/// `make test` runs the tests that use ../shared/data a second time with
/// `PORCHLIGHT_HIDE_SHARED_DATA` set, as a user's fresh clone (which has none) would.
pub fn shared_data_hidden() -> bool {
    std::env::var_os("PORCHLIGHT_HIDE_SHARED_DATA").is_some()
}

/// The real person clip's sub-stream that `make testdata` makes from ../shared/data, unless
/// it is absent or hidden.
pub fn person_sub() -> Option<PathBuf> {
    let p = repo_root().join("testdata/generated/person-sub.mp4");
    (p.exists() && !shared_data_hidden()).then_some(p)
}

/// A clip from ../shared/data, or None (after saying so loudly) when it is absent.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let p = repo_root().join("../shared/data").join(name);
    if shared_data_hidden() {
        eprintln!("SKIPPING: {} is hidden (PORCHLIGHT_HIDE_SHARED_DATA)", p.display());
        return None;
    }
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPING: {} is absent (real third-party footage is not in a fresh clone)", p.display());
        None
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_porchlight"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GStreamer RTSP server (tests/rtsp_server.py) on loopback, killed on drop.
pub struct RtspServer {
    pub port: u16,
    child: Child,
}

impl RtspServer {
    pub fn start(mounts: &[(&str, String)]) -> RtspServer {
        Self::start_on(free_port(), mounts)
    }

    pub fn start_on(port: u16, mounts: &[(&str, String)]) -> RtspServer {
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(repo_root().join("tests/rtsp_server.py")).arg("--port").arg(port.to_string());
        for (name, spec) in mounts {
            cmd.arg("--mount").arg(format!("/{name}={spec}"));
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect(
            "starting tests/rtsp_server.py with /usr/bin/python3 (run `make setup` for python3-gst-1.0 and gst-rtsp-server)",
        );
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("ready {port}"), "RTSP server failed to start");
        RtspServer { port, child }
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{mount}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `porchlight agent` process, SIGKILLed on drop if still running.
pub struct Agent {
    pub child: Child,
    pub data_dir: PathBuf,
}

impl Agent {
    pub fn start(dir: &Path, config_body: &str) -> Agent {
        let data_dir = dir.join("data");
        let cfg = dir.join("porchlight.toml");
        std::fs::write(&cfg, format!("data_dir = {:?}\n{config_body}", data_dir)).unwrap();
        let log = std::fs::File::options().create(true).append(true).open(dir.join("agent.log")).unwrap();
        let child = Command::new(bin())
            .arg("agent")
            .arg("--config")
            .arg(&cfg)
            .env("PORCHLIGHT_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Agent { child, data_dir }
    }

    pub fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Sends `sig`, waits for the exit, and asserts it was clean (showing the log if not).
    pub fn stop_with(mut self, sig: i32) {
        self.signal(sig);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.data_dir.with_file_name("agent.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
                assert!(st.success(), "agent exited with {st} after signal {sig}; log tail:\n{}", tail.join("\n"));
                return;
            }
            assert!(Instant::now() < deadline, "agent did not exit after signal {sig}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn status(&self) -> Vec<serde_json::Value> {
        status(&self.data_dir)
    }

    /// frames_recorded of `camera/main` in status.json (0 if not yet written).
    pub fn recorded(&self, camera: &str) -> u64 {
        self.status().iter().find(|s| s["camera"] == camera).and_then(|s| s["frames_recorded"].as_u64()).unwrap_or(0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The streams in `status.json` (empty before it is first written).
pub fn status(data_dir: &Path) -> Vec<serde_json::Value> {
    status_doc(data_dir)["streams"].as_array().cloned().unwrap_or_default()
}

/// `status.json` whole: `streams` and the background `workers`.
pub fn status_doc(data_dir: &Path) -> serde_json::Value {
    std::fs::read(data_dir.join("status.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Runs the binary with `args`; returns (success, stdout + stderr).
pub fn porchlight(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).args(args).env("NO_COLOR", "1").output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// One packet as ffprobe sees it, in decode order.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub pts_s: f64,
    pub size: u64,
    pub key: bool,
}

/// ffprobe's view of the video packets of `path`.
pub fn packets(path: &Path) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_entries",
            "packet=pts_time,size,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("running ffprobe (make setup installs ffmpeg)");
    assert!(out.status.success(), "ffprobe rejected {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Packet { pts_s: f[0].parse().unwrap(), size: f[1].parse().unwrap(), key: f[2].starts_with('K') }
        })
        .collect()
}

/// Frames ffmpeg actually decodes from `path` (with every frame decoded, errors fatal).
pub fn decoded_frames(path: &Path) -> usize {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().trim_end_matches(',').parse().unwrap()
}

/// Asserts that `got` holds exactly the frames of `want`: same count, sizes, key flags,
/// and presentation times relative to the first frame within `tol_s`.
pub fn assert_same_frames(what: &str, got: &[Packet], want: &[Packet], tol_s: f64) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    let g0 = got.iter().map(|p| p.pts_s).fold(f64::INFINITY, f64::min);
    let w0 = want.iter().map(|p| p.pts_s).fold(f64::INFINITY, f64::min);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.size, w.size, "{what}: frame {i} size");
        assert_eq!(g.key, w.key, "{what}: frame {i} key flag");
        let (gt, wt) = (g.pts_s - g0, w.pts_s - w0);
        assert!((gt - wt).abs() <= tol_s, "{what}: frame {i} pts {gt} vs source {wt}");
    }
}

/// (run id, first frame, end) of each run of `camera`'s main stream.
pub fn runs(data_dir: &Path, camera: &str) -> Vec<(i64, i64, i64, Option<String>)> {
    let conn = index::open_read_only(&data_dir.join("index.db")).unwrap();
    let Some(id) = index::find_stream(&conn, camera, index::StreamKind::Main).unwrap() else { return Vec::new() };
    index::runs_in_range(&conn, id, i64::MIN / 2, i64::MAX / 2)
        .unwrap()
        .into_iter()
        .map(|(r, s, e)| (r.id, s, e, r.end_reason))
        .collect()
}

pub fn fmt_90k(t: i64) -> String {
    base::clock::format_90k(t)
}

/// The strength of `freq` in 8 kHz samples (Goertzel), per sample: what a camera's speaker
/// played, to tell a tone from another.
pub fn tone_power(samples: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / samples.len().max(1) as f64
}

/// A clip for measuring sound against picture: black 320×240 at 30 fps (H.264, no
/// B-frames) that flashes white for 100 ms at every whole second, and 16 kHz AAC that
/// clicks (10 ms of 1 kHz) at the same moments, `seconds` long.
pub fn click_and_flash(path: &Path, seconds: u32) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c=black:s=320x240:r=30:d={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("aevalsrc='if(lt(mod(t\\,1)\\,0.01)\\,0.8*sin(2*PI*1000*t)\\,0)':s=16000:d={seconds}"))
        .args(["-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k", "-shortest"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

/// Seconds (on the file's time line) at which the picture turns bright.
pub fn flash_onsets(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("movie={},signalstats", path.display()))
        .args(["-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let mut onsets = Vec::new();
    let mut prev = 0.0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split(',').map(|x| x.trim().parse::<f64>());
        let (Some(Ok(t)), Some(Ok(y))) = (f.next(), f.next()) else { continue };
        if y > 128.0 && prev <= 128.0 {
            onsets.push(t);
        }
        prev = y;
    }
    onsets
}

/// Seconds (on the file's time line: the sound is padded from 0 to where its track
/// starts) at which a click begins after at least 100 ms of quiet.
pub fn click_onsets(path: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-af", "aresample=async=1:first_pts=0", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let mut onsets = Vec::new();
    let mut quiet = 0usize;
    for (i, c) in out.stdout.chunks_exact(2).enumerate() {
        let loud = i16::from_le_bytes([c[0], c[1]]).unsigned_abs() > 8000;
        if loud && quiet > 1600 {
            onsets.push(i as f64 / 16_000.0);
        }
        quiet = if loud { 0 } else { quiet + 1 };
    }
    onsets
}

/// For each click, how far (ms, + when late) it is from the nearest flash.
pub fn sync_offsets_ms(path: &Path) -> Vec<f64> {
    let flashes = flash_onsets(path);
    assert!(!flashes.is_empty(), "{}: no flash in the picture", path.display());
    click_onsets(path)
        .into_iter()
        .map(|c| {
            let v = flashes.iter().copied().min_by(|a, b| (a - c).abs().total_cmp(&(b - c).abs())).unwrap();
            (c - v) * 1000.0
        })
        .collect()
}

/// The codec names of a file's streams, in order (ffprobe).
pub fn stream_codecs(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}
