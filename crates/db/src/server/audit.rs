//! The household's access log and the account's security log.

use base::Error;
use sqlx::Row;

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub id: String,
    pub account_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub object_id: String,
    pub kind: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub kind: String,
    pub ip: String,
    pub detail: String,
    pub at_ms: i64,
}

impl Db {
    pub async fn insert_access(
        &self,
        id: &str,
        household_id: &str,
        who: (Option<&str>, Option<&str>),
        object_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO access_log (id, household_id, account_id, device_id, object_id, kind, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(household_id)
        .bind(who.0.map(str::to_owned))
        .bind(who.1.map(str::to_owned))
        .bind(object_id)
        .bind(kind)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("recording an access"))?;
        Ok(())
    }

    pub async fn access_log(&self, household_id: &str, limit: i64) -> Result<Vec<Access>, Error> {
        let rows = sqlx::query(
            "SELECT l.id, l.account_id, a.email, l.device_id, l.object_id, l.kind, l.at_ms FROM access_log l \
             LEFT JOIN account a ON a.id = l.account_id WHERE l.household_id = $1 ORDER BY l.at_ms DESC, l.id LIMIT $2",
        )
        .bind(household_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the access log"))?;
        Ok(rows
            .iter()
            .map(|r| Access {
                id: r.get(0),
                account_id: r.get(1),
                email: r.get(2),
                device_id: r.get(3),
                object_id: r.get(4),
                kind: r.get(5),
                at_ms: r.get(6),
            })
            .collect())
    }

    pub async fn insert_security_event(
        &self,
        id: &str,
        account_id: Option<&str>,
        kind: &str,
        ip: &str,
        detail: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO security_event (id, account_id, kind, ip, detail, at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(account_id.map(str::to_owned))
        .bind(kind)
        .bind(ip)
        .bind(detail)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("recording a security event"))?;
        Ok(())
    }

    pub async fn security_events(&self, account_id: &str, limit: i64) -> Result<Vec<SecurityEvent>, Error> {
        let rows = sqlx::query(
            "SELECT kind, ip, detail, at_ms FROM security_event WHERE account_id = $1 ORDER BY at_ms DESC, id LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading security events"))?;
        Ok(rows
            .iter()
            .map(|r| SecurityEvent { kind: r.get(0), ip: r.get(1), detail: r.get(2), at_ms: r.get(3) })
            .collect())
    }
}
