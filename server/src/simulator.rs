//! The built-in simulator: a believable contact center, so the wallboard
//! has something true-to-life to show without a telephony platform.
//!
//! A discrete-event simulation of one hotline floor: five queues (one VIP),
//! agents with skills, shifts that follow the day's call curve, breaks,
//! lunch and training; Poisson arrivals whose rate follows the local time of
//! day with slow random swings; an IVR, a trunk that blocks at peaks, ACD
//! routing (VIP first, then longest waiting), ring, log-normal talk and
//! wrap-up times, caller patience (abandons), dispositions for FCR, surveys,
//! and graded complaints answered — sometimes late. Demand is sized so the
//! KPIs hover around their targets and cross them now and then.
//!
//! It only produces [`Event`]s, exactly as an external source would; the
//! server feeds them through the same ingest pipeline as HTTP. Given a seed
//! and a start time it is deterministic, and it runs as fast as it is
//! asked to ([`Simulation::advance_to`]), so tests simulate hours in
//! milliseconds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use wallboard_protocol::{AgentState, Event, EventKind};

/// The simulated queues: id, share of demand, mean talk seconds, mean
/// wrap-up seconds, probability a contact is resolved, caller patience (mean
/// seconds), VIP.
struct QueueSpec {
    id: &'static str,
    share: f64,
    talk_s: f64,
    wrap_s: f64,
    resolve_p: f64,
    patience_s: f64,
    vip: bool,
}

const QUEUES: [QueueSpec; 5] = [
    QueueSpec {
        id: "general",
        share: 0.38,
        talk_s: 190.0,
        wrap_s: 20.0,
        resolve_p: 0.93,
        patience_s: 110.0,
        vip: false,
    },
    QueueSpec {
        id: "billing",
        share: 0.22,
        talk_s: 230.0,
        wrap_s: 25.0,
        resolve_p: 0.91,
        patience_s: 100.0,
        vip: false,
    },
    QueueSpec {
        id: "broadband",
        share: 0.20,
        talk_s: 300.0,
        wrap_s: 35.0,
        resolve_p: 0.86,
        patience_s: 120.0,
        vip: false,
    },
    QueueSpec {
        id: "vip",
        share: 0.08,
        talk_s: 260.0,
        wrap_s: 30.0,
        resolve_p: 0.93,
        patience_s: 150.0,
        vip: true,
    },
    QueueSpec {
        id: "complaints",
        share: 0.12,
        talk_s: 360.0,
        wrap_s: 60.0,
        resolve_p: 0.80,
        patience_s: 140.0,
        vip: false,
    },
];

/// Relative demand by local hour (1.0 = the morning peak); staffing follows it.
const DAY_CURVE: [f64; 24] = [
    0.22, 0.18, 0.16, 0.16, 0.18, 0.22, 0.32, 0.55, 0.82, 1.00, 1.00, 0.92, 0.78, 0.84, 0.95, 0.97,
    0.90, 0.78, 0.68, 0.60, 0.55, 0.48, 0.38, 0.28,
];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN_NAMES: [&str; 24] = [
    "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀英", "晓燕", "志强", "海燕", "建华", "小红", "文博", "子涵",
];

/// Settings of one simulation run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    /// Agents on the roster (the most on shift at the peak).
    pub agents: usize,
    /// The local time zone: the day's curve, lunch times.
    pub timezone: TimeZone,
    /// When the simulated history starts.
    pub start: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Re-plan shifts and demand.
    Staffing,
    Arrival,
    /// The caller leaves the IVR and starts waiting in a queue.
    Offer {
        contact: u64,
    },
    Patience {
        contact: u64,
    },
    Answer {
        contact: u64,
        agent: usize,
    },
    TalkEnd {
        contact: u64,
        agent: usize,
    },
    WrapEnd {
        agent: usize,
    },
    AuxEnd {
        agent: usize,
    },
    Survey {
        contact: u64,
        queue: usize,
        score: u8,
    },
    ComplaintAnswer {
        complaint: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    /// Logged off.
    Off,
    Free,
    /// Ringing: reserved for a contact, still `available` on the wire.
    Ringing,
    Talking,
    Wrapping,
    Aux,
}

struct SimAgent {
    id: String,
    name: String,
    skills: Vec<usize>,
    busy: Busy,
    /// When it became free (longest idle is offered the next contact).
    free_since: Timestamp,
    /// Asked to log off at the end of its current work.
    leaving: bool,
    next_break: Timestamp,
    had_lunch_on: Option<jiff::civil::Date>,
}

struct Waiting {
    contact: u64,
    since: Timestamp,
}

pub struct Simulation {
    rng: ChaCha8Rng,
    tz: TimeZone,
    now: Timestamp,
    id_prefix: String,
    next_event: u64,
    next_contact: u64,
    next_complaint: u64,
    agenda: BinaryHeap<Reverse<(Timestamp, u64, Action)>>,
    agenda_seq: u64,
    agents: Vec<SimAgent>,
    /// Agents in the order they come on shift (skills spread evenly).
    roster: Vec<usize>,
    queues: Vec<VecDeque<Waiting>>,
    /// Contacts ringing at an agent, with their queue.
    ringing: Vec<(usize, Waiting)>,
    /// Queue wait of contacts in talk (seconds), for their survey.
    waits: std::collections::HashMap<u64, f64>,
    /// Contacts waiting or talking: their queue, keyed by contact number.
    contact_queue: std::collections::HashMap<u64, (usize, Timestamp)>,
    /// Callers who asked for a callback once (a second wait ends in a hang-up).
    called_back: std::collections::HashSet<u64>,
    /// Slowly varying demand multiplier.
    swing: f64,
    /// Arrivals per second at the peak with everyone on shift.
    peak_rate: f64,
    out: Vec<Event>,
}

impl Simulation {
    pub fn new(options: SimOptions) -> Simulation {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let n = options.agents.max(5);
        let roster_skills = spread_skills(n);
        let agents = roster_skills
            .iter()
            .enumerate()
            .map(|(i, skills)| {
                let mut skills = skills.clone();
                // Cross-training: VIP agents take general calls when no VIP
                // caller waits; a third of the others take a second queue.
                if QUEUES[skills[0]].vip {
                    skills.push(0);
                } else if rng.random_bool(0.35) {
                    let other = if skills[0] == 0 {
                        [1, 2, 4][rng.random_range(0..3)]
                    } else {
                        0
                    };
                    skills.push(other);
                }
                SimAgent {
                    id: format!("A{}", 1001 + i),
                    name: format!(
                        "{}{}",
                        SURNAMES[i % SURNAMES.len()],
                        GIVEN_NAMES[(i * 7 + i / SURNAMES.len()) % GIVEN_NAMES.len()]
                    ),
                    skills,
                    busy: Busy::Off,
                    free_since: options.start,
                    leaving: false,
                    next_break: options.start,
                    had_lunch_on: None,
                }
            })
            .collect::<Vec<_>>();
        let mean_handle: f64 = QUEUES
            .iter()
            .map(|q| q.share * (q.talk_s + q.wrap_s + 5.0))
            .sum();
        // Sized so the floor is busy at the peak (~80% of the agents not on
        // a break): swings in demand push the KPIs across their targets.
        let peak_rate = n as f64 * 0.80 * 0.86 / mean_handle;
        let mut sim = Simulation {
            rng,
            tz: options.timezone,
            now: options.start,
            id_prefix: format!("sim{}-{}", options.seed, options.start.as_second()),
            next_event: 0,
            next_contact: 0,
            next_complaint: 0,
            agenda: BinaryHeap::new(),
            agenda_seq: 0,
            roster: (0..n).collect(),
            agents,
            queues: QUEUES.iter().map(|_| VecDeque::new()).collect(),
            ringing: Vec::new(),
            waits: Default::default(),
            contact_queue: Default::default(),
            called_back: Default::default(),
            swing: 1.0,
            peak_rate,
            out: Vec::new(),
        };
        sim.schedule(options.start, Action::Staffing);
        let first = sim.next_arrival_gap();
        sim.schedule(options.start + first, Action::Arrival);
        sim
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Runs the simulation up to `until` and returns the events it
    /// produced, in time order.
    pub fn advance_to(&mut self, until: Timestamp) -> Vec<Event> {
        while let Some(Reverse((at, _, _))) = self.agenda.peek() {
            if *at > until {
                break;
            }
            let Some(Reverse((at, _, action))) = self.agenda.pop() else {
                break;
            };
            self.now = at;
            self.run(action);
        }
        self.now = self.now.max(until);
        std::mem::take(&mut self.out)
    }

    fn schedule(&mut self, at: Timestamp, action: Action) {
        self.agenda_seq += 1;
        self.agenda.push(Reverse((at, self.agenda_seq, action)));
    }

    fn emit(&mut self, kind: EventKind) {
        self.next_event += 1;
        self.out.push(Event {
            id: format!("{}-{}", self.id_prefix, self.next_event),
            ts: self.now,
            kind,
        });
    }

    fn set_state(&mut self, agent: usize, state: AgentState, reason: Option<&str>) {
        let a = &self.agents[agent];
        let first = a.busy == Busy::Off && state != AgentState::Offline;
        let kind = EventKind::AgentState {
            agent: a.id.clone(),
            state,
            reason: reason.map(str::to_string),
            name: first.then(|| a.name.clone()),
            queues: first.then(|| a.skills.iter().map(|&q| QUEUES[q].id.to_string()).collect()),
            capacity: None,
        };
        self.emit(kind);
    }

    fn run(&mut self, action: Action) {
        match action {
            Action::Staffing => self.staffing(),
            Action::Arrival => self.arrival(),
            Action::Offer { contact } => self.offer(contact),
            Action::Patience { contact } => self.patience(contact),
            Action::Answer { contact, agent } => self.answer(contact, agent),
            Action::TalkEnd { contact, agent } => self.talk_end(contact, agent),
            Action::WrapEnd { agent } | Action::AuxEnd { agent } => self.agent_free(agent),
            Action::Survey {
                contact,
                queue,
                score,
            } => self.emit(EventKind::SurveySubmitted {
                contact: Some(self.contact_id(contact)),
                queue: Some(QUEUES[queue].id.to_string()),
                score: f64::from(score),
                max: Some(5.0),
            }),
            Action::ComplaintAnswer { complaint } => self.emit(EventKind::ComplaintAnswered {
                complaint: format!("{}-k{complaint}", self.id_prefix),
            }),
        }
    }

    fn contact_id(&self, contact: u64) -> String {
        format!("{}-c{contact}", self.id_prefix)
    }

    /// The day's curve at the current local time, interpolated by the minute.
    fn curve(&self, at: Timestamp) -> f64 {
        let local = at.to_zoned(self.tz.clone());
        let hour = local.hour() as usize;
        let frac = f64::from(local.minute()) / 60.0;
        DAY_CURVE[hour] * (1.0 - frac) + DAY_CURVE[(hour + 1) % 24] * frac
    }

    fn next_arrival_gap(&mut self) -> SignedDuration {
        let rate = (self.peak_rate * self.curve(self.now) * self.swing).max(1e-4);
        let gap = Exp::new(rate)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(60.0);
        SignedDuration::from_secs_f64(gap.min(3600.0))
    }

    fn lognormal(&mut self, mean: f64, sd_ratio: f64) -> f64 {
        let sigma2 = (1.0 + sd_ratio * sd_ratio).ln();
        let mu = mean.ln() - sigma2 / 2.0;
        LogNormal::new(mu, sigma2.sqrt())
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(mean)
    }

    fn after(&self, seconds: f64) -> Timestamp {
        self.now + SignedDuration::from_secs_f64(seconds.max(0.0))
    }

    /// Every minute: bring agents on or off shift to follow the curve, and
    /// let demand swing every quarter of an hour.
    fn staffing(&mut self) {
        self.schedule(self.after(60.0), Action::Staffing);
        if self.now.as_second() % 900 < 60 {
            // A slow random walk around 1.0: most of the time staffing
            // matches demand, sometimes a surge overwhelms it.
            let step: f64 = self.rng.random_range(-0.10..0.10);
            self.swing = (self.swing + step).clamp(0.82, 1.22) * 0.9 + 0.1;
        }
        // Staff plans slightly ahead of demand.
        let planned = self.curve(self.now + SignedDuration::from_mins(15));
        // Small teams need proportionally more agents (square-root staffing).
        let base = self.agents.len() as f64 * planned;
        let want = ((base + 1.5 * base.sqrt()).round() as usize).clamp(3, self.agents.len());
        let on_shift: Vec<usize> = self
            .roster
            .iter()
            .copied()
            .filter(|&i| self.agents[i].busy != Busy::Off && !self.agents[i].leaving)
            .collect();
        if on_shift.len() < want {
            let joining: Vec<usize> = self
                .roster
                .iter()
                .copied()
                .filter(|&i| self.agents[i].busy == Busy::Off || self.agents[i].leaving)
                .take(want - on_shift.len())
                .collect();
            for i in joining {
                if self.agents[i].leaving {
                    self.agents[i].leaving = false;
                    continue;
                }
                self.set_state(i, AgentState::Available, None);
                let work = self.rng.random_range(5400.0..8400.0);
                let next_break = self.after(work);
                let a = &mut self.agents[i];
                a.busy = Busy::Free;
                a.free_since = self.now;
                a.next_break = next_break;
                self.route_agent(i);
            }
        } else if on_shift.len() > want {
            // The last to join leave first.
            for &i in on_shift.iter().rev().take(on_shift.len() - want) {
                self.agents[i].leaving = true;
                if matches!(self.agents[i].busy, Busy::Free | Busy::Aux) {
                    self.log_off(i);
                }
            }
        }
        // Agents sitting idle may go on lunch or training.
        for i in 0..self.agents.len() {
            if self.agents[i].busy == Busy::Free {
                self.maybe_aux(i);
            }
        }
    }

    fn log_off(&mut self, agent: usize) {
        self.set_state(agent, AgentState::Offline, None);
        let a = &mut self.agents[agent];
        a.busy = Busy::Off;
        a.leaving = false;
    }

    fn arrival(&mut self) {
        let gap = self.next_arrival_gap();
        self.schedule(self.now + gap, Action::Arrival);
        self.next_contact += 1;
        let contact = self.next_contact;
        let id = self.contact_id(contact);
        // The trunk is sized for the staffed floor: when queues run long it
        // fills and callers get a busy tone; a small share fails anyway.
        let staffed = self.agents.iter().filter(|a| a.busy != Busy::Off).count();
        let waiting: usize = self.queues.iter().map(VecDeque::len).sum();
        let trunk_full = waiting as f64 > 8.0 + staffed as f64 * 0.35;
        let blocked = trunk_full || self.rng.random_bool(0.003);
        self.emit(EventKind::ContactArrived {
            contact: id,
            blocked,
        });
        if blocked {
            return;
        }
        let mut pick: f64 = self.rng.random();
        let mut queue = QUEUES.len() - 1;
        for (i, q) in QUEUES.iter().enumerate() {
            if pick < q.share {
                queue = i;
                break;
            }
            pick -= q.share;
        }
        let ivr = self.rng.random_range(8.0..35.0);
        self.contact_queue.insert(contact, (queue, self.now));
        self.schedule(self.after(ivr), Action::Offer { contact });
    }

    fn offer(&mut self, contact: u64) {
        let Some(&(queue, _)) = self.contact_queue.get(&contact) else {
            return;
        };
        let spec = &QUEUES[queue];
        self.emit(EventKind::ContactOffered {
            contact: self.contact_id(contact),
            queue: spec.id.to_string(),
            vip: spec.vip.then_some(true),
            // A callback queued again for an agent is a callback contact.
            channel: self
                .called_back
                .contains(&contact)
                .then_some(wallboard_protocol::Channel::Callback),
        });
        self.contact_queue.insert(contact, (queue, self.now));
        // Some callers hang up almost at once; the rest wait a while.
        let patience = if self.rng.random_bool(0.02) {
            self.rng.random_range(1.0..6.0)
        } else {
            Exp::new(1.0 / spec.patience_s)
                .map(|d| d.sample(&mut self.rng))
                .unwrap_or(spec.patience_s)
                + 5.0
        };
        self.schedule(self.after(patience), Action::Patience { contact });
        self.queues[queue].push_back(Waiting {
            contact,
            since: self.now,
        });
        if let Some(agent) = self.free_agent_for(queue) {
            self.take(queue, agent);
        }
    }

    fn patience(&mut self, contact: u64) {
        let mut gone = false;
        let mut in_line = false;
        for queue in &mut self.queues {
            if let Some(pos) = queue.iter().position(|w| w.contact == contact) {
                queue.remove(pos);
                gone = true;
                in_line = true;
                break;
            }
        }
        // A quarter of those still in line ask to be called back instead;
        // the callback is queued again a few minutes later.
        if in_line && !self.called_back.contains(&contact) && self.rng.random_bool(0.25) {
            self.called_back.insert(contact);
            self.emit(EventKind::ContactCallbackRequested {
                contact: self.contact_id(contact),
            });
            let later = self.rng.random_range(120.0..600.0);
            self.schedule(self.after(later), Action::Offer { contact });
            return;
        }
        if let Some(pos) = self.ringing.iter().position(|(_, w)| w.contact == contact) {
            self.ringing.swap_remove(pos);
            gone = true;
        }
        if gone {
            self.contact_queue.remove(&contact);
            self.called_back.remove(&contact);
            self.emit(EventKind::ContactAbandoned {
                contact: self.contact_id(contact),
            });
        }
    }

    /// The longest-idle free agent with the skill.
    fn free_agent_for(&self, queue: usize) -> Option<usize> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.busy == Busy::Free && a.skills.contains(&queue))
            .min_by_key(|(_, a)| a.free_since)
            .map(|(i, _)| i)
    }

    /// Gives the head of `queue` to `agent`: it rings, then is answered.
    /// While it rings it is offered to no one else, and the caller may
    /// still hang up.
    fn take(&mut self, queue: usize, agent: usize) {
        let Some(w) = self.queues[queue].pop_front() else {
            return;
        };
        self.agents[agent].busy = Busy::Ringing;
        let ring = self.rng.random_range(2.0..7.0);
        self.schedule(
            self.after(ring),
            Action::Answer {
                contact: w.contact,
                agent,
            },
        );
        self.ringing.push((queue, w));
    }
}

impl Simulation {
    fn answer(&mut self, contact: u64, agent: usize) {
        let Some(pos) = self.ringing.iter().position(|(_, w)| w.contact == contact) else {
            // The caller hung up while it rang: the agent is free again.
            self.agents[agent].busy = Busy::Free;
            self.route_agent(agent);
            return;
        };
        let (queue, w) = self.ringing.swap_remove(pos);
        let wait = self.now.duration_since(w.since).as_secs_f64();
        self.set_state(agent, AgentState::OnContact, None);
        self.emit(EventKind::ContactAnswered {
            contact: self.contact_id(contact),
            agent: self.agents[agent].id.clone(),
        });
        self.agents[agent].busy = Busy::Talking;
        let spec = &QUEUES[queue];
        let talk = self.lognormal(spec.talk_s, 0.6).clamp(20.0, 3600.0);
        self.contact_queue.insert(contact, (queue, self.now));
        self.waits.insert(contact, wait);
        self.schedule(self.after(talk), Action::TalkEnd { contact, agent });
    }

    fn talk_end(&mut self, contact: u64, agent: usize) {
        self.called_back.remove(&contact);
        let Some((queue, _)) = self.contact_queue.remove(&contact) else {
            return;
        };
        let wait = self.waits.remove(&contact).unwrap_or(0.0);
        let spec = &QUEUES[queue];
        let resolved = self.rng.random_bool(spec.resolve_p);
        self.emit(EventKind::ContactEnded {
            contact: self.contact_id(contact),
            resolved: Some(resolved),
        });
        self.set_state(agent, AgentState::WrapUp, None);
        self.agents[agent].busy = Busy::Wrapping;
        let wrap = self.lognormal(spec.wrap_s, 0.5).clamp(3.0, 900.0);
        self.schedule(self.after(wrap), Action::WrapEnd { agent });

        if self.rng.random_bool(0.3) {
            let score = self.survey_score(resolved, wait);
            let later = self.rng.random_range(30.0..600.0);
            self.schedule(
                self.after(later),
                Action::Survey {
                    contact,
                    queue,
                    score,
                },
            );
        }
        let complaint_p = if QUEUES[queue].id == "complaints" {
            0.30
        } else if resolved {
            0.002
        } else {
            0.04
        };
        if self.rng.random_bool(complaint_p) {
            self.open_complaint(queue);
        }
    }

    fn survey_score(&mut self, resolved: bool, wait: f64) -> u8 {
        let weights: [f64; 5] = if resolved {
            [0.02, 0.02, 0.07, 0.22, 0.67]
        } else {
            [0.14, 0.16, 0.25, 0.25, 0.20]
        };
        let mut pick: f64 = self.rng.random();
        let mut score = 5u8;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                score = i as u8 + 1;
                break;
            }
            pick -= w;
        }
        if wait > 60.0 && score > 1 && self.rng.random_bool(0.5) {
            score -= 1;
        }
        score
    }

    fn open_complaint(&mut self, queue: usize) {
        self.next_complaint += 1;
        let complaint = self.next_complaint;
        let urgent = self.rng.random_bool(0.25);
        self.emit(EventKind::ComplaintOpened {
            complaint: format!("{}-k{complaint}", self.id_prefix),
            queue: Some(QUEUES[queue].id.to_string()),
            grade: Some(if urgent { "urgent" } else { "normal" }.to_string()),
            due: None,
        });
        // Most are answered well within the deadline (2 h / 24 h); a few
        // slip past it.
        let delay = if urgent {
            self.lognormal(45.0 * 60.0, 0.7)
        } else {
            self.lognormal(4.0 * 3600.0, 0.9)
        };
        self.schedule(self.after(delay), Action::ComplaintAnswer { complaint });
    }

    /// An agent finished wrap-up or aux: log off, take a break, or take the
    /// next contact.
    fn agent_free(&mut self, agent: usize) {
        if self.agents[agent].leaving {
            self.log_off(agent);
            return;
        }
        self.agents[agent].busy = Busy::Free;
        self.agents[agent].free_since = self.now;
        if self.maybe_aux(agent) {
            return;
        }
        self.set_state(agent, AgentState::Available, None);
        self.route_agent(agent);
    }

    /// Sends a free agent on a break, lunch or training when it is due.
    fn maybe_aux(&mut self, agent: usize) -> bool {
        let local = self.now.to_zoned(self.tz.clone());
        let today = local.date();
        let lunch_time = (11..14).contains(&local.hour());
        let a = &self.agents[agent];
        let (reason, minutes) =
            if lunch_time && a.had_lunch_on != Some(today) && self.rng.random_bool(0.02) {
                self.agents[agent].had_lunch_on = Some(today);
                ("lunch", self.rng.random_range(30.0..45.0))
            } else if self.now >= a.next_break {
                ("break", self.rng.random_range(8.0..16.0))
            } else if self.rng.random_bool(0.0004) {
                let reason = ["training", "meeting", "coaching"][self.rng.random_range(0..3)];
                (reason, self.rng.random_range(15.0..40.0))
            } else {
                return false;
            };
        self.set_state(agent, AgentState::Aux, Some(reason));
        let work = self.rng.random_range(5400.0..8400.0);
        let next_break = self.after(work);
        let a = &mut self.agents[agent];
        a.busy = Busy::Aux;
        if reason == "break" {
            a.next_break = next_break;
        }
        self.schedule(self.after(minutes * 60.0), Action::AuxEnd { agent });
        true
    }

    /// Offers a free agent the contact that should go first among its
    /// skills: VIP queues first, then the longest waiting.
    fn route_agent(&mut self, agent: usize) {
        if self.agents[agent].busy != Busy::Free {
            return;
        }
        let best = self.agents[agent]
            .skills
            .iter()
            .filter_map(|&q| self.queues[q].front().map(|w| (q, w.since)))
            .min_by_key(|&(q, since)| (!QUEUES[q].vip, since));
        if let Some((queue, _)) = best {
            self.take(queue, agent);
        }
    }
}

/// Skills for `n` agents in roster order, so that any first `k` of them
/// cover the queues in proportion to demand.
fn spread_skills(n: usize) -> Vec<Vec<usize>> {
    let mut given = [0usize; QUEUES.len()];
    (0..n)
        .map(|i| {
            let q = (0..QUEUES.len())
                .max_by(|&a, &b| {
                    let deficit = |q: usize| QUEUES[q].share * (i + 1) as f64 - given[q] as f64;
                    deficit(a).total_cmp(&deficit(b)).then(b.cmp(&a))
                })
                .unwrap_or(0);
            given[q] += 1;
            vec![q]
        })
        .collect()
}
