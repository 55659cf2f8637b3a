//! The `watch` runtime: wiring only. Loads the catalog, starts sinks and sources, waits for the
//! end (every finite source done, or the shutdown signal), then stops sources, lets them report
//! what is pending and checkpoint, and drains the sinks.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::checkpoint::StateDir;
use crate::config::{SourceSpec, WatchConfig};
use crate::correlate::Policy;
use crate::engine::Catalog;
use crate::finding::hostname;
use crate::playbook;
use crate::source::file::{FileSourceTask, Wake};
use crate::source::{Counters, Ready, SourceContext};
use crate::stream::Shared;

/// What a run did (for `--once` callers and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub bytes: u64,
    pub findings: u64,
    pub streams: u64,
}

/// Builds the shared, read-only part every stream uses: catalog and thresholds.
pub fn shared(cfg: &WatchConfig) -> Result<Shared> {
    let (playbooks, diags) = playbook::load(&cfg.playbooks);
    if let Some(first) = diags.errors().next() {
        let n = diags.errors().count();
        let more =
            if n > 1 { format!(" (and {} more; run `faultline check`)", n - 1) } else { String::new() };
        bail!("invalid playbooks: {first}{more}");
    }
    let catalog = Catalog::new(playbooks).map_err(|e| anyhow::anyhow!("cannot compile playbooks: {e}"))?;
    let policy = Policy::new(
        &catalog,
        cfg.defaults,
        &cfg.per_playbook,
        &cfg.forced,
        cfg.context_before,
        cfg.context_after,
    );
    Ok(Shared {
        catalog: Arc::new(catalog),
        policy: Arc::new(policy),
        host: hostname(),
        max_line_bytes: cfg.limits.max_line_bytes,
    })
}

enum Running {
    File(JoinHandle<std::io::Result<()>>, std::sync::mpsc::Sender<Wake>),
    Task(JoinHandle<()>),
}

/// Runs until every source has ended or `shutdown` resolves.
pub async fn run(cfg: WatchConfig, from_start: bool, shutdown: impl Future<Output = ()>) -> Result<Summary> {
    if cfg.sources.is_empty() {
        bail!(
            "nothing to watch: give files or globs, `-` for stdin, --exec CMD or --docker CONTAINER (or `sources:` in --config)"
        );
    }
    let shared = shared(&cfg)?;
    let state = StateDir::open(&cfg.state_dir)
        .with_context(|| format!("cannot use state directory {}", cfg.state_dir.display()))?;
    let (findings_tx, findings_rx) = mpsc::channel(cfg.limits.queue);
    let sinks = crate::sink::spawn(&cfg.sinks, findings_rx, cfg.limits.queue);
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = SourceContext {
        shared: shared.clone(),
        state,
        findings: findings_tx,
        limits: cfg.limits,
        once: cfg.once,
        from_start,
        counters: counters.clone(),
    };

    let mut running = Vec::new();
    let mut readiness = Vec::new();
    for spec in &cfg.sources {
        let ctx = ctx.clone();
        let (ready, is_ready) = Ready::new();
        readiness.push(is_ready);
        running.push(match spec.clone() {
            SourceSpec::File(f) => {
                let (wake_tx, wake_rx) = std::sync::mpsc::channel();
                let task = FileSourceTask::new(f, ctx, wake_rx, wake_tx.clone());
                Running::File(tokio::task::spawn_blocking(move || task.run(ready)), wake_tx)
            }
            SourceSpec::Stdin(s) => {
                Running::Task(tokio::spawn(crate::source::stdin::run(s, ctx, ready, stop_rx.clone())))
            }
            SourceSpec::Exec(e) => {
                Running::Task(tokio::spawn(crate::source::exec::run(e, ctx, ready, stop_rx.clone())))
            }
            SourceSpec::Docker(d) => {
                Running::Task(tokio::spawn(crate::source::docker::run(d, ctx, ready, stop_rx.clone())))
            }
        });
    }
    drop(ctx);
    // Ready once every source has opened what it reads (a source that fails to start counts as
    // ready: it is reported, and the others go on).
    for r in readiness {
        let _ = r.await;
    }
    info!(
        sources = cfg.sources.len(),
        playbooks = shared.catalog.rules.len(),
        patterns = shared.catalog.pattern_count(),
        state_dir = %cfg.state_dir.display(),
        "Watching."
    );

    let wakers: Vec<std::sync::mpsc::Sender<Wake>> = running
        .iter()
        .filter_map(|r| match r {
            Running::File(_, w) => Some(w.clone()),
            Running::Task(_) => None,
        })
        .collect();
    let all_done = async {
        for r in running {
            match r {
                Running::File(h, _) => match h.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => error!(error = %e, "File source stopped."),
                    Err(e) => error!(error = %e, "File source failed."),
                },
                Running::Task(h) => {
                    let _ = h.await;
                }
            }
        }
    };
    tokio::pin!(all_done);
    tokio::select! {
        _ = &mut all_done => {}
        _ = shutdown => {
            info!("Stopping: reporting what is pending and writing checkpoints.");
            let _ = stop_tx.send(true);
            for w in &wakers {
                let _ = w.send(Wake::Stop);
            }
            all_done.await;
        }
    }
    // Every source has dropped its sender: the sinks drain and end.
    let _ = sinks.await;
    use crate::source::Counters as C;
    Ok(Summary {
        bytes: C::get(&counters.bytes),
        findings: C::get(&counters.findings),
        streams: C::get(&counters.streams),
    })
}
