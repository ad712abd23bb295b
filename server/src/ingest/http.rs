//! `POST /api/v1/events`: a JSON array, one object, or NDJSON.
//!
//! 400 (nothing applied) when the body is not JSON; otherwise 200 with
//! `{"accepted","duplicates","rejected":[{"index","error"}]}`.

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};

use bytes::Bytes;

use super::cluster::LogError;
use super::{Ingest, Outcome, StoreError, body};
use crate::error::ApiError;

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/api/v1/events", post(post_events))
        .with_state(ingest)
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] (413 beyond).
pub async fn read_body(headers: &HeaderMap, request_body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "body is larger than {MAX_BODY_BYTES} bytes: split it into smaller batches"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    to_bytes(request_body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

/// The sender of an ingest request, as the auth check named it (a token's
/// name, or "loopback").
#[derive(Debug, Clone)]
pub struct Sender(pub String);

/// Refuses a batch over `limits.max_batch_events` (413) or over the
/// sender's rate (429 with `Retry-After`).
pub fn admit(ingest: &Ingest, sender: Option<&Sender>, events: usize) -> Result<(), ApiError> {
    if events > ingest.max_batch_events {
        return Err(ApiError::too_large(format!(
            "{events} events in one request, more than limits.max_batch_events = {}: split the batch",
            ingest.max_batch_events
        )));
    }
    let sender = sender.map_or("unknown", |s| s.0.as_str());
    ingest.admit(sender, events).map_err(|seconds| {
        ApiError::too_many_requests(
            format!(
                "sender {sender:?} is over limits.ingest_events_per_second: retry in {seconds} s"
            ),
            seconds,
        )
    })
}

/// Runs a batch through ingest off the async workers: applying is CPU
/// work, and the journal's sync disk work, under the core lock — never on
/// the workers that serve the tick, health checks and viewers. A journal
/// that cannot store the batch is a 503.
pub async fn submit(
    ingest: Ingest,
    items: Vec<Result<wallboard_protocol::Event, String>>,
) -> Result<Outcome, ApiError> {
    let answer = ingest.submit_batch(items).await;
    answer.map_err(|e| {
        let error = ApiError::from(e);
        if error.status.is_client_error() {
            tracing::warn!(error = %error.error, status = %error.status, "batch refused");
        } else {
            tracing::error!(error = %error.error, status = %error.status, "batch not stored");
        }
        error
    })
}

/// A batch too big for the cluster's log is the sender's to split (413);
/// anything else that stops a batch being stored passes (503, retry).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Log(LogError::TooLarge { .. }) => ApiError::too_large(e.to_string()),
            e => ApiError::unavailable(format!("{e}; retry later")).retry_after(1),
        }
    }
}

async fn post_events(
    State(ingest): State<Ingest>,
    sender: Option<Extension<Sender>>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, request_body).await?;
    let items =
        body::parse(&bytes).map_err(|e| ApiError::bad_request(e.message).at(e.line, e.column))?;
    admit(&ingest, sender.as_deref(), items.len())?;
    let outcome = submit(ingest, items).await?;
    Ok(axum::Json(outcome).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn a_batch_too_big_for_the_log_is_413_and_the_rest_503() {
        let too_big = ApiError::from(StoreError::Log(LogError::TooLarge {
            bytes: 2_000_000,
            limit: 1_048_576,
        }));
        assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_big.retry_after, None);
        assert!(
            too_big.error.contains("send fewer events per batch"),
            "{}",
            too_big.error
        );
        assert!(!too_big.error.contains("retry later"), "{}", too_big.error);

        let gone = ApiError::from(StoreError::Log(LogError::OutcomeGone(7)));
        assert_eq!(gone.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(gone.retry_after, Some(1));
        let disk = ApiError::from(StoreError::Journal(std::io::Error::other("disk full")));
        assert_eq!(disk.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(disk.error.ends_with("; retry later"), "{}", disk.error);
    }
}
