//! `agent_state`: what an agent is doing, their time in each state booked
//! to the queues they serve, and the handle times their states decide.

use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use wallboard_protocol::{AgentState, Channel};

use super::{Agent, Aggregator, PendingHandle, ms_between, working_slot};

/// State changes kept per agent for deciding handle times: the last hour
/// of them (an agent's events may run that far ahead of a contact's, when
/// they come from different senders), at most this many.
const AGENT_HISTORY_MAX: usize = 1024;
const AGENT_HISTORY_SPAN: SignedDuration = SignedDuration::from_hours(1);

/// When a contact's handle time ends, given its agent's state changes.
pub(super) enum HandleEnd {
    At(Timestamp),
    /// The agent is in the wrap-up of this contact: it ends when they leave.
    InWrap,
    /// The agent's next state after the end is not known yet.
    AwaitingNext,
}

/// Handle time runs from the answer until the agent leaves the `wrap_up`
/// that follows `contact_ended` (a wrap-up already under way at the end
/// counts too); when the agent's next state after `contact_ended` is not
/// `wrap_up`, it ends at `contact_ended`.
pub(super) fn handle_end(
    history: &VecDeque<(Timestamp, AgentState)>,
    answered: Timestamp,
    ended: Timestamp,
) -> HandleEnd {
    let leaves_wrap = |from: usize| {
        history
            .iter()
            .skip(from)
            .find(|(_, s)| *s != AgentState::WrapUp)
            .map_or(HandleEnd::InWrap, |(t, _)| HandleEnd::At(*t))
    };
    let in_force = history.iter().rposition(|(t, _)| *t <= ended);
    if let Some(i) = in_force
        && history[i].1 == AgentState::WrapUp
        && history[i].0 >= answered
    {
        return leaves_wrap(i + 1);
    }
    // A state other than on-contact taken at the very moment the contact
    // ended is the agent's next state: not a wrap-up (above), so the
    // handle time ends with the contact.
    if let Some(i) = in_force
        && history[i].0 == ended
        && history[i].0 > answered
        && history[i].1 != AgentState::OnContact
    {
        return HandleEnd::At(ended);
    }
    let next = in_force.map_or(0, |i| i + 1);
    match history.get(next) {
        Some((_, AgentState::WrapUp)) => leaves_wrap(next + 1),
        Some(_) => HandleEnd::At(ended),
        None => HandleEnd::AwaitingNext,
    }
}

/// What an `agent_state` says besides the state; each part sticks
/// until sent again.
pub(super) struct AgentChange<'a> {
    pub reason: &'a Option<String>,
    pub name: &'a Option<String>,
    pub queues: Option<&'a [String]>,
    pub capacity: Option<&'a BTreeMap<Channel, u32>>,
}

impl Aggregator {
    /// An `agent_state` event: the queues it names are registered first.
    pub(super) fn on_agent_state(
        &mut self,
        agent: &str,
        state: AgentState,
        change: AgentChange,
        ts: Timestamp,
        now: Timestamp,
    ) {
        let queue_ids = change.queues.map(|qs| {
            let mut ids: Vec<usize> = qs.iter().map(|q| self.queue(q)).collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        self.agent_state(agent, state, &change, queue_ids, ts, now);
    }

    fn agent_state(
        &mut self,
        agent: &str,
        state: AgentState,
        change: &AgentChange,
        queues: Option<Vec<usize>>,
        ts: Timestamp,
        now: Timestamp,
    ) {
        let AgentChange {
            reason,
            name,
            capacity,
            ..
        } = *change;
        if !self.agents.contains_key(agent) {
            self.agents.insert(agent.to_string(), Agent::new(ts));
        }
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        // A state older than the current one is stale (out of order): it
        // cannot change what the agent is doing now, nor its name or queues.
        // A placeholder agent (named by a contact event first) takes its
        // first state as it comes.
        if a.known && ts < a.since {
            return;
        }
        self.dirty.agent(agent);
        // The closing interval belongs to the queues served during it.
        let agent_queues = a.queues.clone();
        let (old_state, old_since) = (a.state, a.since);
        let old_capacity = a.capacity.clone();
        if let Some(name) = name {
            a.name = Some(name.clone());
        }
        if let Some(queues) = queues {
            a.queues = queues;
        }
        if let Some(capacity) = capacity {
            a.capacity = capacity
                .iter()
                .filter(|(_, slots)| **slots > 0)
                .map(|(ch, slots)| (*ch, *slots))
                .collect();
        }
        let book_from = a.known.then_some(a.since);
        a.known = true;
        a.history.push_back((ts, state));
        let horizon = ts.checked_sub(AGENT_HISTORY_SPAN).unwrap_or(ts);
        while a.history.len() > AGENT_HISTORY_MAX
            || a.history.len() > 1
                && a.history[1].0 <= horizon
                && a.handles.iter().all(|h| h.answered > a.history[1].0)
        {
            a.history.pop_front();
        }
        a.state = state;
        a.reason = if state == AgentState::Aux {
            reason.clone()
        } else {
            None
        };
        a.since = ts;
        // A pending handle time is decided from the agent's states, whichever
        // of this state and the contact's end arrived first.
        let mut finished = Vec::new();
        let history = &a.history;
        a.handles
            .retain_mut(|h| match handle_end(history, h.answered, h.ended) {
                HandleEnd::At(end) => {
                    finished.push((h.clone(), end));
                    false
                }
                HandleEnd::InWrap => {
                    h.in_wrap = true;
                    true
                }
                HandleEnd::AwaitingNext => true,
            });
        let new_queues = a.queues.clone();
        let new_capacity = a.capacity.clone();
        for (h, end) in finished {
            self.handled(agent, h, end, now);
        }
        self.unindex_running(&agent_queues, old_state, old_since);
        self.index_running(&new_queues, state, ts);
        self.index_slots(&agent_queues, old_state, old_since, &old_capacity, false);
        self.index_slots(&new_queues, state, ts, &new_capacity, true);
        if let Some(from) = book_from {
            self.add_agent_time(&agent_queues, old_state, from, ts, now);
            if working_slot(old_state).is_some() {
                for (ch, slots) in &old_capacity {
                    let slots = i64::from(*slots);
                    self.add_time(&agent_queues, Some(*ch), from, ts, now, |c, ms| {
                        c.slots_staffed_ms = c.slots_staffed_ms.saturating_add(ms * slots)
                    });
                }
            }
        }
    }

    /// Enters (or takes out) a working agent's slots, from `since`, in the
    /// slot indexes of the totals and `queues`, per channel of `capacity`.
    pub(super) fn index_slots(
        &mut self,
        queues: &[usize],
        state: AgentState,
        since: Timestamp,
        capacity: &BTreeMap<Channel, u32>,
        enter: bool,
    ) {
        if working_slot(state).is_none() {
            return;
        }
        let since = since.as_millisecond();
        for (ch, slots) in capacity {
            self.each_scope_on(queues, Some(*ch), |b| match enter {
                true => b.slots_staffed.insert_n(since, *slots),
                false => b.slots_staffed.remove_n(since, *slots),
            });
        }
    }

    /// Enters (or takes out) a contact holding a slot since its answer, in
    /// the slot indexes of the totals and its queue.
    pub(super) fn index_busy(
        &mut self,
        queue: Option<usize>,
        channel: Channel,
        answered: Timestamp,
        enter: bool,
    ) {
        let answered = answered.as_millisecond();
        self.each_scope_on(queue.as_slice(), Some(channel), |b| match enter {
            true => b.slots_busy.insert(answered),
            false => b.slots_busy.remove(answered),
        });
    }

    /// A contact of `agent`'s answered at `answered` lets go of its slot at
    /// `end`: its slot time is booked, and the agent has the slot back.
    pub(super) fn release_slot(
        &mut self,
        agent: &str,
        queue: Option<usize>,
        channel: Channel,
        answered: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) {
        self.index_busy(queue, channel, answered, false);
        self.add_time(
            queue.as_slice(),
            Some(channel),
            answered,
            end,
            now,
            |c, ms| c.slots_busy_ms = c.slots_busy_ms.saturating_add(ms),
        );
        if let Some(a) = self.agents.get_mut(agent)
            && let Some(n) = a.in_use.get_mut(&channel)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                a.in_use.remove(&channel);
            }
            self.dirty.agent(agent);
        }
    }

    /// Enters a working agent's `since` in the running-time indexes of the
    /// totals and of the queues they serve.
    pub(super) fn index_running(&mut self, queues: &[usize], state: AgentState, since: Timestamp) {
        if let Some(slot) = working_slot(state) {
            let since = since.as_millisecond();
            self.each_scope(queues, |b| b.running[slot].insert(since));
        }
    }

    fn unindex_running(&mut self, queues: &[usize], state: AgentState, since: Timestamp) {
        if let Some(slot) = working_slot(state) {
            let since = since.as_millisecond();
            self.each_scope(queues, |b| b.running[slot].remove(since));
        }
    }

    /// Ends the handle times of `agent`'s contacts that ended before `ts`
    /// (at their end, or at `ts` for one in its wrap-up): the agent took or
    /// finished another contact without a state in between.
    pub(super) fn move_on(&mut self, agent: &str, ts: Timestamp, now: Timestamp) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        let mut finished = Vec::new();
        a.handles.retain(|h| {
            if h.ended < ts {
                finished.push((h.clone(), if h.in_wrap { ts } else { h.ended }));
                false
            } else {
                true
            }
        });
        for (h, end) in finished {
            self.handled(agent, h, end, now);
        }
    }

    pub(super) fn handled(
        &mut self,
        agent: &str,
        h: PendingHandle,
        end: Timestamp,
        now: Timestamp,
    ) {
        if h.slots > 0 {
            self.release_slot(agent, h.queue, h.channel, h.answered, end, now);
        }
        let ms = ms_between(h.answered, end);
        self.observe(h.queue, "wallboard_handle_seconds", ms as f64 / 1000.0);
        self.count_on(h.queue, Some(h.channel), end, |c| {
            c.handled += 1;
            c.handle_ms = c.handle_ms.saturating_add(ms);
        });
    }
}
