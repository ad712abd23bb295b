//! Streaming sessions: fan-out of bytes the tick hands over, to every
//! WebSocket viewer of a view. Computes no KPI and knows no board shape.
//!
//! Each view has a `watch` channel holding its latest [`Frame`]. A session
//! sends the snapshot, then for every frame the pre-serialized patch — the
//! same bytes for every session of the view. What happens to a slow client
//! is decided here:
//! - it never holds more than one pending frame: `watch` keeps only the
//!   latest, so a client that falls behind skips frames;
//! - having skipped one, the next patch would not apply, so it is sent the
//!   latest frame's snapshot instead (a resync);
//! - a send that cannot complete within the drain bound (the client stopped
//!   reading and the socket buffers are full) ends the session;
//! - peers that answer no ping are closed; on shutdown every session gets a
//!   "going away" close so clients reconnect to the restarted server.
//!
//! Per-session memory stays small: no copy of the board, one `Arc<Frame>`,
//! and socket buffers sized for small frames (set by the router).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use serde_json::Value;
use tokio::sync::watch;

use crate::shutdown::Shutdown;

/// One step of a view's stream.
pub struct Frame {
    pub seq: u64,
    /// The whole `{"type":"patch",…}` message, serialized once; `None` for
    /// a view's first frame.
    pub patch: Option<Utf8Bytes>,
    /// The view's board as JSON, kept for snapshots and the next diff.
    pub board: Arc<Value>,
    /// When this frame was published (heartbeats are due a second later).
    pub at: Instant,
    snapshot: OnceLock<Utf8Bytes>,
}

impl Frame {
    pub fn new(seq: u64, patch: Option<Utf8Bytes>, board: Arc<Value>) -> Frame {
        Frame {
            seq,
            patch,
            board,
            at: Instant::now(),
            snapshot: OnceLock::new(),
        }
    }

    /// The `{"type":"snapshot",…}` message, serialized at most once per
    /// frame, by the first session that needs it.
    pub fn snapshot(&self) -> Utf8Bytes {
        self.snapshot
            .get_or_init(|| {
                let message = serde_json::json!({
                    "type": "snapshot",
                    "seq": self.seq,
                    "board": &*self.board,
                });
                Utf8Bytes::from(message.to_string())
            })
            .clone()
    }
}

/// Limits of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A send that does not complete in this time ends the session.
    pub drain_timeout: Duration,
    pub ping_interval: Duration,
}

/// Counts kept for metrics and tests.
#[derive(Debug, Default)]
pub struct StreamStats {
    pub sessions: AtomicU64,
    pub messages_sent: AtomicU64,
    pub resyncs: AtomicU64,
    pub disconnected_slow: AtomicU64,
    pub disconnected_dead: AtomicU64,
}

/// The views' channels.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, watch::Sender<Arc<Frame>>>>,
    pub stats: StreamStats,
}

impl Hub {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Arc<Frame>>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to a view's stream, creating it with `first` when it does
    /// not exist yet.
    pub fn subscribe(
        &self,
        key: &str,
        first: impl FnOnce() -> Frame,
    ) -> watch::Receiver<Arc<Frame>> {
        let mut channels = self.channels();
        match channels.get(key) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(Arc::new(first()));
                channels.insert(key.to_string(), sender);
                receiver
            }
        }
    }

    /// The views streaming now, with their latest frame.
    pub fn current(&self) -> Vec<(String, Arc<Frame>)> {
        self.channels()
            .iter()
            .map(|(key, sender)| (key.clone(), sender.borrow().clone()))
            .collect()
    }

    /// Publishes a view's next frame to all its sessions.
    pub fn publish(&self, key: &str, frame: Frame) {
        if let Some(sender) = self.channels().get(key) {
            sender.send_replace(Arc::new(frame));
        }
    }

    /// Drops the streams nobody watches, except those in `keep`.
    pub fn retain_watched(&self, keep: &[&str]) {
        self.channels()
            .retain(|key, sender| sender.receiver_count() > 0 || keep.contains(&key.as_str()));
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    ClientClosed,
    Slow,
    Dead,
    ShuttingDown,
}

/// Serves one viewer until it leaves, falls behind for too long, stops
/// answering, or the server shuts down.
pub async fn serve_session(
    mut socket: WebSocket,
    mut frames: watch::Receiver<Arc<Frame>>,
    hub: Arc<Hub>,
    limits: SessionLimits,
    shutdown: Shutdown,
) -> End {
    hub.stats.sessions.fetch_add(1, Ordering::Relaxed);
    let end = session_loop(&mut socket, &mut frames, &hub, limits, shutdown).await;
    hub.stats.sessions.fetch_sub(1, Ordering::Relaxed);
    match end {
        End::Slow => {
            hub.stats.disconnected_slow.fetch_add(1, Ordering::Relaxed);
        }
        End::Dead => {
            hub.stats.disconnected_dead.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    end
}

async fn session_loop(
    socket: &mut WebSocket,
    frames: &mut watch::Receiver<Arc<Frame>>,
    hub: &Hub,
    limits: SessionLimits,
    shutdown: Shutdown,
) -> End {
    let first = frames.borrow_and_update().clone();
    let mut last_seq = first.seq;
    if !send(socket, first.snapshot(), limits, hub).await {
        return End::Slow;
    }
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.tick().await;
    let mut heard = Instant::now();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            changed = frames.changed() => {
                if changed.is_err() {
                    return End::ShuttingDown;
                }
                let frame = frames.borrow_and_update().clone();
                let bytes = match &frame.patch {
                    Some(patch) if frame.seq == last_seq + 1 => patch.clone(),
                    _ => {
                        hub.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                        frame.snapshot()
                    }
                };
                last_seq = frame.seq;
                if !send(socket, bytes, limits, hub).await {
                    return End::Slow;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientClosed,
                Some(Ok(_)) => heard = Instant::now(),
            },
            _ = ping.tick() => {
                if heard.elapsed() > limits.ping_interval * 3 {
                    close(socket, close_code::POLICY, "no answer to pings").await;
                    return End::Dead;
                }
                if !send_message(socket, Message::Ping(Default::default()), limits).await {
                    return End::Slow;
                }
            }
            _ = &mut stop => {
                close(socket, close_code::AWAY, "server going away").await;
                return End::ShuttingDown;
            }
        }
    }
}

async fn send(socket: &mut WebSocket, bytes: Utf8Bytes, limits: SessionLimits, hub: &Hub) -> bool {
    let sent = send_message(socket, Message::Text(bytes), limits).await;
    if sent {
        hub.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
    }
    sent
}

async fn send_message(socket: &mut WebSocket, message: Message, limits: SessionLimits) -> bool {
    matches!(
        tokio::time::timeout(limits.drain_timeout, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Best effort: a close frame, not waiting long for a peer that does not read.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
}
