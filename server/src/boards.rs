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
use wallboard_protocol::{
    AgentBoard, AgentState, Board, COUNT_KEYS, ComplaintsBoard, KpiKey, Kpis, QueueBoard,
};

use crate::kpi::BoardChanges;
use wallboard_protocol::View;

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
    /// Each agent entry and queue row as a JSON member (`"id":{…}`),
    /// kept as they change (a queue's on first need: rows change every
    /// second): a snapshot of the floor is their concatenation, not a
    /// serialization of twenty thousand agents.
    agent_texts: BTreeMap<String, String>,
    queue_texts: BTreeMap<String, OnceLock<String>>,
}

/// `"key":value` for a JSON object.
fn member_text<T: Serialize>(key: &str, value: &T) -> String {
    let mut out = Value::from(key).to_string();
    out.push(':');
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()));
    out
}

/// A board's members other than queues and agents, in the board's shape.
#[derive(Serialize)]
struct Head<'a> {
    generated_at: Timestamp,
    agent_states: &'a BTreeMap<AgentState, u64>,
    #[serde(flatten)]
    top: Top<'a>,
}

/// A streamed view's position.
struct ViewState {
    seq: u64,
    /// When its last frame went out (heartbeats are due a second later).
    at: Instant,
    /// A queue view's own agent counts (the floor's are the floor's).
    agent_states: Option<BTreeMap<AgentState, u64>>,
}

/// One step's output for a view: its next `seq` and the patch, as JSON text.
pub struct ViewPatch {
    pub view: View,
    pub seq: u64,
    pub patch: String,
}

/// With no change, a view still gets a heartbeat (`generated_at`) this often.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// The parts of the floor board besides queues, agents and the clock.
#[derive(Serialize)]
struct Top<'a> {
    seq: u64,
    timezone: &'a str,
    totals: &'a BTreeMap<wallboard_protocol::Window, wallboard_protocol::Kpis>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    channels: &'a BTreeMap<
        wallboard_protocol::Channel,
        BTreeMap<wallboard_protocol::Window, wallboard_protocol::Kpis>,
    >,
    complaints: &'a ComplaintsBoard,
    #[serde(skip_serializing_if = "Option::is_none")]
    same_time_yesterday: &'a Option<wallboard_protocol::Kpis>,
    trend: &'a BTreeMap<String, Vec<Option<f64>>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    sources: &'a BTreeMap<String, wallboard_protocol::SourceBoard>,
    warn_band: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: &'a Option<wallboard_protocol::ClusterBoard>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: &'a Vec<wallboard_protocol::Message>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    layouts: &'a BTreeMap<String, wallboard_protocol::Layout>,
}

impl Top<'_> {
    fn of(board: &Board) -> Top<'_> {
        Top {
            seq: board.seq,
            timezone: &board.timezone,
            totals: &board.totals,
            channels: &board.channels,
            complaints: &board.complaints,
            same_time_yesterday: &board.same_time_yesterday,
            trend: &board.trend,
            sources: &board.sources,
            warn_band: board.warn_band,
            cluster: &board.cluster,
            messages: &board.messages,
            layouts: &board.layouts,
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

/// The merge patch between two KPI sets, KPI by KPI and count by count
/// (what `merge_diff` of their JSON gives, without building it): a queue
/// row changes every second (occupancy), so this is the step's hot path.
fn kpis_patch(old: &Kpis, new: &Kpis) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in KpiKey::ALL {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        let value = match (a, b) {
            (Some(a), Some(b)) => {
                let mut p = Map::new();
                changed(&mut p, "value", &a.value, &b.value);
                changed(&mut p, "target", &a.target, &b.target);
                changed(&mut p, "status", &a.status, &b.status);
                changed(&mut p, "definition", &a.definition, &b.definition);
                Value::Object(p)
            }
            (None, Some(b)) => without_nulls(json(b)),
            _ => Value::Null,
        };
        patch.insert(key.as_str().into(), value);
    }
    for ((key, a), b) in COUNT_KEYS.iter().zip(old.counts()).zip(new.counts()) {
        changed(&mut patch, key, &a, &b);
    }
    patch
}

/// Sets `key` to `new` in a patch when it differs from `old`.
fn changed<T: Serialize + PartialEq>(patch: &mut Map<String, Value>, key: &str, old: &T, new: &T) {
    if old != new {
        patch.insert(key.into(), json(new));
    }
}

/// The merge patch between two rows of the same queue.
fn queue_patch(old: &QueueBoard, new: &QueueBoard) -> Option<Value> {
    if old == new {
        return None;
    }
    let mut patch = Map::new();
    changed(&mut patch, "name", &old.name, &new.name);
    if let Some(names) = merge_diff(&json(&old.names), &json(&new.names)) {
        patch.insert("names".into(), names);
    }
    changed(&mut patch, "vip", &old.vip, &new.vip);
    changed(&mut patch, "position", &old.position, &new.position);
    changed(&mut patch, "waiting", &old.waiting, &new.waiting);
    changed(
        &mut patch,
        "longest_wait_since",
        &old.longest_wait_since,
        &new.longest_wait_since,
    );
    let pending = |q: &QueueBoard| (q.callbacks_pending > 0).then_some(q.callbacks_pending);
    changed(
        &mut patch,
        "callbacks_pending",
        &pending(old),
        &pending(new),
    );
    if let Some(forecast) = part_patch(old.forecast.as_ref(), new.forecast.as_ref()) {
        patch.insert("forecast".into(), forecast);
    }
    if let Some(channels) = merge_diff(&json(&old.channels), &json(&new.channels)) {
        patch.insert("channels".into(), channels);
    }
    let mut windows = Map::new();
    for (window, kpis) in &new.windows {
        match old.windows.get(window) {
            Some(before) if before == kpis => {}
            Some(before) => {
                windows.insert(
                    window.as_str().into(),
                    Value::Object(kpis_patch(before, kpis)),
                );
            }
            None => {
                windows.insert(window.as_str().into(), without_nulls(json(kpis)));
            }
        }
    }
    for window in old.windows.keys().filter(|w| !new.windows.contains_key(w)) {
        windows.insert(window.as_str().into(), Value::Null);
    }
    if !windows.is_empty() {
        patch.insert("windows".into(), Value::Object(windows));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// The merge patch between two agent counts.
fn states_patch(old: &BTreeMap<AgentState, u64>, new: &BTreeMap<AgentState, u64>) -> Option<Value> {
    let mut patch = Map::new();
    for (state, n) in new {
        if old.get(state) != Some(n) {
            patch.insert(state.as_str().into(), json(n));
        }
    }
    for state in old.keys().filter(|s| !new.contains_key(s)) {
        patch.insert(state.as_str().into(), Value::Null);
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// An agent whose entry changed this step.
struct AgentChange {
    id: String,
    old: Option<AgentBoard>,
    new: Option<AgentBoard>,
    /// The floor's fragment for it, as JSON text.
    floor: String,
}

/// What changed this step, as patch fragments serialized once each (JSON
/// text): a view's patch is the concatenation of those it shows.
struct Fragments {
    generated_at: String,
    /// `"key":value` members of the floor's top level.
    top: Vec<(String, String)>,
    floor_states: Option<String>,
    queues: Vec<(String, String)>,
    agents: Vec<AgentChange>,
    /// Where each queue's fragment is, and which agent changes concern a
    /// queue (before or after): a queue view looks up its few queues
    /// instead of filtering every fragment.
    queue_at: HashMap<String, usize>,
    agents_of_queue: HashMap<String, Vec<usize>>,
}

/// The queues an agent entry belongs to in queue views.
fn agent_queues(agent: &AgentBoard) -> impl Iterator<Item = &String> {
    agent.queues.iter().chain(agent.queue.as_ref())
}

fn text(value: &Value) -> String {
    value.to_string()
}

/// A JSON object written member by member.
struct ObjectText {
    out: String,
    members: usize,
}

impl ObjectText {
    fn new() -> ObjectText {
        ObjectText {
            out: String::from("{"),
            members: 0,
        }
    }

    fn next(&mut self) {
        if self.members > 0 {
            self.out.push(',');
        }
        self.members += 1;
    }

    fn member(&mut self, key: &str, value: &str) {
        self.next();
        self.out.push_str(&Value::from(key).to_string());
        self.out.push(':');
        self.out.push_str(value);
    }

    /// A member kept as text already (`"key":value`, [`member_text`]).
    fn kept_member(&mut self, member: &str) {
        self.next();
        self.out.push_str(member);
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
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
            channels: BTreeMap::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            agent_states: empty_states(),
            complaints: ComplaintsBoard::default(),
            same_time_yesterday: None,
            trend: BTreeMap::new(),
            sources: BTreeMap::new(),
            warn_band: wallboard_protocol::DEFAULT_WARN_BAND,
            cluster: None,
            messages: Vec::new(),
            layouts: BTreeMap::new(),
        };
        Boards {
            inner: RwLock::new(Inner {
                top: json(&Top::of(&floor)),
                floor,
                at: None,
                core_seq: None,
                views: HashMap::new(),
                snapshots: Mutex::new(HashMap::new()),
                queue_texts: BTreeMap::new(),
                agent_texts: BTreeMap::new(),
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
        self.read().is_stale(core_seq, at)
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
}

impl Inner {
    fn is_stale(&self, core_seq: u64, at: Timestamp) -> bool {
        self.core_seq != Some(core_seq) || self.at != Some(at)
    }

    fn board_json(&self, view: &View) -> Utf8Bytes {
        let cell = {
            let mut snapshots = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            snapshots.entry(view.clone()).or_default().clone()
        };
        cell.get_or_init(|| Utf8Bytes::from(self.cut_json(view)))
            .clone()
    }

    /// The view's board as JSON, from the kept texts of its rows.
    fn cut_json(&self, view: &View) -> String {
        let floor = &self.floor;
        let agents: Vec<(&String, &String)> = match view {
            View::Floor => self.agent_texts.iter().collect(),
            View::Agent => Vec::new(),
            View::Queue(_) => floor
                .agents
                .iter()
                .filter(|(_, a)| view.shows_agent(a))
                .filter_map(|(id, _)| self.agent_texts.get_key_value(id))
                .collect(),
        };
        let agent_states = match view {
            View::Queue(_) => {
                let mut counts = empty_states();
                for (id, _) in &agents {
                    if let Some(a) = floor.agents.get(*id) {
                        *counts.entry(a.state).or_default() += 1;
                    }
                }
                counts
            }
            _ => floor.agent_states.clone(),
        };
        let head = Head {
            generated_at: floor.generated_at,
            agent_states: &agent_states,
            top: Top::of(floor),
        };
        let mut queues = ObjectText::new();
        for (id, row) in floor.queues.iter().filter(|(id, _)| view.shows_queue(id)) {
            if let Some(text) = self.queue_texts.get(id) {
                queues.kept_member(text.get_or_init(|| member_text(id, row)));
            }
        }
        let mut members = ObjectText::new();
        for (_, text) in agents {
            members.kept_member(text);
        }
        let mut out = serde_json::to_string(&head).unwrap_or_else(|_| "{}".into());
        out.pop();
        out.push_str(",\"queues\":");
        out.push_str(&queues.finish());
        out.push_str(",\"agents\":");
        out.push_str(&members.finish());
        out.push('}');
        out
    }
}

/// The write side, for one step.
pub struct StepGuard<'a> {
    inner: RwLockWriteGuard<'a, Inner>,
}

impl StepGuard<'_> {
    /// Whether the board is behind the state or the clock ([`Boards::is_stale`]).
    pub fn is_stale(&self, core_seq: u64, at: Timestamp) -> bool {
        self.inner.is_stale(core_seq, at)
    }

    /// The floor board as of the last step (metrics read it).
    pub fn floor(&self) -> &Board {
        &self.inner.floor
    }

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
            let (patch, changed) = fragments.patch_for(view, state);
            if !changed && state.at.elapsed() < HEARTBEAT - HEARTBEAT / 10 {
                continue;
            }
            state.seq += 1;
            state.at = Instant::now();
            out.push(ViewPatch {
                view: view.clone(),
                seq: state.seq,
                patch,
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
        floor.channels = changes.channels;
        floor.trend = changes.trend;
        floor.complaints = changes.complaints;
        floor.same_time_yesterday = changes.same_time_yesterday;
        floor.sources = changes.sources;
        floor.warn_band = changes.warn_band;
        floor.cluster = changes.cluster;
        floor.messages = changes.messages;
        floor.layouts = changes.layouts;
        let top = json(&Top::of(floor));
        let top_patch: Vec<(String, String)> = match merge_diff(&self.top, &top) {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            _ => Vec::new(),
        };
        self.top = top;

        let mut queues = Vec::new();
        if changes.all_queues {
            let listed: HashSet<&String> = changes.queues.iter().map(|(id, _)| id).collect();
            let texts = &mut self.queue_texts;
            floor.queues.retain(|id, _| {
                let keep = listed.contains(id);
                if !keep {
                    texts.remove(id);
                }
                if !keep {
                    queues.push((id.clone(), "null".to_string()));
                }
                keep
            });
        }
        for (id, new) in changes.queues {
            let patch = match floor.queues.get(&id) {
                Some(old) => queue_patch(old, &new),
                None => Some(without_nulls(json(&new))),
            };
            if let Some(patch) = patch {
                queues.push((id.clone(), text(&patch)));
                self.queue_texts.insert(id.clone(), OnceLock::new());
                floor.queues.insert(id, new);
            }
        }

        let old_states = floor.agent_states.clone();
        let mut agents = Vec::new();
        let mut listed = HashSet::new();
        let texts = &mut self.agent_texts;
        let mut change = |id: String, new: Option<AgentBoard>, floor: &mut Board| {
            let old = floor.agents.get(&id);
            let Some(patch) = part_patch(old, new.as_ref()) else {
                return;
            };
            let old = match &new {
                Some(board) => {
                    texts.insert(id.clone(), member_text(&id, board));
                    floor.agents.insert(id.clone(), board.clone())
                }
                None => {
                    texts.remove(&id);
                    floor.agents.remove(&id)
                }
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
                floor: text(&patch),
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
        let queue_at = queues
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        let mut agents_of_queue: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, change) in agents.iter().enumerate() {
            for q in change.old.iter().chain(&change.new).flat_map(agent_queues) {
                let list = agents_of_queue.entry(q.clone()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        Fragments {
            queue_at,
            agents_of_queue,
            generated_at: text(&json(&now)),
            top: top_patch,
            floor_states: states_patch(&old_states, &floor.agent_states).map(|p| text(&p)),
            queues,
            agents,
        }
    }
}

impl Fragments {
    /// A view's patch, and whether it holds more than `generated_at`.
    fn patch_for(&self, view: &View, state: &mut ViewState) -> (String, bool) {
        let mut patch = ObjectText::new();
        for (key, value) in &self.top {
            patch.member(key, value);
        }
        let mut queues = ObjectText::new();
        match view {
            View::Queue(list) => {
                for i in list.iter().filter_map(|q| self.queue_at.get(q)) {
                    let (id, value) = &self.queues[*i];
                    queues.member(id, value);
                }
            }
            View::Floor | View::Agent => {
                for (id, value) in &self.queues {
                    queues.member(id, value);
                }
            }
        }
        // The agent changes a queue view may show, in order.
        let concerned: Vec<&AgentChange> = match view {
            View::Queue(list) => {
                let mut at: Vec<usize> = list
                    .iter()
                    .filter_map(|q| self.agents_of_queue.get(q))
                    .flatten()
                    .copied()
                    .collect();
                at.sort_unstable();
                at.dedup();
                at.into_iter().map(|i| &self.agents[i]).collect()
            }
            View::Floor | View::Agent => Vec::new(),
        };
        if queues.members > 0 {
            patch.member("queues", &queues.finish());
        }
        match view {
            View::Floor | View::Agent => {
                if let Some(states) = &self.floor_states {
                    patch.member("agent_states", states);
                }
            }
            View::Queue(_) => {
                let counts = state.agent_states.get_or_insert_with(empty_states);
                let before = counts.clone();
                for change in &concerned {
                    if let Some(old) = change.old.as_ref().filter(|a| view.shows_agent(a)) {
                        *counts.entry(old.state).or_default() -= 1;
                    }
                    if let Some(new) = change.new.as_ref().filter(|a| view.shows_agent(a)) {
                        *counts.entry(new.state).or_default() += 1;
                    }
                }
                if let Some(states) = states_patch(&before, counts) {
                    patch.member("agent_states", &text(&states));
                }
            }
        }
        let mut agents = ObjectText::new();
        match view {
            View::Agent => {}
            View::Floor => {
                for c in &self.agents {
                    agents.member(&c.id, &c.floor);
                }
            }
            View::Queue(_) => {
                for c in &concerned {
                    let was = c.old.as_ref().is_some_and(|a| view.shows_agent(a));
                    let is = c.new.as_ref().is_some_and(|a| view.shows_agent(a));
                    match (was, is) {
                        (true, true) => agents.member(&c.id, &c.floor),
                        (false, true) => agents.member(&c.id, &text(&without_nulls(json(&c.new)))),
                        (true, false) => agents.member(&c.id, "null"),
                        (false, false) => {}
                    }
                }
            }
        }
        if agents.members > 0 {
            patch.member("agents", &agents.finish());
        }
        let changed = patch.members > 0;
        patch.member("generated_at", &self.generated_at);
        (patch.finish(), changed)
    }
}
