//! The engine at scale: the release binary (simulator off) with floors of
//! 200 agents / 10 queues, 2,000 / 50 and 20,000 / 500 (the default
//! `max_agents` and `max_queues`, exactly), each driven at 500 and at 2,000
//! events a second by a generator of a valid contact-center mix, watched by
//! one floor viewer and 100 queue viewers.
//!
//! Each floor × rate is a fresh server:
//! 1. the floor is built: every agent `available` in one or two queues, in
//!    100-event NDJSON batches; the server's RSS with no viewer;
//! 2. the viewers connect (their first message, the snapshot, is measured)
//!    and apply snapshot + patches with `BoardClient`;
//! 3. the generator runs (batches every 10 ms): 3 s of warm-up, then the
//!    20 s load window — server CPU per event accepted, the tick histogram
//!    (`wallboard_tick_seconds`) before and after, and the latency from
//!    the POST of a probe (a `contact_offered` every 100 ms to a watched
//!    queue) to the first board, of the floor viewer and of that queue's
//!    viewers, whose `60m.offered` count for that queue includes it;
//! 4. still under load, ~20 `GET /api/v1/board` of the floor view and of a
//!    queue view (outside the CPU window: a floor GET of 20,000 agents
//!    would weigh on the CPU per event);
//! 5. the core lock's hold times in the load window, by holder (the
//!    difference of `wallboard_lock_hold_seconds{holder}`'s buckets: count,
//!    p99 and max as bucket bounds), the longest hold since the start
//!    (`wallboard_lock_hold_max_seconds`, the floor's build included) and
//!    the RSS at the end.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench_report::{lock_text, num, step_bound, step_text};
use crate::fanout::{cpu_seconds, rss_kb, scrape};

/// (agents, queues).
const FLOORS: [(usize, usize); 3] = [(200, 10), (2_000, 50), (20_000, 500)];
/// Events a second.
const RATES: [usize; 2] = [500, 2_000];
const QUEUE_VIEWERS: usize = 100;
const WARM_UP: Duration = Duration::from_secs(3);
const LOAD: Duration = Duration::from_secs(20);
/// The generator sends what is due every BATCH_EVERY.
const BATCH_EVERY: Duration = Duration::from_millis(10);
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// Agents per POST while the floor is built.
const BUILD_BATCH: usize = 100;
/// GETs of each view after the load window (the load going on).
const GETS: usize = 20;
const GET_WINDOW: Duration = Duration::from_secs(10);
const TICK_METRIC: &str = "wallboard_tick_seconds";
const LOCK_METRIC: &str = "wallboard_lock_hold_max_seconds";
/// The lock's hold times by holder (`holder` label).
const LOCK_HOLDS: &str = "wallboard_lock_hold_seconds";
/// A batch's write to the journal, which it does under the lock.
const JOURNAL_WRITES: &str = "wallboard_journal_write_seconds";
const LOCK_HOLDERS: [&str; 6] = ["batch", "step", "read", "metrics", "prune", "source"];
/// The window whose `offered` count the viewers watch (the server is fresh,
/// so it holds every offer of the run, and never resets at midnight).
const WINDOW: &str = "60m";

const CONFIG: &str = "[limits]\ningest_events_per_second = 10000000\nmax_viewers_per_ip = 1000\n";

/// Every floor × rate; one JSON row each, with its ratios to the 200-agent
/// floor's row at the same rate.
pub fn run(runtime: &tokio::runtime::Runtime, out: &Path) -> Vec<Value> {
    std::fs::create_dir_all(out).expect("create the report directory");
    let config = out.join("scaling.toml");
    std::fs::write(&config, CONFIG).expect("write scaling.toml");
    let config = config.to_str().expect("a UTF-8 path").to_string();
    let started = Instant::now();
    let mut rows = Vec::new();
    for (agents, queues) in FLOORS {
        for rate in RATES {
            let load_average = load_average();
            let server = wallboard_tests::BinaryServer::start(
                &["--config", &config],
                &[("RUST_LOG", "warn,wallboard=info")],
            );
            let mut row = runtime.block_on(one(&server.url, server.pid(), agents, queues, rate));
            drop(server);
            row["load_average_before"] = json!(load_average);
            println!("scaling, {}", summary(&row));
            rows.push(row);
        }
    }
    add_ratios(&mut rows);
    for row in &rows {
        let r = &row["ratio_to_200_agents"];
        println!(
            "scaling, {} agents / {} queues at {} events/s ÷ 200 / 10: CPU per event ×{:.2}, p99 ×{:.2}, step p99 ×{:.2}, floor snapshot ×{:.1}, GET floor ×{:.1}",
            row["agents"],
            row["queues"],
            row["events_per_second"],
            num(&r["cpu_per_event"]),
            num(&r["p99"]),
            num(&r["step_p99"]),
            num(&r["snapshot_bytes"]),
            num(&r["get_ms"]),
        );
    }
    println!(
        "scaling: {} runs in {:.0} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    rows
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn agent_id(i: usize) -> String {
    format!("a{:05}", i + 1)
}

fn queue_id(q: usize) -> String {
    format!("q{q:03}")
}

/// The queues agent `i` serves: its own (`i % queues`) and, every other
/// round of the queues, the one half-way round too — each queue ends up
/// with 1.5 × agents / queues members.
fn queues_of(i: usize, queues: usize) -> Vec<usize> {
    let own = i % queues;
    if (i / queues) % 2 == 1 {
        vec![own, (own + queues / 2) % queues]
    } else {
        vec![own]
    }
}

/// The queues the queue viewers watch (spread evenly), and per viewer the
/// index of its queue in that list.
fn watched(queues: usize) -> (Vec<usize>, Vec<usize>) {
    let count = queues.min(QUEUE_VIEWERS);
    let list: Vec<usize> = (0..count).map(|n| n * queues / count).collect();
    let viewers = (0..QUEUE_VIEWERS).map(|v| v % count).collect();
    (list, viewers)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Available,
    Talking,
    Wrapping,
}

/// The generator's model of the floor, so that every event it sends is
/// valid: a contact is offered to a queue, answered (after 50–400 ms) by an
/// available agent of that queue — or abandoned if none is —, talked
/// 100–400 ms, ended; its agent wraps up 50–200 ms, then is available
/// again. The agent's `agent_state` follows each step.
pub(crate) struct Mix {
    agents: Vec<(String, Vec<usize>, Phase)>,
    queues: Vec<String>,
    /// Per queue, agents in the order they became available (entries of
    /// agents no longer available are skipped when reached).
    available: Vec<VecDeque<usize>>,
    /// (contact, queue, when it is answered or abandoned).
    waiting: VecDeque<(u64, usize, Instant)>,
    talking: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    wrapping: BinaryHeap<Reverse<(Instant, usize)>>,
    next_contact: u64,
    next_event: u64,
    rng: Rng,
}

/// A batch: its NDJSON lines, and the offers in it (line, queue, probe).
pub(crate) struct Batch {
    pub(crate) lines: Vec<String>,
    offers: Vec<(usize, usize, bool)>,
}

impl Mix {
    pub(crate) fn new(agents: usize, queues: usize) -> Mix {
        let mut available = vec![VecDeque::new(); queues];
        let agents: Vec<_> = (0..agents)
            .map(|i| {
                let qs = queues_of(i, queues);
                for &q in &qs {
                    available[q].push_back(i);
                }
                (agent_id(i), qs, Phase::Available)
            })
            .collect();
        Mix {
            agents,
            queues: (0..queues).map(queue_id).collect(),
            available,
            waiting: VecDeque::new(),
            talking: BinaryHeap::new(),
            wrapping: BinaryHeap::new(),
            next_contact: 0,
            next_event: 0,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
        }
    }

    fn push(&mut self, lines: &mut Vec<String>, ts: &str, mut event: Value) {
        event["id"] = json!(format!("e{}", self.next_event));
        event["ts"] = json!(ts);
        self.next_event += 1;
        lines.push(event.to_string());
    }

    fn offer(&mut self, batch: &mut Batch, ts: &str, q: usize, probe: bool, now: Instant) {
        let contact = self.next_contact;
        self.next_contact += 1;
        batch.offers.push((batch.lines.len(), q, probe));
        let event = json!({"type": "contact_offered", "contact": format!("c{contact}"),
            "queue": self.queues[q]});
        self.push(&mut batch.lines, ts, event);
        let at = now + self.rng.millis(50, 400);
        self.waiting.push_back((contact, q, at));
    }

    fn agent_state(&mut self, lines: &mut Vec<String>, ts: &str, a: usize, state: &str) {
        let event = json!({"type": "agent_state", "agent": self.agents[a].0, "state": state});
        self.push(lines, ts, event);
    }

    /// About `n` events due at `now` (a step's two events may make it
    /// `n + 1`), the probe's offer first.
    pub(crate) fn batch(
        &mut self,
        n: usize,
        now: Instant,
        ts: &str,
        probe: Option<usize>,
    ) -> Batch {
        let mut batch = Batch {
            lines: Vec::with_capacity(n + 2),
            offers: Vec::new(),
        };
        if let Some(q) = probe {
            self.offer(&mut batch, ts, q, true, now);
        }
        while batch.lines.len() < n {
            if let Some(&Reverse((at, a))) = self.wrapping.peek()
                && at <= now
            {
                self.wrapping.pop();
                self.agents[a].2 = Phase::Available;
                for q in self.agents[a].1.clone() {
                    self.available[q].push_back(a);
                }
                self.agent_state(&mut batch.lines, ts, a, "available");
            } else if let Some(&Reverse((at, a, contact))) = self.talking.peek()
                && at <= now
            {
                self.talking.pop();
                let resolved = self.rng.below(10) < 8;
                let event = json!({"type": "contact_ended", "contact": format!("c{contact}"),
                    "resolved": resolved});
                self.push(&mut batch.lines, ts, event);
                self.agents[a].2 = Phase::Wrapping;
                self.agent_state(&mut batch.lines, ts, a, "wrap_up");
                let until = now + self.rng.millis(50, 200);
                self.wrapping.push(Reverse((until, a)));
            } else if let Some(&(contact, q, at)) = self.waiting.front()
                && at <= now
            {
                self.waiting.pop_front();
                let agent = loop {
                    match self.available[q].pop_front() {
                        Some(a) if self.agents[a].2 == Phase::Available => break Some(a),
                        Some(_) => continue,
                        None => break None,
                    }
                };
                match agent {
                    Some(a) => {
                        let event = json!({"type": "contact_answered",
                            "contact": format!("c{contact}"), "agent": self.agents[a].0});
                        self.push(&mut batch.lines, ts, event);
                        self.agents[a].2 = Phase::Talking;
                        self.agent_state(&mut batch.lines, ts, a, "on_contact");
                        let until = now + self.rng.millis(100, 400);
                        self.talking.push(Reverse((until, a, contact)));
                    }
                    None => {
                        let event =
                            json!({"type": "contact_abandoned", "contact": format!("c{contact}")});
                        self.push(&mut batch.lines, ts, event);
                    }
                }
            } else {
                let q = self.rng.below(self.queues.len());
                self.offer(&mut batch, ts, q, false, now);
            }
        }
        batch
    }
}

/// A probe: the `k`-th accepted offer to watched queue `watch` (an index
/// into the watched list), POSTed at `sent_us`.
struct Probe {
    watch: usize,
    k: u64,
    sent_us: u64,
}

#[derive(Default)]
struct GeneratorLog {
    /// (sent at µs, events sent, accepted, ms until the reply).
    batches: Vec<(u64, usize, u64, f64)>,
    probes: Vec<Probe>,
    rejected: u64,
    duplicates: u64,
    /// The first few rejections' reasons.
    reasons: Vec<String>,
    post_errors: u64,
}

/// The reply's counts: (accepted, duplicates, rejected line indices and
/// their reasons), or why there are none.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<(u64, u64, Vec<(usize, String)>), String> {
    let reply = client
        .post(format!("{url}/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status();
    let body: Value = reply.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    let rejected = body["rejected"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| {
                    (
                        x["index"].as_u64().unwrap_or(u64::MAX) as usize,
                        x["error"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((
        body["accepted"].as_u64().unwrap_or(0),
        body["duplicates"].as_u64().unwrap_or(0),
        rejected,
    ))
}

/// Sends the mix at `rate` events a second until `stop`: every 10 ms what
/// is due by then, one POST at a time (so offers are applied in the order
/// they are counted), a probe every 100 ms to the next watched queue.
async fn generate(
    url: String,
    mut mix: Mix,
    rate: usize,
    watch: Vec<usize>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> GeneratorLog {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let mut log = GeneratorLog::default();
    // Offers accepted so far, per queue.
    let mut offered = vec![0u64; mix.queues.len()];
    let mut watch_of = vec![None; mix.queues.len()];
    for (w, &q) in watch.iter().enumerate() {
        watch_of[q] = Some(w);
    }
    let mut tick = tokio::time::interval(BATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut next_probe = started;
    let mut probes = 0usize;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let now = Instant::now();
        let due = (now.duration_since(started).as_secs_f64() * rate as f64) as usize;
        let probe = (now >= next_probe).then(|| {
            // Behind (a slow POST): no burst of probes to catch up.
            next_probe = (next_probe + PROBE_EVERY).max(now + PROBE_EVERY / 2);
            probes += 1;
            watch[(probes - 1) % watch.len()]
        });
        if due <= sent && probe.is_none() {
            continue;
        }
        let ts = jiff::Timestamp::now().to_string();
        let batch = mix.batch(due.saturating_sub(sent), now, &ts, probe);
        sent += batch.lines.len();
        let sent_us = epoch.elapsed().as_micros() as u64;
        let events = batch.lines.len();
        let posted = Instant::now();
        let reply = post(&client, &url, batch.lines.join("\n")).await;
        let post_ms = posted.elapsed().as_secs_f64() * 1e3;
        match reply {
            Ok((accepted, duplicates, rejected)) => {
                log.batches.push((sent_us, events, accepted, post_ms));
                log.duplicates += duplicates;
                log.rejected += rejected.len() as u64;
                for (_, reason) in &rejected {
                    if log.reasons.len() < 5 {
                        log.reasons.push(reason.clone());
                    }
                }
                for &(line, q, probe) in &batch.offers {
                    if rejected.iter().any(|(i, _)| *i == line) {
                        continue;
                    }
                    offered[q] += 1;
                    if probe && let Some(w) = watch_of[q] {
                        log.probes.push(Probe {
                            watch: w,
                            k: offered[q],
                            sent_us,
                        });
                    }
                }
            }
            Err(e) => {
                log.batches.push((sent_us, events, 0, post_ms));
                log.post_errors += 1;
                if log.reasons.len() < 5 {
                    log.reasons.push(format!("POST failed: {e}"));
                }
            }
        }
    }
    log
}

/// What a viewer saw: its snapshot's size, and per queue it watches, when
/// (µs after the epoch) that queue's offered count changed, to what.
#[derive(Default)]
struct ViewerLog {
    snapshot_bytes: usize,
    /// Agents on the first snapshot's board.
    snapshot_agents: usize,
    messages: u64,
    errors: u64,
    first_error: Option<String>,
    timelines: Vec<Vec<(u64, u64)>>,
}

fn offered_in(board: &Value, queue: &str) -> u64 {
    board["queues"][queue]["windows"][WINDOW]["offered"]
        .as_u64()
        .unwrap_or(0)
}

/// A viewer of `/ws?{query}` applying snapshot + patches with
/// `BoardClient`, watching the offered counts of `queues`, until `stop`
/// (reconnecting, for a fresh snapshot, if its copy breaks).
async fn view(
    url: String,
    query: String,
    queues: Vec<String>,
    epoch: Instant,
    connected: tokio::sync::oneshot::Sender<usize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ViewerLog {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let ws = format!("{}/ws?{query}", url.replacen("http://", "ws://", 1));
    let mut log = ViewerLog {
        timelines: vec![Vec::new(); queues.len()],
        ..ViewerLog::default()
    };
    let mut connected = Some(connected);
    let mut last = vec![u64::MAX; queues.len()];
    'connect: while !*stop.borrow() {
        let socket = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async(&ws),
        )
        .await;
        let mut socket = match socket {
            Ok(Ok((socket, _))) => socket,
            failed => {
                log.errors += 1;
                log.first_error.get_or_insert(match failed {
                    Ok(Err(e)) => format!("connect: {e}"),
                    _ => "connect: timed out".into(),
                });
                if connected.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut client = wallboard_protocol::BoardClient::new();
        loop {
            let message = tokio::select! {
                message = socket.next() => message,
                _ = stop.changed() => break 'connect,
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    log.errors += 1;
                    log.first_error.get_or_insert("closed by the server".into());
                    continue 'connect;
                }
                Some(Ok(_)) => continue,
            };
            let at = epoch.elapsed().as_micros() as u64;
            log.messages += 1;
            if let Some(tx) = connected.take() {
                log.snapshot_bytes = text.len();
                let _ = tx.send(text.len());
            }
            if let Err(e) = client.apply_text(&text) {
                log.errors += 1;
                log.first_error.get_or_insert(e.to_string());
                continue 'connect;
            }
            let Some(board) = client.board() else {
                continue;
            };
            if log.messages == 1 {
                log.snapshot_agents = board["agents"].as_object().map_or(0, |a| a.len());
            }
            for (w, queue) in queues.iter().enumerate() {
                let count = offered_in(board, queue);
                if count != last[w] {
                    last[w] = count;
                    log.timelines[w].push((at, count));
                }
            }
        }
    }
    log
}

/// When a viewer first held probe `p`'s offer: the first entry of its
/// timeline of that queue with a count ≥ k (counts only grow).
fn seen_at(timeline: &[(u64, u64)], k: u64) -> Option<u64> {
    let i = timeline.partition_point(|&(_, count)| count < k);
    timeline.get(i).map(|&(at, _)| at)
}

/// A histogram of a scrape: (upper bound, cumulative count) per bucket, sum
/// and count.
#[derive(Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

fn value_of(line: &str) -> Option<f64> {
    line.rsplit(' ').next()?.trim().parse().ok()
}

/// Whether `line` is a sample of `name` (no labels or some).
fn sample_of<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    (rest.starts_with(' ') || rest.starts_with('{')).then_some(rest)
}

pub fn histogram(scrape: &str, name: &str) -> Histogram {
    let mut h = Histogram::default();
    let (bucket, sum, count) = (
        format!("{name}_bucket"),
        format!("{name}_sum"),
        format!("{name}_count"),
    );
    for line in scrape.lines() {
        if let Some(rest) = sample_of(line, &bucket) {
            let le = rest
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .and_then(|s| match s {
                    "+Inf" => Some(f64::INFINITY),
                    s => s.parse().ok(),
                });
            if let (Some(le), Some(v)) = (le, value_of(line)) {
                h.buckets.push((le, v));
            }
        } else if sample_of(line, &sum).is_some() {
            h.sum = value_of(line).unwrap_or(0.0);
        } else if sample_of(line, &count).is_some() {
            h.count = value_of(line).unwrap_or(0.0);
        }
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    h
}

/// `histogram` of the samples of `name` carrying `label` (`key="value"`).
pub fn labelled_histogram(scrape: &str, name: &str, label: &str) -> Histogram {
    let lines: Vec<&str> = scrape.lines().filter(|l| l.contains(label)).collect();
    histogram(&lines.join("\n"), name)
}

/// The core lock's holds between two scrapes, by holder: count, p99 and
/// max (bucket bounds, ms), and the largest max over the holders.
fn lock_holds(before: &str, after: &str) -> (Value, Value) {
    let mut by_holder = serde_json::Map::new();
    let mut largest: Option<f64> = None;
    for holder in LOCK_HOLDERS {
        let label = format!("holder=\"{holder}\"");
        let (h0, h1) = (
            labelled_histogram(before, LOCK_HOLDS, &label),
            labelled_histogram(after, LOCK_HOLDS, &label),
        );
        let (figures, max) = holds(&h0, &h1);
        if let Some(m) = max {
            largest = Some(largest.map_or(m, |l| l.max(m)));
        }
        by_holder.insert(holder.into(), figures);
    }
    // Inside a batch's hold: its write to the journal.
    let (w0, w1) = (
        histogram(before, JOURNAL_WRITES),
        histogram(after, JOURNAL_WRITES),
    );
    by_holder.insert("journal_write".into(), holds(&w0, &w1).0);
    (Value::Object(by_holder), bound_json(largest))
}

/// Holds between two scrapes of one histogram: count, p99 and max as
/// bucket bounds (ms), and the max in seconds.
fn holds(h0: &Histogram, h1: &Histogram) -> (Value, Option<f64>) {
    let max = bucket_bound(h0, h1, 1.0);
    let figures = json!({
        "count": h1.count - h0.count,
        "p99_le_ms": bound_json(bucket_bound(h0, h1, 0.99)),
        "max_le_ms": bound_json(max),
    });
    (figures, max)
}

/// The bucket bound (seconds) where the cumulative count of the steps
/// between `before` and `after` crosses `p` (infinite: above the largest
/// bound); `None` without steps.
pub fn bucket_bound(before: &Histogram, after: &Histogram, p: f64) -> Option<f64> {
    let total = after.count - before.count;
    if total <= 0.0 {
        return None;
    }
    after.buckets.iter().find_map(|&(le, count)| {
        let earlier = before
            .buckets
            .iter()
            .find(|b| b.0 == le)
            .map_or(0.0, |b| b.1);
        (count - earlier >= p * total).then_some(le)
    })
}

/// A bucket bound in ms for the JSON report ("+Inf" above the largest).
fn bound_json(bound: Option<f64>) -> Value {
    match bound {
        Some(b) if b.is_infinite() => json!("+Inf"),
        Some(b) => json!(b * 1e3),
        None => Value::Null,
    }
}

/// A gauge of a scrape, if it is there.
fn gauge(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| sample_of(l, name).is_some())
        .and_then(value_of)
}

/// Median, max (ms) and bytes of GETs of `path`.
fn get_figures(times: &[(f64, usize)]) -> Value {
    let (p50, _, max) = crate::percentiles(times.iter().map(|t| t.0).collect());
    json!({"gets": times.len(), "median_ms": p50, "max_ms": max,
        "bytes": times.last().map(|t| t.1)})
}

/// One floor at one rate on a fresh server.
async fn one(url: &str, pid: u32, agents: usize, queues: usize, rate: usize) -> Value {
    let epoch = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");

    // 1. The floor.
    let build = Instant::now();
    let ts = jiff::Timestamp::now().to_string();
    let (mut built, mut build_rejected, mut reasons) = (0, 0, Vec::new());
    for chunk in (0..agents).collect::<Vec<_>>().chunks(BUILD_BATCH) {
        let lines: Vec<String> = chunk
            .iter()
            .map(|&i| {
                let qs: Vec<String> = queues_of(i, queues).into_iter().map(queue_id).collect();
                json!({"id": format!("build-{i}"), "ts": ts, "type": "agent_state",
                    "agent": agent_id(i), "state": "available", "queues": qs})
                .to_string()
            })
            .collect();
        match post(&client, url, lines.join("\n")).await {
            Ok((accepted, _, rejected)) => {
                built += accepted;
                build_rejected += rejected.len();
                reasons.extend(rejected.into_iter().take(3).map(|r| r.1));
            }
            Err(e) => reasons.push(e),
        }
    }
    let build_seconds = build.elapsed().as_secs_f64();
    if built as usize != agents {
        eprintln!(
            "scaling: building {agents} agents / {queues} queues: {built} accepted, {build_rejected} rejected: {reasons:?}"
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_no_viewers = rss_kb(pid);

    // 2. The viewers: the floor's, then the queues'.
    let (watch, viewer_watch) = watched(queues);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut viewers = Vec::new();
    let mut snapshots = Vec::new();
    let connect = Instant::now();
    let floor_queues: Vec<String> = watch.iter().map(|&q| queue_id(q)).collect();
    for v in 0..=QUEUE_VIEWERS {
        let (query, watching) = if v == 0 {
            ("view=floor".to_string(), floor_queues.clone())
        } else {
            let q = queue_id(watch[viewer_watch[v - 1]]);
            (format!("view=queue&queue={q}"), vec![q])
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        viewers.push(tokio::spawn(view(
            url.to_string(),
            query,
            watching,
            epoch,
            tx,
            stop_rx.clone(),
        )));
        snapshots.push(rx);
    }
    let mut snapshot_bytes = Vec::new();
    for rx in snapshots {
        snapshot_bytes.push(
            tokio::time::timeout(Duration::from_secs(60), rx)
                .await
                .ok()
                .and_then(Result::ok),
        );
    }
    let connect_seconds = connect.elapsed().as_secs_f64();
    let connected = snapshot_bytes.iter().filter(|s| s.is_some()).count();

    // 3. The load.
    let stop = Arc::new(AtomicBool::new(false));
    let generator = tokio::spawn(generate(
        url.to_string(),
        Mix::new(agents, queues),
        rate,
        watch.clone(),
        epoch,
        stop.clone(),
    ));
    tokio::time::sleep(WARM_UP).await;
    let before = scrape(&client, url).await;
    let (cpu_before, client_before) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
    let window_start = epoch.elapsed().as_micros() as u64;
    let wall = Instant::now();
    tokio::time::sleep(LOAD).await;
    let (cpu, client_cpu) = (
        cpu_seconds(pid) - cpu_before,
        cpu_seconds(std::process::id()) - client_before,
    );
    let window_end = epoch.elapsed().as_micros() as u64;
    let wall = wall.elapsed().as_secs_f64();
    let after = scrape(&client, url).await;

    // 4. GETs, the load going on.
    let mut gets: [Vec<(f64, usize)>; 2] = [Vec::new(), Vec::new()];
    let paths = [
        "/api/v1/board".to_string(),
        format!("/api/v1/board?view=queue&queue={}", queue_id(watch[0])),
    ];
    let get_until = Instant::now() + GET_WINDOW;
    let mut get_errors = 0;
    'gets: for _ in 0..GETS {
        for (which, path) in paths.iter().enumerate() {
            if Instant::now() >= get_until {
                break 'gets;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let t = Instant::now();
            let body = match client.get(format!("{url}{path}")).send().await {
                Ok(reply) if reply.status().is_success() => reply.bytes().await.ok(),
                _ => None,
            };
            match body {
                Some(body) => gets[which].push((t.elapsed().as_secs_f64() * 1e3, body.len())),
                None => get_errors += 1,
            }
        }
    }

    stop.store(true, Ordering::Relaxed);
    let log = generator.await.unwrap_or_default();
    // The last probes reach the viewers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let end = scrape(&client, url).await;
    let rss_end = rss_kb(pid);
    let _ = stop_tx.send(true);
    let mut logs = Vec::new();
    for viewer in viewers {
        logs.push(viewer.await.unwrap_or_default());
    }

    // Figures of the load window.
    let in_window = |at: u64| (window_start..window_end).contains(&at);
    let (window_sent, window_accepted) = log
        .batches
        .iter()
        .filter(|b| in_window(b.0))
        .fold((0, 0), |(s, a), b| (s + b.1, a + b.2));
    let sent_total: usize = log.batches.iter().map(|b| b.1).sum();
    let window_batches: Vec<_> = log.batches.iter().filter(|b| in_window(b.0)).collect();
    let (post_p50, post_p99, post_max) =
        crate::percentiles(window_batches.iter().map(|b| b.3).collect());
    let largest_batch = window_batches.iter().map(|b| b.1).max().unwrap_or(0);
    let accepted_total: u64 = log.batches.iter().map(|b| b.2).sum();
    let probes: Vec<&Probe> = log.probes.iter().filter(|p| in_window(p.sent_us)).collect();
    let (mut floor_ms, mut queue_ms, mut floor_missed, mut queue_missed) =
        (Vec::new(), Vec::new(), 0, 0);
    for p in &probes {
        match seen_at(&logs[0].timelines[p.watch], p.k) {
            Some(at) => floor_ms.push(at.saturating_sub(p.sent_us) as f64 / 1e3),
            None => floor_missed += 1,
        }
        for (v, &w) in viewer_watch.iter().enumerate() {
            if w == p.watch {
                match seen_at(&logs[v + 1].timelines[0], p.k) {
                    Some(at) => queue_ms.push(at.saturating_sub(p.sent_us) as f64 / 1e3),
                    None => queue_missed += 1,
                }
            }
        }
    }
    let (floor_p50, floor_p99, floor_max) = crate::percentiles(floor_ms);
    let (queue_p50, queue_p99, queue_max) = crate::percentiles(queue_ms);
    let (h0, h1) = (
        histogram(&before, TICK_METRIC),
        histogram(&after, TICK_METRIC),
    );
    let steps = h1.count - h0.count;
    let step_mean_ms = (h1.sum - h0.sum) / steps * 1e3;
    let lock_hold = gauge(&end, LOCK_METRIC);
    let (lock_window, lock_window_max) = lock_holds(&before, &after);
    let viewer_errors: u64 = logs.iter().map(|l| l.errors).sum();
    let first_viewer_error = logs.iter().find_map(|l| l.first_error.clone());
    let mut row = json!({
        "agents": agents,
        "queues": queues,
        "agents_built": built,
        "build_rejected": build_rejected,
        "build_seconds": build_seconds,
        "events_per_second": rate,
        "load_seconds": wall,
        "warm_up_seconds": WARM_UP.as_secs_f64(),
        "events_sent": window_sent,
        "events_accepted": window_accepted,
        "accepted_per_second": window_accepted as f64 / wall,
        "events_sent_in_all": sent_total,
        "events_rejected_in_all": (sent_total as u64).saturating_sub(accepted_total + log.duplicates),
        "rejections_reported": log.rejected,
        "duplicates": log.duplicates,
        "post_errors": log.post_errors,
        "posts": window_batches.len(),
        "post_ms": {"p50": post_p50, "p99": post_p99, "max": post_max},
        "largest_batch": largest_batch,
        "rejection_reasons": log.reasons,
        "probes": probes.len(),
        "floor_viewer": {"p50_ms": floor_p50, "p99_ms": floor_p99, "max_ms": floor_max, "missed": floor_missed},
        "queue_viewers": {"viewers": QUEUE_VIEWERS, "queues_watched": watch.len(), "p50_ms": queue_p50,
            "p99_ms": queue_p99, "max_ms": queue_max, "missed": queue_missed},
        "p99_ms": if floor_p99.is_nan() || queue_p99.is_nan() { f64::NAN } else { floor_p99.max(queue_p99) },
    });
    let more = json!({
        "viewers_connected": connected,
        "viewers_connect_seconds": connect_seconds,
        "viewer_errors": viewer_errors,
        "first_viewer_error": first_viewer_error,
        "viewer_messages": logs.iter().map(|l| l.messages).sum::<u64>(),
        "server_cpu_percent": cpu / wall * 100.0,
        "server_cpu_us_per_event": cpu * 1e6 / (window_accepted as f64).max(1.0),
        "client_cpu_percent": client_cpu / wall * 100.0,
        "server_rss_no_viewers_kib": rss_no_viewers,
        "server_rss_end_kib": rss_end,
        "steps": steps,
        "step_p50_le_ms": bound_json(bucket_bound(&h0, &h1, 0.5)),
        "step_p99_le_ms": bound_json(bucket_bound(&h0, &h1, 0.99)),
        "step_mean_ms": step_mean_ms,
        "snapshot_bytes_floor": snapshot_bytes[0],
        "snapshot_bytes_queue": snapshot_bytes[1],
        "get_floor": get_figures(&gets[0]),
        "get_queue": get_figures(&gets[1]),
        "get_errors": get_errors,
        "lock_hold_max_ms": lock_hold.map(|s| s * 1e3),
        "lock_window": lock_window,
        "lock_window_max_le_ms": lock_window_max,
        "floor_snapshot_agents": logs[0].snapshot_agents,
    });
    for (key, value) in more.as_object().into_iter().flatten() {
        row[key.as_str()] = value.clone();
    }
    row
}

/// A run's figures on one line.
fn summary(row: &Value) -> String {
    let f = &row["floor_viewer"];
    let q = &row["queue_viewers"];
    format!(
        "{} agents / {} queues at {} events/s (load average {}): {} accepted in {:.1} s ({:.0}/s; {} POSTs, reply p50/p99/max {:.1}/{:.1}/{:.1} ms, largest batch {}), {} rejected in all{}; POST → board p50/p99/max: floor viewer {:.1}/{:.1}/{:.1} ms (missed {}), queue viewers {:.1}/{:.1}/{:.1} ms (missed {}), {} probes; server CPU {:.0}% of a core, {:.1} µs per event; load client {:.0}%; steps {} (p50 {}, p99 {}: bucket bounds; mean {:.2} ms); RSS {} KiB with no viewer, {} KiB at the end; snapshots {} B floor, {} B queue; GET floor median {:.1} ms, max {:.1} ms, {} B; GET queue median {:.1} ms, {} B; core lock {}; {} viewers connected, {} viewer errors{}",
        row["agents"],
        row["queues"],
        row["events_per_second"],
        row["load_average_before"].as_str().unwrap_or(""),
        row["events_accepted"],
        num(&row["load_seconds"]),
        num(&row["accepted_per_second"]),
        row["posts"],
        num(&row["post_ms"]["p50"]),
        num(&row["post_ms"]["p99"]),
        num(&row["post_ms"]["max"]),
        row["largest_batch"],
        row["events_rejected_in_all"],
        match row["rejection_reasons"].as_array() {
            Some(r) if !r.is_empty() => format!(" ({})", r[0]),
            _ => String::new(),
        },
        num(&f["p50_ms"]),
        num(&f["p99_ms"]),
        num(&f["max_ms"]),
        f["missed"],
        num(&q["p50_ms"]),
        num(&q["p99_ms"]),
        num(&q["max_ms"]),
        q["missed"],
        row["probes"],
        num(&row["server_cpu_percent"]),
        num(&row["server_cpu_us_per_event"]),
        num(&row["client_cpu_percent"]),
        row["steps"],
        step_text(step_bound(&row["step_p50_le_ms"])),
        step_text(step_bound(&row["step_p99_le_ms"])),
        num(&row["step_mean_ms"]),
        row["server_rss_no_viewers_kib"],
        row["server_rss_end_kib"],
        row["snapshot_bytes_floor"],
        row["snapshot_bytes_queue"],
        num(&row["get_floor"]["median_ms"]),
        num(&row["get_floor"]["max_ms"]),
        row["get_floor"]["bytes"],
        num(&row["get_queue"]["median_ms"]),
        row["get_queue"]["bytes"],
        lock_text(row),
        row["viewers_connected"],
        row["viewer_errors"],
        row["first_viewer_error"]
            .as_str()
            .map_or(String::new(), |e| format!(" (first: {e})")),
    )
}

/// Each row against the 200-agent floor's at the same rate.
fn add_ratios(rows: &mut [Value]) {
    let bases: Vec<Value> = rows
        .iter()
        .filter(|r| r["agents"] == 200)
        .cloned()
        .collect();
    for row in rows.iter_mut() {
        let Some(base) = bases
            .iter()
            .find(|b| b["events_per_second"] == row["events_per_second"])
        else {
            continue;
        };
        let ratio = |a: f64, b: f64| {
            let r = a / b;
            if r.is_finite() { json!(r) } else { Value::Null }
        };
        row["ratio_to_200_agents"] = json!({
            "cpu_per_event": ratio(num(&row["server_cpu_us_per_event"]), num(&base["server_cpu_us_per_event"])),
            "p99": ratio(num(&row["p99_ms"]), num(&base["p99_ms"])),
            "step_p99": ratio(
                step_bound(&row["step_p99_le_ms"]).unwrap_or(f64::NAN),
                step_bound(&base["step_p99_le_ms"]).unwrap_or(f64::NAN),
            ),
            "snapshot_bytes": ratio(num(&row["snapshot_bytes_floor"]), num(&base["snapshot_bytes_floor"])),
            "get_ms": ratio(num(&row["get_floor"]["median_ms"]), num(&base["get_floor"]["median_ms"])),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_fit_the_default_limits_and_spread_evenly() {
        let (agents, queues) = FLOORS[2];
        assert_eq!((agents, queues), (20_000, 500));
        assert_eq!(agent_id(agents - 1), "a20000");
        let mut members = vec![0; queues];
        for i in 0..agents {
            for q in queues_of(i, queues) {
                members[q] += 1;
            }
        }
        assert!(members.iter().all(|&m| m == members[0]), "{members:?}");
        let (list, viewers) = watched(10);
        assert_eq!(list.len(), 10);
        assert_eq!(viewers.iter().filter(|&&w| w == 3).count(), 10);
        let (list, _) = watched(500);
        assert_eq!((list.len(), list[1]), (100, 5));
    }

    #[test]
    fn the_mix_stays_valid() {
        // Replayed through the aggregator: nothing rejected.
        let config = std::sync::Arc::new(wallboard::config::Config::default());
        let mut agg = wallboard::aggregator::Aggregator::new(config);
        let mut mix = Mix::new(200, 10);
        let start = Instant::now();
        let now = jiff::Timestamp::now();
        let mut offers = 0;
        for step in 0..2_000u64 {
            let at = start + Duration::from_millis(step * 10);
            let ts = (now + jiff::SignedDuration::from_millis(step as i64 * 10)).to_string();
            let batch = mix.batch(20, at, &ts, (step % 10 == 0).then_some(3));
            offers += batch.offers.len();
            for line in &batch.lines {
                let event: wallboard_protocol::Event = serde_json::from_str(line).unwrap();
                agg.apply(&event, now)
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
            }
        }
        assert!(offers > 2_000 * 20 / 8, "{offers} offers");
    }

    #[test]
    fn step_bounds_come_from_bucket_differences() {
        let scrape = |counts: [u64; 3], sum: f64| {
            format!(
                "# TYPE {TICK_METRIC} histogram\n{TICK_METRIC}_bucket{{le=\"0.001\"}} {}\n{TICK_METRIC}_bucket{{le=\"0.005\"}} {}\n{TICK_METRIC}_bucket{{le=\"+Inf\"}} {}\n{TICK_METRIC}_sum {sum}\n{TICK_METRIC}_count {}\n",
                counts[0], counts[1], counts[2], counts[2]
            )
        };
        let before = histogram(&scrape([10, 10, 10], 0.005), TICK_METRIC);
        let after = histogram(&scrape([60, 109, 110], 0.205), TICK_METRIC);
        assert_eq!(after.count, 110.0);
        assert_eq!(bucket_bound(&before, &after, 0.5), Some(0.001));
        assert_eq!(bucket_bound(&before, &after, 0.99), Some(0.005));
        let after = histogram(&scrape([60, 100, 110], 0.205), TICK_METRIC);
        assert_eq!(bucket_bound(&before, &after, 0.99), Some(f64::INFINITY));
        assert_eq!(bucket_bound(&before, &before, 0.5), None);
        assert_eq!(gauge("x_y 1\nx 0.25\n", "x"), Some(0.25));
        assert_eq!(gauge("x_y 1\n", "x"), None);
    }
}
