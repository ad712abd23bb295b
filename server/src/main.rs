//! `wallboard`: parses flags, loads the config, starts the server and waits
//! for SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wallboard::clock::Clock;
use wallboard::config::Config;
use wallboard::{Options, SimulateOptions};

/// Real-time contact-center wallboard.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "WALLBOARD_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Configuration file (TOML); see wallboard.example.toml.
    #[arg(long, env = "WALLBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the event journal.
    #[arg(long, env = "WALLBOARD_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Feed the board from the built-in contact-center simulator.
    #[arg(long, env = "WALLBOARD_SIMULATE")]
    simulate: bool,
    /// Simulator seed (same seed and start time, same events).
    #[arg(long, env = "WALLBOARD_SEED")]
    seed: Option<u64>,
    /// Agents on the simulated roster.
    #[arg(long, env = "WALLBOARD_SIM_AGENTS", default_value_t = 80,
          value_parser = clap::value_parser!(u64).range(5..=5000))]
    sim_agents: u64,
    /// Start the server's clock at this time (RFC 3339) instead of now; it
    /// runs on from there. For tests and demos of recorded scenarios.
    #[arg(long, env = "WALLBOARD_CLOCK_START", hide = true)]
    clock_start: Option<jiff::Timestamp>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Prints the SHA-256 to put in the config for a token: the token read
    /// from standard input, or a new random one (`--generate`).
    HashToken {
        /// Make a new random token and print it with its hash.
        #[arg(long)]
        generate: bool,
    },
}

/// `wallboard hash-token`: never logs the token, only prints it when it
/// made it.
fn hash_token(generate: bool) -> ExitCode {
    let token = if generate {
        let token = wallboard::auth::generate_token();
        println!("token:  {token}");
        token
    } else {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() || line.trim().is_empty() {
            eprintln!("hash-token: give the token on standard input, or use --generate");
            return ExitCode::from(2);
        }
        line.trim().to_string()
    };
    println!("sha256 = \"{}\"", wallboard::auth::hash_token(&token));
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log that cannot be written (its reader went away) is dropped:
        // reporting that on stderr too would panic the request that logged.
        .log_internal_errors(false)
        .init();
    let cli = Cli::parse();
    if let Some(Command::HashToken { generate }) = cli.command {
        return hash_token(generate);
    }

    let config = match &cli.config {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("wallboard: {e}");
            return ExitCode::from(2);
        }
    };
    let clock = match cli.clock_start {
        Some(start) => Clock::starting_at(start),
        None => Clock::system(),
    };
    let listener = match wallboard::serve::bind(cli.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("wallboard: cannot listen on {}: {e}", cli.listen);
            return ExitCode::from(1);
        }
    };
    tracing::info!(timezone = %config.timezone_name, tick = %format!("{:#}", config.tick), "configuration loaded");
    let simulate = cli.simulate.then(|| SimulateOptions {
        seed: cli
            .seed
            .unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond() as u64),
        agents: cli.sim_agents as usize,
    });
    let mut server = match wallboard::start(
        listener,
        Options {
            config,
            clock,
            simulate,
            data_dir: Some(cli.data_dir.clone()),
            config_path: cli.config.clone(),
        },
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wallboard: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!("listening on http://{}", server.addr);

    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = server.wait() => {
            tracing::error!("server stopped unexpectedly");
            return ExitCode::from(1);
        }
    }
    server.stop().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
