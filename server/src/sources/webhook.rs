//! `POST /api/v1/sources/{name}/webhook`: platforms that call back on every
//! change (task-router style) connected by config instead of code.
//!
//! The body is JSON (an object, or an array of them) or a form
//! (`application/x-www-form-urlencoded`, read as one object of strings).
//! Each object goes to the first of the source's mappings whose `when`
//! pointers all hold the given values; the mapping builds an event of its
//! `type` from JSON pointers into the object and constants, then the event
//! goes through ingest like any other. Objects no mapping matches are
//! counted as `ignored` (platforms send many kinds of callbacks; refusing
//! them would only make them retry).
//!
//! Ids are `SOURCE/` + the mapped `id`, or, without one, a 64-bit hash of
//! the object, so a platform's retry of the same callback is a duplicate.
//! Without a mapped `ts`, the time of receipt.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{FieldSource, SourceConfig, SourceKind, TimeFormat, WebhookMapping};
use crate::error::ApiError;
use crate::ingest::http::{Sender, admit, read_body, submit};
use crate::ingest::{Ingest, Rejected};
use wallboard_protocol::Event;

/// What the webhook route needs: each webhook source's mappings, by name,
/// and ingest.
#[derive(Clone)]
struct Webhooks {
    mappings: Arc<BTreeMap<String, Vec<WebhookMapping>>>,
    ingest: Ingest,
}

/// `POST /api/v1/sources/{name}/webhook` for the webhook sources among
/// `sources`.
pub fn router(ingest: Ingest, sources: &[SourceConfig]) -> Router {
    let mappings = sources
        .iter()
        .filter_map(|s| match &s.kind {
            SourceKind::Webhook(m) => Some((s.name.clone(), m.clone())),
            _ => None,
        })
        .collect();
    Router::new()
        .route("/api/v1/sources/{name}/webhook", post(post_webhook))
        .with_state(Webhooks {
            mappings: Arc::new(mappings),
            ingest,
        })
}

/// The response: ingest's outcome plus what no mapping took.
#[derive(Debug, Serialize)]
struct WebhookOutcome {
    accepted: u64,
    duplicates: u64,
    ignored: u64,
    rejected: Vec<Rejected>,
}

async fn post_webhook(
    State(webhooks): State<Webhooks>,
    Path(name): Path<String>,
    sender: Option<Extension<Sender>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mappings = webhooks.mappings.get(&name).ok_or_else(|| {
        ApiError::not_found(format!("no webhook source named {name:?} is configured"))
    })?;
    let bytes = read_body(&headers, body).await?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let payload = parse_payload(&bytes, form)?;
    let ingest = webhooks.ingest;
    let now = ingest.clock().now();
    let (items, ignored) = map_payload(&name, mappings, &payload, now);
    admit(&ingest, sender.as_deref(), items.len())?;
    let (positions, items): (Vec<usize>, Vec<_>) = items.into_iter().unzip();
    let mut outcome = submit(ingest, items).await?;
    // Rejections by their object's position in the payload.
    for r in &mut outcome.rejected {
        r.index = positions[r.index];
    }
    Ok(Json(WebhookOutcome {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        ignored,
        rejected: outcome.rejected,
    })
    .into_response())
}

/// The body as JSON; a form as one object of strings.
pub fn parse_payload(bytes: &[u8], form: bool) -> Result<Value, ApiError> {
    if form {
        let object: Map<String, Value> = form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Ok(Value::Object(object));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("body is not JSON: {e}")).at(Some(e.line()), Some(e.column()))
    })
}

/// An object's position in the payload, and its event or why it has none.
pub type Mapped = (usize, Result<Event, String>);

/// Maps a payload (an object or an array of objects): the events, or why
/// an object could not become one, each with the object's position; and
/// how many objects no mapping took.
pub fn map_payload(
    source: &str,
    mappings: &[WebhookMapping],
    payload: &Value,
    now: Timestamp,
) -> (Vec<Mapped>, u64) {
    let objects: Vec<&Value> = match payload {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut items = Vec::new();
    let mut ignored = 0;
    for (position, object) in objects.into_iter().enumerate() {
        match mappings.iter().position(|m| matches(m, object)) {
            Some(i) => items.push((position, map_one(source, i, &mappings[i], object, now))),
            None => ignored += 1,
        }
    }
    (items, ignored)
}

/// Values compare as JSON, or as text (a form's "1" matches 1).
fn same(a: &Value, b: &Value) -> bool {
    a == b || text(a) == text(b)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn matches(mapping: &WebhookMapping, object: &Value) -> bool {
    mapping
        .when
        .iter()
        .all(|(pointer, want)| object.pointer(pointer).is_some_and(|v| same(v, want)))
}

/// Fields that are booleans, numbers, times or lists in the event JSON:
/// text from a form is converted.
const BOOLEANS: [&str; 3] = ["vip", "resolved", "blocked"];
const NUMBERS: [&str; 2] = ["score", "max"];
const TIMES: [&str; 2] = ["ts", "due"];

fn map_one(
    source: &str,
    index: usize,
    mapping: &WebhookMapping,
    object: &Value,
    now: Timestamp,
) -> Result<Event, String> {
    let mut event = Map::new();
    event.insert("type".into(), Value::String(mapping.event_type.clone()));
    for (key, from) in &mapping.fields {
        let Some(value) = field_value(key, from, object)? else {
            continue;
        };
        event.insert(key.clone(), value);
    }
    let id = match event.remove("id") {
        Some(id) => format!("{source}/{}", text(&id)),
        None => {
            let bytes = serde_json::to_vec(object).unwrap_or_default();
            let a = crc32c::crc32c(&bytes);
            let b = crc32c::crc32c_append(0x9e37_79b9, &bytes);
            format!("{source}/m{index}-{a:08x}{b:08x}")
        }
    };
    event.insert("id".into(), Value::String(id));
    event
        .entry("ts")
        .or_insert_with(|| Value::String(now.to_string()));
    Event::from_json(&Value::Object(event).to_string())
        .map_err(|e| format!("mapping {index} ({}): {e}", mapping.event_type))
}

/// One field's value from the payload: `None` when its pointer finds
/// nothing (the event's own rules then say whether it was needed).
fn field_value(key: &str, from: &FieldSource, object: &Value) -> Result<Option<Value>, String> {
    let found = match (&from.value, &from.pointer) {
        (Some(constant), _) => Some(constant.clone()),
        (None, Some(pointer)) => object.pointer(pointer).cloned(),
        (None, None) => None,
    };
    let Some(mut value) = found.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if !from.map.is_empty() {
        let key_text = text(&value);
        value = from.map.get(&key_text).cloned().ok_or_else(|| {
            let known: Vec<&String> = from.map.keys().collect();
            format!("field `{key}`: {key_text:?} is not in its map (known: {known:?})")
        })?;
    }
    if TIMES.contains(&key) {
        value = time(key, &value, from.format)?;
    } else if BOOLEANS.contains(&key)
        && let Value::String(s) = &value
    {
        value = match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => return Err(format!("field `{key}`: {s:?} is not a boolean")),
        };
    } else if NUMBERS.contains(&key)
        && let Value::String(s) = &value
    {
        let n: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("field `{key}`: {s:?} is not a number"))?;
        value = serde_json::Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| format!("field `{key}`: {s:?} is not a finite number"))?;
    } else if key == "queues"
        && let Value::String(s) = &value
    {
        value = Value::Array(
            s.split(',')
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| Value::String(q.to_string()))
                .collect(),
        );
    }
    Ok(Some(value))
}

/// A time as the event wants it (RFC 3339), from the payload's format.
fn time(key: &str, value: &Value, format: TimeFormat) -> Result<Value, String> {
    let number = || -> Result<f64, String> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|n| n.is_finite())
        .ok_or_else(|| format!("field `{key}`: {value} is not a Unix time"))
    };
    let micros = match format {
        TimeFormat::Rfc3339 => return Ok(value.clone()),
        TimeFormat::UnixSeconds => number()? * 1e6,
        TimeFormat::UnixMillis => number()? * 1e3,
    };
    let ts = Timestamp::from_microsecond(micros.round() as i64)
        .map_err(|e| format!("field `{key}`: {value} is out of range ({e})"))?;
    Ok(Value::String(ts.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    /// The worked example of the README: task-router style callbacks.
    const CONFIG: &str = include_str!("../../../docs/webhook-example.toml");

    fn mappings() -> Vec<WebhookMapping> {
        let config = Config::from_toml(CONFIG).unwrap();
        match &config.sources[0].kind {
            SourceKind::Webhook(m) => m.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn now() -> Timestamp {
        "2026-11-23T02:00:00Z".parse().unwrap()
    }

    #[test]
    fn task_router_callbacks_become_events() {
        let m = mappings();
        let payload = json!([
            {"EventType":"task.created","Sid":"EV1","Timestamp":"1795399200","TaskSid":"WT1","TaskQueueName":"billing","TaskAttributes":{"vip":"true"}},
            {"EventType":"reservation.accepted","Sid":"EV2","Timestamp":"1795399230","TaskSid":"WT1","WorkerSid":"WK7"},
            {"EventType":"task.canceled","Sid":"EV3","Timestamp":"1795399240","TaskSid":"WT2"},
            {"EventType":"worker.activity.update","Sid":"EV4","Timestamp":"1795399250","WorkerSid":"WK7","WorkerName":"王芳","WorkerActivityName":"Break"},
            {"EventType":"workflow.timeout","Sid":"EV5"},
        ]);
        let (items, ignored) = map_payload("tr", &m, &payload, now());
        assert_eq!(ignored, 1, "workflow.timeout has no mapping");
        let events: Vec<Value> = items
            .into_iter()
            .map(|(_, e)| serde_json::to_value(e.unwrap()).unwrap())
            .collect();
        assert_eq!(
            events,
            vec![
                json!({"id":"tr/EV1","ts":"2026-11-23T02:00:00Z","type":"contact_offered","contact":"WT1","queue":"billing","vip":true}),
                json!({"id":"tr/EV2","ts":"2026-11-23T02:00:30Z","type":"contact_answered","contact":"WT1","agent":"WK7"}),
                json!({"id":"tr/EV3","ts":"2026-11-23T02:00:40Z","type":"contact_abandoned","contact":"WT2"}),
                json!({"id":"tr/EV4","ts":"2026-11-23T02:00:50Z","type":"agent_state","agent":"WK7","state":"aux","reason":"Break","name":"王芳"}),
            ]
        );
    }

    #[test]
    fn bad_payloads_say_which_field_and_why() {
        let m = mappings();
        let cases = [
            (
                json!({"EventType":"worker.activity.update","Sid":"E","Timestamp":"1795399250","WorkerSid":"W","WorkerActivityName":"Gaming"}),
                "\"Gaming\" is not in its map",
            ),
            (
                json!({"EventType":"task.created","Sid":"E","Timestamp":"soon","TaskSid":"T","TaskQueueName":"q"}),
                "not a Unix time",
            ),
            (
                json!({"EventType":"task.created","Sid":"E","Timestamp":"1795399200","TaskQueueName":"q"}),
                "contact",
            ),
            (
                json!({"EventType":"task.created","Sid":"E","Timestamp":"1795399200","TaskSid":"T","TaskQueueName":"q","TaskAttributes":{"vip":"maybe"}}),
                "not a boolean",
            ),
        ];
        for (payload, want) in cases {
            let (items, _) = map_payload("tr", &m, &payload, now());
            let err = items[0].1.clone().unwrap_err();
            assert!(err.contains(want), "{payload}: got {err}, want {want}");
        }
    }

    #[test]
    fn forms_are_objects_of_strings_and_retries_repeat_the_id() {
        let m = mappings();
        let body = b"EventType=task.canceled&Timestamp=1795399240&TaskSid=WT9";
        let payload = parse_payload(body, true).unwrap();
        let (a, _) = map_payload("tr", &m, &payload, now());
        let (b, _) = map_payload("tr", &m, &payload, now());
        let (a, b) = (a[0].1.clone().unwrap(), b[0].1.clone().unwrap());
        assert!(a.id.starts_with("tr/m2-"), "{}", a.id);
        assert_eq!(a.id, b.id, "a hash of the callback, stable");
        let other = parse_payload(
            b"EventType=task.canceled&Timestamp=1795399240&TaskSid=WT8",
            true,
        )
        .unwrap();
        assert_ne!(
            map_payload("tr", &m, &other, now()).0[0]
                .1
                .clone()
                .unwrap()
                .id,
            a.id
        );
        let err = parse_payload(b"{\"a\":", false).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn mapping_config_errors_name_the_key() {
        use crate::config::ConfigError;
        let cases = [
            (
                "[[sources]]\nkind = \"webhook\"\nname = \"w\"\n[[sources.mappings]]\ntype = \"call_started\"",
                Some("sources[0].mappings[0].type"),
                "not an event type",
            ),
            (
                "[[sources]]\nkind = \"webhook\"\nname = \"w\"\n[[sources.mappings]]\ntype = \"contact_abandoned\"\nfields.contact = \"TaskSid\"",
                Some("sources[0].mappings[0].fields.contact"),
                "",
            ),
            (
                "[[sources]]\nkind = \"webhook\"\nname = \"w w\"",
                Some("sources[0].name"),
                "must be 1..=32 characters",
            ),
            (
                "[[sources]]\nkind = \"webhook\"\nname = \"w\"\n[[sources]]\nkind = \"webhook\"\nname = \"w\"",
                Some("sources[1].name"),
                "twice",
            ),
            (
                "[[sources]]\nkind = \"asterisk_ami\"\nname = \"pbx\"\nhost = \"h\"\nusername = \"u\"",
                None,
                "secret",
            ),
        ];
        for (text, key, words) in cases {
            let err = Config::from_toml(text).expect_err(text);
            match (key, &err) {
                (Some(key), ConfigError::Invalid { key: got, reason }) => {
                    assert_eq!(got, key, "{text}: {err}");
                    assert!(reason.contains(words), "{text}: {err}, want {words}");
                }
                (None, ConfigError::Syntax(_)) => {
                    assert!(err.to_string().contains(words), "{text}: {err}");
                }
                _ => panic!("{text}: {err:?} is not the error wanted"),
            }
        }
    }
}
