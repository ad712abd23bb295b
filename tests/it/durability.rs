//! Durability: the journal keeps every acknowledged event through a
//! `kill -9`, a restart replays it before serving, re-sent batches are
//! duplicates, and a journal that cannot write answers 503 and applies
//! nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use wallboard_tests::{BinaryServer, TestServer, comparable, entity_of, post_events, stable_hash};

const CONFIG: &str = "timezone = \"Asia/Shanghai\"";
const SENDERS: usize = 4;

/// The last 90 minutes of a simulated floor, as NDJSON batches, each with
/// the sender that owns its entities (so order within an entity is kept).
fn batches() -> Vec<(usize, String)> {
    let events = wallboard_tests::recent_floor(CONFIG, 11, 30, 90, 30);
    let mut per_sender: Vec<Vec<String>> = vec![Vec::new(); SENDERS];
    for event in &events {
        let sender = (stable_hash(entity_of(event)) % SENDERS as u64) as usize;
        per_sender[sender].push(serde_json::to_string(event).unwrap());
    }
    // Up to 10 lines a batch, fewer when the floor is quiet at this hour,
    // so there are always enough batches for the kill to land among them.
    let size = (events.len() / 60).clamp(1, 10);
    let mut batches = Vec::new();
    for (sender, lines) in per_sender.into_iter().enumerate() {
        for chunk in lines.chunks(size) {
            batches.push((sender, chunk.join("\n")));
        }
    }
    batches
}

use wallboard_tests::board_counts as counts;

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
    let dir_guard = wallboard_tests::temp_dir("wallboard-crash-");
    let dir = dir_guard.path().to_path_buf();
    let dir_arg = dir.to_str().unwrap().to_string();
    // The same zone as the reference server below: "today" must be the same
    // day for both, whatever the hour.
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("wallboard.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let config_arg = config_path.to_str().unwrap().to_string();
    let args = ["--data-dir", &dir_arg, "--config", &config_arg];
    let server = BinaryServer::start(&args, &[]);

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
    let server = BinaryServer::start(&args, &[]);
    assert!(
        server.log.iter().any(|l| l.contains("journal replayed")),
        "{:#?}",
        server.log
    );
    // What the kill left on disk, in the journal's order: every
    // acknowledged batch (and perhaps one written whose answer the kill
    // cut off).
    let journaled = journal_events(&dir);
    let on_disk: std::collections::HashSet<&str> = journaled
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for &i in &acked {
        for line in batches[i].1.lines() {
            let id: Value = serde_json::from_str(line).unwrap();
            let id = id["id"].as_str().unwrap();
            assert!(
                on_disk.contains(id),
                "batch {i} was acknowledged: {id} is on disk"
            );
        }
    }
    // Before anything is sent again, the restarted board is the board of a
    // server fed exactly that, in that order.
    let restarted =
        wallboard_tests::get_json(&client, &format!("{}/api/v1/board", server.url)).await;
    let reference = TestServer::builder(CONFIG).start().await;
    for chunk in journaled.chunks(100) {
        let body: Vec<String> = chunk.iter().map(Value::to_string).collect();
        let reply = reference
            .post_events(body.join("\n"), "application/x-ndjson")
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["accepted"], chunk.len(), "{}", reply.body);
    }
    assert_eq!(counts(&restarted.body), counts(&reference.board().await));
    // Every acknowledged event sent again is a duplicate, each one.
    for &i in &acked {
        let lines = batches[i].1.lines().count();
        let reply = post(&client, &server.url, &batches[i].1).await.unwrap();
        assert_eq!(
            (reply["duplicates"].clone(), reply["accepted"].clone()),
            (json!(lines), json!(0)),
            "batch {i} was acknowledged, so it is stored: {reply}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_journal_that_cannot_write_answers_503_and_applies_nothing() {
    let dir_guard = wallboard_tests::temp_dir("wallboard-full-");
    let dir = dir_guard.path().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    // Today's segment is /dev/full: every write fails with ENOSPC.
    let day = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    std::os::unix::fs::symlink("/dev/full", dir.join(format!("00000001-{day}.wal"))).unwrap();
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

/// A floor that closes one local day and opens the next, with a restart
/// in between: yesterday's counts stay yesterday's, open state (an agent
/// signed in, a caller still waiting) carries over through the journal.
async fn across_midnight(zone: &str) {
    let dir_guard = wallboard_tests::temp_dir("wallboard-midnight-");
    let dir = dir_guard.path().to_path_buf();
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let local = |s: &str| -> Timestamp {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s)
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
    };
    let config = format!("timezone = \"{zone}\"");
    let event = |id: &str, at: &str, body: Value| {
        let mut e = body;
        e["id"] = json!(id);
        e["ts"] = json!(local(at).to_string());
        e
    };
    let before = json!([
        event(
            "m1",
            "2026-11-23 23:50:00",
            json!({"type":"agent_state","agent":"a1","state":"available","queues":["q"]})
        ),
        event(
            "m2",
            "2026-11-23 23:55:00",
            json!({"type":"contact_offered","contact":"c1","queue":"q"})
        ),
        event(
            "m3",
            "2026-11-23 23:56:00",
            json!({"type":"contact_offered","contact":"c2","queue":"q"})
        ),
        event(
            "m4",
            "2026-11-23 23:57:00",
            json!({"type":"contact_abandoned","contact":"c2"})
        ),
    ]);
    let evening = TestServer::builder(&config)
        .at(local("2026-11-23 23:59:00"))
        .data_dir(&dir)
        .start()
        .await;
    let reply = evening
        .post_events(before.to_string(), "application/json")
        .await;
    assert_eq!(reply.body["accepted"], 4, "{}", reply.body);
    let board = evening.board().await;
    assert_eq!(board["totals"]["today"]["offered"], 2);
    evening.server.stop().await;

    // Restart just after midnight.
    let night = TestServer::builder(&config)
        .at(local("2026-11-24 00:01:00"))
        .data_dir(&dir)
        .start()
        .await;
    let board = night.board().await;
    let today = &board["totals"]["today"];
    assert_eq!(
        today["offered"], 0,
        "{zone}: yesterday's offers stay yesterday's"
    );
    assert_eq!(today["abandoned"], 0, "{zone}");
    assert_eq!(
        board["totals"]["60m"]["abandoned"], 1,
        "{zone}: the last hour spans midnight"
    );
    assert_eq!(board["queues"]["q"]["waiting"], 1, "{zone}: c1 still waits");
    assert_eq!(
        board["agents"]["a1"]["state"], "available",
        "{zone}: a1 still signed in"
    );
    // The caller waiting since before midnight is answered after it: the
    // answer counts today.
    let after = json!([
        event(
            "n1",
            "2026-11-24 00:00:40",
            json!({"type":"agent_state","agent":"a1","state":"on_contact"})
        ),
        event(
            "n2",
            "2026-11-24 00:00:40",
            json!({"type":"contact_answered","contact":"c1","agent":"a1"})
        ),
    ]);
    let reply = night
        .post_events(after.to_string(), "application/json")
        .await;
    assert_eq!(reply.body["accepted"], 2, "{}", reply.body);
    let board = night.board().await;
    assert_eq!(board["totals"]["today"]["answered"], 1, "{zone}");
    assert_eq!(board["queues"]["q"]["waiting"], 0, "{zone}");
    night.server.stop().await;
    // One segment per local day, each starting with a checkpoint.
    assert_eq!(
        files_in(&dir),
        [
            "00000001-2026-11-23.ckpt",
            "00000001-2026-11-23.wal",
            "00000002-2026-11-24.ckpt",
            "00000002-2026-11-24.wal"
        ],
        "{zone}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn midnight_in_shanghai_and_new_york() {
    across_midnight("Asia/Shanghai").await;
    across_midnight("America/New_York").await;
}

/// The events in a journal directory's segments, in the journal's order
/// (`u32 length | u32 CRC32C | JSON` records, segments by name; a
/// segment's header record is not an event).
fn journal_events(dir: &std::path::Path) -> Vec<Value> {
    let mut events = Vec::new();
    for name in files_in(dir).into_iter().filter(|f| f.ends_with(".wal")) {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let Some(payload) = bytes.get(at + 8..at + 8 + size) else {
                break; // a torn tail: not acknowledged
            };
            if size == 0 || crc32c::crc32c(payload) != crc {
                break; // not a whole record: nothing acknowledged is here
            }
            let record: Value = serde_json::from_slice(payload).unwrap();
            if record.get("journal").is_none() {
                events.push(record);
            }
            at += 8 + size;
        }
    }
    events
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Five days on a journal that keeps three: the old segments go, and a
/// restart still shows what they began (an agent signed in on the first
/// day, a complaint opened then) and the same board as before it.
#[tokio::test]
async fn old_segments_expire_and_what_they_began_survives_a_restart() {
    let dir_guard = wallboard_tests::temp_dir("wallboard-retention-");
    let dir = dir_guard.path().to_path_buf();
    let config = "timezone = \"Asia/Shanghai\"\njournal_retention_days = 3\n[complaint_grades]\nslow = \"240h\"";
    let noon = |day: i32| -> Timestamp {
        jiff::civil::date(2026, 11, 20 + day as i8)
            .at(12, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
            .unwrap()
            .timestamp()
    };
    let event = |id: String, day: i32, body: Value| {
        let mut e = body;
        e["id"] = json!(id);
        e["ts"] = json!(noon(day).to_string());
        e
    };
    let mut last_board = Value::Null;
    for day in 0..5 {
        let server = TestServer::builder(config)
            .at(noon(day))
            .data_dir(&dir)
            .start()
            .await;
        let mut batch = vec![
            event(
                format!("o{day}"),
                day,
                json!({"type":"contact_offered","contact":format!("c{day}"),"queue":"q"}),
            ),
            event(
                format!("x{day}"),
                day,
                json!({"type":"contact_abandoned","contact":format!("c{day}")}),
            ),
        ];
        if day == 0 {
            batch.push(event("a1".into(), 0, json!({"type":"agent_state","agent":"a1","state":"aux","reason":"training","queues":["q"]})));
            batch.push(event(
                "k1".into(),
                0,
                json!({"type":"complaint_opened","complaint":"k1","queue":"q","grade":"slow"}),
            ));
        }
        let reply = server
            .post_events(json!(batch).to_string(), "application/json")
            .await;
        assert_eq!(
            reply.body["accepted"],
            batch.len(),
            "day {day}: {}",
            reply.body
        );
        last_board = server.board().await;
        server.server.stop().await;
    }
    assert_eq!(
        files_in(&dir),
        [
            "00000003-2026-11-22.ckpt",
            "00000003-2026-11-22.wal",
            "00000004-2026-11-23.ckpt",
            "00000004-2026-11-23.wal",
            "00000005-2026-11-24.ckpt",
            "00000005-2026-11-24.wal"
        ]
    );
    let server = TestServer::builder(config)
        .at(noon(4))
        .data_dir(&dir)
        .start()
        .await;
    let board = server.board().await;
    assert_eq!(board["agents"]["a1"]["state"], "aux", "{board}");
    assert_eq!(board["agents"]["a1"]["reason"], "training");
    assert_eq!(board["agents"]["a1"]["since"], noon(0).to_string());
    assert_eq!(board["complaints"]["open"], 1, "{board}");
    assert_eq!(board["totals"]["today"]["abandoned"], 1);
    let strip = |mut b: Value| {
        b["seq"] = Value::Null;
        b
    };
    assert_eq!(
        strip(board),
        strip(last_board),
        "the same board as before the restart"
    );
    // Every day's event ids are still known for the dedupe retention: a
    // resend of today's batch is all duplicates.
    let again = server
        .post_events(
            json!([event(
                "o4".into(),
                4,
                json!({"type":"contact_offered","contact":"c4","queue":"q"})
            )])
            .to_string(),
            "application/json",
        )
        .await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.body);
    server.server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for a binary server: `wallboard.toml` (CONFIG) and
/// a `data` dir; returns them with the two as arguments.
fn binary_dirs(name: &str) -> (PathBuf, PathBuf, String, String) {
    // Kept (the caller removes it): a name no other run shares.
    let dir = tempfile::Builder::new()
        .prefix(&format!("wallboard-{name}-"))
        .tempdir()
        .expect("a temporary directory")
        .keep();
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("wallboard.toml");
    std::fs::write(&config_path, CONFIG).unwrap();
    let data = dir.join("data");
    let (data_arg, config_arg) = (
        data.to_str().unwrap().to_string(),
        config_path.to_str().unwrap().to_string(),
    );
    (dir, data, data_arg, config_arg)
}

/// An operator's case: one byte flipped in an early record of a day's
/// segment costs that one event, not the rest of the day; the file is not
/// cut, the damaged bytes are kept aside, and `/readyz` and `/metrics`
/// say what was skipped.
#[tokio::test]
async fn one_damaged_byte_costs_one_event_not_the_day() {
    let (dir, data, data_arg, config_arg) = binary_dirs("damage");
    let args = ["--data-dir", &data_arg, "--config", &config_arg];
    let at = (Timestamp::now() - SignedDuration::from_mins(2)).to_string();
    let lines: Vec<String> = (0..60)
        .map(|i| {
            json!({"id": format!("d{i}"), "ts": at, "type": "contact_offered",
                   "contact": format!("c{i}"), "queue": "q"})
            .to_string()
        })
        .collect();
    let client = reqwest::Client::new();
    let server = BinaryServer::start(&args, &[]);
    for batch in lines.chunks(10) {
        let reply = post(&client, &server.url, &batch.join("\n")).await.unwrap();
        assert_eq!(reply["accepted"], 10, "{reply}");
    }
    drop(server);

    // Flip one byte inside the sixth record's payload.
    let wal = files_in(&data)
        .into_iter()
        .find(|f| f.ends_with(".wal"))
        .expect("a segment");
    let path = data.join(&wal);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 0usize;
    for _ in 0..5 {
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    bytes[at + 20] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let server = BinaryServer::start(&args, &[]);
    let board = wallboard_tests::get_json(&client, &format!("{}/api/v1/board", server.url)).await;
    assert_eq!(
        board.body["totals"]["today"]["offered"], 59,
        "one event lost, not the day"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the segment is not cut"
    );
    let ready = wallboard_tests::get_json(&client, &format!("{}/readyz", server.url)).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let skipped = ready.body["journal_skipped"]
        .as_array()
        .expect("what was skipped");
    assert_eq!(skipped.len(), 1, "{}", ready.body);
    let copy = skipped[0].as_str().unwrap();
    assert!(copy.ends_with(&format!("{wal}.{at}.damaged")), "{copy}");
    assert!(std::path::Path::new(copy).exists());
    let metrics = wallboard_tests::metrics_text(&server.url).await;
    assert!(
        metrics.contains("\nwallboard_journal_damaged_records_total 1\n"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("journal_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(metrics.contains("\nwallboard_journal_unreadable_records_total 0\n"));
    // Sent again, only the lost event is new.
    let reply = post(&client, &server.url, &lines.join("\n")).await.unwrap();
    assert_eq!(
        (reply["accepted"].clone(), reply["duplicates"].clone()),
        (json!(1), json!(59)),
        "{reply}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failed fsync (injected through the journal's fault seam): that batch
/// and every later one get 503 until a restart, viewers keep streaming,
/// and the restart holds every acknowledged event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_answers_503_until_restart_and_viewers_keep_streaming() {
    let dir_guard = wallboard_tests::temp_dir("wallboard-fsync-");
    let dir = dir_guard.path().to_path_buf();
    let at = (Timestamp::now() - SignedDuration::from_mins(1)).to_string();
    let event = |i: usize| {
        json!({"id": format!("f{i}"), "ts": at, "type": "contact_offered",
               "contact": format!("c{i}"), "queue": "q"})
        .to_string()
    };
    let server = TestServer::builder(CONFIG).data_dir(&dir).start().await;
    let mut viewer = wallboard_tests::Viewer::connect(&server.url, "view=floor").await;
    let reply = server.post_events(event(0), "application/json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let faults = server
        .server
        .app
        .ingest
        .journal_faults()
        .expect("a journal");
    // The next fsync fails (the first one was the acknowledged batch's).
    faults
        .fail_sync
        .store(2, std::sync::atomic::Ordering::Relaxed);
    for i in 1..4 {
        let reply = server.post_events(event(i), "application/json").await;
        assert_eq!(reply.status, 503, "batch {i}: {}", reply.body);
        assert!(
            reply.body["error"]
                .as_str()
                .unwrap()
                .contains("until restart"),
            "{}",
            reply.body
        );
    }
    // Viewers still get the board each second (the heartbeat).
    let before = viewer.received;
    viewer
        .next(Duration::from_secs(3))
        .await
        .expect("the stream goes on");
    assert!(viewer.received > before);
    let health =
        wallboard_tests::get_json(&server.client, &format!("{}/healthz", server.url)).await;
    assert_eq!(health.status, 200);
    server.server.stop().await;

    // The restart holds f0 (acknowledged); f1 was written before its sync
    // failed, so it may be there too; f2 and f3 never were.
    let restarted = TestServer::builder(CONFIG).data_dir(&dir).start().await;
    let offered = restarted.board().await["totals"]["today"]["offered"].clone();
    assert!(offered == json!(1) || offered == json!(2), "{offered}");
    let again = restarted.post_events(event(0), "application/json").await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.body);
    let later = restarted.post_events(event(3), "application/json").await;
    assert_eq!(later.body["accepted"], 1, "{}", later.body);
    restarted.server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Local midnight (or the first instant of a day whose midnight does not
/// exist) passes while the server runs on a manual clock with a viewer
/// connected: `today` resets by patch, the stream equals `GET`, the new
/// day's segment begins with a checkpoint, and a restart shows the same.
async fn midnight_while_serving(zone: &str, day: jiff::civil::Date) {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    // The day's first instant (01:00 where 00:00 is skipped by DST).
    let start = day.to_zoned(tz.clone()).unwrap().timestamp();
    let first = start.to_zoned(tz.clone()).time();
    let skipped = zone == "America/Santiago";
    assert_eq!(
        first.hour(),
        if skipped { 1 } else { 0 },
        "{zone} {day} begins at {first}"
    );
    let dir_guard = wallboard_tests::temp_dir("wallboard-live-midnight-");
    let dir = dir_guard.path().to_path_buf();
    let config = format!("timezone = \"{zone}\"");
    let clock = wallboard::clock::Clock::manual(start - SignedDuration::from_secs(10));
    let offer = |id: &str, at: Timestamp| {
        json!({"id": id, "ts": at.to_string(), "type": "contact_offered", "contact": id, "queue": "q"})
            .to_string()
    };
    let server = TestServer::builder(&config)
        .clock(clock)
        .data_dir(&dir)
        .start()
        .await;
    let mut viewer = wallboard_tests::Viewer::connect(&server.url, "view=floor").await;
    let offered = |b: &Value| b["totals"]["today"]["offered"].clone();

    let evening = start - SignedDuration::from_secs(2);
    clock.set(evening);
    let reply = server
        .post_events(offer("late", evening), "application/json")
        .await;
    assert_eq!(reply.body["accepted"], 1, "{zone}: {}", reply.body);
    viewer
        .until(Duration::from_secs(5), |b| offered(b) == json!(1))
        .await
        .unwrap();

    // Past the day's start: the board of the new day comes by patch.
    let morning = start + SignedDuration::from_secs(1);
    clock.set(morning);
    viewer
        .until(Duration::from_secs(5), |b| offered(b) == json!(0))
        .await
        .unwrap_or_else(|e| panic!("{zone} {day}: today did not reset on the stream: {e:?}"));
    let reply = server
        .post_events(offer("early", morning), "application/json")
        .await;
    assert_eq!(reply.body["accepted"], 1, "{zone}: {}", reply.body);
    viewer
        .until(Duration::from_secs(5), |b| offered(b) == json!(1))
        .await
        .unwrap();
    let streamed = counts(viewer.client.board().unwrap());
    let got = server.board().await;
    assert_eq!(
        streamed,
        counts(&got),
        "{zone} {day}: the stream equals GET"
    );
    assert_eq!(
        got["totals"]["60m"]["offered"], 2,
        "{zone}: the last hour spans the change"
    );
    let files = files_in(&dir);
    let yesterday = day.yesterday().unwrap();
    assert_eq!(
        files,
        [
            format!("00000001-{yesterday}.ckpt"),
            format!("00000001-{yesterday}.wal"),
            format!("00000002-{day}.ckpt"),
            format!("00000002-{day}.wal"),
        ],
        "{zone}: the new day's segment begins with a checkpoint"
    );
    server.server.stop().await;

    // A restart at the same moment shows the same board.
    let clock = wallboard::clock::Clock::manual(morning);
    let again = TestServer::builder(&config)
        .clock(clock)
        .data_dir(&dir)
        .start()
        .await;
    assert_eq!(
        counts(&again.board().await),
        counts(&got),
        "{zone} {day}: after a restart"
    );
    again.server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn midnight_and_dst_days_pass_while_serving() {
    use jiff::civil::date;
    for (zone, day) in [
        ("Asia/Shanghai", date(2026, 11, 24)),
        // The day DST starts (23 h) and the day it ends (25 h).
        ("America/New_York", date(2026, 3, 8)),
        ("America/New_York", date(2026, 11, 1)),
        // DST starts at midnight: 00:00 does not exist, the day begins at 01:00.
        ("America/Santiago", date(2026, 9, 6)),
    ] {
        midnight_while_serving(zone, day).await;
    }
}

/// The real binary across a local midnight (its clock started just before
/// it): killed with `kill -9` after the new day began, it restarts with
/// the same board. (Its stderr is closed by then: the new segment's log
/// line once made that batch's request panic with a broken pipe.)
#[tokio::test]
async fn kill_9_just_after_midnight_keeps_both_days() {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let midnight = jiff::civil::date(2026, 11, 24)
        .to_zoned(tz)
        .unwrap()
        .timestamp();
    let (dir, data, data_arg, config_arg) = binary_dirs("kill-midnight");
    let start = (midnight - SignedDuration::from_secs(2)).to_string();
    let args = [
        "--data-dir",
        &data_arg,
        "--config",
        &config_arg,
        "--clock-start",
        &start,
    ];
    let offer = |id: &str, at: Timestamp| {
        json!({"id": id, "ts": at.to_string(), "type": "contact_offered", "contact": id, "queue": "q"})
            .to_string()
    };
    let client = reqwest::Client::new();
    let server = BinaryServer::start(&args, &[]);
    let before = midnight - SignedDuration::from_secs(1);
    let reply = post(&client, &server.url, &offer("late", before))
        .await
        .unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");
    // The server's clock runs on past midnight.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = midnight + SignedDuration::from_millis(400);
    let reply = post_events(
        &client,
        &server.url,
        offer("early", after),
        "application/json",
    )
    .await;
    assert_eq!(reply.body["accepted"], 1, "{} {}", reply.status, reply.body);
    let board = wallboard_tests::get_json(&client, &format!("{}/api/v1/board", server.url)).await;
    assert_eq!(
        board.body["totals"]["today"]["offered"], 1,
        "{}",
        board.body
    );
    assert_eq!(board.body["totals"]["60m"]["offered"], 2);
    std::process::Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status()
        .unwrap();
    drop(server);
    assert_eq!(
        files_in(&data),
        [
            "00000001-2026-11-23.ckpt",
            "00000001-2026-11-23.wal",
            "00000002-2026-11-24.ckpt",
            "00000002-2026-11-24.wal"
        ]
    );
    // Restarted at the moment it was killed: the same board.
    let now = (midnight + SignedDuration::from_millis(600)).to_string();
    let args = [
        "--data-dir",
        &data_arg,
        "--config",
        &config_arg,
        "--clock-start",
        &now,
    ];
    let server = BinaryServer::start(&args, &[]);
    let again = wallboard_tests::get_json(&client, &format!("{}/api/v1/board", server.url)).await;
    assert_eq!(counts(&again.body), counts(&board.body));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixture a release's journal is kept as: `tests/fixtures/NAME/data`
/// (its segments) and `board.json` (the board it shows at `at`).
/// Each kept journal, the moment its board was read, and the board keys
/// added since it was written (figures derived from the counts the rest of
/// its board pins, which this version shows besides): those are left out
/// of the comparison for that fixture only.
const FIXTURES: &[(&str, &str, &[&str])] = &[
    (
        "journal-2026-12",
        "2026-11-25T00:10:00+08:00",
        &[
            "same_time_yesterday",
            "queues.*.forecast",
            "totals.*.service_level.definition",
            "queues.*.windows.*.service_level.definition",
        ],
    ),
    ("journal-2026-12b", "2026-11-25T00:10:00+08:00", &[]),
];

/// `board` without the keys at `paths` (`a.b`, `*` for every key of a map).
fn without(mut board: Value, paths: &[&str]) -> Value {
    fn remove(value: &mut Value, path: &[&str]) {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        match path {
            [] => {}
            [last] => {
                map.remove(*last);
            }
            ["*", rest @ ..] => map.values_mut().for_each(|v| remove(v, rest)),
            [key, rest @ ..] => {
                if let Some(v) = map.get_mut(*key) {
                    remove(v, rest);
                }
            }
        }
    }
    for path in paths {
        remove(&mut board, &path.split('.').collect::<Vec<_>>());
    }
    board
}

/// The events behind the fixture: three local days in Shanghai, with a
/// caller still waiting, agents signed in and a complaint open across the
/// midnights, so that what the expired first day began must come back
/// from the second day's checkpoint.
fn fixture_days() -> Vec<(&'static str, Vec<Value>)> {
    use wallboard_tests::event as e;
    vec![
        (
            "2026-11-23T09:30:00+08:00",
            vec![
                e(
                    "d1-1",
                    "2026-11-23T09:00:00+08:00",
                    json!({"type":"agent_state","agent":"a1","name":"王芳","state":"available","queues":["billing"]}),
                ),
                e(
                    "d1-2",
                    "2026-11-23T09:00:05+08:00",
                    json!({"type":"agent_state","agent":"a2","name":"李娜","state":"available","queues":["billing","vip"]}),
                ),
                e(
                    "d1-3",
                    "2026-11-23T09:10:00+08:00",
                    json!({"type":"contact_offered","contact":"c1","queue":"billing"}),
                ),
                e(
                    "d1-4",
                    "2026-11-23T09:10:12+08:00",
                    json!({"type":"contact_answered","contact":"c1","agent":"a1"}),
                ),
                e(
                    "d1-5",
                    "2026-11-23T09:14:00+08:00",
                    json!({"type":"contact_ended","contact":"c1","resolved":true}),
                ),
                e(
                    "d1-6",
                    "2026-11-23T09:15:00+08:00",
                    json!({"type":"complaint_opened","complaint":"k1","queue":"billing","due":"2026-11-26T09:15:00+08:00"}),
                ),
                e(
                    "d1-7",
                    "2026-11-23T09:20:00+08:00",
                    json!({"type":"agent_state","agent":"a2","state":"aux","reason":"meeting"}),
                ),
            ],
        ),
        (
            "2026-11-24T23:59:00+08:00",
            vec![
                e(
                    "d2-1",
                    "2026-11-24T10:00:00+08:00",
                    json!({"type":"contact_offered","contact":"c2","queue":"vip","vip":true}),
                ),
                e(
                    "d2-2",
                    "2026-11-24T10:00:30+08:00",
                    json!({"type":"contact_abandoned","contact":"c2"}),
                ),
                e(
                    "d2-3",
                    "2026-11-24T23:58:00+08:00",
                    json!({"type":"contact_offered","contact":"c3","queue":"billing"}),
                ),
                e(
                    "d2-4",
                    "2026-11-24T23:58:30+08:00",
                    json!({"type":"survey_submitted","queue":"billing","score":4,"max":5}),
                ),
            ],
        ),
        (
            "2026-11-25T00:05:00+08:00",
            vec![
                e(
                    "d3-1",
                    "2026-11-25T00:01:00+08:00",
                    json!({"type":"contact_offered","contact":"c4","queue":"billing"}),
                ),
                e(
                    "d3-2",
                    "2026-11-25T00:02:00+08:00",
                    json!({"type":"contact_answered","contact":"c4","agent":"a1"}),
                ),
            ],
        ),
    ]
}

const FIXTURE_CONFIG: &str =
    "timezone = \"Asia/Shanghai\"\njournal_retention_days = 2\ndedupe_retention_hours = 24";

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every journal kept under `tests/fixtures/` (written by an earlier
/// release) replays, with this version, to the board it showed; and this
/// version writing the same events shows that board too. A change to a
/// persisted format adds a fixture (`WALLBOARD_WRITE_FIXTURE=NAME` writes
/// this version's) and never edits an old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_written_by_earlier_releases_replay_to_their_boards() {
    let root = wallboard_tests::fixture("fixtures");
    let scratch_guard = wallboard_tests::temp_dir("wallboard-fixtures-");
    let scratch = scratch_guard.path().to_path_buf();
    // This version, writing the fixture's events day by day.
    let written = scratch.join("written");
    let (_, at, _) = FIXTURES[FIXTURES.len() - 1];
    let clock = wallboard::clock::Clock::manual(at.parse().unwrap());
    for (day_end, events) in fixture_days() {
        clock.set(day_end.parse().unwrap());
        let server = TestServer::builder(FIXTURE_CONFIG)
            .clock(clock)
            .data_dir(&written)
            .start()
            .await;
        let reply = server
            .post_events(Value::Array(events.clone()).to_string(), "application/json")
            .await;
        assert_eq!(reply.body["accepted"], events.len(), "{}", reply.body);
        server.server.stop().await;
    }
    // As retention would: the first day is gone; its state is in the
    // second day's checkpoint.
    assert_eq!(
        files_in(&written),
        [
            "00000002-2026-11-24.ckpt",
            "00000002-2026-11-24.wal",
            "00000003-2026-11-25.ckpt",
            "00000003-2026-11-25.wal"
        ]
    );
    clock.set(at.parse().unwrap());
    let server = TestServer::builder(FIXTURE_CONFIG)
        .clock(clock)
        .data_dir(&written)
        .start()
        .await;
    let board = comparable(server.board().await);
    server.server.stop().await;
    assert_eq!(
        board["agents"]["a2"]["state"], "aux",
        "day one's state came back"
    );
    assert_eq!(board["complaints"]["open"], 1);
    if let Ok(name) = std::env::var("WALLBOARD_WRITE_FIXTURE") {
        let out = root.join(&name);
        assert!(!out.exists(), "{name}: fixtures are added, never rewritten");
        copy_dir(&written, &out.join("data"));
        std::fs::write(
            out.join("board.json"),
            serde_json::to_string_pretty(&board).unwrap(),
        )
        .unwrap();
        println!("wrote {}", out.display());
    }
    // Each kept journal, replayed by this version.
    let mut replayed = 0;
    for (name, at, added_since) in FIXTURES {
        let kept = scratch.join(name);
        copy_dir(&root.join(name).join("data"), &kept);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(name).join("board.json")).unwrap(),
        )
        .unwrap();
        clock.set(at.parse().unwrap());
        let server = TestServer::builder(FIXTURE_CONFIG)
            .clock(clock)
            .data_dir(kept)
            .start()
            .await;
        assert_eq!(
            without(comparable(server.board().await), added_since),
            expected,
            "{name} replayed by this version"
        );
        server.server.stop().await;
        assert_eq!(
            without(board.clone(), added_since),
            expected,
            "{name}: this version writing the same events"
        );
        replayed += 1;
    }
    assert_eq!(replayed, FIXTURES.len());
    let _ = std::fs::remove_dir_all(&scratch);
}
