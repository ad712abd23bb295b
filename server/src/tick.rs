//! The tick: once per `tick` (default 100 ms) compute the floor board once,
//! cut each watched view from it, diff it against the view's last frame,
//! serialize the patch once, and hand the bytes to the stream. Nothing
//! changed → nothing sent, except a heartbeat patch (`generated_at`) once a
//! second so screens can show how fresh they are.
//!
//! Cost per tick does not depend on the number of viewers: one board, one
//! diff and one serialization per view.

use std::sync::Arc;
use std::time::Duration;

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
fn floor_board(ingest: &Ingest) -> Board {
    let core = ingest.lock();
    kpi::board(&core.aggregator, ingest.clock().now(), core.seq)
}

/// Runs the tick until shutdown.
pub async fn run(ingest: Ingest, hub: Arc<Hub>, every: Duration, shutdown: Shutdown) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = interval.tick() => step(&ingest, &hub),
            _ = &mut stop => break,
        }
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
        if diff.is_none() && current.at.elapsed() < HEARTBEAT {
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
