//! The WebSocket handshake (RFC 6455 §4.2) over axum's HTTP/1.1 server,
//! handing the session a `tokio-tungstenite` stream it fully controls.
//!
//! axum's own `WebSocket` hides the frame layer; the stream needs it to
//! send a large snapshot as a fragmented message, so that a session's
//! write buffer never grows past one fragment and keeps that size for the
//! rest of its life (tungstenite keeps the capacity of the largest frame
//! it ever buffered — a whole snapshot, tens of KB, per viewer).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use crate::error::ApiError;

/// The answer to a refused handshake: a 426 names the version spoken
/// (RFC 6455 §4.2.2).
pub fn refusal(error: ApiError) -> Response {
    let mut response = error.into_response();
    if response.status() == StatusCode::UPGRADE_REQUIRED {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

/// A viewer's WebSocket after the handshake.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A checked handshake: answer with [`Handshake::response`] and the
/// connection becomes a [`Socket`] once the 101 has gone out.
pub struct Handshake {
    accept: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Handshake {
    /// Checks that `request` asks for a WebSocket; a clear 400/426 if not
    /// (answer it with [`refusal`]).
    pub fn check(request: &mut Request) -> Result<Handshake, ApiError> {
        let headers = request.headers();
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`",
            ));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v != "13")
        {
            return Err(ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported `Sec-WebSocket-Version`: only 13 is spoken",
            ));
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::bad_request("missing `Sec-WebSocket-Key` header"))?;
        let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .map_err(|_| ApiError::bad_request("bad `Sec-WebSocket-Key`"))?;
        let on_upgrade = request
            .extensions_mut()
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UPGRADE_REQUIRED,
                    "this connection cannot be upgraded (WebSocket needs HTTP/1.1)",
                )
            })?;
        Ok(Handshake { accept, on_upgrade })
    }

    /// The `101 Switching Protocols` answer; `session` runs on the socket,
    /// on `runtime`, once the client has it (no permessage-deflate is
    /// offered).
    pub fn response<F, Fut>(
        self,
        runtime: &tokio::runtime::Handle,
        sessions: &TaskTracker,
        config: WebSocketConfig,
        session: F,
    ) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Handshake { accept, on_upgrade } = self;
        sessions.spawn_on(
            async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                session(socket).await;
            },
            runtime,
        );
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (header::SEC_WEBSOCKET_ACCEPT, accept),
            ],
        )
            .into_response()
    }
}
