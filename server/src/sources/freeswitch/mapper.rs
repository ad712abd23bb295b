//! From FreeSWITCH `mod_callcenter` events (`CUSTOM callcenter::info`) to
//! our events: a pure state machine (events and the time in, events out),
//! so transcripts test it without a socket.
//!
//! - Callers, keyed by `CC-Member-UUID` (stable for the caller's whole
//!   stay in the queue): `member-queue-start` / `-resume` →
//!   `contact_offered`; `bridge-agent-start` (the agent answered) →
//!   `contact_answered`; `bridge-agent-end` → `contact_ended`;
//!   `member-queue-end` with `CC-Cause: Cancel` (timeout, no agent, exit
//!   key, or the caller hung up: `BREAK_OUT`) before an answer →
//!   `contact_abandoned`.
//! - Agents: their state is derived from what is known of them — status
//!   `Logged Out` → `offline`; `On Break` → `aux` "On Break"; in a queue
//!   call → `on_contact`; within their `wrap_up_time` after one →
//!   `wrap_up` (the module has no wrap-up event; it only holds offers back);
//!   else `available` — and an `agent_state` goes out whenever that changes.
//!   Statuses compare case-insensitively (the module echoes what was set).
//! - Ids: `SOURCE/member-uuid/what` for callers, `SOURCE/agent/state/µs`
//!   for agents, so a repeated event (a resync, a reconnect) repeats its id
//!   and the server drops it.
//! - Time: `Event-Date-Timestamp` (microseconds), else the time of receipt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use wallboard_protocol::{AgentState, Event, EventKind};

use super::parser::Event as EslEvent;
use crate::sources::event_id;

/// The most callers and agents remembered (a caller is forgotten when its
/// call ends or it leaves).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Default)]
struct Agent {
    /// `agent-status-change`, lower-cased.
    status: Option<String>,
    in_call: bool,
    wrap_seconds: u64,
    wrap_until: Option<Timestamp>,
    queues: BTreeSet<String>,
    sent: Option<(AgentState, BTreeSet<String>)>,
}

#[derive(Debug)]
struct Caller {
    answered: bool,
}

#[derive(Debug)]
pub struct Mapper {
    source: String,
    agents: BTreeMap<String, Agent>,
    callers: HashMap<String, Caller>,
}

fn field<'a>(e: &'a EslEvent, key: &str) -> Option<&'a str> {
    e.get(key).map(str::trim).filter(|v| !v.is_empty())
}

impl Mapper {
    pub fn new(source: &str) -> Mapper {
        Mapper {
            source: source.to_string(),
            agents: BTreeMap::new(),
            callers: HashMap::new(),
        }
    }

    /// The time of an event: `Event-Date-Timestamp`, else `now`.
    fn time_of(e: &EslEvent, now: Timestamp) -> Timestamp {
        field(e, "Event-Date-Timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| *t > 0)
            .and_then(|t| Timestamp::from_microsecond(t).ok())
            .unwrap_or(now)
    }

    /// One event from the socket; anything but `callcenter::info` is ignored.
    pub fn on_event(&mut self, e: &EslEvent, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::new();
        if field(e, "Event-Subclass") != Some("callcenter::info") {
            return out;
        }
        let ts = Self::time_of(e, now);
        let member = field(e, "CC-Member-UUID");
        let agent = field(e, "CC-Agent");
        match field(e, "CC-Action") {
            Some("agent-status-change") => {
                if let (Some(agent), Some(status)) = (agent, field(e, "CC-Agent-Status")) {
                    self.agent(agent).status = Some(status.to_ascii_lowercase());
                    self.emit_state(agent, ts, &mut out);
                }
            }
            Some("agent-state-change") => {
                if let (Some(agent), Some(state)) = (agent, field(e, "CC-Agent-State")) {
                    let a = self.agent(agent);
                    match state.to_ascii_lowercase().as_str() {
                        "in a queue call" => a.in_call = true,
                        "waiting" | "idle" => a.in_call = false,
                        _ => {}
                    }
                    self.emit_state(agent, ts, &mut out);
                }
            }
            Some("member-queue-start" | "member-queue-resume") => {
                if let (Some(member), Some(queue)) = (member, field(e, "CC-Queue")) {
                    if self.callers.len() < MAX_TRACKED {
                        self.callers
                            .insert(member.to_string(), Caller { answered: false });
                    }
                    let at = ts.as_second().to_string();
                    out.push(Event {
                        id: event_id(&self.source, &[member, "offered", &at]),
                        ts,
                        kind: EventKind::ContactOffered {
                            contact: self.contact(member),
                            queue: queue.to_string(),
                            vip: None,
                            channel: None,
                        },
                    });
                }
            }
            Some("bridge-agent-start") => {
                if let (Some(member), Some(agent)) = (member, agent) {
                    if let Some(c) = self.callers.get_mut(member) {
                        c.answered = true;
                    }
                    if let Some(queue) = field(e, "CC-Queue") {
                        self.agent(agent).queues.insert(queue.to_string());
                    }
                    out.push(Event {
                        id: event_id(&self.source, &[member, "answered"]),
                        ts,
                        kind: EventKind::ContactAnswered {
                            contact: self.contact(member),
                            agent: agent.to_string(),
                        },
                    });
                    self.agent(agent).in_call = true;
                    self.emit_state(agent, ts, &mut out);
                }
            }
            Some("bridge-agent-end") => {
                if let (Some(member), Some(agent)) = (member, agent) {
                    let bridged = field(e, "CC-Agent-Bridged") != Some("false");
                    if bridged {
                        out.push(Event {
                            id: event_id(&self.source, &[member, "ended"]),
                            ts,
                            kind: EventKind::ContactEnded {
                                contact: self.contact(member),
                                resolved: None,
                            },
                        });
                    }
                    self.callers.remove(member);
                    let a = self.agent(agent);
                    a.in_call = false;
                    a.wrap_until = (a.wrap_seconds > 0)
                        .then(|| ts.checked_add(SignedDuration::from_secs(a.wrap_seconds as i64)))
                        .and_then(Result::ok);
                    self.emit_state(agent, ts, &mut out);
                }
            }
            Some("member-queue-end") => {
                if let Some(member) = member
                    && field(e, "CC-Cause").is_some_and(|c| c.eq_ignore_ascii_case("cancel"))
                    && self.callers.remove(member).is_none_or(|c| !c.answered)
                {
                    out.push(Event {
                        id: event_id(&self.source, &[member, "abandoned"]),
                        ts,
                        kind: EventKind::ContactAbandoned {
                            contact: self.contact(member),
                        },
                    });
                }
            }
            _ => {}
        }
        out
    }

    /// Wrap-ups that ran out by `now`: their agents are available again.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::new();
        let due: Vec<(String, Timestamp)> = self
            .agents
            .iter()
            .filter_map(|(id, a)| a.wrap_until.filter(|t| *t <= now).map(|t| (id.clone(), t)))
            .collect();
        for (id, until) in due {
            if let Some(a) = self.agents.get_mut(&id) {
                a.wrap_until = None;
            }
            self.emit_state(&id, until, &mut out);
        }
        out
    }

    /// An agent's wrap-up time, from `callcenter_config agent list`.
    pub fn set_wrap_up(&mut self, agent: &str, seconds: u64) {
        self.agent(agent).wrap_seconds = seconds.min(3600);
    }

    fn contact(&self, member: &str) -> String {
        event_id(&self.source, &[member])
    }

    fn agent(&mut self, id: &str) -> &mut Agent {
        if !self.agents.contains_key(id) && self.agents.len() >= MAX_TRACKED {
            // Bounded: an unseen agent past the limit lands in a scratch slot.
            return self.agents.entry(String::new()).or_default();
        }
        self.agents.entry(id.to_string()).or_default()
    }

    fn derive(a: &Agent) -> Option<(AgentState, Option<String>)> {
        let status = a.status.as_deref();
        Some(match status {
            Some("logged out") => (AgentState::Offline, None),
            Some("on break") => (AgentState::Aux, Some("On Break".to_string())),
            _ if a.in_call => (AgentState::OnContact, None),
            _ if a.wrap_until.is_some() => (AgentState::WrapUp, None),
            Some("available" | "available (on demand)") => (AgentState::Available, None),
            // Not known yet: a call says it works.
            _ => return None,
        })
    }

    fn emit_state(&mut self, id: &str, ts: Timestamp, out: &mut Vec<Event>) {
        if id.is_empty() {
            return;
        }
        let Some(a) = self.agents.get(id) else {
            return;
        };
        let Some((state, reason)) = Self::derive(a) else {
            return;
        };
        if a.sent.as_ref() == Some(&(state, a.queues.clone())) {
            return;
        }
        let sent = (state, a.queues.clone());
        let queues = (!a.queues.is_empty()).then(|| a.queues.iter().cloned().collect());
        let micros = ts.as_microsecond().to_string();
        let listed = a.queues.iter().cloned().collect::<Vec<_>>().join(",");
        out.push(Event {
            id: event_id(
                &self.source,
                &["agent", id, state.as_str(), &micros, &listed],
            ),
            ts,
            kind: EventKind::AgentState {
                agent: id.to_string(),
                state,
                reason,
                name: None,
                queues,
                capacity: None,
            },
        });
        if let Some(a) = self.agents.get_mut(id) {
            a.sent = Some(sent);
        }
    }

    /// `callcenter_config agent list` read at connect: each agent's status,
    /// state and wrap-up time, as of its `last_status_change` (so a list
    /// read again repeats the same ids).
    pub fn resync_agents(
        &mut self,
        rows: &[BTreeMap<String, String>],
        now: Timestamp,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        for row in rows {
            let Some(agent) = row.get("name").map(|n| n.trim()).filter(|n| !n.is_empty()) else {
                continue;
            };
            let number = |key: &str| row.get(key).and_then(|v| v.trim().parse::<i64>().ok());
            let a = self.agent(agent);
            if let Some(status) = row.get("status") {
                a.status = Some(status.trim().to_ascii_lowercase());
            }
            if let Some(state) = row.get("state") {
                a.in_call = state.trim().eq_ignore_ascii_case("in a queue call");
            }
            if let Some(wrap) = number("wrap_up_time") {
                a.wrap_seconds = wrap.clamp(0, 3600) as u64;
            }
            let ts = number("last_status_change")
                .filter(|t| *t > 0)
                .and_then(|t| Timestamp::from_second(t).ok())
                .filter(|t| *t <= now)
                .unwrap_or(now);
            self.emit_state(agent, ts, &mut out);
        }
        out
    }

    /// `callcenter_config tier list` read at connect: the queues each agent
    /// serves (an agent whose queues changed is sent again).
    pub fn resync_tiers(
        &mut self,
        rows: &[BTreeMap<String, String>],
        now: Timestamp,
    ) -> Vec<Event> {
        let mut tiers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in rows {
            if let (Some(queue), Some(agent)) = (row.get("queue"), row.get("agent")) {
                tiers
                    .entry(agent.trim().to_string())
                    .or_default()
                    .insert(queue.trim().to_string());
            }
        }
        let mut out = Vec::new();
        for (agent, queues) in tiers {
            if agent.is_empty() {
                continue;
            }
            self.agent(&agent).queues = queues;
            self.emit_state(&agent, now, &mut out);
        }
        out
    }
}

/// A `callcenter_config … list` reply: a `|`-separated header line, a row
/// per line, then `+OK`; rows by column name (none when the reply is only
/// `+OK` or an error).
pub fn table(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next().filter(|h| h.contains('|')) else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split('|').map(str::trim).collect();
    lines
        .take_while(|l| l.trim() != "+OK")
        .map(|line| {
            columns
                .iter()
                .zip(line.split('|'))
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(headers: &[(&str, &str)]) -> EslEvent {
        let mut all = vec![
            ("Event-Name", "CUSTOM"),
            ("Event-Subclass", "callcenter::info"),
        ];
        all.extend_from_slice(headers);
        EslEvent {
            headers: all
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::new(),
        }
    }

    fn at(s: &str) -> String {
        let t: Timestamp = s.parse().unwrap();
        t.as_microsecond().to_string()
    }

    #[test]
    fn the_lists_read_at_connect_set_states_and_queues_once() {
        let agents = "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|busy_delay_time|no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|last_status_change|no_answer_count|calls_answered|talk_time|ready_time|external_calls_count\n1000@default|single_box||callback|user/1000|Available|Waiting|3|10|10|60|0|0|0|0|1795399200|0|0|0|0|0\n1001@default|single_box||callback|user/1001|On Break|Waiting|3|10|10|60|0|0|0|0|1795399300|0|0|0|0|0\n+OK\n";
        let tiers = "queue|agent|state|level|position\nsupport@default|1000@default|Ready|1|1\nsales@default|1000@default|Ready|1|1\n+OK\n";
        let now: Timestamp = "2026-11-23T02:00:00Z".parse().unwrap();
        let mut m = Mapper::new("fs");
        let first = m.resync_agents(&table(agents), now);
        assert_eq!(first.len(), 2);
        match &first[1].kind {
            EventKind::AgentState { state, reason, .. } => {
                assert_eq!(*state, AgentState::Aux);
                assert_eq!(reason.as_deref(), Some("On Break"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(first[0].ts, Timestamp::from_second(1795399200).unwrap());
        let tiered = m.resync_tiers(&table(tiers), now);
        assert_eq!(tiered.len(), 1, "only 1000's queues changed");
        match &tiered[0].kind {
            EventKind::AgentState { queues, .. } => assert_eq!(
                queues.as_deref(),
                Some(&["sales@default".to_string(), "support@default".to_string()][..])
            ),
            other => panic!("{other:?}"),
        }
        // Read again (a reconnect): nothing new.
        assert!(m.resync_agents(&table(agents), now).is_empty());
        assert!(m.resync_tiers(&table(tiers), now).is_empty());
        // A fresh mapper (a restart) gives the same ids.
        let mut again = Mapper::new("fs");
        let ids: Vec<String> = again
            .resync_agents(&table(agents), now)
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, first.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
        assert!(table("+OK\n").is_empty());
        assert!(table("-ERR no such command\n").is_empty());
    }

    #[test]
    fn a_queued_call_answered_and_one_abandoned() {
        let now: Timestamp = "2026-11-23T02:10:00Z".parse().unwrap();
        let mut m = Mapper::new("fs");
        m.set_wrap_up("1000@default", 10);
        let t = |s: &str| at(&format!("2026-11-23T02:{s}Z"));
        let script = [
            (
                "00:00",
                vec![
                    ("CC-Action", "agent-status-change"),
                    ("CC-Agent", "1000@default"),
                    ("CC-Agent-Status", "Available"),
                ],
            ),
            (
                "01:00",
                vec![
                    ("CC-Action", "member-queue-start"),
                    ("CC-Queue", "support@default"),
                    ("CC-Member-UUID", "m1"),
                ],
            ),
            (
                "01:05",
                vec![
                    ("CC-Action", "member-queue-start"),
                    ("CC-Queue", "support@default"),
                    ("CC-Member-UUID", "m2"),
                ],
            ),
            (
                "01:20",
                vec![
                    ("CC-Action", "bridge-agent-start"),
                    ("CC-Queue", "support@default"),
                    ("CC-Agent", "1000@default"),
                    ("CC-Member-UUID", "m1"),
                ],
            ),
            (
                "01:20",
                vec![
                    ("CC-Action", "agent-state-change"),
                    ("CC-Agent", "1000@default"),
                    ("CC-Agent-State", "In a queue call"),
                ],
            ),
            (
                "01:50",
                vec![
                    ("CC-Action", "member-queue-end"),
                    ("CC-Queue", "support@default"),
                    ("CC-Cause", "Cancel"),
                    ("CC-Cancel-Reason", "BREAK_OUT"),
                    ("CC-Member-UUID", "m2"),
                ],
            ),
            (
                "05:20",
                vec![
                    ("CC-Action", "bridge-agent-end"),
                    ("CC-Queue", "support@default"),
                    ("CC-Agent", "1000@default"),
                    ("CC-Agent-Bridged", "true"),
                    ("CC-Member-UUID", "m1"),
                ],
            ),
            (
                "05:20",
                vec![
                    ("CC-Action", "member-queue-end"),
                    ("CC-Queue", "support@default"),
                    ("CC-Cause", "Terminated"),
                    ("CC-Member-UUID", "m1"),
                ],
            ),
            (
                "05:20",
                vec![
                    ("CC-Action", "agent-state-change"),
                    ("CC-Agent", "1000@default"),
                    ("CC-Agent-State", "Waiting"),
                ],
            ),
        ];
        let timed = |(time, headers): &(&str, Vec<(&str, &str)>)| {
            let ts = t(time);
            let mut headers = headers.clone();
            headers.push(("Event-Date-Timestamp", &ts));
            event(&headers)
        };
        let mut out = Vec::new();
        for step in &script {
            out.extend(m.on_event(&timed(step), now));
        }
        out.extend(m.tick("2026-11-23T02:05:29Z".parse().unwrap()));
        out.extend(m.tick("2026-11-23T02:05:31Z".parse().unwrap()));
        let got: Vec<(String, String)> = out
            .iter()
            .map(|e| {
                let json = serde_json::to_value(e).unwrap();
                let what = match &e.kind {
                    EventKind::AgentState { state, .. } => {
                        format!("agent_state {}", state.as_str())
                    }
                    _ => json["type"].as_str().unwrap().to_string(),
                };
                (e.ts.to_string(), what)
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("02:00:00", "agent_state available"),
            ("02:01:00", "contact_offered"),
            ("02:01:05", "contact_offered"),
            ("02:01:20", "contact_answered"),
            ("02:01:20", "agent_state on_contact"),
            ("02:01:50", "contact_abandoned"),
            ("02:05:20", "contact_ended"),
            ("02:05:20", "agent_state wrap_up"),
            ("02:05:30", "agent_state available"),
        ]
        .iter()
        .map(|(t, w)| (format!("2026-11-23T{t}Z"), w.to_string()))
        .collect();
        assert_eq!(got, want);
        for e in &out {
            assert!(e.validate().is_ok(), "{e:?}");
        }
        // A repeat of the same events (a reconnect) repeats their ids.
        let mut again = Mapper::new("fs");
        let first: Vec<String> = again
            .on_event(&timed(&script[1]), now)
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(first, vec![out[1].id.clone()]);
    }
}
