//! The transparency log's heads, entries and proofs, and the public areas entries name.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogHeadJson {
    pub size: u64,
    /// The tree's head hash, hex.
    pub root: String,
    pub timestamp_ms: i64,
    /// The log's Ed25519 key, hex, and its fingerprint.
    pub log_key: String,
    pub fingerprint: String,
    /// The signed head (`"PLTH"` format), hex: what a verifier keeps.
    pub signed: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntryJson {
    pub index: i64,
    pub kind: String,
    pub created_ms: i64,
    /// The entry's JSON text: its UTF-8 bytes are the leaf.
    pub body: String,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntriesJson {
    pub entries: Vec<LogEntryJson>,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    /// The first index.
    pub start: i64,
    /// One past the last index; at most `start + 1000`, and at most the log's size.
    pub end: i64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    pub index: u64,
    /// The size of the tree the proof is for (a head's size).
    pub size: u64,
}

#[derive(Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    pub from: u64,
    pub to: u64,
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProofJson {
    /// The proof's hashes, hex, in the order RFC 9162 gives them.
    pub hashes: Vec<String>,
}

/// A public area: a circle, or a polygon of 3 to 32 points (the first is not repeated at
/// the end), in degrees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "shape", rename_all = "snake_case", deny_unknown_fields)]
pub enum Area {
    Circle { lat: f64, lon: f64, radius_m: f64 },
    Polygon { points: Vec<[f64; 2]> },
}
