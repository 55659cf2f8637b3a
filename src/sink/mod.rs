//! Sinks: where findings go. The daemon's findings channel feeds one fan-out task, which masks
//! secrets (once, for every sink: [`crate::redact`]) and gives every sink its own queue and task,
//! so sinks never wait on each other.
//!
//! * `stdout` — a bounded in-memory queue with back-pressure: a stalled terminal or pipe slows
//!   the sources down rather than growing memory (findings are data; nothing is dropped).
//! * `webhook`, `journal`, `alertmanager` — never make the fan-out wait. Each finding is first
//!   written to the sink's spool in the state directory (`sinks/<id>/`, one file per finding,
//!   written atomically), then kept in memory for the sink's task while its in-memory queue
//!   (`limits.queue`) has room; beyond that the task reads it back from disk. An entry leaves
//!   the spool only once delivered (or rejected for good), so an outage that spans a restart or
//!   a `kill -9` still delivers it afterwards — at least once; receivers de-duplicate on the
//!   finding `id`. The spool is bounded by count and age (`delivery.spool_max`,
//!   `delivery.spool_max_age`); what falls off is counted (`dropped`) and logged.
//!
//! At shutdown (the findings channel closes) every sink gets `delivery.drain_timeout` to
//! deliver what it holds; what is left stays in the spool for the next start.
//!
//! [`spawn`] returns the fan-out task and one [`SinkStats`] per sink (atomics: read them at any
//! time, e.g. for metrics).

pub mod alertmanager;
pub mod http;
pub mod journal;
pub mod spool;
pub mod stdout;
pub mod webhook;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{SinkSpec, WatchConfig, url_host};
use crate::finding::Event;
use crate::redact::Redactor;
use crate::source::now_ms;
use crate::telemetry::SinkMetrics;
use spool::Spool;

/// Counters of one sink. `sent`, `failed`, `retried`, `dropped` only grow; `queued` and
/// `spooled` are gauges.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Findings delivered (Alertmanager: alerts posted, re-sends included).
    pub sent: AtomicU64,
    /// Findings the receiver rejected for good (a 4xx other than 408/429): logged, not retried.
    pub failed: AtomicU64,
    /// Delivery attempts that failed and were tried again.
    pub retried: AtomicU64,
    /// Findings dropped undelivered at the spool's bounds (count, age) or unreadable in it.
    pub dropped: AtomicU64,
    /// Waiting for delivery, held in memory.
    pub queued: AtomicU64,
    /// Waiting for delivery, only on disk (the in-memory queue was full, or spooled before a
    /// restart).
    pub spooled: AtomicU64,
    /// When the current run of failed deliveries began (Unix ms; 0 while deliveries succeed).
    pub failing_since: AtomicU64,
}

/// A copy of a sink's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SinkCounts {
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub dropped: u64,
    pub queued: u64,
    pub spooled: u64,
}

impl SinkStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// A delivery (or a rejection: the receiver answered) ends a run of failures.
    pub fn answered(&self, counter: &AtomicU64, n: u64) {
        Self::add(counter, n);
        self.failing_since.store(0, Ordering::Relaxed);
    }

    /// A failed attempt that will be retried.
    pub fn retrying(&self) {
        Self::add(&self.retried, 1);
        let _ = self.failing_since.compare_exchange(0, now_ms().max(1), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// How long deliveries have been failing, if they are.
    pub fn failing_for(&self) -> Option<Duration> {
        let since = self.failing_since.load(Ordering::Relaxed);
        (since > 0).then(|| Duration::from_millis(now_ms().saturating_sub(since)))
    }

    pub fn get(&self) -> SinkCounts {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SinkCounts {
            sent: g(&self.sent),
            failed: g(&self.failed),
            retried: g(&self.retried),
            dropped: g(&self.dropped),
            queued: g(&self.queued),
            spooled: g(&self.spooled),
        }
    }
}

/// A sink as `/metrics` and `/readyz` see it.
#[derive(Debug)]
pub struct SinkProbe {
    pub name: String,
    pub stats: Arc<SinkStats>,
    /// Failing for longer than this makes the daemon not ready.
    pub unready_after: Duration,
}

impl SinkMetrics for SinkProbe {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn values(&self) -> Vec<(&'static str, u64, bool)> {
        let c = self.stats.get();
        vec![
            ("sent", c.sent, true),
            ("failed", c.failed, true),
            ("retried", c.retried, true),
            ("dropped", c.dropped, true),
            ("queued", c.queued, false),
            ("spooled", c.spooled, false),
        ]
    }

    fn healthy(&self) -> bool {
        self.stats.failing_for().is_none_or(|d| d < self.unready_after)
    }
}

/// The running sinks.
pub struct Sinks {
    /// Ends when the findings channel is closed and every sink has drained (or its drain time
    /// is up).
    pub task: JoinHandle<()>,
    /// Per sink: its name (`stdout`, `webhook:host:port`, `journal`, `alertmanager:host:port`, or
    /// the configured `name`) and its counters.
    pub stats: Vec<(String, Arc<SinkStats>)>,
}

enum Target {
    /// Back-pressure: the fan-out waits for room.
    Memory { tx: mpsc::Sender<Arc<Event>>, stats: Arc<SinkStats> },
    /// Write-ahead to disk; never waits on the sink.
    Spooled { spool: Arc<Spool>, activity: bool },
}

/// A spool id that does not reveal the URL (its path or credentials can be secret).
fn spool_id(kind: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("{kind}-{}", hex::encode(&Sha256::digest(key.as_bytes())[..8]))
}

/// Starts the sinks of `cfg`; spools live under `state_dir/sinks/`. `heartbeat` is how often
/// sources send activity news about active findings (Alertmanager resolves an alert that stops
/// getting news). Fails — before anything is started — on a sink that cannot work: an absent
/// journal socket, an unreadable secret file, an invalid redaction pattern, an unusable spool.
pub fn spawn(
    cfg: &WatchConfig,
    state_dir: &Path,
    heartbeat: Duration,
    mut findings: mpsc::Receiver<Event>,
) -> Result<Sinks> {
    let redactor = if cfg.redact.enabled {
        Redactor::new(&cfg.redact.patterns).map_err(|e| anyhow::anyhow!("redact: {e}"))?
    } else {
        Redactor::disabled()
    };
    let delivery = cfg.delivery;
    let queue = cfg.limits.queue.max(1);
    let mut targets = Vec::new();
    let mut stats = Vec::new();
    let mut starts: Vec<Box<dyn FnOnce() -> JoinHandle<()> + Send>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut unique = |base: String| {
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}#{n}");
            n += 1;
        }
        names.push(name.clone());
        name
    };
    let mut open_spool = |kind: &str, key: &str, name: &str, st: &Arc<SinkStats>| -> Result<Arc<Spool>> {
        let id = spool_id(kind, key);
        if ids.contains(&id) {
            bail!("two {kind} sinks would share a spool ({name}): give them distinct `name`s");
        }
        ids.push(id.clone());
        let dir = state_dir.join("sinks").join(&id);
        let spool = Spool::open(&dir, name, delivery, queue, st.clone())
            .with_context(|| format!("cannot use the spool of sink {name} ({})", dir.display()))?;
        Ok(Arc::new(spool))
    };
    for spec in &cfg.sinks {
        let st = Arc::new(SinkStats::default());
        match spec {
            SinkSpec::Stdout { format } => {
                let name = unique("stdout".into());
                let (tx, rx) = mpsc::channel::<Arc<Event>>(queue);
                let (format, s) = (*format, st.clone());
                starts.push(Box::new(move || tokio::spawn(stdout::run(format, rx, s))));
                targets.push(Target::Memory { tx, stats: st.clone() });
                stats.push((name, st));
            }
            SinkSpec::Webhook(w) => {
                let name = unique(w.name.clone().unwrap_or_else(|| format!("webhook:{}", url_host(&w.url))));
                let key = format!("{}|{}", w.url, w.name.as_deref().unwrap_or(""));
                let sink = webhook::Webhook::new(w, &name, st.clone())?;
                let spool = open_spool("webhook", &key, &name, &st)?;
                let sp = spool.clone();
                starts.push(Box::new(move || tokio::spawn(sink.run(sp, delivery))));
                targets.push(Target::Spooled { spool, activity: false });
                stats.push((name, st));
            }
            SinkSpec::Journal(j) => {
                let name = unique("journal".into());
                journal::check_socket(&j.socket)?;
                let spool = open_spool("journal", &j.socket.display().to_string(), &name, &st)?;
                let sp = spool.clone();
                let sink = journal::Journal::new(j.socket.clone(), st.clone());
                starts.push(Box::new(move || tokio::spawn(sink.run(sp, delivery))));
                targets.push(Target::Spooled { spool, activity: false });
                stats.push((name, st));
            }
            SinkSpec::Alertmanager(a) => {
                let name =
                    unique(a.name.clone().unwrap_or_else(|| format!("alertmanager:{}", url_host(&a.url))));
                let key = format!("{}|{}", a.url, a.name.as_deref().unwrap_or(""));
                let spool = open_spool("alertmanager", &key, &name, &st)?;
                let sink =
                    alertmanager::Alertmanager::new(a, &name, spool.dir(), delivery, heartbeat, st.clone())?;
                let sp = spool.clone();
                starts.push(Box::new(move || tokio::spawn(sink.run(sp))));
                targets.push(Target::Spooled { spool, activity: true });
                stats.push((name, st));
            }
        }
    }
    let tasks: Vec<(String, JoinHandle<()>)> =
        starts.into_iter().zip(stats.iter()).map(|(start, (name, _))| (name.clone(), start())).collect();
    let summary = stats.clone();
    let mut memory: Vec<(mpsc::Sender<Arc<Event>>, Arc<SinkStats>)> = Vec::new();
    let mut spooled: Vec<(Arc<Spool>, bool)> = Vec::new();
    for t in targets {
        match t {
            Target::Memory { tx, stats } => memory.push((tx, stats)),
            Target::Spooled { spool, activity } => spooled.push((spool, activity)),
        }
    }
    let task = tokio::spawn(async move {
        // Events a memory sink (stdout) has not taken yet because its queue is full. While there
        // are fewer than `queue` per memory sink, the fan-out keeps taking events in, so the
        // spooled sinks get every finding made even while stdout is stalled; beyond that it stops,
        // and the sources wait (stdout's back-pressure).
        let mut waiting: VecDeque<(usize, Arc<Event>)> = VecDeque::new();
        let limit = queue * memory.len().max(1);
        loop {
            let front = waiting.front().map(|(i, _)| *i);
            tokio::select! {
                biased;
                permit = async { memory[front.unwrap_or(0)].0.reserve().await }, if front.is_some() => {
                    let (i, event) = waiting.pop_front().expect("front");
                    match permit {
                        Ok(p) => p.send(event),
                        Err(_) => {
                            memory[i].1.queued.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                }
                event = findings.recv(), if waiting.len() < limit => {
                    let Some(mut event) = event else { break };
                    redactor.event(&mut event);
                    let event = Arc::new(event);
                    // Disk first: spooled sinks never make the fan-out wait on them.
                    for (spool, activity) in &spooled {
                        if *activity || matches!(*event, Event::Finding(_)) {
                            spool.push(&event);
                        }
                    }
                    for (i, (_, stats)) in memory.iter().enumerate() {
                        SinkStats::add(&stats.queued, 1);
                        waiting.push_back((i, event.clone()));
                    }
                }
            }
        }
        let deadline = tokio::time::Instant::now() + delivery.drain_timeout;
        for (spool, _) in &spooled {
            spool.close(deadline);
        }
        while let Some((i, event)) = waiting.pop_front() {
            let (tx, stats) = &memory[i];
            match tokio::time::timeout_at(deadline, tx.send(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    stats.queued.fetch_sub(1, Ordering::Relaxed);
                }
                Err(_) => {
                    // A stalled stdout at shutdown: what it has not taken is lost.
                    let lost = 1 + waiting.iter().filter(|(j, _)| *j == i).count() as u64;
                    waiting.retain(|(j, _)| *j != i);
                    stats.queued.fetch_sub(lost, Ordering::Relaxed);
                    SinkStats::add(&stats.dropped, lost);
                    warn!(lost, "Stdout did not take these findings before the drain time was up.");
                }
            }
        }
        drop(memory);
        for (name, mut t) in tasks {
            // Sinks stop by themselves at the deadline; this is only a safety net.
            let grace = deadline + Duration::from_secs(2);
            if tokio::time::timeout_at(grace, &mut t).await.is_err() {
                warn!(sink = %name, "Sink did not stop after its drain time; stopping it.");
                t.abort();
            }
        }
        for (name, st) in summary {
            let c = st.get();
            info!(sink = %name, sent = c.sent, failed = c.failed, retried = c.retried, dropped = c.dropped, queued = c.queued, spooled = c.spooled, "Sink summary.");
        }
    });
    Ok(Sinks { task, stats })
}
