//! The event journal: every accepted event is on disk before ingest
//! answers 200, and a restart replays it.
//!
//! Format: one segment file per local day (`YYYY-MM-DD.wal`, by the
//! server's clock when written) in the data directory. A record is
//! `u32 length (LE) | u32 CRC32C of the payload (LE) | payload`, the payload
//! being the event's JSON. Hand-rolled over serde because it is ten lines,
//! needs no format migration story (the payload is the ingest contract
//! itself) and makes a torn tail trivial to detect: a record whose length
//! runs past the end of the file, or whose checksum does not match, ends the
//! segment; the last segment is truncated there, so a crash mid-write never
//! stops the server from starting.
//!
//! Durability is one `fdatasync` per batch, under the ingest lock: a batch
//! of a thousand events costs one sync.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use wallboard_protocol::Event;

/// Records longer than this are corrupt (an event is a few hundred bytes).
const MAX_RECORD: u32 = 1 << 20;

pub struct Journal {
    dir: PathBuf,
    /// The segment being appended to, and its day.
    current: Option<(Date, File)>,
    buffer: Vec<u8>,
}

/// What a replay found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub segments: usize,
    pub records: u64,
    /// Bytes cut off torn tails.
    pub truncated_bytes: u64,
}

impl Journal {
    /// Opens (creating) the journal directory. Segments are opened on the
    /// first append of their day.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            current: None,
            buffer: Vec::new(),
        })
    }

    fn segments(&self) -> io::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wal"))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Reads every segment in order, calling `apply` for each event; cuts
    /// a torn tail off the last segment.
    pub fn replay(&mut self, mut apply: impl FnMut(Event)) -> io::Result<Replayed> {
        let segments = self.segments()?;
        let mut replayed = Replayed {
            segments: segments.len(),
            ..Replayed::default()
        };
        for (i, path) in segments.iter().enumerate() {
            let (good, len) = read_segment(path, |event| {
                replayed.records += 1;
                apply(event);
            })?;
            if good < len {
                let last = i + 1 == segments.len();
                tracing::warn!(
                    segment = %path.display(),
                    at = good,
                    cut = len - good,
                    "journal: torn or corrupt tail{}",
                    if last { ", truncated" } else { " in an older segment, skipped" }
                );
                if last {
                    OpenOptions::new().write(true).open(path)?.set_len(good)?;
                }
                replayed.truncated_bytes += len - good;
            }
        }
        Ok(replayed)
    }

    /// Appends `events` to the segment of `day` and syncs it. On `Err`
    /// nothing of the batch is to be treated as written (a partial record
    /// is a torn tail, cut at the next start).
    pub fn append(&mut self, day: Date, events: &[&Event]) -> io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.buffer.clear();
        for event in events {
            let payload = serde_json::to_vec(event).map_err(io::Error::other)?;
            self.buffer
                .extend_from_slice(&(payload.len() as u32).to_le_bytes());
            self.buffer
                .extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            self.buffer.extend_from_slice(&payload);
        }
        if self.current.as_ref().is_none_or(|(d, _)| *d != day) {
            let path = self.dir.join(format!("{day}.wal"));
            let created = !path.exists();
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            if created {
                // The new file's name must survive a power loss too.
                File::open(&self.dir)?.sync_all()?;
            }
            self.current = Some((day, file));
        }
        let (_, file) = self.current.as_mut().expect("opened above");
        let start = file.metadata()?.len();
        let written = file.write_all(&self.buffer).and_then(|_| file.sync_data());
        if written.is_err() {
            // Nothing of a failed batch may stay: a partial record in the
            // middle of a segment would hide every record after it, and a
            // whole one would come back at replay though the sender was
            // told it failed. Cut back to where the batch began.
            let _ = file.set_len(start).and_then(|_| file.sync_data());
            self.current = None;
        }
        written
    }
}

/// Reads the records of one segment; returns the offset after the last
/// good record and the file's length.
fn read_segment(path: &Path, mut each: impl FnMut(Event)) -> io::Result<(u64, u64)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut good = 0u64;
    let mut header = [0u8; 8];
    let mut payload = Vec::new();
    loop {
        if read_full(&mut reader, &mut header)? < header.len() {
            break;
        }
        let size = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if size == 0 || size > MAX_RECORD || good + 8 + u64::from(size) > len {
            break;
        }
        payload.resize(size as usize, 0);
        if read_full(&mut reader, &mut payload)? < payload.len() || crc32c::crc32c(&payload) != crc
        {
            break;
        }
        let Ok(event) = serde_json::from_slice::<Event>(&payload) else {
            break;
        };
        each(event);
        good += 8 + u64::from(size);
    }
    Ok((good, len))
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
        let dir =
            std::env::temp_dir().join(format!("wallboard-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn ids(journal: &mut Journal) -> (Vec<String>, Replayed) {
        let mut ids = Vec::new();
        let replayed = journal.replay(|e| ids.push(e.id)).unwrap();
        (ids, replayed)
    }

    const DAY: Date = jiff::civil::date(2026, 11, 23);

    #[test]
    fn what_is_appended_is_replayed_in_order_across_days() {
        let dir = temp_dir("order");
        let mut j = Journal::open(&dir).unwrap();
        let events: Vec<Event> = (0..5).map(event).collect();
        j.append(DAY, &[&events[0], &events[1]]).unwrap();
        j.append(DAY, &[&events[2]]).unwrap();
        j.append(DAY.tomorrow().unwrap(), &[&events[3], &events[4]])
            .unwrap();
        let (ids, replayed) = ids(&mut Journal::open(&dir).unwrap());
        assert_eq!(ids, ["e0", "e1", "e2", "e3", "e4"]);
        assert_eq!(
            replayed,
            Replayed {
                segments: 2,
                records: 5,
                truncated_bytes: 0
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_at_any_byte_is_cut_and_every_complete_record_kept() {
        let dir = temp_dir("torn");
        let mut j = Journal::open(&dir).unwrap();
        let events: Vec<Event> = (0..3).map(event).collect();
        j.append(DAY, &[&events[0], &events[1]]).unwrap();
        let path = dir.join(format!("{DAY}.wal"));
        let two = std::fs::metadata(&path).unwrap().len();
        j.append(DAY, &[&events[2]]).unwrap();
        let whole = std::fs::read(&path).unwrap();
        // Every cut inside the last record: the first two survive.
        for cut in two..whole.len() as u64 {
            std::fs::write(&path, &whole[..cut as usize]).unwrap();
            let (ids, replayed) = ids(&mut Journal::open(&dir).unwrap());
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
        let mut j = Journal::open(&dir).unwrap();
        assert_eq!(ids(&mut j).0, ["e0", "e1"]);
        // Appending after a cut continues cleanly.
        j.append(DAY, &[&events[2]]).unwrap();
        assert_eq!(ids(&mut Journal::open(&dir).unwrap()).0, ["e0", "e1", "e2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic() {
        let dir = temp_dir("full");
        let mut j = Journal::open(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.join(format!("{DAY}.wal"))).unwrap();
        let e = event(1);
        let err = j.append(DAY, &[&e]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
