//! `faultline watch [SOURCE]... [--exec CMD]... [--config FILE]`: the streaming daemon.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::PlaybookArgs;
use crate::config::{
    self, ContainerSelector, DockerSource, ExecSource, FileSource, LogFormat, MultilineSpec, OutputFormat,
    Restart, SinkSpec, SourceSpec, Start, StdinSource, WatchConfig,
};
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
    /// Every line is its own record: no multi-line joining (stack traces) on any source
    #[arg(long)]
    pub no_multiline: bool,
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
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
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
            cfg.sources.push(SourceSpec::Stdin(StdinSource { multiline: Some(MultilineSpec::default()) }));
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
            multiline: Some(MultilineSpec::default()),
        }));
    }
    for cmd in &args.exec {
        let argv = config::split_command(cmd).map_err(|e| anyhow::anyhow!("--exec {cmd:?}: {e}"))?;
        cfg.sources.push(SourceSpec::Exec(ExecSource {
            name: cmd.clone(),
            argv,
            restart: Restart::Always,
            multiline: Some(MultilineSpec::default()),
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
            multiline: Some(MultilineSpec::default()),
        }));
    }
    if let Some(format) = args.format {
        let mut replaced = false;
        for s in &mut cfg.sinks {
            let SinkSpec::Stdout { format: f } = s;
            *f = format;
            replaced = true;
        }
        if !replaced {
            cfg.sinks.push(SinkSpec::Stdout { format });
        }
    }
    if let Some(dir) = &args.state_dir {
        cfg.state_dir = dir.clone();
    }
    if args.no_multiline {
        for s in &mut cfg.sources {
            match s {
                SourceSpec::File(f) => f.multiline = None,
                SourceSpec::Stdin(i) => i.multiline = None,
                SourceSpec::Exec(e) => e.multiline = None,
                SourceSpec::Docker(d) => d.multiline = None,
            }
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
    Ok(cfg)
}

pub fn run(args: WatchArgs) -> Result<Exit> {
    let cfg = resolve(&args)?;
    init_logging(&cfg, args.log_level.is_some())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let shutdown = async {
            wait_for_signal().await;
            // A second signal ends the process at once: checkpoints are already consistent.
            tokio::spawn(async {
                wait_for_signal().await;
                eprintln!("faultline: second signal, exiting now");
                std::process::exit(130);
            });
        };
        crate::daemon::run(cfg, args.from_start, shutdown).await
    })?;
    Ok(Exit::Ok)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match cfg.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}
