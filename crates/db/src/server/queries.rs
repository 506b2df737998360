//! Every query the server runs, as methods on [`Db`]. Multi-row changes happen in one
//! transaction, so a crash leaves either all of a change or none of it.

use base::{Error, bail, err};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::timeline_cache::PageKey;
use super::{Db, db_err, safe};
use bytes::Bytes;

pub use wire::Role;

/// What [`Db::set_keys`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysSet {
    Stored,
    /// Another account uploaded this identity key first; nothing changed.
    IdentityTaken,
    /// The account's keys are no longer the ones the proof was made against; nothing changed.
    Stale,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_confirmed: bool,
    pub totp_last_step: i64,
    pub public_keys: Option<Vec<u8>>,
    pub key_backup: Option<Vec<u8>>,
    pub created_ms: i64,
}

const ACCOUNT_COLS: &str =
    "id, email, password_hash, totp_secret, totp_confirmed, totp_last_step, public_keys, key_backup, created_ms";

fn account(r: &AnyRow) -> Account {
    Account {
        id: r.get(0),
        email: r.get(1),
        password_hash: r.get(2),
        totp_secret: r.get(3),
        totp_confirmed: r.get::<i64, _>(4) != 0,
        totp_last_step: r.get(5),
        public_keys: r.get(6),
        key_backup: r.get(7),
        created_ms: r.get(8),
    }
}

/// A registered passkey. `credential` is webauthn-rs's own serialization of the public
/// key, signature counter and flags; the server stores it and never interprets it here.
#[derive(Clone, Debug)]
pub struct PasskeyRow {
    pub id: String,
    pub account_id: String,
    pub credential_id: String,
    pub name: String,
    pub credential: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub mfa_done: bool,
    pub expires_ms: i64,
}

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

const HOUSEHOLD_COLS: &str =
    "id, name, owner_id, retention_days, retention_bytes, webhook_url, created_ms, webhook_secret";

fn household(r: &AnyRow) -> Household {
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

fn member(r: &AnyRow) -> Result<Member, Error> {
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

const MEMBER_SELECT: &str = "SELECT m.household_id, m.account_id, a.email, m.role, m.window_from_ms, \
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

fn device(r: &AnyRow) -> Device {
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

/// Who an API token speaks for.
#[derive(Clone, Debug)]
pub struct Token {
    pub id: String,
    pub secret_hash: String,
    pub account_id: Option<String>,
    pub device_id: Option<String>,
    pub label: String,
}

/// A stored ciphertext object's row: what the timeline and retention need, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub id: String,
    pub household_id: String,
    pub device_id: String,
    pub camera: String,
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub size_bytes: i64,
    pub created_ms: i64,
}

fn object(r: &AnyRow) -> Object {
    Object {
        id: r.get(0),
        household_id: r.get(1),
        device_id: r.get(2),
        camera: r.get(3),
        kind: r.get(4),
        start_ms: r.get(5),
        end_ms: r.get(6),
        size_bytes: r.get(7),
        created_ms: r.get(8),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub household_id: String,
    pub device_id: String,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub meta_object: String,
    pub snapshot_object: Option<String>,
    pub clip_object: Option<String>,
    pub size_bytes: i64,
    pub created_ms: i64,
}

const EVENT_COLS: &str = "id, household_id, device_id, camera, start_ms, end_ms, meta_object, snapshot_object, clip_object, size_bytes, created_ms";

fn event(r: &AnyRow) -> Event {
    Event {
        id: r.get(0),
        household_id: r.get(1),
        device_id: r.get(2),
        camera: r.get(3),
        start_ms: r.get(4),
        end_ms: r.get(5),
        meta_object: r.get(6),
        snapshot_object: r.get(7),
        clip_object: r.get(8),
        size_bytes: r.get(9),
        created_ms: r.get(10),
    }
}

/// Rows of `EVENT_COLS` from PostgreSQL as the timeline's JSON array. Ids are 32 hex digits
/// (checked before they are stored), so only the camera needs escaping.
fn events_json(rows: &[sqlx::postgres::PgRow]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 + rows.len() * 320);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        let opt = |v: Option<&str>| v.map(|s| format!("\"{s}\"")).unwrap_or_else(|| "null".to_owned());
        let camera: &str = r.get(3);
        let _ = write!(
            out,
            "{}{{\"id\":\"{}\",\"camera\":{},\"device_id\":\"{}\",\"start_ms\":{},\"end_ms\":{},\"meta_object\":\"{}\",\
             \"snapshot_object\":{},\"clip_object\":{},\"size_bytes\":{}}}",
            if i == 0 { "" } else { "," },
            r.get::<&str, _>(0),
            serde_json::Value::from(camera),
            r.get::<&str, _>(2),
            r.get::<i64, _>(4),
            r.get::<i64, _>(5),
            r.get::<&str, _>(6),
            opt(r.get(7)),
            opt(r.get(8)),
            r.get::<i64, _>(9),
        );
    }
    out.push(']');
    out
}

/// What a timeline query may return: a camera (or all), a start-time range, and the
/// member's visibility window.
#[derive(Clone, Debug, Default)]
pub struct TimelineQuery<'a> {
    pub camera: Option<&'a str>,
    pub from_ms: i64,
    pub until_ms: i64,
    /// Only events starting at or after this (a guest's invitation time, a limited window).
    pub visible_from_ms: Option<i64>,
    pub visible_until_ms: Option<i64>,
    /// Newest first when true.
    pub descending: bool,
    pub limit: i64,
}

impl<'a> TimelineQuery<'a> {
    /// The page's rows as SQL (parameters bound by [`Self::bind_page`]) and its order.
    fn page_sql(&self) -> (String, &'static str) {
        let order = if self.descending { "DESC" } else { "ASC" };
        let camera_clause = if self.camera.is_some() { "AND camera = $4" } else { "AND $4 = $4" };
        let sql = format!(
            "SELECT {EVENT_COLS} FROM event WHERE household_id = $1 AND start_ms >= $2 AND start_ms < $3 {camera_clause} \
             ORDER BY start_ms {order}, id {order} LIMIT $5"
        );
        (sql, order)
    }

    /// Binds `$1`..`$5` of [`Self::page_sql`]: the household, the start range narrowed to
    /// the member's window, the camera and the limit (on the Any pool or the native
    /// PostgreSQL one).
    fn bind_page<'q, DB: sqlx::Database>(
        &self,
        query: sqlx::query::Query<'q, DB, DB::Arguments>,
        household_id: &'q str,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments>
    where
        'a: 'q,
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let (from, until, camera, limit) = self.bounds();
        query.bind(household_id).bind(from).bind(until).bind(camera).bind(limit)
    }

    /// `$2`..`$5`: the start range narrowed to the member's window, the camera, the limit.
    fn bounds(&self) -> (i64, i64, &'a str, i64) {
        (
            self.from_ms.max(self.visible_from_ms.unwrap_or(i64::MIN)),
            self.until_ms.min(self.visible_until_ms.unwrap_or(i64::MAX)),
            self.camera.unwrap_or(""),
            self.limit,
        )
    }
}

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

/// What a retention pass would delete: events (with their objects) oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doomed {
    pub events: Vec<String>,
    pub bytes: i64,
}

impl Db {
    // ---- accounts ----

    pub async fn insert_account(
        &self,
        id: &str,
        email: &str,
        password_hash: &str,
        totp_secret: &[u8],
        now_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO account (id, email, password_hash, totp_secret, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(totp_secret.to_vec())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                err!(FailedPrecondition, "email: an account with this address exists")
            }
            _ => db_err("inserting an account")(e),
        })?;
        Ok(())
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>, Error> {
        let q = format!("SELECT {ACCOUNT_COLS} FROM account WHERE email = $1");
        let r =
            sqlx::query(safe(q)).bind(email).fetch_optional(&self.pool).await.map_err(db_err("reading an account"))?;
        Ok(r.as_ref().map(account))
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>, Error> {
        let q = format!("SELECT {ACCOUNT_COLS} FROM account WHERE id = $1");
        let r = sqlx::query(safe(q)).bind(id).fetch_optional(&self.pool).await.map_err(db_err("reading an account"))?;
        Ok(r.as_ref().map(account))
    }

    /// Records a used TOTP step; false when that step (or a later one) was already used, so
    /// that a code cannot be replayed.
    pub async fn use_totp_step(&self, account_id: &str, step: i64, confirm: bool) -> Result<bool, Error> {
        let n = sqlx::query(
            "UPDATE account SET totp_last_step = $1, totp_confirmed = CASE WHEN $2 = 1 THEN 1 ELSE totp_confirmed END \
             WHERE id = $3 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(i64::from(confirm))
        .bind(account_id)
        .execute(&self.pool)
        .await
        .map_err(db_err("recording a TOTP step"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Every account's stored TOTP secret (sealed, or plain from before sealing existed).
    pub async fn totp_secrets(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let rows = sqlx::query("SELECT id, totp_secret FROM account WHERE totp_secret IS NOT NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing TOTP secrets"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Replaces an account's stored TOTP secret if it is still `old`; false otherwise.
    pub async fn replace_totp_secret(&self, account_id: &str, old: &[u8], new: &[u8]) -> Result<bool, Error> {
        let n = sqlx::query("UPDATE account SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3")
            .bind(new.to_vec())
            .bind(account_id)
            .bind(old.to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err("replacing a TOTP secret"))?
            .rows_affected();
        Ok(n == 1)
    }

    /// Counts a failed sign-in step of `account_id` from `source`; from `lock_after`
    /// failures that source is locked out of that account until `now_ms + lock_ms` (and
    /// starts counting afresh). Other sources are not affected. Returns the failures
    /// counted so far in this round.
    pub async fn sign_in_failed(
        &self,
        account_id: &str,
        source: &str,
        now_ms: i64,
        lock_after: i64,
        lock_ms: i64,
    ) -> Result<i64, Error> {
        let mut tx = self.write_tx().await?;
        let n: i64 = sqlx::query(
            "INSERT INTO sign_in_failure (account_id, source, failures, locked_until_ms, updated_ms) \
             VALUES ($1, $2, 1, 0, $3) ON CONFLICT (account_id, source) \
             DO UPDATE SET failures = sign_in_failure.failures + 1, updated_ms = excluded.updated_ms RETURNING failures",
        )
        .bind(account_id)
        .bind(source)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("counting a failed sign-in"))?
        .get(0);
        if n >= lock_after {
            sqlx::query(
                "UPDATE sign_in_failure SET locked_until_ms = $1, failures = 0 WHERE account_id = $2 AND source = $3",
            )
            .bind(now_ms + lock_ms)
            .bind(account_id)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(db_err("locking a source out"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(n)
    }

    /// Until when `source` is locked out of `account_id` (0 when it is not).
    pub async fn sign_in_locked_until(&self, account_id: &str, source: &str) -> Result<i64, Error> {
        Ok(sqlx::query("SELECT locked_until_ms FROM sign_in_failure WHERE account_id = $1 AND source = $2")
            .bind(account_id)
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a sign-in lock"))?
            .map(|r| r.get(0))
            .unwrap_or(0))
    }

    /// `source` signed in to `account_id`: its failures are forgotten.
    pub async fn sign_in_succeeded(&self, account_id: &str, source: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM sign_in_failure WHERE account_id = $1 AND source = $2")
            .bind(account_id)
            .bind(source)
            .execute(&self.pool)
            .await
            .map_err(db_err("resetting sign-in failures"))?;
        Ok(())
    }

    /// Stores an account's public keys, whose `identity` is bound to this account from now
    /// on, if the account's keys are still `current` (the ones its proof of possession was
    /// made against). Changes nothing when the identity is another account's, or when the
    /// keys changed since.
    pub async fn set_keys(
        &self,
        account_id: &str,
        identity: &[u8; 32],
        public_keys: &[u8],
        key_backup: Option<&[u8]>,
        current: Option<&[u8]>,
        now_ms: i64,
    ) -> Result<KeysSet, Error> {
        let mut tx = self.write_tx().await?;
        let owner: Option<String> = sqlx::query("SELECT account_id FROM account_identity WHERE identity = $1")
            .bind(identity.to_vec())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading an identity's account"))?
            .map(|r| r.get(0));
        match owner.as_deref() {
            Some(o) if o != account_id => return Ok(KeysSet::IdentityTaken),
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO account_identity (identity, account_id, created_ms) VALUES ($1, $2, $3)")
                    .bind(identity.to_vec())
                    .bind(account_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("binding an identity"))?;
            }
        }
        let n = sqlx::query(
            "UPDATE account SET public_keys = $1, key_backup = COALESCE($2, key_backup) \
             WHERE id = $3 AND public_keys IS NOT DISTINCT FROM $4",
        )
        .bind(public_keys.to_vec())
        .bind(key_backup.map(<[u8]>::to_vec))
        .bind(account_id)
        .bind(current.map(<[u8]>::to_vec))
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing keys"))?
        .rows_affected();
        if n != 1 {
            tx.rollback().await.map_err(db_err("rolling back"))?;
            return Ok(KeysSet::Stale);
        }
        tx.commit().await.map_err(db_err("committing keys"))?;
        Ok(KeysSet::Stored)
    }

    // ---- sessions and tokens ----

    pub async fn insert_session(
        &self,
        id_hash: &str,
        account_id: &str,
        csrf: &str,
        mfa_done: bool,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO session (id_hash, account_id, csrf, mfa_done, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(account_id)
        .bind(csrf)
        .bind(i64::from(mfa_done))
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("inserting a session"))?;
        Ok(())
    }

    pub async fn session(&self, id_hash: &str, now_ms: i64) -> Result<Option<Session>, Error> {
        let q = format!(
            "SELECT {}, s.csrf, s.mfa_done, s.expires_ms FROM session s JOIN account a ON a.id = s.account_id \
             WHERE s.id_hash = $1 AND s.expires_ms > $2",
            ACCOUNT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
        );
        let r = sqlx::query(safe(q))
            .bind(id_hash)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a session"))?;
        // The session's own columns follow the account's.
        let n = ACCOUNT_COLS.split(", ").count();
        Ok(r.map(|r| Session {
            account: account(&r),
            csrf: r.get(n),
            mfa_done: r.get::<i64, _>(n + 1) != 0,
            expires_ms: r.get(n + 2),
        }))
    }

    pub async fn complete_session_mfa(&self, id_hash: &str) -> Result<(), Error> {
        sqlx::query("UPDATE session SET mfa_done = 1 WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err("completing a session"))?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM session WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting a session"))?;
        Ok(())
    }

    /// Deletes what has expired and can never be used again: sessions, pairing offers and
    /// invitations past their expiry, and sign-in failures neither locking nor counted
    /// within `failures_kept_ms`. Returns how many rows went.
    pub async fn delete_expired(&self, now_ms: i64, failures_kept_ms: i64) -> Result<u64, Error> {
        let mut n = 0;
        for (sql, what) in [
            ("DELETE FROM session WHERE expires_ms <= $1", "deleting expired sessions"),
            ("DELETE FROM pairing WHERE expires_ms <= $1", "deleting expired pairings"),
            ("DELETE FROM invitation WHERE expires_ms <= $1", "deleting expired invitations"),
        ] {
            n += sqlx::query(sql).bind(now_ms).execute(&self.pool).await.map_err(db_err(what))?.rows_affected();
        }
        n += sqlx::query("DELETE FROM sign_in_failure WHERE locked_until_ms <= $1 AND updated_ms <= $2")
            .bind(now_ms)
            .bind(now_ms - failures_kept_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting old sign-in failures"))?
            .rows_affected();
        Ok(n)
    }

    pub async fn insert_account_token(
        &self,
        id: &str,
        secret_hash: &str,
        account_id: &str,
        label: &str,
        now_ms: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO api_token (id, secret_hash, account_id, label, created_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(secret_hash)
        .bind(account_id)
        .bind(label)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("inserting a token"))?;
        Ok(())
    }

    pub async fn token(&self, id: &str) -> Result<Option<Token>, Error> {
        let r = sqlx::query("SELECT id, secret_hash, account_id, device_id, label FROM api_token WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a token"))?;
        Ok(r.map(|r| Token {
            id: r.get(0),
            secret_hash: r.get(1),
            account_id: r.get(2),
            device_id: r.get(3),
            label: r.get(4),
        }))
    }

    pub async fn account_tokens(&self, account_id: &str) -> Result<Vec<(String, String, i64)>, Error> {
        let rows = sqlx::query("SELECT id, label, created_ms FROM api_token WHERE account_id = $1 ORDER BY created_ms")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing tokens"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Deletes one of the account's tokens; false when it has no such token.
    pub async fn delete_account_token(&self, id: &str, account_id: &str) -> Result<bool, Error> {
        Ok(sqlx::query("DELETE FROM api_token WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting a token"))?
            .rows_affected()
            == 1)
    }

    // ---- passkeys ----

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

    /// Stores a new passkey; a credential id registered before (to any account) is refused.
    pub async fn insert_passkey(&self, p: &PasskeyRow) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO passkey (id, account_id, credential_id, name, credential, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.account_id)
        .bind(&p.credential_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(p.created_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                err!(FailedPrecondition, "credential: this passkey is already registered")
            }
            _ => db_err("inserting a passkey")(e),
        })?;
        Ok(())
    }

    /// The account's passkeys, oldest first.
    pub async fn passkeys(&self, account_id: &str) -> Result<Vec<PasskeyRow>, Error> {
        let rows = sqlx::query(
            "SELECT id, account_id, credential_id, name, credential, created_ms, last_used_ms FROM passkey \
             WHERE account_id = $1 ORDER BY created_ms, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing passkeys"))?;
        Ok(rows
            .iter()
            .map(|r| PasskeyRow {
                id: r.get(0),
                account_id: r.get(1),
                credential_id: r.get(2),
                name: r.get(3),
                credential: r.get(4),
                created_ms: r.get(5),
                last_used_ms: r.get(6),
            })
            .collect())
    }

    /// Records a sign-in with the passkey and its updated counter and flags.
    pub async fn passkey_used(&self, id: &str, credential: &str, now_ms: i64) -> Result<(), Error> {
        sqlx::query("UPDATE passkey SET credential = $1, last_used_ms = $2 WHERE id = $3")
            .bind(credential)
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err("recording a passkey's use"))?;
        Ok(())
    }

    /// Deletes one of the account's passkeys, unless it is the account's only second factor
    /// (no other passkey and no confirmed TOTP): then it is refused and nothing changes. The
    /// transaction first writes the account row, which serializes concurrent deletes on both
    /// databases (a row lock on PostgreSQL, the write lock on SQLite), so two of them cannot
    /// each see the other's passkey and both pass. False when the account has no such passkey.
    pub async fn delete_passkey(&self, id: &str, account_id: &str) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE account SET totp_confirmed = totp_confirmed WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("locking the account"))?;
        let n = sqlx::query(
            "DELETE FROM passkey WHERE id = $1 AND account_id = $2 AND (\
             (SELECT totp_confirmed FROM account WHERE id = $2) = 1 OR \
             (SELECT COUNT(*) FROM passkey WHERE account_id = $2) > 1)",
        )
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("deleting a passkey"))?
        .rows_affected();
        if n == 0 {
            let exists = sqlx::query("SELECT 1 FROM passkey WHERE id = $1 AND account_id = $2")
                .bind(id)
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("reading a passkey"))?
                .is_some();
            if exists {
                bail!(FailedPrecondition, "passkey_id: this is the account's only second factor; add another first");
            }
            return Ok(false);
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(true)
    }

    // ---- households and members ----

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

    // ---- pairing and devices ----

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

    // ---- chunks and objects ----

    /// Of `hashes`, those the household has not stored. Scoped to the household, so that
    /// nobody learns whether another household holds a given chunk.
    pub async fn missing_chunks(&self, household_id: &str, hashes: &[String]) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        for h in hashes {
            let r = sqlx::query("SELECT 1 FROM chunk WHERE hash = $1 AND household_id = $2")
                .bind(h)
                .bind(household_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading a chunk"))?;
            if r.is_none() {
                missing.push(h.clone());
            }
        }
        Ok(missing)
    }

    /// Records a chunk whose blob is already durable in the store (the blob is written
    /// first, so a row never names a missing blob). A chunk doomed for deletion is
    /// rescued: its re-upload wins.
    pub async fn insert_chunk(
        &self,
        hash: &str,
        household_id: &str,
        size_bytes: i64,
        now_ms: i64,
    ) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO chunk (hash, household_id, size_bytes, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(household_id)
        .bind(size_bytes)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting a chunk"))?;
        sqlx::query("DELETE FROM doomed_chunk WHERE hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err("rescuing a chunk"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    pub async fn chunk_size(&self, hash: &str) -> Result<Option<i64>, Error> {
        let r = sqlx::query("SELECT size_bytes FROM chunk WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a chunk"))?;
        Ok(r.map(|r| r.get(0)))
    }

    /// Inserts an object with its chunk list. Idempotent: the same object again is
    /// accepted; a different one under the same id is a conflict.
    pub async fn insert_object(&self, o: &Object, chunks: &[String]) -> Result<bool, Error> {
        if let Some(existing) = self.object(&o.id).await? {
            let same = Object { created_ms: o.created_ms, ..existing.clone() } == *o
                && self.object_chunks(&o.id).await? == chunks;
            if !same {
                bail!(FailedPrecondition, "object id {}: a different object with this id exists", o.id);
            }
            return Ok(false);
        }
        let mut tx = self.write_tx().await?;
        let mut total = 0i64;
        for h in chunks {
            // An update that changes nothing, for its row lock (PostgreSQL; SQLite's write
            // transactions are serial anyway): a deletion that would doom this chunk now
            // waits for this transaction, and then sees the new reference (see
            // `doom_if_unreferenced`).
            let r = sqlx::query(
                "UPDATE chunk SET size_bytes = size_bytes WHERE hash = $1 AND household_id = $2 RETURNING size_bytes",
            )
            .bind(h)
            .bind(&o.household_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading a chunk"))?;
            let Some(r) = r else { bail!(FailedPrecondition, "chunks: chunk {h} has not been uploaded") };
            total += r.get::<i64, _>(0);
        }
        if total != o.size_bytes {
            bail!(InvalidArgument, "size_bytes: the chunks hold {total} bytes, not {}", o.size_bytes);
        }
        sqlx::query(
            "INSERT INTO object (id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&o.id)
        .bind(&o.household_id)
        .bind(&o.device_id)
        .bind(&o.camera)
        .bind(&o.kind)
        .bind(o.start_ms)
        .bind(o.end_ms)
        .bind(o.size_bytes)
        .bind(o.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting an object"))?;
        for (i, h) in chunks.iter().enumerate() {
            sqlx::query("INSERT INTO object_chunk (object_id, seq, hash) VALUES ($1, $2, $3)")
                .bind(&o.id)
                .bind(i as i64)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db_err("inserting an object's chunk"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(true)
    }

    pub async fn object(&self, id: &str) -> Result<Option<Object>, Error> {
        let r = sqlx::query(
            "SELECT id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms FROM object WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading an object"))?;
        Ok(r.as_ref().map(object))
    }

    pub async fn object_chunks(&self, id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT hash FROM object_chunk WHERE object_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing an object's chunks"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// An object's chunks in order, with their sizes: for serving a byte range.
    pub async fn object_chunk_sizes(&self, id: &str) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT oc.hash, c.size_bytes FROM object_chunk oc JOIN chunk c ON c.hash = oc.hash \
             WHERE oc.object_id = $1 ORDER BY oc.seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing an object's chunks"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every object's (id, size) in a household, for checks.
    pub async fn objects(&self, household_id: &str) -> Result<Vec<Object>, Error> {
        let rows = sqlx::query(
            "SELECT id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms FROM object \
             WHERE household_id = $1 ORDER BY start_ms, id",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing objects"))?;
        Ok(rows.iter().map(object).collect())
    }

    // ---- events ----

    /// Inserts an event; idempotent like [`Db::insert_object`]. Every object it names must
    /// exist, belong to the same device and camera.
    pub async fn insert_event(&self, e: &Event) -> Result<bool, Error> {
        let same = |existing: Event| -> Result<bool, Error> {
            if (Event { created_ms: e.created_ms, ..existing }) != *e {
                bail!(FailedPrecondition, "event id {}: a different event with this id exists", e.id);
            }
            Ok(false)
        };
        if let Some(existing) = self.event(&e.id).await? {
            return same(existing);
        }
        // Two tries of one event at once: the second inserts nothing and compares.
        let n = sqlx::query(safe(format!(
            "INSERT INTO event ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(&e.id)
        .bind(&e.household_id)
        .bind(&e.device_id)
        .bind(&e.camera)
        .bind(e.start_ms)
        .bind(e.end_ms)
        .bind(&e.meta_object)
        .bind(e.snapshot_object.clone())
        .bind(e.clip_object.clone())
        .bind(e.size_bytes)
        .bind(e.created_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("inserting an event"))?
        .rows_affected();
        if n == 0 {
            let existing =
                self.event(&e.id).await?.ok_or_else(|| err!(Internal, "event {}: conflicted, then gone", e.id))?;
            return same(existing);
        }
        self.timeline_cache.invalidate(&e.household_id);
        Ok(true)
    }

    pub async fn event(&self, id: &str) -> Result<Option<Event>, Error> {
        let r = sqlx::query(safe(format!("SELECT {EVENT_COLS} FROM event WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading an event"))?;
        Ok(r.as_ref().map(event))
    }

    /// The event naming an object, if any (for authorizing downloads by window).
    pub async fn event_of_object(&self, object_id: &str) -> Result<Option<Event>, Error> {
        let r = sqlx::query(safe(format!(
            "SELECT {EVENT_COLS} FROM event WHERE meta_object = $1 OR snapshot_object = $1 OR clip_object = $1"
        )))
        .bind(object_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading an object's event"))?;
        Ok(r.as_ref().map(event))
    }

    /// The timeline as rows (the API serves [`Db::timeline_json`]): for tests that compare the
    /// two.
    #[cfg(any(test, feature = "testing"))]
    pub async fn timeline(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<Vec<Event>, Error> {
        let (page, _) = q.page_sql();
        let rows = q
            .bind_page(sqlx::query(safe(page)), household_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("reading the timeline"))?;
        Ok(rows.iter().map(event).collect())
    }

    /// The page of events `q` asks for, as the JSON array the API returns; from the
    /// timeline cache when this household's events have not changed since the same page
    /// was read (`timeline_cache.rs`).
    pub async fn timeline_json(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<Bytes, Error> {
        let cache = &self.timeline_cache;
        if !cache.enabled() {
            return Ok(Bytes::from(self.read_timeline_json(household_id, q).await?));
        }
        let (from_ms, until_ms, _, limit) = q.bounds();
        let key = PageKey { camera: q.camera.map(str::to_owned), from_ms, until_ms, descending: q.descending, limit };
        if let Some(page) = cache.get(household_id, &key) {
            return Ok(page);
        }
        let ticket = cache.ticket();
        let page = Bytes::from(self.read_timeline_json(household_id, q).await?);
        cache.put(household_id, key, ticket, page.clone());
        Ok(page)
    }

    /// Reads the page: the same events as [`Db::timeline`], as a JSON array with the keys of
    /// `api::types::EventJson`, built the cheapest way each database allows: by SQLite
    /// itself (`json_group_array`, read through the read-only connections), and on
    /// PostgreSQL here, from rows decoded by sqlx's native driver (PostgreSQL's own JSON
    /// and text functions cost it more CPU than the query; the `storage` tests compare
    /// both outputs with the typed rows).
    async fn read_timeline_json(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<String, Error> {
        let (page, order) = q.page_sql();
        if let Some(pg) = &self.pg {
            let rows = q
                .bind_page(sqlx::query(safe(page)), household_id)
                .fetch_all(pg)
                .await
                .map_err(db_err("reading the timeline"))?;
            return Ok(events_json(&rows));
        }
        let fields = "'id', id, 'camera', camera, 'device_id', device_id, 'start_ms', start_ms, 'end_ms', end_ms, \
                      'meta_object', meta_object, 'snapshot_object', snapshot_object, 'clip_object', clip_object, \
                      'size_bytes', size_bytes";
        let sql = format!(
            "SELECT COALESCE(json_group_array(json_object({fields}) ORDER BY start_ms {order}, id {order}), '[]') \
             FROM ({page}) page"
        );
        if let Some(readers) = &self.readers {
            let (from, until, camera, limit) = q.bounds();
            return readers
                .with(|c| {
                    c.prepare_cached(&sql)?.query_row(
                        rusqlite::named_params! {"$1": household_id, "$2": from, "$3": until, "$4": camera, "$5": limit},
                        |r| r.get(0),
                    )
                })
                .map_err(|e| Error::wrap(base::ErrorKind::Internal, "reading the timeline", e));
        }
        // An in-memory SQLite database, which only the pool's connections can see.
        let r = q
            .bind_page(sqlx::query(safe(sql)), household_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("reading the timeline"))?;
        Ok(r.get(0))
    }

    /// Deletes events and every object they name in one transaction; chunks no longer
    /// referenced move to `doomed_chunk`, from which the blob layer deletes them and then
    /// forgets them ([`Db::forget_doomed`]). A crash between the two steps leaves only
    /// doomed rows, which the next pass finishes.
    pub async fn delete_events(&self, ids: &[String], now_ms: i64) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let mut households = std::collections::BTreeSet::new();
        for id in ids {
            let r = sqlx::query(
                "DELETE FROM event WHERE id = $1 RETURNING meta_object, snapshot_object, clip_object, household_id",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("deleting an event"))?;
            let Some(r) = r else { continue };
            households.insert(r.get::<String, _>(3));
            let objs: Vec<Option<String>> = vec![Some(r.get(0)), r.get(1), r.get(2)];
            for o in objs.into_iter().flatten() {
                delete_object_in(&mut tx, &o, now_ms).await?;
            }
        }
        tx.commit().await.map_err(db_err("committing a deletion"))?;
        for h in households {
            self.timeline_cache.invalidate(&h);
        }
        Ok(())
    }

    /// Deletes objects that no event names (uploads whose event never arrived, clips an
    /// agent sealed for an answer that was never sent) and no grant to an agency names,
    /// created before `before_ms`.
    pub async fn delete_orphan_objects(&self, before_ms: i64, now_ms: i64) -> Result<u64, Error> {
        let rows = sqlx::query(
            "SELECT id FROM object o WHERE created_ms < $1 AND NOT EXISTS (SELECT 1 FROM event e WHERE \
             e.meta_object = o.id OR e.snapshot_object = o.id OR e.clip_object = o.id) \
             AND NOT EXISTS (SELECT 1 FROM footage_grant g WHERE g.object_id = o.id)",
        )
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("finding orphan objects"))?;
        let mut tx = self.write_tx().await?;
        for r in &rows {
            delete_object_in(&mut tx, &r.get::<String, _>(0), now_ms).await?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(rows.len() as u64)
    }

    /// Chunks with no object, uploaded before `before_ms` (an upload abandoned half-way),
    /// are doomed too.
    pub async fn doom_unreferenced_chunks(&self, before_ms: i64, now_ms: i64) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT hash FROM chunk c WHERE created_ms < $1 AND NOT EXISTS (SELECT 1 FROM object_chunk oc WHERE oc.hash = c.hash) \
             AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.hash = c.hash)",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("finding unreferenced chunks"))?;
        let mut n = 0;
        for r in &rows {
            n += u64::from(doom_if_unreferenced(&mut tx, &r.get::<String, _>(0), now_ms).await?);
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(n)
    }

    pub async fn is_doomed(&self, hash: &str) -> Result<bool, Error> {
        let r = sqlx::query("SELECT 1 FROM doomed_chunk WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("checking a doomed chunk"))?;
        Ok(r.is_some())
    }

    pub async fn doomed_chunks(&self, limit: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT hash FROM doomed_chunk ORDER BY since_ms, hash LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing doomed chunks"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Forgets doomed chunks whose blobs are gone.
    pub async fn forget_doomed(&self, hashes: &[String]) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        for h in hashes {
            sqlx::query("DELETE FROM doomed_chunk WHERE hash = $1")
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db_err("forgetting a doomed chunk"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Every chunk row's hash, for `check`.
    pub async fn all_chunks(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query("SELECT hash, size_bytes FROM chunk ORDER BY hash")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing chunks"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Object-chunk and post-media references whose chunk row is missing (must be none).
    pub async fn dangling_references(&self) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT oc.object_id, oc.hash FROM object_chunk oc WHERE NOT EXISTS (SELECT 1 FROM chunk c WHERE c.hash = oc.hash) \
             UNION ALL SELECT e.id, e.meta_object FROM event e WHERE NOT EXISTS (SELECT 1 FROM object o WHERE o.id = e.meta_object) \
             UNION ALL SELECT m.id, m.hash FROM post_media m WHERE NOT EXISTS (SELECT 1 FROM chunk c WHERE c.hash = m.hash)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("checking references"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The events a retention pass deletes: those starting before `cutoff_ms`, then the
    /// oldest until the rest fit in `bytes_max`. `camera` narrows it to one camera.
    pub async fn retention_candidates(
        &self,
        household_id: &str,
        camera: Option<&str>,
        cutoff_ms: i64,
        bytes_max: i64,
        limit: i64,
    ) -> Result<Doomed, Error> {
        let cam = if camera.is_some() { "AND camera = $2" } else { "AND $2 = $2" };
        let total: i64 = sqlx::query(safe(format!(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM event WHERE household_id = $1 {cam}"
        )))
        .bind(household_id)
        .bind(camera.unwrap_or(""))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("summing event sizes"))?
        .get::<i64, _>(0);
        let rows = sqlx::query(safe(format!(
            "SELECT id, start_ms, size_bytes FROM event WHERE household_id = $1 {cam} ORDER BY start_ms, id LIMIT $3"
        )))
        .bind(household_id)
        .bind(camera.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing old events"))?;
        let mut out = Doomed { events: Vec::new(), bytes: 0 };
        let mut left = total;
        for r in &rows {
            let (id, start, size): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            if start >= cutoff_ms && left <= bytes_max {
                break;
            }
            out.events.push(id);
            out.bytes += size;
            left -= size;
        }
        Ok(out)
    }

    /// One camera's own retention, tighter or looser than its household's; `None` removes
    /// it (the household's applies).
    pub async fn set_camera_retention(
        &self,
        household_id: &str,
        camera: &str,
        limits: Option<(i64, i64)>,
    ) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM camera_retention WHERE household_id = $1 AND camera = $2")
            .bind(household_id)
            .bind(camera)
            .execute(&mut *tx)
            .await
            .map_err(db_err("clearing a camera's retention"))?;
        if let Some((days, bytes)) = limits {
            sqlx::query("INSERT INTO camera_retention (household_id, camera, retention_days, retention_bytes) VALUES ($1, $2, $3, $4)")
                .bind(household_id)
                .bind(camera)
                .bind(days)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(db_err("setting a camera's retention"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Each camera with its own retention: (camera, days, bytes).
    pub async fn camera_retentions(&self, household_id: &str) -> Result<Vec<(String, i64, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT camera, retention_days, retention_bytes FROM camera_retention WHERE household_id = $1 ORDER BY camera",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading camera retention"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// The distinct cameras with events in a household.
    pub async fn cameras(&self, household_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT DISTINCT camera FROM event WHERE household_id = $1 ORDER BY camera")
            .bind(household_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing cameras"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    // ---- logs ----

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

async fn delete_object_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str, now_ms: i64) -> Result<(), Error> {
    let hashes: Vec<String> = sqlx::query("SELECT hash FROM object_chunk WHERE object_id = $1")
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("listing an object's chunks"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    sqlx::query("DELETE FROM object_chunk WHERE object_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting an object's chunks"))?;
    sqlx::query("DELETE FROM object WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting an object"))?;
    for h in hashes {
        doom_if_unreferenced(tx, &h, now_ms).await?;
    }
    Ok(())
}

/// Dooms a chunk that no object and no post's photo or clip names any more.
/// Dooms a chunk that nothing references; returns whether it did. The chunk's row is
/// locked before its references are read, and `insert_object` locks the same row before it
/// adds a reference: on PostgreSQL (read committed) a deletion that read "no references"
/// while an upload was adding one would otherwise doom a chunk the new object names, and
/// the collector would delete a blob in use. Whichever locks first wins; the other then
/// sees its effect (the reference, or the chunk gone, which the upload is told to send
/// again).
pub(super) async fn doom_if_unreferenced(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    let exists = sqlx::query("UPDATE chunk SET size_bytes = size_bytes WHERE hash = $1 RETURNING size_bytes")
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("locking a chunk"))?;
    if exists.is_none() {
        return Ok(false);
    }
    let still = sqlx::query(
        "SELECT 1 FROM object_chunk WHERE hash = $1 UNION ALL SELECT 1 FROM post_media WHERE hash = $1 LIMIT 1",
    )
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err("checking a chunk's references"))?;
    if still.is_some() {
        return Ok(false);
    }
    doom_chunk_in(tx, hash, now_ms).await?;
    Ok(true)
}

async fn doom_chunk_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, hash: &str, now_ms: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM chunk WHERE hash = $1")
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting a chunk row"))?;
    sqlx::query("INSERT INTO doomed_chunk (hash, since_ms) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
        .bind(hash)
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map_err(db_err("dooming a chunk"))?;
    Ok(())
}
