//! Contact events: arrival, offer to a queue (and overflow), answer,
//! abandon, end. Each checks the contact's phase before it changes anything.

use jiff::Timestamp;

use super::agents::{HandleEnd, handle_end};
use wallboard_protocol::Channel;

use super::{Agent, Aggregator, Contact, PendingHandle, Phase, ms_between};

impl Aggregator {
    /// An attempt reaching the system (blocked or not).
    pub(super) fn contact_arrived(
        &mut self,
        contact: &str,
        blocked: bool,
        ts: Timestamp,
    ) -> Result<(), String> {
        match self.contacts.get_mut(contact) {
            Some(c) if c.arrived => {
                return Err(format!("contact {contact:?} has already arrived"));
            }
            Some(_) if blocked => {
                return Err(format!(
                    "contact {contact:?} was already offered to a queue: it cannot have been blocked"
                ));
            }
            Some(c) => {
                c.arrived = true;
                c.last = c.last.max(ts);
            }
            None => {
                let phase = if blocked {
                    Phase::Blocked
                } else {
                    Phase::Arrived
                };
                self.contacts
                    .insert(contact.to_string(), Contact::new(phase, true, ts));
            }
        }
        let blocked = u64::from(blocked);
        self.count(None, ts, |c| {
            c.arrived += 1;
            c.blocked += blocked;
        });
        Ok(())
    }

    /// A contact starts waiting in a queue (an overflow leaves the one it waited in).
    pub(super) fn contact_offered(
        &mut self,
        contact: &str,
        queue: &str,
        vip: Option<bool>,
        channel: Channel,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), String> {
        if let Some(c) = self.contacts.get(contact) {
            match c.phase {
                Phase::Blocked => {
                    return Err(format!("contact {contact:?} was blocked at arrival"));
                }
                Phase::Abandoned => {
                    return Err(format!("contact {contact:?} has already abandoned"));
                }
                Phase::Waiting
                    if c.queue.map(|q| &self.queues[q].id).map(String::as_str) == Some(queue) =>
                {
                    return Err(format!(
                        "contact {contact:?} is already waiting in queue {queue:?}"
                    ));
                }
                _ => {}
            }
        }
        let q = self.queue(queue);
        if vip == Some(true) {
            self.queues[q].seen_vip = true;
        }
        let c = self.contacts.get_or_insert_with(contact.to_string(), || {
            Contact::new(Phase::Arrived, false, ts)
        });
        // Transferred while answered: the slot it held is let go.
        if let (Phase::Answered, Some(agent), Some(answered), true) =
            (c.phase, &c.agent, c.answered_at, c.slots > 0)
        {
            let (agent, old_queue, old_channel) = (agent.clone(), c.queue, c.channel);
            c.slots = 0;
            self.release_slot(&agent, old_queue, old_channel, answered, ts, now);
        }
        let Some(c) = self.contacts.get_mut(contact) else {
            return Err(format!("unknown contact {contact:?}"));
        };
        // An overflow from another queue: it stops waiting there.
        if let (Phase::Waiting, Some(old), Some(since)) = (c.phase, c.queue, c.waiting_since) {
            self.queues[old]
                .waiting
                .remove(&(since, contact.to_string()));
            self.dirty.queues.insert(old);
        }
        // A callback being made: it waits again, for an agent.
        if let (Phase::CallbackPending, Some(old), Some(asked)) =
            (c.phase, c.queue, c.callback.take())
        {
            self.queues[old]
                .callbacks
                .remove(&(asked, contact.to_string()));
            self.dirty.queues.insert(old);
        }
        c.phase = Phase::Waiting;
        c.queue = Some(q);
        c.waiting_since = Some(ts);
        c.channel = channel;
        c.agent = None;
        c.answered_at = None;
        c.last = c.last.max(ts);
        self.queues[q].waiting.insert((ts, contact.to_string()));
        self.count_on(Some(q), Some(channel), ts, |c| c.offered += 1);
        Ok(())
    }

    /// An agent takes a waiting contact: its wait is counted, the agent holds it.
    pub(super) fn contact_answered(
        &mut self,
        contact: &str,
        agent: &str,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), String> {
        let pending = self
            .contacts
            .get(contact)
            .is_some_and(|c| c.phase == Phase::CallbackPending);
        let c = match pending {
            true => self
                .contacts
                .get_mut(contact)
                .ok_or_else(|| format!("unknown contact {contact:?}"))?,
            false => self.waiting_contact(contact)?,
        };
        let (q, since, channel) = (c.queue, c.waiting_since.unwrap_or(ts), c.channel);
        let callback = c.callback.take();
        c.phase = Phase::Answered;
        c.agent = Some(agent.to_string());
        c.answered_at = Some(ts);
        c.last = c.last.max(ts);
        match callback {
            // A callback made straight from the pending list: its caller
            // was counted once already (as a callback), so the call is
            // counted apart from the answers, with no wait of its own;
            // its handle time counts as any contact's.
            Some(asked) => {
                if let Some(q) = q {
                    self.queues[q]
                        .callbacks
                        .remove(&(asked, contact.to_string()));
                }
                self.count_on(q, Some(channel), ts, |c| c.callbacks_answered += 1);
            }
            None => {
                if let Some(q) = q {
                    self.queues[q].waiting.remove(&(since, contact.to_string()));
                }
                let wait_ms = ms_between(since, ts);
                let in_sl = u64::from(wait_ms <= self.threshold_ms(q, channel));
                self.observe(q, "wallboard_wait_seconds", wait_ms as f64 / 1000.0);
                self.count_on(q, Some(channel), ts, |c| {
                    c.answered += 1;
                    c.answered_in_sl += in_sl;
                    c.wait_ms = c.wait_ms.saturating_add(wait_ms);
                });
            }
        }
        // The agent may be answering without having sent a state
        // yet; it is listed (offline) until its first agent_state.
        let a = self
            .agents
            .entry(agent.to_string())
            .or_insert_with(|| Agent::new(ts));
        a.contact = Some(contact.to_string());
        a.contact_queue = q;
        // With a slot on its channel, the contact holds one.
        let slots = a.capacity.get(&channel).copied().unwrap_or(0);
        if slots > 0 {
            *a.in_use.entry(channel).or_default() += 1;
        }
        if let Some(c) = self.contacts.get_mut(contact) {
            c.slots = slots;
        }
        if slots > 0 {
            self.index_busy(q, channel, ts, true);
        }
        self.dirty.agent(agent);
        // Moving on to the next contact ends the earlier ones'
        // handle times, if the agent sent no state in between; one of
        // several held at once does not.
        if slots <= 1 {
            self.move_on(agent, ts, now);
        }
        Ok(())
    }

    /// A waiting contact hangs up (short abandons counted apart).
    pub(super) fn contact_abandoned(&mut self, contact: &str, ts: Timestamp) -> Result<(), String> {
        let c = self.waiting_contact(contact)?;
        let (q, since, channel) = (c.queue, c.waiting_since.unwrap_or(ts), c.channel);
        c.phase = Phase::Abandoned;
        c.last = c.last.max(ts);
        if let Some(q) = q {
            self.queues[q].waiting.remove(&(since, contact.to_string()));
        }
        let short_abandon = q
            .map(|q| self.config.short_abandon(&self.queues[q].id))
            .unwrap_or(self.config.short_abandon);
        let wait_ms = ms_between(since, ts);
        let short = wait_ms < short_abandon.as_millis() as i64;
        let in_sl = u64::from(wait_ms <= self.threshold_ms(q, channel));
        self.count_on(q, Some(channel), ts, |c| {
            if short {
                c.short_abandoned += 1
            } else {
                c.abandoned += 1;
                c.abandoned_in_sl += in_sl;
            }
        });
        Ok(())
    }

    /// A waiting caller asks to be called back: they leave the queue's
    /// line, keep their place in its callbacks, and are not abandoned.
    pub(super) fn contact_callback_requested(
        &mut self,
        contact: &str,
        ts: Timestamp,
    ) -> Result<(), String> {
        let c = self.waiting_contact(contact)?;
        let (q, since, channel) = (c.queue, c.waiting_since.unwrap_or(ts), c.channel);
        let wait_ms = ms_between(since, ts);
        c.phase = Phase::CallbackPending;
        c.callback = Some(ts);
        c.last = c.last.max(ts);
        if let Some(q) = q {
            let queue = &mut self.queues[q];
            queue.waiting.remove(&(since, contact.to_string()));
            queue.callbacks.insert((ts, contact.to_string()));
        }
        let in_sl = u64::from(wait_ms <= self.threshold_ms(q, channel));
        self.count_on(q, Some(channel), ts, |c| {
            c.callbacks += 1;
            c.callbacks_in_sl += in_sl;
        });
        Ok(())
    }

    /// The service-level threshold of a contact on `channel` in queue `q`
    /// (the global ones without a queue), in milliseconds.
    fn threshold_ms(&self, q: Option<usize>, channel: Channel) -> i64 {
        let queue = q.map(|q| self.queues[q].id.as_str());
        self.config
            .service_level_threshold_on(queue, channel)
            .as_millis() as i64
    }

    /// Talk ended: the disposition, and the handle time once the agent's next state says when it ends.
    pub(super) fn contact_ended(
        &mut self,
        contact: &str,
        resolved: Option<bool>,
        ts: Timestamp,
        now: Timestamp,
    ) -> Result<(), String> {
        let Some(c) = self.contacts.get_mut(contact) else {
            return Err(format!("unknown contact {contact:?}"));
        };
        match c.phase {
            Phase::Ended => return Err(format!("contact {contact:?} has already ended")),
            Phase::Waiting => {
                return Err(format!(
                    "contact {contact:?} is waiting in a queue: send contact_answered or contact_abandoned first"
                ));
            }
            _ => {}
        }
        // A callback called off (or the caller not reached): no longer pending.
        if let (Phase::CallbackPending, Some(q), Some(asked)) =
            (c.phase, c.queue, c.callback.take())
        {
            self.queues[q]
                .callbacks
                .remove(&(asked, contact.to_string()));
            self.dirty.queues.insert(q);
        }
        let was_answered = c.phase == Phase::Answered;
        c.phase = Phase::Ended;
        c.last = c.last.max(ts);
        let (q, channel, slots) = (c.queue, c.channel, c.slots);
        let answered_at = c.answered_at;
        let agent = c.agent.clone();
        if let Some(resolved) = resolved {
            let resolved = u64::from(resolved);
            self.count_on(q, Some(channel), ts, |c| {
                c.dispositions += 1;
                c.resolved += resolved;
            });
        }
        if let (true, Some(agent), Some(answered)) = (was_answered, agent, answered_at)
            && let Some(a) = self.agents.get_mut(&agent)
        {
            if a.contact.as_deref() == Some(contact) {
                a.contact = None;
                a.contact_queue = None;
                self.dirty.agent(&agent);
            }
            let pending = |in_wrap| PendingHandle {
                queue: q,
                channel,
                answered,
                ended: ts,
                in_wrap,
                slots,
            };
            // One of several held at once: no one state of the agent's is
            // its own, so its handle time ends with it.
            if slots > 1 {
                self.handled(&agent, pending(false), ts, now);
                return Ok(());
            }
            let done = match handle_end(&a.history, answered, ts) {
                HandleEnd::At(end) => Some((pending(false), end)),
                HandleEnd::InWrap => {
                    a.handles.push(pending(true));
                    None
                }
                HandleEnd::AwaitingNext => {
                    a.handles.push(pending(false));
                    None
                }
            };
            // An earlier contact still pending: the agent moved on.
            self.move_on(&agent, ts, now);
            if let Some((h, end)) = done {
                self.handled(&agent, h, end, now);
            }
        }
        Ok(())
    }

    /// The contact, if it is waiting in a queue.
    fn waiting_contact(&mut self, contact: &str) -> Result<&mut Contact, String> {
        match self.contacts.get_mut(contact) {
            None => Err(format!("unknown contact {contact:?}")),
            Some(c) if c.phase != Phase::Waiting => Err(format!(
                "contact {contact:?} is not waiting in a queue (it is {})",
                match c.phase {
                    Phase::Arrived => "not yet offered to a queue",
                    Phase::Blocked => "blocked",
                    Phase::Answered => "already answered",
                    Phase::Abandoned => "already abandoned",
                    Phase::CallbackPending => "waiting for a callback",
                    Phase::Ended => "ended",
                    Phase::Waiting => "waiting",
                }
            )),
            Some(c) => Ok(c),
        }
    }
}
