//! A finding: one diagnosed failure on one stream — the one type every sink consumes.
//!
//! Its JSON form is the `faultline.finding/v1` schema (README "Finding schema"). The `id` is
//! stable: the same stream, playbook and first evidence line always give the same id, so a
//! receiver can drop duplicates after a redelivery.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::correlate::{KeptLine, Millis, Report};
use crate::engine::Catalog;

pub const SCHEMA: &str = "faultline.finding/v1";

/// What a stream is: `file`, `stdin`, `exec` (later `docker`, `kubernetes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub kind: String,
    /// Human name: the file path, `stdin`, the command line, a container name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Extra identity (container id, image, pod, namespace, selected labels).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub labels: BTreeMap<String, String>,
}

impl StreamInfo {
    pub fn new(kind: &str, name: impl Into<String>) -> Self {
        Self { kind: kind.into(), name: name.into(), path: None, labels: BTreeMap::new() }
    }

    /// A stable key for state files and finding ids.
    pub fn key(&self) -> String {
        let mut k = format!("{}:{}", self.kind, self.path.as_deref().unwrap_or(&self.name));
        for (name, value) in &self.labels {
            let _ = write!(k, "|{name}={value}");
        }
        k
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookRef {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingLine {
    pub line: u64,
    pub text: String,
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub id: String,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub schema: String,
    pub id: String,
    pub time: String,
    pub playbook: PlaybookRef,
    pub score: f64,
    pub confidence: f64,
    pub count: u64,
    pub repeats: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub stream: StreamInfo,
    pub host: String,
    pub evidence: Vec<FindingLine>,
    pub context: Vec<FindingLine>,
    pub summary: String,
    pub fix: Vec<String>,
    pub alternatives: Vec<Alternative>,
}

/// What flows from sources to sinks.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new finding.
    Finding(Box<Finding>),
    /// News about a finding already made: still active (its playbook keeps matching on the
    /// stream), or gone quiet (no matching line left in its window). Sinks that keep alerts
    /// alive (Alertmanager) re-send or resolve on these; others ignore them.
    Activity(Box<Activity>),
}

/// See [`Event::Activity`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Id of the finding this is about.
    pub finding_id: String,
    pub playbook: PlaybookRef,
    pub stream: StreamInfo,
    pub host: String,
    pub first_seen: String,
    pub last_seen: String,
    /// False once the playbook has no matching line left in its window on this stream.
    pub active: bool,
    pub time: String,
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: Millis) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A kept line as shown: its time is the log's own timestamp when the format has one
/// (container logs), else when it arrived.
fn line(k: &KeptLine) -> FindingLine {
    FindingLine { line: k.number, text: k.text.clone(), time: rfc3339(k.logged.unwrap_or(k.time)) }
}

/// The stable id: hex of the first 16 bytes of SHA-256(stream key, playbook id, first evidence).
pub fn finding_id(stream: &StreamInfo, playbook: &str, first: Option<&KeptLine>) -> String {
    let mut h = Sha256::new();
    h.update(stream.key().as_bytes());
    h.update([0]);
    h.update(playbook.as_bytes());
    h.update([0]);
    if let Some(f) = first {
        h.update(f.number.to_le_bytes());
        h.update(f.text.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

impl Finding {
    pub fn from_report(report: &Report, catalog: &Catalog, stream: &StreamInfo, host: &str) -> Self {
        let p = catalog.playbook(&catalog.rules[report.rules]);
        Finding {
            schema: SCHEMA.into(),
            id: finding_id(stream, &p.id, report.evidence.first()),
            time: rfc3339(report.time),
            playbook: PlaybookRef {
                id: p.id.clone(),
                title: p.title.clone(),
                category: p.category.clone(),
                severity: p.severity.as_str().into(),
            },
            score: report.score,
            confidence: report.confidence,
            count: report.count,
            repeats: report.repeats,
            first_seen: rfc3339(report.first_seen),
            last_seen: rfc3339(report.last_seen),
            stream: stream.clone(),
            host: host.into(),
            evidence: report.evidence.iter().map(line).collect(),
            context: report.context.iter().map(line).collect(),
            summary: p.summary.trim().into(),
            fix: p.fix.steps(),
            alternatives: report
                .alternatives
                .iter()
                .map(|&(r, confidence)| Alternative {
                    id: catalog.playbook(&catalog.rules[r]).id.clone(),
                    confidence,
                })
                .collect(),
        }
    }

    /// One JSON object, no trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a finding serialises")
    }

    /// A readable block for terminals and logs.
    pub fn to_text(&self) -> String {
        use crate::render::sanitize::for_terminal;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} [{}] {} — {}",
            self.time,
            self.playbook.severity,
            self.playbook.id,
            for_terminal(&self.playbook.title)
        );
        let _ = writeln!(
            out,
            "  stream {} {}   confidence {:.2}   lines {}{}",
            self.stream.kind,
            for_terminal(&self.stream.name),
            self.confidence,
            self.count,
            if self.repeats > 0 { format!("   repeats {}", self.repeats) } else { String::new() }
        );
        let mut lines: Vec<(&FindingLine, bool)> =
            self.evidence.iter().map(|l| (l, true)).chain(self.context.iter().map(|l| (l, false))).collect();
        lines.sort_by_key(|(l, _)| l.line);
        let width = lines.iter().map(|(l, _)| l.line.to_string().len()).max().unwrap_or(1);
        for (l, is_evidence) in lines {
            let mark = if is_evidence { '>' } else { ' ' };
            // A multi-line record: its further lines are indented under the first.
            let mut record = l.text.split('\n');
            let first = record.next().unwrap_or("");
            let _ = writeln!(out, "  {mark} L{:<width$}  {}", l.line, for_terminal(first));
            for more in record {
                let _ = writeln!(out, "    {:width$}   {}", "", for_terminal(more));
            }
        }
        for (i, step) in self.fix.iter().take(2).enumerate() {
            let first_line = step.lines().next().unwrap_or("");
            let _ = writeln!(out, "  fix {}. {}", i + 1, for_terminal(first_line));
        }
        if !self.alternatives.is_empty() {
            let alts: Vec<String> =
                self.alternatives.iter().map(|a| format!("{} ({:.2})", a.id, a.confidence)).collect();
            let _ = writeln!(out, "  also possible: {}", alts.join(", "));
        }
        let _ = writeln!(out, "  id {}", self.id);
        out
    }
}

/// This host's name (for findings from many nodes): `FAULTLINE_HOST` when set (a DaemonSet sets
/// it to the node's name; a pod's own host name is the pod's), else the kernel's host name.
pub fn hostname() -> String {
    std::env::var("FAULTLINE_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
