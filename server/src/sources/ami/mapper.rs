//! From Asterisk `app_queue` manager events to our events: a pure state
//! machine (messages and the time in, events out), so transcripts test it
//! without a socket.
//!
//! - Callers: `QueueCallerJoin` → `contact_offered`; `AgentConnect` →
//!   `contact_answered`; `QueueCallerAbandon` → `contact_abandoned`;
//!   `AgentComplete` → `contact_ended`. A `QueueCallerLeave` with neither an
//!   answer nor an abandon within [`LEAVE_GRACE`] (a queue timeout, an exit
//!   key, `leavewhenempty`) is an unanswered offer: `contact_abandoned`.
//!   (Asterisk raises the leave just before `AgentConnect` on an answer.)
//! - Members (agents are queue members, keyed by `Interface`): their state
//!   is derived from everything known of them — in a queue call →
//!   `on_contact`; in the queue's wrap-up time after it → `wrap_up`; paused
//!   in every queue → `aux` with `PausedReason`; device unavailable or in no
//!   queue → `offline`; on a call outside the queues → `aux` "busy"; else
//!   `available` — and an `agent_state` goes out whenever that changes.
//! - Ids: `SOURCE/Uniqueid/what/queue/n` for callers (n counts the caller's
//!   joins), so a resync that lists a caller already seen repeats the id and
//!   the server drops it; member states from a resync carry the member's
//!   `LastPause`/`LastCall` for the same reason.
//! - Time: the `Timestamp` header when the PBX sends it
//!   (`timestampevents = yes` in manager.conf), else the time of receipt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use wallboard_protocol::{AgentState, Event, EventKind};

use super::parser::Message;

/// How long a caller who left a queue may still be answered (the leave
/// comes just before `AgentConnect`).
pub const LEAVE_GRACE: SignedDuration = SignedDuration::from_secs(3);

/// Asterisk device states (`Status` of a queue member).
mod device {
    pub const UNKNOWN: u8 = 0;
    pub const INVALID: u8 = 4;
    pub const UNAVAILABLE: u8 = 5;
    pub const RINGING: u8 = 6;
}

#[derive(Debug, Default)]
struct Member {
    name: Option<String>,
    /// Queue → paused there, with the reason.
    queues: BTreeMap<String, Option<Option<String>>>,
    /// Wrap-up time per queue, seconds.
    wrapup: BTreeMap<String, u64>,
    device: u8,
    /// The caller (Uniqueid) in a queue call with the member; `Some(None)`
    /// when a resync says "in a call" without naming it.
    in_call: Option<Option<String>>,
    wrap_until: Option<Timestamp>,
    /// The last state sent.
    sent: Option<(AgentState, Option<String>, Vec<String>)>,
    /// Listed by the resync under way.
    listed: bool,
}

#[derive(Debug)]
struct Caller {
    queue: String,
    /// Joins seen for this Uniqueid (a transfer back to a queue joins again).
    joins: u32,
    /// Left the queue (by the PBX's clock, and ours on receipt) with no
    /// answer or abandon yet.
    left: Option<(Timestamp, Timestamp)>,
    answered: bool,
    listed: bool,
}

/// What the mapper noticed besides events (for logs and metrics).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub messages: u64,
    /// Events it has no use for (there are hundreds of kinds).
    pub ignored: u64,
    pub rings: u64,
    pub ring_no_answer: u64,
}

pub struct Mapper {
    source: String,
    /// Wrap-up seconds per queue when members carry none of their own.
    wrapup: BTreeMap<String, u64>,
    members: HashMap<String, Member>,
    callers: HashMap<String, Caller>,
    resyncing: bool,
    pub counts: Counts,
}

fn field<'a>(m: &'a Message, key: &str) -> Option<&'a str> {
    m.get(key).map(str::trim).filter(|v| !v.is_empty())
}

fn number(m: &Message, key: &str) -> Option<u64> {
    field(m, key).and_then(|v| v.parse().ok())
}

fn flag(m: &Message, key: &str) -> bool {
    matches!(field(m, key), Some("1" | "true" | "yes" | "Yes" | "True"))
}

const DAY: u64 = 86_400;

/// `seconds` (a wait, a hold time) before `ts`, at most a day.
fn back(ts: Timestamp, seconds: Option<u64>) -> Timestamp {
    let s = seconds.unwrap_or(0).min(DAY) as i64;
    ts.checked_sub(SignedDuration::from_secs(s)).unwrap_or(ts)
}

fn unix(seconds: u64) -> Option<Timestamp> {
    (seconds > 0)
        .then(|| Timestamp::from_second(seconds as i64).ok())
        .flatten()
}

impl Mapper {
    pub fn new(source: &str, wrapup: BTreeMap<String, u64>) -> Mapper {
        Mapper {
            source: source.to_string(),
            wrapup,
            members: HashMap::new(),
            callers: HashMap::new(),
            resyncing: false,
            counts: Counts::default(),
        }
    }

    /// An id: the parts joined with `/`, the tail replaced by a hash if it
    /// would be too long.
    fn id(&self, parts: &[&str]) -> String {
        crate::sources::event_id(&self.source, parts)
    }

    fn contact(&self, uniqueid: &str) -> String {
        self.id(&[uniqueid])
    }

    /// The time of a message: its `Timestamp` header, else `now`.
    fn time_of(m: &Message, now: Timestamp) -> Timestamp {
        field(m, "Timestamp")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .and_then(|t| Timestamp::from_microsecond((t * 1e6).round() as i64).ok())
            .unwrap_or(now)
    }

    /// A resync begins: `QueueStatus` was sent; its `QueueMember` and
    /// `QueueEntry` lists follow, then `QueueStatusComplete`.
    pub fn resync_begin(&mut self) {
        self.resyncing = true;
        for m in self.members.values_mut() {
            m.listed = false;
        }
        for c in self.callers.values_mut() {
            c.listed = false;
        }
    }

    /// Events due by our clock alone: leaves heard long enough ago that
    /// were not answers, wrap-ups that ran out.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::new();
        self.flush(now, true, &mut out);
        out
    }

    /// `now` is the PBX's time (a message) or ours (`by_receipt`): a leave
    /// is settled once either clock is past it by the grace.
    fn flush(&mut self, now: Timestamp, by_receipt: bool, out: &mut Vec<Event>) {
        let mut gone: Vec<(String, Timestamp)> = self
            .callers
            .iter()
            .filter_map(|(id, c)| {
                let (at, heard) = c.left?;
                let since = if by_receipt { heard } else { at };
                (!c.answered && since.checked_add(LEAVE_GRACE).is_ok_and(|t| t <= now))
                    .then(|| (id.clone(), at))
            })
            .collect();
        gone.sort_by_key(|(_, t)| *t);
        for (uniqueid, at) in gone {
            if let Some(c) = self.callers.remove(&uniqueid) {
                let id = self.id(&[&uniqueid, "leave", &c.queue, &c.joins.to_string()]);
                out.push(Event {
                    id,
                    ts: at,
                    kind: EventKind::ContactAbandoned {
                        contact: self.contact(&uniqueid),
                    },
                });
            }
        }
        let mut due: Vec<(String, Timestamp)> = self
            .members
            .iter()
            .filter_map(|(k, m)| m.wrap_until.filter(|t| *t <= now).map(|t| (k.clone(), t)))
            .collect();
        due.sort_by_key(|(_, t)| *t);
        for (interface, at) in due {
            if let Some(m) = self.members.get_mut(&interface) {
                m.wrap_until = None;
            }
            self.emit_state(&interface, at, None, out);
        }
    }

    /// One message in, the events it makes out.
    pub fn on_message(&mut self, m: &Message, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::new();
        let Some(event) = m.event() else {
            return out;
        };
        self.counts.messages += 1;
        let ts = Self::time_of(m, now);
        self.flush(ts, false, &mut out);
        let queue = field(m, "Queue").map(str::to_string);
        let uniqueid = field(m, "Uniqueid").map(str::to_string);
        let interface = field(m, "Interface")
            .or_else(|| field(m, "Location"))
            .or_else(|| field(m, "StateInterface"))
            .map(str::to_string);
        match (event, queue, uniqueid, interface) {
            (
                "QueueCallerJoin" | "QueueEntry" | "QueueCallerLeave" | "QueueCallerAbandon",
                Some(q),
                Some(u),
                _,
            ) => self.on_caller(event, m, &q, &u, (ts, now), &mut out),
            ("AgentCalled", _, _, Some(_)) => self.counts.rings += 1,
            ("AgentRingNoAnswer", _, _, Some(_)) => self.counts.ring_no_answer += 1,
            ("AgentConnect", Some(q), Some(u), Some(i)) => {
                self.on_connect(m, &q, &u, &i, ts, &mut out)
            }
            ("AgentComplete", Some(q), Some(u), Some(i)) => {
                self.on_complete(m, &q, &u, &i, ts, &mut out)
            }
            ("QueueMemberStatus" | "QueueMemberAdded" | "QueueMember", Some(q), _, Some(i)) => {
                self.on_member_status(event == "QueueMember", m, q, &i, ts, &mut out)
            }
            ("QueueMemberPause" | "QueueMemberPaused", Some(q), _, Some(i)) => {
                let member = self.member(&i, m);
                let reason = field(m, "PausedReason")
                    .or_else(|| field(m, "Reason"))
                    .map(str::to_string);
                member.queues.insert(q, flag(m, "Paused").then_some(reason));
                self.emit_state(&i, ts, None, &mut out);
            }
            ("QueueMemberRemoved", Some(q), _, Some(i)) => {
                if let Some(member) = self.members.get_mut(&i) {
                    member.queues.remove(&q);
                    self.emit_state(&i, ts, None, &mut out);
                }
            }
            ("QueueStatusComplete", _, _, _) => self.resync_end(ts, &mut out),
            ("QueueParams", _, _, _) => {}
            _ => self.counts.ignored += 1,
        }
        out
    }

    /// A caller's place in queue `q`: joined, listed by a resync, left (the
    /// answer or the abandon that follows decides), abandoned. `(ts, now)`:
    /// the message's time and the time it was read.
    fn on_caller(
        &mut self,
        event: &str,
        m: &Message,
        q: &str,
        u: &str,
        (ts, now): (Timestamp, Timestamp),
        out: &mut Vec<Event>,
    ) {
        match event {
            "QueueCallerJoin" => self.join(u, q, ts, out),
            "QueueEntry" => {
                if let Some(c) = self.callers.get_mut(u) {
                    c.listed = true;
                } else {
                    let since = back(ts, number(m, "Wait"));
                    self.join(u, q, since, out);
                }
            }
            "QueueCallerLeave" => {
                if let Some(c) = self.callers.get_mut(u)
                    && !c.answered
                {
                    c.left = Some((ts, now));
                }
            }
            _ => {
                let c = self.known_caller(u, q, m, ts, out);
                if !c.answered {
                    let joins = c.joins.to_string();
                    self.callers.remove(u);
                    out.push(Event {
                        id: self.id(&[u, "abandon", q, &joins]),
                        ts,
                        kind: EventKind::ContactAbandoned {
                            contact: self.contact(u),
                        },
                    });
                }
            }
        }
    }

    /// Agent `i` answered caller `u` of queue `q`.
    fn on_connect(
        &mut self,
        m: &Message,
        q: &str,
        u: &str,
        i: &str,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let c = self.known_caller(u, q, m, ts, out);
        if c.answered {
            return;
        }
        c.answered = true;
        c.left = None;
        let joins = c.joins.to_string();
        let member = self.member(i, m);
        member.queues.entry(q.to_string()).or_insert(None);
        member.in_call = Some(Some(u.to_string()));
        member.wrap_until = None;
        self.emit_state(i, ts, None, out);
        out.push(Event {
            id: self.id(&[u, "connect", q, &joins]),
            ts,
            kind: EventKind::ContactAnswered {
                contact: self.contact(u),
                agent: i.to_string(),
            },
        });
    }

    /// Agent `i`'s call with caller `u` of queue `q` ended: the contact ends,
    /// the agent goes to wrap-up for the queue's (or their own) wrap-up time.
    fn on_complete(
        &mut self,
        m: &Message,
        q: &str,
        u: &str,
        i: &str,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let joins = self.callers.get(u).map(|c| c.joins).unwrap_or(1);
        // A caller unknown here was answered before a restart: the
        // server knows it from its journal.
        if self.callers.get(u).is_none_or(|c| c.answered) {
            self.callers.remove(u);
            out.push(Event {
                id: self.id(&[u, "complete", q, &joins.to_string()]),
                ts,
                kind: EventKind::ContactEnded {
                    contact: self.contact(u),
                    resolved: None,
                },
            });
        }
        let default_wrapup = self.wrapup.get(q).copied().unwrap_or(0);
        let member = self.member(i, m);
        if member
            .in_call
            .as_ref()
            .is_some_and(|c| c.as_deref() == Some(u) || c.is_none())
        {
            member.in_call = None;
        }
        let wrapup = member
            .wrapup
            .get(q)
            .copied()
            .filter(|w| *w > 0)
            .unwrap_or(default_wrapup);
        if wrapup > 0 {
            member.wrap_until = ts
                .checked_add(SignedDuration::from_secs(wrapup.min(DAY) as i64))
                .ok();
        }
        self.emit_state(i, ts, None, out);
    }

    /// A member's status in queue `q`: a change, an addition, or (`resync`)
    /// a `QueueMember` line of the status listing at connect.
    fn on_member_status(
        &mut self,
        resync: bool,
        m: &Message,
        q: String,
        i: &str,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let member = self.member(i, m);
        member.listed |= resync;
        if let Some(status) = number(m, "Status") {
            member.device = status.min(255) as u8;
        }
        if let Some(w) = number(m, "Wrapuptime") {
            member.wrapup.insert(q.clone(), w);
        }
        let paused = flag(m, "Paused").then(|| field(m, "PausedReason").map(str::to_string));
        member.queues.insert(q, paused);
        if m.get("InCall").is_some() {
            match (flag(m, "InCall"), &member.in_call) {
                (true, None) => member.in_call = Some(None),
                (false, Some(Some(caller))) if resync => {
                    // The call ended while we were away.
                    let caller = caller.clone();
                    member.in_call = None;
                    self.ended_while_away(&caller, ts, out);
                }
                (false, Some(None)) => member.in_call = None,
                _ => {}
            }
        }
        let since = resync.then(|| Self::resync_since(m)).flatten();
        let key = resync.then(|| {
            format!(
                "sync/{}/{}",
                number(m, "LastPause").unwrap_or(0),
                number(m, "LastCall").unwrap_or(0)
            )
        });
        self.emit_state(i, since.unwrap_or(ts), key.as_deref(), out);
    }

    /// When a member listed by a resync has been in its state since.
    fn resync_since(m: &Message) -> Option<Timestamp> {
        if flag(m, "InCall") {
            return None;
        }
        if flag(m, "Paused") {
            return number(m, "LastPause").and_then(unix);
        }
        let last = number(m, "LastCall")
            .unwrap_or(0)
            .max(number(m, "LastPause").unwrap_or(0));
        unix(last)
    }

    fn join(&mut self, uniqueid: &str, queue: &str, ts: Timestamp, out: &mut Vec<Event>) {
        let joins = self.callers.get(uniqueid).map_or(1, |c| c.joins + 1);
        self.callers.insert(
            uniqueid.to_string(),
            Caller {
                queue: queue.to_string(),
                joins,
                left: None,
                answered: false,
                listed: true,
            },
        );
        out.push(Event {
            id: self.id(&[uniqueid, "join", queue, &joins.to_string()]),
            ts,
            kind: EventKind::ContactOffered {
                contact: self.contact(uniqueid),
                queue: queue.to_string(),
                vip: None,
                channel: None,
            },
        });
    }

    /// The caller of an answer or abandon; one that joined before we were
    /// listening is joined now, `HoldTime` seconds back.
    fn known_caller(
        &mut self,
        uniqueid: &str,
        queue: &str,
        m: &Message,
        ts: Timestamp,
        out: &mut Vec<Event>,
    ) -> &mut Caller {
        if !self.callers.contains_key(uniqueid) {
            let since = back(ts, number(m, "HoldTime"));
            self.join(uniqueid, queue, since, out);
        }
        self.callers.get_mut(uniqueid).expect("joined above")
    }

    fn member(&mut self, interface: &str, m: &Message) -> &mut Member {
        let member = self.members.entry(interface.to_string()).or_default();
        // `MemberName` in events, `Name` in a `QueueStatus` list.
        if let Some(name) = field(m, "MemberName").or_else(|| field(m, "Name")) {
            member.name = Some(name.to_string());
        }
        member
    }

    fn ended_while_away(&mut self, caller: &str, ts: Timestamp, out: &mut Vec<Event>) {
        if let Some(c) = self.callers.remove(caller) {
            out.push(Event {
                id: self.id(&[caller, "gone-end", &c.queue, &c.joins.to_string()]),
                ts,
                kind: EventKind::ContactEnded {
                    contact: self.contact(caller),
                    resolved: None,
                },
            });
        }
    }

    /// The end of a resync: what was not listed is gone.
    fn resync_end(&mut self, ts: Timestamp, out: &mut Vec<Event>) {
        if !self.resyncing {
            return;
        }
        self.resyncing = false;
        let mut vanished: Vec<String> = self
            .callers
            .iter()
            .filter(|(_, c)| !c.listed && !c.answered)
            .map(|(id, _)| id.clone())
            .collect();
        vanished.sort();
        for uniqueid in vanished {
            // Left while we were away, answered or not: we cannot tell, and
            // counting it unanswered is the cautious choice.
            if let Some(c) = self.callers.remove(&uniqueid) {
                out.push(Event {
                    id: self.id(&[&uniqueid, "gone", &c.queue, &c.joins.to_string()]),
                    ts,
                    kind: EventKind::ContactAbandoned {
                        contact: self.contact(&uniqueid),
                    },
                });
            }
        }
        let mut unlisted: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| !m.listed && !m.queues.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        unlisted.sort();
        for interface in unlisted {
            if let Some(member) = self.members.get_mut(&interface) {
                member.queues.clear();
                if let Some(Some(caller)) = member.in_call.take() {
                    self.ended_while_away(&caller, ts, out);
                }
            }
            self.emit_state(&interface, ts, None, out);
        }
    }

    fn derive(m: &Member) -> (AgentState, Option<String>) {
        if m.queues.is_empty() || matches!(m.device, device::INVALID | device::UNAVAILABLE) {
            return (AgentState::Offline, None);
        }
        if m.in_call.is_some() {
            return (AgentState::OnContact, None);
        }
        if m.wrap_until.is_some() {
            return (AgentState::WrapUp, None);
        }
        if m.queues.values().all(Option::is_some) {
            let reason = m.queues.values().rev().find_map(|p| p.clone().flatten());
            return (
                AgentState::Aux,
                Some(reason.unwrap_or_else(|| "paused".into())),
            );
        }
        if !matches!(m.device, device::UNKNOWN | 1 | device::RINGING) {
            return (AgentState::Aux, Some("busy".into()));
        }
        (AgentState::Available, None)
    }

    /// Sends the member's state if it changed. `key` makes the id stable
    /// (resync), else the time does.
    fn emit_state(
        &mut self,
        interface: &str,
        ts: Timestamp,
        key: Option<&str>,
        out: &mut Vec<Event>,
    ) {
        let Some(member) = self.members.get(interface) else {
            return;
        };
        let (state, reason) = Self::derive(member);
        let queues: Vec<String> = member.queues.keys().cloned().collect();
        let now = (state, reason.clone(), queues.clone());
        if member.sent.as_ref() == Some(&now) {
            return;
        }
        let name = member.name.clone();
        let tail = key.map_or_else(|| ts.as_microsecond().to_string(), str::to_string);
        let id = self.id(&[
            interface,
            state.as_str(),
            reason.as_deref().unwrap_or(""),
            &tail,
        ]);
        if let Some(member) = self.members.get_mut(interface) {
            member.sent = Some(now);
        }
        out.push(Event {
            id,
            ts,
            kind: EventKind::AgentState {
                agent: interface.to_string(),
                state,
                reason,
                name,
                queues: Some(queues),
                capacity: None,
            },
        });
    }

    /// The queues seen so far (for logs).
    pub fn queues(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.queues.keys().cloned())
            .chain(self.callers.values().map(|c| c.queue.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Message {
        Message {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn now() -> Timestamp {
        "2026-11-23T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_leave_then_connect_is_an_answer_and_a_lone_leave_an_abandon() {
        let mut m = Mapper::new("pbx", BTreeMap::new());
        let t = |s: &str| ("Timestamp", s.to_string());
        let send = |m: &mut Mapper, event: &str, extra: &[(&str, &str)], ts: &str| {
            let mut h = vec![("Event", event.to_string()), t(ts)];
            h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            m.on_message(&message(&h), now())
        };
        let kinds = |events: &[Event]| -> Vec<&'static str> {
            events.iter().map(|e| e.kind.type_name()).collect()
        };
        let caller = [("Queue", "q"), ("Uniqueid", "1.1")];
        assert_eq!(
            kinds(&send(&mut m, "QueueCallerJoin", &caller, "100")),
            ["contact_offered"]
        );
        assert!(send(&mut m, "QueueCallerLeave", &caller, "110").is_empty());
        let connect = [("Queue", "q"), ("Uniqueid", "1.1"), ("Interface", "SIP/1")];
        assert_eq!(
            kinds(&send(&mut m, "AgentConnect", &connect, "110")),
            ["agent_state", "contact_answered"]
        );
        // A second caller leaves at a timeout: settled when the PBX's
        // time is past the grace, not before.
        let other = [("Queue", "q"), ("Uniqueid", "2.2")];
        send(&mut m, "QueueCallerJoin", &other, "120");
        send(&mut m, "QueueCallerLeave", &other, "150");
        assert!(send(&mut m, "Newexten", &[], "152").is_empty());
        let settled = send(&mut m, "Newexten", &[], "153");
        assert_eq!(kinds(&settled), ["contact_abandoned"]);
        assert_eq!(settled[0].ts, Timestamp::from_second(150).unwrap());
        assert_eq!(m.counts.ignored, 2);
    }

    #[test]
    fn garbage_never_panics_and_every_event_it_makes_is_valid() {
        let keys = [
            "Event",
            "Queue",
            "Uniqueid",
            "Interface",
            "MemberName",
            "Status",
            "Paused",
            "PausedReason",
            "InCall",
            "Wait",
            "HoldTime",
            "Timestamp",
            "Wrapuptime",
            "LastPause",
        ];
        let events = [
            "QueueCallerJoin",
            "QueueCallerLeave",
            "QueueCallerAbandon",
            "AgentConnect",
            "AgentComplete",
            "QueueMemberStatus",
            "QueueMemberPause",
            "QueueMemberAdded",
            "QueueMemberRemoved",
            "QueueMember",
            "QueueEntry",
            "QueueStatusComplete",
            "AgentCalled",
        ];
        let values = [
            "",
            "q",
            "1",
            "0",
            "-5",
            "9999999999999999999",
            "x",
            "1e300",
            "NaN",
            "5.5",
        ];
        let mut seed = 42u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut m = Mapper::new("pbx", BTreeMap::from([("q".to_string(), 5)]));
        m.resync_begin();
        for _ in 0..20_000 {
            let mut h = vec![("Event".to_string(), events[next(events.len())].to_string())];
            for _ in 0..next(6) {
                h.push((
                    keys[next(keys.len())].to_string(),
                    values[next(values.len())].to_string(),
                ));
            }
            for e in m.on_message(&Message { headers: h }, now()) {
                assert!(e.validate().is_ok(), "{e:?}");
            }
            for e in m.tick(now()) {
                assert!(e.validate().is_ok(), "{e:?}");
            }
        }
    }
}
