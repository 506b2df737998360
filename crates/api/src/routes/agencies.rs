//! Agencies and footage requests (design/agencies.md): an account applies as an agency; an
//! operator verifies it out of band and the verification, with the agency's keys, goes
//! into the transparency log; a verified agency asks the households of an area for footage
//! of a time window, under rules enforced here, and each request is logged as it is made.
//! Households are offered the requests of their home cell; their own device checks the
//! exact home point, so neither the agency nor the server learns who was shown what.

use axum::extract::State;
use base::err;
use community::area::Area as Shape;
use crypto::keys::{PublicKeys, hex};
use db::server::{Agency, FootageRequest, RequestRefused};

use crate::auth::Actor;
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::log::{Area, Entry, Record};
use crate::requests::{expire_due, request_json};
use crate::secrets::random_hex;
use crate::state::AppState;
use crate::types::*;
use crate::types::{FootageRequestJson, check_id, check_text};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// A request's window: 15 minutes to 12 hours, ended within the last 30 days.
pub const WINDOW_MIN_MS: i64 = 15 * MINUTE_MS;
pub const WINDOW_MAX_MS: i64 = 12 * HOUR_MS;
pub const WINDOW_AGE_MAX_MS: i64 = 30 * DAY_MS;
/// A request is offered for at most 14 days.
pub const EXPIRY_MAX_MS: i64 = 14 * DAY_MS;
/// Requests per case number.
pub const PER_CASE_MAX: i64 = 2;
/// Requests per agency: per hour and per day.
pub const PER_HOUR_MAX: i64 = 5;
pub const PER_DAY_MAX: i64 = 20;

fn agency_json(a: Agency, current_keys: Option<&[u8]>) -> AgencyJson {
    let status = a.status();
    let keys = a.public_keys.as_deref().or(current_keys);
    let fingerprint = keys.and_then(|k| PublicKeys::parse(k).ok()).map(|k| k.identity.fingerprint());
    AgencyJson {
        id: a.id,
        name: a.name,
        jurisdiction: a.jurisdiction,
        website: a.website,
        phone: a.phone,
        applied_ms: a.applied_ms,
        status: status.to_owned(),
        rejected_reason: a.rejected_reason,
        verified_ms: a.verified_ms,
        log_index: a.verified_log_index,
        public_keys: a.public_keys.as_deref().map(hex),
        fingerprint,
    }
}

fn check_phone(s: &str) -> ApiResult<()> {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if !(5..=20).contains(&digits) || s.len() > 40 || !s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        bail!(InvalidArgument, "phone: expected a telephone number (5 to 20 digits, with + - ( ) . or spaces)");
    }
    Ok(())
}

fn check_website(s: &str) -> ApiResult<()> {
    let ok = url::Url::parse(s).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some()) && s.len() <= 200;
    if !ok {
        bail!(InvalidArgument, "website: expected an https:// address of at most 200 characters, got {s:?}");
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/agencies", request_body = AgencyApplication,
    responses((status = 200, body = AgencyJson), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn apply(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<AgencyApplication>,
) -> ApiResult<Json<AgencyJson>> {
    let account = actor.account()?;
    check_text("name", req.name.trim(), 3, 120)?;
    check_text("jurisdiction", req.jurisdiction.trim(), 2, 120)?;
    check_website(&req.website)?;
    check_phone(&req.phone)?;
    let Some(keys) = account.public_keys.as_deref() else {
        bail!(FailedPrecondition, "public_keys: set up this account's keys (PUT /api/me/keys) before applying");
    };
    if st.db.agency_of_account(&account.id).await?.is_some() {
        bail!(FailedPrecondition, "agency: this account has applied already");
    }
    if !st.db.memberships(&account.id).await?.is_empty() {
        bail!(FailedPrecondition, "agency: an agency's account must not belong to a household; use a separate account");
    }
    let a = Agency {
        id: random_hex(16),
        account_id: account.id.clone(),
        name: req.name.trim().to_owned(),
        jurisdiction: req.jurisdiction.trim().to_owned(),
        website: req.website,
        phone: req.phone,
        applied_ms: st.now_ms(),
        public_keys: None,
        verified_ms: None,
        verified_log_index: None,
        rejected_reason: None,
    };
    st.db.insert_agency(&a).await?;
    tracing::info!(agency = %a.id, name = %a.name, "agency applied");
    Ok(Json(agency_json(a, Some(keys))))
}

#[utoipa::path(get, path = "/api/agency", responses((status = 200, body = AgencyJson), (status = 404, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn mine(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<AgencyJson>> {
    let account = actor.account()?;
    let a = st
        .db
        .agency_of_account(&account.id)
        .await?
        .ok_or_else(|| err!(NotFound, "agency: this account has not applied"))?;
    Ok(Json(agency_json(a, account.public_keys.as_deref())))
}

/// Verified agencies, with their logged keys: public.
#[utoipa::path(get, path = "/api/agencies", responses((status = 200, body = Vec<AgencyJson>)), tag = "agencies")]
pub async fn verified(State(st): State<AppState>) -> ApiResult<Json<Vec<AgencyJson>>> {
    let all = st.db.agencies().await?;
    Ok(Json(all.into_iter().filter(|a| a.verified_ms.is_some()).map(|a| agency_json(a, None)).collect()))
}

#[utoipa::path(get, path = "/api/operator/agencies", responses((status = 200, body = Vec<AgencyJson>), (status = 403, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn operator_list(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<AgencyJson>>> {
    actor.operator(&st)?;
    let mut out = Vec::new();
    for a in st.db.agencies().await? {
        let keys = st.db.account_by_id(&a.account_id).await?.and_then(|acc| acc.public_keys);
        out.push(agency_json(a, keys.as_deref()));
    }
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/operator/agencies/{agency_id}/verify", params(("agency_id" = String, Path)), request_body = VerifyAgency,
    responses((status = 200, body = AgencyJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn verify(
    State(st): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(req): Json<VerifyAgency>,
) -> ApiResult<Json<AgencyJson>> {
    let op = actor.operator(&st)?;
    check_id("agency_id", &id)?;
    check_text("statement", req.statement.trim(), 10, 500)?;
    let a = st.db.agency(&id).await?.ok_or_else(|| err!(NotFound, "agency_id: no agency {id}"))?;
    if a.verified_ms.is_some() || a.rejected_reason.is_some() {
        bail!(FailedPrecondition, "agency_id: {id} is not waiting for verification");
    }
    let account =
        st.db.account_by_id(&a.account_id).await?.ok_or_else(|| err!(NotFound, "agency_id: no agency {id}"))?;
    let keys_bytes =
        account.public_keys.ok_or_else(|| err!(FailedPrecondition, "agency_id: the agency's account has no keys"))?;
    let keys = PublicKeys::parse(&keys_bytes).map_err(|e| err!(Internal, "stored public keys: {e}"))?;
    let want = keys.identity.fingerprint();
    if crypto::keys::check_pairing_code(&keys.identity, &req.fingerprint).is_err() {
        bail!(
            InvalidArgument,
            "fingerprint: does not match the agency account's keys; do not verify until the agency reads out the one its app shows"
        );
    }
    let now = st.now_ms();
    let entry = Record::new(
        Entry::AgencyVerified {
            agency_id: a.id.clone(),
            name: a.name.clone(),
            jurisdiction: a.jurisdiction.clone(),
            website: a.website.clone(),
            phone: a.phone.clone(),
            public_keys: hex(&keys_bytes),
            fingerprint: want,
            statement: req.statement.trim().to_owned(),
        },
        now,
    );
    let Some(index) = st.db.verify_agency(&id, &keys_bytes, now, &entry.to_row()).await? else {
        bail!(FailedPrecondition, "agency_id: {id} is not waiting for verification");
    };
    tracing::info!(agency = %id, operator = %op.id, log_index = index, "agency verified");
    let a = st.db.agency(&id).await?.ok_or_else(|| err!(NotFound, "agency_id: no agency {id}"))?;
    Ok(Json(agency_json(a, None)))
}

#[utoipa::path(post, path = "/api/operator/agencies/{agency_id}/reject", params(("agency_id" = String, Path)), request_body = RejectAgency,
    responses((status = 200, body = AgencyJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn reject(
    State(st): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(req): Json<RejectAgency>,
) -> ApiResult<Json<AgencyJson>> {
    actor.operator(&st)?;
    check_id("agency_id", &id)?;
    check_text("reason", req.reason.trim(), 3, 500)?;
    if st.db.agency(&id).await?.is_none() {
        bail!(NotFound, "agency_id: no agency {id}");
    }
    if !st.db.reject_agency(&id, req.reason.trim()).await? {
        bail!(FailedPrecondition, "agency_id: {id} is not waiting for verification");
    }
    let a = st.db.agency(&id).await?.ok_or_else(|| err!(NotFound, "agency_id: no agency {id}"))?;
    Ok(Json(agency_json(a, None)))
}

#[utoipa::path(post, path = "/api/operator/legal-demands", request_body = LegalDemandJson,
    responses((status = 200, body = LoggedJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn legal_demand(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<LegalDemandJson>,
) -> ApiResult<Json<LoggedJson>> {
    let op = actor.operator(&st)?;
    check_text("authority", req.authority.trim(), 2, 200)?;
    check_text("reference", req.reference.trim(), 1, 100)?;
    check_text("demanded", req.demanded.trim(), 3, 2000)?;
    check_text("produced", req.produced.trim(), 3, 2000)?;
    let entry = Record::new(
        Entry::LegalDemand {
            authority: req.authority.trim().to_owned(),
            reference: req.reference.trim().to_owned(),
            demanded: req.demanded.trim().to_owned(),
            produced: req.produced.trim().to_owned(),
        },
        st.now_ms(),
    );
    let index = st.db.log_append(&[entry.to_row()]).await?;
    tracing::info!(operator = %op.id, log_index = index, "legal demand logged");
    Ok(Json(LoggedJson { log_index: index }))
}

/// Checks an area as sent and returns it with its checked shape.
fn shape_of(a: &Area) -> ApiResult<Shape> {
    Ok(match a {
        Area::Circle { lat, lon, radius_m } => Shape::circle(*lat, *lon, *radius_m)?,
        Area::Polygon { points } => Shape::polygon(points)?,
    })
}

#[utoipa::path(post, path = "/api/agency/requests", request_body = NewFootageRequest,
    responses((status = 200, body = FootageRequestJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn create_request(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<NewFootageRequest>,
) -> ApiResult<Json<FootageRequestJson>> {
    let agency = actor.verified_agency(&st).await?;
    let now = st.now_ms();
    let case = req.case_number.trim();
    check_text("case_number", case, 1, 64)?;
    check_text("description", req.description.trim(), 20, 2000)?;
    check_text("investigator", req.investigator.trim(), 5, 200)?;
    let shape = shape_of(&req.area)?;
    let (from, until) = (req.window_from_ms, req.window_until_ms);
    if until > now {
        bail!(InvalidArgument, "window_until_ms: the window must have ended (it ends {} ms from now)", until - now);
    }
    if until < now - WINDOW_AGE_MAX_MS {
        bail!(InvalidArgument, "window_until_ms: the window must have ended within the last 30 days");
    }
    let len = until.saturating_sub(from);
    if !(WINDOW_MIN_MS..=WINDOW_MAX_MS).contains(&len) {
        bail!(
            InvalidArgument,
            "window_from_ms: the window must last 15 minutes to 12 hours, got {} minutes",
            len / MINUTE_MS
        );
    }
    if req.expires_ms <= now || req.expires_ms > now + EXPIRY_MAX_MS {
        bail!(InvalidArgument, "expires_ms: expected a time after now and at most 14 days from now");
    }
    let hour = st.db.requests_since(&agency.id, now - HOUR_MS).await?;
    let day = st.db.requests_since(&agency.id, now - DAY_MS).await?;
    if hour >= PER_HOUR_MAX || day >= PER_DAY_MAX {
        bail!(
            ResourceExhausted,
            "requests: an agency may make at most {PER_HOUR_MAX} requests an hour and {PER_DAY_MAX} a day; try again later"
        );
    }
    let cells: Vec<i64> = shape.home_cells().into_iter().map(|c| u64::from(c) as i64).collect();
    let area_m2 = shape.area_m2().round() as i64;
    let id = random_hex(16);
    // The households offered are the homes in the area now, counted in the transaction
    // that stores the request and its offers.
    let entry = |offered: i64| {
        Record::new(
            Entry::RequestMade {
                request_id: id.clone(),
                agency_id: agency.id.clone(),
                agency: agency.name.clone(),
                category: req.category.as_str().to_owned(),
                area: req.area.clone(),
                area_m2,
                window_from_ms: from,
                window_until_ms: until,
                expires_ms: req.expires_ms,
                households_offered: offered,
            },
            now,
        )
        .to_row()
    };
    let row = FootageRequest {
        id: id.clone(),
        agency_id: agency.id.clone(),
        case_number: case.to_owned(),
        category: req.category.as_str().to_owned(),
        description: req.description.trim().to_owned(),
        investigator: req.investigator.trim().to_owned(),
        area: serde_json::to_string(&req.area).expect("areas serialize"),
        area_m2,
        window_from_ms: from,
        window_until_ms: until,
        created_ms: now,
        expires_ms: req.expires_ms,
        // Both counted and assigned in the insert's transaction.
        households_offered: 0,
        log_index: 0,
        expired_log_index: None,
    };
    match st.db.insert_request(&row, &cells, PER_CASE_MAX, entry).await? {
        Ok((index, offered)) => {
            tracing::info!(request = %id, agency = %agency.id, log_index = index, offered, "footage request made");
            let r = st.db.footage_request(&id).await?.ok_or_else(|| err!(Internal, "a request just stored"))?;
            Ok(Json(request_json(r, &agency.name)?))
        }
        Err(RequestRefused::CaseFull(n)) => bail!(
            FailedPrecondition,
            "case_number: the agency has made {n} requests for case {case:?} already (at most {PER_CASE_MAX})"
        ),
    }
}

#[utoipa::path(get, path = "/api/agency/requests", responses((status = 200, body = Vec<FootageRequestJson>), (status = 403, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn agency_requests(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<FootageRequestJson>>> {
    let agency = actor.verified_agency(&st).await?;
    expire_due(&st).await?;
    let rows = st.db.requests_of_agency(&agency.id).await?;
    Ok(Json(rows.into_iter().map(|r| request_json(r, &agency.name)).collect::<ApiResult<_>>()?))
}

/// The requests offered to a household: those whose area touches its home cell. The
/// household's app checks its exact point and its footage before showing any.
#[utoipa::path(get, path = "/api/households/{household_id}/footage-requests", params(("household_id" = String, Path)),
    responses((status = 200, body = Vec<OfferedRequestJson>), (status = 403, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn offered(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<OfferedRequestJson>>> {
    actor.member(&st, &hid, crate::auth::Permission::RespondToRequests).await?;
    expire_due(&st).await?;
    let mut out = Vec::new();
    for r in st.db.requests_for_household(&hid, st.now_ms()).await? {
        let a = st.db.agency(&r.agency_id).await?.ok_or_else(|| err!(Internal, "a request's agency"))?;
        let (Some(keys), Some(index)) = (a.public_keys.as_deref(), a.verified_log_index) else { continue };
        let j = request_json(r, &a.name)?;
        out.push(OfferedRequestJson {
            id: j.id,
            agency_id: j.agency_id,
            agency: j.agency,
            agency_phone: a.phone.clone(),
            category: j.category,
            description: j.description,
            area: j.area,
            area_sq_mi: j.area_sq_mi,
            window_from_ms: j.window_from_ms,
            window_until_ms: j.window_until_ms,
            created_ms: j.created_ms,
            expires_ms: j.expires_ms,
            log_index: j.log_index,
            agency_public_keys: hex(keys),
            agency_log_index: index,
        });
    }
    Ok(Json(out))
}

/// Alerts an agency may post a day, and how long one lasts at most.
pub const ALERTS_PER_DAY_MAX: i64 = 10;
pub const ALERT_DAYS_MAX: i64 = 7;

fn alert_json(a: db::server::AgencyAlert, agency: &str) -> AlertJson {
    AlertJson {
        id: a.id,
        agency: agency.to_owned(),
        body: a.body,
        lat: a.lat,
        lon: a.lon,
        radius_m: a.radius_m,
        created_ms: a.created_ms,
        expires_ms: a.expires_ms,
    }
}

#[utoipa::path(post, path = "/api/agency/alerts", request_body = NewAlert,
    responses((status = 200, body = AlertJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn post_alert(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<NewAlert>,
) -> ApiResult<Json<AlertJson>> {
    let agency = actor.verified_agency(&st).await?;
    let now = st.now_ms();
    check_text("body", req.body.trim(), 10, 1000)?;
    community::Point::new(req.lat, req.lon)?;
    if !req.radius_m.is_finite() || !(200.0..=8_000.0).contains(&req.radius_m) {
        bail!(InvalidArgument, "radius_m: expected 200 to 8000 metres, got {}", req.radius_m);
    }
    if req.expires_ms <= now || req.expires_ms > now + ALERT_DAYS_MAX * DAY_MS {
        bail!(InvalidArgument, "expires_ms: expected a time after now and at most {ALERT_DAYS_MAX} days from now");
    }
    if st.db.alerts_since(&agency.id, now - DAY_MS).await? >= ALERTS_PER_DAY_MAX {
        bail!(ResourceExhausted, "alerts: an agency may post at most {ALERTS_PER_DAY_MAX} alerts a day");
    }
    let a = db::server::AgencyAlert {
        id: random_hex(16),
        agency_id: agency.id.clone(),
        body: req.body.trim().to_owned(),
        lat: req.lat,
        lon: req.lon,
        radius_m: req.radius_m,
        created_ms: now,
        expires_ms: req.expires_ms,
    };
    st.db.insert_alert(&a).await?;
    tracing::info!(agency = %agency.id, alert = %a.id, "safety alert posted");
    Ok(Json(alert_json(a, &agency.name)))
}

/// The alerts of the caller's agency.
#[utoipa::path(get, path = "/api/agency/alerts", responses((status = 200, body = Vec<AlertJson>), (status = 403, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn agency_alerts(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<AlertJson>>> {
    let agency = actor.verified_agency(&st).await?;
    let rows = st.db.alerts_of_agency(&agency.id).await?;
    Ok(Json(rows.into_iter().map(|a| alert_json(a, &agency.name)).collect()))
}

/// Official alerts for a household's feed: those whose circle comes within the home cell
/// (all the server knows of the home), not expired.
#[utoipa::path(get, path = "/api/households/{household_id}/alerts", params(("household_id" = String, Path)),
    responses((status = 200, body = Vec<AlertJson>), (status = 403, body = crate::error::ErrorBody)), tag = "agencies")]
pub async fn household_alerts(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<AlertJson>>> {
    actor.member(&st, &hid, crate::auth::Permission::Neighbourhood).await?;
    let Some((cell, _)) = st.db.home(&hid).await? else { return Ok(Json(Vec::new())) };
    let cell = h3o::CellIndex::try_from(cell as u64).map_err(|_| err!(Internal, "a stored home cell"))?;
    let centre = h3o::LatLng::from(cell);
    let reach = community::cell_radius_m(cell);
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    for a in st.db.active_alerts(st.now_ms()).await? {
        let Ok(p) = h3o::LatLng::new(a.lat, a.lon) else { continue };
        if centre.distance_m(p) - reach > a.radius_m {
            continue;
        }
        if !names.contains_key(&a.agency_id) {
            let n = st.db.agency(&a.agency_id).await?.map(|g| g.name).unwrap_or_default();
            names.insert(a.agency_id.clone(), n);
        }
        let name = names[&a.agency_id].clone();
        out.push(alert_json(a, &name));
    }
    Ok(Json(out))
}
