//! The `watch` runtime: wiring only. Loads the catalog, starts sinks and sources, then obeys the
//! controls (reload, stop) until every source has ended or it is told to stop. On stop, sources
//! stop reading, report what is pending and write their checkpoints; then the sinks drain.
//!
//! Reload (SIGHUP) validates the new configuration and playbooks completely before touching
//! anything; if they are invalid the running set stays. If they are valid: removed sources stop
//! (and checkpoint), added ones start, kept ones switch to the new catalog in place — they keep
//! their files open and their offsets, so no line is lost or read twice, and correlation state
//! (windows, cooldowns) is kept for every playbook whose file did not change.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::checkpoint::StateDir;
use crate::config::{SourceSpec, WatchConfig};
use crate::correlate::Policy;
use crate::engine::Catalog;
use crate::finding::{Event, hostname};
use crate::playbook;
use crate::source::file::{FileSourceTask, Wake};
use crate::source::{Counters, Ready, Rebind, SourceContext};
use crate::stream::Shared;
use crate::telemetry::{Telemetry, systemd};

/// What the outside world asks of a running daemon (signals, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Stop,
}

/// What a run did (for `--once` callers and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub bytes: u64,
    pub findings: u64,
    pub streams: u64,
}

/// Builds the shared, read-only part every stream uses: catalog and thresholds.
pub fn build_shared(cfg: &WatchConfig) -> Result<Shared> {
    let (playbooks, diags) = playbook::load(&cfg.playbooks);
    if let Some(first) = diags.errors().next() {
        let n = diags.errors().count();
        let more =
            if n > 1 { format!(" (and {} more; run `faultline check`)", n - 1) } else { String::new() };
        bail!("invalid playbooks: {first}{more}");
    }
    let catalog = Catalog::new(playbooks).map_err(|e| anyhow::anyhow!("cannot compile playbooks: {e}"))?;
    for id in cfg.per_playbook.keys() {
        if catalog.find(id).is_none() {
            warn!(playbook = %id, "Thresholds are configured for a playbook that is not loaded.");
        }
    }
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

/// Playbooks whose file is the same in both catalogs: their correlation state survives a reload.
fn unchanged(old: &Catalog, new: &Catalog) -> HashSet<String> {
    new.playbooks
        .iter()
        .filter(|p| old.find(&p.id).is_some_and(|o| o.content_hash == p.content_hash))
        .map(|p| p.id.clone())
        .collect()
}

enum Handle {
    File(JoinHandle<std::io::Result<()>>, std::sync::mpsc::Sender<Wake>),
    Task(JoinHandle<()>, watch::Sender<bool>, mpsc::UnboundedSender<Rebind>),
}

struct Running {
    spec: SourceSpec,
    handle: Handle,
    counters: Arc<Counters>,
}

impl Running {
    fn stop(&self) {
        match &self.handle {
            Handle::File(_, wake) => {
                let _ = wake.send(Wake::Stop);
            }
            Handle::Task(_, stop, _) => {
                let _ = stop.send(true);
            }
        }
    }

    fn rebind(&self, r: Rebind) {
        match &self.handle {
            Handle::File(_, wake) => {
                let _ = wake.send(Wake::Rebind(r));
            }
            Handle::Task(_, _, tx) => {
                let _ = tx.send(r);
            }
        }
    }

    async fn join(self) {
        match self.handle {
            Handle::File(h, _) => match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => error!(error = %e, "File source stopped."),
                Err(e) => error!(error = %e, "File source failed."),
            },
            Handle::Task(h, _, _) => {
                let _ = h.await;
            }
        }
    }
}

fn source_name(spec: &SourceSpec) -> (&'static str, String) {
    match spec {
        SourceSpec::File(f) => ("file", f.name.clone()),
        SourceSpec::Stdin(_) => ("stdin", "stdin".into()),
        SourceSpec::Exec(e) => ("exec", e.name.clone()),
        SourceSpec::Docker(d) => ("docker", d.name.clone()),
    }
}

/// Starts one source; `done` receives its index when it ends.
fn start(
    spec: &SourceSpec,
    ctx: &SourceContext,
    telemetry: &Telemetry,
    done: mpsc::UnboundedSender<()>,
) -> (Running, tokio::sync::oneshot::Receiver<()>) {
    let (kind, name) = source_name(spec);
    let counters = Arc::new(Counters::new(kind, &name));
    telemetry.add_source(counters.clone());
    let ctx = SourceContext { counters: counters.clone(), ..ctx.clone() };
    let (ready, is_ready) = Ready::new();
    let handle = match spec.clone() {
        SourceSpec::File(f) => {
            let (wake_tx, wake_rx) = std::sync::mpsc::channel();
            let task = FileSourceTask::new(f, ctx, wake_rx, wake_tx.clone());
            let h = tokio::task::spawn_blocking(move || {
                let r = task.run(ready);
                let _ = done.send(());
                r
            });
            Handle::File(h, wake_tx)
        }
        SourceSpec::Stdin(_) | SourceSpec::Exec(_) | SourceSpec::Docker(_) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let (rebind_tx, rebind_rx) = mpsc::unbounded_channel();
            let spec = spec.clone();
            let h = tokio::spawn(async move {
                match spec {
                    SourceSpec::Exec(e) => crate::source::exec::run(e, ctx, ready, stop_rx, rebind_rx).await,
                    SourceSpec::Docker(d) => {
                        crate::source::docker::run(d, ctx, ready, stop_rx, rebind_rx).await
                    }
                    SourceSpec::Stdin(s) => {
                        crate::source::stdin::run(s, ctx, ready, stop_rx, rebind_rx).await
                    }
                    SourceSpec::File(_) => unreachable!("files are followed on a blocking thread"),
                }
                let _ = done.send(());
            });
            Handle::Task(h, stop_tx, rebind_tx)
        }
    };
    (Running { spec: spec.clone(), handle, counters }, is_ready)
}

/// Runs until every source has ended, or a [`Control::Stop`] arrives. `reload` produces the
/// configuration anew (config file and flags) for [`Control::Reload`].
pub async fn run(
    cfg: WatchConfig,
    from_start: bool,
    mut controls: mpsc::Receiver<Control>,
    reload: impl Fn() -> Result<WatchConfig>,
    telemetry: Arc<Telemetry>,
) -> Result<Summary> {
    if cfg.sources.is_empty() {
        bail!(
            "nothing to watch: give files or globs, `-` for stdin, --exec CMD or --docker CONTAINER (or `sources:` in --config)"
        );
    }
    let mut shared = build_shared(&cfg)?;
    let state = StateDir::open(&cfg.state_dir)
        .with_context(|| format!("cannot use state directory {}", cfg.state_dir.display()))?;
    if let Some(addr) = cfg.listen {
        crate::telemetry::http::bind(addr, telemetry.clone())
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        info!(address = %addr, "Serving /metrics, /healthz and /readyz.");
    }
    let (events_tx, events_rx) = mpsc::channel::<Event>(cfg.limits.queue);
    let sinks = crate::sink::spawn(&cfg, state.root(), shared.policy.activity_interval, events_rx)?;
    for (name, stats) in &sinks.stats {
        telemetry.add_sink(Arc::new(crate::sink::SinkProbe {
            name: name.clone(),
            stats: stats.clone(),
            unready_after: cfg.delivery.unready_after,
        }));
    }
    let ctx = SourceContext {
        shared: shared.clone(),
        state,
        findings: events_tx,
        limits: cfg.limits,
        once: cfg.once,
        from_start,
        counters: Arc::new(Counters::default()),
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut running = Vec::new();
    let mut readiness = Vec::new();
    for spec in &cfg.sources {
        let (r, ready) = start(spec, &ctx, &telemetry, done_tx.clone());
        running.push(r);
        readiness.push(ready);
    }
    // Ready once every source has opened what it reads (a source that fails to start counts as
    // ready: it is reported, and the others go on).
    for r in readiness {
        let _ = r.await;
    }
    telemetry.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    systemd::ready();
    info!(
        sources = cfg.sources.len(),
        playbooks = shared.catalog.rules.len(),
        patterns = shared.catalog.pattern_count(),
        state_dir = %cfg.state_dir.display(),
        "Watching."
    );
    let keep_alive = tokio::spawn(systemd::keep_alive(telemetry.clone(), std::time::Duration::from_secs(10)));

    let mut cfg = cfg;
    let mut live = running.len();
    loop {
        tokio::select! {
            Some(()) = done_rx.recv() => {
                live -= 1;
                if live == 0 {
                    break;
                }
            }
            control = controls.recv() => match control {
                Some(Control::Reload) => {
                    systemd::reloading();
                    telemetry.ready.store(false, std::sync::atomic::Ordering::Relaxed);
                    match reload().and_then(|new_cfg| Ok((build_shared(&new_cfg)?, new_cfg))) {
                        Err(e) => {
                            telemetry.reloads_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            error!(error = %format!("{e:#}"), "Reload failed; the running configuration stays.");
                        }
                        Ok((new_shared, new_cfg)) => {
                            let kept = Arc::new(unchanged(&shared.catalog, &new_shared.catalog));
                            note_restart_only_changes(&cfg, &new_cfg);
                            let mut next = Vec::new();
                            for r in running.drain(..) {
                                if new_cfg.sources.contains(&r.spec) {
                                    r.rebind(Rebind { shared: new_shared.clone(), kept: kept.clone() });
                                    next.push(r);
                                } else {
                                    info!(source = %r.spec, "Source removed by reload; stopping it.");
                                    r.stop();
                                    telemetry.remove_source(&r.counters);
                                    // It reports its end on `done_rx`; `live` follows.
                                    tokio::spawn(r.join());
                                }
                            }
                            let ctx = SourceContext { shared: new_shared.clone(), ..ctx.clone() };
                            let mut readiness = Vec::new();
                            let added: Vec<SourceSpec> =
                                new_cfg.sources.iter().filter(|s| !next.iter().any(|r| &r.spec == *s)).cloned().collect();
                            for spec in &added {
                                info!(source = %spec, "Source added by reload.");
                                let (r, ready) = start(spec, &ctx, &telemetry, done_tx.clone());
                                next.push(r);
                                readiness.push(ready);
                                live += 1;
                            }
                            for r in readiness {
                                let _ = r.await;
                            }
                            running = next;
                            shared = new_shared;
                            cfg = new_cfg;
                            telemetry.reloads_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            info!(playbooks = shared.catalog.rules.len(), kept = kept.len(), sources = running.len(), "Reloaded.");
                        }
                    }
                    telemetry.ready.store(true, std::sync::atomic::Ordering::Relaxed);
                    systemd::ready();
                }
                Some(Control::Stop) | None => {
                    systemd::stopping();
                    info!("Stopping: reporting what is pending and writing checkpoints.");
                    for r in &running {
                        r.stop();
                    }
                    break;
                }
            }
        }
    }
    for r in running {
        r.join().await;
    }
    keep_alive.abort();
    // Every source has dropped its sender: the sinks drain and end.
    drop(ctx);
    let _ = sinks.task.await;
    let (streams, _, findings) = telemetry.totals();
    let bytes = telemetry.sources().iter().map(|c| Counters::get(&c.bytes)).sum();
    Ok(Summary { bytes, findings, streams })
}

/// Settings a reload does not apply (they need a restart): say so instead of ignoring silently.
fn note_restart_only_changes(old: &WatchConfig, new: &WatchConfig) {
    let mut changed = Vec::new();
    if old.state_dir != new.state_dir {
        changed.push("state_dir");
    }
    if old.sinks != new.sinks || old.delivery != new.delivery || old.redact != new.redact {
        changed.push("sinks");
    }
    if old.listen != new.listen {
        changed.push("listen");
    }
    if old.limits != new.limits {
        changed.push("limits");
    }
    if old.log_level != new.log_level || old.log_format != new.log_format {
        changed.push("log");
    }
    if !changed.is_empty() {
        warn!(settings = %changed.join(", "), "These settings changed but take effect only after a restart.");
    }
}
