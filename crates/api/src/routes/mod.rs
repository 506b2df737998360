pub mod accounts;
pub mod households;
pub mod live_view;
pub mod passkeys;
pub mod sync;
