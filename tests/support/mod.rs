//! Helpers for the end-to-end tests: every test gets its own server on its
//! own port (in-process through `wallboard::start`, or the real binary), and
//! talks to it over HTTP exactly as a client would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use wallboard::clock::Clock;
use wallboard::config::Config;
use wallboard::{Options, Server, SimulateOptions};

pub mod nats;

/// A server started in this process: [`TestServer::builder`]. No `Drop`:
/// tests move `server` out to stop it.
pub struct TestServer {
    pub url: String,
    pub server: Server,
    pub client: reqwest::Client,
    /// The journal's directory, if it has one.
    data_dir: Option<PathBuf>,
    /// A directory made for this server: removed when the `TestServer`
    /// drops, after `server` (declared first) has.
    _temp_dir: Option<tempfile::TempDir>,
}

/// How a [`TestServer`] starts: on 127.0.0.1:0, the system clock, no
/// simulator, no journal unless told otherwise.
#[must_use = "a builder does nothing until `start`"]
pub struct TestServerBuilder {
    config: Config,
    clock: Clock,
    simulate: Option<SimulateOptions>,
    data_dir: Option<PathBuf>,
    temp_dir: Option<tempfile::TempDir>,
    config_path: Option<PathBuf>,
}

impl TestServer {
    /// A server with `config_toml` (which must be valid).
    pub fn builder(config_toml: &str) -> TestServerBuilder {
        TestServerBuilder {
            config: Config::from_toml(config_toml).expect("test config is valid"),
            clock: Clock::system(),
            simulate: None,
            data_dir: None,
            temp_dir: None,
            config_path: None,
        }
    }

    /// A server with the config file at `path` (read now, and again on
    /// reload).
    pub fn from_file(path: impl AsRef<Path>) -> TestServerBuilder {
        let path = path.as_ref().to_path_buf();
        TestServerBuilder {
            config: Config::load(&path).expect("test config file is valid"),
            config_path: Some(path),
            ..TestServer::builder("")
        }
    }

    /// The journal's directory (given or made by the builder), if any.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }
}

impl TestServerBuilder {
    /// Its clock stopped at `at`.
    pub fn at(self, at: Timestamp) -> Self {
        self.clock(Clock::fixed(at))
    }

    /// On `clock` (e.g. a [`Clock::manual`] the test moves).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// With the built-in simulator feeding it.
    pub fn simulate(mut self, options: SimulateOptions) -> Self {
        self.simulate = Some(options);
        self
    }

    /// With its journal in `dir` (replayed first); the test keeps the
    /// directory, e.g. to restart another server on it.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self.temp_dir = None;
        self
    }

    /// With its journal in a fresh temporary directory, removed when the
    /// [`TestServer`] drops ([`TestServer::data_dir`] says where).
    pub fn temp_data_dir(mut self) -> Self {
        let dir = temp_dir("wallboard-test-");
        self.data_dir = Some(dir.path().to_path_buf());
        self.temp_dir = Some(dir);
        self
    }

    /// Starts it and returns once it serves.
    pub async fn start(self) -> TestServer {
        let listener = wallboard::serve::bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let server = wallboard::start(
            listener,
            Options {
                config: self.config,
                clock: self.clock,
                simulate: self.simulate,
                data_dir: self.data_dir.clone(),
                config_path: self.config_path.clone(),
            },
        )
        .await
        .expect("start");
        TestServer {
            url: format!("http://{}", server.addr),
            server,
            client: reqwest::Client::new(),
            data_dir: self.data_dir,
            _temp_dir: self.temp_dir,
        }
    }
}

/// The application without a socket or background tasks: each request is
/// handed to the router (`Router::oneshot`), as if from 127.0.0.1. For
/// plain request/response tests; streaming, durability and the binary
/// need a [`TestServer`].
pub struct TestApp {
    pub app: wallboard::app::App,
    router: axum::Router,
}

impl TestServerBuilder {
    /// The application alone (the config and clock given; no journal, no
    /// simulator, no tick or sources), ready.
    pub fn app(self) -> TestApp {
        assert!(
            self.data_dir.is_none() && self.simulate.is_none(),
            "a TestApp has no journal and no simulator: start a TestServer"
        );
        let config = std::sync::Arc::new(self.config);
        let ingest = wallboard::ingest::Ingest::new(config.clone(), self.clock);
        let mut app = wallboard::app::App::new(config, ingest, tokio::runtime::Handle::current());
        app.config_path = self.config_path;
        app.ready.store(true, std::sync::atomic::Ordering::Release);
        TestApp {
            router: wallboard::app::router(app.clone()),
            app,
        }
    }
}

impl TestApp {
    /// The answer to `request` from this machine, body read whole.
    pub async fn send(
        &self,
        request: axum::http::Request<axum::body::Body>,
    ) -> axum::http::Response<axum::body::Bytes> {
        self.send_from("127.0.0.1:40000".parse().unwrap(), request)
            .await
    }

    /// The answer to `request` from `peer`, body read whole.
    pub async fn send_from(
        &self,
        peer: std::net::SocketAddr,
        request: axum::http::Request<axum::body::Body>,
    ) -> axum::http::Response<axum::body::Bytes> {
        use tower::ServiceExt;
        let mut request = request;
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a whole body");
        axum::http::Response::from_parts(parts, bytes)
    }

    /// Status and JSON body of `request`.
    pub async fn reply(&self, request: axum::http::Request<axum::body::Body>) -> Reply {
        let response = self.send(request).await;
        Reply {
            status: response.status().as_u16(),
            body: serde_json::from_slice(response.body()).expect("a JSON body"),
        }
    }

    pub async fn post_events(
        &self,
        body: impl Into<axum::body::Body>,
        content_type: &str,
    ) -> Reply {
        self.reply(
            axum::http::Request::post("/api/v1/events")
                .header("content-type", content_type)
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    pub async fn board(&self) -> Value {
        self.get("/api/v1/board").await.body
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.reply(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
    }
}

/// A response: status and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl TestServer {
    pub async fn post_events(&self, body: impl Into<reqwest::Body>, content_type: &str) -> Reply {
        post_events(&self.client, &self.url, body, content_type).await
    }

    pub async fn board(&self) -> Value {
        get_json(&self.client, &format!("{}/api/v1/board", self.url))
            .await
            .body
    }

    pub async fn get(&self, path: &str) -> Reply {
        get_json(&self.client, &format!("{}{path}", self.url)).await
    }

    /// Polls the board until `done` holds (10 s at most; then fails,
    /// naming `what` and showing the board).
    pub async fn board_when(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let board = self.board().await;
            if done(&board) {
                return board;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {board:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

pub async fn post_events(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> Reply {
    let response = client
        .post(format!("{url}/api/v1/events"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST /api/v1/events");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    Reply { status, body }
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Reply {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    Reply { status, body }
}

/// The scrape of the server at `url` (`/metrics`, answered 200).
pub async fn metrics_text(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200, "GET {url}/metrics");
    response.text().await.expect("a scrape")
}

/// Waits until the server at `url` answers `/readyz` with 200 (a node of a
/// cluster catching up says 503), at most `within`: how long it took.
pub async fn wait_ready(url: &str, within: Duration) -> Duration {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let reply = get_json(&client, &format!("{url}/readyz")).await;
        if reply.status == 200 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{url} not ready within {within:?}: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that every key in `expected` is in `actual` with the same value
/// (numbers within 1e-9), and names the path of the first difference.
pub fn assert_subset(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, want) in e {
                let got = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{path}.{key}: missing in {actual}"));
                assert_subset(got, want, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: {actual} vs {expected}");
            for (i, (got, want)) in a.iter().zip(e).enumerate() {
                assert_subset(got, want, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!((a - e).abs() < 1e-9, "{path}: got {a}, want {e}");
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

/// `body` (an event's `type` and fields) with its `id` and `ts`.
pub fn event(id: &str, ts: &str, body: Value) -> Value {
    let mut e = body;
    e["id"] = serde_json::json!(id);
    e["ts"] = serde_json::json!(ts);
    e
}

/// The board without what differs between two servers showing the same
/// state, or one server at two moments: `seq` and `generated_at`.
pub fn comparable(mut board: Value) -> Value {
    let object = board.as_object_mut().unwrap();
    object.remove("generated_at");
    object.remove("seq");
    board
}

/// The `wallboard` binary of this build, built first if it is missing.
pub fn wallboard_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // Tests run from target/<profile>/deps/, binaries from target/<profile>/.
    let dir = exe.parent().expect("target dir");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("target dir")
    } else {
        dir
    };
    let binary = dir.join("wallboard");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "wallboard", "--bin", "wallboard"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the wallboard binary failed");
    }
    binary
}

/// A fresh directory named `PREFIX…`, removed when dropped.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory")
}

/// The real binary, running; killed when dropped.
pub struct BinaryServer {
    pub url: String,
    child: Child,
    /// Log lines read so far (stderr).
    pub log: Vec<String>,
    /// The journal directory made for this server: held, and so removed
    /// when the server is dropped (after it is killed).
    _data_dir: Option<tempfile::TempDir>,
}

impl BinaryServer {
    /// Starts `wallboard --listen 127.0.0.1:0 ARGS…` and waits for its
    /// `listening on http://ADDR` line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> BinaryServer {
        let mut command = Command::new(wallboard_binary());
        // A journal of its own unless the test names one.
        let data_dir = (!args.contains(&"--data-dir")).then(|| temp_dir("wallboard-test-"));
        if let Some(dir) = &data_dir {
            command.arg("--data-dir").arg(dir.path());
        }
        command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        BinaryServer::spawn(command, data_dir)
    }

    /// Starts another server program that logs the same `listening on
    /// http://ADDR` line on stderr (the benchmark's baselines).
    pub fn start_program(program: &std::path::Path, args: &[&str]) -> BinaryServer {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        BinaryServer::spawn(command, None)
    }

    fn spawn(mut command: Command, data_dir: Option<tempfile::TempDir>) -> BinaryServer {
        let mut child = command.spawn().expect("spawn the server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Once the `listening on` line is read the channel goes, the reader
        // stops and the server's stderr pipe closes: a server must go on
        // serving when its log cannot be written (tests after start-up
        // check that, e.g. a day change logging its new segment).
        // Owned from here on: dropped (killed) if the start-up line never comes.
        let mut server = BinaryServer {
            url: String::new(),
            child,
            log: Vec::new(),
            _data_dir: data_dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!("no `listening on` line; log so far: {:#?}", server.log);
            };
            let found = line
                .split("listening on ")
                .nth(1)
                .map(|rest| rest.trim().to_string());
            server.log.push(line);
            if let Some(url) = found {
                server.url = url;
                return server;
            }
        }
    }
}

impl BinaryServer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then `data_dir` goes, with the journal in it.
    }
}

/// Runs the binary to completion and returns (exit code, stderr).
pub fn run_binary(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(wallboard_binary())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run wallboard");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `command` with `input` on its standard input; its output.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Path of a file under `tests/`.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A WebSocket viewer: the shared `BoardClient` applying what it receives.
pub struct Viewer {
    pub socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub client: wallboard_protocol::BoardClient,
    /// Messages received, snapshots included.
    pub received: u64,
}

/// Why a viewer stopped.
#[derive(Debug)]
pub enum ViewerEnd {
    Closed(Option<u16>, String),
    Timeout,
    Stream(wallboard_protocol::StreamError),
}

impl Viewer {
    /// Connects to `/ws?{query}` and reads the snapshot.
    pub async fn connect(base_url: &str, query: &str) -> Viewer {
        let url = format!("{}/ws?{query}", base_url.replacen("http://", "ws://", 1));
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connect");
        let mut viewer = Viewer {
            socket,
            client: wallboard_protocol::BoardClient::new(),
            received: 0,
        };
        viewer
            .next(Duration::from_secs(10))
            .await
            .expect("a snapshot first");
        viewer
    }

    /// Reads and applies the next board message.
    pub async fn next(&mut self, within: Duration) -> Result<u64, ViewerEnd> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message = match tokio::time::timeout(within, self.socket.next()).await {
                Err(_) => return Err(ViewerEnd::Timeout),
                Ok(None) => return Err(ViewerEnd::Closed(None, "stream ended".into())),
                Ok(Some(Err(e))) => return Err(ViewerEnd::Closed(None, e.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    self.received += 1;
                    return self.client.apply_text(&text).map_err(ViewerEnd::Stream);
                }
                Message::Close(frame) => {
                    return Err(ViewerEnd::Closed(
                        frame.as_ref().map(|f| u16::from(f.code)),
                        frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// Reads until `done` holds for the board (or `within` passes).
    pub async fn until(
        &mut self,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Result<(), ViewerEnd> {
        let deadline = tokio::time::Instant::now() + within;
        while !self.client.board().is_some_and(&done) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.next(left).await?;
        }
        Ok(())
    }
}

/// A hash that is the same in every run (for splitting work by key).
pub fn stable_hash(key: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The entity whose events must stay in order: a contact, an agent or a
/// complaint. Concurrent senders each take whole entities, so nothing is
/// rejected for arriving before its cause.
pub fn entity_of(event: &wallboard_protocol::Event) -> &str {
    use wallboard_protocol::EventKind;
    match &event.kind {
        EventKind::AgentState { agent, .. } => agent,
        EventKind::ContactArrived { contact, .. }
        | EventKind::ContactOffered { contact, .. }
        | EventKind::ContactAnswered { contact, .. }
        | EventKind::ContactAbandoned { contact }
        | EventKind::ContactCallbackRequested { contact }
        | EventKind::ContactEnded { contact, .. } => contact,
        EventKind::SurveySubmitted { contact, queue, .. } => {
            contact.as_deref().or(queue.as_deref()).unwrap_or_default()
        }
        EventKind::ComplaintOpened { complaint, .. }
        | EventKind::ComplaintAnswered { complaint } => complaint,
        // The admin's changes are one entity: they apply in order.
        EventKind::SettingsChanged { .. }
        | EventKind::MessagePosted { .. }
        | EventKind::MessageDeleted { .. }
        | EventKind::LayoutSaved { .. }
        | EventKind::LayoutDeleted { .. } => "admin",
    }
}

/// The counts of a board that do not move with the clock: today's counts
/// of the totals and of each queue, who waits, the agents' states, open
/// complaints — what two servers fed the same events must agree on.
pub fn board_counts(board: &Value) -> Value {
    let pick = |kpis: &Value| {
        serde_json::json!([
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
        .map(|queues| {
            queues
                .iter()
                .map(|(id, q)| {
                    (
                        id.clone(),
                        serde_json::json!([q["waiting"], pick(&q["windows"]["today"])]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "totals": pick(&board["totals"]["today"]),
        "queues": queues,
        "agent_states": board["agent_states"],
        "agents": board["agents"].as_object().map(|a| a.len()),
        "complaints_open": board["complaints"]["open"],
    })
}

/// RSS of this process, in KB (0 where /proc is not there).
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The events of a simulated floor from `minutes` ago until `until_secs`
/// seconds ago, in the zone of `config_toml` (real time: what a server on
/// the system clock takes as recent).
pub fn recent_floor(
    config_toml: &str,
    seed: u64,
    agents: usize,
    minutes: i64,
    until_secs: i64,
) -> Vec<wallboard_protocol::Event> {
    let now = Timestamp::now();
    let config = Config::from_toml(config_toml).expect("test config is valid");
    let mut sim = wallboard::simulator::Simulation::new(wallboard::simulator::SimOptions {
        seed,
        agents,
        timezone: config.timezone.clone(),
        start: now - jiff::SignedDuration::from_mins(minutes),
    });
    sim.advance_to(now - jiff::SignedDuration::from_secs(until_secs))
}
