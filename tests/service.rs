//! Running as a service: the systemd unit, the notify/watchdog protocol, reload (SIGHUP),
//! shutdown (SIGTERM) with lines flowing, and the metrics/health listener — all with the built
//! binary and real signals.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

fn unit_for_test(dir: &Path) -> std::path::PathBuf {
    let unit = fs::read_to_string("systemd/faultline.service").unwrap();
    let path = dir.join("faultline.service");
    fs::write(&path, unit.replace("/usr/local/bin/faultline", bin().to_str().unwrap())).unwrap();
    path
}

#[test]
fn the_unit_verifies_without_a_single_warning() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_2() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out =
        Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line =
        text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let level: f64 = line.split(": ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    println!("{line}");
    assert!(level <= 2.0, "{line}");
}

/// Collects the datagrams faultline sends to `NOTIFY_SOCKET`.
fn notify_listener(path: &Path) -> Arc<Mutex<Vec<String>>> {
    let sock = UnixDatagram::bind(path).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            sink.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    got
}

#[test]
fn notify_protocol_ready_status_watchdog_reloading_stopping_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("notify.sock");
    let got = notify_listener(&sock);
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let env = [("NOTIFY_SOCKET", sock.to_str().unwrap()), ("WATCHDOG_USEC", "1000000")];
    let d = Daemon::start_with(&dir.path().join("state"), Playbooks::WATCH, &[log.to_str().unwrap()], &env);
    let has =
        |got: &Arc<Mutex<Vec<String>>>, what: &str| got.lock().unwrap().iter().any(|m| m.contains(what));
    wait_until("two WATCHDOG=1", || {
        got.lock().unwrap().iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2
    });
    wait_until("STATUS=", || has(&got, "STATUS=following"));
    d.signal(libc::SIGHUP);
    d.wait_log("Reloaded.");
    wait_until("READY=1 after the reload", || {
        got.lock().unwrap().iter().filter(|m| m.contains("READY=1")).count() == 2
    });
    let (_, _) = d.stop();
    wait_until("STOPPING=1", || has(&got, "STOPPING=1"));
    let messages = got.lock().unwrap().clone();
    let first = |what: &str| {
        messages.iter().position(|m| m.contains(what)).unwrap_or_else(|| panic!("no {what}: {messages:?}"))
    };
    let ready = first("READY=1");
    let reloading = first("RELOADING=1");
    let ready_again = messages.iter().rposition(|m| m.contains("READY=1")).unwrap();
    let stopping = first("STOPPING=1");
    assert!(ready < first("WATCHDOG=1") && ready < first("STATUS="), "{messages:?}");
    assert!(ready < reloading && reloading < ready_again && ready_again < stopping, "{messages:?}");
    assert!(messages[reloading].contains("MONOTONIC_USEC="), "{messages:?}");
    assert!(
        messages.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2,
        "the watchdog keeps being fed"
    );
}

fn write_playbook(dir: &Path, id: &str, pattern: &str) {
    fs::write(
        dir.join(format!("{id}.yaml")),
        format!("id: {id}\ntitle: {id}\ncategory: test\nseverity: high\nmatch:\n  any: ['{pattern}']\nthreshold:\n  settle: 0s\n"),
    )
    .unwrap();
}

#[test]
fn reload_adds_a_playbook_keeps_running_on_an_invalid_one_and_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra");
    fs::create_dir(&extra).unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--playbooks", extra.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, &numbered(0, 100));
    append(&log, "disk quota surprise\n"); // nothing knows this yet
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    // A new playbook, then SIGHUP: the next such line is diagnosed.
    write_playbook(&extra, "quota", "disk quota surprise");
    d.signal(libc::SIGHUP);
    d.wait_log("Reloaded.");
    append(&log, &numbered(100, 200));
    append(&log, "disk quota surprise again\n");
    let f = d.finding("quota");
    assert_eq!(f["evidence"][0]["line"], 203);
    // An invalid file: the reload is refused and the running set stays.
    fs::write(extra.join("broken.yaml"), "id: broken\ntitle: [unclosed\n").unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("Reload failed; the running configuration stays.");
    append(&log, "FATAL BOOM\n");
    d.finding("boom");
    let (_, summaries) = d.stop();
    assert_eq!(lines_of(&summaries, &log), 204, "every line read exactly once across the reloads");
}

#[test]
fn reload_adds_a_source_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "").unwrap();
    fs::write(&b, "").unwrap();
    let config = dir.path().join("faultline.yaml");
    let sources = |paths: &[&Path]| {
        let list: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
        format!("sources:\n  - type: file\n    name: logs\n    paths: [{}]\n", list.join(", "))
    };
    fs::write(&config, sources(&[&a])).unwrap();
    let mut d =
        Daemon::start(&dir.path().join("state"), Playbooks::WATCH, &["--config", config.to_str().unwrap()]);
    append(&b, "FATAL BOOM in b\n");
    append(&a, "sentinel-1 reached\n");
    d.finding("sentinel");
    // Add b as a second source.
    let mut cfg = sources(&[&a]);
    cfg.push_str(&format!(
        "  - type: file\n    name: more\n    paths: ['{}']\n    start: beginning\n",
        b.display()
    ));
    fs::write(&config, cfg).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_log("Reloaded.");
    let f = d.finding("boom");
    assert_eq!(f["stream"]["path"], b.display().to_string());
    d.stop();
}

#[test]
fn shutdown_while_lines_are_flowing_loses_none_and_reads_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    let path = log.clone();
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        for i in 0..20_000 {
            writeln!(f, "2024-05-01T10:00:00Z worker {i} processed a job").unwrap();
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(30)); // stop it in the middle of the flow
    let (_, first) = d.stop();
    writer.join().unwrap();
    append(&log, "sentinel-1 reached\n");
    let mut d = Daemon::start(&state, Playbooks::WATCH, &[log.to_str().unwrap()]);
    d.finding("sentinel");
    let (_, second) = d.stop();
    let (a, b) = (lines_of(&first, &log), lines_of(&second, &log));
    assert!(a > 0 && a < 20_001, "the first run stopped mid-flow ({a} lines)");
    assert_eq!(a + b, 20_001, "first run {a} + second run {b} lines");
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (status, body)
}

fn metric(body: &str, name: &str, label: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}{{{label}}} in\n{body}"))
}

#[test]
fn metrics_validate_with_promtool_and_move_as_lines_flow() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::WATCH,
        &["--listen", &addr, log.to_str().unwrap()],
    );
    assert_eq!(http_get(port, "/healthz").0, 200);
    assert_eq!(http_get(port, "/readyz").0, 200);
    let (status, before) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    let text = numbered(0, 1000) + "FATAL BOOM\n";
    append(&log, &text);
    d.finding("boom");
    let (_, after) = http_get(port, "/metrics");
    let lines = |body: &str| metric(body, "faultline_source_lines_total", "kind=\"file\"");
    assert_eq!(lines(&after) - lines(&before), 1001.0);
    let bytes = |body: &str| metric(body, "faultline_source_bytes_total", "kind=\"file\"");
    assert_eq!(bytes(&after) - bytes(&before), text.len() as f64);
    assert_eq!(metric(&after, "faultline_findings_total", "playbook=\"boom\""), 1.0);
    assert_eq!(metric(&after, "faultline_open_files", "kind=\"file\""), 1.0);
    wait_until("the stdout sink to count its finding", || {
        http_get(port, "/metrics").1.contains("faultline_sink_sent_total{sink=\"stdout\"} 1")
    });
    let (_, after) = http_get(port, "/metrics");
    assert!(after.contains("faultline_build_info{version="), "{after}");
    assert!(after.contains("faultline_reloads_total{result=\"ok\"} 0"), "{after}");
    // promtool validates the exposition format (and its naming conventions).
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (Debian package `prometheus`; scripts/test.sh installs it)");
    promtool.stdin.take().unwrap().write_all(after.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    d.signal(libc::SIGHUP);
    d.wait_log("Reloaded.");
    let (_, reloaded) = http_get(port, "/metrics");
    assert!(reloaded.contains("faultline_reloads_total{result=\"ok\"} 1"), "{reloaded}");
    d.stop();
}
