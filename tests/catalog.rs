//! The bundled catalog, proven by its fixtures: for every playbook under `playbooks/`,
//! `tests/fixtures/playbooks/<id>/positive*.log` must rank it first and
//! `tests/fixtures/playbooks/<id>/near-miss*.log` must not produce it at all; and the pages under
//! `docs/playbooks/` are the ones `faultline docs` generates from it.
//!
//! A playbook with context hints also has `guess*.log`: a log without its failure text, where
//! the hints alone make it the first guess.
//!
//! "Rank" and "produce" are about diagnoses: results with failure text. A near-miss is often a
//! healthy log of the same work (a clean `pip install`), so a playbook's context hints may make it
//! a guess there — ranked after every diagnosis and never reported by `watch`.

use std::fs;
use std::path::{Path, PathBuf};

use faultline::analyze::analyze_bytes;
use faultline::engine::Catalog;
use faultline::playbook::{self, PlaybookSource};

fn bundled() -> Catalog {
    let (playbooks, diags) = playbook::load(&[PlaybookSource::Bundled]);
    assert!(!diags.has_errors(), "{diags}");
    Catalog::new(playbooks).unwrap()
}

fn fixtures(id: &str, prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new("tests/fixtures/playbooks").join(id);
    let mut files: Vec<PathBuf> =
        fs::read_dir(&dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.starts_with(prefix) && name.ends_with(".log")
    });
    files.sort();
    files
}

/// The diagnoses `analyze` makes of the log, best first (guesses from context hints left out).
fn ranking(cat: &Catalog, path: &Path) -> Vec<String> {
    let log = fs::read(path).unwrap();
    let outcome = analyze_bytes(cat, &log);
    outcome
        .rank(cat)
        .iter()
        .filter(|r| !r.context_only)
        .map(|r| cat.playbook(&cat.rules[r.rules]).id.clone())
        .collect()
}

#[test]
fn every_bundled_playbook_has_a_positive_and_a_near_miss_fixture() {
    let cat = bundled();
    let missing: Vec<String> = cat
        .playbooks
        .iter()
        .filter(|p| fixtures(&p.id, "positive").is_empty() || fixtures(&p.id, "near-miss").is_empty())
        .map(|p| p.id.clone())
        .collect();
    assert!(missing.is_empty(), "playbooks without positive and near-miss fixtures: {missing:?}");
    // And no fixture directory is left over from a playbook that no longer exists.
    let orphans: Vec<String> = fs::read_dir("tests/fixtures/playbooks")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|id| cat.find(id).is_none())
        .collect();
    assert!(orphans.is_empty(), "fixtures for unknown playbooks: {orphans:?}");
}

#[test]
fn positive_fixtures_rank_their_playbook_first() {
    let cat = bundled();
    let mut failures = Vec::new();
    for p in &cat.playbooks {
        for file in fixtures(&p.id, "positive") {
            let ranked = ranking(&cat, &file);
            if ranked.first() != Some(&p.id) {
                failures.push(format!("{}: got {:?}", file.display(), &ranked[..ranked.len().min(3)]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} positive fixtures do not rank first:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn near_miss_fixtures_do_not_produce_their_playbook() {
    let cat = bundled();
    let mut failures = Vec::new();
    for p in &cat.playbooks {
        for file in fixtures(&p.id, "near-miss") {
            let ranked = ranking(&cat, &file);
            if let Some(pos) = ranked.iter().position(|id| id == &p.id) {
                failures.push(format!("{}: {} ranked #{}", file.display(), p.id, pos + 1));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} near-miss fixtures produce their playbook:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_playbook_with_hints_has_a_guess_fixture_its_hints_alone_rank_first_among_guesses() {
    let cat = bundled();
    let mut failures = Vec::new();
    for p in cat.playbooks.iter().filter(|p| !p.matching.hints.is_empty()) {
        let files = fixtures(&p.id, "guess");
        if files.is_empty() {
            failures.push(format!("{}: has hints but no guess*.log fixture", p.id));
        }
        for file in files {
            let outcome = analyze_bytes(&cat, &fs::read(&file).unwrap());
            let guesses: Vec<String> = outcome
                .rank(&cat)
                .iter()
                .filter(|r| r.context_only)
                .map(|r| cat.playbook(&cat.rules[r.rules]).id.clone())
                .collect();
            if guesses.first() != Some(&p.id) {
                failures.push(format!("{}: guesses {guesses:?}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn committed_playbook_pages_are_up_to_date() {
    // `faultline docs --check` lists stale or missing pages and exits non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["docs", "--out", "docs/playbooks", "--check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docs/playbooks is stale; run `faultline docs --out docs/playbooks`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
