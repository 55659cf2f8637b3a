//! Redaction across every sink: each secret shape of the table is absent from stdout, the
//! webhook, the journal and Alertmanager; ordinary lines arrive unchanged.

use serde_json::Value;

use crate::common::{Daemon, Playbooks, append, config, wait_for};
use crate::journal::{entry_of, field, journald};
use crate::receiver::{Behaviour, Receiver};

/// (line, secret) from the shared table (`«secret»` marks the secret).
fn table() -> Vec<(String, String)> {
    include_str!("../fixtures/redact/secrets.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (before, rest) = l.split_once('«').unwrap();
            let (secret, after) = rest.split_once('»').unwrap();
            (format!("{before}{secret}{after}"), secret.to_string())
        })
        .collect()
}

fn ordinary() -> Vec<String> {
    include_str!("../fixtures/redact/ordinary.txt").lines().map(str::to_string).collect()
}

/// Every string in a JSON value (keys and leaves).
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

fn leaks(texts: &[String], secret: &str) -> bool {
    texts.iter().any(|t| t.contains(secret))
}

#[test]
fn secrets_are_absent_from_every_sink_and_ordinary_lines_arrive_unchanged() {
    let (socket, journal_dir) = journald();
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let am = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - {{type: stdout, format: json}}\n  - {{type: webhook, url: '{}'}}\n  - {{type: journal, socket: '{}'}}\n  - {{type: alertmanager, urls: ['{}'], resend_interval: 1s}}\n",
            hook.url("/"),
            socket.display(),
            am.url("")
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), log.to_str().unwrap()],
    );
    let secrets = table();
    let plain = ordinary();
    let mut text = String::new();
    for (i, (line, _)) in secrets.iter().enumerate() {
        text.push_str(&format!("leaktest-{i} {line}\n"));
    }
    for (j, line) in plain.iter().enumerate() {
        text.push_str(&format!("leaktest-{} {line}\n", 1000 + j));
    }
    append(&log, &text);
    let total = secrets.len() + plain.len();
    let findings: Vec<Value> = (0..total).map(|_| d.finding("leak")).collect();
    let evidence = |f: &Value| f["evidence"][0]["text"].as_str().unwrap().to_string();

    // Every line made its own finding; the webhook and the journal got them all.
    let bodies = wait_for("every finding at the webhook", || {
        let r = hook.requests();
        (r.len() >= total).then_some(r)
    });
    let mut journal = Vec::new();
    for f in &findings {
        journal.push(entry_of(&journal_dir, f["id"].as_str().unwrap()));
    }
    let am_posts = wait_for("alerts posted", || {
        let r = am.requests();
        r.iter().any(|p| p.text().contains(findings.last().unwrap()["id"].as_str().unwrap())).then_some(r)
    });

    let mut stdout_texts = Vec::new();
    findings.iter().for_each(|f| strings(f, &mut stdout_texts));
    let mut hook_texts = Vec::new();
    bodies.iter().for_each(|r| strings(&r.json(), &mut hook_texts));
    let mut journal_texts = Vec::new();
    for e in &journal {
        for (k, _) in e.as_object().unwrap() {
            if k.starts_with("FAULTLINE_") || k == "MESSAGE" {
                journal_texts.push(field(e, k));
            }
        }
    }
    let mut am_texts = Vec::new();
    am_posts.iter().for_each(|r| strings(&r.json(), &mut am_texts));

    for (i, (line, secret)) in secrets.iter().enumerate() {
        let f = &findings[i];
        let ev = evidence(f);
        assert!(ev.starts_with(&format!("leaktest-{i} ")), "finding {i} is about line {i}: {ev}");
        assert!(ev.contains("[REDACTED]"), "{line:?} was masked: {ev:?}");
        for (sink, texts) in [
            ("stdout", &stdout_texts),
            ("webhook", &hook_texts),
            ("journal", &journal_texts),
            ("alertmanager", &am_texts),
        ] {
            assert!(!leaks(texts, secret), "secret {secret:?} of {line:?} leaked to {sink}");
        }
    }
    for (j, line) in plain.iter().enumerate() {
        let f = &findings[secrets.len() + j];
        let want = format!("leaktest-{} {line}", 1000 + j);
        assert_eq!(evidence(f), want, "an ordinary line is unchanged on stdout");
        let body = bodies.iter().map(|r| r.json()).find(|b| b["id"] == f["id"]).expect("at the webhook");
        assert_eq!(evidence(&body), want, "and at the webhook");
        let e =
            journal.iter().find(|e| field(e, "FAULTLINE_FINDING_ID") == f["id"].as_str().unwrap()).unwrap();
        assert_eq!(field(e, "FAULTLINE_EVIDENCE"), want, "and in the journal");
    }
    let last_plain = format!("leaktest-{} {}", 1000 + plain.len() - 1, plain.last().unwrap());
    assert!(am_texts.iter().any(|t| t.contains(&last_plain)), "and in Alertmanager's description");
    d.stop();
}

#[test]
fn no_redact_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let mut d =
        Daemon::start(&dir.path().join("state"), Playbooks::SINKS, &["--no-redact", log.to_str().unwrap()]);
    append(&log, "leaktest-1 login password=hunter2\n");
    let f = d.finding("leak");
    assert_eq!(f["evidence"][0]["text"], "leaktest-1 login password=hunter2");
    d.stop();
}
