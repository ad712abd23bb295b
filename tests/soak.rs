//! The soak (`soak` section): 28 simulated hours at 200 events/s through
//! HTTP into a server on a manual clock with the journal on, housekeeping
//! every simulated 15 minutes and team screens coming and going. It reports
//! the curve of what the state holds, hour by hour, then restarts on that
//! journal (the replay of a big day), damages records spread over the big
//! day's segment and restarts again: the cost of the damage, against the
//! undamaged restart measured just before it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::scaling::Mix;

const RATE: usize = 200;
/// Simulated hours (`--soak-hours N` for a shorter run): past the 24 h of
/// ids and the 26 h of finished contacts kept, so both level off.
const HOURS: usize = 28;
/// Simulated seconds per POST (one batch of `RATE × SECONDS_PER_POST`).
const SECONDS_PER_POST: usize = 10;
/// Records damaged in the big segment for the damaged restart.
const DAMAGED: usize = 100;
const ZONE: &str = "Asia/Shanghai";

fn config() -> String {
    format!(
        "timezone = \"{ZONE}\"\ndedupe_retention_hours = 24\n\
         [limits]\ningest_events_per_second = 10000000\n"
    )
}

pub fn run(runtime: &tokio::runtime::Runtime, out: &Path) -> Value {
    let dir = out.join("soak-journal");
    let _ = std::fs::remove_dir_all(&dir);
    let report = runtime.block_on(soak(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    report
}

fn hours() -> usize {
    std::env::args()
        .skip_while(|a| a != "--soak-hours")
        .nth(1)
        .map(|h| h.parse().expect("--soak-hours: a whole number of hours"))
        .unwrap_or(HOURS)
}

async fn soak(dir: &Path) -> Value {
    let hours = hours();
    let tz = jiff::tz::TimeZone::get(ZONE).unwrap();
    let start = jiff::civil::date(2026, 11, 23)
        .to_zoned(tz)
        .unwrap()
        .timestamp();
    let clock = wallboard::clock::Clock::manual(start);
    let server = wallboard_tests::TestServer::builder(&config())
        .clock(clock)
        .data_dir(dir)
        .start()
        .await;
    let ingest = server.server.app.ingest.clone();
    let mut mix = Mix::new(400, 20);
    let base = Instant::now();
    let wall = Instant::now();
    let mut curve = Vec::new();
    let mut events = 0usize;
    let mut slowest_post_ms = 0f64;
    let posts_per_quarter = 15 * 60 / SECONDS_PER_POST;
    for quarter in 1..=hours * 4 {
        for post in 0..posts_per_quarter {
            let second = ((quarter - 1) * posts_per_quarter + post + 1) * SECONDS_PER_POST;
            let mut lines = Vec::with_capacity(RATE * SECONDS_PER_POST + 2);
            for s in (second + 1 - SECONDS_PER_POST)..=second {
                let ts = (start + SignedDuration::from_secs(s as i64)).to_string();
                let at = base + Duration::from_secs(s as u64);
                lines.extend(mix.batch(RATE, at, &ts, None).lines);
            }
            clock.set(start + SignedDuration::from_secs(second as i64));
            events += lines.len();
            let t = Instant::now();
            let reply = server
                .post_events(lines.join("\n"), "application/x-ndjson")
                .await;
            slowest_post_ms = slowest_post_ms.max(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        ingest.prune();
        // Team screens come and go.
        if quarter % 2 == 0 {
            let view = format!("view=queue&queue={}", queue_name(quarter % 20));
            let mut viewer = wallboard_tests::Viewer::connect(&server.url, &view).await;
            viewer.next(Duration::from_secs(5)).await.unwrap();
        }
        if quarter % 4 == 0 {
            let sizes = ingest.sizes();
            let row = json!({
                "hour": quarter / 4,
                "events": events,
                "dedupe_ids": sizes.dedupe_ids,
                "contacts": sizes.contacts,
                "agents": sizes.agents,
                "minute_buckets": sizes.minute_buckets,
                "day_buckets": sizes.day_buckets,
                "views": server.server.app.hub.current().len(),
                "rss_mb": wallboard_tests::rss_kb() as f64 / 1e3,
                "wall_seconds": wall.elapsed().as_secs_f64(),
            });
            println!("soak: {row}");
            curve.push(row);
        }
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    let before = counts(&server.board().await);
    server.server.stop().await;
    drop(ingest);
    let journal_bytes = dir_bytes(dir);

    // The restart on that journal, then with damage spread over the big day.
    let (restart_seconds, skipped, after) = restart(clock, dir).await;
    assert_eq!(after, before, "the restart shows the same board");
    assert!(skipped.is_empty(), "{skipped:?}");
    let damaged = damage(&biggest_segment(dir), DAMAGED);
    let (damaged_seconds, skipped, damaged_board) = restart(clock, dir).await;
    println!(
        "soak: {events} events in {wall_seconds:.0} s; journal {:.0} MB; restart {restart_seconds:.1} s, \
         with {damaged} damaged records {damaged_seconds:.1} s ({} skipped)",
        journal_bytes as f64 / 1e6,
        skipped.len()
    );
    json!({
        "rate": RATE,
        "hours": hours,
        "events": events,
        "wall_seconds": wall_seconds,
        "slowest_post_ms": slowest_post_ms,
        "events_per_post": RATE * SECONDS_PER_POST,
        "journal_bytes": journal_bytes,
        "curve": curve,
        "restart_seconds": restart_seconds,
        "damaged_records": damaged,
        "damaged_skipped": skipped.len(),
        "damaged_restart_seconds": damaged_seconds,
        "today": before,
        "damaged_today": damaged_board,
    })
}

fn queue_name(i: usize) -> String {
    format!("q{i:03}")
}

/// Starts a server on `dir`'s journal: seconds until it serves, what
/// `/readyz` says was skipped, the board's counts.
async fn restart(clock: wallboard::clock::Clock, dir: &Path) -> (f64, Vec<Value>, Value) {
    let t = Instant::now();
    let server = wallboard_tests::TestServer::builder(&config())
        .clock(clock)
        .data_dir(dir)
        .start()
        .await;
    let seconds = t.elapsed().as_secs_f64();
    let ready: Value = server
        .client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let skipped = ready["journal_skipped"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let board = counts(&server.board().await);
    server.server.stop().await;
    (seconds, skipped, board)
}

/// Today's counts, which do not move with the clock.
fn counts(board: &Value) -> Value {
    let today = &board["totals"]["today"];
    json!([
        today["offered"],
        today["answered"],
        today["abandoned"],
        today["handled"]
    ])
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn biggest_segment(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .max_by_key(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("a segment")
}

/// Flips a payload byte in `n` records spread evenly over the segment
/// (the header record left alone); returns how many it damaged. Reads
/// only the records' headers: the segment may be gigabytes.
fn damage(segment: &Path, n: usize) -> usize {
    use std::io::{BufReader, Read};
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment)
        .unwrap();
    let len = file.metadata().unwrap().len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut records = Vec::new();
    let mut at = 0u64;
    let mut header = [0u8; 8];
    while at + 8 <= len && reader.read_exact(&mut header).is_ok() {
        let size = u64::from(u32::from_le_bytes(header[..4].try_into().unwrap()));
        if at + 8 + size > len {
            break;
        }
        records.push((at, size));
        reader.seek_relative(size as i64).unwrap();
        at += 8 + size;
    }
    let step = (records.len() / (n + 1)).max(1);
    let mut damaged = 0;
    for &(at, size) in records.iter().skip(step).step_by(step).take(n) {
        let mut byte = [0u8; 1];
        let middle = at + 8 + size / 2;
        file.read_exact_at(&mut byte, middle).unwrap();
        file.write_all_at(&[byte[0] ^ 0x04], middle).unwrap();
        damaged += 1;
    }
    file.sync_all().unwrap();
    damaged
}
