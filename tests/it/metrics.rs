//! `/metrics`: names and labels per DESIGN.md, values equal to the board's,
//! valid for `promtool check metrics`, and scraped by a real Prometheus.
//!
//! The real tools (Debian's `prometheus` package) are installed by `cargo
//! xtask test`; run alone without them, the tool checks say so and are
//! skipped unless `WALLBOARD_REQUIRE_TOOLS=1` (as xtask sets).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wallboard_tests::{TestServer, fixture};

/// Series → value, from a text exposition.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn tool(name: &str) -> Option<PathBuf> {
    let found = Command::new("which")
        .arg(name)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if found.is_none() {
        assert!(
            std::env::var_os("WALLBOARD_REQUIRE_TOOLS").is_none(),
            "{name} is required (Debian package `prometheus`)"
        );
        eprintln!("{name} not installed: skipping its check (cargo xtask test installs it)");
    }
    found
}

async fn scenario_server() -> (TestServer, Value) {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("scenarios/morning_two_queues.expected.json")).unwrap(),
    )
    .unwrap();
    // With an Asterisk connection that cannot connect (nothing listens on
    // port 9), so its health is in the scrape.
    let config = format!(
        "{}\n[[sources]]\nkind = \"asterisk_ami\"\nname = \"pbx\"\nhost = \"127.0.0.1\"\nport = 9\nusername = \"wb\"\nsecret = \"x\"\n",
        expected["config"].as_str().unwrap()
    );
    let s = TestServer::builder(&config)
        .at(expected["now"].as_str().unwrap().parse().unwrap())
        .start()
        .await;
    let events = std::fs::read_to_string(fixture("scenarios/morning_two_queues.ndjson")).unwrap();
    let reply = s.post_events(events, "application/x-ndjson").await;
    assert_eq!(reply.status, 200);
    (s, expected)
}

async fn scrape(s: &TestServer) -> String {
    let reply = reqwest::get(format!("{}/metrics", s.url)).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    reply.text().await.unwrap()
}

#[tokio::test]
async fn the_scrape_equals_the_board() {
    let (s, expected) = scenario_server().await;
    let text = scrape(&s).await;
    let m = parse(&text);
    let board = s.board().await;
    let get = |series: &str| {
        *m.get(series)
            .unwrap_or_else(|| panic!("{series} missing from the scrape:\n{text}"))
    };

    // Every KPI with a value, totals and queues, every window; none without.
    let mut kpis = 0;
    let scopes = std::iter::once(("all", &board["totals"])).chain(
        board["queues"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(id, q)| (id.as_str(), &q["windows"])),
    );
    for (queue, windows) in scopes {
        for (window, values) in windows.as_object().unwrap() {
            for (key, kpi) in values.as_object().unwrap() {
                let Some(value) = kpi.get("value") else {
                    continue;
                };
                let series =
                    format!("wallboard_kpi{{kpi=\"{key}\",queue=\"{queue}\",window=\"{window}\"}}");
                match value.as_f64() {
                    Some(v) => {
                        assert!((get(&series) - v).abs() < 1e-12, "{series}");
                        kpis += 1;
                    }
                    None => assert!(!m.contains_key(&series), "{series}: null must be absent"),
                }
                if let Some(t) = kpi["target"].as_f64() {
                    assert_eq!(
                        get(&format!(
                            "wallboard_kpi_target{{kpi=\"{key}\",queue=\"{queue}\"}}"
                        )),
                        t
                    );
                }
            }
        }
    }
    assert!(kpis > 40, "{kpis} KPI series compared");
    // The hand-computed figures themselves.
    assert_eq!(
        get(r#"wallboard_kpi{kpi="agent_connect_rate",queue="all",window="today"}"#),
        expected["board"]["totals"]["today"]["agent_connect_rate"]["value"]
            .as_f64()
            .unwrap()
    );
    assert_eq!(
        get(r#"wallboard_kpi_target{kpi="agent_connect_rate",queue="vip"}"#),
        0.9
    );

    for (id, q) in board["queues"].as_object().unwrap() {
        let today = &q["windows"]["today"];
        for (metric, field) in [
            ("offered", "offered"),
            ("answered", "answered"),
            ("abandoned", "abandoned"),
            ("short_abandoned", "short_abandoned"),
        ] {
            assert_eq!(
                get(&format!(
                    "wallboard_contacts_{metric}_total{{queue=\"{id}\"}}"
                )),
                today[field].as_f64().unwrap(),
                "{metric} of {id}"
            );
        }
        assert_eq!(
            get(&format!("wallboard_queue_waiting{{queue=\"{id}\"}}")),
            q["waiting"].as_f64().unwrap()
        );
        // Every answer was observed once in the wait histogram.
        if today["answered"].as_u64().unwrap() > 0 {
            assert_eq!(
                get(&format!("wallboard_wait_seconds_count{{queue=\"{id}\"}}")),
                today["answered"].as_f64().unwrap()
            );
        }
    }
    let totals = &board["totals"]["today"];
    assert_eq!(
        get("wallboard_contacts_arrived_total"),
        totals["arrived"].as_f64().unwrap()
    );
    assert_eq!(
        get("wallboard_contacts_blocked_total"),
        totals["blocked"].as_f64().unwrap()
    );
    for (state, n) in board["agent_states"].as_object().unwrap() {
        assert_eq!(
            get(&format!("wallboard_agents{{state=\"{state}\"}}")),
            n.as_f64().unwrap()
        );
    }
    assert_eq!(
        get(r#"wallboard_ingest_events_total{result="accepted"}"#),
        36.0
    );
    assert_eq!(
        get(r#"wallboard_ingest_events_total{result="duplicate"}"#),
        2.0
    );
    assert_eq!(
        get(r#"wallboard_ingest_events_total{result="rejected"}"#),
        0.0
    );
    assert_eq!(get(r#"wallboard_ws_disconnects_total{reason="slow"}"#), 0.0);
    assert_eq!(get(r#"wallboard_source_up{source="pbx"}"#), 0.0);
    assert!(m.contains_key("wallboard_journal_fsync_seconds_count"));
    // The lock's holders: the scenario's one POST is at least one batch,
    // the board read since is a step; the longest hold covers them.
    assert!(get(r#"wallboard_lock_hold_seconds_count{holder="batch"}"#) >= 1.0);
    assert!(get(r#"wallboard_lock_hold_seconds_count{holder="step"}"#) >= 1.0);
    assert!(get(r#"wallboard_lock_hold_seconds_count{holder="metrics"}"#) >= 1.0);
    let longest = get("wallboard_lock_hold_max_seconds");
    assert!(longest > 0.0);
    for holder in ["batch", "step"] {
        let sum = get(&format!(
            "wallboard_lock_hold_seconds_sum{{holder=\"{holder}\"}}"
        ));
        let count = get(&format!(
            "wallboard_lock_hold_seconds_count{{holder=\"{holder}\"}}"
        ));
        assert!(
            sum / count <= longest + 1e-12,
            "{holder}'s mean is within the longest"
        );
    }
    // Bounded labels: no agent or contact id anywhere.
    for id in ["a1", "a2", "a3", "王芳"] {
        assert!(
            !text.contains(&format!("\"{id}\"")),
            "{id} leaked into a label"
        );
    }

    // What the ops files rely on: promtool's lint, and every metric name
    // the rules and dashboards use is in a real scrape.
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ops");
    std::fs::create_dir_all(&out).unwrap();
    let scrape_file = out.join("scrape.txt");
    std::fs::write(&scrape_file, &text).unwrap();
    if let Some(promtool) = tool("promtool") {
        let result = wallboard_tests::run_with_input(
            Command::new(promtool).args(["check", "metrics"]),
            text.as_bytes(),
        );
        assert!(
            result.status.success() && result.stdout.is_empty() && result.stderr.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    // A single server exports no cluster families: the cluster test checks
    // those on a node's scrape.
    let check = Command::new("python3")
        .arg(fixture("../dashboards/check-exprs.py"))
        .arg(&scrape_file)
        .args(["--except", "wallboard_cluster_"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "metric names used by rules/dashboards but not exported:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // The check can fail: a scrape with nothing in it does not pass, and
    // neither do rules and dashboards it finds no names in.
    let empty = out.join("empty-scrape.txt");
    std::fs::write(&empty, "").unwrap();
    let nowhere = out.join("no-dashboards");
    std::fs::create_dir_all(&nowhere).unwrap();
    for (scrape, root) in [(&empty, None), (&scrape_file, Some(&nowhere))] {
        let mut command = Command::new("python3");
        command
            .arg(fixture("../dashboards/check-exprs.py"))
            .arg(scrape);
        if let Some(root) = root {
            command.env("CHECK_EXPRS_ROOT", root);
        }
        let check = command.output().unwrap();
        assert_eq!(
            check.status.code(),
            Some(1),
            "{}: {}",
            scrape.display(),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_kpis() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let (s, expected) = scenario_server().await;
    let dir_guard = wallboard_tests::temp_dir("wallboard-prom-");
    let dir = dir_guard.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let target = s.url.trim_start_matches("http://");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: wallboard\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let want = expected["board"]["totals"]["today"]["agent_connect_rate"]["value"]
        .as_f64()
        .unwrap();
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=wallboard_kpi%7Bkpi%3D%22agent_connect_rate%22%2Cqueue%3D%22all%22%2Cwindow%3D%22today%22%7D"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(reply) = reqwest::get(&query).await else {
            continue;
        };
        let Ok(body) = reply.json::<Value>().await else {
            continue;
        };
        got = body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        got,
        Some(want),
        "Prometheus's view of the agent connect rate"
    );
}

/// Every scrape reads its board and its lifetime counters at one moment,
/// while batches keep arriving: with only offers and nothing answered,
/// each scrape's waiting gauge equals its offered counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_agrees_with_itself_while_events_arrive() {
    let now: jiff::Timestamp = "2026-11-23T10:00:00+08:00".parse().unwrap();
    let app = std::sync::Arc::new(
        TestServer::builder("timezone = \"Asia/Shanghai\"")
            .at(now)
            .app(),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = serde_json::json!({"id": format!("o{i}"), "ts": now.to_string(),
                    "type": "contact_offered", "contact": format!("c{i}"), "queue": "q"});
                let reply = app.post_events(body.to_string(), "application/json").await;
                assert_eq!(reply.status, 200, "{}", reply.body);
                i += 1;
            }
            i
        })
    };
    let mut moving = 0;
    let mut last = 0.0;
    for _ in 0..300 {
        let response = app
            .send(
                axum::http::Request::get("/metrics")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), 200);
        let m = parse(std::str::from_utf8(response.body()).unwrap());
        let offered = m
            .get(r#"wallboard_contacts_offered_total{queue="q"}"#)
            .copied()
            .unwrap_or(0.0);
        let waiting = m
            .get(r#"wallboard_queue_waiting{queue="q"}"#)
            .copied()
            .unwrap_or(0.0);
        assert_eq!(offered, waiting, "a scrape that disagrees with itself");
        if offered > last {
            moving += 1;
            last = offered;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.await.unwrap();
    eprintln!("300 scrapes, {moving} of them after new events; {sent} batches sent");
    assert!(
        moving >= 10,
        "events did not arrive between scrapes: {moving}"
    );
}
