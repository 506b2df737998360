//! `porchlight bench alerts`: how long a doorbell press, or a confirmed person track, takes
//! to become an alert in the owner's app, through the whole system on loopback: a real
//! `porchlight serve` and a real `porchlight agent` (separate processes, as deployed), and
//! the owner's side doing what the web app does before it shows a notification: hearing the
//! event on the household's live stream, fetching its sealed metadata and opening it with
//! the owner's keys. The browser's own drawing of the notification is not in the figure.
//!
//! Doorbell: the agent records a clip file and the press is made through its HTTP input;
//! the clock starts at the press. Person (`--person-from rtsp://…`): the agent records a
//! real camera stream over RTSP with motion and object detection on; the clock starts at
//! the wall-clock arrival of the frame that confirmed the track (the event start's
//! `end_ms`, written by the agent: both processes share this machine's clock).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base::{Error, ErrorKind, ResultExt, bail, err};
use futures::StreamExt;
use wire::client::Client;

#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Scratch folder for the server's and the agent's data (emptied first).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The camera's footage, looped (H.264 MP4).
    #[arg(long, default_value = "testdata/generated/front-loop.mp4")]
    pub clip: PathBuf,
    /// Doorbell presses, 3 s apart (the agent takes presses within 2 s as one).
    #[arg(long, default_value_t = 20)]
    pub presses: u32,
    /// Measure confirmed person tracks instead of doorbell presses, from this RTSP camera
    /// (footage in which people come and go; the agent's detector must be installed).
    #[arg(long)]
    pub person_from: Option<url::Url>,
    /// Person tracks to measure with `--person-from`.
    #[arg(long, default_value_t = 20)]
    pub tracks: u32,
    /// The `porchlight` binary that runs the server and the agent (default: this one), to
    /// measure an older build the same way.
    #[arg(long)]
    pub porchlight: Option<PathBuf>,
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").err_kind(ErrorKind::Internal, || "binding a port")?;
    Ok(l.local_addr().err_kind(ErrorKind::Internal, || "port")?.port())
}

/// Runs `exe args`, its output appended to `log`.
fn spawn(exe: &Path, args: &[&str], log: &Path) -> Result<Proc, Error> {
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .err_kind(ErrorKind::Internal, || format!("opening {}", log.display()))?;
    let err = out.try_clone().err_kind(ErrorKind::Internal, || "log file")?;
    let child = Command::new(exe)
        .args(args)
        .env("PORCHLIGHT_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .err_kind(ErrorKind::Internal, || format!("starting porchlight {}", args.join(" ")))?;
    Ok(Proc(child))
}

/// The `p` quantile (0..=1) of sorted figures, nearest rank.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints the figure line: `what` to alert opened, and to heard on the live stream.
fn report(what: &str, counted: &str, mut to_alert: Vec<f64>, mut to_stream: Vec<f64>, extra: &str) {
    for v in [&mut to_stream, &mut to_alert] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{what} to alert over {} {counted}: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms \
         (heard on the live stream: p50 {:.0} ms, p95 {:.0} ms{extra})",
        to_alert.len(),
        percentile(&to_alert, 0.5),
        percentile(&to_alert, 0.95),
        to_alert.last().copied().unwrap_or(0.0),
        percentile(&to_stream, 0.5),
        percentile(&to_stream, 0.95),
    );
}

/// A real server and a real agent on loopback, the owner's account and keys, a household
/// and the agent paired to it, recording `clip` looped as camera `door` (a doorbell, with
/// the HTTP input on `http`). Both processes stop when this is dropped.
pub(crate) struct System {
    pub dir: PathBuf,
    pub owner: Client,
    pub keys: crypto::keys::Keyring,
    pub household: String,
    pub agent_data: PathBuf,
    pub http: u16,
    exe: PathBuf,
    agent_toml: PathBuf,
    _server: Proc,
    agent: Option<Proc>,
}

/// Where the bench camera's footage comes from.
pub(crate) enum Camera<'a> {
    /// An H.264 MP4 replayed in real time, looping.
    Clip(&'a Path),
    /// A real RTSP camera, analysed for motion and objects.
    Rtsp(&'a url::Url),
    /// A real RTSP camera with a speaker (its ONVIF backchannel), not analysed.
    Speaker(&'a url::Url),
}

impl System {
    pub(crate) async fn start(data_dir: &Path, camera: Camera<'_>, exe: Option<&Path>) -> Result<System, Error> {
        if let Camera::Clip(clip) = camera
            && !clip.exists()
        {
            bail!(NotFound, "--clip {}: no such file (make testdata makes the default)", clip.display());
        }
        let _ = std::fs::remove_dir_all(data_dir);
        std::fs::create_dir_all(data_dir)
            .err_kind(ErrorKind::Internal, || format!("creating {}", data_dir.display()))?;
        let dir = data_dir.canonicalize().err_kind(ErrorKind::Internal, || "data folder")?;
        let (port, http) = (free_port()?, free_port()?);
        let url = format!("http://127.0.0.1:{port}");
        let server_toml = dir.join("server.toml");
        std::fs::write(
            &server_toml,
            format!("listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nsecure_cookies = false\n", dir.join("server")),
        )
        .err_kind(ErrorKind::Internal, || "writing server.toml")?;
        let exe = match exe {
            Some(p) => p.to_path_buf(),
            None => std::env::current_exe().err_kind(ErrorKind::Internal, || "finding porchlight")?,
        };
        let server =
            spawn(&exe, &["serve", "--config", server_toml.to_str().expect("utf-8 path")], &dir.join("server.log"))?;
        let probe = Client::new(&url);
        let up = Instant::now();
        while probe.get::<wire::Ok>("/api/health").await.is_err() {
            if up.elapsed() > Duration::from_secs(30) {
                bail!(Unavailable, "the server did not answer within 30 s (see {})", dir.join("server.log").display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The owner, their keys, a household and the agent paired to it.
        let (owner, _) = crate::demo_seed::account(&url, "owner@bench.porchlight", "a bench owner's password").await?;
        let keys = crypto::keys::Keyring::generate("bench owner", api::system_clock()())
            .map_err(agent::sealing::from_crypto)?;
        let backup = crypto::keys::hex(&crypto::backup::seal(&keys, &crypto::backup::RecoveryCode::generate()));
        crate::demo_seed::set_keys(&owner, &keys, &backup).await?;
        let h: wire::HouseholdJson =
            owner.post("/api/households", &wire::NewHousehold { name: "Bench".into() }).await?;
        let p: wire::PairingReply =
            owner.send(owner.request(reqwest::Method::POST, &format!("/api/households/{}/pairings", h.id))).await?;
        let agent_data = dir.join("agent");
        let code = crypto::keys::pairing_code(&keys.public().identity);
        crate::keys::pair_server(&agent_data, &url, &p.token, &code, Some("bench agent")).await?;
        let agent_toml = dir.join("agent.toml");
        let source = match camera {
            Camera::Clip(clip) => {
                let clip = clip.canonicalize().err_kind(ErrorKind::Internal, || "clip")?;
                format!("main = {{ file = {clip:?}, loop = true }}\n")
            }
            Camera::Rtsp(url) => format!(
                "main = {{ url = \"{url}\" }}\n[cameras.motion]\nenabled = true\n[cameras.objects]\nenabled = true\n"
            ),
            Camera::Speaker(url) => format!("main = {{ url = \"{url}\" }}\n"),
        };
        std::fs::write(
            &agent_toml,
            format!(
                "data_dir = {agent_data:?}\n[http]\nlisten = \"127.0.0.1:{http}\"\ntoken = \"a-long-enough-bench-token\"\n\
                 [sync]\nsettle_s = 1\n[[cameras]]\nname = \"door\"\ndoorbell = true\n\
                 events = {{ pre_roll_s = 2, post_roll_s = 2 }}\n{source}"
            ),
        )
        .err_kind(ErrorKind::Internal, || "writing agent.toml")?;
        let mut sys = System {
            dir,
            owner,
            keys,
            household: h.id,
            agent_data,
            http,
            exe,
            agent_toml,
            _server: server,
            agent: None,
        };
        sys.start_agent()?;
        Ok(sys)
    }

    /// Starts the agent (again: its log is appended to).
    pub(crate) fn start_agent(&mut self) -> Result<(), Error> {
        let args = ["agent", "--config", self.agent_toml.to_str().expect("utf-8 path")];
        self.agent = Some(spawn(&self.exe, &args, &self.dir.join("agent.log"))?);
        Ok(())
    }

    /// Stops the agent (SIGKILL: what it must survive anyway) and waits for it to exit.
    pub(crate) fn stop_agent(&mut self) {
        self.agent = None;
    }

    /// Frames the camera has recorded so far (the agent's status file).
    pub(crate) fn frames(&self) -> u64 {
        std::fs::read(self.agent_data.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["streams"][0]["frames_recorded"].as_u64())
            .unwrap_or(0)
    }
}

pub fn alerts(a: AlertsArgs) -> Result<(), Error> {
    if !(1..=1000).contains(&a.presses) {
        bail!(InvalidArgument, "--presses: expected 1 to 1000, got {}", a.presses);
    }
    if !(1..=1000).contains(&a.tracks) {
        bail!(InvalidArgument, "--tracks: expected 1 to 1000, got {}", a.tracks);
    }
    if let Some(u) = &a.person_from
        && u.scheme() != "rtsp"
    {
        bail!(InvalidArgument, "--person-from: expected an rtsp:// URL, got scheme {:?}", u.scheme());
    }
    crate::runtime()?.block_on(async {
        let camera = match &a.person_from {
            Some(url) => Camera::Rtsp(url),
            None => Camera::Clip(&a.clip),
        };
        let sys = System::start(&a.data_dir, camera, a.porchlight.as_deref()).await?;
        let (owner, keys, dir, http) = (&sys.owner, &sys.keys, &sys.dir, sys.http);
        // The owner's live stream, as the web app holds it.
        let live = owner
            .request(reqwest::Method::GET, &format!("/api/households/{}/events/live", sys.household))
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .map_err(|e| Error::wrap(ErrorKind::Unavailable, "opening the live stream", e))?;
        if !live.status().is_success() {
            bail!(Unavailable, "the live stream answered {}", live.status());
        }
        let mut live = live.bytes_stream();
        let mut buf = String::new();
        let mut next_event = async || -> Result<wire::EventJson, Error> {
            loop {
                if let Some(i) = buf.find("\n\n") {
                    let block: String = buf.drain(..i + 2).collect();
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                        return serde_json::from_str(data.trim())
                            .map_err(|e| err!(DataLoss, "a live event that is not an event: {e}"));
                    }
                    continue;
                }
                let chunk = live.next().await.ok_or_else(|| err!(Unavailable, "the live stream ended"))?;
                let chunk = chunk.map_err(|e| Error::wrap(ErrorKind::Unavailable, "reading the live stream", e))?;
                buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        // What the app does before it shows the notification: fetch and open the metadata.
        let open = async |e: &wire::EventJson| -> Result<wire::EventMeta, Error> {
            let sealed =
                owner.send_raw(owner.request(reqwest::Method::GET, &format!("/api/objects/{}", e.meta_object))).await?;
            if !sealed.0.is_success() {
                bail!(Internal, "event {}: its metadata answered {}", e.id, sealed.0);
            }
            let (_, plain) = crypto::object::open(keys, &sealed.1).map_err(agent::sealing::from_crypto)?;
            serde_json::from_slice(&plain).map_err(|e| err!(DataLoss, "an event's metadata: {e}"))
        };
        let mut seen = std::collections::HashSet::new();

        if a.person_from.is_some() {
            let (mut to_stream, mut to_alert, mut late) = (Vec::new(), Vec::new(), 0u32);
            let began = Instant::now();
            while to_alert.len() < a.tracks as usize {
                let left = Duration::from_secs(1800).saturating_sub(began.elapsed());
                let e = tokio::time::timeout(left, next_event()).await.map_err(|_| {
                    err!(Unavailable, "{} person alerts in 30 min, {} asked (see {})", to_alert.len(), a.tracks,
                        dir.join("agent.log").display())
                })??;
                let heard = api::system_clock()();
                if !seen.insert(e.id.clone()) {
                    continue;
                }
                let meta = open(&e).await?;
                let opened = api::system_clock()();
                if meta.kind != "person" {
                    continue;
                }
                if !meta.in_progress {
                    // Heard first as a finished event: its start never came (a short visit
                    // can end before its start is sent); counted, not timed.
                    late += 1;
                    println!("track {:>2}: heard only when finished", to_alert.len());
                    continue;
                }
                let (s, o) = ((heard - meta.end_ms) as f64, (opened - meta.end_ms) as f64);
                println!(
                    "track {:>2}: {} score {:.2}: on the stream {s:>6.0} ms, opened {o:>6.0} ms after the confirming frame",
                    to_alert.len(),
                    meta.label,
                    meta.score
                );
                to_stream.push(s);
                to_alert.push(o);
            }
            report("confirmed person track", "tracks", to_alert, to_stream, &format!("; {late} heard only when finished"));
            return Ok(());
        }

        // Wait until the camera records (and its feed holds a key frame for the snapshot).
        let up = Instant::now();
        while sys.frames() < 60 {
            if up.elapsed() > Duration::from_secs(60) {
                bail!(Unavailable, "the agent did not record within 60 s (see {})", dir.join("agent.log").display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let http_client = reqwest::Client::new();
        let mut to_stream = Vec::new();
        let mut to_alert = Vec::new();
        for i in 0..a.presses {
            let t = Instant::now();
            let r = http_client
                .post(format!("http://127.0.0.1:{http}/api/v1/cameras/door/doorbell"))
                .bearer_auth("a-long-enough-bench-token")
                .send()
                .await
                .map_err(|e| Error::wrap(ErrorKind::Unavailable, "pressing the doorbell", e))?;
            if r.status().as_u16() != 202 {
                bail!(Internal, "the doorbell answered {}", r.status());
            }
            let e = loop {
                let e = tokio::time::timeout(Duration::from_secs(30), next_event())
                    .await
                    .map_err(|_| err!(Unavailable, "press {i}: no event within 30 s"))??;
                if seen.insert(e.id.clone()) {
                    break e;
                }
            };
            let heard = t.elapsed();
            let meta = open(&e).await?;
            let alerted = t.elapsed();
            // An older agent sends no start: the first event heard is then the finished one.
            if meta.kind != "doorbell" {
                bail!(Internal, "press {i}: the first event heard is a {} event", meta.kind);
            }
            to_stream.push(heard.as_secs_f64() * 1000.0);
            to_alert.push(alerted.as_secs_f64() * 1000.0);
            println!(
                "press {i:>2}: on the stream after {:>6.1} ms, opened after {:>6.1} ms ({}, snapshot {})",
                heard.as_secs_f64() * 1000.0,
                alerted.as_secs_f64() * 1000.0,
                if e.in_progress { "its start" } else { "the finished event" },
                if e.snapshot_object.is_some() { "yes" } else { "no" },
            );
            tokio::time::sleep(Duration::from_millis(3000).saturating_sub(t.elapsed())).await;
        }
        report("doorbell press", "presses", to_alert, to_stream, "");
        Ok(())
    })
}
