//! The wallboard UI, embedded: `cargo xtask` builds it into `target/ui/`
//! and release builds carry it inside the binary, so the server is one
//! file. Served with gzip when the browser takes it, and with security
//! headers: a CSP that allows our wasm and no inline script.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../target/ui/"]
#[allow_missing = true]
struct Assets;

/// Sent with every UI file. A page may read from this server and from the
/// other wallboard servers `[auth] allowed_origins` names (a TV given
/// `servers=` fails over to them), nothing else.
pub fn csp(allowed_origins: &[String]) -> String {
    let mut connect = String::from("'self'");
    for origin in allowed_origins {
        let origin = origin.trim_end_matches('/');
        let socket = origin
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        connect.push_str(&format!(" {origin} {socket}"));
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         connect-src {connect}; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'none'"
    )
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// Whether the UI was built into this binary (or, in debug builds, is on disk).
pub fn available() -> bool {
    Assets::get("index.html").is_some()
}

/// The file at `path` (`/` is `index.html`), or `None`; `csp` from [`csp`].
pub fn serve(path: &str, request_headers: &HeaderMap, csp: &str) -> Option<Response> {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    if name.ends_with(".gz") {
        return None;
    }
    let file = Assets::get(name)?;
    let gzip_ok = request_headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let gzipped = gzip_ok
        .then(|| Assets::get(&format!("{name}.gz")))
        .flatten();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    // Names are not content-hashed: revalidate every time (cheap, local).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    let body = match gzipped {
        Some(gz) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz.data
        }
        None => file.data,
    };
    Some((StatusCode::OK, headers, body.into_owned()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_may_read_from_this_server_and_the_listed_ones_only() {
        let connect = |origins: &[&str]| {
            let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
            csp(&origins)
                .split(';')
                .map(str::trim)
                .find(|d| d.starts_with("connect-src"))
                .unwrap()
                .to_string()
        };
        assert_eq!(connect(&[]), "connect-src 'self'");
        assert_eq!(
            connect(&["http://10.0.0.2:8080", "https://b.example/"]),
            "connect-src 'self' http://10.0.0.2:8080 ws://10.0.0.2:8080 https://b.example wss://b.example"
        );
    }
}
