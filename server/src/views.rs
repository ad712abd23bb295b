//! Views trim the board by audience (DESIGN.md "The board"):
//! - `floor`: everything (supervisors, the floor TV);
//! - `agent`: totals and queues, no per-agent details (an agent's desktop);
//! - `queue`: one queue, with the agents who serve it.
//!
//! The trimming is done on the server; a client never receives what its
//! view hides. Role tokens decide which views a viewer may open
//! (security), not this module.

use std::collections::BTreeMap;

use wallboard_protocol::{AgentState, Board};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    Floor,
    Agent,
    Queue(String),
}

impl View {
    /// From the `view` and `queue` query parameters.
    pub fn parse(view: Option<&str>, queue: Option<&str>) -> Result<View, String> {
        match (view.unwrap_or("floor"), queue) {
            ("floor", _) => Ok(View::Floor),
            ("agent", _) => Ok(View::Agent),
            ("queue", Some(queue)) if !queue.is_empty() && queue.len() <= 128 => {
                Ok(View::Queue(queue.to_string()))
            }
            ("queue", _) => Err("view=queue needs a `queue` parameter (1 to 128 bytes)".into()),
            (other, _) => Err(format!(
                "unknown view {other:?}: use floor, agent, or queue&queue=ID"
            )),
        }
    }

    /// The label used in metrics (bounded: the queue id is not part of it).
    pub fn label(&self) -> &'static str {
        match self {
            View::Floor => "floor",
            View::Agent => "agent",
            View::Queue(_) => "queue",
        }
    }

    /// A key naming this view's stream.
    pub fn key(&self) -> String {
        match self {
            View::Floor => "floor".into(),
            View::Agent => "agent".into(),
            View::Queue(queue) => format!("queue:{queue}"),
        }
    }

    /// The view named by [`View::key`].
    pub fn from_key(key: &str) -> Option<View> {
        match key {
            "floor" => Some(View::Floor),
            "agent" => Some(View::Agent),
            _ => key
                .strip_prefix("queue:")
                .map(|q| View::Queue(q.to_string())),
        }
    }

    /// The view's board, cut from the floor board.
    pub fn apply(&self, floor: &Board) -> Board {
        match self {
            View::Floor => floor.clone(),
            View::Agent => Board {
                agents: BTreeMap::new(),
                ..floor.clone()
            },
            View::Queue(queue) => {
                let agents: BTreeMap<_, _> = floor
                    .agents
                    .iter()
                    .filter(|(_, a)| {
                        a.queues.iter().any(|q| q == queue) || a.queue.as_deref() == Some(queue)
                    })
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
                    trend: floor.trend.clone(),
                    queues: floor
                        .queues
                        .iter()
                        .filter(|(id, _)| *id == queue)
                        .map(|(id, q)| (id.clone(), q.clone()))
                        .collect(),
                    agents,
                    agent_states,
                    complaints: floor.complaints.clone(),
                    sources: floor.sources.clone(),
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
            Ok(View::Queue("vip".into()))
        );
        assert!(
            View::parse(Some("queue"), None)
                .unwrap_err()
                .contains("needs")
        );
        assert!(
            View::parse(Some("boss"), None)
                .unwrap_err()
                .contains("unknown view")
        );
        for view in [View::Floor, View::Agent, View::Queue("a:b".into())] {
            assert_eq!(View::from_key(&view.key()), Some(view));
        }
    }
}
