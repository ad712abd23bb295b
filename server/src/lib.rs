//! The wallboard server as a library: `main.rs` parses flags and calls
//! [`start`]; tests call it too, each with its own port and clock.
//!
//! Layering (each module uses only those listed before it):
//! `config`, `clock`, `error`, `forecast`, `sharded`, `journal`, `simulator`, `ui`,
//! `serve` → `settings`, `aggregator`, `auth`, `upgrade` → `kpi`, `stream` →
//! `metrics`, `boards` → `ingest` (with `ingest::cluster`, its log when
//! `[cluster]` is set) → `sources`, `tick`, `intervals` → `admin` → `app` →
//! `start`.

pub mod admin;
pub mod aggregator;
pub mod app;
pub mod auth;
pub mod boards;
pub mod clock;
pub mod config;
pub mod error;
pub mod forecast;
pub mod ingest;
pub mod intervals;
pub mod journal;
pub mod kpi;
pub mod metrics;
pub mod serve;
pub mod settings;
pub mod sharded;
pub mod simulator;
pub mod sources;
pub mod stream;
pub mod tick;
pub mod ui;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::simulator::{SimOptions, Simulation};
use tokio_util::sync::CancellationToken;

/// How to run the built-in simulator.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub seed: u64,
    pub agents: usize,
}

pub struct Options {
    pub config: Config,
    pub clock: Clock,
    pub simulate: Option<SimulateOptions>,
    /// Where the journal lives; `None`: no journal (state is lost on exit).
    pub data_dir: Option<std::path::PathBuf>,
    /// The file `config` was read from: `SIGHUP` and
    /// `POST /api/v1/settings/reload` read it again. `None`: no file.
    pub config_path: Option<std::path::PathBuf>,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub app: App,
    tasks: Vec<JoinHandle<()>>,
    simulator: Option<std::thread::JoinHandle<()>>,
    viewers: Option<tokio::runtime::Runtime>,
}

/// Viewers' sessions run on a runtime of their own, so that fanning a
/// patch out to ten thousand of them never queues the tick, ingest or a
/// handshake behind them: the OS shares the cores between the two
/// runtimes' threads, and a waking ingest or tick thread gets one at once.
fn viewers_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("viewers")
        .enable_all()
        .build()
}

/// Starts serving on `listener`, with the simulator when asked.
pub async fn start(listener: TcpListener, options: Options) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    // Taken at once, so a `SIGHUP` during the journal's replay is held for
    // the reload, not the signal's default (which ends the process).
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let config = Arc::new(options.config);
    let ingest = Ingest::new(config.clone(), options.clock);
    let cluster = match &config.cluster {
        Some(cluster_config) => {
            Some(join_cluster(cluster_config, &ingest, options.data_dir.is_some()).await?)
        }
        None => None,
    };
    if let Some(dir) = options.data_dir.clone().filter(|_| cluster.is_none()) {
        // Replayed before anything is served: `/readyz` (and the
        // `listening on` line) come after it.
        let replaying = ingest.clone();
        tokio::task::spawn_blocking(move || replaying.open_journal(&dir))
            .await
            .map_err(std::io::Error::other)??;
    }
    if config.auth.ingest_tokens.is_empty() {
        tracing::warn!(
            "no ingest tokens configured: events are accepted from this machine only ([auth] ingest_tokens)"
        );
    }
    if config.auth.viewer_tokens.is_empty() {
        tracing::warn!(
            "no viewer tokens configured: anyone who can reach the server sees the board ([auth] viewer_tokens)"
        );
    }
    let viewers = viewers_runtime()?;
    let mut app = App::new(config.clone(), ingest.clone(), viewers.handle().clone());
    app.config_path = options.config_path.clone();
    let shutdown = app.shutdown.clone();
    let mut tasks_before = vec![tokio::spawn(reload_on_hangup(
        app.admin(),
        hangups,
        shutdown.clone(),
    ))];

    let router = app::router(app.clone());
    let mut tasks = vec![tokio::spawn(serve::serve(
        listener,
        router,
        shutdown.clone(),
        config.limits.header_timeout.unsigned_abs(),
    ))];
    tasks.append(&mut tasks_before);
    tasks.push(tokio::spawn(housekeeping(ingest.clone(), shutdown.clone())));
    if let Some(cluster) = &cluster {
        tasks.push(tokio::spawn(
            cluster
                .clone()
                .run_applier(ingest.clone(), shutdown.clone()),
        ));
        tasks.push(tokio::spawn(
            cluster.clone().run_hash_listener(shutdown.clone()),
        ));
    }
    tasks.extend(sources::start(&config, &ingest, &shutdown));
    tasks.push(tokio::spawn(
        app.stepper()
            .run(config.tick.unsigned_abs(), shutdown.clone()),
    ));

    let simulator = options
        .simulate
        .map(|sim| spawn_simulator(sim, &config, options.clock, &ingest, &shutdown));

    match &cluster {
        // Ready once this node has applied what the stream held when it
        // started (until then `/readyz` says 503 and the board is behind).
        Some(cluster) => tasks.push(tokio::spawn(ready_when_caught_up(
            cluster.clone(),
            app.ready.clone(),
            shutdown.clone(),
        ))),
        None => app.ready.store(true, Ordering::Release),
    }
    Ok(Server {
        addr,
        app,
        tasks,
        simulator,
        viewers: Some(viewers),
    })
}

/// `SIGHUP` reads the config file again, as `POST /api/v1/settings/reload`
/// does (the answer goes to the log).
async fn reload_on_hangup(
    admin: admin::Admin,
    hangups: std::io::Result<tokio::signal::unix::Signal>,
    shutdown: CancellationToken,
) {
    let mut hangups = match hangups {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: reload with POST /api/v1/settings/reload");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = hangups.recv() => {
                if got.is_none() {
                    return;
                }
                let admin = admin.clone();
                // The answer (what applied, what needs a restart, or why
                // nothing changed) is logged by `reload`.
                let reloaded = tokio::task::spawn_blocking(move || admin::reload(&admin, "SIGHUP")).await;
                if let Ok(Err(e)) = reloaded {
                    tracing::warn!(error = %e.error, "SIGHUP: nothing reloaded");
                }
            }
        }
    }
}

/// Joins the cluster's stream and restores this node from it (the newest
/// usable checkpoint, then the messages after it, applied before ready).
async fn join_cluster(
    cluster_config: &config::ClusterConfig,
    ingest: &Ingest,
    data_dir_given: bool,
) -> std::io::Result<Arc<ingest::cluster::Cluster>> {
    if data_dir_given {
        tracing::info!(
            "a node of a cluster keeps no journal (`--data-dir` is not used): the log is the JetStream stream"
        );
    }
    let cluster = ingest::cluster::Cluster::connect(cluster_config)
        .await
        .map_err(std::io::Error::other)?;
    tracing::info!(
        node = %cluster_config.node,
        stream = %cluster_config.stream,
        servers = %cluster_config.nats.join(", "),
        "cluster: joined; applying the stream before turning ready"
    );
    cluster
        .restore(ingest)
        .await
        .map_err(std::io::Error::other)?;
    ingest.join(cluster.clone());
    Ok(cluster)
}

/// The simulator's thread, from local midnight (see [`simulation_start`]).
fn spawn_simulator(
    sim: SimulateOptions,
    config: &Config,
    clock: Clock,
    ingest: &Ingest,
    shutdown: &CancellationToken,
) -> std::thread::JoinHandle<()> {
    let start = simulation_start(config, clock);
    tracing::info!(
        seed = sim.seed,
        agents = sim.agents,
        from = %start,
        "simulator on: replaying today so far, then live"
    );
    let sim_options = SimOptions {
        seed: sim.seed,
        agents: sim.agents,
        timezone: config.timezone.clone(),
        start,
    };
    let (ingest, shutdown) = (ingest.clone(), shutdown.clone());
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("simulator".into())
        .spawn(move || run_simulator(Simulation::new(sim_options), ingest, shutdown, runtime))
        .expect("spawn the simulator thread")
}

/// Marks a node ready once it has applied the stream up to the last
/// sequence it held when the node started.
async fn ready_when_caught_up(
    cluster: Arc<ingest::cluster::Cluster>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
) {
    let caught_up = async {
        let head = loop {
            match cluster.head().await {
                Ok(head) => break head,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: cannot read the stream's last sequence yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let started = std::time::Instant::now();
        cluster.caught_up_to(head).await;
        tracing::info!(
            sequence = head,
            seconds = started.elapsed().as_secs_f64(),
            "cluster: caught up with the stream; ready"
        );
        ready.store(true, Ordering::Release);
    };
    tokio::select! {
        _ = caught_up => {}
        _ = stop.cancelled_owned() => {}
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.app.shutdown.cancel();
        if let Some(viewers) = self.viewers.take() {
            viewers.shutdown_background();
        }
    }
}

impl Server {
    /// Stops accepting, lets requests in flight finish, ends background work.
    pub async fn stop(mut self) {
        self.app.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(sim) = self.simulator.take() {
            let _ = tokio::task::spawn_blocking(move || sim.join()).await;
        }
        // Sessions send their "going away" close on the signal; give them
        // a moment to, then end whatever is left.
        self.app.sessions.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.app.sessions.wait()).await;
    }

    /// Resolves when the server has stopped by itself (it does not, unless
    /// it fails).
    pub async fn wait(&mut self) {
        if let Some(task) = self.tasks.first_mut() {
            let _ = task.await;
        }
    }
}

/// The simulated day starts at local midnight, so `today` is full from the
/// first look (capped at the last 24 hours).
fn simulation_start(config: &Config, clock: Clock) -> jiff::Timestamp {
    let now = clock.now();
    let (_, midnight, _) = aggregator::local_day(&config.timezone, now);
    midnight.max(now - jiff::SignedDuration::from_hours(24))
}

/// The simulator runs on its own thread: it produces events up to the
/// clock's now every 200 ms and submits them like any other source.
fn run_simulator(
    mut sim: Simulation,
    ingest: Ingest,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
) {
    let clock = ingest.clock();
    let mut first = true;
    while !shutdown.is_cancelled() {
        let events = sim.advance_to(clock.now());
        let count = events.len();
        let items = events.into_iter().map(Ok).collect();
        let outcome = match runtime.block_on(ingest.submit_batch(items)) {
            Ok(outcome) => outcome,
            Err(e) => {
                // The simulated events are lost; the next round goes on.
                tracing::warn!(error = %e, "simulator events not stored");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        if !outcome.rejected.is_empty() {
            tracing::warn!(
                rejected = outcome.rejected.len(),
                first = ?outcome.rejected.first(),
                "simulator events rejected"
            );
        }
        if first {
            tracing::info!(events = count, "simulator caught up with the clock");
            first = false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every 10 s: forget ids and state that no window can use any more, and
/// fold pending histogram samples into their buckets.
async fn housekeeping(ingest: Ingest, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(10));
    let stop = shutdown.cancelled_owned();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                ingest.prune();
                ingest.metrics().upkeep();
            }
            _ = &mut stop => break,
        }
    }
}

#[cfg(test)]
mod layering {
    //! The modules' imports form no cycle: each top-level module (a file
    //! or a folder of `src/`) uses only modules that do not use it back,
    //! directly or through others (the layering above).

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level modules a source text names as `crate::NAME`
    /// (comments left out), `use crate::{a, b::c}` groups included.
    fn imports(text: &str) -> BTreeSet<String> {
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = BTreeSet::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Items at depth 0 of the group, each up to its first `::`.
                let (mut depth, mut item) = (0, String::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.insert(head(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 || !item.contains("::") {
                        item.push(c);
                    }
                }
                found.insert(head(&item));
            } else {
                found.insert(head(rest));
            }
        }
        found.retain(|m| !m.is_empty());
        found
    }

    /// The identifier a path starts with.
    fn head(path: &str) -> String {
        path.trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    }

    /// Every top-level module's imports of the others.
    fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let relative = path.strip_prefix(src).unwrap();
                let first = relative.components().next().unwrap();
                let module = Path::new(first.as_os_str())
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if module == "lib" || module == "main" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let mut uses = imports(&text);
                uses.remove(&module);
                graph.entry(module).or_default().extend(uses);
            }
        }
        graph
    }

    /// A cycle in `graph`, as the modules along it, if there is one.
    fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            module: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|m| m == module) {
                let mut cycle = path[at..].to_vec();
                cycle.push(module.to_string());
                return Some(cycle);
            }
            if done.contains(module) {
                return None;
            }
            path.push(module.to_string());
            for next in graph.get(module).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(module.to_string());
            None
        }
        let mut done = BTreeSet::new();
        graph
            .keys()
            .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
    }

    #[test]
    fn modules_import_each_other_in_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let graph = graph(&src);
        assert!(graph.len() > 10, "read {} modules", graph.len());
        assert!(graph["tick"].contains("stream"), "{:?}", graph["tick"]);
        if let Some(cycle) = cycle(&graph) {
            panic!(
                "the modules import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }

    #[test]
    fn a_cycle_is_found_and_named() {
        let text = "use crate::{b::{X, Y}, c};\nfn f() { crate::d::g() } // crate::e";
        assert_eq!(
            imports(text),
            ["b", "c", "d"].into_iter().map(String::from).collect()
        );
        let graph: BTreeMap<String, BTreeSet<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec![]),
        ]
        .into_iter()
        .map(|(m, uses)| (m.into(), uses.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(
            cycle(&graph),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let mut acyclic = graph.clone();
        acyclic.get_mut("c").unwrap().clear();
        assert_eq!(cycle(&acyclic), None);
    }
}
