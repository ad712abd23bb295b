//! Fan-out latency: N WebSocket viewers on a real `wallboard` process (the
//! release binary, simulator on), an event POSTed per round; the time from
//! sending the POST to each viewer receiving the patch that carries it.
//! Also the server's RSS per idle viewer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The load client is lean so that it is not what the numbers measure: a
/// raw TCP socket per viewer after a plain RFC 6455 handshake, looking for
/// each round's marker in the bytes as they arrive (server frames are not
/// masked, so a patch's JSON is in the stream verbatim) — no frame parsing,
/// no UTF-8 check, no allocation per message. It sends an unsolicited pong
/// (a heartbeat, RFC 6455 §5.5.3) now and then so the server keeps it.
const PONG: [u8; 6] = [0x8A, 0x80, 0x12, 0x34, 0x56, 0x78];
const PONG_EVERY: Duration = Duration::from_secs(10);
/// Longer than any marker.
const KEEP: usize = 32;

/// A slow viewer's receive buffer: small, so that the server's side fills
/// within the benchmark's time rather than after minutes of a kernel
/// buffer's worth of patches (the kernel doubles it, and keeps a minimum).
const SLOW_RECEIVE_BUFFER: u32 = 4 * 1024;
/// How long after connecting the slow viewers may take to be let go.
pub const SLOW_WAIT: Duration = Duration::from_secs(120);
const SLOW_METRIC: &str = "wallboard_ws_disconnects_total{reason=\"slow\"} ";
const MESSAGES_METRIC: &str = "wallboard_ws_messages_sent_total ";
const ACCEPTED_METRIC: &str = "wallboard_ingest_events_total{result=\"accepted\"} ";
const DEAD_METRIC: &str = "wallboard_ws_disconnects_total{reason=\"dead\"} ";

/// Connects and upgrades; the socket then carries WebSocket frames, and
/// the bytes read past the response head (the snapshot's start, often)
/// come back with it.
async fn lean_connect(addr: &str, path: &str, slow: bool) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let target: std::net::SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    if slow {
        socket.set_recv_buffer_size(SLOW_RECEIVE_BUFFER)?;
    }
    // Sources spread over 127.0.0.2–17 when the server is on loopback: one
    // source address has 28,000 ports (and fewer free ones the closer to
    // that a run comes, each connect searching longer), and a run's closed
    // viewers hold theirs in TIME_WAIT for a minute.
    if target.ip().is_loopback() {
        let n = SOURCE.fetch_add(1, Ordering::Relaxed) % 16;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 2 + n as u8], 0)))?;
    }
    let mut socket = socket.connect(target).await?;
    socket.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: d2FsbGJvYXJkLWJlbmNoLQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await?;
    // Small reads until the head's end: a slow viewer must leave the
    // snapshot in its socket.
    let mut head = Vec::with_capacity(512);
    let end = loop {
        let mut chunk = [0u8; 256];
        let n = socket.read(&mut chunk).await?;
        if n == 0 || head.len() > 4096 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = memchr::memmem::find(&head, b"\r\n\r\n") {
            break at + 4;
        }
    };
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other("upgrade refused"));
    }
    Ok((socket, head.split_off(end)))
}

/// The next viewer's source address (see `lean_connect`).
static SOURCE: AtomicU64 = AtomicU64::new(0);

/// Numbers the runs of this process (their markers).
static RUN: AtomicU64 = AtomicU64::new(0);

fn memmem(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

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
    /// Over the rounds: the server's CPU (all its threads: tick, ingest,
    /// simulator, sessions) as a share of one core, the WebSocket messages
    /// it delivered per second, and its CPU per delivered message.
    pub server_cpu_percent: f64,
    pub messages_per_second: f64,
    /// Events the server accepted per second over the rounds (the
    /// simulator's and the rounds' own).
    pub events_per_second: f64,
    pub cpu_us_per_message: f64,
    /// The load client's own CPU over the rounds (this process, all its
    /// threads), as a share of one core.
    pub client_cpu_percent: f64,
    /// The same two, only while a round's message is being delivered (from
    /// its POST until the last viewer has it): a load client near 100% of
    /// its cores then would be what the latency measures.
    pub server_burst_cpu_percent: f64,
    pub client_burst_cpu_percent: f64,
    /// Of the viewers that never read after their handshake (the first
    /// `slow`): how many the server disconnected as slow, how many as
    /// answering no ping (watched from their connecting, during the rounds
    /// and after, up to [`SLOW_WAIT`]), and when the last one went, in
    /// seconds after they connected; the server's RSS with all connected,
    /// its largest over that time, and at the end.
    pub slow_disconnected: u64,
    pub slow_dead: u64,
    pub slow_seconds: f64,
    pub rss_connected_kb: u64,
    pub rss_max_kb: u64,
    pub rss_end_kb: u64,
}

impl FanoutResult {
    /// The run's figures on one line.
    pub fn summary(&self) -> String {
        format!(
            "{} viewers ({} connected in {:.1}s): POST → patch p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms, missed {}; server RSS {} KiB idle, {:.1} KB per viewer; {:.1} events/s accepted; server CPU {:.0}% of a core, {:.0} messages/s, {:.1} µs CPU per message; load client CPU {:.0}% of a core; while a message was being delivered: server {:.0}%, load client {:.0}%",
            self.viewers,
            self.connected,
            self.connect_seconds,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.missed,
            self.rss_idle_kb,
            self.rss_per_viewer_bytes / 1000.0,
            self.events_per_second,
            self.server_cpu_percent,
            self.messages_per_second,
            self.cpu_us_per_message,
            self.client_cpu_percent,
            self.server_burst_cpu_percent,
            self.client_burst_cpu_percent,
        )
    }
}

/// The server's CPU time so far, in seconds (utime + stime from
/// /proc/PID/stat, in USER_HZ = 100 ticks a second on Linux).
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces).
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The server's scrape (empty if it could not be read).
pub async fn scrape(client: &reqwest::Client, url: &str) -> String {
    match client.get(format!("{url}/metrics")).send().await {
        Ok(reply) => reply.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Every server's scrape, in order.
async fn scrape_all(client: &reqwest::Client, urls: &[String]) -> Vec<String> {
    let mut texts = Vec::with_capacity(urls.len());
    for url in urls {
        texts.push(scrape(client, url).await);
    }
    texts
}

/// A sample summed over several servers' scrapes.
fn sum(scrapes: &[String], name: &str) -> f64 {
    scrapes.iter().map(|text| sample(text, name)).sum()
}

/// A sample of a scrape: the line that starts with `name`.
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Server RSS in KiB, from /proc.
pub fn rss_kb(pid: u32) -> u64 {
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

/// `slow` of the `viewers` never read after their handshake; the latency
/// figures are the others'. With `watch`, the server's metrics are read
/// twice a second from the viewers' connecting until the end (to see when
/// the slow ones are let go; runs compared with such a run do the same,
/// since scrapes cost the server a little).
pub async fn run(
    url: &str,
    pid: u32,
    view: &str,
    viewers: usize,
    slow: usize,
    rounds: usize,
    watch: bool,
) -> FanoutResult {
    run_on(&[(url, pid)], view, viewers, slow, rounds, watch).await
}

/// [`run`] with the viewers spread over several servers (a cluster's
/// nodes, `(url, pid)` each): viewer `v` on server `v % n`, every round
/// POSTed to the first. CPU, memory and messages are the servers' sums.
pub async fn run_on(
    servers: &[(&str, u32)],
    view: &str,
    viewers: usize,
    slow: usize,
    rounds: usize,
    watch: bool,
) -> FanoutResult {
    let url = servers[0].0;
    let addrs: Vec<String> = servers
        .iter()
        .map(|(url, _)| url.trim_start_matches("http://").to_string())
        .collect();
    let urls: Vec<String> = servers.iter().map(|(url, _)| url.to_string()).collect();
    let pids: Vec<u32> = servers.iter().map(|&(_, pid)| pid).collect();
    let rss = {
        let pids = pids.clone();
        move || pids.iter().map(|&pid| rss_kb(pid)).sum::<u64>()
    };
    let cpu = move || pids.iter().map(|&pid| cpu_seconds(pid)).sum::<f64>();
    let path = format!("/ws?view={view}");
    let rss_idle_kb = rss();
    // Every viewer reports, per round, when it saw that round's marker.
    let seen: Arc<Vec<AtomicU64>> =
        Arc::new((0..viewers * rounds).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let connected = Arc::new(AtomicU64::new(0));
    let up: Arc<Vec<AtomicBool>> = Arc::new((0..viewers).map(|_| AtomicBool::new(false)).collect());
    let started = Instant::now();
    // Markers of this run only: a cluster's stream, and so a node joining
    // it, still holds an earlier run's queues.
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let queue = move |round: usize| format!("bench-r{run}-{round}");
    let markers: Arc<Vec<String>> =
        Arc::new((0..rounds).map(|k| format!("\"{}\"", queue(k))).collect());
    let mut tasks = Vec::with_capacity(viewers);
    // A few viewers first, for the RSS baseline: the memory of the views'
    // frames, the runtimes' threads and their allocator arenas is not a
    // per-viewer cost.
    let base_viewers = (viewers / 100).max(1);
    let mut rss_base_kb = rss_idle_kb;
    for v in 0..viewers {
        if v == base_viewers {
            while (connected.load(Ordering::Relaxed) as usize) < base_viewers
                && started.elapsed() < Duration::from_secs(30)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_base_kb = rss();
        }
        let (addr, path, seen, gate, connected) = (
            addrs[v % addrs.len()].clone(),
            path.clone(),
            seen.clone(),
            gate.clone(),
            connected.clone(),
        );
        let (markers, up) = (markers.clone(), up.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let Ok((mut socket, early)) = lean_connect(&addr, &path, v < slow).await else {
                return;
            };
            drop(permit);
            up[v].store(true, Ordering::Relaxed);
            connected.fetch_add(1, Ordering::Relaxed);
            if v < slow {
                // Holds the socket and never reads: the server's buffers
                // fill, and it must let this viewer go.
                std::future::pending::<()>().await;
            }
            let mut next_round = 0;
            let mut buf = vec![0u8; 8192];
            // Bytes kept from the last read, so a marker split between
            // two reads is still found (first, those read with the head).
            let mut kept = early.len().min(buf.len());
            buf[..kept].copy_from_slice(&early[..kept]);
            let mut pong_due = Instant::now() + PONG_EVERY;
            loop {
                // Heartbeat patches come every second, so reads never stop.
                let Ok(n) = socket.read(&mut buf[kept..]).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                let at = epoch.elapsed().as_micros() as u64;
                let end = kept + n;
                while next_round < rounds && memmem(&buf[..end], markers[next_round].as_bytes()) {
                    seen[v * rounds + next_round].store(at.max(1), Ordering::Relaxed);
                    next_round += 1;
                }
                kept = end.min(KEEP);
                buf.copy_within(end - kept..end, 0);
                if Instant::now() >= pong_due {
                    if socket.write_all(&PONG).await.is_err() {
                        return;
                    }
                    pong_due = Instant::now() + PONG_EVERY;
                }
                // Having seen every round, it keeps reading until the run
                // ends: closing now would load the server during the last
                // round.
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
    // The server is watched from now on, through the rounds: its largest
    // RSS, and when the slow viewers (the first to connect) are let go,
    // waiting for that after the rounds if need be.
    let rounds_done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (client, urls, rounds_done, rss) = (
            reqwest::Client::new(),
            urls.clone(),
            rounds_done.clone(),
            rss.clone(),
        );
        tokio::spawn(async move {
            let mut rss_max_kb = 0;
            let mut all_gone_at = None;
            loop {
                let text = if watch {
                    scrape_all(&client, &urls).await
                } else {
                    Vec::new()
                };
                let gone_slow = sum(&text, SLOW_METRIC) as u64;
                let gone_dead = sum(&text, DEAD_METRIC) as u64;
                rss_max_kb = rss_max_kb.max(rss());
                if slow > 0 && all_gone_at.is_none() && (gone_slow + gone_dead) as usize >= slow {
                    all_gone_at = Some(started.elapsed().as_secs_f64());
                }
                if rounds_done.load(Ordering::Relaxed)
                    && (slow == 0 || all_gone_at.is_some() || started.elapsed() >= SLOW_WAIT)
                {
                    let seconds = all_gone_at.unwrap_or(started.elapsed().as_secs_f64());
                    return (gone_slow, gone_dead, seconds, rss_max_kb);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    // Let the snapshots drain, then read the memory of idle sessions.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss();

    let client = reqwest::Client::new();
    // One scrape before the rounds and one after: messages delivered and
    // events accepted (each node of a cluster accepts every event: the
    // first server's count).
    let counts = |texts: Vec<String>| {
        (
            sum(&texts, MESSAGES_METRIC),
            sample(&texts[0], ACCEPTED_METRIC),
        )
    };
    let (cpu_before, client_cpu_before) = (cpu(), cpu_seconds(std::process::id()));
    let (messages_before, events_before) = counts(scrape_all(&client, &urls).await);
    let rounds_started = Instant::now();
    let (mut burst_seconds, mut burst_server, mut burst_client) = (0.0, 0.0, 0.0);
    let mut sent_at = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Vary the phase against the server's tick.
        tokio::time::sleep(Duration::from_millis(300 + (round as u64 * 37) % 100)).await;
        let event = json!({"id": format!("bench-{round}-{}", epoch.elapsed().as_nanos()),
            "ts": jiff::Timestamp::now().to_string(), "type": "contact_offered",
            "contact": format!("bench-contact-{round}-{}", epoch.elapsed().as_nanos()), "queue": queue(round)});
        let (server_before, client_before) = (cpu(), cpu_seconds(std::process::id()));
        let burst = Instant::now();
        let t = epoch.elapsed().as_micros() as u64;
        let reply = client
            .post(format!("{url}/api/v1/events"))
            .body(event.to_string())
            .send()
            .await;
        assert!(reply.is_ok_and(|r| r.status().is_success()), "POST failed");
        sent_at.push(t);
        // Wait until every connected reader saw it (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && (slow..viewers).any(|v| {
                up[v].load(Ordering::Relaxed)
                    && seen[v * rounds + round].load(Ordering::Relaxed) == 0
            })
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        burst_seconds += burst.elapsed().as_secs_f64();
        burst_server += cpu() - server_before;
        burst_client += cpu_seconds(std::process::id()) - client_before;
    }
    let wall = rounds_started.elapsed().as_secs_f64();
    let cpu_used = cpu() - cpu_before;
    let client_cpu = cpu_seconds(std::process::id()) - client_cpu_before;
    let (messages, events) = counts(scrape_all(&client, &urls).await);
    let (messages, events) = (messages - messages_before, events - events_before);
    let mut latencies = Vec::with_capacity(viewers * rounds);
    let mut missed = 0;
    for v in (slow..viewers).filter(|&v| up[v].load(Ordering::Relaxed)) {
        for (round, sent) in sent_at.iter().enumerate() {
            match seen[v * rounds + round].load(Ordering::Relaxed) {
                0 => missed += 1,
                at => latencies.push(at.saturating_sub(*sent) as f64 / 1000.0),
            }
        }
    }
    if std::env::var_os("FANOUT_ROUNDS").is_some() {
        for (round, sent) in sent_at.iter().enumerate() {
            let mut at: Vec<u64> = (slow..viewers)
                .map(|v| seen[v * rounds + round].load(Ordering::Relaxed))
                .filter(|&a| a > 0)
                .collect();
            at.sort();
            if let (Some(first), Some(last)) = (at.first(), at.last()) {
                eprintln!(
                    "round {round}: first {:.1} ms, median {:.1} ms, last {:.1} ms after the POST",
                    (first - sent) as f64 / 1e3,
                    (at[at.len() / 2] - sent) as f64 / 1e3,
                    (last - sent) as f64 / 1e3
                );
            }
        }
    }
    rounds_done.store(true, Ordering::Relaxed);
    let (slow_disconnected, slow_dead, slow_seconds, rss_max_kb) =
        monitor.await.unwrap_or_default();
    let rss_end_kb = rss();
    for task in tasks {
        task.abort();
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| crate::percentile(&latencies, p);
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
        rss_per_viewer_bytes: (rss_connected.saturating_sub(rss_base_kb) as f64 * 1024.0)
            / connected.saturating_sub(base_viewers).max(1) as f64,
        connect_seconds,
        server_cpu_percent: cpu_used / wall * 100.0,
        messages_per_second: messages / wall,
        events_per_second: events / wall,
        cpu_us_per_message: cpu_used * 1e6 / messages.max(1.0),
        client_cpu_percent: client_cpu / wall * 100.0,
        server_burst_cpu_percent: burst_server / burst_seconds * 100.0,
        client_burst_cpu_percent: burst_client / burst_seconds * 100.0,
        slow_disconnected,
        slow_dead,
        slow_seconds,
        rss_connected_kb: rss_connected,
        rss_max_kb,
        rss_end_kb,
    }
}

/// A viewer connected through `gate` and counted in `connected`, reading
/// (and dropping) what comes until the socket ends; false if it never
/// connected.
async fn watch_until_closed(
    addr: &str,
    path: &str,
    gate: &Semaphore,
    connected: &AtomicU64,
) -> bool {
    let socket = {
        let _permit = gate.acquire().await.ok();
        lean_connect(addr, path, false).await
    };
    let Ok((mut socket, _)) = socket else {
        return false;
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let mut buf = vec![0u8; 8192];
    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
    true
}

/// What became of the viewers of a node that died ([`failover`]).
pub struct FailoverResult {
    pub viewers: usize,
    pub connected: usize,
    /// The surviving node's own viewers, connected before the kill.
    pub staying: usize,
    /// Seconds from the kill to the POST on the surviving node being
    /// acknowledged.
    pub posted_seconds: f64,
    /// Seconds from the kill to each moved viewer receiving that POST's
    /// event (on the surviving node): p50, p99, max over those that did.
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
    /// Seconds from the kill to each moved viewer's handshake with the
    /// surviving node: p50, p99.
    pub reconnected_p50_seconds: f64,
    pub reconnected_p99_seconds: f64,
    /// Connection attempts to the surviving node that failed (each retried
    /// after 500 ms), by error.
    pub failed_attempts: std::collections::BTreeMap<String, u64>,
    /// CPU (share of one core) from the kill until the moved viewers were
    /// current: the surviving node's, and the load client's.
    pub server_cpu_percent: f64,
    pub client_cpu_percent: f64,
    /// Viewers current again within [`FAILOVER_WAIT`], and those not.
    pub current: usize,
    pub never: usize,
}

/// How long the moved viewers are given to be current again.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(30);

/// `viewers` lean viewers of `view` on `from` and `staying` on `to`; then
/// `kill` (which must end `from`), an event POSTed to `to` right after, and every viewer, once
/// its socket ends, reconnecting to `to` as the wallboard's page does (after
/// its first backoff, 375–625 ms), until it receives that event. A lean
/// viewer cannot read the sequence it was at, so it asks for a fresh
/// snapshot rather than `after=`: the moved page's own resume is the
/// end-to-end test's.
pub async fn failover(
    from: &str,
    (to, to_pid): (&str, u32),
    view: &str,
    viewers: usize,
    staying: usize,
    kill: impl FnOnce(),
) -> FailoverResult {
    let (from_addr, to_addr) = (
        from.trim_start_matches("http://").to_string(),
        to.trim_start_matches("http://").to_string(),
    );
    let path = format!("/ws?view={view}");
    let marker = format!("\"failover-{}\"", std::process::id());
    let epoch = Instant::now();
    // Microseconds after `epoch` when each viewer was current again.
    let current: Arc<Vec<AtomicU64>> = Arc::new((0..viewers).map(|_| AtomicU64::new(0)).collect());
    let failed = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let reconnected: Arc<Vec<AtomicU64>> =
        Arc::new((0..viewers).map(|_| AtomicU64::new(0)).collect());
    let killed_at = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(256));
    let tasks: Vec<_> = (0..viewers)
        .map(|v| {
            let (from_addr, to_addr, path, marker) = (
                from_addr.clone(),
                to_addr.clone(),
                path.clone(),
                marker.clone(),
            );
            let (reconnected, failed) = (reconnected.clone(), failed.clone());
            let (current, killed_at, connected, gate) = (
                current.clone(),
                killed_at.clone(),
                connected.clone(),
                gate.clone(),
            );
            tokio::spawn(async move {
                // Reads (and drops) until the node is gone.
                if !watch_until_closed(&from_addr, &path, &gate, &connected).await
                    || killed_at.load(Ordering::Relaxed) == 0
                {
                    return; // not connected, or ended before the kill
                }
                // The page's first backoff: 500 ms ± 25%, spread by viewer.
                let jitter = (v as u64).wrapping_mul(2_654_435_761) % 250;
                tokio::time::sleep(Duration::from_millis(375 + jitter)).await;
                // No gate here: every screen reconnects on its own.
                let (mut socket, early) = loop {
                    match lean_connect(&to_addr, &path, false).await {
                        Ok(socket) => {
                            let at = epoch.elapsed().as_micros() as u64;
                            reconnected[v].store(at.max(1), Ordering::Relaxed);
                            break socket;
                        }
                        Err(e) if epoch.elapsed() < FAILOVER_WAIT * 2 => {
                            *failed.lock().unwrap().entry(e.to_string()).or_insert(0) += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await
                        }
                        Err(_) => return,
                    }
                };
                // What came with the head first, then reads (keeping the
                // last bytes, so a marker split between two is found).
                let mut buf = vec![0u8; 8192];
                let mut end = early.len().min(buf.len());
                buf[..end].copy_from_slice(&early[..end]);
                while !memmem(&buf[..end], marker.as_bytes()) {
                    let kept = end.min(KEEP);
                    buf.copy_within(end - kept..end, 0);
                    match socket.read(&mut buf[kept..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => end = kept + n,
                    }
                }
                let at = epoch.elapsed().as_micros() as u64;
                current[v].store(at.max(1), Ordering::Relaxed);
                // Stays connected (reading) until the run ends, as a TV does.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            })
        })
        .collect();
    // The surviving node's own viewers, reading all along.
    let stayed = Arc::new(AtomicU64::new(0));
    let staying_tasks: Vec<_> = (0..staying)
        .map(|_| {
            let (to_addr, path, gate, stayed) =
                (to_addr.clone(), path.clone(), gate.clone(), stayed.clone());
            tokio::spawn(async move {
                watch_until_closed(&to_addr, &path, &gate, &stayed).await;
            })
        })
        .collect();
    let started = Instant::now();
    while ((connected.load(Ordering::Relaxed) as usize) < viewers
        || (stayed.load(Ordering::Relaxed) as usize) < staying)
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected = connected.load(Ordering::Relaxed) as usize;
    // Let the snapshots drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = epoch.elapsed().as_micros() as u64;
    killed_at.store(killed.max(1), Ordering::Relaxed);
    let cpu_before = (cpu_seconds(to_pid), cpu_seconds(std::process::id()));
    kill();
    let client = reqwest::Client::new();
    let queue = marker.trim_matches('"').to_string();
    let event = json!({"id": format!("{queue}-event"), "ts": jiff::Timestamp::now().to_string(),
        "type": "contact_offered", "contact": format!("{queue}-contact"), "queue": queue});
    let posted_seconds = loop {
        let reply = client
            .post(format!("{to}/api/v1/events"))
            .body(event.to_string())
            .send()
            .await;
        if reply.is_ok_and(|r| r.status().is_success()) {
            break (epoch.elapsed().as_micros() as u64 - killed) as f64 / 1e6;
        }
        assert!(
            epoch.elapsed().as_micros() as u64 - killed < FAILOVER_WAIT.as_micros() as u64,
            "the surviving node acknowledged nothing within {FAILOVER_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let deadline = Instant::now() + FAILOVER_WAIT;
    let done = || {
        current
            .iter()
            .filter(|at| at.load(Ordering::Relaxed) > 0)
            .count()
    };
    while done() < connected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = (epoch.elapsed().as_micros() as u64 - killed) as f64 / 1e6;
    let server_cpu_percent = (cpu_seconds(to_pid) - cpu_before.0) / wall * 100.0;
    let client_cpu_percent = (cpu_seconds(std::process::id()) - cpu_before.1) / wall * 100.0;
    for task in tasks.into_iter().chain(staying_tasks) {
        task.abort();
    }
    let since_kill = |times: &[AtomicU64]| -> Vec<f64> {
        times
            .iter()
            .map(|at| at.load(Ordering::Relaxed))
            .filter(|&at| at > 0)
            .map(|at| at.saturating_sub(killed) as f64 / 1e6)
            .collect()
    };
    let current_times = since_kill(&current);
    let came_back = current_times.len();
    let (p50_seconds, p99_seconds, max_seconds) = crate::percentiles(current_times);
    let (reconnected_p50_seconds, reconnected_p99_seconds, _) =
        crate::percentiles(since_kill(&reconnected));
    FailoverResult {
        viewers,
        connected,
        staying: stayed.load(Ordering::Relaxed) as usize,
        posted_seconds,
        p50_seconds,
        p99_seconds,
        reconnected_p50_seconds,
        reconnected_p99_seconds,
        failed_attempts: std::mem::take(&mut *failed.lock().unwrap()),
        server_cpu_percent,
        client_cpu_percent,
        max_seconds,
        current: came_back,
        never: connected - came_back,
    }
}
