//! Pieces the post and post-media routes share: a household's home cell and media as JSON.

use base::err;
use h3o::CellIndex;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::types::PostMediaJson;

/// The household's home cell, or a 409 saying it must be set first.
pub(crate) async fn home_of(st: &AppState, hid: &str) -> ApiResult<CellIndex> {
    let (cell, _) = st
        .db
        .home(hid)
        .await?
        .ok_or_else(|| err!(FailedPrecondition, "home: set your home location first (Settings → Neighbourhood)"))?;
    Ok(CellIndex::try_from(cell as u64).map_err(|_| err!(DataLoss, "home: stored cell {cell:#x} is not a cell"))?)
}

/// Media on one post.
pub const MEDIA_PER_POST_MAX: usize = 4;

pub fn media_json(m: &db::server::PostMedia) -> PostMediaJson {
    PostMediaJson { id: m.id.clone(), kind: m.kind.clone(), size_bytes: m.size_bytes, sha256: m.hash.clone() }
}
