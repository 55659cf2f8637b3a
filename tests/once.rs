//! The batch view of the daemon agrees with `analyze`: for every playbook fixture, the first
//! finding of `faultline watch --once --from-start --min-confidence 0 FILE` names the playbook
//! `faultline analyze FILE` ranks first (and there is no finding when analyze matches nothing).
//!
//! The one documented difference: a playbook whose `threshold.count` is not reached is noise to
//! the daemon, so the expected finding is the best-ranked playbook of `analyze` whose count is
//! reached (for most playbooks count is 1, and it is simply the top one). Multi-line joining is
//! off by default, as `analyze` matches line by line (and `count` would count records).
//!
//! One `watch` run follows every fixture (each file is its own stream); `analyze` runs through
//! the library on the same bundled catalog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::analyze::analyze_bytes;
use faultline::engine::{Catalog, LineScanner};
use faultline::playbook::{self, PlaybookSource};

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir("tests/fixtures/playbooks").unwrap().flatten() {
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "log") {
                files.push(f.path());
            }
        }
    }
    files.push(PathBuf::from("examples/container-start.log"));
    // Findings name a stream by its absolute path.
    let mut files: Vec<PathBuf> = files.iter().map(|f| std::path::absolute(f).unwrap()).collect();
    files.sort();
    files
}

/// Lines of `log` on which some positive pattern of playbook `rules` is found.
fn matching_lines(catalog: &Catalog, rules: usize, log: &[u8]) -> u32 {
    let mut scanner = LineScanner::new();
    for (i, line) in log.split(|&b| b == b'\n').enumerate() {
        scanner.push(i as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line), false);
    }
    let positives: Vec<u32> = catalog.rules[rules].positives().collect();
    let mut lines = std::collections::BTreeSet::new();
    scanner.scan(catalog, true, |line, p| {
        if positives.contains(&p) {
            lines.insert(line);
        }
    });
    lines.len() as u32
}

#[test]
fn first_finding_of_watch_once_names_the_top_playbook_of_analyze() {
    let files = fixture_files();
    assert!(files.len() > 2, "no fixtures found");
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["watch", "--once", "--from-start", "--min-confidence", "0", "--format", "json"])
        .arg("--state-dir")
        .arg(state.path())
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = f["stream"]["path"].as_str().unwrap().to_string();
        first.entry(path).or_insert_with(|| f["playbook"]["id"].as_str().unwrap().to_string());
    }

    let (playbooks, diags) = playbook::load(&[PlaybookSource::Bundled]);
    assert!(!diags.has_errors());
    let catalog = Catalog::new(playbooks).unwrap();
    let mut mismatches = Vec::new();
    for file in &files {
        let log = std::fs::read(file).unwrap();
        let outcome = analyze_bytes(&catalog, &log);
        let top = outcome
            .rank(&catalog)
            .iter()
            .find(|r| {
                // A guess from context hints alone is never a finding.
                if r.context_only {
                    return false;
                }
                let count = catalog.playbook(&catalog.rules[r.rules]).threshold.count.unwrap_or(1);
                matching_lines(&catalog, r.rules, &log) >= count
            })
            .map(|r| catalog.playbook(&catalog.rules[r.rules]).id.clone());
        let got = first.get(&Path::new(file).display().to_string()).cloned();
        if top != got {
            mismatches.push(format!("{}: analyze {top:?}, watch --once {got:?}", file.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} fixtures differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
}
