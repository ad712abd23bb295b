//! The HTTP application: routes and the state they share.
//!
//! Routers are composed per feature (`ingest::http`, the board, health);
//! this module only wires them together and maps unknown paths to a JSON 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth;
use crate::config::Config;
use crate::error::ApiError;
use crate::ingest::{self, Ingest};
use crate::stream::{self, Hub, SessionLimits};
use crate::tick;
use crate::ui;
use crate::upgrade::Handshake;
use tokio_util::sync::CancellationToken;
use wallboard_protocol::View;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub ingest: Ingest,
    /// Ready once start-up work (journal replay) is done.
    pub ready: Arc<AtomicBool>,
    pub hub: Arc<Hub>,
    /// The board kept between steps (snapshots, `GET /api/v1/board`, `/metrics`).
    pub boards: Arc<crate::boards::Boards>,
    /// Cancelled when the server stops: every task and session ends on it.
    pub shutdown: CancellationToken,
    /// Where viewers' sessions run (see `viewers_runtime` in `lib.rs`).
    pub viewers: tokio::runtime::Handle,
    /// The sessions running (and handshakes upgrading), so a stop can let
    /// them send their close.
    pub sessions: tokio_util::task::TaskTracker,
    /// Viewers connected or connecting now, for the viewer limits.
    pub viewer_slots: Arc<stream::ViewerSlots>,
    /// The config file, read again on reload (`None`: started without one).
    pub config_path: Option<std::path::PathBuf>,
}

impl App {
    /// The application over `ingest`, not ready yet (`start` marks it once
    /// the journal or the cluster's log is applied). Alone, without the
    /// tasks `start` adds (tick, sources, housekeeping), it answers requests
    /// one by one, as request/response tests drive it (`Router::oneshot`).
    pub fn new(config: Arc<Config>, ingest: Ingest, viewers: tokio::runtime::Handle) -> App {
        App {
            config,
            ingest,
            ready: Arc::new(AtomicBool::new(false)),
            hub: Arc::new(Hub::default()),
            boards: Arc::new(crate::boards::Boards::new()),
            shutdown: CancellationToken::new(),
            viewers,
            viewer_slots: Default::default(),
            sessions: Default::default(),
            config_path: None,
        }
    }

    /// The admin API's share of the app.
    pub fn admin(&self) -> crate::admin::Admin {
        crate::admin::Admin {
            ingest: self.ingest.clone(),
            config: self.config.clone(),
            config_path: self.config_path.clone(),
        }
    }

    /// The step, for readers that must see every accepted event.
    pub fn stepper(&self) -> tick::Stepper {
        tick::Stepper {
            ingest: self.ingest.clone(),
            boards: self.boards.clone(),
            hub: self.hub.clone(),
        }
    }
}

/// Socket buffers of a viewer's WebSocket: frames are small, and at tens of
/// thousands of viewers tungstenite's default 128 KiB read buffer alone
/// would cost gigabytes. Viewers send only pongs and closes, so the read
/// buffer is tiny (tungstenite also zeroes it on every read attempt).
const WS_READ_BUFFER: usize = 512;
const WS_WRITE_BUFFER: usize = 4 * 1024;
/// Viewers only send pongs and closes; anything bigger is refused.
const WS_MAX_INCOMING: usize = 4 * 1024;

#[derive(serde::Deserialize)]
struct ViewParams {
    view: Option<String>,
    queue: Option<String>,
    /// A viewer token in the URL (a TV's link; browsers cannot set headers
    /// on a WebSocket).
    token: Option<String>,
    /// `EPOCH:SEQUENCE` of the last board a viewer had (its `cluster`):
    /// a node of that cluster sends nothing older (see [`not_behind`]).
    after: Option<String>,
}

impl ViewParams {
    /// The view this viewer gets: asked for (or their role's default) and
    /// allowed to their token's role.
    fn view(&self, app: &App, headers: &HeaderMap) -> Result<View, ApiError> {
        let auth = &app.config.auth;
        let access = auth.viewer(auth::presented(headers, self.token.as_deref()))?;
        let asked = match (&self.view, &self.queue) {
            (None, None) => None,
            (view, queue) => Some(
                View::parse(view.as_deref(), queue.as_deref()).map_err(ApiError::bad_request)?,
            ),
        };
        auth.view_for(access, asked)
    }
}

/// Ingest (events, webhooks) only from a configured token's holder, or
/// from this machine while none is configured.
async fn ingest_guard(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let query = request.uri().query().unwrap_or("").as_bytes();
    let query_token = form_urlencoded::parse(query)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    // A token in a URL ends up in logs and proxies: only webhook URLs,
    // for platforms that cannot set a header, may carry one.
    if query_token.is_some() && !request.uri().path().starts_with("/api/v1/sources/") {
        return Err(ApiError::bad_request(
            "`?token=` is accepted on webhook URLs (/api/v1/sources/NAME/webhook) only: send the ingest token as `Authorization: Bearer TOKEN`",
        ));
    }
    let sender = app.config.auth.ingest(
        auth::presented(request.headers(), query_token.as_deref()),
        peer,
    )?;
    let mut request = request;
    request
        .extensions_mut()
        .insert(ingest::http::Sender(sender));
    Ok(next.run(request).await)
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/admin", get(index))
        .route("/api/v1/board", get(get_board))
        .route("/ws", get(ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(crate::admin::router(app.admin()))
        .merge(crate::intervals::router(crate::intervals::Intervals {
            ingest: app.ingest.clone(),
            config: app.config.clone(),
        }))
        .merge(
            ingest::http::router(app.ingest.clone())
                .merge(crate::sources::webhook::router(
                    app.ingest.clone(),
                    &app.config.sources,
                ))
                .route_layer(middleware::from_fn_with_state(app.clone(), ingest_guard)),
        )
        .fallback({
            let app = app.clone();
            move |method: Method, uri: Uri, headers: HeaderMap| {
                not_found(app.clone(), method, uri, headers)
            }
        })
        .layer(middleware::from_fn_with_state(app, request_timeout))
        // On every answer (pages, files and JSON alike): no MIME sniffing,
        // no referrer leaving the wallboard, no framing by another site.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

/// Every request is answered within `limits.request_timeout` (a body sent
/// slowly included); a WebSocket counts until its handshake is answered.
async fn request_timeout(State(app): State<App>, request: Request, next: Next) -> Response {
    let limit = app.config.limits.request_timeout;
    match tokio::time::timeout(limit.unsigned_abs(), next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request took longer than limits.request_timeout ({limit:#})"),
        )
        .into_response(),
    }
}

/// The wallboard UI; without a built UI, a pointer at the data.
async fn index(State(app): State<App>, headers: HeaderMap) -> Response {
    let csp = ui::csp(&app.config.auth.allowed_origins);
    if let Some(page) = ui::serve("/", &headers, &csp) {
        return page;
    }
    Json(json!({
        "name": "wallboard",
        "ui": "not built into this binary: build it with `cargo xtask ui` (or `cargo xtask run`)",
        "board": "/api/v1/board",
        "events": "/api/v1/events",
        "health": "/healthz",
        "ready": "/readyz",
    }))
    .into_response()
}

async fn get_board(
    State(app): State<App>,
    Query(params): Query<ViewParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = params.view(&app, &headers)?;
    let board = app.stepper().board_json(&view);
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        board.as_str().to_owned(),
    )
        .into_response())
}

/// `GET /ws?view=floor|agent|queue&queue=ID`: a snapshot, then patches.
async fn ws(
    State(app): State<App>,
    Query(params): Query<ViewParams>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let view = params.view(&app, request.headers())?;
    not_behind(&app, params.after.as_deref()).await?;
    // A page on another site must not open a viewer's socket (the browser
    // would send this origin's credentials along).
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let (origin, host) = (header_text(header::ORIGIN), header_text(header::HOST));
    if !app.config.auth.origin_allowed(origin, host) {
        return Err(ApiError::forbidden(format!(
            "WebSocket from origin {:?} refused: only the wallboard's own origin and [auth] allowed_origins may open /ws",
            origin.unwrap_or_default()
        )));
    }
    let handshake = match Handshake::check(&mut request) {
        Ok(handshake) => handshake,
        Err(refused) => return Ok(crate::upgrade::refusal(refused)),
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let slot = app.viewer_slots.take(peer, &app.config.limits)?;
    let stepper = app.stepper();
    let frames = app.hub.subscribe(&view, || stepper.snapshots(&view));
    let limits = SessionLimits {
        drain_timeout: app.config.ws_drain_timeout.unsigned_abs(),
        ping_interval: app.config.ws_ping_interval.unsigned_abs(),
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .max_message_size(Some(WS_MAX_INCOMING))
        .max_frame_size(Some(WS_MAX_INCOMING));
    let (viewers, sessions) = (app.viewers.clone(), app.sessions.clone());
    Ok(
        handshake.response(&viewers, &sessions, config, move |socket| async move {
            let _slot = slot;
            stream::serve_session(
                socket,
                frames,
                app.hub.clone(),
                limits,
                app.shutdown.clone(),
            )
            .await;
        }),
    )
}

/// How long a node that is behind a reconnecting viewer waits to catch up
/// before it refuses the viewer (who then tries another node).
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A viewer that comes from another node of the cluster (`after=EPOCH:SEQ`)
/// never gets an older board: this node waits until it has applied that
/// sequence, or answers 503 so the viewer tries another. A different epoch
/// (another log) or a single server takes the viewer as it is.
async fn not_behind(app: &App, after: Option<&str>) -> Result<(), ApiError> {
    let (Some(cluster), Some(after)) = (app.ingest.cluster(), after) else {
        return Ok(());
    };
    let Some((epoch, sequence)) = after
        .split_once(':')
        .and_then(|(e, s)| Some((e, s.parse::<u64>().ok()?)))
    else {
        return Err(ApiError::bad_request(format!(
            "`after`: {after:?} is not EPOCH:SEQUENCE (the board's cluster.epoch and cluster.applied)"
        )));
    };
    if epoch != cluster.epoch()
        || tokio::time::timeout(CATCH_UP_WAIT, cluster.caught_up_to(sequence))
            .await
            .is_ok()
    {
        return Ok(());
    }
    Err(ApiError::unavailable(format!(
                "this node has applied the log up to {} and the viewer has seen {sequence}: try another node",
                cluster.applied()
            ),
    )
    .retry_after(1))
}

/// `GET /metrics`: the Prometheus text exposition.
async fn metrics(
    State(app): State<App>,
    Query(params): Query<ViewParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.config
        .auth
        .metrics_reader(auth::presented(&headers, params.token.as_deref()))?;
    let text = app.stepper().scrape();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(app): State<App>) -> Response {
    if let Some(reason) = app.ingest.cluster().and_then(|c| c.stalled()) {
        return ApiError::unavailable(reason).into_response();
    }
    if app.ready.load(Ordering::Acquire) {
        // Ready even when the journal had damage: the board is served;
        // the body says what replay skipped.
        let skipped = app.ingest.replay_skipped();
        if skipped.is_empty() {
            Json(json!({"status": "ready"})).into_response()
        } else {
            Json(json!({"status": "ready", "journal_skipped": skipped})).into_response()
        }
    } else {
        ApiError::unavailable("starting: not ready yet").into_response()
    }
}

/// UI files by name; anything else is a JSON 404.
async fn not_found(app: App, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method == Method::GET
        && let Some(file) = ui::serve(
            uri.path(),
            &headers,
            &ui::csp(&app.config.auth.allowed_origins),
        )
    {
        return file;
    }
    ApiError::not_found("no such endpoint").into_response()
}
