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
use tracing::{info, warn};

use super::{Ready, SourceContext, now_ms};
use crate::config::{ExecSource, Restart};
use crate::correlate::StreamCorrelator;
use crate::correlate::state::CorrelatorSnapshot;
use crate::finding::{Finding, StreamInfo};
use crate::stream::StreamProcessor;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

pub async fn run(spec: ExecSource, ctx: SourceContext, mut ready: Ready, mut stop: watch::Receiver<bool>) {
    let id = crate::checkpoint::source_id("exec", &spec.name);
    let mut info = StreamInfo::new("exec", spec.name.clone());
    info.labels.insert("command".into(), spec.argv.join(" "));
    let mut proc = StreamProcessor::new(info, &ctx.shared);
    match ctx.state.read::<CorrelatorSnapshot>(&id) {
        Ok(Some(snap)) => proc.set_correlator(StreamCorrelator::restore(snap, &ctx.shared.catalog, |_| true)),
        Ok(None) => {}
        Err(u) => warn!(path = %u.path.display(), reason = %u.reason, "Checkpoint unusable; starting fresh."),
    }
    ctx.counters.add(&ctx.counters.streams, 1);
    let mut backoff = BACKOFF_START;
    let mut out = Vec::new();
    loop {
        let started = tokio::time::Instant::now();
        let status = run_once(&spec, &ctx, &mut proc, &mut out, &mut stop, &id, &mut ready).await;
        let Some(success) = status else { break }; // told to stop
        let again = match spec.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if ctx.once || !again {
            proc.end(&ctx.shared, now_ms(), &mut out);
            emit(&ctx, &id, &proc, &mut out).await;
            break;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = BACKOFF_START;
        }
        info!(command = %spec.name, retry_in = ?backoff, "Command exited; restarting.");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    proc.flush_pending(&ctx.shared, now_ms(), &mut out);
    emit(&ctx, &id, &proc, &mut out).await;
    save(&ctx, &id, &proc);
    let st = proc.stats();
    info!(command = %spec.name, lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
}

/// Runs the command once. `Some(success)` when it exited, `None` when told to stop.
async fn run_once(
    spec: &ExecSource,
    ctx: &SourceContext,
    proc: &mut StreamProcessor,
    out: &mut Vec<Finding>,
    stop: &mut watch::Receiver<bool>,
    id: &str,
    ready: &mut Ready,
) -> Option<bool> {
    let mut child = match Command::new(&spec.argv[0])
        .args(&spec.argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(command = %spec.name, error = %e, "Cannot start command.");
            ready.fire();
            return Some(false);
        }
    };
    ready.fire();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (out_id, err_id) = (proc.add_input(), proc.add_input());
    let (mut out_open, mut err_open) = (true, true);
    let (mut out_buf, mut err_buf) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut last_data = tokio::time::Instant::now();
    let result = loop {
        let deadline = proc.next_deadline().map(|d| Duration::from_millis(d.saturating_sub(now_ms())));
        let partial = (proc.has_partial_line(out_id) || proc.has_partial_line(err_id)).then(|| {
            (last_data + ctx.limits.partial_line_timeout)
                .saturating_duration_since(tokio::time::Instant::now())
        });
        let wait = [deadline, partial].into_iter().flatten().min().unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            n = read_some(&mut stdout, &mut out_buf), if out_open => match n {
                Some(n) => { proc.push(out_id, &ctx.shared, &out_buf[..n], now_ms(), out); last_data = tokio::time::Instant::now(); ctx.counters.add(&ctx.counters.bytes, n as u64); }
                None => out_open = false,
            },
            n = read_some(&mut stderr, &mut err_buf), if err_open => match n {
                Some(n) => { proc.push(err_id, &ctx.shared, &err_buf[..n], now_ms(), out); last_data = tokio::time::Instant::now(); ctx.counters.add(&ctx.counters.bytes, n as u64); }
                None => err_open = false,
            },
            status = child.wait(), if !out_open && !err_open => {
                break Some(status.map(|s| s.success()).unwrap_or(false));
            }
            _ = tokio::time::sleep(wait) => {
                let now = now_ms();
                proc.tick(&ctx.shared, now, out);
                if last_data.elapsed() >= ctx.limits.partial_line_timeout {
                    proc.flush_input(out_id, &ctx.shared, now, out);
                    proc.flush_input(err_id, &ctx.shared, now, out);
                }
            }
            _ = stop.changed() => {
                let _ = child.start_kill();
                break None;
            }
        }
        if !out.is_empty() {
            emit(ctx, id, proc, out).await;
        } else if last_checkpoint.elapsed() >= Duration::from_secs(1) {
            save(ctx, id, proc);
            last_checkpoint = tokio::time::Instant::now();
        }
    };
    let now = now_ms();
    proc.close_input(out_id, &ctx.shared, now, out);
    proc.close_input(err_id, &ctx.shared, now, out);
    emit(ctx, id, proc, out).await;
    result
}

async fn read_some(r: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> Option<usize> {
    match r.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

fn save(ctx: &SourceContext, id: &str, proc: &StreamProcessor) {
    let snap = proc.correlator().snapshot(&ctx.shared.catalog);
    if let Err(e) = ctx.state.write(id, &snap) {
        warn!(error = %e, "Cannot write checkpoint.");
    }
}

/// Checkpoint, then hand the findings over (see the file source for why in this order).
async fn emit(ctx: &SourceContext, id: &str, proc: &StreamProcessor, out: &mut Vec<Finding>) {
    if out.is_empty() {
        return;
    }
    save(ctx, id, proc);
    for f in out.drain(..) {
        ctx.counters.add(&ctx.counters.findings, 1);
        if ctx.findings.send(f).await.is_err() {
            return;
        }
    }
}
