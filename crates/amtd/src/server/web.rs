//! The web console: a single page (`GET /`) and its assets (`GET /assets/{file}`), embedded in
//! the binary. The page is plain HTML, CSS and JavaScript written for amtd (`crates/amtd/web/`)
//! plus xterm.js and its canvas renderer, taken from the npm registry at build time
//! (`build.rs`, pinned by SHA-512). Nothing is fetched at run time and no inline script or
//! style is used, so the Content-Security-Policy needs no `unsafe-inline`.
//!
//! The console uses only the REST API, with the session cookie `POST /api/v1/login` sets and
//! the CSRF token it answers with. The page and assets are public (the login form is on the
//! page); every API call behind them is checked by the auth layer.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file: served name, content type, bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! vendor {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/web-vendor/", $name))
    };
}

const INDEX: &[u8] = include_bytes!("../../web/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/app.css"),
    },
    Asset {
        name: "xterm.js",
        content_type: "text/javascript; charset=utf-8",
        body: vendor!("xterm.js"),
    },
    Asset {
        name: "addon-canvas.js",
        content_type: "text/javascript; charset=utf-8",
        body: vendor!("addon-canvas.js"),
    },
    Asset {
        name: "xterm.css",
        content_type: "text/css; charset=utf-8",
        body: vendor!("xterm.css"),
    },
    Asset {
        name: "xterm.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        body: vendor!("xterm.LICENSE.txt"),
    },
];

/// The console's routes (public in the route table).
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

async fn index() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            a.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no asset {file:?}") })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = std::str::from_utf8(INDEX).unwrap_or_default();
        assert!(!page.contains("<style"), "inline <style> in index.html");
        assert!(
            !page.contains("style="),
            "inline style attribute in index.html"
        );
        for (i, _) in page.match_indices("<script") {
            let tag = &page[i..page[i..].find('>').map_or(page.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline <script> in index.html: {tag}");
        }
        for (i, _) in page.match_indices(" on") {
            let name: String = page[i + 1..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            let after = page[i + 1 + name.len()..].chars().next();
            assert!(
                after != Some('='),
                "inline event handler attribute {name}= in index.html"
            );
        }
    }

    #[test]
    fn every_asset_the_page_names_is_embedded() {
        let page = std::str::from_utf8(INDEX).unwrap_or_default();
        for (i, _) in page.match_indices("/assets/") {
            let rest = &page[i + "/assets/".len()..];
            let name = &rest[..rest.find('"').unwrap_or(rest.len())];
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html names /assets/{name}, which is not embedded"
            );
        }
    }
}
