//! Cluster mode against real `nats-server` processes on loopback: nodes
//! that share one JetStream stream answer each batch as a single node
//! would, hold the same board, catch up when they join late, and answer
//! 503 (never 200) when the log cannot store a batch.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wallboard::simulator::{SimOptions, Simulation};
use wallboard_tests::nats::NatsCluster;
use wallboard_tests::{TestServer, get_json, spawn_app};

const ZONE: &str = "timezone = \"Asia/Shanghai\"\n";

/// The last hour of a simulated floor, as NDJSON batches of 20 lines.
fn batches() -> Vec<String> {
    let now = Timestamp::now();
    let config = wallboard::config::Config::from_toml(ZONE).unwrap();
    let mut sim = Simulation::new(SimOptions {
        seed: 3,
        agents: 24,
        timezone: config.timezone.clone(),
        start: now - SignedDuration::from_mins(60),
    });
    let events = sim.advance_to(now - SignedDuration::from_secs(20));
    let size = (events.len() / 40).clamp(1, 20);
    events
        .chunks(size)
        .map(|chunk| {
            chunk
                .iter()
                .map(|e| serde_json::to_string(e).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// What a board holds that does not move with the clock.
fn counts(board: &Value) -> Value {
    let today = |kpis: &Value| {
        json!([
            kpis["offered"],
            kpis["answered"],
            kpis["abandoned"],
            kpis["short_abandoned"],
            kpis["handled"],
            kpis["surveys"],
            kpis["complaints_on_time"],
        ])
    };
    let queues: serde_json::Map<String, Value> = board["queues"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, q)| {
            (
                id.clone(),
                json!([q["waiting"], today(&q["windows"]["today"])]),
            )
        })
        .collect();
    json!({
        "totals": today(&board["totals"]["today"]),
        "queues": queues,
        "agent_states": board["agent_states"],
        "agents": board["agents"].as_object().map(|a| a.len()),
        "complaints_open": board["complaints"]["open"],
    })
}

async fn node(nats: &NatsCluster, name: &str, replicas: usize, extra: &str) -> TestServer {
    spawn_app(
        &format!("{ZONE}{}", nats.config(name, replicas, extra)),
        None,
    )
    .await
}

/// Waits until `/readyz` says ready (a node catching up says 503).
async fn ready(server: &TestServer, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let reply = get_json(&server.client, &format!("{}/readyz", server.url)).await;
        if reply.status == 200 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not ready within {within:?}: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until both nodes have applied the same stream sequence.
async fn settled(a: &TestServer, b: &TestServer) {
    let (a, b) = (
        a.server.app.ingest.cluster().unwrap().clone(),
        b.server.app.ingest.cluster().unwrap().clone(),
    );
    let head = a.head().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        a.caught_up_to(head).await;
        b.caught_up_to(head).await;
    })
    .await
    .expect("both nodes apply the stream within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_answer_as_one_server_would_and_show_the_same_board() {
    let nats = NatsCluster::start(3);
    let a = node(&nats, "a", 3, "checkpoint_every = 10").await;
    let b = node(&nats, "b", 3, "checkpoint_every = 10").await;
    ready(&a, Duration::from_secs(20)).await;
    ready(&b, Duration::from_secs(20)).await;
    let reference = spawn_app(ZONE, None).await;
    let batches = batches();
    assert!(batches.len() >= 20, "{} batches", batches.len());
    let mut lines = 0u64;
    for (i, batch) in batches.iter().enumerate() {
        let to = if i % 2 == 0 { &a } else { &b };
        let reply = to.post_events(batch.clone(), "application/x-ndjson").await;
        let expected = reference
            .post_events(batch.clone(), "application/x-ndjson")
            .await;
        assert_eq!(reply.status, 200, "batch {i}: {}", reply.body);
        assert_eq!(
            reply.body, expected.body,
            "batch {i}: the same answer as one server"
        );
        lines += batch.lines().count() as u64;
    }
    // Every batch sent again, to the other node: all duplicates.
    let mut duplicates = 0;
    for (i, batch) in batches.iter().enumerate().step_by(5) {
        let to = if i % 2 == 0 { &b } else { &a };
        let reply = to.post_events(batch.clone(), "application/x-ndjson").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["accepted"], 0, "resent batch {i}");
        duplicates += reply.body["duplicates"].as_u64().unwrap();
        let expected = reference
            .post_events(batch.clone(), "application/x-ndjson")
            .await;
        assert_eq!(reply.body, expected.body, "resent batch {i}");
    }
    assert!(duplicates > 0);
    settled(&a, &b).await;
    let (board_a, board_b) = (counts(&a.board().await), counts(&b.board().await));
    assert_eq!(board_a, board_b, "both nodes");
    assert_eq!(board_a, counts(&reference.board().await), "one server");
    assert!(board_a["totals"][0].as_u64().unwrap() > 0, "{board_a}");
    println!("{lines} lines in {} batches", batches.len());
    // The same state, byte for byte, at every checkpoint sequence.
    let head = a.server.app.ingest.cluster().unwrap().head().await.unwrap();
    assert!(head >= 40, "{head} stream messages");
    let last_checkpoint = head / 10 * 10;
    let hashes = |server: &TestServer| {
        let cluster = server.server.app.ingest.cluster().unwrap();
        (10..=last_checkpoint)
            .step_by(10)
            .map(|s| cluster.hash_at(s))
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hashes(&a).iter().chain(&hashes(&b)).any(Option::is_none) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} {:?}",
            hashes(&a),
            hashes(&b)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hashes(&a), hashes(&b), "state hashes");
    for server in [&a, &b] {
        let metrics = server
            .client
            .get(format!("{}/metrics", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("wallboard_cluster_diverged{node="),
            "{metrics}"
        );
        for line in metrics
            .lines()
            .filter(|l| l.starts_with("wallboard_cluster_"))
        {
            if line.starts_with("wallboard_cluster_diverged")
                || line.starts_with("wallboard_cluster_lag")
            {
                assert!(line.ends_with(" 0"), "{line}");
            }
            if line.starts_with("wallboard_cluster_applied_sequence") {
                assert!(line.ends_with(&format!(" {head}")), "{line}");
            }
        }
    }
    // A node that joins late applies the stream from its start and turns
    // ready once it has caught up.
    let c = node(&nats, "c", 3, "checkpoint_every = 10").await;
    let took = ready(&c, Duration::from_secs(20)).await;
    assert_eq!(counts(&c.board().await), board_a, "the late node");
    println!("the late node was ready in {took:?}");
    // The stream trimmed to what follows the last checkpoint: a new node
    // starts from that checkpoint.
    let js =
        async_nats::jetstream::new(async_nats::connect(nats.urls()[0].as_str()).await.unwrap());
    let stream = js.get_stream("WALLBOARD").await.unwrap();
    stream.purge().sequence(last_checkpoint + 1).await.unwrap();
    let d = node(&nats, "d", 3, "checkpoint_every = 10").await;
    ready(&d, Duration::from_secs(20)).await;
    assert_eq!(
        counts(&d.board().await),
        board_a,
        "a node started from a checkpoint"
    );
    assert_eq!(
        d.server.app.ingest.cluster().unwrap().applied(),
        head,
        "caught up"
    );
    // Trimmed past every checkpoint: a node refuses to start, saying why.
    stream.purge().sequence(head).await.unwrap();
    let refused = wallboard::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        wallboard::Options {
            config: wallboard::config::Config::from_toml(&format!(
                "{ZONE}{}",
                nats.config("e", 3, "")
            ))
            .unwrap(),
            clock: wallboard::clock::Clock::system(),
            simulate: None,
            data_dir: None,
        },
    )
    .await;
    let error = refused
        .err()
        .expect("a node cannot start without the state")
        .to_string();
    assert!(
        error.contains("WALLBOARD") && error.contains(&format!("starts at sequence {head}")),
        "{error}"
    );
    for server in [a, b, c, d, reference] {
        server.server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_store_answers_503_and_nothing_counts_twice() {
    let mut nats = NatsCluster::start(1);
    let a = node(&nats, "a", 1, "publish_timeout = \"1s\"").await;
    ready(&a, Duration::from_secs(20)).await;
    let ts = Timestamp::now().to_string();
    let offers = |tag: &str| {
        (0..5)
            .map(|i| {
                json!({"id": format!("{tag}{i}"), "ts": ts, "type": "contact_offered",
                    "contact": format!("c-{tag}{i}"), "queue": "billing"})
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (batch, second) = (offers("x"), offers("y"));
    let reply = a.post_events(batch.clone(), "application/x-ndjson").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 5);
    nats.kill(0);
    let started = std::time::Instant::now();
    let refused = a.post_events(second.clone(), "application/x-ndjson").await;
    let took = started.elapsed();
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("did not store"),
        "{}",
        refused.body
    );
    assert!(took < Duration::from_secs(5), "answered in {took:?}");
    // Nothing of it was applied.
    assert_eq!(a.board().await["queues"]["billing"]["waiting"], 5);
    nats.restart(0);
    // The same batch again, once the log is back: stored once. (The NATS
    // client may deliver the refused attempt itself once its server is
    // back; then this retry finds its events duplicates.)
    let mut reply = None;
    for _ in 0..100 {
        let r = a.post_events(second.clone(), "application/x-ndjson").await;
        if r.status == 200 {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = reply.expect("the log takes batches again within 20 s");
    let counted =
        reply.body["accepted"].as_u64().unwrap() + reply.body["duplicates"].as_u64().unwrap();
    assert_eq!(counted, 5, "{}", reply.body);
    let again = a.post_events(second.clone(), "application/x-ndjson").await;
    assert_eq!(
        (
            again.body["accepted"].clone(),
            again.body["duplicates"].clone()
        ),
        (json!(0), json!(5))
    );
    // The applier followed the restarted server.
    let followed = tokio::time::timeout(Duration::from_secs(10), async {
        while a.board().await["queues"]["billing"]["waiting"] != 10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if followed.is_err() {
        panic!("board: {}\n{}", a.board().await["queues"], nats.log(0));
    }
    a.server.stop().await;
}
