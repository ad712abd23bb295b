//! The incremental engine against its oracle.
//!
//! Generated, valid event sequences (every event kind; agents, queues and
//! contacts interleaved; out-of-order times; repeated ids; a midnight
//! crossing; minutes leaving the rolling windows; pruning; a checkpoint
//! restored midway) go through the aggregator. After every step the board
//! kept by `boards` (built from the changed parts only) must equal
//! `kpi::board` — the plain full recomputation — in every view, and a
//! client applying the view's patches from its first snapshot must hold
//! the same board. The run says how many events were accepted, so a run
//! that only exercised rejections is visible (and fails).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};
use wallboard::aggregator::Aggregator;
use wallboard::boards::Boards;
use wallboard::config::Config;
use wallboard::kpi;
use wallboard_protocol::Event;
use wallboard_protocol::View;
use wallboard_protocol::stream::{merge_apply, without_nulls};

const CONFIG: &str = r#"
timezone = "Asia/Shanghai"
short_abandon_seconds = 5
[channels.chat]
service_level_seconds = 60
[complaint_grades]
urgent = "90s"
normal = "20m"
[[queues]]
id = "q1"
service_level_seconds = 10
short_abandon_seconds = 0
service_level_definition = "connect"
[queues.channels.email]
service_level_seconds = 90
[[queues]]
id = "q2"
vip = true
name_zh = "贵宾"
[[queues]]
id = "q3"
service_level_definition = "abandons_in_threshold_met"
"#;

const AGENTS: u8 = 6;
const QUEUES: u8 = 4;
const STATES: [&str; 5] = ["available", "on_contact", "wrap_up", "aux", "offline"];

/// One generated step of the floor: what happens, to whom, how long after
/// the last one, and how late its event arrives.
#[derive(Debug, Clone)]
struct Op {
    kind: u8,
    a: u8,
    b: u8,
    c: u8,
    /// Seconds the clock moves before this op.
    advance: u16,
    /// Seconds the event's `ts` lies before the clock (late, out of order).
    late: u8,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        (
            0u8..24,
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            0u16..100,
            0u8..90,
        )
            .prop_map(|(kind, a, b, c, advance, late)| Op {
                kind,
                a,
                b,
                c,
                advance,
                late,
            }),
        50..220,
    )
}

/// What the test remembers of the floor, to make valid events.
#[derive(Default)]
struct Model {
    next: u64,
    arrived: Vec<String>,
    waiting: Vec<String>,
    answered: Vec<String>,
    ended: Vec<String>,
    callbacks: Vec<String>,
    /// Chats waiting, for the chat agent (a5) to take several at once.
    chats: Vec<String>,
    chat_agent: bool,
    complaints: Vec<String>,
    sent: Vec<Value>,
}

fn queue(i: u8) -> String {
    format!("q{}", i % QUEUES)
}

fn agent(i: u8) -> String {
    format!("a{}", i % AGENTS)
}

fn pick(list: &[String], i: u8) -> Option<String> {
    (!list.is_empty()).then(|| list[i as usize % list.len()].clone())
}

impl Model {
    fn contact(&mut self) -> String {
        self.next += 1;
        format!("c{}", self.next)
    }

    /// The event for `op`, if the floor allows one.
    fn event(&mut self, op: &Op) -> Option<Value> {
        let Op { kind, a, b, c, .. } = *op;
        let body = match kind {
            0..=3 => {
                let state = STATES[a as usize % STATES.len()];
                let mut e = json!({"type": "agent_state", "agent": agent(b), "state": state});
                if state == "aux" {
                    e["reason"] = json!(["lunch", "break", "training"][c as usize % 3]);
                }
                if c % 3 == 0 {
                    let queues: Vec<String> = (0..QUEUES)
                        .filter(|q| (c >> (q + 2)) & 1 == 1)
                        .map(queue)
                        .collect();
                    e["queues"] = json!(queues);
                    e["name"] = json!(format!("Agent {}", b % AGENTS));
                    // Slots per channel: chats held at once, or cleared.
                    if c % 2 == 0 {
                        e["capacity"] = [
                            json!({"chat": 3, "voice": 1}),
                            json!({"chat": 2}),
                            json!({}),
                            json!({"email": 1, "callback": 2, "chat": 1}),
                        ][(a / 5) as usize % 4]
                            .clone();
                    }
                }
                e
            }
            4 => {
                let contact = self.contact();
                if a % 5 != 0 {
                    self.arrived.push(contact.clone());
                }
                json!({"type": "contact_arrived", "contact": contact, "blocked": a % 5 == 0})
            }
            5..=6 => {
                // Offered: fresh, after arriving, or moved on from another queue.
                let contact = match a % 3 {
                    0 => pick(&self.arrived, b).unwrap_or_else(|| self.contact()),
                    1 => pick(&self.waiting, b).unwrap_or_else(|| self.contact()),
                    _ => self.contact(),
                };
                let mut e = json!({"type": "contact_offered", "contact": contact, "queue": queue(c), "vip": c % 7 == 0});
                // Most contacts are calls; some are chats, e-mails, callbacks.
                if b % 3 == 0 {
                    e["channel"] =
                        json!(["voice", "chat", "email", "callback"][(b / 3) as usize % 4]);
                }
                e
            }
            7..=8 => {
                json!({"type": "contact_answered", "contact": pick(&self.waiting, a)?, "agent": agent(b)})
            }
            9 => json!({"type": "contact_abandoned", "contact": pick(&self.waiting, a)?}),
            10..=11 => {
                let mut e = json!({"type": "contact_ended", "contact": pick(&self.answered, a)?});
                if b % 3 != 0 {
                    e["resolved"] = json!(b % 3 == 1);
                }
                e
            }
            12 => {
                let mut e = json!({"type": "survey_submitted", "score": (b % 5) + 1, "max": 5});
                match (a % 3, pick(&self.ended, c)) {
                    (0, _) | (_, None) => e["queue"] = json!(queue(c)),
                    (_, Some(contact)) => e["contact"] = json!(contact),
                }
                if a % 4 == 0 {
                    e["score"] = json!(f64::from(b % 10) / 3.0);
                    e["max"] = json!(10);
                }
                e
            }
            13 => {
                self.next += 1;
                let id = format!("k{}", self.next);
                let mut e = json!({"type": "complaint_opened", "complaint": id});
                e["grade"] = json!(if a % 2 == 0 { "urgent" } else { "normal" });
                if b % 3 != 0 {
                    e["queue"] = json!(queue(c));
                }
                self.complaints.push(id);
                e
            }
            14 => json!({"type": "complaint_answered", "complaint": pick(&self.complaints, a)?}),
            // A repeat of an earlier event (a sender's retry).
            15 => return pick_value(&self.sent, a),
            20 => json!({"type": "contact_callback_requested", "contact": pick(&self.waiting, a)?}),
            // A pending callback made: answered, queued again, or called off.
            21 => {
                let contact = pick(&self.callbacks, a)?;
                match b % 3 {
                    0 => json!({"type": "contact_answered", "contact": contact, "agent": agent(c)}),
                    1 => json!({"type": "contact_offered", "contact": contact, "queue": queue(c)}),
                    _ => json!({"type": "contact_ended", "contact": contact}),
                }
            }
            // The chat agent: three slots, then chats answered while
            // others are still held.
            22 if !self.chat_agent => {
                self.chat_agent = true;
                json!({"type": "agent_state", "agent": agent(5), "state": "available",
                       "queues": ["q0", "q1", "q2", "q3"], "capacity": {"chat": 3}})
            }
            22 => {
                json!({"type": "contact_answered", "contact": pick(&self.chats, a)?, "agent": agent(5)})
            }
            23 => {
                let contact = self.contact();
                json!({"type": "contact_offered", "contact": contact, "queue": queue(c), "channel": "chat"})
            }
            _ => return None,
        };
        Some(body)
    }

    /// Remembers what an accepted event did.
    fn accepted(&mut self, e: &Value) {
        let contact = e["contact"].as_str().map(str::to_string);
        let remove = |list: &mut Vec<String>, c: &str| list.retain(|x| x != c);
        match (e["type"].as_str(), contact) {
            (Some("contact_offered"), Some(c)) => {
                remove(&mut self.arrived, &c);
                remove(&mut self.callbacks, &c);
                remove(&mut self.chats, &c);
                if e["channel"] == "chat" {
                    self.chats.push(c.clone());
                }
                if !self.waiting.contains(&c) {
                    self.waiting.push(c);
                }
            }
            (Some("contact_answered"), Some(c)) => {
                remove(&mut self.waiting, &c);
                remove(&mut self.chats, &c);
                remove(&mut self.callbacks, &c);
                self.answered.push(c);
            }
            (Some("contact_abandoned"), Some(c)) => {
                remove(&mut self.waiting, &c);
                remove(&mut self.chats, &c);
            }
            (Some("contact_callback_requested"), Some(c)) => {
                remove(&mut self.waiting, &c);
                remove(&mut self.chats, &c);
                self.callbacks.push(c);
            }
            (Some("contact_ended"), Some(c)) => {
                remove(&mut self.answered, &c);
                remove(&mut self.callbacks, &c);
                self.ended.push(c);
            }
            (Some("complaint_answered"), _) => {
                let k = e["complaint"].as_str().unwrap_or_default();
                self.complaints.retain(|x| x != k);
            }
            _ => {}
        }
        self.sent.push(e.clone());
    }
}

fn pick_value(list: &[Value], i: u8) -> Option<Value> {
    (!list.is_empty()).then(|| list[i as usize % list.len()].clone())
}

static CASES: AtomicU64 = AtomicU64::new(0);
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// Accepted callback requests, and events on a pending callback.
static CALLBACKS: AtomicU64 = AtomicU64::new(0);
static CALLBACKS_MADE: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static DUPLICATES: AtomicU64 = AtomicU64::new(0);
static COMPARED: AtomicU64 = AtomicU64::new(0);
/// Steps compared with an agent holding a slot, and two on one channel.
static SLOTS_HELD: AtomicU64 = AtomicU64::new(0);
static SLOTS_SHARED: AtomicU64 = AtomicU64::new(0);

fn views() -> Vec<View> {
    vec![
        View::Floor,
        View::Agent,
        View::Queue(vec!["q1".into()]),
        View::Queue(vec!["q0".into(), "q2".into()]),
    ]
}

/// A client of one view: its board from a snapshot and the patches since.
struct Client {
    view: View,
    board: Value,
}

fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap()
}

/// Steps the engine and checks every view against the oracle.
fn step_and_check(
    agg: &mut Aggregator,
    boards: &Boards,
    clients: &mut [Client],
    now: Timestamp,
    seq: u64,
) -> Result<(), TestCaseError> {
    let at = second(now);
    let streamed: Vec<View> = clients.iter().map(|c| c.view.clone()).collect();
    let changes = kpi::changes(agg, at, seq);
    let patches = boards.write().apply(changes, now, &streamed);
    for p in patches {
        for client in clients.iter_mut().filter(|c| c.view == p.view) {
            let patch: Value = serde_json::from_str(&p.patch).unwrap();
            merge_apply(&mut client.board, &patch);
        }
    }
    let mut oracle = kpi::board(agg, at, seq);
    oracle.generated_at = now;
    for view in views() {
        // Both through text: serde_json's float parsing may differ from
        // the value in the last bit, and the kept board is text.
        let expected: Value =
            serde_json::from_str(&serde_json::to_string(&view.apply(&oracle)).unwrap()).unwrap();
        let kept: Value = serde_json::from_str(boards.board_json(&view).as_str()).unwrap();
        prop_assert!(
            kept == expected,
            "kept board of {:?} at {}: {}",
            view,
            now,
            first_difference(&kept, &expected, "")
        );
        for client in clients.iter().filter(|c| c.view == view) {
            // As a client holds it: received as text. `generated_at` moves
            // with heartbeats (a real second), the rest with every change.
            let mut held: Value = serde_json::from_str(&client.board.to_string()).unwrap();
            let mut want = without_nulls(expected.clone());
            held["generated_at"].take();
            want["generated_at"].take();
            prop_assert!(
                held == want,
                "{:?} client at {}: {}",
                view,
                now,
                first_difference(&held, &want, "")
            );
        }
    }
    COMPARED.fetch_add(1, Ordering::Relaxed);
    let held = |at_least: u32| {
        oracle
            .agents
            .values()
            .flat_map(|a| a.slots.values())
            .any(|s| s.in_use >= at_least)
    };
    if held(1) {
        SLOTS_HELD.fetch_add(1, Ordering::Relaxed);
    }
    if held(2) {
        SLOTS_SHARED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Where two documents first differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let here = format!("{path}/{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) if p == q => {}
                    (Some(p), Some(q)) => return first_difference(p, q, &here),
                    (p, q) => return format!("{here}: {p:?} vs {q:?}"),
                }
            }
            String::new()
        }
        _ => format!("{path}: {a} (engine) vs {b} (oracle)"),
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let config = Arc::new(Config::from_toml(CONFIG).unwrap());
    let mut agg = Aggregator::new(config.clone());
    let boards = Boards::new();
    // 23:35 local: the run crosses midnight and outlives the 60m window.
    let mut now: Timestamp = "2026-11-23T23:35:00.250+08:00".parse().unwrap();
    let mut model = Model::default();
    let mut seen = HashSet::new();
    let mut seq = 0;
    let mut clients: Vec<Client> = Vec::new();
    let subscribe = |clients: &mut Vec<Client>, boards: &Boards, view: View| {
        let (_, snapshot) = boards.snapshot(&view);
        let message: Value = serde_json::from_str(snapshot.as_str()).unwrap();
        clients.push(Client {
            view,
            board: without_nulls(message["board"].clone()),
        });
    };
    for view in views().into_iter().take(2) {
        subscribe(&mut clients, &boards, view);
    }
    let (mut accepted, mut rejected, mut duplicates) = (0, 0, 0);
    for op in ops {
        now += SignedDuration::from_millis(i64::from(op.advance) * 1000 + 137);
        match op.kind {
            16 | 17 => {
                step_and_check(&mut agg, &boards, &mut clients, now, seq)?;
                // Viewers of the queue views arrive during the run.
                if clients.len() < views().len() && op.a % 4 == 0 {
                    let view = views()[clients.len()].clone();
                    subscribe(&mut clients, &boards, view);
                }
                continue;
            }
            18 => {
                agg.prune(now);
                continue;
            }
            19 if op.a % 8 == 0 => {
                // A restart: the checkpoint restored into a fresh aggregate.
                let bytes = agg.checkpoint().unwrap();
                agg = Aggregator::new(config.clone());
                agg.restore(&bytes).map_err(TestCaseError::fail)?;
                seq += 1;
                continue;
            }
            _ => {}
        }
        let Some(mut body) = model.event(op) else {
            continue;
        };
        if body.get("id").is_none() {
            model.next += 1;
            body["id"] = json!(format!("e{}", model.next));
            let ts = now - SignedDuration::from_secs(i64::from(op.late));
            body["ts"] = json!(ts.to_string());
        }
        let id = body["id"].as_str().unwrap_or_default().to_string();
        if !seen.insert(id) {
            // Dropped by ingest before the aggregate, as a retry is.
            duplicates += 1;
            continue;
        }
        let event = Event::from_json(&body.to_string()).map_err(TestCaseError::fail)?;
        match agg.apply(&event, now) {
            Ok(()) => {
                accepted += 1;
                seq += 1;
                match op.kind {
                    20 => CALLBACKS.fetch_add(1, Ordering::Relaxed),
                    21 => CALLBACKS_MADE.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
                model.accepted(&body);
            }
            Err(_) => rejected += 1,
        }
    }
    step_and_check(&mut agg, &boards, &mut clients, now, seq)?;
    CASES.fetch_add(1, Ordering::Relaxed);
    ACCEPTED.fetch_add(accepted, Ordering::Relaxed);
    REJECTED.fetch_add(rejected, Ordering::Relaxed);
    DUPLICATES.fetch_add(duplicates, Ordering::Relaxed);
    Ok(())
}

#[test]
fn the_incremental_board_equals_the_full_recomputation_in_every_view() {
    let config = ProptestConfig {
        cases: 96,
        // `engine.proptest-regressions` next to this file (the default
        // would look for `../proptest-regressions/engine.txt`, this
        // directory having a `main.rs`).
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in ops())| {
        run(&ops)?;
    });
    let cases = CASES.load(Ordering::Relaxed);
    let accepted = ACCEPTED.load(Ordering::Relaxed);
    let compared = COMPARED.load(Ordering::Relaxed);
    eprintln!(
        "{cases} cases reached the final comparison; {compared} steps compared; events: {accepted} accepted, {} rejected, {} repeated ids dropped",
        REJECTED.load(Ordering::Relaxed),
        DUPLICATES.load(Ordering::Relaxed),
    );
    let (callbacks, made) = (
        CALLBACKS.load(Ordering::Relaxed),
        CALLBACKS_MADE.load(Ordering::Relaxed),
    );
    eprintln!("callbacks: {callbacks} asked, {made} answered, queued again or ended");
    let (held, shared) = (
        SLOTS_HELD.load(Ordering::Relaxed),
        SLOTS_SHARED.load(Ordering::Relaxed),
    );
    eprintln!(
        "slots: {held} steps compared with a contact holding an agent's slot, {shared} with two on one channel"
    );
    assert!(
        held > cases && shared > cases / 20,
        "capacity is exercised: {held} steps with a slot held, {shared} with two at once"
    );
    assert!(cases >= 96, "every case ran to the end");
    assert!(
        callbacks > cases && made > cases / 2,
        "callbacks are exercised: {callbacks} asked, {made} made"
    );
    assert!(
        accepted > cases * 40,
        "most generated events must be valid: {accepted} accepted in {cases} cases"
    );
}
