pub mod accounts;
pub mod households;
pub mod live_view;
pub mod log;
pub mod neighbourhood;
pub mod passkeys;
pub mod post_media;
pub mod sync;
