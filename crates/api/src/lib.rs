//! Porchlight's server API: the axum router and its OpenAPI document, authentication
//! (passwords, TOTP and passkeys, sessions with CSRF protection, bearer tokens for scripts
//! and agents), the one authorization table, and the routes (`routes::*`, which never
//! import each other; what they share is in `objects`, `relay`, `session`, `actor`,
//! `requests` and `posts`).
//!
//! Owns: HTTP. The only crate that knows status codes or cookies; errors become statuses
//! in exactly one place (`error::status_of`). Deliberately does not own: the JSON's shape
//! (`wire`), storage (`db::server`, `blob`), the meaning of ciphertext (it checks signed
//! headers with `crypto` but holds no key that opens anything), or configuration files.
//! What the server may and may not see is design/server.md.

/// `bail!` for handlers: returns a `base::Error` converted into whatever error type the
/// function returns (`ApiError` or `base::Error`).
macro_rules! bail {
    ($kind:ident, $($arg:tt)+) => {
        return Err(base::err!($kind, $($arg)+).into())
    };
}

pub mod actor;
pub mod auth;
pub mod error;
mod extract;
pub mod guard;
pub mod log;
mod objects;
mod posts;
mod relay;
mod requests;
mod routes;
mod session;

/// The neighbourhood posting rules a server has unless its operator writes its own.
pub use routes::neighbourhood::DEFAULT_RULES;
pub use routes::post_media::check_jpeg;
pub use routes::responses::grant_purpose;
pub use routes::sync::scoped_event_id;

/// Logs the expiry of every footage request past it; returns how many.
pub async fn expire_requests(st: &AppState) -> Result<u64, base::Error> {
    requests::expire_due(st).await
}

/// Loads what the first requests would otherwise wait for: the neighbourhood feed's
/// per-area post counts.
pub async fn preload(st: &AppState) -> Result<(), base::Error> {
    routes::neighbourhood::area_counts(st).await.map(|_| ()).map_err(|e| e.0)
}
pub mod push;
pub mod secrets;
pub mod state;
pub mod totp_keys;
pub mod types;
pub mod webauthn;
pub mod webhook;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use routes::sync::STATUS_EVERY_MS;
pub use state::{AppState, Settings, system_clock};

use crate::state::Metrics;

#[derive(OpenApi)]
#[openapi(
    info(title = "Porchlight server API", description = "Stores ciphertext and the least metadata its features need; see design/server.md."),
    tags((name = "accounts"), (name = "passkeys"), (name = "households"), (name = "pairing"), (name = "sync"), (name = "timeline"), (name = "log"), (name = "agencies"), (name = "push"), (name = "meta")),
    // Not in any operation: sealed between agent and browser, or sent to webhooks and push
    // services. Listed so that the web app's types for them are generated too.
    components(schemas(wire::EventMeta, wire::PreparedClip, wire::ClipFailed, wire::WebhookEvent, wire::PushMessage, wire::HistoryReply))
)]
struct ApiDoc;

#[utoipa::path(get, path = "/api/health", responses((status = 200, body = crate::types::Ok)), tag = "meta")]
async fn health() -> extract::Json<types::Ok> {
    extract::Json(types::Ok { ok: true })
}

/// Prometheus metrics, for the operator's scraper only: `Authorization: Bearer` with the
/// server's `metrics_token` (the Prometheus convention). Without a configured token nobody
/// may read them.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)), tag = "meta")]
async fn metrics(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Result<Response, error::ApiError> {
    let Some(want) = st.settings.metrics_token.as_deref() else {
        return Err(base::err!(PermissionDenied, "metrics: this server has no metrics_token configured").into());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| base::err!(Unauthenticated, "authorization: expected Bearer and the metrics token"))?;
    use sha2::Digest;
    // Compared as digests, so the time taken says nothing about how much of it matched.
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(want.as_bytes()) {
        return Err(base::err!(Unauthenticated, "authorization: not the metrics token").into());
    }
    let mut text = st.metrics.render();
    let c = st.db.timeline_cache_stats();
    for (name, kind, help, v) in [
        ("porchlight_timeline_cache_hits_total", "counter", "timeline pages served from memory", c.hits),
        ("porchlight_timeline_cache_misses_total", "counter", "timeline pages read from the database", c.misses),
        ("porchlight_timeline_cache_pages", "gauge", "timeline pages in memory", c.pages),
        ("porchlight_timeline_cache_bytes", "gauge", "bytes the timeline cache holds", c.bytes),
        (
            "porchlight_webhooks_queued",
            "gauge",
            "webhook deliveries waiting, retries included",
            st.webhooks.queued() as u64,
        ),
    ] {
        Metrics::push(&mut text, name, kind, help, v);
    }
    worker_metrics(&mut text, &st.workers.lock().expect("workers").status());
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Each background worker's passes, failures, work done and last success, labelled by name.
fn worker_metrics(text: &mut String, workers: &[base::worker::WorkerStatus]) {
    use std::fmt::Write;
    type Read = fn(&base::worker::WorkerStatus) -> i64;
    let rows: [(&str, &str, &str, Read); 4] = [
        ("porchlight_worker_passes_total", "counter", "passes a background worker ran", |w| w.passes as i64),
        ("porchlight_worker_failures_total", "counter", "passes a background worker failed", |w| w.failures as i64),
        ("porchlight_worker_done_total", "counter", "things a background worker did", |w| w.done as i64),
        (
            "porchlight_worker_last_success_ms",
            "gauge",
            "when a background worker last succeeded (Unix ms; 0: never)",
            |w| w.last_success_ms.unwrap_or(0),
        ),
    ];
    for (name, kind, help, f) in rows {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for w in workers {
            let _ = writeln!(text, "{name}{{worker=\"{}\"}} {}", w.name, f(w));
        }
    }
}

async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    Metrics::add(&st.metrics.requests, 1);
    let resp = next.run(req).await;
    if resp.status().is_client_error() {
        Metrics::add(&st.metrics.responses_4xx, 1);
    } else if resp.status().is_server_error() {
        Metrics::add(&st.metrics.responses_5xx, 1);
    }
    resp
}

fn api_router() -> OpenApiRouter<AppState> {
    use routes::{
        accounts, agencies, households, live_view, log, neighbourhood, passkeys, post_media, push_subscriptions,
        responses, sync, talk,
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(accounts::signup))
        .routes(routes!(accounts::totp_confirm))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::login_totp))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::session))
        .routes(routes!(accounts::set_keys))
        .routes(routes!(accounts::keys_challenge))
        .routes(routes!(accounts::key_backup))
        .routes(routes!(accounts::list_tokens, accounts::create_token))
        .routes(routes!(accounts::delete_token))
        .routes(routes!(accounts::security_events))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::delete))
        .routes(routes!(passkeys::login_start))
        .routes(routes!(passkeys::login_finish))
        .routes(routes!(households::create))
        .routes(routes!(households::get, households::patch))
        .routes(routes!(households::members))
        .routes(routes!(households::remove_member))
        .routes(routes!(households::invite))
        .routes(routes!(households::accept))
        .routes(routes!(households::create_pairing))
        .routes(routes!(households::pairing_offer, households::complete_pairing))
        .routes(routes!(households::devices))
        .routes(routes!(push_subscriptions::push_key))
        .routes(routes!(push_subscriptions::push_subscriptions, push_subscriptions::push_subscribe))
        .routes(routes!(push_subscriptions::push_unsubscribe))
        .routes(routes!(households::revoke_device))
        .routes(routes!(households::access_log))
        .routes(routes!(households::set_camera_retention))
        .routes(routes!(sync::device_self))
        .routes(routes!(sync::device_status))
        .routes(routes!(sync::device_roster))
        .routes(routes!(households::put_roster, households::get_roster))
        .routes(routes!(households::put_settings, households::get_settings))
        .routes(routes!(sync::device_settings))
        .routes(routes!(neighbourhood::put_home, neighbourhood::get_home))
        .routes(routes!(neighbourhood::create_post))
        .routes(routes!(neighbourhood::feed))
        .routes(routes!(neighbourhood::feed_live))
        .routes(routes!(neighbourhood::edit_post, neighbourhood::delete_post))
        .routes(routes!(neighbourhood::comments, neighbourhood::add_comment))
        .routes(routes!(neighbourhood::delete_comment))
        .routes(routes!(neighbourhood::report_post))
        .routes(routes!(neighbourhood::contact_poster))
        .routes(routes!(neighbourhood::relay_threads))
        .routes(routes!(neighbourhood::relay_conversation, neighbourhood::relay_reply))
        .routes(routes!(neighbourhood::rules, neighbourhood::accept_rules))
        .routes(routes!(neighbourhood::moderation_queue))
        .routes(routes!(neighbourhood::moderate))
        .routes(routes!(post_media::upload_media))
        .routes(routes!(post_media::get_media))
        .routes(routes!(post_media::prepare_clip))
        .routes(routes!(post_media::device_prepared))
        .routes(routes!(post_media::moderation_media))
        .routes(routes!(sync::device_keys))
        .routes(routes!(sync::device_wait))
        .routes(routes!(live_view::start_live))
        .routes(routes!(live_view::start_history))
        .routes(routes!(live_view::start_still))
        .routes(routes!(live_view::watch_live))
        .routes(routes!(live_view::feed_live))
        .routes(routes!(talk::start_talk, talk::talkers))
        .routes(routes!(talk::send_talk, talk::stop_talk))
        .routes(routes!(talk::take_talk))
        .routes(routes!(talk::talk_state))
        .routes(routes!(sync::camera_status))
        .routes(routes!(sync::missing_chunks))
        .routes(routes!(sync::put_chunk))
        .routes(routes!(sync::commit_object))
        .routes(routes!(sync::commit_event))
        .routes(routes!(sync::timeline))
        .routes(routes!(sync::get_object))
        .routes(routes!(sync::delete_event))
        .routes(routes!(sync::live))
        .routes(routes!(log::head))
        .routes(routes!(log::head_at))
        .routes(routes!(log::entries))
        .routes(routes!(log::inclusion))
        .routes(routes!(log::consistency))
        .routes(routes!(agencies::apply, agencies::verified))
        .routes(routes!(agencies::mine))
        .routes(routes!(agencies::operator_list))
        .routes(routes!(agencies::verify))
        .routes(routes!(agencies::reject))
        .routes(routes!(agencies::legal_demand))
        .routes(routes!(agencies::create_request, agencies::agency_requests))
        .routes(routes!(agencies::offered))
        .routes(routes!(agencies::post_alert, agencies::agency_alerts))
        .routes(routes!(agencies::household_alerts))
        .routes(routes!(responses::respond))
        .routes(routes!(responses::responses))
        .routes(routes!(responses::export))
}

/// The OpenAPI document of every route the router serves, as JSON (the router and the
/// document are built together, so neither can miss a route). Every operation also lists
/// the error statuses any request can meet before or around its handler (a bad or too
/// large body, no or the wrong credentials, an unknown id, a conflict, a limit, a busy
/// database), each with the one error body.
pub fn openapi_json() -> String {
    document_common_errors(&api_router().split_for_parts().1)
}

fn document_common_errors(doc: &utoipa::openapi::OpenApi) -> String {
    let mut v = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    let common = [
        ("400", "the request is malformed or out of bounds; `message` names the field"),
        ("401", "not signed in, or the credentials are wrong"),
        ("403", "signed in, but not allowed"),
        ("404", "no such thing for this caller"),
        ("409", "it conflicts with the current state"),
        ("429", "a limit was reached; try again later"),
        ("503", "the server is busy; try again"),
    ];
    if let Some(paths) = v["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for op in ops.values_mut() {
                let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else { continue };
                for (code, why) in common {
                    responses.entry(code).or_insert_with(|| {
                        serde_json::json!({
                            "description": why,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        })
                    });
                }
            }
        }
    }
    serde_json::to_string_pretty(&v).expect("JSON serializes")
}

/// Unknown `/api/…` paths get a JSON 404 like every other error.
async fn not_found() -> error::ApiError {
    error::ApiError(base::err!(NotFound, "no such endpoint"))
}

pub fn router(st: AppState) -> Router {
    let (router, doc) = api_router().split_for_parts();
    let json = document_common_errors(&doc);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json) }),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(blob::CHUNK_BYTES_MAX + 4096))
        .layer(middleware::from_fn_with_state(st.clone(), guard::guard))
        .layer(middleware::from_fn_with_state(st.clone(), count))
        .with_state(st)
}
