//! The board kept between steps, and each streamed view's patch built from
//! what changed — never from a diff of two whole boards.
//!
//! A step hands over [`BoardChanges`] (the parts of the board events or
//! the clock touched, read under the core lock in time proportional to
//! them). Here, outside that lock, each changed part is compared with the
//! kept one; a part that differs gives a merge-patch fragment (its own
//! small diff), once. Each view's patch is assembled from the fragments
//! it shows: the floor all of them, the agent view all but agents, a queue
//! view its queues and the agents who serve them (an agent entering the
//! view arrives whole, one leaving it is removed) with its own agent
//! counts. A view's patch is serialized once and its bytes shared by every
//! session (`stream`).
//!
//! Snapshots (a new viewer, a resync, `GET /api/v1/board`) are the kept
//! board cut to the view, serialized at most once per view per step, by
//! the first reader, under this module's read lock — never under the core
//! lock. A snapshot's `seq` is the view's at the step it was cut from, so
//! the patches that follow apply to exactly it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use wallboard_protocol::stream::{merge_diff, without_nulls};
use wallboard_protocol::{AgentBoard, AgentState, Board, ComplaintsBoard};

use crate::kpi::BoardChanges;
use crate::views::View;

/// The board and the views' positions in their streams.
pub struct Boards {
    inner: RwLock<Inner>,
}

struct Inner {
    floor: Board,
    /// The board's own clock at the last step (a whole second), and the
    /// state version it reflects.
    at: Option<Timestamp>,
    core_seq: Option<u64>,
    /// The floor's parts other than queues and agents, as JSON, for diffs.
    top: Value,
    views: HashMap<View, ViewState>,
    /// Each view's board JSON at this step, serialized on first need.
    snapshots: Mutex<HashMap<View, Arc<OnceLock<Utf8Bytes>>>>,
}

/// A streamed view's position.
struct ViewState {
    seq: u64,
    /// When its last frame went out (heartbeats are due a second later).
    at: Instant,
    /// A queue view's own agent counts (the floor's are the floor's).
    agent_states: Option<BTreeMap<AgentState, u64>>,
}

/// One step's output for a view: its next `seq` and the patch.
pub struct ViewPatch {
    pub view: View,
    pub seq: u64,
    pub patch: Value,
}

/// With no change, a view still gets a heartbeat (`generated_at`) this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// The parts of the floor board besides queues, agents and the clock.
#[derive(Serialize)]
struct Top<'a> {
    seq: u64,
    timezone: &'a str,
    totals: &'a BTreeMap<wallboard_protocol::Window, wallboard_protocol::Kpis>,
    complaints: &'a ComplaintsBoard,
    trend: &'a BTreeMap<String, Vec<Option<f64>>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sources: &'a BTreeMap<String, wallboard_protocol::SourceBoard>,
}

impl Top<'_> {
    fn of(board: &Board) -> Top<'_> {
        Top {
            seq: board.seq,
            timezone: &board.timezone,
            totals: &board.totals,
            complaints: &board.complaints,
            trend: &board.trend,
            sources: &board.sources,
        }
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The merge patch from `old` to `new` of one keyed part: whole when it
/// appears, `null` when it goes, its diff otherwise.
fn part_patch<T: Serialize + PartialEq>(old: Option<&T>, new: Option<&T>) -> Option<Value> {
    match (old, new) {
        (None, None) => None,
        (Some(old), Some(new)) if old == new => None,
        (Some(old), Some(new)) => merge_diff(&json(old), &json(new)),
        (None, Some(new)) => Some(without_nulls(json(new))),
        (Some(_), None) => Some(Value::Null),
    }
}

/// An agent whose entry changed this step.
struct AgentChange {
    id: String,
    old: Option<AgentBoard>,
    new: Option<AgentBoard>,
    /// The floor's fragment for it.
    floor: Value,
}

/// What changed this step, as patch fragments.
struct Fragments {
    generated_at: Value,
    top: Option<Map<String, Value>>,
    floor_states: Option<Value>,
    queues: Vec<(String, Value)>,
    agents: Vec<AgentChange>,
}

fn empty_states() -> BTreeMap<AgentState, u64> {
    AgentState::ALL.iter().map(|s| (*s, 0)).collect()
}

impl Default for Boards {
    fn default() -> Boards {
        Boards::new()
    }
}

impl Boards {
    pub fn new() -> Boards {
        let floor = Board {
            generated_at: Timestamp::UNIX_EPOCH,
            seq: 0,
            timezone: String::new(),
            totals: BTreeMap::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            agent_states: empty_states(),
            complaints: ComplaintsBoard::default(),
            trend: BTreeMap::new(),
            sources: BTreeMap::new(),
        };
        Boards {
            inner: RwLock::new(Inner {
                top: json(&Top::of(&floor)),
                floor,
                at: None,
                core_seq: None,
                views: HashMap::new(),
                snapshots: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The step's lock: held from reading the changes to publishing the
    /// frames, so steps apply in order and a snapshot never sees half a step.
    pub fn write(&self) -> StepGuard<'_> {
        StepGuard {
            inner: self.inner.write().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Whether the kept board is behind the state (`core_seq`) or the
    /// board's clock (`at`, a whole second).
    pub fn is_stale(&self, core_seq: u64, at: Timestamp) -> bool {
        let inner = self.read();
        inner.core_seq != Some(core_seq) || inner.at != Some(at)
    }

    /// A view's board as JSON, as of the last step.
    pub fn board_json(&self, view: &View) -> Utf8Bytes {
        self.read().board_json(view)
    }

    /// A view's snapshot message and its `seq`, as of the last step.
    pub fn snapshot(&self, view: &View) -> (u64, Utf8Bytes) {
        let inner = self.read();
        let seq = inner.views.get(view).map_or(0, |v| v.seq);
        let board = inner.board_json(view);
        let message = format!(
            r#"{{"type":"snapshot","seq":{seq},"board":{}}}"#,
            board.as_str()
        );
        (seq, Utf8Bytes::from(message))
    }

    /// Runs `f` on the floor board as of the last step (metrics read it).
    pub fn with_floor<R>(&self, f: impl FnOnce(&Board) -> R) -> R {
        f(&self.read().floor)
    }
}

impl Inner {
    fn board_json(&self, view: &View) -> Utf8Bytes {
        let cell = {
            let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            snapshots.entry(view.clone()).or_default().clone()
        };
        cell.get_or_init(|| {
            let bytes = match view {
                View::Floor => serde_json::to_string(&self.floor),
                _ => serde_json::to_string(&view.apply(&self.floor)),
            };
            Utf8Bytes::from(bytes.unwrap_or_default())
        })
        .clone()
    }
}

/// The write side, for one step.
pub struct StepGuard<'a> {
    inner: RwLockWriteGuard<'a, Inner>,
}

impl StepGuard<'_> {
    /// Applies a step's changes to the kept board and returns, for each
    /// of `views` (the streamed ones), the patch it is due: one with a
    /// change, or a heartbeat a second after its last frame. `now` is the
    /// board's `generated_at`.
    pub fn apply(
        &mut self,
        changes: BoardChanges,
        now: Timestamp,
        views: &[View],
    ) -> Vec<ViewPatch> {
        let inner = &mut *self.inner;
        // Views new since the last step start from the board as it was,
        // which is what their snapshot held.
        let wanted: HashSet<&View> = views.iter().collect();
        inner.views.retain(|v, _| wanted.contains(v));
        for view in views {
            if !inner.views.contains_key(view) {
                let agent_states =
                    matches!(view, View::Queue(_)).then(|| view.apply(&inner.floor).agent_states);
                inner.views.insert(
                    view.clone(),
                    ViewState {
                        seq: 0,
                        at: Instant::now(),
                        agent_states,
                    },
                );
            }
        }
        let fragments = inner.update(changes, now);
        let mut out = Vec::new();
        for (view, state) in inner.views.iter_mut() {
            let patch = fragments.patch_for(view, state);
            if patch.len() == 1 && state.at.elapsed() < HEARTBEAT - HEARTBEAT / 10 {
                continue;
            }
            state.seq += 1;
            state.at = Instant::now();
            out.push(ViewPatch {
                view: view.clone(),
                seq: state.seq,
                patch: Value::Object(patch),
            });
        }
        out
    }
}

impl Inner {
    /// Moves the kept board to the changes, returning what differed.
    fn update(&mut self, changes: BoardChanges, now: Timestamp) -> Fragments {
        *self.snapshots.get_mut().unwrap_or_else(|e| e.into_inner()) = HashMap::new();
        self.at = Some(changes.at);
        self.core_seq = Some(changes.seq);
        let floor = &mut self.floor;
        floor.generated_at = now;
        floor.seq = changes.seq;
        floor.timezone = changes.timezone;
        floor.totals = changes.totals;
        floor.trend = changes.trend;
        floor.complaints = changes.complaints;
        floor.sources = changes.sources;
        let top = json(&Top::of(floor));
        let top_patch = match merge_diff(&self.top, &top) {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        };
        self.top = top;

        let mut queues = Vec::new();
        if changes.all_queues {
            let listed: HashSet<&String> = changes.queues.iter().map(|(id, _)| id).collect();
            floor.queues.retain(|id, _| {
                let keep = listed.contains(id);
                if !keep {
                    queues.push((id.clone(), Value::Null));
                }
                keep
            });
        }
        for (id, new) in changes.queues {
            let old = floor.queues.get(&id);
            if let Some(patch) = part_patch(old, Some(&new)) {
                queues.push((id.clone(), patch));
                floor.queues.insert(id, new);
            }
        }

        let old_states = floor.agent_states.clone();
        let mut agents = Vec::new();
        let mut listed = HashSet::new();
        let mut change = |id: String, new: Option<AgentBoard>, floor: &mut Board| {
            let old = floor.agents.get(&id);
            let Some(patch) = part_patch(old, new.as_ref()) else {
                return;
            };
            let old = match &new {
                Some(board) => floor.agents.insert(id.clone(), board.clone()),
                None => floor.agents.remove(&id),
            };
            if let Some(old) = &old {
                *floor.agent_states.entry(old.state).or_default() -= 1;
            }
            if let Some(new) = &new {
                *floor.agent_states.entry(new.state).or_default() += 1;
            }
            agents.push(AgentChange {
                id,
                old,
                new,
                floor: patch,
            });
        };
        for (id, new) in changes.agents {
            if changes.all_agents {
                listed.insert(id.clone());
            }
            change(id, new, floor);
        }
        if changes.all_agents {
            let gone: Vec<String> = floor
                .agents
                .keys()
                .filter(|id| !listed.contains(*id))
                .cloned()
                .collect();
            for id in gone {
                change(id, None, floor);
            }
        }
        Fragments {
            generated_at: json(&now),
            top: top_patch,
            floor_states: merge_diff(&json(&old_states), &json(&floor.agent_states)),
            queues,
            agents,
        }
    }
}

impl Fragments {
    /// A view's patch (always with `generated_at`; more when it changed).
    fn patch_for(&self, view: &View, state: &mut ViewState) -> Map<String, Value> {
        let mut patch = Map::new();
        if let Some(top) = &self.top {
            patch.extend(top.clone());
        }
        let queues: Map<String, Value> = self
            .queues
            .iter()
            .filter(|(id, _)| view.shows_queue(id))
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        if !queues.is_empty() {
            patch.insert("queues".into(), Value::Object(queues));
        }
        match view {
            View::Floor | View::Agent => {
                if let Some(states) = &self.floor_states {
                    patch.insert("agent_states".into(), states.clone());
                }
            }
            View::Queue(_) => {
                let counts = state.agent_states.get_or_insert_with(empty_states);
                let before = json(counts);
                for change in &self.agents {
                    if let Some(old) = change.old.as_ref().filter(|a| view.shows_agent(a)) {
                        *counts.entry(old.state).or_default() -= 1;
                    }
                    if let Some(new) = change.new.as_ref().filter(|a| view.shows_agent(a)) {
                        *counts.entry(new.state).or_default() += 1;
                    }
                }
                if let Some(states) = merge_diff(&before, &json(counts)) {
                    patch.insert("agent_states".into(), states);
                }
            }
        }
        let agents: Map<String, Value> = match view {
            View::Agent => Map::new(),
            View::Floor => self
                .agents
                .iter()
                .map(|c| (c.id.clone(), c.floor.clone()))
                .collect(),
            View::Queue(_) => self
                .agents
                .iter()
                .filter_map(|c| {
                    let was = c.old.as_ref().is_some_and(|a| view.shows_agent(a));
                    let is = c.new.as_ref().is_some_and(|a| view.shows_agent(a));
                    let patch = match (was, is) {
                        (true, true) => c.floor.clone(),
                        (false, true) => without_nulls(json(&c.new)),
                        (true, false) => Value::Null,
                        (false, false) => return None,
                    };
                    Some((c.id.clone(), patch))
                })
                .collect(),
        };
        if !agents.is_empty() {
            patch.insert("agents".into(), Value::Object(agents));
        }
        patch.insert("generated_at".into(), self.generated_at.clone());
        patch
    }
}
