//! The cluster (`cluster` section): three `nats-server`s (R3) and two
//! wallboard nodes on this machine. HTTP ingest of a simulated day through
//! the cluster against the local journal measured just before it, and
//! POST → viewer latency when the viewer is on the other node; then, on the
//! release binary, viewers split over two nodes against the same number on
//! one, and a node killed under its viewers.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wallboard::config::Config;
use wallboard_protocol::Event;
use wallboard_tests::nats::{NatsCluster, nats_server_version};
use wallboard_tests::{BinaryServer, TestServer};

use crate::{BATCH, SENDERS, fanout};

const ROUNDS: usize = 40;
const ZONE: &str = "timezone = \"Asia/Shanghai\"\n[limits]\ningest_events_per_second = 10000000\n";

pub fn run(runtime: &tokio::runtime::Runtime, out: &std::path::Path) -> Value {
    runtime.block_on(cluster(out))
}

async fn cluster(out: &std::path::Path) -> Value {
    let Some(version) = nats_server_version() else {
        println!(
            "cluster: no nats-server (set NATS_SERVER, or run `cargo xtask test` once): not measured"
        );
        return json!({"measured": false});
    };
    if std::env::args().any(|a| a == "--cluster-viewers-only") {
        return json!({"measured": false, "viewers": viewers_section(out).await});
    }
    // A day of a 200-agent floor ending now (the nodes apply by the
    // stream's clock, which is now).
    let config = std::sync::Arc::new(Config::from_toml(ZONE).unwrap());
    let end = Timestamp::now() - SignedDuration::from_secs(5);
    let events = crate::simulated_day(&config, end - SignedDuration::from_hours(23), end);
    println!("cluster: {} events of a simulated day", events.len());

    // The baseline: one server, its journal on, the same events.
    let journal_dir = out.join("cluster-baseline-journal");
    let _ = std::fs::remove_dir_all(&journal_dir);
    let single = wallboard_tests::TestServer::builder(ZONE)
        .data_dir(&journal_dir)
        .start()
        .await;
    let (single_rate, single_accepted) = ingest(&[&single], &events).await;
    single.server.stop().await;
    let _ = std::fs::remove_dir_all(&journal_dir);
    println!(
        "cluster: one server, journal on: {single_rate:.0} events/s ({single_accepted} accepted)"
    );

    let nats = NatsCluster::start(3);
    let node = |name: &'static str| {
        let toml = format!("{ZONE}{}", nats.config(name, 3, ""));
        async move { wallboard_tests::TestServer::builder(&toml).start().await }
    };
    let (a, b) = (node("a").await, node("b").await);
    for server in [&a, &b] {
        wallboard_tests::wait_ready(&server.url, Duration::from_secs(30)).await;
    }
    let (cluster_rate, cluster_accepted) = ingest(&[&a, &b], &events).await;
    println!(
        "cluster: two nodes, R3 on three NATS servers: {cluster_rate:.0} events/s ({cluster_accepted} accepted)"
    );
    let (p50, p99, max) = cross_node(&a, &b).await;
    println!(
        "cluster: POST to one node → viewer on the other: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
    );
    let mut nats = nats;
    let (acked, shown) = leader_killed(&mut nats, &a, &b).await;
    println!(
        "cluster: stream leader killed: a POST acknowledged again after {acked:.1} s, shown on the other node's viewer after {shown:.1} s"
    );
    let (resumed, led) = node_server_killed(&mut nats, &a, &b).await;
    println!(
        "cluster: the NATS server node a was connected to killed ({}the stream's leader): node a applied a POST to node b {resumed:.1} s after the kill",
        if led { "" } else { "not " }
    );
    a.server.stop().await;
    b.server.stop().await;
    drop(nats);
    let viewers = viewers_section(out).await;
    json!({
        "measured": true,
        "nats_server": format!("{}.{}", version.0, version.1),
        "events": events.len(),
        "batch": BATCH,
        "senders": SENDERS,
        "single_journal_events_per_second": single_rate,
        "cluster_events_per_second": cluster_rate,
        "cluster_accepted": cluster_accepted,
        "single_accepted": single_accepted,
        "cross_node_rounds": ROUNDS,
        "cross_node_p50_ms": p50,
        "cross_node_p99_ms": p99,
        "cross_node_max_ms": max,
        "leader_killed_acknowledged_seconds": acked,
        "leader_killed_shown_seconds": shown,
        "node_server_killed_applied_seconds": resumed,
        "node_server_killed_led_the_stream": led,
        "viewers": viewers,
    })
}

/// The viewer runs' nodes: every viewer comes from 127.0.0.1.
const VIEWER_CONFIG: &str = "timezone = \"Asia/Shanghai\"\n[limits]\nmax_viewers_per_ip = 100000\n";

/// Viewers on the release binary, on three fresh NATS servers (R3): the
/// fan-out rounds with every viewer on node `a` (the simulator's node),
/// then with half of them on a second node `b` (the rounds still POSTed to
/// `a`); then `a` killed under its half, which moves to `b`.
async fn viewers_section(out: &std::path::Path) -> Value {
    // The load client holds every socket: the most this process may open.
    let total = std::env::args()
        .skip_while(|a| a != "--cluster-viewers")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| crate::most_viewers().unwrap_or(2_000).min(18_000))
        / 2
        * 2;
    let nats = NatsCluster::start(3);
    let node = |name: &str, simulate: bool| {
        let path = out.join(format!("cluster-node-{name}.toml"));
        std::fs::write(
            &path,
            format!("{VIEWER_CONFIG}{}", nats.config(name, 3, "")),
        )
        .expect("write the node's config");
        let path = path.to_str().expect("a UTF-8 path").to_string();
        let mut args = vec!["--config", path.as_str()];
        if simulate {
            args.extend(["--simulate", "--seed", "1", "--sim-agents", "80"]);
        }
        BinaryServer::start(&args, &[("RUST_LOG", "warn,wallboard=info")])
    };
    let a = node("a", true);
    wallboard_tests::wait_ready(&a.url, Duration::from_secs(60)).await;
    let one = fanout::run_on(&[(&a.url, a.pid())], "floor", total, 0, 20, false).await;
    println!("cluster: viewers on one node, {}", one.summary());
    let b = node("b", false);
    wallboard_tests::wait_ready(&b.url, Duration::from_secs(60)).await;
    let two = fanout::run_on(
        &[(&a.url, a.pid()), (&b.url, b.pid())],
        "floor",
        total,
        0,
        20,
        false,
    )
    .await;
    println!("cluster: viewers split over two nodes, {}", two.summary());
    let (p99_ratio, cpu_ratio) = (
        two.p99_ms / one.p99_ms,
        two.cpu_us_per_message / one.cpu_us_per_message,
    );
    println!(
        "cluster: {} viewers on two nodes ÷ on one: p99 latency ×{p99_ratio:.2}, CPU per message ×{cpu_ratio:.2}",
        total
    );
    let from = a.url.clone();
    let mut a = Some(a);
    let moved = fanout::failover(
        &from,
        (&b.url, b.pid()),
        "floor",
        total / 2,
        total / 2,
        || drop(a.take()),
    )
    .await;
    println!(
        "cluster: node killed under {} of its viewers ({} staying on the other): a POST to the other acknowledged {:.2} s after the kill; the moved viewers connected to the other after p50 {:.2} s, p99 {:.2} s, current again after p50 {:.2} s, p99 {:.2} s, max {:.2} s ({} of {} connected; {} not within {} s); failed attempts to connect: {:?}; CPU meanwhile: the node {:.0}% of a core, the load client {:.0}%",
        moved.connected,
        moved.staying,
        moved.posted_seconds,
        moved.reconnected_p50_seconds,
        moved.reconnected_p99_seconds,
        moved.p50_seconds,
        moved.p99_seconds,
        moved.max_seconds,
        moved.current,
        moved.connected,
        moved.never,
        fanout::FAILOVER_WAIT.as_secs(),
        moved.failed_attempts,
        moved.server_cpu_percent,
        moved.client_cpu_percent,
    );
    drop(b);
    drop(nats);
    json!({
        "viewers": total,
        "one_node": crate::fanout_json(&one),
        "two_nodes": crate::fanout_json(&two),
        "p99_ratio_two_to_one": p99_ratio,
        "cpu_per_message_ratio_two_to_one": cpu_ratio,
        "failover": {
            "viewers": moved.viewers,
            "connected": moved.connected,
            "staying": moved.staying,
            "posted_seconds": moved.posted_seconds,
            "p50_seconds": moved.p50_seconds,
            "p99_seconds": moved.p99_seconds,
            "reconnected_p50_seconds": moved.reconnected_p50_seconds,
            "reconnected_p99_seconds": moved.reconnected_p99_seconds,
            "failed_attempts": moved.failed_attempts,
            "server_cpu_percent": moved.server_cpu_percent,
            "client_cpu_percent": moved.client_cpu_percent,
            "max_seconds": moved.max_seconds,
            "current": moved.current,
            "never": moved.never,
        },
    })
}

/// The events in `BATCH`-event POSTs by `SENDERS` concurrent senders (an
/// entity's events always from the same sender), spread over `servers`:
/// events/s, and how many were accepted.
pub(crate) async fn ingest(servers: &[&TestServer], events: &[Event]) -> (f64, u64) {
    let mut per_sender: Vec<Vec<String>> = vec![Vec::new(); SENDERS];
    for event in events {
        let sender = (wallboard_tests::stable_hash(wallboard_tests::entity_of(event))
            % SENDERS as u64) as usize;
        per_sender[sender].push(serde_json::to_string(event).unwrap());
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = per_sender
        .into_iter()
        .enumerate()
        .map(|(i, lines)| {
            let (client, url) = (client.clone(), servers[i % servers.len()].url.clone());
            tokio::spawn(async move {
                let mut accepted = 0;
                for body in lines.chunks(BATCH).map(|c| c.join("\n")) {
                    let reply =
                        wallboard_tests::post_events(&client, &url, body, "application/x-ndjson")
                            .await;
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    accepted += reply.body["accepted"].as_u64().unwrap_or(0);
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.expect("sender");
    }
    (
        events.len() as f64 / started.elapsed().as_secs_f64(),
        accepted,
    )
}

/// Kills the stream's leader (`kill -9` of its NATS server), then POSTs an
/// offer to `a` every 100 ms (each until answered) until one is
/// acknowledged: seconds from the kill to that 200, and to a floor viewer
/// on `b` showing it.
async fn leader_killed(nats: &mut NatsCluster, a: &TestServer, b: &TestServer) -> (f64, f64) {
    let mut viewer = wallboard_tests::Viewer::connect(&b.url, "view=floor").await;
    let leader = stream_leader(nats).await;
    let killed = Instant::now();
    nats.kill(nats.index_of(&leader));
    let mut n = 0;
    let acked = loop {
        n += 1;
        let reply = a
            .post_events(offer("kill", n), "application/x-ndjson")
            .await;
        if reply.status == 200 {
            break killed.elapsed().as_secs_f64();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no acknowledgement within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    viewer
        .until(Duration::from_secs(30), |board| {
            board["queues"]["bench-kill"]["waiting"]
                .as_u64()
                .is_some_and(|w| w >= 1)
        })
        .await
        .expect("the other node shows it");
    (acked, killed.elapsed().as_secs_f64())
}

/// Brings every NATS server back (the leader's kill left one down) and
/// lets the stream settle; then kills the server node `a` is connected to
/// and POSTs an offer every 100 ms to `b` (through a server still up):
/// seconds from the kill to `a` showing one of them, and whether the killed
/// server led the stream.
async fn node_server_killed(nats: &mut NatsCluster, a: &TestServer, b: &TestServer) -> (f64, bool) {
    for i in 0..3 {
        if !nats.is_running(i) {
            nats.restart(i);
        }
    }
    // The restarted server catches up with the stream before it may lead.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cluster = |s: &TestServer| {
        s.server
            .app
            .ingest
            .cluster()
            .expect("a cluster node")
            .clone()
    };
    let server = cluster(a).connected_server();
    let leader = stream_leader(nats).await;
    // Sent through b unless b is on the same server.
    let sender = if cluster(b).connected_server() == server {
        a
    } else {
        b
    };
    let killed = Instant::now();
    nats.kill(nats.index_of(&server));
    let mut n = 0;
    loop {
        n += 1;
        let _ = sender
            .post_events(offer("server-kill", n), "application/x-ndjson")
            .await;
        let board = a.board().await;
        if board["queues"]["bench-server-kill"]["waiting"]
            .as_u64()
            .is_some_and(|w| w >= 1)
        {
            return (killed.elapsed().as_secs_f64(), leader == server);
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "node a applied nothing within 60 s of its NATS server dying"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Offer `n` of a probe named `name`, into queue `bench-NAME`.
fn offer(name: &str, n: usize) -> String {
    json!({"id": format!("{name}-{n}"), "ts": Timestamp::now().to_string(),
        "type": "contact_offered", "contact": format!("{name}-c{n}"), "queue": format!("bench-{name}")})
    .to_string()
}

/// The name of the NATS server leading the stream now.
async fn stream_leader(nats: &NatsCluster) -> String {
    let js = async_nats::jetstream::new(
        async_nats::connect(nats.urls().as_slice())
            .await
            .expect("connect to NATS"),
    );
    let mut stream = js.get_stream("WALLBOARD").await.expect("the stream");
    stream
        .info()
        .await
        .ok()
        .and_then(|i| i.cluster.clone()?.leader)
        .expect("a stream leader")
}

/// `ROUNDS` single offers POSTed to `a`, each timed until a floor viewer
/// on `b` shows it: (p50, p99, max) in ms.
async fn cross_node(a: &TestServer, b: &TestServer) -> (f64, f64, f64) {
    let mut viewer = wallboard_tests::Viewer::connect(&b.url, "view=floor").await;
    let mut took = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let event = offer("probe", round);
        let sent = Instant::now();
        let reply = a.post_events(event, "application/x-ndjson").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let want = json!(round + 1);
        viewer
            .until(Duration::from_secs(10), |board| {
                board["queues"]["bench-probe"]["waiting"] == want
            })
            .await
            .expect("the other node shows the probe");
        took.push(sent.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    crate::percentiles(took)
}
