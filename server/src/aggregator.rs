//! The in-memory aggregate: what is going on now (agents, contacts in
//! flight, waiting lines, open complaints) and the counts behind every KPI,
//! kept per local day and per minute, per queue and in total.
//!
//! Invariants:
//! - Every outcome is counted in the bucket that holds its own event time
//!   (`ts`), never the time it reached us, so late and out-of-order events
//!   land where they belong and replays give the same numbers.
//! - [`Aggregator::apply`] checks an event against the state before it
//!   changes anything: a rejected event leaves no trace.
//! - Agent states change only on `agent_state` events.
//!
//! `apply` dispatches each event kind to its family's handler, one file
//! each — `agents.rs` (agent states, time booked, handle times),
//! `contacts.rs` (arrive, offer, answer, abandon, end), `feedback.rs`
//! (surveys, complaints) — with no catch-all arm: a new kind does not
//! compile until it is handled. `live.rs` keeps the aggregates a step
//! reads (running sums, running-time and due indexes).
//!
//! The aggregator is a plain struct with no locks and no clock: the caller
//! passes `now` and serialises access (see `ingest`), which keeps it
//! deterministic and unit-testable. KPI formulas are not here: `kpi` turns
//! these counts into the board.

mod admin;
mod agents;
mod contacts;
mod feedback;
mod live;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use wallboard_protocol::{AgentState, Channel, Event, EventKind};

use crate::config::Config;
use crate::sharded::ShardedMap;
pub use admin::AdminState;
use agents::AgentChange;
pub use live::{DueIndex, ROLLING, Rolling, SinceIndex};

const MINUTE_MS: i64 = 60_000;
/// Minute buckets older than this (in minutes before now) are dropped: the
/// longest rolling window is 60 minutes.
const MINUTES_KEPT: i64 = 61;
/// Finished contacts are remembered this long so that late surveys and
/// dispositions still find their queue.
const FINISHED_CONTACT_RETENTION: SignedDuration = SignedDuration::from_hours(26);

/// Counts for one scope (a queue, or all) over one bucket (a day or a minute).
/// Durations are in milliseconds. Checkpointed: a counter added later reads
/// as 0 from older checkpoints (`serde(default)` here and on every
/// checkpointed struct below; see `an_older_checkpoint_without_newer_fields_is_read`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub arrived: u64,
    pub blocked: u64,
    pub offered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub wait_ms: i64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub handled: u64,
    pub handle_ms: i64,
    pub surveys: u64,
    pub survey_points: f64,
    pub dispositions: u64,
    pub resolved: u64,
    pub complaints_opened: u64,
    pub complaints_on_time: u64,
    pub complaints_overdue: u64,
    pub available_ms: i64,
    pub on_contact_ms: i64,
    pub wrap_up_ms: i64,
    /// Abandons (not short) within the queue's service-level threshold.
    pub abandoned_in_sl: u64,
    /// Callback requests, and those made within the threshold.
    pub callbacks: u64,
    pub callbacks_in_sl: u64,
    /// Pending callbacks answered straight (not queued again).
    pub callbacks_answered: u64,
    /// Slot time of agents with a `capacity`: staffed (slots × time in a
    /// working state) and in use (a contact holding a slot, from its answer
    /// to the end of its handle time). A channel's occupancy is their ratio.
    #[serde(skip_serializing_if = "is_zero")]
    pub slots_staffed_ms: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub slots_busy_ms: i64,
}

fn is_zero(ms: &i64) -> bool {
    *ms == 0
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.arrived += o.arrived;
        self.blocked += o.blocked;
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_in_sl += o.answered_in_sl;
        self.wait_ms = self.wait_ms.saturating_add(o.wait_ms);
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.handled += o.handled;
        self.handle_ms = self.handle_ms.saturating_add(o.handle_ms);
        self.surveys += o.surveys;
        self.survey_points += o.survey_points;
        self.dispositions += o.dispositions;
        self.resolved += o.resolved;
        self.complaints_opened += o.complaints_opened;
        self.complaints_on_time += o.complaints_on_time;
        self.complaints_overdue += o.complaints_overdue;
        self.available_ms = self.available_ms.saturating_add(o.available_ms);
        self.on_contact_ms = self.on_contact_ms.saturating_add(o.on_contact_ms);
        self.wrap_up_ms = self.wrap_up_ms.saturating_add(o.wrap_up_ms);
        self.abandoned_in_sl += o.abandoned_in_sl;
        self.callbacks += o.callbacks;
        self.callbacks_in_sl += o.callbacks_in_sl;
        self.callbacks_answered += o.callbacks_answered;
        self.slots_staffed_ms = self.slots_staffed_ms.saturating_add(o.slots_staffed_ms);
        self.slots_busy_ms = self.slots_busy_ms.saturating_add(o.slots_busy_ms);
    }

    /// Takes `o` away again (a minute leaving a rolling window). Survey
    /// points are fractional: readers sum them afresh ([`Buckets::rolling_sum`]).
    pub fn sub(&mut self, o: &Counters) {
        self.arrived -= o.arrived;
        self.blocked -= o.blocked;
        self.offered -= o.offered;
        self.answered -= o.answered;
        self.answered_in_sl -= o.answered_in_sl;
        self.wait_ms -= o.wait_ms;
        self.abandoned -= o.abandoned;
        self.short_abandoned -= o.short_abandoned;
        self.handled -= o.handled;
        self.handle_ms -= o.handle_ms;
        self.surveys -= o.surveys;
        self.survey_points -= o.survey_points;
        self.dispositions -= o.dispositions;
        self.resolved -= o.resolved;
        self.complaints_opened -= o.complaints_opened;
        self.complaints_on_time -= o.complaints_on_time;
        self.complaints_overdue -= o.complaints_overdue;
        self.available_ms -= o.available_ms;
        self.on_contact_ms -= o.on_contact_ms;
        self.wrap_up_ms -= o.wrap_up_ms;
        self.abandoned_in_sl -= o.abandoned_in_sl;
        self.callbacks -= o.callbacks;
        self.callbacks_in_sl -= o.callbacks_in_sl;
        self.callbacks_answered -= o.callbacks_answered;
        self.slots_staffed_ms -= o.slots_staffed_ms;
        self.slots_busy_ms -= o.slots_busy_ms;
    }

    /// Adds `ms` of agent time in `state` (only the states occupancy uses).
    pub fn add_agent_time(&mut self, state: AgentState, ms: i64) {
        match state {
            AgentState::Available => self.available_ms = self.available_ms.saturating_add(ms),
            AgentState::OnContact => self.on_contact_ms = self.on_contact_ms.saturating_add(ms),
            AgentState::WrapUp => self.wrap_up_ms = self.wrap_up_ms.saturating_add(ms),
            AgentState::Aux | AgentState::Offline => {}
        }
    }
}

/// Per-day and per-minute counters of one scope.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Buckets {
    pub days: BTreeMap<Date, Counters>,
    /// Keyed by Unix minute (`ts` in ms ÷ 60 000, rounded down).
    pub minutes: BTreeMap<i64, Counters>,
    /// Everything since this process started counting (never pruned, never
    /// reset at midnight): the Prometheus counters.
    pub lifetime: Counters,
    /// Today and yesterday by interval of the local day, keyed by the
    /// interval's first Unix minute: 15-minute intervals for a queue, single
    /// minutes for the totals (their "same time yesterday" is to the minute).
    /// The interval report sums them.
    pub intervals: BTreeMap<i64, Counters>,
    /// The contact counts of the channels besides voice (days, minutes,
    /// lifetime, rolling sums; no agent time, complaints or intervals), for
    /// those seen; voice is the scope's counts less theirs.
    pub channels: BTreeMap<Channel, Buckets>,
    /// The rolling windows as running sums (rebuilt, not checkpointed).
    #[serde(skip)]
    pub rolling: Rolling,
    /// Working agents' `since` per working state ([`WORKING`] order).
    #[serde(skip)]
    pub running: [SinceIndex; 3],
    /// Open complaints' due times.
    #[serde(skip)]
    pub dues: DueIndex,
    /// Slots of working agents with a capacity (each slot's `since`), and
    /// contacts holding a slot (their answer): the slot time still running.
    /// A scope's hold every channel's; a channel's, its own.
    #[serde(skip)]
    pub slots_staffed: SinceIndex,
    #[serde(skip)]
    pub slots_busy: SinceIndex,
}

/// The agent states whose time counts toward occupancy, in the order of
/// [`Buckets::running`].
pub const WORKING: [AgentState; 3] = [
    AgentState::Available,
    AgentState::OnContact,
    AgentState::WrapUp,
];

fn working_slot(state: AgentState) -> Option<usize> {
    WORKING.iter().position(|s| *s == state)
}

impl Buckets {
    /// The counters of rolling window of `len` minutes ending in `now`'s
    /// minute (events stamped slightly in the future are included).
    pub fn rolling(&self, now: Timestamp, len: i64) -> Counters {
        self.span(minute_of(now) - len + 1, i64::MAX)
    }
}

impl Buckets {
    /// The kept intervals starting in minutes `from..to`, summed.
    pub fn intervals_sum(&self, from: i64, to: i64) -> Counters {
        let mut sum = Counters::default();
        for (_, c) in self.intervals.range(from..to) {
            sum.add(c);
        }
        sum
    }

    /// Drops the minute buckets before `oldest` (the channels' too).
    fn remove_minutes_before(&mut self, oldest: i64) {
        while let Some(entry) = self.minutes.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            entry.remove();
        }
        for sub in self.channels.values_mut() {
            sub.remove_minutes_before(oldest);
        }
    }

    /// Keeps the days from `first` on (the channels' too).
    fn retain_days_from(&mut self, first: Date) {
        self.days.retain(|day, _| *day >= first);
        for sub in self.channels.values_mut() {
            sub.retain_days_from(first);
        }
    }

    /// The counters of the minutes `from..to` (Unix minutes).
    pub fn span(&self, from: i64, to: i64) -> Counters {
        let mut sum = Counters::default();
        for (_, c) in self.minutes.range(from..to) {
            sum.add(c);
        }
        sum
    }
}

/// The length of a queue's kept intervals, in minutes (the report's
/// 15- and 30-minute rows are sums of them).
pub const QUEUE_INTERVAL_MINUTES: i64 = 15;

/// The first minute of the `len`-minute interval of the local day (which
/// starts at Unix minute `day_start`) that holds `minute`.
pub fn interval_of(day_start: i64, minute: i64, len: i64) -> i64 {
    day_start + (minute - day_start).div_euclid(len) * len
}

/// The buckets of `channel` in the scope `b`, made when first used; none
/// for voice (the scope's counts less the other channels').
fn channel_buckets(
    b: &mut Buckets,
    channel: Option<Channel>,
    read_at: Option<Timestamp>,
) -> Option<&mut Buckets> {
    let ch = channel.filter(|c| *c != Channel::Voice)?;
    let cut = b.slots_staffed.cut();
    Some(b.channels.entry(ch).or_insert_with(|| {
        // Its running sums start at the last read's window, as a new
        // queue's do; its slot indexes at the scope's cut.
        let mut sub = Buckets::default();
        if let Some(at) = read_at {
            sub.advance(minute_of(at));
        }
        sub.cut_slots(cut, false);
        sub
    }))
}

pub fn minute_of(ts: Timestamp) -> i64 {
    ts.as_millisecond().div_euclid(MINUTE_MS)
}

/// Milliseconds from `a` to `b`, never negative (clock skew between
/// sources must not produce negative waits).
pub fn ms_between(a: Timestamp, b: Timestamp) -> i64 {
    (b.as_millisecond() - a.as_millisecond()).max(0)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct QueueState {
    pub id: String,
    /// Marked VIP by a `vip: true` offer (the config can override).
    #[serde(default)]
    pub seen_vip: bool,
    #[serde(default)]
    pub buckets: Buckets,
    /// Contacts waiting now, oldest first.
    #[serde(default)]
    pub waiting: BTreeSet<(Timestamp, String)>,
    /// Callbacks asked for and not yet made, by when they were asked.
    #[serde(default)]
    pub callbacks: BTreeSet<(Timestamp, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Agent {
    #[serde(default)]
    pub name: Option<String>,
    pub state: AgentState,
    #[serde(default)]
    pub reason: Option<String>,
    pub since: Timestamp,
    #[serde(default)]
    pub queues: Vec<usize>,
    /// Slots per channel (`agent_state.capacity`, sticky; none at 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<Channel, u32>,
    /// Per channel, how many of the agent's contacts hold a slot now.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub in_use: BTreeMap<Channel, u32>,
    /// The contact being handled (from `contact_answered` to `contact_ended`).
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub contact_queue: Option<usize>,
    /// Contacts whose handle time has not ended yet (several, when one
    /// contact's events arrive after the next one's).
    #[serde(default)]
    handles: Vec<PendingHandle>,
    /// The one pending handle of checkpoints written before `handles`.
    #[serde(default, rename = "handle", skip_serializing)]
    legacy_handle: Option<PendingHandle>,
    /// Whether any `agent_state` has been seen (an agent first named by a
    /// `contact_answered` is a placeholder until then).
    #[serde(default = "known_by_default")]
    known: bool,
    /// Recent state changes, oldest first: lets handle time be decided the
    /// same way whether the agent's or the contact's events arrive first.
    #[serde(default)]
    history: VecDeque<(Timestamp, AgentState)>,
}

/// An agent in a checkpoint that does not say was seen in an
/// `agent_state` (it was checkpointed, so it was known).
fn known_by_default() -> bool {
    true
}

impl Agent {
    /// The contacts of the agent's that ended with their handle time still
    /// open and hold a slot: (queue, channel, answered).
    pub fn slots_held_after_end(
        &self,
    ) -> impl Iterator<Item = (Option<usize>, Channel, Timestamp)> {
        self.handles
            .iter()
            .filter(|h| h.slots > 0)
            .map(|h| (h.queue, h.channel, h.answered))
    }

    /// An agent first named at `ts`, before any state of theirs is known.
    fn new(ts: Timestamp) -> Agent {
        Agent {
            name: None,
            state: AgentState::Offline,
            reason: None,
            since: ts,
            queues: Vec::new(),
            capacity: BTreeMap::new(),
            in_use: BTreeMap::new(),
            contact: None,
            contact_queue: None,
            handles: Vec::new(),
            legacy_handle: None,
            known: false,
            history: VecDeque::new(),
        }
    }
}

/// Handle time runs from the answer until the agent leaves the `wrap_up`
/// that follows `contact_ended` (or until `contact_ended` when the agent's
/// next state is not `wrap_up`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingHandle {
    queue: Option<usize>,
    #[serde(default)]
    channel: Channel,
    answered: Timestamp,
    ended: Timestamp,
    /// The agent is in the wrap-up of this contact; it ends when they leave.
    in_wrap: bool,
    /// The agent's slots on its channel when it was answered (0: it holds none).
    #[serde(default)]
    slots: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Arrived,
    Blocked,
    Waiting,
    Answered,
    Abandoned,
    /// Left the queue asking to be called back; the callback is pending.
    CallbackPending,
    Ended,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Contact {
    pub phase: Phase,
    /// Whether a `contact_arrived` was seen (it is optional).
    #[serde(default)]
    arrived: bool,
    #[serde(default)]
    pub queue: Option<usize>,
    #[serde(default)]
    pub waiting_since: Option<Timestamp>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub answered_at: Option<Timestamp>,
    /// A pending callback: when it was asked for.
    #[serde(default)]
    pub callback: Option<Timestamp>,
    /// The channel of its latest offer.
    #[serde(default)]
    pub channel: Channel,
    /// Answered by an agent with this many slots on its channel: it holds
    /// one of them until its handle time ends (0: none). Above 1, its
    /// handle time ends with it, whatever the agent's state.
    #[serde(default)]
    pub slots: u32,
    /// The latest event time seen for it; finished contacts are forgotten
    /// some time after.
    last: Timestamp,
}

impl Contact {
    fn new(phase: Phase, arrived: bool, ts: Timestamp) -> Contact {
        Contact {
            phase,
            arrived,
            queue: None,
            waiting_since: None,
            agent: None,
            answered_at: None,
            callback: None,
            channel: Channel::Voice,
            slots: 0,
            last: ts,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Complaint {
    #[serde(default)]
    pub queue: Option<usize>,
    pub due: Timestamp,
    #[serde(default)]
    pub answered: Option<Timestamp>,
}

pub struct Aggregator {
    /// The config it runs with: the file's (`base`) with the live
    /// settings over it.
    config: Arc<Config>,
    base: Arc<Config>,
    /// Live settings, messages, layouts (`admin.rs`).
    admin: AdminState,
    tz: TimeZone,
    pub queues: Vec<QueueState>,
    queue_index: HashMap<String, usize>,
    pub agents: HashMap<String, Agent>,
    /// In flight and finished for a day: millions at a big center, so
    /// sharded (growing never rehashes them all under the core lock).
    pub contacts: ShardedMap<String, Contact>,
    pub complaints: HashMap<String, Complaint>,
    pub totals: Buckets,
    /// The newest `ts` applied (for the event-lag metric).
    pub latest_ts: Option<Timestamp>,
    /// Health of the configured telephony connections (not from events,
    /// not in checkpoints: each connection reports anew).
    pub sources: BTreeMap<String, wallboard_protocol::SourceBoard>,
    /// On a node of a cluster: its position in the log (not in
    /// checkpoints: each node sets its own).
    pub log: Option<wallboard_protocol::ClusterBoard>,
    /// The local day of the last event, with its bounds: most events fall
    /// on the same day, so the zone lookup is done once per day, not per event.
    day_cache: Option<(Date, Timestamp, Timestamp)>,
    /// What changed since the last [`Aggregator::take_changes`].
    dirty: Dirty,
    /// The moment of the last [`Aggregator::take_changes`].
    read_at: Option<Timestamp>,
    /// The totals' counts over a span of minutes (yesterday to this time of
    /// day), kept until the span moves or a count lands in it: a step reads
    /// it without summing a day of minutes.
    span_cache: Option<((i64, i64), Counters)>,
    /// The oldest minute kept at the last drop, and whether a late event
    /// counted into an older one since: most events need no drop, which
    /// walks every scope.
    minutes_from: i64,
    minutes_below: bool,
}

/// What events changed since the board was last read: the parts of the
/// board a step recomputes.
#[derive(Debug, Default)]
struct Dirty {
    agents: HashSet<String>,
    queues: HashSet<usize>,
    /// Every queue (the clock crossed a minute; a checkpoint was restored).
    all_queues: bool,
    /// Every agent (a checkpoint was restored).
    all_agents: bool,
}

impl Dirty {
    /// Marks an agent (no allocation when it is marked already: most
    /// steps see the same few agents many times).
    fn agent(&mut self, id: &str) {
        if !self.agents.contains(id) {
            self.agents.insert(id.to_string());
        }
    }
}

/// The parts of the board to recompute, from [`Aggregator::take_changes`].
#[derive(Debug, Default)]
pub struct Changed {
    /// Queue indexes, ascending.
    pub queues: Vec<usize>,
    /// Agent ids whose board entry may have changed (or gone).
    pub agents: Vec<String>,
    /// Every agent must be compared: agents not in the aggregator are gone.
    pub all_agents: bool,
    /// `queues` lists every queue: others are gone.
    pub all_queues: bool,
}

impl Aggregator {
    pub fn new(config: Arc<Config>) -> Aggregator {
        Aggregator {
            tz: config.timezone.clone(),
            base: config.clone(),
            config,
            admin: AdminState {
                overrides: serde_json::Value::Object(Default::default()),
                ..AdminState::default()
            },
            queues: Vec::new(),
            queue_index: HashMap::new(),
            agents: HashMap::new(),
            contacts: ShardedMap::new(),
            complaints: HashMap::new(),
            totals: Buckets::default(),
            latest_ts: None,
            sources: BTreeMap::new(),
            log: None,
            day_cache: None,
            dirty: Dirty {
                all_queues: true,
                all_agents: true,
                ..Dirty::default()
            },
            read_at: None,
            span_cache: None,
            minutes_from: i64::MIN,
            minutes_below: false,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn shared_config(&self) -> Arc<Config> {
        self.config.clone()
    }

    /// Whether queue `q` is VIP: the config decides, else a `vip: true` offer.
    pub fn queue_is_vip(&self, q: &QueueState) -> bool {
        self.config
            .queues
            .get(&q.id)
            .and_then(|c| c.vip)
            .unwrap_or(q.seen_vip)
    }

    /// Applies one event. On `Err` (a reason fit for the sender) nothing
    /// changed. `now` is the server's clock, used to keep only the minute
    /// buckets the rolling windows can still use.
    pub fn apply(&mut self, event: &Event, now: Timestamp) -> Result<(), String> {
        self.check_capacity(event)?;
        let ts = event.ts;
        match &event.kind {
            EventKind::AgentState {
                agent,
                state,
                reason,
                name,
                queues,
                capacity,
            } => self.on_agent_state(
                agent,
                *state,
                AgentChange {
                    reason,
                    name,
                    queues: queues.as_deref(),
                    capacity: capacity.as_ref(),
                },
                ts,
                now,
            ),
            EventKind::ContactArrived { contact, blocked } => {
                self.contact_arrived(contact, *blocked, ts)?
            }
            EventKind::ContactOffered {
                contact,
                queue,
                vip,
                channel,
            } => {
                self.contact_offered(contact, queue, *vip, channel.unwrap_or_default(), ts, now)?
            }
            EventKind::ContactAnswered { contact, agent } => {
                self.contact_answered(contact, agent, ts, now)?
            }
            EventKind::ContactAbandoned { contact } => self.contact_abandoned(contact, ts)?,
            EventKind::ContactCallbackRequested { contact } => {
                self.contact_callback_requested(contact, ts)?
            }
            EventKind::ContactEnded { contact, resolved } => {
                self.contact_ended(contact, *resolved, ts, now)?
            }
            EventKind::SurveySubmitted {
                contact,
                queue,
                score,
                max,
            } => self.survey_submitted(contact.as_deref(), queue.as_deref(), *score, *max, ts)?,
            EventKind::ComplaintOpened {
                complaint,
                queue,
                grade,
                due,
            } => self.complaint_opened(complaint, queue.as_deref(), grade.as_deref(), *due, ts)?,
            EventKind::ComplaintAnswered { complaint } => self.complaint_answered(complaint, ts)?,
            EventKind::SettingsChanged { by, patch } => self.settings_changed(by, patch, ts)?,
            EventKind::MessagePosted { message } => self.message_posted(message, ts)?,
            EventKind::MessageDeleted { message, .. } => self.message_deleted(message, ts)?,
            EventKind::LayoutSaved { name, layout, .. } => self.layout_saved(name, layout, ts)?,
            EventKind::LayoutDeleted { name, .. } => self.layout_deleted(name, ts)?,
        }
        self.drop_old_minutes(now);
        Ok(())
    }

    /// Refuses an event that would make the board hold more queues or
    /// agents than the limits allow (names are free text from senders).
    fn check_capacity(&self, event: &Event) -> Result<(), String> {
        let limits = &self.config.limits;
        // Every kind listed: a new kind must say what it adds.
        let mut queues: Vec<&str> = match &event.kind {
            EventKind::AgentState { queues, .. } => {
                queues.iter().flatten().map(String::as_str).collect()
            }
            EventKind::ContactOffered { queue, .. } => vec![queue.as_str()],
            EventKind::SurveySubmitted { queue, .. } | EventKind::ComplaintOpened { queue, .. } => {
                queue.iter().map(String::as_str).collect()
            }
            EventKind::ContactArrived { .. }
            | EventKind::ContactAnswered { .. }
            | EventKind::ContactAbandoned { .. }
            | EventKind::ContactCallbackRequested { .. }
            | EventKind::ContactEnded { .. }
            | EventKind::ComplaintAnswered { .. }
            | EventKind::SettingsChanged { .. }
            | EventKind::MessagePosted { .. }
            | EventKind::MessageDeleted { .. }
            | EventKind::LayoutSaved { .. }
            | EventKind::LayoutDeleted { .. } => Vec::new(),
        };
        queues.retain(|q| !self.queue_index.contains_key(*q));
        queues.sort_unstable();
        queues.dedup();
        if let Some(first) = queues.first()
            && self.queues.len() + queues.len() > limits.max_queues
        {
            return Err(format!(
                "the board already holds {} queues (limits.max_queues = {}): queue {first:?} is not added",
                self.queues.len(),
                limits.max_queues,
            ));
        }
        let agent = match &event.kind {
            EventKind::AgentState { agent, .. } | EventKind::ContactAnswered { agent, .. } => {
                Some(agent)
            }
            EventKind::ContactArrived { .. }
            | EventKind::ContactOffered { .. }
            | EventKind::ContactAbandoned { .. }
            | EventKind::ContactCallbackRequested { .. }
            | EventKind::ContactEnded { .. }
            | EventKind::SurveySubmitted { .. }
            | EventKind::ComplaintOpened { .. }
            | EventKind::ComplaintAnswered { .. }
            | EventKind::SettingsChanged { .. }
            | EventKind::MessagePosted { .. }
            | EventKind::MessageDeleted { .. }
            | EventKind::LayoutSaved { .. }
            | EventKind::LayoutDeleted { .. } => None,
        };
        if let Some(agent) = agent
            && !self.agents.contains_key(agent)
            && self.agents.len() >= limits.max_agents
        {
            return Err(format!(
                "the board already holds {} agents (limits.max_agents = {}): agent {agent:?} is not added",
                self.agents.len(),
                limits.max_agents
            ));
        }
        Ok(())
    }

    /// The index of a queue, registering it the first time it is named.
    fn queue(&mut self, id: &str) -> usize {
        if let Some(&q) = self.queue_index.get(id) {
            return q;
        }
        let q = self.queues.len();
        let mut buckets = Buckets::default();
        // The running sums of a queue born between reads start at the
        // window of the last read, as everyone else's are.
        if let Some(at) = self.read_at {
            buckets.advance(minute_of(at));
        }
        self.queues.push(QueueState {
            id: id.to_string(),
            seen_vip: false,
            buckets,
            waiting: BTreeSet::new(),
            callbacks: BTreeSet::new(),
        });
        self.queue_index.insert(id.to_string(), q);
        self.dirty.queues.insert(q);
        q
    }

    pub fn queue_by_id(&self, id: &str) -> Option<&QueueState> {
        self.queue_index.get(id).map(|&q| &self.queues[q])
    }

    /// The local day holding `ts`, with its start and end.
    pub fn day_of(&mut self, ts: Timestamp) -> (Date, Timestamp, Timestamp) {
        if let Some((date, start, end)) = self.day_cache
            && start <= ts
            && ts < end
        {
            return (date, start, end);
        }
        let day = local_day(&self.tz, ts);
        self.day_cache = Some(day);
        day
    }

    /// Records an observation in a histogram of the metrics facade (per
    /// queue; the server's recorder, if any, is installed around `apply`).
    fn observe(&self, queue: Option<usize>, name: &'static str, value: f64) {
        if let Some(q) = queue {
            metrics::histogram!(name, "queue" => self.queues[q].id.clone()).record(value);
        }
    }

    /// Adds to the counters of `queue` (if any) and of the totals, in the
    /// day and the minute that hold `ts`.
    fn count(&mut self, queue: Option<usize>, ts: Timestamp, f: impl Fn(&mut Counters)) {
        self.count_on(queue, None, ts, f)
    }

    /// [`Aggregator::count`] for a contact on `channel`: its channel's
    /// counts too.
    fn count_on(
        &mut self,
        queue: Option<usize>,
        channel: Option<Channel>,
        ts: Timestamp,
        f: impl Fn(&mut Counters),
    ) {
        let (day, day_start, _) = self.day_of(ts);
        let minute = minute_of(ts);
        if self
            .span_cache
            .as_ref()
            .is_some_and(|((_, to), _)| minute < *to)
        {
            self.span_cache = None;
        }
        let interval = interval_of(minute_of(day_start), minute, QUEUE_INTERVAL_MINUTES);
        self.minutes_below |= minute < self.minutes_from;
        let mut delta = Counters::default();
        f(&mut delta);
        if let Some(q) = queue {
            self.dirty.queues.insert(q);
        }
        f(self.totals.intervals.entry(minute).or_default());
        if let Some(q) = queue {
            f(self.queues[q]
                .buckets
                .intervals
                .entry(interval)
                .or_default());
        }
        let read_at = self.read_at;
        for buckets in
            std::iter::once(&mut self.totals).chain(queue.map(|q| &mut self.queues[q].buckets))
        {
            let add = |b: &mut Buckets| {
                f(b.days.entry(day).or_default());
                f(b.minutes.entry(minute).or_default());
                f(&mut b.lifetime);
                b.rolling.add(minute, &delta);
            };
            add(buckets);
            if let Some(sub) = channel_buckets(buckets, channel, read_at) {
                add(sub);
            }
        }
    }

    /// Books agent time in `state` over `[from, to)` to the totals and the
    /// agent's queues, split across local days and minutes.
    fn add_agent_time(
        &mut self,
        queues: &[usize],
        state: AgentState,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) {
        if matches!(state, AgentState::Aux | AgentState::Offline) {
            return;
        }
        self.add_time(queues, None, from, to, now, |c, ms| {
            c.add_agent_time(state, ms)
        });
    }

    /// Books a span of time `[from, to)` to the totals and `queues` (and to
    /// `channel`'s counts in each, besides voice), split across local days
    /// and minutes: `add` adds a piece of `ms` to a bucket.
    fn add_time(
        &mut self,
        queues: &[usize],
        channel: Option<Channel>,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
        add: impl Fn(&mut Counters, i64),
    ) {
        if to <= from {
            return;
        }
        // Days.
        let mut start = from;
        while start < to {
            let (day, _, day_end) = self.day_of(start);
            let end = day_end.min(to);
            let ms = ms_between(start, end);
            self.each_scope_on(queues, channel, |b| add(b.days.entry(day).or_default(), ms));
            start = end;
        }
        // Minutes, only those a rolling window can still use.
        let first = minute_of(from).max(minute_of(now) - MINUTES_KEPT);
        let last = minute_of(to);
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        for minute in first..=last {
            let lo = from_ms.max(minute * MINUTE_MS);
            let hi = to_ms.min((minute + 1) * MINUTE_MS);
            if hi <= lo {
                continue;
            }
            let mut delta = Counters::default();
            add(&mut delta, hi - lo);
            self.each_scope_on(queues, channel, |b| {
                add(b.minutes.entry(minute).or_default(), hi - lo);
                b.rolling.add(minute, &delta);
            });
        }
    }

    /// Runs `f` on the totals' buckets and on each of `queues`' buckets.
    fn each_scope(&mut self, queues: &[usize], mut f: impl FnMut(&mut Buckets)) {
        f(&mut self.totals);
        for &q in queues {
            self.dirty.queues.insert(q);
            f(&mut self.queues[q].buckets);
        }
    }

    /// [`Aggregator::each_scope`], and on `channel`'s buckets in each too
    /// (besides voice, which is the rest).
    fn each_scope_on(
        &mut self,
        queues: &[usize],
        channel: Option<Channel>,
        mut f: impl FnMut(&mut Buckets),
    ) {
        let read_at = self.read_at;
        self.each_scope(queues, |b| {
            f(b);
            if let Some(sub) = channel_buckets(b, channel, read_at) {
                f(sub);
            }
        });
    }

    fn drop_old_minutes(&mut self, now: Timestamp) {
        let oldest = minute_of(now) - MINUTES_KEPT;
        if oldest <= self.minutes_from && !self.minutes_below {
            return;
        }
        self.minutes_from = self.minutes_from.max(oldest);
        self.minutes_below = false;
        for buckets in
            std::iter::once(&mut self.totals).chain(self.queues.iter_mut().map(|q| &mut q.buckets))
        {
            if buckets
                .minutes
                .first_key_value()
                .is_none_or(|(m, _)| *m >= oldest)
            {
                continue;
            }
            buckets.release_before(oldest);
            buckets.remove_minutes_before(oldest);
        }
    }

    /// Forgets what no window or late event can use any more: minute buckets
    /// past the rolling windows, days before yesterday, finished contacts and
    /// answered complaints after a day, agents offline for a day. Contacts
    /// stuck waiting for over a day are dropped too (their end was lost).
    /// Returns whether the board changed (agents or waiting contacts gone).
    pub fn prune(&mut self, now: Timestamp) -> bool {
        let marked = self.dirty.agents.len() + self.dirty.queues.len();
        self.drop_old_minutes(now);
        let (today, today_start, _) = self.day_of(now);
        let yesterday = today.yesterday().unwrap_or(today);
        let yesterday_start =
            minute_of(local_day(&self.tz, today_start - SignedDuration::from_millis(1)).1);
        for buckets in
            std::iter::once(&mut self.totals).chain(self.queues.iter_mut().map(|q| &mut q.buckets))
        {
            buckets.retain_days_from(yesterday);
            buckets
                .intervals
                .retain(|start, _| *start >= yesterday_start);
        }
        let horizon = now
            .checked_sub(FINISHED_CONTACT_RETENTION)
            .unwrap_or(Timestamp::MIN);
        let queues = &mut self.queues;
        let dirty = &mut self.dirty;
        // Contacts answered a day ago and never ended let go of their slots.
        let mut slots_let_go: Vec<(String, Channel)> = Vec::new();
        self.contacts.retain(|id, c| {
            if c.last >= horizon {
                return true;
            }
            if let (Phase::Answered, true, Some(agent)) = (c.phase, c.slots > 0, &c.agent) {
                slots_let_go.push((agent.clone(), c.channel));
            }
            if let (Phase::Waiting, Some(q), Some(since)) = (c.phase, c.queue, c.waiting_since) {
                tracing::warn!(contact = %id, "dropping a contact that has waited for over a day");
                queues[q].waiting.remove(&(since, id.clone()));
                dirty.queues.insert(q);
            }
            if let (Phase::CallbackPending, Some(q), Some(asked)) = (c.phase, c.queue, c.callback) {
                tracing::warn!(contact = %id, "dropping a callback pending for over a day");
                queues[q].callbacks.remove(&(asked, id.clone()));
                dirty.queues.insert(q);
            }
            false
        });
        self.complaints
            .retain(|_, k| k.answered.is_none_or(|at| at.max(k.due) >= horizon));
        let mut reindex = !slots_let_go.is_empty();
        for (agent, channel) in slots_let_go {
            if let Some(n) = self
                .agents
                .get_mut(&agent)
                .and_then(|a| a.in_use.get_mut(&channel))
            {
                *n = n.saturating_sub(1);
            }
        }
        let dirty = &mut self.dirty;
        self.agents.retain(|id, a| {
            let keep = a.state != AgentState::Offline || a.since >= horizon;
            if !keep {
                dirty.agents.insert(id.clone());
                reindex |= a.handles.iter().any(|h| h.slots > 0);
            }
            keep
        });
        if reindex {
            let cut = self.totals.running[0].cut();
            self.rebuild_running(cut);
        }
        self.dirty.agents.len() + self.dirty.queues.len() > marked
    }
}

impl Aggregator {
    /// What changed since the last call, for a board read at `at` (a whole
    /// second, never before the events it reflects): the queues and agents
    /// events touched, plus what the clock alone moved — every queue with
    /// working agents when the second changed (their running time) or
    /// offers in the last 15 minutes (its forecast's interval), the
    /// queues whose complaints fell due, and every queue when the minute
    /// changed (the rolling windows moved). Moves the running sums and the
    /// indexes' cuts to `at` first, so [`Buckets::rolling_sum`] and
    /// [`SinceIndex::running_ms`] answer for `at`.
    pub fn take_changes(&mut self, at: Timestamp) -> Changed {
        let minute = minute_of(at);
        let previous = self.read_at.replace(at);
        let back = previous.is_some_and(|p| at < p);
        if back || previous.is_none_or(|p| minute_of(p) != minute) {
            let (_, today_start, _) = self.day_of(at);
            // Every window a board asks for starts at or after this minute.
            let cut = minute_of(today_start).min(minute - 60);
            if cut < self.totals.running[0].cut() {
                self.rebuild_running(cut);
            }
            for b in std::iter::once(&mut self.totals)
                .chain(self.queues.iter_mut().map(|q| &mut q.buckets))
            {
                b.advance(minute);
                for index in &mut b.running {
                    index.advance_cut(cut);
                }
                b.cut_slots(cut, false);
            }
            self.dirty.all_queues = true;
        } else if let Some(p) = previous
            && p != at
        {
            let (from, to) = (p.as_millisecond(), at.as_millisecond());
            for (q, queue) in self.queues.iter().enumerate() {
                let b = &queue.buckets;
                if b.running.iter().any(|i| !i.is_empty())
                    || !b.slots_busy.is_empty()
                    || b.dues.any_due_in(from, to)
                    || b.has_recent_offers()
                {
                    self.dirty.queues.insert(q);
                }
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        let queues = if dirty.all_queues {
            (0..self.queues.len()).collect()
        } else {
            let mut queues: Vec<usize> = dirty.queues.into_iter().collect();
            queues.sort_unstable();
            queues
        };
        let agents = if dirty.all_agents {
            self.agents.keys().cloned().collect()
        } else {
            dirty.agents.into_iter().collect()
        };
        Changed {
            queues,
            agents,
            all_agents: dirty.all_agents,
            all_queues: dirty.all_queues,
        }
    }

    /// The totals' kept intervals summed over the minutes `from..to`
    /// (cached: see `span_cache`).
    pub fn totals_span(&mut self, from: i64, to: i64) -> Counters {
        if let Some((span, sum)) = &self.span_cache
            && *span == (from, to)
        {
            return sum.clone();
        }
        let sum = self.totals.intervals_sum(from, to);
        self.span_cache = Some(((from, to), sum.clone()));
        sum
    }

    /// Rebuilds what is kept up to date as events apply (after a restore):
    /// running sums, running-time and due indexes; everything is changed.
    fn rebuild_live(&mut self) {
        for b in
            std::iter::once(&mut self.totals).chain(self.queues.iter_mut().map(|q| &mut q.buckets))
        {
            b.rebuild_rolling();
            b.dues = DueIndex::default();
        }
        self.rebuild_running(0);
        let open: Vec<(Option<usize>, i64)> = self
            .complaints
            .values()
            .filter(|k| k.answered.is_none())
            .map(|k| (k.queue, k.due.as_millisecond()))
            .collect();
        for (q, due) in open {
            self.each_scope(q.as_slice(), |b| b.dues.insert(due));
        }
        self.read_at = None;
        self.span_cache = None;
        self.dirty.all_queues = true;
        self.dirty.all_agents = true;
    }

    /// Indexes every working agent's `since` afresh, exactly from minute `cut`.
    fn rebuild_running(&mut self, cut: i64) {
        for b in
            std::iter::once(&mut self.totals).chain(self.queues.iter_mut().map(|q| &mut q.buckets))
        {
            b.running = Default::default();
            for index in &mut b.running {
                index.advance_cut(cut);
            }
            b.cut_slots(cut, true);
        }
        // Each working agent's queues, state, since and capacity.
        type Working = (Vec<usize>, AgentState, Timestamp, BTreeMap<Channel, u32>);
        let working: Vec<Working> = self
            .agents
            .values()
            .filter(|a| working_slot(a.state).is_some())
            .map(|a| (a.queues.clone(), a.state, a.since, a.capacity.clone()))
            .collect();
        for (queues, state, since, capacity) in working {
            self.index_running(&queues, state, since);
            self.index_slots(&queues, state, since, &capacity, true);
        }
        // Contacts holding a slot: answered, or handled with their handle
        // time still open.
        let mut busy: Vec<(Option<usize>, Channel, Timestamp)> = self
            .contacts
            .values()
            .filter(|c| c.phase == Phase::Answered && c.slots > 0)
            .filter_map(|c| Some((c.queue, c.channel, c.answered_at?)))
            .collect();
        busy.extend(self.agents.values().flat_map(Agent::slots_held_after_end));
        for (q, channel, answered) in busy {
            self.index_busy(q, channel, answered, true);
        }
    }
}

/// The checkpoint of an aggregate: everything it holds, so that restoring it
/// and applying the events that followed gives the state those events gave.
/// Borrowed to write, owned to read; the same fields either way.
#[derive(Serialize)]
struct CheckpointRef<'a> {
    version: u32,
    queues: &'a [QueueState],
    agents: &'a HashMap<String, Agent>,
    contacts: &'a ShardedMap<String, Contact>,
    complaints: &'a HashMap<String, Complaint>,
    totals: &'a Buckets,
    latest_ts: Option<Timestamp>,
    admin: &'a AdminState,
}

#[derive(Deserialize)]
struct Checkpoint {
    version: u32,
    #[serde(default)]
    queues: Vec<QueueState>,
    #[serde(default)]
    agents: HashMap<String, Agent>,
    #[serde(default)]
    contacts: ShardedMap<String, Contact>,
    #[serde(default)]
    complaints: HashMap<String, Complaint>,
    #[serde(default)]
    totals: Buckets,
    #[serde(default)]
    latest_ts: Option<Timestamp>,
    #[serde(default)]
    admin: AdminState,
}

/// 2: with the admin state (live settings, messages, layouts); 1 reads
/// as 2 without it. A version this server does not know is refused.
const CHECKPOINT_VERSION: u32 = 2;

impl Aggregator {
    /// The whole aggregate as JSON: the open state (agents, contacts in
    /// flight and recently finished, waiting lines, complaints) and the
    /// counters (days, minutes, lifetime).
    pub fn checkpoint(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&CheckpointRef {
            version: CHECKPOINT_VERSION,
            queues: &self.queues,
            agents: &self.agents,
            contacts: &self.contacts,
            complaints: &self.complaints,
            totals: &self.totals,
            latest_ts: self.latest_ts,
            admin: &self.admin,
        })
    }

    /// Replaces the aggregate with a checkpoint's. On `Err` nothing changed.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let c: Checkpoint = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !(1..=CHECKPOINT_VERSION).contains(&c.version) {
            return Err(format!(
                "checkpoint version {} (this server reads {CHECKPOINT_VERSION})",
                c.version
            ));
        }
        let n = c.queues.len();
        let fits = |q: &Option<usize>| q.is_none_or(|q| q < n);
        let consistent = c
            .agents
            .values()
            .all(|a| a.queues.iter().all(|&q| q < n) && fits(&a.contact_queue))
            && c.agents.values().all(|a| {
                a.handles
                    .iter()
                    .chain(&a.legacy_handle)
                    .all(|h| fits(&h.queue))
            })
            && c.contacts.values().all(|k| fits(&k.queue))
            && c.complaints.values().all(|k| fits(&k.queue));
        if !consistent {
            return Err("checkpoint names a queue it does not hold".into());
        }
        self.queue_index = c
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.id.clone(), i))
            .collect();
        self.queues = c.queues;
        self.agents = c.agents;
        for a in self.agents.values_mut() {
            a.handles.extend(a.legacy_handle.take());
        }
        self.contacts = c.contacts;
        self.complaints = c.complaints;
        self.totals = c.totals;
        self.latest_ts = c.latest_ts;
        self.restore_admin(c.admin);
        self.rebuild_live();
        Ok(())
    }
}

/// The local day holding `ts` in `tz`, with its start and end (days are not
/// always 24 h long: DST).
pub fn local_day(tz: &TimeZone, ts: Timestamp) -> (Date, Timestamp, Timestamp) {
    let zoned = ts.to_zoned(tz.clone());
    let date = zoned.date();
    let start = date
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(ts);
    let end = date
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MAX);
    (date, start, end)
}
