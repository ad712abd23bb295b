//! Streaming sessions: fan-out of bytes the tick hands over, to every
//! WebSocket viewer of a view. Computes no KPI and knows no board shape.
//!
//! Each view has a `watch` channel holding its latest [`Frame`]. A session
//! sends the snapshot, then for every frame the pre-serialized patch — the
//! same bytes for every session of the view. What happens to a slow client
//! is decided here:
//! - it holds no queue of its own: `watch` keeps only the latest frame, and
//!   the view keeps its last [`RECENT`] frames, shared by all sessions;
//! - a session that fell behind writes the patches it missed from that
//!   shared ring (the same bytes), several frames then one flush — catching
//!   up costs no snapshot and no per-session merge;
//! - one that fell further behind than the ring is sent the latest frame's
//!   snapshot instead (a resync);
//! - a send that cannot complete within the drain bound (the client stopped
//!   reading and the socket buffers are full) ends the session;
//! - peers that answer no ping are closed; on shutdown every session gets a
//!   "going away" close so clients reconnect to the restarted server.
//!
//! Per-session memory stays small: no copy of the board, one `Arc<Frame>`,
//! and socket buffers sized for small frames (set by the router).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::SinkExt;
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

/// How many recent frames a view keeps for sessions catching up (at a
/// 100 ms tick: 3 seconds).
pub const RECENT: usize = 30;

/// One view's stream: the latest frame, and the last few for catching up.
pub struct Channel {
    sender: watch::Sender<Arc<Frame>>,
    recent: Mutex<VecDeque<Arc<Frame>>>,
}

impl Channel {
    /// The frames after `seq` up to `until`, if the ring still has them all.
    fn since(&self, seq: u64, until: u64) -> Option<Vec<Arc<Frame>>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let frames: Vec<_> = recent
            .iter()
            .filter(|f| f.seq > seq && f.seq <= until)
            .cloned()
            .collect();
        let complete =
            frames.len() as u64 == until - seq && frames.iter().all(|f| f.patch.is_some());
        complete.then_some(frames)
    }
}

/// The views' channels.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    pub stats: StreamStats,
}

/// A session's subscription: the latest-frame watch and the view's ring.
pub struct Subscription {
    frames: watch::Receiver<Arc<Frame>>,
    channel: Arc<Channel>,
}

impl Hub {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Channel>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to a view's stream, creating it with `first` when it does
    /// not exist yet.
    pub fn subscribe(&self, key: &str, first: impl FnOnce() -> Frame) -> Subscription {
        let mut channels = self.channels();
        let channel = channels
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Channel {
                    sender: watch::channel(Arc::new(first())).0,
                    recent: Mutex::new(VecDeque::with_capacity(RECENT)),
                })
            })
            .clone();
        Subscription {
            frames: channel.sender.subscribe(),
            channel,
        }
    }

    /// The views streaming now, with their latest frame.
    pub fn current(&self) -> Vec<(String, Arc<Frame>)> {
        self.channels()
            .iter()
            .map(|(key, channel)| (key.clone(), channel.sender.borrow().clone()))
            .collect()
    }

    /// Publishes a view's next frame to all its sessions.
    pub fn publish(&self, key: &str, frame: Frame) {
        let Some(channel) = self.channels().get(key).cloned() else {
            return;
        };
        let frame = Arc::new(frame);
        {
            let mut recent = channel.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(frame.clone());
        }
        channel.sender.send_replace(frame);
    }

    /// Drops the streams nobody watches, except those in `keep`.
    pub fn retain_watched(&self, keep: &[&str]) {
        self.channels().retain(|key, channel| {
            channel.sender.receiver_count() > 0 || keep.contains(&key.as_str())
        });
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
    mut subscription: Subscription,
    hub: Arc<Hub>,
    limits: SessionLimits,
    shutdown: Shutdown,
) -> End {
    hub.stats.sessions.fetch_add(1, Ordering::Relaxed);
    let end = session_loop(&mut socket, &mut subscription, &hub, limits, shutdown).await;
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
    subscription: &mut Subscription,
    hub: &Hub,
    limits: SessionLimits,
    shutdown: Shutdown,
) -> End {
    let Subscription { frames, channel } = subscription;
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
                let batch: Vec<Utf8Bytes> = match &frame.patch {
                    Some(patch) if frame.seq == last_seq + 1 => vec![patch.clone()],
                    _ => match channel.since(last_seq, frame.seq) {
                        // Behind by a few frames: the missed patches, shared bytes.
                        Some(missed) => missed.iter().filter_map(|f| f.patch.clone()).collect(),
                        None => {
                            hub.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                            vec![frame.snapshot()]
                        }
                    },
                };
                last_seq = frame.seq;
                if !send_all(socket, batch, limits, hub).await {
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
    send_all(socket, vec![bytes], limits, hub).await
}

/// Writes several messages, then flushes once, within the drain bound.
async fn send_all(
    socket: &mut WebSocket,
    batch: Vec<Utf8Bytes>,
    limits: SessionLimits,
    hub: &Hub,
) -> bool {
    let count = batch.len() as u64;
    let write = async {
        for bytes in batch {
            socket.feed(Message::Text(bytes)).await?;
        }
        socket.flush().await
    };
    let sent = matches!(
        tokio::time::timeout(limits.drain_timeout, write).await,
        Ok(Ok(()))
    );
    if sent {
        hub.stats.messages_sent.fetch_add(count, Ordering::Relaxed);
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
