//! The neighbourhood (design/neighbourhood.md): a household's home as the server may know
//! it (an H3 cell of resolution 8, plus the exact point sealed for the household's own
//! keys) and the area its posts will show.

use axum::extract::State;
use base::err;
use h3o::{CellIndex, Resolution};

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::secrets::hex_decode;
use crate::state::AppState;
use crate::types::*;

/// The sealed point: a sealed object or similar envelope, never large.
const SEALED_POINT_BYTES_MAX: usize = 4096;

/// A home cell and its ancestors, finest first, as the database stores them.
fn chain(home: CellIndex) -> [i64; 4] {
    let at = |r: Resolution| u64::from(home.parent(r).expect("coarser")) as i64;
    [at(Resolution::Eight), at(Resolution::Seven), at(Resolution::Six), at(Resolution::Five)]
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
                households: community::Census::households_in(&census, area),
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
