//! The admin contract: what supervisors change live and every screen
//! follows — broadcast messages, saved layouts, and the audit of settings
//! changes (DESIGN.md "Settings, messages and layouts").
//!
//! The changes themselves travel as server-written events
//! ([`crate::EventKind::SettingsChanged`] and its siblings), journaled and
//! (in a cluster) streamed in order with the platform's events, so a
//! restart and every node agree. Senders cannot send them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::board::Window;

/// The longest message, in characters (not bytes: 280 Chinese characters
/// are 840 bytes).
pub const MAX_MESSAGE_CHARS: usize = 280;
/// The most messages shown at once.
pub const MAX_MESSAGES: usize = 20;
/// The most saved layouts.
pub const MAX_LAYOUTS: usize = 100;
/// The longest a message may stay up.
pub const MAX_MESSAGE_SECONDS: i64 = 7 * 86_400;
/// Audit entries kept (the newest).
pub const MAX_AUDIT: usize = 500;

/// How loud a broadcast message is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    /// Flashes once when it appears, and sounds where sound is on.
    Urgent,
}

impl Severity {
    pub const ALL: &'static [Severity] = <Severity as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A message on every screen until `until`. Plain text: screens never
/// render it as HTML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    /// The English (or only) text; may be empty when `text_zh` is not.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_zh: Option<String>,
    pub severity: Severity,
    #[serde(with = "crate::time::rfc3339")]
    pub since: Timestamp,
    #[serde(with = "crate::time::rfc3339")]
    pub until: Timestamp,
    /// The token name that posted it (in the admin API; not on the board).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
}

impl Message {
    /// The rules of a message's own fields: text ≤ 280 characters, plain
    /// (no control characters), some text in at least one language, and
    /// `until` after `since` by at most a week. The reason names the field.
    pub fn validate(&self) -> Result<(), String> {
        let text = |field: &str, value: &str| {
            let chars = value.chars().count();
            if chars > MAX_MESSAGE_CHARS {
                return Err(format!(
                    "field `{field}` is {chars} characters, more than {MAX_MESSAGE_CHARS}"
                ));
            }
            if value.chars().any(|c| c.is_control() && c != '\n') {
                return Err(format!(
                    "field `{field}` holds a control character (plain text only)"
                ));
            }
            Ok(())
        };
        text("text", &self.text)?;
        if let Some(zh) = &self.text_zh {
            text("text_zh", zh)?;
        }
        if self.text.trim().is_empty()
            && self.text_zh.as_deref().is_none_or(|t| t.trim().is_empty())
        {
            return Err("field `text`: a message needs `text` or `text_zh`".into());
        }
        let seconds = self.until.duration_since(self.since).as_secs();
        if seconds <= 0 {
            return Err(format!(
                "field `until` ({}) is not after now ({})",
                self.until, self.since
            ));
        }
        if seconds > MAX_MESSAGE_SECONDS {
            return Err(format!(
                "field `until` ({}) is more than 7 days away; a message stays up at most a week",
                self.until
            ));
        }
        Ok(())
    }
}

/// The pages a layout can show (the UI's `pages=`).
pub const LAYOUT_PAGES: &[&str] = &["overview", "queues", "agents"];
/// The themes a layout can choose.
pub const LAYOUT_THEMES: &[&str] = &["dark", "light"];
/// The languages a layout can choose.
pub const LAYOUT_LANGS: &[&str] = &["zh", "en"];

/// What a TV opened as `/?layout=NAME` shows. Every field is optional:
/// what a layout leaves out, the link (or the default) decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The pages to turn through (`overview`, `queues`, `agents`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    /// The KPI tiles, in order (KPI keys); empty: every tile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiles: Vec<String>,
    /// The queues shown; `None`: every queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

impl Layout {
    /// The rules serde cannot say; the reason names the field.
    pub fn validate(&self) -> Result<(), String> {
        let listed = |field: &str, values: &[String], known: &[&str]| {
            for (i, v) in values.iter().enumerate() {
                if !known.contains(&v.as_str()) {
                    return Err(format!(
                        "field `{field}[{i}]`: {v:?} is not one of {}",
                        known.join(", ")
                    ));
                }
                if values[..i].contains(v) {
                    return Err(format!("field `{field}[{i}]`: {v:?} is listed twice"));
                }
            }
            Ok(())
        };
        listed("pages", &self.pages, LAYOUT_PAGES)?;
        let kpis: Vec<&str> = crate::REGISTRY.iter().map(|s| s.name).collect();
        listed("tiles", &self.tiles, &kpis)?;
        if let Some(queues) = &self.queues {
            if queues.len() > crate::event::MAX_AGENT_QUEUES {
                return Err(format!(
                    "field `queues` lists {} queues, more than {}",
                    queues.len(),
                    crate::event::MAX_AGENT_QUEUES
                ));
            }
            for (i, q) in queues.iter().enumerate() {
                if q.is_empty() || q.len() > crate::event::MAX_ID_BYTES {
                    return Err(format!("field `queues[{i}]` must be 1..=128 bytes"));
                }
            }
        }
        if let Some(s) = self.rotate_seconds
            && !(3..=3600).contains(&s)
        {
            return Err(format!("field `rotate_seconds`: {s} is outside 3..=3600"));
        }
        if let Some(lang) = &self.lang {
            listed("lang", std::slice::from_ref(lang), LAYOUT_LANGS)
                .map_err(|e| e.replace("`lang[0]`", "`lang`"))?;
        }
        if let Some(theme) = &self.theme {
            listed("theme", std::slice::from_ref(theme), LAYOUT_THEMES)
                .map_err(|e| e.replace("`theme[0]`", "`theme`"))?;
        }
        Ok(())
    }
}

/// A layout's name: what goes in `?layout=` (letters, digits, `-`, `_`).
pub fn check_layout_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "layout name {name:?}: 1..=64 letters, digits, `-` or `_`"
        ));
    }
    Ok(())
}

/// One settings value changed: who, when, which, from what to what
/// (`null`: the config file's value, or none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(with = "crate::time::rfc3339")]
    pub at: Timestamp,
    pub by: String,
    /// The settings path, dotted (`queues.q1.targets.service_level`).
    pub path: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, seconds: i64) -> Message {
        let since: Timestamp = "2026-12-02T08:00:00Z".parse().unwrap();
        Message {
            id: "m1".into(),
            text: text.into(),
            text_zh: None,
            severity: Severity::Info,
            since,
            until: since + jiff::SignedDuration::from_secs(seconds),
            by: "local".into(),
        }
    }

    #[test]
    fn a_message_is_plain_text_of_at_most_280_characters_for_at_most_a_week() {
        assert!(message(&"话".repeat(280), 60).validate().is_ok());
        let long = message(&"话".repeat(281), 60).validate().unwrap_err();
        assert!(long.contains("`text` is 281 characters"), "{long}");
        let empty = message("  ", 60).validate().unwrap_err();
        assert!(empty.contains("`text`"), "{empty}");
        let control = message("a\u{7}b", 60).validate().unwrap_err();
        assert!(control.contains("control character"), "{control}");
        assert!(message("x", 0).validate().unwrap_err().contains("`until`"));
        let week = message("x", MAX_MESSAGE_SECONDS + 1)
            .validate()
            .unwrap_err();
        assert!(week.contains("7 days"), "{week}");
    }

    #[test]
    fn a_layout_names_known_pages_tiles_and_themes() {
        let good: Layout = serde_json::from_str(
            r#"{"pages":["overview","queues"],"tiles":["service_level","waiting_calls_placeholder"]}"#,
        )
        .unwrap();
        let e = good.validate().unwrap_err();
        assert!(e.contains("`tiles[1]`"), "{e}");
        let ok: Layout = serde_json::from_str(
            r#"{"pages":["agents"],"tiles":["service_level","abandon_rate"],"queues":["q1"],
                "rotate_seconds":10,"window":"15m","lang":"zh","theme":"light"}"#,
        )
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
        let theme = Layout {
            theme: Some("neon".into()),
            ..Layout::default()
        };
        assert!(theme.validate().unwrap_err().contains("`theme`"));
        let twice = Layout {
            pages: vec!["queues".into(), "queues".into()],
            ..Layout::default()
        };
        assert!(twice.validate().unwrap_err().contains("listed twice"));
        let unknown = serde_json::from_str::<Layout>(r#"{"colour":"red"}"#).unwrap_err();
        assert!(unknown.to_string().contains("colour"), "{unknown}");
        assert!(check_layout_name("lobby-1").is_ok());
        assert!(check_layout_name("a/b").is_err());
    }
}
