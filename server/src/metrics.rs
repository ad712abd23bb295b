//! Prometheus metrics (DESIGN.md "Prometheus names"): `/metrics`.
//!
//! Two sources, one exposition:
//! - observations made as events are applied (waits, handle times, survey
//!   points) and tick durations go to a `metrics` recorder of this server
//!   (metrics-exporter-prometheus), which keeps the histograms;
//! - everything else is read at scrape time from what the server already
//!   holds — the aggregate's lifetime counters, the board (KPIs and their
//!   targets, queues, agents), the ingest and stream counts — so a scrape
//!   equals the board at that instant, and no number is kept twice.
//!
//! Labels are bounded: `queue`, `state`, `kpi`, `window`, `result`,
//! `resolved`, `on_time`, `view`, `reason`; never an agent or contact id.
//! A `null` KPI or target is an absent series, never NaN.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use wallboard_protocol::{AgentState, Board, KpiKey};

use crate::aggregator::{Aggregator, Counters};
use crate::stream::StreamCounts;

/// What ingest did with events, by result.
#[derive(Debug, Default)]
pub struct IngestCounts {
    pub accepted: AtomicU64,
    pub duplicate: AtomicU64,
    pub rejected: AtomicU64,
    /// The longest the core lock was held since start, in nanoseconds.
    pub lock_hold_max_ns: AtomicU64,
    /// What the journal's replay skipped: damaged byte ranges, and records
    /// this version cannot read.
    pub journal_damaged: AtomicU64,
    pub journal_unreadable: AtomicU64,
    /// Live settings changes this server took (patches and reloads).
    pub settings_changes: AtomicU64,
}

/// Everything one scrape shows, read together (`tick::Stepper::scrape`).
pub struct Scrape<'a> {
    pub lifetime: &'a Lifetime,
    /// The board's families ([`render_board`]), written from the board
    /// the lifetime counts were read with.
    pub board: &'a str,
    pub now: Timestamp,
    pub stream: &'a StreamCounts,
    /// Set on a node of a cluster.
    pub cluster: Option<&'a ClusterCounts<'a>>,
}

/// One server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub ingest: IngestCounts,
}

const WAIT_BUCKETS: [f64; 10] = [
    5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0,
];
const HANDLE_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 900.0, 1800.0,
];
const POINT_BUCKETS: [f64; 6] = [20.0, 40.0, 60.0, 80.0, 90.0, 100.0];
const TIME_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let builder = [
            ("wallboard_wait_seconds", &WAIT_BUCKETS[..]),
            ("wallboard_handle_seconds", &HANDLE_BUCKETS[..]),
            ("wallboard_survey_points", &POINT_BUCKETS[..]),
            ("wallboard_tick_seconds", &TIME_BUCKETS[..]),
            ("wallboard_journal_fsync_seconds", &TIME_BUCKETS[..]),
            ("wallboard_lock_hold_seconds", &TIME_BUCKETS[..]),
            ("wallboard_journal_write_seconds", &TIME_BUCKETS[..]),
        ]
        .into_iter()
        .fold(PrometheusBuilder::new(), |b, (name, buckets)| {
            b.set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                .expect("bucket lists are not empty")
        });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            recorder,
            handle,
            ingest: IngestCounts::default(),
        };
        metrics.record(|| {
            use metrics::{Unit, describe_histogram};
            describe_histogram!(
                "wallboard_wait_seconds",
                Unit::Seconds,
                "Time contacts waited in queue before they were answered."
            );
            describe_histogram!(
                "wallboard_handle_seconds",
                Unit::Seconds,
                "Handle time of contacts (talk, hold and wrap-up)."
            );
            describe_histogram!(
                "wallboard_survey_points",
                "Satisfaction survey scores, in points out of 100."
            );
            describe_histogram!(
                "wallboard_tick_seconds",
                Unit::Seconds,
                "Time to compute, diff and publish the boards of one tick."
            );
            describe_histogram!(
                "wallboard_journal_fsync_seconds",
                Unit::Seconds,
                "Time of one journal fsync (group commit)."
            );
            describe_histogram!(
                "wallboard_journal_write_seconds",
                Unit::Seconds,
                "Time of one batch's write to the journal (under the ingest lock; the fsync is not)."
            );
            describe_histogram!(
                "wallboard_lock_hold_seconds",
                Unit::Seconds,
                "How long the ingest (core) lock was held, by holder: batch, step, read, metrics, prune, source."
            );
        });
        metrics
    }

    /// Drains the histograms' pending samples into their buckets (else they
    /// pile up until the next scrape, or forever without one).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// Runs `f` with this server's recorder installed, so the `metrics`
    /// macros inside it (the aggregator's observations, the tick's timing)
    /// land here.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        let Scrape {
            lifetime: agg,
            board,
            now,
            stream,
            cluster,
        } = *scrape;
        let mut out = Text::default();
        contacts(&mut out, agg);
        out.0.push_str(board);
        self_metrics(&mut out, &self.ingest, agg, now, stream);
        let histograms = self.handle.render();
        out.0.push_str(&histograms);
        // Families nothing has observed yet are still listed, empty, so
        // that dashboards and rules find them from the first scrape.
        for (name, help, buckets) in [
            (
                "wallboard_journal_fsync_seconds",
                "Time of one journal fsync (group commit).",
                &TIME_BUCKETS[..],
            ),
            (
                "wallboard_tick_seconds",
                "Time to compute, diff and publish the boards of one tick.",
                &TIME_BUCKETS[..],
            ),
            (
                "wallboard_journal_write_seconds",
                "Time of one batch's write to the journal (under the ingest lock; the fsync is not).",
                &TIME_BUCKETS[..],
            ),
        ] {
            if !histograms.contains(&format!("{name}_count")) {
                out.family(name, "histogram", help);
                for le in buckets {
                    out.sample(&format!("{name}_bucket"), &[("le", &le.to_string())], 0.0);
                }
                out.sample(&format!("{name}_bucket"), &[("le", "+Inf")], 0.0);
                out.sample(&format!("{name}_sum"), &[], 0.0);
                out.sample(&format!("{name}_count"), &[], 0.0);
            }
        }
        if let Some(cluster) = cluster {
            out.0.push_str(&render_cluster(cluster));
        }
        out.0
    }
}

#[derive(Default)]
struct Text(String);

/// What a node of a cluster reports (`[cluster]`); `/metrics` appends it.
pub struct ClusterCounts<'a> {
    pub node: &'a str,
    pub applied: u64,
    pub head: u64,
    pub publish_retries: u64,
    pub unreadable: u64,
    pub diverged: bool,
    pub nats_connected: bool,
}

/// The cluster families, in the exposition format.
fn render_cluster(c: &ClusterCounts<'_>) -> String {
    let mut out = Text::default();
    let node = [("node", c.node)];
    for (name, kind, help, value) in [
        (
            "wallboard_cluster_applied_sequence",
            "gauge",
            "The last stream sequence this node applied.",
            c.applied as f64,
        ),
        (
            "wallboard_cluster_lag_events",
            "gauge",
            "Stream messages this node has not applied yet (the stream's last sequence as last seen, minus the applied one).",
            c.head.saturating_sub(c.applied) as f64,
        ),
        (
            "wallboard_cluster_publish_retries_total",
            "counter",
            "Publishes of a batch to the stream retried (same message id) after an error or a missing acknowledgement.",
            c.publish_retries as f64,
        ),
        (
            "wallboard_cluster_unreadable_messages_total",
            "counter",
            "Stream messages (or events in them) this version could not read and applied as nothing.",
            c.unreadable as f64,
        ),
        (
            "wallboard_cluster_diverged",
            "gauge",
            "1 if another node published a different state hash for a sequence this node applied, else 0.",
            f64::from(u8::from(c.diverged)),
        ),
        (
            "wallboard_cluster_nats_connected",
            "gauge",
            "1 while this node is connected to a NATS server, else 0.",
            f64::from(u8::from(c.nats_connected)),
        ),
    ] {
        out.family(name, kind, help);
        out.sample(name, &node, value);
    }
    out.0
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// What a scrape reads of the aggregate, copied under the core lock so the
/// rendering (tens of thousands of lines on a big floor) runs outside it.
pub struct Lifetime {
    /// Each queue's counts since the server started counting.
    pub queues: Vec<(String, Counters)>,
    pub totals: Counters,
    pub sources: std::collections::BTreeMap<String, wallboard_protocol::SourceBoard>,
    pub latest_ts: Option<Timestamp>,
}

impl Lifetime {
    pub fn of(agg: &Aggregator) -> Lifetime {
        Lifetime {
            queues: agg
                .queues
                .iter()
                .map(|q| (q.id.clone(), q.buckets.lifetime.clone()))
                .collect(),
            totals: agg.totals.lifetime.clone(),
            sources: agg.sources.clone(),
            latest_ts: agg.latest_ts,
        }
    }
}

/// A per-queue counter family: name, help, and how to read it.
type Family = (&'static str, &'static str, fn(&Counters) -> u64);

/// Contact and complaint counters: since the server started counting.
fn contacts(out: &mut Text, agg: &Lifetime) {
    let per_queue: [Family; 5] = [
        (
            "wallboard_contacts_offered_total",
            "Contacts offered to a queue.",
            |c| c.offered,
        ),
        (
            "wallboard_contacts_answered_total",
            "Contacts answered by an agent.",
            |c| c.answered,
        ),
        (
            "wallboard_contacts_abandoned_total",
            "Contacts abandoned while waiting (short abandons excluded, as in the KPIs).",
            |c| c.abandoned,
        ),
        (
            "wallboard_contacts_short_abandoned_total",
            "Contacts abandoned within the short-abandon threshold.",
            |c| c.short_abandoned,
        ),
        (
            "wallboard_contacts_callbacks_total",
            "Callers who left the queue asking to be called back (not abandons).",
            |c| c.callbacks,
        ),
    ];
    for (name, help, value) in per_queue {
        out.family(name, "counter", help);
        for (id, c) in &agg.queues {
            out.sample(name, &[("queue", id)], value(c) as f64);
        }
    }
    let name = "wallboard_contacts_ended_total";
    out.family(
        name,
        "counter",
        "Contacts ended with a disposition, by whether the issue was resolved.",
    );
    for (id, c) in &agg.queues {
        out.sample(
            name,
            &[("queue", id), ("resolved", "true")],
            c.resolved as f64,
        );
        let unresolved = c.dispositions.saturating_sub(c.resolved);
        out.sample(
            name,
            &[("queue", id), ("resolved", "false")],
            unresolved as f64,
        );
    }
    let t = &agg.totals;
    for (name, help, value) in [
        (
            "wallboard_contacts_arrived_total",
            "Contacts that reached the platform (blocked ones included).",
            t.arrived,
        ),
        (
            "wallboard_contacts_blocked_total",
            "Contacts blocked before reaching a queue (no trunk or capacity).",
            t.blocked,
        ),
        (
            "wallboard_complaints_opened_total",
            "Complaints opened.",
            t.complaints_opened,
        ),
    ] {
        out.single(name, "counter", help, value as f64);
    }
    let name = "wallboard_complaints_answered_total";
    out.family(name, "counter", "Complaints answered, by whether on time.");
    out.sample(name, &[("on_time", "true")], t.complaints_on_time as f64);
    out.sample(name, &[("on_time", "false")], t.complaints_overdue as f64);
}

/// The families read from the board (queues, agents, KPIs, sources), in
/// the exposition format.
pub fn render_board(board: &Board, now: Timestamp) -> String {
    let mut out = Text::default();
    board_gauges(&mut out, board, now);
    out.0
}

/// Gauges read off the board.
fn board_gauges(out: &mut Text, board: &Board, now: Timestamp) {
    out.single(
        "wallboard_messages_active",
        "gauge",
        "Broadcast messages on the screens now.",
        board.messages.len() as f64,
    );
    let name = "wallboard_queue_waiting";
    out.family(name, "gauge", "Contacts waiting in the queue now.");
    for (id, q) in &board.queues {
        out.sample(name, &[("queue", id)], q.waiting as f64);
    }
    let name = "wallboard_queue_oldest_wait_seconds";
    out.family(
        name,
        "gauge",
        "How long the longest-waiting contact of the queue has waited (0 when none waits).",
    );
    for (id, q) in &board.queues {
        let wait = q
            .longest_wait_since
            .map(|since| (now.as_millisecond() - since.as_millisecond()).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        out.sample(name, &[("queue", id)], wait);
    }
    let name = "wallboard_queue_callbacks_pending";
    out.family(
        name,
        "gauge",
        "Callbacks asked for in the queue and not yet made.",
    );
    for (id, q) in &board.queues {
        out.sample(name, &[("queue", id)], q.callbacks_pending as f64);
    }
    type Figure = fn(&wallboard_protocol::Forecast) -> Option<f64>;
    let forecasts: [(&str, &str, Figure); 4] = [
        (
            "wallboard_queue_agents_needed",
            "Agents the queue needs now to meet its service-level target, by Erlang C from the last 15 minutes (absent without load or handle time).",
            |f| f.agents_needed.map(|n| n as f64),
        ),
        (
            "wallboard_queue_agents_staffed",
            "Agents serving the queue who are available, on a contact or in wrap-up.",
            |f| Some(f.agents_staffed as f64),
        ),
        (
            "wallboard_queue_estimated_wait_seconds",
            "Estimated wait of a caller joining the queue now (absent without recent answers).",
            |f| f.estimated_wait_seconds,
        ),
        (
            "wallboard_queue_service_level_projected",
            "Service level the current 30-minute interval ends at if the rates hold, ratio 0-1.",
            |f| f.service_level_projected,
        ),
    ];
    for (name, help, figure) in forecasts {
        out.family(name, "gauge", help);
        for (id, q) in &board.queues {
            if let Some(v) = q.forecast.as_ref().and_then(figure) {
                out.sample(name, &[("queue", id)], v);
            }
        }
    }
    let name = "wallboard_agents";
    out.family(name, "gauge", "Agents in each state now.");
    for state in AgentState::ALL {
        let n = board.agent_states.get(state).copied().unwrap_or(0);
        out.sample(name, &[("state", state.as_str())], n as f64);
    }
    out.single(
        "wallboard_complaints_overdue",
        "gauge",
        "Open complaints past their due time.",
        board.complaints.overdue as f64,
    );

    let name = "wallboard_kpi";
    out.family(
        name,
        "gauge",
        "KPI values as on the board (ratios 0-1, seconds, satisfaction in points); queue=\"all\" for totals.",
    );
    let scopes = std::iter::once(("all", &board.totals))
        .chain(board.queues.iter().map(|(id, q)| (id.as_str(), &q.windows)));
    let mut targets: Vec<(String, &'static str, f64)> = Vec::new();
    for (queue, windows) in scopes {
        for (window, kpis) in windows {
            for key in KpiKey::ALL {
                let Some(kpi) = kpis.get(key) else { continue };
                if let Some(value) = kpi.value {
                    out.sample(
                        name,
                        &[
                            ("kpi", key.as_str()),
                            ("queue", queue),
                            ("window", window.as_str()),
                        ],
                        value,
                    );
                }
                if let Some(target) = kpi.target
                    && !targets
                        .iter()
                        .any(|(q, k, _)| q == queue && *k == key.as_str())
                {
                    targets.push((queue.to_string(), key.as_str(), target));
                }
            }
        }
    }
    let name = "wallboard_channel_kpi";
    out.family(
        name,
        "gauge",
        "The centre's KPI values by channel, as on the board, once a channel besides voice is counted (queues by channel are on the board: per queue they would multiply the series).",
    );
    let (queue, channels) = ("all", &board.channels);
    for (channel, windows) in channels {
        for (window, kpis) in windows {
            for (key, kpi) in kpis.values.iter() {
                if let Some(value) = kpi.value {
                    out.sample(
                        name,
                        &[
                            ("kpi", key.as_str()),
                            ("queue", queue),
                            ("channel", channel.as_str()),
                            ("window", window.as_str()),
                        ],
                        value,
                    );
                }
            }
        }
    }

    let name = "wallboard_kpi_target";
    out.family(
        name,
        "gauge",
        "KPI targets (VIP queues carry the VIP target); queue=\"all\" for totals.",
    );
    for (queue, kpi, target) in &targets {
        out.sample(name, &[("kpi", kpi), ("queue", queue)], *target);
    }
}

/// The server's own health.
fn self_metrics(
    out: &mut Text,
    ingest: &IngestCounts,
    agg: &Lifetime,
    now: Timestamp,
    stream: &StreamCounts,
) {
    let name = "wallboard_ingest_events_total";
    out.family(
        name,
        "counter",
        "Events received, by what ingest did with them.",
    );
    for (result, n) in [
        ("accepted", &ingest.accepted),
        ("duplicate", &ingest.duplicate),
        ("rejected", &ingest.rejected),
    ] {
        out.sample(
            name,
            &[("result", result)],
            n.load(Ordering::Relaxed) as f64,
        );
    }
    out.single(
        "wallboard_settings_changes_total",
        "counter",
        "Live settings changes this server took (PATCH /api/v1/settings, reloads of the config file).",
        ingest.settings_changes.load(Ordering::Relaxed) as f64,
    );
    out.single(
        "wallboard_journal_damaged_records_total",
        "counter",
        "Damaged byte ranges the journal's replay skipped (each copied to a .damaged file beside its segment).",
        ingest.journal_damaged.load(Ordering::Relaxed) as f64,
    );
    out.single(
        "wallboard_journal_unreadable_records_total",
        "counter",
        "Journal records with a valid checksum this version cannot read (kept on disk, skipped at replay).",
        ingest.journal_unreadable.load(Ordering::Relaxed) as f64,
    );
    out.single(
        "wallboard_lock_hold_max_seconds",
        "gauge",
        "The longest the ingest (core) lock was held since start (journal replay excluded); by holder: wallboard_lock_hold_seconds.",
        ingest.lock_hold_max_ns.load(Ordering::Relaxed) as f64 / 1e9,
    );
    let name = "wallboard_event_lag_seconds";
    out.family(
        name,
        "gauge",
        "The server's clock minus the time of the newest event applied (0 before any).",
    );
    let lag = agg
        .latest_ts
        .map(|ts| (now.as_millisecond() - ts.as_millisecond()) as f64 / 1000.0)
        .unwrap_or(0.0);
    out.sample(name, &[], lag);
    let name = "wallboard_source_up";
    out.family(
        name,
        "gauge",
        "1 while a telephony connection (Asterisk AMI…) is connected and synchronised, else 0.",
    );
    for (source, health) in &agg.sources {
        out.sample(name, &[("source", source)], f64::from(u8::from(health.up)));
    }
    let name = "wallboard_ws_sessions";
    out.family(name, "gauge", "WebSocket viewers connected now, by view.");
    for (view, n) in &stream.sessions {
        out.sample(name, &[("view", view)], *n as f64);
    }
    for (name, help, value) in [
        (
            "wallboard_ws_messages_sent_total",
            "WebSocket messages (snapshots and patches) written to viewers.",
            stream.messages_sent,
        ),
        (
            "wallboard_ws_resyncs_total",
            "Snapshots sent to viewers that fell too far behind.",
            stream.resyncs,
        ),
    ] {
        out.single(name, "counter", help, value as f64);
    }
    let name = "wallboard_ws_disconnects_total";
    out.family(
        name,
        "counter",
        "WebSocket sessions ended, by reason (slow: did not drain; dead: no pong; client: closed by the viewer).",
    );
    for (reason, n) in stream.disconnects {
        out.sample(name, &[("reason", reason)], n as f64);
    }
}
