//! `faultline watch [SOURCE]... [--exec CMD]... [--config FILE]`: the streaming daemon.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::PlaybookArgs;
use crate::config::{
    self, AlertmanagerSink, ContainerSelector, DockerSource, ExecSource, FileSource, JournalSink, LogFormat,
    MultilineSpec, OutputFormat, Restart, SecretSource, SinkSpec, SourceSpec, Start, StdinSource,
    WatchConfig, WebhookSink,
};
use crate::daemon::Control;
use crate::decode::Format;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Files or globs to follow; `-` reads standard input
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Run a command and follow its stdout and stderr (restarted with back-off when it exits)
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: Vec<String>,
    /// Follow containers through the Docker Engine API (DOCKER_HOST or /var/run/docker.sock):
    /// a name, an id, `label=KEY[=VALUE]`, or `*` for all (repeatable)
    #[arg(long = "docker", value_name = "NAME|ID|label=KEY=VALUE")]
    pub docker: Vec<String>,
    /// Configuration file (see config/faultline.yaml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format of the stdout sink
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Where checkpoints are kept
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Files without a checkpoint start at their beginning instead of their end
    #[arg(long)]
    pub from_start: bool,
    /// Read every source to its current end, report what is pending, exit
    #[arg(long)]
    pub once: bool,
    /// Join stack traces into one record (lines starting with white space, `at `, `Caused by:`
    /// or `...` continue the previous one) on every source; a source's own `multiline:` rule is
    /// kept, and one with `enabled: false` is turned on
    #[arg(long)]
    pub multiline: bool,
    /// Wait this long after a playbook qualifies for competing evidence (e.g. 1s; overrides all)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub settle: Option<Duration>,
    /// Sliding window of evidence per stream and playbook (e.g. 10m; overrides all)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// Quiet time after a finding for the same stream and playbook (e.g. 10m; overrides all)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cooldown: Option<Duration>,
    /// Smallest confidence that is reported, 0 to 1 (overrides all)
    #[arg(long, value_name = "X", value_parser = parse_confidence)]
    pub min_confidence: Option<f64>,
    /// The daemon's own log level (e.g. info, debug, faultline=trace); default: RUST_LOG or info
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// The daemon's own log format, on stderr
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9464; off by default)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// POST every finding to this URL (JSON, retried, spooled while undelivered; repeatable)
    #[arg(long = "webhook", value_name = "URL", value_parser = parse_url)]
    pub webhooks: Vec<String>,
    /// Sign --webhook requests with the secret in FILE (header X-Faultline-Signature)
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Write every finding to the systemd journal
    #[arg(long)]
    pub journal: bool,
    /// The journal's socket (implies --journal) [default: /run/systemd/journal/socket]
    #[arg(long, value_name = "PATH")]
    pub journal_socket: Option<PathBuf>,
    /// Send alerts to this Alertmanager (give every replica; repeatable)
    #[arg(long = "alertmanager", value_name = "URL", value_parser = parse_url)]
    pub alertmanagers: Vec<String>,
    /// No findings on stdout (other sinks still get them)
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Do not mask secrets (tokens, passwords, keys) in findings
    #[arg(long)]
    pub no_redact: bool,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

fn parse_url(s: &str) -> Result<String, String> {
    config::check_http_url(s).map(|()| s.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&x) { Ok(x) } else { Err("must be between 0 and 1".into()) }
}

/// The configuration this invocation means: the config file (if any) with the flags on top.
pub fn resolve(args: &WatchArgs) -> Result<WatchConfig> {
    let mut cfg = match &args.config {
        Some(path) => config::load(path).map_err(|d| {
            let n = d.errors().count();
            let first = d.errors().next().map(ToString::to_string).unwrap_or_default();
            let more = if n > 1 {
                format!(" (and {} more; run `faultline check --config`)", n - 1)
            } else {
                String::new()
            };
            anyhow::anyhow!("invalid config: {first}{more}")
        })?,
        None => WatchConfig::default(),
    };
    if !args.playbooks.playbooks.is_empty() || !args.playbooks.packs.is_empty() {
        cfg.playbooks = args.playbooks.sources();
    }
    let mut files = Vec::new();
    for s in &args.sources {
        if s == "-" {
            if cfg.sources.iter().any(|s| matches!(s, SourceSpec::Stdin(_))) {
                bail!("`-` given twice (stdin can be read only once)");
            }
            cfg.sources.push(SourceSpec::Stdin(StdinSource { multiline: None }));
        } else {
            files.push(s.clone());
        }
    }
    if !files.is_empty() {
        // Named after its paths, so the same command line resumes the same checkpoint.
        let name = format!("cli:{}", files.join(","));
        cfg.sources.push(SourceSpec::File(FileSource {
            name,
            paths: files,
            exclude: Vec::new(),
            start: Start::End,
            format: Format::Auto,
            multiline: None,
        }));
    }
    for cmd in &args.exec {
        let argv = config::split_command(cmd).map_err(|e| anyhow::anyhow!("--exec {cmd:?}: {e}"))?;
        cfg.sources.push(SourceSpec::Exec(ExecSource {
            name: cmd.clone(),
            argv,
            restart: Restart::Always,
            multiline: None,
        }));
    }
    if !args.docker.is_empty() {
        let containers = args
            .docker
            .iter()
            .map(|s| ContainerSelector::parse(s).map_err(|e| anyhow::anyhow!("--docker: {e}")))
            .collect::<Result<Vec<_>>>()?;
        cfg.sources.push(SourceSpec::Docker(DockerSource {
            // Named after its selectors, so the same command line resumes the same cursors.
            name: format!("cli:{}", args.docker.join(",")),
            containers,
            labels: Vec::new(),
            host: None,
            multiline: None,
        }));
    }
    if let Some(format) = args.format {
        let mut replaced = false;
        for s in &mut cfg.sinks {
            if let SinkSpec::Stdout { format: f } = s {
                *f = format;
                replaced = true;
            }
        }
        if !replaced && !args.quiet {
            cfg.sinks.push(SinkSpec::Stdout { format });
        }
    }
    if args.quiet {
        cfg.sinks.retain(|s| !matches!(s, SinkSpec::Stdout { .. }));
    }
    if args.webhook_secret_file.is_some() && args.webhooks.is_empty() {
        bail!("--webhook-secret-file needs --webhook URL");
    }
    for url in &args.webhooks {
        let mut w = WebhookSink::new(url.clone());
        w.secret = args.webhook_secret_file.clone().map(SecretSource::File);
        cfg.sinks.push(SinkSpec::Webhook(w));
    }
    if let Some(socket) = &args.journal_socket {
        for s in &mut cfg.sinks {
            if let SinkSpec::Journal(j) = s {
                j.socket = socket.clone();
            }
        }
    }
    if (args.journal || args.journal_socket.is_some())
        && !cfg.sinks.iter().any(|s| matches!(s, SinkSpec::Journal(_)))
    {
        let mut j = JournalSink::default();
        if let Some(socket) = &args.journal_socket {
            j.socket = socket.clone();
        }
        cfg.sinks.push(SinkSpec::Journal(j));
    }
    for url in &args.alertmanagers {
        cfg.sinks.push(SinkSpec::Alertmanager(AlertmanagerSink::new(url.clone())));
    }
    if args.no_redact {
        cfg.redact.enabled = false;
    }
    if let Some(dir) = &args.state_dir {
        cfg.state_dir = dir.clone();
    }
    if args.multiline {
        for s in &mut cfg.sources {
            let m = match s {
                SourceSpec::File(f) => &mut f.multiline,
                SourceSpec::Stdin(i) => &mut i.multiline,
                SourceSpec::Exec(e) => &mut e.multiline,
                SourceSpec::Docker(d) => &mut d.multiline,
            };
            m.get_or_insert_with(MultilineSpec::default);
        }
    }
    cfg.once |= args.once;
    cfg.forced.settle = args.settle.or(cfg.forced.settle);
    cfg.forced.window = args.window.or(cfg.forced.window);
    cfg.forced.cooldown = args.cooldown.or(cfg.forced.cooldown);
    cfg.forced.min_confidence = args.min_confidence.or(cfg.forced.min_confidence);
    if let Some(level) = &args.log_level {
        cfg.log_level = level.clone();
    }
    if let Some(format) = args.log_format {
        cfg.log_format = format;
    }
    if let Some(addr) = args.listen {
        cfg.listen = Some(addr);
    }
    Ok(cfg)
}

pub fn run(args: WatchArgs) -> Result<Exit> {
    let cfg = resolve(&args)?;
    init_logging(&cfg, args.log_level.is_some())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let telemetry = crate::telemetry::Telemetry::new();
    runtime.block_on(async move {
        let (controls_tx, controls_rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(forward_signals(controls_tx));
        let from_start = args.from_start;
        crate::daemon::run(cfg, from_start, controls_rx, move || resolve(&args), telemetry).await
    })?;
    Ok(Exit::Ok)
}

/// SIGHUP reloads; SIGTERM or SIGINT stops; a second stop signal ends the process at once
/// (checkpoints are consistent at every moment).
async fn forward_signals(controls: tokio::sync::mpsc::Sender<Control>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("Cannot install signal handlers.");
        return;
    };
    let mut stopping = false;
    loop {
        let control = tokio::select! {
            _ = term.recv() => Control::Stop,
            _ = int.recv() => Control::Stop,
            _ = hup.recv() => Control::Reload,
        };
        if control == Control::Stop {
            if stopping {
                let _ = writeln!(std::io::stderr(), "faultline: second signal, exiting now");
                std::process::exit(130);
            }
            stopping = true;
        }
        let _ = controls.send(control).await;
    }
}

/// The daemon's own log goes to stderr (findings go to the sinks, never here).
fn init_logging(cfg: &WatchConfig, explicit: bool) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !explicit && !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(&cfg.log_level),
    }
    .map_err(|e| anyhow::anyhow!("invalid log level {:?}: {e}", cfg.log_level))?;
    // A closed stderr loses the log, never the daemon: tracing-subscriber would report the
    // failed write with eprintln!, which panics.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let result = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}
