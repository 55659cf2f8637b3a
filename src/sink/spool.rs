//! A sink's spool: the durable queue of what it has not delivered yet.
//!
//! One file per entry in the sink's directory, named `<seq>-<queued ms>.json` and written
//! atomically (temp file, fsync, rename), so a crash at any moment leaves whole entries only.
//! The fan-out [`push`](Spool::push)es (write-ahead: on disk before anything else happens);
//! the sink's task [`peek`](Spool::peek)s the oldest entries, delivers them and
//! [`remove`](Spool::remove)s them. The newest `memory` entries are also kept in memory (the
//! sink's in-memory queue), older ones are read back from disk when their turn comes.
//!
//! Bounds: at most `spool_max` entries (pushing one more drops the oldest) and none older than
//! `spool_max_age` (dropped when the sink next looks). Drops are counted and logged. An entry that
//! cannot be read back is moved aside (`.corrupt`), counted and logged.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::SinkStats;
use crate::config::Delivery;
use crate::correlate::Millis;
use crate::finding::{Activity, Event, Finding};
use crate::source::now_ms;

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    finding: Option<&'a Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activity: Option<&'a Activity>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    finding: Option<Finding>,
    #[serde(default)]
    activity: Option<Activity>,
}

struct Slot {
    queued: Millis,
    event: Option<Arc<Event>>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<u64, Slot>,
    next_seq: u64,
    in_memory: usize,
}

pub struct Spool {
    dir: PathBuf,
    name: String,
    max: usize,
    max_age_ms: Millis,
    memory: usize,
    stats: Arc<SinkStats>,
    inner: Mutex<Inner>,
    changed: Notify,
    closing: watch::Sender<Option<Instant>>,
    /// Whether the spool keeps the sink's `queued`/`spooled` gauges (a sink that folds entries
    /// into its own state keeps them itself).
    gauges: AtomicBool,
}

fn file_name(seq: u64, queued: Millis) -> String {
    format!("{seq:020}-{queued}.json")
}

fn parse_name(name: &str) -> Option<(u64, Millis)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, queued) = stem.split_once('-')?;
    Some((seq.parse().ok()?, queued.parse().ok()?))
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, with what an earlier run left in it.
    pub fn open(
        dir: &Path,
        name: &str,
        d: Delivery,
        memory: usize,
        stats: Arc<SinkStats>,
    ) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut inner = Inner::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if file.ends_with(".tmp") {
                // A write cut short by a crash: it was never handed to the sink.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if let Some((seq, queued)) = parse_name(&file) {
                inner.entries.insert(seq, Slot { queued, event: None });
                inner.next_seq = inner.next_seq.max(seq + 1);
            }
        }
        let pending = inner.entries.len();
        let (closing, _) = watch::channel(None);
        let spool = Spool {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            max: d.spool_max.max(1),
            max_age_ms: d.spool_max_age.as_millis() as Millis,
            memory,
            stats,
            inner: Mutex::new(inner),
            changed: Notify::new(),
            closing,
            gauges: AtomicBool::new(true),
        };
        if pending > 0 {
            info!(sink = %name, pending, "Spool holds undelivered findings from an earlier run; delivering them.");
        }
        spool.update_gauges(&spool.inner.lock().expect("spool lock"));
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn set_gauges(&self, on: bool) {
        self.gauges.store(on, Ordering::Relaxed);
    }

    fn update_gauges(&self, inner: &Inner) {
        if !self.gauges.load(Ordering::Relaxed) {
            return;
        }
        SinkStats::set(&self.stats.queued, inner.in_memory as u64);
        SinkStats::set(&self.stats.spooled, (inner.entries.len() - inner.in_memory) as u64);
    }

    fn write(&self, seq: u64, queued: Millis, event: &Event) -> io::Result<()> {
        let env = match event {
            Event::Finding(f) => EnvelopeRef { finding: Some(f), activity: None },
            Event::Activity(a) => EnvelopeRef { finding: None, activity: Some(a) },
        };
        let body = serde_json::to_vec(&env).map_err(io::Error::other)?;
        let path = self.dir.join(file_name(seq, queued));
        let tmp = path.with_extension("tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()
    }

    fn delete(&self, seq: u64, slot: &Slot) {
        if let Err(e) = fs::remove_file(self.dir.join(file_name(seq, slot.queued))) {
            if e.kind() != io::ErrorKind::NotFound {
                warn!(sink = %self.name, error = %e, "Cannot delete a spool entry.");
            }
        }
    }

    fn take(&self, inner: &mut Inner, seq: u64) -> Option<Slot> {
        let slot = inner.entries.remove(&seq)?;
        if slot.event.is_some() {
            inner.in_memory -= 1;
        }
        self.delete(seq, &slot);
        Some(slot)
    }

    /// Appends `event` (written to disk before this returns). When the spool is full, the
    /// oldest entry is dropped.
    pub fn push(&self, event: &Arc<Event>) {
        let mut inner = self.inner.lock().expect("spool lock");
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let queued = now_ms();
        if let Err(e) = self.write(seq, queued, event) {
            // Still deliverable from memory, but it would not survive a restart.
            warn!(sink = %self.name, error = %e, "Cannot write to the spool; keeping the finding in memory only.");
        }
        let in_memory = inner.in_memory < self.memory;
        inner.entries.insert(seq, Slot { queued, event: in_memory.then(|| event.clone()) });
        inner.in_memory += usize::from(in_memory);
        while inner.entries.len() > self.max {
            let oldest = *inner.entries.keys().next().expect("not empty");
            if let Some(slot) = self.take(&mut inner, oldest) {
                SinkStats::add(&self.stats.dropped, 1);
                warn!(sink = %self.name, max = self.max, queued_ms = slot.queued, "Spool full: dropped its oldest undelivered finding.");
            }
        }
        self.update_gauges(&inner);
        drop(inner);
        self.changed.notify_one();
    }

    /// Up to `n` of the oldest entries (after dropping those too old).
    pub fn peek(&self, n: usize) -> Vec<(u64, Arc<Event>)> {
        let mut inner = self.inner.lock().expect("spool lock");
        let horizon = now_ms().saturating_sub(self.max_age_ms);
        let expired: Vec<u64> =
            inner.entries.iter().take_while(|(_, s)| s.queued < horizon).map(|(k, _)| *k).collect();
        if !expired.is_empty() {
            for seq in &expired {
                self.take(&mut inner, *seq);
            }
            SinkStats::add(&self.stats.dropped, expired.len() as u64);
            warn!(sink = %self.name, dropped = expired.len(), "Dropped undelivered findings older than delivery.spool_max_age.");
        }
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        for (&seq, slot) in inner.entries.iter().take(n) {
            match &slot.event {
                Some(e) => out.push((seq, e.clone())),
                None => match self.read(seq, slot.queued) {
                    Ok(e) => out.push((seq, Arc::new(e))),
                    Err(why) => unreadable.push((seq, why)),
                },
            }
        }
        for (seq, why) in unreadable {
            if let Some(slot) = inner.entries.remove(&seq) {
                let path = self.dir.join(file_name(seq, slot.queued));
                let _ = fs::rename(&path, path.with_extension("json.corrupt"));
                warn!(sink = %self.name, path = %path.display(), reason = %why, "Unreadable spool entry set aside.");
                SinkStats::add(&self.stats.dropped, 1);
            }
        }
        self.update_gauges(&inner);
        out
    }

    fn read(&self, seq: u64, queued: Millis) -> Result<Event, String> {
        let bytes = fs::read(self.dir.join(file_name(seq, queued))).map_err(|e| e.to_string())?;
        let env: Envelope = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        match (env.finding, env.activity) {
            (Some(f), _) => Ok(Event::Finding(Box::new(f))),
            (None, Some(a)) => Ok(Event::Activity(Box::new(a))),
            (None, None) => Err("empty entry".into()),
        }
    }

    /// Forgets delivered (or rejected) entries.
    pub fn remove(&self, seqs: &[u64]) {
        let mut inner = self.inner.lock().expect("spool lock");
        for &seq in seqs {
            self.take(&mut inner, seq);
        }
        self.update_gauges(&inner);
        debug!(sink = %self.name, removed = seqs.len(), left = inner.entries.len(), "Spool entries done.");
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("spool lock").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves when something was pushed (or the spool is closing) since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// No more entries will come; the sink has until `deadline` to deliver what it holds.
    pub fn close(&self, deadline: Instant) {
        self.closing.send_replace(Some(deadline));
        self.changed.notify_one();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.borrow().is_some()
    }

    /// Resolves once the spool is closing and its drain deadline has passed.
    pub async fn drain_over(&self) {
        let mut rx = self.closing.subscribe();
        loop {
            let deadline = *rx.borrow_and_update();
            if let Some(d) = deadline {
                tokio::time::sleep_until(d).await;
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::finding::{PlaybookRef, SCHEMA, StreamInfo};
    use std::time::Duration;

    pub(crate) fn finding(id: &str) -> Finding {
        Finding {
            schema: SCHEMA.into(),
            id: id.into(),
            time: "2024-05-01T10:00:00.000Z".into(),
            playbook: PlaybookRef {
                id: "p".into(),
                title: "t".into(),
                category: "c".into(),
                severity: "low".into(),
            },
            score: 1.0,
            confidence: 0.9,
            count: 1,
            repeats: 0,
            first_seen: "2024-05-01T10:00:00.000Z".into(),
            last_seen: "2024-05-01T10:00:00.000Z".into(),
            stream: StreamInfo::new("stdin", "stdin"),
            host: "h".into(),
            evidence: vec![],
            context: vec![],
            summary: "s".into(),
            fix: vec![],
            alternatives: vec![],
        }
    }

    fn ids(v: &[(u64, Arc<Event>)]) -> Vec<String> {
        v.iter()
            .map(|(_, e)| match &**e {
                Event::Finding(f) => f.id.clone(),
                Event::Activity(a) => a.finding_id.clone(),
            })
            .collect()
    }

    fn push(s: &Spool, id: &str) {
        s.push(&Arc::new(Event::Finding(Box::new(finding(id)))));
    }

    #[test]
    fn entries_survive_reopening_in_order_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SinkStats::default());
        let d = Delivery::default();
        let s = Spool::open(dir.path(), "t", d, 2, stats.clone()).unwrap();
        for id in ["a", "b", "c"] {
            push(&s, id);
        }
        assert_eq!((stats.get().queued, stats.get().spooled), (2, 1), "two in memory, one only on disk");
        let first = s.peek(10);
        assert_eq!(ids(&first), ["a", "b", "c"]);
        s.remove(&[first[0].0]);
        drop(s);
        let s = Spool::open(dir.path(), "t", d, 2, Arc::new(SinkStats::default())).unwrap();
        assert_eq!(ids(&s.peek(10)), ["b", "c"]);
        push(&s, "d");
        assert_eq!(ids(&s.peek(10)), ["b", "c", "d"], "new entries come after the old ones");
    }

    #[test]
    fn the_count_bound_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SinkStats::default());
        let d = Delivery { spool_max: 2, ..Delivery::default() };
        let s = Spool::open(dir.path(), "t", d, 10, stats.clone()).unwrap();
        for id in ["a", "b", "c"] {
            push(&s, id);
        }
        assert_eq!(ids(&s.peek(10)), ["b", "c"]);
        assert_eq!(stats.get().dropped, 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "the dropped entry's file is gone");
    }

    #[test]
    fn the_age_bound_drops_old_entries() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SinkStats::default());
        // An entry left by an earlier run two days ago.
        let old = now_ms() - 48 * 3600 * 1000;
        let body =
            serde_json::to_vec(&EnvelopeRef { finding: Some(&finding("old")), activity: None }).unwrap();
        fs::write(dir.path().join(file_name(7, old)), body).unwrap();
        let d = Delivery { spool_max_age: Duration::from_secs(24 * 3600), ..Delivery::default() };
        let s = Spool::open(dir.path(), "t", d, 10, stats.clone()).unwrap();
        push(&s, "new");
        assert_eq!(ids(&s.peek(10)), ["new"]);
        assert_eq!(stats.get().dropped, 1);
    }

    #[test]
    fn a_corrupt_entry_is_set_aside_and_the_rest_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SinkStats::default());
        fs::write(dir.path().join(file_name(1, now_ms())), b"\0garbage").unwrap();
        fs::write(dir.path().join("00000000000000000009-1.json.tmp"), b"half").unwrap();
        let s = Spool::open(dir.path(), "t", Delivery::default(), 10, stats.clone()).unwrap();
        push(&s, "ok");
        assert_eq!(ids(&s.peek(10)), ["ok"]);
        assert_eq!(stats.get().dropped, 1);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n.ends_with(".corrupt")), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }
}
