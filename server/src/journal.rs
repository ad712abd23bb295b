//! The event journal: every accepted event is on disk before ingest
//! answers 200, and a restart replays it.
//!
//! Segments: one per local day (by the server's clock when written), named
//! `SEQ-YYYY-MM-DD.wal` with a sequence number, so the order of segments is
//! the order they were written even if the clock steps back over midnight.
//! A record is `u32 length (LE) | u32 CRC32C of the payload (LE) | payload`,
//! the payload being the event's JSON; a segment's first record says its
//! format (`{"journal":"wallboard","format":1}`; segments from before it
//! are format 1 too, and a newer format stops the start with the file
//! named). Hand-rolled over serde because it is
//! ten lines, needs no format migration story (the payload is the ingest
//! contract itself) and makes a torn tail trivial to detect: a record whose
//! length runs past the end of the file, or whose checksum does not match,
//! with no valid record after it, is the tail; the last segment is
//! truncated there, so a crash mid-write never stops the server from
//! starting.
//!
//! Damage costs only the damaged bytes: when a record mid-segment fails
//! its checks, replay resynchronises on the next offset where a record's
//! header and checksum hold, copies the bytes in between to
//! `SEQ-YYYY-MM-DD.wal.OFFSET.damaged` beside the segment, counts them and
//! goes on; the segment itself is never shortened past a good record. A
//! record whose checksum holds but which this version cannot read (an
//! event type from a newer version, after a rollback) is kept on disk,
//! skipped and counted.
//!
//! Checkpoints: a new segment starts with `SEQ-YYYY-MM-DD.ckpt`, the whole
//! aggregate as it was before the segment's first event (written to a
//! temporary file, synced, renamed). Replay restores the oldest segment's
//! checkpoint and applies every segment from there, so segments older than
//! the retention can be deleted: the oldest kept one carries what they built
//! (agents' states, waiting callers, open complaints, lifetime counts).
//!
//! Group commit: a batch is written under the ingest lock (so the journal's
//! order is the order events were applied) and synced after it is released;
//! one `fdatasync` covers every batch written before it began, so concurrent
//! senders share syncs. A failed sync poisons the journal: every later
//! batch gets an error, since what the failed sync covered may be lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use wallboard_protocol::Event;

/// Records longer than this are corrupt (an event is a few hundred bytes).
const MAX_RECORD: u32 = 1 << 20;
/// The first bytes of a checkpoint file, then `u64 length | u32 CRC32C`.
const CHECKPOINT_MAGIC: &[u8; 8] = b"WBCKPT01";
/// The record format this version writes and reads: a segment's first
/// record says `{"journal":"wallboard","format":N}`; every other record is
/// one event's JSON. Segments without that record (written before it
/// existed) are format 1.
const RECORD_FORMAT: u32 = 1;

/// A segment's first record (read as any object with a `journal` key).
#[derive(serde::Serialize)]
struct SegmentHeader {
    journal: String,
    format: u32,
}

/// A record: `u32 length | u32 CRC32C | payload`.
fn record(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + payload.len());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// One segment on disk.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    seq: u64,
    day: Date,
    /// Whether its checkpoint file exists.
    checkpoint: bool,
}

impl Segment {
    /// Segments written before sequence numbers were named `YYYY-MM-DD.wal`;
    /// they read as sequence 0, in date order, before any numbered one.
    fn parse(name: &str) -> Option<Segment> {
        let stem = name.strip_suffix(".wal")?;
        let (seq, day) = match stem.split_once('-') {
            Some((seq, day)) if seq.len() == 8 && seq.bytes().all(|b| b.is_ascii_digit()) => {
                (seq.parse().ok().filter(|n| *n > 0)?, day)
            }
            _ => (0, stem),
        };
        Some(Segment {
            seq,
            day: day.parse().ok()?,
            checkpoint: false,
        })
    }

    fn stem(&self) -> String {
        if self.seq == 0 {
            self.day.to_string()
        } else {
            format!("{:08}-{}", self.seq, self.day)
        }
    }

    fn wal(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.wal", self.stem()))
    }

    fn ckpt(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.ckpt", self.stem()))
    }
}

pub struct Journal {
    dir: PathBuf,
    /// Days of segments kept, today's included.
    retention_days: i32,
    /// On disk, oldest first.
    segments: Vec<Segment>,
    /// The last segment, open for appending.
    current: Option<Arc<File>>,
    sync: Arc<Syncer>,
    buffer: Vec<u8>,
    /// Batches written so far (the last one's ticket).
    written: u64,
}

/// What a replay found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub segments: usize,
    pub records: u64,
    /// Whether the oldest segment's checkpoint was restored.
    pub checkpoint: bool,
    /// Bytes cut off torn tails.
    pub truncated_bytes: u64,
    /// Damaged byte ranges skipped (each copied to a `.damaged` file).
    pub damaged_records: u64,
    /// Records with a valid checksum this version cannot read (kept).
    pub unreadable_records: u64,
    /// The `.damaged` files written, and where each unreadable record is.
    pub skipped: Vec<String>,
}

/// What replay hands over, in order: at most one checkpoint (first), then
/// events.
pub enum Record<'a> {
    Checkpoint(&'a [u8]),
    Event(Event),
}

/// A written batch, to be passed to [`Syncer::sync`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a batch is not durable until its ticket is synced"]
pub struct Ticket(u64);

/// Faults a test injects into the journal's I/O; none unless set. Each
/// counter is 1-based: the Nth write (of a batch), `fdatasync`, or
/// checkpoint rename since the journal opened fails, or the Nth write
/// stops half-way (a short write, as on a full disk). 0: never.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail_write: AtomicU64,
    pub short_write: AtomicU64,
    pub fail_sync: AtomicU64,
    pub fail_rename: AtomicU64,
    writes: AtomicU64,
    syncs: AtomicU64,
    renames: AtomicU64,
}

impl Faults {
    fn due(count: &AtomicU64, at: &AtomicU64) -> bool {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        n == at.load(Ordering::Relaxed)
    }

    fn injected(what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::StorageFull,
            format!("injected {what} failure"),
        )
    }

    fn write(&self, mut file: &File, bytes: &[u8]) -> io::Result<()> {
        if Faults::due(&self.writes, &self.fail_write) {
            return Err(Faults::injected("write"));
        }
        if self.short_write.load(Ordering::Relaxed) == self.writes.load(Ordering::Relaxed) {
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(Faults::injected("short write"));
        }
        file.write_all(bytes)
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        if Faults::due(&self.syncs, &self.fail_sync) {
            return Err(Faults::injected("fsync"));
        }
        file.sync_data()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if Faults::due(&self.renames, &self.fail_rename) {
            return Err(Faults::injected("rename"));
        }
        std::fs::rename(from, to)
    }
}

/// Shares `fdatasync`s between the batches written before each one.
pub struct Syncer {
    /// Held for the whole of a sync: whoever holds it syncs for everyone
    /// written before it began.
    synced: Mutex<u64>,
    /// Why the journal takes no more batches (kept apart from `synced`, so
    /// writers never wait for a sync in progress to learn it).
    failed: Mutex<Option<String>>,
    /// The file being appended to, and the last batch written to it.
    latest: Mutex<(Option<Arc<File>>, u64)>,
    /// How long a sync waits for more batches before it starts.
    delay: Duration,
    faults: Arc<Faults>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Syncer {
    /// Returns once every batch up to `ticket` is on disk; `Ok(Some(t))`
    /// when this call ran the sync (taking `t`).
    pub fn sync(&self, ticket: Ticket) -> io::Result<Option<Duration>> {
        if !self.delay.is_zero() && *lock(&self.synced) < ticket.0 {
            // Let more batches be written before the sync that covers them.
            std::thread::sleep(self.delay);
        }
        let mut synced = lock(&self.synced);
        if *synced >= ticket.0 {
            return Ok(None);
        }
        if let Some(error) = self.failed() {
            return Err(io::Error::other(error));
        }
        let (file, upto) = lock(&self.latest).clone();
        let started = Instant::now();
        let result = match file {
            Some(file) => self.faults.sync(&file),
            None => Ok(()),
        };
        match result {
            Ok(()) => {
                *synced = (*synced).max(upto);
                Ok(Some(started.elapsed()))
            }
            Err(e) => Err(io::Error::new(e.kind(), self.fail("sync", &e))),
        }
    }

    /// Why the journal takes no more batches, if it does not.
    pub fn failed(&self) -> Option<String> {
        lock(&self.failed).clone()
    }

    /// Stops the journal: what the failed operation covered may be lost,
    /// so no later batch may be acknowledged on top of it.
    fn fail(&self, what: &str, e: &io::Error) -> String {
        let error = format!("journal {what} failed, no batch is accepted until restart: {e}");
        lock(&self.failed).get_or_insert(error).clone()
    }
}

impl Journal {
    /// Opens (creating) the journal directory, keeping `retention_days` days
    /// of segments; a sync waits `commit_delay` for more batches to share it.
    pub fn open(dir: &Path, retention_days: u32, commit_delay: Duration) -> io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let mut segments = Vec::new();
        let mut checkpoints = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".ckpt.tmp") {
                // A checkpoint whose writing was cut short: never renamed,
                // never used.
                let _ = std::fs::remove_file(dir.join(name));
            } else if let Some(segment) = Segment::parse(name) {
                segments.push(segment);
            } else if let Some(stem) = name.strip_suffix(".ckpt") {
                checkpoints.push(stem.to_string());
            }
        }
        for segment in &mut segments {
            segment.checkpoint = checkpoints.contains(&segment.stem());
        }
        segments.sort_by_key(|s| (s.seq, s.day));
        Ok(Journal {
            dir: dir.to_path_buf(),
            retention_days: retention_days.max(1) as i32,
            segments,
            current: None,
            sync: Arc::new(Syncer {
                synced: Mutex::new(0),
                failed: Mutex::new(None),
                latest: Mutex::new((None, 0)),
                delay: commit_delay,
                faults: Arc::new(Faults::default()),
            }),
            buffer: Vec::new(),
            written: 0,
        })
    }

    pub fn syncer(&self) -> Arc<Syncer> {
        self.sync.clone()
    }

    /// Restores the oldest segment's checkpoint, if it has one, then reads
    /// every segment in order; cuts a torn tail off the last segment.
    /// `each` returns `Err` for a checkpoint it cannot restore: replay then
    /// fails (a format this version cannot read), where a checkpoint with
    /// damaged bytes is reported and its segments replay without it.
    /// Events `each` rejects are the aggregator's business, as at ingest.
    pub fn replay(
        &mut self,
        mut each: impl FnMut(Record) -> Result<(), String>,
    ) -> io::Result<Replayed> {
        let mut replayed = Replayed {
            segments: self.segments.len(),
            ..Replayed::default()
        };
        if let Some(first) = self.segments.first().filter(|s| s.checkpoint) {
            let path = first.ckpt(&self.dir);
            match read_checkpoint(&path) {
                Ok(bytes) => {
                    // Whole and checksummed, yet not restorable: a format
                    // this version cannot read. Going on without it would
                    // silently lose what it holds; stop and say so.
                    each(Record::Checkpoint(&bytes)).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "checkpoint {}: {e}. This version cannot read it (written by a newer one?): \
                                 run the version that wrote it, or move the file aside to start without \
                                 what it holds (agents signed in, callers waiting, open complaints, the \
                                 counts from before its segment)",
                                path.display()
                            ),
                        )
                    })?;
                    replayed.checkpoint = true;
                }
                Err(e) if e.kind() != io::ErrorKind::InvalidData => {
                    // Not damage (permissions, I/O): starting without it
                    // would lose what it holds, and the next day's
                    // checkpoint would make that for good.
                    return Err(io::Error::new(
                        e.kind(),
                        format!("checkpoint {}: {e}", path.display()),
                    ));
                }
                Err(e) => {
                    // Damaged bytes: its segments still replay.
                    tracing::error!(
                        checkpoint = %path.display(),
                        error = %e,
                        "journal: damaged checkpoint; replaying its segments without it"
                    );
                    replayed
                        .skipped
                        .push(format!("{}: damaged checkpoint ({e})", path.display()));
                }
            }
        }
        for (i, segment) in self.segments.iter().enumerate() {
            let path = segment.wal(&self.dir);
            let read = read_segment(&path, |event| {
                replayed.records += 1;
                let _ = each(Record::Event(event));
            })?;
            for &(from, to) in &read.damaged {
                let copy = match keep_damaged(&path, from, to) {
                    Ok(Some(copy)) => copy.display().to_string(),
                    Ok(None) => format!("{} at {from}: {} zero bytes", path.display(), to - from),
                    Err(e) => format!(
                        "{} at {from}: {} bytes, not copied ({e})",
                        path.display(),
                        to - from
                    ),
                };
                tracing::error!(
                    segment = %path.display(),
                    at = from,
                    bytes = to - from,
                    copy = %copy,
                    "journal: damaged bytes mid-segment skipped; replay went on at the next valid record"
                );
                replayed.damaged_records += 1;
                replayed.skipped.push(copy);
            }
            for &at in &read.unreadable {
                tracing::warn!(
                    segment = %path.display(),
                    at,
                    "journal: a record this version cannot read (valid checksum): kept on disk, skipped"
                );
                replayed.unreadable_records += 1;
                replayed.skipped.push(format!(
                    "{} at {at}: unreadable by this version",
                    path.display()
                ));
            }
            if read.end < read.len {
                let last = i + 1 == self.segments.len();
                if read.tail_is_a_record {
                    replayed.damaged_records += 1;
                }
                // Whatever follows the last valid record is kept aside
                // before it goes (a flipped length in the last record is
                // an acknowledged event); only zeros are not worth a copy.
                let kept = match keep_damaged(&path, read.end, read.len) {
                    Ok(Some(copy)) => {
                        replayed.skipped.push(copy.display().to_string());
                        true
                    }
                    Ok(None) => true,
                    Err(e) => {
                        tracing::error!(segment = %path.display(), at = read.end, error = %e,
                            "journal: cannot copy the tail aside; leaving it in place");
                        false
                    }
                };
                tracing::warn!(
                    segment = %path.display(),
                    at = read.end,
                    cut = read.len - read.end,
                    "journal: torn or corrupt tail{}",
                    if last && kept { ", truncated" } else { ", skipped" }
                );
                if last && kept {
                    OpenOptions::new()
                        .write(true)
                        .open(&path)?
                        .set_len(read.end)?;
                }
                replayed.truncated_bytes += read.len - read.end;
            }
        }
        Ok(replayed)
    }

    /// Writes `events` to the segment of `day` (starting a new segment,
    /// with the checkpoint `checkpoint` gives, when the day changed). The
    /// batch is durable once its ticket is synced. On `Err` nothing of the
    /// batch stays.
    pub fn write(
        &mut self,
        day: Date,
        events: &[&Event],
        checkpoint: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> io::Result<Ticket> {
        if let Some(error) = self.sync.failed() {
            return Err(io::Error::other(error));
        }
        if events.is_empty() {
            // Nothing to write, but a batch of repeats is acknowledged only
            // once what it repeats is on disk.
            return Ok(Ticket(self.written));
        }
        self.buffer.clear();
        for event in events {
            let payload = serde_json::to_vec(event).map_err(io::Error::other)?;
            self.buffer.extend_from_slice(&record(&payload));
        }
        let file = self.segment_for(day, checkpoint)?;
        let start = file.metadata()?.len();
        let writing = Instant::now();
        let written = self.sync.faults.write(&file, &self.buffer);
        metrics::histogram!("wallboard_journal_write_seconds")
            .record(writing.elapsed().as_secs_f64());
        if let Err(e) = written {
            // Nothing of a failed batch may stay: a partial record in the
            // middle of a segment would hide every record after it, and a
            // whole one would come back at replay though the sender was
            // told it failed. Cut back to where the batch began.
            // If even that fails, batches written before this one may be
            // lost or hidden behind a partial record: stop the journal.
            if let Err(cut) = file.set_len(start).and_then(|_| file.sync_data()) {
                self.sync.fail("cut-back after a failed write", &cut);
            }
            self.current = None;
            return Err(e);
        }
        self.written += 1;
        *lock(&self.sync.latest) = (Some(file), self.written);
        Ok(Ticket(self.written))
    }

    /// The file to append `day`'s events to: the last segment if it is of
    /// `day`, else a new one.
    fn segment_for(
        &mut self,
        day: Date,
        checkpoint: impl FnOnce() -> io::Result<Vec<u8>>,
    ) -> io::Result<Arc<File>> {
        let last_is_today = self.segments.last().is_some_and(|s| s.day == day);
        if let (true, Some(file)) = (last_is_today, &self.current) {
            return Ok(file.clone());
        }
        if last_is_today {
            let path = self.segments.last().expect("checked").wal(&self.dir);
            let file = Arc::new(OpenOptions::new().append(true).open(path)?);
            self.current = Some(file.clone());
            return Ok(file);
        }
        // A new day. What was written to the old segment is synced first
        // (`latest` still names it), so a ticket's sync never depends on a
        // file no longer current.
        self.current = None;
        self.sync.sync(Ticket(self.written))?;
        let segment = Segment {
            seq: self.segments.last().map_or(1, |s| s.seq + 1),
            day,
            checkpoint: true,
        };
        let started = Instant::now();
        let bytes = checkpoint()?;
        write_checkpoint(&segment.ckpt(&self.dir), &bytes, &self.sync.faults)?;
        let path = segment.wal(&self.dir);
        let file = Arc::new(
            OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?,
        );
        let header = serde_json::to_vec(&SegmentHeader {
            journal: "wallboard".into(),
            format: RECORD_FORMAT,
        })
        .map_err(io::Error::other)?;
        // Synced with the segment's first batch.
        (&*file).write_all(&record(&header))?;
        // The new files' names must survive a power loss too.
        File::open(&self.dir)?.sync_all()?;
        tracing::info!(
            segment = %path.display(),
            checkpoint_bytes = bytes.len(),
            seconds = started.elapsed().as_secs_f64(),
            "journal: new segment"
        );
        self.segments.push(segment);
        self.current = Some(file.clone());
        self.expire(day);
        Ok(file)
    }

    /// Deletes the segments older than the retention: every segment before
    /// the newest one that has a checkpoint and follows only expired ones.
    fn expire(&mut self, today: Date) {
        let Ok(cutoff) = today.checked_sub(jiff::Span::new().days(self.retention_days - 1)) else {
            return;
        };
        let expired = self.segments.iter().take_while(|s| s.day < cutoff).count();
        // The first kept segment: the newest with a checkpoint among the
        // expired ones and the one after them.
        let Some(start) = (1..=expired.min(self.segments.len() - 1))
            .rev()
            .find(|&i| self.segments[i].checkpoint)
        else {
            return;
        };
        for old in self.segments.drain(..start) {
            let copies = damaged_copies(&self.dir, &old.stem());
            for path in [old.wal(&self.dir), old.ckpt(&self.dir)]
                .into_iter()
                .chain(copies)
            {
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::info!(file = %path.display(), "journal: expired"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "journal: cannot delete an expired file")
                    }
                }
            }
        }
        // The deletions must not be undone out of order by a power loss.
        if let Err(e) = File::open(&self.dir).and_then(|d| d.sync_all()) {
            tracing::warn!(error = %e, "journal: cannot sync the directory after expiry");
        }
    }

    /// The fault seam of this journal's I/O (tests set it).
    pub fn faults(&self) -> Arc<Faults> {
        self.sync.faults.clone()
    }

    /// The segment files on disk, oldest first (for tests and tools).
    pub fn segment_names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.stem()).collect()
    }
}

/// The copies of damaged bytes kept beside segment `stem`
/// (`STEM.wal.OFFSET.damaged`, `….damaged.N`): they expire with it.
fn damaged_copies(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let prefix = format!("{stem}.wal.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.strip_prefix(&prefix)
                .and_then(|rest| rest.split_once(".damaged"))
                .is_some_and(|(offset, _)| offset.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|name| dir.join(name))
        .collect()
}

fn write_checkpoint(path: &Path, bytes: &[u8], faults: &Faults) -> io::Result<()> {
    let tmp = path.with_extension("ckpt.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(CHECKPOINT_MAGIC)?;
    file.write_all(&(bytes.len() as u64).to_le_bytes())?;
    file.write_all(&crc32c::crc32c(bytes).to_le_bytes())?;
    file.write_all(bytes)?;
    file.sync_all()?;
    faults.rename(&tmp, path)
}

fn read_checkpoint(path: &Path) -> io::Result<Vec<u8>> {
    let data = std::fs::read(path)?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let header = CHECKPOINT_MAGIC.len() + 12;
    if data.len() < header || &data[..8] != CHECKPOINT_MAGIC {
        return Err(bad("not a checkpoint file"));
    }
    let len = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(data[16..20].try_into().expect("4 bytes"));
    let payload = &data[header..];
    if payload.len() as u64 != len || crc32c::crc32c(payload) != crc {
        return Err(bad("checkpoint length or checksum does not match"));
    }
    Ok(payload.to_vec())
}

/// What reading one segment found.
#[derive(Debug, Default, PartialEq, Eq)]
struct SegmentRead {
    /// The offset after the last valid record (where a torn tail starts).
    end: u64,
    len: u64,
    /// Byte ranges mid-segment with no valid record, each followed by one.
    damaged: Vec<(u64, u64)>,
    /// Offsets of records whose checksum holds but whose event this
    /// version cannot read.
    unreadable: Vec<u64>,
    /// Whether the bytes after `end` hold a whole record by their length
    /// (damaged), rather than a record cut short.
    tail_is_a_record: bool,
}

/// Reads the records of one segment, in order, handing each event to
/// `each`; resynchronises past damaged bytes on the next valid record.
fn read_segment(path: &Path, mut each: impl FnMut(Event)) -> io::Result<SegmentRead> {
    let mut window = Window::open(path)?;
    let len = window.len;
    let mut read = SegmentRead {
        len,
        ..SegmentRead::default()
    };
    let mut at = 0u64;
    while at < len {
        if let Some(size) = window.record_at(at)? {
            let payload = window.bytes(at + 8, size)?;
            let header = (at == 0)
                .then(|| serde_json::from_slice::<serde_json::Value>(payload).ok())
                .flatten()
                .filter(|v| v.get("journal").is_some());
            if let Some(header) = header {
                let format = header["format"].as_u64();
                if header["journal"] != "wallboard"
                    || format.is_none_or(|f| f > u64::from(RECORD_FORMAT))
                {
                    let what = match format {
                        Some(f) => format!("journal format {f}"),
                        None => format!("a journal header this version does not know ({header})"),
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "segment {} is in {what} (this version reads up to format \
                             {RECORD_FORMAT}): run the version that wrote it",
                            path.display()
                        ),
                    ));
                }
            } else {
                match serde_json::from_slice::<Event>(payload) {
                    Ok(event) => each(event),
                    Err(_) => read.unreadable.push(at),
                }
            }
            at += 8 + u64::from(size);
            read.end = at;
            window.forget_before(at);
            continue;
        }
        // No valid record starts here: the next offset where one does
        // (what is scanned past is forgotten as it goes).
        let whole = window.whole_record_at(at)?;
        let mut next = at + 1;
        let mut found = None;
        while next + 8 < len {
            if window.record_at(next)?.is_some() {
                found = Some(next);
                break;
            }
            next += 1;
            window.forget_before(next);
        }
        match found {
            Some(next) => {
                read.damaged.push((at, next));
                at = next;
                window.forget_before(at);
            }
            None => {
                read.tail_is_a_record = whole;
                break;
            }
        }
    }
    Ok(read)
}

/// Copies bytes `from..to` of a segment aside, to
/// `NAME.wal.FROM.damaged`; returns the copy's path.
fn keep_damaged(segment: &Path, from: u64, to: u64) -> io::Result<Option<PathBuf>> {
    use std::io::{Seek, SeekFrom};
    let len = to - from;
    let mut file = File::open(segment)?;
    file.seek(SeekFrom::Start(from))?;
    // Zeros (a preallocated or zero-filled tail) hold nothing to keep.
    let mut zeros = true;
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 && zeros {
        let n = file.read(&mut chunk[..left.min(1 << 16) as usize])?;
        if n == 0 {
            break;
        }
        zeros = chunk[..n].iter().all(|&b| b == 0);
        left -= n as u64;
    }
    if zeros {
        return Ok(None);
    }
    let mut name = segment.as_os_str().to_owned();
    name.push(format!(".{from}.damaged"));
    let mut copy = PathBuf::from(&name);
    // A copy from an earlier start is the same bytes: keep it. A different
    // one at the same offset (after a cut) is kept too, under a new name.
    let mut n = 1;
    while let Ok(meta) = std::fs::metadata(&copy) {
        if meta.len() == len && same_bytes(&mut file, from, &copy)? {
            return Ok(Some(copy));
        }
        copy = PathBuf::from(format!("{}.{n}", name.to_string_lossy()));
        n += 1;
    }
    file.seek(SeekFrom::Start(from))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&copy)?;
    io::copy(&mut (&mut file).take(len), &mut out)?;
    out.sync_all()?;
    Ok(Some(copy))
}

/// Whether the file at `copy` holds the bytes of `file` from `from` on
/// (as many as `copy` has).
fn same_bytes(file: &mut File, from: u64, copy: &Path) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(from))?;
    let mut other = File::open(copy)?;
    let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut other, &mut b)?;
        if n == 0 {
            return Ok(true);
        }
        if read_full(file, &mut a[..n])? != n || a[..n] != b[..n] {
            return Ok(false);
        }
    }
}

/// A segment read through a window of its bytes: random access near the
/// reading position without holding a day's segment in memory.
struct Window {
    file: File,
    len: u64,
    /// The file's bytes from `base` on.
    buf: Vec<u8>,
    base: u64,
}

impl Window {
    fn open(path: &Path) -> io::Result<Window> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Window {
            file,
            len,
            buf: Vec::new(),
            base: 0,
        })
    }

    /// `size` bytes at `at` (within the file).
    fn bytes(&mut self, at: u64, size: u32) -> io::Result<&[u8]> {
        let end = at + u64::from(size);
        debug_assert!(at >= self.base && end <= self.len);
        while self.base + (self.buf.len() as u64) < end {
            let want = (end - self.base - self.buf.len() as u64).max(1 << 16) as usize;
            let have = self.buf.len();
            self.buf.resize(have + want, 0);
            let n = read_full(&mut self.file, &mut self.buf[have..])?;
            self.buf.truncate(have + n);
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shorter than its length",
                ));
            }
        }
        let from = (at - self.base) as usize;
        Ok(&self.buf[from..from + size as usize])
    }

    /// The header at `at`, if it is plausible: `(size, crc)`.
    fn header_at(&mut self, at: u64) -> io::Result<Option<(u32, u32)>> {
        if at + 8 > self.len {
            return Ok(None);
        }
        let header = self.bytes(at, 8)?;
        let size = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let fits = at + 8 + u64::from(size) <= self.len;
        Ok((size > 0 && size <= MAX_RECORD && fits).then_some((size, crc)))
    }

    /// The payload size of a valid record (header plausible, checksum
    /// holds) at `at`.
    fn record_at(&mut self, at: u64) -> io::Result<Option<u32>> {
        let Some((size, crc)) = self.header_at(at)? else {
            return Ok(None);
        };
        let payload = self.bytes(at + 8, size)?;
        // Every payload is a JSON object: anything else is not a record,
        // and is not worth a checksum over up to a megabyte.
        Ok((payload[0] == b'{' && crc32c::crc32c(payload) == crc).then_some(size))
    }

    /// Whether the bytes from `at` to the end are one record by its
    /// header's length (whatever its checksum).
    fn whole_record_at(&mut self, at: u64) -> io::Result<bool> {
        Ok(self
            .header_at(at)?
            .is_some_and(|(size, _)| at + 8 + u64::from(size) == self.len))
    }

    /// Drops the bytes before `at` once they are many.
    fn forget_before(&mut self, at: u64) {
        let consumed = (at - self.base) as usize;
        if consumed >= 1 << 20 {
            self.buf.drain(..consumed);
            self.base = at;
        }
    }
}

/// Reads until `buf` is full or the end; returns how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> Event {
        Event::from_json(&format!(
            r#"{{"id":"e{i}","ts":"2026-11-23T10:00:00+08:00","type":"contact_offered","contact":"c{i}","queue":"q"}}"#
        ))
        .unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        // Kept (the callers remove it): a name no other run shares.
        tempfile::Builder::new()
            .prefix(&format!("wallboard-journal-{name}-"))
            .tempdir()
            .expect("a temporary directory")
            .keep()
    }

    fn open(dir: &Path, retention_days: u32) -> Journal {
        Journal::open(dir, retention_days, Duration::ZERO).unwrap()
    }

    /// Writes and syncs a batch; a new segment's checkpoint is `ckpt`.
    fn append(j: &mut Journal, day: Date, events: &[&Event], ckpt: &str) -> io::Result<()> {
        let ticket = j.write(day, events, || Ok(ckpt.as_bytes().to_vec()))?;
        j.syncer().sync(ticket).map(|_| ())
    }

    /// Replays: (the checkpoint restored, the ids of the events, counts).
    fn replay(journal: &mut Journal) -> (Option<String>, Vec<String>, Replayed) {
        let (mut ckpt, mut ids) = (None, Vec::new());
        let replayed = journal
            .replay(|r| match r {
                Record::Checkpoint(b) => {
                    ckpt = Some(String::from_utf8(b.to_vec()).unwrap());
                    Ok(())
                }
                Record::Event(e) => {
                    ids.push(e.id);
                    Ok(())
                }
            })
            .unwrap();
        (ckpt, ids, replayed)
    }

    const DAY: Date = jiff::civil::date(2026, 11, 23);

    fn day(n: i32) -> Date {
        DAY.checked_add(jiff::Span::new().days(n)).unwrap()
    }

    #[test]
    fn what_is_appended_is_replayed_in_order_across_days() {
        let dir = temp_dir("order");
        let mut j = open(&dir, 7);
        let events: Vec<Event> = (0..5).map(event).collect();
        append(&mut j, DAY, &[&events[0], &events[1]], "first").unwrap();
        append(&mut j, DAY, &[&events[2]], "unused").unwrap();
        append(&mut j, day(1), &[&events[3], &events[4]], "second").unwrap();
        let (ckpt, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!(ckpt.as_deref(), Some("first"), "the oldest segment's");
        assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
        assert_eq!(
            replayed,
            Replayed {
                segments: 2,
                records: 5,
                checkpoint: true,
                truncated_bytes: 0,
                ..Replayed::default()
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn old_segments_expire_and_the_oldest_kept_checkpoint_starts_the_replay() {
        let dir = temp_dir("expire");
        let mut j = open(&dir, 3);
        let events: Vec<Event> = (0..6).map(event).collect();
        for (n, e) in events.iter().enumerate() {
            append(&mut j, day(n as i32), &[e], &format!("before e{n}")).unwrap();
            if n == 0 {
                // Copies of damaged bytes beside the first segment and one
                // beside a segment that will be kept.
                for name in [
                    "00000001-2026-11-23.wal.12.damaged",
                    "00000001-2026-11-23.wal.12.damaged.1",
                    "00000004-2026-11-26.wal.40.damaged",
                ] {
                    std::fs::write(dir.join(name), b"bytes").unwrap();
                }
            }
        }
        // Days 3, 4 and 5 kept: today and the two before, with their copies.
        assert_eq!(
            j.segment_names(),
            [
                "00000004-2026-11-26",
                "00000005-2026-11-27",
                "00000006-2026-11-28"
            ]
        );
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        assert_eq!(on_disk.len(), 7, "{on_disk:?}");
        assert!(on_disk.contains(&"00000004-2026-11-26.wal.40.damaged".into()));
        let (ckpt, ids, replayed) = replay(&mut open(&dir, 3));
        assert_eq!(ckpt.as_deref(), Some("before e3"));
        assert_eq!(ids, ["e3", "e4", "e5"]);
        assert!(replayed.checkpoint);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_from_before_checkpoints_expire_once_a_newer_one_has_one() {
        let dir = temp_dir("legacy");
        // Two segments from before checkpoints existed, named by day only.
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0)], "c0").unwrap();
        append(&mut j, day(1), &[&event(1)], "c1").unwrap();
        drop(j);
        for (seq, d) in [(1, DAY), (2, day(1))] {
            std::fs::rename(
                dir.join(format!("{seq:08}-{d}.wal")),
                dir.join(format!("{d}.wal")),
            )
            .unwrap();
            std::fs::remove_file(dir.join(format!("{seq:08}-{d}.ckpt"))).unwrap();
        }
        // And a checkpoint cut short before its rename.
        std::fs::write(dir.join("00000003-2026-11-25.ckpt.tmp"), b"half").unwrap();
        let mut j = open(&dir, 1);
        assert_eq!(j.segment_names(), ["2026-11-23", "2026-11-24"]);
        assert!(!dir.join("00000003-2026-11-25.ckpt.tmp").exists());
        assert_eq!(replay(&mut j).1, ["e0", "e1"], "replayed from the start");
        // A new day: the old segments go because the new one has a
        // checkpoint (the replayed state).
        append(&mut j, day(2), &[&event(2)], "c2").unwrap();
        assert_eq!(j.segment_names(), ["00000001-2026-11-25"]);
        let (ckpt, ids, _) = replay(&mut open(&dir, 1));
        assert_eq!((ckpt.as_deref(), ids), (Some("c2"), vec!["e2".to_string()]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_segment_without_a_checkpoint_is_never_expired_past() {
        let dir = temp_dir("nockpt");
        let mut j = open(&dir, 7);
        for n in 0..3 {
            append(&mut j, day(n), &[&event(n as usize)], "c").unwrap();
        }
        drop(j);
        // The newest segment's checkpoint is lost: the one before it, and
        // its checkpoint, must stay although past the retention.
        std::fs::remove_file(dir.join("00000003-2026-11-25.ckpt")).unwrap();
        let mut j = open(&dir, 2);
        append(&mut j, day(3), &[&event(3)], "c3").unwrap();
        assert_eq!(
            j.segment_names(),
            [
                "00000002-2026-11-24",
                "00000003-2026-11-25",
                "00000004-2026-11-26"
            ]
        );
        let (ckpt, ids, _) = replay(&mut open(&dir, 2));
        assert_eq!(ckpt.as_deref(), Some("c"));
        assert_eq!(ids, ["e1", "e2", "e3"]);
        // Odd names are not segments.
        std::fs::write(dir.join("00000000-2026-11-20.wal"), b"").unwrap();
        std::fs::write(dir.join("+0000001-2026-11-20.wal"), b"").unwrap();
        assert_eq!(open(&dir, 2).segment_names().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_clock_stepping_back_over_midnight_keeps_the_written_order() {
        let dir = temp_dir("stepback");
        let mut j = open(&dir, 7);
        append(&mut j, day(1), &[&event(0)], "c").unwrap();
        append(&mut j, DAY, &[&event(1)], "c").unwrap();
        append(&mut j, day(1), &[&event(2)], "c").unwrap();
        let (_, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!(ids, ["e0", "e1", "e2"]);
        assert_eq!(replayed.segments, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_checkpoint_is_reported_and_the_events_still_replay() {
        let dir = temp_dir("badckpt");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0)], "state").unwrap();
        let path = dir.join("00000001-2026-11-23.ckpt");
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let (ckpt, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!((ckpt, ids), (None, vec!["e0".to_string()]));
        assert!(!replayed.checkpoint);
        assert_eq!(replayed.skipped.len(), 1, "{:?}", replayed.skipped);
        assert!(replayed.skipped[0].contains("damaged checkpoint"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_at_any_byte_is_cut_and_every_complete_record_kept() {
        let dir = temp_dir("torn");
        let mut j = open(&dir, 7);
        let events: Vec<Event> = (0..3).map(event).collect();
        append(&mut j, DAY, &[&events[0], &events[1]], "c").unwrap();
        let path = dir.join("00000001-2026-11-23.wal");
        let two = std::fs::metadata(&path).unwrap().len();
        append(&mut j, DAY, &[&events[2]], "c").unwrap();
        let whole = std::fs::read(&path).unwrap();
        // Every cut inside the last record: the first two survive.
        for cut in two..whole.len() as u64 {
            std::fs::write(&path, &whole[..cut as usize]).unwrap();
            let (_, ids, replayed) = replay(&mut open(&dir, 7));
            assert_eq!(ids, ["e0", "e1"], "cut at {cut}");
            assert_eq!(replayed.truncated_bytes, cut - two, "cut at {cut}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                two,
                "truncated at {cut}"
            );
        }
        // A flipped byte in the last payload fails its checksum.
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 0x20;
        std::fs::write(&path, &flipped).unwrap();
        let mut j = open(&dir, 7);
        assert_eq!(replay(&mut j).1, ["e0", "e1"]);
        // Appending after a cut continues cleanly.
        append(&mut j, DAY, &[&events[2]], "c").unwrap();
        assert_eq!(replay(&mut open(&dir, 7)).1, ["e0", "e1", "e2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The ids a fresh open of `dir` replays (a restart).
    fn after_restart(dir: &Path) -> Vec<String> {
        replay(&mut open(dir, 7)).1
    }

    fn ids_of(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("e{i}")).collect()
    }

    #[test]
    fn a_failed_or_short_write_leaves_nothing_of_its_batch() {
        for short in [false, true] {
            let dir = temp_dir(if short { "shortwrite" } else { "failwrite" });
            let mut j = open(&dir, 7);
            let faults = j.faults();
            let events: Vec<Event> = (0..6).map(event).collect();
            append(&mut j, DAY, &[&events[0], &events[1]], "c").unwrap();
            let path = dir.join("00000001-2026-11-23.wal");
            let before = std::fs::read(&path).unwrap();
            // The second batch's write fails (or stops half-way).
            let at = if short {
                &faults.short_write
            } else {
                &faults.fail_write
            };
            at.store(2, Ordering::Relaxed);
            let error = append(&mut j, DAY, &[&events[2], &events[3]], "c").unwrap_err();
            assert!(error.to_string().contains("injected"), "{error}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "short={short}: cut back"
            );
            // The next batch goes on as if the failed one never came.
            append(&mut j, DAY, &[&events[4], &events[5]], "c").unwrap();
            assert_eq!(
                after_restart(&dir),
                ["e0", "e1", "e4", "e5"],
                "short={short}"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_failed_fsync_refuses_every_later_batch_until_a_restart() {
        let dir = temp_dir("failsync");
        let mut j = open(&dir, 7);
        let faults = j.faults();
        let events: Vec<Event> = (0..4).map(event).collect();
        append(&mut j, DAY, &[&events[0]], "c").unwrap();
        faults.fail_sync.store(2, Ordering::Relaxed);
        let error = append(&mut j, DAY, &[&events[1]], "c").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no batch is accepted until restart"),
            "{error}"
        );
        // Every later batch, though the disk would take it now.
        for e in &events[2..] {
            let error = append(&mut j, DAY, &[e], "c").unwrap_err();
            assert!(error.to_string().contains("until restart"), "{error}");
        }
        // A restart holds what was acknowledged (e0); e1 was written but
        // never acknowledged, so holding it too is allowed, losing e0 not.
        let held = after_restart(&dir);
        assert_eq!(held[0], "e0");
        assert!(held == ["e0"] || held == ["e0", "e1"], "{held:?}");
        let mut j = open(&dir, 7);
        let _ = replay(&mut j);
        append(&mut j, DAY, &[&events[2]], "c").unwrap();
        assert!(after_restart(&dir).ends_with(&["e2".to_string()]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_checkpoint_failing_at_the_day_change_leaves_the_journal_as_it_was() {
        let dir = temp_dir("failckpt");
        let mut j = open(&dir, 7);
        let faults = j.faults();
        append(&mut j, DAY, &[&event(0)], "c1").unwrap();
        // The next day's checkpoint cannot be renamed into place.
        faults.fail_rename.store(2, Ordering::Relaxed);
        let error = append(&mut j, day(1), &[&event(1)], "c2").unwrap_err();
        assert!(error.to_string().contains("injected rename"), "{error}");
        assert_eq!(j.segment_names(), ["00000001-2026-11-23"]);
        assert_eq!(after_restart(&dir), ids_of(0..1));
        // The next batch of the new day starts it properly.
        append(&mut j, day(1), &[&event(2)], "c2").unwrap();
        assert_eq!(
            j.segment_names(),
            ["00000001-2026-11-23", "00000002-2026-11-24"]
        );
        let (ckpt, ids, _) = replay(&mut open(&dir, 7));
        assert_eq!(
            (ckpt.as_deref(), ids),
            (Some("c1"), vec!["e0".into(), "e2".into()])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cut_tail_is_kept_aside_unless_it_is_zeros() {
        let dir = temp_dir("tailcopy");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0), &event(1)], "c").unwrap();
        let path = dir.join("00000001-2026-11-23.wal");
        let whole = std::fs::read(&path).unwrap();
        let last = whole.len() - (8 + serde_json::to_vec(&event(1)).unwrap().len());
        // The last record's length flipped: it no longer fits the file.
        let mut damaged = whole.clone();
        damaged[last + 2] ^= 0x01;
        std::fs::write(&path, &damaged).unwrap();
        let (_, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!(ids, ["e0"]);
        let copy = dir.join(format!("00000001-2026-11-23.wal.{last}.damaged"));
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            &damaged[last..],
            "kept before the cut"
        );
        assert_eq!(replayed.skipped, [copy.display().to_string()]);
        // A zero-filled tail is cut with no copy.
        let _ = std::fs::remove_file(&copy);
        std::fs::write(&path, [&whole[..], &[0u8; 4096][..]].concat()).unwrap();
        let (_, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!((ids.len(), replayed.truncated_bytes), (2, 4096));
        assert!(replayed.skipped.is_empty(), "{:?}", replayed.skipped);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_checkpoint_that_cannot_be_read_for_another_reason_stops_the_start() {
        let dir = temp_dir("ckptio");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0)], "c").unwrap();
        // Not damaged bytes but an I/O error (here: a directory).
        let path = dir.join("00000001-2026-11-23.ckpt");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let error = open(&dir, 7).replay(|_| Ok(())).unwrap_err();
        assert_ne!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("00000001-2026-11-23.ckpt"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn segments_say_their_format_and_older_ones_without_it_still_read() {
        let dir = temp_dir("format");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0), &event(1)], "c").unwrap();
        let path = dir.join("00000001-2026-11-23.wal");
        let bytes = std::fs::read(&path).unwrap();
        let size = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + size]).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"journal": "wallboard", "format": 1})
        );
        let (_, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!(
            (ids, replayed.records),
            (ids_of(0..2), 2),
            "the header is not an event"
        );
        // A segment written before headers existed: the same events.
        std::fs::write(&path, &bytes[8 + size..]).unwrap();
        assert_eq!(after_restart(&dir), ids_of(0..2));
        // One from a newer format stops the start, naming it.
        let newer = record(br#"{"journal":"wallboard","format":2,"since":"a later field"}"#);
        std::fs::write(&path, [newer, bytes[8 + size..].to_vec()].concat()).unwrap();
        let error = open(&dir, 7).replay(|_| Ok(())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("00000001-2026-11-23.wal"),
            "{error}"
        );
        assert!(error.to_string().contains("format 2"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_checkpoint_this_version_cannot_read_stops_the_start_with_a_reason() {
        let dir = temp_dir("newerckpt");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0)], "format 2").unwrap();
        let mut j = open(&dir, 7);
        let error = j
            .replay(|r| match r {
                Record::Checkpoint(b) if b == b"format 2" => Err("format 2 (this reads 1)".into()),
                _ => Ok(()),
            })
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let text = error.to_string();
        assert!(text.contains("00000001-2026-11-23.ckpt"), "{text}");
        assert!(text.contains("format 2 (this reads 1)"), "{text}");
        assert!(text.contains("move the file aside"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_mid_segment_costs_only_the_damaged_record() {
        let dir = temp_dir("damage");
        let mut j = open(&dir, 7);
        let events: Vec<Event> = (0..60).map(event).collect();
        for batch in events.chunks(20) {
            append(&mut j, DAY, &batch.iter().collect::<Vec<_>>(), "c").unwrap();
        }
        let path = dir.join("00000001-2026-11-23.wal");
        let whole = std::fs::read(&path).unwrap();
        // Where record 5 lies.
        let mut at = 0usize;
        let mut bounds = Vec::new();
        while at < whole.len() {
            let size = u32::from_le_bytes(whole[at..at + 4].try_into().unwrap()) as usize;
            bounds.push((at, at + 8 + size));
            at += 8 + size;
        }
        // Record 0 is the segment's header; record 6 is e5.
        let (from, to) = bounds[6];
        let expected: Vec<String> = (0..60)
            .filter(|&i| i != 5)
            .map(|i| format!("e{i}"))
            .collect();
        // A flipped bit anywhere in it, header or payload.
        for byte in from..to {
            let mut damaged = whole.clone();
            damaged[byte] ^= 0x04;
            std::fs::write(&path, &damaged).unwrap();
            let (_, ids, replayed) = replay(&mut open(&dir, 7));
            assert_eq!(ids, expected, "bit flipped at {byte}");
            assert_eq!(replayed.damaged_records, 1, "at {byte}");
            assert_eq!(replayed.truncated_bytes, 0, "at {byte}");
            // Never cut, and the damaged bytes kept aside.
            assert_eq!(std::fs::read(&path).unwrap(), damaged, "at {byte}");
            let copy = dir.join(format!("00000001-2026-11-23.wal.{from}.damaged"));
            assert_eq!(
                std::fs::read(&copy).unwrap(),
                &damaged[from..to],
                "at {byte}"
            );
            assert_eq!(replayed.skipped, [copy.display().to_string()]);
            // A second start finds the same copy and writes no other.
            let (_, _, again) = replay(&mut open(&dir, 7));
            assert_eq!(again.skipped, [copy.display().to_string()], "at {byte}");
            std::fs::remove_file(&copy).unwrap();
        }
        // Other bytes damaged at the same offset later keep the first copy
        // and get a name of their own.
        let first = dir.join(format!("00000001-2026-11-23.wal.{from}.damaged"));
        for (n, byte) in [from + 9, from + 10].into_iter().enumerate() {
            let mut damaged = whole.clone();
            damaged[byte] ^= 0x04;
            std::fs::write(&path, &damaged).unwrap();
            let (_, _, replayed) = replay(&mut open(&dir, 7));
            let copy = if n == 0 {
                first.clone()
            } else {
                dir.join(format!("00000001-2026-11-23.wal.{from}.damaged.{n}"))
            };
            assert_eq!(replayed.skipped, [copy.display().to_string()]);
            assert_eq!(std::fs::read(&copy).unwrap(), &damaged[from..to]);
        }
        assert_ne!(std::fs::read(&first).unwrap()[9..], whole[from + 9..to]);
        std::fs::write(&path, &whole).unwrap();
        // The journal goes on after it.
        let mut j = open(&dir, 7);
        let _ = replay(&mut j);
        append(&mut j, DAY, &[&event(60)], "c").unwrap();
        let (_, ids, _) = replay(&mut open(&dir, 7));
        assert_eq!(ids.len(), 61);
        assert_eq!(ids.last().map(String::as_str), Some("e60"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_this_version_cannot_read_is_kept_and_skipped() {
        let dir = temp_dir("unreadable");
        let mut j = open(&dir, 7);
        append(&mut j, DAY, &[&event(0), &event(1)], "c").unwrap();
        let path = dir.join("00000001-2026-11-23.wal");
        // A newer version's event type, with a valid checksum.
        let payload =
            br#"{"id":"n1","ts":"2026-11-23T10:00:00+08:00","type":"from_a_newer_version"}"#;
        let mut record = (payload.len() as u32).to_le_bytes().to_vec();
        record.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        record.extend_from_slice(payload);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&record)
            .unwrap();
        let mut j = open(&dir, 7);
        let (_, ids, replayed) = replay(&mut j);
        assert_eq!(ids, ["e0", "e1"]);
        assert_eq!(replayed.unreadable_records, 1);
        assert_eq!(replayed.damaged_records, 0);
        assert_eq!(replayed.truncated_bytes, 0);
        append(&mut j, DAY, &[&event(2)], "c").unwrap();
        let before = std::fs::read(&path).unwrap();
        let (_, ids, replayed) = replay(&mut open(&dir, 7));
        assert_eq!(ids, ["e0", "e1", "e2"], "what follows it is read");
        assert_eq!(replayed.unreadable_records, 1);
        assert_eq!(std::fs::read(&path).unwrap(), before, "kept on disk");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn batches_written_before_a_sync_share_it() {
        let dir = temp_dir("group");
        let mut j = open(&dir, 7);
        let events: Vec<Event> = (0..3).map(event).collect();
        let tickets: Vec<Ticket> = events
            .iter()
            .map(|e| j.write(DAY, &[e], || Ok(b"c".to_vec())).unwrap())
            .collect();
        let syncer = j.syncer();
        assert!(
            syncer.sync(tickets[2]).unwrap().is_some(),
            "the last one syncs"
        );
        assert!(
            syncer.sync(tickets[0]).unwrap().is_none(),
            "already covered"
        );
        assert!(
            syncer.sync(tickets[1]).unwrap().is_none(),
            "already covered"
        );
        assert_eq!(replay(&mut open(&dir, 7)).1, ["e0", "e1", "e2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic() {
        let dir = temp_dir("full");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.join("00000001-2026-11-23.wal")).unwrap();
        let mut j = open(&dir, 7);
        let e = event(1);
        let err = append(&mut j, DAY, &[&e], "c").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
