//! The daemon's configuration: the YAML file (documented in `config/faultline.yaml`), command-line
//! overrides, and validation into a [`WatchConfig`].
//!
//! Unknown keys and wrong types are errors naming file, line and key (`deny_unknown_fields` +
//! serde-saphyr's locations); values that parse but make no sense (an unknown source type, a
//! `command` on a file source, a bad duration) are reported the same way. Every problem is
//! collected before failing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::correlate::Thresholds;
use crate::decode::{Continuation, Decoding, Format, Multiline};
use crate::diagnostic::{Diagnostic, Diagnostics, from_yaml_error};
use crate::frame::DEFAULT_MAX_LINE_BYTES;
use crate::playbook::parse::{RawThreshold, loc};
use crate::playbook::{Loc, PlaybookSource, Threshold};

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    playbooks: RawPlaybooks,
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    sources: Vec<Spanned<RawSource>>,
    #[serde(default)]
    thresholds: RawThresholds,
    #[serde(default)]
    evidence: RawEvidence,
    #[serde(default)]
    sinks: Vec<Spanned<RawSink>>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    redact: RawRedact,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybooks {
    #[serde(default)]
    dirs: Vec<String>,
    #[serde(default)]
    packs: Vec<String>,
}

/// One entry of `sources:`. A flat struct (not a tagged enum) so errors keep exact positions;
/// fields that do not belong to the entry's `type` are reported by validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    paths: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    exclude: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    command: Option<Spanned<RawCommand>>,
    #[serde(default)]
    restart: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    multiline: Option<Spanned<RawMultiline>>,
    #[serde(default)]
    containers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    labels: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    host: Option<Spanned<String>>,
}

/// `multiline:` of a source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMultiline {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    continuation: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    max_lines: Option<Spanned<usize>>,
}

/// A command: one string (split like a shell would, without expansions) or a list of words.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Line(String),
    Words(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    #[serde(default)]
    defaults: RawThreshold,
    #[serde(default)]
    playbooks: BTreeMap<String, Spanned<RawThreshold>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    #[serde(default)]
    context_before: Option<usize>,
    #[serde(default)]
    context_after: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    // Network and journal sinks (see `sink_specs`).
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    urls: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    template: Option<Spanned<String>>,
    #[serde(default)]
    secret_file: Option<Spanned<String>>,
    #[serde(default)]
    secret_env: Option<Spanned<String>>,
    #[serde(default)]
    authorization_file: Option<Spanned<String>>,
    #[serde(default)]
    authorization_env: Option<Spanned<String>>,
    #[serde(default)]
    headers: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    batch_max: Option<Spanned<usize>>,
    #[serde(default)]
    batch_wait: Option<Spanned<String>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    socket: Option<Spanned<String>>,
    #[serde(default)]
    resend_interval: Option<Spanned<String>>,
    #[serde(default)]
    runbook_url: Option<Spanned<String>>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    #[serde(default)]
    spool_max: Option<Spanned<usize>>,
    #[serde(default)]
    spool_max_age: Option<Spanned<String>>,
    #[serde(default)]
    drain_timeout: Option<Spanned<String>>,
    #[serde(default)]
    retry_initial: Option<Spanned<String>>,
    #[serde(default)]
    retry_max: Option<Spanned<String>>,
    #[serde(default)]
    unready_after: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedact {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default)]
    max_line_bytes: Option<Spanned<usize>>,
    #[serde(default)]
    queue: Option<Spanned<usize>>,
    #[serde(default)]
    partial_line_timeout: Option<Spanned<String>>,
    #[serde(default)]
    poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    rotate_wait: Option<Spanned<String>>,
    #[serde(default)]
    watcher: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Validated configuration.

/// Where a file source starts reading a file it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    End,
    Beginning,
}

/// When an `exec` source's command is started again after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub name: String,
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub start: Start,
    /// How lines are encoded (`auto` by default: docker json-file, CRI or plain, per file).
    pub format: Format,
    pub multiline: Option<MultilineSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSource {
    pub name: String,
    pub argv: Vec<String>,
    pub restart: Restart,
    pub multiline: Option<MultilineSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StdinSource {
    pub multiline: Option<MultilineSpec>,
}

/// Which containers a `docker` source follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerSelector {
    /// Every container (`*`).
    All,
    /// A container name (without the leading `/`), a full id, or an id prefix of 12+ characters.
    NameOrId(String),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
}

impl ContainerSelector {
    /// Parses `NAME`, `ID`, `label=KEY[=VALUE]` or `*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty container selector".into());
        }
        if s == "*" {
            return Ok(ContainerSelector::All);
        }
        if let Some(rest) = s.strip_prefix("label=") {
            return match rest.split_once('=') {
                Some(("", _)) => Err(format!("{s:?}: empty label key")),
                Some((k, v)) => Ok(ContainerSelector::Label(k.into(), Some(v.into()))),
                None if rest.is_empty() => Err(format!("{s:?}: empty label key")),
                None => Ok(ContainerSelector::Label(rest.into(), None)),
            };
        }
        Ok(ContainerSelector::NameOrId(s.trim_start_matches('/').into()))
    }

    /// True when the container with this id, name and labels is selected.
    pub fn matches(&self, id: &str, name: &str, labels: &HashMap<String, String>) -> bool {
        match self {
            ContainerSelector::All => true,
            ContainerSelector::NameOrId(s) => {
                name == s
                    || id == s
                    || (s.len() >= 12
                        && s.bytes().all(|b| b.is_ascii_hexdigit())
                        && id.starts_with(s.as_str()))
            }
            ContainerSelector::Label(k, v) => {
                labels.get(k).is_some_and(|have| v.as_ref().is_none_or(|v| v == have))
            }
        }
    }
}

/// The Docker Engine API as a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerSource {
    pub name: String,
    pub containers: Vec<ContainerSelector>,
    /// Container labels copied into each finding's stream labels.
    pub labels: Vec<String>,
    /// Engine address (`unix:///var/run/docker.sock`, `tcp://host:2375`); default `DOCKER_HOST`.
    pub host: Option<String>,
    pub multiline: Option<MultilineSpec>,
}

/// A source's multi-line rule (see [`crate::decode::Multiline`]); `None` on a source is "off".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultilineSpec {
    /// A regex; `None` is the default rule.
    pub continuation: Option<String>,
    pub timeout: Duration,
    pub max_lines: usize,
}

impl Default for MultilineSpec {
    fn default() -> Self {
        let d = Multiline::default();
        MultilineSpec { continuation: None, timeout: d.timeout, max_lines: d.max_lines }
    }
}

impl MultilineSpec {
    /// The rule, compiled (the regex was checked when the config was validated).
    pub fn compile(&self) -> Result<Multiline, regex::Error> {
        let continuation = match &self.continuation {
            None => Continuation::Default,
            Some(r) => Continuation::Regex(regex::bytes::Regex::new(r)?),
        };
        Ok(Multiline { continuation, timeout: self.timeout, max_lines: self.max_lines })
    }
}

/// The decoding of a source's inputs: `format`, and `multiline` (an invalid rule, which
/// validation prevents, falls back to the default one).
pub fn decoding(format: Format, multiline: &Option<MultilineSpec>, limits: &Limits) -> Decoding {
    let multiline =
        multiline.as_ref().map(|m| {
            std::sync::Arc::new(m.compile().unwrap_or_else(|_| Multiline {
                continuation: Continuation::Default,
                ..Multiline::default()
            }))
        });
    Decoding { format, multiline, partial_timeout: limits.partial_line_timeout }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    File(FileSource),
    Stdin(StdinSource),
    Exec(ExecSource),
    Docker(DockerSource),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout { format: OutputFormat },
    Webhook(WebhookSink),
    Journal(JournalSink),
    Alertmanager(AlertmanagerSink),
}

/// Where a secret is read from when the daemon starts (never the secret itself, so a config
/// can be printed or logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookTemplate {
    /// The finding itself (`faultline.finding/v1`); a JSON array of them when batching.
    Raw,
    /// `{"text": …}` for Slack and Mattermost incoming webhooks.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSink {
    pub name: Option<String>,
    pub url: String,
    pub template: WebhookTemplate,
    /// Key of the `X-Faultline-Signature` HMAC.
    pub secret: Option<SecretSource>,
    /// Value of the `Authorization` header.
    pub authorization: Option<SecretSource>,
    pub headers: Vec<(String, String)>,
    /// Findings per request (1: one object per request; more: a JSON array).
    pub batch_max: usize,
    /// How long a batch waits to fill up.
    pub batch_wait: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl WebhookSink {
    pub fn new(url: impl Into<String>) -> Self {
        WebhookSink {
            name: None,
            url: url.into(),
            template: WebhookTemplate::Raw,
            secret: None,
            authorization: None,
            headers: Vec::new(),
            batch_max: 1,
            batch_wait: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

pub const DEFAULT_JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSink {
    pub socket: PathBuf,
}

impl Default for JournalSink {
    fn default() -> Self {
        JournalSink { socket: PathBuf::from(DEFAULT_JOURNAL_SOCKET) }
    }
}

/// One Alertmanager replica (a config entry with several `urls` gives one sink per URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerSink {
    pub name: Option<String>,
    pub url: String,
    /// Firing alerts are re-sent this often, with `endsAt` = now + 4 × this.
    pub resend_interval: Duration,
    /// `{playbook}` is replaced with the playbook id.
    pub runbook_url: Option<String>,
    /// Static labels added to every alert (e.g. `cluster`).
    pub labels: BTreeMap<String, String>,
    pub timeout: Duration,
}

impl AlertmanagerSink {
    pub fn new(url: impl Into<String>) -> Self {
        AlertmanagerSink {
            name: None,
            url: url.into(),
            resend_interval: Duration::from_secs(60),
            runbook_url: None,
            labels: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// How network and journal sinks deliver: spool bounds, retries, the drain at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Findings kept per sink while undelivered; the oldest are dropped beyond this.
    pub spool_max: usize,
    /// Undelivered findings older than this are dropped.
    pub spool_max_age: Duration,
    /// At shutdown, sinks get this long to deliver what they hold; the rest stays spooled.
    pub drain_timeout: Duration,
    /// Back-off before the first retry (doubling, full jitter)...
    pub retry_initial: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// A sink whose deliveries have failed for this long makes the daemon not ready (`/readyz`).
    pub unready_after: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            spool_max: 10_000,
            spool_max_age: Duration::from_secs(24 * 3600),
            drain_timeout: Duration::from_secs(5),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            unready_after: Duration::from_secs(300),
        }
    }
}

/// Redaction of secrets before any sink sees a finding (see `redact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactSpec {
    pub enabled: bool,
    /// Extra regexes (a group named `secret` limits what is masked).
    pub patterns: Vec<String>,
}

impl Default for RedactSpec {
    fn default() -> Self {
        RedactSpec { enabled: true, patterns: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_line_bytes: usize,
    /// Findings waiting for the sinks.
    pub queue: usize,
    /// An unterminated last line is emitted after this much silence.
    pub partial_line_timeout: Duration,
    /// Stat-polling interval when file events are unavailable (and the rescan period).
    pub poll_interval: Duration,
    /// How long a rotated-away file is still read after it stops growing.
    pub rotate_wait: Duration,
    /// Never use file events, only stat polling (network filesystems).
    pub poll_only: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            queue: 1024,
            partial_line_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            rotate_wait: Duration::from_secs(10),
            poll_only: false,
        }
    }
}

/// Everything `faultline watch` needs, validated.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub playbooks: Vec<PlaybookSource>,
    pub state_dir: PathBuf,
    pub sources: Vec<SourceSpec>,
    pub defaults: Thresholds,
    pub per_playbook: HashMap<String, Threshold>,
    /// Command-line threshold flags: they override everything else.
    pub forced: Threshold,
    pub context_before: usize,
    pub context_after: usize,
    pub sinks: Vec<SinkSpec>,
    pub limits: Limits,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Read every source to its current end, report, exit.
    pub once: bool,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (off when `None`).
    pub listen: Option<std::net::SocketAddr>,
    pub delivery: Delivery,
    pub redact: RedactSpec,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            playbooks: vec![PlaybookSource::Bundled],
            state_dir: default_state_dir(),
            sources: Vec::new(),
            defaults: Thresholds::default(),
            per_playbook: HashMap::new(),
            forced: Threshold::default(),
            context_before: 3,
            context_after: 3,
            sinks: vec![SinkSpec::Stdout { format: OutputFormat::Text }],
            limits: Limits::default(),
            log_level: "info".into(),
            log_format: LogFormat::Text,
            once: false,
            listen: None,
            delivery: Delivery::default(),
            redact: RedactSpec::default(),
        }
    }
}

/// `$STATE_DIRECTORY` (systemd), else `/var/lib/faultline` as root, else
/// `$XDG_STATE_HOME/faultline` (default `~/.local/state/faultline`).
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several, separated by ':'; the first is ours.
        let first = dir.to_string_lossy().split(':').next().unwrap_or("").to_string();
        return PathBuf::from(first);
    }
    if is_root() {
        return PathBuf::from("/var/lib/faultline");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("faultline")
}

fn is_root() -> bool {
    // The owner of /proc/self is the effective user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Splits a command line into words: whitespace separates, single and double quotes group,
/// backslash escapes. No expansions: this is not a shell.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("trailing backslash".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("empty command".into());
    }
    Ok(words)
}

struct Validator<'a> {
    file: &'a str,
    diags: Diagnostics,
}

impl Validator<'_> {
    fn error(&mut self, at: Loc, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(self.file, Some(at), msg));
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, what: &str) -> Option<Duration> {
        let v = v.as_ref()?;
        match crate::duration::parse(&v.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(loc(&v.referenced), format!("{what}: {e}"));
                None
            }
        }
    }

    /// `multiline:` of a source: off (`None`) when absent or `enabled: false`; a block turns it
    /// on, with the default rule unless it sets one. Off by default, like `analyze`: every line is
    /// its own record, and `count` counts lines.
    fn multiline(&mut self, m: &Option<Spanned<RawMultiline>>) -> Option<MultilineSpec> {
        let mut spec = MultilineSpec::default();
        let m = m.as_ref()?;
        let raw = &m.value;
        if let Some(c) = &raw.continuation {
            if let Err(e) = regex::bytes::Regex::new(&c.value) {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                self.error(loc(&c.referenced), format!("multiline.continuation: invalid regex: {first}"));
            }
            spec.continuation = Some(c.value.clone());
        }
        if let Some(d) = self.duration(&raw.timeout, "multiline.timeout") {
            spec.timeout = d;
        }
        if let Some(n) = &raw.max_lines {
            if n.value == 0 {
                self.error(loc(&n.referenced), "multiline.max_lines must be at least 1");
            }
            spec.max_lines = n.value.max(1);
        }
        (raw.enabled != Some(false)).then_some(spec)
    }

    fn threshold(&mut self, t: &RawThreshold, what: &str) -> Threshold {
        t.validate(what, |at, msg| self.error(at, msg))
    }
}

/// Sink entries: which keys belong to which `type`, and their validation.
impl Validator<'_> {
    /// Reports keys that do not belong to a sink of type `kind`.
    fn not_for_sink(&mut self, s: &RawSink, at: Loc, kind: &str) {
        let allowed: &[&str] = match kind {
            "stdout" => &["format"],
            "webhook" => &[
                "name",
                "url",
                "template",
                "secret_file",
                "secret_env",
                "authorization_file",
                "authorization_env",
                "headers",
                "batch_max",
                "batch_wait",
                "timeout",
            ],
            "journal" => &["socket"],
            _ => &["name", "urls", "url", "resend_interval", "runbook_url", "labels", "timeout"],
        };
        let present = [
            ("format", s.format.is_some()),
            ("name", s.name.is_some()),
            ("url", s.url.is_some()),
            ("urls", s.urls.is_some()),
            ("template", s.template.is_some()),
            ("secret_file", s.secret_file.is_some()),
            ("secret_env", s.secret_env.is_some()),
            ("authorization_file", s.authorization_file.is_some()),
            ("authorization_env", s.authorization_env.is_some()),
            ("headers", s.headers.is_some()),
            ("batch_max", s.batch_max.is_some()),
            ("batch_wait", s.batch_wait.is_some()),
            ("timeout", s.timeout.is_some()),
            ("socket", s.socket.is_some()),
            ("resend_interval", s.resend_interval.is_some()),
            ("runbook_url", s.runbook_url.is_some()),
            ("labels", s.labels.is_some()),
        ];
        for (key, is) in present {
            if is && !allowed.contains(&key) {
                self.error(at, format!("`{key}` is not a field of a `{kind}` sink"));
            }
        }
    }

    fn url(&mut self, u: &Spanned<String>, what: &str) -> Option<String> {
        match check_http_url(&u.value) {
            Ok(()) => Some(u.value.clone()),
            Err(e) => {
                self.error(loc(&u.referenced), format!("{what}: {e}"));
                None
            }
        }
    }

    fn secret(
        &mut self,
        file: &Option<Spanned<String>>,
        env: &Option<Spanned<String>>,
        what: &str,
        at: Loc,
    ) -> Option<SecretSource> {
        match (file, env) {
            (Some(_), Some(_)) => {
                self.error(at, format!("give `{what}_file` or `{what}_env`, not both"));
                None
            }
            (Some(f), None) => Some(SecretSource::File(PathBuf::from(&f.value))),
            (None, Some(e)) if e.value.is_empty() || e.value.contains('=') => {
                self.error(loc(&e.referenced), format!("`{what}_env` must name an environment variable"));
                None
            }
            (None, Some(e)) => Some(SecretSource::Env(e.value.clone())),
            (None, None) => None,
        }
    }

    /// A `webhook`, `journal` or `alertmanager` entry (an Alertmanager entry gives one sink
    /// per URL).
    fn sink(&mut self, s: &RawSink, at: Loc, kind: &str) -> Vec<SinkSpec> {
        let timeout = self.duration(&s.timeout, "timeout").unwrap_or(Duration::from_secs(10));
        let name = s.name.as_ref().map(|n| n.value.clone());
        match kind {
            "webhook" => {
                let Some(url) = &s.url else {
                    self.error(at, "a `webhook` sink needs `url`");
                    return Vec::new();
                };
                let Some(url) = self.url(url, "url") else { return Vec::new() };
                let mut w = WebhookSink::new(url);
                w.name = name;
                w.timeout = timeout;
                match s.template.as_ref().map(|t| (t.value.as_str(), loc(&t.referenced))) {
                    None | Some(("raw", _)) => {}
                    Some(("slack", _)) => w.template = WebhookTemplate::Slack,
                    Some((other, l)) => {
                        self.error(l, format!("unknown template {other:?} (expected raw or slack)"))
                    }
                }
                w.secret = self.secret(&s.secret_file, &s.secret_env, "secret", at);
                w.authorization =
                    self.secret(&s.authorization_file, &s.authorization_env, "authorization", at);
                if let Some(h) = &s.headers {
                    for (name, value) in &h.value {
                        if let Err(e) = check_header(name, value) {
                            self.error(loc(&h.referenced), format!("headers: {e}"));
                        }
                        w.headers.push((name.clone(), value.clone()));
                    }
                }
                if let Some(b) = &s.batch_max {
                    if b.value == 0 {
                        self.error(loc(&b.referenced), "batch_max must be at least 1");
                    }
                    w.batch_max = b.value.max(1);
                }
                if let Some(d) = self.duration(&s.batch_wait, "batch_wait") {
                    w.batch_wait = d;
                }
                vec![SinkSpec::Webhook(w)]
            }
            "journal" => {
                let mut j = JournalSink::default();
                if let Some(p) = &s.socket {
                    j.socket = PathBuf::from(&p.value);
                }
                vec![SinkSpec::Journal(j)]
            }
            _ => {
                let mut urls = Vec::new();
                if let Some(u) = &s.url {
                    urls.extend(self.url(u, "url"));
                }
                if let Some(list) = &s.urls {
                    if list.value.is_empty() {
                        self.error(loc(&list.referenced), "`urls` is empty");
                    }
                    for u in &list.value {
                        if let Err(e) = check_http_url(u) {
                            self.error(loc(&list.referenced), format!("urls: {e}"));
                        } else {
                            urls.push(u.clone());
                        }
                    }
                }
                if s.url.is_none() && s.urls.is_none() {
                    self.error(at, "an `alertmanager` sink needs `urls` (every replica)");
                }
                let resend =
                    self.duration(&s.resend_interval, "resend_interval").unwrap_or(Duration::from_secs(60));
                if resend < Duration::from_millis(100) {
                    self.error(at, "resend_interval must be at least 100ms");
                }
                let mut labels = BTreeMap::new();
                if let Some(l) = &s.labels {
                    for (k, val) in &l.value {
                        if !is_label_name(k) {
                            self.error(loc(&l.referenced), format!("labels: invalid label name {k:?}"));
                        }
                        labels.insert(k.clone(), val.clone());
                    }
                }
                let several = urls.len() > 1;
                urls.into_iter()
                    .map(|url| {
                        let mut a = AlertmanagerSink::new(url.clone());
                        a.name = name
                            .as_ref()
                            .map(|n| if several { format!("{n}@{}", url_host(&url)) } else { n.clone() });
                        a.resend_interval = resend;
                        a.runbook_url = s.runbook_url.as_ref().map(|r| r.value.clone());
                        a.labels = labels.clone();
                        a.timeout = timeout;
                        SinkSpec::Alertmanager(a)
                    })
                    .collect()
            }
        }
    }
}

/// An http(s) URL (a sink's address).
pub fn check_http_url(url: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(()),
        "http" | "https" => Err("URL has no host".into()),
        other => Err(format!("URL scheme {other:?} is not http or https")),
    }
}

/// `host[:port]` of a URL, without credentials, path or query (safe to log).
pub fn url_host(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => "?".into(),
        },
        Err(_) => "?".into(),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| format!("invalid value for header {name:?}"))?;
    Ok(())
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Reads and validates a config file. Paths in it are taken as written (relative to the
/// working directory).
pub fn load(path: &Path) -> Result<WatchConfig, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(&file, None, format!("cannot read config file: {e}"))])
    })?;
    parse(&text, &file)
}

/// Validates config text (`file` names it in diagnostics).
pub fn parse(text: &str, file: &str) -> Result<WatchConfig, Diagnostics> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| Diagnostics(vec![from_yaml_error(file, &e)]))?
    };
    let mut v = Validator { file, diags: Diagnostics::default() };
    let mut cfg = WatchConfig::default();

    let dirs: Vec<PathBuf> = raw.playbooks.dirs.iter().map(PathBuf::from).collect();
    let packs: Vec<PathBuf> = raw.playbooks.packs.iter().map(PathBuf::from).collect();
    cfg.playbooks = crate::playbook::sources_from_flags(&dirs, &packs);
    if let Some(dir) = raw.state_dir {
        cfg.state_dir = PathBuf::from(dir);
    }

    let mut names: HashMap<String, Loc> = HashMap::new();
    for (i, entry) in raw.sources.iter().enumerate() {
        let at = loc(&entry.referenced);
        let s = &entry.value;
        let Some(kind) = &s.kind else {
            v.error(at, "source is missing `type` (file, stdin, exec or docker)");
            continue;
        };
        let not_for = |v: &mut Validator<'_>, present: bool, key: &str, kind: &str| {
            if present {
                v.error(at, format!("`{key}` is not a field of a `{kind}` source"));
            }
        };
        let spec = match kind.value.as_str() {
            "file" => {
                for (present, key) in [
                    (s.command.is_some(), "command"),
                    (s.restart.is_some(), "restart"),
                    (s.containers.is_some(), "containers"),
                    (s.labels.is_some(), "labels"),
                    (s.host.is_some(), "host"),
                ] {
                    not_for(&mut v, present, key, "file");
                }
                let Some(paths) = &s.paths else {
                    v.error(at, "a `file` source needs `paths` (a list of paths or globs)");
                    continue;
                };
                if paths.value.is_empty() {
                    v.error(loc(&paths.referenced), "`paths` is empty");
                }
                for p in &paths.value {
                    if let Err(e) = glob::Pattern::new(p) {
                        v.error(loc(&paths.referenced), format!("invalid glob {p:?}: {e}"));
                    }
                }
                let exclude = s.exclude.as_ref().map(|e| e.value.clone()).unwrap_or_default();
                for p in &exclude {
                    if let Err(e) = glob::Pattern::new(p) {
                        v.error(at, format!("invalid exclude glob {p:?}: {e}"));
                    }
                }
                let start = match s.start.as_ref().map(|s| (s.value.as_str(), loc(&s.referenced))) {
                    None | Some(("end", _)) => Start::End,
                    Some(("beginning", _)) => Start::Beginning,
                    Some((other, l)) => {
                        v.error(l, format!("unknown start {other:?} (expected end or beginning)"));
                        Start::End
                    }
                };
                let format = match s.format.as_ref().map(|f| (f.value.as_str(), loc(&f.referenced))) {
                    None | Some(("auto", _)) => Format::Auto,
                    Some(("plain", _)) => Format::Plain,
                    Some(("docker-json", _)) => Format::DockerJson,
                    Some(("cri", _)) => Format::Cri,
                    Some((other, l)) => {
                        v.error(
                            l,
                            format!("unknown format {other:?} (expected auto, plain, docker-json or cri)"),
                        );
                        Format::Auto
                    }
                };
                let multiline = v.multiline(&s.multiline);
                let name = s.name.clone().unwrap_or_else(|| format!("file-{}", i + 1));
                SourceSpec::File(FileSource {
                    name,
                    paths: paths.value.clone(),
                    exclude,
                    start,
                    format,
                    multiline,
                })
            }
            "stdin" => {
                for (present, key) in [
                    (s.paths.is_some(), "paths"),
                    (s.exclude.is_some(), "exclude"),
                    (s.start.is_some(), "start"),
                    (s.command.is_some(), "command"),
                    (s.restart.is_some(), "restart"),
                    (s.format.is_some(), "format"),
                    (s.containers.is_some(), "containers"),
                    (s.labels.is_some(), "labels"),
                    (s.host.is_some(), "host"),
                ] {
                    not_for(&mut v, present, key, "stdin");
                }
                SourceSpec::Stdin(StdinSource { multiline: v.multiline(&s.multiline) })
            }
            "docker" => {
                for (present, key) in [
                    (s.paths.is_some(), "paths"),
                    (s.exclude.is_some(), "exclude"),
                    (s.start.is_some(), "start"),
                    (s.command.is_some(), "command"),
                    (s.restart.is_some(), "restart"),
                    (s.format.is_some(), "format"),
                ] {
                    not_for(&mut v, present, key, "docker");
                }
                let mut containers = Vec::new();
                match &s.containers {
                    None => containers.push(ContainerSelector::All),
                    Some(c) if c.value.is_empty() => v.error(loc(&c.referenced), "`containers` is empty"),
                    Some(c) => {
                        for sel in &c.value {
                            match ContainerSelector::parse(sel) {
                                Ok(sel) => containers.push(sel),
                                Err(e) => v.error(loc(&c.referenced), format!("containers: {e}")),
                            }
                        }
                    }
                }
                let host = s.host.as_ref().map(|h| h.value.clone());
                if let Some(h) = &s.host {
                    if !["unix://", "tcp://", "http://"].iter().any(|p| h.value.starts_with(p)) {
                        v.error(
                            loc(&h.referenced),
                            format!("host {:?}: expected unix://PATH or tcp://HOST:PORT", h.value),
                        );
                    }
                }
                let labels = s.labels.as_ref().map(|l| l.value.clone()).unwrap_or_default();
                let name = s.name.clone().unwrap_or_else(|| format!("docker-{}", i + 1));
                SourceSpec::Docker(DockerSource {
                    name,
                    containers,
                    labels,
                    host,
                    multiline: v.multiline(&s.multiline),
                })
            }
            "exec" => {
                for (present, key) in [
                    (s.paths.is_some(), "paths"),
                    (s.exclude.is_some(), "exclude"),
                    (s.start.is_some(), "start"),
                    (s.format.is_some(), "format"),
                    (s.containers.is_some(), "containers"),
                    (s.labels.is_some(), "labels"),
                    (s.host.is_some(), "host"),
                ] {
                    not_for(&mut v, present, key, "exec");
                }
                let Some(cmd) = &s.command else {
                    v.error(at, "an `exec` source needs `command`");
                    continue;
                };
                let argv = match &cmd.value {
                    RawCommand::Line(line) => split_command(line),
                    RawCommand::Words(words) if words.is_empty() => Err("empty command".into()),
                    RawCommand::Words(words) => Ok(words.clone()),
                };
                let argv = match argv {
                    Ok(a) => a,
                    Err(e) => {
                        v.error(loc(&cmd.referenced), format!("command: {e}"));
                        continue;
                    }
                };
                let restart = match s.restart.as_ref().map(|r| (r.value.as_str(), loc(&r.referenced))) {
                    None | Some(("always", _)) => Restart::Always,
                    Some(("on-failure", _)) => Restart::OnFailure,
                    Some(("never", _)) => Restart::Never,
                    Some((other, l)) => {
                        v.error(
                            l,
                            format!("unknown restart {other:?} (expected always, on-failure or never)"),
                        );
                        Restart::Always
                    }
                };
                let name = s.name.clone().unwrap_or_else(|| argv.join(" "));
                SourceSpec::Exec(ExecSource { name, argv, restart, multiline: v.multiline(&s.multiline) })
            }
            other => {
                v.error(
                    loc(&kind.referenced),
                    format!("unknown source type {other:?} (expected file, stdin, exec or docker)"),
                );
                continue;
            }
        };
        if let Some(name) = &s.name {
            if let Some(first) = names.insert(name.clone(), at) {
                v.error(at, format!("duplicate source name {name:?} (first at line {})", first.line));
            }
        }
        cfg.sources.push(spec);
    }
    if cfg.sources.iter().filter(|s| matches!(s, SourceSpec::Stdin(_))).count() > 1 {
        v.diags.push(Diagnostic::error(file, None, "more than one `stdin` source"));
    }

    let d = v.threshold(&raw.thresholds.defaults, "thresholds.defaults");
    cfg.defaults = Thresholds::default().overlay(&d);
    for (id, t) in &raw.thresholds.playbooks {
        let th = v.threshold(&t.value, &format!("thresholds.playbooks.{id}"));
        cfg.per_playbook.insert(id.clone(), th);
    }
    if let Some(n) = raw.evidence.context_before {
        cfg.context_before = n;
    }
    if let Some(n) = raw.evidence.context_after {
        cfg.context_after = n;
    }

    if !raw.sinks.is_empty() {
        cfg.sinks.clear();
    }
    for entry in &raw.sinks {
        let at = loc(&entry.referenced);
        let s = &entry.value;
        match s.kind.as_ref().map(|k| (k.value.as_str(), loc(&k.referenced))) {
            Some(("stdout", _)) => {
                v.not_for_sink(s, at, "stdout");
                let format = match s.format.as_ref().map(|f| (f.value.as_str(), loc(&f.referenced))) {
                    None | Some(("text", _)) => OutputFormat::Text,
                    Some(("json", _)) => OutputFormat::Json,
                    Some((other, l)) => {
                        v.error(l, format!("unknown format {other:?} (expected text or json)"));
                        OutputFormat::Text
                    }
                };
                cfg.sinks.push(SinkSpec::Stdout { format });
            }
            Some((kind @ ("webhook" | "journal" | "alertmanager"), _)) => {
                v.not_for_sink(s, at, kind);
                cfg.sinks.extend(v.sink(s, at, kind));
            }
            Some((other, l)) => v.error(
                l,
                format!("unknown sink type {other:?} (expected stdout, webhook, journal or alertmanager)"),
            ),
            None => v.error(at, "sink is missing `type`"),
        }
    }
    let d = &raw.delivery;
    if let Some(m) = &d.spool_max {
        if m.value == 0 {
            v.error(loc(&m.referenced), "delivery.spool_max must be at least 1");
        }
        cfg.delivery.spool_max = m.value.max(1);
    }
    if let Some(t) = v.duration(&d.spool_max_age, "delivery.spool_max_age") {
        cfg.delivery.spool_max_age = t;
    }
    if let Some(t) = v.duration(&d.drain_timeout, "delivery.drain_timeout") {
        cfg.delivery.drain_timeout = t;
    }
    if let Some(t) = v.duration(&d.retry_initial, "delivery.retry_initial") {
        cfg.delivery.retry_initial = t.max(Duration::from_millis(1));
    }
    if let Some(t) = v.duration(&d.retry_max, "delivery.retry_max") {
        cfg.delivery.retry_max = t.max(Duration::from_millis(1));
    }
    if let Some(t) = v.duration(&d.unready_after, "delivery.unready_after") {
        cfg.delivery.unready_after = t;
    }
    if let Some(enabled) = raw.redact.enabled {
        cfg.redact.enabled = enabled;
    }
    for p in &raw.redact.patterns {
        if let Err(e) = crate::redact::Redactor::check_pattern(&p.value) {
            v.error(loc(&p.referenced), format!("redact.patterns: invalid regex: {e}"));
        }
        cfg.redact.patterns.push(p.value.clone());
    }

    let l = &raw.limits;
    if let Some(m) = &l.max_line_bytes {
        if m.value < 64 {
            v.error(loc(&m.referenced), "limits.max_line_bytes must be at least 64");
        }
        cfg.limits.max_line_bytes = m.value;
    }
    if let Some(q) = &l.queue {
        if q.value == 0 {
            v.error(loc(&q.referenced), "limits.queue must be at least 1");
        }
        cfg.limits.queue = q.value.max(1);
    }
    if let Some(d) = v.duration(&l.partial_line_timeout, "limits.partial_line_timeout") {
        cfg.limits.partial_line_timeout = d;
    }
    if let Some(d) = v.duration(&l.poll_interval, "limits.poll_interval") {
        cfg.limits.poll_interval = d.max(Duration::from_millis(10));
    }
    if let Some(d) = v.duration(&l.rotate_wait, "limits.rotate_wait") {
        cfg.limits.rotate_wait = d;
    }
    match l.watcher.as_ref().map(|w| (w.value.as_str(), loc(&w.referenced))) {
        None | Some(("auto", _)) => {}
        Some(("poll", _)) => cfg.limits.poll_only = true,
        Some((other, at)) => v.error(at, format!("unknown limits.watcher {other:?} (expected auto or poll)")),
    }
    if let Some(l) = &raw.listen {
        match l.value.parse::<std::net::SocketAddr>() {
            Ok(addr) => cfg.listen = Some(addr),
            Err(_) => v.error(
                loc(&l.referenced),
                format!("listen: {:?} is not an address:port (e.g. 127.0.0.1:9464)", l.value),
            ),
        }
    }
    if let Some(level) = raw.log.level {
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            v.diags.push(Diagnostic::error(file, None, format!("log.level: invalid filter {level:?}")));
        }
        cfg.log_level = level;
    }
    match raw.log.format.as_ref().map(|f| (f.value.as_str(), loc(&f.referenced))) {
        None | Some(("text", _)) => {}
        Some(("json", _)) => cfg.log_format = LogFormat::Json,
        Some((other, l)) => v.error(l, format!("unknown log.format {other:?} (expected text or json)")),
    }
    if v.diags.has_errors() { Err(v.diags) } else { Ok(cfg) }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::File(s) => write!(f, "file source {:?} ({})", s.name, s.paths.join(", ")),
            SourceSpec::Stdin(_) => f.write_str("stdin"),
            SourceSpec::Exec(s) => write!(f, "exec source {:?}", s.name),
            SourceSpec::Docker(s) => write!(f, "docker source {:?}", s.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text, "c.yaml").unwrap_err().0.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn splits_commands_like_a_shell_without_expansions() {
        assert_eq!(
            split_command(r#"docker logs -f "my app" 'a b' c\ d $HOME"#).unwrap(),
            vec!["docker", "logs", "-f", "my app", "a b", "c d", "$HOME"]
        );
        assert!(split_command("echo 'open").is_err());
        assert!(split_command("   ").is_err());
    }

    #[test]
    fn parses_a_full_config() {
        let cfg = parse(
            "sources:\n  - type: file\n    paths: ['/var/log/*.log']\n    start: beginning\n  - type: exec\n    command: journalctl -f -o cat\n    restart: on-failure\nthresholds:\n  defaults: {window: 5m, settle: 0s}\n  playbooks:\n    oom: {count: 2}\nsinks:\n  - {type: stdout, format: json}\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(cfg.sources.len(), 2);
        assert!(matches!(&cfg.sources[0], SourceSpec::File(f) if f.start == Start::Beginning));
        assert!(
            matches!(&cfg.sources[1], SourceSpec::Exec(e) if e.argv == ["journalctl", "-f", "-o", "cat"] && e.restart == Restart::OnFailure)
        );
        assert_eq!(cfg.defaults.window, Duration::from_secs(300));
        assert_eq!(cfg.defaults.settle, Duration::ZERO);
        assert_eq!(cfg.per_playbook["oom"].count, Some(2));
        assert_eq!(cfg.sinks, vec![SinkSpec::Stdout { format: OutputFormat::Json }]);
    }

    #[test]
    fn container_sources_formats_and_multiline_rules() {
        let cfg = parse(
            "sources:\n  - type: file\n    paths: ['/var/log/pods/*/*/*.log']\n    format: cri\n    multiline:\n      continuation: '^\\s'\n      timeout: 2s\n      max_lines: 50\n  - type: docker\n    containers: [web, 'label=com.docker.compose.project=shop']\n    labels: [com.docker.compose.service]\n    host: unix:///run/docker.sock\n    multiline: {enabled: false}\n  - type: stdin\n",
            "c.yaml",
        )
        .unwrap();
        let SourceSpec::File(f) = &cfg.sources[0] else { panic!() };
        assert_eq!(f.format, Format::Cri);
        let m = f.multiline.as_ref().unwrap();
        assert_eq!(
            (m.continuation.as_deref(), m.timeout, m.max_lines),
            (Some("^\\s"), Duration::from_secs(2), 50)
        );
        let SourceSpec::Docker(d) = &cfg.sources[1] else { panic!() };
        assert_eq!(
            d.containers,
            vec![
                ContainerSelector::NameOrId("web".into()),
                ContainerSelector::Label("com.docker.compose.project".into(), Some("shop".into()))
            ]
        );
        assert_eq!(d.labels, vec!["com.docker.compose.service"]);
        assert_eq!(d.host.as_deref(), Some("unix:///run/docker.sock"));
        assert_eq!(d.multiline, None);
        assert_eq!(
            cfg.sources[2],
            SourceSpec::Stdin(StdinSource { multiline: None }),
            "multi-line joining is off without a `multiline:` block"
        );

        let e = errors(
            "sources:\n  - type: file\n    paths: [a]\n    format: json\n    multiline: {continuation: '(', max_lines: 0}\n  - type: docker\n    containers: ['label=']\n    host: ssh://x\n    paths: [b]\n",
        );
        assert_eq!(e.len(), 6, "{e:?}");
        assert!(e[0].contains("4:13: error: unknown format \"json\""), "{e:?}");
        assert!(e[1].contains("5:31: error: multiline.continuation: invalid regex: unclosed group"), "{e:?}");
        assert!(e[2].contains("5:47: error: multiline.max_lines must be at least 1"), "{e:?}");
        assert!(e[3].contains("6:5: error: `paths` is not a field of a `docker` source"), "{e:?}");
        assert!(e[4].contains("7:17: error: containers: \"label=\": empty label key"), "{e:?}");
        assert!(e[5].contains("8:11: error: host \"ssh://x\""), "{e:?}");
    }

    #[test]
    fn container_selectors_match_names_ids_and_labels() {
        let labels: HashMap<String, String> = [("app".to_string(), "shop".to_string())].into();
        let id = "4f6a2b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a";
        let m = |s: &str, name: &str| ContainerSelector::parse(s).unwrap().matches(id, name, &labels);
        assert!(m("web", "web") && m("/web", "web") && !m("web", "web-2"));
        assert!(m(id, "x") && m("4f6a2b9c0d1e", "x") && !m("4f6a", "x"), "ids by full id or a 12+ prefix");
        assert!(m("label=app", "x") && m("label=app=shop", "x") && !m("label=app=blog", "x"));
        assert!(m("*", "anything"));
        assert!(ContainerSelector::parse("label==x").is_err() && ContainerSelector::parse(" ").is_err());
    }

    #[test]
    fn the_documented_example_is_valid() {
        let cfg = parse(include_str!("../config/faultline.yaml"), "config/faultline.yaml").unwrap();
        assert_eq!(cfg.sources.len(), 1);
        assert_eq!(cfg.defaults, Thresholds::default());
        assert_eq!(cfg.limits, Limits::default());
        assert_eq!(cfg.delivery, Delivery::default());
        assert_eq!(cfg.redact, RedactSpec::default());
    }

    /// The example's commented-out sinks (`  # - type: …` and the indented lines under it) are
    /// valid too.
    #[test]
    fn the_documented_sink_examples_are_valid() {
        let text = include_str!("../config/faultline.yaml");
        let mut in_sinks = false;
        let mut out = String::new();
        for line in text.lines() {
            if line == "sinks:" {
                in_sinks = true;
            } else if !line.is_empty() && !line.starts_with([' ', '#']) {
                in_sinks = false;
            }
            match line.strip_prefix("  # ") {
                // An example line (`- type: …` or an indented key), not prose.
                Some(rest) if in_sinks && (rest.starts_with("- ") || rest.starts_with(' ')) => {
                    out.push_str(&format!("  {rest}\n"))
                }
                _ => out.push_str(&format!("{line}\n")),
            }
        }
        let cfg = parse(&out, "config/faultline.yaml").unwrap_or_else(|e| panic!("{e:?}"));
        let kinds: Vec<&str> = cfg
            .sinks
            .iter()
            .map(|s| match s {
                SinkSpec::Stdout { .. } => "stdout",
                SinkSpec::Webhook(_) => "webhook",
                SinkSpec::Journal(_) => "journal",
                SinkSpec::Alertmanager(_) => "alertmanager",
            })
            .collect();
        assert_eq!(kinds, ["stdout", "webhook", "journal", "alertmanager", "alertmanager"]);
        let SinkSpec::Webhook(w) = &cfg.sinks[1] else { unreachable!() };
        assert_eq!(w.secret, Some(SecretSource::File("/etc/faultline/webhook-secret".into())));
        assert_eq!(w.headers, [("X-Team".to_string(), "platform".to_string())]);
        let SinkSpec::Alertmanager(a) = &cfg.sinks[4] else { unreachable!() };
        assert_eq!(a.url, "http://alertmanager-1.monitoring:9093");
        assert_eq!(a.name.as_deref(), Some("am@alertmanager-1.monitoring:9093"));
        assert_eq!(a.labels["cluster"], "prod-eu-1");
        assert_eq!(a.resend_interval, Duration::from_secs(60));
    }

    #[test]
    fn sink_entries_are_validated_with_positions() {
        let e = errors(
            "sinks:\n  - type: webhook\n    url: ftp://x\n  - type: journal\n    url: http://x\n  - type: webhook\n    url: http://x\n    batch_max: 0\n    secret_file: a\n    secret_env: B\n  - type: alertmanager\n  - type: pager\nredact:\n  patterns: ['(']\ndelivery:\n  spool_max_age: soon\n",
        );
        assert_eq!(e.len(), 8, "{e:?}");
        assert!(e[0].contains("3:10: error: url: URL scheme \"ftp\" is not http or https"), "{e:?}");
        assert!(e[1].contains("4:5: error: `url` is not a field of a `journal` sink"), "{e:?}");
        assert!(e[2].contains("6:5: error: give `secret_file` or `secret_env`, not both"), "{e:?}");
        assert!(e[3].contains("8:16: error: batch_max must be at least 1"), "{e:?}");
        assert!(e[4].contains("11:5: error: an `alertmanager` sink needs `urls`"), "{e:?}");
        assert!(e[5].contains("12:11: error: unknown sink type \"pager\""), "{e:?}");
        assert!(e[6].contains("16:18: error: delivery.spool_max_age: invalid duration"), "{e:?}");
        assert!(e[7].ends_with("14:14: error: redact.patterns: invalid regex: unclosed group"), "{e:?}");
    }

    /// The commented-out examples of the documented config (the docker source, the multiline
    /// block) are valid too.
    #[test]
    fn the_documented_commented_examples_are_valid() {
        let doc = include_str!("../config/faultline.yaml");
        let block = |start: &str, prefix: &str| -> Vec<String> {
            doc.lines()
                .skip_while(|l| !l.starts_with(start))
                .take_while(|l| l.starts_with(prefix))
                .map(|l| format!("{}{}", &l[..prefix.len() - 1], &l[prefix.len() + 1..]))
                .collect()
        };
        let docker = block("  # - type: docker", "  #").join("\n");
        let cfg = parse(&format!("sources:\n{docker}\n"), "doc").unwrap();
        let SourceSpec::Docker(d) = &cfg.sources[0] else { panic!("{docker}") };
        assert_eq!(d.labels.len(), 2);
        let multiline: Vec<String> = block("#   multiline:", "#").iter().map(|l| format!("  {l}")).collect();
        let cfg = parse(&format!("sources:\n  - type: stdin\n{}\n", multiline.join("\n")), "doc").unwrap();
        let SourceSpec::Stdin(i) = &cfg.sources[0] else { panic!() };
        assert_eq!(
            i.multiline.as_ref().unwrap().continuation.as_deref(),
            Some("^(\\s|at |Caused by:|\\.\\.\\.)")
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_file_line_and_key() {
        let e = errors("sources:\n  - type: file\n    paths: [a]\n    strat: end\n");
        assert!(e[0].starts_with("c.yaml:4:5: error: unknown field `strat`"), "{e:?}");
        let e = errors("limits:\n  queue: lots\n");
        assert!(e[0].starts_with("c.yaml:2:10: error: "), "{e:?}");
        let e = errors("statedir: /x\n");
        assert!(e[0].contains("unknown field `statedir`"), "{e:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let e = errors(
            "sources:\n  - type: file\n    paths: [a]\n    command: x\n  - type: pipe\n  - type: exec\nthresholds:\n  defaults: {window: soon}\n",
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("2:5: error: `command` is not a field of a `file` source"), "{e:?}");
        assert!(e[1].contains("5:11: error: unknown source type \"pipe\""), "{e:?}");
        assert!(e[2].contains("6:5: error: an `exec` source needs `command`"), "{e:?}");
        assert!(e[3].contains("8:22: error: thresholds.defaults.window"), "{e:?}");
    }

    /// The config's thresholds are checked as a playbook's `threshold` block is (one validation).
    #[test]
    fn thresholds_are_checked_like_a_playbooks() {
        let e = errors("thresholds:\n  playbooks:\n    oom: {window: 0s, count: 0, min_confidence: 2}\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("3:19: error: thresholds.playbooks.oom.window must be longer than 0"), "{e:?}");
        assert!(e[1].contains("thresholds.playbooks.oom.count must be at least 1"), "{e:?}");
        assert!(e[2].contains("thresholds.playbooks.oom.min_confidence must be between 0 and 1"), "{e:?}");
    }
}
