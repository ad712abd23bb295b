//! Ingest: the one pipeline every source feeds — HTTP, the simulator and
//! the platform adapters.
//!
//! validate (the parser and [`Event::validate`]) → reject events too far
//! in the future → drop repeated ids → apply to the aggregator. The last
//! two happen under the core lock, one lock per batch, so two requests
//! carrying the same id cannot both apply it and a batch applies in order.

pub mod body;
pub mod cluster;
pub mod http;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use wallboard_protocol::Event;

use crate::aggregator::{Aggregator, local_day};
use crate::clock::Clock;
use crate::config::Config;
use crate::journal::{Journal, Record, Replayed};
use crate::metrics::Metrics;
use crate::sharded::{Fifo, ShardedMap};

/// Everything ingest changes, behind one lock: the aggregate, the ids seen,
/// the journal, and the version of the state (bumped by every batch that
/// changed it).
pub struct Core {
    pub aggregator: Aggregator,
    pub dedupe: Dedupe,
    pub journal: Option<Journal>,
    pub seq: u64,
    /// On a node of a cluster: the stream time of the last message applied.
    pub logged_at: Option<Timestamp>,
}

/// Who holds the core lock: how long each kind of holder keeps it is
/// `wallboard_lock_hold_seconds{holder}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Holder {
    /// A batch of events (any source): dedupe, journal write, apply.
    Batch,
    /// A step reading the counts of what changed.
    Step,
    /// A reader checking whether the kept board is behind the state.
    Read,
    /// `/metrics` reading the lifetime counts (and, when the board is
    /// behind them, the step's read of what changed, under the same hold).
    Metrics,
    /// Forgetting ids and state no window can use.
    Prune,
    /// A telephony source reporting its health.
    Source,
    /// Replaying the journal at start, before the server is ready: not
    /// recorded (it holds the lock by design).
    Replay,
}

impl Holder {
    /// The `holder` label.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The core, locked; how long it was held is recorded when let go.
pub struct CoreGuard<'a> {
    guard: MutexGuard<'a, Core>,
    since: std::time::Instant,
    holder: Holder,
    metrics: &'a Metrics,
}

impl std::ops::Deref for CoreGuard<'_> {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.guard
    }
}

impl std::ops::DerefMut for CoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.guard
    }
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        if self.holder == Holder::Replay {
            return;
        }
        let held = self.since.elapsed();
        let ns = u64::try_from(held.as_nanos()).unwrap_or(u64::MAX);
        self.metrics
            .ingest
            .lock_hold_max_ns
            .fetch_max(ns, Ordering::Relaxed);
        let holder = self.holder.as_str();
        self.metrics.record(|| {
            metrics::histogram!("wallboard_lock_hold_seconds", "holder" => holder)
                .record(held.as_secs_f64())
        });
    }
}

/// The version of [`Ingest::snapshot`] this build writes.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// Seconds of stream time per housekeeping pass on a node of a cluster.
const PRUNE_EVERY_SECONDS: i64 = 10;

/// Why a batch was not stored: nothing of it was applied, and the sender
/// is answered 503 with `Retry-After` — or 413 for a batch too big for the
/// cluster's log, which a retry cannot fix (see [`http::submit`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The local journal could not write or sync it, or stopped after an
    /// earlier failure.
    #[error("the journal could not store this batch ({0}): nothing of it was applied")]
    Journal(#[source] std::io::Error),
    /// The blocking task that runs the batch ended without an answer.
    #[error(
        "the journal could not store this batch (ingest task failed: {0}): nothing of it was applied"
    )]
    Task(String),
    /// A cluster's log could not take it; see [`cluster::LogError`].
    #[error(transparent)]
    Log(#[from] cluster::LogError),
}

enum Applied {
    Accepted,
    Duplicate,
    Rejected(String),
}

/// Dedupe, then apply: one event, as ingest and replay both do it.
fn apply(core: &mut Core, event: &Event, now: Timestamp) -> Applied {
    if core.dedupe.contains(&event.id) {
        return Applied::Duplicate;
    }
    match core.aggregator.apply(event, now) {
        Ok(()) => {
            core.dedupe.insert(&event.id, now);
            let latest = &mut core.aggregator.latest_ts;
            *latest = Some(latest.map_or(event.ts, |l| l.max(event.ts)));
            Applied::Accepted
        }
        Err(error) => Applied::Rejected(format!("{}: {error}", event.kind.type_name())),
    }
}

/// A cheap, cloneable handle to the pipeline.
#[derive(Clone)]
pub struct Ingest {
    core: Arc<Mutex<Core>>,
    clock: Clock,
    max_future_skew: SignedDuration,
    /// Events older than this are rejected (the id retention).
    max_age: SignedDuration,
    /// Signalled after every batch that changed the state (the tick waits
    /// on it).
    changed: Arc<tokio::sync::Notify>,
    metrics: Arc<Metrics>,
    /// Events per second per sender, and each sender's bucket.
    rate: f64,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    pub max_batch_events: usize,
    /// What the journal's replay skipped (`.damaged` copies, unreadable
    /// records): `/readyz` says it.
    replay_skipped: Arc<Mutex<Vec<String>>>,
    /// Set when this server is a node of a cluster (`[cluster]`).
    cluster: Arc<std::sync::OnceLock<Arc<cluster::Cluster>>>,
}

/// A token bucket: `tokens` events may go now; it refills at the rate, up
/// to one second's worth. A batch larger than that is charged whole (the
/// bucket goes below zero): a sender cannot pass its rate by sending
/// bigger batches. (`governor`'s GCRA cannot charge more than its burst.)
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

/// What happened to a batch: the `POST /api/v1/events` response body.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// 0-based position of the event in the batch.
    pub index: usize,
    pub error: String,
}

impl Ingest {
    pub fn new(config: Arc<Config>, clock: Clock) -> Ingest {
        let core = Core {
            dedupe: Dedupe::new(config.dedupe_retention),
            aggregator: Aggregator::new(config.clone()),
            journal: None,
            seq: 0,
            logged_at: None,
        };
        Ingest {
            core: Arc::new(Mutex::new(core)),
            clock,
            max_future_skew: config.max_future_skew,
            max_age: config.dedupe_retention,
            changed: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::new(Metrics::new()),
            rate: f64::from(config.limits.ingest_events_per_second),
            buckets: Arc::new(Mutex::new(HashMap::new())),
            max_batch_events: config.limits.max_batch_events,
            replay_skipped: Arc::new(Mutex::new(Vec::new())),
            cluster: Arc::default(),
        }
    }

    /// The journal's fault seam (tests inject I/O failures through it);
    /// `None` without a journal.
    pub fn journal_faults(&self) -> Option<Arc<crate::journal::Faults>> {
        self.lock(Holder::Read)
            .journal
            .as_ref()
            .map(Journal::faults)
    }

    /// What the journal's replay skipped, as `/readyz` reports it.
    pub fn replay_skipped(&self) -> Vec<String> {
        self.replay_skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `sender` may send `events` more now; else the seconds to
    /// wait. A batch larger than a second's worth goes when the bucket is
    /// full (and empties it).
    pub fn admit(&self, sender: &str, events: usize) -> Result<(), u64> {
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(sender.to_string()).or_insert(Bucket {
            tokens: self.rate,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refilled).min(self.rate);
        bucket.at = now;
        let want = (events as f64).min(self.rate);
        if bucket.tokens >= want {
            bucket.tokens -= events as f64;
            Ok(())
        } else {
            Err(((want - bucket.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }

    /// Resolves after the next batch that changes the state (at once if
    /// one did since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// This server's metrics (ingest counts them; `/metrics` renders them).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Locks the core for `holder`. Never held across an `.await`;
    /// holders are short (one batch, one step's read of what changed); how
    /// long each kind holds it, and the longest hold, are metrics.
    pub fn lock(&self, holder: Holder) -> CoreGuard<'_> {
        // A panic while holding the lock cannot leave half an event applied
        // (apply checks before it changes), so a poisoned lock is usable.
        let guard = self.core.lock().unwrap_or_else(|e| e.into_inner());
        CoreGuard {
            guard,
            since: std::time::Instant::now(),
            holder,
            metrics: &self.metrics,
        }
    }

    /// Runs a batch through the pipeline. `items` are parse results in
    /// batch order; their index is their position.
    ///
    /// With a journal, the events that pass the checks are written and
    /// synced before any is applied; if that fails, nothing of the batch is
    /// applied and the error is returned (the sender gets 503 and retries).
    pub fn submit(&self, items: Vec<Result<Event, String>>) -> Result<Outcome, StoreError> {
        let now = self.clock.now();
        let (mut outcome, screened) = self.screen(items, now);
        let mut guard = self.lock(Holder::Batch);
        let core = &mut *guard;
        let mut candidates: Vec<(usize, Event)> = Vec::with_capacity(screened.len());
        for (index, event) in screened {
            if core.dedupe.contains(&event.id) {
                outcome.duplicates += 1;
            } else {
                candidates.push((index, event));
            }
        }
        // Written under the lock, so the journal's order is the order of
        // application; synced after it, so concurrent batches share a sync.
        let pending = match core.journal.as_mut() {
            Some(journal) => {
                let events: Vec<&Event> = candidates.iter().map(|(_, e)| e).collect();
                let (day, _, _) = local_day(&core.aggregator.config().timezone, now);
                let aggregator = &core.aggregator;
                let ticket = self
                    .metrics
                    .record(|| {
                        journal.write(day, &events, || {
                            aggregator.checkpoint().map_err(std::io::Error::other)
                        })
                    })
                    .map_err(StoreError::Journal)?;
                Some((journal.syncer(), ticket))
            }
            None => None,
        };
        self.metrics.record(|| {
            for (index, event) in candidates {
                match apply(core, &event, now) {
                    Applied::Accepted => outcome.accepted += 1,
                    Applied::Duplicate => outcome.duplicates += 1,
                    Applied::Rejected(error) => outcome.rejected.push(Rejected { index, error }),
                }
            }
        });
        if outcome.accepted > 0 {
            core.seq += 1;
            self.changed.notify_one();
        }
        drop(guard);
        // Viewers may see the batch before it is synced; its sender hears
        // only after. A failed sync poisons the journal (every later batch
        // gets 503 until a restart replays what is really on disk), so
        // nothing is acknowledged that a restart would not bring back.
        if let Some((syncer, ticket)) = pending {
            match syncer.sync(ticket) {
                Ok(Some(took)) => self.metrics.record(|| {
                    metrics::histogram!("wallboard_journal_fsync_seconds")
                        .record(took.as_secs_f64())
                }),
                Ok(None) => {}
                Err(e) => return Err(StoreError::Journal(e)),
            }
        }
        Ok(self.answered(outcome))
    }

    /// The checks that need no state, against this server's clock: the
    /// parse errors, events too far in the future or too old. What passes,
    /// with its position in the batch.
    pub fn screen(
        &self,
        items: Vec<Result<Event, String>>,
        now: Timestamp,
    ) -> (Outcome, Vec<(usize, Event)>) {
        let latest = now.checked_add(self.max_future_skew).unwrap_or(now);
        // Nothing older than the id retention can matter to a window, and
        // booking agent time from the distant past would cost a bucket per day.
        let earliest = now.checked_sub(self.max_age).unwrap_or(Timestamp::MIN);
        let mut outcome = Outcome::default();
        let mut passed = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            match item {
                Ok(event) if event.ts > latest => outcome.rejected.push(Rejected {
                    index,
                    error: format!(
                        "`ts` {} is in the future: more than {:#} after the server's clock ({now})",
                        event.ts, self.max_future_skew
                    ),
                }),
                Ok(event) if event.ts < earliest => outcome.rejected.push(Rejected {
                    index,
                    error: format!(
                        "`ts` {} is too old: more than {:#} before the server's clock ({now})",
                        event.ts, self.max_age
                    ),
                }),
                Ok(event) => passed.push((index, event)),
                Err(error) => outcome.rejected.push(Rejected { index, error }),
            }
        }
        (outcome, passed)
    }

    /// A batch's answer, counted in the ingest metrics.
    pub fn answered(&self, mut outcome: Outcome) -> Outcome {
        outcome.rejected.sort_by_key(|r| r.index);
        let counts = &self.metrics.ingest;
        counts
            .accepted
            .fetch_add(outcome.accepted, Ordering::Relaxed);
        counts
            .duplicate
            .fetch_add(outcome.duplicates, Ordering::Relaxed);
        counts
            .rejected
            .fetch_add(outcome.rejected.len() as u64, Ordering::Relaxed);
        outcome
    }

    /// Runs a batch through the pipeline from async code: through the
    /// cluster's log when there is one, else [`Ingest::submit`] off the
    /// async workers (it syncs the journal under the core lock).
    pub async fn submit_batch(
        &self,
        items: Vec<Result<Event, String>>,
    ) -> Result<Outcome, StoreError> {
        if let Some(cluster) = self.cluster.get() {
            return Ok(cluster.submit(self, items).await?);
        }
        let ingest = self.clone();
        tokio::task::spawn_blocking(move || ingest.submit(items))
            .await
            .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
    }

    /// The cluster this server is a node of, once connected.
    pub fn cluster(&self) -> Option<&Arc<cluster::Cluster>> {
        self.cluster.get()
    }

    /// Makes this server a node of `cluster`: batches go through its log,
    /// and the board says where in it this node is.
    pub fn join(&self, cluster: Arc<cluster::Cluster>) {
        self.lock(Holder::Replay).aggregator.log = Some(wallboard_protocol::ClusterBoard {
            epoch: cluster.epoch().to_string(),
            applied: cluster.applied(),
            node: cluster.config().node.clone(),
        });
        let _ = self.cluster.set(cluster);
    }

    /// The state a node of a cluster holds after stream message
    /// `sequence`, as canonical bytes (JSON with sorted keys, ids in the
    /// order they were seen, the stream time of the last message): every
    /// node that applied the same stream holds the same bytes, so their hash
    /// is compared across nodes and any node's copy can start another. Only
    /// the copying is done under the core lock.
    pub fn snapshot(&self, sequence: u64) -> Result<Vec<u8>, String> {
        let (checkpoint, dedupe, at) = {
            let core = self.lock(Holder::Read);
            let checkpoint = core.aggregator.checkpoint().map_err(|e| e.to_string())?;
            let dedupe: Vec<(Timestamp, String)> = core
                .dedupe
                .entries()
                .map(|(at, id)| (at, id.to_string()))
                .collect();
            (checkpoint, dedupe, core.logged_at)
        };
        // Through `Value`, whose maps are sorted: the aggregate's hash maps
        // iterate in a per-process order.
        let aggregator: serde_json::Value =
            serde_json::from_slice(&checkpoint).map_err(|e| e.to_string())?;
        serde_json::to_vec(&serde_json::json!({
            "format": SNAPSHOT_FORMAT,
            "sequence": sequence,
            "at": at,
            "aggregator": aggregator,
            "dedupe": dedupe,
        }))
        .map_err(|e| e.to_string())
    }

    /// Restores a [`Ingest::snapshot`] taken after stream message
    /// `sequence`. On `Err` (another sequence, a newer format, bytes that
    /// do not read) nothing changed.
    pub fn restore_snapshot(&self, bytes: &[u8], sequence: u64) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Snapshot {
            format: u32,
            sequence: u64,
            at: Option<Timestamp>,
            aggregator: Box<serde_json::value::RawValue>,
            dedupe: Vec<(Timestamp, String)>,
        }
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if snapshot.format > SNAPSHOT_FORMAT {
            return Err(format!(
                "snapshot format {} (this version reads up to {SNAPSHOT_FORMAT})",
                snapshot.format
            ));
        }
        if snapshot.sequence != sequence {
            return Err(format!(
                "it holds the state after sequence {}, not {sequence}",
                snapshot.sequence
            ));
        }
        let mut core = self.lock(Holder::Replay);
        core.aggregator
            .restore(snapshot.aggregator.get().as_bytes())?;
        core.dedupe.restore(snapshot.dedupe);
        core.logged_at = snapshot.at;
        if let Some(log) = core.aggregator.log.as_mut() {
            log.applied = sequence;
        }
        core.seq += 1;
        self.changed.notify_one();
        Ok(())
    }

    /// Applies one message of the cluster's log, stored at `at` by the
    /// stream: the same dedupe-then-apply as the journal's replay, with the
    /// stream's time as "now", so every node that applies the same stream
    /// in the same order holds the same state. Housekeeping runs here too,
    /// by the stream's time, never by a node's clock: before the first
    /// message of each 10 s of stream time (a rule of the messages' times
    /// alone, so a node restored from a snapshot prunes where the others
    /// do). The outcome's positions are the message's.
    pub fn apply_logged(&self, events: &[Event], sequence: u64, at: Timestamp) -> Outcome {
        let mut guard = self.lock(Holder::Batch);
        let core = &mut *guard;
        if let Some(log) = core.aggregator.log.as_mut() {
            log.applied = sequence;
        }
        let slot = |t: Timestamp| t.as_second().div_euclid(PRUNE_EVERY_SECONDS);
        let prune = core.logged_at.is_none_or(|last| slot(at) != slot(last));
        core.logged_at = Some(at);
        let mut outcome = Outcome::default();
        let mut changed = false;
        if prune {
            core.dedupe.prune(at);
            changed |= core.aggregator.prune(at);
        }
        self.metrics.record(|| {
            for (index, event) in events.iter().enumerate() {
                match apply(core, event, at) {
                    Applied::Accepted => outcome.accepted += 1,
                    Applied::Duplicate => outcome.duplicates += 1,
                    Applied::Rejected(error) => outcome.rejected.push(Rejected { index, error }),
                }
            }
        });
        if changed || outcome.accepted > 0 {
            core.seq += 1;
            self.changed.notify_one();
        }
        outcome
    }

    /// Opens the journal in `dir` and replays it into the (empty) core:
    /// the same dedupe-then-apply as [`Ingest::submit`], so the state after
    /// a restart is the state before it. Then appends go there.
    pub fn open_journal(&self, dir: &std::path::Path) -> std::io::Result<Replayed> {
        let mut guard = self.lock(Holder::Replay);
        let core = &mut *guard;
        let config = core.aggregator.config();
        let mut journal = Journal::open(
            dir,
            config.journal_retention_days,
            config.journal_commit_delay.unsigned_abs(),
        )?;
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let replayed = self.metrics.record(|| {
            journal.replay(|record| match record {
                Record::Checkpoint(bytes) => core.aggregator.restore(bytes),
                Record::Event(event) => {
                    if let Applied::Rejected(error) = apply(core, &event, now)
                        && event.kind.is_server_written()
                    {
                        // An admin change accepted before that this state
                        // (or a changed config file) refuses now: say so.
                        tracing::error!(id = %event.id, error = %error, "journal: an admin change no longer applies; skipped");
                    }
                    Ok(())
                }
            })
        })?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            dir = %dir.display(),
            segments = replayed.segments,
            events = replayed.records,
            checkpoint = replayed.checkpoint,
            truncated_bytes = replayed.truncated_bytes,
            damaged_records = replayed.damaged_records,
            unreadable_records = replayed.unreadable_records,
            seconds,
            rate = (replayed.records as f64 / seconds.max(1e-9)) as u64,
            "journal replayed"
        );
        core.journal = Some(journal);
        core.seq += 1;
        drop(guard);
        let counts = &self.metrics.ingest;
        counts
            .journal_damaged
            .store(replayed.damaged_records, Ordering::Relaxed);
        counts
            .journal_unreadable
            .store(replayed.unreadable_records, Ordering::Relaxed);
        *self
            .replay_skipped
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = replayed.skipped.clone();
        Ok(replayed)
    }

    /// Records whether a telephony connection is up; the board shows it at
    /// the next tick.
    pub fn set_source_health(&self, name: &str, up: bool, error: Option<String>) {
        let now = self.clock.now();
        let mut core = self.lock(Holder::Source);
        let sources = &mut core.aggregator.sources;
        let since = match sources.get(name) {
            Some(s) if s.up == up => s.since,
            _ => now,
        };
        let health = wallboard_protocol::SourceBoard { up, since, error };
        if sources.get(name) != Some(&health) {
            sources.insert(name.to_string(), health);
            core.seq += 1;
            self.changed.notify_one();
        }
    }

    /// Takes the live part of a file read again (a reload) over the file
    /// config the server runs with, the live settings laid over it anew;
    /// the next step recomputes every queue. Returns the file config it
    /// replaces; on `Err` (the overrides do not hold under the new file)
    /// nothing changed.
    pub fn reconfigure(&self, file: &Config) -> Result<Arc<Config>, String> {
        let mut core = self.lock(Holder::Batch);
        let old = core.aggregator.base_config().clone();
        let live = crate::settings::live_part(&old, file);
        core.aggregator.set_base(Arc::new(live))?;
        core.seq += 1;
        self.changed.notify_one();
        Ok(old)
    }

    /// How many entries the state's collections hold now (what a day-long
    /// run must keep bounded).
    pub fn sizes(&self) -> StateSizes {
        let core = self.lock(Holder::Read);
        let agg = &core.aggregator;
        let minutes = agg.totals.minutes.len()
            + agg
                .queues
                .iter()
                .map(|q| q.buckets.minutes.len())
                .sum::<usize>();
        let days = agg.totals.days.len()
            + agg
                .queues
                .iter()
                .map(|q| q.buckets.days.len())
                .sum::<usize>();
        StateSizes {
            dedupe_ids: core.dedupe.len(),
            contacts: agg.contacts.len(),
            agents: agg.agents.len(),
            complaints: agg.complaints.len(),
            minute_buckets: minutes,
            day_buckets: days,
        }
    }

    /// Housekeeping: forget ids and state no window can use any more. A
    /// node of a cluster does this as it applies the log instead.
    pub fn prune(&self) {
        if self.cluster.get().is_some() {
            return;
        }
        let now = self.clock.now();
        let mut core = self.lock(Holder::Prune);
        core.dedupe.prune(now);
        if core.aggregator.prune(now) {
            // What was forgotten leaves the board: a new version of it.
            core.seq += 1;
            self.changed.notify_one();
        }
    }
}

/// Entries in the state's collections ([`Ingest::sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSizes {
    pub dedupe_ids: usize,
    pub contacts: usize,
    pub agents: usize,
    pub complaints: usize,
    pub minute_buckets: usize,
    pub day_buckets: usize,
}

/// The ids seen recently, so a retried event is dropped, not counted twice.
/// Ids are kept for the configured retention (at least 24 h) by server time.
pub struct Dedupe {
    retention: SignedDuration,
    /// Sharded and chunked: a day's ids grow to millions, and growing must
    /// not stop ingest (see `sharded`).
    seen: ShardedMap<Arc<str>, ()>,
    /// Insertion order, for expiry.
    order: Fifo<(Timestamp, Arc<str>)>,
}

impl Dedupe {
    pub fn new(retention: SignedDuration) -> Dedupe {
        Dedupe {
            retention,
            seen: ShardedMap::new(),
            order: Fifo::default(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains_key(id)
    }

    pub fn insert(&mut self, id: &str, now: Timestamp) {
        let id: Arc<str> = Arc::from(id);
        if self.seen.insert(id.clone(), ()).is_none() {
            self.order.push_back((now, id));
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// The ids kept, with when each was seen, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (Timestamp, &str)> {
        self.order.iter().map(|(at, id)| (*at, &**id))
    }

    /// Replaces the ids kept with `entries` (oldest first).
    pub fn restore(&mut self, entries: impl IntoIterator<Item = (Timestamp, String)>) {
        *self = Dedupe::new(self.retention);
        for (at, id) in entries {
            self.insert(&id, at);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn prune(&mut self, now: Timestamp) {
        let horizon = now.checked_sub(self.retention).unwrap_or(Timestamp::MIN);
        while let Some((at, _)) = self.order.front() {
            if *at >= horizon {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.seen.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_ids_for_the_retention_then_forgets() {
        let mut d = Dedupe::new(SignedDuration::from_hours(24));
        let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        d.insert("a", t0);
        d.insert("a", t0);
        assert_eq!(d.len(), 1);
        d.prune(t0 + SignedDuration::from_hours(24));
        assert!(d.contains("a"), "kept for a full day");
        d.prune(t0 + SignedDuration::from_hours(24) + SignedDuration::from_secs(1));
        assert!(!d.contains("a"));
        assert!(d.is_empty());
    }

    /// Stream messages over 30 hours of stream time: contacts offered,
    /// answered and ended, ids sent again a day later, messages a few
    /// seconds apart and hours apart — so pruning of ids and finished
    /// contacts falls between messages in every way.
    fn logged_messages() -> Vec<(Timestamp, Vec<Event>)> {
        let t0: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let mut at = t0;
        let mut messages = Vec::new();
        for m in 0..400u32 {
            at += SignedDuration::from_secs(if m % 3 == 0 { 4 } else { 7 * 60 - 13 });
            let ts = at.to_string();
            let line = |id: String, body: &str| -> Event {
                serde_json::from_str(&format!(r#"{{"id":"{id}","ts":"{ts}",{body}}}"#)).unwrap()
            };
            let c = m / 2;
            let mut events = vec![
                line(
                    format!("o{m}"),
                    &format!(
                        r#""type":"contact_offered","contact":"c{m}","queue":"q{}""#,
                        m % 3
                    ),
                ),
                line(
                    format!("s{m}"),
                    &format!(
                        r#""type":"agent_state","agent":"a{}","state":"available","queues":["q0","q1","q2"]"#,
                        m % 5
                    ),
                ),
            ];
            if m % 2 == 1 {
                events.push(line(
                    format!("e{c}"),
                    &format!(r#""type":"contact_abandoned","contact":"c{c}""#),
                ));
            }
            if m >= 331 {
                // An id from about 25 hours before (the retention), sent
                // again: some are still kept, some have expired.
                events.push(line(
                    format!("o{}", m - 331),
                    &format!(r#""type":"contact_offered","contact":"x{m}","queue":"q0""#),
                ));
            }
            messages.push((at, events));
        }
        messages
    }

    #[test]
    fn a_node_restored_from_a_snapshot_holds_what_a_node_that_applied_everything_holds() {
        let config = Arc::new(Config::from_toml("timezone = \"Asia/Shanghai\"").unwrap());
        let node = || {
            Ingest::new(
                config.clone(),
                Clock::fixed("2026-11-23T00:00:00Z".parse().unwrap()),
            )
        };
        let messages = logged_messages();
        let span = messages.last().unwrap().0.duration_since(messages[0].0);
        assert!(span > SignedDuration::from_hours(27), "{span:#}");
        let whole = node();
        let mut outcomes = Vec::new();
        let mut snapshots = Vec::new();
        for (i, (at, events)) in messages.iter().enumerate() {
            let sequence = i as u64 + 1;
            outcomes.push(whole.apply_logged(events, sequence, *at));
            if sequence.is_multiple_of(50) {
                snapshots.push((sequence, whole.snapshot(sequence).unwrap()));
            }
        }
        let duplicates: u64 = outcomes.iter().map(|o| o.duplicates).sum();
        let rejected: usize = outcomes.iter().map(|o| o.rejected.len()).sum();
        assert!(
            duplicates > 0 && duplicates < 199,
            "ids a day old: some still kept, some expired ({duplicates})"
        );
        let end = whole.snapshot(messages.len() as u64).unwrap();
        let mut compared = 0;
        for (sequence, bytes) in &snapshots {
            let restored = node();
            restored.restore_snapshot(bytes, *sequence).unwrap();
            let again = restored.snapshot(*sequence).unwrap();
            assert!(
                &again == bytes,
                "restored at {sequence}: it reads back other bytes"
            );
            for (i, (at, events)) in messages.iter().enumerate().skip(*sequence as usize) {
                let outcome = restored.apply_logged(events, i as u64 + 1, *at);
                assert_eq!(
                    outcome,
                    outcomes[i],
                    "message {} after a restore at {sequence}",
                    i + 1
                );
            }
            let last = restored.snapshot(messages.len() as u64).unwrap();
            assert!(
                last == end,
                "restored at {sequence}: another state at the end"
            );
            compared += 1;
        }
        println!(
            "{compared} restores compared; {duplicates} duplicates and {rejected} rejections over {span:#}"
        );
        assert_eq!(compared, 8);
        // A snapshot of another sequence, or a newer format, changes nothing.
        let other = node();
        let (sequence, bytes) = &snapshots[0];
        assert!(
            other
                .restore_snapshot(bytes, sequence + 1)
                .unwrap_err()
                .contains("after sequence 50")
        );
        let newer =
            String::from_utf8(bytes.clone())
                .unwrap()
                .replacen("\"format\":1", "\"format\":9", 1);
        assert!(
            other
                .restore_snapshot(newer.as_bytes(), *sequence)
                .unwrap_err()
                .contains("format 9")
        );
        let untouched = other.snapshot(0).unwrap() == node().snapshot(0).unwrap();
        assert!(untouched, "a refused restore changed the state");
    }
}
