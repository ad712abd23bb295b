//! Fan-out latency: N WebSocket viewers on a real `wallboard` process (the
//! release binary, simulator on), an event POSTed per round; the time from
//! sending the POST to each viewer receiving the patch that carries it.
//! Also the server's RSS per idle viewer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub struct FanoutResult {
    pub viewers: usize,
    pub connected: usize,
    pub rounds: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub missed: u64,
    pub rss_idle_kb: u64,
    pub rss_per_viewer_bytes: f64,
    pub connect_seconds: f64,
}

/// Server RSS in KiB, from /proc.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(url: &str, pid: u32, view: &str, viewers: usize, rounds: usize) -> FanoutResult {
    let ws_url = format!("{}/ws?view={view}", url.replacen("http://", "ws://", 1));
    let rss_idle_kb = rss_kb(pid);
    // Every viewer reports, per round, when it saw that round's marker.
    let seen: Arc<Vec<AtomicU64>> =
        Arc::new((0..viewers * rounds).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let connected = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let markers: Arc<Vec<String>> =
        Arc::new((0..rounds).map(|k| format!("\"bench-{k}\"")).collect());
    let mut tasks = Vec::with_capacity(viewers);
    for v in 0..viewers {
        let (ws_url, seen, gate, connected) = (
            ws_url.clone(),
            seen.clone(),
            gate.clone(),
            connected.clone(),
        );
        let markers = markers.clone();
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(4096);
            let Ok((mut socket, _)) =
                tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true).await
            else {
                return;
            };
            drop(permit);
            connected.fetch_add(1, Ordering::Relaxed);
            let mut next_round = 0;
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                // The marker of round k is the queue "bench-k" appearing.
                while next_round < rounds && text.as_str().contains(markers[next_round].as_str()) {
                    let at = epoch.elapsed().as_micros() as u64;
                    seen[v * rounds + next_round].store(at.max(1), Ordering::Relaxed);
                    next_round += 1;
                }
                if next_round == rounds {
                    break;
                }
            }
        }));
    }
    while (connected.load(Ordering::Relaxed) as usize) < viewers
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    let connected = connected.load(Ordering::Relaxed) as usize;
    // Let the snapshots drain, then read the memory of idle sessions.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss_kb(pid);

    let client = reqwest::Client::new();
    let mut sent_at = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Vary the phase against the server's tick.
        tokio::time::sleep(Duration::from_millis(300 + (round as u64 * 37) % 100)).await;
        let event = json!({"id": format!("bench-{round}-{}", epoch.elapsed().as_nanos()),
            "ts": jiff::Timestamp::now().to_string(), "type": "contact_offered",
            "contact": format!("bench-contact-{round}-{}", epoch.elapsed().as_nanos()), "queue": format!("bench-{round}")});
        let t = epoch.elapsed().as_micros() as u64;
        let reply = client
            .post(format!("{url}/api/v1/events"))
            .body(event.to_string())
            .send()
            .await;
        assert!(reply.is_ok_and(|r| r.status().is_success()), "POST failed");
        sent_at.push(t);
        // Wait until everyone saw it (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && (0..viewers).any(|v| seen[v * rounds + round].load(Ordering::Relaxed) == 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut latencies = Vec::with_capacity(viewers * rounds);
    let mut missed = 0;
    for v in 0..viewers {
        for (round, sent) in sent_at.iter().enumerate() {
            match seen[v * rounds + round].load(Ordering::Relaxed) {
                0 => missed += 1,
                at => latencies.push(at.saturating_sub(*sent) as f64 / 1000.0),
            }
        }
    }
    for task in tasks {
        task.abort();
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    FanoutResult {
        viewers,
        connected,
        rounds,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        missed,
        rss_idle_kb,
        rss_per_viewer_bytes: (rss_connected.saturating_sub(rss_idle_kb) as f64 * 1024.0)
            / connected.max(1) as f64,
        connect_seconds,
    }
}
