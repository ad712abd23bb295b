//! The admin API: live settings, the config file's reload, broadcast
//! messages and saved layouts (DESIGN.md "Settings, messages and layouts").
//!
//! Every change is checked here first (400 naming the field, nothing
//! applied), then goes through ingest as a server-written event — journaled
//! (or, in a cluster, streamed) and durable before the 200, applied in
//! order with the platform's events — so a restart and every node agree.
//! Who may do what is `auth::AuthConfig::admin`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wallboard_protocol::admin::{
    Layout, MAX_MESSAGE_SECONDS, Message, Severity, check_layout_name,
};
use wallboard_protocol::{Event, EventKind};

use crate::auth::{self, Need};
use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::ingest::{Holder, Ingest};
use crate::settings;

/// What the admin handlers share.
#[derive(Clone)]
pub struct Admin {
    pub ingest: Ingest,
    /// The config the server started with (its tokens decide who may).
    pub config: Arc<Config>,
    /// The file to read again on reload; `None`: started without one.
    pub config_path: Option<PathBuf>,
}

/// Settings that apply to what is counted from the change on: each answer
/// and abandon is judged against the threshold when it is counted, and a
/// complaint's deadline is set when it is opened. Targets, the warn band,
/// names and the VIP flag re-evaluate every window at once.
pub const FROM_THE_CHANGE_ON: &[&str] = &[
    "service_level_seconds",
    "short_abandon_seconds",
    "queues.*.service_level_seconds",
    "queues.*.short_abandon_seconds",
    "complaint_grades",
];

pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/api/v1/settings", get(get_settings).patch(patch_settings))
        .route("/api/v1/settings/reload", post(post_reload))
        .route("/api/v1/messages", get(get_messages).post(post_message))
        .route(
            "/api/v1/messages/{id}",
            axum::routing::delete(delete_message),
        )
        .route("/api/v1/layouts", get(get_layouts))
        .route(
            "/api/v1/layouts/{name}",
            get(get_layout).put(put_layout).delete(delete_layout),
        )
        .with_state(admin)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The caller, as `auth` names them, if they may do `need`.
fn who(
    admin: &Admin,
    headers: &HeaderMap,
    query: &TokenQuery,
    peer: Option<SocketAddr>,
    need: Need,
) -> Result<String, ApiError> {
    if need != Need::Read {
        // Not from a page on another site (a viewer's browser on this
        // machine, in open mode, would pass the loopback check).
        let header =
            |name: axum::http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let origin = header(axum::http::header::ORIGIN);
        if !admin
            .config
            .auth
            .origin_allowed(origin, header(axum::http::header::HOST))
        {
            return Err(ApiError::forbidden(format!(
                "a change from a page at {} is refused: neither this server's origin nor one of [auth] allowed_origins",
                origin.unwrap_or("?")
            )));
        }
    }
    admin
        .config
        .auth
        .admin(auth::presented(headers, query.token.as_deref()), peer, need)
}

/// Reads the aggregate (briefly, under the core lock).
fn read<T>(admin: &Admin, f: impl FnOnce(&crate::aggregator::Aggregator) -> T) -> T {
    f(&admin.ingest.lock(Holder::Read).aggregator)
}

type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

fn peer(p: &Peer) -> Option<SocketAddr> {
    p.as_ref().map(|c| c.0.0)
}

/// The field a "`key`: reason" message names.
fn field_of(reason: &str) -> Option<String> {
    // After any `type: ` prefix ingest puts on a refusal.
    let rest =
        reason.split_once(": ").map_or(
            reason,
            |(head, rest)| {
                if head.contains('`') { reason } else { rest }
            },
        );
    let rest = rest
        .strip_prefix("field `")
        .or_else(|| rest.strip_prefix('`'))?;
    rest.split_once('`').map(|(field, _)| field.to_string())
}

/// A config error as a 400 naming its key.
fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid { ref key, .. } => {
            let key = key.clone();
            ApiError::bad_request(e.to_string()).field(key)
        }
        ConfigError::File { source, path } => {
            let inner = config_error(*source);
            ApiError {
                error: format!("config {}: {}", path.display(), inner.error),
                ..inner
            }
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

/// A JSON body as `T`, a wrong one named by its field (400).
async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    // JSON only: a cross-site form or no-CORS fetch (text/plain) cannot
    // post a change with a viewer's browser.
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(essence, "application/json" | "application/merge-patch+json") {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {content_type:?}: send application/json (or application/merge-patch+json)"
            ),
        ));
    }
    let bytes = crate::ingest::http::read_body(headers, body).await?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = (inner.line(), inner.column());
        let mut reason = inner.to_string();
        if let Some(at) = reason.find(" at line ") {
            reason.truncate(at);
        }
        // An unknown field's path ends with it; a missing one's is its
        // parent's.
        let missing = reason
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        let field = match (path.as_str(), missing) {
            ("." | "", Some(name)) => Some(name.to_string()),
            ("." | "", None) => None,
            (path, Some(name)) => Some(format!("{path}.{name}")),
            (path, None) => Some(path.to_string()),
        };
        let error = match &field {
            Some(f) => ApiError::bad_request(format!("field `{f}`: {reason}")).field(f.clone()),
            None => ApiError::bad_request(format!("body is not the JSON asked for: {reason}")),
        };
        error.at(Some(line), Some(column))
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    Ok(value)
}

/// Runs a server-written change through ingest (durable before it
/// returns); `Err(reason)` when the state refused it.
async fn submit(
    admin: &Admin,
    ts: Timestamp,
    kind: EventKind,
) -> Result<Result<(), String>, ApiError> {
    submit_as(admin, None, ts, kind).await
}

/// [`submit`] with the event's id given (a retry with the same id is a
/// repeat, dropped); `None`: a fresh one.
async fn submit_as(
    admin: &Admin,
    id: Option<String>,
    ts: Timestamp,
    kind: EventKind,
) -> Result<Result<(), String>, ApiError> {
    let event = Event {
        id: id.unwrap_or_else(|| {
            format!(
                "admin-{}-{:016x}",
                ts.as_millisecond(),
                rand::random::<u64>()
            )
        }),
        ts,
        kind,
    };
    // What is journaled must read back (serde's nesting limit, and any
    // other reason): a record no replay can read would lose the change.
    let readable = serde_json::to_vec(&event)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Event>(&bytes).ok());
    if readable.as_ref() != Some(&event) {
        return Err(ApiError::bad_request(
            "this change would not read back from the journal: refused",
        ));
    }
    let outcome = crate::ingest::http::submit(admin.ingest.clone(), vec![Ok(event)]).await?;
    Ok(match outcome.rejected.into_iter().next() {
        Some(rejected) => Err(rejected.error),
        None => Ok(()),
    })
}

// ---- settings ----

async fn get_settings(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
) -> Result<Response, ApiError> {
    who(&admin, &headers, &query, peer(&connect), Need::Read)?;
    Ok(Json(settings_answer(&admin, |_| true)).into_response())
}

/// The settings document: effective, overrides, the file's, the audit
/// (newest first); `changed` lists the audit entries `changed` picks.
fn settings_answer(
    admin: &Admin,
    changed: impl Fn(&wallboard_protocol::AuditEntry) -> bool,
) -> Value {
    let core = admin.ingest.lock(Holder::Read);
    let agg = &core.aggregator;
    let audit: Vec<_> = agg.admin().audit.iter().rev().collect();
    let picked: Vec<_> = audit.iter().filter(|a| changed(a)).collect();
    json!({
        "effective": settings::effective(agg.config()),
        "overrides": agg.admin().overrides,
        "file": settings::effective(agg.base_config()),
        "audit": audit,
        "changed": picked,
        "from_the_change_on": FROM_THE_CHANGE_ON,
    })
}

async fn patch_settings(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    body: Body,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Change)?;
    let patch: Value = read_json(&headers, body).await?;
    settings::check_patch(&patch).map_err(config_error)?;
    // Checked before it is journaled: a bad patch changes nothing.
    {
        let core = admin.ingest.lock(Holder::Read);
        let agg = &core.aggregator;
        let overrides = settings::merge(&agg.admin().overrides, &patch);
        settings::apply(agg.base_config(), &overrides).map_err(config_error)?;
    }
    let ts = admin.ingest.clock().now();
    if let Err(reason) = submit(
        &admin,
        ts,
        EventKind::SettingsChanged {
            by: by.clone(),
            patch,
        },
    )
    .await?
    {
        // Another change came between the check and the journal.
        return Err(refused(ApiError::conflict(reason.clone()), &reason));
    }
    admin
        .ingest
        .metrics()
        .ingest
        .settings_changes
        .fetch_add(1, Ordering::Relaxed);
    let answer = settings_answer(&admin, |a| a.at == ts && a.by == by);
    for change in answer["changed"].as_array().into_iter().flatten() {
        tracing::info!(
            by = %by,
            path = %change["path"].as_str().unwrap_or(""),
            old = %change["old"],
            new = %change["new"],
            "settings changed"
        );
    }
    Ok(Json(answer).into_response())
}

async fn post_reload(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Change)?;
    let answer = tokio::task::spawn_blocking(move || reload(&admin, &by))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))??;
    Ok(Json(answer).into_response())
}

/// Reads the config file again: what can change live does at the next
/// step; what cannot is named (answer and log). `by` is who asked
/// (`SIGHUP` for the signal).
pub fn reload(admin: &Admin, by: &str) -> Result<Value, ApiError> {
    let Some(path) = &admin.config_path else {
        return Err(ApiError::conflict(
            "the server was started without --config: there is no file to read again",
        ));
    };
    let new = Config::load(path).map_err(|e| {
        let error = config_error(e);
        tracing::error!(by, error = %error.error, "config reload refused; nothing changed");
        error
    })?;
    if admin.ingest.cluster().is_some() {
        let error = ApiError::conflict(
            "on a node of a cluster the file is read at start only: a reload on one node would count events differently from the others; change live values with PATCH /api/v1/settings (streamed to every node)",
        );
        tracing::warn!(by, "config reload refused: {}", error.error);
        return Err(error);
    }
    let old = admin.ingest.reconfigure(&new).map_err(|reason| {
        let error = ApiError::bad_request(format!(
            "the live settings do not hold under the file read again ({reason}): reset them first; nothing changed"
        ));
        tracing::error!(by, error = %error.error, "config reload refused");
        refused(error, &reason)
    })?;
    admin
        .ingest
        .metrics()
        .ingest
        .settings_changes
        .fetch_add(1, Ordering::Relaxed);
    let mut needs_restart: Vec<&str> = settings::needs_restart(&old, &new);
    let message = if needs_restart.is_empty() {
        format!(
            "{} read again; its live values apply at the next step (the listen address and the data dir are flags: a restart changes them)",
            path.display()
        )
    } else {
        format!(
            "{} read again; its live values apply at the next step; a restart is needed for: {} (and, as ever, the listen address and the data dir, which are flags)",
            path.display(),
            needs_restart.join(", ")
        )
    };
    if needs_restart.is_empty() {
        tracing::info!(by, "{message}");
    } else {
        tracing::warn!(by, "{message}");
    }
    needs_restart.extend(["listen", "data_dir"]);
    let core = admin.ingest.lock(Holder::Read);
    Ok(json!({
        "effective": settings::effective(core.aggregator.config()),
        "needs_restart": needs_restart,
        "message": message,
    }))
}

// ---- messages ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    #[serde(default)]
    text: String,
    text_zh: Option<String>,
    severity: Severity,
    ttl_seconds: Option<f64>,
    #[serde(default, with = "wallboard_protocol::time::rfc3339_option")]
    until: Option<Timestamp>,
}

async fn get_messages(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
) -> Result<Response, ApiError> {
    who(&admin, &headers, &query, peer(&connect), Need::Read)?;
    let now = admin.ingest.clock().now();
    let messages = read(&admin, |a| a.admin().messages_at(now));
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn post_message(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    body: Body,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Message)?;
    let new: NewMessage = read_json(&headers, body).await?;
    // Whole seconds, the board clock's step: a message is up from the step
    // it is posted in, and gone at the step of its `until` on every screen.
    let now = admin.ingest.clock().now();
    let since = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let until = match (new.ttl_seconds, new.until) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(
                ApiError::bad_request("a message needs one of `ttl_seconds` and `until`")
                    .field("ttl_seconds"),
            );
        }
        (Some(ttl), None) => {
            if !ttl.is_finite() || !(1.0..=MAX_MESSAGE_SECONDS as f64).contains(&ttl) {
                return Err(ApiError::bad_request(format!(
                    "field `ttl_seconds`: {ttl} is outside 1..={MAX_MESSAGE_SECONDS}"
                ))
                .field("ttl_seconds"));
            }
            since + SignedDuration::from_secs_f64(ttl)
        }
        (None, Some(until)) => until,
    };
    let until = match until.subsec_nanosecond() {
        0 => until,
        _ => Timestamp::from_second(until.as_second() + 1).unwrap_or(until),
    };
    // `Idempotency-Key`: a retry (after a 503, a lost answer) posts
    // nothing twice; the same key from the same caller is the same message.
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if (1..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(crate::auth::hash_token(&format!("{by}\n{k}")))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "`Idempotency-Key` is 1..=64 visible ASCII characters",
            )
            .field("Idempotency-Key"));
        }
    };
    let message = Message {
        id: match &key {
            Some(hash) => format!("m{}", &hash[..12]),
            None => format!("m{:012x}", rand::random::<u64>() >> 16),
        },
        text: new.text,
        text_zh: new.text_zh.filter(|t| !t.is_empty()),
        severity: new.severity,
        since,
        until,
        by: by.clone(),
    };
    message
        .validate()
        .map_err(|reason| refused(ApiError::bad_request(reason.clone()), &reason))?;
    submit_as(
        &admin,
        key.as_ref()
            .map(|hash| format!("admin-message-{}", &hash[..32])),
        since,
        EventKind::MessagePosted {
            message: message.clone(),
        },
    )
    .await?
    .map_err(|reason| refused(ApiError::conflict(reason.clone()), &reason))?;
    // A repeat answers with the message the first one posted.
    let message = read(&admin, |a| a.admin().messages.get(&message.id).cloned()).unwrap_or(message);
    tracing::info!(by = %by, id = %message.id, severity = message.severity.as_str(), until = %message.until, "message posted");
    Ok(Json(json!({ "id": message.id, "message": message })).into_response())
}

/// A refusal with the field its reason names.
fn refused(error: ApiError, reason: &str) -> ApiError {
    match field_of(reason) {
        Some(f) => error.field(f),
        None => error,
    }
}

async fn delete_message(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Message)?;
    let now = admin.ingest.clock().now();
    let up = read(&admin, |a| {
        a.admin().messages_at(now).iter().any(|m| m.id == id)
    });
    if !up {
        return Err(ApiError::not_found(format!("no message {id:?} is up")));
    }
    submit(
        &admin,
        now,
        EventKind::MessageDeleted {
            by: by.clone(),
            message: id.clone(),
        },
    )
    .await?
    .map_err(ApiError::not_found)?;
    tracing::info!(by = %by, id = %id, "message deleted");
    Ok(Json(json!({ "deleted": id })).into_response())
}

// ---- layouts ----

async fn get_layouts(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
) -> Result<Response, ApiError> {
    who(&admin, &headers, &query, peer(&connect), Need::Read)?;
    let layouts = read(&admin, |a| a.admin().layouts.clone());
    Ok(Json(json!({ "layouts": layouts })).into_response())
}

async fn get_layout(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    who(&admin, &headers, &query, peer(&connect), Need::Read)?;
    let layout = read(&admin, |a| a.admin().layouts.get(&name).cloned());
    match layout {
        Some(layout) => Ok(Json(layout).into_response()),
        None => Err(ApiError::not_found(format!("no layout {name:?}"))),
    }
}

async fn put_layout(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Change)?;
    check_layout_name(&name).map_err(|e| ApiError::bad_request(e).field("name"))?;
    let layout: Layout = read_json(&headers, body).await?;
    layout
        .validate()
        .map_err(|reason| refused(ApiError::bad_request(reason.clone()), &reason))?;
    let ts = admin.ingest.clock().now();
    submit(
        &admin,
        ts,
        EventKind::LayoutSaved {
            by: by.clone(),
            name: name.clone(),
            layout: Box::new(layout.clone()),
        },
    )
    .await?
    .map_err(|reason| refused(ApiError::conflict(reason.clone()), &reason))?;
    tracing::info!(by = %by, layout = %name, "layout saved");
    Ok(Json(json!({ "name": name, "layout": layout })).into_response())
}

async fn delete_layout(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    connect: Peer,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let by = who(&admin, &headers, &query, peer(&connect), Need::Change)?;
    let known = read(&admin, |a| a.admin().layouts.contains_key(&name));
    if !known {
        return Err(ApiError::not_found(format!("no layout {name:?}")));
    }
    let ts = admin.ingest.clock().now();
    submit(
        &admin,
        ts,
        EventKind::LayoutDeleted {
            by: by.clone(),
            name: name.clone(),
        },
    )
    .await?
    .map_err(ApiError::not_found)?;
    tracing::info!(by = %by, layout = %name, "layout deleted");
    Ok(Json(json!({ "deleted": name })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_names_its_field() {
        assert_eq!(
            field_of("`targets.x`: 2 is outside").as_deref(),
            Some("targets.x")
        );
        assert_eq!(
            field_of("field `text` is 300 characters").as_deref(),
            Some("text")
        );
        assert_eq!(field_of("20 messages are up already"), None);
        assert_eq!(
            field_of("settings_changed: `queues.q1.vip`: invalid type").as_deref(),
            Some("queues.q1.vip")
        );
    }
}
