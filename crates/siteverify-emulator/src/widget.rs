//! The widget script (`GET /widget.js`) and the CORS headers the browser needs to use it.
//!
//! The page that loads the script runs on another origin than the emulator, and the script
//! POSTs JSON to `/tokens`, which makes the browser send a preflight first. Only `/widget.js`
//! and `/tokens` get CORS headers: the verify endpoints are server-to-server at the real
//! providers, and a browser able to call them here would hide a mistake a real deployment
//! makes visible. Done by hand: three fixed headers do not justify another dependency.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long a browser may cache the preflight answer, in seconds; it never changes.
const PREFLIGHT_MAX_AGE: &str = "600";

/// `GET /widget.js`.
pub(crate) async fn script() -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // A demo reloaded after an emulator upgrade must not keep running the old script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        crate::WIDGET_SCRIPT,
    )
        .into_response();
    allow_any_origin(&mut response);
    response
}

/// `OPTIONS /tokens`: the CORS preflight of the script's JSON POST.
pub(crate) async fn tokens_preflight(request_headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    allow_any_origin(&mut response);
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    // Chromium's Private Network Access asks before a public page may call a loopback address
    // (a demo page on a public host with the emulator on 127.0.0.1); the emulator says yes.
    if request_headers
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        headers.insert(
            "access-control-allow-private-network",
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// Lets a page on any origin read the response. The emulator holds nothing secret: anyone
/// may mint a token, which is its purpose.
pub(crate) fn allow_any_origin(response: &mut Response) {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}
