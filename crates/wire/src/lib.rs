//! The wire contract: every request and reply that crosses a process boundary between the
//! agent, the server, the CLI and the browser, as Rust types.
//!
//! The server answers with these types and reads requests into them; the agent and the CLI
//! read the server's replies into them through [`client::Client`]; the browser's types are
//! generated from the server's OpenAPI document, which these types' schemas (feature
//! `openapi`) make. Requests deny unknown fields, so a misspelt field is a 400 naming it
//! rather than being ignored; replies accept unknown fields, so an older client reads a
//! newer server.
//!
//! Only serde and `base`'s error kinds here (utoipa and reqwest behind features): no
//! database, no HTTP framework, no crypto.

mod agencies;
#[cfg(feature = "client")]
pub mod client;
mod error;
mod log;
mod sealed;
mod types;

pub use agencies::*;
pub use error::*;
pub use log::*;
pub use sealed::*;
pub use types::*;
