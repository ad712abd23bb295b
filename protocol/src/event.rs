//! The ingest contract: events a telephony platform sends us.
//!
//! An event is a JSON object tagged by `type`, with an `id` (unique per
//! source, so senders may retry) and a `ts` (RFC 3339 with offset). Unknown
//! fields are ignored; an unknown `type`, a missing or ill-typed field is a
//! deserialization error; [`Event::validate`] adds the rules serde cannot
//! express (id length, score ranges, …). Rules that need the server's state
//! (an answer for an unknown contact, an unknown complaint grade) are the
//! aggregator's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The longest `id` we accept, in bytes.
pub const MAX_ID_BYTES: usize = 128;

/// The most queues one agent may serve.
pub const MAX_AGENT_QUEUES: usize = 64;

/// The most contacts one agent may hold at once on one channel.
pub const MAX_SLOTS_PER_CHANNEL: u32 = 20;

/// One event, as received on any ingest path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per source; repeats are dropped by the server.
    pub id: String,
    /// When it happened, at the source. Every outcome is counted in the
    /// window that holds this time, not the time it reached us.
    pub ts: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. The tag is the JSON field `type`.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// An agent changed state. The only event that moves an agent.
    AgentState {
        agent: String,
        state: AgentState,
        /// Why, for `aux` (break, lunch, training…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Display name; sticks until another event names the agent anew.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The queues the agent serves; sticks until sent again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queues: Option<Vec<String>>,
        /// How many contacts the agent may hold at once, per channel
        /// (`{"chat": 3}`); sticks until sent again (`{}` clears it). An
        /// agent without one is not counted in any channel's occupancy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        capacity: Option<std::collections::BTreeMap<Channel, u32>>,
    },
    /// An inbound attempt reached the system (IVR); `blocked` = rejected
    /// (busy, trunk full).
    ContactArrived {
        contact: String,
        #[serde(default)]
        blocked: bool,
    },
    /// The contact starts waiting for an agent in `queue`.
    ContactOffered {
        contact: String,
        queue: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vip: Option<bool>,
        /// How the contact reaches us (default `voice`); it keeps the
        /// channel of its latest offer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
    },
    ContactAnswered {
        contact: String,
        agent: String,
    },
    ContactAbandoned {
        contact: String,
    },
    /// A waiting caller leaves the queue asking to be called back, keeping
    /// their place: counted as a callback, not an abandon. The callback is
    /// pending until the contact is offered again, answered or ended.
    ContactCallbackRequested {
        contact: String,
    },
    /// Talk ended; `resolved` is the disposition that feeds first-call
    /// resolution.
    ContactEnded {
        contact: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolved: Option<bool>,
    },
    /// A satisfaction survey; `score` out of `max` (default 100).
    SurveySubmitted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
        score: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// A complaint; due either from its `grade`'s deadline or explicit.
    ComplaintOpened {
        complaint: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grade: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<Timestamp>,
    },
    ComplaintAnswered {
        complaint: String,
    },
    /// Written by the server (the admin API), never by a sender: a merge
    /// patch of the live settings, applied in order with the events.
    SettingsChanged {
        by: String,
        patch: serde_json::Value,
    },
    /// Written by the server: a broadcast message goes up.
    MessagePosted {
        message: crate::admin::Message,
    },
    /// Written by the server: a broadcast message comes down early.
    MessageDeleted {
        by: String,
        message: String,
    },
    /// Written by the server: a saved layout is created or replaced.
    LayoutSaved {
        by: String,
        name: String,
        layout: Box<crate::admin::Layout>,
    },
    /// Written by the server: a saved layout is deleted.
    LayoutDeleted {
        by: String,
        name: String,
    },
}

/// How a contact reaches the centre.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Channel {
    #[default]
    Voice,
    Chat,
    Email,
    /// A callback the centre makes (offered to an agent as a contact).
    Callback,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The channel named `name` (config, settings, labels).
    pub fn parse(name: &str) -> Option<Channel> {
        name.parse().ok()
    }

    /// Every channel's name, for error messages.
    pub fn names() -> Vec<&'static str> {
        crate::kpis::names_of::<Self>()
    }
}

/// An agent's state. Occupancy counts `on_contact` and `wrap_up` against
/// `available + on_contact + wrap_up`; `aux` and `offline` are outside it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AgentState {
    Available,
    OnContact,
    WrapUp,
    Aux,
    Offline,
}

impl AgentState {
    /// Every state, in declaration order.
    pub const ALL: &'static [AgentState] = <AgentState as strum::VariantArray>::VARIANTS;

    /// The state as senders and the board write it (serde's name).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl EventKind {
    /// Every `type`, as senders write it (serde's tag names).
    pub const TYPE_NAMES: &'static [&'static str] = <EventKind as strum::VariantNames>::VARIANTS;

    /// The `type` tag, for messages and metrics.
    pub fn type_name(&self) -> &'static str {
        self.into()
    }

    /// The types only the server writes (admin changes): refused from
    /// senders.
    pub const SERVER_TYPE_NAMES: &'static [&'static str] = &[
        "settings_changed",
        "message_posted",
        "message_deleted",
        "layout_saved",
        "layout_deleted",
    ];

    /// Whether only the server writes this kind (an admin change).
    pub fn is_server_written(&self) -> bool {
        Self::SERVER_TYPE_NAMES.contains(&self.type_name())
    }
}

impl Event {
    /// Parses one event from JSON text and applies [`Event::validate`].
    /// The error is a reason fit for an ingest response.
    pub fn from_json(text: &str) -> Result<Event, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let event: Event = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let reason = strip_position(e.inner());
            // Name the field: where serde knows it, and inside the
            // type-tagged part (which serde reads as a whole) by finding
            // the one field whose absence changes the answer.
            if reason.contains(&format!("`{path}`")) {
                reason
            } else if path.is_empty() || path == "." {
                match culprit(text) {
                    Some(field) if !reason.contains(&format!("`{field}`")) => {
                        format!("field `{field}`: {reason}")
                    }
                    Some(_) => reason,
                    None if !known_type(text) => format!("field `type`: {reason}"),
                    None => reason,
                }
            } else {
                format!("field `{path}`: {reason}")
            }
        })?;
        de.end().map_err(|e| strip_position(&e))?;
        event.validate()?;
        Ok(event)
    }

    /// Rules serde cannot express. Returns a reason naming the field.
    pub fn validate(&self) -> Result<(), String> {
        check_id("id", &self.id)?;
        match &self.kind {
            EventKind::AgentState {
                agent,
                reason,
                name,
                queues,
                capacity,
                ..
            } => {
                check_id("agent", agent)?;
                if let Some(reason) = reason {
                    check_text("reason", reason)?;
                }
                if let Some(name) = name {
                    check_text("name", name)?;
                }
                if let Some(queues) = queues
                    && queues.len() > MAX_AGENT_QUEUES
                {
                    return Err(format!(
                        "field `queues` lists {} queues, more than {MAX_AGENT_QUEUES}",
                        queues.len()
                    ));
                }
                for queue in queues.iter().flatten() {
                    check_queue("queues[]", queue)?;
                }
                for (channel, slots) in capacity.iter().flatten() {
                    if *slots > MAX_SLOTS_PER_CHANNEL {
                        return Err(format!(
                            "field `capacity.{}`: {slots} slots, more than {MAX_SLOTS_PER_CHANNEL}",
                            channel.as_str()
                        ));
                    }
                }
            }
            EventKind::ContactArrived { contact, .. }
            | EventKind::ContactAbandoned { contact }
            | EventKind::ContactCallbackRequested { contact }
            | EventKind::ContactEnded { contact, .. } => check_id("contact", contact)?,
            EventKind::ContactOffered { contact, queue, .. } => {
                check_id("contact", contact)?;
                check_queue("queue", queue)?;
            }
            EventKind::ContactAnswered { contact, agent } => {
                check_id("contact", contact)?;
                check_id("agent", agent)?;
            }
            EventKind::SurveySubmitted {
                contact,
                queue,
                score,
                max,
            } => {
                if contact.is_none() && queue.is_none() {
                    return Err("survey_submitted needs `contact` or `queue`".into());
                }
                if let Some(contact) = contact {
                    check_id("contact", contact)?;
                }
                if let Some(queue) = queue {
                    check_queue("queue", queue)?;
                }
                let max = max.unwrap_or(100.0);
                if !max.is_finite() || max <= 0.0 {
                    return Err(format!("field `max` must be a positive number, got {max}"));
                }
                if !score.is_finite() || *score < 0.0 {
                    return Err(format!("field `score` must be 0 or more, got {score}"));
                }
                if *score > max {
                    return Err(format!("field `score` ({score}) is above `max` ({max})"));
                }
            }
            EventKind::ComplaintOpened {
                complaint,
                queue,
                grade,
                due,
            } => {
                check_id("complaint", complaint)?;
                if let Some(queue) = queue {
                    check_queue("queue", queue)?;
                }
                match (grade, due) {
                    (None, None) => {
                        return Err("complaint_opened needs `grade` or `due`".into());
                    }
                    (Some(grade), _) => check_id("grade", grade)?,
                    _ => {}
                }
                if let Some(due) = due
                    && *due < self.ts
                {
                    return Err(format!("field `due` ({due}) is before `ts` ({})", self.ts));
                }
            }
            EventKind::ComplaintAnswered { complaint } => check_id("complaint", complaint)?,
            kind @ (EventKind::SettingsChanged { .. }
            | EventKind::MessagePosted { .. }
            | EventKind::MessageDeleted { .. }
            | EventKind::LayoutSaved { .. }
            | EventKind::LayoutDeleted { .. }) => {
                return Err(format!(
                    "field `type`: `{}` is written by the server's admin API, not accepted from senders",
                    kind.type_name()
                ));
            }
        }
        Ok(())
    }

    /// The satisfaction points (0–100) of a survey event.
    pub fn survey_points(score: f64, max: Option<f64>) -> f64 {
        score / max.unwrap_or(100.0) * 100.0
    }
}

/// The field of the type-tagged part of an event object that makes it
/// unreadable (`id` and `ts` are read apart, with their paths): an
/// optional one whose removal lets it parse, else a required one whose
/// removal leaves only that field missing. Only called on the error path.
fn culprit(text: &str) -> Option<String> {
    let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else {
        return None;
    };
    let without = |key: &str| {
        let mut rest = object.clone();
        rest.remove(key);
        serde_json::from_value::<Event>(serde_json::Value::Object(rest))
    };
    let candidates = || {
        object
            .keys()
            .filter(|k| !matches!(k.as_str(), "id" | "ts" | "type"))
    };
    candidates()
        .find(|key| without(key).is_ok())
        .or_else(|| {
            candidates().find(|key| {
                without(key)
                    .is_err_and(|e| e.to_string().starts_with(&format!("missing field `{key}`")))
            })
        })
        .cloned()
}

/// Whether an event object's `type` is one this version knows.
fn known_type(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .is_some_and(|t| EventKind::TYPE_NAMES.contains(&t.as_str()))
}

/// The queue id that stands for all queues (metrics label `queue="all"`).
pub const ALL_QUEUES: &str = "all";

fn check_queue(field: &str, value: &str) -> Result<(), String> {
    if value == ALL_QUEUES {
        return Err(format!(
            "field `{field}`: \"{ALL_QUEUES}\" is reserved for the totals; name the queue otherwise"
        ));
    }
    check_id(field, value)
}

/// Identifiers: non-empty, at most [`MAX_ID_BYTES`], no control characters.
fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("field `{field}` is empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(format!(
            "field `{field}` is {} bytes, more than {MAX_ID_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("field `{field}` contains control characters"));
    }
    Ok(())
}

/// Free text shown on the board (names, reasons): bounded so one event
/// cannot bloat every viewer's board.
pub const MAX_TEXT_BYTES: usize = 256;

fn check_text(field: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "field `{field}` is {} bytes, more than {MAX_TEXT_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("field `{field}` contains control characters"));
    }
    Ok(())
}

/// A serde_json error without the " at line L column C" it appends: inside
/// one event the position only repeats what the event's index says, and
/// for a whole body the caller reports line and column as fields.
pub fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_cannot_send_the_servers_admin_changes() {
        for name in EventKind::SERVER_TYPE_NAMES {
            assert!(EventKind::TYPE_NAMES.contains(name), "{name}");
        }
        let texts = [
            r#"{"id":"x","ts":"2026-12-02T08:00:00Z","type":"settings_changed","by":"me","patch":{"warn_band":0.1}}"#,
            r#"{"id":"x","ts":"2026-12-02T08:00:00Z","type":"layout_deleted","by":"me","name":"lobby"}"#,
        ];
        for text in texts {
            let error = Event::from_json(text).unwrap_err();
            assert!(
                error.contains("field `type`") && error.contains("admin API"),
                "{error}"
            );
        }
        let agent = Event::from_json(
            r#"{"id":"x","ts":"2026-12-02T08:00:00Z","type":"agent_state","agent":"a","state":"aux"}"#,
        )
        .unwrap();
        assert!(!agent.kind.is_server_written());
    }

    /// The names serde reads (which its error for an unknown one lists)
    /// are the names strum derives: one spelling of every name.
    #[test]
    fn the_derived_names_are_serdes() {
        let expected = |error: String| -> Vec<String> {
            let list = error
                .split("expected one of ")
                .nth(1)
                .unwrap_or_else(|| panic!("{error}"));
            list.split(", ")
                .map(|n| n.trim_matches(|c: char| c == '`' || !c.is_ascii_graphic()))
                .map(|n| n.split('`').next().unwrap().to_string())
                .collect()
        };
        let kinds = serde_json::from_str::<EventKind>(r#"{"type":"nope"}"#).unwrap_err();
        assert_eq!(expected(kinds.to_string()), EventKind::TYPE_NAMES);
        let states = serde_json::from_str::<AgentState>(r#""nope""#).unwrap_err();
        let names: Vec<&str> = AgentState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(expected(states.to_string()), names);
        for state in AgentState::ALL {
            assert_eq!(
                serde_json::to_string(state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
    }

    #[test]
    fn parses_every_type_and_ignores_unknown_fields() {
        let lines = [
            r#"{"id":"1","ts":"2026-11-23T09:00:00+08:00","type":"agent_state","agent":"a1","state":"aux","reason":"lunch","extra":1}"#,
            r#"{"id":"2","ts":"2026-11-23T09:00:00Z","type":"contact_arrived","contact":"c1"}"#,
            r#"{"id":"3","ts":"2026-11-23T09:00:00Z","type":"contact_offered","contact":"c1","queue":"q","vip":true}"#,
            r#"{"id":"4","ts":"2026-11-23T09:00:00Z","type":"contact_answered","contact":"c1","agent":"a1"}"#,
            r#"{"id":"5","ts":"2026-11-23T09:00:00Z","type":"contact_abandoned","contact":"c1"}"#,
            r#"{"id":"6","ts":"2026-11-23T09:00:00Z","type":"contact_ended","contact":"c1","resolved":false}"#,
            r#"{"id":"7","ts":"2026-11-23T09:00:00Z","type":"survey_submitted","queue":"q","score":4,"max":5}"#,
            r#"{"id":"8","ts":"2026-11-23T09:00:00Z","type":"complaint_opened","complaint":"k","grade":"urgent"}"#,
            r#"{"id":"9","ts":"2026-11-23T09:00:00Z","type":"complaint_answered","complaint":"k"}"#,
        ];
        for line in lines {
            let event = Event::from_json(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let back = serde_json::to_string(&event).unwrap();
            assert_eq!(Event::from_json(&back).unwrap(), event);
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            (
                r#"{"id":"q","ts":"2026-11-23T09:00:00Z","type":"contact_offered","contact":"c","queue":"all"}"#,
                "reserved for the totals",
            ),
            (
                r#"{"id":"q","ts":"2026-11-23T09:00:00Z","type":"agent_state","agent":"a","state":"available","queues":["q1","all"]}"#,
                "`queues[]`: \"all\" is reserved",
            ),
            (
                r#"{"ts":"2026-11-23T09:00:00Z","type":"contact_abandoned","contact":"c"}"#,
                "missing field `id`",
            ),
            (
                r#"{"id":"1","type":"contact_abandoned","contact":"c"}"#,
                "missing field `ts`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00","type":"contact_abandoned","contact":"c"}"#,
                "offset",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"teleport","contact":"c"}"#,
                "unknown variant `teleport`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","contact":"c"}"#,
                "missing field `type`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"contact_abandoned","contact":7}"#,
                "invalid type",
            ),
            (
                r#"{"id":"","ts":"2026-11-23T09:00:00Z","type":"contact_abandoned","contact":"c"}"#,
                "field `id` is empty",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"survey_submitted","queue":"q","score":-1}"#,
                "0 or more",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"survey_submitted","queue":"q","score":6,"max":5}"#,
                "above `max`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"survey_submitted","score":6}"#,
                "needs `contact` or `queue`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"complaint_opened","complaint":"k"}"#,
                "needs `grade` or `due`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"complaint_opened","complaint":"k","due":"2026-11-23T08:00:00Z"}"#,
                "before `ts`",
            ),
            (
                r#"{"id":"1","ts":"2026-11-23T09:00:00Z","type":"agent_state","agent":"a","state":"asleep"}"#,
                "unknown variant `asleep`",
            ),
        ];
        for (line, want) in cases {
            let err = Event::from_json(line).expect_err(line);
            assert!(err.contains(want), "{line}: got {err:?}, want {want:?}");
        }
        let long = format!(
            r#"{{"id":"{}","ts":"2026-11-23T09:00:00Z","type":"contact_abandoned","contact":"c"}}"#,
            "x".repeat(129)
        );
        assert!(
            Event::from_json(&long)
                .unwrap_err()
                .contains("more than 128")
        );
    }

    #[test]
    fn survey_points_scale_to_100() {
        assert_eq!(Event::survey_points(4.0, Some(5.0)), 80.0);
        assert_eq!(Event::survey_points(90.0, None), 90.0);
    }
}

#[cfg(test)]
mod field_errors {
    use super::*;

    #[test]
    fn a_wrong_type_names_its_field() {
        let ts = Event::from_json(
            r#"{"id":"a","ts":5,"type":"contact_offered","contact":"c","queue":"q"}"#,
        )
        .unwrap_err();
        assert!(ts.contains("`ts`"), "{ts}");
        let score = Event::from_json(
            r#"{"id":"a","ts":"2026-11-23T10:00:00Z","type":"survey_submitted","score":"x"}"#,
        )
        .unwrap_err();
        assert!(score.contains("invalid type"), "{score}");
        let trailing = Event::from_json(
            r#"{"id":"a","ts":"2026-11-23T10:00:00Z","type":"contact_abandoned","contact":"c"} x"#,
        )
        .unwrap_err();
        assert!(trailing.contains("trailing"), "{trailing}");
    }
}
