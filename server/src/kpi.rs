//! The KPI engine: the only place KPI formulas live. Turns the aggregator's
//! counts into the board document (DESIGN.md "The KPIs", "The board").
//!
//! Rules kept here:
//! - an empty denominator gives `null` and status `none`, never 0 or 1;
//! - short abandons are out of connect rate, service level and abandon rate;
//! - VIP queues are held to the VIP agent connect rate target;
//! - a complaint still open past its due time counts as overdue, in the
//!   window where its due time falls;
//! - agent time still running (the current state) counts up to `now`;
//! - the trend is the totals' KPIs over each of the last twelve 5-minute
//!   slices (the last one is the slice now running).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use wallboard_protocol::Channel;
use wallboard_protocol::{
    AgentBoard, AgentState, Board, ComplaintsBoard, Forecast, Kpi, KpiKey, KpiValues, Kpis,
    QueueBoard, REGISTRY, Scope, ServiceLevelDefinition, Slots, SourceBoard, Window,
};

use crate::aggregator::{
    Agent, Aggregator, Buckets, Counters, QueueState, WORKING, local_day, minute_of, ms_between,
};
use crate::config::{Config, Targets};
use crate::forecast;

/// Where a window starts and whether it holds a moment, for one `now`.
struct Windows {
    now: Timestamp,
    today_start: Timestamp,
    tomorrow_start: Timestamp,
    today: jiff::civil::Date,
    /// Yesterday's minutes from its midnight to this time of day (civil:
    /// a DST day is no different): `from..to`, Unix minutes.
    yesterday: (i64, i64),
}

impl Windows {
    fn new(agg: &Aggregator, now: Timestamp) -> Windows {
        let tz = &agg.config().timezone;
        let (today, today_start, tomorrow_start) = local_day(tz, now);
        let same_time = now
            .to_zoned(tz.clone())
            .checked_sub(jiff::Span::new().days(1))
            .map(|z| z.timestamp())
            .unwrap_or(today_start);
        let (_, yesterday_start, _) = local_day(tz, same_time);
        Windows {
            now,
            today_start,
            tomorrow_start,
            today,
            yesterday: (minute_of(yesterday_start), minute_of(same_time)),
        }
    }

    /// The current 30-minute interval of the local day: its first minute
    /// and its end (intervals count from local midnight).
    fn interval(&self) -> (i64, Timestamp) {
        const LEN_MS: i64 = 30 * 60_000;
        let start = self.today_start.as_millisecond();
        let k = (self.now.as_millisecond() - start).div_euclid(LEN_MS);
        let from = start + k * LEN_MS;
        let end = Timestamp::from_millisecond(from + LEN_MS)
            .unwrap_or(self.tomorrow_start)
            .min(self.tomorrow_start);
        (from.div_euclid(60_000), end)
    }

    fn start(&self, window: Window) -> Timestamp {
        match window.minutes() {
            None => self.today_start,
            Some(len) => Timestamp::from_millisecond((minute_of(self.now) - len + 1) * 60_000)
                .unwrap_or(self.now),
        }
    }

    fn contains(&self, window: Window, ts: Timestamp) -> bool {
        match window.minutes() {
            None => self.today_start <= ts && ts < self.tomorrow_start,
            Some(len) => minute_of(ts) > minute_of(self.now) - len,
        }
    }

    /// The totals' counts yesterday up to this time of day (`None`: none),
    /// the plain way.
    fn yesterday(&self, totals: &Buckets) -> Option<Counters> {
        let (from, to) = self.yesterday;
        some_counts(totals.intervals_sum(from, to))
    }

    /// The stored counters of one scope in one window.
    fn counters(&self, buckets: &Buckets, window: Window) -> Counters {
        match window.minutes() {
            None => buckets.days.get(&self.today).cloned().unwrap_or_default(),
            Some(len) => buckets.rolling(self.now, len),
        }
    }
}

/// Adds the agent time still running (working agents since their state
/// began, within each window) to the stored counts.
fn add_running_agent_time(
    agg: &Aggregator,
    w: &Windows,
    now: Timestamp,
    totals: &mut [Counters; 3],
    queues: &mut [[Counters; 3]],
) {
    for agent in working(agg) {
        for (i, win) in Window::ALL.iter().enumerate() {
            let ms = ms_between(agent.since.max(w.start(*win)), now);
            totals[i].add_agent_time(agent.state, ms);
            for &q in &agent.queues {
                queues[q][i].add_agent_time(agent.state, ms);
            }
        }
    }
}

/// The slot time still running, the plain way: every working agent's
/// slots and every contact holding one, by (queue or the totals, channel),
/// per window.
type RunningSlots = std::collections::HashMap<(Option<usize>, Channel), [Counters; 3]>;

fn running_slots(agg: &Aggregator, w: &Windows, now: Timestamp) -> RunningSlots {
    let mut slots = RunningSlots::new();
    let mut add = |queues: &[usize], ch: Channel, since: Timestamp, weight: i64, busy: bool| {
        for scope in std::iter::once(None).chain(queues.iter().map(|q| Some(*q))) {
            let entry = slots.entry((scope, ch)).or_default();
            for (i, win) in Window::ALL.iter().enumerate() {
                let ms = ms_between(since.max(w.start(*win)), now) * weight;
                match busy {
                    true => entry[i].slots_busy_ms += ms,
                    false => entry[i].slots_staffed_ms += ms,
                }
            }
        }
    };
    for agent in working(agg) {
        for (ch, n) in &agent.capacity {
            add(&agent.queues, *ch, agent.since, i64::from(*n), false);
        }
        for (q, ch, answered) in agent.slots_held_after_end() {
            add(q.as_slice(), ch, answered, 1, true);
        }
    }
    // Agents not working may still hold slots after a contact's end.
    for agent in agg.agents.values().filter(|a| !WORKING.contains(&a.state)) {
        for (q, ch, answered) in agent.slots_held_after_end() {
            add(q.as_slice(), ch, answered, 1, true);
        }
    }
    for c in agg.contacts.values() {
        if let (crate::aggregator::Phase::Answered, true, Some(answered)) =
            (c.phase, c.slots > 0, c.answered_at)
        {
            add(c.queue.as_slice(), c.channel, answered, 1, true);
        }
    }
    slots
}

/// Adds to a scope's counts in `win` (`scope`: a queue, or the totals)
/// the slot time running on `channel`, or on every channel for `None`.
fn add_running_slots(
    c: &mut Counters,
    slots: &RunningSlots,
    scope: Option<usize>,
    channel: Option<Channel>,
    win: Window,
) {
    let i = Window::ALL.iter().position(|w| *w == win).unwrap_or(0);
    for ((s, ch), running) in slots {
        if *s == scope && channel.is_none_or(|wanted| wanted == *ch) {
            c.slots_staffed_ms += running[i].slots_staffed_ms;
            c.slots_busy_ms += running[i].slots_busy_ms;
        }
    }
}

/// Counts complaints still open, and those past due (into each window
/// whose span holds the due time).
fn add_overdue_complaints(
    agg: &Aggregator,
    w: &Windows,
    now: Timestamp,
    totals: &mut [Counters; 3],
    queues: &mut [[Counters; 3]],
) -> ComplaintsBoard {
    let mut complaints = ComplaintsBoard::default();
    for k in agg.complaints.values().filter(|k| k.answered.is_none()) {
        complaints.open += 1;
        if k.due > now {
            continue;
        }
        complaints.overdue += 1;
        for (i, win) in Window::ALL.iter().enumerate() {
            if w.contains(*win, k.due) {
                totals[i].complaints_overdue += 1;
                if let Some(q) = k.queue {
                    queues[q][i].complaints_overdue += 1;
                }
            }
        }
    }
    complaints
}

/// Computes the whole board at `now`.
pub fn board(agg: &Aggregator, now: Timestamp, seq: u64) -> Board {
    let config = agg.config();
    let w = Windows::new(agg, now);

    // Stored counts, per window, for the totals and each queue.
    let mut totals: [Counters; 3] = Window::ALL.map(|win| w.counters(&agg.totals, win));
    let mut queues: Vec<[Counters; 3]> = agg
        .queues
        .iter()
        .map(|q| Window::ALL.map(|win| w.counters(&q.buckets, win)))
        .collect();

    add_running_agent_time(agg, &w, now, &mut totals, &mut queues);
    let slots = running_slots(agg, &w, now);
    let complaints = add_overdue_complaints(agg, &w, now, &mut totals, &mut queues);

    let band = config.warn_band;
    let board_queues = agg
        .queues
        .iter()
        .zip(&queues)
        .enumerate()
        .map(|(i, (q, counters))| {
            // The plain way: every agent looked at.
            let staffed = agg
                .agents
                .values()
                .filter(|a| WORKING.contains(&a.state) && a.queues.contains(&i))
                .count() as u64;
            let channels = by_channel(&q.buckets, |ch, b, win| {
                let mut c = w.counters(b, win);
                add_running_slots(&mut c, &slots, Some(i), ch, win);
                c
            });
            let counts = QueueCounts::of(agg, q, counters.clone(), &w, staffed, channels);
            (q.id.clone(), queue_row(config, &counts))
        })
        .collect();

    let mut agent_states: BTreeMap<AgentState, u64> =
        AgentState::ALL.iter().map(|s| (*s, 0)).collect();
    let agents = agg
        .agents
        .iter()
        .map(|(id, a)| {
            *agent_states.entry(a.state).or_default() += 1;
            (id.clone(), agent_board(agg, a))
        })
        .collect();

    let trend = trend(agg, now);

    Board {
        trend,
        generated_at: now,
        seq,
        timezone: config.timezone_name.clone(),
        totals: window_map(&totals, |c| totals_kpis(config, c)),
        channels: channel_map(
            &by_channel(&agg.totals, |ch, b, win| {
                let mut c = w.counters(b, win);
                add_running_slots(&mut c, &slots, None, ch, win);
                c
            }),
            |c| {
                scope_kpis(
                    config,
                    c,
                    &config.targets,
                    false,
                    config.service_level_definition,
                )
            },
        ),
        queues: board_queues,
        agents,
        agent_states,
        complaints,
        same_time_yesterday: w.yesterday(&agg.totals).map(|c| totals_kpis(config, &c)),
        sources: agg.sources.clone(),
        messages: agg.admin().messages_shown_at(now),
        layouts: agg.admin().layouts.clone(),
        warn_band: band,
        cluster: agg.log.clone(),
    }
}

/// The parts of the board that changed since the last read, computed from
/// the aggregator's maintained aggregates (running sums, running-time and
/// due indexes): the work is proportional to what changed, not to the
/// floor. [`board`] computes the same figures the plain way (the oracle).
#[derive(Debug, Clone)]
pub struct BoardChanges {
    pub at: Timestamp,
    pub seq: u64,
    pub timezone: String,
    pub totals: BTreeMap<Window, Kpis>,
    pub channels: BTreeMap<Channel, BTreeMap<Window, Kpis>>,
    pub trend: BTreeMap<String, Vec<Option<f64>>>,
    pub complaints: ComplaintsBoard,
    pub same_time_yesterday: Option<Kpis>,
    pub sources: BTreeMap<String, SourceBoard>,
    pub warn_band: f64,
    pub cluster: Option<wallboard_protocol::ClusterBoard>,
    /// The broadcast messages up at `at`, and the saved layouts (a few:
    /// read whole each step, like the totals).
    pub messages: Vec<wallboard_protocol::Message>,
    pub layouts: BTreeMap<String, wallboard_protocol::Layout>,
    /// Queues whose row may have changed, with their row now.
    pub queues: Vec<(String, QueueBoard)>,
    /// Agents whose entry may have changed, with their entry now (`None`: gone).
    pub agents: Vec<(String, Option<AgentBoard>)>,
    /// `agents` lists every agent: any other agent is gone.
    pub all_agents: bool,
    /// `queues` lists every queue: any other queue is gone.
    pub all_queues: bool,
}

/// A queue's figures read under the core lock; its row is built from
/// them after the lock is let go.
#[derive(Debug, Clone)]
pub struct QueueCounts {
    pub id: String,
    pub vip: bool,
    pub waiting: u64,
    pub longest_wait_since: Option<Timestamp>,
    pub counters: [Counters; 3],
    /// By channel, once one besides voice has been counted.
    pub channels: Vec<(Channel, [Counters; 3])>,
    pub callbacks_pending: u64,
    /// Agents serving it in a working state (available, on a contact, wrap-up).
    pub staffed: u64,
    /// What the current 30-minute interval holds so far, and when it ends.
    pub interval: Counters,
    pub interval_end: Timestamp,
    pub at: Timestamp,
}

impl QueueCounts {
    fn of(
        agg: &Aggregator,
        q: &QueueState,
        counters: [Counters; 3],
        w: &Windows,
        staffed: u64,
        channels: Vec<(Channel, [Counters; 3])>,
    ) -> QueueCounts {
        let (from, interval_end) = w.interval();
        QueueCounts {
            id: q.id.clone(),
            vip: agg.queue_is_vip(q),
            waiting: q.waiting.len() as u64,
            longest_wait_since: q.waiting.first().map(|(since, _)| *since),
            counters,
            channels,
            callbacks_pending: q.callbacks.len() as u64,
            staffed,
            interval: q.buckets.span(from, i64::MAX),
            interval_end,
            at: w.now,
        }
    }
}

/// What changed, as counts: the part of a step done under the core lock
/// ([`read_changes`]); [`ChangedCounts::board`] applies the formulas after.
#[derive(Debug)]
pub struct ChangedCounts {
    config: Arc<Config>,
    at: Timestamp,
    seq: u64,
    totals: [Counters; 3],
    channels: Vec<(Channel, [Counters; 3])>,
    trend: Vec<Counters>,
    complaints: ComplaintsBoard,
    yesterday: Option<Counters>,
    sources: BTreeMap<String, SourceBoard>,
    cluster: Option<wallboard_protocol::ClusterBoard>,
    messages: Vec<wallboard_protocol::Message>,
    layouts: BTreeMap<String, wallboard_protocol::Layout>,
    queues: Vec<QueueCounts>,
    agents: Vec<(String, Option<AgentBoard>)>,
    all_agents: bool,
    all_queues: bool,
}

/// Reads what changed since the last call, at `at` (the board's clock:
/// a whole second): counts only, from the maintained aggregates. Totals,
/// trend and complaints every time (a few scopes); queues and agents only
/// where they changed.
pub fn read_changes(agg: &mut Aggregator, at: Timestamp, seq: u64) -> ChangedCounts {
    let changed = agg.take_changes(at);
    let w = Windows::new(agg, at);
    let yesterday = some_counts(agg.totals_span(w.yesterday.0, w.yesterday.1));
    let agg = &*agg;
    let queues = changed
        .queues
        .iter()
        .map(|&q| {
            let queue = &agg.queues[q];
            let counters = Window::ALL.map(|win| live_counters(&queue.buckets, &w, win));
            let staffed = queue.buckets.running.iter().map(|i| i.len()).sum();
            let channels = by_channel(&queue.buckets, |_, b, win| live_counters(b, &w, win));
            QueueCounts::of(agg, queue, counters, &w, staffed, channels)
        })
        .collect();
    let agents = changed
        .agents
        .into_iter()
        .map(|id| {
            let board = agg.agents.get(&id).map(|a| agent_board(agg, a));
            (id, board)
        })
        .collect();
    let now_ms = at.as_millisecond();
    ChangedCounts {
        config: agg.shared_config(),
        at,
        seq,
        totals: Window::ALL.map(|win| live_counters(&agg.totals, &w, win)),
        channels: by_channel(&agg.totals, |_, b, win| live_counters(b, &w, win)),
        trend: live_trend(agg, at),
        complaints: ComplaintsBoard {
            open: agg.totals.dues.open(),
            overdue: agg.totals.dues.due_between(i64::MIN, now_ms),
        },
        yesterday,
        sources: agg.sources.clone(),
        cluster: agg.log.clone(),
        messages: agg.admin().messages_shown_at(at),
        layouts: agg.admin().layouts.clone(),
        queues,
        agents,
        all_agents: changed.all_agents,
        all_queues: changed.all_queues,
    }
}

impl ChangedCounts {
    /// The changed parts of the board, by the formulas.
    pub fn board(self) -> BoardChanges {
        let config = &*self.config;
        let band = config.warn_band;
        BoardChanges {
            at: self.at,
            seq: self.seq,
            timezone: config.timezone_name.clone(),
            totals: window_map(&self.totals, |c| totals_kpis(config, c)),
            channels: channel_map(&self.channels, |c| {
                scope_kpis(
                    config,
                    c,
                    &config.targets,
                    false,
                    config.service_level_definition,
                )
            }),
            trend: trend_of(config, &self.trend),
            complaints: self.complaints,
            same_time_yesterday: self.yesterday.map(|c| totals_kpis(config, &c)),
            sources: self.sources,
            warn_band: band,
            cluster: self.cluster,
            messages: self.messages,
            layouts: self.layouts,
            queues: self
                .queues
                .iter()
                .map(|q| (q.id.clone(), queue_row(config, q)))
                .collect(),
            agents: self.agents,
            all_agents: self.all_agents,
            all_queues: self.all_queues,
        }
    }
}

/// [`read_changes`] and the formulas at once (tests; the step splits them
/// around the lock).
pub fn changes(agg: &mut Aggregator, at: Timestamp, seq: u64) -> BoardChanges {
    read_changes(agg, at, seq).board()
}

/// One scope's counts in one window at `w.now`, from the maintained
/// aggregates: stored counts (the day, or the rolling running sum), the
/// working agents' time still running, the open complaints past due.
fn live_counters(b: &Buckets, w: &Windows, win: Window) -> Counters {
    let mut c = match win.minutes() {
        None => b.days.get(&w.today).cloned().unwrap_or_default(),
        Some(len) => b.rolling_sum(len),
    };
    let (from, to) = (w.start(win).as_millisecond(), w.now.as_millisecond());
    for (state, index) in WORKING.iter().zip(&b.running) {
        c.add_agent_time(*state, index.running_ms(from, to));
    }
    c.slots_staffed_ms += b.slots_staffed.running_ms(from, to);
    c.slots_busy_ms += b.slots_busy.running_ms(from, to);
    c.complaints_overdue += b.dues.due_between(from, to);
    c
}

/// [`trend`]'s counts from the maintained aggregates of the totals.
fn live_trend(agg: &Aggregator, now: Timestamp) -> Vec<Counters> {
    let now_ms = now.as_millisecond();
    trend_slices(now)
        .into_iter()
        .map(|(from, to)| {
            let mut c = agg.totals.span(from, to);
            let (from_ms, to_ms) = (from * 60_000, to * 60_000);
            for (state, index) in WORKING.iter().zip(&agg.totals.running) {
                c.add_agent_time(*state, index.running_ms(from_ms, now_ms.min(to_ms)));
            }
            c.complaints_overdue += agg.totals.dues.due_between(from_ms, now_ms.min(to_ms - 1));
            c
        })
        .collect()
}

/// A queue's row of the board, from its counts in each window.
fn queue_row(config: &Config, q: &QueueCounts) -> QueueBoard {
    let vip = q.vip;
    let targets = config.targets(&q.id);
    let qc = config.queues.get(&q.id);
    let mut names = BTreeMap::new();
    if let Some(zh) = qc.and_then(|c| c.name_zh.clone()) {
        names.insert("zh".to_string(), zh);
    }
    if let Some(en) = qc.and_then(|c| c.name_en.clone()) {
        names.insert("en".to_string(), en);
    }
    let name = names
        .get("en")
        .or(names.get("zh"))
        .cloned()
        .unwrap_or_else(|| q.id.clone());
    let band = config.warn_band;
    let definition = config.service_level_definition(&q.id);
    QueueBoard {
        name,
        names,
        vip,
        waiting: q.waiting,
        longest_wait_since: q.longest_wait_since,
        windows: window_map(&q.counters, |c| {
            kpis(c, targets, vip, band, false, definition)
        }),
        channels: channel_map(&q.channels, |c| {
            scope_kpis(config, c, targets, vip, definition)
        }),
        callbacks_pending: q.callbacks_pending,
        forecast: Some(queue_forecast(config, q, definition)),
        position: qc.map(|c| c.position),
    }
}

/// The 15-minute window's span, in seconds, that rates are taken over.
const RATE_SPAN_SECONDS: f64 = 900.0;

/// A queue's forward look (DESIGN.md "Foresight"), from its 15-minute
/// counts, its staffing and its current interval so far.
fn queue_forecast(
    config: &Config,
    q: &QueueCounts,
    definition: ServiceLevelDefinition,
) -> Forecast {
    let recent = &q.counters[Window::ALL
        .iter()
        .position(|w| *w == Window::Min15)
        .unwrap_or(1)];
    let rate_per_second = recent.offered as f64 / RATE_SPAN_SECONDS;
    let aht = value(KpiKey::AhtSeconds, recent, definition);
    let load = (recent.offered > 0)
        .then_some(())
        .and(aht)
        .map(|aht| rate_per_second * aht);
    let threshold = config.service_level_threshold(&q.id).as_secs_f64();
    let target = config.targets(&q.id).get(KpiKey::ServiceLevel, q.vip);
    let agents_needed = match (load, aht, target) {
        (Some(a), Some(aht), Some(target)) => forecast::agents_needed(a, threshold, aht, target),
        _ => None,
    };
    let wait_probability = load.and_then(|a| forecast::wait_probability(q.staffed, a));
    let seconds_left = ms_between(q.at, q.interval_end) as f64 / 1000.0;
    let expected = rate_per_second * seconds_left;
    let sl_staffed = match (load, aht) {
        (Some(a), Some(aht)) => Some(forecast::service_level(q.staffed, a, threshold, aht)),
        _ => None,
    };
    Forecast {
        arrival_rate_per_hour: recent.offered as f64 * 3600.0 / RATE_SPAN_SECONDS,
        aht_seconds: aht,
        load_erlangs: load,
        agents_staffed: q.staffed,
        agents_needed,
        wait_probability,
        estimated_wait_seconds: forecast::estimated_wait(
            q.waiting,
            recent.answered,
            RATE_SPAN_SECONDS,
        ),
        service_level_projected: forecast::projected(
            service_level_parts(definition, &q.interval),
            expected,
            sl_staffed,
        ),
        interval_end: q.interval_end,
    }
}

fn some_counts(c: Counters) -> Option<Counters> {
    (c != Counters::default()).then_some(c)
}

/// A scope's counts by channel in each window, when it has counted a
/// channel besides voice (else none: a voice-only floor's board does not
/// carry its figures twice). Only the other channels are kept apart;
/// voice is what the scope counted less them, contacts only.
/// A scope's counts by channel, from `counters` of its own buckets (the
/// channel `None`) and of each channel's besides voice (voice is the rest).
fn by_channel(
    b: &Buckets,
    counters: impl Fn(Option<Channel>, &Buckets, Window) -> Counters,
) -> Vec<(Channel, [Counters; 3])> {
    if b.channels.is_empty() {
        return Vec::new();
    }
    let others: Vec<(Channel, [Counters; 3])> = b
        .channels
        .iter()
        .map(|(ch, sub)| {
            (
                *ch,
                Window::ALL.map(|win| contacts_only(&counters(Some(*ch), sub, win))),
            )
        })
        .collect();
    let voice = std::array::from_fn(|i| {
        let mut v = contacts_only(&counters(None, b, Window::ALL[i]));
        for (_, c) in &others {
            v.sub(&c[i]);
        }
        v
    });
    std::iter::once((Channel::Voice, voice))
        .chain(others)
        .map(|(ch, counters)| (ch, counters.map(|c| slot_occupancy(&c))))
        .collect()
}

/// The contact counts and slot time of `c` (arrivals, agent states and
/// complaints are not split by channel).
fn contacts_only(c: &Counters) -> Counters {
    Counters {
        arrived: 0,
        blocked: 0,
        complaints_opened: 0,
        complaints_on_time: 0,
        complaints_overdue: 0,
        available_ms: 0,
        on_contact_ms: 0,
        wrap_up_ms: 0,
        ..c.clone()
    }
}

/// A channel's counts with its slot time as the agent time occupancy
/// reads: slots in use ÷ slots staffed (in use counted at most to what
/// was staffed, since a contact may hold its slot while its agent is away).
fn slot_occupancy(c: &Counters) -> Counters {
    let staffed = c.slots_staffed_ms.max(0);
    let busy = c.slots_busy_ms.clamp(0, staffed);
    Counters {
        on_contact_ms: busy,
        available_ms: staffed - busy,
        ..c.clone()
    }
}

fn channel_map(
    channels: &[(Channel, [Counters; 3])],
    f: impl Fn(&Counters) -> Kpis,
) -> BTreeMap<Channel, BTreeMap<Window, Kpis>> {
    channels
        .iter()
        .map(|(ch, counters)| (*ch, window_map(counters, &f)))
        .collect()
}

/// A channel's KPIs (a queue's, or the totals' without the totals-only
/// ones: arrivals carry no channel).
fn scope_kpis(
    config: &Config,
    c: &Counters,
    targets: &Targets,
    vip: bool,
    definition: ServiceLevelDefinition,
) -> Kpis {
    kpis(c, targets, vip, config.warn_band, false, definition)
}

/// The totals' KPIs: every queue's counts, the service level by the
/// config's own definition.
fn totals_kpis(config: &Config, c: &Counters) -> Kpis {
    kpis(
        c,
        &config.targets,
        false,
        config.warn_band,
        true,
        config.service_level_definition,
    )
}

fn agent_board(agg: &Aggregator, a: &Agent) -> AgentBoard {
    AgentBoard {
        name: a.name.clone(),
        state: a.state,
        reason: a.reason.clone(),
        since: a.since,
        contact: a.contact.clone(),
        queue: a.contact_queue.map(|q| agg.queues[q].id.clone()),
        queues: a.queues.iter().map(|&q| agg.queues[q].id.clone()).collect(),
        limit_seconds: agg
            .config()
            .state_limits
            .of(a.state, a.reason.as_deref())
            .map(|d| d.as_secs().unsigned_abs()),
        slots: a
            .capacity
            .iter()
            .map(|(ch, capacity)| {
                let in_use = a.in_use.get(ch).copied().unwrap_or(0);
                (
                    *ch,
                    Slots {
                        capacity: *capacity,
                        in_use,
                    },
                )
            })
            .collect(),
    }
}

/// Agents whose current state still runs toward occupancy (not aux, not
/// offline): their time up to `now` is added when a board is computed.
fn working(agg: &Aggregator) -> impl Iterator<Item = &Agent> {
    agg.agents
        .values()
        .filter(|a| !matches!(a.state, AgentState::Aux | AgentState::Offline))
}

/// Slices of the trend, and their length in minutes.
pub const TREND_SLICES: i64 = 12;
pub const TREND_SLICE_MINUTES: i64 = 5;

/// The totals' KPIs over the last hour, slice by slice, oldest first.
fn trend(agg: &Aggregator, now: Timestamp) -> BTreeMap<String, Vec<Option<f64>>> {
    let slices = trend_slices(now);
    let at = |minute: i64| Timestamp::from_millisecond(minute * 60_000).unwrap_or(now);
    let mut counters: Vec<Counters> = slices
        .iter()
        .map(|&(from, to)| agg.totals.span(from, to))
        .collect();
    for agent in working(agg) {
        for (c, &(from, to)) in counters.iter_mut().zip(&slices) {
            let ms = ms_between(agent.since.max(at(from)), now.min(at(to)));
            c.add_agent_time(agent.state, ms);
        }
    }
    for k in agg
        .complaints
        .values()
        .filter(|k| k.answered.is_none() && k.due <= now)
    {
        let minute = minute_of(k.due);
        if let Some(c) = slices
            .iter()
            .position(|&(from, to)| from <= minute && minute < to)
            .map(|i| &mut counters[i])
        {
            c.complaints_overdue += 1;
        }
    }
    trend_of(agg.config(), &counters)
}

/// The trend's slices at `now`: (first minute, end minute), oldest first.
fn trend_slices(now: Timestamp) -> Vec<(i64, i64)> {
    let last = minute_of(now) - minute_of(now).rem_euclid(TREND_SLICE_MINUTES);
    (0..TREND_SLICES)
        .rev()
        .map(|k| {
            let from = last - k * TREND_SLICE_MINUTES;
            (from, from + TREND_SLICE_MINUTES)
        })
        .collect()
}

/// The trend from each slice's counts.
fn trend_of(config: &Config, counters: &[Counters]) -> BTreeMap<String, Vec<Option<f64>>> {
    let slice_kpis: Vec<Kpis> = counters.iter().map(|c| totals_kpis(config, c)).collect();
    KpiKey::ALL
        .iter()
        .map(|key| {
            let values = slice_kpis
                .iter()
                .map(|k| k.get(*key).and_then(|k| k.value))
                .collect();
            (key.as_str().to_string(), values)
        })
        .collect()
}

fn window_map(counters: &[Counters; 3], f: impl Fn(&Counters) -> Kpis) -> BTreeMap<Window, Kpis> {
    Window::ALL
        .iter()
        .zip(counters)
        .map(|(win, c)| (*win, f(c)))
        .collect()
}

/// Every KPI of one scope in one window, from its counts. `totals` adds the
/// KPIs the registry keeps to the totals (arrivals have no queue).
pub fn kpis(
    c: &Counters,
    targets: &Targets,
    vip: bool,
    band: f64,
    totals: bool,
    definition: ServiceLevelDefinition,
) -> Kpis {
    let mut values = KpiValues::default();
    for spec in &REGISTRY {
        if spec.scope == Scope::TotalsOnly && !totals {
            continue;
        }
        let value = value(spec.key, c, definition);
        let target = targets.get(spec.key, vip);
        let status = status(spec.direction, value, target, band);
        values.set(
            spec.key,
            Kpi {
                value,
                target,
                status,
                definition: (spec.key == KpiKey::ServiceLevel).then_some(definition),
            },
        );
    }
    Kpis {
        values,
        arrived: totals.then_some(c.arrived),
        blocked: totals.then_some(c.blocked),
        offered: c.offered,
        answered: c.answered,
        answered_in_sl: c.answered_in_sl,
        abandoned: c.abandoned,
        short_abandoned: c.short_abandoned,
        handled: c.handled,
        surveys: c.surveys,
        dispositions: c.dispositions,
        resolved: c.resolved,
        complaints_on_time: c.complaints_on_time,
        complaints_overdue: c.complaints_overdue,
        abandoned_in_sl: c.abandoned_in_sl,
        callbacks: c.callbacks,
        callbacks_in_sl: c.callbacks_in_sl,
        callbacks_answered: c.callbacks_answered,
    }
}

/// `service_level`'s (in threshold, denominator) under `definition`
/// (DESIGN.md "Definitions"); short abandons are out of `abandoned` already.
pub fn service_level_parts(definition: ServiceLevelDefinition, c: &Counters) -> (u64, u64) {
    use ServiceLevelDefinition::*;
    match definition {
        Hotline => (c.answered_in_sl, c.answered + c.abandoned),
        AnsweredOnly => (c.answered_in_sl, c.answered),
        AbandonsInThresholdMet => (
            c.answered_in_sl + c.abandoned_in_sl,
            c.answered + c.abandoned,
        ),
        Connect => (
            c.answered_in_sl + c.abandoned_in_sl + c.callbacks_in_sl,
            c.answered + c.abandoned + c.callbacks,
        ),
    }
}

/// Each KPI's formula (DESIGN.md "The KPIs"), reading only the counters
/// its registry row lists as inputs (`service_level`: its definition's).
/// `None` when the denominator is empty.
pub fn value(key: KpiKey, c: &Counters, definition: ServiceLevelDefinition) -> Option<f64> {
    // Answered + abandoned: short abandons are already out of `abandoned`.
    let outcomes = c.answered + c.abandoned;
    match key {
        KpiKey::SystemConnectRate => ratio((c.arrived - c.blocked) as f64, c.arrived),
        KpiKey::AgentConnectRate => ratio(c.answered as f64, outcomes),
        KpiKey::Fcr => ratio(c.resolved as f64, c.dispositions),
        KpiKey::Satisfaction => ratio(c.survey_points, c.surveys),
        KpiKey::ComplaintResponseRate => ratio(
            c.complaints_on_time as f64,
            c.complaints_on_time + c.complaints_overdue,
        ),
        KpiKey::ServiceLevel => {
            let (in_threshold, denominator) = service_level_parts(definition, c);
            ratio(in_threshold as f64, denominator)
        }
        KpiKey::AbandonRate => ratio(c.abandoned as f64, outcomes),
        KpiKey::AsaSeconds => ratio(c.wait_ms as f64 / 1000.0, c.answered),
        KpiKey::AhtSeconds => ratio(c.handle_ms as f64 / 1000.0, c.handled),
        KpiKey::Occupancy => {
            let occupied_ms = c.on_contact_ms + c.wrap_up_ms;
            ratio(
                occupied_ms as f64,
                (occupied_ms + c.available_ms).max(0) as u64,
            )
        }
    }
}

fn ratio(numerator: f64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

pub use wallboard_protocol::kpis::status;

#[cfg(test)]
#[path = "kpi_tests.rs"]
mod tests;
