//! Wire types shared by the wallboard server and its clients.
//!
//! The contracts live here, and only here: the events sources send
//! ([`event`]), the board document viewers receive ([`board`]) with the KPI
//! keys and statuses both speak of, declared once in the KPI registry
//! ([`kpis`]), the views that cut it by audience ([`view`]), and the stream
//! of snapshots and merge patches that keeps a viewer's copy current
//! ([`stream`]). No I/O, so it compiles for
//! `wasm32-unknown-unknown` and the frontend uses the very same types.

pub mod admin;
pub mod board;
pub mod event;
pub mod kpis;
pub mod stream;
pub mod time;
pub mod view;

pub use admin::{AuditEntry, Layout, Message, Severity};
pub use board::{
    AgentBoard, Board, COUNT_KEYS, ClusterBoard, ComplaintsBoard, Forecast, Kpi, KpiValues, Kpis,
    QueueBoard, Slots, SourceBoard, Status, Window,
};
pub use event::{AgentState, Channel, Event, EventKind};
pub use kpis::{
    DEFAULT_WARN_BAND, Direction, KpiKey, KpiSpec, REGISTRY, Scope, ServiceLevelDefinition, Unit,
    VipTarget, held_status, status,
};
pub use stream::{BoardClient, StreamError, StreamMessage};
pub use view::View;
