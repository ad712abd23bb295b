//! `GET /ws`: real WebSocket viewers (tokio-tungstenite) against a real
//! server — snapshot, patches, views, slow clients, many clients, shutdown.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wallboard_protocol::stream::without_nulls;
use wallboard_tests::{TestServer, Viewer, ViewerEnd};

const NOW: &str = "2026-11-23T10:00:30+08:00";
const SECOND: Duration = Duration::from_secs(1);

async fn server(extra_config: &str) -> TestServer {
    TestServer::builder(&format!("timezone = \"Asia/Shanghai\"\n{extra_config}"))
        .at(NOW.parse().unwrap())
        .start()
        .await
}

fn event(id: &str, body: Value) -> Value {
    let mut e = body;
    e["id"] = json!(id);
    e["ts"] = json!("2026-11-23T10:00:00+08:00");
    e
}

fn agent(id: &str, queue: &str) -> Value {
    event(
        &format!("state-{id}"),
        json!({"type":"agent_state","agent":id,"state":"available","name":format!("Agent {id}"),"queues":[queue]}),
    )
}

async fn post(server: &TestServer, events: Value) {
    let reply = server
        .post_events(events.to_string(), "application/json")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["rejected"], json!([]), "{}", reply.body);
}

#[tokio::test]
async fn patches_keep_a_viewer_exactly_on_the_board() {
    let s = server("").await;
    let mut viewer = Viewer::connect(&s.url, "view=floor").await;
    // The snapshot is the board.
    assert_eq!(
        viewer.client.board(),
        Some(&without_nulls(s.get("/api/v1/board?view=floor").await.body))
    );

    // An event POSTed now shows up in the next patch.
    post(&s, json!([agent("a1", "billing")])).await;
    let posted = Instant::now();
    let seq_before = viewer.client.seq().unwrap();
    viewer
        .until(5 * SECOND, |b| b["agents"]["a1"]["state"] == "available")
        .await
        .unwrap();
    assert_eq!(
        viewer.client.seq(),
        Some(seq_before + 1),
        "the very next patch"
    );
    assert!(posted.elapsed() < 2 * SECOND, "within a tick or so");

    // More changes, then quiet: the client's copy equals GET exactly.
    for i in 0..20 {
        post(
            &s,
            json!([event(
                &format!("o{i}"),
                json!({"type":"contact_offered","contact":format!("c{i}"),"queue":"billing"})
            )]),
        )
        .await;
    }
    viewer
        .until(5 * SECOND, |b| b["queues"]["billing"]["waiting"] == 20)
        .await
        .unwrap();
    let board = without_nulls(s.get("/api/v1/board?view=floor").await.body);
    assert_eq!(viewer.client.board(), Some(&board));
    let typed = viewer.client.typed().unwrap().unwrap();
    assert_eq!(typed.queues["billing"].waiting, 20);
    // Gap-free throughout: the client would have failed on a gap.
    s.server.stop().await;
}

#[tokio::test]
async fn heartbeats_flow_when_nothing_changes() {
    let s = server("").await;
    let mut viewer = Viewer::connect(&s.url, "view=agent").await;
    let first = viewer.client.seq().unwrap();
    // Nothing happens; about one heartbeat a second arrives anyway.
    let started = Instant::now();
    viewer.next(3 * SECOND).await.unwrap();
    viewer.next(3 * SECOND).await.unwrap();
    assert_eq!(viewer.client.seq(), Some(first + 2));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not every tick"
    );
    assert!(viewer.client.board().unwrap()["generated_at"].is_string());
}

#[tokio::test]
async fn views_hide_what_they_must() {
    let s = server("").await;
    post(
        &s,
        json!([
            agent("a1", "billing"),
            agent("a2", "vip"),
            event(
                "o1",
                json!({"type":"contact_offered","contact":"c1","queue":"billing"})
            ),
            event(
                "o2",
                json!({"type":"contact_offered","contact":"c2","queue":"vip"})
            ),
        ]),
    )
    .await;
    let agent_view = Viewer::connect(&s.url, "view=agent").await;
    let b = agent_view.client.board().unwrap();
    assert_eq!(b["agents"], json!({}), "no agent details on the agent view");
    assert_eq!(b["queues"].as_object().unwrap().len(), 2);
    assert_eq!(b["agent_states"]["available"], 2, "counts stay");

    let mut vip = Viewer::connect(&s.url, "view=queue&queue=vip").await;
    let b = vip.client.board().unwrap();
    assert_eq!(
        b["queues"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["vip"]
    );
    assert_eq!(
        b["agents"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["a2"]
    );

    // A new agent on billing never reaches the vip view's patches.
    post(&s, json!([agent("a3", "billing"), agent("a4", "vip")])).await;
    vip.until(5 * SECOND, |b| b["agents"].get("a4").is_some())
        .await
        .unwrap();
    assert!(vip.client.board().unwrap()["agents"].get("a3").is_none());

    let mut floor = Viewer::connect(&s.url, "").await;
    floor
        .until(5 * SECOND, |b| b["agents"].as_object().unwrap().len() == 4)
        .await
        .unwrap();

    for query in ["view=boss", "view=queue"] {
        let r = s.get(&format!("/api/v1/board?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(r.body["error"].is_string());
    }
    let url = format!("{}/ws?view=boss", s.url.replacen("http://", "ws://", 1));
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}

/// Floods the board with changes: 200 agents whose aux reason changes
/// every round, so every tick's patch is tens of kilobytes.
async fn churn(s: &TestServer, rounds: usize) {
    for round in 0..rounds {
        let events: Vec<Value> = (0..200)
            .map(|a| {
                let mut e = event(
                    &format!("churn-{round}-{a}"),
                    json!({"type":"agent_state","agent":format!("agent-{a}"),"state":"aux",
                           "reason":format!("{round:04}-{}", "x".repeat(200))}),
                );
                e["ts"] = json!(format!(
                    "2026-11-23T10:00:{:02}.{:03}+08:00",
                    round / 1000 % 30,
                    round % 1000
                ));
                e
            })
            .collect();
        post(s, Value::Array(events)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_without_slowing_the_others() {
    let s = server("ws_drain_timeout = \"2s\"").await;
    // The slow viewer: a tiny receive buffer, and it never reads after the handshake.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(s.server.addr).await.unwrap();
    let url = format!("ws://{}/ws?view=floor", s.server.addr);
    let (mut slow, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();

    let mut readers = Vec::new();
    for _ in 0..100 {
        let mut viewer = Viewer::connect(&s.url, "view=floor").await;
        readers.push(tokio::spawn(async move {
            // Reads until the churn ends; notes the longest silence.
            let mut longest = Duration::ZERO;
            let mut last = Instant::now();
            loop {
                match viewer.next(5 * SECOND).await {
                    Ok(_) => {
                        longest = longest.max(last.elapsed());
                        last = Instant::now();
                        if viewer.client.board().unwrap()["agents"]["agent-0"]["reason"]
                            .as_str()
                            .is_some_and(|r| r.starts_with("0119-"))
                        {
                            return (longest, viewer.received);
                        }
                    }
                    Err(e) => panic!("a reading viewer failed: {e:?}"),
                }
            }
        }));
    }
    churn(&s, 120).await;
    for reader in readers {
        let (longest, received) = reader.await.unwrap();
        assert!(received > 20, "only {received} messages");
        // A reader blocked behind the slow one would wait the full 2 s drain bound.
        assert!(
            longest < Duration::from_millis(1500),
            "a reader waited {longest:?}"
        );
    }
    assert_eq!(
        s.server
            .app
            .hub
            .stats
            .disconnected_slow
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the slow viewer was disconnected"
    );
    // Its socket is closed from the server's side.
    use futures_util::StreamExt;
    let mut ended = false;
    while let Ok(Some(message)) = tokio::time::timeout(5 * SECOND, slow.next()).await {
        if message.is_err() || message.as_ref().is_ok_and(|m| m.is_close()) {
            ended = true;
            break;
        }
    }
    assert!(ended, "the slow viewer's stream ended");
}

#[tokio::test]
async fn a_thousand_viewers_all_get_every_update() {
    let s = server("").await;
    let mut viewers = Vec::new();
    for i in 0..1000 {
        let query = if i % 2 == 0 {
            "view=floor"
        } else {
            "view=agent"
        };
        viewers.push(Viewer::connect(&s.url, query).await);
    }
    post(
        &s,
        json!([event(
            "o1",
            json!({"type":"contact_offered","contact":"c1","queue":"marker"})
        )]),
    )
    .await;
    let tasks: Vec<_> = viewers
        .into_iter()
        .map(|mut viewer| {
            tokio::spawn(async move {
                viewer
                    .until(20 * SECOND, |b| b["queues"]["marker"]["waiting"] == 1)
                    .await
            })
        })
        .collect();
    let mut reached = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            reached += 1;
        }
    }
    assert_eq!(reached, 1000);
}

#[tokio::test]
async fn shutdown_tells_viewers_the_server_is_going_away() {
    let s = server("").await;
    let mut viewer = Viewer::connect(&s.url, "view=floor").await;
    let stopping = tokio::spawn(s.server.stop());
    let end = loop {
        match viewer.next(10 * SECOND).await {
            Ok(_) => continue,
            Err(end) => break end,
        }
    };
    stopping.await.unwrap();
    match end {
        ViewerEnd::Closed(Some(code), reason) => {
            assert_eq!(code, 1001);
            assert_eq!(reason, "server going away");
        }
        other => panic!("expected a going-away close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_large_snapshot_arrives_whole() {
    // 300 agents make a snapshot of tens of KB: it goes out as a
    // fragmented message, which the client must see as one board.
    let s = server("").await;
    let agents: Vec<Value> = (0..300)
        .map(|i| agent(&format!("agent-{i:03}"), "billing"))
        .collect();
    post(&s, json!(agents)).await;
    let board = without_nulls(s.get("/api/v1/board?view=floor").await.body);
    assert!(
        board.to_string().len() > 4 * 4096,
        "large enough to fragment"
    );
    let viewer = Viewer::connect(&s.url, "view=floor").await;
    assert_eq!(viewer.client.board(), Some(&board));
    assert_eq!(board["agents"].as_object().unwrap().len(), 300);
}

#[tokio::test]
async fn ws_without_a_websocket_handshake_is_a_clear_error() {
    let s = server("").await;
    let reply = s.get("/ws?view=floor").await;
    assert_eq!(reply.status, 426, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("WebSocket"),
        "{}",
        reply.body
    );
    // The view is checked first: a bad one is a 400 either way.
    let reply = s.get("/ws?view=nope").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}
