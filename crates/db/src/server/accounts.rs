//! Accounts: passwords' hashes, TOTP, sign-in failures, keys, sessions, API tokens and passkeys.

use base::{Error, bail, err};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

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

pub(super) const ACCOUNT_COLS: &str =
    "id, email, password_hash, totp_secret, totp_confirmed, totp_last_step, public_keys, key_backup, created_ms";

pub(super) fn account(r: &AnyRow) -> Account {
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

/// Who an API token speaks for.
#[derive(Clone, Debug)]
pub struct Token {
    pub id: String,
    pub secret_hash: String,
    pub account_id: Option<String>,
    pub device_id: Option<String>,
    pub label: String,
}

impl Db {
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
}
