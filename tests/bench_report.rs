//! The benchmark's Markdown report, written from its JSON report (so the
//! two never disagree), with each target checked against what was measured.

use serde_json::Value;

pub fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// "met" / "missed" / "not measured" for `measured` against a bound.
fn verdict(measured: Option<f64>, within: impl Fn(f64) -> bool) -> &'static str {
    match measured {
        Some(m) if m.is_finite() => {
            if within(m) {
                "met"
            } else {
                "**missed**"
            }
        }
        _ => "not measured",
    }
}

const FANOUT_HEAD: &str = "| viewers | server | p50 ms | p90 ms | p99 ms | max ms | missed | RSS per viewer (KB) | server CPU | messages/s | CPU µs per message | load client CPU | server / load client CPU while delivering |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// A fan-out size's two table lines: the wallboard and the raw floor.
fn fanout_lines(row: &Value) -> String {
    let mut lines = String::new();
    for (key, name) in [("wallboard", "wallboard"), ("raw_floor", "raw floor")] {
        let r = &row[key];
        lines.push_str(&format!(
            "| {} | {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.0}% | {:.0} | {:.1} | {:.0}% | {:.0}% / {:.0}% |\n",
            row["viewers"],
            num(&r["p50_ms"]),
            num(&r["p90_ms"]),
            num(&r["p99_ms"]),
            num(&r["max_ms"]),
            r["missed"],
            num(&r["server_rss_per_viewer_bytes"]) / 1000.0,
            num(&r["server_cpu_percent"]),
            num(&r["messages_per_second"]),
            num(&r["server_cpu_us_per_message"]),
            num(&r["client_cpu_percent"]),
            num(&r["server_burst_cpu_percent"]),
            num(&r["client_burst_cpu_percent"]),
        ));
    }
    lines
}

/// A table's head, then its rows.
fn table(md: &mut String, head: &str, rows: impl Iterator<Item = String>) {
    md.push_str(head);
    md.extend(rows);
}

fn row_of(fanout: &[Value], viewers: u64) -> Option<&Value> {
    fanout.iter().find(|r| r["viewers"] == viewers)
}

pub fn markdown(report: &Value, view: &str) -> String {
    let empty = Vec::new();
    let fanout = report["fanout"].as_array().unwrap_or(&empty);
    let mut md = format!(
        "# Benchmarks\n\nMachine: {}\n\nProduced by `cargo xtask bench`; the same figures are in `core.json`. \
         Absolute times on a shared 2-core machine are noisy: compare the ratios to the baselines measured in the same run.\n",
        report["machine"].as_str().unwrap_or("unknown")
    );

    // Targets first: each checked against this run's figures.
    let p99_at = |n: u64| row_of(fanout, n).map(|r| num(&r["wallboard"]["p99_ms"]));
    let worst = |key: &str| {
        fanout
            .iter()
            .map(|r| num(&r["wallboard"][key]))
            .filter(|v| v.is_finite())
            .reduce(f64::max)
    };
    let worst_ratio = fanout
        .iter()
        .map(|r| num(&r["cpu_per_message_ratio_to_raw_floor"]))
        .filter(|v| v.is_finite())
        .reduce(f64::max);
    let slow = &report["slow_clients"];
    let fmt = |v: Option<f64>, unit: &str| {
        v.filter(|v| v.is_finite())
            .map_or("—".to_string(), |v| format!("{v:.1}{unit}"))
    };
    let journal = num(&report["http_ingest_journal_events_per_second"]);
    let apply = num(&report["aggregator_events_per_second"]);
    let moved = slow["p99_moved_ms"].as_f64();
    // Let go as slow, or closed for answering no ping: either way the
    // server did not keep them.
    let gone = slow["slow_disconnected"].as_u64().unwrap_or(0)
        + slow["slow_closed_as_dead"].as_u64().unwrap_or(0);
    let slow_gone = slow["slow"]
        .as_u64()
        .map(|of| gone as f64 / of.max(1) as f64);
    let per_second = |v: f64| {
        if v.is_finite() {
            format!("{v:.0} events/s")
        } else {
            "—".into()
        }
    };
    md.push_str(&format!(
        "\n## Targets\n\n| target | measured | |\n|---|---|---|\n\
         | HTTP ingest, journal on ≥ 200,000 events/s | {} | {} |\n\
         | aggregator in-process ≥ 1,000,000 events/s | {} | {} |\n\
         | 10,000 viewers, 100 ms tick: p99 ≤ 200 ms | {} | {} |\n\
         | 1,000 viewers: p99 ≤ 120 ms | {} | {} |\n\
         | server RSS per idle viewer ≤ 20 KB (largest of the sizes) | {} | {} |\n\
         | CPU per delivered message ≤ 1.5 × the raw floor (largest of the sizes) | {} | {} |\n\
         | slow clients (1%): the others' p99 moves up ≤ 10 ms | {} | {} |\n\
         | slow clients are disconnected | {} | {} |\n",
        per_second(journal),
        verdict(Some(journal), |v| v >= 200_000.0),
        per_second(apply),
        verdict(Some(apply), |v| v >= 1_000_000.0),
        fmt(p99_at(10_000), " ms"),
        verdict(p99_at(10_000), |v| v <= 200.0),
        fmt(p99_at(1_000), " ms"),
        verdict(p99_at(1_000), |v| v <= 120.0),
        fmt(
            worst("server_rss_per_viewer_bytes").map(|b| b / 1000.0),
            " KB"
        ),
        verdict(worst("server_rss_per_viewer_bytes"), |v| v <= 20_000.0),
        worst_ratio.map_or("—".into(), |r| format!("{r:.2} ×")),
        verdict(worst_ratio, |v| v <= 1.5),
        moved.map_or("—".into(), |m| format!(
            "{m:+.1} ms (two runs without them differ by {:.1} ms)",
            num(&slow["p99_noise_ms"])
        )),
        verdict(moved, |v| v <= 10.0),
        slow["slow"]
            .as_u64()
            .map_or("—".into(), |of| format!("{gone} of {of}")),
        verdict(slow_gone, |v| v >= 1.0),
    ));
    let scaling = report["scaling"].as_array().unwrap_or(&empty);
    md.push_str(&scaling_targets(scaling));

    if report.get("aggregator_events_per_second").is_some() {
        md.push_str(&format!(
        "\n## Ingest and the core\n\nWorkload: a simulated day of a {}-agent floor over {} queues, {} events.\n\n\
         | measure | value |\n|---|---|\n\
         | aggregator apply, in-process | {apply:.0} events/s |\n\
         | board computation | {:.0} µs |\n\
         | board computation + JSON ({} bytes) | {:.0} µs |\n\
         | HTTP ingest, NDJSON, {}-event batches, {} senders, journal off | {:.0} events/s |\n\
         | the same, journal on (group commit) | {journal:.0} events/s |\n\
         | restart with that day's journal: ready in | {:.2} s ({:.0} events/s) |\n\
         | the day's checkpoint (a new segment's first file) | {:.1} MB, written in {:.0} ms, restored in {:.0} ms |\n\
         | growing the dedupe ids to {}: the longest single insert (a growth), sharded / one `HashSet` (baseline) | {:.2} ms / {:.2} ms |\n",
        report["workload"]["agents"],
        report["workload"]["queues"],
        report["workload"]["events"],
        num(&report["board_compute_microseconds"]),
        report["board_json_bytes"],
        num(&report["board_compute_and_json_microseconds"]),
        report["http_batch"],
        report["http_senders"],
        num(&report["http_ingest_events_per_second"]),
        num(&report["restart_seconds"]),
        num(&report["replay_events_per_second"]),
        num(&report["checkpoint_bytes"]) / 1e6,
        num(&report["checkpoint_write_milliseconds"]),
        num(&report["checkpoint_restore_milliseconds"]),
        report["growth"]["ids"],
        num(&report["growth"]["sharded_longest_insert_ms"]),
        num(&report["growth"]["hash_set_longest_insert_ms"]),
    ));
    }

    if report.get("fanout").is_some() {
        fanout_sections(&mut md, report, view);
    }
    if !scaling.is_empty() {
        md.push_str(&scaling_section(scaling));
    }
    if report.get("soak").is_some() {
        md.push_str(&soak_section(&report["soak"]));
    }
    if report["cluster"]["measured"] == true {
        md.push_str(&cluster_section(&report["cluster"]));
    }
    md
}

/// The cluster's ingest and cross-node latency, with their targets.
fn cluster_section(c: &Value) -> String {
    let (single, cluster) = (
        num(&c["single_journal_events_per_second"]),
        num(&c["cluster_events_per_second"]),
    );
    let p99 = num(&c["cross_node_p99_ms"]);
    format!(
        "\n## Cluster\n\nThree nats-server {} (R3, `sync_interval: always`) and two wallboard nodes in one process, all on this machine; \
         {} events of a simulated day in {}-event POSTs by {} senders spread over both nodes, against one server with its journal \
         on in the same run.\n\n| measure | value | target | |\n|---|---|---|---|\n\
         | ingest through the cluster | {cluster:.0} events/s ({:.2} × one server's {single:.0}) | ≥ 50,000 events/s | {} |\n\
         | POST to one node → viewer on the other, {} rounds | p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms | p99 ≤ 150 ms | {} |\n\
         | stream leader killed (`kill -9` of its NATS server) → a POST acknowledged again | {:.1} s | ≤ 10 s | {} |\n\
         | the same → shown on a viewer of the other node | {:.1} s | | |\n",
        c["nats_server"].as_str().unwrap_or("?"),
        c["events"],
        c["batch"],
        c["senders"],
        cluster / single,
        verdict(Some(cluster), |v| v >= 50_000.0),
        c["cross_node_rounds"],
        num(&c["cross_node_p50_ms"]),
        num(&c["cross_node_max_ms"]),
        verdict(Some(p99), |v| v <= 150.0),
        num(&c["leader_killed_acknowledged_seconds"]),
        verdict(c["leader_killed_acknowledged_seconds"].as_f64(), |v| v
            <= 10.0),
        num(&c["leader_killed_shown_seconds"]),
    ) + &cluster_viewers_rows(&c["viewers"])
}

/// The viewer runs on the release binary: the split against one node, and
/// a node killed under its viewers. Both nodes and the load client share
/// this machine's cores, so the split cannot hold more viewers here; what
/// two machines would hold is projected from the CPU per message.
fn cluster_viewers_rows(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    let (one, two) = (&v["one_node"], &v["two_nodes"]);
    let cpu_ratio = num(&v["cpu_per_message_ratio_two_to_one"]);
    let projected = 2.0 / cpu_ratio;
    let f = &v["failover"];
    let moved_max = num(&f["max_seconds"]);
    let all_current = f["never"].as_u64() == Some(0);
    format!(
        "| {} viewers on one node (release binary) | p99 {:.1} ms, {:.1} µs CPU per message | | |\n\
         | the same viewers split over two nodes, rounds POSTed to one | p99 {:.1} ms (×{:.2}), {:.1} µs CPU per message (×{cpu_ratio:.2}) | | |\n\
         | viewers two nodes on two machines hold at that p99, projected (2 ÷ the CPU ratio; here both share one machine) | {projected:.2} × one node's | ≥ 1.8 × | {} |\n\
         | a node killed (`kill -9`) under {} viewers, {} more on the other → all moved viewers current on the other | p50 {:.2} s, p99 {:.2} s, max {moved_max:.2} s, {} of {} | ≤ 3 s | {} |\n",
        v["viewers"],
        num(&one["p99_ms"]),
        num(&one["server_cpu_us_per_message"]),
        num(&two["p99_ms"]),
        num(&v["p99_ratio_two_to_one"]),
        num(&two["server_cpu_us_per_message"]),
        verdict(Some(projected), |p| p >= 1.8),
        f["connected"],
        f["staying"],
        num(&f["p50_seconds"]),
        num(&f["p99_seconds"]),
        f["current"],
        f["connected"],
        verdict(Some(moved_max), |m| all_current && m <= 3.0),
    )
}

/// The soak's curve, and the restarts on its journal.
fn soak_section(soak: &Value) -> String {
    let empty = Vec::new();
    let curve = soak["curve"].as_array().unwrap_or(&empty);
    let mut md = format!(
        "\n## Soak\n\n{} simulated hours at {} events/s ({} events, {} a POST) into the server on a manual clock, \
         journal on, housekeeping every simulated 15 minutes, a team screen coming and going every 30; \
         {:.0} s wall, slowest POST {:.0} ms (the midnight checkpoint is written under the first POST of a day). \
         RSS is the bench process's (the server runs in it).\n\n\
         | hour | events | dedupe ids | contacts kept | agents | minute buckets | day buckets | views | RSS MB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        soak["hours"],
        soak["rate"],
        soak["events"],
        soak["events_per_post"],
        num(&soak["wall_seconds"]),
        num(&soak["slowest_post_ms"]),
    );
    for row in curve {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
            row["hour"],
            row["events"],
            row["dedupe_ids"],
            row["contacts"],
            row["agents"],
            row["minute_buckets"],
            row["day_buckets"],
            row["views"],
            num(&row["rss_mb"]),
        ));
    }
    // Levelled off: once a collection's retention is full, the last hour
    // holds no more than that hour (10% slack for the floor's rate) —
    // measured only when the run went past it.
    let at = |h: u64, key: &str| curve.iter().find(|r| r["hour"] == h).map(|r| num(&r[key]));
    let last = curve.last().and_then(|r| r["hour"].as_u64()).unwrap_or(0);
    let level = |key: &str, full: u64| match (last > full).then(|| (at(full, key), at(last, key))) {
        Some((Some(then), Some(end))) => Some(end / then.max(1.0)),
        _ => None,
    };
    md.push('\n');
    for (key, what, full) in [
        ("dedupe_ids", "dedupe ids (kept 24 h)", 24),
        ("contacts", "finished contacts (kept 26 h)", 26),
        ("rss_mb", "RSS", 26),
    ] {
        let ratio = level(key, full);
        md.push_str(&format!(
            "- {what}, the last hour against hour {full} ≤ 1.1 ×: {} — {}\n",
            ratio.map_or("—".into(), |r| format!("{r:.3} ×")),
            verdict(ratio, |r| r <= 1.1)
        ));
    }
    let (whole, damaged) = (
        num(&soak["restart_seconds"]),
        num(&soak["damaged_restart_seconds"]),
    );
    let ratio = damaged / whole;
    md.push_str(&format!(
        "- restart on that journal ({:.0} MB): ready in {whole:.1} s; with {} records damaged over the biggest segment \
         {damaged:.1} s, {} skipped, today's offered/answered/abandoned/handled {} → {} — damaged / whole ≤ 1.5 ×: \
         {ratio:.2} × — {}\n",
        num(&soak["journal_bytes"]) / 1e6,
        soak["damaged_records"],
        soak["damaged_skipped"],
        soak["today"],
        soak["damaged_today"],
        verdict(Some(ratio), |r| r <= 1.5),
    ));
    md
}

/// The fan-out, busy floor, staleness and slow-client sections.
fn fanout_sections(md: &mut String, report: &Value, view: &str) {
    let empty = Vec::new();
    let fanout = report["fanout"].as_array().unwrap_or(&empty);
    let slow = &report["slow_clients"];
    let moved = slow["p99_moved_ms"].as_f64();

    md.push_str(&format!(
        "\n## Fan-out latency, against the raw broadcast floor\n\n\
         **wallboard**: the release binary with the simulator on (80 agents), `{view}` view, 100 ms tick (an event after a quiet tick goes out at once, one within a tick of the last message waits for the tick's end). \
         **raw floor**: a minimal tokio-tungstenite server (the wallboard's socket buffers) that replays a 10 s recording of \
         the wallboard's `{view}` stream ({} messages, {:.0} bytes on average) to every socket at the recorded times — no aggregation, no views, no diffs, no tick, no snapshot on connect, no pings; a POSTed event goes out to all at once. \
         Both are driven alike: N viewers connect, then 20 rounds each POST an event (to the wallboard: {:.1} events/s in all, the simulator's and the rounds'); latency = from sending the POST to a viewer receiving the message that carries it. \
         The load client (raw sockets after a WebSocket handshake, a task per viewer on a 2-thread runtime, looking for each round's marker in the bytes) shares the 2 cores with the server; its own CPU is reported. \
         RSS per viewer = the growth of the server's RSS from 1% of the viewers connected to all of them, divided by the viewers added. \
         Server CPU = all its threads over the rounds, from /proc (100% = one core; the machine has two); messages = WebSocket messages delivered (`wallboard_ws_messages_sent_total`); \
         \"while delivering\" = the same CPU counted only from each round's POST until the last viewer had it.\n\n\
         {FANOUT_HEAD}",
        report["raw_floor_recording"]["messages"],
        num(&report["raw_floor_recording"]["average_bytes"]),
        fanout
            .iter()
            .map(|r| num(&r["wallboard"]["events_per_second"]))
            .sum::<f64>()
            / fanout.len().max(1) as f64,
    ));
    for row in fanout {
        md.push_str(&fanout_lines(row));
    }
    table(
        md,
        "\n| viewers | wallboard ÷ raw floor: p99 latency | CPU per message |\n|---|---|---|\n",
        fanout.iter().map(|row| {
            format!(
                "| {} | × {:.2} | × {:.2} |\n",
                row["viewers"],
                num(&row["p99_ratio_to_raw_floor"]),
                num(&row["cpu_per_message_ratio_to_raw_floor"]),
            )
        }),
    );
    let busy = &report["busy_floor"];
    if !busy.is_null() {
        md.push_str(&format!(
            "\n## A busy floor\n\nThe same with a generator adding {} events a second besides the simulator (contacts offered to five queues of its own and abandoned a second later), so every tick has a change and every viewer gets ten patches a second; \
             the raw floor replays a recording of that stream ({} messages in 10 s, {:.0} bytes on average). \
             Wallboard ÷ raw floor: p99 latency × {:.2}, CPU per message × {:.2}.\n\n{FANOUT_HEAD}{}",
            busy["events_per_second"],
            busy["recording"]["messages"],
            num(&busy["recording"]["average_bytes"]),
            num(&busy["p99_ratio_to_raw_floor"]),
            num(&busy["cpu_per_message_ratio_to_raw_floor"]),
            fanout_lines(busy),
        ));
    }

    // Staleness: how old the newest event is when it shows.
    table(
        md,
        "\n## Staleness: streaming against polling\n\nThe age of an event when it first shows on a screen.\n\n| how the screen is fed | p50 ms | p99 ms |\n|---|---|---|\n",
        fanout.iter().map(|row| {
            format!(
                "| wallboard WebSocket, {} viewers | {:.0} | {:.0} |\n",
                row["viewers"],
                num(&row["wallboard"]["p50_ms"]),
                num(&row["wallboard"]["p99_ms"]),
            )
        }),
    );
    if report.get("polling_5s_staleness_p50_ms").is_some() {
        md.push_str(&format!(
            "| polling `GET /api/v1/board` every 5 s (what Grafana over Prometheus gives) | {:.0} | {:.0} |\n",
            num(&report["polling_5s_staleness_p50_ms"]),
            num(&report["polling_5s_staleness_p99_ms"]),
        ));
    }

    if !slow.is_null() {
        let (before, after) = (&slow["without_slow_before"], &slow["without_slow_after"]);
        md.push_str(&format!(
            "\n## Slow clients\n\n{} of {} viewers hold their socket (a 4 KiB receive buffer) and never read; \
             {} rounds (the first to connect, they are watched from then on). \
             The others: p50 {:.1} ms, p99 {:.1} ms ({} against p99 {:.1} and {:.1} ms in the same runs without slow viewers, just before and just after), max {:.1} ms, missed {}. \
             The server let go of {} as slow (a send not done within the drain bound, 10 s) and closed {} for answering no ping; the last went {:.0} s after they connected. \
             Server RSS: {} KiB with all connected, {} KiB at most, {} KiB at the end \
             (without slow viewers, before: {} KiB connected, {} KiB at most, {} KiB at the end).\n",
            slow["slow"],
            slow["viewers"],
            slow["rounds"],
            num(&slow["p50_ms"]),
            num(&slow["p99_ms"]),
            moved.map_or("—".into(), |m| format!("{m:+.1} ms")),
            num(&before["p99_ms"]),
            num(&after["p99_ms"]),
            num(&slow["max_ms"]),
            slow["missed"],
            slow["slow_disconnected"],
            slow["slow_closed_as_dead"],
            num(&slow["slow_gone_after_seconds"]),
            slow["server_rss_connected_kib"],
            slow["server_rss_max_kib"],
            slow["server_rss_end_kib"],
            before["server_rss_connected_kib"],
            before["server_rss_max_kib"],
            before["server_rss_end_kib"],
        ));
    }
}

/// The scaling run of `agents` at `rate` events a second.
fn scaling_row(scaling: &[Value], agents: u64, rate: u64) -> Option<&Value> {
    scaling
        .iter()
        .find(|r| r["agents"] == agents && r["events_per_second"] == rate)
}

/// A step-time bucket bound (ms): infinite for "+Inf" (above the largest
/// bucket), `None` when not measured.
/// A step bucket bound from the report (`"+Inf"` above the largest bucket).
pub fn step_bound(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) if s == "+Inf" => Some(f64::INFINITY),
        v => v.as_f64(),
    }
}

pub fn step_text(bound: Option<f64>) -> String {
    match bound {
        Some(b) if b.is_infinite() => "> 100 ms (the largest bucket)".into(),
        Some(b) => format!("≤ {b} ms"),
        None => "—".into(),
    }
}

/// A bucket bound against `limit` ms: above the largest bucket is a miss.
fn step_verdict(bound: Option<f64>, limit: f64) -> &'static str {
    match bound {
        Some(b) if b.is_infinite() => "**missed**",
        other => verdict(other, |v| v <= limit + 1e-9),
    }
}

/// A run's core-lock holds: the load window's max (a bucket bound) by
/// holder that held it, then the longest since the start.
pub fn lock_text(row: &Value) -> String {
    let holders: Vec<String> = row["lock_window"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, h)| h["count"].as_f64().is_some_and(|n| n > 0.0))
        .map(|(holder, h)| {
            format!(
                "{holder} {} (p99 {}) ×{:.0}",
                step_text(step_bound(&h["max_le_ms"])),
                step_text(step_bound(&h["p99_le_ms"])),
                num(&h["count"])
            )
        })
        .collect();
    let since_start = row["lock_hold_max_ms"]
        .as_f64()
        .map_or("not measured".into(), |ms| format!("{ms:.3} ms"));
    if holders.is_empty() {
        return format!("since start {since_start}");
    }
    format!(
        "window {} ({}); since start {since_start}",
        step_text(step_bound(&row["lock_window_max_le_ms"])),
        holders.join(", ")
    )
}

/// The largest of the finite values, if any.
fn largest(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.flatten().filter(|v| v.is_finite()).reduce(f64::max)
}

/// The scaling targets' lines of the targets table: on the 20,000-agent /
/// 500-queue floor.
fn scaling_targets(scaling: &[Value]) -> String {
    const BIG: u64 = 20_000;
    let slow = scaling_row(scaling, BIG, 500);
    let fast = scaling_row(scaling, BIG, 2_000);
    let big: Vec<&Value> = [slow, fast].into_iter().flatten().collect();
    let p99 = |row: Option<&Value>| row.and_then(|r| r["p99_ms"].as_f64());
    let ms = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or("—".to_string(), |v| format!("{v:.1} ms"))
    };
    let cpu = slow.and_then(|r| r["server_cpu_percent"].as_f64());
    let cpu_ratio = slow.and_then(|r| r["ratio_to_200_agents"]["cpu_per_event"].as_f64());
    let cpu_ratio_text = cpu_ratio.filter(|r| r.is_finite()).map_or("—".into(), |r| {
        format!(
            "{r:.2} × ({:.1} µs against {:.1} µs)",
            slow.map_or(f64::NAN, |s| num(&s["server_cpu_us_per_event"])),
            scaling_row(scaling, 200, 500).map_or(f64::NAN, |b| num(&b["server_cpu_us_per_event"])),
        )
    });
    let step = slow.and_then(|r| step_bound(&r["step_p99_le_ms"]));
    let get = largest(big.iter().map(|r| r["get_floor"]["median_ms"].as_f64()));
    let get_max = largest(big.iter().map(|r| r["get_floor"]["max_ms"].as_f64()));
    let lock_rows: Vec<&Value> = big
        .iter()
        .copied()
        .filter(|r| step_bound(&r["lock_window_max_le_ms"]).is_some())
        .collect();
    let lock = lock_rows
        .iter()
        .filter_map(|r| step_bound(&r["lock_window_max_le_ms"]))
        .reduce(f64::max);
    let lock_detail: Vec<String> = lock_rows.iter().map(|r| lock_text(r)).collect();
    let rss = largest(big.iter().map(|r| {
        r["server_rss_no_viewers_kib"]
            .as_f64()
            .map(|k| k * 1024.0 / 1e6)
    }));
    format!(
        "| scaling, 20,000 agents / 500 queues at 500 events/s: POST → board p99 ≤ 150 ms (the slower of the floor and queue viewers) | {} | {} |\n\
         | scaling, the same: server ≤ 40% of one core | {} | {} |\n\
         | scaling, the same: server CPU per event ≤ 2 × the 200-agent floor's at 500 events/s | {cpu_ratio_text} | {} |\n\
         | scaling, the same: step p99 ≤ 5 ms (a bucket bound of `wallboard_tick_seconds`) | {} | {} |\n\
         | scaling, 20,000 / 500 at 2,000 events/s: POST → board p99 ≤ 200 ms | {} | {} |\n\
         | scaling, 20,000 / 500: `GET /api/v1/board` (floor view) ≤ 20 ms (median, the slower of the two rates) | {} (max {}) | {} |\n\
         | scaling, 20,000 / 500: longest core-lock hold in the load window ≤ 1 ms (`wallboard_lock_hold_seconds{{holder}}`, a bucket bound, the larger of the two runs) | {} | {} |\n\
         | scaling, 20,000 / 500: server RSS with no viewer ≤ 150 MB | {} | {} |\n",
        ms(p99(slow)),
        verdict(p99(slow), |v| v <= 150.0),
        cpu.filter(|v| v.is_finite())
            .map_or("—".into(), |v| format!("{v:.0}%")),
        verdict(cpu, |v| v <= 40.0),
        verdict(cpu_ratio, |v| v <= 2.0),
        step_text(step),
        step_verdict(step, 5.0),
        ms(p99(fast)),
        verdict(p99(fast), |v| v <= 200.0),
        ms(get),
        ms(get_max),
        verdict(get, |v| v <= 20.0),
        match lock {
            Some(_) => format!("{} — {}", step_text(lock), lock_detail.join("; ")),
            None => "not measured".into(),
        },
        step_verdict(lock, 1.0),
        rss.map_or("—".into(), |v| format!("{v:.1} MB")),
        verdict(rss, |v| v <= 150.0),
    )
}

/// The "Scaling" section: a line per floor × rate, then the ratios to the
/// 200-agent floor.
fn scaling_section(scaling: &[Value]) -> String {
    let mut md = String::from(
        "\n## Scaling\n\n\
         The release binary, simulator off, a fresh server per line: the floor is built by POSTing every agent `available` in one or two queues (100-event NDJSON batches), \
         then one floor viewer (`/ws?view=floor`) and 100 queue viewers (spread evenly over the queues, at most 100 queues watched) apply snapshot and patches with `BoardClient`. \
         A generator POSTs a valid mix every 10 ms (contacts offered to random queues, answered by an available agent of the queue or abandoned, ended; the agents' `on_contact`, `wrap_up`, `available`), \
         3 s of warm-up, then the 20 s load window. Every 100 ms one offer is a probe to a watched queue: latency = from sending its POST to a viewer's board first counting it in that queue's `60m.offered`. \
         Server CPU (all its threads, /proc) over the window ÷ events accepted in it (the viewers' fan-out included). \
         Step = `wallboard_tick_seconds`, the difference of its buckets over the window: the bucket upper bound where the count crosses 50% / 99% (a bucket bound, not a measured time), and the mean (sum ÷ count). \
         One POST at a time (so offers apply in the order they are counted): when the server is slow to reply, the next batch holds what fell due meanwhile. \
         Snapshot = the first WebSocket message of a viewer. GETs: up to 20 of each view after the window, the load going on (outside the CPU window). \
         Lock hold = the difference of `wallboard_lock_hold_seconds{holder}`'s buckets over the window: the largest bucket bound reached, by holder (× how many holds); then `wallboard_lock_hold_max_seconds` at the end (since the start, the floor's build included).\n\n\
         | agents / queues | events/s | accepted/s (POST reply p99 ms) | rejected | floor viewer p50 / p99 / max ms | queue viewers p50 / p99 / max ms | probes (missed floor / queue) | server CPU | CPU µs per event | load client CPU | step p50 / p99 (bucket bounds) | step mean ms | RSS no viewer / end MB | snapshot bytes floor / queue | GET floor median / max ms (bytes) | GET queue median / max ms (bytes) | core-lock hold | load average before |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mb = |v: &Value| num(v) * 1024.0 / 1e6;
    let bound = |v: &Value| match step_bound(v) {
        Some(b) if b.is_infinite() => "> 100".to_string(),
        Some(b) => format!("≤ {b}"),
        None => "—".into(),
    };
    for r in scaling {
        let (f, q) = (&r["floor_viewer"], &r["queue_viewers"]);
        md.push_str(&format!(
            "| {} / {} | {} | {:.0} ({:.0}) | {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {} ({} / {}) | {:.0}% | {:.1} | {:.0}% | {} / {} ms | {:.2} | {:.1} / {:.1} | {} / {} | {:.1} / {:.1} ({}) | {:.1} / {:.1} ({}) | {} | {} |\n",
            r["agents"],
            r["queues"],
            r["events_per_second"],
            num(&r["accepted_per_second"]),
            num(&r["post_ms"]["p99"]),
            r["events_rejected_in_all"],
            num(&f["p50_ms"]),
            num(&f["p99_ms"]),
            num(&f["max_ms"]),
            num(&q["p50_ms"]),
            num(&q["p99_ms"]),
            num(&q["max_ms"]),
            r["probes"],
            f["missed"],
            q["missed"],
            num(&r["server_cpu_percent"]),
            num(&r["server_cpu_us_per_event"]),
            num(&r["client_cpu_percent"]),
            bound(&r["step_p50_le_ms"]),
            bound(&r["step_p99_le_ms"]),
            num(&r["step_mean_ms"]),
            mb(&r["server_rss_no_viewers_kib"]),
            mb(&r["server_rss_end_kib"]),
            r["snapshot_bytes_floor"],
            r["snapshot_bytes_queue"],
            num(&r["get_floor"]["median_ms"]),
            num(&r["get_floor"]["max_ms"]),
            r["get_floor"]["bytes"],
            num(&r["get_queue"]["median_ms"]),
            num(&r["get_queue"]["max_ms"]),
            r["get_queue"]["bytes"],
            lock_text(r),
            r["load_average_before"].as_str().unwrap_or("—"),
        ));
    }
    table(
        &mut md,
        "\n| agents / queues | events/s | ÷ 200 / 10 at the same rate: CPU per event | p99 (slower viewer) | step p99 (bounds) | floor snapshot bytes | GET floor median |\n|---|---|---|---|---|---|---|\n",
        scaling.iter().map(|r| {
            let x = &r["ratio_to_200_agents"];
            let times = |key: &str, digits: usize| {
                x[key]
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .map_or("—".to_string(), |v| format!("× {v:.digits$}"))
            };
            format!(
                "| {} / {} | {} | {} | {} | {} | {} | {} |\n",
                r["agents"],
                r["queues"],
                r["events_per_second"],
                times("cpu_per_event", 2),
                times("p99", 2),
                times("step_p99", 2),
                times("snapshot_bytes", 1),
                times("get_ms", 1),
            )
        }),
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_against_the_figures() {
        let report = serde_json::json!({
            "http_ingest_journal_events_per_second": 250_000.0,
            "aggregator_events_per_second": 900_000.0,
            "fanout": [{"viewers": 10_000, "wallboard": {"p99_ms": 150.0, "server_rss_per_viewer_bytes": 9000.0},
                "cpu_per_message_ratio_to_raw_floor": 1.7}],
            "slow_clients": {"slow": 100, "slow_disconnected": 90, "slow_closed_as_dead": 10, "p99_moved_ms": 12.0},
        });
        let md = markdown(&report, "floor");
        let line = |start: &str| {
            md.lines()
                .find(|l| l.starts_with(start))
                .unwrap()
                .to_string()
        };
        assert!(line("| HTTP ingest, journal on").ends_with("| met |"));
        assert!(line("| aggregator in-process").ends_with("| **missed** |"));
        assert!(line("| 10,000 viewers").contains("150.0 ms | met"));
        assert!(line("| 1,000 viewers").ends_with("| not measured |"));
        assert!(line("| CPU per delivered").contains("1.70 × | **missed**"));
        assert!(line("| slow clients are").contains("100 of 100 | met"));
        assert!(line("| slow clients (1%)").ends_with("| **missed** |"));
    }

    #[test]
    fn the_cluster_rows_judge_the_split_and_the_failover() {
        let cluster = |cpu_ratio: f64, never: u64, max: f64| {
            let report = serde_json::json!({"cluster": {"measured": true, "nats_server": "2.15",
                "cluster_events_per_second": 60_000.0, "single_journal_events_per_second": 120_000.0,
                "cross_node_p99_ms": 80.0, "leader_killed_acknowledged_seconds": 7.0,
                "viewers": {"viewers": 18_000, "one_node": {"p99_ms": 300.0, "server_cpu_us_per_message": 10.0},
                    "two_nodes": {"p99_ms": 330.0, "server_cpu_us_per_message": 10.0 * cpu_ratio},
                    "p99_ratio_two_to_one": 1.1, "cpu_per_message_ratio_two_to_one": cpu_ratio,
                    "failover": {"connected": 9_000, "staying": 9_000, "p50_seconds": 1.0,
                        "p99_seconds": 2.0, "max_seconds": max, "current": 9_000 - never, "never": never}}}});
            let md = markdown(&report, "floor");
            let line = |start: &str| {
                md.lines()
                    .find(|l| l.starts_with(start))
                    .unwrap_or_else(|| panic!("no row {start:?} in\n{md}"))
                    .to_string()
            };
            (line("| viewers two nodes"), line("| a node killed"))
        };
        let (split, failover) = cluster(1.05, 0, 2.5);
        assert!(split.contains("1.90 × one node's"), "{split}");
        assert!(split.ends_with("| met |"), "{split}");
        assert!(failover.contains("max 2.50 s, 9000 of 9000"), "{failover}");
        assert!(failover.ends_with("| met |"), "{failover}");
        let (split, failover) = cluster(1.25, 0, 3.5);
        assert!(
            split.contains("1.60 × one node's | ≥ 1.8 × | **missed**"),
            "{split}"
        );
        assert!(failover.ends_with("| **missed** |"), "{failover}");
        // Fast, but some viewers never came back: missed.
        let (_, failover) = cluster(1.0, 3, 1.5);
        assert!(failover.contains("8997 of 9000"), "{failover}");
        assert!(failover.ends_with("| **missed** |"), "{failover}");
    }

    #[test]
    fn a_miss_at_scale_is_reported_as_a_miss() {
        let row = |agents: u64, rate: u64, extra: Value| {
            let mut r = serde_json::json!({"agents": agents, "queues": agents / 40, "events_per_second": rate});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            r
        };
        let report = serde_json::json!({
            "scaling": [
                row(200, 500, serde_json::json!({"server_cpu_us_per_event": 40.0, "p99_ms": 20.0})),
                row(20_000, 500, serde_json::json!({
                    "p99_ms": 180.0, "server_cpu_percent": 35.0, "server_cpu_us_per_event": 100.0,
                    "ratio_to_200_agents": {"cpu_per_event": 2.5},
                    "step_p99_le_ms": "+Inf",
                    "get_floor": {"median_ms": 12.0, "max_ms": 30.0},
                    "lock_hold_max_ms": 30.0,
                    "lock_window": {
                        "batch": {"count": 9000, "p99_le_ms": 0.25, "max_le_ms": 0.5},
                        "step": {"count": 200, "p99_le_ms": 10.0, "max_le_ms": 25.0},
                        "prune": {"count": 0, "p99_le_ms": null, "max_le_ms": null},
                    },
                    "lock_window_max_le_ms": 25.0,
                    "server_rss_no_viewers_kib": 100_000,
                })),
                row(20_000, 2_000, serde_json::json!({
                    "p99_ms": 150.0, "step_p99_le_ms": 5.0,
                    "get_floor": {"median_ms": 25.0, "max_ms": 40.0},
                    "server_rss_no_viewers_kib": 120_000,
                })),
            ],
        });
        let md = markdown(&report, "floor");
        let line = |start: &str| {
            md.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{md}"))
                .to_string()
        };
        assert!(
            line("| scaling, 20,000 agents / 500 queues at 500").contains("180.0 ms | **missed**")
        );
        assert!(line("| scaling, the same: server ≤ 40%").contains("35% | met"));
        assert!(
            line("| scaling, the same: server CPU per event")
                .contains("2.50 × (100.0 µs against 40.0 µs) | **missed**")
        );
        assert!(
            line("| scaling, the same: step p99")
                .contains("> 100 ms (the largest bucket) | **missed**")
        );
        assert!(line("| scaling, 20,000 / 500 at 2,000").contains("150.0 ms | met"));
        assert!(
            line("| scaling, 20,000 / 500: `GET").contains("25.0 ms (max 40.0 ms) | **missed**")
        );
        assert!(
            line("| scaling, 20,000 / 500: longest").ends_with(
                "| ≤ 25 ms — window ≤ 25 ms (batch ≤ 0.5 ms (p99 ≤ 0.25 ms) ×9000, step ≤ 25 ms (p99 ≤ 10 ms) ×200); \
                 since start 30.000 ms | **missed** |"
            ),
            "{}",
            line("| scaling, 20,000 / 500: longest")
        );
        assert!(line("| scaling, 20,000 / 500: server RSS").contains("122.9 MB | met"));
        assert!(md.contains("\n## Scaling\n"));
        // Without a scaling run, its targets are not measured.
        let md = markdown(&serde_json::json!({}), "floor");
        assert!(
            md.lines()
                .filter(|l| l.starts_with("| scaling"))
                .all(|l| l.ends_with("| not measured |"))
        );
        assert!(!md.contains("## Scaling"));
    }

    #[test]
    fn the_soak_says_whether_the_state_levelled_off() {
        let row = |hour: u64, ids: u64, rss: f64| {
            serde_json::json!({"hour": hour, "events": hour * 720_000, "dedupe_ids": ids,
                "contacts": 10, "agents": 400, "minute_buckets": 1281, "day_buckets": 42,
                "views": 1, "rss_mb": rss})
        };
        let soak = |last_ids: u64| {
            serde_json::json!({"soak": {"hours": 28, "rate": 200, "events": 18_000_000,
                "events_per_post": 2000, "wall_seconds": 300.0, "slowest_post_ms": 900.0,
                "curve": [row(24, 1_000_000, 2000.0), row(26, 1_000_000, 2000.0),
                    row(28, last_ids, 2100.0)],
                "journal_bytes": 2.5e9, "restart_seconds": 40.0, "damaged_records": 100,
                "damaged_skipped": 100, "damaged_restart_seconds": 44.0,
                "today": [10, 9, 1, 9], "damaged_today": [10, 9, 1, 9]}})
        };
        let md = markdown(&soak(1_050_000), "floor");
        let line = |md: &str, start: &str| {
            md.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{md}"))
                .to_string()
        };
        assert!(line(&md, "- dedupe ids").ends_with("1.050 × — met"));
        assert!(line(&md, "- RSS").ends_with("1.050 × — met"));
        assert!(line(&md, "- restart").ends_with("1.10 × — met"));
        assert!(line(&md, "| 28 | 20160000 | 1050000 |").ends_with("| 2100 |"));
        let md = markdown(&soak(1_200_000), "floor");
        assert!(line(&md, "- dedupe ids").ends_with("1.200 × — **missed**"));
    }
}
