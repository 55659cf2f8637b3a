//! The Docker Engine API as a source: follows the logs of the containers a `docker` source
//! selects (name, id, `label=KEY[=VALUE]`, `*`), over the engine's unix socket (or TCP), without
//! the `docker` CLI. Only read-only endpoints are called: `/version`, `/containers/json`,
//! `/containers/{id}/json`, `/containers/{id}/logs` and `/events`.
//!
//! * One stream per container (correlation is per container). Its stdout and stderr are two
//!   inputs — framed, decoded and joined into multi-line records separately, correlated
//!   together; a TTY container's raw output is its stdout. A third input carries the lines
//!   faultline writes itself when a container exits (`container web exited with code 127: …`,
//!   with the runtime's error), since a container whose entrypoint cannot run logs nothing.
//! * Logs are read with `timestamps=1`: each line's timestamp is kept as its time in evidence,
//!   and per container and stream the timestamp of the last line matched is the *cursor*.
//!   Re-attaching (after `docker restart`, a broken stream, an engine restart, a faultline
//!   restart — cursors are checkpointed) asks for `since=<cursor>` and drops the lines at or
//!   before it, so nothing is lost or read twice.
//! * Discovery: matching containers are listed at start, then `/events` (replayed from just
//!   before the listing, so nothing falls between) attaches containers that start, follows
//!   renames, and ends the stream of a removed container.
//! * An unreachable engine (socket missing, permission denied) is logged once, clearly; the
//!   other sources keep running and this one retries with back-off.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerInspectResponse, ContainerSummaryStateEnum, EventMessage};
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder, LogsOptions};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::{Ready, Rebind, SourceContext, now_ms};
use crate::config::{DockerSource, decoding};
use crate::correlate::StreamCorrelator;
use crate::correlate::state::CorrelatorSnapshot;
use crate::decode::{Format, Nanos, Pos};
use crate::finding::{Event, StreamInfo};
use crate::stream::{InputId, StreamProcessor, Workspace};

const STDOUT: usize = 0;
const STDERR: usize = 1;
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Request timeout (until response headers; a followed log stream is not cut by it).
const REQUEST_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    containers: Vec<ContainerEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ContainerEntry {
    id: String,
    name: String,
    /// Per stdout / stderr: timestamp (ns since the epoch) of the last line matched.
    cursor: [Option<Nanos>; 2],
    /// Per stdout / stderr: the number the next line gets.
    next_line: [u64; 2],
    /// `State.FinishedAt` of the last exit reported.
    #[serde(default)]
    exit_reported: Option<String>,
    /// Per stdout / stderr: bytes were read but not matched yet (an unterminated line), so the
    /// next read must start no later than `attach_since`.
    #[serde(default)]
    unconsumed: [bool; 2],
    /// The `since` (ns) of the last read of the logs.
    #[serde(default)]
    attach_since: Nanos,
    correlation: CorrelatorSnapshot,
}

struct Container {
    id: String,
    proc: StreamProcessor,
    /// stdout and stderr inputs while logs are attached (or drained after the container stopped).
    logs: Option<[InputId; 2]>,
    /// Lines faultline writes about the container (exits).
    events: InputId,
    cursor: [Option<Nanos>; 2],
    next_line: [u64; 2],
    exit_reported: Option<String>,
    unconsumed: [bool; 2],
    attach_since: Nanos,
    /// A `kill` event came (docker stop, restart, kill): the exit that follows was asked for.
    stopping: Option<String>,
    /// The log reader task and its generation (messages from older ones are ignored).
    attached: Option<(u64, JoinHandle<()>)>,
}

impl Container {
    fn entry(&self, catalog: &crate::engine::Catalog) -> ContainerEntry {
        ContainerEntry {
            id: self.id.clone(),
            name: self.proc.info.name.clone(),
            cursor: self.cursor,
            next_line: self.next_line,
            exit_reported: self.exit_reported.clone(),
            unconsumed: self.unconsumed,
            attach_since: self.attach_since,
            correlation: self.proc.correlator().snapshot(catalog),
        }
    }
}

/// From a log reader task.
enum Msg {
    Log {
        id: String,
        generation: u64,
        out: LogOutput,
    },
    Ended {
        id: String,
        generation: u64,
        error: Option<String>,
    },
    /// Look again at a container that was created but has not started.
    Check {
        id: String,
        attempt: u32,
    },
}

/// A created container whose start fails (its entrypoint cannot be executed) gets no `start`
/// or `die` event: it is looked at again after these delays.
const START_CHECKS: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(10)];

/// What a container is, as the list, inspect and event endpoints tell it.
struct Identity {
    id: String,
    name: String,
    image: String,
    labels: HashMap<String, String>,
}

/// Why a session ended.
enum SessionEnd {
    Stop,
    Lost(String),
}

struct DockerTask {
    spec: DockerSource,
    ctx: SourceContext,
    /// Checkpoint id.
    id: String,
    containers: HashMap<String, Container>,
    /// Checkpointed containers not seen yet in this run.
    saved: HashMap<String, ContainerEntry>,
    ws: Workspace,
    out: Vec<Event>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    generation: u64,
    dirty: bool,
    last_checkpoint: Instant,
    /// Time (s) of the last engine event seen: where a new session replays events from.
    last_event: Option<i64>,
}

pub async fn run(
    spec: DockerSource,
    ctx: SourceContext,
    mut ready: Ready,
    mut stop: watch::Receiver<bool>,
    mut rebind: mpsc::UnboundedReceiver<Rebind>,
) {
    let id = crate::checkpoint::source_id("docker", &spec.name);
    let saved = match ctx.state.read::<Checkpoint>(&id) {
        Ok(Some(cp)) => cp.containers.into_iter().map(|c| (c.id.clone(), c)).collect(),
        Ok(None) => HashMap::new(),
        Err(u) => {
            warn!(path = %u.path.display(), reason = %u.reason, "Checkpoint unusable; starting fresh.");
            HashMap::new()
        }
    };
    let (tx, rx) = mpsc::channel(64);
    let mut task = DockerTask {
        spec,
        ctx,
        id,
        containers: HashMap::new(),
        saved,
        ws: Workspace::default(),
        out: Vec::new(),
        tx,
        rx,
        generation: 0,
        dirty: false,
        last_checkpoint: Instant::now(),
        last_event: None,
    };
    let host = engine_address(task.spec.host.as_deref());
    let mut backoff = BACKOFF_START;
    let mut reported = false;
    let mut first = true;
    loop {
        let connected = match connect(&host) {
            Ok(d) => d.negotiate_version().await.map_err(|e| explain(&host, &e)),
            Err(e) => Err(e),
        };
        match connected {
            Ok(docker) => {
                info!(source = %task.spec.name, host = %host, api = %docker.client_version(), "Connected to the Docker engine.");
                backoff = BACKOFF_START;
                reported = false;
                let end = task.session(&docker, &mut stop, &mut rebind, &mut ready, first).await;
                first = false;
                task.detach_all();
                match end {
                    SessionEnd::Stop => break,
                    SessionEnd::Lost(why) => {
                        warn!(source = %task.spec.name, host = %host, error = %why, "Lost the Docker engine; reconnecting.");
                    }
                }
                if task.ctx.once {
                    break;
                }
            }
            Err(why) => {
                ready.fire();
                if !reported {
                    error!(source = %task.spec.name, host = %host, error = %why, retry_in = ?backoff, "Cannot reach the Docker engine; the other sources keep running and this one retries.");
                    reported = true;
                } else {
                    debug!(source = %task.spec.name, host = %host, error = %why, "Docker engine still unreachable.");
                }
                if task.ctx.once {
                    break;
                }
            }
        }
        // Waits out the back-off a second at a time: the loop's turning is the daemon's
        // liveness signal, and an unreachable engine is not a stuck daemon.
        let resume = tokio::time::Instant::now() + backoff;
        let mut stopped = false;
        while tokio::time::Instant::now() < resume && !stopped {
            task.ctx.counters.beat();
            tokio::select! {
                _ = tokio::time::sleep_until(resume.min(tokio::time::Instant::now() + Duration::from_secs(1))) => {}
                Some(r) = rebind.recv() => task.rebind(r),
                _ = stop.changed() => stopped = true,
            }
        }
        if stopped {
            break;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    task.shutdown().await;
}

/// `host` of the source, else `DOCKER_HOST`, else the default socket.
fn engine_address(host: Option<&str>) -> String {
    host.map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

fn connect(host: &str) -> Result<Docker, String> {
    let version = bollard::API_DEFAULT_VERSION;
    let result = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version)
    } else if host.starts_with('/') {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version)
    } else {
        return Err(format!("unsupported Docker address {host:?} (expected unix://PATH or tcp://HOST:PORT)"));
    };
    result.map_err(|e| explain(host, &e))
}

/// A one-line reason, with what to do for the common cases.
fn explain(host: &str, e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    if let E::SocketNotFoundError(path) = e {
        return format!(
            "the Docker socket {path} does not exist (is Docker running? In a container, mount it read-only: -v /var/run/docker.sock:/var/run/docker.sock:ro)"
        );
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::PermissionDenied => format!(
                    "permission denied on {host}: run faultline in the `docker` group, or point DOCKER_HOST at a read-only API proxy (README: Docker source)"
                ),
                std::io::ErrorKind::ConnectionRefused => {
                    format!("nothing accepts connections on {host} (is Docker running?)")
                }
                std::io::ErrorKind::NotFound => {
                    format!("the Docker socket {host} does not exist (is Docker running?)")
                }
                _ => format!("{e}: {io}"),
            };
        }
        source = s.source();
    }
    e.to_string()
}

fn now_nanos() -> Nanos {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as Nanos)
}

fn rfc3339_nanos(t: Nanos) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(u64::try_from(t).unwrap_or(0));
    humantime::format_rfc3339_nanos(t).to_string()
}

/// True when an error from the engine means the container no longer exists.
fn is_gone(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

impl DockerTask {
    fn selected(&self, who: &Identity) -> bool {
        self.spec.containers.iter().any(|s| s.matches(&who.id, &who.name, &who.labels))
    }

    /// One connected run: list, attach, follow events and logs until stopped or disconnected.
    async fn session(
        &mut self,
        docker: &Docker,
        stop: &mut watch::Receiver<bool>,
        rebind: &mut mpsc::UnboundedReceiver<Rebind>,
        ready: &mut Ready,
        first: bool,
    ) -> SessionEnd {
        // Events are replayed from just before the listing, so a container that starts between
        // the two is not missed (replayed events for containers already attached are no-ops) —
        // and after a lost connection, from the last event seen, so a container that started
        // and died meanwhile is read too.
        let now_secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let events_since = self.last_event.map_or(now_secs - 1, |t| t.min(now_secs - 1)).to_string();
        let listed =
            match docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).build())).await {
                Ok(l) => l,
                Err(e) => {
                    ready.fire();
                    return SessionEnd::Lost(e.to_string());
                }
            };
        let mut present = Vec::new();
        for c in listed {
            let Some(id) = c.id.clone() else { continue };
            present.push(id.clone());
            let who = Identity {
                id,
                name: c
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                image: c.image.clone().unwrap_or_default(),
                labels: c.labels.clone().unwrap_or_default(),
            };
            if !self.selected(&who) {
                continue;
            }
            let running = matches!(
                c.state,
                Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::RESTARTING)
            );
            let known = self.containers.contains_key(&who.id) || self.saved.contains_key(&who.id);
            let has_cursor = self
                .containers
                .get(&who.id)
                .map(|c| c.cursor)
                .or_else(|| self.saved.get(&who.id).map(|e| e.cursor))
                .is_some_and(|c| c.iter().any(Option::is_some));
            if self.ctx.once {
                if has_cursor || self.ctx.from_start {
                    self.ensure(&who);
                    self.attach(docker, &who.id, false, Duration::ZERO);
                }
                continue;
            }
            if running || has_cursor {
                // A container running before faultline first saw it is read from now on (like a
                // file without a checkpoint), unless --from-start.
                let from_now = first && running && !known && !self.ctx.from_start;
                self.ensure(&who);
                if from_now {
                    let c = self.containers.get_mut(&who.id).expect("ensured");
                    c.cursor = [Some(now_nanos()); 2];
                }
                self.attach(docker, &who.id, true, Duration::ZERO);
            }
        }
        // Checkpointed containers that are gone were removed while we were away.
        self.saved.retain(|id, _| present.contains(id));
        ready.fire();
        info!(source = %self.spec.name, containers = self.containers.len(), "Following containers.");
        if self.ctx.once {
            return self.drain_once(docker).await;
        }
        let mut filters = HashMap::new();
        filters.insert("type", vec!["container"]);
        let opts = EventsOptionsBuilder::new().since(&events_since).filters(&filters).build();
        let mut events = docker.events(Some(opts));
        loop {
            let wait = self.next_wait();
            self.ctx.counters.beat();
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.on_event(docker, ev).await,
                    Some(Err(e)) => return SessionEnd::Lost(format!("event stream: {e}")),
                    None => return SessionEnd::Lost("event stream ended".into()),
                },
                msg = self.rx.recv() => {
                    if let Some(msg) = msg {
                        if let Err(why) = self.on_msg(docker, msg, true).await {
                            return SessionEnd::Lost(why);
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => self.tick(),
                Some(r) = rebind.recv() => self.rebind(r),
                _ = stop.changed() => return SessionEnd::Stop,
            }
            self.emit().await;
            if self.dirty && self.last_checkpoint.elapsed() >= Duration::from_secs(1) {
                self.save();
            }
        }
    }

    /// `--once`: every attached container's logs to their current end, then the end of each stream.
    async fn drain_once(&mut self, docker: &Docker) -> SessionEnd {
        while self.containers.values().any(|c| c.attached.is_some()) {
            let Some(msg) = self.rx.recv().await else { break };
            if let Err(why) = self.on_msg(docker, msg, false).await {
                return SessionEnd::Lost(why);
            }
            self.emit().await;
        }
        let now = now_ms();
        for c in self.containers.values_mut() {
            c.proc.end(&mut self.ws, &self.ctx.shared, now, &mut self.out);
        }
        self.emit().await;
        SessionEnd::Stop
    }

    fn next_wait(&self) -> Duration {
        let now = now_ms();
        // At most a second: the loop's turning is the daemon's liveness signal.
        let mut wait = Duration::from_secs(1);
        for c in self.containers.values() {
            if let Some(d) = c.proc.next_deadline(&self.ctx.shared) {
                wait = wait.min(Duration::from_millis(d.saturating_sub(now)));
            }
        }
        wait.max(Duration::from_millis(1))
    }

    /// Moves every container's stream to a reloaded catalog.
    fn rebind(&mut self, r: Rebind) {
        let old = std::mem::replace(&mut self.ctx.shared, r.shared);
        for c in self.containers.values_mut() {
            c.proc.rebind(&old, &self.ctx.shared, &|id| r.kept.contains(id));
        }
        self.dirty = true;
    }

    fn tick(&mut self) {
        let now = now_ms();
        for c in self.containers.values_mut() {
            if c.proc.next_deadline(&self.ctx.shared).is_some_and(|d| d <= now) {
                c.proc.tick(&mut self.ws, &self.ctx.shared, now, &mut self.out);
                refresh(c);
                self.dirty = true;
            }
        }
    }

    /// The stream of a selected container (created, or restored from the checkpoint).
    fn ensure(&mut self, who: &Identity) -> &mut Container {
        if !self.containers.contains_key(&who.id) {
            let mut info = StreamInfo::new("docker", who.name.clone());
            info.labels.insert("container_id".into(), who.id.clone());
            info.labels.insert("container".into(), who.name.clone());
            if !who.image.is_empty() {
                info.labels.insert("image".into(), who.image.clone());
            }
            for key in &self.spec.labels {
                if let Some(v) = who.labels.get(key) {
                    info.labels.insert(key.clone(), v.clone());
                }
            }
            let mut proc =
                StreamProcessor::new(info, &self.ctx.shared).with_counters(self.ctx.counters.clone());
            proc.set_decoding(decoding(Format::Timestamped, &self.spec.multiline, &self.ctx.limits));
            let saved = self.saved.remove(&who.id);
            if let Some(s) = &saved {
                proc.set_correlator(StreamCorrelator::restore(
                    s.correlation.clone(),
                    &self.ctx.shared.catalog,
                    |_| true,
                ));
            }
            let events = proc.add_input();
            self.ctx.counters.add(&self.ctx.counters.streams, 1);
            let c = Container {
                id: who.id.clone(),
                proc,
                logs: None,
                events,
                cursor: saved.as_ref().map_or([None; 2], |s| s.cursor),
                next_line: saved.as_ref().map_or([1; 2], |s| s.next_line),
                exit_reported: saved.as_ref().and_then(|s| s.exit_reported.clone()),
                unconsumed: saved.as_ref().map_or([false; 2], |s| s.unconsumed),
                attach_since: saved.as_ref().map_or(0, |s| s.attach_since),
                stopping: None,
                attached: None,
            };
            info!(source = %self.spec.name, container = %who.name, id = %short(&who.id), "Following container.");
            self.containers.insert(who.id.clone(), c);
        }
        self.containers.get_mut(&who.id).expect("inserted")
    }

    /// Starts reading the logs of container `id` after its cursor (no-op when already reading).
    fn attach(&mut self, docker: &Docker, id: &str, follow: bool, delay: Duration) {
        let Some(c) = self.containers.get_mut(id) else { return };
        if c.attached.is_some() {
            return;
        }
        if c.logs.is_none() {
            let mut inputs = [0; 2];
            for (ch, input) in inputs.iter_mut().enumerate() {
                let at = Pos { offset: 0, after_cr: false, next_line: c.next_line[ch] };
                *input = c.proc.resume_input_with(at, None);
                c.proc.drop_through(*input, c.cursor[ch]);
            }
            c.logs = Some(inputs);
        }
        // Read again from the earliest cursor — or, for a stream that has an unterminated line
        // but no cursor, from where the last read started. `since` has one-second granularity:
        // the lines of that second already read are dropped by the decoders (at or before the
        // cursor).
        let from = (0..2)
            .filter_map(|ch| c.cursor[ch].or(c.unconsumed[ch].then_some(c.attach_since)))
            .min()
            .unwrap_or(0);
        let since = from.div_euclid(1_000_000_000).clamp(0, i64::from(i32::MAX)) as i32;
        c.attach_since = i64::from(since) * 1_000_000_000;
        c.unconsumed = [false; 2];
        self.generation += 1;
        let generation = self.generation;
        let opts = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            since,
            until: 0,
            timestamps: true,
            tail: "all".into(),
        };
        let docker = docker.clone();
        let tx = self.tx.clone();
        let id = id.to_string();
        let task_id = id.clone();
        let handle = tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut logs = docker.logs(&task_id, Some(opts));
            let mut error = None;
            while let Some(item) = logs.next().await {
                match item {
                    Ok(out) => {
                        if tx.send(Msg::Log { id: task_id.clone(), generation, out }).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            let _ = tx.send(Msg::Ended { id: task_id, generation, error }).await;
        });
        debug!(container = %short(&id), since, "Attached to the container's logs.");
        c.attached = Some((generation, handle));
    }

    /// Stops every log reader; what their inputs held is read again after re-attaching.
    fn detach_all(&mut self) {
        for c in self.containers.values_mut() {
            if let Some((_, h)) = c.attached.take() {
                h.abort();
            }
            discard_logs(c);
        }
        while self.rx.try_recv().is_ok() {}
    }

    async fn on_msg(&mut self, docker: &Docker, msg: Msg, follow: bool) -> Result<(), String> {
        match msg {
            Msg::Log { id, generation, out } => {
                let Some(c) = self.containers.get_mut(&id) else { return Ok(()) };
                if c.attached.as_ref().map(|a| a.0) != Some(generation) {
                    return Ok(());
                }
                let (ch, bytes) = match out {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => (STDOUT, message),
                    LogOutput::StdErr { message } => (STDERR, message),
                    LogOutput::StdIn { .. } => return Ok(()),
                };
                let Some(inputs) = c.logs else { return Ok(()) };
                c.proc.push(&mut self.ws, inputs[ch], &self.ctx.shared, &bytes, now_ms(), &mut self.out);
                refresh(c);
                self.dirty = true;
            }
            Msg::Check { id, attempt } => {
                let Ok(info) = docker.inspect_container(&id, None).await else { return Ok(()) };
                let Some(state) = &info.state else { return Ok(()) };
                let failed = state.error.as_ref().is_some_and(|e| !e.is_empty());
                let created =
                    matches!(state.status, Some(bollard::models::ContainerStateStatusEnum::CREATED));
                if created && failed {
                    let who = Identity {
                        id: id.clone(),
                        name: info.name.as_deref().unwrap_or("").trim_start_matches('/').to_string(),
                        image: info.config.as_ref().and_then(|c| c.image.clone()).unwrap_or_default(),
                        labels: info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default(),
                    };
                    self.ensure(&who);
                    self.report_exit(&id, &info, None);
                } else if created {
                    self.check_later(&id, attempt + 1);
                }
            }
            Msg::Ended { id, generation, error } => {
                let Some(c) = self.containers.get_mut(&id) else { return Ok(()) };
                if c.attached.as_ref().map(|a| a.0) != Some(generation) {
                    return Ok(());
                }
                c.attached = None;
                let state = docker.inspect_container(&id, None).await;
                let running = match &state {
                    Ok(info) => info.state.as_ref().and_then(|s| s.running).unwrap_or(false),
                    Err(e) if is_gone(e) => {
                        self.finish(&id, "removed");
                        return Ok(());
                    }
                    Err(e) => return Err(format!("inspect {}: {e}", short(&id))),
                };
                if running && follow {
                    // The stream broke (or the container restarted before we looked): read on
                    // after the cursor; what the inputs held comes again.
                    if let Some(e) = &error {
                        warn!(container = %c.proc.info.name, error = %e, "Log stream broke; re-attaching after the last line read.");
                    }
                    discard_logs(c);
                    let delay = if error.is_some() { BACKOFF_START } else { Duration::ZERO };
                    self.attach(docker, &id, true, delay);
                } else {
                    // The container stopped: its output is complete.
                    self.close_logs(&id);
                    if let Ok(info) = state {
                        if !follow {
                            return Ok(());
                        }
                        self.report_exit(&id, &info, None);
                    }
                }
                self.dirty = true;
            }
        }
        Ok(())
    }

    /// Matches everything the log inputs of `id` hold, and closes them.
    fn close_logs(&mut self, id: &str) {
        let Some(c) = self.containers.get_mut(id) else { return };
        let now = now_ms();
        if let Some(inputs) = c.logs {
            for input in inputs {
                c.proc.flush_input(&mut self.ws, input, &self.ctx.shared, now, &mut self.out);
            }
            refresh(c);
            for input in inputs {
                c.proc.close_input(&mut self.ws, input, &self.ctx.shared, now, &mut self.out);
            }
            c.logs = None;
        }
    }

    async fn on_event(&mut self, docker: &Docker, ev: EventMessage) {
        let Some(actor) = ev.actor else { return };
        let Some(id) = actor.id else { return };
        let attrs = actor.attributes.unwrap_or_default();
        let action = ev.action.unwrap_or_default();
        let time = ev.time_nano.or_else(|| ev.time.map(|s| s * 1_000_000_000)).unwrap_or_else(now_nanos);
        self.last_event = Some(self.last_event.unwrap_or(0).max(time.div_euclid(1_000_000_000)));
        let who = || Identity {
            id: id.clone(),
            name: attrs.get("name").cloned().unwrap_or_default(),
            image: attrs.get("image").cloned().unwrap_or_default(),
            labels: attrs.clone(),
        };
        let known = self.containers.contains_key(&id);
        match action.as_str() {
            "start" if known || self.selected(&who()) => {
                let c = self.ensure(&who());
                c.stopping = None;
                self.attach(docker, &id, true, Duration::ZERO);
            }
            "create" if self.selected(&who()) => self.check_later(&id, 0),
            "kill" => {
                if let Some(c) = self.containers.get_mut(&id) {
                    c.stopping = Some(attrs.get("signal").cloned().unwrap_or_default());
                }
            }
            "die" if known || self.selected(&who()) => {
                self.ensure(&who());
                match docker.inspect_container(&id, None).await {
                    Ok(info) => {
                        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                        if !running {
                            self.report_exit(&id, &info, Some(time));
                        }
                    }
                    Err(_) => {
                        let code = attrs.get("exitCode").cloned().unwrap_or_default();
                        self.write_exit_line(&id, time, &format!("exited with code {code}"), None);
                    }
                }
                if !known {
                    // It started and died before we saw it: read what it printed.
                    self.attach(docker, &id, true, Duration::ZERO);
                }
            }
            // A reader still attached may hold the container's last lines (a `--rm` container
            // removed at once): then its stream ends when the reader ends, not now.
            "destroy" if known && self.containers.get(&id).is_some_and(|c| c.attached.is_none()) => {
                self.finish(&id, "removed")
            }
            "rename" => {
                if let (Some(c), Some(name)) = (self.containers.get_mut(&id), attrs.get("name")) {
                    let name = name.trim_start_matches('/').to_string();
                    info!(container = %c.proc.info.name, to = %name, "Container renamed.");
                    c.proc.info.name = name.clone();
                    c.proc.info.labels.insert("container".into(), name);
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    /// Looks at a created container again after the `attempt`-th delay (see [`START_CHECKS`]).
    fn check_later(&self, id: &str, attempt: u32) {
        let Some(&delay) = START_CHECKS.get(attempt as usize) else { return };
        let tx = self.tx.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Msg::Check { id, attempt }).await;
        });
    }

    /// Writes the exit of a stopped container into its stream, once per exit.
    fn report_exit(&mut self, id: &str, info: &ContainerInspectResponse, time: Option<Nanos>) {
        let Some(state) = &info.state else { return };
        let finished = state.finished_at.clone().unwrap_or_default();
        let error = state.error.clone().filter(|e| !e.is_empty());
        // One exit is one (finish time, error): a start that failed has no finish time.
        let key = format!("{finished}|{}", error.as_deref().unwrap_or(""));
        let Some(c) = self.containers.get_mut(id) else { return };
        if c.exit_reported.as_deref() == Some(key.as_str()) {
            return;
        }
        c.exit_reported = Some(key);
        let time = time
            .or_else(|| crate::decode::format::parse_rfc3339(finished.as_bytes()).filter(|&t| t > 0))
            .unwrap_or_else(now_nanos);
        let code = state.exit_code.unwrap_or(0);
        let what = match c.stopping.take() {
            // Asked for (docker stop / restart / kill): not a failure of the container.
            Some(signal) if !state.oom_killed.unwrap_or(false) => {
                format!("was stopped by a docker stop, restart or kill (signal {signal})")
            }
            _ => {
                let oom = if state.oom_killed.unwrap_or(false) { " (OOMKilled: out of memory)" } else { "" };
                format!("exited with code {code}{oom}")
            }
        };
        self.write_exit_line(id, time, &what, error.as_deref());
    }

    fn write_exit_line(&mut self, id: &str, time: Nanos, what: &str, error: Option<&str>) {
        let Some(c) = self.containers.get_mut(id) else { return };
        let mut line = format!("{} container {} {what}", rfc3339_nanos(time), c.proc.info.name);
        if let Some(e) = error {
            line.push_str(": ");
            line.push_str(&e.replace(['\n', '\r'], " "));
        }
        line.push('\n');
        info!(container = %c.proc.info.name, line = %line.trim_end(), "Container exited.");
        c.proc.push(&mut self.ws, c.events, &self.ctx.shared, line.as_bytes(), now_ms(), &mut self.out);
        self.dirty = true;
    }

    /// The container is gone: its stream ends (what is pending is reported).
    fn finish(&mut self, id: &str, why: &str) {
        self.close_logs(id);
        let Some(mut c) = self.containers.remove(id) else { return };
        if let Some((_, h)) = c.attached.take() {
            h.abort();
        }
        c.proc.end(&mut self.ws, &self.ctx.shared, now_ms(), &mut self.out);
        let st = c.proc.stats();
        info!(container = %c.proc.info.name, why, "Container gone; its stream ended.");
        info!(stream = %c.proc.info.name, container_id = %c.id, lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
        self.dirty = true;
    }

    fn save(&mut self) {
        let catalog = &self.ctx.shared.catalog;
        let mut containers: Vec<ContainerEntry> =
            self.containers.values().map(|c| c.entry(catalog)).collect();
        containers.extend(self.saved.values().cloned());
        containers.sort_by(|a, b| a.id.cmp(&b.id));
        match self.ctx.state.write(&self.id, &Checkpoint { containers }) {
            Ok(()) => {
                self.dirty = false;
                self.last_checkpoint = Instant::now();
            }
            Err(e) => warn!(source = %self.spec.name, error = %e, "Cannot write checkpoint."),
        }
    }

    /// Checkpoint, then hand the findings over (see the file source for why in this order).
    async fn emit(&mut self) {
        if self.out.is_empty() {
            return;
        }
        self.save();
        for f in std::mem::take(&mut self.out) {
            if self.ctx.findings.send(f).await.is_err() {
                return;
            }
        }
    }

    /// Stop reading, report what is pending, write the checkpoint. Lines held back (partial
    /// lines, records that may continue) are after the cursor and read again next time.
    async fn shutdown(mut self) {
        self.detach_all();
        let now = now_ms();
        for c in self.containers.values_mut() {
            c.proc.flush_pending(&mut self.ws, &self.ctx.shared, now, &mut self.out);
        }
        self.emit().await;
        self.save();
        for c in self.containers.values() {
            let st = c.proc.stats();
            info!(stream = %c.proc.info.name, container_id = %c.id, lines = st.lines, bytes = st.bytes, lines_cut = st.lines_cut, findings = st.findings, "Stream summary.");
        }
    }
}

/// Forgets what the log inputs hold (it is read again after re-attaching), remembering which
/// stream had unmatched bytes.
fn discard_logs(c: &mut Container) {
    if let Some(inputs) = c.logs.take() {
        for (ch, input) in inputs.into_iter().enumerate() {
            c.unconsumed[ch] |= c.proc.has_partial_line(input) || c.proc.is_holding(input);
            c.next_line[ch] = c.proc.position(input).2;
            c.proc.discard_input(input);
        }
    }
}

/// Takes the cursors and line numbers of `c`'s log inputs after they processed lines.
fn refresh(c: &mut Container) {
    if let Some(inputs) = c.logs {
        for (ch, input) in inputs.into_iter().enumerate() {
            c.cursor[ch] = c.cursor[ch].max(c.proc.cursor(input));
            c.next_line[ch] = c.proc.position(input).2;
        }
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
