//! `POST /api/v1/events`: a JSON array, one object, or NDJSON.
//!
//! 400 (nothing applied) when the body is not JSON; otherwise 200 with
//! `{"accepted","duplicates","rejected":[{"index","error"}]}`.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{Ingest, body};
use crate::error::ApiError;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/api/v1/events", post(post_events))
        .with_state(ingest)
}

async fn post_events(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than {MAX_BODY_BYTES} bytes: split it into smaller batches"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let bytes = to_bytes(request_body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    let items = body::parse(&bytes).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        error: e.message,
        line: e.line,
        column: e.column,
    })?;
    // Applying is CPU work, and the journal's sync disk work, under the
    // core lock: never on the async workers, which serve the tick, health
    // checks and viewers.
    let outcome = tokio::task::spawn_blocking(move || ingest.submit(items))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let outcome = outcome.map_err(|e| {
        tracing::error!(error = %e.0, "journal write failed: answering 503");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the journal could not store this batch ({}): nothing of it was applied; retry later",
                e.0
            ),
        )
    })?;
    Ok(axum::Json(outcome).into_response())
}
