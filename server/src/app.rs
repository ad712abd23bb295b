//! The HTTP application: routes and the state they share.
//!
//! Routers are composed per feature (`ingest::http`, the board, health);
//! this module only wires them together and maps unknown paths to a JSON 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::error::ApiError;
use crate::ingest::{self, Ingest};
use crate::kpi;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub ingest: Ingest,
    /// Ready once start-up work (journal replay) is done.
    pub ready: Arc<AtomicBool>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/v1/board", get(get_board))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app.clone())
        .merge(ingest::http::router(app.ingest.clone()))
        .fallback(not_found)
}

/// Until the wallboard UI is served here, point people at the data.
async fn index() -> Json<serde_json::Value> {
    Json(json!({
        "name": "wallboard",
        "board": "/api/v1/board",
        "events": "/api/v1/events",
        "health": "/healthz",
        "ready": "/readyz",
    }))
}

async fn get_board(State(app): State<App>) -> Response {
    let board = {
        let core = app.ingest.lock();
        kpi::board(&core.aggregator, app.ingest.clock().now(), core.seq)
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(board)).into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(app): State<App>) -> Response {
    if app.ready.load(Ordering::Acquire) {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "starting: not ready yet").into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}
