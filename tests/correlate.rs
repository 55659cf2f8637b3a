//! Correlation semantics with time under the test's control: count within a window, settle with
//! a late veto, cooldown with repeats, alternatives, end of stream.

use std::collections::HashMap;
use std::time::Duration;

use faultline::correlate::{LineIn, Millis, Policy, Report, StreamCorrelator, Thresholds};
use faultline::engine::{Catalog, LineScanner};
use faultline::playbook::Threshold;
use faultline::playbook::model::Origin;
use faultline::playbook::parse::parse_playbook;

fn catalog(playbooks: &[&str]) -> Catalog {
    let parsed = playbooks
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let (p, d) = parse_playbook(text, Origin { path: format!("p{i}.yaml"), bundled: false });
            assert!(d.is_empty(), "{d:?}");
            p.unwrap()
        })
        .collect();
    Catalog::new(parsed).unwrap()
}

struct Stream {
    cat: Catalog,
    policy: Policy,
    corr: StreamCorrelator,
    scanner: LineScanner,
    number: u64,
    reports: Vec<Report>,
}

impl Stream {
    fn new(cat: Catalog, defaults: Thresholds) -> Self {
        let policy = Policy::new(&cat, defaults, &HashMap::new(), &Threshold::default(), 3, 3);
        Stream {
            cat,
            policy,
            corr: StreamCorrelator::new(),
            scanner: LineScanner::new(),
            number: 0,
            reports: Vec::new(),
        }
    }

    /// Feeds one line arriving at `t` ms.
    fn line(&mut self, t: Millis, text: &str) {
        self.number += 1;
        let pushed = self.scanner.push(self.number, text.as_bytes(), false);
        let mut hits = Vec::new();
        self.scanner.scan(&self.cat, self.corr.stage_known(), |_, p| hits.push(p));
        if pushed {
            let line = LineIn {
                number: self.number,
                raw: text.as_bytes(),
                cut: false,
                time: t,
                logged: None,
                hits: &hits,
            };
            self.corr.observe(&self.cat, &self.policy, line, &mut self.reports);
        }
        self.scanner.clear();
    }

    fn tick(&mut self, t: Millis) {
        self.corr.tick(&self.cat, &self.policy, t, &mut self.reports);
    }

    fn end(&mut self, t: Millis) {
        self.corr.end_of_stream(&self.cat, &self.policy, t, &mut self.reports);
    }

    fn ids(&self) -> Vec<&str> {
        self.reports.iter().map(|r| self.cat.playbook(&self.cat.rules[r.rules]).id.as_str()).collect()
    }
}

const REFUSED: &str = "id: refused\ntitle: Refused\ncategory: network\nseverity: high\nmatch:\n  any: [connection refused]\n  none: [connected after retry]\nthreshold:\n  count: 3\n  window: 1m\n";
const OOM: &str = "id: oom\ntitle: OOM\ncategory: runtime\nseverity: critical\nmatch:\n  any: [out of memory, killed process]\n";

fn secs(s: u64) -> Millis {
    1_700_000_000_000 + s * 1000
}

#[test]
fn count_must_be_reached_within_the_window() {
    let mut s = Stream::new(catalog(&[REFUSED]), Thresholds { settle: Duration::ZERO, ..Default::default() });
    s.line(secs(0), "dial: connection refused");
    s.line(secs(40), "dial: connection refused");
    s.line(secs(90), "dial: connection refused"); // the first one left the 1m window
    assert!(s.reports.is_empty());
    s.line(secs(95), "dial: connection refused"); // three within 1m: 40, 90, 95
    assert_eq!(s.ids(), vec!["refused"]);
    assert_eq!(s.reports[0].count, 3);
}

#[test]
fn settle_waits_and_a_late_veto_cancels() {
    let defaults = Thresholds { settle: Duration::from_secs(2), ..Default::default() };
    let mut s = Stream::new(catalog(&[REFUSED]), defaults);
    for i in 0..3 {
        s.line(secs(i), "connection refused");
    }
    s.tick(secs(3));
    assert!(s.reports.is_empty(), "still settling");
    s.line(secs(3) + 500, "db connected after retry");
    s.tick(secs(5));
    assert!(s.reports.is_empty(), "the veto inside the window cancels the pending report");
}

#[test]
fn settle_collects_context_and_fires_on_tick() {
    let defaults = Thresholds { settle: Duration::from_secs(1), ..Default::default() };
    let mut s = Stream::new(catalog(&[OOM]), defaults);
    s.line(secs(0), "starting worker");
    s.line(secs(1), "Out of memory: Killed process 4242 (java)");
    s.line(secs(1) + 200, "oom_reaper: reaped process 4242");
    s.tick(secs(1) + 500);
    assert!(s.reports.is_empty());
    s.tick(secs(2) + 1);
    assert_eq!(s.ids(), vec!["oom"]);
    let r = &s.reports[0];
    assert_eq!(r.evidence.iter().map(|e| e.number).collect::<Vec<_>>(), vec![2]);
    assert_eq!(
        r.context.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        vec!["starting worker", "oom_reaper: reaped process 4242"]
    );
}

#[test]
fn cooldown_silences_repeats_and_the_next_report_counts_them() {
    let defaults =
        Thresholds { settle: Duration::ZERO, cooldown: Duration::from_secs(60), ..Default::default() };
    let mut s = Stream::new(catalog(&[OOM]), defaults);
    s.line(secs(0), "out of memory");
    assert_eq!(s.reports.len(), 1);
    for i in 1..=5 {
        s.line(secs(i * 10), "out of memory");
    }
    assert_eq!(s.reports.len(), 1, "cooldown");
    s.line(secs(61), "out of memory");
    assert_eq!(s.reports.len(), 2);
    assert_eq!(s.reports[1].repeats, 5);
    assert_eq!(s.reports[0].repeats, 0);
}

#[test]
fn the_best_qualifying_playbook_wins_and_the_others_are_alternatives() {
    let both = "id: both\ntitle: Both\ncategory: runtime\nseverity: high\nmatch:\n  any: [out of memory, killed process, oom-killer]\n";
    let defaults = Thresholds { settle: Duration::from_secs(1), min_confidence: 0.0, ..Default::default() };
    let mut s = Stream::new(catalog(&[OOM, both]), defaults);
    s.line(secs(0), "invoked oom-killer");
    s.line(secs(0) + 100, "out of memory: killed process 1");
    s.tick(secs(2));
    assert_eq!(s.ids(), vec!["both"]);
    let alt: Vec<usize> = s.reports[0].alternatives.iter().map(|a| a.0).collect();
    assert_eq!(alt.len(), 1);
    assert_eq!(s.cat.playbook(&s.cat.rules[alt[0]]).id, "oom");
    // The alternative is quiet too: no second report for the same incident.
    s.line(secs(3), "out of memory");
    s.tick(secs(10));
    assert_eq!(s.reports.len(), 1);
}

#[test]
fn low_confidence_is_not_reported_at_default_threshold() {
    // Two playbooks share the only pattern: a tie, confidence 0.38 < 0.5.
    let a = "id: a\ntitle: A\ncategory: x\nseverity: low\nbase_score: 1\nmatch:\n  any: [flaky thing]\n";
    let b = "id: b\ntitle: B\ncategory: x\nseverity: low\nbase_score: 1\nmatch:\n  any: [flaky thing]\n";
    let mut s = Stream::new(catalog(&[a, b]), Thresholds { settle: Duration::ZERO, ..Default::default() });
    s.line(secs(0), "flaky thing");
    s.end(secs(1));
    assert!(s.reports.is_empty());
}

#[test]
fn context_hints_alone_are_never_reported_nor_counted() {
    let pip = "id: pip\ntitle: Pip\ncategory: build\nseverity: high\nmatch:\n  any: [no matching distribution]\n  hints: [pip install]\nthreshold:\n  count: 2\n";
    let mut s = Stream::new(
        catalog(&[pip]),
        Thresholds { settle: Duration::ZERO, min_confidence: 0.0, ..Default::default() },
    );
    for i in 0..5 {
        s.line(secs(i), "pip install -r requirements.txt");
    }
    s.end(secs(6));
    assert!(s.reports.is_empty(), "a guess was reported");

    // Hint lines do not count towards `count`: one failure line is still one.
    let mut s = Stream::new(
        catalog(&[pip]),
        Thresholds { settle: Duration::ZERO, min_confidence: 0.0, ..Default::default() },
    );
    s.line(secs(0), "pip install x");
    s.line(secs(1), "ERROR: No matching distribution found for x");
    assert!(s.reports.is_empty(), "reported after one failure line");
    s.line(secs(2), "ERROR: No matching distribution found for y");
    assert_eq!(s.ids(), vec!["pip"]);
    assert_eq!(s.reports[0].count, 2);
}

#[test]
fn end_of_stream_reports_what_is_pending_at_once() {
    let mut s =
        Stream::new(catalog(&[OOM]), Thresholds { settle: Duration::from_secs(30), ..Default::default() });
    s.line(secs(0), "out of memory");
    assert!(s.reports.is_empty());
    s.end(secs(0));
    assert_eq!(s.ids(), vec!["oom"]);
}

#[test]
fn a_reported_playbook_is_announced_active_while_it_matches_then_quiet_once() {
    use faultline::correlate::ActivityReport;
    let defaults =
        Thresholds { settle: Duration::ZERO, window: Duration::from_secs(120), ..Default::default() };
    let mut s = Stream::new(catalog(&[OOM]), defaults);
    s.line(secs(0), "out of memory");
    assert_eq!(s.reports.len(), 1);
    let mut news: Vec<ActivityReport> = Vec::new();
    s.corr.activity(&s.policy, secs(10), &mut news);
    assert!(news.is_empty(), "not due before the activity interval");
    s.line(secs(20), "out of memory");
    s.corr.activity(&s.policy, secs(31), &mut news);
    assert_eq!(news, vec![ActivityReport { rules: 0, last_seen: secs(20), active: true }]);
    news.clear();
    // No match since 20 s: the 120 s window empties at 140 s.
    assert_eq!(s.corr.next_deadline(&s.policy), Some(secs(61)));
    s.corr.activity(&s.policy, secs(139), &mut news);
    assert!(news.iter().all(|n| n.active));
    news.clear();
    s.corr.activity(&s.policy, secs(140), &mut news);
    assert_eq!(news, vec![ActivityReport { rules: 0, last_seen: secs(20), active: false }]);
    news.clear();
    s.corr.activity(&s.policy, secs(400), &mut news);
    assert!(news.is_empty(), "quiet is announced once");
}

#[test]
fn the_finding_that_activity_news_are_about_survives_a_checkpoint() {
    let defaults = Thresholds { settle: Duration::ZERO, ..Default::default() };
    let mut s = Stream::new(catalog(&[OOM]), defaults);
    s.line(secs(0), "out of memory");
    let rules = s.reports[0].rules;
    s.corr.note_finding(rules, "f-1".into(), secs(0));
    let json = serde_json::to_string(&s.corr.snapshot(&s.cat)).unwrap();
    let restored = StreamCorrelator::restore(serde_json::from_str(&json).unwrap(), &s.cat, |_| true);
    let f = restored.reported_finding(rules).expect("kept across the checkpoint");
    assert_eq!((f.id.as_str(), f.first_seen), ("f-1", secs(0)));
}

#[test]
fn a_playbook_qualifying_while_a_vetoed_one_settles_is_still_reported() {
    let defaults = Thresholds { settle: Duration::from_secs(2), ..Default::default() };
    let mut s = Stream::new(catalog(&[REFUSED, OOM]), defaults);
    for i in 0..3 {
        s.line(secs(i), "connection refused");
    }
    // An unrelated failure qualifies while `refused` waits out its settle; then `refused` is
    // vetoed. The settle ends with `oom` alone, and it is reported.
    s.line(secs(3), "Out of memory: Killed process 4242 (java)");
    s.line(secs(3) + 500, "db connected after retry");
    s.tick(secs(5));
    assert_eq!(s.ids(), vec!["oom"]);
}
