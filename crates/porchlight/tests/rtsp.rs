//! Recording from a real RTSP server (GStreamer's gst-rtsp-server) and exporting what was
//! recorded, compared frame by frame with the source files.

mod common;

use std::time::Duration;

use common::*;

/// Exports the first run of `camera` (progressive and fragmented) and compares it with the
/// source file frame by frame.
fn check_first_run_matches(data_dir: &std::path::Path, dir: &std::path::Path, camera: &str, source: &std::path::Path) {
    let runs = runs(data_dir, camera);
    assert!(!runs.is_empty(), "{camera}: no runs recorded");
    let (_, start, end, _) = runs[0];
    let want = packets(source);
    for fragmented in [false, true] {
        let out = dir.join(format!("{camera}-{fragmented}.mp4"));
        let mut args = vec![
            "export".to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--camera".into(),
            camera.into(),
            "--from".into(),
            fmt_90k(start),
            "--to".into(),
            fmt_90k(end),
            "-o".into(),
            out.display().to_string(),
        ];
        if fragmented {
            args.push("--fragmented".into());
        }
        let (ok, text) = porchlight(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "export failed: {text}");
        let got = packets(&out);
        // RTP carries 90 kHz timestamps: allow two ticks of rounding against the source's
        // own timescale.
        assert_same_frames(&format!("{camera} fragmented={fragmented}"), &got, &want, 2.5 / 90_000.0);
        assert_eq!(decoded_frames(&out), want.len(), "{camera}: frames ffmpeg decodes");
    }
}

#[test]
fn records_rtsp_streams_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let front = testdata("front.mp4"); // H.264 High with B-frames
    let back = testdata("back.mp4"); // H.264 baseline
    let h265 = testdata("h265.mp4");
    // The RTP timestamp starts 3 s before its 32-bit wrap.
    let server = RtspServer::start(&[
        ("front", front.display().to_string()),
        ("wrap", format!("{},ts_offset={}", back.display(), u32::MAX - 3 * 90_000)),
        ("h265", h265.display().to_string()),
    ]);
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[[cameras]]\nname = \"front\"\nmain = {{ url = \"{}\" }}\n\
             [[cameras]]\nname = \"wrap\"\nmain = {{ url = \"{}\" }}\n\
             [[cameras]]\nname = \"h265\"\nmain = {{ url = \"{}\" }}\n",
            server.url("front"),
            server.url("wrap"),
            server.url("h265")
        ),
    );
    let data_dir = agent.data_dir.clone();
    let want = [("front", packets(&front).len()), ("wrap", packets(&back).len()), ("h265", packets(&h265).len())];
    wait_until("every source frame to be recorded", Duration::from_secs(60), || {
        want.iter().all(|(c, n)| agent.recorded(c) >= *n as u64)
    });
    agent.stop_with(libc::SIGTERM);
    let (ok, text) = porchlight(&["check", "--data-dir", &data_dir.display().to_string(), "--deep"]);
    assert!(ok, "check failed:\n{text}");
    assert!(text.contains("0 bytes unindexed"), "clean stop left unindexed bytes:\n{text}");
    check_first_run_matches(&data_dir, dir.path(), "front", &front);
    check_first_run_matches(&data_dir, dir.path(), "wrap", &back);
    check_first_run_matches(&data_dir, dir.path(), "h265", &h265);
}

#[test]
fn bad_cameras_get_a_clear_status_and_never_disturb_others() {
    let dir = tempfile::tempdir().unwrap();
    let back = testdata("back.mp4");
    let server = RtspServer::start(&[
        ("good", back.display().to_string()),
        ("audio", "audio".into()),
        ("pc", testdata("paramchange.ts").display().to_string()),
        ("sub", testdata("h265.mp4").display().to_string()),
    ]);
    let auth = RtspServer::start(&[("secret", format!("{},user=alice,password=s3cret", back.display()))]);
    // A "camera" that answers every request with garbage.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in garbage.incoming() {
            let Ok(mut s) = s else { return };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"\x00\xffRTSP/9.9 banana\r\n\r\n\x24\x00\xff\xffgarbage-rtp");
        }
    });
    // A port that refuses connections and stays reserved for this test: a port merely
    // free when the test starts can be taken by another test's server meanwhile, and the
    // "refused" camera would then reach it.
    let refusing = RefusingPort::new();
    let cams = [
        ("good", server.url("good"), ""),
        ("audio", server.url("audio"), ""),
        ("pc", server.url("pc"), ""),
        ("nopath", server.url("nope"), ""),
        ("wrongpw", auth.url("secret"), "username = \"alice\", password = \"wrong\", "),
        ("garbage", format!("rtsp://127.0.0.1:{garbage_port}/x"), ""),
        ("refused", format!("rtsp://127.0.0.1:{}/x", refusing.port), ""),
    ];
    let mut cfg = String::from("[connection]\nbackoff_initial_ms = 200\nbackoff_max_s = 1\n");
    for (name, url, creds) in &cams {
        cfg.push_str(&format!("[[cameras]]\nname = \"{name}\"\nmain = {{ {creds}url = \"{url}\" }}\n"));
    }
    // The good camera also has a sub-stream (H.265 here), recorded alongside its main stream.
    cfg.push_str(&format!(
        "[[cameras]]\nname = \"dual\"\nmain = {{ url = \"{}\" }}\nsub = {{ url = \"{}\" }}\n",
        server.url("good"),
        server.url("sub")
    ));
    let agent = Agent::start(dir.path(), &cfg);
    let expect = [
        ("audio", "invalid_argument", "no H.264 or H.265 video"),
        ("nopath", "not_found", "404"),
        ("wrongpw", "unauthenticated", "401"),
        ("garbage", "unavailable", ""),
        ("refused", "unavailable", ""),
    ];
    // Each camera's `last_error` is its latest attempt's, and the five retry on their own
    // schedules: an attempt can also fail another way (the RTSP test server slow to answer
    // a DESCRIBE, say), so the five need not show their own errors at the same moment. The
    // wait is for each to have reported its error at least once, kept as seen; it fails
    // only when one never does, showing what each reported meanwhile.
    let mut seen: std::collections::BTreeMap<&str, serde_json::Value> = Default::default();
    let mut reported: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < expect.len() {
        for s in agent.status() {
            let cam = s["camera"].as_str().unwrap_or_default().to_owned();
            if let Some(kind) = s["last_error"]["kind"].as_str() {
                reported.entry(cam.clone()).or_default().insert(kind.to_owned());
            }
            if let Some((c, _, _)) = expect.iter().find(|(c, k, _)| *c == cam && s["last_error"]["kind"] == *k) {
                seen.entry(c).or_insert(s);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every bad camera reported its error; errors seen: {reported:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (cam, kind, text) in expect {
        let s = &seen[cam];
        let msg = s["last_error"]["message"].as_str().unwrap();
        assert!(msg.contains(text), "{cam}: {kind} message {msg:?} lacks {text:?}");
        assert_ne!(s["state"], "streaming", "{cam}");
    }
    // The good camera records all along, and the parameter change yields both codecs.
    let good_frames = packets(&back).len() as u64;
    wait_until("the good camera to record its file", Duration::from_secs(40), || {
        agent.recorded("good") >= good_frames && agent.recorded("pc") >= 120
    });
    let data_dir = agent.data_dir.clone();
    agent.stop_with(libc::SIGINT);
    check_first_run_matches(&data_dir, dir.path(), "good", &back);
    let (_, start, end, _) = runs(&data_dir, "pc")[0];
    let out = dir.path().join("pc.mp4");
    let (ok, text) = porchlight(&[
        "export",
        "--data-dir",
        &data_dir.display().to_string(),
        "--camera",
        "pc",
        "--from",
        &fmt_90k(start),
        "--to",
        &fmt_90k(end),
        "-o",
        &out.display().to_string(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("avc1.42c016,avc1.42c00c"), "expected both parameter sets in the export: {text}");
    assert_eq!(decoded_frames(&out), 120);
    let (ok, text) = porchlight(&["check", "--data-dir", &data_dir.display().to_string(), "--deep"]);
    assert!(ok, "{text}");
    // Both streams of the dual camera were recorded; the sub-stream exports on its own.
    let out = dir.path().join("dual-sub.mp4");
    let (ok, text) = porchlight(&[
        "export",
        "--data-dir",
        &data_dir.display().to_string(),
        "--camera",
        "dual",
        "--stream",
        "sub",
        "--from",
        "-10m",
        "-o",
        &out.display().to_string(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("hvc1."), "{text}");
    assert!(decoded_frames(&out) >= 15);
    let (ok, text) = porchlight(&["recordings", "--data-dir", &data_dir.display().to_string(), "--camera", "dual"]);
    assert!(ok && text.contains("dual/main:") && text.contains("dual/sub:"), "{text}");
}

#[test]
fn camera_outage_is_a_gap_and_recording_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let back = testdata("back.mp4");
    let port = free_port();
    let mut server = RtspServer::start_on(port, &[("cam", back.display().to_string())]);
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[connection]\nbackoff_initial_ms = 200\nbackoff_max_s = 1\nstall_timeout_s = 2\n\
             [[cameras]]\nname = \"cam\"\nmain = {{ url = \"rtsp://127.0.0.1:{port}/cam\" }}\n"
        ),
    );
    wait_until("frames", Duration::from_secs(20), || agent.recorded("cam") >= 45);
    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    let before = agent.recorded("cam");
    let _server = RtspServer::start_on(port, &[("cam", back.display().to_string())]);
    wait_until("recording to resume", Duration::from_secs(20), || agent.recorded("cam") >= before + 45);
    let data_dir = agent.data_dir.clone();
    agent.stop_with(libc::SIGTERM);
    let runs = runs(&data_dir, "cam");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let gap_s = (runs[1].1 - runs[0].2) as f64 / 90_000.0;
    assert!(gap_s >= 2.0, "the outage should show as a gap of ≥ 2 s, got {gap_s}");
    assert!(runs[0].3.as_deref().is_some_and(|r| !r.is_empty() && r != "agent shut down"), "{:?}", runs[0].3);
    let (ok, text) = porchlight(&["recordings", "--data-dir", &data_dir.display().to_string()]);
    assert!(ok && text.contains("gap"), "{text}");
}

/// Real third-party footage (../shared/data), through RTSP: every frame arrives.
#[test]
fn real_footage_arrives_frame_for_frame() {
    let clips: Vec<_> =
        ["one-by-one-person-detection.mp4", "car-detection.mp4"].iter().filter_map(|c| shared_data(c)).collect();
    if clips.len() < 2 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server =
        RtspServer::start(&[("person", clips[0].display().to_string()), ("car", clips[1].display().to_string())]);
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[[cameras]]\nname = \"person\"\nmain = {{ url = \"{}\" }}\n[[cameras]]\nname = \"car\"\nmain = {{ url = \"{}\" }}\n",
            server.url("person"),
            server.url("car")
        ),
    );
    let want = [("person", packets(&clips[0]).len() as u64), ("car", packets(&clips[1]).len() as u64)];
    wait_until("every frame of the real clips", Duration::from_secs(200), || {
        want.iter().all(|(c, n)| agent.recorded(c) >= *n)
    });
    let data_dir = agent.data_dir.clone();
    agent.stop_with(libc::SIGTERM);
    check_first_run_matches(&data_dir, dir.path(), "person", &clips[0]);
    check_first_run_matches(&data_dir, dir.path(), "car", &clips[1]);
}

/// A TCP port bound on loopback but never listened on: connecting to it is refused, and no
/// other process can take it while this lives.
struct RefusingPort {
    fd: i32,
    port: u16,
}

impl RefusingPort {
    fn new() -> RefusingPort {
        // SAFETY: plain socket calls on a socket this function owns; the address structure
        // is fully initialised before use.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len), 0, "bind");
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            assert_eq!(libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut got_len), 0);
            RefusingPort { fd, port: u16::from_be(got.sin_port) }
        }
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: closing the socket this value owns, once.
        unsafe { libc::close(self.fd) };
    }
}

/// The ONVIF backchannel: sound the agent's client sends reaches the camera's speaker (the
/// test camera, gst-rtsp-server's ONVIF media factory, writes it to a file) whole and at
/// the tone sent; a camera without a backchannel is refused with an error that says so,
/// and the file is untouched by it; asked whether it has a speaker, each says so.
#[test]
fn sound_sent_over_the_onvif_backchannel_reaches_the_camera() {
    use media::backchannel::Backchannel;
    let dir = tempfile::tempdir().unwrap();
    let speaker = dir.path().join("speaker.raw");
    let clip = testdata("front-sub.mp4");
    let server = RtspServer::start(&[
        ("cam", format!("{},audio=pcmu,backchannel={}", clip.display(), speaker.display())),
        ("plain", clip.display().to_string()),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    const SECONDS: usize = 2;
    let url = url::Url::parse(&server.url("cam")).unwrap();
    // A 1 kHz tone, sent in real time in 20 ms steps (odd-sized, as a decoder hands them).
    let talk = || {
        rt.block_on(async {
            let mut b = Backchannel::connect(&url, None, None, Duration::from_secs(10)).await.expect("backchannel");
            assert_eq!(b.law(), media::g711::Law::Mu);
            let tone: Vec<i16> = (0..SECONDS * 8000)
                .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16)
                .collect();
            let start = tokio::time::Instant::now();
            for (k, chunk) in tone.chunks(150).enumerate() {
                b.send(chunk).await.expect("sending");
                tokio::time::sleep_until(start + Duration::from_micros(150 * 125 * (k as u64 + 1))).await;
            }
            b.close().await;
        })
    };
    talk();
    rt.block_on(async {
        let refused =
            Backchannel::connect(&url::Url::parse(&server.url("plain")).unwrap(), None, None, Duration::from_secs(10))
                .await
                .expect_err("a camera without a backchannel");
        assert_eq!(refused.kind(), base::ErrorKind::FailedPrecondition, "{refused}");
        assert!(refused.msg().contains("no ONVIF backchannel"), "{refused}");
        // Asked without setting anything up (what the agent tells the app): the camera has
        // a speaker, the plain one has none, and a port nothing answers on is an error, not
        // a "no".
        let offered = async |u: String| {
            Backchannel::offered(&url::Url::parse(&u).unwrap(), None, None, Duration::from_secs(10)).await
        };
        assert!(offered(server.url("cam")).await.unwrap());
        assert!(!offered(server.url("plain")).await.unwrap());
        let nobody = RefusingPort::new();
        assert!(offered(format!("rtsp://127.0.0.1:{}/cam", nobody.port)).await.is_err());
    });
    // What the camera played: all of it (the last partial packet stays unsent), at 1 kHz.
    let want = SECONDS * 8000 / 160 * 160;
    let written = || std::fs::metadata(&speaker).map(|m| m.len() as usize).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while written() < want * 2 * 95 / 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if written() == 0 {
        // The test camera (gst-rtsp-server's ONVIF backchannel) now and then writes nothing
        // of a whole session it was sent (seen in the talk tests too): then, and only then,
        // once more. Anything short of the whole but not nothing fails below.
        eprintln!("the test camera wrote nothing of a whole backchannel session; sending again");
        talk();
    }
    wait_until("the camera to write what it heard", Duration::from_secs(10), || written() >= want * 2 * 95 / 100);
    std::thread::sleep(Duration::from_millis(500));
    let bytes = std::fs::read(&speaker).unwrap();
    let heard: Vec<i16> = bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    assert!(heard.len().abs_diff(want) <= want / 20, "the camera heard {} samples, {want} were sent", heard.len());
    let (at_1k, at_440) = (tone_power(&heard, 1000.0), tone_power(&heard, 440.0));
    assert!(at_1k > 100.0 * at_440, "1 kHz {at_1k:.0}, 440 Hz {at_440:.0}: not the tone sent");
}

/// Live view's sound: the agent reads the camera's sound over RTSP (G.711 re-encoded to
/// Opus; AAC and Opus as they came) and streams fragmented MP4 sealed for the viewer's session key;
/// opened with that key, ffmpeg decodes it, and it carries the camera's tones (440 Hz and
/// 880 Hz, a second each).
#[test]
fn live_sound_is_the_cameras_tones_sealed_for_the_viewer() {
    for (codec, want) in [("pcmu", "opus,48000"), ("aac", "aac,16000"), ("opus", "opus,48000")] {
        live_sound_case(codec, want);
    }
}

fn live_sound_case(codec: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let clip = testdata("front-sub.mp4");
    let server = RtspServer::start(&[("cam", format!("{},audio={codec}", clip.display()))]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let viewer = crypto::keys::EncryptionSecret::generate();
    let member = crypto::keys::Keyring::generate("member", 0).unwrap();
    let q = crypto::live::LiveRequest::create(&member, [1; 16], "cam", viewer.public(), 0).unwrap();
    let sound =
        agent::live_audio::Sound { url: url::Url::parse(&server.url("cam")).unwrap(), username: None, password: None };
    let (messages, ended) = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let task = tokio::spawn(async move { agent::live_audio::stream(&sound, q, tx).await });
        // About 4 s of sound (100 ms fragments), however long the camera takes to start
        // under load (the other suites share two cores), up to 20 s.
        let mut out = Vec::new();
        let until = tokio::time::Instant::now() + Duration::from_secs(20);
        while out.len() < 42
            && let Ok(Some(m)) = tokio::time::timeout_at(until, rx.recv()).await
        {
            out.push(m);
        }
        drop(rx);
        let ended =
            tokio::time::timeout(Duration::from_secs(5), task).await.expect("the stream ends when the viewer leaves");
        (out, ended)
    });
    let mut opener = crypto::live::LiveOpener::new(viewer);
    let mut mp4 = Vec::new();
    for m in &messages {
        let n = u32::from_be_bytes(m[..4].try_into().unwrap()) as usize;
        if let Some(seg) = opener.open(&m[4..4 + n]).unwrap() {
            mp4.extend_from_slice(&seg);
        }
    }
    assert!(messages.len() > 20, "{codec}: {} messages in 20 s; the stream ended with {ended:?}", messages.len());
    let file = dir.path().join("sound.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,sample_rate", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), want, "{codec}");
    let pcm = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "s16le", "-ac", "1", "-ar", "8000", "-"])
        .output()
        .unwrap();
    assert!(pcm.status.success(), "{}", String::from_utf8_lossy(&pcm.stderr));
    let samples: Vec<i16> = pcm.stdout.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
    assert!(samples.len() > 8000 * 3, "{} samples decoded", samples.len());
    let (a, b, other) = (tone_power(&samples, 440.0), tone_power(&samples, 880.0), tone_power(&samples, 1500.0));
    assert!(a > 50.0 * other && b > 50.0 * other, "{codec}: 440 Hz {a:.0}, 880 Hz {b:.0}, 1500 Hz {other:.0}");
}

/// A camera's runs, one per connection: the shared pipeline of the test camera steps its
/// picture back by about 100 ms when a second client (the Opus session) joins it, which
/// ends a run ("timestamp discontinuity") that the next one continues. Such a run and the
/// next count as one here, from the first's start to the next one's end.
fn connections(runs: Vec<(i64, i64, i64, Option<String>)>) -> Vec<(i64, i64, i64, Option<String>)> {
    let mut out: Vec<(i64, i64, i64, Option<String>)> = Vec::new();
    let stepped_back = |reason: &Option<String>| {
        let n = reason.as_deref().and_then(|e| e.strip_prefix("timestamp discontinuity of -"));
        n.and_then(|n| n.split(' ').next()?.parse::<i64>().ok()).is_some_and(|n| n < 90_000)
    };
    for r in runs {
        match out.last_mut() {
            Some(last) if stepped_back(&last.3) => (last.2, last.3) = (r.2, r.3),
            _ => out.push(r),
        }
    }
    out
}

/// Recording a camera's sound (`audio.record`): AAC, G.711 and Opus kept as they came, on
/// the picture's clock (Opus from a session of its own, placed by sender reports), through
/// a `kill -9` and a restart; `check --deep` passes; exports (progressive and fragmented)
/// carry the sound as a second track whose clicks land within 40 ms of the picture's
/// flashes; the browser's version of G.711 is Opus, as well in sync; a camera whose sound is
/// not recorded gets no sound stream and silent exports.
#[test]
fn recorded_sound_stays_in_sync_with_the_picture_through_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("flash.mp4");
    click_and_flash(&clip, 40);
    let server = RtspServer::start(&[
        ("aac", format!("{},audio=file", clip.display())),
        ("mu", format!("{},audio=file-pcmu", clip.display())),
        // One encoder for every client, as a camera has: the Opus comes in a session of its
        // own, placed on the picture's clock by the two sessions' sender reports.
        ("opus", format!("{},audio=file-opus,shared=1", clip.display())),
        ("quiet", format!("{},audio=file", clip.display())),
    ]);
    let config = format!(
        "[[cameras]]\nname = \"aac\"\nmain = {{ url = \"{}\" }}\naudio = {{ record = true }}\n\
         [[cameras]]\nname = \"mu\"\nmain = {{ url = \"{}\" }}\naudio = {{ record = true }}\n\
         [[cameras]]\nname = \"opus\"\nmain = {{ url = \"{}\" }}\naudio = {{ record = true }}\n\
         [[cameras]]\nname = \"quiet\"\nmain = {{ url = \"{}\" }}\n",
        server.url("aac"),
        server.url("mu"),
        server.url("opus"),
        server.url("quiet")
    );
    let cams = ["aac", "mu", "opus", "quiet"];
    let mut agent = Agent::start(dir.path(), &config);
    let data_dir = agent.data_dir.clone();
    let data = data_dir.display().to_string();
    wait_until("6 s recorded", Duration::from_secs(60), || cams.iter().all(|c| agent.recorded(c) >= 180));
    agent.signal(libc::SIGKILL);
    agent.child.wait().unwrap();
    let (ok, text) = porchlight(&["check", "--data-dir", &data]);
    assert!(ok, "check after kill -9:\n{text}");
    // The killed agent's last status would count as the new one's.
    std::fs::remove_file(data_dir.join("status.json")).unwrap();
    let agent = Agent::start(dir.path(), &config);
    wait_until("5 s more recorded", Duration::from_secs(60), || cams.iter().all(|c| agent.recorded(c) >= 150));
    agent.stop_with(libc::SIGTERM);
    let (ok, text) = porchlight(&["check", "--data-dir", &data, "--deep"]);
    assert!(ok, "check --deep after recovery and a clean stop:\n{text}");
    assert!(text.contains("0 bytes unindexed"), "{text}");

    let conn = index::open_read_only(&data_dir.join("index.db")).unwrap();
    assert_eq!(index::find_stream(&conn, "quiet", index::StreamKind::Audio).unwrap(), None, "quiet records no sound");
    // What the kill cost the sound: its first run ends at most four flush intervals (and
    // the held samples) before the picture's.
    for camera in ["aac", "mu", "opus"] {
        let sound = index::find_stream(&conn, camera, index::StreamKind::Audio).unwrap().unwrap();
        let sound_runs = index::runs_in_range(&conn, sound, i64::MIN / 2, i64::MAX / 2).unwrap();
        let video_runs = connections(runs(&data_dir, camera));
        assert_eq!(sound_runs.len(), 2, "{camera}: {sound_runs:?}");
        let lost_ms = (video_runs[0].2 - sound_runs[0].0.end_90k.unwrap()) / 90;
        eprintln!("{camera}: the kill cost the sound {lost_ms} ms more than the picture");
        assert!(lost_ms <= 2_500, "{camera}: the sound's first run ends {lost_ms} ms before the picture's");
    }
    let export = |camera: &str, fragmented: bool| {
        let r = connections(runs(&data_dir, camera));
        assert_eq!(r.len(), 2, "{camera}: a run before the crash and one after: {r:?}");
        let out = dir.path().join(format!("{camera}-{fragmented}.mp4"));
        let (from, to) = (fmt_90k(r[0].1), fmt_90k(r[1].2));
        let mut args = vec!["export", "--data-dir", &data, "--camera", camera, "--from", &from, "--to", &to];
        let o = out.display().to_string();
        args.extend(["-o", &o]);
        if fragmented {
            args.push("--fragmented");
        }
        let (ok, text) = porchlight(&args);
        assert!(ok, "export {camera}: {text}");
        out
    };
    let in_sync = |what: &str, file: &std::path::Path, clicks: usize| {
        let offsets = sync_offsets_ms(file);
        assert!(offsets.len() >= clicks, "{what}: {} clicks heard: {offsets:?}", offsets.len());
        let worst = offsets.iter().fold(0.0f64, |m, o| m.max(o.abs()));
        eprintln!("{what}: {} clicks, worst offset from its flash {worst:.1} ms", offsets.len());
        assert!(worst <= 40.0, "{what}: sound and picture apart by up to {worst:.1} ms: {offsets:?}");
    };
    for fragmented in [false, true] {
        assert_eq!(stream_codecs(&export("quiet", fragmented)), ["h264"]);
        for (camera, codec) in [("aac", "aac"), ("mu", "pcm_mulaw"), ("opus", "opus")] {
            let f = export(camera, fragmented);
            assert_eq!(stream_codecs(&f), ["h264", codec], "{camera}");
            in_sync(&format!("{camera} fragmented={fragmented}"), &f, 9);
        }
    }
    // What an event clip carries for the web app: G.711 as Opus, AAC and Opus as they are.
    let layout = agent::layout::Layout::new(&data_dir);
    for (camera, codec) in [("mu", "opus"), ("aac", "aac"), ("opus", "opus")] {
        let r = connections(runs(&data_dir, camera));
        let video = index::find_stream(&conn, camera, index::StreamKind::Main).unwrap().unwrap();
        let sound = index::find_stream(&conn, camera, index::StreamKind::Audio).unwrap().unwrap();
        let ex = agent::export::export_with_sound(
            &conn,
            &layout,
            video,
            r[1].1,
            r[1].2,
            true,
            agent::export::Sound::ForBrowser(sound),
        )
        .unwrap();
        let f = dir.path().join(format!("{camera}-browser.mp4"));
        ex.plan.write_to(&mut std::fs::File::create(&f).unwrap()).unwrap();
        assert_eq!(stream_codecs(&f), ["h264", codec], "{camera} for the browser");
        // The second run alone (5 s or more). ffmpeg does not drop Opus's pre-skip (the
        // encoder's 6.5 ms look-ahead, which dOps names and browsers drop), so it hears the
        // converted clicks that much late.
        in_sync(&format!("{camera} for the browser"), &f, 4);
        // The day view plays the sound along only where it needs no converting.
        let day = agent::export::export_from(
            &conn,
            &layout,
            video,
            r[1].1,
            r[1].2,
            true,
            i64::MIN,
            agent::export::Sound::ForBrowserAsIs(sound),
        )
        .unwrap();
        assert_eq!(day.audio_samples > 0, camera != "mu", "{camera} in the day view");
    }
}
