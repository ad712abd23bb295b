//! Splitting an ingest body into events: a JSON array, one object, or
//! NDJSON (any whitespace-separated sequence of objects).
//!
//! A body that is not JSON is refused whole, with the line and column of the
//! first fault, so nothing of a garbled upload is applied. A body that is
//! JSON yields one result per event: the event, or why it is not one.

use serde_json::value::RawValue;
use wallboard_protocol::Event;
use wallboard_protocol::event::strip_position;

/// Why a body was refused whole.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyError {
    pub message: String,
    /// 1-based position of the fault, when there is one.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Parses a body into per-event results, in order.
pub fn parse(body: &[u8]) -> Result<Vec<Result<Event, String>>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let (line, column) = position(body, e.valid_up_to());
        BodyError {
            message: "body is not valid UTF-8".into(),
            line: Some(line),
            column: Some(column),
        }
    })?;
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        values.push(value.map_err(|e| BodyError {
            message: format!("body is not valid JSON: {}", strip_position(&e)),
            line: Some(e.line()),
            column: Some(e.column()),
        })?);
    }
    let items: Vec<&RawValue> = match values.as_slice() {
        [] => {
            return Err(BodyError {
                message: "body is empty: send a JSON array of events, one event object, or NDJSON"
                    .into(),
                line: None,
                column: None,
            });
        }
        [one] if one.get().starts_with('[') => {
            serde_json::from_str(one.get()).map_err(|e| BodyError {
                message: format!("body is not a JSON array: {}", strip_position(&e)),
                line: None,
                column: None,
            })?
        }
        [one] if !one.get().starts_with('{') => {
            return Err(BodyError {
                message: "body must be a JSON array of events, one event object, or NDJSON".into(),
                line: Some(1),
                column: Some(1),
            });
        }
        _ => values,
    };
    Ok(items
        .into_iter()
        .map(|raw| {
            if raw.get().starts_with('{') {
                Event::from_json(raw.get())
            } else {
                Err("expected an event object".to_string())
            }
        })
        .collect())
}

/// 1-based line and column of byte `offset`.
fn position(body: &[u8], offset: usize) -> (usize, usize) {
    let before = &body[..offset.min(body.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"contact_arrived","contact":"c1"}"#;
    const B: &str =
        r#"{"id":"2","ts":"2026-11-23T09:00:01Z","type":"contact_arrived","contact":"c2"}"#;

    fn ids(body: &str) -> Vec<Result<String, String>> {
        parse(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|r| r.map(|e| e.id))
            .collect()
    }

    #[test]
    fn accepts_array_object_and_ndjson() {
        assert_eq!(ids(&format!("[{A},{B}]")), [Ok("1".into()), Ok("2".into())]);
        assert_eq!(ids(A), [Ok("1".into())]);
        assert_eq!(
            ids(&format!("{A}\n\n{B}\r\n")),
            [Ok("1".into()), Ok("2".into())]
        );
        assert_eq!(ids("[]"), []);
    }

    #[test]
    fn reports_bad_events_by_position_and_keeps_the_rest() {
        let got = ids(&format!(r#"[{A}, 7, {{"id":"x"}}, {B}]"#));
        assert_eq!(got[0], Ok("1".into()));
        assert_eq!(got[1], Err("expected an event object".into()));
        assert!(got[2].as_ref().unwrap_err().contains("missing field"));
        assert_eq!(got[3], Ok("2".into()));
    }

    #[test]
    fn refuses_broken_bodies_with_line_and_column() {
        let err = parse(format!("{A}\n{{\"id\": oops}}").as_bytes()).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.column, Some(8));
        assert!(err.message.starts_with("body is not valid JSON"));

        let err = parse(b"[1, 2").unwrap_err();
        assert_eq!(err.line, Some(1));

        let err = parse(b"   \n ").unwrap_err();
        assert!(err.message.contains("empty"));

        let err = parse(b"42").unwrap_err();
        assert!(err.message.contains("must be"));

        let err = parse(b"{\"id\":\"\xff\"}").unwrap_err();
        assert_eq!(err.message, "body is not valid UTF-8");
        assert_eq!((err.line, err.column), (Some(1), Some(8)));
    }
}
