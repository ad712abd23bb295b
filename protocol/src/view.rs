//! Views trim the board by audience (DESIGN.md "The board"):
//! - `floor`: everything (supervisors, the floor TV);
//! - `agent`: totals and queues, no per-agent details (an agent's desktop);
//! - `queue`: one queue or several (`queue=billing,vip`), with the agents
//!   who serve them (a team's TV on a big floor gets its part, not the floor).
//!
//! The trimming is done on the server; a client never receives what its
//! view hides. Role tokens decide which views a viewer may open
//! (security), not this module.

use std::collections::BTreeMap;

use crate::{AgentBoard, AgentState, Board};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    Floor,
    Agent,
    /// Queue ids, sorted, without repeats (so one team's TVs share a stream).
    Queue(Vec<String>),
}

/// Queues one queue view may list.
pub const MAX_VIEW_QUEUES: usize = 100;

impl View {
    /// From the `view` and `queue` query parameters.
    pub fn parse(view: Option<&str>, queue: Option<&str>) -> Result<View, String> {
        match (view.unwrap_or("floor"), queue) {
            ("floor", _) => Ok(View::Floor),
            ("agent", _) => Ok(View::Agent),
            ("queue", Some(list)) => {
                let mut queues: Vec<String> = list.split(',').map(str::to_string).collect();
                if let Some(bad) = queues.iter().find(|q| q.is_empty() || q.len() > 128) {
                    return Err(format!(
                        "view=queue: queue id {bad:?} must be 1 to 128 bytes (several are separated by commas)"
                    ));
                }
                queues.sort_unstable();
                queues.dedup();
                if queues.len() > MAX_VIEW_QUEUES {
                    return Err(format!(
                        "view=queue lists {} queues: at most {MAX_VIEW_QUEUES}",
                        queues.len()
                    ));
                }
                Ok(View::Queue(queues))
            }
            ("queue", None) => Err(
                "view=queue needs a `queue` parameter (a queue id, or several separated by commas)"
                    .into(),
            ),
            (other, _) => Err(format!(
                "unknown view {other:?}: use floor, agent, or queue&queue=ID"
            )),
        }
    }

    /// The `view` and `queue` parameters that ask for this view: what
    /// [`View::parse`] reads back.
    pub fn params(&self) -> (&'static str, Option<String>) {
        match self {
            View::Queue(queues) => ("queue", Some(queues.join(","))),
            other => (other.label(), None),
        }
    }

    /// Every [`View::label`].
    pub const LABELS: [&'static str; 3] = ["floor", "agent", "queue"];

    /// The label used in metrics (bounded: the queue id is not part of it).
    pub fn label(&self) -> &'static str {
        match self {
            View::Floor => "floor",
            View::Agent => "agent",
            View::Queue(_) => "queue",
        }
    }

    /// Whether the view shows this queue's row.
    pub fn shows_queue(&self, id: &str) -> bool {
        match self {
            View::Floor | View::Agent => true,
            View::Queue(queues) => queues.binary_search_by(|q| q.as_str().cmp(id)).is_ok(),
        }
    }

    /// Whether the view shows this agent: every agent on the floor, none
    /// in the agent view, those serving (or on a contact of) a listed queue.
    pub fn shows_agent(&self, agent: &AgentBoard) -> bool {
        match self {
            View::Floor => true,
            View::Agent => false,
            View::Queue(_) => {
                agent.queues.iter().any(|q| self.shows_queue(q))
                    || agent.queue.as_deref().is_some_and(|q| self.shows_queue(q))
            }
        }
    }

    /// The view's board, cut from the floor board.
    pub fn apply(&self, floor: &Board) -> Board {
        match self {
            View::Floor => floor.clone(),
            View::Agent => Board {
                generated_at: floor.generated_at,
                seq: floor.seq,
                timezone: floor.timezone.clone(),
                totals: floor.totals.clone(),
                channels: floor.channels.clone(),
                queues: floor.queues.clone(),
                agents: BTreeMap::new(),
                agent_states: floor.agent_states.clone(),
                complaints: floor.complaints.clone(),
                same_time_yesterday: floor.same_time_yesterday.clone(),
                trend: floor.trend.clone(),
                sources: floor.sources.clone(),
                warn_band: floor.warn_band,
                cluster: floor.cluster.clone(),
                messages: floor.messages.clone(),
                layouts: floor.layouts.clone(),
            },
            View::Queue(_) => {
                let agents: BTreeMap<_, _> = floor
                    .agents
                    .iter()
                    .filter(|(_, a)| self.shows_agent(a))
                    .map(|(id, a)| (id.clone(), a.clone()))
                    .collect();
                let mut agent_states: BTreeMap<AgentState, u64> =
                    AgentState::ALL.iter().map(|s| (*s, 0)).collect();
                for agent in agents.values() {
                    *agent_states.entry(agent.state).or_default() += 1;
                }
                Board {
                    generated_at: floor.generated_at,
                    seq: floor.seq,
                    timezone: floor.timezone.clone(),
                    totals: floor.totals.clone(),
                    channels: floor.channels.clone(),
                    trend: floor.trend.clone(),
                    queues: floor
                        .queues
                        .iter()
                        .filter(|(id, _)| self.shows_queue(id))
                        .map(|(id, q)| (id.clone(), q.clone()))
                        .collect(),
                    agents,
                    agent_states,
                    complaints: floor.complaints.clone(),
                    same_time_yesterday: floor.same_time_yesterday.clone(),
                    sources: floor.sources.clone(),
                    warn_band: floor.warn_band,
                    cluster: floor.cluster.clone(),
                    messages: floor.messages.clone(),
                    layouts: floor.layouts.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_views_with_clear_errors() {
        assert_eq!(View::parse(None, None), Ok(View::Floor));
        assert_eq!(View::parse(Some("agent"), None), Ok(View::Agent));
        assert_eq!(
            View::parse(Some("queue"), Some("vip")),
            Ok(View::Queue(vec!["vip".into()]))
        );
        assert_eq!(
            View::parse(Some("queue"), Some("vip,billing,vip")),
            Ok(View::Queue(vec!["billing".into(), "vip".into()])),
            "sorted, once each: one stream per team"
        );
        assert!(
            View::parse(Some("queue"), Some("vip,,billing"))
                .unwrap_err()
                .contains("1 to 128 bytes")
        );
        let many = (0..=MAX_VIEW_QUEUES)
            .map(|i| i.to_string())
            .collect::<Vec<_>>();
        assert!(
            View::parse(Some("queue"), Some(&many.join(",")))
                .unwrap_err()
                .contains("at most")
        );
        assert!(
            View::parse(Some("queue"), None)
                .unwrap_err()
                .contains("needs")
        );
        for view in [
            View::Floor,
            View::Agent,
            View::Queue(vec!["billing".into(), "vip".into()]),
        ] {
            let (kind, queue) = view.params();
            assert_eq!(
                View::parse(Some(kind), queue.as_deref()),
                Ok(view),
                "{kind} {queue:?}"
            );
        }
        assert!(
            View::parse(Some("boss"), None)
                .unwrap_err()
                .contains("unknown view")
        );
    }
}
