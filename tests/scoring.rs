//! Each scoring term on its own, through the public engine API: playbooks written inline, a log
//! analysed, the ranking checked.

use faultline::analyze::analyze_bytes;
use faultline::engine::{Catalog, Ranked};
use faultline::playbook::model::Origin;
use faultline::playbook::parse::parse_playbook;

fn playbook(id: &str, body: &str) -> String {
    format!("id: {id}\ntitle: {id}\ncategory: test\nseverity: high\n{body}")
}

fn catalog(playbooks: &[String]) -> Catalog {
    let parsed = playbooks
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let (p, diags) = parse_playbook(text, Origin { path: format!("p{i}.yaml"), bundled: false });
            assert!(diags.is_empty(), "{diags:?}");
            p.unwrap()
        })
        .collect();
    Catalog::new(parsed).unwrap()
}

/// `what(id, result)` of every result of analysing `log`, best first.
fn ranked<T>(cat: &Catalog, log: &str, what: impl Fn(String, &Ranked<'_>) -> T) -> Vec<T> {
    let outcome = analyze_bytes(cat, log.as_bytes());
    outcome.rank(cat).iter().map(|r| what(cat.playbook(&cat.rules[r.rules]).id.clone(), r)).collect()
}

/// (id, score, confidence) of every result, best first.
fn ranking(cat: &Catalog, log: &str) -> Vec<(String, f64, f64)> {
    ranked(cat, log, |id, r| (id, r.score, r.confidence))
}

#[test]
fn any_patterns_weigh_one_over_the_number_of_playbooks_sharing_them() {
    let cat = catalog(&[
        playbook("a", "match:\n  any: [shared words, only in a]\n"),
        playbook("b", "match:\n  any: [Shared   Words]\n"),
        playbook("c", "match:\n  any: [shared words, other]\n"),
    ]);
    // "shared words" is in three `any` lists: 1/3 each. "only in a" is unique: 1.
    let r = ranking(&cat, "x shared words y\nonly in a\n");
    assert_eq!(r[0].0, "a");
    assert_eq!(r[0].1, 1.33);
    assert_eq!(r[1].1, 0.33);
    assert_eq!(r[2].1, 0.33);
}

#[test]
fn each_distinct_any_pattern_scores_once_however_often_it_occurs() {
    let cat = catalog(&[playbook("a", "match:\n  any: [boom]\n")]);
    assert_eq!(ranking(&cat, "boom\nboom\nboom boom\n")[0].1, 1.0);
}

#[test]
fn all_patterns_score_per_hit_plus_a_bonus_when_complete() {
    let cat = catalog(&[playbook("a", "match:\n  all: [first, second]\n")]);
    assert_eq!(ranking(&cat, "first\n")[0].1, 1.5);
    assert_eq!(ranking(&cat, "first\nsecond\n")[0].1, 5.0);
}

#[test]
fn partial_groups_score_per_hit_plus_a_bonus_at_the_minimum() {
    let group = "match:\n  partial:\n    - id: g\n      minimum: 2\n      patterns: [p1, p2, p3]\n";
    let cat = catalog(&[playbook("a", group)]);
    assert_eq!(ranking(&cat, "p1\n")[0].1, 0.75);
    assert_eq!(ranking(&cat, "p1 p2\n")[0].1, 2.5);
    assert_eq!(ranking(&cat, "p1\np2\np3\n")[0].1, 3.25);
}

#[test]
fn one_none_pattern_anywhere_vetoes_the_playbook() {
    let cat = catalog(&[playbook("a", "match:\n  any: [failed]\n  none: [recovered]\n")]);
    assert_eq!(ranking(&cat, "failed\n").len(), 1);
    assert!(ranking(&cat, "failed\nlater: recovered\n").is_empty());
}

#[test]
fn stage_bonus_applies_when_the_first_stage_line_matches_a_hint() {
    let cat = catalog(&[playbook("a", "base_score: 1\nstage_hints: [deploy]\nmatch:\n  any: [boom]\n")]);
    // First stage keyword line: "kubectl apply" (deploy) — it also contains no test/build word.
    assert_eq!(ranking(&cat, "$ kubectl apply -f x\nboom\n")[0].1, 2.75);
    // A test line comes first: the stage is test, no bonus.
    assert_eq!(ranking(&cat, "running pytest\n$ kubectl apply\nboom\n")[0].1, 2.0);
    // Deploy beats test on the same line.
    assert_eq!(ranking(&cat, "deploy after test\nboom\n")[0].1, 2.75);
}

#[test]
fn base_score_is_added_and_scores_round_half_away_from_zero() {
    let cat = catalog(&[
        playbook("a", "base_score: 0.125\nmatch:\n  any: [x1]\n"),
        playbook("b", "match:\n  any: [x2, x3, x4]\n"),
        playbook("c", "match:\n  any: [x2, x3, x4]\n"),
        playbook("d", "match:\n  any: [x2, x3, x4]\n"),
    ]);
    // 1.125 is exact in binary: half away from zero gives 1.13 (banker's rounding would give 1.12).
    let r = ranking(&cat, "x1\n");
    assert_eq!(r[0].1, 1.13);
    // Three patterns at 1/3 each: 0.333… × 3 = 1.0.
    let r = ranking(&cat, "x2 x3 x4\n");
    assert_eq!(r[0].1, 1.0);
}

#[test]
fn only_a_unique_leader_gets_confidence_above_one_half() {
    let cat = catalog(&[
        playbook("a", "match:\n  all: [alpha, beta]\n"),
        playbook("b", "match:\n  any: [alpha]\n"),
        playbook("c", "match:\n  any: [gamma]\n"),
        playbook("d", "match:\n  any: [gamma]\n"),
    ]);
    let r = ranking(&cat, "alpha beta\n");
    // a: 5.0, unique leader over b (1.0): ((5/6) + (1 - 1/5)) / 2 = 0.8167
    assert_eq!((r[0].0.as_str(), r[0].2), ("a", 0.82));
    // b: competitor is the top score (5.0 > 1.0): separation 0 → (1/2)/2
    assert_eq!((r[1].0.as_str(), r[1].2), ("b", 0.25));
    // A tie at the top (0.5 each): nobody is a unique leader, so no separation: (0.5/1.5)/2.
    let r = ranking(&cat, "gamma\n");
    assert_eq!(r.iter().map(|x| x.2).collect::<Vec<_>>(), vec![0.17, 0.17]);
    assert_eq!(r[0].0, "c", "ties are broken by id");
}

#[test]
fn hypothesis_signals_reorder_without_recomputing_confidence() {
    let cat = catalog(&[
        playbook(
            "a",
            "match:\n  any: [shared]\n  all: [extra]\nhypothesis:\n  contradicts:\n    - signal: log.contains:red herring\n      weight: 2\n",
        ),
        playbook(
            "b",
            "base_score: 1\nmatch:\n  any: [shared]\nhypothesis:\n  supports:\n    - signal: log.contains:red herring\n",
        ),
    ]);
    let r = ranking(&cat, "shared extra\n");
    assert_eq!(r[0].0, "a");
    let r = ranking(&cat, "shared extra\nred herring\n");
    // a: 0.5 + 1.5 + 2 = 4.0 → 2.0 after the contradiction; b: 1.5 → 1.9 after the support.
    assert_eq!(r[0].0, "a");
    let cat = catalog(&[
        playbook(
            "a",
            "match:\n  any: [shared]\nhypothesis:\n  excludes:\n    - signal: log.contains:not this\n",
        ),
        playbook("b", "match:\n  any: [shared]\n"),
    ]);
    assert_eq!(
        ranking(&cat, "shared\nnot this\n").iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        vec!["b"]
    );
}

#[test]
fn explicit_regexes_match_the_normalised_line() {
    let cat = catalog(&[playbook("a", "match:\n  any:\n    - regex: 'exited with code 12[67]'\n")]);
    assert_eq!(ranking(&cat, "Container EXITED with code 127\n").len(), 1);
    assert!(ranking(&cat, "exited with code 1\n").is_empty());
    // Timestamps are masked before regexes see the line.
    let cat = catalog(&[playbook("a", "match:\n  any:\n    - regex: 'at <timestamp> boom'\n")]);
    assert_eq!(ranking(&cat, "at 2024-05-01T10:00:00 boom\n").len(), 1);
}

#[test]
fn evidence_is_one_line_per_pattern_in_log_order_with_true_line_numbers() {
    let cat = catalog(&[playbook("a", "match:\n  any: [second, first]\n")]);
    let log = "\n\x1b[31mfirst\x1b[0m\r\n\nnoise\rsecond\nfirst again\n";
    let outcome = analyze_bytes(&cat, log.as_bytes());
    let ranked = outcome.rank(&cat);
    let evidence: Vec<(u64, &str)> = ranked[0].evidence.iter().map(|e| (e.number, e.text.as_str())).collect();
    assert_eq!(evidence, vec![(2, "first"), (5, "second")]);
}

/// (id, context_only) of every result, best first.
fn guesses(cat: &Catalog, log: &str) -> Vec<(String, bool)> {
    ranked(cat, log, |id, r| (id, r.context_only))
}

#[test]
fn hints_alone_make_a_guess_ranked_after_every_diagnosis_with_halved_confidence() {
    let cat = catalog(&[
        playbook("pip", "base_score: 3\nmatch:\n  any: [no matching distribution]\n  hints: [pip install]\n"),
        playbook("disk", "match:\n  any: [no space left on device]\n"),
    ]);
    // Only context: a guess. Alone, a unique leader would get (0.78 + 1) / 2 = 0.89; a guess half.
    let r = ranking(&cat, "$ pip install -r requirements.txt\n");
    assert_eq!(r, vec![("pip".to_string(), 3.5, 0.45)]);
    assert_eq!(guesses(&cat, "pip install x\n"), vec![("pip".to_string(), true)]);

    // Failure text of another playbook outranks the guess although the guess scores more (3.5 > 1),
    // and the guess does not lower the diagnosis's confidence (a unique leader: 0.75).
    let r = ranking(&cat, "pip install x\nOSError: [Errno 28] No space left on device\n");
    assert_eq!(r[0], ("disk".to_string(), 1.0, 0.75));
    assert_eq!(r[1].0, "pip");
    assert_eq!(guesses(&cat, "pip install x\nno space left on device\n")[1], ("pip".to_string(), true));
}

#[test]
fn hints_add_half_a_shared_weight_to_a_diagnosis() {
    let cat = catalog(&[
        playbook("a", "match:\n  any: [boom]\n  hints: [deploying, shared context]\n"),
        playbook("b", "match:\n  any: [crash]\n  hints: [shared context]\n"),
    ]);
    // 1 (any) + 0.5 (own hint) + 0.25 (hint shared by two playbooks)
    let r = ranking(&cat, "deploying\nshared context\nboom\n");
    assert_eq!(r[0].0, "a");
    assert_eq!(r[0].1, 1.75);
    assert_eq!(guesses(&cat, "boom\ndeploying\n")[0], ("a".to_string(), false));
    // b has only the shared hint: a guess scoring 0.25, the only guess: (0.2 + 1) / 2 halved.
    assert_eq!(ranking(&cat, "deploying\nshared context\nboom\n")[1], ("b".to_string(), 0.25, 0.3));
}

#[test]
fn a_none_pattern_vetoes_a_guess_too() {
    let cat = catalog(&[playbook(
        "pip",
        "match:\n  any: [no matching distribution]\n  none: [successfully installed]\n  hints: [pip install]\n",
    )]);
    assert!(ranking(&cat, "pip install x\nSuccessfully installed x-1.0\n").is_empty());
}
