//! Creating, opening and upgrading the database.

use std::path::Path;

use base::{Error, ErrorKind, ResultExt, bail};
use rusqlite::{Connection, OpenFlags};

pub const SCHEMA_VERSION: i64 = 5;

/// Frozen schemas, indexed by version − 1. Fresh databases are created at the newest.
const FROZEN: &[&str] = &[
    include_str!("schema/v1.sql"),
    include_str!("schema/v2.sql"),
    include_str!("schema/v3.sql"),
    include_str!("schema/v4.sql"),
    include_str!("schema/v5.sql"),
];

/// Upgrade steps: `UPGRADES[i]` takes version i+1 to i+2.
const UPGRADES: &[fn(&rusqlite::Transaction) -> rusqlite::Result<()>] = &[v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5];

/// Version 2 adds events (the detection issue): the part of v2.sql after its marker.
fn v1_to_v2(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let v2 = FROZEN[1];
    let at = v2.find("-- EVENT_TABLE_START").expect("v2.sql has its marker");
    tx.execute_batch(&v2[at..])
}

/// Version 3 (the alerts issue): events open while they go on, linked when a long one is
/// cut, and whether their start was sealed. The table is rebuilt from v3.sql's text (so an
/// upgraded database is exactly a fresh one); the events already there are closed and have
/// no start to send.
fn v2_to_v3(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let v3 = FROZEN[2];
    let at = v3.find("-- EVENT_TABLE_START").expect("v3.sql has its marker");
    tx.execute_batch(
        "drop index event_camera_start; drop index event_not_uploaded; alter table event rename to event_v2;",
    )?;
    tx.execute_batch(&v3[at..])?;
    tx.execute_batch(
        "insert into event (id, camera_id, kind, label, start_90k, end_90k, score, zones, clip_start_90k, \
         clip_end_90k, has_snapshot, box, uploaded, open, start_sealed, continues) \
         select id, camera_id, kind, label, start_90k, end_90k, score, zones, clip_start_90k, clip_end_90k, \
         has_snapshot, box, uploaded, 0, 1, null from event_v2; drop table event_v2;",
    )
}

/// Version 4 (the doorbell's voice): a camera's sound is a stream of its own (`audio`), and
/// sample entries may be audio ones. SQLite cannot change a check constraint in place, so
/// both tables are rebuilt from v4.sql's text: the old one renamed aside (with
/// `legacy_alter_table`, so that `run` and `segment` keep naming `stream` and `sample_entry`),
/// the new one created exactly as a fresh database has it, the rows copied, the old dropped.
/// The caller runs upgrades with foreign keys off and checks them before committing.
fn v3_to_v4(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    rebuild(tx, FROZEN[3], &["stream", "sample_entry"])
}

/// Version 5 (Opus from cameras): sample entries may be `opus`. `sample_entry` is rebuilt
/// as v3_to_v4 rebuilds it.
fn v4_to_v5(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    rebuild(tx, FROZEN[4], &["sample_entry"])
}

/// Rebuilds `tables` as `schema` (a frozen schema's text) defines them, rows kept.
fn rebuild(tx: &rusqlite::Transaction, schema: &str, tables: &[&str]) -> rusqlite::Result<()> {
    let table = |name: &str| -> &str {
        let start = schema.find(&format!("create table {name} (")).expect("the schema defines the table");
        let end = start + schema[start..].find(");").expect("the definition ends") + 2;
        &schema[start..end]
    };
    tx.execute_batch("pragma legacy_alter_table = on;")?;
    for name in tables {
        tx.execute_batch(&format!("alter table {name} rename to {name}_old;"))?;
        tx.execute_batch(table(name))?;
        tx.execute_batch(&format!("insert into {name} select * from {name}_old; drop table {name}_old;"))?;
    }
    tx.execute_batch("pragma legacy_alter_table = off;")
}

const _: () = assert!(FROZEN.len() as i64 == SCHEMA_VERSION && UPGRADES.len() as i64 == SCHEMA_VERSION - 1);

fn pragmas(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch(
        "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; pragma busy_timeout = 5000;",
    )
    .err_kind(ErrorKind::Internal, || "setting database pragmas")
}

/// Opens (creating if needed) the database at `path`, upgrading it to [`SCHEMA_VERSION`].
pub fn open(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path).err_kind(ErrorKind::Internal, || format!("opening {}", path.display()))?;
    pragmas(&conn)?;
    init_or_upgrade(conn, path)
}

/// Creates a database at a given frozen version (for upgrade tests).
pub fn create_at_version(path: &Path, version: i64) -> Result<Connection, Error> {
    let mut conn = Connection::open(path).err_kind(ErrorKind::Internal, || format!("opening {}", path.display()))?;
    pragmas(&conn)?;
    let Some(sql) = usize::try_from(version - 1).ok().and_then(|i| FROZEN.get(i)) else {
        bail!(InvalidArgument, "no frozen schema version {version}");
    };
    let tx = conn.transaction().err_kind(ErrorKind::Internal, || "begin")?;
    tx.execute_batch(sql).err_kind(ErrorKind::Internal, || format!("creating schema v{version}"))?;
    tx.execute("insert into meta (schema_version, db_uuid) values (?, lower(hex(randomblob(16))))", [version])
        .err_kind(ErrorKind::Internal, || "writing meta")?;
    tx.commit().err_kind(ErrorKind::Internal, || "commit")?;
    Ok(conn)
}

fn init_or_upgrade(mut conn: Connection, path: &Path) -> Result<Connection, Error> {
    let has_meta: bool = conn
        .query_row("select count(*) from sqlite_master where type = 'table' and name = 'meta'", [], |r| {
            r.get::<_, i64>(0)
        })
        .err_kind(ErrorKind::Internal, || "reading sqlite_master")?
        > 0;
    if !has_meta {
        drop(conn);
        return create_at_version(path, SCHEMA_VERSION);
    }
    let version: i64 = conn
        .query_row("select schema_version from meta", [], |r| r.get(0))
        .err_kind(ErrorKind::DataLoss, || format!("{}: reading schema version", path.display()))?;
    if version > SCHEMA_VERSION {
        bail!(
            FailedPrecondition,
            "{} has schema version {version}, newer than this binary's {SCHEMA_VERSION}; upgrade porchlight",
            path.display()
        );
    }
    if version < 1 {
        bail!(DataLoss, "{} has invalid schema version {version}", path.display());
    }
    if version == SCHEMA_VERSION {
        return Ok(conn);
    }
    // Rebuilding a table that others refer to needs foreign keys off (they cannot be turned
    // off inside a transaction); each step checks them all before it commits.
    conn.execute_batch("pragma foreign_keys = off;").err_kind(ErrorKind::Internal, || "pragma")?;
    for v in version..SCHEMA_VERSION {
        let tx = conn.transaction().err_kind(ErrorKind::Internal, || "begin upgrade")?;
        UPGRADES[(v - 1) as usize](&tx).err_kind(ErrorKind::Internal, || format!("upgrading v{v} to v{}", v + 1))?;
        let broken: i64 = tx
            .query_row("select count(*) from pragma_foreign_key_check", [], |r| r.get(0))
            .err_kind(ErrorKind::Internal, || "checking foreign keys")?;
        if broken > 0 {
            bail!(DataLoss, "{}: upgrading v{v} to v{} would leave {broken} broken references", path.display(), v + 1);
        }
        tx.execute("update meta set schema_version = ?", [v + 1]).err_kind(ErrorKind::Internal, || "meta")?;
        tx.commit().err_kind(ErrorKind::Internal, || "commit upgrade")?;
        tracing::info!("upgraded {} from schema v{v} to v{}", path.display(), v + 1);
    }
    conn.execute_batch("pragma foreign_keys = on;").err_kind(ErrorKind::Internal, || "pragma")?;
    Ok(conn)
}

/// Opens an existing database without writing to it.
pub fn open_read_only(path: &Path) -> Result<Connection, Error> {
    if !path.exists() {
        bail!(NotFound, "no recording database at {}", path.display());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .err_kind(ErrorKind::Internal, || format!("opening {} read-only", path.display()))?;
    conn.execute_batch("pragma busy_timeout = 5000;").err_kind(ErrorKind::Internal, || "pragma")?;
    let version: i64 = conn
        .query_row("select schema_version from meta", [], |r| r.get(0))
        .err_kind(ErrorKind::DataLoss, || format!("{}: reading schema version", path.display()))?;
    if version != SCHEMA_VERSION {
        bail!(
            FailedPrecondition,
            "{} has schema version {version}, expected {SCHEMA_VERSION}; run the agent once to upgrade",
            path.display()
        );
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("select type || ' ' || name || ': ' || coalesce(sql, '') from sqlite_master order by type, name")
            .unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn every_version_upgrades_to_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = open(&dir.path().join("fresh.db")).unwrap();
        for v in 1..=SCHEMA_VERSION {
            let p = dir.path().join(format!("v{v}.db"));
            drop(create_at_version(&p, v).unwrap());
            let upgraded = open(&p).unwrap();
            assert_eq!(schema_of(&upgraded), schema_of(&fresh), "v{v} upgraded differs from fresh");
        }
    }

    #[test]
    fn v1_footage_survives_the_upgrade_and_takes_events() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v1.db");
        let c = create_at_version(&p, 1).unwrap();
        let stream = crate::ensure_stream(&c, "front", crate::StreamKind::Main).unwrap();
        c.execute("insert into run (stream_id, start_90k, end_90k) values (?, 90000, 180000)", [stream]).unwrap();
        drop(c);
        let c = open(&p).unwrap();
        let v: i64 = c.query_row("select schema_version from meta", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let runs: i64 = c.query_row("select count(*) from run", [], |r| r.get(0)).unwrap();
        assert_eq!(runs, 1, "footage index kept");
        let e = crate::EventRow {
            id: 0,
            camera: "front".into(),
            kind: "person".into(),
            label: "person".into(),
            start_90k: 100,
            end_90k: 200,
            score: 0.6,
            zones: vec!["porch".into(), "path".into()],
            clip_start_90k: 0,
            clip_end_90k: 300,
            has_snapshot: true,
            bbox: Some([0.1, 0.2, 0.3, 0.4]),
            uploaded: false,
            open: false,
            start_sealed: true,
            continues: None,
        };
        assert_eq!(crate::next_event_id(&c).unwrap(), 1);
        let id = crate::insert_event(&c, &e).unwrap();
        assert_eq!(crate::get_event(&c, id).unwrap(), Some(crate::EventRow { id, ..e.clone() }));
        // Bad events are clear errors and change nothing.
        for bad in [
            crate::EventRow { kind: "ghost".into(), ..e.clone() },
            crate::EventRow { end_90k: 50, ..e.clone() },
            crate::EventRow { score: 1.5, ..e.clone() },
            crate::EventRow { camera: "nowhere".into(), ..e.clone() },
        ] {
            assert!(crate::insert_event(&c, &bad).is_err());
        }
        assert_eq!(crate::list_events(&c, None, 10).unwrap().len(), 1);
        assert_eq!(crate::list_events(&c, Some("back"), 10).unwrap().len(), 0);
    }

    /// v2's events survive the rebuild of their table, closed and with no start to send;
    /// an event opened at its start is finished once, and a crash's open events are closed.
    #[test]
    fn v2_events_survive_and_open_events_finish() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v2.db");
        let c = create_at_version(&p, 2).unwrap();
        crate::ensure_stream(&c, "front", crate::StreamKind::Main).unwrap();
        c.execute_batch(
            "insert into event (camera_id, kind, label, start_90k, end_90k, score, zones, clip_start_90k, \
             clip_end_90k, has_snapshot, box, uploaded) select id, 'doorbell', 'doorbell', 10, 10, 0, '', 0, 20, 0, \
             null, 0 from camera",
        )
        .unwrap();
        drop(c);
        let c = open(&p).unwrap();
        let old = crate::get_event(&c, 1).unwrap().unwrap();
        assert_eq!((old.kind.as_str(), old.open, old.start_sealed, old.continues), ("doorbell", false, true, None));
        assert!(crate::events_to_start(&c, 10).unwrap().is_empty());

        let opened = crate::EventRow {
            id: 0,
            kind: "person".into(),
            label: "person".into(),
            start_90k: 100,
            end_90k: 100,
            score: 0.4,
            clip_start_90k: 0,
            clip_end_90k: 200,
            open: true,
            start_sealed: false,
            continues: Some(1),
            ..old.clone()
        };
        let id = crate::insert_event(&c, &opened).unwrap();
        assert_eq!(crate::events_to_start(&c, 10).unwrap(), vec![id]);
        crate::mark_start_sealed(&c, id).unwrap();
        assert!(crate::events_to_start(&c, 10).unwrap().is_empty());
        let done = crate::EventRow { id, end_90k: 900, clip_end_90k: 1000, score: 0.8, label: "man".into(), ..opened };
        assert!(crate::finish_event(&c, &done).unwrap());
        let got = crate::get_event(&c, id).unwrap().unwrap();
        assert_eq!(got, crate::EventRow { open: false, start_sealed: true, ..done.clone() });
        assert!(!crate::finish_event(&c, &done).unwrap(), "finished once");
        assert!(crate::finish_event(&c, &crate::EventRow { end_90k: 50, ..done.clone() }).is_err());
        let again = crate::insert_event(&c, &crate::EventRow { open: true, ..done }).unwrap();
        assert_eq!(crate::close_open_events(&c).unwrap(), 1);
        assert!(!crate::get_event(&c, again).unwrap().unwrap().open);
    }

    /// v3's and v4's footage survives the rebuilds of `stream` and `sample_entry` (which
    /// `run` and `segment` refer to), references intact, and takes sound (Opus too)
    /// afterwards.
    #[test]
    fn v3_and_v4_footage_survives_and_takes_sound() {
        for v in [3, 4] {
            footage_survives_the_upgrade_from(v);
        }
    }

    fn footage_survives_the_upgrade_from(version: i64) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.db");
        let c = create_at_version(&p, version).unwrap();
        let stream = crate::ensure_stream(&c, "front", crate::StreamKind::Main).unwrap();
        c.execute_batch(&format!(
            "insert into sample_entry (codec, width, height, rfc6381_codec, data) values ('h264', 640, 360, 'avc1.4d001f', x'00'); \
             insert into run (stream_id, start_90k, end_90k) values ({stream}, 90000, 180000); \
             insert into segment (stream_id, run_id, sample_entry_id, start_90k, duration_90k, frames, key_frames, \
             size_bytes, open, frame_index) values ({stream}, 1, 1, 90000, 90000, 1, 1, 10, 0, x'14');"
        ))
        .unwrap();
        drop(c);
        let c = open(&p).unwrap();
        let seg: (i64, i64, i64) = c
            .query_row("select stream_id, run_id, sample_entry_id from segment", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(seg, (stream, 1, 1));
        let broken: i64 = c.query_row("select count(*) from pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
        assert_eq!(broken, 0);
        let fk: i64 = c.query_row("pragma foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1, "foreign keys are on again after the upgrade");
        let sound = crate::ensure_stream(&c, "front", crate::StreamKind::Audio).unwrap();
        assert_ne!(sound, stream);
        for e in [media::SampleEntry::pcm(media::Codec::Pcmu, 8000, 1).unwrap(), media::SampleEntry::opus(1).unwrap()] {
            let id = crate::intern_sample_entry(&c, &e).unwrap();
            assert_eq!(crate::get_sample_entry(&c, id).unwrap(), e);
        }
        // A segment naming a stream that does not exist is still refused.
        assert!(c.execute("insert into run (stream_id, start_90k) values (999, 0)", []).is_err());
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        let c = open(&p).unwrap();
        c.execute("update meta set schema_version = 99", []).unwrap();
        drop(c);
        let e = open(&p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(e.msg().contains("99"), "{e}");
    }
}
