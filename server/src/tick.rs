//! The tick: read what changed in the aggregate (under the core lock, in
//! time proportional to it), let `boards` turn it into each watched view's
//! patch, serialize each patch once, and hand the bytes to the stream.
//! Nothing changed → nothing sent, except a heartbeat patch
//! (`generated_at`) once a second so screens can show how fresh they are.
//!
//! Changes are coalesced on the tick (default 100 ms) with a leading edge:
//! the first change after a quiet tick goes out at once, the ones that
//! follow within the tick go out together at its end. So a step runs at
//! most once per tick for events, plus once per whole second.
//!
//! Cost per step depends neither on the number of viewers nor on the size
//! of the floor: the changed parts, one patch and one serialization per view.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::boards::{Boards, HEARTBEAT, StepGuard};
use crate::ingest::{Holder, Ingest};
use crate::kpi;
use crate::stream::{Frame, Hub, SnapshotSource};
use tokio_util::sync::CancellationToken;
use wallboard_protocol::View;

/// What a step needs: the state, the kept board, the streams.
#[derive(Clone)]
pub struct Stepper {
    pub ingest: Ingest,
    pub boards: Arc<Boards>,
    pub hub: Arc<Hub>,
}

/// The board's clock: figures that move with the clock alone (agents'
/// running time in occupancy, complaints falling due) are evaluated at
/// the whole second, so they change once a second rather than every tick:
/// a quiet floor costs viewers about one patch a second, not ten, while
/// anything an event changes still goes out on the next tick.
fn board_clock(now: Timestamp) -> Timestamp {
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

impl Stepper {
    /// One step: the changes since the last, applied to the kept board,
    /// each streamed view's patch published.
    pub fn step(&self) {
        self.step_reading(Holder::Step, false, |_| ());
    }

    /// A step (when `only_if_stale`, only if the kept board is behind the
    /// state or the clock), with `read` run on the core under the same hold
    /// of its lock: what `read` returns agrees with the board the returned
    /// guard holds, and the step's `now`. The step's lock is taken before
    /// the core's, always, and the clock read under it, so steps that
    /// queued for it still apply in the clock's order.
    fn step_reading<R>(
        &self,
        holder: Holder,
        only_if_stale: bool,
        read: impl FnOnce(&crate::ingest::Core) -> R,
    ) -> (StepGuard<'_>, R, Timestamp) {
        let started = std::time::Instant::now();
        let mut boards = self.boards.write();
        let now = self.ingest.clock().now();
        // Under the step's lock: the views kept are exactly the channels
        // that exist, so a view's `seq` never restarts while a session of
        // it holds a snapshot (a snapshot reads it under the same lock).
        self.hub.retain_watched(&[]);
        let views = self.hub.current();
        let at = board_clock(now);
        let (counts, read) = {
            let mut core = self.ingest.lock(holder);
            let seq = core.seq;
            let counts = (!only_if_stale || boards.is_stale(seq, at))
                .then(|| kpi::read_changes(&mut core.aggregator, at, seq));
            (counts, read(&core))
        };
        let Some(counts) = counts else {
            return (boards, read, now);
        };
        // The formulas run after the core lock is let go.
        let changes = counts.board();
        for patch in boards.apply(changes, now, &views) {
            // `StreamMessage::Patch`, around the patch's text.
            let text = format!(
                r#"{{"type":"patch","seq":{},"patch":{}}}"#,
                patch.seq, patch.patch
            );
            self.hub
                .publish(&patch.view, Frame::new(patch.seq, Some(text.into())));
        }
        let took = started.elapsed().as_secs_f64();
        self.ingest
            .metrics()
            .record(|| metrics::histogram!("wallboard_tick_seconds").record(took));
        (boards, read, now)
    }

    /// Steps now if the kept board is behind the state or the clock, so a
    /// reader (`GET /api/v1/board`, a snapshot) sees every accepted event.
    pub fn refresh(&self) {
        let at = board_clock(self.ingest.clock().now());
        let seq = self.ingest.lock(Holder::Read).seq;
        if self.boards.is_stale(seq, at) {
            self.step();
        }
    }

    /// The `/metrics` text: the board, the lifetime counts and the stream's
    /// and cluster's counts, read together (one hold of the core lock, the
    /// board stepped to it first), so a scrape agrees with itself.
    pub fn scrape(&self) -> String {
        // Most of the step, if one is due, outside the scrape's own hold;
        // what arrives in between is stepped under it.
        self.refresh();
        let stream = self.hub.counts();
        let (boards, lifetime, now) = self.step_reading(Holder::Metrics, true, |core| {
            crate::metrics::Lifetime::of(&core.aggregator)
        });
        // Only the board's part is written under the step's lock: the
        // readers of snapshots wait on it.
        let board = crate::metrics::render_board(boards.floor(), now);
        drop(boards);
        let cluster = self.ingest.cluster().map(|c| c.counts());
        self.ingest.metrics().render(&crate::metrics::Scrape {
            lifetime: &lifetime,
            board: &board,
            now,
            stream: &stream,
            cluster: cluster.as_ref(),
        })
    }

    /// A view's board now, as JSON.
    pub fn board_json(&self, view: &View) -> Utf8Bytes {
        self.refresh();
        self.boards.board_json(view)
    }

    /// The snapshot source of a view's stream: the board with every event
    /// accepted so far (a step first when the kept board is behind).
    pub fn snapshots(&self, view: &View) -> SnapshotSource {
        // The hub holds the source: a weak handle back, so no cycle.
        let (ingest, boards) = (self.ingest.clone(), self.boards.clone());
        let hub = Arc::downgrade(&self.hub);
        let view = view.clone();
        Arc::new(move || {
            if let Some(hub) = hub.upgrade() {
                let stepper = Stepper {
                    ingest: ingest.clone(),
                    boards: boards.clone(),
                    hub,
                };
                stepper.refresh();
            }
            boards.snapshot(&view)
        })
    }

    /// Runs the tick until shutdown.
    ///
    /// A step runs when a batch changed the state — at once if the last step
    /// is a tick or more ago (a quiet floor shows an event in a few ms), else
    /// at the end of that tick (under load, one step per tick) — and at a
    /// whole second, for the figures that move with the clock and heartbeats,
    /// unless a step ran in the last half second (then the clock-driven
    /// figures go out with the next event's patch, not in a message of their
    /// own: at ten thousand viewers every message counts).
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let stop = shutdown.cancelled_owned();
        tokio::pin!(stop);
        let mut last = tokio::time::Instant::now();
        loop {
            let next_second = Duration::from_nanos(
                1_000_000_000
                    - u64::from(self.ingest.clock().now().subsec_nanosecond().unsigned_abs()),
            );
            tokio::select! {
                _ = self.ingest.changed() => {
                    tokio::time::sleep_until(last + every).await;
                }
                _ = tokio::time::sleep(next_second) => {
                    // A step in the last half second already refreshed the
                    // clock-driven figures: ride along with the next one.
                    if last.elapsed() < HEARTBEAT / 2 {
                        continue;
                    }
                }
                _ = &mut stop => break,
            }
            last = tokio::time::Instant::now();
            self.step();
        }
    }
}
