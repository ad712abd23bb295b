//! The benchmark's Markdown report, written from its JSON report (so the
//! two never disagree), with each target checked against what was measured.

use serde_json::Value;

fn num(value: &Value) -> f64 {
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
    md.push_str(&format!(
        "\n## Targets\n\n| target | measured | |\n|---|---|---|\n\
         | HTTP ingest, journal on ≥ 200,000 events/s | {journal:.0} events/s | {} |\n\
         | aggregator in-process ≥ 1,000,000 events/s | {apply:.0} events/s | {} |\n\
         | 10,000 viewers, 100 ms tick: p99 ≤ 200 ms | {} | {} |\n\
         | 1,000 viewers: p99 ≤ 120 ms | {} | {} |\n\
         | server RSS per idle viewer ≤ 20 KB (largest of the sizes) | {} | {} |\n\
         | CPU per delivered message ≤ 1.5 × the raw floor (largest of the sizes) | {} | {} |\n\
         | slow clients (1%): the others' p99 moves up ≤ 10 ms | {} | {} |\n\
         | slow clients are disconnected | {} of {} | {} |\n",
        verdict(Some(journal), |v| v >= 200_000.0),
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
        gone,
        slow["slow"],
        verdict(slow_gone, |v| v >= 1.0),
    ));

    md.push_str(&format!(
        "\n## Ingest and the core\n\nWorkload: a simulated day of a {}-agent floor over {} queues, {} events.\n\n\
         | measure | value |\n|---|---|\n\
         | aggregator apply, in-process | {apply:.0} events/s |\n\
         | board computation | {:.0} µs |\n\
         | board computation + JSON ({} bytes) | {:.0} µs |\n\
         | HTTP ingest, NDJSON, {}-event batches, {} senders, journal off | {:.0} events/s |\n\
         | the same, journal on (group commit) | {journal:.0} events/s |\n\
         | restart with that day's journal: ready in | {:.2} s ({:.0} events/s) |\n\
         | the day's checkpoint (a new segment's first file) | {:.1} MB, written in {:.0} ms, restored in {:.0} ms |\n",
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
    ));

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
        &mut md,
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
        &mut md,
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
    md.push_str(&format!(
        "| polling `GET /api/v1/board` every 5 s (what Grafana over Prometheus gives) | {:.0} | {:.0} |\n",
        num(&report["polling_5s_staleness_p50_ms"]),
        num(&report["polling_5s_staleness_p99_ms"]),
    ));

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
}
