//! Correlation state as it is written to disk: windows, cooldowns and pending reports keyed by
//! what survives a restart or a reload — pattern text and playbook id, never internal indexes.
//! State of patterns and playbooks the new catalog no longer has is dropped on restore.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    Before, HitRecord, KeptLine, Millis, PatternState, Pending, PlaybookState, RawLine, ReportedFinding,
    StreamCorrelator,
};
use crate::engine::analysis::EvidenceLine;
use crate::engine::stage::Stage;
use crate::engine::{Catalog, spec_of};
use crate::matcher::{PatternId, PatternSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HitSnap {
    line: KeptLine,
    identity: u64,
    before: Vec<KeptLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PatternSnap {
    pattern: String,
    first: HitSnap,
    last_time: Millis,
    last: Option<HitSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlaybookSnap {
    playbook: String,
    buckets: Vec<(u64, u32)>,
    last_seen: Millis,
    cooldown_until: Millis,
    repeats: u64,
    #[serde(default)]
    reported_seq: u64,
    #[serde(default)]
    since_report: u64,
    #[serde(default)]
    tracking: bool,
    #[serde(default)]
    activity_sent: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finding: Option<ReportedFinding>,
}

/// A stream's correlation state, serialisable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CorrelatorSnapshot {
    patterns: Vec<PatternSnap>,
    playbooks: Vec<PlaybookSnap>,
    recent: Vec<KeptLine>,
    pending_deadline: Option<Millis>,
    pending_after: Vec<KeptLine>,
    stage: Option<String>,
    next_seq: u64,
}

fn key(spec: &PatternSpec) -> String {
    match spec {
        PatternSpec::Literal(s) => format!("literal:{s}"),
        PatternSpec::Regex(s) => format!("regex:{s}"),
    }
}

impl HitSnap {
    fn of(h: &HitRecord) -> Self {
        HitSnap {
            line: h.line.clone(),
            identity: h.evidence.identity,
            before: (0..h.before.lines.len()).map(|i| h.before.kept(i)).collect(),
        }
    }

    fn restore(self) -> HitRecord {
        HitRecord {
            evidence: EvidenceLine { number: self.line.number, text: String::new(), identity: self.identity },
            line: self.line,
            before: Before::from_kept(self.before),
        }
    }
}

impl StreamCorrelator {
    pub fn snapshot(&self, catalog: &Catalog) -> CorrelatorSnapshot {
        let mut patterns: Vec<PatternSnap> = self
            .patterns
            .iter()
            .map(|(p, st)| PatternSnap {
                pattern: key(&catalog.patterns[*p as usize].spec),
                first: HitSnap::of(&st.first),
                last_time: st.last_time,
                last: st.last.as_deref().map(HitSnap::of),
            })
            .collect();
        patterns.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        let mut playbooks: Vec<PlaybookSnap> = self
            .playbooks
            .iter()
            .map(|(r, st)| PlaybookSnap {
                playbook: catalog.playbook(&catalog.rules[*r]).id.clone(),
                buckets: st.buckets.iter().copied().collect(),
                last_seen: st.last_seen,
                cooldown_until: st.cooldown_until,
                repeats: st.repeats,
                reported_seq: st.reported_seq,
                since_report: st.since_report,
                tracking: st.tracking,
                activity_sent: st.activity_sent,
                finding: st.finding.clone(),
            })
            .collect();
        playbooks.sort_by(|a, b| a.playbook.cmp(&b.playbook));
        CorrelatorSnapshot {
            patterns,
            playbooks,
            recent: self.recent.iter().map(RawLine::kept).collect(),
            pending_deadline: self.pending.as_ref().map(|p| p.deadline),
            pending_after: self.pending.as_ref().map(|p| p.after.clone()).unwrap_or_default(),
            stage: self.stage.stage().map(|s| s.as_str().to_string()),
            next_seq: self.next_seq,
        }
    }

    /// Rebuilds the state for `catalog`; what it no longer knows is dropped. `keep(id)` says
    /// whether state of playbook `id` may be kept (a reload drops playbooks whose content changed).
    pub fn restore(snap: CorrelatorSnapshot, catalog: &Catalog, keep: impl Fn(&str) -> bool) -> Self {
        let ids: HashMap<String, PatternId> =
            catalog.patterns.iter().enumerate().map(|(i, p)| (key(&p.spec), i as PatternId)).collect();
        let rules: HashMap<&str, usize> =
            catalog.rules.iter().enumerate().map(|(i, r)| (catalog.playbook(r).id.as_str(), i)).collect();
        let mut c = StreamCorrelator::new();
        for p in snap.patterns {
            if let Some(&id) = ids.get(&p.pattern) {
                let st = PatternState {
                    first: Arc::new(p.first.restore()),
                    last_time: p.last_time,
                    last: p.last.map(|h| Arc::new(h.restore())),
                };
                c.patterns.insert(id, st);
            }
        }
        for p in snap.playbooks {
            if let Some(&r) = rules.get(p.playbook.as_str()).filter(|_| keep(&p.playbook)) {
                let st = PlaybookState {
                    buckets: p.buckets.into_iter().collect(),
                    last_seen: p.last_seen,
                    cooldown_until: p.cooldown_until,
                    repeats: p.repeats,
                    reported_seq: p.reported_seq,
                    since_report: p.since_report,
                    tracking: p.tracking,
                    activity_sent: p.activity_sent,
                    finding: p.finding,
                };
                c.playbooks.insert(r, st);
            }
        }
        c.recent = snap.recent.into_iter().map(RawLine::from_kept).collect();
        c.pending = snap.pending_deadline.map(|deadline| Pending { deadline, after: snap.pending_after });
        if let Some(stage) = snap.stage.as_deref().and_then(Stage::parse) {
            c.stage.force(stage);
        }
        c.next_seq = snap.next_seq;
        c
    }
}

/// Checks `spec_of` stays the key source of truth (used by reload to compare playbooks).
pub fn pattern_key(kind: &crate::playbook::PatternKind) -> String {
    key(&spec_of(kind))
}
