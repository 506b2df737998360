pub mod accounts;
pub mod households;
pub mod passkeys;
pub mod sync;
