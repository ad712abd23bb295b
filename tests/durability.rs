//! Durability: the journal keeps every acknowledged event through a
//! `kill -9`, a restart replays it before serving, re-sent batches are
//! duplicates, and a journal that cannot write answers 503 and applies
//! nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wallboard::simulator::{SimOptions, Simulation};
use wallboard_tests::{BinaryServer, entity_of, post_events, spawn_app, stable_hash};

const CONFIG: &str = "timezone = \"Asia/Shanghai\"";
const SENDERS: usize = 4;

/// The last 90 minutes of a simulated floor, as NDJSON batches, each with
/// the sender that owns its entities (so order within an entity is kept).
fn batches() -> Vec<(usize, String)> {
    let now = Timestamp::now();
    let config = wallboard::config::Config::from_toml(CONFIG).unwrap();
    let mut sim = Simulation::new(SimOptions {
        seed: 11,
        agents: 30,
        timezone: config.timezone.clone(),
        start: now - SignedDuration::from_mins(90),
    });
    let events = sim.advance_to(now - SignedDuration::from_secs(30));
    let mut per_sender: Vec<Vec<String>> = vec![Vec::new(); SENDERS];
    for event in &events {
        let sender = (stable_hash(entity_of(event)) % SENDERS as u64) as usize;
        per_sender[sender].push(serde_json::to_string(event).unwrap());
    }
    let mut batches = Vec::new();
    for (sender, lines) in per_sender.into_iter().enumerate() {
        for chunk in lines.chunks(10) {
            batches.push((sender, chunk.join("\n")));
        }
    }
    batches
}

/// The counts of a board that do not move with the clock.
fn counts(board: &Value) -> Value {
    let pick = |kpis: &Value| {
        json!([
            kpis["offered"],
            kpis["answered"],
            kpis["abandoned"],
            kpis["short_abandoned"],
            kpis["handled"],
            kpis["surveys"],
            kpis["dispositions"],
            kpis["resolved"],
            kpis["arrived"],
            kpis["blocked"],
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
                json!([q["waiting"], pick(&q["windows"]["today"])]),
            )
        })
        .collect();
    json!({
        "totals": pick(&board["totals"]["today"]),
        "queues": queues,
        "agent_states": board["agent_states"],
        "complaints_open": board["complaints"]["open"],
    })
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> Option<Value> {
    let reply = client
        .post(format!("{url}/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    if reply.status() != 200 {
        return None;
    }
    reply.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let batches = Arc::new(batches());
    let total = batches.len();
    assert!(total >= 40, "{total} batches");
    let dir = std::env::temp_dir().join(format!("wallboard-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap().to_string();
    let server = BinaryServer::start(&["--data-dir", &dir_arg, "--config", "/dev/null"], &[]);

    // Four senders, each its own batches in order, a little apart.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (batches, acked, client, url) = (
            batches.clone(),
            acked.clone(),
            client.clone(),
            server.url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for (i, (_, body)) in batches
                .iter()
                .enumerate()
                .filter(|(_, (owner, _))| *owner == sender)
            {
                match post(&client, &url, body).await {
                    Some(reply) => {
                        assert_eq!(reply["rejected"], json!([]), "{reply}");
                        acked.lock().unwrap().push(i);
                    }
                    None => return,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // Kill it mid-stream.
    while acked.lock().unwrap().len() < total / 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let pid = server.pid();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    for task in tasks {
        let _ = task.await;
    }
    drop(server);
    let acked: Vec<usize> = acked.lock().unwrap().clone();
    assert!(acked.len() < total, "killed before the end");

    // Restart on the same journal: every acknowledged event is back.
    let server = BinaryServer::start(&["--data-dir", &dir_arg, "--config", "/dev/null"], &[]);
    assert!(
        server.log.iter().any(|l| l.contains("journal replayed")),
        "{:#?}",
        server.log
    );
    for &i in &acked {
        let reply = post(&client, &server.url, &batches[i].1).await.unwrap();
        assert_eq!(
            reply["accepted"], 0,
            "batch {i} was acknowledged, so it is stored: {reply}"
        );
    }
    // Everything once more, in order: the board equals a server fed each
    // batch once.
    for (_, body) in batches.iter() {
        post(&client, &server.url, body).await.unwrap();
    }
    let reference = spawn_app(CONFIG, None).await;
    for (_, body) in batches.iter() {
        let reply = reference
            .post_events(body.clone(), "application/x-ndjson")
            .await;
        assert_eq!(reply.status, 200);
    }
    let restarted: Value = client
        .get(format!("{}/api/v1/board", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts(&restarted), counts(&reference.board().await));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_journal_that_cannot_write_answers_503_and_applies_nothing() {
    let dir = std::env::temp_dir().join(format!("wallboard-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Today's segment is /dev/full: every write fails with ENOSPC.
    let day = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    std::os::unix::fs::symlink("/dev/full", dir.join(format!("{day}.wal"))).unwrap();
    let dir_arg = dir.to_str().unwrap().to_string();
    let config = dir.join("wallboard.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = BinaryServer::start(
        &["--data-dir", &dir_arg, "--config", config.to_str().unwrap()],
        &[],
    );
    let client = reqwest::Client::new();
    let event = json!({"id":"x1","ts":Timestamp::now().to_string(),"type":"contact_offered","contact":"c1","queue":"billing"});
    let reply = post_events(&client, &server.url, event.to_string(), "application/json").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("nothing of it was applied"),
        "{}",
        reply.body
    );
    // Not applied, not remembered: the board has no such queue.
    let board = wallboard_tests::get_json(&client, &format!("{}/api/v1/board", server.url)).await;
    assert_eq!(board.status, 200);
    assert!(
        board.body["queues"].get("billing").is_none(),
        "{}",
        board.body
    );
    // Still serving.
    let health = wallboard_tests::get_json(&client, &format!("{}/healthz", server.url)).await;
    assert_eq!(health.status, 200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
