//! Cluster mode (`[cluster]`): the event log is a NATS JetStream stream,
//! and every node is a replica of the same state machine.
//!
//! - Any node accepts a batch. The stateless checks run on it
//!   ([`Ingest::screen`]); what passes becomes one stream message (an
//!   [`Envelope`], `Nats-Msg-Id` the hash of its bytes), published and
//!   retried with the same id until `publish_timeout`. JetStream answers
//!   once a quorum of its servers holds it.
//! - Every node follows the stream from its first message with an
//!   ephemeral pull consumer driven by hand (recreated from `applied + 1`
//!   on any error or gap) and applies each message in stream order under
//!   the core lock with the stream's timestamp as "now"
//!   ([`Ingest::apply_logged`]): no node clock, no randomness, so every
//!   node holds the same state.
//! - The node that published a batch answers once its own applier has
//!   applied that sequence, with what applying it did: exactly what a
//!   single node answers (`accepted`, `duplicates`, `rejected`).
//! - The 25 h id dedupe lives in the state (expired by the stream's time);
//!   JetStream's own duplicate window is minutes, for publish retries.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, object_store, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wallboard_protocol::Event;

use super::{Ingest, Outcome, Rejected};
use crate::config::ClusterConfig;
use tokio_util::sync::CancellationToken;

/// The version of [`Envelope`] this build writes (and the newest it reads).
pub const ENVELOPE_FORMAT: u32 = 1;
/// JetStream's duplicate window: long enough for a publish's retries.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long one publish attempt waits for its acknowledgement.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Recent batches' outcomes kept for the nodes that wait on them, and the
/// rejections (with their texts) they may hold in all.
const OUTCOMES_KEPT: usize = 16_384;
const REJECTIONS_KEPT: usize = 100_000;

/// One stream message: a batch's events that passed the stateless checks.
#[derive(Serialize)]
struct EnvelopeOut<'a> {
    format: u32,
    events: Vec<&'a Event>,
}

/// A stream message as read: events stay raw until applied, so one this
/// version cannot read costs only itself.
#[derive(Deserialize)]
struct Envelope<'a> {
    format: u32,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Why the cluster could not be joined or used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {servers}: {reason}")]
    Connect { servers: String, reason: String },
    #[error("JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
}

/// Why the log did not take a batch (the sender is answered 503, or 413
/// when it is too big for the servers' `max_payload`).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot encode the batch: {0}")]
    Encode(#[source] serde_json::Error),
    #[error(
        "the batch is {bytes} bytes as a stream message and the NATS servers take at most {limit} \
         (max_payload): send fewer events per batch"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error(
        "the cluster's log did not store this batch within {within:#} ({last}); \
         it may yet be stored once NATS is back, and a resend with the same ids is counted once"
    )]
    NotStored {
        within: SignedDuration,
        last: String,
    },
    #[error(
        "stored as stream message {sequence} but not applied on this node within {within:#}: \
         a retry with the same ids is counted once"
    )]
    NotApplied {
        sequence: u64,
        within: SignedDuration,
    },
    #[error("stream message {0} was applied but its outcome is no longer kept")]
    OutcomeGone(u64),
}

/// Counts `/metrics` shows.
#[derive(Default)]
pub struct ClusterStats {
    pub publish_retries: AtomicU64,
    /// The stream's last sequence, as last seen (acks and stream info).
    pub head: AtomicU64,
    /// Messages this version could not read (applied as nothing).
    pub unreadable: AtomicU64,
    /// Another node's state hash differs from ours at a sequence.
    pub diverged: AtomicBool,
    /// The stream lost a message this node has not applied yet.
    pub stalled: AtomicBool,
}

/// A node's handle on the cluster's log.
pub struct Cluster {
    config: ClusterConfig,
    js: jetstream::Context,
    subject: String,
    /// The last stream sequence this node applied.
    applied: watch::Sender<u64>,
    /// (sequence, outcome) of recently applied messages, oldest first,
    /// and how many rejections they hold (both bounded).
    outcomes: Mutex<VecDeque<(u64, Outcome)>>,
    outcomes_rejected: std::sync::atomic::AtomicUsize,
    /// Why this node cannot go on applying (see `ClusterStats::stalled`).
    stalled_reason: Mutex<Option<String>>,
    /// The stream's identity: its creation time (nanoseconds since 1970).
    epoch: String,
    /// Checkpoints, by sequence (`STREAM_checkpoints`).
    checkpoints: object_store::ObjectStore,
    /// This node's state hashes at checkpoint sequences, and the other
    /// nodes' not yet compared (this node had not got there).
    hashes: Mutex<Hashes>,
    pub stats: ClusterStats,
}

#[derive(Default)]
struct Hashes {
    own: std::collections::BTreeMap<u64, String>,
    /// (sequence, node, hash) heard before this node reached the sequence.
    pending: Vec<(u64, String, String)>,
}

/// What each node publishes on `STREAM.state` at a checkpoint sequence.
#[derive(Serialize, Deserialize)]
struct StateHash {
    node: String,
    sequence: u64,
    hash: String,
}

/// State hashes kept per node (the last checkpoints').
const HASHES_KEPT: usize = 64;
/// Checkpoints kept in the object store.
const CHECKPOINTS_KEPT: usize = 3;

impl Cluster {
    /// Connects to NATS and makes sure the stream exists with this
    /// configuration (file storage, `replicas` copies, a short duplicate
    /// window).
    pub async fn connect(config: &ClusterConfig) -> Result<Arc<Cluster>, ClusterError> {
        let servers = config.nats.join(", ");
        // NATS may still be starting (a host's services come up together):
        // tried for 15 s, then the start fails naming the last error.
        let deadline = tokio::time::Instant::now() + CONNECT_FOR;
        let client = loop {
            let last = match tokio::time::timeout(
                Duration::from_secs(5),
                connect_options(config)
                    .await?
                    .connect(config.nats.as_slice()),
            )
            .await
            {
                Ok(Ok(client)) => break client,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no server answered within 5 s".into(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Connect {
                    servers,
                    reason: format!("{last} (tried for {} s)", CONNECT_FOR.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        // JetStream API requests (consumer creation, stream info) that meet
        // a dead server or an election give up after 2 s and are tried
        // again, rather than waiting out the client's default 5 s.
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(2))
            .build(client);
        let subject = format!("{}.events", config.stream);
        let stream_error = |reason: String| ClusterError::Stream {
            stream: config.stream.clone(),
            reason,
        };
        // Creating races with the other nodes at first start: whoever is
        // second finds it made.
        let wanted = stream::Config {
            name: config.stream.clone(),
            subjects: vec![subject.clone()],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        let mut last = String::new();
        for _ in 0..20 {
            match js.get_or_create_stream(wanted.clone()).await {
                Ok(mut stream) => {
                    let info = stream
                        .info()
                        .await
                        .map_err(|e| stream_error(e.to_string()))?;
                    if !info.config.subjects.contains(&subject) {
                        return Err(stream_error(format!(
                            "exists but does not take subject {subject} (it takes {:?})",
                            info.config.subjects
                        )));
                    }
                    for warning in stream_warnings(&info.config, config) {
                        tracing::warn!(stream = %config.stream, "{warning}");
                    }
                    let checkpoints = checkpoint_store(&js, config)
                        .await
                        .map_err(|e| stream_error(format!("its checkpoint store: {e}")))?;
                    let cluster = Cluster {
                        config: config.clone(),
                        js,
                        subject,
                        applied: watch::Sender::new(0),
                        outcomes: Mutex::new(VecDeque::new()),
                        outcomes_rejected: Default::default(),
                        stalled_reason: Mutex::new(None),
                        epoch: info.created.unix_timestamp_nanos().to_string(),
                        checkpoints,
                        hashes: Mutex::new(Hashes::default()),
                        stats: ClusterStats::default(),
                    };
                    cluster
                        .stats
                        .head
                        .store(info.state.last_sequence, Ordering::Relaxed);
                    return Ok(Arc::new(cluster));
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(stream_error(last))
    }

    /// What `/metrics` shows of this node.
    pub fn counts(&self) -> crate::metrics::ClusterCounts<'_> {
        crate::metrics::ClusterCounts {
            node: &self.config.node,
            applied: self.applied(),
            head: self.stats.head.load(Ordering::Relaxed),
            publish_retries: self.stats.publish_retries.load(Ordering::Relaxed),
            unreadable: self.stats.unreadable.load(Ordering::Relaxed),
            diverged: self.stats.diverged.load(Ordering::Relaxed),
            nats_connected: self.js.client().connection_state()
                == async_nats::connection::State::Connected,
        }
    }

    /// Why this node cannot go on applying the stream, if it cannot
    /// (`/readyz` answers 503 with it).
    pub fn stalled(&self) -> Option<String> {
        self.stalled_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The log's identity (see `ClusterBoard::epoch`).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The NATS server this node is connected to now (its `server_name`).
    pub fn connected_server(&self) -> String {
        self.js.client().server_info().server_name
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The last stream sequence this node applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The stream's last sequence now (asked of JetStream).
    pub async fn head(&self) -> Result<u64, String> {
        let mut stream = self
            .js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| e.to_string())?;
        let last = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .last_sequence;
        self.stats.head.fetch_max(last, Ordering::Relaxed);
        Ok(last)
    }

    /// Resolves once this node has applied `sequence`.
    pub async fn caught_up_to(&self, sequence: u64) {
        let mut applied = self.applied.subscribe();
        let _ = applied.wait_for(|&a| a >= sequence).await;
    }

    /// A batch through the log: the stateless checks here, then one
    /// message, then this node's applier's outcome for it.
    pub async fn submit(
        &self,
        ingest: &Ingest,
        items: Vec<Result<Event, String>>,
    ) -> Result<Outcome, LogError> {
        let (mut outcome, candidates) = ingest.screen(items, ingest.clock().now());
        if candidates.is_empty() {
            return Ok(ingest.answered(outcome));
        }
        let payload = serde_json::to_vec(&EnvelopeOut {
            format: ENVELOPE_FORMAT,
            events: candidates.iter().map(|(_, e)| e).collect(),
        })
        .map_err(LogError::Encode)?;
        let limit = self.js.client().server_info().max_payload;
        if limit > 0 && payload.len() > limit {
            return Err(LogError::TooLarge {
                bytes: payload.len(),
                limit,
            });
        }
        let deadline = tokio::time::Instant::now() + self.config.publish_timeout.unsigned_abs();
        let (ack, retried) = self.publish(Bytes::from(payload), deadline).await?;
        self.stats.head.fetch_max(ack.sequence, Ordering::Relaxed);
        if tokio::time::timeout_at(deadline, self.caught_up_to(ack.sequence))
            .await
            .is_err()
        {
            return Err(LogError::NotApplied {
                sequence: ack.sequence,
                within: self.config.publish_timeout,
            });
        }
        let original = self.outcome_of(ack.sequence);
        // A duplicate after this request's own retry is this request's
        // message (its first attempt was stored, its acknowledgement lost).
        let resent = ack.duplicate && !retried;
        let logged = match (resent, original) {
            // A resend of a message already in the stream: what a single
            // node answers to a resent batch — every event it applied is a
            // duplicate now, what it rejected is rejected again.
            (true, Some(first)) => Outcome {
                accepted: 0,
                duplicates: first.accepted + first.duplicates,
                rejected: first.rejected,
            },
            (true, None) => Outcome {
                duplicates: candidates.len() as u64,
                ..Outcome::default()
            },
            (false, Some(outcome)) => outcome,
            (false, None) => {
                return Err(LogError::OutcomeGone(ack.sequence));
            }
        };
        outcome.accepted += logged.accepted;
        outcome.duplicates += logged.duplicates;
        outcome
            .rejected
            .extend(logged.rejected.into_iter().map(|r| Rejected {
                index: candidates[r.index].0,
                error: r.error,
            }));
        Ok(ingest.answered(outcome))
    }

    /// Publishes `payload` with its hash as `Nats-Msg-Id`, retrying with the
    /// same id until `deadline`: JetStream stores it once. Also says whether
    /// it sent more than once.
    async fn publish(
        &self,
        payload: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<(jetstream::publish::PublishAck, bool), LogError> {
        let id = message_id(&payload);
        let mut backoff = Duration::from_millis(50);
        let mut last;
        let mut retried = false;
        loop {
            let attempt = async {
                let message = jetstream::message::PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(&id);
                self.js
                    .send_publish(self.subject.clone(), message)
                    .await
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            };
            // An attempt whose acknowledgement is lost (its server died,
            // the stream's leader changed) is sent again after a second,
            // not left waiting until the deadline.
            let attempt_ends = deadline.min(tokio::time::Instant::now() + ATTEMPT_TIMEOUT);
            match tokio::time::timeout_at(attempt_ends, attempt).await {
                Ok(Ok(ack)) => return Ok((ack, retried)),
                Ok(Err(e)) => last = e,
                Err(_) => last = "no acknowledgement".into(),
            }
            let now = tokio::time::Instant::now();
            if now + backoff >= deadline {
                return Err(LogError::NotStored {
                    within: self.config.publish_timeout,
                    last,
                });
            }
            self.stats.publish_retries.fetch_add(1, Ordering::Relaxed);
            retried = true;
            tracing::warn!(error = %last, "cluster: publish failed, retrying with the same id");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    fn outcome_of(&self, sequence: u64) -> Option<Outcome> {
        let outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        let at = outcomes.binary_search_by_key(&sequence, |(s, _)| *s).ok()?;
        Some(outcomes[at].1.clone())
    }

    /// Before following the stream: restores the newest checkpoint the
    /// stream can be replayed after, so a node replays only what came
    /// since. Fails, rather than start with less than the whole state, when
    /// the stream no longer holds what follows every checkpoint.
    pub async fn restore(&self, ingest: &Ingest) -> Result<(), ClusterError> {
        let error = |reason: String| ClusterError::Stream {
            stream: self.config.stream.clone(),
            reason,
        };
        let mut stream = self
            .js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| error(e.to_string()))?;
        let state = stream
            .info()
            .await
            .map_err(|e| error(e.to_string()))?
            .state
            .clone();
        // The first sequence a node can still read (after the last when
        // the stream holds none).
        let first = if state.messages == 0 {
            state.last_sequence + 1
        } else {
            state.first_sequence
        };
        let mut names = Vec::new();
        let mut list = self
            .checkpoints
            .list()
            .await
            .map_err(|e| error(format!("checkpoints: {e}")))?;
        while let Some(info) = list.next().await {
            let info = info.map_err(|e| error(format!("checkpoints: {e}")))?;
            if let Some(sequence) =
                checkpoint_sequence(&self.epoch, &info.name).filter(|_| !info.deleted)
            {
                names.push(sequence);
            }
        }
        names.sort_unstable();
        let mut failed = Vec::new();
        for &sequence in names.iter().rev() {
            if sequence > state.last_sequence || sequence + 1 < first {
                continue;
            }
            let restored = match self.read_checkpoint(sequence).await {
                Ok(bytes) => blocking(|| ingest.restore_snapshot(&bytes, sequence))
                    .map_err(|e| format!("cannot be restored: {e}")),
                Err(e) => Err(format!("cannot be read: {e}")),
            };
            match restored {
                Ok(()) => {
                    tracing::info!(
                        sequence,
                        "cluster: restored a checkpoint; replaying the stream after it"
                    );
                    self.applied.send_replace(sequence);
                    return Ok(());
                }
                Err(e) => {
                    tracing::error!(sequence, error = %e, "cluster: a checkpoint not used; trying an older one");
                    failed.push(format!("{sequence} {e}"));
                }
            }
        }
        if first > 1 {
            let why = if failed.is_empty() {
                format!(
                    "no checkpoint was taken at sequence {} or later (this stream's: {names:?}): the \
                     state before the stream's first message is gone. Restore the stream, or start over \
                     with a new stream name",
                    first - 1
                )
            } else {
                format!(
                    "the checkpoints it could start from failed ({}); if that passes (NATS unreachable \
                     for a moment), start again",
                    failed.join("; ")
                )
            };
            return Err(error(format!(
                "the stream starts at sequence {first}, and {why}"
            )));
        }
        Ok(())
    }

    async fn read_checkpoint(&self, sequence: u64) -> Result<Vec<u8>, String> {
        use tokio::io::AsyncReadExt;
        let mut object = self
            .checkpoints
            .get(checkpoint_name(&self.epoch, sequence))
            .await
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    /// At a checkpoint sequence: this node's state bytes, their hash
    /// published to the other nodes and compared with theirs; then, off the
    /// applier, the bytes stored (once: every node's are the same) and old
    /// checkpoints dropped.
    async fn checkpoint(&self, ingest: &Ingest, sequence: u64) {
        let bytes = match blocking(|| ingest.snapshot(sequence)) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(sequence, error = %e, "cluster: cannot take a checkpoint");
                return;
            }
        };
        let hash = hash_of(&bytes);
        self.compare(&self.config.node, sequence, &hash, true);
        let message = serde_json::to_vec(&StateHash {
            node: self.config.node.clone(),
            sequence,
            hash,
        })
        .unwrap_or_default();
        if let Err(e) = self
            .js
            .client()
            .publish(format!("{}.state", self.config.stream), message.into())
            .await
        {
            tracing::warn!(error = %e, "cluster: cannot publish the state hash");
        }
        let (store, epoch) = (self.checkpoints.clone(), self.epoch.clone());
        tokio::spawn(async move {
            let name = checkpoint_name(&epoch, sequence);
            if store.info(&name).await.is_err() {
                match store.put(name.as_str(), &mut bytes.as_slice()).await {
                    Ok(_) => {
                        tracing::info!(sequence, bytes = bytes.len(), "cluster: checkpoint stored")
                    }
                    Err(e) => {
                        tracing::warn!(sequence, error = %e, "cluster: cannot store a checkpoint")
                    }
                }
            }
            // Keep the newest few.
            if let Ok(mut list) = store.list().await {
                let mut kept = Vec::new();
                while let Some(Ok(info)) = list.next().await {
                    if let Some(s) = checkpoint_sequence(&epoch, &info.name) {
                        kept.push(s);
                    }
                }
                kept.sort_unstable();
                let old = kept.len().saturating_sub(CHECKPOINTS_KEPT);
                for s in &kept[..old] {
                    let _ = store.delete(checkpoint_name(&epoch, *s)).await;
                }
            }
        });
    }

    /// Records a state hash (this node's when `own`) and compares it with
    /// what the others said for the same sequence.
    fn compare(&self, node: &str, sequence: u64, hash: &str, own: bool) {
        let mut hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        if own {
            hashes.own.insert(sequence, hash.to_string());
            while hashes.own.len() > HASHES_KEPT {
                hashes.own.pop_first();
            }
            let pending = std::mem::take(&mut hashes.pending);
            for (s, n, h) in pending {
                if s == sequence {
                    self.check(&n, s, &h, hash);
                } else if s > sequence {
                    hashes.pending.push((s, n, h));
                }
            }
            return;
        }
        match hashes.own.get(&sequence) {
            Some(mine) => {
                let mine = mine.clone();
                self.check(node, sequence, hash, &mine);
            }
            // This node has not got there, or is hashing it right now.
            None if sequence >= self.applied() && hashes.pending.len() < HASHES_KEPT * 8 => {
                hashes
                    .pending
                    .push((sequence, node.to_string(), hash.to_string()));
            }
            None => {}
        }
    }

    fn check(&self, node: &str, sequence: u64, theirs: &str, mine: &str) {
        if theirs != mine {
            self.stats.diverged.store(true, Ordering::Relaxed);
            tracing::error!(
                sequence,
                node,
                theirs,
                mine,
                "cluster: this node's state differs from another node's at the same stream sequence"
            );
        }
    }

    /// This node's state hash at a checkpoint sequence it applied.
    pub fn hash_at(&self, sequence: u64) -> Option<String> {
        let hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
        hashes.own.get(&sequence).cloned()
    }

    /// Listens to the other nodes' state hashes, and reads the stream's
    /// last sequence every few seconds (so a node whose applying stalls
    /// shows its lag), until shutdown.
    pub async fn run_hash_listener(self: Arc<Self>, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        let subject = format!("{}.state", self.config.stream);
        let mut subscription = match self.js.client().subscribe(subject).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cluster: cannot hear the other nodes' state hashes");
                return;
            }
        };
        let stop = shutdown.cancelled_owned();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.head()).await;
                }
                message = subscription.next() => {
                    let Some(message) = message else { break };
                    if let Ok(h) = serde_json::from_slice::<StateHash>(&message.payload)
                        && h.node != self.config.node
                    {
                        self.compare(&h.node, h.sequence, &h.hash, false);
                    }
                }
                _ = &mut stop => break,
            }
        }
    }

    /// Follows the stream and applies it, until shutdown: an ephemeral pull
    /// consumer from the next sequence, recreated on any error or gap.
    pub async fn run_applier(self: Arc<Self>, ingest: Ingest, shutdown: CancellationToken) {
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let stop = shutdown.clone().cancelled_owned();
            tokio::select! {
                result = self.follow(&ingest, &mut failures) => {
                    let e = result.unwrap_err();
                    failures += 1;
                    if failures <= 3 || failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, applied = self.applied(), "cluster: following the stream again");
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                _ = stop => break,
            }
        }
    }

    async fn follow(&self, ingest: &Ingest, failures: &mut u32) -> Result<(), String> {
        let stream = self
            .js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| format!("stream: {e}"))?;
        let start = self.applied() + 1;
        let consumer: consumer::PullConsumer = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ack_policy: consumer::AckPolicy::None,
                filter_subject: self.subject.clone(),
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("consumer from {start}: {e}"))?;
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(1_000)
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| format!("messages from {start}: {e}"))?;
        loop {
            let message = messages
                .next()
                .await
                .ok_or("the consumer ended")?
                .map_err(|e| format!("message: {e}"))?;
            let info = message.info().map_err(|e| format!("message info: {e}"))?;
            let sequence = info.stream_sequence;
            let expected = self.applied() + 1;
            if sequence < expected {
                continue;
            }
            if sequence > expected {
                // The stream no longer holds a message this node needs
                // (trimmed, or deleted from its middle): applying on
                // would give another state than the other nodes'.
                let reason = format!(
                    "stream message {expected}, the next this node must apply, is no longer in the \
                     stream (it went on at {sequence}): this node cannot catch up by itself; restart it \
                     to start from a newer checkpoint"
                );
                if !self.stats.stalled.swap(true, Ordering::Relaxed) {
                    tracing::error!(applied = expected - 1, next = sequence, "cluster: {reason}");
                }
                *self
                    .stalled_reason
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                return Err(reason);
            }
            let at = Timestamp::from_nanosecond(info.published.unix_timestamp_nanos())
                .map_err(|e| format!("stream message {sequence}: its time: {e}"))?;
            // A message this version cannot read stops this node here
            // (it never skips what another node applies).
            let outcome = blocking(|| self.apply(ingest, sequence, &message.payload, at))?;
            *failures = 0;
            {
                let mut outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
                let mut kept =
                    self.outcomes_rejected.load(Ordering::Relaxed) + outcome.rejected.len();
                while outcomes.len() >= OUTCOMES_KEPT
                    || (kept > REJECTIONS_KEPT && !outcomes.is_empty())
                {
                    if let Some((_, old)) = outcomes.pop_front() {
                        kept -= old.rejected.len();
                    }
                }
                self.outcomes_rejected.store(kept, Ordering::Relaxed);
                outcomes.push_back((sequence, outcome));
            }
            self.stats.head.fetch_max(sequence, Ordering::Relaxed);
            self.applied.send_replace(sequence);
            if sequence.is_multiple_of(self.config.checkpoint_every) {
                self.checkpoint(ingest, sequence).await;
            }
        }
    }

    /// One message: decoded, then applied. A message or an event this
    /// version cannot read (a newer version wrote it) is an error: the node
    /// stops applying there, counts it and says so, rather than skip what
    /// the newer nodes apply (its lag alerts; upgrading it resumes).
    fn apply(
        &self,
        ingest: &Ingest,
        sequence: u64,
        payload: &[u8],
        at: Timestamp,
    ) -> Result<Outcome, String> {
        let unreadable = |reason: String| {
            self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
            format!(
                "stream message {sequence} cannot be read by this version ({reason}): \
                 run the version that wrote it"
            )
        };
        let envelope = match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) if envelope.format <= ENVELOPE_FORMAT => envelope,
            Ok(envelope) => return Err(unreadable(format!("envelope format {}", envelope.format))),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let events = envelope
            .events
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                serde_json::from_str::<Event>(raw.get())
                    .map_err(|e| unreadable(format!("event {index}: {e}")))
            })
            .collect::<Result<Vec<Event>, String>>()?;
        Ok(ingest.apply_logged(&events, sequence, at))
    }
}

/// Runs CPU work under the core lock from async code: off the worker's
/// queue on a multi-thread runtime (its other tasks move to another
/// worker), inline on a current-thread one.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// How long a starting node tries to reach NATS.
const CONNECT_FOR: Duration = Duration::from_secs(15);

/// The client options `[cluster]` asks for.
async fn connect_options(
    config: &ClusterConfig,
) -> Result<async_nats::ConnectOptions, ClusterError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("wallboard {}", config.node))
        .connection_timeout(Duration::from_secs(5));
    if let Some(path) = &config.credentials {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| ClusterError::Connect {
                servers: config.nats.join(", "),
                reason: format!("credentials {}: {e}", path.display()),
            })?;
    }
    if let Some(path) = &config.tls_ca {
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    Ok(options)
}

/// The object store bucket of the stream's checkpoints, made if missing.
async fn checkpoint_store(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> Result<object_store::ObjectStore, String> {
    let bucket = format!("{}_checkpoints", config.stream);
    if let Ok(store) = js.get_object_store(&bucket).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket,
        description: Some("wallboard checkpoints: the state after a stream sequence".into()),
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())
}

/// What a stream made before (by another node, another version or an
/// operator) does differently from the one this node would make, in words
/// for the log. Nothing here stops the node: each still works, with the
/// promise named weakened.
fn stream_warnings(found: &stream::Config, config: &ClusterConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if found.num_replicas != config.replicas {
        warnings.push(format!(
            "the stream has {} replicas where [cluster] replicas is {}: an acknowledged batch is on a quorum of {}",
            found.num_replicas, config.replicas, found.num_replicas
        ));
    }
    if found.storage == stream::StorageType::Memory {
        warnings.push(
            "the stream is kept in memory: a batch acknowledged is lost if every NATS server stops"
                .into(),
        );
    }
    let limits: Vec<String> = [
        (found.max_messages > 0).then(|| format!("max_msgs {}", found.max_messages)),
        (found.max_bytes > 0).then(|| format!("max_bytes {}", found.max_bytes)),
        (!found.max_age.is_zero()).then(|| format!("max_age {:?}", found.max_age)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !limits.is_empty() {
        let effect = match found.discard {
            stream::DiscardPolicy::New => "a batch past them is refused (503)",
            _ => {
                "the oldest messages are removed: a node that has not applied them stops, and a start needs a checkpoint after them"
            }
        };
        warnings.push(format!(
            "the stream has limits ({}): {effect}",
            limits.join(", ")
        ));
    }
    let retry_for = config.publish_timeout.unsigned_abs();
    if found.duplicate_window < retry_for {
        warnings.push(format!(
            "the stream's duplicate window ({:?}) is shorter than publish_timeout ({retry_for:?}): a batch resent late may be stored twice (its events still count once)",
            found.duplicate_window
        ));
    }
    warnings
}

/// A checkpoint's object name: the stream's epoch (a stream deleted and
/// made again under the same name is another log) and the sequence,
/// zero-padded so names sort.
fn checkpoint_name(epoch: &str, sequence: u64) -> String {
    format!("state-{epoch}-{sequence:020}")
}

/// The sequence of a checkpoint of `epoch` named `name`.
fn checkpoint_sequence(epoch: &str, name: &str) -> Option<u64> {
    name.strip_prefix("state-")?
        .strip_prefix(epoch)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn hash_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A message's id for JetStream's duplicate window: the hash of its bytes,
/// so a resend of the same batch is the same message.
fn message_id(payload: &[u8]) -> String {
    let digest = Sha256::digest(payload);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_made_otherwise_is_named_in_the_log() {
        let config: ClusterConfig = crate::config::Config::from_toml(
            "[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\nreplicas = 3\npublish_timeout = \"10s\"\n",
        )
        .unwrap()
        .cluster
        .unwrap();
        let ours = stream::Config {
            num_replicas: 3,
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        assert_eq!(stream_warnings(&ours, &config), Vec::<String>::new());
        let theirs = stream::Config {
            num_replicas: 1,
            storage: stream::StorageType::Memory,
            max_age: Duration::from_secs(3600),
            max_messages: 1000,
            duplicate_window: Duration::from_secs(2),
            ..ours.clone()
        };
        let warnings = stream_warnings(&theirs, &config);
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(warnings[0].contains("1 replicas where [cluster] replicas is 3"));
        assert!(warnings[1].contains("in memory"));
        assert!(
            warnings[2].contains("max_msgs 1000, max_age 3600s"),
            "{}",
            warnings[2]
        );
        assert!(warnings[2].contains("oldest messages are removed"));
        assert!(
            warnings[3].contains("duplicate window (2s) is shorter than publish_timeout (10s)")
        );
        let refusing = stream::Config {
            max_bytes: 1 << 30,
            discard: stream::DiscardPolicy::New,
            ..ours
        };
        let warnings = stream_warnings(&refusing, &config);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(warnings[0].contains("max_bytes 1073741824): a batch past them is refused"));
    }

    #[test]
    fn a_batch_has_one_id_whatever_sends_it() {
        let a = message_id(br#"{"format":1,"events":[]}"#);
        assert_eq!(a, message_id(br#"{"format":1,"events":[]}"#));
        assert_ne!(a, message_id(br#"{"format":1,"events":[{}]}"#));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn envelopes_read_what_they_write() {
        let event: Event = serde_json::from_str(
            r#"{"id":"e1","ts":"2026-12-01T02:00:00Z","type":"contact_offered","contact":"c1","queue":"q"}"#,
        )
        .unwrap();
        let bytes = serde_json::to_vec(&EnvelopeOut {
            format: ENVELOPE_FORMAT,
            events: vec![&event, &event],
        })
        .unwrap();
        let read: Envelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(read.format, 1);
        let back: Vec<Event> = read
            .events
            .iter()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
            .collect();
        assert_eq!(back, [event.clone(), event]);
    }
}
