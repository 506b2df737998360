//! Households: members, invitations, pairing, devices, the roster and sealed settings the server relays.

use base::{Error, bail, err};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

/// A neighbourhood post (design/neighbourhood.md).
#[derive(Clone, Debug)]
pub struct Household {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    pub retention_days: i64,
    pub retention_bytes: i64,
    pub webhook_url: Option<String>,
    pub created_ms: i64,
    /// What the webhook's deliveries are signed with.
    pub webhook_secret: Option<String>,
}

pub(super) const HOUSEHOLD_COLS: &str =
    "id, name, owner_id, retention_days, retention_bytes, webhook_url, created_ms, webhook_secret";

pub(super) fn household(r: &AnyRow) -> Household {
    Household {
        id: r.get(0),
        name: r.get(1),
        owner_id: r.get(2),
        retention_days: r.get(3),
        retention_bytes: r.get(4),
        webhook_url: r.get(5),
        created_ms: r.get(6),
        webhook_secret: r.get(7),
    }
}

/// One account's membership: its role and, for limited members and guests, the window of
/// footage it may see (`window_until_ms` also ends a guest's access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub household_id: String,
    pub account_id: String,
    pub email: String,
    pub role: Role,
    pub window_from_ms: Option<i64>,
    pub window_until_ms: Option<i64>,
    pub created_ms: i64,
    /// The member's signed public-key bundle, once their device made one.
    pub public_keys: Option<Vec<u8>>,
}

pub(super) fn member(r: &AnyRow) -> Result<Member, Error> {
    let role: String = r.get(3);
    Ok(Member {
        household_id: r.get(0),
        account_id: r.get(1),
        email: r.get(2),
        role: Role::parse(&role).ok_or_else(|| err!(DataLoss, "member role {role:?} is not a role"))?,
        window_from_ms: r.get(4),
        window_until_ms: r.get(5),
        created_ms: r.get(6),
        public_keys: r.get(7),
    })
}

pub(super) const MEMBER_SELECT: &str = "SELECT m.household_id, m.account_id, a.email, m.role, m.window_from_ms, \
                             m.window_until_ms, m.created_ms, a.public_keys FROM member m \
                             JOIN account a ON a.id = m.account_id";

#[derive(Clone, Debug)]
pub struct Invitation {
    pub household_id: String,
    pub role: Role,
    pub window_from_ms: Option<i64>,
    pub window_until_ms: Option<i64>,
    pub expires_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub identity: Vec<u8>,
    pub paired_ms: i64,
    pub revoked_ms: Option<i64>,
    /// The agent's public key bundle, once it has uploaded it.
    pub public_keys: Option<Vec<u8>>,
}

pub(super) fn device(r: &AnyRow) -> Device {
    Device {
        id: r.get(0),
        household_id: r.get(1),
        name: r.get(2),
        identity: r.get(3),
        paired_ms: r.get(4),
        revoked_ms: r.get(5),
        public_keys: r.get(6),
    }
}

impl Db {
    /// The household's sealed settings: their serial and bytes.
    pub async fn settings(&self, household_id: &str) -> Result<Option<(i64, Vec<u8>)>, Error> {
        let row = sqlx::query("SELECT serial, doc FROM settings WHERE household_id = $1")
            .bind(household_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading settings"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Replaces the household's settings if `serial` is higher than the stored one (in one
    /// statement, so two racing writers cannot both win); false if it was not.
    pub async fn set_settings(&self, household_id: &str, serial: i64, doc: &[u8], now_ms: i64) -> Result<bool, Error> {
        let n = sqlx::query(
            "INSERT INTO settings (household_id, serial, doc, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (household_id) DO UPDATE SET serial = excluded.serial, doc = excluded.doc, \
             updated_ms = excluded.updated_ms WHERE settings.serial < excluded.serial",
        )
        .bind(household_id)
        .bind(serial)
        .bind(doc)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing settings"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Stores an agent's public key bundle (the caller has checked it names the device's
    /// identity).
    pub async fn set_device_keys(&self, device_id: &str, public_keys: &[u8]) -> Result<(), Error> {
        sqlx::query("UPDATE device SET public_keys = $1 WHERE id = $2")
            .bind(public_keys)
            .bind(device_id)
            .execute(&self.pool)
            .await
            .map_err(db_err("storing a device's keys"))?;
        Ok(())
    }

    /// The household's roster: its serial and signed bytes.
    pub async fn roster(&self, household_id: &str) -> Result<Option<(i64, Vec<u8>)>, Error> {
        let row = sqlx::query("SELECT serial, roster FROM roster WHERE household_id = $1")
            .bind(household_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a roster"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Replaces the household's roster if `serial` is higher than the stored one (in one
    /// statement, so two racing owners' devices cannot both win); false when it is not.
    pub async fn set_roster(&self, household_id: &str, serial: i64, roster: &[u8], now_ms: i64) -> Result<bool, Error> {
        Ok(sqlx::query(
            "INSERT INTO roster (household_id, serial, roster, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (household_id) DO UPDATE SET serial = excluded.serial, roster = excluded.roster, \
             updated_ms = excluded.updated_ms WHERE roster.serial < excluded.serial",
        )
        .bind(household_id)
        .bind(serial)
        .bind(roster)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing a roster"))?
        .rows_affected()
            == 1)
    }

    pub async fn insert_household(&self, h: &Household) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO household (id, name, owner_id, retention_days, retention_bytes, webhook_url, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&h.id)
        .bind(&h.name)
        .bind(&h.owner_id)
        .bind(h.retention_days)
        .bind(h.retention_bytes)
        .bind(h.webhook_url.clone())
        .bind(h.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting a household"))?;
        sqlx::query("INSERT INTO member (household_id, account_id, role, created_ms) VALUES ($1, $2, 'owner', $3)")
            .bind(&h.id)
            .bind(&h.owner_id)
            .bind(h.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err("inserting the owner"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    pub async fn household(&self, id: &str) -> Result<Option<Household>, Error> {
        let r = sqlx::query(safe(format!("SELECT {HOUSEHOLD_COLS} FROM household WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a household"))?;
        Ok(r.as_ref().map(household))
    }

    pub async fn households(&self) -> Result<Vec<Household>, Error> {
        let rows = sqlx::query(safe(format!("SELECT {HOUSEHOLD_COLS} FROM household ORDER BY id")))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing households"))?;
        Ok(rows.iter().map(household).collect())
    }

    pub async fn update_household(&self, h: &Household) -> Result<(), Error> {
        sqlx::query(
            "UPDATE household SET name = $1, retention_days = $2, retention_bytes = $3, webhook_url = $4, \
             webhook_secret = $5 WHERE id = $6",
        )
        .bind(&h.name)
        .bind(h.retention_days)
        .bind(h.retention_bytes)
        .bind(h.webhook_url.clone())
        .bind(h.webhook_secret.clone())
        .bind(&h.id)
        .execute(&self.pool)
        .await
        .map_err(db_err("updating a household"))?;
        Ok(())
    }

    pub async fn member(&self, household_id: &str, account_id: &str) -> Result<Option<Member>, Error> {
        let q = format!("{MEMBER_SELECT} WHERE m.household_id = $1 AND m.account_id = $2");
        let r = sqlx::query(safe(q))
            .bind(household_id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a member"))?;
        r.as_ref().map(member).transpose()
    }

    pub async fn members(&self, household_id: &str) -> Result<Vec<Member>, Error> {
        let q = format!("{MEMBER_SELECT} WHERE m.household_id = $1 ORDER BY m.created_ms, a.email");
        let rows =
            sqlx::query(safe(q)).bind(household_id).fetch_all(&self.pool).await.map_err(db_err("listing members"))?;
        rows.iter().map(member).collect()
    }

    pub async fn memberships(&self, account_id: &str) -> Result<Vec<Member>, Error> {
        let q = format!("{MEMBER_SELECT} WHERE m.account_id = $1 ORDER BY m.created_ms");
        let rows =
            sqlx::query(safe(q)).bind(account_id).fetch_all(&self.pool).await.map_err(db_err("listing memberships"))?;
        rows.iter().map(member).collect()
    }

    /// Removes a member other than the owner; false when there is no such member.
    pub async fn delete_member(&self, household_id: &str, account_id: &str) -> Result<bool, Error> {
        Ok(sqlx::query("DELETE FROM member WHERE household_id = $1 AND account_id = $2 AND role <> 'owner'")
            .bind(household_id)
            .bind(account_id)
            .execute(&self.pool)
            .await
            .map_err(db_err("removing a member"))?
            .rows_affected()
            == 1)
    }

    pub async fn insert_invitation(&self, token_hash: &str, inv: &Invitation, now_ms: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO invitation (token_hash, household_id, role, window_from_ms, window_until_ms, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(&inv.household_id)
        .bind(inv.role.as_str())
        .bind(inv.window_from_ms)
        .bind(inv.window_until_ms)
        .bind(now_ms)
        .bind(inv.expires_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("inserting an invitation"))?;
        Ok(())
    }

    /// Uses an invitation once: the account becomes a member with the invited role.
    pub async fn accept_invitation(&self, token_hash: &str, account_id: &str, now_ms: i64) -> Result<Member, Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE invitation SET used_by = $1 WHERE token_hash = $2 AND used_by IS NULL AND expires_ms > $3 \
             RETURNING household_id, role, window_from_ms, window_until_ms",
        )
        .bind(account_id)
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("using an invitation"))?;
        let Some(r) = r else {
            bail!(NotFound, "invitation: no such invitation, or it was used or has expired");
        };
        let (hid, role, from, until): (String, String, Option<i64>, Option<i64>) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let existing = sqlx::query("SELECT role FROM member WHERE household_id = $1 AND account_id = $2")
            .bind(&hid)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading a member"))?;
        if existing.is_some() {
            bail!(FailedPrecondition, "invitation: this account is already a member of the household");
        }
        sqlx::query(
            "INSERT INTO member (household_id, account_id, role, window_from_ms, window_until_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hid)
        .bind(account_id)
        .bind(&role)
        .bind(from)
        .bind(until)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting a member"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.member(&hid, account_id).await?.ok_or_else(|| err!(Internal, "member vanished after insert"))
    }

    pub async fn insert_pairing(
        &self,
        token_hash: &str,
        household_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query("INSERT INTO pairing (token_hash, household_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(household_id)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err("inserting a pairing"))?;
        Ok(())
    }

    /// The household an unused, unexpired pairing token belongs to.
    pub async fn pairing(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, Error> {
        let r = sqlx::query(
            "SELECT household_id FROM pairing WHERE token_hash = $1 AND device_id IS NULL AND expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a pairing"))?;
        Ok(r.map(|r| r.get(0)))
    }

    /// Uses a pairing token once: creates the device and its credential together.
    pub async fn complete_pairing(
        &self,
        token_hash: &str,
        d: &Device,
        token_id: &str,
        secret_hash: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE pairing SET device_id = $1 WHERE token_hash = $2 AND household_id = $3 AND device_id IS NULL AND expires_ms > $4",
        )
        .bind(&d.id)
        .bind(token_hash)
        .bind(&d.household_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("using a pairing"))?
        .rows_affected();
        if n != 1 {
            bail!(NotFound, "pairing token: no such pairing, or it was used or has expired");
        }
        sqlx::query("INSERT INTO device (id, household_id, name, identity, paired_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&d.id)
            .bind(&d.household_id)
            .bind(&d.name)
            .bind(d.identity.clone())
            .bind(d.paired_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err("inserting a device"))?;
        sqlx::query(
            "INSERT INTO api_token (id, secret_hash, device_id, label, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_id)
        .bind(secret_hash)
        .bind(&d.id)
        .bind(format!("device {}", d.name))
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting a device token"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    pub async fn device(&self, id: &str) -> Result<Option<Device>, Error> {
        let r = sqlx::query(
            "SELECT id, household_id, name, identity, paired_ms, revoked_ms, public_keys FROM device WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a device"))?;
        Ok(r.as_ref().map(device))
    }

    pub async fn devices(&self, household_id: &str) -> Result<Vec<Device>, Error> {
        let rows = sqlx::query(
            "SELECT id, household_id, name, identity, paired_ms, revoked_ms, public_keys FROM device WHERE household_id = $1 ORDER BY paired_ms",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing devices"))?;
        Ok(rows.iter().map(device).collect())
    }

    /// Revokes a device: its credentials stop working at once; its objects stay.
    pub async fn revoke_device(&self, household_id: &str, id: &str, now_ms: i64) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let n =
            sqlx::query("UPDATE device SET revoked_ms = $1 WHERE id = $2 AND household_id = $3 AND revoked_ms IS NULL")
                .bind(now_ms)
                .bind(id)
                .bind(household_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("revoking a device"))?
                .rows_affected();
        if n != 1 {
            // Not this household's device, or revoked already: nothing is touched. The
            // tokens' delete below is scoped to the household as well, so that no later
            // edit of this check can let one household cut off another's agent.
            tx.rollback().await.map_err(db_err("rolling back"))?;
            return Ok(false);
        }
        sqlx::query(
            "DELETE FROM api_token WHERE device_id = $1 \
             AND device_id IN (SELECT id FROM device WHERE id = $1 AND household_id = $2)",
        )
        .bind(id)
        .bind(household_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("deleting device tokens"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(true)
    }
}
