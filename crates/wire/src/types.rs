//! Accounts, households, devices, storage, live view and the neighbourhood.

use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignUpReply {
    pub account_id: String,
    /// Add this to an authenticator app, then confirm a code at `/api/totp/confirm`.
    pub totp_url: String,
    /// The same secret in base32, for typing in.
    pub totp_secret: String,
    /// Send this as `X-CSRF-Token` with every write made with the session cookie.
    pub csrf: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInReply {
    /// `totp`: give a code at `/api/login/totp`; `passkey`: the account has only passkeys,
    /// use `/api/login/passkey/start`; `enrol`: no second factor yet, confirm TOTP or
    /// register a passkey first.
    pub next: String,
    /// Every second factor the account can use now: `totp`, `passkey`.
    pub factors: Vec<String>,
    pub csrf: String,
    /// Only with `enrol` (the account never confirmed a second factor): the TOTP secret
    /// again, so that an interrupted sign-up can be finished.
    pub totp_url: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// Six digits from the authenticator app.
    pub code: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    /// What the owner calls this passkey ("phone", "laptop"), 1 to 64 characters.
    pub name: String,
}

/// WebAuthn options for `navigator.credentials.create` or `.get`, binary fields in
/// base64url (as webauthn-rs and the WebAuthn JSON serialization define them).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyOptions {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: serde_json::Value,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeyCredential {
    /// The authenticator's answer (`PublicKeyCredential`), binary fields in base64url.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// A household role, most to least privileged. What each may do is `api::auth::allows`
/// (the browser is told as [`Membership::permissions`]); the database stores the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Full,
    Standard,
    Limited,
    Guest,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Full, Role::Standard, Role::Limited, Role::Guest];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Full => "full",
            Role::Standard => "standard",
            Role::Limited => "limited",
            Role::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a household member may do. `api::auth::allows` is the whole policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Timeline, live events, and downloading clips and snapshots (within a limited
    /// member's or guest's window).
    View,
    /// See who else is in the household.
    ViewMembers,
    /// Change the household's name, retention and webhook; list devices.
    Settings,
    /// Delete events and their footage.
    Delete,
    /// Invite and remove members.
    ManageMembers,
    /// Pair and revoke agents.
    Pair,
    /// Read who opened which clip.
    AccessLog,
    /// Change the settings agents obey (zones, modes): the owner only, because agents
    /// obey only the owner's signature.
    SignSettings,
    /// Read and write the neighbourhood feed as a resident: owners, full and standard
    /// members, not limited members or guests.
    Neighbourhood,
    /// See agencies' footage requests and answer them: the owner, whose keys sign what the
    /// household shares.
    RespondToRequests,
    /// Speak through a camera's speaker: the owner, full and standard members, and guests
    /// inside their window; not limited members, who only watch (the agent checks the
    /// same against the owner's roster).
    Talk,
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::View,
        Permission::ViewMembers,
        Permission::Settings,
        Permission::Delete,
        Permission::ManageMembers,
        Permission::Pair,
        Permission::AccessLog,
        Permission::SignSettings,
        Permission::Neighbourhood,
        Permission::RespondToRequests,
        Permission::Talk,
    ];
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub household_id: String,
    pub name: String,
    pub role: Role,
    /// What this member may do in this household (the server's policy, so the app shows
    /// what the server will allow).
    pub permissions: Vec<Permission>,
    pub window_from_ms: Option<i64>,
    pub window_until_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionReply {
    pub account_id: String,
    pub email: String,
    pub csrf: Option<String>,
    pub has_keys: bool,
    pub households: Vec<Membership>,
    /// This account runs the server: it moderates neighbourhood posts.
    pub operator: bool,
    /// The neighbourhood map's tile URL template ({z}, {x}, {y}), if the operator set one.
    pub map_tile_url: Option<String>,
    /// When this account applied as an agency: `applied`, `verified` or `rejected`.
    pub agency: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetKeys {
    /// The signed public-key bundle (design/crypto-format.md), hex.
    pub public_keys: String,
    /// The bundle's identity key's signature over this account's current challenge
    /// (`GET /api/me/keys/challenge`), hex: proof that the caller holds the private key.
    pub proof: String,
    /// The recovery-code backup of the private keys (ciphertext), hex.
    pub key_backup: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysChallenge {
    /// 32 bytes, hex, for the new identity key to sign with the domain
    /// `porchlight/key-possession/v1` (design/crypto-format.md). It changes whenever the
    /// account's keys do.
    pub challenge: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyBackup {
    pub key_backup: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub label: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenReply {
    pub id: String,
    /// Shown once: `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: String,
    pub label: String,
    pub created_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityEventJson {
    pub kind: String,
    pub ip: String,
    pub detail: String,
    pub at_ms: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewHousehold {
    pub name: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HouseholdJson {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub retention_days: i64,
    pub retention_bytes: i64,
    /// Shown only to those who may change the settings, like the secret.
    pub webhook_url: Option<String>,
    /// The key each delivery's `X-Porchlight-Signature` is made with: `t=<unix ms>,v1=<hex
    /// HMAC-SHA256 over "<t>.<body>">`.
    pub webhook_secret: Option<String>,
    pub cameras: Vec<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PatchHousehold {
    pub name: Option<String>,
    /// 0: keep footage without an age limit. At most 3650.
    pub retention_days: Option<i64>,
    /// 0: no byte limit.
    pub retention_bytes: Option<i64>,
    /// An http(s) URL on a public address that receives a signed POST per new event; ""
    /// removes it.
    pub webhook_url: Option<String>,
    /// True: replace the webhook's signing secret with a new one.
    pub rotate_webhook_secret: Option<bool>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberJson {
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub window_from_ms: Option<i64>,
    pub window_until_ms: Option<i64>,
    /// The member's signed public-key bundle (hex), once their device made one: the owner's
    /// device puts it in the roster it signs for the agents.
    pub public_keys: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// full, standard, limited or guest.
    pub role: String,
    /// For limited members: the start of the footage they may see (default: now).
    pub window_from_ms: Option<i64>,
    /// Required for guests (when their access ends); optional for limited members.
    pub window_until_ms: Option<i64>,
    /// How long the invitation can be accepted, 60 s to 14 days (default 7 days).
    pub expires_in_s: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationReply {
    pub token: String,
    pub expires_ms: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingReply {
    /// Single use; the agent presents it with `porchlight pair --server … --token …`.
    pub token: String,
    pub household_id: String,
    pub expires_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairingOffer {
    pub household_id: String,
    /// The owner's signed public-key bundle, hex. The agent checks it against the pairing
    /// code the owner reads off their own device; the server cannot substitute it.
    pub owner_public_keys: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompletePairing {
    /// A name for the agent, 1 to 64 characters.
    pub name: String,
    /// The agent's Ed25519 device identity key, 64 hex digits.
    pub identity: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PairedReply {
    pub device_id: String,
    /// The device credential: `Authorization: Bearer <token>`.
    pub token: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceJson {
    pub id: String,
    pub name: String,
    pub identity: String,
    pub paired_ms: i64,
    pub revoked_ms: Option<i64>,
    /// The agent's self-signed public key bundle (hex), once it has uploaded it.
    pub public_keys: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceSelf {
    pub device_id: String,
    pub household_id: String,
    pub owner_public_keys: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChunkList {
    /// SHA-256 hashes (hex), at most 4096.
    pub chunks: Vec<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewObject {
    /// The object's chunks in order (hex SHA-256), 1 to 4096. Camera, kind, times and size
    /// come from the object's signed header, never from the request.
    pub chunks: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectJson {
    pub id: String,
    pub camera: String,
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub size_bytes: i64,
    /// False when the same object had been committed before (an idempotent retry).
    pub created: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// 32 hex digits chosen by the device (stable across retries). The server stores the
    /// event under an id scoped to the device (`EventJson.id`): the same `id` from another
    /// device is another event.
    pub id: String,
    /// The sealed event metadata (kind `event`): labels, zones, scores.
    pub meta_object: String,
    pub snapshot_object: Option<String>,
    pub clip_object: Option<String>,
    /// False when the household's mode says this camera records without notifying: the
    /// event is stored and listed but not pushed to the app or the webhook. Default true.
    #[serde(default)]
    pub notify: Option<bool>,
    /// True for an event's start, sent while it goes on (metadata and snapshot so far, no
    /// clip); the finished event follows under the same `id` and replaces it. Alerts go out
    /// for whichever arrives first. Default false.
    #[serde(default)]
    pub in_progress: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventJson {
    pub id: String,
    pub camera: String,
    pub device_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub meta_object: String,
    pub snapshot_object: Option<String>,
    pub clip_object: Option<String>,
    pub size_bytes: i64,
    /// The event is still going on (its start): the finished event will replace its
    /// metadata and add the clip.
    #[serde(default)]
    pub in_progress: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    pub camera: Option<String>,
    /// Events starting at or after this (ms since the epoch); default 0.
    pub from_ms: Option<i64>,
    /// Events starting before this; default: no bound.
    pub until_ms: Option<i64>,
    /// 1 to 1000, default 200.
    pub limit: Option<i64>,
    /// `desc` for newest first (default `asc`).
    pub order: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    /// 1 to 1000, default 200.
    pub limit: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessJson {
    pub account_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub object_id: String,
    pub kind: String,
    pub at_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ok {
    pub ok: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CameraRetention {
    /// 0: no age limit; at most 3650. Both absent: the camera follows the household.
    pub retention_days: Option<i64>,
    /// 0: no byte limit.
    pub retention_bytes: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CameraRetentionJson {
    pub camera: String,
    pub retention_days: i64,
    pub retention_bytes: i64,
}

/// What an agent reports of one camera (its main stream, else its sub-stream).
/// What a camera's recorder is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Connecting,
    Streaming,
    /// Waiting before the next attempt after an error.
    Retrying,
    Stopped,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CameraReport {
    /// The camera's name, as in its objects' headers (1 to 64 bytes).
    pub camera: String,
    pub state: CameraState,
    /// When the camera entered this state (Unix ms).
    pub since_ms: i64,
    /// The camera has a doorbell button (its presses notify in every mode).
    #[serde(default)]
    pub doorbell: bool,
    /// The agent's configuration places it indoors (the owner's settings may say otherwise).
    #[serde(default)]
    pub indoor: bool,
    /// The agent's configuration records its sound (`audio.record`, off by default).
    #[serde(default)]
    pub records_sound: bool,
    /// Whether the agent can play sound through the camera (a speaker command, or the ONVIF
    /// backchannel the camera offers); absent until the agent knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<bool>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// At most 64 cameras.
    pub cameras: Vec<CameraReport>,
    /// The serial of the household settings the agent has applied, if any.
    #[serde(default)]
    pub settings_serial: Option<i64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CameraStatusJson {
    pub camera: String,
    pub device_id: String,
    pub state: CameraState,
    pub since_ms: i64,
    /// When the agent last reported (Unix ms).
    pub reported_ms: i64,
    /// Whether that report is recent (within three reporting intervals).
    pub online: bool,
    /// The serial of the household settings the agent has applied, if any.
    pub settings_serial: Option<i64>,
    /// The camera has a doorbell button (its presses notify in every mode).
    pub doorbell: bool,
    /// The agent's configuration places it indoors (the owner's settings may say otherwise).
    pub indoor: bool,
    /// The agent's configuration records its sound (`audio.record`, off by default).
    pub records_sound: bool,
    /// Whether the agent can play sound through the camera; absent until it knows.
    pub speaker: Option<bool>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RosterJson {
    /// A roster signed by the owner's identity key (hex; design/crypto-format.md).
    pub roster: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsJson {
    /// Household settings sealed and signed by the owner's device (hex; design/crypto-format.md).
    pub settings: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredSettings {
    pub serial: i64,
    pub settings: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// The roster serial the agent holds (absent: none).
    pub roster: Option<i64>,
    /// The settings serial the agent holds (absent: none).
    pub settings: Option<i64>,
    /// How long to hold the request when nothing differs, 0 to 25,000 ms (default 25,000).
    pub wait_ms: Option<u64>,
    /// The highest live request `seq` the agent has seen (absent: none).
    pub live_after: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitReply {
    /// The server's current roster serial, if the owner has signed one.
    pub roster: Option<i64>,
    /// The server's current settings serial, if the owner has sealed any.
    pub settings: Option<i64>,
    /// Live view requests for this agent's cameras that no agent has answered yet.
    pub live: Vec<LiveOffer>,
    /// The server process whose session numbers `live` and `live_after` are: when it
    /// changes, the agent asks again with `live_after` 0.
    pub live_epoch: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceKeysJson {
    /// The agent's self-signed public key bundle (hex); its identity must be the device's.
    pub public_keys: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredRoster {
    pub serial: i64,
    pub roster: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LiveStartJson {
    /// A live request signed by the member's identity key, naming the camera and a fresh
    /// session key (hex; `crypto::live`).
    pub request: String,
    /// Watch the camera's sub-stream (the live grid); its main stream when it has none.
    #[serde(default)]
    pub sub: bool,
    /// Listen instead: the camera's sound (live view's "Sound on"), not its picture.
    #[serde(default)]
    pub audio: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StillStartJson {
    /// A live request signed by the member's identity key, naming the camera and a fresh
    /// session key (hex; `crypto::live`): the agent seals the picture for that key.
    pub request: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TalkStartJson {
    /// A talk request signed by the member's identity key, naming the camera, with the
    /// session's key wrapped for the household's agents (hex; `crypto::talk`).
    pub request: String,
}

/// Where a talk session stands, as the agent reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TalkStage {
    /// Waiting for the agent to reach the camera's speaker.
    Connecting,
    /// The camera's speaker plays what is sent.
    Talking,
    /// Over: stopped, timed out, or failed (`error` says why).
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TalkState {
    pub stage: TalkStage,
    /// Why the session ended, when it failed (the camera refused its backchannel, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who talks through the household's cameras now, and the keys a talk session's key is
/// wrapped for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TalkJson {
    pub talking: Vec<TalkerJson>,
    /// The public key bundles (hex, `crypto::keys::PublicKeys`) of the household's agents
    /// that published theirs and are not revoked.
    pub agent_keys: Vec<String>,
}

/// Someone talking through a camera now (one at a time per camera).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TalkerJson {
    pub camera: String,
    pub account_id: String,
    /// The talker's email, as the household's members see each other.
    pub email: String,
    pub since_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveStarted {
    pub session_id: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveOffer {
    pub session_id: String,
    /// Increases with each request; agents pass the highest they saw as `live_after`.
    pub seq: u64,
    /// The member's signed request (hex, `crypto::live`): camera, session key, time.
    pub request: String,
    /// What the member asks for.
    pub offer: Offer,
}

/// What a relayed request asks the agent for. There is no default: an offer the agent
/// cannot read is refused, never answered as something else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Offer {
    /// Live video from the request's camera.
    Live,
    /// A clip prepared for posting (or, sealed, for answering a footage request).
    PrepareClip(PrepareJson),
    /// The continuous recording: its runs over a stretch, and footage from a moment.
    History(HistoryAsk),
    /// Live video from the request's camera's sub-stream (its main stream without one):
    /// the live grid.
    LiveSub,
    /// The camera's picture at this moment, one JPEG with the privacy masks black.
    Still,
    /// The camera's sound, live: Opus in fragmented MP4, sealed like live video.
    LiveAudio,
    /// Sound for the camera's speaker: the agent reads the member's sealed packets
    /// (`crypto::talk`) from `GET /api/device/talk/{session_id}`; the request is a talk
    /// request, not a live one.
    Talk,
}

/// What a member asks of a camera's continuous recording (the day view): the recorded runs
/// between `from_ms` and `until_ms` and, with `play_ms`, the footage from the key frame at
/// or before that moment. The agent answers only inside the member's footage window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryAsk {
    /// Unix ms; the stretch is at most 48 h long.
    pub from_ms: i64,
    pub until_ms: i64,
    /// A moment inside the stretch to play from (absent: the runs only).
    #[serde(default)]
    pub play_ms: Option<i64>,
}

impl HistoryAsk {
    /// The longest stretch whose runs one ask lists.
    pub const SPAN_MS_MAX: i64 = 48 * 3_600_000;

    /// Checks the ask's own consistency; the error names the field.
    pub fn check(&self) -> Result<(), base::Error> {
        if self.until_ms <= self.from_ms {
            base::bail!(InvalidArgument, "history.until_ms: must be after from_ms");
        }
        if self.until_ms - self.from_ms > Self::SPAN_MS_MAX {
            base::bail!(InvalidArgument, "history.until_ms: at most 48 h after from_ms");
        }
        if let Some(p) = self.play_ms
            && !(self.from_ms..self.until_ms).contains(&p)
        {
            base::bail!(InvalidArgument, "history.play_ms: must be between from_ms and until_ms");
        }
        Ok(())
    }
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryStartJson {
    /// A signed live-view request (hex, `crypto::live`) naming the camera and the browser's
    /// session key: the agent seals its answer for that key only.
    pub request: String,
    pub history: HistoryAsk,
}

/// A stretch of footage to prepare for posting, and what to blur in it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrepareJson {
    /// Wall time of the first frame wanted, ms since the epoch.
    pub start_ms: i64,
    /// Wall time just after the last frame wanted; at most 120 s after `start_ms`.
    pub end_ms: i64,
    /// Blur people (whole bodies). Default on.
    #[serde(default = "yes")]
    pub people: bool,
    /// Blur faces. Default on.
    #[serde(default = "yes")]
    pub faces: bool,
    /// Blur text: number plates, house numbers, signs. Default on.
    #[serde(default = "yes")]
    pub text: bool,
    /// Also seal the redacted clip as an object signed by the agent, for the household, and
    /// upload it: how a redacted clip answers a footage request.
    #[serde(default)]
    pub seal: bool,
    /// Keep the camera's recorded sound (where it records sound). Default off: a posted or
    /// shared clip is silent unless its owner chooses otherwise.
    #[serde(default)]
    pub keep_audio: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrepareClipJson {
    /// A signed live-view request (hex, `crypto::live`) naming the camera and the browser's
    /// session key: the agent seals the prepared clip for that key only.
    pub request: String,
    pub prepare: PrepareJson,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreparedJson {
    /// SHA-256 (lower-case hex) of the prepared MP4, which the member may then post.
    pub sha256: String,
    /// When the member asked for it sealed (to answer a footage request): the object the
    /// agent uploaded.
    pub object_id: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct MediaParams {
    /// photo (a JPEG without metadata) or clip (an MP4 the household's agent prepared).
    pub kind: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostMediaJson {
    pub id: String,
    /// photo or clip.
    pub kind: String,
    pub size_bytes: i64,
    /// SHA-256 of the bytes, so the poster can check that what is posted is what they previewed.
    pub sha256: String,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetHomeJson {
    /// The H3 cell of resolution 8 holding the home (hex, as H3 writes it), computed on the
    /// household's device from the exact point.
    pub home_cell: String,
    /// The exact point, sealed on the household's device for its own keys (hex; the server
    /// cannot open it).
    pub sealed_point: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostAreaJson {
    /// The H3 cell a post from this household shows (hex).
    pub cell: String,
    pub resolution: u8,
    /// Households with their home in it (at least `min_crowd`), counted when the area is
    /// chosen: in the home reply and the reply to a new post; null in the feed.
    pub households: Option<u64>,
    pub area_km2: f64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HomeJson {
    pub home_cell: String,
    pub sealed_point: String,
    /// K: the fewest households a post's area may hold.
    pub min_crowd: u32,
    /// Where this household's posts would show, if it may post.
    pub post_area: Option<PostAreaJson>,
    /// Why it may not post yet (too few households nearby), if so.
    pub cannot_post: Option<String>,
}

/// What a neighbourhood post is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PostCategory {
    Crime,
    Safety,
    UnusualActivity,
    LostPet,
    FoundPet,
    General,
}

impl PostCategory {
    pub const ALL: [PostCategory; 6] = [
        PostCategory::Crime,
        PostCategory::Safety,
        PostCategory::UnusualActivity,
        PostCategory::LostPet,
        PostCategory::FoundPet,
        PostCategory::General,
    ];

    /// The name stored and sent (`lost_pet`).
    pub fn as_str(self) -> &'static str {
        match self {
            PostCategory::Crime => "crime",
            PostCategory::Safety => "safety",
            PostCategory::UnusualActivity => "unusual_activity",
            PostCategory::LostPet => "lost_pet",
            PostCategory::FoundPet => "found_pet",
            PostCategory::General => "general",
        }
    }

    pub fn parse(s: &str) -> Option<PostCategory> {
        PostCategory::ALL.into_iter().find(|c| c.as_str() == s)
    }
}
/// The longest post, in characters.
pub const POST_CHARS_MAX: usize = 4000;

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPostJson {
    pub category: PostCategory,
    /// 1 to 4000 characters.
    pub body: String,
    /// Photos and clips uploaded for this post (`post-media` ids), at most 4, in order.
    /// Only when posting; an edit keeps the post's media.
    #[serde(default)]
    pub media: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostJson {
    pub id: String,
    pub category: PostCategory,
    pub body: String,
    /// Where it comes from: a cell holding at least K households, never a point.
    pub area: PostAreaJson,
    pub created_ms: i64,
    pub edited_ms: Option<i64>,
    /// Posted by the household asking. Nobody is told who posted anything else.
    pub mine: bool,
    /// Written by the account asking, which alone may edit or delete it.
    pub editable: bool,
    /// How many comments it has (0 where not counted, as in the reply to a new post).
    pub comments: i64,
    /// Why the operator hid it: shown only to its author, for whom alone it stays in the
    /// feed.
    pub hidden_reason: Option<String>,
    /// Its photos and clips, in order.
    pub media: Vec<PostMediaJson>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// 200 to 8000 metres around the household's home cell; default 2000.
    pub radius_m: Option<f64>,
    /// Posts made before this (ms since the epoch), for the next page; default now.
    pub before_ms: Option<i64>,
    /// With `before_ms`, the last post of the previous page: posts made at `before_ms` sort
    /// by id, and only those with a smaller id follow.
    pub before_id: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
}

/// The longest comment or relay message, in characters.
pub const COMMENT_CHARS_MAX: usize = 2000;

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCommentJson {
    /// 1 to 2000 characters.
    pub body: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentJson {
    pub id: String,
    /// "Poster" for the post's author, else "Neighbour 1", "Neighbour 2", … in the order
    /// each first commented on this post. Nobody is told an account.
    pub by: String,
    pub body: String,
    pub created_ms: i64,
    /// Written by the account asking, which alone may delete it.
    pub mine: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportJson {
    /// What is wrong with the post: 1 to 500 characters, read by the operator.
    pub reason: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedJson {
    pub reported: bool,
    /// False when this account had reported the post already.
    pub new: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RelaySendJson {
    /// 1 to 2000 characters.
    pub body: String,
    /// Contact details to share with this message (a name, a phone number…), at most 200
    /// characters; omitted, nothing about the sender is shared.
    pub reveal: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayThreadJson {
    pub id: String,
    pub post_id: String,
    pub post_category: PostCategory,
    /// "poster" when the account asking wrote the post, else "neighbour".
    pub role: String,
    pub last_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayMessageJson {
    pub id: String,
    pub from_me: bool,
    pub body: String,
    /// Contact details the sender chose to share with this message.
    pub reveal: Option<String>,
    pub created_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayConversationJson {
    pub thread: RelayThreadJson,
    pub messages: Vec<RelayMessageJson>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RulesJson {
    pub text: String,
    /// SHA-256 of the text (hex): what accepting them records.
    pub hash: String,
    /// The account asking accepted this version.
    pub accepted: bool,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptRulesJson {
    /// The `hash` of the rules read.
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportedPostJson {
    pub post: PostJson,
    /// Each report's reason and time, oldest first (reporters are not named).
    pub reports: Vec<ReportEntryJson>,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportEntryJson {
    pub reason: String,
    pub created_ms: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModerateJson {
    /// "hide" (with a reason the author sees) or "keep" (shows it again if hidden, and
    /// clears its reports).
    pub action: String,
    /// For "hide": 1 to 500 characters.
    pub reason: Option<String>,
}

/// A post made, deleted or hidden within reach of the household's feed: fetch the feed again.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPostSignalJson {
    /// The area of the post that was made, deleted or hidden (hex H3 cell).
    pub area: String,
}

/// The server's VAPID public key (RFC 8292), uncompressed P-256 in base64url: the
/// `applicationServerKey` a browser subscribes to Web Push with.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKey {
    pub vapid_public_key: String,
}

/// A browser's Web Push subscription for a household (the Push API's
/// `PushSubscription.toJSON()`, flattened).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPushSubscription {
    /// The push service's URL for this browser (https, at most 2048 bytes).
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed, base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
    /// The cameras whose events alert this browser; empty or absent: every camera.
    #[serde(default)]
    pub cameras: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscriptionJson {
    pub id: String,
    pub endpoint: String,
    /// Empty: every camera.
    pub cameras: Vec<String>,
    pub created_ms: i64,
}

/// What a Web Push message carries, encrypted for the subscribed browser (RFC 8291): only
/// what the server already knows. The app's service worker fetches and opens the sealed
/// metadata and snapshot it names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushMessage {
    pub household_id: String,
    pub event_id: String,
    pub camera: String,
    pub start_ms: i64,
    pub in_progress: bool,
    pub meta_object: String,
    pub snapshot_object: Option<String>,
}
