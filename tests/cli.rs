//! The built binary, every one-shot command and exit code. Output is snapshot-tested against a
//! small playbook set of the tests' own (tests/fixtures/cli), so it does not move with the catalog.

use assert_cmd::Command;
use predicates::prelude::*;

const PLAYBOOKS: &str = "tests/fixtures/cli/playbooks";
const LOGS: &str = "tests/fixtures/cli/logs";

fn faultline() -> Command {
    let mut cmd = Command::cargo_bin("faultline").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

fn stdout_of(args: &[&str]) -> String {
    let out = faultline().args(args).assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// analyze

#[test]
fn analyze_text_output() {
    let out = stdout_of(&["analyze", "--playbooks", PLAYBOOKS, &format!("{LOGS}/exec-format.log")]);
    insta::assert_snapshot!("analyze_text", out);
}

#[test]
fn analyze_markdown_output() {
    let out = stdout_of(&[
        "analyze",
        "--playbooks",
        PLAYBOOKS,
        "--format",
        "markdown",
        &format!("{LOGS}/exec-format.log"),
    ]);
    insta::assert_snapshot!("analyze_markdown", out);
}

#[test]
fn analyze_json_output() {
    let out = stdout_of(&[
        "analyze",
        "--playbooks",
        PLAYBOOKS,
        "--json",
        "--top",
        "0",
        &format!("{LOGS}/network.log"),
    ]);
    insta::assert_snapshot!("analyze_json", out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["matched"], true);
    assert_eq!(v["lines"], 4);
    let r0 = &v["results"][0];
    for key in
        ["rank", "id", "title", "category", "severity", "score", "confidence", "evidence", "summary", "fix"]
    {
        assert!(r0.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn analyze_reads_stdin() {
    let log = std::fs::read(format!("{LOGS}/exec-format.log")).unwrap();
    for args in [
        vec!["analyze", "--playbooks", PLAYBOOKS, "--json"],
        vec!["analyze", "--playbooks", PLAYBOOKS, "--json", "-"],
    ] {
        let out =
            faultline().args(&args).write_stdin(log.clone()).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["results"][0]["id"], "exec-format");
    }
}

#[test]
fn analyze_without_a_match_says_so_and_exits_zero() {
    faultline()
        .args(["analyze", "--playbooks", PLAYBOOKS, &format!("{LOGS}/healthy.log")])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("No known playbook matched (3 lines"));
    let out = stdout_of(&["analyze", "--playbooks", PLAYBOOKS, "--json", &format!("{LOGS}/healthy.log")]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["matched"], false);
    assert_eq!(v["results"].as_array().unwrap().len(), 0);
}

#[test]
fn analyze_marks_a_guess_from_context_hints_and_does_not_call_it_a_match() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pip.yaml"),
        "id: pip-failed\ntitle: pip failed\ncategory: build\nseverity: high\nmatch:\n  any: [no matching distribution]\n  hints: [pip install]\n",
    )
    .unwrap();
    let log = dir.path().join("job.log");
    std::fs::write(&log, "$ pip install -r requirements.txt\nJob cancelled\n").unwrap();
    let pack = dir.path().to_str().unwrap();
    let log = log.to_str().unwrap();

    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&["analyze", "--playbooks", pack, "--json", log])).unwrap();
    assert_eq!(v["matched"], false);
    assert_eq!(v["results"][0]["id"], "pip-failed");
    assert_eq!(v["results"][0]["context_only"], true);
    assert!(v["results"][0]["confidence"].as_f64().unwrap() <= 0.5);
    assert_eq!(v["results"][0]["evidence"][0]["line"], 1);

    let text = stdout_of(&["analyze", "--playbooks", pack, log]);
    assert!(text.contains("guess       no failure text found"), "{text}");
    let md = stdout_of(&["analyze", "--playbooks", pack, "--format", "markdown", log]);
    assert!(md.contains("2 lines analysed; 0 playbooks matched, 1 guessed from context."), "{md}");

    // With the failure text it is a diagnosis: no guess marker, and a match.
    std::fs::write(log, "$ pip install x\nERROR: No matching distribution found for x\n").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&stdout_of(&["analyze", "--playbooks", pack, "--json", log])).unwrap();
    assert_eq!(v["matched"], true);
    assert_eq!(v["results"][0]["context_only"], false);
    assert!(!stdout_of(&["analyze", "--playbooks", pack, log]).contains("guess"));
}

#[test]
fn analyze_top_limits_results() {
    let count = |top: &str| {
        let out = stdout_of(&[
            "analyze",
            "--playbooks",
            PLAYBOOKS,
            "--json",
            "--top",
            top,
            &format!("{LOGS}/network.log"),
        ]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["results"].as_array().unwrap().len()
    };
    assert_eq!(count("1"), 1);
    assert_eq!(count("0"), 2);
}

#[test]
fn analyze_unreadable_input_is_one_line_and_exit_2() {
    for path in ["no/such/file.log", "tests"] {
        let out = faultline()
            .args(["analyze", "--playbooks", PLAYBOOKS, path])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(path), "{err}");
    }
}

#[test]
fn analyze_bad_flags_exit_2() {
    faultline().args(["analyze", "--format", "yaml", "x"]).assert().code(2);
    faultline().args(["analyze", "--no-such-flag"]).assert().code(2);
}

#[test]
fn analyze_with_invalid_playbooks_names_the_first_error_in_one_line() {
    let out = faultline()
        .args(["analyze", "--playbooks", "tests/fixtures/cli/bad", &format!("{LOGS}/healthy.log")])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1);
    assert!(err.contains("tests/fixtures/cli/bad/a/one.yaml:4:11: error: unknown severity"), "{err}");
    assert!(err.contains("and 3 more"), "{err}");
}

#[test]
fn bundled_catalog_is_used_by_default_and_pack_adds_to_it() {
    // The bundled catalog knows nothing of our test ids …
    let out = stdout_of(&["analyze", "--json", "--top", "0", &format!("{LOGS}/exec-format.log")]);
    assert!(!out.contains("\"exec-format\""));
    // … --pack adds them on top of it …
    let out = stdout_of(&[
        "analyze",
        "--pack",
        PLAYBOOKS,
        "--json",
        "--top",
        "0",
        &format!("{LOGS}/exec-format.log"),
    ]);
    assert!(out.contains("\"exec-format\""));
    // … and --playbooks replaces it.
    let listed = stdout_of(&["list", "--playbooks", PLAYBOOKS, "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed).unwrap().as_array().unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// explain

#[test]
fn explain_shows_every_section() {
    let out = stdout_of(&["explain", "--playbooks", PLAYBOOKS, "exec-format"]);
    insta::assert_snapshot!("explain_text", out);
    let md = stdout_of(&["explain", "--playbooks", PLAYBOOKS, "--format", "markdown", "exec-format"]);
    insta::assert_snapshot!("explain_markdown", md);
    let json = stdout_of(&["explain", "--playbooks", PLAYBOOKS, "--format", "json", "exec-format"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["match"]["any"][1]["regex"], "exited with code 12[67]");
    assert_eq!(v["fix"].as_array().unwrap().len(), 4);
}

#[test]
fn explain_unknown_id_suggests_near_ids_and_exits_2() {
    faultline()
        .args(["explain", "--playbooks", PLAYBOOKS, "exec-formt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean exec-format?"));
}

#[test]
fn explain_works_for_every_bundled_playbook() {
    let list = stdout_of(&["list", "--json"]);
    let ids: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&list)
        .unwrap()
        .into_iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.iter().any(|id| id == "entrypoint-misconfigured"));
    let out = stdout_of(&["explain", "entrypoint-misconfigured"]);
    for section in
        ["Summary", "Diagnosis", "Fix steps", "Validation", "Why it matters", "Prevention", "Log signals"]
    {
        assert!(out.contains(section), "missing {section}");
    }
    assert!(out.contains("docker inspect"));
}

// ---------------------------------------------------------------------------------------------
// list

#[test]
fn list_text_and_filters() {
    let out = stdout_of(&["list", "--playbooks", PLAYBOOKS]);
    insta::assert_snapshot!("list_text", out);
    let out = stdout_of(&["list", "--playbooks", PLAYBOOKS, "--category", "network", "--json"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v.iter().map(|p| p["id"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["conn-refused", "dns-lookup"]
    );
    faultline()
        .args(["list", "--playbooks", PLAYBOOKS, "--category", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("categories: network, runtime"));
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_reports_every_error_of_every_file_with_positions() {
    let out = faultline()
        .args(["check", "--playbooks", "tests/fixtures/cli/bad"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    insta::assert_snapshot!("check_errors", String::from_utf8(out.stdout).unwrap());
}

#[test]
fn check_warnings_exit_0_or_1_with_strict() {
    let out = faultline()
        .args(["check", "--playbooks", "tests/fixtures/cli/warn"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    insta::assert_snapshot!("check_warnings", String::from_utf8(out.stdout).unwrap());
    faultline().args(["check", "--strict", "--playbooks", "tests/fixtures/cli/warn"]).assert().code(1);
    faultline().args(["check", "--strict", "--playbooks", PLAYBOOKS]).assert().code(0);
}

#[test]
fn check_reports_duplicate_ids_across_directories() {
    faultline()
        .args(["check", "--playbooks", PLAYBOOKS, "--pack", PLAYBOOKS])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("duplicate id \"conn-refused\": already defined in tests/fixtures/cli/playbooks/network/conn-refused.yaml:1:5"));
}

#[test]
fn check_missing_directory_is_an_error() {
    faultline()
        .args(["check", "--playbooks", "no/such/dir"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("no/such/dir: error: cannot read playbook directory"));
}

#[test]
fn bundled_catalog_checks_clean_under_strict() {
    let out = faultline().args(["check", "--strict"]).assert().code(0).get_output().clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(" 0 errors, 0 warnings"), "{text}");
}

#[test]
fn version_and_help() {
    faultline().arg("--version").assert().success().stdout(predicate::str::starts_with("faultline "));
    faultline().arg("--help").assert().success().stdout(predicate::str::contains("analyze"));
}

// ---------------------------------------------------------------------------------------------
// trace and docs

#[test]
fn trace_explains_every_term_and_every_miss() {
    let out = stdout_of(&["trace", "--playbooks", PLAYBOOKS, &format!("{LOGS}/network.log")]);
    insta::assert_snapshot!("trace_all", out);
    let out = stdout_of(&[
        "trace",
        "--playbooks",
        PLAYBOOKS,
        "--playbook",
        "exec-format",
        &format!("{LOGS}/network.log"),
    ]);
    assert!(out.contains("not a candidate: no positive pattern found"), "{out}");
    faultline()
        .args(["trace", "--playbooks", PLAYBOOKS, "--playbook", "nope", &format!("{LOGS}/network.log")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no playbook with id \"nope\""));
}

#[test]
fn docs_writes_one_page_per_playbook_and_check_finds_stale_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    faultline().args(["docs", "--playbooks", PLAYBOOKS, "--out", out]).assert().success();
    let page = std::fs::read_to_string(dir.path().join("exec-format.md")).unwrap();
    insta::assert_snapshot!("docs_page", page);
    let index = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        index.contains("## network (2)")
            && index.contains("[Binary built for another CPU architecture](exec-format.md)")
    );
    faultline().args(["docs", "--playbooks", PLAYBOOKS, "--out", out, "--check"]).assert().success();
    std::fs::write(dir.path().join("dns-lookup.md"), "edited by hand").unwrap();
    std::fs::remove_file(dir.path().join("conn-refused.md")).unwrap();
    std::fs::write(dir.path().join("gone.md"), "old").unwrap();
    let err = faultline()
        .args(["docs", "--playbooks", PLAYBOOKS, "--out", out, "--check"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("stale:") && err.contains("dns-lookup.md"), "{err}");
    assert!(err.contains("missing:") && err.contains("conn-refused.md"), "{err}");
    assert!(err.contains("left over:") && err.contains("gone.md"), "{err}");
}
