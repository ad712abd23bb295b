//! Streaming sessions: fan-out of bytes the tick hands over, to every
//! WebSocket viewer of a view. Computes no KPI and knows no board shape.
//!
//! Each view has a `watch` channel holding its latest [`Frame`]. A session
//! sends the snapshot, then for every frame the pre-serialized patch — the
//! same bytes for every session of the view. What happens to a slow client
//! is decided here:
//! - it holds no queue of its own: `watch` keeps only the latest frame, and
//!   the view keeps its last [`RECENT`] patches, shared by all sessions;
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
//! Snapshots come from the channel's snapshot source (the kept board, cut
//! and serialized once per view per step by `boards`), with the `seq` they
//! were cut at; a session goes on from that `seq`.
//!
//! Per-session memory stays small: no copy of the board, no frame held
//! while a send waits, and socket buffers sized for small frames (set by
//! the router). Messages
//! longer than [`FRAGMENT`] (snapshots) go out as a fragmented message, so
//! the write buffer never holds more than a fragment or two — tungstenite
//! keeps the capacity of the largest frame it ever buffered.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as WsFrame};

use crate::config::Limits;
use crate::error::ApiError;
use crate::upgrade::Socket;
use tokio_util::sync::CancellationToken;
use wallboard_protocol::View;

/// One step of a view's stream.
pub struct Frame {
    pub seq: u64,
    /// The whole `{"type":"patch",…}` message, serialized once; `None` for
    /// a view's placeholder first frame.
    pub patch: Option<Utf8Bytes>,
}

impl Frame {
    pub fn new(seq: u64, patch: Option<Utf8Bytes>) -> Frame {
        Frame { seq, patch }
    }
}

/// Where a view's snapshots come from: the `{"type":"snapshot",…}` message
/// and its `seq`, the patches after which apply to it.
pub type SnapshotSource = Arc<dyn Fn() -> (u64, Utf8Bytes) + Send + Sync>;

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
    pub disconnected_client: AtomicU64,
}

/// Counts of the stream, read at scrape time.
pub struct StreamCounts {
    /// Sessions per kind of view ([`View::LABELS`]).
    pub sessions: Vec<(&'static str, u64)>,
    pub messages_sent: u64,
    pub resyncs: u64,
    pub disconnects: [(&'static str, u64); 3],
}

/// Viewers connected or connecting now, in all and by address, for
/// `limits.max_viewers` and `limits.max_viewers_per_ip`.
#[derive(Default)]
pub struct ViewerSlots {
    by_ip: Mutex<HashMap<IpAddr, u64>>,
    total: AtomicU64,
}

/// A viewer's place under the limits, given back when the session (or a
/// handshake that never completes) ends.
pub struct ViewerSlot {
    ip: Option<IpAddr>,
    slots: Arc<ViewerSlots>,
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.slots.total.fetch_sub(1, Ordering::Relaxed);
        let Some(ip) = self.ip else {
            return;
        };
        let mut counts = self.slots.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }
}

impl ViewerSlots {
    /// Takes a viewer's place, or says which limit is full.
    pub fn take(
        self: &Arc<Self>,
        peer: Option<SocketAddr>,
        limits: &Limits,
    ) -> Result<ViewerSlot, ApiError> {
        // Taken first, so handshakes at the same moment cannot all pass.
        let mut slot = ViewerSlot {
            ip: None,
            slots: self.clone(),
        };
        if self.total.fetch_add(1, Ordering::Relaxed) >= limits.max_viewers {
            return Err(ApiError::unavailable(format!(
                "the server has its {} viewers (limits.max_viewers): retry later",
                limits.max_viewers
            )));
        }
        let Some(peer) = peer else {
            return Ok(slot);
        };
        let mut counts = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(peer.ip()).or_insert(0);
        if *n >= limits.max_viewers_per_ip {
            return Err(ApiError::too_many_requests(
                format!(
                    "{} viewers from {} already (limits.max_viewers_per_ip)",
                    n,
                    peer.ip()
                ),
                10,
            ));
        }
        *n += 1;
        slot.ip = Some(peer.ip());
        Ok(slot)
    }
}

/// How many recent patches a view keeps for sessions catching up (at a
/// 100 ms tick: 3 seconds).
pub const RECENT: usize = 30;

/// One view's stream: the latest frame, and the last few patches (by
/// sequence number) for catching up.
pub struct Channel {
    sender: watch::Sender<Arc<Frame>>,
    recent: Mutex<VecDeque<(u64, Option<Utf8Bytes>)>>,
    snapshot: SnapshotSource,
}

impl Channel {
    /// The patches after `seq` up to `until`, if the ring still has them all.
    fn since(&self, seq: u64, until: u64) -> Option<Vec<Utf8Bytes>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let patches: Vec<Utf8Bytes> = recent
            .iter()
            .filter(|(s, _)| *s > seq && *s <= until)
            .map(|(_, patch)| patch.clone())
            .collect::<Option<_>>()?;
        (patches.len() as u64 == until - seq).then_some(patches)
    }
}

/// The views' channels.
#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<View, Arc<Channel>>>,
    pub stats: StreamStats,
}

/// A session's subscription: the latest-frame watch and the view's ring.
pub struct Subscription {
    frames: watch::Receiver<Arc<Frame>>,
    channel: Arc<Channel>,
}

impl Hub {
    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<View, Arc<Channel>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to a view's stream, creating it with `snapshot` as its
    /// snapshot source when it does not exist yet.
    pub fn subscribe(
        &self,
        view: &View,
        snapshot: impl FnOnce() -> SnapshotSource,
    ) -> Subscription {
        let mut channels = self.channels();
        let channel = channels
            .entry(view.clone())
            .or_insert_with(|| {
                Arc::new(Channel {
                    sender: watch::channel(Arc::new(Frame::new(0, None))).0,
                    recent: Mutex::new(VecDeque::with_capacity(RECENT)),
                    snapshot: snapshot(),
                })
            })
            .clone();
        Subscription {
            frames: channel.sender.subscribe(),
            channel,
        }
    }

    /// The views streaming now.
    pub fn current(&self) -> Vec<View> {
        self.channels().keys().cloned().collect()
    }

    /// The stream's counts for `/metrics`.
    pub fn counts(&self) -> StreamCounts {
        let stats = &self.stats;
        StreamCounts {
            sessions: self.sessions_by_view(),
            messages_sent: stats.messages_sent.load(Ordering::Relaxed),
            resyncs: stats.resyncs.load(Ordering::Relaxed),
            disconnects: [
                ("slow", stats.disconnected_slow.load(Ordering::Relaxed)),
                ("dead", stats.disconnected_dead.load(Ordering::Relaxed)),
                ("client", stats.disconnected_client.load(Ordering::Relaxed)),
            ],
        }
    }

    /// Sessions per kind of view ([`View::LABELS`], every kind listed): a
    /// bounded label for metrics.
    pub fn sessions_by_view(&self) -> Vec<(&'static str, u64)> {
        let mut counts: Vec<(&'static str, u64)> =
            View::LABELS.into_iter().map(|label| (label, 0)).collect();
        for (view, channel) in self.channels().iter() {
            if let Some(entry) = counts.iter_mut().find(|(v, _)| *v == view.label()) {
                entry.1 += channel.sender.receiver_count() as u64;
            }
        }
        counts
    }

    /// Publishes a view's next frame to all its sessions.
    pub fn publish(&self, view: &View, frame: Frame) {
        let Some(channel) = self.channels().get(view).cloned() else {
            return;
        };
        {
            let mut recent = channel.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back((frame.seq, frame.patch.clone()));
        }
        channel.sender.send_replace(Arc::new(frame));
    }

    /// Drops the streams nobody watches, except those in `keep`.
    pub fn retain_watched(&self, keep: &[View]) {
        self.channels()
            .retain(|view, channel| channel.sender.receiver_count() > 0 || keep.contains(view));
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

/// Messages longer than this go out in fragments of this size.
pub const FRAGMENT: usize = 4 * 1024;

/// One message as the frames to write: itself, or — when longer than
/// [`FRAGMENT`] — a fragmented text message over slices of the same bytes.
fn frames_of(text: &Utf8Bytes) -> Vec<Message> {
    if text.len() <= FRAGMENT {
        return vec![Message::Text(text.clone())];
    }
    let bytes = Bytes::from(text.clone());
    let count = bytes.len().div_ceil(FRAGMENT);
    (0..count)
        .map(|i| {
            let part = bytes.slice(i * FRAGMENT..((i + 1) * FRAGMENT).min(bytes.len()));
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            Message::Frame(WsFrame::message(part, OpCode::Data(opcode), i + 1 == count))
        })
        .collect()
}

/// Serves one viewer until it leaves, falls behind for too long, stops
/// answering, or the server shuts down.
pub async fn serve_session(
    mut socket: Socket,
    mut subscription: Subscription,
    hub: Arc<Hub>,
    limits: SessionLimits,
    shutdown: CancellationToken,
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
        End::ClientClosed => {
            hub.stats
                .disconnected_client
                .fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    end
}

async fn session_loop(
    socket: &mut Socket,
    subscription: &mut Subscription,
    hub: &Hub,
    limits: SessionLimits,
    shutdown: CancellationToken,
) -> End {
    let Subscription { frames, channel } = subscription;
    frames.borrow_and_update();
    let (mut last_seq, snapshot) = (channel.snapshot)();
    if !send_all(socket, vec![snapshot], limits, hub).await {
        return End::Slow;
    }
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.tick().await;
    let mut heard = Instant::now();
    let stop = shutdown.cancelled_owned();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            changed = frames.changed() => {
                if changed.is_err() {
                    return End::ShuttingDown;
                }
                // The frame is let go before the send, which may wait.
                let batch: Vec<Utf8Bytes> = {
                    let frame = frames.borrow_and_update().clone();
                    if frame.seq <= last_seq {
                        // Older than the snapshot this session started from.
                        continue;
                    }
                    match &frame.patch {
                        Some(patch) if frame.seq == last_seq + 1 => {
                            last_seq = frame.seq;
                            vec![patch.clone()]
                        }
                        _ => match channel.since(last_seq, frame.seq) {
                            // Behind by a few frames: the missed patches, shared bytes.
                            Some(missed) => {
                                last_seq = frame.seq;
                                missed
                            }
                            None => {
                                hub.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                                let (seq, snapshot) = (channel.snapshot)();
                                last_seq = seq;
                                vec![snapshot]
                            }
                        },
                    }
                };
                if !send_all(socket, batch, limits, hub).await {
                    return End::Slow;
                }
            }
            incoming = socket.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientClosed,
                Some(Ok(_)) => heard = Instant::now(),
            },
            _ = ping.tick() => {
                if heard.elapsed() > limits.ping_interval * 3 {
                    close(socket, CloseCode::Policy, "no answer to pings").await;
                    return End::Dead;
                }
                if !send_message(socket, Message::Ping(Bytes::new()), limits).await {
                    return End::Slow;
                }
            }
            _ = &mut stop => {
                close(socket, CloseCode::Away, "server going away").await;
                return End::ShuttingDown;
            }
        }
    }
}

/// Writes several messages, then flushes once, within the drain bound.
async fn send_all(
    socket: &mut Socket,
    batch: Vec<Utf8Bytes>,
    limits: SessionLimits,
    hub: &Hub,
) -> bool {
    let count = batch.len() as u64;
    let write = async {
        for text in &batch {
            for frame in frames_of(text) {
                socket.feed(frame).await?;
            }
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

async fn send_message(socket: &mut Socket, message: Message, limits: SessionLimits) -> bool {
    matches!(
        tokio::time::timeout(limits.drain_timeout, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// Best effort: a close frame, not waiting long for a peer that does not read.
async fn close(socket: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(messages: &[Message]) -> (Vec<(bool, bool)>, String) {
        let mut flags = Vec::new();
        let mut text = Vec::new();
        for m in messages {
            match m {
                Message::Text(t) => {
                    flags.push((true, true));
                    text.extend_from_slice(t.as_bytes());
                }
                Message::Frame(f) => {
                    let continues = matches!(f.header().opcode, OpCode::Data(Data::Continue));
                    flags.push((continues, f.header().is_final));
                    text.extend_from_slice(f.payload());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        (flags, String::from_utf8(text).unwrap())
    }

    #[test]
    fn short_messages_go_whole() {
        let (flags, text) = payloads(&frames_of(&Utf8Bytes::from("{\"seq\":1}")));
        assert_eq!(flags, [(true, true)]);
        assert_eq!(text, "{\"seq\":1}");
    }

    #[test]
    fn long_messages_are_fragmented_and_reassemble() {
        // Multi-byte characters across fragment boundaries are fine: only
        // the whole message must be UTF-8.
        let long: String = "排队中 waiting ".repeat(1000);
        let frames = frames_of(&Utf8Bytes::from(long.clone()));
        let (flags, text) = payloads(&frames);
        assert_eq!(frames.len(), long.len().div_ceil(FRAGMENT));
        assert_eq!(
            flags.first(),
            Some(&(false, false)),
            "first: text, not final"
        );
        assert!(
            flags[1..flags.len() - 1]
                .iter()
                .all(|f| *f == (true, false))
        );
        assert_eq!(
            flags.last(),
            Some(&(true, true)),
            "last: continuation, final"
        );
        assert_eq!(text, long);
    }

    fn frame(seq: u64) -> Frame {
        Frame::new(seq, Some(Utf8Bytes::from(format!("p{seq}"))))
    }

    fn no_snapshot() -> SnapshotSource {
        Arc::new(|| (0, Utf8Bytes::from_static("{}")))
    }

    #[test]
    fn catching_up_takes_the_missed_patches_from_the_ring() {
        let hub = Hub::default();
        let subscription = hub.subscribe(&View::Floor, no_snapshot);
        for seq in 1..=5 {
            hub.publish(&View::Floor, frame(seq));
        }
        let missed = subscription.channel.since(2, 5).expect("in the ring");
        assert_eq!(missed, ["p3", "p4", "p5"]);
        // A gap (a frame without a patch) or patches gone from the ring: none.
        hub.publish(&View::Floor, Frame::new(6, None));
        hub.publish(&View::Floor, frame(7));
        assert_eq!(subscription.channel.since(5, 7), None);
        for seq in 8..8 + RECENT as u64 {
            hub.publish(&View::Floor, frame(seq));
        }
        assert_eq!(subscription.channel.since(6, 8 + RECENT as u64 - 1), None);
        assert!(
            subscription
                .channel
                .since(8, 8 + RECENT as u64 - 1)
                .is_some()
        );
    }
}
