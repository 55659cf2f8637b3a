//! Sources: where log bytes come from. Each source runs as its own task, owns the
//! [`StreamProcessor`](crate::stream::StreamProcessor)s of the streams it follows, writes its own
//! checkpoint, and sends findings into the daemon's bounded findings channel — so a slow sink
//! slows sources down instead of growing memory.
//!
//! * [`file`] — files and globs, with rotation, truncation and checkpoints (a blocking thread);
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
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Daemon-wide counters (status line, metrics).
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    pub findings: AtomicU64,
    pub open_files: AtomicU64,
    pub rotations: AtomicU64,
    pub truncations: AtomicU64,
    pub poll_fallbacks: AtomicU64,
    pub lines_cut: AtomicU64,
    pub streams: AtomicU64,
}

impl Counters {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
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

/// Sends events from a blocking thread. Returns false when the daemon has gone away.
pub fn send_blocking(tx: &mpsc::Sender<Event>, findings: Vec<Event>) -> bool {
    for f in findings {
        if tx.blocking_send(f).is_err() {
            return false;
        }
    }
    true
}
