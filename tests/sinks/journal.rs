//! The journal sink against a real systemd-journald, isolated in its own mount namespace by
//! `scripts/services/journald.sh` (called by `scripts/test.sh`), which exports where its socket
//! and its journal files are.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Daemon, Playbooks, SINK_PLAYBOOKS, append, bin, sink_summary, wait_for};

/// The isolated journald's socket and journal directory.
pub fn journald() -> (PathBuf, PathBuf) {
    let get = |var: &str| {
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            panic!(
                "{var} is not set: these tests need the isolated systemd-journald that scripts/test.sh starts \
                 (eval \"$(scripts/services/journald.sh start DIR)\")"
            )
        })
    };
    let socket = get("FAULTLINE_TEST_JOURNAL_SOCKET");
    assert!(socket.exists(), "no journald socket at {} (is the test journald running?)", socket.display());
    (socket, get("FAULTLINE_TEST_JOURNAL_DIR"))
}

/// A journal field as text: journalctl prints a string, or an array of bytes for values that
/// are not printable text.
pub fn field(entry: &Value, name: &str) -> String {
    match &entry[name] {
        Value::String(s) => s.clone(),
        Value::Array(bytes) => {
            String::from_utf8(bytes.iter().map(|b| b.as_u64().unwrap() as u8).collect()).unwrap()
        }
        other => panic!("field {name} is {other}"),
    }
}

/// The entries of finding `id`, read back with journalctl (polled, without -f).
pub fn entries(dir: &Path, id: &str) -> Vec<Value> {
    let out = Command::new("journalctl")
        .arg("-D")
        .arg(dir)
        .args(["-o", "json", "--all", "--no-pager"])
        .arg(format!("FAULTLINE_FINDING_ID={id}"))
        .output()
        .expect("run journalctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn entry_of(dir: &Path, id: &str) -> Value {
    wait_for(&format!("journal entry of finding {id}"), || entries(dir, id).into_iter().next())
}

#[test]
fn findings_reach_a_real_journald_with_every_field() {
    let (socket, journal_dir) = journald();
    let dir = tempfile::tempdir().unwrap();
    // The test playbooks, plus one whose fix makes an entry larger than 256 KiB.
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    for e in std::fs::read_dir(SINK_PLAYBOOKS).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), playbooks.join(e.file_name())).unwrap();
    }
    let big_step: String = (0..5000).map(|i| format!("step detail {i:05} {}\n", "x".repeat(50))).collect();
    assert!(big_step.len() > 256 * 1024);
    let yaml_step = big_step.lines().map(|l| format!("      {l}\n")).collect::<String>();
    std::fs::write(
        playbooks.join("huge.yaml"),
        format!(
            "id: huge\ntitle: Huge fix\ncategory: test\nseverity: medium\nmatch:\n  any: [giant failure]\nsummary: A big one.\ndiagnosis: Test.\nfix:\n  - |\n{yaml_step}validation: [None.]\nwhy_it_matters: Tests the memfd path.\nprevention: [None.]\nthreshold:\n  settle: 0s\n"
        ),
    )
    .unwrap();

    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks(&[playbooks.to_str().unwrap()]),
        &["--journal-socket", socket.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, "disk write failed on /data\nquota exceeded for user app\n");
    let f = d.finding("quota");
    append(&log, "giant failure\n");
    let big = d.finding("huge");

    let e = entry_of(&journal_dir, f["id"].as_str().unwrap());
    let path = log.to_str().unwrap();
    let expect = [
        (
            "MESSAGE",
            format!("Disk quota exceeded on {path} (confidence {:.2})", f["confidence"].as_f64().unwrap()),
        ),
        ("PRIORITY", "2".into()),
        ("SYSLOG_IDENTIFIER", "faultline".into()),
        ("FAULTLINE_PLAYBOOK", "quota".into()),
        ("FAULTLINE_CATEGORY", "test".into()),
        ("FAULTLINE_SEVERITY", "critical".into()),
        ("FAULTLINE_CONFIDENCE", format!("{:.2}", f["confidence"].as_f64().unwrap())),
        ("FAULTLINE_STREAM", path.into()),
        ("FAULTLINE_STREAM_KIND", "file".into()),
        ("FAULTLINE_HOST", f["host"].as_str().unwrap().into()),
        ("FAULTLINE_FINDING_ID", f["id"].as_str().unwrap().into()),
        ("FAULTLINE_EVIDENCE", "disk write failed on /data\nquota exceeded for user app".into()),
        ("FAULTLINE_FIX", "1. Raise the quota.\n2. Delete old files.".into()),
    ];
    for (name, value) in expect {
        assert_eq!(field(&e, name), value, "field {name}");
    }
    assert_eq!(f["evidence"].as_array().unwrap().len(), 2, "a multi-line evidence value");

    let e = entry_of(&journal_dir, big["id"].as_str().unwrap());
    let fix = field(&e, "FAULTLINE_FIX");
    assert!(fix.len() > 256 * 1024, "the whole entry arrived ({} bytes of fix)", fix.len());
    assert_eq!(fix, format!("1. {}", big_step.trim_end()));
    assert_eq!(field(&e, "PRIORITY"), "4");
    d.wait_log("Journal entry too large for a datagram; sent through a memfd.");
    let (_, log) = d.stop_with_log();
    let s = sink_summary(&log, "journal");
    assert_eq!((s["sent"].as_u64(), s["queued"].as_u64()), (Some(2), Some(0)));
}

#[test]
fn asking_for_the_journal_without_its_socket_fails_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-journald/socket");
    let out = Command::new(bin())
        .args(["watch", "--playbooks", SINK_PLAYBOOKS, "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--journal-socket")
        .arg(&missing)
        .arg(dir.path().join("app.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("faultline:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&missing.display().to_string()) && lines[0].contains("does not exist"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
