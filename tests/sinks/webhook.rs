//! The webhook sink against the test's own HTTP receiver.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::common::{Daemon, Playbooks, append, config, free_port, sink_summary, wait_for};
use crate::receiver::{Behaviour, Receiver};

const SECRET: &str = "s3cret-signing-key";
const TOKEN: &str = "Bearer t0ken-for-the-test";

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn a_finding_arrives_after_503s_with_a_valid_signature_and_every_header() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let rx = Receiver::start(Behaviour::Answer { fail_first: 2 });
    std::fs::write(dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - type: stdout\n    format: json\n  - type: webhook\n    url: {}\n    secret_file: {}\n    authorization_file: {}\n    headers: {{X-Team: ops}}\ndelivery:\n  retry_initial: 100ms\n  retry_max: 300ms\n",
            rx.url("/hooks/faultline"),
            dir.path().join("secret").display(),
            dir.path().join("token").display()
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, "FATAL BOOM in worker 3\n");
    let f = d.finding("boom");
    let reqs = wait_for("the finding delivered", || {
        let r = rx.requests();
        r.iter().any(|q| q.answered == 200).then_some(r)
    });
    let answered: Vec<u16> = reqs.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [503, 503, 200], "retried after each 503, then delivered once");
    for pair in reqs.windows(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= Duration::from_secs(1),
            "Retry-After: 1 was honoured"
        );
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hooks/faultline");
        assert_eq!(r.json(), f, "the body is the finding, as stdout shows it");
        assert_eq!(r.json()["schema"], "faultline.finding/v1");
        let h = &r.headers;
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["idempotency-key"], f["id"].as_str().unwrap());
        assert_eq!(h["x-team"], "ops");
        assert_eq!(h["authorization"], TOKEN);
        let ts = &h["x-faultline-timestamp"];
        let ts_n: i64 = ts.parse().expect("a Unix time");
        assert!((ts_n - now).abs() < 300, "timestamp {ts} is now");
        // Receivers verify: HMAC-SHA256(secret, timestamp + "." + body).
        let mut signed = format!("{ts}.").into_bytes();
        signed.extend_from_slice(&r.body);
        assert_eq!(h["x-faultline-signature"], format!("sha256={}", hmac_hex(SECRET, &signed)));
        // A tampered body or timestamp does not verify.
        assert_ne!(h["x-faultline-signature"], format!("sha256={}", hmac_hex(SECRET, &r.body)));
    }
    let (_, log) = d.stop_with_log();
    let s = sink_summary(&log, "webhook:");
    assert_eq!(
        (s["sent"].as_u64(), s["retried"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(2), Some(0))
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(SECRET) && !text.contains("t0ken-for-the-test"), "secrets are never logged");
}

#[test]
fn an_outage_across_a_restart_and_a_kill_9_still_delivers_every_finding_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let port = free_port(); // nothing listens there yet: the receiver is down
    let url = format!("http://127.0.0.1:{port}/in");
    let cfg = config(
        dir.path(),
        "delivery:\n  retry_initial: 50ms\n  retry_max: 250ms\n  drain_timeout: 500ms\nsinks:\n  - {type: stdout, format: json}\n",
    );
    let args = ["--config", cfg.to_str().unwrap(), "--webhook", &url, log.to_str().unwrap()];
    let mut expected = Vec::new();

    // Findings while the receiver is down, then kill -9.
    let mut d = Daemon::start(&state, Playbooks::SINKS, &args);
    append(&log, "sentinel-1 reached\nsentinel-2 reached\n");
    expected.push(d.finding("sentinel")["id"].clone());
    expected.push(d.finding("sentinel")["id"].clone());
    d.wait_log("Webhook delivery failed; retrying.");
    d.kill9();

    // Another one, and a clean stop while the receiver is still down.
    let mut d = Daemon::start(&state, Playbooks::SINKS, &args);
    append(&log, "sentinel-3 reached\n");
    expected.push(d.finding("sentinel")["id"].clone());
    let (_, stopped) = d.stop_with_log();
    assert!(
        stopped
            .iter()
            .any(|v| v["fields"]["message"] == "Drain time is up; undelivered findings stay in the spool."),
        "the drain gave up at its deadline"
    );

    // The receiver is back: the next run delivers everything spooled, and what is new.
    let rx = Receiver::start_on(port, Behaviour::Answer { fail_first: 0 });
    let mut d = Daemon::start(&state, Playbooks::SINKS, &args);
    append(&log, "sentinel-4 reached\n");
    expected.push(d.finding("sentinel")["id"].clone());
    let got = wait_for("every finding delivered", || {
        let ids: Vec<Value> = rx.requests().iter().map(|r| r.json()["id"].clone()).collect();
        expected.iter().all(|e| ids.contains(e)).then_some(ids)
    });
    let (_, log) = d.stop_with_log();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in rx.requests().iter().map(|r| r.json()["id"].as_str().unwrap().to_string()) {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), 4, "four distinct findings: {got:?}");
    assert!(counts.values().all(|&n| n == 1), "each delivered once: {counts:?}");
    assert_eq!(sink_summary(&log, "webhook:")["sent"], 4);
    assert_eq!(sink_summary(&log, "webhook:")["queued"], 0);
}

#[test]
fn a_400_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let rx = Receiver::start(Behaviour::Always(400));
    let cfg = config(dir.path(), "delivery:\n  retry_initial: 50ms\n  retry_max: 100ms\n");
    let url = rx.url("/");
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), "--webhook", &url, log.to_str().unwrap()],
    );
    append(&log, "sentinel-1 reached\n");
    let first = d.finding("sentinel")["id"].clone();
    append(&log, "sentinel-2 reached\n");
    let second = d.finding("sentinel")["id"].clone();
    // Once the second finding has been tried, the first is long settled.
    wait_for("the second finding tried", || {
        rx.requests().iter().any(|r| r.json()["id"] == second).then_some(())
    });
    let tries = rx.requests().iter().filter(|r| r.json()["id"] == first).count();
    assert_eq!(tries, 1, "a 400 is not retried");
    d.wait_log("Webhook rejected the finding; dropped, not retried.");
    let (_, log) = d.stop_with_log();
    let s = sink_summary(&log, "webhook:");
    assert_eq!(
        (s["failed"].as_u64(), s["retried"].as_u64(), s["sent"].as_u64()),
        (Some(2), Some(0), Some(0))
    );
}

#[test]
fn a_receiver_that_never_answers_does_not_delay_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let rx = Receiver::start(Behaviour::Silent);
    // The request would wait two minutes for an answer.
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - {{type: stdout, format: json}}\n  - type: webhook\n    url: {}\n    timeout: 120s\ndelivery:\n  drain_timeout: 500ms\n",
            rx.url("/")
        ),
    );
    let mut d =
        Daemon::start(&state, Playbooks::SINKS, &["--config", cfg.to_str().unwrap(), log.to_str().unwrap()]);
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    wait_for("the receiver holding the request", || (!rx.requests().is_empty()).then_some(()));
    // The webhook is stuck on its first request; findings keep flowing to stdout.
    append(&log, "sentinel-2 reached\nsentinel-3 reached\n");
    d.finding("sentinel");
    d.finding("sentinel");
    assert!(rx.requests().iter().all(|r| r.answered == 0), "nothing was answered meanwhile");
    assert_eq!(rx.requests().len(), 1, "still the first request");
    let (_, log) = d.stop_with_log();
    let s = sink_summary(&log, "webhook:");
    assert_eq!(s["sent"], 0);
    // Undelivered findings stay in the spool for the next start.
    assert_eq!(s["queued"].as_u64().unwrap() + s["spooled"].as_u64().unwrap(), 3);
    let spooled = std::fs::read_dir(state.join("sinks"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(spooled, 3);
}

#[test]
fn batches_are_arrays_and_the_slack_template_is_a_text_message() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let batch = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let slack = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - {{type: stdout, format: json}}\n  - {{type: webhook, url: '{}', batch_max: 3, batch_wait: 20s}}\n  - {{type: webhook, url: '{}', template: slack}}\n",
            batch.url("/batch"),
            slack.url("/slack")
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), log.to_str().unwrap()],
    );
    append(&log, "sentinel-1 reached\nsentinel-2 reached\nsentinel-3 reached\n");
    let findings: Vec<Value> = (0..3).map(|_| d.finding("sentinel")).collect();
    let reqs = wait_for("the batch", || {
        let r = batch.requests();
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(reqs.len(), 1, "one request for the three findings");
    assert_eq!(reqs[0].json(), Value::Array(findings.clone()), "an array of the findings, in order");
    let texts = wait_for("three slack messages", || {
        let r = slack.requests();
        (r.len() == 3).then_some(r)
    });
    for (r, f) in texts.iter().zip(&findings) {
        let body = r.json();
        assert_eq!(body.as_object().unwrap().len(), 1, "only `text`: {body}");
        let text = body["text"].as_str().unwrap();
        assert_eq!(r.headers["idempotency-key"], f["id"].as_str().unwrap());
        let conf = format!("confidence {:.2}", f["confidence"].as_f64().unwrap());
        for part in [
            "*Sentinel*",
            conf.as_str(),
            log.to_str().unwrap(),
            f["evidence"][0]["text"].as_str().unwrap(),
            "fix: Nothing to fix.",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text:?}");
        }
    }
    d.stop();
}

#[test]
fn quiet_turns_stdout_off_while_the_webhook_still_gets_findings() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let rx = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let url = rx.url("/");
    let d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--quiet", "--webhook", &url, log.to_str().unwrap()],
    );
    append(&log, "sentinel-1 reached\n");
    let got = wait_for("the finding at the webhook", || rx.requests().into_iter().next());
    assert_eq!(got.json()["playbook"]["id"], "sentinel");
    let (printed, log) = d.stop_with_log();
    assert!(printed.is_empty(), "nothing on stdout: {printed:?}");
    assert!(log.iter().all(|v| v["fields"]["sink"] != "stdout"), "no stdout sink");
    assert_eq!(sink_summary(&log, "webhook:")["sent"], 1);
}

fn http_status(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn readyz_turns_503_while_a_webhook_fails_beyond_its_budget_and_200_once_it_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    // Nothing listens on the webhook's port yet: every attempt is refused.
    let hook_port = free_port();
    let listen = free_port();
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - type: stdout\n    format: json\n  - type: webhook\n    url: http://127.0.0.1:{hook_port}/hook\ndelivery:\n  retry_initial: 100ms\n  retry_max: 200ms\n  unready_after: 1s\n"
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{listen}"),
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(http_status(listen, "/readyz"), 200, "ready before any delivery failed");
    append(&log, "FATAL BOOM while the receiver is down\n");
    d.finding("boom");
    wait_for("/readyz to answer 503", || (http_status(listen, "/readyz") == 503).then_some(()));
    assert_eq!(http_status(listen, "/healthz"), 200, "alive all along: only readiness depends on sinks");
    let rx = Receiver::start_on(hook_port, Behaviour::Answer { fail_first: 0 });
    wait_for("the spooled finding to be delivered", || (!rx.requests().is_empty()).then_some(()));
    wait_for("/readyz to answer 200 again", || (http_status(listen, "/readyz") == 200).then_some(()));
    d.stop();
}
