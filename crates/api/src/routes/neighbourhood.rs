//! The neighbourhood (design/neighbourhood.md): a household's home as the server may know
//! it (an H3 cell of resolution 8, plus the exact point sealed for the household's own
//! keys) and the area its posts will show.

use axum::extract::State;
use base::err;
use h3o::CellIndex;

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::secrets::{hex_decode, random_hex};
use crate::state::AppState;
use crate::types::*;

/// Posts read from a bucket at a time while filling a feed page.
const FEED_PAGE: i64 = 200;

/// The sealed point: a sealed object or similar envelope, never large.
const SEALED_POINT_BYTES_MAX: usize = 4096;

/// A home cell and its ancestors, finest first, as the database stores them.
fn chain(home: CellIndex) -> [i64; 4] {
    community::home_chain(home).map(|c| u64::from(c) as i64)
}

/// Household counts from the database, for `community::post_area`.
struct Counted {
    cells: [i64; 4],
    counts: [i64; 4],
}

impl community::Census for Counted {
    fn households_in(&self, cell: CellIndex) -> u64 {
        let id = u64::from(cell) as i64;
        self.cells.iter().position(|c| *c == id).map_or(0, |i| self.counts[i].max(0) as u64)
    }
}

async fn describe(st: &AppState, home: CellIndex, sealed_point: &[u8]) -> ApiResult<HomeJson> {
    let cells = chain(home);
    let census = Counted { cells, counts: st.db.census(cells).await? };
    let k = st.settings.min_crowd;
    let (post_area, cannot_post) = match community::post_area(home, &census, k) {
        Ok(area) => (
            Some(PostAreaJson {
                cell: area.to_string(),
                resolution: u8::from(area.resolution()),
                households: Some(community::Census::households_in(&census, area)),
                area_km2: area.area_km2(),
            }),
            None,
        ),
        Err(e) => (None, Some(e.msg().to_owned())),
    };
    Ok(HomeJson {
        home_cell: home.to_string(),
        sealed_point: crypto::keys::hex(sealed_point),
        min_crowd: k,
        post_area,
        cannot_post,
    })
}

#[utoipa::path(put, path = "/api/households/{household_id}/home", params(("household_id" = String, Path)), request_body = SetHomeJson, responses((status = 200, body = HomeJson), (status = 400, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn put_home(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<SetHomeJson>,
) -> ApiResult<Json<HomeJson>> {
    actor.member(&st, &hid, Permission::Settings).await?;
    let home = community::parse_home_cell("home_cell", &req.home_cell)?;
    let sealed = hex_decode("sealed_point", &req.sealed_point, SEALED_POINT_BYTES_MAX)?;
    if sealed.len() < 16 {
        return Err(err!(InvalidArgument, "sealed_point: expected the sealed point, at least 16 bytes").into());
    }
    st.db.set_home(&hid, chain(home), &sealed, st.now_ms()).await?;
    Ok(Json(describe(&st, home, &sealed).await?))
}

#[utoipa::path(get, path = "/api/households/{household_id}/home", params(("household_id" = String, Path)), responses((status = 200, body = HomeJson), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn get_home(State(st): State<AppState>, actor: Actor, Path(hid): Path<String>) -> ApiResult<Json<HomeJson>> {
    actor.member(&st, &hid, Permission::View).await?;
    let (cell, sealed) = st.db.home(&hid).await?.ok_or_else(|| err!(NotFound, "home: not set yet"))?;
    let home =
        CellIndex::try_from(cell as u64).map_err(|_| err!(DataLoss, "home: stored cell {cell:#x} is not a cell"))?;
    Ok(Json(describe(&st, home, &sealed).await?))
}

/// The household's home cell, or a 409 saying it must be set first.
async fn home_of(st: &AppState, hid: &str) -> ApiResult<CellIndex> {
    let (cell, _) = st
        .db
        .home(hid)
        .await?
        .ok_or_else(|| err!(FailedPrecondition, "home: set your home location first (Settings → Neighbourhood)"))?;
    Ok(CellIndex::try_from(cell as u64).map_err(|_| err!(DataLoss, "home: stored cell {cell:#x} is not a cell"))?)
}

fn check_post(category: &str, body: &str) -> Result<(), base::Error> {
    if !POST_CATEGORIES.contains(&category) {
        base::bail!(InvalidArgument, "category: expected one of {}, got {category:?}", POST_CATEGORIES.join(", "));
    }
    let n = body.trim().chars().count();
    if n == 0 || body.chars().count() > POST_CHARS_MAX {
        base::bail!(InvalidArgument, "body: expected 1 to {POST_CHARS_MAX} characters, got {n}");
    }
    if body.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        base::bail!(InvalidArgument, "body: control characters other than line breaks and tabs are not allowed");
    }
    Ok(())
}

fn post_json(p: db::server::Post, mine: bool) -> ApiResult<PostJson> {
    let area = CellIndex::try_from(p.area_cell as u64)
        .map_err(|_| err!(DataLoss, "post {}: stored area {:#x} is not a cell", p.id, p.area_cell))?;
    Ok(PostJson {
        id: p.id,
        category: p.category,
        body: p.body,
        area: PostAreaJson {
            cell: area.to_string(),
            resolution: u8::from(area.resolution()),
            households: None,
            area_km2: area.area_km2(),
        },
        created_ms: p.created_ms,
        edited_ms: p.edited_ms,
        mine,
    })
}

#[utoipa::path(post, path = "/api/households/{household_id}/posts", params(("household_id" = String, Path)), request_body = NewPostJson, responses((status = 200, body = PostJson), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn create_post(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<NewPostJson>,
) -> ApiResult<Json<PostJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    check_post(&req.category, &req.body)?;
    let home = home_of(&st, &hid).await?;
    let cells = chain(home);
    let census = Counted { cells, counts: st.db.census(cells).await? };
    let area = community::post_area(home, &census, st.settings.min_crowd)?;
    let p = db::server::Post {
        id: random_hex(16),
        household_id: hid,
        author_id: m.account_id.clone(),
        category: req.category,
        body: req.body,
        area_cell: u64::from(area) as i64,
        bucket: u64::from(community::bucket_of(area)) as i64,
        created_ms: st.now_ms(),
        edited_ms: None,
    };
    st.db.insert_post(&p).await?;
    let mut j = post_json(p, true)?;
    j.area.households = Some(community::Census::households_in(&census, area));
    Ok(Json(j))
}

#[utoipa::path(get, path = "/api/households/{household_id}/feed", params(("household_id" = String, Path), FeedParams), responses((status = 200, body = Vec<PostJson>), (status = 409, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn feed(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Query(q): Query<FeedParams>,
) -> ApiResult<Json<Vec<PostJson>>> {
    actor.member(&st, &hid, Permission::Neighbourhood).await?;
    let radius = q.radius_m.unwrap_or(2_000.0);
    community::check_radius("radius_m", radius)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(err!(InvalidArgument, "limit: expected 1 to 100, got {limit}").into());
    }
    let home = home_of(&st, &hid).await?;
    let buckets: Vec<i64> = community::feed_buckets(home, radius).into_iter().map(|b| u64::from(b) as i64).collect();
    // Per bucket, newest first, the first `limit` posts the exact rule accepts (a bucket
    // can hold many newer posts beyond the radius); then the newest `limit` of all.
    let before = q.before_ms.unwrap_or(i64::MAX);
    let mut accepted: Vec<db::server::Post> = Vec::new();
    for b in buckets {
        let mut cursor = (before, String::new());
        let mut got = 0;
        loop {
            // An empty id sorts before every id: `created_ms = before` rows are excluded.
            let page = st.db.posts_in_bucket(b, (cursor.0, &cursor.1), FEED_PAGE).await?;
            let n = page.len() as i64;
            for p in page {
                cursor = (p.created_ms, p.id.clone());
                let Ok(area) = CellIndex::try_from(p.area_cell as u64) else { continue };
                if got < limit && community::in_feed(home, radius, area) {
                    accepted.push(p);
                    got += 1;
                }
            }
            if got >= limit || n < FEED_PAGE {
                break;
            }
        }
    }
    accepted.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| b.id.cmp(&a.id)));
    accepted.truncate(limit as usize);
    let out = accepted
        .into_iter()
        .map(|p| {
            let mine = p.household_id == hid;
            post_json(p, mine)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(out))
}

/// The post, if `actor` wrote it.
async fn own_post(st: &AppState, actor: &Actor, pid: &str) -> ApiResult<db::server::Post> {
    let account = actor.account()?;
    crate::types::check_id("post_id", pid)?;
    let p = st.db.post(pid).await?.ok_or_else(|| err!(NotFound, "post_id: no post {pid}"))?;
    if p.author_id != account.id {
        return Err(err!(PermissionDenied, "post_id: only its author may change post {pid}").into());
    }
    Ok(p)
}

#[utoipa::path(put, path = "/api/posts/{post_id}", params(("post_id" = String, Path)), request_body = NewPostJson, responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn edit_post(
    State(st): State<AppState>,
    actor: Actor,
    Path(pid): Path<String>,
    Json(req): Json<NewPostJson>,
) -> ApiResult<Json<PostJson>> {
    let p = own_post(&st, &actor, &pid).await?;
    check_post(&req.category, &req.body)?;
    let now = st.now_ms();
    st.db.edit_post(&pid, &req.category, &req.body, now).await?;
    Ok(Json(post_json(db::server::Post { category: req.category, body: req.body, edited_ms: Some(now), ..p }, true)?))
}

#[utoipa::path(delete, path = "/api/posts/{post_id}", params(("post_id" = String, Path)), responses((status = 200, body = crate::types::Ok), (status = 403, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn delete_post(
    State(st): State<AppState>,
    actor: Actor,
    Path(pid): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    own_post(&st, &actor, &pid).await?;
    st.db.delete_post(&pid).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}
