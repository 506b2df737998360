//! Numbered schema versions for the server database. `v1.sql` is frozen; a later version
//! adds `vN.sql` (the fresh schema) and `vN-1_to_vN.sql` (the upgrade), and the test
//! test `upgraded_equals_fresh` (crates/db/tests/server_schema.rs) checks that both paths give the same tables, columns and indexes.

use base::{Error, bail};
use sqlx::Row;

use super::{Backend, Db, db_err, safe};

pub const SCHEMA_VERSION: i64 = 11;

/// The fresh schema of each version, in the shared dialect.
const FRESH: &[&str] = &[
    include_str!("schema/v1.sql"),
    include_str!("schema/v2.sql"),
    include_str!("schema/v3.sql"),
    include_str!("schema/v4.sql"),
    include_str!("schema/v5.sql"),
    include_str!("schema/v6.sql"),
    include_str!("schema/v7.sql"),
    include_str!("schema/v8.sql"),
    include_str!("schema/v9.sql"),
    include_str!("schema/v10.sql"),
    include_str!("schema/v11.sql"),
];

/// `UPGRADES[i]` takes version `i + 1` to `i + 2`.
const UPGRADES: &[&str] = &[
    include_str!("schema/v1_to_v2.sql"),
    include_str!("schema/v2_to_v3.sql"),
    include_str!("schema/v3_to_v4.sql"),
    include_str!("schema/v4_to_v5.sql"),
    include_str!("schema/v5_to_v6.sql"),
    include_str!("schema/v6_to_v7.sql"),
    include_str!("schema/v7_to_v8.sql"),
    include_str!("schema/v8_to_v9.sql"),
    include_str!("schema/v9_to_v10.sql"),
    include_str!("schema/v10_to_v11.sql"),
];

fn dialect(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => sql.replace("BYTEA", "BLOB"),
        Backend::Postgres => sql.to_owned(),
    }
}

async fn current_version(db: &Db) -> Result<Option<i64>, Error> {
    let exists_sql = match db.backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = current_schema()"
        }
    };
    let n: i64 = sqlx::query(exists_sql).fetch_one(&db.pool).await.map_err(db_err("reading the schema"))?.get(0);
    if n == 0 {
        return Ok(None);
    }
    let v: i64 =
        sqlx::query("SELECT version FROM meta").fetch_one(&db.pool).await.map_err(db_err("reading meta"))?.get(0);
    Ok(Some(v))
}

/// Runs a script in one transaction; for an upgrade to `version`, the version row moves in
/// that same transaction, so a crash leaves the database wholly at the old version or
/// wholly at the new one (a commit of the script without the version would make the next
/// start run it again, on tables that already exist).
async fn run_script(db: &Db, sql: &str, version: Option<i64>) -> Result<(), Error> {
    let mut tx = db.write_tx().await?;
    for stmt in split_statements(&dialect(sql, db.backend)) {
        sqlx::query(safe(stmt)).execute(&mut *tx).await.map_err(db_err("applying the schema"))?;
    }
    if let Some(v) = version {
        sqlx::query("UPDATE meta SET version = $1")
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err("recording the schema version"))?;
    }
    tx.commit().await.map_err(db_err("committing the schema"))?;
    Ok(())
}

/// Splits a script into statements on `;` at line ends, dropping `--` comment lines.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let t = line.trim();
        if t.starts_with("--") || t.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Creates the schema at `target` when the database is empty, or applies upgrades up to it.
pub(super) async fn upgrade_to(db: &Db, target: i64) -> Result<(), Error> {
    match current_version(db).await? {
        None => run_script(db, FRESH[(target - 1) as usize], None).await,
        Some(v) if v > SCHEMA_VERSION => {
            bail!(FailedPrecondition, "server database: schema version {v} is newer than this build's {SCHEMA_VERSION}")
        }
        Some(mut v) => {
            while v < target {
                run_script(db, UPGRADES[(v - 1) as usize], Some(v + 1)).await?;
                v += 1;
            }
            Ok(())
        }
    }
}

/// A normalized description of the schema (tables with their columns and types, indexes),
/// for comparing an upgraded database with a fresh one.
pub async fn schema_dump(db: &Db) -> Result<Vec<String>, Error> {
    let sql = match db.backend {
        Backend::Sqlite => {
            "SELECT m.name || '.' || p.name || ' ' || p.type || ' ' || p.\"notnull\" || ' ' || COALESCE(p.dflt_value, '') \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             UNION ALL SELECT 'index ' || name || ' ' || tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        }
        Backend::Postgres => {
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '') \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             UNION ALL SELECT 'index ' || indexname || ' ' || tablename FROM pg_indexes WHERE schemaname = current_schema()"
        }
    };
    let mut rows: Vec<String> = sqlx::query(sql)
        .fetch_all(&db.pool)
        .await
        .map_err(db_err("dumping the schema"))?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    rows.sort();
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_line_end_semicolons() {
        let s = split_statements(
            "-- c\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\nINSERT INTO a VALUES ('1;2');\n",
        );
        assert_eq!(s.len(), 3);
        assert!(s[2].contains("'1;2'"));
    }

    #[test]
    fn every_version_has_a_fresh_script_and_an_upgrade() {
        assert_eq!(FRESH.len() as i64, SCHEMA_VERSION);
        assert_eq!(UPGRADES.len() as i64, SCHEMA_VERSION - 1);
        for (i, f) in FRESH.iter().enumerate() {
            assert!(f.contains(&format!("INSERT INTO meta (version) VALUES ({});", i + 1)), "v{}.sql", i + 1);
        }
    }
}
