//! The real `wallboard` binary: flags, environment, start-up log, config
//! errors — what an operator meets first.

use wallboard_tests::{BinaryServer, fixture, run_binary};

#[tokio::test]
async fn serves_the_simulated_board_on_the_port_it_logs() {
    let server = BinaryServer::start(&["--simulate", "--seed", "5", "--sim-agents", "30"], &[]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(
        !server.url.ends_with(":0"),
        "logs the real bound port: {}",
        server.url
    );
    let client = reqwest::Client::new();
    let mut agents = 0;
    for _ in 0..50 {
        let board: serde_json::Value = client
            .get(format!("{}/api/v1/board", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        agents = board["agents"].as_object().map_or(0, |a| a.len());
        if agents > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(agents > 0, "the simulator feeds the board");
    let ready = client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn takes_its_settings_from_the_environment_and_a_config_file() {
    let config = fixture("../wallboard.example.toml");
    let server = BinaryServer::start(
        &[],
        &[
            ("WALLBOARD_CONFIG", config.to_str().unwrap()),
            ("WALLBOARD_SIMULATE", "true"),
            ("WALLBOARD_SEED", "11"),
        ],
    );
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("timezone=Asia/Shanghai")),
        "{:#?}",
        server.log
    );
    assert!(
        server.log.iter().any(|l| l.contains("simulator on")),
        "{:#?}",
        server.log
    );
    let board: serde_json::Value = reqwest::get(format!("{}/api/v1/board", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["timezone"], "Asia/Shanghai");
}

#[test]
fn a_bad_config_stops_it_at_start_with_the_key_named() {
    let dir_guard = wallboard_tests::temp_dir("wallboard-bad-config-");
    let dir = dir_guard.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    for (text, key) in [
        ("timezone = \"Mars/Olympus_Mons\"\n", "`timezone`"),
        (
            "[targets]\nagent_connect_rate = 85\n",
            "`targets.agent_connect_rate`",
        ),
        ("tick = \"fast\"\n", "`tick`"),
    ] {
        let path = dir.join("wallboard.toml");
        std::fs::write(&path, text).unwrap();
        let (code, stderr) = run_binary(&[
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
    let (code, stderr) = run_binary(&["--config", "/nonexistent/wallboard.toml"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read config"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_lists_the_documented_flags() {
    let output = std::process::Command::new(wallboard_tests::wallboard_binary())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--config",
        "--data-dir",
        "--simulate",
        "--seed",
        "WALLBOARD_LISTEN",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn hash_token_prints_the_hash_to_configure() {
    use std::process::{Command, Stdio};
    let binary = wallboard_tests::wallboard_binary();
    let out =
        wallboard_tests::run_with_input(Command::new(&binary).arg("hash-token"), b"tv-3-secret\n");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "sha256 = \"{}\"",
            wallboard::auth::hash_token("tv-3-secret")
        )
    );
    assert!(!text.contains("tv-3-secret"), "the token is not echoed");
    // A new token: printed once, with its hash.
    let out = Command::new(&binary)
        .args(["hash-token", "--generate"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("token:"))
        .unwrap()
        .trim();
    assert_eq!(token.len(), 64);
    assert!(text.contains(&wallboard::auth::hash_token(token)));
    // Nothing on standard input: a clear error.
    let out = Command::new(&binary)
        .arg("hash-token")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--generate"));
}
