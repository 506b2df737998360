//! Web Push subscriptions: a member's browser, per household, and the cameras that alert it.

use base::Error;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: String,
    pub account_id: String,
    pub household_id: String,
    /// The push service's URL for this browser (a capability: whoever holds it can push).
    pub endpoint: String,
    /// The browser's P-256 key and authentication secret (base64url), as it gave them.
    pub p256dh: String,
    pub auth: String,
    /// Camera names that alert this browser; empty: every camera.
    pub cameras: Vec<String>,
    pub created_ms: i64,
}

const COLS: &str = "id, account_id, household_id, endpoint, p256dh, auth, cameras, created_ms";

fn row(r: &AnyRow) -> PushSubscription {
    let cameras: String = r.get(6);
    PushSubscription {
        id: r.get(0),
        account_id: r.get(1),
        household_id: r.get(2),
        endpoint: r.get(3),
        p256dh: r.get(4),
        auth: r.get(5),
        cameras: if cameras == "*" { Vec::new() } else { serde_json::from_str(&cameras).unwrap_or_default() },
        created_ms: r.get(7),
    }
}

impl Db {
    /// Stores a subscription, replacing the one of the same household and endpoint (the
    /// same browser subscribing again, perhaps for another of its accounts). Returns it as
    /// stored (with the id it already had, if any).
    pub async fn put_push_subscription(&self, s: &PushSubscription) -> Result<PushSubscription, Error> {
        let cameras = if s.cameras.is_empty() {
            "*".to_owned()
        } else {
            serde_json::to_string(&s.cameras).expect("names serialize")
        };
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO push_subscription (id, account_id, household_id, endpoint, p256dh, auth, cameras, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (household_id, endpoint) DO UPDATE SET \
             account_id = excluded.account_id, p256dh = excluded.p256dh, auth = excluded.auth, cameras = excluded.cameras",
        )
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(&s.household_id)
        .bind(&s.endpoint)
        .bind(&s.p256dh)
        .bind(&s.auth)
        .bind(cameras)
        .bind(s.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a push subscription"))?;
        let r = sqlx::query(safe(format!(
            "SELECT {COLS} FROM push_subscription WHERE household_id = $1 AND endpoint = $2"
        )))
        .bind(&s.household_id)
        .bind(&s.endpoint)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("reading a push subscription"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(row(&r))
    }

    /// A household's subscriptions: all of them, or one account's.
    pub async fn push_subscriptions(
        &self,
        household_id: &str,
        account_id: Option<&str>,
    ) -> Result<Vec<PushSubscription>, Error> {
        let rows = sqlx::query(safe(format!(
            "SELECT {COLS} FROM push_subscription WHERE household_id = $1 AND ($2 = '' OR account_id = $2) \
             ORDER BY created_ms, id"
        )))
        .bind(household_id)
        .bind(account_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing push subscriptions"))?;
        Ok(rows.iter().map(row).collect())
    }

    /// Deletes subscription `id` (of `account_id` only, when given); whether it existed.
    pub async fn delete_push_subscription(&self, id: &str, account_id: Option<&str>) -> Result<bool, Error> {
        let n = sqlx::query("DELETE FROM push_subscription WHERE id = $1 AND ($2 = '' OR account_id = $2)")
            .bind(id)
            .bind(account_id.unwrap_or(""))
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting a push subscription"))?
            .rows_affected();
        Ok(n == 1)
    }
}
