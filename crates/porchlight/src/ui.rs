//! The web app, embedded at build time (see build.rs) and served beside the API.
//!
//! Hashed assets are cached for a year; `index.html` is revalidated on every load. Every
//! page carries a Content-Security-Policy that allows scripts, styles and connections from
//! this origin only (no inline script, no framing), and media from `blob:` URLs, where
//! the app puts what it decrypted.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Path, content type, bytes, gzipped bytes.
type File = (&'static str, &'static str, &'static [u8], Option<&'static [u8]>);

mod files {
    include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));
}

/// The page's Content Security Policy; `tiles` is the one other origin images may come from
/// (the configured map tiles).
fn csp(tiles: Option<&str>) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:{}; \
         media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        tiles.map(|t| format!(" {t}")).unwrap_or_default()
    )
}

const NOT_BUILT: &str = "<!doctype html><title>Porchlight</title><p>The web app was not built into this \
                         binary. Run <code>make build</code> (it runs <code>npm ci</code> and \
                         <code>vite build</code> in <code>ui/</code> first).</p>";

fn find(path: &str) -> Option<&'static File> {
    files::FILES.iter().find(|f| f.0 == path)
}

fn accepts_gzip(h: &HeaderMap) -> bool {
    h.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|e| {
        let mut parts = e.trim().split(';');
        parts.next() == Some("gzip") && !parts.any(|q| q.trim().replace(' ', "") == "q=0")
    })
}

async fn serve(State(csp): State<HeaderValue>, uri: Uri, headers: HeaderMap) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        p => p,
    };
    let Some(&(name, ctype, body, gz)) = find(path) else {
        if path == "/index.html" {
            return page(StatusCode::OK, "text/html; charset=utf-8", NOT_BUILT.as_bytes(), "no-cache", &csp);
        }
        return page(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", b"not found", "no-cache", &csp);
    };
    let cache = if name.starts_with("/assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    match gz {
        Some(gz) if accepts_gzip(&headers) => {
            let mut r = page(StatusCode::OK, ctype, gz, cache, &csp);
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            r
        }
        _ => {
            let mut r = page(StatusCode::OK, ctype, body, cache, &csp);
            if gz.is_some() {
                r.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            r
        }
    }
}

fn page(
    status: StatusCode,
    ctype: &'static str,
    body: &'static [u8],
    cache: &'static str,
    csp: &HeaderValue,
) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The API router with the web app in front: `/`, `/index.html` and `/assets/…` are the
/// app's; everything else goes to the API (which answers unknown paths with a JSON 404).
/// `tile_origin` is the configured map tiles' origin, which the page may load images from.
pub fn with_app(api: Router, tile_origin: Option<&str>) -> Router {
    let csp = HeaderValue::from_str(&csp(tile_origin)).expect("tile origins are checked at config load");
    let get = axum::routing::get(serve);
    Router::new()
        .route("/", get.clone())
        .route("/index.html", get.clone())
        // The service worker: at the root, so that its scope is the whole app.
        .route("/sw.js", get.clone())
        // What makes it installable on a phone: the manifest and its icons.
        .route("/manifest.webmanifest", get.clone())
        .route("/icon.svg", get.clone())
        .route("/icon-192.png", get.clone())
        .route("/icon-512.png", get.clone())
        .route("/assets/{*path}", get)
        .with_state(csp)
        .fallback_service(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_app_has_an_index_and_hashed_assets() {
        if files::FILES.is_empty() {
            // `make test` builds the app first; a bare `cargo test` may not have.
            assert!(std::env::var_os("PORCHLIGHT_REQUIRE_UI").is_none(), "ui/dist was not built");
            eprintln!("SKIPPED: ui/dist not built (make build)");
            return;
        }
        let index = find("/index.html").expect("index.html");
        let text = std::str::from_utf8(index.2).unwrap();
        assert!(!text.contains("<script>"), "no inline script (the CSP forbids it)");
        assert!(files::FILES.iter().any(|f| f.0.starts_with("/assets/") && f.0.ends_with(".js") && f.3.is_some()));
        let sw = find("/sw.js").expect("the service worker at the root");
        assert_eq!(sw.1, "text/javascript; charset=utf-8", "a service worker must be served as JavaScript");
        // Installable: the manifest names icons that are served.
        let m = find("/manifest.webmanifest").expect("the web app manifest");
        assert_eq!(m.1, "application/manifest+json");
        let manifest: serde_json::Value = serde_json::from_slice(m.2).unwrap();
        assert_eq!(manifest["display"], "standalone");
        for icon in manifest["icons"].as_array().unwrap() {
            let src = icon["src"].as_str().unwrap();
            assert!(find(src).is_some(), "{src} is named by the manifest but not built in");
        }
        assert!(text.contains(r#"rel="manifest""#));
    }

    #[test]
    fn images_come_only_from_the_app_and_the_configured_tiles() {
        assert!(csp(None).contains("img-src 'self' blob: data:;"));
        assert!(csp(Some("https://t.example.org")).contains("img-src 'self' blob: data: https://t.example.org;"));
        assert!(csp(Some("https://t.example.org")).contains("connect-src 'self';"), "tiles are images, nothing else");
    }

    #[test]
    fn gzip_only_when_accepted() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("br, deflate")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
