//! Quiet on healthy logs: `faultline watch --once --from-start` over real logs of successful work
//! (cargo builds and tests, pip/npm/apt installs, nginx/PostgreSQL/Redis/dockerd start-up and
//! steady state, captured by `scripts/healthy/`) must report no finding at the default thresholds
//! with the bundled catalog.
//!
//! Every file below `tests/fixtures/healthy/` is its own stream of one `watch` run.

use std::path::{Path, PathBuf};
use std::process::Command;

fn healthy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            healthy_files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

#[test]
fn watch_reports_nothing_on_healthy_logs() {
    let mut files = Vec::new();
    healthy_files(Path::new("tests/fixtures/healthy"), &mut files);
    files.sort();
    assert!(files.len() >= 20, "expected the healthy log collection, found {} files", files.len());
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert!(bytes >= 20 << 20, "healthy logs hold only {bytes} bytes");

    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["watch", "--once", "--from-start", "--format", "json", "--log-level", "warn", "--state-dir"])
        .arg(state.path())
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "watch failed: {}", String::from_utf8_lossy(&out.stderr));

    let stdout = String::from_utf8(out.stdout).unwrap();
    let findings: Vec<String> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).expect("a finding is one JSON object per line");
            let evidence: Vec<String> = v["evidence"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| format!("      L{} {}", e["line"], e["text"].as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "  {} (confidence {}) in {}\n{}",
                v["playbook"]["id"].as_str().unwrap_or("?"),
                v["confidence"],
                v["stream"]["name"].as_str().unwrap_or("?"),
                evidence.join("\n")
            )
        })
        .collect();
    assert!(findings.is_empty(), "{} finding(s) on healthy logs:\n{}", findings.len(), findings.join("\n"));
}
