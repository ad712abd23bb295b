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
//! The aggregator is a plain struct with no locks and no clock: the caller
//! passes `now` and serialises access (see `ingest`), which keeps it
//! deterministic and unit-testable. KPI formulas are not here: `kpi` turns
//! these counts into the board.

mod live;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use wallboard_protocol::{AgentState, Event, EventKind};

use crate::config::Config;
pub use live::{DueIndex, ROLLING, Rolling, SinceIndex};

const MINUTE_MS: i64 = 60_000;
/// Minute buckets older than this (in minutes before now) are dropped: the
/// longest rolling window is 60 minutes.
const MINUTES_KEPT: i64 = 61;
/// Finished contacts are remembered this long so that late surveys and
/// dispositions still find their queue.
const FINISHED_CONTACT_RETENTION: SignedDuration = SignedDuration::from_hours(26);

/// Counts for one scope (a queue, or all) over one bucket (a day or a minute).
/// Durations are in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
pub struct Buckets {
    pub days: BTreeMap<Date, Counters>,
    /// Keyed by Unix minute (`ts` in ms ÷ 60 000, rounded down).
    pub minutes: BTreeMap<i64, Counters>,
    /// Everything since this process started counting (never pruned, never
    /// reset at midnight): the Prometheus counters.
    pub lifetime: Counters,
    /// The rolling windows as running sums (rebuilt, not checkpointed).
    #[serde(skip)]
    pub rolling: Rolling,
    /// Working agents' `since` per working state ([`WORKING`] order).
    #[serde(skip)]
    pub running: [SinceIndex; 3],
    /// Open complaints' due times.
    #[serde(skip)]
    pub dues: DueIndex,
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
    /// The counters of the minutes `from..to` (Unix minutes).
    pub fn span(&self, from: i64, to: i64) -> Counters {
        let mut sum = Counters::default();
        for (_, c) in self.minutes.range(from..to) {
            sum.add(c);
        }
        sum
    }
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
    pub seen_vip: bool,
    pub buckets: Buckets,
    /// Contacts waiting now, oldest first.
    pub waiting: BTreeSet<(Timestamp, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Agent {
    pub name: Option<String>,
    pub state: AgentState,
    pub reason: Option<String>,
    pub since: Timestamp,
    pub queues: Vec<usize>,
    /// The contact being handled (from `contact_answered` to `contact_ended`).
    pub contact: Option<String>,
    pub contact_queue: Option<usize>,
    /// A contact whose handle time has not ended yet.
    /// Contacts whose handle time has not ended yet (several, when one
    /// contact's events arrive after the next one's).
    #[serde(default)]
    handles: Vec<PendingHandle>,
    /// The one pending handle of checkpoints written before `handles`.
    #[serde(default, rename = "handle", skip_serializing)]
    legacy_handle: Option<PendingHandle>,
    /// Whether any `agent_state` has been seen (an agent first named by a
    /// `contact_answered` is a placeholder until then).
    known: bool,
    /// Recent state changes, oldest first: lets handle time be decided the
    /// same way whether the agent's or the contact's events arrive first.
    history: VecDeque<(Timestamp, AgentState)>,
}

/// State changes kept per agent for deciding handle times: the last hour
/// of them (an agent's events may run that far ahead of a contact's, when
/// they come from different senders), at most this many.
const AGENT_HISTORY_MAX: usize = 1024;
const AGENT_HISTORY_SPAN: SignedDuration = SignedDuration::from_hours(1);

/// When a contact's handle time ends, given its agent's state changes.
enum HandleEnd {
    At(Timestamp),
    /// The agent is in the wrap-up of this contact: it ends when they leave.
    InWrap,
    /// The agent's next state after the end is not known yet.
    AwaitingNext,
}

/// Handle time runs from the answer until the agent leaves the `wrap_up`
/// that follows `contact_ended` (a wrap-up already under way at the end
/// counts too); when the agent's next state after `contact_ended` is not
/// `wrap_up`, it ends at `contact_ended`.
fn handle_end(
    history: &VecDeque<(Timestamp, AgentState)>,
    answered: Timestamp,
    ended: Timestamp,
) -> HandleEnd {
    let leaves_wrap = |from: usize| {
        history
            .iter()
            .skip(from)
            .find(|(_, s)| *s != AgentState::WrapUp)
            .map_or(HandleEnd::InWrap, |(t, _)| HandleEnd::At(*t))
    };
    let in_force = history.iter().rposition(|(t, _)| *t <= ended);
    if let Some(i) = in_force
        && history[i].1 == AgentState::WrapUp
        && history[i].0 >= answered
    {
        return leaves_wrap(i + 1);
    }
    // A state other than on-contact taken at the very moment the contact
    // ended is the agent's next state: not a wrap-up (above), so the
    // handle time ends with the contact.
    if let Some(i) = in_force
        && history[i].0 == ended
        && history[i].0 > answered
        && history[i].1 != AgentState::OnContact
    {
        return HandleEnd::At(ended);
    }
    let next = in_force.map_or(0, |i| i + 1);
    match history.get(next) {
        Some((_, AgentState::WrapUp)) => leaves_wrap(next + 1),
        Some(_) => HandleEnd::At(ended),
        None => HandleEnd::AwaitingNext,
    }
}

impl Agent {
    /// An agent first named at `ts`, before any state of theirs is known.
    fn new(ts: Timestamp) -> Agent {
        Agent {
            name: None,
            state: AgentState::Offline,
            reason: None,
            since: ts,
            queues: Vec::new(),
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
    answered: Timestamp,
    ended: Timestamp,
    /// The agent is in the wrap-up of this contact; it ends when they leave.
    in_wrap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Arrived,
    Blocked,
    Waiting,
    Answered,
    Abandoned,
    Ended,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Contact {
    pub phase: Phase,
    /// Whether a `contact_arrived` was seen (it is optional).
    arrived: bool,
    pub queue: Option<usize>,
    pub waiting_since: Option<Timestamp>,
    pub agent: Option<String>,
    pub answered_at: Option<Timestamp>,
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
            last: ts,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Complaint {
    pub queue: Option<usize>,
    pub due: Timestamp,
    pub answered: Option<Timestamp>,
}

pub struct Aggregator {
    config: Arc<Config>,
    tz: TimeZone,
    pub queues: Vec<QueueState>,
    queue_index: HashMap<String, usize>,
    pub agents: HashMap<String, Agent>,
    pub contacts: HashMap<String, Contact>,
    pub complaints: HashMap<String, Complaint>,
    pub totals: Buckets,
    /// The newest `ts` applied (for the event-lag metric).
    pub latest_ts: Option<Timestamp>,
    /// Health of the configured telephony connections (not from events,
    /// not in checkpoints: each connection reports anew).
    pub sources: BTreeMap<String, wallboard_protocol::SourceBoard>,
    /// The local day of the last event, with its bounds: most events fall
    /// on the same day, so the zone lookup is done once per day, not per event.
    day_cache: Option<(Date, Timestamp, Timestamp)>,
    /// What changed since the last [`Aggregator::take_changes`].
    dirty: Dirty,
    /// The moment of the last [`Aggregator::take_changes`].
    read_at: Option<Timestamp>,
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
            config,
            queues: Vec::new(),
            queue_index: HashMap::new(),
            agents: HashMap::new(),
            contacts: HashMap::new(),
            complaints: HashMap::new(),
            totals: Buckets::default(),
            latest_ts: None,
            sources: BTreeMap::new(),
            day_cache: None,
            dirty: Dirty {
                all_queues: true,
                all_agents: true,
                ..Dirty::default()
            },
            read_at: None,
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
            } => {
                let queue_ids = queues.as_ref().map(|qs| {
                    let mut ids: Vec<usize> = qs.iter().map(|q| self.queue(q)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                });
                self.agent_state(agent, *state, reason, name, queue_ids, ts, now);
            }
            EventKind::ContactArrived { contact, blocked } => {
                match self.contacts.get_mut(contact) {
                    Some(c) if c.arrived => {
                        return Err(format!("contact {contact:?} has already arrived"));
                    }
                    Some(_) if *blocked => {
                        return Err(format!(
                            "contact {contact:?} was already offered to a queue: it cannot have been blocked"
                        ));
                    }
                    Some(c) => {
                        c.arrived = true;
                        c.last = c.last.max(ts);
                    }
                    None => {
                        let phase = if *blocked {
                            Phase::Blocked
                        } else {
                            Phase::Arrived
                        };
                        self.contacts
                            .insert(contact.clone(), Contact::new(phase, true, ts));
                    }
                }
                let blocked = u64::from(*blocked);
                self.count(None, ts, |c| {
                    c.arrived += 1;
                    c.blocked += blocked;
                });
            }
            EventKind::ContactOffered {
                contact,
                queue,
                vip,
            } => {
                if let Some(c) = self.contacts.get(contact) {
                    match c.phase {
                        Phase::Blocked => {
                            return Err(format!("contact {contact:?} was blocked at arrival"));
                        }
                        Phase::Abandoned => {
                            return Err(format!("contact {contact:?} has already abandoned"));
                        }
                        Phase::Waiting if c.queue.map(|q| &self.queues[q].id) == Some(queue) => {
                            return Err(format!(
                                "contact {contact:?} is already waiting in queue {queue:?}"
                            ));
                        }
                        _ => {}
                    }
                }
                let q = self.queue(queue);
                if *vip == Some(true) {
                    self.queues[q].seen_vip = true;
                }
                let c = self
                    .contacts
                    .entry(contact.clone())
                    .or_insert_with(|| Contact::new(Phase::Arrived, false, ts));
                // An overflow from another queue: it stops waiting there.
                if let (Phase::Waiting, Some(old), Some(since)) =
                    (c.phase, c.queue, c.waiting_since)
                {
                    self.queues[old].waiting.remove(&(since, contact.clone()));
                    self.dirty.queues.insert(old);
                }
                c.phase = Phase::Waiting;
                c.queue = Some(q);
                c.waiting_since = Some(ts);
                c.agent = None;
                c.answered_at = None;
                c.last = c.last.max(ts);
                self.queues[q].waiting.insert((ts, contact.clone()));
                self.count(Some(q), ts, |c| c.offered += 1);
            }
            EventKind::ContactAnswered { contact, agent } => {
                let c = self.waiting_contact(contact)?;
                let (q, since) = (c.queue, c.waiting_since.unwrap_or(ts));
                c.phase = Phase::Answered;
                c.agent = Some(agent.clone());
                c.answered_at = Some(ts);
                c.last = c.last.max(ts);
                if let Some(q) = q {
                    self.queues[q].waiting.remove(&(since, contact.clone()));
                }
                let wait_ms = ms_between(since, ts);
                let threshold = q
                    .map(|q| self.config.service_level_threshold(&self.queues[q].id))
                    .unwrap_or(self.config.service_level_threshold);
                let in_sl = u64::from(wait_ms <= threshold.as_millis() as i64);
                self.observe(q, "wallboard_wait_seconds", wait_ms as f64 / 1000.0);
                self.count(q, ts, |c| {
                    c.answered += 1;
                    c.answered_in_sl += in_sl;
                    c.wait_ms = c.wait_ms.saturating_add(wait_ms);
                });
                // The agent may be answering without having sent a state
                // yet; it is listed (offline) until its first agent_state.
                let a = self
                    .agents
                    .entry(agent.clone())
                    .or_insert_with(|| Agent::new(ts));
                a.contact = Some(contact.clone());
                a.contact_queue = q;
                self.dirty.agents.insert(agent.clone());
                // Moving on to the next contact ends the earlier ones'
                // handle times, if the agent sent no state in between.
                self.move_on(agent, ts);
            }
            EventKind::ContactAbandoned { contact } => {
                let c = self.waiting_contact(contact)?;
                let (q, since) = (c.queue, c.waiting_since.unwrap_or(ts));
                c.phase = Phase::Abandoned;
                c.last = c.last.max(ts);
                if let Some(q) = q {
                    self.queues[q].waiting.remove(&(since, contact.clone()));
                }
                let short_abandon = q
                    .map(|q| self.config.short_abandon(&self.queues[q].id))
                    .unwrap_or(self.config.short_abandon);
                let short = ms_between(since, ts) < short_abandon.as_millis() as i64;
                self.count(q, ts, |c| {
                    if short {
                        c.short_abandoned += 1
                    } else {
                        c.abandoned += 1
                    }
                });
            }
            EventKind::ContactEnded { contact, resolved } => {
                let Some(c) = self.contacts.get_mut(contact) else {
                    return Err(format!("unknown contact {contact:?}"));
                };
                match c.phase {
                    Phase::Ended => return Err(format!("contact {contact:?} has already ended")),
                    Phase::Waiting => {
                        return Err(format!(
                            "contact {contact:?} is waiting in a queue: send contact_answered or contact_abandoned first"
                        ));
                    }
                    _ => {}
                }
                let was_answered = c.phase == Phase::Answered;
                c.phase = Phase::Ended;
                c.last = c.last.max(ts);
                let q = c.queue;
                let answered_at = c.answered_at;
                let agent = c.agent.clone();
                if let Some(resolved) = resolved {
                    let resolved = u64::from(*resolved);
                    self.count(q, ts, |c| {
                        c.dispositions += 1;
                        c.resolved += resolved;
                    });
                }
                if let (true, Some(agent), Some(answered)) = (was_answered, agent, answered_at)
                    && let Some(a) = self.agents.get_mut(&agent)
                {
                    if a.contact.as_deref() == Some(contact) {
                        a.contact = None;
                        a.contact_queue = None;
                        self.dirty.agents.insert(agent.clone());
                    }
                    let pending = |in_wrap| PendingHandle {
                        queue: q,
                        answered,
                        ended: ts,
                        in_wrap,
                    };
                    let done = match handle_end(&a.history, answered, ts) {
                        HandleEnd::At(end) => Some((pending(false), end)),
                        HandleEnd::InWrap => {
                            a.handles.push(pending(true));
                            None
                        }
                        HandleEnd::AwaitingNext => {
                            a.handles.push(pending(false));
                            None
                        }
                    };
                    // An earlier contact still pending: the agent moved on.
                    self.move_on(&agent, ts);
                    if let Some((h, end)) = done {
                        self.handled(h, end);
                    }
                }
            }
            EventKind::SurveySubmitted {
                contact,
                queue,
                score,
                max,
            } => {
                let q = match (queue, contact) {
                    (Some(queue), _) => Some(self.queue(queue)),
                    (None, Some(contact)) => self.contacts.get(contact).and_then(|c| c.queue),
                    (None, None) => None,
                };
                let points = Event::survey_points(*score, *max);
                self.observe(q, "wallboard_survey_points", points);
                self.count(q, ts, |c| {
                    c.surveys += 1;
                    c.survey_points += points;
                });
            }
            EventKind::ComplaintOpened {
                complaint,
                queue,
                grade,
                due,
            } => {
                if self.complaints.contains_key(complaint) {
                    return Err(format!("complaint {complaint:?} is already open"));
                }
                let due = match (due, grade) {
                    (Some(due), _) => *due,
                    (None, Some(grade)) => match self.config.complaint_grades.get(grade) {
                        Some(deadline) => ts
                            .checked_add(*deadline)
                            .map_err(|e| format!("due time out of range: {e}"))?,
                        None => {
                            let known: Vec<_> = self.config.complaint_grades.keys().collect();
                            return Err(format!(
                                "unknown complaint grade {grade:?} (configured: {known:?})"
                            ));
                        }
                    },
                    (None, None) => return Err("complaint_opened needs `grade` or `due`".into()),
                };
                let q = queue.as_ref().map(|q| self.queue(q));
                self.count(q, ts, |c| c.complaints_opened += 1);
                self.each_scope(q.as_slice(), |b| b.dues.insert(due.as_millisecond()));
                self.complaints.insert(
                    complaint.clone(),
                    Complaint {
                        queue: q,
                        due,
                        answered: None,
                    },
                );
            }
            EventKind::ComplaintAnswered { complaint } => {
                let Some(k) = self.complaints.get_mut(complaint) else {
                    return Err(format!("unknown complaint {complaint:?}"));
                };
                if k.answered.is_some() {
                    return Err(format!("complaint {complaint:?} has already been answered"));
                }
                k.answered = Some(ts);
                let (q, due) = (k.queue, k.due);
                self.each_scope(q.as_slice(), |b| b.dues.remove(due.as_millisecond()));
                // On time (before `due`): counted when answered. Late: it
                // was overdue from `due` on, and counts there.
                if ts < due {
                    self.count(q, ts, |c| c.complaints_on_time += 1);
                } else {
                    self.count(q, due, |c| c.complaints_overdue += 1);
                }
            }
        }
        self.drop_old_minutes(now);
        Ok(())
    }

    /// Refuses an event that would make the board hold more queues or
    /// agents than the limits allow (names are free text from senders).
    fn check_capacity(&self, event: &Event) -> Result<(), String> {
        let limits = &self.config.limits;
        let mut queues: Vec<&str> = match &event.kind {
            EventKind::AgentState {
                queues: Some(qs), ..
            } => qs.iter().map(String::as_str).collect(),
            EventKind::ContactOffered { queue, .. } => vec![queue.as_str()],
            EventKind::SurveySubmitted {
                queue: Some(queue), ..
            }
            | EventKind::ComplaintOpened {
                queue: Some(queue), ..
            } => vec![queue.as_str()],
            _ => Vec::new(),
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
            _ => None,
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

    #[allow(clippy::too_many_arguments)]
    fn agent_state(
        &mut self,
        agent: &str,
        state: AgentState,
        reason: &Option<String>,
        name: &Option<String>,
        queues: Option<Vec<usize>>,
        ts: Timestamp,
        now: Timestamp,
    ) {
        if !self.agents.contains_key(agent) {
            self.agents.insert(agent.to_string(), Agent::new(ts));
        }
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        // A state older than the current one is stale (out of order): it
        // cannot change what the agent is doing now, nor its name or queues.
        // A placeholder agent (named by a contact event first) takes its
        // first state as it comes.
        if a.known && ts < a.since {
            return;
        }
        self.dirty.agents.insert(agent.to_string());
        // The closing interval belongs to the queues served during it.
        let agent_queues = a.queues.clone();
        let (old_state, old_since) = (a.state, a.since);
        if let Some(name) = name {
            a.name = Some(name.clone());
        }
        if let Some(queues) = queues {
            a.queues = queues;
        }
        let book_from = a.known.then_some(a.since);
        a.known = true;
        a.history.push_back((ts, state));
        let horizon = ts.checked_sub(AGENT_HISTORY_SPAN).unwrap_or(ts);
        while a.history.len() > AGENT_HISTORY_MAX
            || a.history.len() > 1
                && a.history[1].0 <= horizon
                && a.handles.iter().all(|h| h.answered > a.history[1].0)
        {
            a.history.pop_front();
        }
        a.state = state;
        a.reason = if state == AgentState::Aux {
            reason.clone()
        } else {
            None
        };
        a.since = ts;
        // A pending handle time is decided from the agent's states, whichever
        // of this state and the contact's end arrived first.
        let mut finished = Vec::new();
        let history = &a.history;
        a.handles
            .retain_mut(|h| match handle_end(history, h.answered, h.ended) {
                HandleEnd::At(end) => {
                    finished.push((h.clone(), end));
                    false
                }
                HandleEnd::InWrap => {
                    h.in_wrap = true;
                    true
                }
                HandleEnd::AwaitingNext => true,
            });
        let new_queues = a.queues.clone();
        for (h, end) in finished {
            self.handled(h, end);
        }
        self.unindex_running(&agent_queues, old_state, old_since);
        self.index_running(&new_queues, state, ts);
        if let Some(from) = book_from {
            self.add_agent_time(&agent_queues, old_state, from, ts, now);
        }
    }

    /// Enters a working agent's `since` in the running-time indexes of the
    /// totals and of the queues they serve.
    fn index_running(&mut self, queues: &[usize], state: AgentState, since: Timestamp) {
        if let Some(slot) = working_slot(state) {
            let since = since.as_millisecond();
            self.each_scope(queues, |b| b.running[slot].insert(since));
        }
    }

    fn unindex_running(&mut self, queues: &[usize], state: AgentState, since: Timestamp) {
        if let Some(slot) = working_slot(state) {
            let since = since.as_millisecond();
            self.each_scope(queues, |b| b.running[slot].remove(since));
        }
    }

    /// Ends the handle times of `agent`'s contacts that ended before `ts`
    /// (at their end, or at `ts` for one in its wrap-up): the agent took or
    /// finished another contact without a state in between.
    fn move_on(&mut self, agent: &str, ts: Timestamp) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let mut finished = Vec::new();
        a.handles.retain(|h| {
            if h.ended < ts {
                finished.push((h.clone(), if h.in_wrap { ts } else { h.ended }));
                false
            } else {
                true
            }
        });
        for (h, end) in finished {
            self.handled(h, end);
        }
    }

    fn handled(&mut self, h: PendingHandle, end: Timestamp) {
        let ms = ms_between(h.answered, end);
        self.observe(h.queue, "wallboard_handle_seconds", ms as f64 / 1000.0);
        self.count(h.queue, end, |c| {
            c.handled += 1;
            c.handle_ms = c.handle_ms.saturating_add(ms);
        });
    }

    /// The contact, if it is waiting in a queue.
    fn waiting_contact(&mut self, contact: &str) -> Result<&mut Contact, String> {
        match self.contacts.get_mut(contact) {
            None => Err(format!("unknown contact {contact:?}")),
            Some(c) if c.phase != Phase::Waiting => Err(format!(
                "contact {contact:?} is not waiting in a queue (it is {})",
                match c.phase {
                    Phase::Arrived => "not yet offered to a queue",
                    Phase::Blocked => "blocked",
                    Phase::Answered => "already answered",
                    Phase::Abandoned => "already abandoned",
                    Phase::Ended => "ended",
                    Phase::Waiting => "waiting",
                }
            )),
            Some(c) => Ok(c),
        }
    }

    /// The index of a queue, registering it the first time it is named.
    fn queue(&mut self, id: &str) -> usize {
        if let Some(&q) = self.queue_index.get(id) {
            return q;
        }
        let q = self.queues.len();
        self.queues.push(QueueState {
            id: id.to_string(),
            seen_vip: false,
            buckets: Buckets::default(),
            waiting: BTreeSet::new(),
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

    /// Adds to the counters of `queue` (if any) and of the totals, in the
    /// day and the minute that hold `ts`.
    /// Records an observation in a histogram of the metrics facade (per
    /// queue; the server's recorder, if any, is installed around `apply`).
    fn observe(&self, queue: Option<usize>, name: &'static str, value: f64) {
        if let Some(q) = queue {
            metrics::histogram!(name, "queue" => self.queues[q].id.clone()).record(value);
        }
    }

    fn count(&mut self, queue: Option<usize>, ts: Timestamp, f: impl Fn(&mut Counters)) {
        let (day, _, _) = self.day_of(ts);
        let minute = minute_of(ts);
        self.minutes_below |= minute < self.minutes_from;
        let mut delta = Counters::default();
        f(&mut delta);
        if let Some(q) = queue {
            self.dirty.queues.insert(q);
        }
        for buckets in
            std::iter::once(&mut self.totals).chain(queue.map(|q| &mut self.queues[q].buckets))
        {
            f(buckets.days.entry(day).or_default());
            f(buckets.minutes.entry(minute).or_default());
            f(&mut buckets.lifetime);
            buckets.rolling.add(minute, &delta);
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
        if matches!(state, AgentState::Aux | AgentState::Offline) || to <= from {
            return;
        }
        // Days.
        let mut start = from;
        while start < to {
            let (day, _, day_end) = self.day_of(start);
            let end = day_end.min(to);
            let ms = ms_between(start, end);
            self.each_scope(queues, |b| {
                b.days.entry(day).or_default().add_agent_time(state, ms)
            });
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
            delta.add_agent_time(state, hi - lo);
            self.each_scope(queues, |b| {
                b.minutes
                    .entry(minute)
                    .or_default()
                    .add_agent_time(state, hi - lo);
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
            while let Some(entry) = buckets.minutes.first_entry() {
                if *entry.key() >= oldest {
                    break;
                }
                entry.remove();
            }
        }
    }

    /// Forgets what no window or late event can use any more: minute buckets
    /// past the rolling windows, days before yesterday, finished contacts and
    /// answered complaints after a day, agents offline for a day. Contacts
    /// stuck waiting for over a day are dropped too (their end was lost).
    pub fn prune(&mut self, now: Timestamp) {
        self.drop_old_minutes(now);
        let (today, _, _) = self.day_of(now);
        let yesterday = today.yesterday().unwrap_or(today);
        for buckets in
            std::iter::once(&mut self.totals).chain(self.queues.iter_mut().map(|q| &mut q.buckets))
        {
            buckets.days.retain(|day, _| *day >= yesterday);
        }
        let horizon = now
            .checked_sub(FINISHED_CONTACT_RETENTION)
            .unwrap_or(Timestamp::MIN);
        let queues = &mut self.queues;
        let dirty = &mut self.dirty;
        self.contacts.retain(|id, c| {
            if c.last >= horizon {
                return true;
            }
            if let (Phase::Waiting, Some(q), Some(since)) = (c.phase, c.queue, c.waiting_since) {
                tracing::warn!(contact = %id, "dropping a contact that has waited for over a day");
                queues[q].waiting.remove(&(since, id.clone()));
                dirty.queues.insert(q);
            }
            false
        });
        self.complaints
            .retain(|_, k| k.answered.is_none_or(|at| at.max(k.due) >= horizon));
        let dirty = &mut self.dirty;
        self.agents.retain(|id, a| {
            let keep = a.state != AgentState::Offline || a.since >= horizon;
            if !keep {
                dirty.agents.insert(id.clone());
            }
            keep
        });
    }
}

impl Aggregator {
    /// What changed since the last call, for a board read at `at` (a whole
    /// second, never before the events it reflects): the queues and agents
    /// events touched, plus what the clock alone moved — every queue with
    /// working agents when the second changed (their running time), the
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
            }
            self.dirty.all_queues = true;
        } else if let Some(p) = previous
            && p != at
        {
            let (from, to) = (p.as_millisecond(), at.as_millisecond());
            for (q, queue) in self.queues.iter().enumerate() {
                let b = &queue.buckets;
                if b.running.iter().any(|i| !i.is_empty()) || b.dues.any_due_in(from, to) {
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
        }
        let working: Vec<(Vec<usize>, AgentState, Timestamp)> = self
            .agents
            .values()
            .filter(|a| working_slot(a.state).is_some())
            .map(|a| (a.queues.clone(), a.state, a.since))
            .collect();
        for (queues, state, since) in working {
            self.index_running(&queues, state, since);
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
    contacts: &'a HashMap<String, Contact>,
    complaints: &'a HashMap<String, Complaint>,
    totals: &'a Buckets,
    latest_ts: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Checkpoint {
    version: u32,
    queues: Vec<QueueState>,
    agents: HashMap<String, Agent>,
    contacts: HashMap<String, Contact>,
    complaints: HashMap<String, Complaint>,
    totals: Buckets,
    latest_ts: Option<Timestamp>,
}

const CHECKPOINT_VERSION: u32 = 1;

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
        })
    }

    /// Replaces the aggregate with a checkpoint's. On `Err` nothing changed.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let c: Checkpoint = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if c.version != CHECKPOINT_VERSION {
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
