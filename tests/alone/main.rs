//! Tests that measure this process (its resident memory) and so run in a
//! binary of their own: in the one integration-test binary, other tests'
//! allocations on the threads beside them would count as theirs.

use std::time::Duration;

use jiff::SignedDuration;
use wallboard::simulator::{SimOptions, Simulation};
use wallboard_tests::TestServer;

use wallboard_tests::rss_kb;

/// A day and more on a manual clock: a simulated floor for 30 hours, with
/// housekeeping as time passes and team screens coming and going. What
/// the state holds levels off once the 24 h id retention and the 61
/// minutes of buckets are full: it does not keep growing with the hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_simulated_hours_level_off() {
    let zone = "Asia/Shanghai";
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let start = jiff::civil::date(2026, 11, 23)
        .to_zoned(tz.clone())
        .unwrap()
        .timestamp();
    let config = format!("timezone = \"{zone}\"\ndedupe_retention_hours = 24");
    let clock = wallboard::clock::Clock::manual(start);
    let server = TestServer::builder(&config)
        .clock(clock)
        .temp_data_dir()
        .start()
        .await;
    let ingest = &server.server.app.ingest;
    let mut sim = Simulation::new(SimOptions {
        seed: 5,
        agents: 60,
        timezone: tz,
        start,
    });
    let step = SignedDuration::from_mins(15);
    let mut hourly = Vec::new();
    let mut events = 0usize;
    let mut t = start;
    for quarter in 1..=30 * 4 {
        t += step;
        let batch = sim.advance_to(t);
        clock.set(t);
        for chunk in batch.chunks(1000) {
            let body: Vec<String> = chunk
                .iter()
                .map(|e| serde_json::to_string(e).unwrap())
                .collect();
            let reply = server
                .post_events(body.join("\n"), "application/x-ndjson")
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        events += batch.len();
        ingest.prune();
        // Team screens come and go.
        if quarter % 8 == 0 {
            let view = format!("view=queue&queue=q{}", quarter % 5);
            let mut viewer = wallboard_tests::Viewer::connect(&server.url, &view).await;
            viewer.next(Duration::from_secs(5)).await.unwrap();
        }
        if quarter % 4 == 0 {
            hourly.push((
                ingest.sizes(),
                server.server.app.hub.current().len(),
                rss_kb(),
            ));
        }
    }
    for (hour, (sizes, views, rss)) in hourly.iter().enumerate() {
        println!(
            "hour {:>2}: {sizes:?}, views {views}, rss {rss} KB",
            hour + 1
        );
    }
    println!("{events} events over 30 simulated hours");
    assert!(events > 10_000, "{events} events");
    let at = |h: usize| hourly[h - 1].0;
    // The ids of the last 24 hours, no more: once a day is full the count
    // stays a day's worth (it moves with the floor's rate, not the hours).
    let day = at(24).dedupe_ids;
    for h in 25..=30 {
        let ids = at(h).dedupe_ids;
        assert!(
            ids <= day + day / 10 && ids + day / 10 >= day,
            "hour {h}: {ids} ids, a day holds {day}"
        );
    }
    assert!(
        at(30).dedupe_ids < events / 2 + day,
        "ids expire: {} of {events}",
        at(30).dedupe_ids
    );
    // Buckets: at most the 61 minutes and two days kept per scope.
    let scopes = at(1).day_buckets;
    assert!(at(30).minute_buckets <= 61 * scopes, "{:?}", at(30));
    assert!(at(30).day_buckets <= 2 * scopes, "{:?}", at(30));
    // Finished contacts are forgotten after a day.
    assert!(
        at(30).contacts <= at(25).contacts + at(25).contacts / 10,
        "{:?} vs {:?}",
        at(30),
        at(25)
    );
    // Screens that left leave no channel behind.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.server.app.hub.current().len() <= 2,
        "{:?}",
        server.server.app.hub.current()
    );
    // Memory: the last hours cost no more than the day before them.
    let (rss25, rss30) = (hourly[24].2, hourly[29].2);
    assert!(
        rss30 <= rss25 + rss25 / 4,
        "RSS {rss25} KB at hour 25, {rss30} KB at hour 30"
    );
    server.server.stop().await;
}
