//! Sources: where log bytes come from. Each source runs as its own task, owns the
//! [`StreamProcessor`](crate::stream::StreamProcessor)s of the streams it follows, writes its own
//! checkpoint, and sends findings into the daemon's bounded findings channel — so a slow sink
//! slows sources down instead of growing memory.
//!
//! * [`file`](mod@file) — files and globs, with rotation, truncation and checkpoints (a blocking thread);
//! * [`stdin`] — standard input;
//! * [`exec`] — a command's stdout and stderr, restarted with back-off;
//! * [`docker`] — containers' logs through the Docker Engine API, with discovery and cursors.

pub mod docker;
pub mod exec;
pub mod file;
pub mod kube;
pub mod stdin;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::checkpoint::StateDir;
use crate::config::Limits;
use crate::correlate::Millis;
use crate::finding::Event;
use crate::stream::Shared;

/// What every source gets from the daemon.
#[derive(Clone)]
pub struct SourceContext {
    pub shared: Shared,
    pub state: StateDir,
    /// Findings and activity news, to the sinks (bounded: a full queue makes sources wait).
    pub findings: mpsc::Sender<Event>,
    pub limits: Limits,
    /// `--once`: read to the current end, report, stop.
    pub once: bool,
    /// `--from-start`: files without a checkpoint are read from their beginning.
    pub from_start: bool,
    pub counters: Arc<Counters>,
}

/// One source's counters (metrics, status line, tests). Updated with relaxed atomics from the
/// source's task; read by the metrics collector and the status line.
#[derive(Debug, Default)]
pub struct Counters {
    /// The source's name (metrics label).
    pub name: String,
    /// `file`, `stdin`, `exec`, …
    pub kind: String,
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    pub lines_cut: AtomicU64,
    pub findings: AtomicU64,
    /// Time spent matching and correlating, in nanoseconds.
    pub match_nanos: AtomicU64,
    pub open_files: AtomicU64,
    pub rotations: AtomicU64,
    pub truncations: AtomicU64,
    pub poll_fallbacks: AtomicU64,
    /// Streams followed now.
    pub streams: AtomicU64,
    /// Unix milliseconds of the last checkpoint written (0: none yet).
    pub checkpoint_ms: AtomicU64,
    /// Unix milliseconds of the last turn of the source's loop (liveness).
    pub heartbeat_ms: AtomicU64,
    /// Findings made, per playbook id.
    pub findings_by_playbook: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Counters {
    pub fn new(kind: &str, name: &str) -> Self {
        Counters {
            name: name.into(),
            kind: kind.into(),
            heartbeat_ms: AtomicU64::new(now_ms()),
            ..Default::default()
        }
    }

    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn sub(&self, counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
    }

    pub fn set(&self, counter: &AtomicU64, v: u64) {
        counter.store(v, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Marks the source's loop as turning.
    pub fn beat(&self) {
        self.set(&self.heartbeat_ms, now_ms());
    }

    pub fn finding(&self, playbook: &str) {
        self.add(&self.findings, 1);
        let mut map = self.findings_by_playbook.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(playbook.to_string()).or_default() += 1;
    }
}

/// A reload's new catalog for a running source: its streams move to it in place (see
/// [`crate::stream::StreamProcessor::rebind`]); `kept` holds the playbooks whose correlation
/// state survives (their file did not change).
#[derive(Debug, Clone)]
pub struct Rebind {
    pub shared: Shared,
    pub kept: Arc<std::collections::HashSet<String>>,
}

/// Fired once by a source when it has opened what it reads (the daemon is ready when every
/// source is).
#[derive(Debug, Default)]
pub struct Ready(Option<tokio::sync::oneshot::Sender<()>>);

impl Ready {
    pub fn new() -> (Self, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Ready(Some(tx)), rx)
    }

    pub fn fire(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Wall-clock time in milliseconds (arrival time of what was just read).
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// How long a source loop may sleep: until the next correlation deadline or the
/// partial-line timeout, but at most a second, since the loop's turning is the
/// daemon's liveness signal.
pub fn wait_budget(deadline: Option<Duration>, partial: Option<Duration>) -> Duration {
    [deadline, partial].into_iter().flatten().min().unwrap_or(Duration::MAX).min(Duration::from_secs(1))
}

/// Sends events from a blocking thread. Returns false when the daemon has gone away.
pub fn send_blocking(tx: &mpsc::Sender<Event>, findings: Vec<Event>) -> bool {
    for f in findings {
        if tx.blocking_send(f).is_err() {
            return false;
        }
    }
    true
}
