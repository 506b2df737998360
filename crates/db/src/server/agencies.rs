//! Agencies and their footage requests (design/agencies.md). Every change the public must
//! be able to see commits in one transaction with its transparency log entry.

use base::Error;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::log::{NewLogEntry, append_in};
use super::{Db, db_err, safe};

#[derive(Clone, Debug, PartialEq)]
pub struct Agency {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub jurisdiction: String,
    pub website: String,
    pub phone: String,
    pub applied_ms: i64,
    /// The public key bundle logged when the agency was verified: the only keys of the
    /// agency that anything uses.
    pub public_keys: Option<Vec<u8>>,
    pub verified_ms: Option<i64>,
    pub verified_log_index: Option<i64>,
    pub rejected_reason: Option<String>,
}

impl Agency {
    /// `applied`, `verified` or `rejected`.
    pub fn status(&self) -> &'static str {
        if self.verified_ms.is_some() {
            "verified"
        } else if self.rejected_reason.is_some() {
            "rejected"
        } else {
            "applied"
        }
    }
}

const AGENCY_COLS: &str = "id, account_id, name, jurisdiction, website, phone, applied_ms, public_keys, verified_ms, \
                           verified_log_index, rejected_reason";

fn agency(r: &AnyRow) -> Agency {
    Agency {
        id: r.get(0),
        account_id: r.get(1),
        name: r.get(2),
        jurisdiction: r.get(3),
        website: r.get(4),
        phone: r.get(5),
        applied_ms: r.get(6),
        public_keys: r.get(7),
        verified_ms: r.get(8),
        verified_log_index: r.get(9),
        rejected_reason: r.get(10),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FootageRequest {
    pub id: String,
    pub agency_id: String,
    pub case_number: String,
    pub category: String,
    pub description: String,
    pub investigator: String,
    /// The area as the agency sent it (JSON).
    pub area: String,
    pub area_m2: i64,
    pub window_from_ms: i64,
    pub window_until_ms: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub households_offered: i64,
    pub log_index: i64,
    pub expired_log_index: Option<i64>,
}

const REQUEST_COLS: &str = "id, agency_id, case_number, category, description, investigator, area, area_m2, \
                            window_from_ms, window_until_ms, created_ms, expires_ms, households_offered, log_index, \
                            expired_log_index";

fn request(r: &AnyRow) -> FootageRequest {
    FootageRequest {
        id: r.get(0),
        agency_id: r.get(1),
        case_number: r.get(2),
        category: r.get(3),
        description: r.get(4),
        investigator: r.get(5),
        area: r.get(6),
        area_m2: r.get(7),
        window_from_ms: r.get(8),
        window_until_ms: r.get(9),
        created_ms: r.get(10),
        expires_ms: r.get(11),
        households_offered: r.get(12),
        log_index: r.get(13),
        expired_log_index: r.get(14),
    }
}

/// Why a request was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestRefused {
    /// The agency already made this many requests for the case number.
    CaseFull(i64),
}

impl Db {
    /// Stores an application. A second one from the same account is a conflict.
    pub async fn insert_agency(&self, a: &Agency) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO agency (id, account_id, name, jurisdiction, website, phone, applied_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(&a.jurisdiction)
        .bind(&a.website)
        .bind(&a.phone)
        .bind(a.applied_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing an agency"))?;
        Ok(())
    }

    pub async fn agency(&self, id: &str) -> Result<Option<Agency>, Error> {
        let r = sqlx::query(safe(format!("SELECT {AGENCY_COLS} FROM agency WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading an agency"))?;
        Ok(r.as_ref().map(agency))
    }

    pub async fn agency_of_account(&self, account_id: &str) -> Result<Option<Agency>, Error> {
        let r = sqlx::query(safe(format!("SELECT {AGENCY_COLS} FROM agency WHERE account_id = $1")))
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading an agency"))?;
        Ok(r.as_ref().map(agency))
    }

    /// Every agency, applications first, then by name.
    pub async fn agencies(&self) -> Result<Vec<Agency>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {AGENCY_COLS} FROM agency ORDER BY CASE WHEN verified_ms IS NULL THEN 0 ELSE 1 END, name, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing agencies"))?;
        Ok(rows.iter().map(agency).collect())
    }

    /// Marks a pending agency verified with `public_keys`, and logs `entry`, together.
    /// `None` (and nothing changed) when it is not pending.
    pub async fn verify_agency(
        &self,
        id: &str,
        public_keys: &[u8],
        now_ms: i64,
        entry: &NewLogEntry,
    ) -> Result<Option<i64>, Error> {
        let mut tx = self.write_tx().await?;
        let index = append_in(&mut tx, std::slice::from_ref(entry)).await?;
        let n = sqlx::query(
            "UPDATE agency SET public_keys = $1, verified_ms = $2, verified_log_index = $3 \
             WHERE id = $4 AND verified_ms IS NULL AND rejected_reason IS NULL",
        )
        .bind(public_keys.to_vec())
        .bind(now_ms)
        .bind(index)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("verifying an agency"))?
        .rows_affected();
        if n != 1 {
            return Ok(None);
        }
        tx.commit().await.map_err(db_err("committing an agency's verification"))?;
        Ok(Some(index))
    }

    /// Turns down a pending application; false when it is not pending.
    pub async fn reject_agency(&self, id: &str, reason: &str) -> Result<bool, Error> {
        let n = sqlx::query(
            "UPDATE agency SET rejected_reason = $1 WHERE id = $2 AND verified_ms IS NULL AND rejected_reason IS NULL",
        )
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err("rejecting an agency"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Requests an agency made after `since_ms`.
    pub async fn requests_since(&self, agency_id: &str, since_ms: i64) -> Result<i64, Error> {
        let r = sqlx::query("SELECT COUNT(*) FROM footage_request WHERE agency_id = $1 AND created_ms > $2")
            .bind(agency_id)
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting requests"))?;
        Ok(r.get(0))
    }

    /// Households whose home cell is one of `cells` (resolution 8, as signed integers).
    pub async fn households_in_cells(&self, cells: &[i64]) -> Result<i64, Error> {
        if cells.is_empty() {
            return Ok(0);
        }
        let marks: Vec<String> = (1..=cells.len()).map(|i| format!("${i}")).collect();
        let mut q = sqlx::query(safe(format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM home_count WHERE cell8 IN ({})",
            marks.join(", ")
        )));
        for c in cells {
            q = q.bind(*c);
        }
        let r = q.fetch_one(&self.pool).await.map_err(db_err("counting households in an area"))?;
        Ok(r.get(0))
    }

    /// Stores a request, the cells it touches, the households it is offered to (those
    /// whose home is in those cells now) and its log entry, together, unless the agency
    /// already made `per_case` requests for its case number (checked in the same
    /// transaction). `entry` makes the log entry from the number of households offered, so
    /// the log, the row and the offers agree. Returns the entry's index and that number.
    pub async fn insert_request(
        &self,
        r: &FootageRequest,
        cells: &[i64],
        per_case: i64,
        entry: impl FnOnce(i64) -> NewLogEntry,
    ) -> Result<Result<(i64, i64), RequestRefused>, Error> {
        let mut tx = self.write_tx().await?;
        let have: i64 = sqlx::query("SELECT COUNT(*) FROM footage_request WHERE agency_id = $1 AND case_number = $2")
            .bind(&r.agency_id)
            .bind(&r.case_number)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("counting a case's requests"))?
            .get(0);
        if have >= per_case {
            return Ok(Err(RequestRefused::CaseFull(have)));
        }
        let mut homes: Vec<String> = Vec::new();
        for part in cells.chunks(256) {
            let marks: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
            let mut q = sqlx::query(safe(format!(
                "SELECT household_id FROM home WHERE cell8 IN ({}) ORDER BY household_id",
                marks.join(", ")
            )));
            for c in part {
                q = q.bind(*c);
            }
            homes.extend(
                q.fetch_all(&mut *tx).await.map_err(db_err("finding the homes in an area"))?.iter().map(|r| r.get(0)),
            );
        }
        let offered = homes.len() as i64;
        let index = append_in(&mut tx, std::slice::from_ref(&entry(offered))).await?;
        sqlx::query(safe(format!(
            "INSERT INTO footage_request ({REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15)"
        )))
        .bind(&r.id)
        .bind(&r.agency_id)
        .bind(&r.case_number)
        .bind(&r.category)
        .bind(&r.description)
        .bind(&r.investigator)
        .bind(&r.area)
        .bind(r.area_m2)
        .bind(r.window_from_ms)
        .bind(r.window_until_ms)
        .bind(r.created_ms)
        .bind(r.expires_ms)
        .bind(offered)
        .bind(index)
        .bind(None::<i64>)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a footage request"))?;
        for h in &homes {
            sqlx::query("INSERT INTO footage_request_home (request_id, household_id) VALUES ($1, $2)")
                .bind(&r.id)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db_err("storing a request's households"))?;
        }
        for c in cells {
            sqlx::query("INSERT INTO footage_request_cell (cell8, request_id) VALUES ($1, $2)")
                .bind(*c)
                .bind(&r.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("storing a request's cells"))?;
        }
        tx.commit().await.map_err(db_err("committing a footage request"))?;
        Ok(Ok((index, offered)))
    }

    pub async fn footage_request(&self, id: &str) -> Result<Option<FootageRequest>, Error> {
        let r = sqlx::query(safe(format!("SELECT {REQUEST_COLS} FROM footage_request WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a footage request"))?;
        Ok(r.as_ref().map(request))
    }

    /// An agency's requests, newest first.
    pub async fn requests_of_agency(&self, agency_id: &str) -> Result<Vec<FootageRequest>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {REQUEST_COLS} FROM footage_request WHERE agency_id = $1 ORDER BY created_ms DESC, id"
        )))
        .bind(agency_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing an agency's requests"))?;
        Ok(rows.iter().map(request).collect())
    }

    /// The requests offered to a household now: made while its home was in their area,
    /// and not expired.
    pub async fn requests_for_household(&self, household_id: &str, now_ms: i64) -> Result<Vec<FootageRequest>, Error> {
        let cols: Vec<String> = REQUEST_COLS.split(", ").map(|c| format!("r.{c}")).collect();
        let rows = sqlx::query(safe(format!(
            "SELECT {} FROM footage_request_home o JOIN footage_request r ON r.id = o.request_id \
             WHERE o.household_id = $1 AND r.expires_ms > $2 AND r.expired_log_index IS NULL \
             ORDER BY r.created_ms DESC, r.id",
            cols.join(", ")
        )))
        .bind(household_id)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing the requests of a cell"))?;
        Ok(rows.iter().map(request).collect())
    }

    /// Requests past their expiry whose expiry is not logged yet.
    pub async fn requests_to_expire(&self, now_ms: i64) -> Result<Vec<FootageRequest>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {REQUEST_COLS} FROM footage_request WHERE expired_log_index IS NULL AND expires_ms <= $1 \
             ORDER BY expires_ms, id LIMIT 1000"
        )))
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("finding expired requests"))?;
        Ok(rows.iter().map(request).collect())
    }

    /// Logs a request's expiry, once: false (and nothing logged) when it was already.
    pub async fn expire_request(&self, id: &str, entry: &NewLogEntry) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let index = append_in(&mut tx, std::slice::from_ref(entry)).await?;
        let n = sqlx::query(
            "UPDATE footage_request SET expired_log_index = $1 WHERE id = $2 AND expired_log_index IS NULL",
        )
        .bind(index)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("expiring a request"))?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(db_err("committing a request's expiry"))?;
        Ok(true)
    }
}

/// One answer to a request: who it was to the agency ("Resident N") and what was shared.
#[derive(Clone, Debug, PartialEq)]
pub struct FootageResponse {
    pub id: String,
    pub request_id: String,
    pub household_id: String,
    pub resident_no: i64,
    pub contact: Option<String>,
    pub created_ms: i64,
    pub log_index: i64,
}

/// One clip shared in a response.
#[derive(Clone, Debug, PartialEq)]
pub struct FootageGrant {
    pub response_id: String,
    pub object_id: String,
    pub agency_id: String,
    pub grant_bytes: Vec<u8>,
    pub duration_ms: i64,
}

/// A download or export by an agency's account.
#[derive(Clone, Debug, PartialEq)]
pub struct AgencyAccess {
    pub id: String,
    pub agency_id: String,
    pub account_id: String,
    pub request_id: String,
    pub object_id: Option<String>,
    pub action: String,
    pub created_ms: i64,
}

impl Db {
    /// Stores a response with its grants and logs `entry`, together; the resident number is
    /// the next for the request. Returns (log index, resident number).
    pub async fn insert_response(
        &self,
        r: &FootageResponse,
        grants: &[FootageGrant],
        entry: &NewLogEntry,
    ) -> Result<(i64, i64), Error> {
        let mut tx = self.write_tx().await?;
        // The log's row lock comes first: it serializes responses, so numbers never clash.
        let index = append_in(&mut tx, std::slice::from_ref(entry)).await?;
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM footage_response WHERE request_id = $1")
            .bind(&r.request_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("numbering a response"))?
            .get(0);
        sqlx::query(
            "INSERT INTO footage_response (id, request_id, household_id, resident_no, contact, created_ms, log_index) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(&r.request_id)
        .bind(&r.household_id)
        .bind(n + 1)
        .bind(&r.contact)
        .bind(r.created_ms)
        .bind(index)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a response"))?;
        for g in grants {
            sqlx::query(
                "INSERT INTO footage_grant (response_id, object_id, agency_id, grant_bytes, duration_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&r.id)
            .bind(&g.object_id)
            .bind(&g.agency_id)
            .bind(g.grant_bytes.clone())
            .bind(g.duration_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err("storing a grant"))?;
        }
        tx.commit().await.map_err(db_err("committing a response"))?;
        Ok((index, n + 1))
    }

    /// A request's responses in order, each with its grants.
    pub async fn responses_of_request(
        &self,
        request_id: &str,
    ) -> Result<Vec<(FootageResponse, Vec<FootageGrant>)>, Error> {
        let rows = sqlx::query(
            "SELECT id, request_id, household_id, resident_no, contact, created_ms, log_index FROM footage_response \
             WHERE request_id = $1 ORDER BY resident_no",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing responses"))?;
        let grants = sqlx::query(
            "SELECT g.response_id, g.object_id, g.agency_id, g.grant_bytes, g.duration_ms FROM footage_grant g \
             JOIN footage_response r ON r.id = g.response_id WHERE r.request_id = $1 ORDER BY g.object_id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing grants"))?;
        let mut out: Vec<(FootageResponse, Vec<FootageGrant>)> = rows
            .iter()
            .map(|r| {
                let resp = FootageResponse {
                    id: r.get(0),
                    request_id: r.get(1),
                    household_id: r.get(2),
                    resident_no: r.get(3),
                    contact: r.get(4),
                    created_ms: r.get(5),
                    log_index: r.get(6),
                };
                (resp, Vec::new())
            })
            .collect();
        for g in grants {
            let g = FootageGrant {
                response_id: g.get(0),
                object_id: g.get(1),
                agency_id: g.get(2),
                grant_bytes: g.get(3),
                duration_ms: g.get(4),
            };
            if let Some((_, v)) = out.iter_mut().find(|(r, _)| r.id == g.response_id) {
                v.push(g);
            }
        }
        Ok(out)
    }

    /// The request under which `agency_id` was granted `object_id`, if it was.
    pub async fn granted_request(&self, object_id: &str, agency_id: &str) -> Result<Option<String>, Error> {
        let r = sqlx::query(
            "SELECT r.request_id FROM footage_grant g JOIN footage_response r ON r.id = g.response_id \
             WHERE g.object_id = $1 AND g.agency_id = $2",
        )
        .bind(object_id)
        .bind(agency_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("finding a grant"))?;
        Ok(r.map(|r| r.get(0)))
    }

    pub async fn insert_agency_access(&self, a: &AgencyAccess) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO agency_access (id, agency_id, account_id, request_id, object_id, action, created_ms, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(seq), 0) + 1 FROM agency_access WHERE request_id = $4))",
        )
        .bind(&a.id)
        .bind(&a.agency_id)
        .bind(&a.account_id)
        .bind(&a.request_id)
        .bind(&a.object_id)
        .bind(&a.action)
        .bind(a.created_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("recording an agency's access"))?;
        Ok(())
    }

    /// A request's chain of custody, in order.
    pub async fn agency_accesses(&self, request_id: &str) -> Result<Vec<AgencyAccess>, Error> {
        let rows = sqlx::query(
            "SELECT id, agency_id, account_id, request_id, object_id, action, created_ms FROM agency_access \
             WHERE request_id = $1 ORDER BY created_ms, seq",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the chain of custody"))?;
        Ok(rows
            .iter()
            .map(|r| AgencyAccess {
                id: r.get(0),
                agency_id: r.get(1),
                account_id: r.get(2),
                request_id: r.get(3),
                object_id: r.get(4),
                action: r.get(5),
                created_ms: r.get(6),
            })
            .collect())
    }
}

/// An agency's safety alert for the feeds around a circle.
#[derive(Clone, Debug, PartialEq)]
pub struct AgencyAlert {
    pub id: String,
    pub agency_id: String,
    pub body: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
    pub created_ms: i64,
    pub expires_ms: i64,
}

fn alert(r: &AnyRow) -> AgencyAlert {
    AgencyAlert {
        id: r.get(0),
        agency_id: r.get(1),
        body: r.get(2),
        lat: r.get(3),
        lon: r.get(4),
        radius_m: r.get(5),
        created_ms: r.get(6),
        expires_ms: r.get(7),
    }
}

const ALERT_COLS: &str = "id, agency_id, body, lat, lon, radius_m, created_ms, expires_ms";

impl Db {
    pub async fn insert_alert(&self, a: &AgencyAlert) -> Result<(), Error> {
        sqlx::query(safe(format!("INSERT INTO agency_alert ({ALERT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
            .bind(&a.id)
            .bind(&a.agency_id)
            .bind(&a.body)
            .bind(a.lat)
            .bind(a.lon)
            .bind(a.radius_m)
            .bind(a.created_ms)
            .bind(a.expires_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err("storing an alert"))?;
        Ok(())
    }

    /// Alerts not expired at `now_ms`, newest first (few: agencies post them rarely).
    pub async fn active_alerts(&self, now_ms: i64) -> Result<Vec<AgencyAlert>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {ALERT_COLS} FROM agency_alert WHERE expires_ms > $1 ORDER BY created_ms DESC, id LIMIT 500"
        )))
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing alerts"))?;
        Ok(rows.iter().map(alert).collect())
    }

    /// An agency's alerts, newest first.
    pub async fn alerts_of_agency(&self, agency_id: &str) -> Result<Vec<AgencyAlert>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {ALERT_COLS} FROM agency_alert WHERE agency_id = $1 ORDER BY created_ms DESC, id LIMIT 500"
        )))
        .bind(agency_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing an agency's alerts"))?;
        Ok(rows.iter().map(alert).collect())
    }

    /// Alerts an agency posted after `since_ms`.
    pub async fn alerts_since(&self, agency_id: &str, since_ms: i64) -> Result<i64, Error> {
        let r = sqlx::query("SELECT COUNT(*) FROM agency_alert WHERE agency_id = $1 AND created_ms > $2")
            .bind(agency_id)
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting alerts"))?;
        Ok(r.get(0))
    }
}
