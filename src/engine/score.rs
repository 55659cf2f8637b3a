//! Scoring and ranking, exactly as Faultline v0.4.2 does it (see docs/playbook-format.md):
//! IDF-weighted `any`, flat `all` and `partial` terms, stage bonus, relative confidence, then the
//! hypothesis layer's re-sort. Floating-point operations happen in Faultline's order so scores
//! round to the same two decimals.

use super::analysis::{EvidenceLine, Hits};
use super::{Catalog, Rules, SignalRole, SignalTest};
use crate::matcher::PatternId;

/// How a score was made, term by term (for `trace` and JSON output).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakdown {
    pub base: f64,
    /// (pattern, weight) of every `any` entry found.
    pub any: Vec<(PatternId, f64)>,
    pub all_found: u32,
    pub all_total: u32,
    pub all_complete_bonus: f64,
    /// (hits, minimum, term) per partial group.
    pub partial: Vec<(u32, u32, f64)>,
    pub stage_bonus: f64,
    /// (pattern, weight) of every context hint found.
    pub hints: Vec<(PatternId, f64)>,
    /// (signal, weight) of every hypothesis signal that fired.
    pub hypothesis: Vec<(String, f64)>,
}

/// One candidate playbook, scored.
#[derive(Debug, Clone)]
pub struct Ranked<'a> {
    /// Index into [`Catalog::rules`].
    pub rules: usize,
    pub score: f64,
    pub confidence: f64,
    /// Score after the hypothesis layer (equals `score` when no signal fired).
    pub final_score: f64,
    /// Evidence lines, one per distinct line, in log order.
    pub evidence: Vec<&'a EvidenceLine>,
    pub breakdown: Breakdown,
    /// Found positive patterns, in declaration order.
    pub matched: Vec<PatternId>,
    /// Only context hints were found, no failure text: a guess, ranked after every result with
    /// failure evidence and never reported by `watch`.
    pub context_only: bool,
}

/// Go's `math.Round(x*100)/100`: half away from zero.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Scores one playbook against `hits`; `None` when it is not a candidate (nothing positive found,
/// or vetoed by a `none` pattern).
pub fn score_rules<'h>(catalog: &Catalog, rules_index: usize, hits: &'h impl Hits) -> Option<Ranked<'h>> {
    let rules = &catalog.rules[rules_index];
    if rules.none.iter().any(|&p| hits.evidence(p).is_some()) {
        return None;
    }
    let playbook = catalog.playbook(rules);
    let mut breakdown = Breakdown { base: playbook.base_score, ..Default::default() };
    let mut matched = Vec::new();

    let mut any_score = 0.0;
    for &(p, w) in &rules.any {
        if hits.evidence(p).is_some() {
            any_score += w;
            breakdown.any.push((p, w));
            matched.push(p);
        }
    }
    let mut all_hits = 0u32;
    let mut all_complete = !rules.all.is_empty();
    for &p in &rules.all {
        if hits.evidence(p).is_some() {
            all_hits += 1;
            matched.push(p);
        } else {
            all_complete = false;
        }
    }
    let mut partial_score = 0.0;
    let mut partial_hits = 0;
    for (group, minimum) in &rules.partial {
        let found: Vec<PatternId> = group.iter().copied().filter(|&p| hits.evidence(p).is_some()).collect();
        let n = found.len() as u32;
        matched.extend(found);
        if n == 0 {
            continue;
        }
        partial_hits += n;
        let mut term = f64::from(n) * 0.75;
        if n >= *minimum {
            term += 1.0;
        }
        partial_score += term;
        breakdown.partial.push((n, *minimum, term));
    }
    let mut hint_score = 0.0;
    for &(p, w) in &rules.hints {
        if hits.evidence(p).is_some() {
            hint_score += w;
            breakdown.hints.push((p, w));
        }
    }
    let context_only = any_score == 0.0 && all_hits == 0 && partial_hits == 0;
    if context_only && breakdown.hints.is_empty() {
        return None;
    }

    let mut score = playbook.base_score + any_score + f64::from(all_hits) * 1.5 + partial_score;
    // Added apart so that a catalog without hints scores exactly as Faultline does.
    if hint_score > 0.0 {
        score += hint_score;
    }
    breakdown.all_found = all_hits;
    breakdown.all_total = rules.all.len() as u32;
    if all_complete {
        score += 2.0;
        breakdown.all_complete_bonus = 2.0;
    }
    if let Some(stage) = hits.stage() {
        if playbook.stage_hints.iter().any(|h| h.eq_ignore_ascii_case(stage.as_str())) {
            score += 0.75;
            breakdown.stage_bonus = 0.75;
        }
    }

    let mut evidence: Vec<&EvidenceLine> = Vec::new();
    for &p in matched.iter().chain(breakdown.hints.iter().map(|(p, _)| p)) {
        if let Some(line) = hits.evidence(p) {
            if !evidence.iter().any(|e| e.number == line.number) {
                evidence.push(line);
            }
        }
    }
    evidence.sort_by_key(|e| e.number);

    let score = round2(score);
    Some(Ranked {
        rules: rules_index,
        score,
        confidence: 0.0,
        final_score: score,
        evidence,
        breakdown,
        matched,
        context_only,
    })
}

/// Faultline's confidence: coverage `s/(s+1)` averaged with separation from the competitor.
pub fn confidence(score: f64, competitor: f64) -> f64 {
    if score <= 0.0 {
        return 0.0;
    }
    let coverage = score / (score + 1.0);
    let separation = if competitor < score { 1.0 - competitor / score } else { 0.0 };
    round2((coverage + separation) / 2.0)
}

/// Sets every candidate's confidence: results with failure evidence compete among themselves;
/// context-only guesses compete among themselves and keep half of that confidence, so a guess
/// is at most 0.5 sure, however much context it found.
pub fn calibrate(results: &mut [Ranked<'_>]) {
    calibrate_among(results, false);
    calibrate_among(results, true);
}

/// Calibrates the results whose `context_only` is `guesses` against each other.
fn calibrate_among(results: &mut [Ranked<'_>], guesses: bool) {
    let scores = || results.iter().filter(|r| r.context_only == guesses).map(|r| r.score);
    let Some(top) = scores().reduce(f64::max) else {
        return;
    };
    let top_count = scores().filter(|&s| s == top).count();
    let second = scores().filter(|&s| s < top).reduce(f64::max).unwrap_or(0.0);
    for r in results.iter_mut().filter(|r| r.context_only == guesses) {
        let competitor = if r.score == top && top_count == 1 { second } else { top };
        let c = confidence(r.score, competitor);
        r.confidence = if guesses { round2(c / 2.0) } else { c };
    }
}

/// Distinct sanitised texts among a result's evidence lines (Faultline's evidence count).
fn evidence_count(r: &Ranked<'_>) -> usize {
    let mut ids: Vec<u64> = r.evidence.iter().map(|e| e.identity).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

/// Ranks every log playbook of `catalog` against `hits`, best first. Playbooks eliminated by a
/// hypothesis `excludes` signal are left out.
pub fn rank<'h, H: Hits>(catalog: &Catalog, hits: &'h H) -> Vec<Ranked<'h>> {
    rank_by(catalog, |_| Some(hits))
}

/// Like [`rank`], but each playbook (by index into [`Catalog::rules`]) is scored against its own
/// view of the hits — the streaming correlator gives every playbook its own time window.
/// Playbooks for which `view` returns `None` take no part (neither scored nor competing).
pub fn rank_by<'h, H: Hits + 'h>(
    catalog: &Catalog,
    view: impl Fn(usize) -> Option<&'h H>,
) -> Vec<Ranked<'h>> {
    let mut results: Vec<Ranked<'h>> =
        (0..catalog.rules.len()).filter_map(|i| score_rules(catalog, i, view(i)?)).collect();
    calibrate(&mut results);
    let id = |r: &Ranked<'_>| catalog.playbook(&catalog.rules[r.rules]).id.as_str();
    results.sort_by(|a, b| {
        a.context_only
            .cmp(&b.context_only)
            .then(b.score.total_cmp(&a.score))
            .then(b.confidence.total_cmp(&a.confidence))
            .then(evidence_count(b).cmp(&evidence_count(a)))
            .then_with(|| id(a).cmp(id(b)))
    });
    let mut keyed: Vec<(bool, Ranked<'h>)> = results
        .into_iter()
        .map(|mut r| {
            let gone = view(r.rules).is_some_and(|hits| apply_hypothesis(catalog, &mut r, hits));
            (gone, r)
        })
        .collect();
    // Re-sort by the adjusted score; stable, so ties keep the order above.
    keyed.sort_by(|a, b| {
        a.1.context_only.cmp(&b.1.context_only).then(b.1.final_score.total_cmp(&a.1.final_score))
    });
    keyed.into_iter().filter(|(gone, _)| !gone).map(|(_, r)| r).collect()
}

/// Applies the playbook's hypothesis signals; returns true when an `excludes` signal fired.
fn apply_hypothesis(catalog: &Catalog, r: &mut Ranked<'_>, hits: &impl Hits) -> bool {
    let rules: &Rules = &catalog.rules[r.rules];
    let mut eliminated = false;
    let mut final_score = round2(r.score);
    for s in &rules.signals {
        let fired = match &s.test {
            SignalTest::AnyOf(ps) => ps.iter().any(|&p| hits.evidence(p).is_some()),
            SignalTest::NoneOf(ps) => ps.iter().all(|&p| hits.evidence(p).is_none()),
            SignalTest::Always => true,
            SignalTest::Never => false,
            SignalTest::StageIs(stage) => {
                hits.stage().is_some_and(|st| st.as_str().eq_ignore_ascii_case(stage))
            }
            SignalTest::StageIsNot(stage) => {
                !hits.stage().is_some_and(|st| st.as_str().eq_ignore_ascii_case(stage))
            }
        };
        if !fired {
            continue;
        }
        if s.role == SignalRole::Excludes {
            eliminated = true;
            r.breakdown.hypothesis.push((s.signal.clone(), 0.0));
        } else {
            final_score = round2(final_score + s.weight);
            r.breakdown.hypothesis.push((s.signal.clone(), s.weight));
        }
    }
    r.final_score = final_score;
    eliminated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round2(1.005 * 1.0), 1.0); // 100.49999… in binary
        assert_eq!(round2(2.125), 2.13);
        assert_eq!(round2(0.333333), 0.33);
    }

    #[test]
    fn confidence_rewards_a_clear_leader_only() {
        // Unique leader 3.0 vs runner-up 1.0: (0.75 + 0.6667)/2
        assert_eq!(confidence(3.0, 1.0), 0.71);
        // Tied or trailing: separation 0.
        assert_eq!(confidence(3.0, 3.0), 0.38);
        assert_eq!(confidence(1.0, 3.0), 0.25);
        assert_eq!(confidence(0.0, 0.0), 0.0);
    }
}
