//! Sync with the server: finished events are sealed for the household's keys into an
//! on-disk outbox, then uploaded in order as content-addressed chunks, their objects and
//! the event.
//!
//! The outbox (`outbox/` in the data folder) is the queue, so it survives restarts:
//! - `outbox/<event id>/` holds `meta.plob` (labels, zones, scores: sealed JSON),
//!   `snapshot.plob` and `clip.plob` (the main stream's clip with pre- and post-roll). It is
//!   written under `<id>.tmp` and renamed into place once every file is synced, so a
//!   folder without `.tmp` is always complete.
//! - `outbox/cursor` holds the last event id sealed (or given up on), so that an event is
//!   sealed once, even when its folder is later dropped.
//! - An event leaves the outbox only after the server has acknowledged it (the agent's
//!   event row is marked uploaded first), or when the outbox exceeds its byte limit
//!   (`queue_bytes_max`), when the oldest folders are dropped and counted in `sync.json`:
//!   the documented exception to "never drops a clip the server does not have".
//! - A folder the server refuses for good (a 4xx other than 401/429) moves to
//!   `outbox/rejected/` and is counted; the queue goes on.
//!
//! Uploads are idempotent: chunks are named by their SHA-256 and only the missing ones are
//! sent; objects and events carry ids fixed when sealed, so a retry after a cut link or a
//! server restart re-sends only what did not arrive. Failures back off (1 s doubling to
//! 60 s) and the queue drains in order when the link returns.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::clock::Clocks;
use base::shutdown::Receiver;
use base::{Error, ErrorKind, ResultExt, bail, err};
use crypto::keys::Keyring;
use crypto::object::{Kind, Meta};
use index::{Connection, StreamKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use wire::Offer;

use crate::layout::{Layout, sync_dir};
use crate::sealing::{self, SealWriter, from_crypto, replace_file};

/// Chunks of this size (the last is shorter) go to the server.
pub const UPLOAD_CHUNK_BYTES: usize = 4 << 20;
const OBJECTS: [(&str, Kind); 3] = [("meta", Kind::Event), ("snapshot", Kind::Snapshot), ("clip", Kind::Clip)];
/// Marks an event folder whose event is uploaded without a notification (see `remote`).
const QUIET: &str = "quiet";

/// The server this agent is paired with (`server.json`, mode 0600: the token is a
/// credential).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerLink {
    pub url: String,
    pub household_id: String,
    pub device_id: String,
    pub token: String,
}

pub fn load_link(layout: &Layout) -> Result<Option<ServerLink>, Error> {
    let p = layout.server_link();
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::wrap(ErrorKind::DataLoss, format!("parsing {}", p.display()), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::wrap(ErrorKind::Internal, format!("reading {}", p.display()), e)),
    }
}

pub fn save_link(layout: &Layout, l: &ServerLink) -> Result<(), Error> {
    replace_file(&layout.server_link(), &serde_json::to_vec_pretty(l).expect("serializable"))
}

#[derive(Clone, Debug)]
pub struct SyncSpec {
    pub link: ServerLink,
    /// The outbox's size limit (bytes).
    pub queue_bytes_max: u64,
    /// How long after an event's clip ends before it is sealed (the recording must be
    /// committed first).
    pub settle: Duration,
}

/// What `sync.json` says.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncStatus {
    pub server: String,
    pub queued_events: u64,
    pub queued_bytes: u64,
    pub uploaded_events: u64,
    /// Starts of events sent while they went on (the alerts).
    #[serde(default)]
    pub uploaded_starts: u64,
    pub dropped_events: u64,
    pub rejected_events: u64,
    pub last_upload: Option<String>,
    pub last_error: Option<String>,
}

/// The server-side id of a local event: stable across retries and restarts, distinct per
/// device.
pub fn server_event_id(device_identity: &[u8; 32], local_id: i64) -> String {
    let mut h = Sha256::new();
    h.update(b"porchlight/event-id/v1");
    h.update(device_identity);
    h.update(local_id.to_be_bytes());
    crypto::keys::hex(&h.finalize()[..16])
}

fn read_cursor(layout: &Layout) -> Result<i64, Error> {
    let p = layout.outbox_cursor();
    match std::fs::read_to_string(&p) {
        Ok(s) => s.trim().parse().map_err(|_| err!(DataLoss, "{}: not an event id", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::wrap(ErrorKind::Internal, format!("reading {}", p.display()), e)),
    }
}

/// The complete event folders in the outbox, oldest first, with their sizes.
pub fn queued(layout: &Layout) -> Result<Vec<(i64, PathBuf, u64)>, Error> {
    let dir = layout.outbox();
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::wrap(ErrorKind::Internal, format!("listing {}", dir.display()), e)),
    };
    for e in rd {
        let e = e.err_kind(ErrorKind::Internal, || "listing the outbox")?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(id) = name.parse::<i64>() else { continue };
        let mut size = 0;
        for f in std::fs::read_dir(e.path()).err_kind(ErrorKind::Internal, || format!("listing {name}"))? {
            size += f.and_then(|f| f.metadata()).map(|m| m.len()).unwrap_or(0);
        }
        out.push((id, e.path(), size));
    }
    out.sort();
    Ok(out)
}

/// Seals every finished event not yet sealed, in id order; stops at the first event still
/// going on or whose clip is still being recorded. Leftover `.tmp` folders (a crash mid-seal) are removed
/// and sealed again.
pub fn seal_finished(
    conn: &Mutex<Connection>,
    layout: &Layout,
    device: &Keyring,
    trust: &crypto::trust::Trust,
    now_90k: i64,
    settle: Duration,
    remote: &crate::remote::Remote,
) -> Result<u64, Error> {
    let dir = layout.outbox();
    std::fs::create_dir_all(&dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
    for e in std::fs::read_dir(&dir).err_kind(ErrorKind::Internal, || "listing the outbox")?.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            std::fs::remove_dir_all(e.path()).err_kind(ErrorKind::Internal, || "removing a half-sealed folder")?;
        }
    }
    let mut cursor = read_cursor(layout)?;
    let mut sealed = 0;
    loop {
        let ids = index::events_to_upload(&conn.lock().expect("db"), cursor, 16)?;
        if ids.is_empty() {
            return Ok(sealed);
        }
        for id in ids {
            let Some(e) = index::get_event(&conn.lock().expect("db"), id)? else { continue };
            // Still going on (its start went already), or its clip still being recorded:
            // the queue waits, in order (at most `max_event_s` plus post-roll and settle).
            if e.open || e.clip_end_90k + base::clock::duration_to_90k(settle) > now_90k {
                return Ok(sealed);
            }
            if !layout.outbox_event(id).exists() {
                // The mode's rule when the event is sealed, seconds after it ended.
                seal_event(conn, layout, device, trust, &e, !remote.notifies(&e.camera, &e.kind))?;
                sealed += 1;
            }
            cursor = id;
            replace_file(&layout.outbox_cursor(), cursor.to_string().as_bytes())?;
        }
    }
}

/// The event's metadata as sealed: finished, or (`in_progress`) its start.
fn event_meta(e: &index::EventRow, in_progress: bool, device: &Keyring) -> wire::EventMeta {
    wire::EventMeta {
        camera: e.camera.clone(),
        kind: e.kind.clone(),
        label: e.label.clone(),
        score: e.score,
        zones: e.zones.clone(),
        bbox: e.bbox,
        start_ms: e.start_90k / 90,
        end_ms: e.end_90k / 90,
        clip_start_ms: e.clip_start_90k / 90,
        clip_end_ms: e.clip_end_90k / 90,
        in_progress,
        continues: e.continues.map(|c| server_event_id(&device.public().identity.to_bytes(), c)),
    }
}

/// Seals `meta.plob` and (when the event has one still on disk) `snapshot.plob` into `dir`,
/// with `snapshot.sha256`, the JPEG's hash. The finished event takes the start's sealed
/// snapshot as it is when the picture has not changed since (a doorbell press's), so the
/// server keeps one object, the one apps already hold, instead of replacing it.
fn seal_meta_and_snapshot(
    layout: &Layout,
    device: &Keyring,
    recipients: &[crypto::keys::EncryptionPublic],
    e: &index::EventRow,
    in_progress: bool,
    dir: &Path,
) -> Result<(), Error> {
    let (start_ms, end_ms) = (e.start_90k / 90, e.end_90k / 90);
    let meta_json = serde_json::to_vec(&event_meta(e, in_progress, device)).expect("event metadata serializes");
    let seal_small = |kind: Kind, name: &str, plain: &[u8], s: i64, t: i64| -> Result<(), Error> {
        let meta = Meta { kind, camera: e.camera.clone(), start_ms: s, end_ms: t };
        let sealed = crypto::object::seal(&device.identity, meta, recipients, plain).map_err(from_crypto)?;
        replace_file(&dir.join(name), &sealed)
    };
    seal_small(Kind::Event, "meta.plob", &meta_json, start_ms, end_ms)?;
    if e.has_snapshot {
        let p = layout.snapshot(e.id);
        match std::fs::read(&p) {
            Ok(jpeg) => {
                let hash = crypto::keys::hex(&Sha256::digest(&jpeg));
                let start = layout.outbox_start(e.id);
                let sent = std::fs::read_to_string(start.join(SNAPSHOT_HASH)).ok();
                match std::fs::read(start.join("snapshot.plob")) {
                    Ok(sealed) if !in_progress && sent.as_deref() == Some(hash.as_str()) => {
                        replace_file(&dir.join("snapshot.plob"), &sealed)?
                    }
                    _ => seal_small(Kind::Snapshot, "snapshot.plob", &jpeg, start_ms, start_ms)?,
                }
                replace_file(&dir.join(SNAPSHOT_HASH), hash.as_bytes())?;
            }
            // Retention may have removed it already; the event goes without.
            Err(err) => tracing::warn!(event = e.id, "snapshot {}: {err}", p.display()),
        }
    }
    Ok(())
}

/// In an event folder: the hex SHA-256 of the snapshot JPEG sealed in it.
const SNAPSHOT_HASH: &str = "snapshot.sha256";
/// In a start's folder: it was sent (the folder stays until the finished event is, which
/// may take its sealed snapshot).
const START_SENT: &str = "sent";

/// Seals the start of every event that has one to send: stored, not finished sealing, its
/// camera notifying in the household's mode, and still going on or its clip not due yet
/// (when it is, the finished event goes at once and is the alert). Each goes to `outbox/starts/<id>/`.
/// Returns how many.
pub fn seal_starts(
    conn: &Mutex<Connection>,
    layout: &Layout,
    device: &Keyring,
    trust: &crypto::trust::Trust,
    now_90k: i64,
    settle: Duration,
    remote: &crate::remote::Remote,
) -> Result<u64, Error> {
    let ids = index::events_to_start(&conn.lock().expect("db"), 64)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let cursor = read_cursor(layout)?;
    let mut sealed = 0;
    for id in ids {
        let Some(e) = index::get_event(&conn.lock().expect("db"), id)? else { continue };
        // An event still going on always has a start to send (its clip end is only
        // provisional); a closed one only while its clip is not due yet.
        let due = !e.open && e.clip_end_90k + base::clock::duration_to_90k(settle) <= now_90k;
        if id > cursor && !e.uploaded && !due && remote.notifies(&e.camera, &e.kind) {
            let dir = layout.outbox_start(id);
            let tmp = dir.with_extension("tmp");
            std::fs::create_dir_all(&tmp).err_kind(ErrorKind::Internal, || format!("creating {}", tmp.display()))?;
            seal_meta_and_snapshot(layout, device, &trust.recipients(e.start_90k / 90), &e, true, &tmp)?;
            sync_dir(&tmp)?;
            std::fs::rename(&tmp, &dir).err_kind(ErrorKind::Internal, || format!("renaming {}", tmp.display()))?;
            sync_dir(&layout.outbox_starts())?;
            sealed += 1;
        }
        index::mark_start_sealed(&conn.lock().expect("db"), id)?;
    }
    Ok(sealed)
}

/// The sealed starts waiting for upload (not sent yet), oldest first; leftover `.tmp` folders (a crash
/// mid-seal) are removed (that start is not sent; the finished event will be).
fn queued_starts(layout: &Layout) -> Result<Vec<(i64, PathBuf)>, Error> {
    let dir = layout.outbox_starts();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::wrap(ErrorKind::Internal, format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        match name.parse::<i64>() {
            Ok(_) if e.path().join(START_SENT).exists() => {}
            Ok(id) => out.push((id, e.path())),
            Err(_) if name.ends_with(".tmp") => {
                std::fs::remove_dir_all(e.path()).err_kind(ErrorKind::Internal, || format!("removing {name}"))?
            }
            Err(_) => {}
        }
    }
    out.sort();
    Ok(out)
}

fn seal_event(
    conn: &Mutex<Connection>,
    layout: &Layout,
    device: &Keyring,
    trust: &crypto::trust::Trust,
    e: &index::EventRow,
    quiet: bool,
) -> Result<(), Error> {
    let final_dir = layout.outbox_event(e.id);
    let tmp = final_dir.with_extension("tmp");
    std::fs::create_dir_all(&tmp).err_kind(ErrorKind::Internal, || format!("creating {}", tmp.display()))?;
    if quiet {
        // Uploaded and listed, not pushed: the household's mode says this camera does not notify.
        replace_file(&tmp.join(QUIET), b"")?;
    }
    let recipients = trust.recipients(e.start_90k / 90);
    seal_meta_and_snapshot(layout, device, &recipients, e, false, &tmp)?;
    // The clip: the main stream (best quality), else whatever was recorded.
    let c = conn.lock().expect("db");
    let stream = match index::find_stream(&c, &e.camera, StreamKind::Main)? {
        Some(s) => Some(s),
        None => index::find_stream(&c, &e.camera, StreamKind::Sub)?,
    };
    // The camera's sound, where the owner records it, converted for the browser if need be.
    let sound = match index::find_stream(&c, &e.camera, StreamKind::Audio)? {
        Some(a) => crate::export::Sound::ForBrowser(a),
        None => crate::export::Sound::None,
    };
    let ex = match stream {
        Some(s) => match crate::export::export_with_sound(
            &c,
            layout,
            s,
            e.clip_start_90k,
            e.clip_end_90k.max(e.clip_start_90k + 1),
            // Fragmented: the web app plays it through Media Source Extensions while it
            // downloads and decrypts; players and ffprobe take it like any MP4.
            true,
            sound,
        ) {
            Ok(ex) if ex.frames > 0 => Some(ex),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(event = e.id, "no clip for the event: {err}");
                None
            }
        },
        None => None,
    };
    drop(c);
    if let Some(ex) = ex {
        let meta =
            Meta { kind: Kind::Clip, camera: e.camera.clone(), start_ms: ex.start_90k / 90, end_ms: ex.end_90k / 90 };
        let path = tmp.join("clip.plob");
        let f =
            std::fs::File::create(&path).err_kind(ErrorKind::Internal, || format!("creating {}", path.display()))?;
        let mut w = SealWriter::new(f, meta, &recipients, ex.plan.len())?;
        ex.plan.write_to(&mut w).err_kind(ErrorKind::Internal, || format!("writing {}", path.display()))?;
        w.finish(device)?;
    }
    sync_dir(&tmp)?;
    std::fs::rename(&tmp, &final_dir).err_kind(ErrorKind::Internal, || format!("renaming {}", tmp.display()))?;
    sync_dir(&layout.outbox())
}

/// Drops the oldest queued events while the outbox exceeds `max` bytes. Returns how many.
pub fn enforce_limit(layout: &Layout, max: u64) -> Result<u64, Error> {
    let q = queued(layout)?;
    let mut total: u64 = q.iter().map(|(_, _, s)| s).sum();
    let mut dropped = 0;
    for (id, path, size) in q {
        if total <= max {
            break;
        }
        tracing::warn!(
            event = id,
            bytes = size,
            limit = max,
            "outbox over its limit: dropping the oldest event before the server has it"
        );
        std::fs::remove_dir_all(&path).err_kind(ErrorKind::Internal, || format!("removing {}", path.display()))?;
        let start = layout.outbox_start(id);
        if start.exists() {
            std::fs::remove_dir_all(&start)
                .err_kind(ErrorKind::Internal, || format!("removing {}", start.display()))?;
        }
        total -= size;
        dropped += 1;
    }
    Ok(dropped)
}

/// Why an upload stopped.
enum Failure {
    /// Try again later (network, 5xx, 401, 429).
    Retry(Error),
    /// The server refuses this event for good.
    Reject(Error),
}

pub struct Client {
    api: wire::client::Client,
    link: ServerLink,
}

/// A failed call as the queue treats it: retried later, or (a refusal that would recur)
/// given up on.
fn failure(e: Error) -> Failure {
    if wire::client::retryable(&e) { Failure::Retry(e) } else { Failure::Reject(e) }
}

impl Client {
    pub fn new(link: ServerLink) -> Client {
        Client { api: wire::client::Client::new(&link.url).with_token(&link.token), link }
    }

    /// Uploads one sealed file; returns the object id.
    async fn upload_file(&self, path: &Path) -> Result<String, Failure> {
        let io = |e: std::io::Error| {
            Failure::Retry(Error::wrap(ErrorKind::Internal, format!("reading {}", path.display()), e))
        };
        let bytes = tokio::fs::read(path).await.map_err(io)?;
        let hashes: Vec<String> =
            bytes.chunks(UPLOAD_CHUNK_BYTES).map(|c| crypto::keys::hex(&Sha256::digest(c))).collect();
        let missing = self.api.missing_chunks(hashes.clone()).await.map_err(failure)?.chunks;
        for (h, c) in hashes.iter().zip(bytes.chunks(UPLOAD_CHUNK_BYTES)) {
            if missing.contains(h) {
                self.api.put_chunk(h, c.to_vec()).await.map_err(failure)?;
            }
        }
        Ok(self.api.commit_object(hashes).await.map_err(failure)?.id)
    }

    async fn report_status(
        &self,
        board: &crate::status::StatusBoard,
        remote: &crate::remote::Remote,
    ) -> Result<(), Failure> {
        let cameras = board
            .cameras()
            .into_iter()
            .map(|(camera, state, since_90k)| {
                let role = remote.role(&camera);
                wire::CameraReport {
                    doorbell: role.doorbell,
                    indoor: role.placement == crate::remote::Placement::Indoor,
                    records_sound: role.records_sound,
                    speaker: board.speaker(&camera),
                    camera,
                    state,
                    since_ms: since_90k.div_euclid(90),
                }
            })
            .collect();
        let report =
            wire::DeviceStatus { cameras, settings_serial: remote.serial().and_then(|s| i64::try_from(s).ok()) };
        self.api.device_status(&report).await.map_err(failure)?;
        Ok(())
    }

    /// Fetches the household's roster and accepts it when it is newer than the one held.
    /// The agent checks the owner's signature itself (`Trust::accept_roster`): the server
    /// only relays the roster and cannot add a member.
    async fn sync_roster(&self, layout: &Layout) -> Result<(), Error> {
        let Some(stored) = self.api.device_roster().await? else { return Ok(()) };
        let bytes = crypto::keys::unhex(&stored.roster)
            .ok_or_else(|| base::err!(DataLoss, "the server sent a roster that is not hex"))?;
        let layout = layout.clone();
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            let roster = crypto::trust::Roster::parse(&bytes).map_err(sealing::from_crypto)?;
            let Some(mut t) = sealing::load_trust(&layout)? else { return Ok(()) };
            if t.roster().is_some_and(|cur| cur.serial >= roster.serial) {
                return Ok(());
            }
            t.accept_roster(&roster).map_err(sealing::from_crypto)?;
            sealing::save_trust(&layout, &t)?;
            tracing::info!(serial = roster.serial, members = roster.members.len(), "accepted the owner's new roster");
            Ok(())
        })
        .await
        .map_err(|e| Error::wrap(ErrorKind::Internal, "roster task", e))?
    }

    /// Publishes the agent's public key bundle, so the owner's app can seal settings to it.
    async fn publish_keys(&self, layout: &Layout) -> Result<(), Error> {
        let device = sealing::read_keyring(&layout.device_keys())?;
        let keys = wire::DeviceKeysJson { public_keys: crypto::keys::hex(&device.public().encode()) };
        self.api.publish_device_keys(&keys).await?;
        Ok(())
    }

    /// Fetches the household's settings and applies them if they are newer and the owner
    /// signed them (`Remote::accept` checks; the server only relays).
    async fn sync_settings(&self, layout: &Layout, remote: &crate::remote::Remote) -> Result<(), Error> {
        // None: the owner has sealed none yet.
        let Some(stored) = self.api.device_settings().await? else { return Ok(()) };
        let bytes = crypto::keys::unhex(&stored.settings)
            .ok_or_else(|| base::err!(DataLoss, "the server sent settings that are not hex"))?;
        let (layout, remote) = (layout.clone(), remote.clone());
        tokio::task::spawn_blocking(move || remote.accept(&layout, &bytes))
            .await
            .map_err(|e| Error::wrap(ErrorKind::Internal, "settings task", e))??;
        Ok(())
    }

    /// One long poll: returns the server's (roster, settings) serials once either differs
    /// from what this agent holds, or after the server's wait.
    async fn wait_for_change(
        &self,
        roster: Option<u64>,
        settings: Option<u64>,
        live_after: u64,
    ) -> Result<wire::WaitReply, Error> {
        let serial = |s: Option<u64>| s.and_then(|s| i64::try_from(s).ok());
        let q = wire::WaitParams {
            roster: serial(roster),
            settings: serial(settings),
            wait_ms: None,
            live_after: Some(live_after),
        };
        self.api.device_wait(&q).await
    }

    /// A relayed request checked against the trust file (who signed it, for which household,
    /// when); `None`, logged, when it does not pass.
    fn checked_request(layout: &Layout, session_id: &str, request: &str) -> Option<crypto::live::LiveRequest> {
        let now = base::clock::Clocks::realtime_90k(&base::clock::RealClocks) / 90;
        let checked = crypto::keys::unhex(request)
            .ok_or_else(|| base::err!(DataLoss, "the request is not hex"))
            .and_then(|b| crate::live::check(layout, &b, now));
        checked.map_err(|e| tracing::warn!(session = %session_id, "refusing a request: {e}")).ok()
    }

    /// The session's stream to the server: what goes into the sender is the request's body,
    /// and the future is the request, which ends when the server ends it (the browser left,
    /// which drops the receiver) or when the sender is dropped (which ends the body). Its own
    /// client: the uploader's has a whole-request timeout, and this request lasts as long as
    /// the session.
    fn relay(
        &self,
        session_id: &str,
    ) -> (
        tokio::sync::mpsc::Sender<Vec<u8>>,
        impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
        let body = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<Vec<u8>, std::io::Error>(b), rx))
        });
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("HTTP client");
        let post = http
            .post(self.api.url(&format!("/api/device/live/{session_id}")))
            .bearer_auth(&self.link.token)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send();
        (tx, post)
    }

    /// Tells the server where a talk session stands (what the member's app shows).
    async fn talk_state(&self, session_id: &str, stage: wire::TalkStage, error: Option<String>) {
        let state = wire::TalkState { stage, error };
        if let Err(e) = self.api.post::<_, wire::Ok>(&format!("/api/device/talk/{session_id}/state"), &state).await {
            tracing::debug!(session = %session_id, "reporting the talk session's state: {e}");
        }
    }

    /// Answers a talk request: checks it (`talk::check`), takes the member's packet stream,
    /// claims the camera and reaches its speaker, says so, then plays until the member
    /// stops. Every way it can fail is reported to the member's app, not only logged.
    async fn talk_session(&self, layout: Layout, talk: Arc<crate::talk::Talk>, session_id: String, request: String) {
        use wire::TalkStage::{Ended, Talking};
        let now = base::clock::Clocks::realtime_90k(&base::clock::RealClocks) / 90;
        let checked = crypto::keys::unhex(&request)
            .ok_or_else(|| base::err!(DataLoss, "the request is not hex"))
            .and_then(|b| crate::talk::check(&layout, &b, now));
        let session = match checked {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(session = %session_id, "refusing a talk request: {e}");
                self.talk_state(&session_id, Ended, Some(format!("the agent refused it: {}", e.msg()))).await;
                return;
            }
        };
        let camera = session.request.camera.clone();
        let member = session.request.member.fingerprint();
        let Some(speaker) = talk.speaker(&camera).cloned() else {
            self.talk_state(&session_id, Ended, Some(format!("{camera} has no speaker this agent can reach"))).await;
            return;
        };
        let Some(_claim) = talk.claim(&camera) else {
            self.talk_state(&session_id, Ended, Some(format!("someone else is talking through {camera}"))).await;
            return;
        };
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("HTTP client");
        let stream = http
            .get(self.api.url(&format!("/api/device/talk/{session_id}")))
            .bearer_auth(&self.link.token)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        let stream = match stream {
            Ok(r) => r.bytes_stream(),
            Err(e) => {
                tracing::warn!(session = %session_id, "taking the talk stream: {e}");
                return;
            }
        };
        let mut sink = match crate::talk::Sink::open(&speaker).await {
            Ok(s) => {
                talk.learned(&camera, true);
                s
            }
            // Not counted as "no speaker": a camera may refuse a second backchannel client,
            // or be away for a moment; what it has is what its description says.
            Err(e) => {
                tracing::warn!(session = %session_id, %camera, "reaching the speaker: {e}");
                self.talk_state(&session_id, Ended, Some(e.msg().to_owned())).await;
                return;
            }
        };
        tracing::info!(session = %session_id, %camera, %member, "talk session started");
        self.talk_state(&session_id, Talking, None).await;
        use futures::StreamExt;
        let packets = stream.map(|c| c.map_err(|e| Error::wrap(ErrorKind::Unavailable, "the talk stream", e)));
        let played = crate::talk::play(session, &mut sink, packets).await;
        sink.close().await;
        match played {
            Ok(p) => {
                tracing::info!(session = %session_id, %camera, packets = p.packets, refused = p.refused, seconds = p.samples as f64 / 8000.0, "talk session ended");
                self.talk_state(&session_id, Ended, None).await;
            }
            Err(e) => {
                tracing::warn!(session = %session_id, %camera, "talk session failed: {e}");
                self.talk_state(&session_id, Ended, Some(e.msg().to_owned())).await;
            }
        }
    }

    /// Answers a request for a camera's sound: checks it as live view's, then streams the
    /// sound sealed for the viewer (`live_audio`). A camera without G.711 sound ends the
    /// session at once, which the app shows as no sound.
    async fn sound_session(
        &self,
        layout: Layout,
        sounds: Arc<std::collections::HashMap<String, crate::live_audio::Sound>>,
        session_id: String,
        request: String,
    ) {
        let Some(q) = Self::checked_request(&layout, &session_id, &request) else { return };
        let Some(sound) = sounds.get(&q.camera).cloned() else {
            tracing::warn!(session = %session_id, camera = %q.camera, "sound asked of a camera this agent hears nothing from");
            // Answered with nothing, so the app says so at once rather than waiting.
            let (tx, post) = self.relay(&session_id);
            drop(tx);
            let _ = post.await;
            return;
        };
        tracing::info!(session = %session_id, camera = %q.camera, member = %q.member.fingerprint(), "live sound started");
        let (tx, post) = self.relay(&session_id);
        let camera = q.camera.clone();
        let (sent, streamed) = tokio::join!(post, crate::live_audio::stream(&sound, q, tx));
        match (sent, streamed) {
            (Err(e), _) => tracing::warn!(session = %session_id, "live sound: {e}"),
            (_, Err(e)) if e.kind() != ErrorKind::Cancelled => {
                tracing::warn!(session = %session_id, %camera, "live sound: {e}")
            }
            _ => tracing::info!(session = %session_id, %camera, "live sound ended"),
        }
    }

    /// Answers one live request: checks it, then streams sealed segments to the server
    /// until the viewer leaves or the session's time is up.
    async fn live_session(&self, layout: Layout, hub: crate::live::Hub, session_id: String, request: String) {
        let Some(q) = Self::checked_request(&layout, &session_id, &request) else { return };
        let Some(feed) = hub.feed(&q.camera) else {
            tracing::warn!(session = %session_id, camera = %q.camera, "live request for a camera this agent does not have");
            return;
        };
        tracing::info!(session = %session_id, camera = %q.camera, member = %q.member.fingerprint(), "live view started");
        let (tx, post) = self.relay(&session_id);
        let camera = q.camera.clone();
        // The request ends when the server ends it (the viewer left), which drops `rx` and
        // so ends the stream; or when the stream ends, which ends the request's body.
        let (sent, streamed) = tokio::join!(post, crate::live::stream(feed, q, tx));
        match (sent, streamed) {
            (Ok(r), _) if !r.status().is_success() => {
                tracing::warn!(session = %session_id, status = %r.status(), "the server refused the live stream")
            }
            (Err(e), _) => tracing::warn!(session = %session_id, "live stream: {e}"),
            (_, Err(e)) if e.kind() != ErrorKind::Cancelled => tracing::warn!(session = %session_id, %camera, "{e}"),
            _ => tracing::info!(session = %session_id, %camera, "live view ended"),
        }
    }

    /// Answers a request for a clip to post: claims the session at once (preparing takes
    /// longer than an unanswered request waits), prepares the clip, declares its hash to
    /// the server, then streams a description and the clip's bytes, sealed for the
    /// browser's session key. A failure is sent (sealed) as the description's `error`.
    async fn clip_session(
        &self,
        posting: Arc<crate::post_clip::Posting>,
        session_id: String,
        request: String,
        ask: wire::PrepareJson,
    ) {
        let Some(q) = Self::checked_request(&posting.layout, &session_id, &request) else { return };
        tracing::info!(session = %session_id, camera = %q.camera, member = %q.member.fingerprint(), "preparing a clip to post");
        let (tx, post) = self.relay(&session_id);
        let work = async move {
            let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
            let _ = tx.send(sealer.header()).await;
            let camera = q.camera.clone();
            let p = posting.clone();
            let seal = ask.seal;
            let made = tokio::task::spawn_blocking(move || p.prepare(&camera, &ask))
                .await
                .map_err(|e| Error::wrap(ErrorKind::Internal, "clip task", e))
                .and_then(|r| r);
            let made = match made {
                Ok((made, bytes)) if seal => {
                    match self.seal_prepared(&posting.layout, &session_id, &made, &bytes).await {
                        Ok(id) => Ok((crate::post_clip::Made { object_id: Some(id), ..made }, bytes)),
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            let made = match made {
                Ok((made, bytes)) => {
                    let prepared =
                        wire::PreparedJson { sha256: made.sha256.clone(), object_id: made.object_id.clone() };
                    match self.api.device_prepared(&session_id, &prepared).await {
                        Ok(_) => Ok((made, bytes)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let seal = |sealer: &mut crypto::live::LiveSealer, b: &[u8]| sealer.seal(b);
            match made {
                Ok((made, bytes)) => {
                    tracing::info!(session = %session_id, camera = %made.camera, bytes = made.size_bytes, seconds = made.seconds_taken, "clip prepared");
                    let desc = serde_json::to_vec(&made).expect("serializable");
                    let mut msgs = vec![seal(&mut sealer, &desc)];
                    for c in bytes.chunks(1 << 20) {
                        msgs.push(seal(&mut sealer, c));
                    }
                    for m in msgs {
                        let Ok(m) = m else { break };
                        if tx.send(m).await.is_err() {
                            break; // The browser left.
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(session = %session_id, "preparing a clip: {e}");
                    let desc = serde_json::to_vec(&wire::ClipFailed { error: e.to_string() }).expect("json");
                    if let Ok(m) = seal(&mut sealer, &desc) {
                        let _ = tx.send(m).await;
                    }
                }
            }
        };
        let (sent, ()) = tokio::join!(post, work);
        match sent {
            Ok(r) if !r.status().is_success() => {
                tracing::warn!(status = %r.status(), "the server refused the prepared clip")
            }
            Err(e) => tracing::warn!("sending a prepared clip: {e}"),
            Ok(_) => {}
        }
    }

    /// Answers a request for the camera's picture now (the home screen's stills): one JPEG
    /// with the privacy masks in force black, sealed for the browser's session key; an
    /// empty message when there is no picture (the camera is offline).
    async fn still_session(
        &self,
        layout: Layout,
        hub: crate::live::Hub,
        posting: Arc<crate::post_clip::Posting>,
        session_id: String,
        request: String,
        shutdown: Receiver,
    ) {
        let Some(q) = Self::checked_request(&layout, &session_id, &request) else { return };
        let (tx, post) = self.relay(&session_id);
        let work = async move {
            let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
            if tx.send(sealer.header()).await.is_err() {
                return;
            }
            let jpeg = crate::inputs::snapshot(hub.feed(&q.camera), posting.masks(&q.camera), 80, shutdown).await;
            if let Ok(m) = sealer.seal(jpeg.as_deref().unwrap_or_default()) {
                let _ = tx.send(m).await;
            }
        };
        let (sent, ()) = tokio::join!(post, work);
        if let Err(e) = sent {
            tracing::debug!(session = %session_id, "still: {e}");
        }
    }

    /// Answers a day-view request (`crate::history`): the reply, then the footage, sealed
    /// for the browser's session key, inside what the request's signer may see.
    async fn history_session(
        &self,
        layout: Layout,
        conn: Arc<Mutex<Connection>>,
        session_id: String,
        request: String,
        ask: wire::HistoryAsk,
    ) {
        let now = base::clock::Clocks::realtime_90k(&base::clock::RealClocks) / 90;
        let checked = crypto::keys::unhex(&request)
            .ok_or_else(|| base::err!(DataLoss, "the request is not hex"))
            .and_then(|b| crate::live::footage_window(&layout, &b, now));
        let (q, window) = match checked {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(session = %session_id, "refusing a history request: {e}");
                return;
            }
        };
        tracing::info!(session = %session_id, camera = %q.camera, member = %q.member.fingerprint(), play = ?ask.play_ms, "history requested");
        let (tx, post) = self.relay(&session_id);
        let sid = session_id.clone();
        let work = async move {
            let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
            if tx.send(sealer.header()).await.is_err() {
                return;
            }
            let camera = q.camera.clone();
            let answered = tokio::task::spawn_blocking(move || {
                let c = conn.lock().expect("agent db");
                crate::history::answer(&c, &layout, &camera, &ask, window)
            })
            .await
            .map_err(|e| Error::wrap(ErrorKind::Internal, "history task", e))
            .and_then(|r| r);
            let (reply, footage) = match answered {
                Ok(a) => (a.reply, a.footage),
                Err(e) => {
                    tracing::warn!(session = %sid, "history: {e}");
                    let reply = wire::HistoryReply {
                        camera: q.camera.clone(),
                        runs: Vec::new(),
                        play: None,
                        error: Some(e.to_string()),
                    };
                    (reply, None)
                }
            };
            let Ok(first) = sealer.seal(&serde_json::to_vec(&reply).expect("serializable")) else { return };
            if tx.send(first).await.is_err() {
                return;
            }
            if let Some(f) = footage {
                let sent = tokio::task::spawn_blocking(move || crate::history::send(&f, &mut sealer, &tx)).await;
                if let Ok(Err(e)) = sent {
                    tracing::warn!(session = %sid, "history footage: {e}");
                }
            }
        };
        let (sent, ()) = tokio::join!(post, work);
        match sent {
            Ok(r) if !r.status().is_success() => {
                tracing::warn!(session = %session_id, status = %r.status(), "the server refused the history stream")
            }
            Err(e) => tracing::warn!(session = %session_id, "history stream: {e}"),
            Ok(_) => tracing::info!(session = %session_id, "history answered"),
        }
    }

    /// Seals a prepared clip as an object signed by this device, for the household's
    /// recipients at its start time (as recorded clips are), and uploads it; returns its id.
    async fn seal_prepared(
        &self,
        layout: &Layout,
        session_id: &str,
        made: &crate::post_clip::Made,
        bytes: &[u8],
    ) -> Result<String, Error> {
        let now = base::clock::Clocks::realtime_90k(&base::clock::RealClocks) / 90;
        let device = crate::sealing::device_keyring(layout, now)?;
        let trust = crate::sealing::load_trust(layout)?
            .ok_or_else(|| err!(FailedPrecondition, "this agent is not paired with an owner: nothing to seal for"))?;
        let meta = Meta { kind: Kind::Clip, camera: made.camera.clone(), start_ms: made.start_ms, end_ms: made.end_ms };
        let sealed = crypto::object::seal(&device.identity, meta, &trust.recipients(made.start_ms), bytes)
            .map_err(crate::sealing::from_crypto)?;
        let dir = layout.outbox();
        std::fs::create_dir_all(&dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
        let path = layout.outbox_prepared(session_id);
        replace_file(&path, &sealed)?;
        let id = self.upload_file(&path).await;
        let _ = std::fs::remove_file(&path);
        id.map_err(|(Failure::Retry(e) | Failure::Reject(e))| e)
    }

    /// Uploads an event folder's objects, then the event (`in_progress`: its start).
    async fn upload_event(&self, dir: &Path, event_id: &str, in_progress: bool) -> Result<(), Failure> {
        let mut ids = std::collections::HashMap::new();
        for (name, _) in OBJECTS {
            let p = dir.join(format!("{name}.plob"));
            if p.exists() {
                ids.insert(name, self.upload_file(&p).await?);
            }
        }
        let Some(meta) = ids.get("meta") else {
            return Err(Failure::Reject(err!(DataLoss, "{}: no meta.plob", dir.display())));
        };
        let event = wire::NewEvent {
            id: event_id.to_owned(),
            meta_object: meta.clone(),
            snapshot_object: ids.get("snapshot").cloned(),
            clip_object: ids.get("clip").cloned(),
            notify: Some(!dir.join(QUIET).exists()),
            in_progress: Some(in_progress),
        };
        self.api.commit_event(&event).await.map_err(failure)?;
        Ok(())
    }
}

/// How often the agent tells its server what its cameras are doing (the server's
/// `STATUS_EVERY_MS`).
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// Live and clip sessions remembered as answered (a few minutes' worth at most).
const ANSWERED_SESSIONS_KEPT: usize = 256;

/// What the owner tells the agent through the server, as the `control` worker: publish the
/// agent's keys once, then hold a long poll and fetch the roster or settings whenever their
/// serial moves (so a mode change reaches the cameras within a round trip), and answer
/// members' live and clip requests. One pass is one round of the long poll; the next
/// follows at once, or after a backoff (1 s doubling to 60 s) when it failed. Shutdown
/// ends a poll under way (it only reads); the sessions it started stop with it.
pub struct Control {
    client: Arc<Client>,
    layout: Layout,
    remote: crate::remote::Remote,
    /// The cameras' state, reported at once when new settings are applied (the app shows
    /// a mode switch as done when the agent's report names its serial).
    board: crate::status::StatusBoard,
    /// The recording index, for the day view's runs and footage.
    conn: Arc<Mutex<Connection>>,
    hub: crate::live::Hub,
    posting: Option<Arc<crate::post_clip::Posting>>,
    talk: Arc<crate::talk::Talk>,
    sounds: Arc<std::collections::HashMap<String, crate::live_audio::Sound>>,
    shutdown: Receiver,
    backoff: Duration,
    wait: Duration,
    published: bool,
    live_after: u64,
    live_epoch: Option<String>,
    /// Sessions already answered, most recent last: a server that restarted, or several
    /// behind one name, may offer one again under a new number.
    answered: std::collections::VecDeque<String>,
}

impl base::worker::Worker for Control {
    fn name(&self) -> &'static str {
        "control"
    }

    fn interval(&self) -> Duration {
        self.wait
    }

    async fn pass(&mut self) -> Result<u64, Error> {
        let mut stop = self.shutdown.clone();
        let r = tokio::select! {
            r = self.round() => r,
            _ = stop.wait() => return Ok(0),
        };
        match r {
            Ok(n) => {
                self.backoff = Duration::from_secs(1);
                self.wait = Duration::ZERO;
                Ok(n)
            }
            Err(e) => {
                tracing::warn!(retry_in_s = self.backoff.as_secs(), "settings and roster: {e}");
                self.wait = self.backoff;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
                Err(e)
            }
        }
    }
}

impl Control {
    /// One round: the keys (once), the long poll, then what it said changed. Returns the
    /// sessions started and syncs made.
    async fn round(&mut self) -> Result<u64, Error> {
        let client = self.client.clone();
        if !self.published {
            client.publish_keys(&self.layout).await?;
            self.published = true;
        }
        let held_roster = {
            let layout = self.layout.clone();
            tokio::task::spawn_blocking(move || sealing::load_trust(&layout))
                .await
                .map_err(|e| Error::wrap(ErrorKind::Internal, "trust task", e))??
                .and_then(|t| t.roster().map(|r| r.serial))
        };
        let v = client.wait_for_change(held_roster, self.remote.serial(), self.live_after).await?;
        let (roster, settings) =
            (v.roster.and_then(|r| u64::try_from(r).ok()), v.settings.and_then(|s| u64::try_from(s).ok()));
        let epoch = Some(v.live_epoch);
        if epoch != self.live_epoch {
            // Another server process (a restart): its sessions are numbered afresh, and
            // this reply was filtered by the old numbers; ask again from the start.
            if self.live_epoch.is_some() {
                tracing::info!("the server restarted: taking its live requests from the first");
            }
            self.live_epoch = epoch;
            self.live_after = 0;
            return Ok(0);
        }
        let mut done = 0;
        for offer in v.live {
            self.live_after = self.live_after.max(offer.seq);
            let (c, l, h) = (client.clone(), self.layout.clone(), self.hub.clone());
            let (sid, req) = (offer.session_id, offer.request);
            if self.answered.contains(&sid) {
                continue;
            }
            if self.answered.len() >= ANSWERED_SESSIONS_KEPT {
                self.answered.pop_front();
            }
            self.answered.push_back(sid.clone());
            let mut stop = self.shutdown.clone();
            let posting = self.posting.clone();
            let conn = self.conn.clone();
            let talk = self.talk.clone();
            let sounds = self.sounds.clone();
            done += 1;
            tokio::spawn(async move {
                match (offer.offer, posting) {
                    (Offer::PrepareClip(ask), Some(p)) => tokio::select! {
                        _ = c.clip_session(p, sid, req, ask) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::PrepareClip(_), None) => {
                        tracing::warn!(session = %sid, "a clip request, but this agent cannot prepare clips")
                    }
                    (Offer::Live, _) => tokio::select! {
                        _ = c.live_session(l, h, sid, req) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::History(ask), _) => tokio::select! {
                        _ = c.history_session(l, conn, sid, req, ask) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::LiveSub, _) => tokio::select! {
                        _ = c.live_session(l, h.sub_view(), sid, req) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::Still, Some(p)) => tokio::select! {
                        _ = c.still_session(l, h, p, sid, req, stop.clone()) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::Still, None) => {
                        tracing::warn!(session = %sid, "a still request, but this agent has no privacy masks to apply")
                    }
                    (Offer::LiveAudio, _) => tokio::select! {
                        _ = c.sound_session(l, sounds, sid, req) => {}
                        _ = stop.wait() => {}
                    },
                    (Offer::Talk, _) => tokio::select! {
                        _ = c.talk_session(l, talk, sid, req) => {}
                        _ = stop.wait() => {}
                    },
                }
            });
        }
        if roster.is_some() && roster != held_roster {
            client.sync_roster(&self.layout).await?;
            done += 1;
        }
        if settings.is_some() && settings != self.remote.serial() {
            client.sync_settings(&self.layout, &self.remote).await?;
            // Confirms the switch now rather than at the next status interval: the
            // streams obey new settings at their next frame.
            if let Err(Failure::Retry(e) | Failure::Reject(e)) = client.report_status(&self.board, &self.remote).await {
                tracing::debug!("status report after new settings: {e}");
            }
            done += 1;
        }
        Ok(done)
    }
}

/// What the owner's side reaches on this agent through the server: the settings in force
/// and the cameras' live feeds.
pub struct FromOwner {
    pub remote: crate::remote::Remote,
    pub hub: crate::live::Hub,
    /// Preparing clips for neighbourhood posts.
    pub posting: Option<Arc<crate::post_clip::Posting>>,
    /// The cameras' speakers, for members who talk through them.
    pub talk: Arc<crate::talk::Talk>,
    /// The cameras' sound, for live view.
    pub sounds: Arc<std::collections::HashMap<String, crate::live_audio::Sound>>,
}

/// What the agent's own side gives the link: the cameras' state to report, the data
/// folder and index the events are in, the clocks, and the bell rung when an event is
/// stored.
pub struct Local {
    pub board: crate::status::StatusBoard,
    pub layout: Layout,
    pub conn: Arc<Mutex<Connection>>,
    pub clocks: Arc<dyn Clocks>,
    pub upload_bell: Arc<tokio::sync::Notify>,
}

/// Syncing with the server, as two background workers for the caller to run
/// (`base::worker`): the control loop (the long poll for roster, settings and members'
/// requests; `shutdown` also ends the sessions it starts) and the upload queue.
pub fn start(spec: SyncSpec, local: Local, owner: FromOwner, shutdown: Receiver) -> (Uploads, Control) {
    let FromOwner { remote, hub, posting, talk, sounds } = owner;
    let Local { board, layout, conn, clocks, upload_bell } = local;
    let client = Arc::new(Client::new(spec.link.clone()));
    let control = Control {
        client: client.clone(),
        layout: layout.clone(),
        remote: remote.clone(),
        board: board.clone(),
        conn: conn.clone(),
        hub,
        posting,
        talk,
        sounds,
        shutdown,
        backoff: Duration::from_secs(1),
        wait: Duration::ZERO,
        published: false,
        live_after: 0,
        live_epoch: None,
        answered: std::collections::VecDeque::new(),
    };
    let mut status = SyncStatus { server: spec.link.url.clone(), ..Default::default() };
    if let Ok(b) = std::fs::read(layout.sync_status())
        && let Ok(old) = serde_json::from_slice::<SyncStatus>(&b)
    {
        status =
            SyncStatus { server: spec.link.url.clone(), queued_events: 0, queued_bytes: 0, last_error: None, ..old };
    }
    let uploads = Uploads {
        spec,
        board,
        layout,
        conn,
        clocks,
        client,
        remote,
        status,
        backoff: Duration::from_secs(1),
        wait: Duration::ZERO,
        reported: None,
        bell: upload_bell,
    };
    (uploads, control)
}

/// The upload queue as a background worker: each pass reports the cameras' state (every
/// `STATUS_EVERY`), seals finished events, bounds the outbox, uploads it in order and
/// writes `sync.json`; the next pass follows in a second, or after a backoff (1 s doubling
/// to 60 s) when this one failed.
pub struct Uploads {
    spec: SyncSpec,
    board: crate::status::StatusBoard,
    layout: Layout,
    conn: Arc<Mutex<Connection>>,
    clocks: Arc<dyn Clocks>,
    client: Arc<Client>,
    remote: crate::remote::Remote,
    status: SyncStatus,
    backoff: Duration,
    wait: Duration,
    reported: Option<std::time::Instant>,
    /// Rung when an event is stored or finished: the next pass starts at once (also during
    /// a backoff: events are rare enough that one early retry each costs nothing).
    bell: Arc<tokio::sync::Notify>,
}

impl base::worker::Worker for Uploads {
    fn name(&self) -> &'static str {
        "uploads"
    }

    fn interval(&self) -> Duration {
        self.wait
    }

    fn wake(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.bell.clone())
    }

    async fn pass(&mut self) -> Result<u64, Error> {
        if self.reported.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            // Best effort: a failed report is retried at the next interval; the home
            // screen shows the camera as offline meanwhile, which is what it is to the server.
            if let Err(Failure::Retry(e) | Failure::Reject(e)) =
                self.client.report_status(&self.board, &self.remote).await
            {
                tracing::debug!("status report: {e}");
            }
            self.reported = Some(std::time::Instant::now());
        }
        let before = self.status.uploaded_events;
        let ok = pass(&self.spec, &self.layout, &self.conn, &self.clocks, &self.client, &self.remote, &mut self.status)
            .await;
        self.status.last_error = ok.as_ref().err().map(|e| e.to_string());
        if let Ok(q) = queued(&self.layout) {
            self.status.queued_events = q.len() as u64;
            self.status.queued_bytes = q.iter().map(|(_, _, s)| s).sum();
        }
        let json = serde_json::to_vec_pretty(&self.status).expect("serializable");
        if let Err(e) = replace_file(&self.layout.sync_status(), &json) {
            tracing::warn!("writing sync.json: {e}");
        }
        match ok {
            Ok(()) => {
                self.backoff = Duration::from_secs(1);
                self.wait = Duration::from_secs(1);
                Ok(self.status.uploaded_events - before)
            }
            Err(e) => {
                self.wait = self.backoff;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(60));
                Err(Error::new(e.kind(), format!("{e} (retrying in {} s)", self.wait.as_secs())))
            }
        }
    }
}

async fn pass(
    spec: &SyncSpec,
    layout: &Layout,
    conn: &Arc<Mutex<Connection>>,
    clocks: &Arc<dyn Clocks>,
    client: &Client,
    remote: &crate::remote::Remote,
    status: &mut SyncStatus,
) -> Result<(), Error> {
    let (layout2, conn2, now, settle, max, remote2) =
        (layout.clone(), conn.clone(), clocks.realtime_90k(), spec.settle, spec.queue_bytes_max, remote.clone());
    // Trust and device keys are read each pass: `trust accept` and `trust rotate-device`
    // change them while the agent runs.
    let (dropped, identity) = tokio::task::spawn_blocking(move || -> Result<(u64, [u8; 32]), Error> {
        let Some(trust) = sealing::load_trust(&layout2)? else {
            bail!(FailedPrecondition, "not paired with an owner: no trust file");
        };
        let device = sealing::read_keyring(&layout2.device_keys())?;
        seal_starts(&conn2, &layout2, &device, &trust, now, settle, &remote2)?;
        seal_finished(&conn2, &layout2, &device, &trust, now, settle, &remote2)?;
        Ok((enforce_limit(&layout2, max)?, device.public().identity.to_bytes()))
    })
    .await
    .map_err(|e| Error::wrap(ErrorKind::Internal, "sealing task", e))??;
    status.dropped_events += dropped;
    // Starts first: they are the alerts.
    for (id, dir) in queued_starts(layout)? {
        match client.upload_event(&dir, &server_event_id(&identity, id), true).await {
            Ok(()) => {
                status.uploaded_starts += 1;
                tracing::info!(event = id, "start uploaded");
            }
            // The finished event still goes; a refused start is only a lost early alert.
            Err(Failure::Reject(e)) => tracing::warn!(event = id, "the server refused the event's start: {e}"),
            Err(Failure::Retry(e)) => return Err(e),
        }
        replace_file(&dir.join(START_SENT), b"")?;
    }
    for (id, dir, _) in queued(layout)? {
        match client.upload_event(&dir, &server_event_id(&identity, id), false).await {
            Ok(()) => {
                // The row first: a crash before the folder goes re-sends an event the
                // server already has, which it accepts as a retry.
                index::mark_event_uploaded(&conn.lock().expect("db"), id)?;
                std::fs::remove_dir_all(&dir)
                    .err_kind(ErrorKind::Internal, || format!("removing {}", dir.display()))?;
                // A start not sent yet is stale now.
                let start = layout.outbox_start(id);
                if start.exists() {
                    std::fs::remove_dir_all(&start)
                        .err_kind(ErrorKind::Internal, || format!("removing {}", start.display()))?;
                }
                status.uploaded_events += 1;
                status.last_upload = Some(base::clock::format_90k(clocks.realtime_90k()));
                tracing::info!(event = id, "uploaded");
            }
            Err(Failure::Reject(e)) => {
                let rejected = layout.outbox_rejected();
                std::fs::create_dir_all(&rejected).err_kind(ErrorKind::Internal, || "creating outbox/rejected")?;
                let to = rejected.join(dir.file_name().expect("named"));
                std::fs::rename(&dir, &to).err_kind(ErrorKind::Internal, || format!("moving {}", dir.display()))?;
                status.rejected_events += 1;
                tracing::error!(event = id, "the server refused the event; kept in {}: {e}", to.display());
            }
            Err(Failure::Retry(e)) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_folder(layout: &Layout, id: i64, bytes: usize) {
        let d = layout.outbox_event(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("clip.plob"), vec![0u8; bytes]).unwrap();
    }

    #[test]
    fn the_outbox_drops_its_oldest_events_only_beyond_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        for id in 1..=5 {
            event_folder(&layout, id, 1000);
        }
        // What the queue is not: half-sealed folders, rejected ones, the cursor.
        std::fs::create_dir_all(layout.outbox().join("0000000000000006.tmp")).unwrap();
        std::fs::create_dir_all(layout.outbox().join("rejected/0000000000000009")).unwrap();
        std::fs::write(layout.outbox().join("cursor"), "5").unwrap();
        let ids = |l: &Layout| queued(l).unwrap().into_iter().map(|(id, _, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(&layout), vec![1, 2, 3, 4, 5]);
        assert_eq!(enforce_limit(&layout, 5000).unwrap(), 0, "at the limit nothing goes");
        assert_eq!(enforce_limit(&layout, 3500).unwrap(), 2);
        assert_eq!(ids(&layout), vec![3, 4, 5], "the oldest went first");
        assert_eq!(read_cursor(&layout).unwrap(), 5, "dropped events are not sealed again");
    }

    #[test]
    fn an_offer_is_live_only_when_it_says_so() {
        let read = |v: serde_json::Value| serde_json::from_value::<wire::LiveOffer>(v).map(|o| o.offer);
        let base = |offer: serde_json::Value| serde_json::json!({"session_id": "s", "seq": 1, "request": "00", "offer": offer});
        assert_eq!(read(base(serde_json::json!("live"))).unwrap(), Offer::Live);
        let ask = serde_json::json!({"prepare_clip": {"start_ms": 0, "end_ms": 1000, "text": false}});
        assert!(matches!(read(base(ask)).unwrap(), Offer::PrepareClip(a) if a.end_ms == 1000 && a.people && !a.text));
        // A clip request from a newer server, or a damaged one, or none at all, is refused,
        // never streamed live.
        for bad in [
            serde_json::json!({"prepare_clip": {"start_ms": "soon"}}),
            serde_json::json!({"prepare_clip": []}),
            serde_json::json!("prepare_clip"),
            serde_json::json!({"record_audio": {}}),
            serde_json::json!(7),
            serde_json::Value::Null,
        ] {
            assert!(read(base(bad.clone())).is_err(), "{bad}");
        }
        let mut none = base(serde_json::Value::Null);
        none.as_object_mut().unwrap().remove("offer");
        assert!(read(none).is_err(), "an offer without its kind");
    }

    /// An event stored open (its start alerted) is not sealed as finished however old its
    /// provisional clip end, and holds back the queue; its start is sealed at once (only
    /// while it matters) and opens for the owner as in progress; finished, it is sealed.
    #[test]
    fn an_open_event_waits_for_its_end_and_its_start_goes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let conn = index::open(&layout.db()).unwrap();
        index::ensure_stream(&conn, "door", index::StreamKind::Main).unwrap();
        let s = 1_000 * 90_000;
        let row = index::EventRow {
            id: 0,
            camera: "door".into(),
            kind: "person".into(),
            label: "person".into(),
            start_90k: s,
            end_90k: s,
            score: 0.5,
            zones: Vec::new(),
            clip_start_90k: s - 5 * 90_000,
            clip_end_90k: s + 5 * 90_000,
            has_snapshot: false,
            bbox: None,
            uploaded: false,
            open: true,
            start_sealed: false,
            continues: None,
        };
        let id = index::insert_event(&conn, &row).unwrap();
        let later =
            index::insert_event(&conn, &index::EventRow { open: false, start_sealed: true, ..row.clone() }).unwrap();
        let conn = Mutex::new(conn);
        let owner = Keyring::generate("owner", 0).unwrap();
        let code = crypto::keys::pairing_code(&owner.public().identity);
        let trust = crypto::trust::Trust::pair_with_code([1; 16], &owner.public().encode(), &code).unwrap();
        let device = Keyring::generate("device", 0).unwrap();
        let remote = crate::remote::Remote::default();
        let settle = Duration::from_secs(1);
        // Long after its provisional clip end: still open, so nothing is sealed.
        let late = s + 600 * 90_000;
        assert_eq!(seal_finished(&conn, &layout, &device, &trust, late, settle, &remote).unwrap(), 0);
        assert!(!layout.outbox_event(id).exists() && !layout.outbox_event(later).exists(), "the queue waits, in order");
        // Its start: sealed while it goes on, for the owner, marked in progress (also long
        // after it began, as after a restart with a backlog).
        assert_eq!(seal_starts(&conn, &layout, &device, &trust, late, settle, &remote).unwrap(), 1);
        let sealed = std::fs::read(layout.outbox_start(id).join("meta.plob")).unwrap();
        let meta: wire::EventMeta = serde_json::from_slice(&crypto::object::open(&owner, &sealed).unwrap().1).unwrap();
        assert!(meta.in_progress && meta.kind == "person");
        assert_eq!(seal_starts(&conn, &layout, &device, &trust, late, settle, &remote).unwrap(), 0, "once");
        // Finished: both are sealed, in order.
        let done = index::EventRow { id, end_90k: s + 30 * 90_000, clip_end_90k: s + 35 * 90_000, ..row };
        assert!(index::finish_event(&conn.lock().unwrap(), &done).unwrap());
        assert_eq!(seal_finished(&conn, &layout, &device, &trust, late, settle, &remote).unwrap(), 2);
        let sealed = std::fs::read(layout.outbox_event(id).join("meta.plob")).unwrap();
        let meta: wire::EventMeta = serde_json::from_slice(&crypto::object::open(&owner, &sealed).unwrap().1).unwrap();
        assert!(!meta.in_progress && meta.end_ms == (s + 30 * 90_000) / 90);
    }

    #[test]
    fn server_event_ids_are_stable_and_distinct() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(server_event_id(&a, 7), server_event_id(&a, 7));
        assert_ne!(server_event_id(&a, 7), server_event_id(&a, 8));
        assert_ne!(server_event_id(&a, 7), server_event_id(&b, 7));
        assert_eq!(server_event_id(&a, 7).len(), 32);
    }
}
