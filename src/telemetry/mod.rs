//! The daemon observed from outside: Prometheus metrics, health and readiness, the status line,
//! and systemd's notify/watchdog protocol. Sources and sinks only bump atomics; this module reads
//! them when asked (a scrape, a status tick), so observation costs nothing on the hot path.

pub mod http;
pub mod metrics;
pub mod systemd;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::source::{Counters, now_ms};

/// Something a sink reports for metrics and readiness (implemented by the sinks).
pub trait SinkMetrics: Send + Sync + std::fmt::Debug {
    fn name(&self) -> String;
    /// (metric suffix, value, is a counter) — e.g. `("sent", 12, true)`, `("queued", 3, false)`.
    fn values(&self) -> Vec<(&'static str, u64, bool)>;
    /// False when the sink has been failing beyond its budget (readiness).
    fn healthy(&self) -> bool {
        true
    }
}

/// Shared by the daemon, the HTTP listener, the watchdog and the status line.
#[derive(Debug, Default)]
pub struct Telemetry {
    sources: Mutex<Vec<Arc<Counters>>>,
    sinks: Mutex<Vec<Arc<dyn SinkMetrics>>>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Every source has opened what it reads (and no reload is half done).
    pub ready: AtomicBool,
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn add_source(&self, c: Arc<Counters>) {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }

    pub fn remove_source(&self, c: &Arc<Counters>) {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).retain(|x| !Arc::ptr_eq(x, c));
    }

    pub fn add_sink(&self, s: Arc<dyn SinkMetrics>) {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }

    pub fn sources(&self) -> Vec<Arc<Counters>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn sinks(&self) -> Vec<Arc<dyn SinkMetrics>> {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `Ok` when every source's loop has turned within `budget` (a stuck matcher, reader or
    /// runtime stops it turning); else which one is stuck.
    pub fn alive(&self, budget: Duration) -> Result<(), String> {
        let now = now_ms();
        for c in self.sources() {
            let age = now.saturating_sub(Counters::get(&c.heartbeat_ms));
            if age > budget.as_millis() as u64 {
                return Err(format!("source {:?} has not turned for {} ms", c.name, age));
            }
        }
        Ok(())
    }

    /// `Ok` when ready: sources opened, and no sink failing beyond its budget.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.ready.load(Ordering::Relaxed) {
            return Err("sources are not open yet (or a reload is in progress)".into());
        }
        if let Some(s) = self.sinks().iter().find(|s| !s.healthy()) {
            return Err(format!("sink {:?} is failing", s.name()));
        }
        Ok(())
    }

    /// Totals across sources: (streams, lines, findings).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.sources().iter().fold((0, 0, 0), |(s, l, f), c| {
            (s + Counters::get(&c.streams), l + Counters::get(&c.lines), f + Counters::get(&c.findings))
        })
    }
}

/// The status line (systemd `STATUS=`): what is followed, how fast, what was found.
#[derive(Debug, Default)]
pub struct StatusLine {
    last: Option<(std::time::Instant, u64)>,
}

impl StatusLine {
    pub fn next(&mut self, t: &Telemetry) -> String {
        let (streams, lines, findings) = t.totals();
        let now = std::time::Instant::now();
        let rate = match self.last {
            Some((at, before)) if now > at => {
                (lines.saturating_sub(before)) as f64 / (now - at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((now, lines));
        format!("following {streams} streams, {rate:.0} lines/s, {findings} findings")
    }
}
