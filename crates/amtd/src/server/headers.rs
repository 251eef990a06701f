//! Security headers on every answer of the API listener (API JSON, web console, CRLs, errors
//! and 404s alike): a Content-Security-Policy that allows only the server's own scripts,
//! styles, fonts and connections (no inline code, no `eval`, no framing), `nosniff`, no
//! referrer, a same-origin opener policy and no camera, microphone or geolocation. Answers under
//! `/api/` are never stored by caches (`Cache-Control: no-store`): they carry device data and
//! passwords. Over TLS the listener adds `Strict-Transport-Security` ([`add_hsts`], called by
//! [`super::tls`] for TLS connections only: browsers ignore it over plain HTTP).
//!
//! The headers are set after the handler ran and replace any value it set, so no route can
//! weaken them by accident.

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy: the server's own resources only, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `Strict-Transport-Security` over TLS: one year.
pub const HSTS: &str = "max-age=31536000";

const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=()";

/// The headers every answer carries (name, value).
const ALWAYS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    ),
];

/// Puts the security headers into `headers` for an answer to a request for `path`.
pub fn apply_to(headers: &mut HeaderMap, path: &str) {
    for (name, value) in ALWAYS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if path.starts_with("/api/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Adds `Strict-Transport-Security` (answers sent over TLS).
pub fn add_hsts(headers: &mut HeaderMap) {
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
}

/// The middleware (`axum::middleware::from_fn(headers::layer)`): runs the request, then sets
/// the headers on whatever came back. The router applies it last, outside the auth layer, so
/// that refusals and 404s carry the headers too.
pub async fn layer(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    apply_to(res.headers_mut(), if api { "/api/" } else { "/" });
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_no_inline_code_or_eval() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn only_api_answers_are_not_stored() {
        let mut h = HeaderMap::new();
        apply_to(&mut h, "/crl/issuing.crl");
        assert!(h.get(header::CACHE_CONTROL).is_none());
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let mut h = HeaderMap::new();
        apply_to(&mut h, "/api/v1/devices");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
