pub mod accounts;
pub mod households;
pub mod sync;
