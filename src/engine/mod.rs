//! The engine: compiles a set of playbooks into one [`Catalog`], feeds lines through it
//! ([`LineScanner`]) and ranks playbooks from what was found ([`rank`]). Pure: no I/O, no clock.
//!
//! `analyze`, `trace` and `watch` all use this module; they differ only in *which* hits they let
//! the scorer see: the whole log ([`Analysis`]) or a stream's sliding window (the correlator).

pub mod analysis;
pub mod scan;
pub mod score;
pub mod signals;
pub mod stage;

use std::collections::HashMap;

use crate::matcher::{Matcher, PatternId, PatternSpec};
use crate::normalize::normalize_pattern;
use crate::playbook::model::MatchSpec;
use crate::playbook::{Pattern, PatternKind, Playbook};

pub use analysis::{Analysis, EvidenceLine, Hits};
pub use scan::{LineScanner, ScannedLine};
pub use score::{Breakdown, Ranked, rank, rank_by};
pub use stage::Stage;

/// What a hypothesis signal tests.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalTest {
    /// Fires when any of these patterns was found.
    AnyOf(Vec<PatternId>),
    /// Fires when none of these patterns was found.
    NoneOf(Vec<PatternId>),
    StageIs(String),
    StageIsNot(String),
    /// Fires always (`delta.absent:…`: a log carries no delta).
    Always,
    /// Not supported, or about context a log does not carry: treated as absent.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRole {
    Supports,
    Contradicts,
    Discriminator,
    Excludes,
}

#[derive(Debug, Clone)]
pub struct CompiledSignal {
    pub role: SignalRole,
    pub test: SignalTest,
    /// Weight with Faultline's defaults applied (contradictions negative).
    pub weight: f64,
    pub signal: String,
}

/// One playbook's rules, as pattern ids.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Index into [`Catalog::playbooks`].
    pub playbook: usize,
    /// `any` entries (as-written duplicates dropped) with their IDF weight.
    pub any: Vec<(PatternId, f64)>,
    pub all: Vec<PatternId>,
    pub partial: Vec<(Vec<PatternId>, u32)>,
    pub none: Vec<PatternId>,
    /// Context hints with their weight (see [`HINT_WEIGHT`]); not positives: a hint alone makes a
    /// guess, never a finding.
    pub hints: Vec<(PatternId, f64)>,
    pub signals: Vec<CompiledSignal>,
}

/// What a context hint adds to the score, shared like an `any` weight among the playbooks that
/// list the same hint. Half an `any` pattern's: failure text always weighs more than context.
pub const HINT_WEIGHT: f64 = 0.5;

impl Rules {
    /// Every positive pattern id in declaration order.
    pub fn positives(&self) -> impl Iterator<Item = PatternId> + '_ {
        self.any
            .iter()
            .map(|(p, _)| *p)
            .chain(self.all.iter().copied())
            .chain(self.partial.iter().flat_map(|(g, _)| g.iter().copied()))
    }
}

/// Per unique pattern: what it is and who uses it.
#[derive(Debug, Clone)]
pub struct PatternInfo {
    pub spec: PatternSpec,
    /// Stage keyword bits (see [`Stage`]); 0 for ordinary patterns.
    pub stage_mask: u8,
    /// Indexes into [`Catalog::rules`] of the playbooks that use it (any role).
    pub used_by: Vec<u32>,
    /// True when some playbook uses it in `none`.
    pub is_veto: bool,
}

impl PatternInfo {
    /// A stage keyword no playbook uses: of no interest once a stream's stage is fixed.
    pub fn is_stage_keyword_only(&self) -> bool {
        self.stage_mask != 0 && self.used_by.is_empty()
    }
}

/// Every loaded playbook, compiled for matching. Built once, shared read-only by every stream.
#[derive(Debug)]
pub struct Catalog {
    pub playbooks: Vec<Playbook>,
    /// Rules of the log playbooks (source-code detector playbooks have none).
    pub rules: Vec<Rules>,
    pub patterns: Vec<PatternInfo>,
    /// Every pattern a playbook uses.
    pub matcher: Matcher,
    /// The stage keywords no playbook uses, looked for only until a stream's stage is fixed.
    pub stage_keywords: Matcher,
}

struct Interner {
    ids: HashMap<PatternSpec, PatternId>,
    patterns: Vec<PatternInfo>,
}

impl Interner {
    fn intern(&mut self, spec: PatternSpec) -> PatternId {
        if let Some(&id) = self.ids.get(&spec) {
            return id;
        }
        let id = self.patterns.len() as PatternId;
        self.patterns.push(PatternInfo {
            spec: spec.clone(),
            stage_mask: 0,
            used_by: Vec::new(),
            is_veto: false,
        });
        self.ids.insert(spec, id);
        id
    }

    fn intern_pattern(&mut self, kind: &PatternKind) -> PatternId {
        self.intern(spec_of(kind))
    }
}

/// The matcher spec of a playbook pattern (literals normalised).
pub fn spec_of(kind: &PatternKind) -> PatternSpec {
    match kind {
        PatternKind::Literal(s) => PatternSpec::Literal(normalize_pattern(s)),
        PatternKind::Regex(s) => PatternSpec::Regex(s.clone()),
    }
}

impl Catalog {
    /// Compiles `playbooks`. They come from the loader, so their patterns are already validated;
    /// an error here means a pattern the matcher cannot build (reported as text).
    pub fn new(playbooks: Vec<Playbook>) -> Result<Self, String> {
        let mut interner = Interner { ids: HashMap::new(), patterns: Vec::new() };
        for (kw, stage) in stage::keywords() {
            let id = interner.intern(PatternSpec::Literal(kw.to_string()));
            interner.patterns[id as usize].stage_mask |= stage.bit();
        }

        // IDF: in how many log playbooks' `any` lists does each pattern appear? The same sharing
        // for context hints, among the playbooks that list each one.
        let any_counts = lists_holding(&playbooks, |m| &m.any);
        let hint_counts = lists_holding(&playbooks, |m| &m.hints);

        let mut rules = Vec::new();
        for (index, p) in playbooks.iter().enumerate().filter(|(_, p)| p.is_log_playbook()) {
            let mut any = Vec::new();
            for (i, pat) in p.matching.any.iter().enumerate() {
                // An entry identical *as written* to an earlier one is skipped (Faultline).
                if p.matching.any[..i].iter().any(|q| q.kind == pat.kind) {
                    continue;
                }
                let weight = 1.0 / f64::from(any_counts[&spec_of(&pat.kind)]);
                any.push((interner.intern_pattern(&pat.kind), weight));
            }
            let all = p.matching.all.iter().map(|x| interner.intern_pattern(&x.kind)).collect();
            let partial = p
                .matching
                .partial
                .iter()
                .map(|g| (g.patterns.iter().map(|x| interner.intern_pattern(&x.kind)).collect(), g.minimum))
                .collect();
            let none: Vec<PatternId> =
                p.matching.none.iter().map(|x| interner.intern_pattern(&x.kind)).collect();
            let mut hints: Vec<(PatternId, f64)> = Vec::new();
            for pat in &p.matching.hints {
                let id = interner.intern_pattern(&pat.kind);
                if !hints.iter().any(|(h, _)| *h == id) {
                    hints.push((id, HINT_WEIGHT / f64::from(hint_counts[&spec_of(&pat.kind)])));
                }
            }
            let mut signals = Vec::new();
            let h = &p.hypothesis;
            let roles = [
                (SignalRole::Supports, &h.supports, 0.4),
                (SignalRole::Contradicts, &h.contradicts, -0.35),
                (SignalRole::Discriminator, &h.discriminators, 0.25),
                (SignalRole::Excludes, &h.excludes, 0.0),
            ];
            for (role, list, default) in roles {
                for s in list {
                    let mut weight = s.weight.filter(|w| *w != 0.0).unwrap_or(default);
                    if role == SignalRole::Contradicts && weight > 0.0 {
                        weight = -weight;
                    }
                    let test = signal_test(&s.signal, &mut interner);
                    signals.push(CompiledSignal { role, test, weight, signal: s.signal.clone() });
                }
            }
            rules.push(Rules { playbook: index, any, all, partial, none, hints, signals });
        }
        for (ri, r) in rules.iter().enumerate() {
            let ids = r
                .positives()
                .chain(r.none.iter().copied())
                .chain(r.hints.iter().map(|(p, _)| *p))
                .chain(r.signals.iter().flat_map(|s| match &s.test {
                    SignalTest::AnyOf(ps) | SignalTest::NoneOf(ps) => ps.clone(),
                    _ => Vec::new(),
                }))
                .collect::<Vec<_>>();
            for id in ids {
                let used = &mut interner.patterns[id as usize].used_by;
                if used.last() != Some(&(ri as u32)) && !used.contains(&(ri as u32)) {
                    used.push(ri as u32);
                }
            }
            for &id in &r.none {
                interner.patterns[id as usize].is_veto = true;
            }
        }
        let specs: Vec<PatternSpec> = interner.patterns.iter().map(|p| p.spec.clone()).collect();
        let report = |errs: Vec<crate::matcher::PatternError>| {
            errs.iter()
                .map(|e| format!("pattern {:?}: {}", specs[e.pattern as usize], e.message))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let stage_only = |id: PatternId| interner.patterns[id as usize].is_stage_keyword_only();
        let matcher = Matcher::new_subset(&specs, |id| !stage_only(id)).map_err(report)?;
        let stage_keywords = Matcher::new_subset(&specs, stage_only).map_err(report)?;
        Ok(Catalog { playbooks, rules, patterns: interner.patterns, matcher, stage_keywords })
    }

    pub fn playbook(&self, rules: &Rules) -> &Playbook {
        &self.playbooks[rules.playbook]
    }

    /// Looks a playbook up by id.
    pub fn find(&self, id: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.id == id)
    }

    /// Number of distinct patterns in the matcher (including stage keywords).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

/// Per normalised pattern: how many log playbooks hold it in the list `list` picks.
fn lists_holding(
    playbooks: &[Playbook],
    list: impl Fn(&MatchSpec) -> &Vec<Pattern>,
) -> HashMap<PatternSpec, u32> {
    let mut counts: HashMap<PatternSpec, u32> = HashMap::new();
    for p in playbooks.iter().filter(|p| p.is_log_playbook()) {
        let mut seen = std::collections::HashSet::new();
        for pat in list(&p.matching) {
            let spec = spec_of(&pat.kind);
            if seen.insert(spec.clone()) {
                *counts.entry(spec).or_default() += 1;
            }
        }
    }
    counts
}

fn signal_test(signal: &str, interner: &mut Interner) -> SignalTest {
    let signal = signal.trim();
    let text = |prefix: &str| signal.strip_prefix(prefix).map(str::trim).filter(|t| !t.is_empty());
    let mut literal = |t: &str| {
        let norm = normalize_pattern(t);
        (!norm.is_empty()).then(|| interner.intern(PatternSpec::Literal(norm)))
    };
    // Longest prefixes first: `context.stage.absent:` also starts with `context.stage:`'s stem.
    if let Some(s) = text("context.stage.absent:") {
        return SignalTest::StageIsNot(s.to_string());
    }
    if let Some(s) = text("context.stage:") {
        return SignalTest::StageIs(s.to_string());
    }
    if text("delta.absent:").is_some() {
        return SignalTest::Always;
    }
    if let Some(t) = text("log.contains:") {
        return literal(t).map_or(SignalTest::Never, |p| SignalTest::AnyOf(vec![p]));
    }
    if let Some(t) = text("log.absent:") {
        return literal(t).map_or(SignalTest::Always, |p| SignalTest::NoneOf(vec![p]));
    }
    match signals::expand(signal) {
        Some((strings, negated)) => {
            let ids = strings.iter().filter_map(|s| literal(s)).collect();
            if negated { SignalTest::NoneOf(ids) } else { SignalTest::AnyOf(ids) }
        }
        None => SignalTest::Never,
    }
}
