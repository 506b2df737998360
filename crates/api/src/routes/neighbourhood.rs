//! The neighbourhood (design/neighbourhood.md): a household's home as the server may know
//! it (an H3 cell of resolution 8, plus the exact point sealed for the household's own
//! keys) and the area its posts will show.

use axum::extract::State;
use base::err;
use h3o::CellIndex;

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::posts::home_of;
use crate::secrets::{hex_decode, random_hex};
use crate::state::{AppState, Metrics};
use crate::types::*;

/// The per-area post counts (`Inner::area_posts`), loaded on first use.
pub(crate) async fn area_counts(st: &AppState) -> ApiResult<&std::sync::Mutex<std::collections::HashMap<i64, i64>>> {
    Ok(st
        .area_posts
        .get_or_try_init(|| async { Ok::<_, base::Error>(std::sync::Mutex::new(st.db.area_post_counts().await?)) })
        .await?)
}

/// Counts a post in or out of its area (`delta` ±1). Callers load the counts before they
/// store or delete the post, so that the load never misses a post nor counts it twice.
async fn count_post(st: &AppState, area: i64, delta: i64) -> ApiResult<()> {
    *area_counts(st).await?.lock().expect("area counts").entry(area).or_default() += delta;
    Ok(())
}

/// What one account may write to the neighbourhood in an hour: posts, comments, reports
/// and new conversations through the relay. Enough for anyone in good faith; a flood is
/// refused with a 429 that says when to try again.
const HOURLY: [(i64, &str); 4] = [(10, "posts"), (60, "comments"), (30, "reports"), (20, "new conversations")];

#[derive(Clone, Copy)]
enum Write {
    Post = 0,
    Comment = 1,
    Report = 2,
    Conversation = 3,
}

/// Refuses a write of `kind` when `account` has made its hourly allowance of them.
async fn within_limit(st: &AppState, account: &str, kind: Write) -> ApiResult<()> {
    let counts = st.db.recent_writes(account, st.now_ms() - 3_600_000).await?;
    let (max, what) = HOURLY[kind as usize];
    if counts[kind as usize] >= max {
        return Err(err!(ResourceExhausted, "rate: at most {max} {what} an hour; try again later").into());
    }
    Ok(())
}

/// The most comments a post takes.
const COMMENTS_MAX: i64 = 500;

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

/// How often a home may move to another cell: a move, and a correction or two, a month.
/// Moving is how an account would look into other areas' footage requests and feeds, and
/// how it would count itself into a request's households (design/agencies.md).
pub const HOME_MOVES_MAX: i64 = 2;
pub const HOME_MOVES_WINDOW_MS: i64 = 30 * 86_400_000;

#[utoipa::path(put, path = "/api/households/{household_id}/home", params(("household_id" = String, Path)), request_body = SetHomeJson, responses((status = 200, body = HomeJson), (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)), tag = "neighbourhood")]
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
    let set = st.db.set_home(&hid, chain(home), &sealed, st.now_ms(), HOME_MOVES_MAX, HOME_MOVES_WINDOW_MS).await?;
    match set {
        db::server::HomeSet::Moved => Metrics::add(&st.metrics.home_moves, 1),
        db::server::HomeSet::TooManyMoves => {
            Metrics::add(&st.metrics.home_moves_refused, 1);
            return Err(err!(
                ResourceExhausted,
                "home_cell: a home may move at most {HOME_MOVES_MAX} times in 30 days; it has moved that often \
                 already, so it stays where it is for now"
            )
            .into());
        }
        db::server::HomeSet::First | db::server::HomeSet::Same => {}
    }
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

/// A post's body (its category is a `PostCategory`, checked when the request is read).
fn check_post(body: &str) -> Result<(), base::Error> {
    check_text("body", body, POST_CHARS_MAX)
}

/// A category as stored: always one the API accepted.
fn stored_category(post: &str, s: &str) -> Result<PostCategory, base::Error> {
    PostCategory::parse(s).ok_or_else(|| err!(DataLoss, "post {post}: stored category {s:?} is not one"))
}

fn post_json(p: db::server::Post, hid: &str, account: &str, comments: i64) -> ApiResult<PostJson> {
    let area = CellIndex::try_from(p.area_cell as u64)
        .map_err(|_| err!(DataLoss, "post {}: stored area {:#x} is not a cell", p.id, p.area_cell))?;
    let category = stored_category(&p.id, &p.category)?;
    Ok(PostJson {
        mine: p.household_id == hid,
        editable: p.author_id == account,
        id: p.id,
        category,
        body: p.body,
        area: PostAreaJson {
            cell: area.to_string(),
            resolution: u8::from(area.resolution()),
            households: None,
            area_km2: area.area_km2(),
        },
        created_ms: p.created_ms,
        edited_ms: p.edited_ms,
        comments,
        hidden_reason: p.hidden_reason,
        media: Vec::new(),
    })
}

/// Fills in each post's photos and clips (one query for the page).
async fn with_media(st: &AppState, mut posts: Vec<PostJson>) -> ApiResult<Vec<PostJson>> {
    let ids: Vec<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    let media = st.db.media_of_posts(&ids).await?;
    for p in &mut posts {
        p.media = media
            .iter()
            .filter(|m| m.post_id.as_deref() == Some(p.id.as_str()))
            .map(crate::posts::media_json)
            .collect();
    }
    Ok(posts)
}

#[utoipa::path(post, path = "/api/households/{household_id}/posts", params(("household_id" = String, Path)), request_body = NewPostJson, responses((status = 200, body = PostJson), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn create_post(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<NewPostJson>,
) -> ApiResult<Json<PostJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    check_post(&req.body)?;
    if req.media.len() > crate::posts::MEDIA_PER_POST_MAX {
        return Err(err!(
            InvalidArgument,
            "media: at most {} photos and clips on a post, got {}",
            crate::posts::MEDIA_PER_POST_MAX,
            req.media.len()
        )
        .into());
    }
    for (i, id) in req.media.iter().enumerate() {
        crate::types::check_id(&format!("media[{i}]"), id)?;
        if req.media[..i].contains(id) {
            return Err(err!(InvalidArgument, "media[{i}]: {id} is listed twice").into());
        }
    }
    if st.db.rules_accepted(&m.account_id).await?.as_deref() != Some(rules_hash(&st.settings.posting_rules).as_str()) {
        return Err(err!(FailedPrecondition, "rules: read and accept the neighbourhood's posting rules first").into());
    }
    within_limit(&st, &m.account_id, Write::Post).await?;
    let home = home_of(&st, &hid).await?;
    let cells = chain(home);
    let census = Counted { cells, counts: st.db.census(cells).await? };
    let area = community::post_area(home, &census, st.settings.min_crowd)?;
    let p = db::server::Post {
        id: random_hex(16),
        household_id: hid.clone(),
        author_id: m.account_id.clone(),
        category: req.category.as_str().to_owned(),
        body: req.body,
        area_cell: u64::from(area) as i64,
        created_ms: st.now_ms(),
        edited_ms: None,
        hidden_reason: None,
        hidden_ms: None,
    };
    area_counts(&st).await?;
    if let Err(i) = st.db.insert_post_with_media(&p, &req.media).await? {
        return Err(err!(
            InvalidArgument,
            "media[{i}]: {} is not a photo or clip you uploaded for a new post (or it is on a post already)",
            req.media[i]
        )
        .into());
    }
    count_post(&st, p.area_cell, 1).await?;
    // Nobody listening is not an error.
    let _ = st.new_posts.send(p.area_cell);
    let mut j = post_json(p, &hid, &m.account_id, 0)?;
    j.area.households = Some(community::Census::households_in(&census, area));
    let j = with_media(&st, vec![j]).await?.pop().expect("one post");
    Ok(Json(j))
}

#[utoipa::path(get, path = "/api/households/{household_id}/feed", params(("household_id" = String, Path), FeedParams), responses((status = 200, body = Vec<PostJson>), (status = 409, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn feed(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Query(q): Query<FeedParams>,
) -> ApiResult<Json<Vec<PostJson>>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    let radius = q.radius_m.unwrap_or(2_000.0);
    community::check_radius("radius_m", radius)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(err!(InvalidArgument, "limit: expected 1 to 100, got {limit}").into());
    }
    let before_id = q.before_id.unwrap_or_default();
    if !before_id.is_empty() {
        crate::types::check_id("before_id", &before_id)?;
    }
    let home = home_of(&st, &hid).await?;
    let cells = community::feed_cells(home, radius);
    // The areas with posts, the fullest first (a page fills from them, and its floor then
    // skips most of the rest); the database picks the plan from their counts.
    let (areas, total) = {
        let counts = area_counts(&st).await?.lock().expect("area counts");
        let mut areas: Vec<(i64, i64)> = cells
            .iter()
            .map(|c| u64::from(*c) as i64)
            .filter_map(|a| counts.get(&a).filter(|n| **n > 0).map(|n| (a, *n)))
            .collect();
        areas.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        (areas, counts.values().sum::<i64>())
    };
    let before = (q.before_ms.unwrap_or(i64::MAX), before_id.as_str());
    let items = st.db.feed(&areas, total, before, limit, &m.account_id).await?;
    let out =
        items.into_iter().map(|i| post_json(i.post, &hid, &m.account_id, i.comments)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(with_media(&st, out).await?))
}

#[utoipa::path(get, path = "/api/households/{household_id}/feed/live", params(("household_id" = String, Path)), responses((status = 200, content_type = "text/event-stream", body = NewPostSignalJson)), tag = "neighbourhood")]
pub async fn feed_live(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<impl axum::response::IntoResponse> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    actor.member(&st, &hid, Permission::Neighbourhood).await?;
    let home = home_of(&st, &hid).await?;
    // Each post made, deleted or hidden within the widest radius is a signal to fetch the
    // feed again (which applies the member's own radius); the signal carries only the area
    // the feed would show.
    let stream = crate::relay::broadcast_stream(st.new_posts.subscribe()).filter_map(move |area| {
        let near =
            CellIndex::try_from(area as u64).ok().filter(|c| community::in_feed(home, community::RADIUS_MAX_M, *c));
        futures::future::ready(near.map(|cell| {
            Ok::<_, std::convert::Infallible>(
                Event::default()
                    .event("post")
                    .json_data(NewPostSignalJson { area: cell.to_string() })
                    .expect("serializable"),
            )
        }))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))))
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
    check_post(&req.body)?;
    if !req.media.is_empty() {
        return Err(err!(
            InvalidArgument,
            "media: an edit keeps the post's photos and clips; to change them, delete the post and post again"
        )
        .into());
    }
    let now = st.now_ms();
    st.db.edit_post(&pid, req.category.as_str(), &req.body, now).await?;
    let comments = st.db.comment_count(&pid).await?;
    let hid = p.household_id.clone();
    let account = p.author_id.clone();
    let p = db::server::Post { category: req.category.as_str().to_owned(), body: req.body, edited_ms: Some(now), ..p };
    let j = post_json(p, &hid, &account, comments)?;
    Ok(Json(with_media(&st, vec![j]).await?.pop().expect("one post")))
}

#[utoipa::path(delete, path = "/api/posts/{post_id}", params(("post_id" = String, Path)), responses((status = 200, body = crate::types::Ok), (status = 403, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn delete_post(
    State(st): State<AppState>,
    actor: Actor,
    Path(pid): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    let p = own_post(&st, &actor, &pid).await?;
    area_counts(&st).await?;
    let (existed, doomed) = st.db.delete_post(&pid, st.now_ms()).await?;
    if existed {
        count_post(&st, p.area_cell, -1).await?;
        // Open feeds drop it.
        let _ = st.new_posts.send(p.area_cell);
    }
    // Its photos and clips go now, not at the collector's next pass; a failure here leaves
    // them doomed, and the collector finishes the job.
    if let Err(e) = st.blobs.delete_doomed(&st.db, &doomed).await {
        tracing::warn!("deleting a post's media: {e}");
    }
    Ok(Json(crate::types::Ok { ok: true }))
}

/// The posting rules a server has unless its operator writes its own.
pub const DEFAULT_RULES: &str = "\
Posting rules for this neighbourhood

1. Post about safety and the neighbourhood: crime, hazards, unusual activity, lost and found pets.
2. Describe what happened, not who someone looks like. No posts about a person's race, ethnicity, religion or other protected characteristics as a reason for suspicion.
3. No names, addresses, number plates or faces of private people. Clips are blurred by default; keep it that way unless someone is in danger.
4. No harassment, threats or calls to confront anyone. In an emergency, call the emergency services first.
5. Do not post footage of lawful protests, gatherings or speech.
6. The server's operator may hide a post that breaks these rules; its author is told why.";

/// The most characters of a report's or a moderation decision's reason.
const REASON_CHARS_MAX: usize = 500;

/// The most characters of contact details shared through the relay.
const REVEAL_CHARS_MAX: usize = 200;

fn check_text(field: &str, text: &str, max: usize) -> Result<(), base::Error> {
    let n = text.trim().chars().count();
    if n == 0 || text.chars().count() > max {
        base::bail!(InvalidArgument, "{field}: expected 1 to {max} characters, got {n}");
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        base::bail!(InvalidArgument, "{field}: control characters other than line breaks and tabs are not allowed");
    }
    if text.chars().any(crate::types::is_bidi_control) {
        base::bail!(
            InvalidArgument,
            "{field}: bidirectional control characters (which can disguise text) are not allowed"
        );
    }
    Ok(())
}

/// The hash that names a version of the rules.
fn rules_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    crypto::keys::hex(&Sha256::digest(text.as_bytes()))
}

/// The post `pid` as a resident of `hid` (account `account`) may see it: a post of the
/// household, or one whose area is within the widest feed of the household's home; hidden
/// posts only for their author. Anything else is "no such post", whether or not it exists.
async fn visible_post(st: &AppState, hid: &str, account: &str, pid: &str) -> ApiResult<db::server::Post> {
    crate::types::check_id("post_id", pid)?;
    let missing = || err!(NotFound, "post_id: no post {pid} in this household's neighbourhood");
    let p = st.db.post(pid).await?.ok_or_else(missing)?;
    if p.hidden_ms.is_some() && p.author_id != account {
        return Err(missing().into());
    }
    if p.household_id != hid {
        let home = home_of(st, hid).await?;
        let area = CellIndex::try_from(p.area_cell as u64)
            .map_err(|_| err!(DataLoss, "post {pid}: stored area {:#x} is not a cell", p.area_cell))?;
        if !community::in_feed(home, community::RADIUS_MAX_M, area) {
            return Err(missing().into());
        }
    }
    Ok(p)
}

fn comment_json(c: db::server::Comment, account: &str) -> CommentJson {
    CommentJson {
        by: if c.alias == 0 { "Poster".to_owned() } else { format!("Neighbour {}", c.alias) },
        mine: c.author_id == account,
        id: c.id,
        body: c.body,
        created_ms: c.created_ms,
    }
}

#[utoipa::path(get, path = "/api/households/{household_id}/posts/{post_id}/comments", params(("household_id" = String, Path), ("post_id" = String, Path)), responses((status = 200, body = Vec<CommentJson>), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn comments(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, pid)): Path<(String, String)>,
) -> ApiResult<Json<Vec<CommentJson>>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    visible_post(&st, &hid, &m.account_id, &pid).await?;
    let cs = st.db.comments(&pid, COMMENTS_MAX).await?;
    Ok(Json(cs.into_iter().map(|c| comment_json(c, &m.account_id)).collect()))
}

#[utoipa::path(post, path = "/api/households/{household_id}/posts/{post_id}/comments", params(("household_id" = String, Path), ("post_id" = String, Path)), request_body = NewCommentJson, responses((status = 200, body = CommentJson), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn add_comment(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, pid)): Path<(String, String)>,
    Json(req): Json<NewCommentJson>,
) -> ApiResult<Json<CommentJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    check_text("body", &req.body, COMMENT_CHARS_MAX)?;
    visible_post(&st, &hid, &m.account_id, &pid).await?;
    if st.db.comment_count(&pid).await? >= COMMENTS_MAX {
        return Err(
            err!(FailedPrecondition, "post_id: post {pid} has {COMMENTS_MAX} comments, the most it takes").into()
        );
    }
    within_limit(&st, &m.account_id, Write::Comment).await?;
    let c = st.db.add_comment(&random_hex(16), &pid, &m.account_id, &req.body, st.now_ms()).await?;
    Ok(Json(comment_json(c, &m.account_id)))
}

#[utoipa::path(delete, path = "/api/comments/{comment_id}", params(("comment_id" = String, Path)), responses((status = 200, body = crate::types::Ok), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn delete_comment(
    State(st): State<AppState>,
    actor: Actor,
    Path(cid): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    let account = actor.account()?;
    crate::types::check_id("comment_id", &cid)?;
    let c = st.db.comment(&cid).await?.ok_or_else(|| err!(NotFound, "comment_id: no comment {cid}"))?;
    if c.author_id != account.id {
        return Err(err!(PermissionDenied, "comment_id: only its author may delete comment {cid}").into());
    }
    st.db.delete_comment(&cid).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(post, path = "/api/households/{household_id}/posts/{post_id}/report", params(("household_id" = String, Path), ("post_id" = String, Path)), request_body = ReportJson, responses((status = 200, body = ReportedJson), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn report_post(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, pid)): Path<(String, String)>,
    Json(req): Json<ReportJson>,
) -> ApiResult<Json<ReportedJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    check_text("reason", &req.reason, REASON_CHARS_MAX)?;
    let p = visible_post(&st, &hid, &m.account_id, &pid).await?;
    if p.author_id == m.account_id {
        return Err(err!(FailedPrecondition, "post_id: you wrote post {pid}; edit or delete it instead").into());
    }
    within_limit(&st, &m.account_id, Write::Report).await?;
    let new = st.db.report_post(&pid, &m.account_id, req.reason.trim(), st.now_ms()).await?;
    tracing::info!(post = %pid, "neighbourhood post reported");
    Ok(Json(ReportedJson { reported: true, new }))
}

fn relay_thread_json(t: &db::server::RelayThread, account: &str) -> ApiResult<RelayThreadJson> {
    Ok(RelayThreadJson {
        id: t.id.clone(),
        post_id: t.post_id.clone(),
        post_category: stored_category(&t.post_id, &t.post_category)?,
        role: if t.author_id == account { "poster" } else { "neighbour" }.to_owned(),
        last_ms: t.last_ms,
    })
}

async fn conversation(st: &AppState, t: db::server::RelayThread, account: &str) -> ApiResult<RelayConversationJson> {
    let poster = t.author_id == account;
    let stored = st.db.relay_messages(&t.id).await?;
    let mut thread = relay_thread_json(&t, account)?;
    if let Some(m) = stored.last() {
        thread.last_ms = m.created_ms;
    }
    let messages = stored
        .into_iter()
        .map(|m| RelayMessageJson {
            from_me: m.from_author == poster,
            id: m.id,
            body: m.body,
            reveal: m.reveal,
            created_ms: m.created_ms,
        })
        .collect();
    Ok(RelayConversationJson { thread, messages })
}

fn relay_message(req: &RelaySendJson, from_author: bool, now_ms: i64) -> ApiResult<db::server::RelayMessage> {
    check_text("body", &req.body, COMMENT_CHARS_MAX)?;
    let reveal = match req.reveal.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => {
            check_text("reveal", r, REVEAL_CHARS_MAX)?;
            Some(r.to_owned())
        }
    };
    Ok(db::server::RelayMessage { id: random_hex(16), from_author, body: req.body.clone(), reveal, created_ms: now_ms })
}

#[utoipa::path(post, path = "/api/households/{household_id}/posts/{post_id}/contact", params(("household_id" = String, Path), ("post_id" = String, Path)), request_body = RelaySendJson, responses((status = 200, body = RelayConversationJson), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn contact_poster(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, pid)): Path<(String, String)>,
    Json(req): Json<RelaySendJson>,
) -> ApiResult<Json<RelayConversationJson>> {
    let m = actor.member(&st, &hid, Permission::Neighbourhood).await?;
    let msg = relay_message(&req, false, st.now_ms())?;
    let p = visible_post(&st, &hid, &m.account_id, &pid).await?;
    if p.author_id == m.account_id {
        return Err(err!(FailedPrecondition, "post_id: you wrote post {pid}").into());
    }
    if st.db.relay_thread_of(&pid, &m.account_id).await?.is_none() {
        within_limit(&st, &m.account_id, Write::Conversation).await?;
    }
    let tid = st.db.relay_thread_for(&random_hex(16), &pid, &m.account_id, st.now_ms()).await?;
    st.db.add_relay_message(&tid, &msg).await?;
    let t = st.db.relay_thread(&tid).await?.ok_or_else(|| err!(Internal, "relay thread {tid} vanished"))?;
    Ok(Json(conversation(&st, t, &m.account_id).await?))
}

#[utoipa::path(get, path = "/api/relay", responses((status = 200, body = Vec<RelayThreadJson>)), tag = "neighbourhood")]
pub async fn relay_threads(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<RelayThreadJson>>> {
    let account = actor.account()?;
    let ts = st.db.relay_threads(&account.id).await?;
    Ok(Json(ts.iter().map(|t| relay_thread_json(t, &account.id)).collect::<ApiResult<_>>()?))
}

/// The thread, if `account` is one of its two sides.
async fn own_thread(st: &AppState, account: &str, tid: &str) -> ApiResult<db::server::RelayThread> {
    crate::types::check_id("thread_id", tid)?;
    match st.db.relay_thread(tid).await? {
        Some(t) if t.asker_id == account || t.author_id == account => Ok(t),
        _ => Err(err!(NotFound, "thread_id: no conversation {tid} of yours").into()),
    }
}

#[utoipa::path(get, path = "/api/relay/{thread_id}", params(("thread_id" = String, Path)), responses((status = 200, body = RelayConversationJson), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn relay_conversation(
    State(st): State<AppState>,
    actor: Actor,
    Path(tid): Path<String>,
) -> ApiResult<Json<RelayConversationJson>> {
    let account = actor.account()?;
    let t = own_thread(&st, &account.id, &tid).await?;
    Ok(Json(conversation(&st, t, &account.id).await?))
}

#[utoipa::path(post, path = "/api/relay/{thread_id}", params(("thread_id" = String, Path)), request_body = RelaySendJson, responses((status = 200, body = RelayConversationJson), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn relay_reply(
    State(st): State<AppState>,
    actor: Actor,
    Path(tid): Path<String>,
    Json(req): Json<RelaySendJson>,
) -> ApiResult<Json<RelayConversationJson>> {
    let account = actor.account()?;
    let t = own_thread(&st, &account.id, &tid).await?;
    let msg = relay_message(&req, t.author_id == account.id, st.now_ms())?;
    st.db.add_relay_message(&tid, &msg).await?;
    Ok(Json(conversation(&st, t, &account.id).await?))
}

#[utoipa::path(get, path = "/api/neighbourhood/rules", responses((status = 200, body = RulesJson)), tag = "neighbourhood")]
pub async fn rules(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<RulesJson>> {
    let account = actor.account()?;
    let hash = rules_hash(&st.settings.posting_rules);
    let accepted = st.db.rules_accepted(&account.id).await?.as_deref() == Some(hash.as_str());
    Ok(Json(RulesJson { text: st.settings.posting_rules.clone(), hash, accepted }))
}

#[utoipa::path(post, path = "/api/neighbourhood/rules", request_body = AcceptRulesJson, responses((status = 200, body = RulesJson), (status = 409, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn accept_rules(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<AcceptRulesJson>,
) -> ApiResult<Json<RulesJson>> {
    let account = actor.account()?;
    let hash = rules_hash(&st.settings.posting_rules);
    if req.hash != hash {
        return Err(err!(
            FailedPrecondition,
            "hash: the posting rules have changed since you read them; read them again"
        )
        .into());
    }
    st.db.accept_rules(&account.id, &hash, st.now_ms()).await?;
    Ok(Json(RulesJson { text: st.settings.posting_rules.clone(), hash, accepted: true }))
}

#[utoipa::path(get, path = "/api/moderation/reports", responses((status = 200, body = Vec<ReportedPostJson>), (status = 403, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn moderation_queue(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<ReportedPostJson>>> {
    actor.operator(&st)?;
    let mut out = Vec::new();
    for r in st.db.reported_posts(200).await? {
        out.push(ReportedPostJson {
            post: with_media(&st, vec![post_json(r.post, "", "", 0)?]).await?.pop().expect("one post"),
            reports: r.reports.into_iter().map(|(reason, created_ms)| ReportEntryJson { reason, created_ms }).collect(),
        });
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/moderation/posts/{post_id}", params(("post_id" = String, Path)), request_body = ModerateJson, responses((status = 200, body = PostJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "neighbourhood")]
pub async fn moderate(
    State(st): State<AppState>,
    actor: Actor,
    Path(pid): Path<String>,
    Json(req): Json<ModerateJson>,
) -> ApiResult<Json<PostJson>> {
    let op = actor.operator(&st)?;
    crate::types::check_id("post_id", &pid)?;
    let reason = match (req.action.as_str(), req.reason.as_deref().map(str::trim).filter(|r| !r.is_empty())) {
        ("hide", Some(r)) => {
            check_text("reason", r, REASON_CHARS_MAX)?;
            Some(r)
        }
        ("hide", None) => {
            return Err(err!(InvalidArgument, "reason: hiding a post needs a reason, which its author is shown").into());
        }
        ("keep", _) => None,
        (a, _) => return Err(err!(InvalidArgument, "action: expected hide or keep, got {a:?}").into()),
    };
    let now = st.now_ms();
    if !st.db.set_hidden(&pid, reason, now).await? {
        return Err(err!(NotFound, "post_id: no post {pid}").into());
    }
    tracing::info!(post = %pid, operator = %op.id, action = %req.action, "neighbourhood post moderated");
    let p = st.db.post(&pid).await?.ok_or_else(|| err!(NotFound, "post_id: no post {pid}"))?;
    let _ = st.new_posts.send(p.area_cell);
    Ok(Json(post_json(p, "", "", 0)?))
}
