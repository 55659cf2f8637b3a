//! The validated, in-memory form of a playbook. Built only by [`super::parse`]; everything else
//! reads it.

use std::fmt;
use std::time::Duration;

/// A 1-based line and column in a playbook or config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a pattern looks for, as written in the playbook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// Case-insensitive substring of one normalised line.
    Literal(String),
    /// Explicit regex, case-insensitive, run on the normalised line.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub kind: PatternKind,
    pub loc: Loc,
}

impl Pattern {
    /// The text as written (for display).
    pub fn text(&self) -> &str {
        match &self.kind {
            PatternKind::Literal(s) | PatternKind::Regex(s) => s,
        }
    }

    pub fn is_regex(&self) -> bool {
        matches!(self.kind, PatternKind::Regex(_))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PatternKind::Literal(s) => write!(f, "{s:?}"),
            PatternKind::Regex(s) => write!(f, "regex {s:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartialGroup {
    pub id: String,
    pub label: String,
    pub minimum: u32,
    pub patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatchSpec {
    pub any: Vec<Pattern>,
    pub all: Vec<Pattern>,
    pub none: Vec<Pattern>,
    pub partial: Vec<PartialGroup>,
    /// Context hints (our extension): text that says what a log is about without being a failure
    /// (`pip install`, `upload-artifact`). They add to the score and rank a guess when a log shows
    /// no failure text at all, but never make a playbook a finding on their own.
    pub hints: Vec<Pattern>,
}

impl MatchSpec {
    pub fn has_positive(&self) -> bool {
        !self.any.is_empty() || !self.all.is_empty() || self.partial.iter().any(|g| !g.patterns.is_empty())
    }

    /// Every positive pattern, in declaration order (any, all, partial).
    pub fn positives(&self) -> impl Iterator<Item = &Pattern> {
        self.any.iter().chain(&self.all).chain(self.partial.iter().flat_map(|g| &g.patterns))
    }
}

/// Streaming thresholds declared by the playbook; unset fields fall back to the config.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Threshold {
    pub count: Option<u32>,
    pub window: Option<Duration>,
    pub settle: Option<Duration>,
    pub cooldown: Option<Duration>,
    pub min_confidence: Option<f64>,
}

impl Threshold {
    pub fn is_empty(&self) -> bool {
        *self == Threshold::default()
    }
}

/// A prose section that is either a list of items or one markdown text.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Text {
    #[default]
    Empty,
    Markdown(String),
    Items(Vec<String>),
}

impl Text {
    pub fn is_empty(&self) -> bool {
        match self {
            Text::Empty => true,
            Text::Markdown(s) => s.trim().is_empty(),
            Text::Items(v) => v.iter().all(|s| s.trim().is_empty()),
        }
    }

    /// The section as a list of steps: list items as they are, or the numbered (or bulleted)
    /// items of a markdown text with their continuation lines; plain paragraphs otherwise.
    pub fn steps(&self) -> Vec<String> {
        match self {
            Text::Empty => Vec::new(),
            Text::Items(items) => items.iter().map(|s| s.trim().to_string()).collect(),
            Text::Markdown(md) => markdown_items(md),
        }
    }

    /// The section as markdown.
    pub fn to_markdown(&self, numbered: bool) -> String {
        match self {
            Text::Empty => String::new(),
            Text::Markdown(md) => strip_leading_heading(md).trim().to_string(),
            Text::Items(items) => {
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    let marker = if numbered { format!("{}. ", i + 1) } else { "- ".into() };
                    let indent = " ".repeat(marker.len());
                    for (j, line) in item.trim().lines().enumerate() {
                        if j == 0 {
                            out.push_str(&marker);
                        } else if !line.is_empty() {
                            out.push_str(&indent);
                        }
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                out.trim_end().to_string()
            }
        }
    }
}

/// Removes a first `## Heading` line (Faultline's sections carry their own headings).
pub fn strip_leading_heading(md: &str) -> &str {
    let trimmed = md.trim_start();
    if trimmed.starts_with('#') {
        match trimmed.find('\n') {
            Some(nl) => &trimmed[nl + 1..],
            None => "",
        }
    } else {
        md
    }
}

/// Items of a markdown list (`1.`, `-`, `*`), each with its continuation lines; when the text
/// has no list, its paragraphs.
fn markdown_items(md: &str) -> Vec<String> {
    let body = strip_leading_heading(md);
    let mut items: Vec<String> = Vec::new();
    let mut in_list = false;
    let mut in_fence = false;
    for line in body.lines() {
        let t = line.trim_start();
        if t.starts_with("```") {
            in_fence = !in_fence;
        }
        let is_item = !in_fence && line.len() - t.len() <= 1 && list_marker_len(t).is_some();
        if is_item {
            let m = list_marker_len(t).unwrap_or(0);
            items.push(t[m..].trim().to_string());
            in_list = true;
        } else if in_list
            && (line.starts_with(' ') || line.trim().is_empty() || in_fence || t.starts_with("```"))
        {
            if let Some(last) = items.last_mut() {
                last.push('\n');
                last.push_str(line.strip_prefix("   ").unwrap_or(line));
            }
        } else if !line.trim().is_empty() {
            in_list = false;
        }
    }
    if items.is_empty() {
        return body.split("\n\n").map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect();
    }
    items.into_iter().map(|s| s.trim_end().to_string()).collect()
}

fn list_marker_len(t: &str) -> Option<usize> {
    if t.starts_with("- ") || t.starts_with("* ") {
        return Some(2);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && t[digits..].starts_with(". ") {
        return Some(digits + 2);
    }
    None
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workflow {
    pub likely_files: Vec<String>,
    pub local_repro: Vec<String>,
    pub verify: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub signal: String,
    pub weight: Option<f64>,
    pub description: String,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hypothesis {
    pub supports: Vec<Signal>,
    pub contradicts: Vec<Signal>,
    pub discriminators: Vec<Signal>,
    pub excludes: Vec<Signal>,
}

impl Hypothesis {
    pub fn is_empty(&self) -> bool {
        self.supports.is_empty()
            && self.contradicts.is_empty()
            && self.discriminators.is_empty()
            && self.excludes.is_empty()
    }

    pub fn all_signals(&self) -> impl Iterator<Item = &Signal> {
        self.supports.iter().chain(&self.contradicts).chain(&self.discriminators).chain(&self.excludes)
    }
}

/// Where a playbook was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Path as shown to users: relative to the playbook directory for bundled playbooks
    /// (`playbooks/runtime/x.yaml`), the path given on the command line otherwise.
    pub path: String,
    pub bundled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub base_score: f64,
    pub tags: Vec<String>,
    pub stage_hints: Vec<String>,
    pub matching: MatchSpec,
    pub threshold: Threshold,
    pub summary: String,
    pub diagnosis: String,
    pub fix: Text,
    pub validation: Text,
    pub why_it_matters: String,
    pub prevention: Text,
    pub workflow: Workflow,
    pub hypothesis: Hypothesis,
    /// Faultline's `detector: source` playbooks scan source trees, not logs: loaded, never matched.
    pub source_detector: bool,
    pub origin: Origin,
    /// Top-level keys faultline does not know, with where they are (listed by `check`).
    pub ignored_keys: Vec<(String, Loc)>,
    /// Where the `id:` value is (for duplicate-id errors).
    pub id_loc: Loc,
    /// Hash of the file's text: a reload keeps a playbook's correlation state only when this is
    /// unchanged.
    pub content_hash: String,
}

impl Playbook {
    /// True when this playbook takes part in log analysis.
    pub fn is_log_playbook(&self) -> bool {
        !self.source_detector && self.matching.has_positive()
    }
}
