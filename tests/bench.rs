//! `wallboard-bench` (run by `cargo xtask bench`): throughput of the core.
//!
//! 1. Aggregator alone: a simulated day of a 200-agent floor, applied
//!    in-process (events/s).
//! 2. Board computation for that floor spread over 10 queues (µs per board,
//!    and its JSON size).
//! 3. HTTP ingest: the same day POSTed as NDJSON in 1,000-event batches by
//!    several concurrent senders to a real server on loopback (events/s).
//!
//! 4. Fan-out latency on the real binary (`fanout`), slow clients, a busy
//!    floor.
//! 5. The engine at scale (`scaling`): floors of 200 to 20,000 agents under
//!    a generated load, watched by a floor viewer and 100 queue viewers.
//! 6. The soak (`soak`): 28 simulated hours at 200 events/s on a manual
//!    clock, the state's curve hour by hour, and the restart on that
//!    journal whole and with damaged records.
//! 7. The cluster (`cluster`): ingest through two nodes on three NATS
//!    servers against the local journal, cross-node POST → viewer latency,
//!    the stream leader and a node's NATS server killed; then viewers
//!    (`--cluster-viewers N`, 18,000 at most) on one node against split
//!    over two, and a node killed under its half (`--cluster-viewers-only`
//!    runs just these).
//!
//! Numbers go to stdout and to `target/bench/core.{md,json}`, with the
//! machine's conditions, since absolute times on a shared machine are noisy.
//! `--only core,fanout,scaling,soak,cluster` runs some of the sections (1–3 and the
//! polling baseline are `core`); the default is all of them.

mod bench_report;
mod cluster_bench;
mod fanout;
mod raw_broadcast;
mod scaling;
mod soak;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use wallboard::aggregator::Aggregator;
use wallboard::config::Config;
use wallboard::kpi;
use wallboard::simulator::{SimOptions, Simulation};
use wallboard_protocol::{Event, EventKind};

const AGENTS: usize = 200;
const QUEUE_SPLIT: u64 = 2; // the simulator's 5 queues × 2 = 10 queues
const BATCH: usize = 1_000;
const SENDERS: usize = 4;

/// The ingest benchmark's server: one sender (this machine) may send as
/// fast as it can.
const INGEST_CONFIG: &str =
    "timezone = \"Asia/Shanghai\"\n[limits]\ningest_events_per_second = 10000000\n";

fn main() {
    // The raw broadcast floor runs as a process of its own, so that its CPU
    // and memory are measured as the wallboard's are.
    if let Some(recording) = std::env::args()
        .skip_while(|a| a != "--raw-broadcast")
        .nth(1)
    {
        raw_broadcast::serve(std::path::Path::new(&recording));
        return;
    }
    let out = std::env::args()
        .skip_while(|a| a != "--out")
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench"));
    let sections = Sections::from_args();
    let view = std::env::args()
        .skip_while(|a| a != "--view")
        .nth(1)
        .unwrap_or_else(|| "floor".into());
    std::fs::create_dir_all(&out).expect("create the report directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let mut report = serde_json::Map::new();
    if sections.core {
        report.extend(core(&runtime, &out));
    }
    if sections.fanout {
        report.extend(fanout_section(&runtime, &out, &view));
    }
    if sections.scaling {
        report.insert("scaling".into(), json!(scaling::run(&runtime, &out)));
    }
    if sections.soak {
        report.insert("soak".into(), soak::run(&runtime, &out));
    }
    if sections.cluster {
        report.insert("cluster".into(), cluster_bench::run(&runtime, &out));
    }
    report.insert("machine".into(), json!(machine()));
    let report = serde_json::Value::Object(report);
    let markdown = bench_report::markdown(&report, &view);
    std::fs::write(
        out.join("core.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .expect("write core.json");
    std::fs::write(out.join("core.md"), markdown).expect("write core.md");
    println!("report: {}", out.join("core.md").display());
}

/// Which sections to run: `--only a,b` (names: core, fanout, scaling,
/// soak, cluster), all of them by default.
struct Sections {
    core: bool,
    fanout: bool,
    scaling: bool,
    soak: bool,
    cluster: bool,
}

impl Sections {
    fn from_args() -> Sections {
        let Some(only) = std::env::args().skip_while(|a| a != "--only").nth(1) else {
            return Sections {
                core: true,
                fanout: true,
                scaling: true,
                soak: true,
                cluster: true,
            };
        };
        let names: Vec<&str> = only.split(',').map(str::trim).collect();
        for name in &names {
            assert!(
                ["core", "fanout", "scaling", "soak", "cluster"].contains(name),
                "--only {only}: unknown section {name:?} (sections: core, fanout, scaling, soak, cluster)"
            );
        }
        Sections {
            core: names.contains(&"core"),
            fanout: names.contains(&"fanout"),
            scaling: names.contains(&"scaling"),
            soak: names.contains(&"soak"),
            cluster: names.contains(&"cluster"),
        }
    }
}

/// 1–3 and the polling baseline: the report's keys.
fn core(
    runtime: &tokio::runtime::Runtime,
    out: &std::path::Path,
) -> serde_json::Map<String, serde_json::Value> {
    let config = Arc::new(Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap());
    let start: Timestamp = "2026-11-23T00:00:00+08:00".parse().unwrap();
    let end = start + SignedDuration::from_hours(24);
    let events = simulated_day(&config, start, end);
    println!(
        "workload: a simulated day, {AGENTS} agents, 10 queues: {} events",
        events.len()
    );

    // 1. Aggregator alone.
    let mut best_apply = f64::MAX;
    let mut agg = Aggregator::new(config.clone());
    for _ in 0..3 {
        agg = Aggregator::new(config.clone());
        let t = Instant::now();
        for event in &events {
            agg.apply(event, end).expect("simulated events are valid");
        }
        best_apply = best_apply.min(t.elapsed().as_secs_f64());
    }
    let apply_rate = events.len() as f64 / best_apply;
    println!(
        "aggregator apply (in-process): {:.0} events/s (best of 3)",
        apply_rate
    );

    // The checkpoint that starts each day's journal segment: the whole
    // aggregate after a full day, serialized under the ingest lock.
    let t = Instant::now();
    let checkpoint = agg.checkpoint().expect("checkpoint");
    let checkpoint_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mut restored = Aggregator::new(config.clone());
    restored.restore(&checkpoint).expect("restore");
    let restore_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "checkpoint of a day's aggregate: {:.1} MB, {checkpoint_ms:.0} ms to write, {restore_ms:.0} ms to restore",
        checkpoint.len() as f64 / 1e6
    );

    // A day's ids kept for dedupe, grown one by one: the longest single
    // insert is a growth of the table, under the core lock; one `HashSet`
    // of the same ids is the baseline.
    let growth = growth_pauses(GROWTH_IDS);
    println!(
        "growing the dedupe ids to {GROWTH_IDS}: longest single insert {:.2} ms sharded, {:.2} ms in one HashSet",
        growth.0, growth.1
    );

    // 2. Board computation.
    let board = kpi::board(&agg, end, 1);
    let (queues, agents) = (board.queues.len(), board.agents.len());
    let rounds = 500;
    let t = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(kpi::board(&agg, end, 1));
    }
    let board_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes = serde_json::to_vec(&kpi::board(&agg, end, 1)).unwrap().len();
    }
    let board_json_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!(
        "board: {queues} queues, {agents} agents: {board_us:.0} µs to compute, {board_json_us:.0} µs with JSON ({bytes} bytes)"
    );

    // 3. HTTP ingest.
    let (http_rate, accepted) = runtime.block_on(http_ingest(&events, end, None));
    println!(
        "HTTP ingest, journal off: {http_rate:.0} events/s (NDJSON, {BATCH}-event batches, {SENDERS} senders, {accepted} accepted)"
    );
    // The same with the journal on (group commit), then a restart:
    // the replay of that day's journal is what stands between a restart
    // and `/readyz`.
    let journal_dir = out.join("journal");
    let _ = std::fs::remove_dir_all(&journal_dir);
    let (journal_rate, journal_accepted) =
        runtime.block_on(http_ingest(&events, end, Some(journal_dir.clone())));
    println!("HTTP ingest, journal on: {journal_rate:.0} events/s ({journal_accepted} accepted)");
    let journal_bytes: u64 = std::fs::read_dir(&journal_dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let replay_started = Instant::now();
    let replayed = runtime.block_on(
        wallboard_tests::TestServer::builder("timezone = \"Asia/Shanghai\"")
            .at(end)
            .data_dir(&journal_dir)
            .start(),
    );
    let restart_seconds = replay_started.elapsed().as_secs_f64();
    let replay_rate = events.len() as f64 / restart_seconds;
    println!(
        "restart with a day's journal ({} events, {:.1} MB): ready in {restart_seconds:.2} s ({replay_rate:.0} events/s)",
        events.len(),
        journal_bytes as f64 / 1e6
    );
    runtime.block_on(replayed.server.stop());
    let _ = std::fs::remove_dir_all(&journal_dir);

    // The polling alternative (what Grafana over Prometheus gives): a
    // client reading GET /api/v1/board every 5 s; how old an event is when
    // it first shows there.
    let (poll_p50, poll_p99) = runtime.block_on(polling_staleness());
    println!(
        "polling GET /api/v1/board every 5 s: an event shows after p50 {poll_p50:.0} ms, p99 {poll_p99:.0} ms"
    );
    let report = json!({
        "workload": {"events": events.len(), "agents": AGENTS, "queues": queues},
        "aggregator_events_per_second": apply_rate,
        "board_compute_microseconds": board_us,
        "board_compute_and_json_microseconds": board_json_us,
        "board_json_bytes": bytes,
        "http_ingest_events_per_second": http_rate,
        "http_ingest_journal_events_per_second": journal_rate,
        "restart_seconds": restart_seconds,
        "replay_events_per_second": replay_rate,
        "checkpoint_bytes": checkpoint.len(),
        "checkpoint_write_milliseconds": checkpoint_ms,
        "checkpoint_restore_milliseconds": restore_ms,
        "growth": {"ids": GROWTH_IDS, "sharded_longest_insert_ms": growth.0,
            "hash_set_longest_insert_ms": growth.1},
        "polling_5s_staleness_p50_ms": poll_p50,
        "polling_5s_staleness_p99_ms": poll_p99,
        "http_batch": BATCH,
        "http_senders": SENDERS,
    });
    match report {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Ids in the growth measurement: a busy day's events (500 a second for
/// about an hour; a day at that rate is 18 times more).
const GROWTH_IDS: usize = 2_000_000;

/// The longest single insert (ms) of `n` ids into `Dedupe`, and into one
/// `HashSet<Arc<str>>`.
fn growth_pauses(n: usize) -> (f64, f64) {
    let ids: Vec<String> = (0..n).map(|i| format!("evt-{i:010}-pbx-7")).collect();
    let now = Timestamp::now();
    let mut dedupe = wallboard::ingest::Dedupe::new(SignedDuration::from_hours(25));
    let mut sharded: f64 = 0.0;
    for id in &ids {
        let t = Instant::now();
        dedupe.insert(id, now);
        sharded = sharded.max(t.elapsed().as_secs_f64() * 1e3);
    }
    assert_eq!(dedupe.len(), n);
    drop(dedupe);
    let mut set: std::collections::HashSet<Arc<str>> = std::collections::HashSet::new();
    let mut plain: f64 = 0.0;
    for id in &ids {
        let t = Instant::now();
        set.insert(Arc::from(id.as_str()));
        plain = plain.max(t.elapsed().as_secs_f64() * 1e3);
    }
    assert_eq!(set.len(), n);
    (sharded, plain)
}

/// Section 4 (fan-out latency on the real binary, slow clients, a busy
/// floor): the report's keys.
fn fanout_section(
    runtime: &tokio::runtime::Runtime,
    out: &std::path::Path,
    view: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let viewer_counts: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--viewers")
        .nth(1)
        .map(|list| list.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| {
            let mut sizes = vec![1_000, 5_000, 10_000];
            sizes.extend(most_viewers().filter(|&n| n > 10_000));
            sizes
        });
    // Every viewer of the benchmark comes from 127.0.0.1.
    let config = out.join("fanout.toml");
    std::fs::write(&config, "[limits]\nmax_viewers_per_ip = 100000\n").expect("write fanout.toml");
    let config = config.to_str().expect("a UTF-8 path").to_string();
    let wallboard = || {
        wallboard_tests::BinaryServer::start(
            &[
                "--simulate",
                "--seed",
                "1",
                "--sim-agents",
                "80",
                "--config",
                &config,
            ],
            &[("RUST_LOG", "warn,wallboard=info")],
        )
    };
    // The raw floor replays what a viewer of this view receives.
    let recording = out.join("recording.ndjson");
    let recorded = {
        let server = wallboard();
        runtime.block_on(record(&server.url, view, &recording))
    };
    let raw_floor_of = |recording: &std::path::Path| {
        let program = std::env::current_exe().expect("this program");
        let recording = recording.to_str().expect("a UTF-8 path");
        wallboard_tests::BinaryServer::start_program(&program, &["--raw-broadcast", recording])
    };
    println!(
        "recorded the {view} view's stream for the raw floor: {} messages, {:.0} bytes on average",
        recorded.0, recorded.1
    );
    // One fan-out size, 20 rounds, every viewer reading: the wallboard
    // (with a generator adding `busy` events a second, if any), then the
    // raw floor replaying `recording`; the row holds both and the ratios.
    let versus_floor = |label: &str, viewers, recording: &std::path::Path, busy: Option<usize>| {
        let mut row = json!({"viewers": viewers});
        for name in ["wallboard", "raw_floor"] {
            let server = if name == "wallboard" {
                wallboard()
            } else {
                raw_floor_of(recording)
            };
            let generator = busy
                .filter(|_| name == "wallboard")
                .map(|rate| runtime.spawn(generate(server.url.clone(), rate)));
            let r = runtime.block_on(fanout::run(
                &server.url,
                server.pid(),
                view,
                viewers,
                0,
                20,
                false,
            ));
            if let Some(generator) = generator {
                generator.abort();
            }
            println!("{label}, {name}, {}", r.summary());
            row[name] = fanout_json(&r);
        }
        let ratio = |key: &str| {
            row["wallboard"][key].as_f64().unwrap_or(f64::NAN)
                / row["raw_floor"][key].as_f64().unwrap_or(f64::NAN)
        };
        let (p99_ratio, cpu_ratio) = (ratio("p99_ms"), ratio("server_cpu_us_per_message"));
        println!(
            "{label}, {viewers} viewers, wallboard ÷ raw floor: p99 latency ×{p99_ratio:.2}, CPU per message ×{cpu_ratio:.2}"
        );
        row["p99_ratio_to_raw_floor"] = json!(p99_ratio);
        row["cpu_per_message_ratio_to_raw_floor"] = json!(cpu_ratio);
        row
    };
    let fanout_rows: Vec<_> = viewer_counts
        .into_iter()
        .map(|viewers| versus_floor("fan-out", viewers, &recording, None))
        .collect();

    // Slow clients: 1% of 10,000 viewers never read. The others' latency
    // must not move, the slow ones must be let go, memory stays bounded.
    let slow_run = (!fanout_rows.is_empty()).then(|| {
        // 100 rounds (about 45 s): they span the slow viewers' buffers
        // filling, their sends stuck for the drain bound, and their end.
        // The reference: the same run without slow viewers, just before and
        // just after (how much two such runs differ is the noise), metrics
        // read alike in all three.
        let (viewers, slow, rounds) = (10_000, 100, 100);
        let run = |slow| {
            let server = wallboard();
            let pid = server.pid();
            runtime.block_on(fanout::run(&server.url, pid, view, viewers, slow, rounds, true))
        };
        let before = run(0);
        let r = run(slow);
        let after = run(0);
        let reference_p99 = (before.p99_ms + after.p99_ms) / 2.0;
        let moved = r.p99_ms - reference_p99;
        let noise = (before.p99_ms - after.p99_ms).abs();
        println!(
            "slow clients: {slow} of {viewers} viewers never read, {rounds} rounds: the others' p50 {:.1} ms, p99 {:.1} ms ({moved:+.1} ms against p99 {:.1} and {:.1} ms without slow viewers, just before and after), max {:.1} ms, missed {}; slow ones disconnected {} as slow and {} as dead of {slow}, the last {:.0} s after they connected; server RSS {} KiB connected, {} KiB at most, {} KiB at the end (without slow viewers: {} KiB connected, {} KiB at most, {} KiB at the end)",
            r.p50_ms,
            r.p99_ms,
            before.p99_ms,
            after.p99_ms,
            r.max_ms,
            r.missed,
            r.slow_disconnected,
            r.slow_dead,
            r.slow_seconds,
            r.rss_connected_kb,
            r.rss_max_kb,
            r.rss_end_kb,
            before.rss_connected_kb,
            before.rss_max_kb,
            before.rss_end_kb,
        );
        json!({"viewers": viewers, "slow": slow, "rounds": rounds, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            "p99_moved_ms": moved, "p99_noise_ms": noise,
            "max_ms": r.max_ms, "missed": r.missed,
            "slow_disconnected": r.slow_disconnected, "slow_closed_as_dead": r.slow_dead,
            "slow_gone_after_seconds": r.slow_seconds,
            "server_rss_connected_kib": r.rss_connected_kb,
            "server_rss_max_kib": r.rss_max_kb,
            "server_rss_end_kib": r.rss_end_kb,
            "without_slow_before": fanout_json(&before),
            "without_slow_after": fanout_json(&after)})
    });

    // A busy floor: a generator adds BUSY_RATE events a second, so every
    // tick has a change and every viewer gets ten patches a second. The
    // raw floor replays a recording of that busy stream.
    let busy = (!fanout_rows.is_empty()).then(|| {
        let viewers = 10_000;
        let busy_recording = out.join("recording-busy.ndjson");
        let recorded = {
            let server = wallboard();
            let generator = runtime.spawn(generate(server.url.clone(), BUSY_RATE));
            let recorded = runtime.block_on(record(&server.url, view, &busy_recording));
            generator.abort();
            recorded
        };
        let mut row = versus_floor(
            &format!("busy floor ({BUSY_RATE} events/s)"),
            viewers,
            &busy_recording,
            Some(BUSY_RATE),
        );
        row["events_per_second"] = json!(BUSY_RATE);
        row["recording"] = json!({"messages": recorded.0, "average_bytes": recorded.1});
        row
    });

    let report = json!({
        "fanout": fanout_rows,
        "slow_clients": slow_run,
        "busy_floor": busy,
        "raw_floor_recording": {"messages": recorded.0, "average_bytes": recorded.1},
    });
    match report {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A busy floor's event rate (events a second).
const BUSY_RATE: usize = 200;

/// `rate` events a second, in batches every 100 ms, into five queues of
/// its own: each contact offered, then abandoned a second later (so the
/// waiting lines stay short and the board stays the same size). Runs until
/// aborted.
async fn generate(url: String, rate: usize) {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let offers = (rate / 20).max(1);
    let mut waiting = std::collections::VecDeque::new();
    for n in 0u64.. {
        tick.tick().await;
        let ts = Timestamp::now().to_string();
        let contacts: Vec<String> = (0..offers).map(|i| format!("busy-{n}-{i}")).collect();
        let mut lines: Vec<String> = contacts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": format!("{c}-offered"), "ts": ts, "type": "contact_offered",
                    "contact": c, "queue": format!("busy-{}", i % 5)})
                .to_string()
            })
            .collect();
        waiting.push_back(contacts);
        if waiting.len() > 10 {
            for c in waiting.pop_front().unwrap_or_default() {
                lines.push(
                    json!({"id": format!("{c}-abandoned"), "ts": ts, "type": "contact_abandoned",
                        "contact": c})
                    .to_string(),
                );
            }
        }
        let reply =
            wallboard_tests::post_events(&client, &url, lines.join("\n"), "application/x-ndjson")
                .await;
        assert_eq!(
            reply.status, 200,
            "the generator's batch was refused: {}",
            reply.body
        );
    }
}

/// A fan-out run's figures, for the JSON report.
fn fanout_json(r: &fanout::FanoutResult) -> serde_json::Value {
    json!({
        "connected": r.connected, "rounds": r.rounds,
        "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms,
        "missed": r.missed, "server_rss_idle_kib": r.rss_idle_kb,
        "server_rss_per_viewer_bytes": r.rss_per_viewer_bytes,
        "server_cpu_percent": r.server_cpu_percent,
        "messages_per_second": r.messages_per_second,
        "events_per_second": r.events_per_second,
        "server_cpu_us_per_message": r.cpu_us_per_message,
        "client_cpu_percent": r.client_cpu_percent,
        "server_burst_cpu_percent": r.server_burst_cpu_percent,
        "client_burst_cpu_percent": r.client_burst_cpu_percent,
        "server_rss_connected_kib": r.rss_connected_kb,
        "server_rss_max_kib": r.rss_max_kb,
        "server_rss_end_kib": r.rss_end_kb,
    })
}

/// Records what a viewer of `view` receives for 10 s (patches and
/// heartbeats, not the snapshot), `OFFSET_MS<TAB>MESSAGE` a line, for the
/// raw floor to replay; returns the count and the average size.
async fn record(url: &str, view: &str, path: &std::path::Path) -> (usize, f64) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut viewer = wallboard_tests::Viewer::connect(url, &format!("view={view}")).await;
    let mut messages = Vec::new();
    let started = tokio::time::Instant::now();
    let until = started + Duration::from_secs(10);
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, viewer.socket.next()).await {
        if let Message::Text(text) = message {
            messages.push((started.elapsed().as_millis(), text.to_string()));
        }
    }
    assert!(!messages.is_empty(), "the {view} view sent nothing in 10 s");
    let average =
        messages.iter().map(|(_, m)| m.len()).sum::<usize>() as f64 / messages.len() as f64;
    let lines: Vec<String> = messages
        .iter()
        .map(|(at, m)| format!("{at}\t{m}"))
        .collect();
    std::fs::write(path, lines.join("\n")).expect("write the recording");
    (messages.len(), average)
}

/// A day of the simulator, its queues split in two by contact so the board
/// has ten.
pub(crate) fn simulated_day(config: &Arc<Config>, start: Timestamp, end: Timestamp) -> Vec<Event> {
    let mut sim = Simulation::new(SimOptions {
        seed: 1,
        agents: AGENTS,
        timezone: config.timezone.clone(),
        start,
    });
    let mut events = Vec::new();
    let mut t = start;
    while t < end {
        t += SignedDuration::from_mins(1);
        events.extend(sim.advance_to(t));
    }
    let split = |queue: &str, key: &str| {
        format!(
            "{queue}-{}",
            wallboard_tests::stable_hash(key) % QUEUE_SPLIT
        )
    };
    let mut contact_queue = std::collections::HashMap::new();
    for event in &mut events {
        match &mut event.kind {
            EventKind::ContactOffered { contact, queue, .. } => {
                *queue = split(queue, contact);
                contact_queue.insert(contact.clone(), queue.clone());
            }
            EventKind::AgentState {
                queues: Some(queues),
                ..
            } => {
                *queues = queues
                    .iter()
                    .flat_map(|q| (0..QUEUE_SPLIT).map(move |n| format!("{q}-{n}")))
                    .collect();
            }
            EventKind::SurveySubmitted {
                contact: Some(contact),
                queue: Some(queue),
                ..
            } => {
                *queue = contact_queue
                    .get(contact)
                    .cloned()
                    .unwrap_or_else(|| split(queue, contact));
            }
            EventKind::ComplaintOpened {
                queue: Some(queue), ..
            } => *queue = format!("{queue}-0"),
            _ => {}
        }
    }
    events
}

async fn http_ingest(events: &[Event], now: Timestamp, journal: Option<PathBuf>) -> (f64, u64) {
    let mut builder = wallboard_tests::TestServer::builder(INGEST_CONFIG).at(now);
    if let Some(dir) = journal {
        builder = builder.data_dir(dir);
    }
    let server = builder.start().await;
    let measured = cluster_bench::ingest(&[&server], events).await;
    server.server.stop().await;
    measured
}

/// An event every 700 ms for 40 s, a poller every 5 s (its own phase): for
/// each event, the time from its POST to the first poll that shows it.
async fn polling_staleness() -> (f64, f64) {
    let server = wallboard_tests::TestServer::builder(INGEST_CONFIG)
        .start()
        .await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let sent: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Default::default();
    let poller = {
        let (client, url, sent) = (client.clone(), server.url.clone(), sent.clone());
        tokio::spawn(async move {
            let mut seen: Vec<f64> = Vec::new();
            let mut shown = std::collections::HashSet::new();
            tokio::time::sleep(Duration::from_millis(1700)).await;
            while started.elapsed() < Duration::from_secs(50) {
                let at = Instant::now();
                let board = client
                    .get(format!("{url}/api/v1/board"))
                    .send()
                    .await
                    .expect("poll")
                    .text()
                    .await
                    .expect("board");
                for (queue, posted) in sent.lock().unwrap().iter() {
                    if !shown.contains(queue) && board.contains(queue.as_str()) {
                        shown.insert(queue.clone());
                        seen.push(at.duration_since(*posted).as_secs_f64() * 1e3);
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            seen
        })
    };
    for i in 0..57 {
        let queue = format!("poll-{i}");
        let event = serde_json::json!({"id": queue, "ts": jiff::Timestamp::now().to_string(),
            "type": "contact_offered", "contact": queue, "queue": queue});
        let posted = Instant::now();
        let reply = client
            .post(format!("{}/api/v1/events", server.url))
            .body(event.to_string())
            .send()
            .await
            .expect("post");
        assert!(reply.status().is_success());
        sent.lock().unwrap().push((format!("\"{queue}\""), posted));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let mut seen = poller.await.expect("poller");
    server.server.stop().await;
    seen.sort_by(f64::total_cmp);
    (percentile(&seen, 0.5), percentile(&seen, 0.99))
}

/// The `p` quantile of `sorted` (the nearest rank), NaN when it is empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of `values`, NaN when there are none.
pub(crate) fn percentiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        percentile(&values, 0.5),
        percentile(&values, 0.99),
        values.last().copied().unwrap_or(f64::NAN),
    )
}

/// The most viewers the open-file limit allows one process (the load
/// client holds one socket per viewer, and so does the server), keeping
/// 1,000 descriptors spare, in whole thousands.
fn most_viewers() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft: usize = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(soft.checked_sub(1_000)? / 1_000 * 1_000)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), load average {load}")
}
