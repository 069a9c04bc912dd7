//! The web app: the files in `ui/`, served at `/` as they are (no build
//! step; see docs/adr/0004-ui.md).
//!
//! Release builds carry the files inside the binary; debug builds read them
//! from `ui/` on each request, so an edit shows on reload. Paths that name
//! no file and are not the API's get `index.html`, which routes on the
//! client (`/workflows/hello` reloads into the same page).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../ui/"]
#[include = "index.html"]
#[include = "assets/**/*"]
struct Files;

/// Prefixes that belong to the server, not to the app: a miss there is a
/// 404, never the app's page.
const SERVER_PREFIXES: [&str; 4] = ["/api/", "/webhook/", "/resume/", "/healthz"];

/// The app's routes: `/`, `/assets/...`, and `index.html` for any other
/// page path.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .fallback(page)
}

async fn index(headers: HeaderMap) -> Response {
    file("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file(&format!("assets/{path}"), &headers)
}

async fn page(method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if method != axum::http::Method::GET
        || SERVER_PREFIXES
            .iter()
            .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
    {
        return crate::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {method} {path}; the API is under /api/v1"),
        )
        .into_response();
    }
    file("index.html", &headers)
}

/// One file, with its type, an ETag from its hash, and the headers that
/// keep the app to its own origin.
fn file(path: &str, request: &HeaderMap) -> Response {
    let Some(found) = Files::get(path) else {
        return crate::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no UI file `{path}`"),
        )
        .into_response();
    };
    let etag = format!("\"{}\"", hex::encode(found.metadata.sha256_hash()));
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, found.data.into_owned()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    // Revalidate every time: the names carry no hash, and a 304 is cheap.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn mime(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_page_and_its_entry_module_are_embedded() {
        let index = Files::get("index.html").expect("ui/index.html is embedded");
        let text = String::from_utf8_lossy(&index.data);
        assert!(text.contains("/assets/app.js"), "{text}");
        assert!(Files::get("assets/app.js").is_some());
        assert!(
            Files::iter().all(|p| !p.starts_with("tests/") && !p.starts_with("node_modules/")),
            "test files and node_modules stay out of the binary"
        );
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(mime("assets/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(mime("index.html"), "text/html; charset=utf-8");
        assert_eq!(mime("assets/x.bin"), "application/octet-stream");
    }
}
