//! The streaming contract (`GET /ws`): a snapshot, then RFC 7386 JSON merge
//! patches, each numbered; and the one client that applies them, shared by
//! the frontend, the tests and the benchmarks so "apply patches" is written
//! once.
//!
//! Merge patches cannot carry a `null` value (it means "remove"): a key the
//! server's board holds as `null` is absent from the client's copy. Readers
//! treat a missing key as `null`; [`without_nulls`] puts the server's JSON in
//! the same form for comparisons.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A message from the server on the board stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    /// The whole board of the view; restarts the sequence.
    Snapshot { seq: u64, board: Value },
    /// Changes since message `seq - 1`, as an RFC 7386 merge patch.
    Patch { seq: u64, patch: Value },
}

/// The merge patch that turns `old` into `new` (RFC 7386), or `None` when
/// they are equal. Keys whose new value is `null` are removed.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, new_value) in new {
                match old.get(key) {
                    Some(old_value) if new_value.is_object() && old_value.is_object() => {
                        if let Some(inner) = merge_diff(old_value, new_value) {
                            patch.insert(key.clone(), inner);
                        }
                    }
                    Some(old_value) if old_value == new_value => {}
                    None if new_value.is_null() => {}
                    _ => {
                        patch.insert(key.clone(), without_nulls(new_value.clone()));
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) && !old[key].is_null() {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ if old == new => None,
        _ => Some(without_nulls(new.clone())),
    }
}

/// Applies an RFC 7386 merge patch in place.
pub fn merge_apply(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// `value` with every `null` member of an object removed, recursively: the
/// form a board takes on a client that applied merge patches.
pub fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Why a client must reconnect (and will get a fresh snapshot).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamError {
    /// Not a stream message.
    Malformed(String),
    /// A patch before any snapshot.
    NoSnapshot,
    /// A message was missed: expected `expected`, got `got`.
    Gap { expected: u64, got: u64 },
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Malformed(e) => write!(f, "malformed stream message: {e}"),
            StreamError::NoSnapshot => write!(f, "patch before snapshot"),
            StreamError::Gap { expected, got } => {
                write!(f, "missed a message: expected seq {expected}, got {got}")
            }
        }
    }
}

impl std::error::Error for StreamError {}

/// A client's copy of the board: a snapshot with every patch applied, in
/// order, with no gap.
#[derive(Debug, Default, Clone)]
pub struct BoardClient {
    board: Option<Value>,
    seq: Option<u64>,
}

impl BoardClient {
    pub fn new() -> BoardClient {
        BoardClient::default()
    }

    /// Applies one message (its JSON text). On `Err` the copy is no longer
    /// trustworthy: reconnect, which brings a fresh snapshot.
    pub fn apply_text(&mut self, text: &str) -> Result<u64, StreamError> {
        let message: StreamMessage =
            serde_json::from_str(text).map_err(|e| StreamError::Malformed(e.to_string()))?;
        self.apply(message)
    }

    /// Applies one message; returns its `seq`.
    pub fn apply(&mut self, message: StreamMessage) -> Result<u64, StreamError> {
        match message {
            StreamMessage::Snapshot { seq, board } => {
                self.board = Some(without_nulls(board));
                self.seq = Some(seq);
                Ok(seq)
            }
            StreamMessage::Patch { seq, patch } => {
                let (Some(board), Some(last)) = (self.board.as_mut(), self.seq) else {
                    return Err(StreamError::NoSnapshot);
                };
                if seq != last + 1 {
                    self.board = None;
                    self.seq = None;
                    return Err(StreamError::Gap {
                        expected: last + 1,
                        got: seq,
                    });
                }
                merge_apply(board, &patch);
                self.seq = Some(seq);
                Ok(seq)
            }
        }
    }

    /// The board as the client holds it (no `null` members).
    pub fn board(&self) -> Option<&Value> {
        self.board.as_ref()
    }

    /// The board as typed data (missing keys read as `null`/defaults).
    pub fn typed(&self) -> Option<Result<crate::Board, String>> {
        self.board
            .as_ref()
            .map(|b| serde_json::from_value(b.clone()).map_err(|e| e.to_string()))
    }

    pub fn seq(&self) -> Option<u64> {
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_then_apply_gives_the_new_document() {
        let cases = [
            (
                json!({"a": 1, "b": {"c": 2, "d": 3}}),
                json!({"a": 1, "b": {"c": 5, "d": 3}}),
            ),
            (json!({"a": 1, "b": {"c": 2}}), json!({"a": 1})),
            (json!({"a": 1}), json!({"a": 1, "b": {"c": [1, 2]}})),
            (json!({"v": 0.5}), json!({"v": null})),
            (json!({"v": null}), json!({"v": 0.5})),
            (json!({"l": [1, 2]}), json!({"l": [2]})),
            (json!({"o": {"x": 1}}), json!({"o": 7})),
            (json!({"o": 7}), json!({"o": {"x": null, "y": 1}})),
        ];
        for (old, new) in cases {
            let mut doc = without_nulls(old.clone());
            if let Some(patch) = merge_diff(&old, &new) {
                merge_apply(&mut doc, &patch);
            }
            assert_eq!(doc, without_nulls(new.clone()), "{old} → {new}");
        }
        assert_eq!(merge_diff(&json!({"a": [1]}), &json!({"a": [1]})), None);
        assert_eq!(
            merge_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3})),
            Some(json!({"b": 3}))
        );
    }

    #[test]
    fn the_client_applies_in_order_and_detects_gaps() {
        let mut client = BoardClient::new();
        assert_eq!(
            client.apply_text(r#"{"type":"patch","seq":1,"patch":{}}"#),
            Err(StreamError::NoSnapshot)
        );
        client
            .apply_text(r#"{"type":"snapshot","seq":4,"board":{"a":1,"n":null}}"#)
            .unwrap();
        assert_eq!(client.board(), Some(&json!({"a": 1})));
        client
            .apply_text(r#"{"type":"patch","seq":5,"patch":{"a":2,"b":{"c":3}}}"#)
            .unwrap();
        assert_eq!(client.board(), Some(&json!({"a": 2, "b": {"c": 3}})));
        assert_eq!(
            client.apply_text(r#"{"type":"patch","seq":7,"patch":{"a":3}}"#),
            Err(StreamError::Gap {
                expected: 6,
                got: 7
            })
        );
        assert_eq!(client.board(), None, "a gap invalidates the copy");
        assert!(matches!(
            client.apply_text("nonsense"),
            Err(StreamError::Malformed(_))
        ));
    }
}
