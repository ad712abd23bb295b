//! Real `nats-server` processes on loopback for the cluster tests: one
//! server or a JetStream cluster of several, each with its own store
//! directory, killed (`kill -9`) and restarted as a test needs.
//!
//! The binary is `$NATS_SERVER`, else `nats-server` on the `PATH`
//! (`cargo xtask test` installs a current one). Servers from 2.10 on are
//! told to sync every write before acknowledging (`sync_interval: always`);
//! 2.9 cannot be, and syncs on a timer.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` the tests run.
pub fn nats_server_binary() -> PathBuf {
    std::env::var_os("NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// `(major, minor)` of the binary, from `nats-server --version`.
pub fn nats_server_version() -> Option<(u32, u32)> {
    let out = Command::new(nats_server_binary())
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One server of a [`NatsCluster`].
struct Node {
    name: String,
    port: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// NATS servers forming one JetStream cluster (or a single server).
pub struct NatsCluster {
    /// The servers' stores, configs and logs (removed on drop).
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts `n` servers (1: a plain JetStream server; more: a cluster
    /// routed to each other) and waits until each takes connections.
    pub fn start(n: usize) -> NatsCluster {
        let dir = crate::temp_dir("wallboard-nats-");
        let sync = match nats_server_version() {
            Some(v) if v >= (2, 10) => "  sync_interval: always\n",
            Some(_) => "",
            None => panic!(
                "cannot run {}: install a NATS server (`cargo xtask test` does) or set NATS_SERVER",
                nats_server_binary().display()
            ),
        };
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let nodes = (0..n)
            .map(|i| {
                let name = format!("n{}", i + 1);
                let store = dir.path().join(&name);
                let cluster = if n > 1 {
                    let routes: Vec<String> = ports
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, (_, route))| format!("nats-route://127.0.0.1:{route}"))
                        .collect();
                    format!(
                        "cluster {{\n  name: wallboard\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                        ports[i].1,
                        routes.join(", ")
                    )
                } else {
                    String::new()
                };
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{}\njetstream {{\n  store_dir: \"{}\"\n{sync}}}\n{cluster}",
                    ports[i].0,
                    store.display()
                );
                let config = dir.path().join(format!("{name}.conf"));
                std::fs::write(&config, text).unwrap();
                Node {
                    name,
                    port: ports[i].0,
                    config,
                    child: None,
                }
            })
            .collect();
        let mut cluster = NatsCluster { dir, nodes };
        for i in 0..n {
            cluster.restart(i);
        }
        cluster
    }

    /// The index of the server named `name` (`n1` is 0).
    pub fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no NATS server {name:?}"))
    }

    /// The servers' URLs, as `[cluster] nats` takes them.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect()
    }

    /// A `[cluster]` section for a wallboard node named `node`.
    pub fn config(&self, node: &str, replicas: usize, extra: &str) -> String {
        let urls: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!(
            "[cluster]\nnats = [{}]\nreplicas = {replicas}\nnode = \"{node}\"\n{extra}\n",
            urls.join(", ")
        )
    }

    /// Whether server `i` is running (not killed).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// `kill -9` of server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` again on its store and waits for its port.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let node = &mut self.nodes[i];
        let log =
            std::fs::File::create(self.dir.path().join(format!("{}.log", node.name))).unwrap();
        let child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&node.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", nats_server_binary().display()));
        node.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server {} did not listen on {}",
                node.name,
                node.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server log of node `i` (for failure messages).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.nodes[i].name)))
            .unwrap_or_default()
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
