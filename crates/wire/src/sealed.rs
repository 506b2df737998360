//! What crosses between the agent and a member's browser sealed (the server relays
//! ciphertext and never reads these), and what a household's webhook receives.

use serde::{Deserialize, Serialize};

use crate::EventJson;

/// An event's metadata, sealed by the agent for the household (an object of kind `event`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventMeta {
    pub camera: String,
    /// `person`, `vehicle`, `animal`, `package`, `motion`, `doorbell` or `sensor`.
    pub kind: String,
    /// What the detector saw (`person`, `car`, …), or the sensor's name.
    pub label: String,
    pub score: f64,
    /// The zones the event touched.
    pub zones: Vec<String>,
    /// The object's box, x0, y0, x1, y1 in fractions of the frame.
    #[serde(rename = "box")]
    pub bbox: Option<[f32; 4]>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The clip's range, with its pre- and post-roll (while in progress: as it will be if
    /// the event ended now).
    pub clip_start_ms: i64,
    pub clip_end_ms: i64,
    /// The event is still going on: this is its start, sealed the moment it became worth
    /// an alert (`end_ms` is when it was sealed); the finished event replaces it.
    #[serde(default)]
    pub in_progress: bool,
    /// The id of the event this one continues (a visit longer than the agent's maximum
    /// event length is cut into consecutive events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<String>,
}

/// What the agent prepared for a member's post, sealed for the member's session key
/// ahead of the clip's bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreparedClip {
    /// SHA-256 of the MP4, lower-case hex: what the agent declared to the server.
    pub sha256: String,
    pub size_bytes: u64,
    pub camera: String,
    /// `main` or `sub`.
    pub stream: String,
    /// The time range asked for, so the browser can check it is the one it asked for.
    pub start_ms: i64,
    pub end_ms: i64,
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub duration_s: f64,
    pub people: bool,
    pub faces: bool,
    pub text: bool,
    /// Frames with people / faces / text blurred.
    pub frames_with_people: usize,
    pub frames_with_faces: usize,
    pub frames_with_text: usize,
    pub masks: usize,
    /// The clip carries the camera's sound (the owner kept it).
    pub audio: bool,
    /// The camera recorded sound in this stretch, whether or not it was kept: the preview
    /// says "sound left out" when this is set and `audio` is not.
    #[serde(default)]
    pub audio_recorded: bool,
    pub seconds_taken: f64,
    /// The sealed object uploaded, when the ask was to seal it.
    pub object_id: Option<String>,
}

/// Sealed in place of a [`PreparedClip`] when preparing failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClipFailed {
    pub error: String,
}

/// The body of a webhook delivery (signed; design/server.md): what the server already
/// knows of a new event, no labels.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEvent {
    pub household_id: String,
    pub event: EventJson,
}

/// The first sealed message of a history session (`Offer::History`): the runs recorded in
/// the asked stretch (clipped to the member's window) and, when footage follows, where it
/// starts and ends. The footage follows as a fragmented MP4 in sealed pieces.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryReply {
    pub camera: String,
    /// Recorded stretches of the main stream, oldest first, Unix ms.
    pub runs: Vec<RecordedRun>,
    pub play: Option<HistoryPlay>,
    /// Why nothing (more) follows, when the agent refused or failed.
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordedRun {
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryPlay {
    /// The moment asked for.
    pub asked_ms: i64,
    /// Wall time of the footage's first frame (a key frame at or before `asked_ms`, never
    /// before the member's window): the video's time 0.
    pub start_ms: i64,
    /// Wall time just after its last frame (the end of the run, the member's window, or
    /// ten minutes on; the app asks again from there).
    pub end_ms: i64,
    /// The footage's length in bytes.
    pub bytes: u64,
}
