//! Warnings about playbooks that load but are probably not what their author meant
//! (`faultline check`), and the report of patterns several playbooks compete for.

use std::collections::BTreeMap;

use super::model::{PatternKind, Playbook};
use super::parse::pattern_key;
use crate::diagnostic::Diagnostic;
use crate::matcher::prefilter;
use crate::normalize::{Normalizer, normalize_pattern};

/// Hypothesis signals faultline evaluates; anything else is treated as absent.
pub fn signal_is_supported(signal: &str) -> bool {
    ["log.contains:", "log.absent:", "context.stage:", "context.stage.absent:"]
        .iter()
        .any(|p| signal.strip_prefix(p).is_some_and(|rest| !rest.trim().is_empty()))
        || crate::engine::signals::lookup(signal).is_some()
}

/// Regex syntax that, written in a plain string, is almost certainly meant as a regex.
fn looks_like_regex(s: &str) -> bool {
    [".*", ".+", "\\d", "\\s", "\\w", "\\b", "[0-9]", "(?i)"].iter().any(|m| s.contains(m))
}

const STAGES: [&str; 3] = ["build", "test", "deploy"];

pub fn lint(playbooks: &[Playbook]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut normalizer = Normalizer::new();
    for p in playbooks {
        let file = p.origin.path.as_str();
        let warn =
            |out: &mut Vec<Diagnostic>, loc, msg: String| out.push(Diagnostic::warning(file, loc, msg));

        if !p.ignored_keys.is_empty() {
            let keys: Vec<&str> = p.ignored_keys.iter().map(|k| k.0.as_str()).collect();
            warn(
                &mut out,
                Some(p.ignored_keys[0].1),
                format!("ignored keys (not used by faultline): {}", keys.join(", ")),
            );
        }
        if p.source_detector {
            warn(
                &mut out,
                Some(p.id_loc),
                "source-code detector playbook: faultline analyses logs only, so it is never matched".into(),
            );
            continue;
        }

        let lists = [
            ("any", &p.matching.any),
            ("all", &p.matching.all),
            ("none", &p.matching.none),
            ("hints", &p.matching.hints),
        ];
        let groups = p.matching.partial.iter().map(|g| ("partial", &g.patterns));
        for (list_name, list) in lists.into_iter().chain(groups) {
            for (i, pat) in list.iter().enumerate() {
                match &pat.kind {
                    PatternKind::Literal(text) => {
                        if looks_like_regex(text) {
                            warn(
                                &mut out,
                                Some(pat.loc),
                                format!(
                                    "pattern {text:?} looks like a regex but is matched literally (write {{regex: {text:?}}} if a regex is meant)"
                                ),
                            );
                        } else {
                            let mut masked = Vec::new();
                            normalizer.normalize(text.as_bytes(), &mut masked);
                            let normalized = normalize_pattern(text);
                            if !normalized.is_empty() && !crate::matcher::prescannable(&normalized) {
                                warn(&mut out, Some(pat.loc), not_prescannable(&format!("pattern {text:?}")));
                            }
                            if masked != normalized.as_bytes() {
                                warn(
                                    &mut out,
                                    Some(pat.loc),
                                    format!(
                                        "pattern {text:?} contains a time, temp path or UUID that normalisation replaces in every log line: it can never match"
                                    ),
                                );
                            }
                        }
                    }
                    PatternKind::Regex(source) => {
                        let literals = prefilter::required_literals(source);
                        if literals
                            .as_ref()
                            .is_some_and(|set| !set.iter().all(|l| crate::matcher::prescannable(l)))
                        {
                            warn(&mut out, Some(pat.loc), not_prescannable(&format!("regex {source:?}")));
                        }
                        if literals.is_none() {
                            warn(
                                &mut out,
                                Some(pat.loc),
                                format!(
                                    "regex {source:?} has no required literal of {}+ characters, so it runs on every line and every line must be normalised (slow): add a plain word",
                                    prefilter::MIN_LITERAL_LEN
                                ),
                            );
                        }
                    }
                }
                if list[..i].iter().any(|q| q.kind == pat.kind) {
                    warn(
                        &mut out,
                        Some(pat.loc),
                        format!("duplicate pattern {pat} in `{list_name}` (counted once)"),
                    );
                }
            }
        }
        for hint in &p.stage_hints {
            if !STAGES.contains(&hint.as_str()) {
                warn(
                    &mut out,
                    Some(p.id_loc),
                    format!("unknown stage hint {hint:?} (expected build, test or deploy)"),
                );
            }
        }
        for s in p.hypothesis.all_signals() {
            if !signal_is_supported(&s.signal) {
                warn(
                    &mut out,
                    Some(s.loc),
                    format!(
                        "hypothesis signal {:?} is not supported and is treated as absent (supported: log.contains:, log.absent:, context.stage:, context.stage.absent: and Faultline's named log signals)",
                        s.signal
                    ),
                );
            }
        }
        let sections = [
            ("summary", p.summary.trim().is_empty()),
            ("diagnosis", p.diagnosis.trim().is_empty()),
            ("fix", p.fix.is_empty()),
            ("validation", p.validation.is_empty()),
            ("why_it_matters", p.why_it_matters.trim().is_empty()),
        ];
        let missing: Vec<&str> = sections.iter().filter(|s| s.1).map(|s| s.0).collect();
        if !missing.is_empty() {
            warn(&mut out, Some(p.id_loc), format!("missing sections: {}", missing.join(", ")));
        }
        if p.origin.bundled && p.prevention.is_empty() {
            warn(&mut out, Some(p.id_loc), "missing section: prevention".into());
        }
    }
    out
}

/// A positive pattern several playbooks list: where they compete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub pattern: String,
    pub regex: bool,
    pub playbooks: Vec<String>,
}

/// Positive patterns (by normalised key) that appear in more than one playbook.
pub fn overlaps(playbooks: &[Playbook]) -> Vec<Overlap> {
    let mut by_key: BTreeMap<(bool, String), Vec<String>> = BTreeMap::new();
    for p in playbooks.iter().filter(|p| p.is_log_playbook()) {
        for pat in p.matching.positives() {
            let ids = by_key.entry(pattern_key(pat)).or_default();
            if !ids.contains(&p.id) {
                ids.push(p.id.clone());
            }
        }
    }
    by_key
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((regex, pattern), playbooks)| Overlap { pattern, regex, playbooks })
        .collect()
}

/// The warning for a pattern that can only be found next to a mask placeholder.
fn not_prescannable(what: &str) -> String {
    format!(
        "{what} has no part that is sure to be in a log line before masking (a placeholder such as <id> may complete it), so every line must be normalised (slow): add a plain word"
    )
}
