//! Photos and clips on neighbourhood posts (design/redaction.md).
//!
//! A clip is prepared on the household's agent, which alone holds footage: the owner's
//! browser asks for it with a signed live-view request (`crypto::live`) plus the time range
//! and what to blur; the agent redacts the range, declares the result's SHA-256 here, and
//! streams it sealed for the browser's session key through the live relay. The owner
//! previews exactly those bytes and, to post them, uploads them: the server takes a clip
//! only if a household agent declared its hash, so nothing unredacted is posted by
//! accident. A photo is taken only as a JPEG without metadata segments (no GPS position);
//! the browser re-encodes it before uploading.
//!
//! Posted media are a publication to the neighbourhood: stored as one blob each (named by
//! its SHA-256), served to the households whose widest feed covers the post, deleted with
//! the post.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base::err;
use h3o::CellIndex;

use crate::auth::{Actor, Permission, in_window};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::posts::media_json;
use crate::secrets::random_hex;
use crate::state::{AppState, LiveSession};
use crate::types::*;

/// Uploads per account per hour, and their bytes.
const UPLOADS_PER_HOUR: i64 = 20;
const UPLOAD_BYTES_PER_HOUR: i64 = 128 << 20;
/// The longest clip an agent is asked to prepare.
pub const CLIP_SECONDS_MAX: i64 = 120;
/// How long a declared clip hash stays postable.
const PREPARED_TTL_MS: i64 = 24 * 3_600_000;
/// Declared hashes remembered per household.
const PREPARED_PER_HOUSEHOLD_MAX: usize = 200;

/// A JPEG with no application or comment segment other than JFIF's APP0 and colour
/// information (an ICC profile, Adobe's transform flag): EXIF (APP1, where cameras and
/// phones put the GPS position), XMP, IPTC and the rest are refused, not stripped, so the
/// server never rewrites what the poster previewed. Every segment is walked, including
/// those between and after the scans of a progressive JPEG, and nothing may follow the
/// end-of-image marker: metadata placed after the picture data, or a second file appended,
/// is refused like metadata before it.
pub fn check_jpeg(b: &[u8]) -> Result<(), base::Error> {
    let bad = |why: &str| err!(InvalidArgument, "photo: {why}");
    if b.len() < 4 || b[..2] != [0xff, 0xd8] {
        return Err(bad("not a JPEG (it must start with FF D8)"));
    }
    let mut pos = 2;
    let mut scans = 0usize;
    loop {
        // Fill bytes may precede a marker.
        while b.get(pos) == Some(&0xff) && b.get(pos + 1) == Some(&0xff) {
            pos += 1;
        }
        let (Some(&0xff), Some(&marker)) = (b.get(pos), b.get(pos + 1)) else {
            return Err(bad(&format!("expected a segment marker at byte {pos}")));
        };
        pos += 2;
        match marker {
            0xd8 => return Err(bad(&format!("a second start of image at byte {}", pos - 2))),
            0x01 | 0xd0..=0xd7 => continue,
            0xd9 if scans == 0 => return Err(bad("the image ends before any picture data")),
            0xd9 if pos != b.len() => {
                return Err(bad(&format!(
                    "{} bytes follow the end of the image at byte {} (appended data is refused)",
                    b.len() - pos,
                    pos - 2
                )));
            }
            0xd9 => return Ok(()),
            _ => {}
        }
        let len = b.get(pos..pos + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])));
        let Some(len) = len.filter(|&l| l >= 2 && pos + l <= b.len()) else {
            return Err(bad(&format!("segment FF {marker:02X} at byte {} is cut off", pos - 2)));
        };
        let body = &b[pos + 2..pos + len];
        // Colour information only: an ICC profile (APP2, which browsers' encoders write) and
        // Adobe's colour transform flag (APP14).
        let colour =
            (marker == 0xe2 && body.starts_with(b"ICC_PROFILE\0")) || (marker == 0xee && body.starts_with(b"Adobe"));
        if ((0xe1..=0xef).contains(&marker) && !colour) || marker == 0xfe {
            return Err(bad(&format!(
                "it carries metadata (segment FF {marker:02X}: EXIF, XMP, IPTC or a comment), which can hold where \
                 it was taken; the app removes it, or re-save the picture without metadata"
            )));
        }
        pos += len;
        if marker == 0xda {
            // Start of scan: entropy-coded data up to the next marker that is not a stuffed
            // zero or a restart marker.
            scans += 1;
            loop {
                let Some(i) = b[pos..].iter().position(|&x| x == 0xff) else {
                    return Err(bad("it does not end with FF D9 (truncated)"));
                };
                pos += i;
                match b.get(pos + 1) {
                    Some(0x00 | 0xd0..=0xd7) => pos += 2,
                    Some(0xff) => pos += 1,
                    Some(_) => break,
                    None => return Err(bad("it does not end with FF D9 (truncated)")),
                }
            }
        }
    }
}

/// Remembers that a household agent prepared a clip with this hash.
pub fn remember_prepared(st: &AppState, hid: &str, sha256: &str) {
    let now = st.now_ms();
    let mut map = st.prepared_clips.lock().expect("prepared lock");
    let list = map.entry(hid.to_owned()).or_default();
    list.retain(|(_, until)| *until > now);
    if list.len() >= PREPARED_PER_HOUSEHOLD_MAX {
        list.remove(0);
    }
    list.push((sha256.to_owned(), now + PREPARED_TTL_MS));
}

fn was_prepared(st: &AppState, hid: &str, sha256: &str) -> bool {
    let now = st.now_ms();
    st.prepared_clips
        .lock()
        .expect("prepared lock")
        .get(hid)
        .is_some_and(|l| l.iter().any(|(h, until)| h == sha256 && *until > now))
}

#[utoipa::path(post, path = "/api/households/{household_id}/post-media", params(("household_id" = String, Path), MediaParams), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = PostMediaJson), (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn upload_media(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Query(q): Query<MediaParams>,
    body: Bytes,
) -> ApiResult<Json<PostMediaJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    if body.is_empty() {
        return Err(err!(InvalidArgument, "body: empty; send the photo's or clip's bytes").into());
    }
    if body.len() > blob::CHUNK_BYTES_MAX {
        return Err(err!(
            InvalidArgument,
            "body: {} bytes; a photo or clip may be at most {} MiB",
            body.len(),
            blob::CHUNK_BYTES_MAX >> 20
        )
        .into());
    }
    let hash = blob::chunk_hash(&body);
    match q.kind.as_str() {
        "photo" => check_jpeg(&body)?,
        "clip" => {
            if !was_prepared(&st, &hid, &hash) {
                return Err(err!(
                    InvalidArgument,
                    "body: this clip (SHA-256 {hash}) was not prepared by your household's agent in the last 24 hours; \
                     attach a clip from your events so that it is redacted first"
                )
                .into());
            }
        }
        other => return Err(err!(InvalidArgument, "kind: expected photo or clip, got {other:?}").into()),
    }
    let now = st.now_ms();
    let (n, bytes) = st.db.recent_media(&m.account_id, now - 3_600_000).await?;
    if n >= UPLOADS_PER_HOUR || bytes + body.len() as i64 > UPLOAD_BYTES_PER_HOUR {
        return Err(err!(
            ResourceExhausted,
            "rate: at most {UPLOADS_PER_HOUR} photos and clips, {} MiB, an hour; try again later",
            UPLOAD_BYTES_PER_HOUR >> 20
        )
        .into());
    }
    let size = body.len() as i64;
    // The blob, then its chunk row, then the media row: no row names a missing blob; a
    // crash in between leaves a chunk nobody names, which the collector removes.
    st.blobs.store(&st.db, &hash, &hid, body, now).await?;
    let media = db::server::PostMedia {
        id: random_hex(16),
        household_id: hid,
        account_id: m.account_id,
        post_id: None,
        position: 0,
        kind: q.kind,
        hash,
        size_bytes: size,
        created_ms: now,
    };
    st.db.insert_post_media(&media).await?;
    Ok(Json(media_json(&media)))
}

#[utoipa::path(get, path = "/api/households/{household_id}/post-media/{media_id}", params(("household_id" = String, Path), ("media_id" = String, Path), ("Range" = Option<String>, Header, description = "one byte range (video players ask for them)")), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 206, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn get_media(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, mid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    check_id("media_id", &mid)?;
    let missing = || err!(NotFound, "media_id: no photo or clip {mid} in your neighbourhood");
    let media = st.db.post_media(&mid).await?.ok_or_else(missing)?;
    let visible = match &media.post_id {
        // An upload waiting for its post: its uploader only.
        None => media.account_id == m.account_id,
        Some(pid) => {
            let p = st.db.post(pid).await?.ok_or_else(missing)?;
            let area = CellIndex::try_from(p.area_cell as u64).map_err(|_| err!(DataLoss, "post {pid}: bad area"))?;
            let home = crate::posts::home_of(&st, &hid).await?;
            (p.hidden_ms.is_none() || p.author_id == m.account_id)
                && (p.household_id == hid || community::in_feed(home, community::RADIUS_MAX_M, area))
        }
    };
    if !visible {
        return Err(missing().into());
    }
    serve(&st, &media, &headers).await
}

#[utoipa::path(get, path = "/api/moderation/media/{media_id}", params(("media_id" = String, Path), ("Range" = Option<String>, Header, description = "one byte range")), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 206, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn moderation_media(
    State(st): State<AppState>,
    actor: Actor,
    Path(mid): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Operators judge a reported post by all of it; uploads not yet posted are nobody's business.
    actor.operator(&st)?;
    check_id("media_id", &mid)?;
    let media = st
        .db
        .post_media(&mid)
        .await?
        .filter(|m| m.post_id.is_some())
        .ok_or_else(|| err!(NotFound, "media_id: no posted photo or clip {mid}"))?;
    serve(&st, &media, &headers).await
}

/// The media's bytes, whole or one range, with its type.
async fn serve(st: &AppState, media: &db::server::PostMedia, headers: &HeaderMap) -> ApiResult<Response> {
    let bytes = st.blobs.get_chunk(&media.hash).await?;
    let total = bytes.len() as u64;
    let range = match crate::objects::requested_range(headers, total)? {
        Ok(r) => r,
        Err(unsatisfiable) => return Ok(unsatisfiable),
    };
    let (first, last) = range.unwrap_or((0, total.saturating_sub(1)));
    let mut resp = bytes.slice(first as usize..(last + 1) as usize).into_response();
    let h = resp.headers_mut();
    let ct = if media.kind == "clip" { "video/mp4" } else { "image/jpeg" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    crate::objects::mark_range(&mut resp, range, total);
    Ok(resp)
}

#[utoipa::path(post, path = "/api/households/{household_id}/clips/prepare", params(("household_id" = String, Path)), request_body = PrepareClipJson, responses((status = 200, body = LiveStarted), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn prepare_clip(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<PrepareClipJson>,
) -> ApiResult<Json<LiveStarted>> {
    // Posting it needs the neighbourhood; seeing the footage needs its window.
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    actor.member(&st, &hid, Permission::View).await?;
    let p = &req.prepare;
    if p.end_ms <= p.start_ms {
        return Err(err!(InvalidArgument, "prepare.end_ms: must be after start_ms").into());
    }
    if p.end_ms.saturating_sub(p.start_ms) > CLIP_SECONDS_MAX * 1000 {
        return Err(err!(InvalidArgument, "prepare.end_ms: a posted clip is at most {CLIP_SECONDS_MAX} s long").into());
    }
    if !in_window(&m, p.start_ms) {
        return Err(err!(PermissionDenied, "prepare.start_ms: outside the footage window your role may see").into());
    }
    let now = st.now_ms();
    let (bytes, q) = crate::relay::parse_request(&hid, &req.request, now)?;
    let session_id = crate::relay::open_session(
        &st,
        LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, Offer::PrepareClip(req.prepare.clone())),
    )?;
    Ok(Json(LiveStarted { session_id }))
}

#[utoipa::path(put, path = "/api/device/prepared/{session_id}", params(("session_id" = String, Path)), request_body = PreparedJson, responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn device_prepared(
    State(st): State<AppState>,
    actor: Actor,
    Path(sid): Path<String>,
    Json(req): Json<PreparedJson>,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    check_id("session_id", &sid)?;
    blob::check_hash("sha256", &req.sha256)?;
    if let Some(o) = &req.object_id {
        check_id("object_id", o)?;
    }
    let ok = st
        .live_sessions
        .lock()
        .expect("live lock")
        .get(&sid)
        .is_some_and(|s| s.household_id == d.household_id && matches!(s.offer, Offer::PrepareClip(_)));
    if !ok {
        return Err(err!(NotFound, "session_id: no clip being prepared for this household as {sid}").into());
    }
    remember_prepared(&st, &d.household_id, &req.sha256);
    Ok(Json(crate::types::Ok { ok: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(segments: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![0xff, 0xd8];
        for (m, body) in segments {
            b.extend_from_slice(&[0xff, *m]);
            b.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            b.extend_from_slice(body);
        }
        b.extend_from_slice(&[0x12, 0x34, 0xff, 0xd9]);
        b
    }

    #[test]
    fn jpeg_metadata_is_refused() {
        let jfif: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
        assert!(check_jpeg(&jpeg(&[(0xe0, jfif), (0xdb, &[0; 65]), (0xda, &[0; 10])])).is_ok());
        let e = check_jpeg(&jpeg(&[(0xe0, jfif), (0xe1, b"Exif\0\0GPS"), (0xda, &[0; 10])])).unwrap_err();
        assert!(e.to_string().contains("FF E1"), "{e}");
        let icc: &[u8] = b"ICC_PROFILE\0\x01\x01 profile bytes";
        assert!(check_jpeg(&jpeg(&[(0xe0, jfif), (0xe2, icc), (0xda, &[0; 10])])).is_ok(), "colour profiles are fine");
        let e = check_jpeg(&jpeg(&[(0xe2, b"MPF\0 more pictures"), (0xda, &[0; 10])])).unwrap_err();
        assert!(e.to_string().contains("FF E2"), "{e}");
        let e = check_jpeg(&jpeg(&[(0xed, b"Photoshop 3.0\0 IPTC city"), (0xda, &[0; 10])])).unwrap_err();
        assert!(e.to_string().contains("FF ED"), "{e}");
        let e = check_jpeg(&jpeg(&[(0xfe, b"a comment"), (0xda, &[0; 10])])).unwrap_err();
        assert!(e.to_string().contains("FF FE"), "{e}");
        assert!(check_jpeg(b"\x89PNG\r\n\x1a\n").unwrap_err().to_string().contains("not a JPEG"));
        let mut cut = jpeg(&[(0xe0, jfif), (0xda, &[0; 10])]);
        cut.truncate(cut.len() - 2);
        assert!(check_jpeg(&cut).unwrap_err().to_string().contains("truncated"));
        assert!(check_jpeg(&[0xff, 0xd8, 0xff, 0xdb, 0x00]).is_err());
    }

    /// What the outside test slipped past: metadata after the picture data, and a second
    /// JPEG appended to the first.
    #[test]
    fn nothing_hides_after_the_picture_data() {
        let jfif: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
        let ok = jpeg(&[(0xe0, jfif), (0xda, &[0; 10])]);
        // Stuffed zeros, restart markers and fill bytes are picture data.
        let mut stuffed = ok[..ok.len() - 2].to_vec();
        stuffed.extend_from_slice(&[0xff, 0x00, 0x55, 0xff, 0xd3, 0x66, 0xff, 0xff, 0xd9]);
        assert!(check_jpeg(&stuffed).is_ok());
        // A progressive JPEG: tables between two scans.
        let mut progressive = ok[..ok.len() - 2].to_vec();
        progressive.extend_from_slice(&[0xff, 0xc4, 0x00, 0x04, 0x00, 0x00, 0xff, 0xda, 0x00, 0x04, 0x01, 0x02, 0x77]);
        progressive.extend_from_slice(&[0xff, 0xd9]);
        assert!(check_jpeg(&progressive).is_ok());
        // EXIF after the scan.
        let mut late = ok[..ok.len() - 2].to_vec();
        late.extend_from_slice(&[0xff, 0xe1, 0x00, 0x0a]);
        late.extend_from_slice(b"Exif\0\0GP");
        late.extend_from_slice(&[0xff, 0xd9]);
        let e = check_jpeg(&late).unwrap_err();
        assert!(e.to_string().contains("FF E1"), "{e}");
        // A second JPEG, or any bytes, after the end of the image.
        let mut two = ok.clone();
        two.extend_from_slice(&jpeg(&[(0xe1, b"Exif\0\0GPS"), (0xda, &[0; 10])]));
        let e = check_jpeg(&two).unwrap_err();
        assert!(e.to_string().contains("follow the end of the image"), "{e}");
        let mut tail = ok.clone();
        tail.extend_from_slice(b"GPS 40.7411,-73.9897");
        assert!(check_jpeg(&tail).is_err());
    }

    proptest::proptest! {
        /// Whatever is appended to a valid JPEG is refused, and nothing panics.
        #[test]
        fn appended_bytes_are_always_refused(extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300)) {
            let ok = jpeg(&[(0xe0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"), (0xda, &[0; 10])]);
            let mut b = ok.clone();
            b.extend_from_slice(&extra);
            proptest::prop_assert!(check_jpeg(&b).is_err());
        }

        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = check_jpeg(&b);
        }
    }
}
