//! Container log files followed by `faultline watch` (the built binary, real files): Kubernetes
//! CRI files under `/var/log/pods`, Docker's json-file logs, kubelet's rotation, multi-line
//! records (stack traces) and their checkpoints.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Daemon, Playbooks, append, bin, sentinels};
use serde_json::Value;

/// A CRI line stamped 2026-11-26T10:00:SS.mmm.
fn cri(sec: u32, milli: u32, stream: &str, tag: &str, msg: &str) -> String {
    format!("2026-11-26T10:00:{sec:02}.{milli:03}456789Z {stream} {tag} {msg}\n")
}

/// A docker json-file line stamped 2026-11-26T10:00:SS.
fn json(sec: u32, stream: &str, log: &str) -> String {
    let line =
        serde_json::json!({"log": log, "stream": stream, "time": format!("2026-11-26T10:00:{sec:02}.5Z")});
    format!("{line}\n")
}

fn pod_dir(root: &Path) -> PathBuf {
    let dir = root.join("var/log/pods/shop_cart-7d9f_0b1c2d3e-aaaa-bbbb/app");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn count(findings: &[Value], playbook: &str) -> usize {
    findings.iter().filter(|f| f["playbook"]["id"] == playbook).count()
}

#[test]
fn cri_pod_logs_join_partial_lines_keep_their_time_and_carry_the_pod_identity() {
    let dir = tempfile::tempdir().unwrap();
    let log = pod_dir(dir.path()).join("0.log");
    fs::write(&log, "").unwrap();
    let glob = format!("{}/var/log/pods/*/*/*.log", dir.path().display());
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::CONTAINERS, &["--multiline", &glob]);
    append(&log, &(cri(1, 0, "stdout", "P", "FATAL ") + &cri(1, 1, "stdout", "F", "BOOM in cart")));
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM in cart", "the P fragment is joined to its F line");
    assert_eq!(f["evidence"][0]["line"], 1);
    assert_eq!(f["evidence"][0]["time"], "2026-11-26T10:00:01.000Z", "the log's own timestamp");
    let labels = &f["stream"]["labels"];
    assert_eq!(labels["namespace"], "shop");
    assert_eq!(labels["pod"], "cart-7d9f");
    assert_eq!(labels["container"], "app");
    assert_eq!(labels["pod_uid"], "0b1c2d3e-aaaa-bbbb");
    assert_eq!(f["stream"]["path"], log.display().to_string());

    // A stack trace on stdout with a stderr line in the middle: one record, without it.
    append(
        &log,
        &[
            cri(2, 0, "stdout", "F", "java.lang.IllegalStateException: cart is locked"),
            cri(2, 1, "stderr", "F", "warn: retrying payment"),
            cri(2, 2, "stdout", "F", "\tat com.example.cart.Checkout.run(Checkout.java:42)"),
            cri(2, 3, "stdout", "F", "\tat com.example.http.Server.handle(Server.java:7)"),
            cri(2, 4, "stdout", "F", "INFO next request"),
        ]
        .concat(),
    );
    let f = d.finding("trace");
    assert_eq!(
        f["evidence"][0]["text"],
        "java.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)\n\tat com.example.http.Server.handle(Server.java:7)"
    );
    assert_eq!(f["evidence"].as_array().unwrap().len(), 1, "both patterns are in the one record");
    assert_eq!(f["evidence"][0]["line"], 3, "a record is numbered by its first line");
    assert_eq!(f["evidence"][0]["time"], "2026-11-26T10:00:02.000Z");
    d.stop();
}

#[test]
fn docker_json_files_join_partial_lines_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let id = "4f6a2b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a";
    let cdir = dir.path().join("containers").join(id);
    fs::create_dir_all(&cdir).unwrap();
    let log = cdir.join(format!("{id}-json.log"));
    fs::write(&log, "").unwrap();
    let glob = format!("{}/containers/*/*-json.log", dir.path().display());
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::CONTAINERS, &[&glob]);
    // Docker splits long messages: a chunk without its trailing newline continues on the next
    // chunk of the same stream, whatever the other stream writes meanwhile.
    append(
        &log,
        &[
            json(1, "stdout", "FATAL "),
            json(2, "stderr", "warn: an unrelated line\n"),
            json(3, "stdout", "BOOM\n"),
        ]
        .concat(),
    );
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM");
    assert_eq!(f["evidence"][0]["time"], "2026-11-26T10:00:01.500Z");
    assert_eq!(f["evidence"][0]["line"], 1);
    append(&log, &json(4, "stdout", "sentinel-1 reached\n"));
    d.finding("sentinel");
    d.stop();
}

#[test]
fn kubelet_rotation_never_reads_a_line_twice_nor_compressed_files() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod_dir(dir.path());
    let log = pod.join("0.log");
    fs::write(&log, "").unwrap();
    let config = dir.path().join("faultline.yaml");
    fs::write(&config, "limits:\n  rotate_wait: 300ms\n").unwrap();
    // A glob that matches the rotated names too: they must still be read once, as the rotated
    // file of 0.log.
    let glob = format!("{}/var/log/pods/*/*/*", dir.path().display());
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &["--config", config.to_str().unwrap(), &glob],
    );
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    writer.write_all(cri(1, 0, "stdout", "F", "FATAL BOOM before the rotation").as_bytes()).unwrap();
    writer.write_all(cri(1, 1, "stdout", "F", "sentinel-1 reached").as_bytes()).unwrap();
    d.finding("sentinel");
    // kubelet: rename to 0.log.<timestamp>, the runtime writes a little more to the old file,
    // then a new 0.log.
    let rotated = pod.join("0.log.20261126-100002");
    fs::rename(&log, &rotated).unwrap();
    writer.write_all(cri(2, 0, "stdout", "F", "sentinel-2 reached").as_bytes()).unwrap();
    append(&log, &cri(3, 0, "stdout", "F", "sentinel-3 reached"));
    d.finding_where("sentinel", |f| f["evidence"][0]["text"] == "sentinel-3 reached");
    d.wait_log("Closed rotated file.");
    // Later passes see the rotated file under its new name: it was read already.
    append(&log, &cri(4, 0, "stdout", "F", "sentinel-4 reached"));
    d.finding_where("sentinel", |f| f["evidence"][0]["text"] == "sentinel-4 reached");
    // kubelet compresses it: the .gz is never read.
    let gz = pod.join("0.log.20261126-100002.gz");
    fs::write(&gz, cri(5, 0, "stdout", "F", "FATAL BOOM in a compressed file")).unwrap();
    fs::remove_file(&rotated).unwrap();
    append(&log, &cri(6, 0, "stdout", "F", "sentinel-5 reached"));
    d.finding_where("sentinel", |f| f["evidence"][0]["text"] == "sentinel-5 reached");
    let (seen, summaries) = d.stop();
    let mut got = sentinels(&seen);
    got.sort();
    assert_eq!(got, vec![1, 2, 3, 4, 5], "every line read once");
    assert_eq!(count(&seen, "boom"), 1);
    let paths: Vec<&str> = summaries.iter().filter_map(|s| s["path"].as_str()).collect();
    assert_eq!(paths, vec![log.to_str().unwrap()], "one stream: the rotated names are not followed");
}

#[test]
fn a_symlinked_container_log_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = pod_dir(dir.path()).join("0.log");
    fs::write(&log, "").unwrap();
    let links = dir.path().join("var/log/containers");
    fs::create_dir_all(&links).unwrap();
    let id = "4f6a2b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a";
    let link = links.join(format!("cart-7d9f_shop_app-{id}.log"));
    std::os::unix::fs::symlink(&log, &link).unwrap();
    let pods = format!("{}/var/log/pods/*/*/*.log", dir.path().display());
    let containers = format!("{}/var/log/containers/*.log", dir.path().display());
    let mut d = Daemon::start(&dir.path().join("state"), Playbooks::CONTAINERS, &[&pods, &containers]);
    append(&log, &cri(1, 0, "stdout", "F", "sentinel-1 reached"));
    let f = d.finding("sentinel");
    let labels = &f["stream"]["labels"];
    assert_eq!((labels["namespace"].as_str(), labels["pod"].as_str()), (Some("shop"), Some("cart-7d9f")));
    assert_eq!(labels["container"], "app");
    append(&log, &cri(2, 0, "stdout", "F", "sentinel-2 reached"));
    d.finding_where("sentinel", |f| f["evidence"][0]["text"] == "sentinel-2 reached");
    let (seen, summaries) = d.stop();
    assert_eq!(sentinels(&seen), vec![1, 2]);
    assert_eq!(summaries.len(), 1, "one stream for the file and its symlink: {summaries:?}");
}

#[test]
fn a_stack_trace_is_one_record_flushed_on_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "").unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &["--multiline", log.to_str().unwrap()],
    );
    // No line follows the trace: it is complete once the multi-line timeout passes.
    append(
        &log,
        "2026-11-26 10:00:00 ERROR request failed\njava.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)\nCaused by: java.io.IOException: lock held\n\t... 12 more\n",
    );
    let f = d.finding("trace");
    assert_eq!(
        f["evidence"][0]["text"],
        "java.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)\nCaused by: java.io.IOException: lock held\n\t... 12 more"
    );
    assert_eq!(f["evidence"][0]["line"], 2);
    assert_eq!(f["context"][0]["text"], "2026-11-26 10:00:00 ERROR request failed");
    d.stop();
}

#[test]
fn a_held_record_is_flushed_at_the_end_of_the_stream_and_text_output_indents_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    fs::write(&log, "java.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)\n")
        .unwrap();
    let out = std::process::Command::new(bin())
        .args(["watch", "--once", "--from-start", "--multiline", "--state-dir"])
        .arg(dir.path().join("state"))
        .args(Playbooks::CONTAINERS.args())
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  > L1  java.lang.IllegalStateException: cart is locked\n        \tat com.example.cart.Checkout.run(Checkout.java:42)\n"),
        "{text}"
    );
    // Without --multiline (the default), every line is its own record: the exception line alone
    // is reported, before its frame is read.
    let out = std::process::Command::new(bin())
        .args(["watch", "--once", "--from-start", "--format", "json", "--state-dir"])
        .arg(dir.path().join("state2"))
        .args(Playbooks::CONTAINERS.args())
        .arg(&log)
        .output()
        .unwrap();
    let first = out.stdout.split(|&b| b == b'\n').next().unwrap();
    let f: Value = serde_json::from_slice(first).unwrap();
    assert_eq!(f["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(f["evidence"][0]["text"], "java.lang.IllegalStateException: cart is locked");
}

#[test]
fn a_restart_with_a_record_held_resumes_before_it_and_matches_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr-json.log");
    fs::write(&log, "").unwrap();
    // Records are only ever completed by the line that follows them here.
    let config = dir.path().join("faultline.yaml");
    fs::write(
        &config,
        format!(
            "sources:\n  - type: file\n    paths: ['{}']\n    format: docker-json\n    multiline:\n      timeout: 1h\n",
            log.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let cfg = ["--config", config.to_str().unwrap()];
    let mut d = Daemon::start(&state, Playbooks::CONTAINERS, &cfg);
    append(
        &log,
        &[
            json(1, "stdout", "java.lang.IllegalStateException: cart is locked\n"),
            json(2, "stderr", "sentinel-1 reached\n"),
            json(3, "stderr", "sentinel-2 reached\n"),
        ]
        .concat(),
    );
    // sentinel-1 is complete (sentinel-2 followed it); the trace's head and sentinel-2 are held.
    d.finding("sentinel");
    let (first, _) = d.stop();
    let mut d = Daemon::start(&state, Playbooks::CONTAINERS, &cfg);
    append(
        &log,
        &[
            json(4, "stdout", "\tat com.example.cart.Checkout.run(Checkout.java:42)\n"),
            json(5, "stdout", "INFO next request\n"),
            json(6, "stderr", "sentinel-3 reached\n"),
            json(7, "stderr", "sentinel-4 reached\n"),
        ]
        .concat(),
    );
    let f = d.finding("trace");
    assert_eq!(
        f["evidence"][0]["text"],
        "java.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)",
        "the record started before the restart is whole"
    );
    d.finding_where("sentinel", |f| f["evidence"][0]["text"] == "sentinel-3 reached");
    let (second, _) = d.stop();
    let mut got = sentinels(&first);
    got.extend(sentinels(&second));
    assert_eq!(got, vec![1, 2, 3], "sentinel-1 was matched before the restart and not again");
}

#[test]
fn a_line_not_in_the_format_is_reported_with_its_line_and_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let log = pod_dir(dir.path()).join("0.log");
    fs::write(&log, "").unwrap();
    let config = dir.path().join("faultline.yaml");
    fs::write(
        &config,
        format!("sources:\n  - type: file\n    paths: ['{}']\n    format: cri\n", log.display()),
    )
    .unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &["--config", config.to_str().unwrap()],
    );
    append(&log, &(cri(1, 0, "stdout", "F", "hello") + "FATAL BOOM written by something else\n"));
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM written by something else");
    let w = d.wait_log("Line not in the stream's format; taken as plain text (further ones are counted).");
    assert_eq!(w["fields"]["line"], 2);
    assert_eq!(w["fields"]["format"], "cri");
    assert!(w["fields"]["reason"].as_str().unwrap().contains("not a CRI line"), "{w}");
    assert_eq!(w["fields"]["stream"], log.display().to_string());
    d.stop();
}

#[test]
fn a_record_held_in_a_rotated_file_is_flushed_when_the_file_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let pod = pod_dir(dir.path());
    let log = pod.join("0.log");
    fs::write(&log, "").unwrap();
    // Records never time out here: only closing the rotated file can complete the trace.
    let config = dir.path().join("faultline.yaml");
    fs::write(
        &config,
        format!(
            "sources:\n  - type: file\n    paths: ['{}/*.log']\n    multiline:\n      timeout: 1h\nlimits:\n  rotate_wait: 300ms\n",
            pod.display()
        ),
    )
    .unwrap();
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &["--config", config.to_str().unwrap()],
    );
    append(
        &log,
        &[
            cri(1, 0, "stdout", "F", "java.lang.IllegalStateException: cart is locked"),
            cri(1, 1, "stdout", "F", "\tat com.example.cart.Checkout.run(Checkout.java:42)"),
        ]
        .concat(),
    );
    fs::rename(&log, pod.join("0.log.20261126-100001")).unwrap();
    append(&log, &cri(2, 0, "stdout", "F", "INFO the new file"));
    let f = d.finding("trace");
    assert_eq!(
        f["evidence"][0]["text"],
        "java.lang.IllegalStateException: cart is locked\n\tat com.example.cart.Checkout.run(Checkout.java:42)"
    );
    d.wait_log("Closed rotated file.");
    d.stop();
}
