//! The interval report across midnight, and "same time yesterday", on a
//! floor computed by hand (Asia/Shanghai, read at 00:20:00 on 2026-11-24).
//!
//! | contact | queue | offered | outcome | wait | handle (ends) |
//! |---|---|---|---|---|---|
//! | y0 | billing | 23rd 00:10:00 | answered 00:10:05 | 5 s (in) | 120 s (00:12:05) |
//! | y1 | billing | 23rd 23:10:00 | answered 23:10:30 | 30 s | 240 s (23:14:30) |
//! | y2 | billing | 23rd 23:40:00 | abandoned 23:41:00 | 60 s | — |
//! | y3 | billing | 23rd 23:50:00 | answered 23:50:10 | 10 s (in) | 720 s (24th 00:02:10) |
//! | y4 | billing | 23rd 23:59:50 | answered 24th 00:00:05 | 15 s (in) | 360 s (00:06:05) |
//! | t1 | billing | 00:05:00 | abandoned 00:05:30 | 30 s | — |
//! | v1 | vip | 00:07:00 | answered 00:07:25 | 25 s | still talking |
//! | t2 | billing | 00:16:00 | answered 00:16:08 | 8 s (in) | still talking |
//!
//! Each outcome counts in the interval of its own time: y4 is offered on
//! the 23rd and answered on the 24th; y3's handle time ends on the 24th.

use serde_json::{Value, json};
use wallboard_tests::TestServer;

const CONFIG: &str =
    "timezone = \"Asia/Shanghai\"\n[[queues]]\nid = \"billing\"\n[[queues]]\nid = \"vip\"\n";

fn events() -> String {
    let mut lines = Vec::new();
    let mut n = 0;
    let mut e = |ts: &str, body: Value| {
        n += 1;
        let mut body = body;
        body["id"] = json!(format!("i{n}"));
        body["ts"] = json!(ts);
        lines.push(body.to_string());
    };
    let y = |hms: &str| format!("2026-11-23T{hms}+08:00");
    let t = |hms: &str| format!("2026-11-24T{hms}+08:00");
    let state =
        |agent: &str, state: &str| json!({"type":"agent_state","agent":agent,"state":state});
    for agent in ["a1", "a2"] {
        e(
            &y("00:00:00"),
            json!({"type":"agent_state","agent":agent,"state":"available","queues":["billing"]}),
        );
    }
    e(
        &y("00:00:00"),
        json!({"type":"agent_state","agent":"a3","state":"available","queues":["vip"]}),
    );
    let offer = |c: &str, q: &str| json!({"type":"contact_offered","contact":c,"queue":q});
    let answer = |c: &str, a: &str| json!({"type":"contact_answered","contact":c,"agent":a});
    let end = |c: &str| json!({"type":"contact_ended","contact":c});
    let abandon = |c: &str| json!({"type":"contact_abandoned","contact":c});
    e(&y("00:10:00"), offer("y0", "billing"));
    e(&y("00:10:05"), state("a2", "on_contact"));
    e(&y("00:10:05"), answer("y0", "a2"));
    e(&y("00:12:05"), end("y0"));
    e(&y("00:12:05"), state("a2", "available"));
    e(&y("23:10:00"), offer("y1", "billing"));
    e(&y("23:10:30"), state("a1", "on_contact"));
    e(&y("23:10:30"), answer("y1", "a1"));
    e(&y("23:14:30"), end("y1"));
    e(&y("23:14:30"), state("a1", "available"));
    e(&y("23:40:00"), offer("y2", "billing"));
    e(&y("23:41:00"), abandon("y2"));
    e(&y("23:50:00"), offer("y3", "billing"));
    e(&y("23:50:10"), state("a2", "on_contact"));
    e(&y("23:50:10"), answer("y3", "a2"));
    e(&y("23:59:50"), offer("y4", "billing"));
    e(&t("00:00:05"), state("a1", "on_contact"));
    e(&t("00:00:05"), answer("y4", "a1"));
    e(&t("00:02:10"), end("y3"));
    e(&t("00:02:10"), state("a2", "available"));
    e(&t("00:05:00"), offer("t1", "billing"));
    e(&t("00:05:30"), abandon("t1"));
    e(&t("00:06:05"), end("y4"));
    e(&t("00:06:05"), state("a1", "available"));
    e(&t("00:07:00"), offer("v1", "vip"));
    e(&t("00:07:25"), state("a3", "on_contact"));
    e(&t("00:07:25"), answer("v1", "a3"));
    e(&t("00:16:00"), offer("t2", "billing"));
    e(&t("00:16:08"), state("a1", "on_contact"));
    e(&t("00:16:08"), answer("t2", "a1"));
    lines.join("\n")
}

/// The rows of one scope whose counts are not all zero, by start time.
fn busy(report: &Value, queue: &str) -> Vec<Value> {
    report["queues"][queue]
        .as_array()
        .unwrap_or_else(|| panic!("no rows for {queue}: {report}"))
        .iter()
        .filter(|r| {
            r["offered"] != 0
                || r["answered"] != 0
                || r["abandoned"] != 0
                || !r["aht_seconds"].is_null()
        })
        .cloned()
        .collect()
}

fn row(start: &str, end: &str, counts: [u64; 3], sl: Value, asa: Value, aht: Value) -> Value {
    json!({"start": start, "end": end, "offered": counts[0], "answered": counts[1],
           "abandoned": counts[2], "service_level": sl, "asa_seconds": asa, "aht_seconds": aht})
}

#[tokio::test]
async fn an_interval_report_across_midnight() {
    let server = TestServer::builder(CONFIG)
        .at("2026-11-24T00:20:00+08:00".parse().unwrap())
        .app();
    let reply = server.post_events(events(), "application/x-ndjson").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 33, "{}", reply.body);

    // Yesterday by 30 minutes: 48 rows per scope, three with traffic.
    let yesterday = server.get("/api/v1/intervals?size=30m&day=yesterday").await;
    assert_eq!(yesterday.status, 200, "{}", yesterday.body);
    assert_eq!(yesterday.body["day"], "2026-11-23");
    assert_eq!(yesterday.body["size"], "30m");
    assert_eq!(
        yesterday.body["queues"]["billing"]
            .as_array()
            .unwrap()
            .len(),
        48
    );
    let want = [
        row(
            "2026-11-23T00:00:00+08:00",
            "2026-11-23T00:30:00+08:00",
            [1, 1, 0],
            json!(1.0),
            json!(5.0),
            json!(120.0),
        ),
        row(
            "2026-11-23T23:00:00+08:00",
            "2026-11-23T23:30:00+08:00",
            [1, 1, 0],
            json!(0.0),
            json!(30.0),
            json!(240.0),
        ),
        row(
            "2026-11-23T23:30:00+08:00",
            "2026-11-24T00:00:00+08:00",
            [3, 1, 1],
            json!(0.5),
            json!(10.0),
            Value::Null,
        ),
    ];
    let got = busy(&yesterday.body, "billing");
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (got, want) in got.iter().zip(&want) {
        wallboard_tests::assert_subset(got, want, "yesterday billing");
    }
    assert_eq!(
        busy(&yesterday.body, "all"),
        got,
        "only billing had traffic yesterday"
    );

    // Today by 15 minutes, up to the interval holding 00:20.
    let today = server.get("/api/v1/intervals?size=15m&format=json").await;
    assert_eq!(today.status, 200, "{}", today.body);
    assert_eq!(today.body["day"], "2026-11-24");
    let billing = today.body["queues"]["billing"].as_array().unwrap();
    assert_eq!(billing.len(), 2, "00:00-00:15 and 00:15-00:30");
    let want = [
        row(
            "2026-11-24T00:00:00+08:00",
            "2026-11-24T00:15:00+08:00",
            [1, 1, 1],
            json!(0.5),
            json!(15.0),
            json!(540.0),
        ),
        row(
            "2026-11-24T00:15:00+08:00",
            "2026-11-24T00:30:00+08:00",
            [1, 1, 0],
            json!(1.0),
            json!(8.0),
            Value::Null,
        ),
    ];
    for (got, want) in billing.iter().zip(&want) {
        wallboard_tests::assert_subset(got, want, "today billing");
    }
    // The totals hold vip's answer too: 2 answered (1 in 20 s), 1 abandoned.
    let all = &today.body["queues"]["all"][0];
    wallboard_tests::assert_subset(
        all,
        &row(
            "2026-11-24T00:00:00+08:00",
            "2026-11-24T00:15:00+08:00",
            [2, 2, 1],
            json!(1.0 / 3.0),
            json!(20.0),
            json!(540.0),
        ),
        "today all",
    );

    // The same as CSV, one line per scope and interval.
    let response = server
        .send(
            axum::http::Request::get("/api/v1/intervals?size=15m&format=csv")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "queue,start,end,offered,answered,answered_in_sl,abandoned,short_abandoned,callbacks,service_level,asa_seconds,aht_seconds,definition"
    );
    assert_eq!(
        lines.len(),
        1 + 3 * 2,
        "header, then 3 scopes × 2 intervals"
    );
    assert!(
        lines.contains(&"billing,2026-11-24T00:00:00+08:00,2026-11-24T00:15:00+08:00,1,1,1,1,0,0,0.5,15,540,hotline"),
        "{text}"
    );
    assert!(
        lines.contains(
            &"vip,2026-11-24T00:15:00+08:00,2026-11-24T00:30:00+08:00,0,0,0,0,0,0,,,,hotline"
        ),
        "{text}"
    );

    // Same time yesterday: the 23rd from 00:00 to 00:20 holds y0 alone.
    let board = server.board().await;
    let y = &board["same_time_yesterday"];
    assert_eq!(y["offered"], 1, "{y}");
    assert_eq!(y["service_level"]["value"], 1.0);
    assert_eq!(y["asa_seconds"]["value"], 5.0);
    assert_eq!(y["aht_seconds"]["value"], 120.0);
    assert_eq!(board["totals"]["today"]["service_level"]["value"], 0.5);

    // Bad parameters are named.
    for (query, field) in [
        ("size=1h", "size"),
        ("format=xml", "format"),
        ("day=monday", "day"),
    ] {
        let reply = server.get(&format!("/api/v1/intervals?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.body["field"], field, "{query}: {}", reply.body);
        assert!(
            reply.body["error"]
                .as_str()
                .unwrap()
                .contains("is not one of"),
            "{}",
            reply.body
        );
    }
}

/// Agents' tokens may not read every queue's intervals; a kiosk may (it
/// shows the floor).
#[tokio::test]
async fn the_interval_report_is_for_those_who_see_the_floor() {
    let token = |role: &str| {
        format!(
            "{{ name = \"{role}\", role = \"{role}\", sha256 = \"{}\" }}",
            wallboard::auth::hash_token(&format!("{role}-token-0123456789"))
        )
    };
    let config = format!(
        "{CONFIG}[auth]\nviewer_tokens = [{}, {}]\n",
        token("agent"),
        token("kiosk")
    );
    let server = TestServer::builder(&config)
        .at("2026-11-24T00:20:00+08:00".parse().unwrap())
        .app();
    for (token, status) in [
        (None, 401),
        (Some("agent-token-0123456789"), 403),
        (Some("kiosk-token-0123456789"), 200),
    ] {
        let path = match token {
            Some(t) => format!("/api/v1/intervals?token={t}"),
            None => "/api/v1/intervals".into(),
        };
        let reply = server.get(&path).await;
        assert_eq!(reply.status, status, "{token:?}: {}", reply.body);
    }
}
