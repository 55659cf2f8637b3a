//! Standard input: one stream, read until EOF (`docker logs -f web 2>&1 | faultline watch -`).
//! Not checkpointed — a pipe cannot be resumed.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::{Ready, Rebind, SourceContext, now_ms};
use crate::config::{StdinSource, decoding};
use crate::decode::Format;
use crate::finding::{Event, StreamInfo};
use crate::stream::{StreamProcessor, Workspace};

pub async fn run(
    spec: StdinSource,
    mut ctx: SourceContext,
    mut ready: Ready,
    mut stop: watch::Receiver<bool>,
    mut rebind: tokio::sync::mpsc::UnboundedReceiver<Rebind>,
) {
    let mut input = tokio::io::stdin();
    let mut proc = StreamProcessor::new(StreamInfo::new("stdin", "stdin"), &ctx.shared)
        .with_counters(ctx.counters.clone());
    proc.set_decoding(decoding(Format::Plain, &spec.multiline, &ctx.limits));
    let id = proc.add_input();
    ctx.counters.add(&ctx.counters.streams, 1);
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    let mut ws = Workspace::default();
    let mut last_data = tokio::time::Instant::now();
    ready.fire();
    loop {
        let deadline =
            proc.next_deadline(&ctx.shared).map(|d| Duration::from_millis(d.saturating_sub(now_ms())));
        let partial = proc.has_partial_line(id).then(|| {
            (last_data + ctx.limits.partial_line_timeout)
                .saturating_duration_since(tokio::time::Instant::now())
        });
        let wait = super::wait_budget(deadline, partial);
        ctx.counters.beat();
        tokio::select! {
            read = input.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    proc.push(&mut ws, id, &ctx.shared, &buf[..n], now_ms(), &mut out);
                    last_data = tokio::time::Instant::now();
                }
            },
            _ = tokio::time::sleep(wait) => {
                let now = now_ms();
                proc.tick(&mut ws, &ctx.shared, now, &mut out);
                if proc.has_partial_line(id) && last_data.elapsed() >= ctx.limits.partial_line_timeout {
                    proc.flush_input(&mut ws, id, &ctx.shared, now, &mut out);
                }
            }
            Some(r) = rebind.recv() => {
                let old = std::mem::replace(&mut ctx.shared, r.shared);
                proc.rebind(&old, &ctx.shared, &|id| r.kept.contains(id));
            }
            _ = stop.changed() => {
                proc.flush_pending(&mut ws, &ctx.shared, now_ms(), &mut out);
                send(&ctx, &mut out).await;
                let st = proc.stats();
                tracing::info!(stream = "stdin", lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
                return;
            }
        }
        if !send(&ctx, &mut out).await {
            return;
        }
    }
    // End of input: the stream ended.
    proc.end(&mut ws, &ctx.shared, now_ms(), &mut out);
    send(&ctx, &mut out).await;
    let st = proc.stats();
    tracing::info!(
        stream = "stdin",
        lines = st.lines,
        bytes = st.bytes,
        lines_cut = st.lines_cut,
        findings = st.findings,
        "Stream summary."
    );
}

async fn send(ctx: &SourceContext, out: &mut Vec<Event>) -> bool {
    for f in out.drain(..) {
        if ctx.findings.send(f).await.is_err() {
            return false;
        }
    }
    true
}
