//! The Alertmanager sink against a real Alertmanager (Debian's prometheus-alertmanager, single
//! node on loopback, started here with a temporary storage path), and against the test's
//! recording receiver for what a real one does not show: the re-send cadence and label
//! stability.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::common::{Daemon, Playbooks, append, config, free_port, wait_for};
use crate::receiver::{Behaviour, Receiver};

/// A single-node Alertmanager on loopback; stopped (by its PID) when dropped.
pub struct Alertmanager {
    child: Child,
    pub url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Some(b) = std::env::var_os("FAULTLINE_TEST_ALERTMANAGER") {
        return PathBuf::from(b);
    }
    let default = PathBuf::from("/usr/bin/prometheus-alertmanager");
    assert!(
        default.exists(),
        "no Alertmanager: set FAULTLINE_TEST_ALERTMANAGER, or run scripts/test.sh (it installs Debian's \
         prometheus-alertmanager through scripts/services/alertmanager.sh)"
    );
    default
}

impl Alertmanager {
    pub fn start(dir: &Path) -> Alertmanager {
        let cfg = dir.join("alertmanager.yml");
        std::fs::write(&cfg, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n").unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = Command::new(binary())
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager { child, url: format!("http://127.0.0.1:{port}") };
        wait_for("alertmanager ready", || {
            let ok = Command::new("curl").args(["-sf", &format!("{}/-/ready", am.url)]).output().ok()?;
            ok.status.success().then_some(())
        });
        am
    }

    /// `GET /api/v2/alerts`: the alerts it holds as active.
    pub fn alerts(&self) -> Vec<Value> {
        let out =
            Command::new("curl").args(["-sf", &format!("{}/api/v2/alerts", self.url)]).output().unwrap();
        assert!(out.status.success(), "GET /api/v2/alerts failed");
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }
}

fn time(v: &Value) -> SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap()).unwrap()
}

#[test]
fn a_real_alertmanager_gets_the_alert_keeps_it_active_while_resent_and_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path());
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - {{type: stdout, format: json}}\n  - type: alertmanager\n    urls: ['{}']\n    resend_interval: 1s\n    runbook_url: 'https://runbooks.example/{{playbook}}'\n    labels: {{cluster: test}}\n",
            am.url
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), "--window", "4s", log.to_str().unwrap()],
    );
    append(&log, "FATAL BOOM in worker 3\n");
    let f = d.finding("boom");
    let mine = |alerts: Vec<Value>| alerts.into_iter().find(|a| a["labels"]["alertname"] == "boom");
    let a = wait_for("the alert in Alertmanager", || mine(am.alerts()));
    let labels = a["labels"].as_object().unwrap();
    let expected = serde_json::json!({
        "alertname": "boom", "severity": "high", "category": "test", "cluster": "test",
        "host": f["host"], "stream": log.to_str().unwrap(),
    });
    assert_eq!(Value::Object(labels.clone()), expected, "stable labels only");
    let ann = &a["annotations"];
    assert_eq!(ann["summary"], "Boom");
    let description = ann["description"].as_str().unwrap();
    assert!(description.starts_with("A line said \"fatal boom\"."), "{description}");
    assert!(description.contains("FATAL BOOM in worker 3"), "{description}");
    assert_eq!(ann["fix"], "1. Nothing to fix.");
    assert_eq!(ann["runbook_url"], "https://runbooks.example/boom");
    assert_eq!(ann["finding_id"], f["id"]);
    assert_eq!(time(&a["startsAt"]), time(&f["first_seen"]), "startsAt is when it was first seen");
    assert_eq!(a["status"]["state"], "active");

    // Matching lines keep it active: it outlives the endsAt it was first sent with, because it
    // is re-sent.
    let first_end = time(&a["endsAt"]);
    let mut ends = vec![first_end];
    while SystemTime::now() < first_end + Duration::from_secs(2) {
        append(&log, "FATAL BOOM again\n");
        std::thread::sleep(Duration::from_millis(500));
        let a = mine(am.alerts()).expect("still active while its playbook matches");
        assert_eq!(a["status"]["state"], "active");
        assert_eq!(a["labels"], expected);
        ends.push(time(&a["endsAt"]));
    }
    assert!(ends.last() > ends.first(), "endsAt moves forward with each re-send");

    // Quiet: once the 4 s window is empty, the alert is resolved.
    let quiet_from = Instant::now();
    wait_for("the alert resolved", || mine(am.alerts()).is_none().then_some(()));
    assert!(quiet_from.elapsed() < Duration::from_secs(25));
    d.wait_log("Alerts posted.");
    d.stop();
}

#[test]
fn a_recording_receiver_sees_stable_labels_the_resend_cadence_and_one_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Behaviour::Answer { fail_first: 0 });
    let log = dir.path().join("app.log");
    append(&log, "starting\n");
    let cfg = config(
        dir.path(),
        &format!(
            "sinks:\n  - {{type: stdout, format: json}}\n  - type: alertmanager\n    urls: ['{}']\n    resend_interval: 1s\n",
            rx.url("")
        ),
    );
    let mut d = Daemon::start(
        &dir.path().join("state"),
        Playbooks::SINKS,
        &["--config", cfg.to_str().unwrap(), "--window", "8s", log.to_str().unwrap()],
    );
    append(&log, "FATAL BOOM in worker 3\n");
    let f = d.finding("boom");
    let boom = |r: &crate::receiver::Request| -> Option<Value> {
        r.json().as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "boom").cloned()
    };
    // Re-sent while active...
    let posts = wait_for("four posts of the firing alert", || {
        let p: Vec<_> = rx.requests().into_iter().filter(|r| boom(r).is_some()).collect();
        (p.len() >= 4).then_some(p)
    });
    let first = boom(&posts[0]).unwrap();
    for (i, r) in posts.iter().enumerate() {
        assert_eq!(r.path, "/api/v2/alerts");
        assert_eq!(r.method, "POST");
        let a = boom(r).unwrap();
        assert_eq!(a["labels"], first["labels"], "labels are the same on every re-send");
        assert_eq!(a["startsAt"], first["startsAt"]);
        assert_eq!(time(&a["startsAt"]), time(&f["first_seen"]));
        // endsAt = send time + 4 × resend_interval.
        let ends = time(&a["endsAt"]);
        let ahead = ends.duration_since(r.wall).unwrap_or_default();
        assert!(
            ahead > Duration::from_millis(3000) && ahead <= Duration::from_secs(4),
            "endsAt {ahead:?} ahead"
        );
        if i > 0 {
            let gap = r.at.duration_since(posts[i - 1].at);
            assert!(gap >= Duration::from_millis(800), "re-sent every second, not faster: {gap:?}");
        }
    }
    let labels: Vec<&String> = first["labels"].as_object().unwrap().keys().collect();
    assert_eq!(labels, ["alertname", "category", "host", "severity", "stream"]);

    // ...then resolved once, 8 s after the last matching line.
    let resolved = wait_for("the resolution", || {
        rx.requests().into_iter().find(|r| boom(r).is_some_and(|a| time(&a["endsAt"]) <= r.wall))
    });
    let a = boom(&resolved).unwrap();
    assert_eq!(a["labels"], first["labels"]);
    // Nothing more about it afterwards: once a later finding's alert has been posted twice, no
    // post after the resolution mentions boom.
    append(&log, "sentinel-1 reached\n");
    d.finding("sentinel");
    let sentinel = |r: &crate::receiver::Request| {
        r.json().as_array().unwrap().iter().any(|a| a["labels"]["alertname"] == "sentinel")
    };
    wait_for("two posts of the sentinel alert", || {
        (rx.requests().iter().filter(|r| sentinel(r)).count() >= 2).then_some(())
    });
    let after: Vec<_> = rx.requests().into_iter().filter(|r| r.at > resolved.at).collect();
    assert!(after.iter().all(|r| boom(r).is_none()), "a resolved alert is sent once");
    d.stop();
}
