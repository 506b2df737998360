//! The server's database: accounts, households, devices, the rows that describe the
//! ciphertext the blob store holds, the neighbourhood, agencies and the transparency log,
//! on SQLite or PostgreSQL (`server`). The agent's recording index is the `index` crate.

pub mod server;
