//! Broadcast messages: what a supervisor posted, on every screen (the
//! floor, a queue's TV, the agent strip) until the server drops it at its
//! `until`. Plain text, always: the text goes into text nodes, never into
//! HTML.

use std::cmp::Reverse;
use std::collections::HashSet;

use leptos::prelude::*;
use wallboard_protocol::{Message, Severity};

use crate::connection::Live;
use crate::i18n::Lang;
use crate::views::{Settings, beep};

/// How long an urgent message flashes when it first shows.
const FLASH_MS: f64 = 4000.0;

/// The text a message shows in `lang`: that language's if it has one,
/// else the other; with the language it is in.
pub fn message_text(message: &Message, lang: Lang) -> (Lang, &str) {
    let zh = message.text_zh.as_deref().unwrap_or("");
    let en = message.text.as_str();
    let (first, second) = match lang {
        Lang::Zh => ((Lang::Zh, zh), (Lang::En, en)),
        Lang::En => ((Lang::En, en), (Lang::Zh, zh)),
    };
    if first.1.trim().is_empty() {
        second
    } else {
        first
    }
}

/// A severity's i18n key and its mark (colour is never the only cue).
pub fn severity_label(severity: Severity) -> (&'static str, &'static str) {
    match severity {
        Severity::Info => ("msg_info", "ℹ"),
        Severity::Warning => ("msg_warning", "⚠"),
        Severity::Urgent => ("msg_urgent", "‼"),
    }
}

/// The messages in the order shown: the loudest first, then the oldest.
pub fn shown_order(messages: &[Message]) -> Vec<Message> {
    let mut list = messages.to_vec();
    list.sort_by_key(|m| (Reverse(m.severity), m.since));
    list
}

/// The banner: every message up now. An urgent one flashes once when it
/// first shows, and sounds where sound is on (not for those already up
/// when the screen started: a TV reloaded at night stays quiet).
#[component]
pub fn Messages(live: Live, settings: Settings) -> impl IntoView {
    let list = Memo::new(move |_| {
        live.board.with(|b| {
            b.as_ref()
                .map(|b| shown_order(&b.messages))
                .unwrap_or_default()
        })
    });
    // The ids seen so far (those gone are forgotten: a TV runs for weeks).
    let known = StoredValue::new(None::<HashSet<String>>);
    Effect::new(move |_| {
        let board_in = live.board.with(|b| b.is_some());
        let mut sound = false;
        list.with(|messages| {
            if !board_in {
                return;
            }
            known.update_value(|known| {
                let first = known.is_none();
                let known = known.get_or_insert_with(HashSet::new);
                for m in messages {
                    if known.insert(m.id.clone()) && !first && m.severity == Severity::Urgent {
                        sound = true;
                    }
                }
                known.retain(|id| messages.iter().any(|m| &m.id == id));
            });
        });
        if sound && settings.sound.get_untracked() {
            beep();
        }
    });
    let item = move |message: Message| {
        // A keyed list: each message's element is made once, when it shows.
        let shown_at = js_sys::Date::now();
        let severity = message.severity.as_str();
        let urgent = message.severity == Severity::Urgent;
        let (word, mark) = severity_label(message.severity);
        let text = StoredValue::new(message.clone());
        let picked = move || text.with_value(|m| message_text(m, settings.lang.get()).0);
        view! {
            <div
                class=format!("message {severity}")
                class:flash=move || urgent && live.now_ms.get() < shown_at + FLASH_MS
                data-message-id=message.id.clone()
                data-severity=severity
                role=urgent.then_some("alert")
            >
                <span class="message-mark" aria-hidden="true">{mark}</span>
                <span class="message-severity">{move || settings.lang.get().t(word)}</span>
                <span class="message-text" lang=move || picked().code()>
                    {move || {
                        text.with_value(|m| message_text(m, settings.lang.get()).1.to_string())
                    }}
                </span>
            </div>
        }
    };
    view! {
        <div
            class="messages"
            class:empty=move || list.with(Vec::is_empty)
            role="status"
            aria-live="polite"
        >
            <For each=move || list.get() key=|m| m.id.clone() children=item />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, text: &str, zh: Option<&str>, severity: Severity, at: i64) -> Message {
        let since = jiff::Timestamp::from_second(1_800_000_000 + at).unwrap();
        Message {
            id: id.into(),
            text: text.into(),
            text_zh: zh.map(str::to_string),
            severity,
            since,
            until: since + jiff::SignedDuration::from_secs(60),
            by: "local".into(),
        }
    }

    #[test]
    fn a_message_shows_in_the_screens_language_when_it_has_it() {
        let both = message("a", "Lunch at 12", Some("12 点午餐"), Severity::Info, 0);
        assert_eq!(message_text(&both, Lang::Zh), (Lang::Zh, "12 点午餐"));
        assert_eq!(message_text(&both, Lang::En), (Lang::En, "Lunch at 12"));
        let en = message("b", "Fire drill", None, Severity::Info, 0);
        assert_eq!(message_text(&en, Lang::Zh), (Lang::En, "Fire drill"));
        let zh = message("c", "", Some("系统维护"), Severity::Info, 0);
        assert_eq!(message_text(&zh, Lang::En), (Lang::Zh, "系统维护"));
        let blank_zh = message("d", "Hello", Some("  "), Severity::Info, 0);
        assert_eq!(message_text(&blank_zh, Lang::Zh), (Lang::En, "Hello"));
    }

    #[test]
    fn the_loudest_message_comes_first_then_the_oldest() {
        let list = [
            message("old-info", "a", None, Severity::Info, 0),
            message("warning", "b", None, Severity::Warning, 5),
            message("urgent", "c", None, Severity::Urgent, 9),
            message("new-info", "d", None, Severity::Info, 7),
        ];
        let ids: Vec<String> = shown_order(&list).into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["urgent", "warning", "old-info", "new-info"]);
    }
}
