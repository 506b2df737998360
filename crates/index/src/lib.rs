//! The agent's recording index: which frames of which camera are in which segment file,
//! and the events the agent found in them.
//!
//! Owns the SQLite schema (frozen `schema/vN.sql` plus `vN_to_vN+1` upgrades), the row types
//! and every query the agent runs. Deliberately does not touch segment files: the agent
//! crate pairs rows with files and documents the crash-safety procedure
//! (`design/recording.md`). Links rusqlite only: the server's database (`db`, sqlx and the
//! PostgreSQL driver) is another crate the agent does not link.
//!
//! The database runs in WAL mode with `synchronous = FULL`, so a committed transaction
//! survives power loss; the agent commits every flush interval (default 500 ms).

mod rows;
mod schema;

pub use rows::*;
pub use rusqlite::Connection;
pub use schema::{SCHEMA_VERSION, create_at_version, open, open_read_only};
