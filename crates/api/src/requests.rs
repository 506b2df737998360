//! Footage requests as the agency and household routes share them: the expiry pass, the
//! agency's view of a request, and an agency's logged download of a granted clip.

use base::err;
use db::server::{AgencyAccess, FootageRequest};

use crate::auth::Actor;
use crate::error::ApiResult;
use crate::log::{Area, Entry, Record};
use crate::secrets::random_hex;
use crate::state::AppState;
use crate::types::FootageRequestJson;
use community::area::M2_PER_SQ_MILE;

/// Logs the expiry of every request past its expiry (called before requests are listed,
/// and by the server's worker every minute).
pub async fn expire_due(st: &AppState) -> Result<u64, base::Error> {
    let mut n = 0;
    for r in st.db.requests_to_expire(st.now_ms()).await? {
        let entry = Record::new(
            Entry::RequestExpired { request_id: r.id.clone(), agency_id: r.agency_id.clone() },
            r.expires_ms,
        );
        if st.db.expire_request(&r.id, &entry.to_row()).await? {
            n += 1;
        }
    }
    Ok(n)
}

pub(crate) fn request_json(r: FootageRequest, agency: &str) -> ApiResult<FootageRequestJson> {
    let category = wire::Offence::parse(&r.category)
        .ok_or_else(|| err!(DataLoss, "request {}: stored category {:?} is not one", r.id, r.category))?;
    let area: Area = serde_json::from_str(&r.area).map_err(|e| err!(Internal, "a stored area: {e}"))?;
    Ok(FootageRequestJson {
        id: r.id,
        agency_id: r.agency_id,
        agency: agency.to_owned(),
        case_number: r.case_number,
        category,
        description: r.description,
        investigator: r.investigator,
        area,
        area_sq_mi: r.area_m2 as f64 / M2_PER_SQ_MILE,
        window_from_ms: r.window_from_ms,
        window_until_ms: r.window_until_ms,
        created_ms: r.created_ms,
        expires_ms: r.expires_ms,
        households_offered: r.households_offered,
        log_index: r.log_index,
        expired: r.expired_log_index.is_some(),
    })
}

/// An agency's download of a clip granted to it (called by `GET /api/objects/{id}` for an
/// agency's account): recorded in the chain of custody and the household's access log
/// before a byte leaves. `None` when the account is not an agency's.
pub(crate) async fn agency_download(st: &AppState, actor: &Actor, o: &db::server::Object) -> ApiResult<Option<()>> {
    let account = actor.account()?;
    let Some(agency) = st.db.agency_of_account(&account.id).await? else { return Ok(None) };
    if agency.verified_ms.is_none() {
        bail!(PermissionDenied, "object_id: your agency is not verified");
    }
    let Some(rid) = st.db.granted_request(&o.id, &agency.id).await? else {
        bail!(PermissionDenied, "object_id: {} was not shared with your agency", o.id);
    };
    let now = st.now_ms();
    st.db
        .insert_agency_access(&AgencyAccess {
            id: random_hex(16),
            agency_id: agency.id,
            account_id: account.id.clone(),
            request_id: rid,
            object_id: Some(o.id.clone()),
            action: "download".into(),
            created_ms: now,
        })
        .await?;
    st.db.insert_access(&random_hex(16), &o.household_id, (Some(&account.id), None), &o.id, &o.kind, now).await?;
    Ok(Some(()))
}
