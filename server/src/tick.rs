//! The tick: compute the floor board once, cut each watched view from it,
//! diff it against the view's last frame, serialize the patch once, and
//! hand the bytes to the stream. Nothing changed → nothing sent, except a
//! heartbeat patch (`generated_at`) once a second so screens can show how
//! fresh they are.
//!
//! Changes are coalesced on the tick (default 100 ms) with a leading edge:
//! the first change after a quiet tick goes out at once, the ones that
//! follow within the tick go out together at its end. So a step runs at
//! most once per tick for events, plus once per whole second.
//!
//! Cost per step does not depend on the number of viewers: one board, one
//! diff and one serialization per view.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use wallboard_protocol::stream::merge_diff;
use wallboard_protocol::{Board, StreamMessage};

use crate::ingest::Ingest;
use crate::kpi;
use crate::shutdown::Shutdown;
use crate::stream::{Frame, Hub};
use crate::views::View;

/// With no change, a heartbeat patch goes out this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// The views that always stream, watched or not.
const STANDING: [&str; 2] = ["floor", "agent"];

/// The first frame of a view's stream: its board now.
pub fn first_frame(ingest: &Ingest, view: &View) -> Frame {
    Frame::new(0, None, Arc::new(view_value(ingest, view)))
}

/// A view's board now, as JSON (what `GET /api/v1/board` returns).
pub fn view_value(ingest: &Ingest, view: &View) -> Value {
    serde_json::to_value(view.apply(&floor_board(ingest))).unwrap_or(Value::Null)
}

/// The whole board now; the core lock is held only while computing it.
///
/// Figures that move with the clock alone (agents' running time in
/// occupancy and utilisation, complaints falling due) are evaluated at the
/// whole second, so they change once a second rather than every tick: a
/// quiet floor costs viewers about one patch a second, not ten, while
/// anything an event changes still goes out on the next tick.
pub fn floor_board(ingest: &Ingest) -> Board {
    let now = ingest.clock().now();
    let second = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let core = ingest.lock();
    let mut board = kpi::board(&core.aggregator, second, core.seq);
    board.generated_at = now;
    board
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
pub async fn run(ingest: Ingest, hub: Arc<Hub>, every: Duration, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut last = tokio::time::Instant::now();
    loop {
        let next_second = Duration::from_nanos(
            1_000_000_000 - u64::from(ingest.clock().now().subsec_nanosecond().unsigned_abs()),
        );
        tokio::select! {
            _ = ingest.changed() => {
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
        step(&ingest, &hub);
        let took = last.elapsed().as_secs_f64();
        ingest
            .metrics()
            .record(|| metrics::histogram!("wallboard_tick_seconds").record(took));
    }
}

/// One tick.
pub fn step(ingest: &Ingest, hub: &Hub) {
    hub.retain_watched(&STANDING);
    let streams = hub.current();
    if streams.is_empty() {
        return;
    }
    let floor = floor_board(ingest);
    for (key, current) in streams {
        let Some(view) = View::from_key(&key) else {
            continue;
        };
        let Ok(mut board) = serde_json::to_value(view.apply(&floor)) else {
            continue;
        };
        // `generated_at` moves every tick: it alone is not a change.
        let generated_at = board["generated_at"].take();
        board["generated_at"] = current.board["generated_at"].clone();
        let diff = merge_diff(&current.board, &board);
        // Steps come at whole seconds; a frame from just after the last one
        // must not push the heartbeat a whole second later.
        if diff.is_none() && current.at.elapsed() < HEARTBEAT - HEARTBEAT / 10 {
            continue;
        }
        let mut patch = diff.unwrap_or_else(|| json!({}));
        patch["generated_at"] = generated_at.clone();
        board["generated_at"] = generated_at;
        let seq = current.seq + 1;
        let message = StreamMessage::Patch { seq, patch };
        let Ok(text) = serde_json::to_string(&message) else {
            continue;
        };
        hub.publish(&key, Frame::new(seq, Some(text.into()), Arc::new(board)));
    }
}
