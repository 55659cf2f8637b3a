//! A command's output as a stream: stdout and stderr are framed separately (their lines never
//! mix) and correlated together. When the command exits it is started again with exponential
//! back-off (1 s doubling to 60 s; reset once it has run for a minute), unless `restart` says
//! otherwise. The correlation state (cooldowns) is checkpointed, so a restarted faultline does
//! not report again what `docker logs --since 1m` shows it a second time.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Ready, Rebind, SourceContext, now_ms};
use crate::config::{ExecSource, Restart, decoding};
use crate::correlate::StreamCorrelator;
use crate::correlate::state::CorrelatorSnapshot;
use crate::decode::Format;
use crate::finding::{Event, StreamInfo};
use crate::stream::{StreamProcessor, Workspace};

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The stream of one `exec` source and what it needs to process it.
struct ExecStream {
    spec: ExecSource,
    ctx: SourceContext,
    /// Checkpoint id.
    id: String,
    proc: StreamProcessor,
    ws: Workspace,
    out: Vec<Event>,
}

pub async fn run(
    spec: ExecSource,
    ctx: SourceContext,
    mut ready: Ready,
    mut stop: watch::Receiver<bool>,
    mut rebind: tokio::sync::mpsc::UnboundedReceiver<Rebind>,
) {
    let id = crate::checkpoint::source_id("exec", &spec.name);
    let mut info = StreamInfo::new("exec", spec.name.clone());
    info.labels.insert("command".into(), spec.argv.join(" "));
    let mut proc = StreamProcessor::new(info, &ctx.shared).with_counters(ctx.counters.clone());
    proc.set_decoding(decoding(Format::Plain, &spec.multiline, &ctx.limits));
    match ctx.state.read::<CorrelatorSnapshot>(&id) {
        Ok(Some(snap)) => proc.set_correlator(StreamCorrelator::restore(snap, &ctx.shared.catalog, |_| true)),
        Ok(None) => {}
        Err(u) => warn!(path = %u.path.display(), reason = %u.reason, "Checkpoint unusable; starting fresh."),
    }
    ctx.counters.add(&ctx.counters.streams, 1);
    let mut s = ExecStream { spec, ctx, id, proc, ws: Workspace::default(), out: Vec::new() };
    let mut backoff = BACKOFF_START;
    loop {
        let started = Instant::now();
        let Some(success) = s.run_once(&mut stop, &mut ready, &mut rebind).await else { break }; // told to stop
        let again = match s.spec.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if s.ctx.once || !again {
            s.proc.end(&mut s.ws, &s.ctx.shared, now_ms(), &mut s.out);
            s.emit().await;
            break;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = BACKOFF_START;
        }
        info!(command = %s.spec.name, retry_in = ?backoff, "Command exited; restarting.");
        let until = Instant::now() + backoff;
        let mut stopped = false;
        while Instant::now() < until && !stopped {
            s.ctx.counters.beat();
            tokio::select! {
                _ = tokio::time::sleep_until(until.min(Instant::now() + Duration::from_secs(1))) => {}
                _ = stop.changed() => stopped = true,
            }
        }
        if stopped {
            break;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    s.proc.flush_pending(&mut s.ws, &s.ctx.shared, now_ms(), &mut s.out);
    s.emit().await;
    s.save();
    let st = s.proc.stats();
    info!(command = %s.spec.name, lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
}

impl ExecStream {
    /// Runs the command once. `Some(success)` when it exited, `None` when told to stop.
    async fn run_once(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        ready: &mut Ready,
        rebind: &mut tokio::sync::mpsc::UnboundedReceiver<Rebind>,
    ) -> Option<bool> {
        let spawned = Command::new(&self.spec.argv[0])
            .args(&self.spec.argv[1..])
            // The service manager's variables are for faultline, not for the command it runs.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        ready.fire();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                warn!(command = %self.spec.name, error = %e, "Cannot start command.");
                return Some(false);
            }
        };
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let inputs = [self.proc.add_input(), self.proc.add_input()];
        let mut open = [true, true];
        let mut bufs = [vec![0u8; 64 << 10], vec![0u8; 64 << 10]];
        let mut last_checkpoint = Instant::now();
        let mut last_data = Instant::now();
        let timeout = self.ctx.limits.partial_line_timeout;
        let result = loop {
            let deadline = self
                .proc
                .next_deadline(&self.ctx.shared)
                .map(|d| Duration::from_millis(d.saturating_sub(now_ms())));
            let partial = inputs
                .iter()
                .any(|&i| self.proc.has_partial_line(i))
                .then(|| (last_data + timeout).saturating_duration_since(Instant::now()));
            let wait = super::wait_budget(deadline, partial);
            self.ctx.counters.beat();
            let [out_buf, err_buf] = &mut bufs;
            let (which, n) = tokio::select! {
                n = read_some(&mut stdout, out_buf), if open[0] => (0, n),
                n = read_some(&mut stderr, err_buf), if open[1] => (1, n),
                status = child.wait(), if !open[0] && !open[1] => {
                    break Some(status.map(|s| s.success()).unwrap_or(false));
                }
                _ = tokio::time::sleep(wait) => {
                    let now = now_ms();
                    self.proc.tick(&mut self.ws, &self.ctx.shared, now, &mut self.out);
                    if last_data.elapsed() >= timeout {
                        for &i in &inputs {
                            self.proc.flush_input(&mut self.ws, i, &self.ctx.shared, now, &mut self.out);
                        }
                    }
                    (2, None)
                }
                Some(r) = rebind.recv() => {
                    let old = std::mem::replace(&mut self.ctx.shared, r.shared);
                    self.proc.rebind(&old, &self.ctx.shared, &|id| r.kept.contains(id));
                    (2, None)
                }
                _ = stop.changed() => {
                    let _ = child.start_kill();
                    break None;
                }
            };
            match (which, n) {
                (2, _) => {}
                (w, None) => open[w] = false,
                (w, Some(n)) => {
                    let bytes = &bufs[w][..n];
                    self.proc.push(&mut self.ws, inputs[w], &self.ctx.shared, bytes, now_ms(), &mut self.out);
                    last_data = Instant::now();
                }
            }
            if !self.out.is_empty() {
                self.emit().await;
            } else if last_checkpoint.elapsed() >= Duration::from_secs(1) {
                self.save();
                last_checkpoint = Instant::now();
            }
        };
        let now = now_ms();
        for i in inputs {
            self.proc.close_input(&mut self.ws, i, &self.ctx.shared, now, &mut self.out);
        }
        self.emit().await;
        result
    }

    fn save(&self) {
        let snap = self.proc.correlator().snapshot(&self.ctx.shared.catalog);
        if let Err(e) = self.ctx.state.write(&self.id, &snap) {
            warn!(error = %e, "Cannot write checkpoint.");
        }
    }

    /// Checkpoint, then hand the findings over (see the file source for why in this order).
    async fn emit(&mut self) {
        if self.out.is_empty() {
            return;
        }
        self.save();
        for f in self.out.drain(..) {
            if self.ctx.findings.send(f).await.is_err() {
                return;
            }
        }
    }
}

async fn read_some(r: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> Option<usize> {
    match r.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}
