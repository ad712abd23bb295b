//! Who may write and who may see what.
//!
//! - Ingest (`POST /api/v1/events`, webhooks): a bearer token from the
//!   config's `ingest_tokens` (each named, so one source can be revoked).
//!   Without any configured, ingest is accepted from loopback only.
//! - Viewing (`/ws`, `/api/v1/board`): a token from `viewer_tokens` with a
//!   role — `supervisor` sees every view, `agent` only the agent view (no
//!   other agent's name or state ever leaves the server), `kiosk` the floor
//!   view (for a TV, set up with a link carrying the token). Without any
//!   configured, viewing is open (a LAN wallboard).
//! - WebSocket `Origin`: same origin, or one of `allowed_origins`; a
//!   cross-site page cannot open a viewer's socket with their credentials.
//!
//! Tokens are stored as SHA-256 hashes (`wallboard hash-token`); a presented
//! token is hashed and compared in constant time against each.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, Role, TokenHash};
use crate::error::ApiError;
use wallboard_protocol::View;

/// The SHA-256 of a token, as the config stores it (64 hex digits).
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token: 32 bytes, hex.
pub fn generate_token() -> String {
    (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The configured token `token` is, if any: every hash is compared, each
/// in constant time, so the time taken says nothing about which matched.
fn holder<'a>(tokens: &'a [TokenHash], token: &str) -> Option<&'a TokenHash> {
    let hash = hash_token(token);
    let mut found = None;
    for t in tokens {
        if constant_time_eq(hash.as_bytes(), t.sha256.as_bytes()) {
            found = Some(t);
        }
    }
    found
}

/// The token of a request: `Authorization: Bearer T`, else `?token=T`.
pub fn presented<'a>(headers: &'a HeaderMap, query_token: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .or(query_token)
        .filter(|t| !t.is_empty())
}

/// What an admin request needs (see [`AuthConfig::admin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read settings, messages, layouts: `admin`, `supervisor`.
    Read,
    /// Post or delete a broadcast message: `admin`, `supervisor`.
    Message,
    /// Change settings or layouts, reload the file: `admin`.
    Change,
}

impl Need {
    fn what(self) -> &'static str {
        match self {
            Need::Read => "read settings, messages or layouts",
            Need::Message => "post or delete messages",
            Need::Change => "change settings or layouts",
        }
    }
}

/// What a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No viewer tokens are configured: everything.
    Open,
    Role(Role),
}

impl AuthConfig {
    /// The role of a viewer's token (401 when one is needed and missing or
    /// unknown).
    pub fn viewer(&self, token: Option<&str>) -> Result<Access, ApiError> {
        if self.viewer_tokens.is_empty() {
            return Ok(Access::Open);
        }
        let token = token.ok_or_else(|| {
            ApiError::unauthorized(
                "a viewer token is required: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
            )
        })?;
        holder(&self.viewer_tokens, token)
            .map(|t| Access::Role(t.role))
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked viewer token"))
    }

    /// The view a viewer gets: the one asked for if the role allows it (an
    /// agent's token defaults to the agent view), else 403.
    pub fn view_for(&self, access: Access, asked: Option<View>) -> Result<View, ApiError> {
        let default = match access {
            Access::Role(Role::Agent) => View::Agent,
            _ => View::Floor,
        };
        let view = asked.unwrap_or(default);
        let allowed = match access {
            Access::Open | Access::Role(Role::Admin | Role::Supervisor) => true,
            Access::Role(Role::Agent) => view == View::Agent,
            Access::Role(Role::Kiosk) => view == View::Floor,
        };
        if allowed {
            Ok(view)
        } else {
            let role = match access {
                Access::Role(r) => r.as_str(),
                Access::Open => "open",
            };
            Err(ApiError::forbidden(format!(
                "a {role} token may not open the {} view",
                view.label()
            )))
        }
    }

    /// Whether `token` may read `/metrics`: every queue's figures, so a
    /// supervisor's (Prometheus sends it as `authorization` in its scrape
    /// config) once viewer tokens exist; 401 or 403 otherwise.
    pub fn metrics_reader(&self, token: Option<&str>) -> Result<(), ApiError> {
        match self.viewer(token)? {
            Access::Open | Access::Role(Role::Admin | Role::Supervisor) => Ok(()),
            Access::Role(role) => Err(ApiError::forbidden(format!(
                "a {} token may not read /metrics",
                role.as_str()
            ))),
        }
    }

    /// Whether `peer` may send events with `token`: the token's name, or
    /// why not (401, or 403 for a non-loopback sender while no ingest token
    /// is configured).
    pub fn ingest(
        &self,
        token: Option<&str>,
        peer: Option<SocketAddr>,
    ) -> Result<String, ApiError> {
        if self.ingest_tokens.is_empty() {
            return match peer {
                Some(addr) if is_loopback(addr.ip()) => Ok("loopback".into()),
                _ => Err(ApiError::forbidden(
                    "ingest is accepted from this machine only until ingest tokens are configured ([auth] ingest_tokens)",
                )),
            };
        }
        let token = token.ok_or_else(|| {
            ApiError::unauthorized("an ingest token is required: `Authorization: Bearer TOKEN`")
        })?;
        holder(&self.ingest_tokens, token)
            .map(|t| t.name.clone())
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked ingest token"))
    }

    /// Who may do `need` to settings, messages or layouts: the token's
    /// name, or why not — 401 without a known viewer token, 403 for a role
    /// below the need. Without viewer tokens anyone reads, and changes
    /// come from this machine only (as `local`).
    pub fn admin(
        &self,
        token: Option<&str>,
        peer: Option<SocketAddr>,
        need: Need,
    ) -> Result<String, ApiError> {
        if self.viewer_tokens.is_empty() {
            return match (need, peer) {
                (Need::Read, _) => Ok("local".into()),
                (_, Some(addr)) if is_loopback(addr.ip()) => Ok("local".into()),
                _ => Err(ApiError::forbidden(
                    "changes are accepted from this machine only until viewer tokens are configured ([auth] viewer_tokens)",
                )),
            };
        }
        let token = token.ok_or_else(|| {
            ApiError::unauthorized(
                "a viewer token is required: `Authorization: Bearer TOKEN` or `?token=TOKEN`",
            )
        })?;
        let holder = holder(&self.viewer_tokens, token)
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked viewer token"))?;
        let allowed = match holder.role {
            Role::Admin => true,
            Role::Supervisor => need != Need::Change,
            Role::Agent | Role::Kiosk => false,
        };
        if allowed {
            Ok(holder.name.clone())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} token may not {}",
                holder.role.as_str(),
                need.what()
            )))
        }
    }

    /// Whether a WebSocket from a page at `origin` may open: no `Origin`
    /// (not a browser), the same origin as `host`, or an allowed one.
    pub fn origin_allowed(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use axum::http::StatusCode;

    fn config() -> AuthConfig {
        let text = format!(
            "[auth]\ningest_tokens = [{{ name = \"pbx\", sha256 = \"{}\" }}]\nviewer_tokens = [\n  {{ name = \"boss\", role = \"supervisor\", sha256 = \"{}\" }},\n  {{ name = \"desk\", role = \"agent\", sha256 = \"{}\" }},\n  {{ name = \"tv\", role = \"kiosk\", sha256 = \"{}\" }},\n]\nallowed_origins = [\"https://board.example.com\"]",
            hash_token("in-1"),
            hash_token("sup-1"),
            hash_token("agent-1"),
            hash_token("tv-1")
        );
        Config::from_toml(&text).unwrap().auth
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = generate_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, generate_token());
    }

    #[test]
    fn roles_decide_the_views() {
        let auth = config();
        let role = |t: &str| auth.viewer(Some(t)).unwrap();
        assert_eq!(role("sup-1"), Access::Role(Role::Supervisor));
        assert_eq!(
            auth.viewer(None).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            auth.viewer(Some("sup-2")).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let queue = View::Queue(vec!["billing".into()]);
        for (token, asked, want) in [
            ("sup-1", None, Some(View::Floor)),
            ("sup-1", Some(queue.clone()), Some(queue.clone())),
            ("agent-1", None, Some(View::Agent)),
            ("agent-1", Some(View::Agent), Some(View::Agent)),
            ("agent-1", Some(View::Floor), None),
            ("agent-1", Some(queue.clone()), None),
            ("tv-1", None, Some(View::Floor)),
            ("tv-1", Some(View::Agent), None),
        ] {
            let got = auth.view_for(role(token), asked.clone()).ok();
            assert_eq!(got, want, "{token} asking {asked:?}");
        }
        let open = AuthConfig::default();
        assert_eq!(open.viewer(None).unwrap(), Access::Open);
        assert_eq!(open.view_for(Access::Open, None).unwrap(), View::Floor);
    }

    #[test]
    fn only_a_supervisor_reads_the_metrics_once_tokens_exist() {
        let auth = config();
        assert!(auth.metrics_reader(Some("sup-1")).is_ok());
        for (token, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some("sup-2"), StatusCode::UNAUTHORIZED),
            (Some("agent-1"), StatusCode::FORBIDDEN),
            (Some("tv-1"), StatusCode::FORBIDDEN),
        ] {
            let error = auth.metrics_reader(token).unwrap_err();
            assert_eq!(error.status, status, "{token:?}");
        }
        let refused = auth.metrics_reader(Some("tv-1")).unwrap_err();
        assert_eq!(refused.error, "a kiosk token may not read /metrics");
        assert!(AuthConfig::default().metrics_reader(None).is_ok());
    }

    #[test]
    fn ingest_needs_a_token_or_loopback() {
        let auth = config();
        let lan: SocketAddr = "192.168.1.20:5000".parse().unwrap();
        assert_eq!(auth.ingest(Some("in-1"), Some(lan)).unwrap(), "pbx");
        assert_eq!(
            auth.ingest(Some("sup-1"), Some(lan)).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            auth.ingest(None, Some(lan)).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let open = AuthConfig::default();
        for local in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(
                open.ingest(None, Some(local.parse().unwrap())).is_ok(),
                "{local}"
            );
        }
        assert_eq!(
            open.ingest(None, Some(lan)).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            open.ingest(None, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn websockets_open_from_the_same_origin_or_an_allowed_one() {
        let auth = config();
        let host = Some("wallboard.lan:8080");
        assert!(auth.origin_allowed(None, host), "not a browser");
        assert!(auth.origin_allowed(Some("http://wallboard.lan:8080"), host));
        assert!(auth.origin_allowed(Some("https://board.example.com/"), host));
        assert!(!auth.origin_allowed(Some("http://evil.example"), host));
        assert!(!auth.origin_allowed(Some("http://wallboard.lan:8081"), host));
        assert!(!auth.origin_allowed(Some("null"), host));
    }

    #[test]
    fn allowed_origins_are_origins_and_nothing_more() {
        let with = |origin: &str| {
            Config::from_toml(&format!("[auth]\nallowed_origins = [{origin:?}]"))
                .map(|c| c.auth.allowed_origins)
        };
        assert_eq!(
            with("https://b.example:8443/").unwrap(),
            ["https://b.example:8443/"]
        );
        assert_eq!(with("http://[::1]:8080").unwrap(), ["http://[::1]:8080"]);
        // They go into the UI's Content-Security-Policy: one origin each.
        for bad in [
            "b.example",
            "https://",
            "https://b.example/path",
            "https://b.example; script-src *",
            "https://b.example wss://evil.example",
        ] {
            let error = with(bad).unwrap_err();
            assert!(
                matches!(&error, crate::config::ConfigError::Invalid { key, .. } if key == "auth.allowed_origins[0]"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn presented_tokens_come_from_the_header_first() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented(&headers, Some("q")), Some("q"));
        assert_eq!(presented(&headers, Some("")), None);
        headers.insert(header::AUTHORIZATION, "Bearer h".parse().unwrap());
        assert_eq!(presented(&headers, Some("q")), Some("h"));
    }
}
