//! `faultline watch` against real files, real processes and real signals, with the built binary.
//!
//! Every test waits on events (a finding appearing, a log line on stderr) with a deadline, never
//! on fixed sleeps; absence is proven by a later sentinel finding: the daemon handles a stream's
//! lines in order, so once the sentinel written after them is reported, they were all seen.
//! Line accounting uses the "Stream summary." log line each stream prints when it stops.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn appended_lines_are_followed_and_reported_with_true_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, &numbered(0, 5));
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, &numbered(5, 8));
    append(&log, "FATAL BOOM in worker 3\n");
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["line"], 9, "line numbers count the lines before the start position");
    assert_eq!(f["stream"]["kind"], "file");
    let context: Vec<u64> =
        f["context"].as_array().unwrap().iter().map(|c| c["line"].as_u64().unwrap()).collect();
    assert_eq!(context, vec![6, 7, 8], "lines before the start position are not context");
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), 4, "started at the end: 3 numbered lines and the boom line");
}

#[test]
fn a_relative_path_is_followed_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("logs")).unwrap();
    let log = dir.path().join("logs/app.log");
    File::create(&log).unwrap();
    // `watch logs/app.log` and a relative glob, as typed in a shell.
    let mut d = Daemon::start_in(
        dir.path(),
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["logs/app.log", "logs/*.txt"],
    );
    append(&log, "FATAL BOOM in worker 3\n");
    let f = d.finding("boom");
    assert_eq!(f["stream"]["path"], log.display().to_string(), "the stream is named by its absolute path");
    let txt = dir.path().join("logs/new.txt");
    append(&txt, "sentinel-1 reached\n");
    let f = d.finding("sentinel");
    assert_eq!(f["stream"]["path"], txt.display().to_string());
    d.stop();
}

#[test]
fn rename_rotation_with_writes_racing_the_rename_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()]);
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    let mut written = 0;
    for round in 0..5 {
        writer.write_all(numbered(written, written + 200).as_bytes()).unwrap();
        written += 200;
        // Rotate: rename, then keep writing to the old file for a moment, as a writer that has
        // not reopened yet does.
        let rotated = dir.path().join(format!("app.log.{round}"));
        fs::rename(&log, &rotated).unwrap();
        writer.write_all(numbered(written, written + 50).as_bytes()).unwrap();
        written += 50;
        writer = OpenOptions::new().create(true).append(true).open(&log).unwrap();
        writer.write_all(numbered(written, written + 10).as_bytes()).unwrap();
        written += 10;
    }
    writer.write_all(b"sentinel-1 reached\n").unwrap();
    written += 1;
    d.finding("sentinel");
    let log_lines = d.log_messages();
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), written as u64, "summaries: {summaries:?}\nlog: {log_lines:#?}");
}

/// Writes `rounds` rename rotations of `log` (each file gets 200 lines, is renamed, gets 50 more
/// through the old handle; the new file gets 10), returning how many lines were written.
fn rotate_rapidly(log: &std::path::Path, rounds: usize, written: &mut usize) {
    let mut writer = OpenOptions::new().append(true).open(log).unwrap();
    for round in 0..rounds {
        writer.write_all(numbered(*written, *written + 200).as_bytes()).unwrap();
        *written += 200;
        fs::rename(log, log.with_extension(format!("log.{round}"))).unwrap();
        writer.write_all(numbered(*written, *written + 50).as_bytes()).unwrap();
        *written += 50;
        writer = OpenOptions::new().create(true).append(true).open(log).unwrap();
        writer.write_all(numbered(*written, *written + 10).as_bytes()).unwrap();
        *written += 10;
    }
}

#[test]
fn files_rotated_away_just_before_a_stop_are_read() {
    // The daemon is frozen while the file is rotated five times, then told to stop: the rename
    // events and the stop arrive together. The files renamed away are named by those events
    // only; across the stop and a restart, every line is read once.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    d.signal(libc::SIGSTOP);
    let mut written = 0;
    rotate_rapidly(&log, 5, &mut written);
    d.signal(libc::SIGTERM);
    d.signal(libc::SIGCONT);
    let (_, s1) = d.wait();
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, "sentinel-1 reached\n");
    written += 1;
    d.finding("sentinel");
    let (_, s2) = d.stop();
    let all: u64 = s1.iter().chain(&s2).filter_map(|s| s["lines"].as_u64()).sum();
    assert_eq!(all, written as u64, "first run: {s1:?}\nsecond run: {s2:?}");
}

#[test]
fn a_rotated_file_read_before_a_stop_is_not_read_again_after_the_next_rotation() {
    // Run 1 reads app.log, sees it rotated to app.log.0, reads that to its end and closes it.
    // While stopped, app.log is rotated again. Run 2 looks for files that were at the path since
    // run 1 opened it: app.log.1 is one, app.log.0 was read already.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let cfg = config(dir.path(), "limits:\n  rotate_wait: 200ms\n");
    let args = ["--config", cfg.to_str().unwrap(), log.to_str().unwrap()];
    let mut d = Daemon::start(&state, Playbooks::WATCH, &args);
    append(&log, &numbered(0, 100));
    fs::rename(&log, log.with_extension("log.0")).unwrap();
    append(&log, &numbered(100, 110));
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    d.wait_log("Closed rotated file.");
    let (_, s1) = d.stop();
    fs::rename(&log, log.with_extension("log.1")).unwrap();
    append(&log, &numbered(111, 116));
    append(&log, "sentinel-2 reached\n");
    let mut d = Daemon::start(&state, Playbooks::WATCH, &args);
    d.finding("sentinel");
    let (_, s2) = d.stop();
    assert_eq!(lines_of(&s1, &log), 111, "{s1:?}");
    assert_eq!(lines_of(&s2, &log), 6, "only the lines written while stopped: {s2:?}");
}

#[test]
fn copytruncate_is_detected_and_the_file_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, &numbered(0, 100));
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, &numbered(0, 30));
    append(&log, "sentinel-2 reached\n");
    let f = d.finding("sentinel");
    assert_eq!(f["evidence"][0]["line"], 31, "line numbers restart with the rewritten file");
    d.wait_log("File was truncated or rewritten; reading it from the start.");
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), 101 + 31);
}

#[test]
fn delete_and_recreate_follows_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, &numbered(0, 20));
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    fs::remove_file(&log).unwrap();
    append(&log, &numbered(0, 20));
    append(&log, "FATAL BOOM\n");
    d.finding("boom");
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), 21 + 21);
}

#[test]
fn a_file_appearing_after_start_is_read_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let glob = format!("{}/*.log", logs.display());
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[&glob]);
    let late = logs.join("late.log");
    append(&late, &numbered(0, 3));
    append(&late, "FATAL BOOM\n");
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["line"], 4);
    assert_eq!(f["context"].as_array().unwrap().len(), 3, "earlier lines of a new file are context");
    // The glob gains a second file.
    let other = logs.join("other.log");
    append(&other, "sentinel-1 reached\n");
    let f = d.finding("sentinel");
    assert_eq!(f["stream"]["path"], other.display().to_string());
    // Compressed rotations are never read.
    fs::write(logs.join("old.log.gz"), b"\x1f\x8bFATAL BOOM\n").unwrap();
    append(&other, "sentinel-2 reached\n");
    d.finding("sentinel");
    let (seen, _) = d.stop();
    assert_eq!(seen.iter().filter(|f| f["playbook"]["id"] == "boom").count(), 1);
}

#[test]
fn restart_resumes_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, &numbered(0, 50));
    append(&log, "FATAL BOOM\n");
    d.finding("boom");
    let (_, s1) = d.stop();
    // Written while faultline is down.
    append(&log, &numbered(50, 80));
    append(&log, "sentinel-1 reached\n");
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    let f = d.finding("sentinel");
    assert_eq!(f["evidence"][0]["line"], 82);
    let (seen, s2) = d.stop();
    assert_eq!(lines_of(&s1, &log), 51);
    assert_eq!(lines_of(&s2, &log), 31, "only what was written while stopped");
    assert!(seen.iter().all(|f| f["playbook"]["id"] != "boom"), "the boom finding is not repeated");
}

#[test]
fn kill_9_then_restart_skips_no_line_and_repeats_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    append(&log, &numbered(0, 200));
    append(&log, "FATAL BOOM\n");
    let boom = d.finding("boom");
    append(&log, &numbered(200, 400));
    let _ = d.kill9();
    append(&log, &numbered(400, 450));
    append(&log, "sentinel-1 reached\n");
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    let f = d.finding("sentinel");
    assert_eq!(f["evidence"][0]["line"], 452, "numbering continues from the checkpoint");
    let (seen, s2) = d.stop();
    assert!(
        seen.iter().all(|f| f["playbook"]["id"] != "boom" && f["id"] != boom["id"]),
        "the finding emitted before the crash is not emitted again: {seen:?}"
    );
    // Every line after the checkpoint was read: the restart resumed at or before line 202 and
    // read to the end (line 452).
    let read = lines_of(&s2, &log);
    assert!((251..=251 + 200).contains(&read), "read {read} lines after the restart");
}

#[test]
fn a_partial_last_line_waits_for_its_newline_or_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let config = dir.path().join("faultline.yaml");
    fs::write(&config, "limits:\n  partial_line_timeout: 300ms\n").unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--config", config.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, "FATAL BO");
    append(&log, "OM (completed later)\n");
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM (completed later)");
    append(&log, "sentinel-1 reached"); // no newline: emitted after the idle timeout
    d.finding("sentinel");
    d.stop();
}

#[test]
fn a_ten_megabyte_line_is_cut_and_binary_garbage_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()]);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&vec![b'x'; 10 << 20]).unwrap();
    f.write_all(b"\n").unwrap();
    let mut garbage: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    garbage.push(b'\n');
    f.write_all(&garbage).unwrap();
    f.write_all(b"\xff\xfe\x00 FATAL BOOM \x00\xc3\x28\n").unwrap();
    let boom = d.finding("boom");
    assert!(boom["evidence"][0]["text"].as_str().unwrap().contains("FATAL BOOM"));
    let (_, summaries) = d.stop();
    let s = summaries.iter().find(|s| s["path"] == log.display().to_string()).unwrap();
    assert!(s["lines_cut"].as_u64().unwrap() >= 1, "{s}");
}

#[test]
fn a_backlog_larger_than_one_read_round_is_read_to_its_end_without_further_writes() {
    // 20 MB already there, read with --from-start: the tailer reads it in rounds (fairness
    // between files), and no file event will come to prompt the rounds after the first.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("backlog.log");
    let mut text = numbered(0, 400_000);
    text.push_str("FATAL BOOM at the very end\n");
    assert!(text.len() > 16 << 20, "{}", text.len());
    append(&log, &text);
    let mut d =
        Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &["--from-start", log.to_str().unwrap()]);
    let boom = d.finding("boom");
    assert_eq!(boom["evidence"][0]["line"], 400_001);
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), 400_001);
}

#[test]
fn stdin_pipe_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["watch", "--format", "json", "--playbooks", WATCH_PLAYBOOKS, "--state-dir"])
        .arg(dir.path())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(numbered(0, 10).as_bytes()).unwrap();
        stdin.write_all(b"FATAL BOOM from a pipe\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let findings: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["stream"]["kind"], "stdin");
    assert_eq!(findings[0]["evidence"][0]["line"], 11);
}

#[test]
fn an_exec_command_that_exits_is_restarted_with_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--exec", "sh -c 'echo FATAL BOOM; echo to stderr >&2; exit 3'"],
    );
    let f = d.finding("boom");
    assert_eq!(f["stream"]["kind"], "exec");
    let end = Instant::now() + DEADLINE;
    while d.count_log("Command exited; restarting.") < 2 {
        assert!(Instant::now() < end, "not restarted twice: {:?}", d.log_messages());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (seen, _) = d.stop();
    assert_eq!(
        seen.iter().filter(|f| f["playbook"]["id"] == "boom").count(),
        1,
        "one finding, then cooldown"
    );
}

#[test]
fn thresholds_count_settle_veto_and_cooldown_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let config = dir.path().join("faultline.yaml");
    fs::write(&config, "thresholds:\n  playbooks:\n    boom: {cooldown: 2s}\n").unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--config", config.to_str().unwrap(), log.to_str().unwrap()],
    );
    // count 3 within the window: two are not enough …
    append(&log, "connection refused\nconnection refused\nsentinel-1 reached\n");
    d.finding("sentinel");
    // … the third is.
    append(&log, "connection refused\n");
    let f = d.finding("burst");
    assert_eq!(f["count"], 3);
    // Cooldown with repeats.
    append(&log, "FATAL BOOM\n");
    assert_eq!(d.finding("boom")["repeats"], 0);
    append(&log, "FATAL BOOM\nFATAL BOOM\nFATAL BOOM\n");
    std::thread::sleep(Duration::from_millis(2100)); // let the 2 s cooldown run out
    append(&log, "FATAL BOOM\n");
    let again = d.finding("boom");
    assert_eq!(again["repeats"], 3);
    let (seen, _) = d.stop();
    assert_eq!(seen.iter().filter(|f| f["playbook"]["id"] == "burst").count(), 1);
    assert_eq!(seen.iter().filter(|f| f["playbook"]["id"] == "boom").count(), 2);
}

#[test]
fn a_veto_during_settle_cancels_the_finding() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    // Settle long enough for the veto to arrive during it.
    let config = dir.path().join("faultline.yaml");
    fs::write(&config, "thresholds:\n  playbooks:\n    burst: {settle: 1s}\n").unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--config", config.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, "connection refused\nconnection refused\nconnection refused\ndb connected after retry\n");
    // Wait past the settle time, then prove every line was handled with a sentinel.
    std::thread::sleep(Duration::from_millis(1300));
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    let (seen, _) = d.stop();
    assert!(seen.iter().all(|f| f["playbook"]["id"] != "burst"), "vetoed: {seen:?}");
}

#[test]
fn a_closed_stderr_does_not_stop_the_daemon() {
    // A supervisor that stops reading the daemon's log (its pipe closed) must not kill it: the
    // log is lost, findings are not.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    File::create(&log).unwrap();
    let mut child = Command::new(bin())
        .args([
            "watch",
            "--format",
            "json",
            "--log-level",
            "debug",
            "--playbooks",
            WATCH_PLAYBOOKS,
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    // Written until read: the daemon may start following after the first lines.
    let mut line = String::new();
    let reader = std::thread::spawn(move || {
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        line
    });
    let end = Instant::now() + DEADLINE;
    while !reader.is_finished() {
        assert!(Instant::now() < end, "no finding with stderr closed");
        append(&log, "FATAL BOOM in worker 3\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    let first: Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(first["playbook"]["id"], "boom");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
}
