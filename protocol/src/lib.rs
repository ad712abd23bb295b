//! Wire types shared by the wallboard server and its clients.
//!
//! Three contracts live here, and only here: the events sources send
//! ([`event`]), the board document viewers receive ([`board`]), and the KPI
//! keys and statuses both speak of. No I/O, so it compiles for
//! `wasm32-unknown-unknown` and the frontend uses the very same types.

pub mod board;
pub mod event;

pub use board::{
    AgentBoard, Board, ComplaintsBoard, Direction, Kpi, KpiKey, Kpis, QueueBoard, Status, Window,
};
pub use event::{AgentState, Event, EventKind};
