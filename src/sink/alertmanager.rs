//! The Alertmanager sink: findings as alerts on `POST /api/v2/alerts` of one Alertmanager
//! replica (a config entry with several `urls` runs one sink per replica, each with its own
//! spool and state, so a dead replica delays nobody).
//!
//! An alert's identity is its labels, and they are stable: `alertname` (the playbook id),
//! `severity`, `category`, `host`, `stream` (the file path, or the stream's name), the stream's
//! own labels (later `container`, `pod`, `namespace`; `command` for commands) and the configured
//! static `labels` — never counts or times. Annotations carry the text: `summary` (title),
//! `description` (summary and the first evidence lines), `fix`, `runbook_url` (when configured),
//! `finding_id`. `startsAt` is when the evidence was first seen.
//!
//! While a finding is active — its playbook keeps matching within its window, which the sources
//! say with activity news — its alert is re-sent every `resend_interval` with
//! `endsAt` = now + 4 × interval, so Alertmanager keeps it firing; once it goes quiet it is sent
//! resolved (`endsAt` = the time it went quiet), once. An alert that stops getting news without
//! going quiet (its source was removed from the config) is resolved after three news intervals.
//! Every post carries every alert held: at once when one is new or resolved (unless backing off
//! after a failure), and `resend_interval` after the previous post otherwise. Failed posts are
//! retried like the webhook's.
//!
//! The alerts held are kept in `alerts.state` in the sink's spool directory (written atomically
//! on every change), so a restart resumes re-sending, and an alert not yet delivered survives a
//! restart or a `kill -9`. A finding that went quiet before it could be delivered is delivered
//! resolved.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::SinkStats;
use super::http::{self, Backoff, Outcome};
use super::spool::Spool;
use crate::config::{AlertmanagerSink, Delivery};
use crate::correlate::Millis;
use crate::finding::{Activity, Event, Finding, PlaybookRef, StreamInfo, rfc3339};
use crate::source::now_ms;

/// Alerts per request.
const CHUNK: usize = 500;
/// Evidence lines in the `description` annotation.
const DESCRIPTION_LINES: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Held {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: String,
    /// `None` while firing; when it went quiet once resolved.
    ends_at: Option<String>,
    /// Changed since last delivered: send it now rather than at the next re-send.
    pending: bool,
    /// Last news about it (a finding or activity), ms.
    heard: Millis,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    alerts: BTreeMap<String, Held>,
}

/// One alert as Alertmanager's API v2 takes it.
#[derive(Debug, Serialize)]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: &'a str,
    #[serde(rename = "endsAt")]
    ends_at: String,
}

pub struct Alertmanager {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
    resend: Duration,
    runbook_url: Option<String>,
    static_labels: BTreeMap<String, String>,
    delivery: Delivery,
    /// An alert without news for this long is resolved.
    stale_after: Duration,
    state_path: PathBuf,
    state: State,
    stats: Arc<SinkStats>,
}

/// A label name from any key: invalid characters become `_`.
fn label_name(key: &str) -> String {
    let mut s: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        s.insert(0, '_');
    }
    s
}

/// The API URL of a replica given as its base URL (or already as the API URL).
pub fn api_url(base: &str) -> Result<reqwest::Url> {
    let mut u = reqwest::Url::parse(base)?;
    if !u.path().trim_end_matches('/').ends_with("/api/v2/alerts") {
        let path = format!("{}/api/v2/alerts", u.path().trim_end_matches('/'));
        u.set_path(&path);
    }
    Ok(u)
}

impl Alertmanager {
    pub fn new(
        spec: &AlertmanagerSink,
        name: &str,
        dir: &Path,
        delivery: Delivery,
        heartbeat: Duration,
        stats: Arc<SinkStats>,
    ) -> Result<Alertmanager> {
        let url = api_url(&spec.url).map_err(|e| anyhow::anyhow!("sink {name}: invalid URL: {e}"))?;
        let state_path = dir.join("alerts.state");
        let state = match fs::read(&state_path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(mut s) => {
                    // Held alerts get a fresh grace period: news resume once sources run.
                    let now = now_ms();
                    for a in s.alerts.values_mut() {
                        a.heard = now;
                    }
                    if !s.alerts.is_empty() {
                        info!(sink = %name, alerts = s.alerts.len(), "Resuming the alerts held before the restart.");
                    }
                    s
                }
                Err(e) => {
                    let aside = state_path.with_extension("state.corrupt");
                    let _ = fs::rename(&state_path, &aside);
                    warn!(sink = %name, path = %aside.display(), error = %e, "Alert state unreadable; set aside, starting empty.");
                    State::default()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(anyhow::anyhow!("sink {name}: cannot read {}: {e}", state_path.display())),
        };
        Ok(Alertmanager {
            name: name.to_string(),
            url,
            client: http::client(spec.timeout)?,
            resend: spec.resend_interval,
            runbook_url: spec.runbook_url.clone(),
            static_labels: spec.labels.clone(),
            delivery,
            stale_after: heartbeat * 3 + spec.resend_interval,
            state_path,
            state,
            stats,
        })
    }

    fn labels(&self, playbook: &PlaybookRef, stream: &StreamInfo, host: &str) -> BTreeMap<String, String> {
        let mut l = self.static_labels.clone();
        for (k, v) in &stream.labels {
            l.insert(label_name(k), v.clone());
        }
        l.insert("alertname".into(), playbook.id.clone());
        l.insert("severity".into(), playbook.severity.clone());
        l.insert("category".into(), playbook.category.clone());
        l.insert("host".into(), host.to_string());
        l.insert("stream".into(), stream.path.clone().unwrap_or_else(|| stream.name.clone()));
        l.retain(|_, v| !v.is_empty());
        l
    }

    fn key(labels: &BTreeMap<String, String>) -> String {
        let mut k = String::new();
        for (n, v) in labels {
            k.push_str(n);
            k.push('=');
            k.push_str(v);
            k.push('\u{1f}');
        }
        k
    }

    fn annotations(&self, f: &Finding) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert("summary".into(), f.playbook.title.clone());
        let mut description = f.summary.clone();
        if !f.evidence.is_empty() {
            description.push_str("\n\nEvidence:");
            for l in f.evidence.iter().take(DESCRIPTION_LINES) {
                description.push_str(&format!("\nL{}: {}", l.line, l.text));
            }
        }
        a.insert("description".into(), description);
        if !f.fix.is_empty() {
            let fix: Vec<String> =
                f.fix.iter().enumerate().map(|(i, s)| format!("{}. {}", i + 1, s.trim_end())).collect();
            a.insert("fix".into(), fix.join("\n"));
        }
        if let Some(r) = &self.runbook_url {
            a.insert("runbook_url".into(), r.replace("{playbook}", &f.playbook.id));
        }
        a.insert("finding_id".into(), f.id.clone());
        a
    }

    fn apply_finding(&mut self, f: &Finding, now: Millis) {
        let labels = self.labels(&f.playbook, &f.stream, &f.host);
        let annotations = self.annotations(f);
        let key = Self::key(&labels);
        let starts_at = match self.state.alerts.get(&key) {
            // Still firing: the same alert goes on.
            Some(h) if h.ends_at.is_none() => h.starts_at.clone(),
            _ => f.first_seen.clone(),
        };
        self.state
            .alerts
            .insert(key, Held { labels, annotations, starts_at, ends_at: None, pending: true, heard: now });
    }

    fn apply_activity(&mut self, a: &Activity, now: Millis) {
        let labels = self.labels(&a.playbook, &a.stream, &a.host);
        let key = Self::key(&labels);
        match (self.state.alerts.get_mut(&key), a.active) {
            (Some(h), true) => {
                h.heard = now;
                if h.ends_at.is_some() {
                    // Resolved for lack of news, and it is active after all.
                    h.ends_at = None;
                    h.pending = true;
                }
            }
            (Some(h), false) => {
                h.heard = now;
                if h.ends_at.is_none() {
                    h.ends_at = Some(a.time.clone());
                    h.pending = true;
                }
            }
            (None, active) => {
                // News about a finding this sink never saw (its state was lost): keep
                // Alertmanager right about it anyway.
                let mut annotations = BTreeMap::new();
                annotations.insert("summary".into(), a.playbook.title.clone());
                annotations.insert("finding_id".into(), a.finding_id.clone());
                let held = Held {
                    labels,
                    annotations,
                    starts_at: a.first_seen.clone(),
                    ends_at: (!active).then(|| a.time.clone()),
                    pending: true,
                    heard: now,
                };
                self.state.alerts.insert(key, held);
            }
        }
    }

    /// Resolves alerts without news; enforces the count and age bounds.
    fn tidy(&mut self, now: Millis) {
        let stale = self.stale_after.as_millis() as Millis;
        for h in self.state.alerts.values_mut() {
            if h.ends_at.is_none() && h.heard + stale < now {
                h.ends_at = Some(rfc3339(now));
                h.pending = true;
                info!(sink = %self.name, alert = %h.labels.get("alertname").map_or("", String::as_str), "No news about an active alert; resolving it.");
            }
        }
        let max_age = self.delivery.spool_max_age.as_millis() as Millis;
        let before = self.state.alerts.len();
        self.state.alerts.retain(|_, h| h.ends_at.is_none() || h.heard + max_age >= now);
        let mut dropped = before - self.state.alerts.len();
        while self.state.alerts.len() > self.delivery.spool_max {
            // Resolved ones first, then the longest without news.
            let victim = self
                .state
                .alerts
                .iter()
                .min_by_key(|(_, h)| (h.ends_at.is_none(), h.heard))
                .map(|(k, _)| k.clone())
                .expect("not empty");
            self.state.alerts.remove(&victim);
            dropped += 1;
        }
        if dropped > 0 {
            SinkStats::add(&self.stats.dropped, dropped as u64);
            warn!(sink = %self.name, dropped, "Dropped undelivered alerts at the spool's bounds.");
        }
    }

    fn save(&self) {
        let write = || -> io::Result<()> {
            let tmp = self.state_path.with_extension("state.tmp");
            {
                let mut f = File::create(&tmp)?;
                f.write_all(&serde_json::to_vec(&self.state).map_err(io::Error::other)?)?;
                f.sync_all()?;
            }
            fs::rename(&tmp, &self.state_path)?;
            if let Some(dir) = self.state_path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            warn!(sink = %self.name, error = %e, "Cannot save the alert state.");
        }
    }

    /// Posts `keys` (all held alerts, or the pending ones).
    async fn post(&self, keys: &[String], now: Millis) -> Outcome {
        let ends_firing = rfc3339(now + 4 * self.resend.as_millis() as Millis);
        for chunk in keys.chunks(CHUNK) {
            let alerts: Vec<PostableAlert<'_>> = chunk
                .iter()
                .filter_map(|k| self.state.alerts.get(k))
                .map(|h| PostableAlert {
                    labels: &h.labels,
                    annotations: &h.annotations,
                    starts_at: &h.starts_at,
                    ends_at: h.ends_at.clone().unwrap_or_else(|| ends_firing.clone()),
                })
                .collect();
            let body = serde_json::to_vec(&alerts).expect("alerts serialise");
            let req =
                self.client.post(self.url.clone()).header("Content-Type", "application/json").body(body);
            match http::send(req).await {
                Outcome::Delivered => self.stats.answered(&self.stats.sent, alerts.len() as u64),
                other => return other,
            }
        }
        Outcome::Delivered
    }

    /// Marks `keys` delivered: resolved ones are done.
    fn delivered(&mut self, keys: &[String]) {
        for k in keys {
            let done = match self.state.alerts.get_mut(k) {
                Some(h) => {
                    h.pending = false;
                    h.ends_at.is_some()
                }
                None => false,
            };
            if done {
                self.state.alerts.remove(k);
            }
        }
    }

    fn gauges(&self, spool: &Spool) {
        SinkStats::set(&self.stats.queued, self.state.alerts.len() as u64);
        SinkStats::set(&self.stats.spooled, spool.len() as u64);
    }

    /// Folds what the fan-out spooled into the held alerts; re-sends and resolves them.
    pub async fn run(mut self, spool: Arc<Spool>) {
        spool.set_gauges(false);
        let mut backoff = Backoff::new(&self.delivery);
        let mut next_resend = Instant::now();
        loop {
            let now = now_ms();
            loop {
                let batch = spool.peek(1000);
                if batch.is_empty() {
                    break;
                }
                for (_, e) in &batch {
                    match &**e {
                        Event::Finding(f) => self.apply_finding(f, now),
                        Event::Activity(a) => self.apply_activity(a, now),
                    }
                }
                // The state is durable before the spool entries go.
                self.save();
                spool.remove(&batch.iter().map(|(s, _)| *s).collect::<Vec<_>>());
            }
            self.tidy(now);
            self.gauges(&spool);
            let pending: Vec<String> =
                self.state.alerts.iter().filter(|(_, h)| h.pending).map(|(k, _)| k.clone()).collect();
            if spool.is_closing() && pending.is_empty() {
                self.save();
                return;
            }
            // Every post carries every held alert: on a change (unless backing off), and every
            // `resend_interval` after the last post.
            let in_backoff = backoff.attempts() > 0;
            let due = Instant::now() >= next_resend || (!pending.is_empty() && !in_backoff);
            let keys: Vec<String> =
                if due { self.state.alerts.keys().cloned().collect() } else { Vec::new() };
            if !keys.is_empty() {
                let outcome = tokio::select! {
                    o = self.post(&keys, now_ms()) => o,
                    _ = spool.drain_over() => {
                        self.save();
                        info!(sink = %self.name, "Drain time is up; undelivered alerts stay in the state file.");
                        return;
                    }
                };
                match outcome {
                    Outcome::Delivered => {
                        self.delivered(&keys);
                        self.save();
                        if in_backoff {
                            info!(sink = %self.name, retries = backoff.attempts(), "Alertmanager reachable again.");
                        }
                        debug!(sink = %self.name, alerts = keys.len(), "Alerts posted.");
                        backoff.reset();
                        next_resend = Instant::now() + self.resend;
                    }
                    Outcome::Rejected { why } => {
                        self.stats.answered(&self.stats.failed, keys.len() as u64);
                        warn!(sink = %self.name, alerts = keys.len(), reason = %why, "Alertmanager rejected the alerts; not retried.");
                        self.delivered(&keys);
                        self.save();
                        backoff.reset();
                        next_resend = Instant::now() + self.resend;
                    }
                    Outcome::Retry { after, why } => {
                        self.stats.retrying();
                        let wait = backoff.next(after);
                        if backoff.attempts() == 1 {
                            warn!(sink = %self.name, reason = %why, retry_in = ?wait, "Cannot post alerts; retrying.");
                        } else {
                            debug!(sink = %self.name, reason = %why, retry_in = ?wait, "Cannot post alerts again.");
                        }
                        next_resend = Instant::now() + wait;
                    }
                }
            } else if due {
                next_resend = Instant::now() + self.resend;
            }
            self.gauges(&spool);
            tokio::select! {
                _ = spool.changed() => {}
                _ = tokio::time::sleep_until(next_resend) => {}
                _ = spool.drain_over() => {
                    self.save();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FindingLine;

    fn sink(dir: &Path) -> Alertmanager {
        let mut spec = AlertmanagerSink::new("http://127.0.0.1:9/");
        spec.runbook_url = Some("https://runbooks.example/{playbook}".into());
        spec.labels.insert("cluster".into(), "prod".into());
        Alertmanager::new(
            &spec,
            "am",
            dir,
            Delivery::default(),
            Duration::from_secs(30),
            Arc::new(SinkStats::default()),
        )
        .unwrap()
    }

    fn finding(id: &str, first_seen: &str) -> Finding {
        let mut f = crate::sink::spool::tests::finding(id);
        f.stream = StreamInfo::new("file", "/var/log/app.log");
        f.stream.path = Some("/var/log/app.log".into());
        f.first_seen = first_seen.into();
        f.evidence = vec![FindingLine { line: 9, text: "disk full".into(), time: String::new() }];
        f.fix = vec!["Free space.".into()];
        f
    }

    #[test]
    fn labels_are_stable_identity_and_annotations_carry_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut am = sink(dir.path());
        am.apply_finding(&finding("f1", "2024-05-01T10:00:00.000Z"), 1);
        let h = am.state.alerts.values().next().unwrap().clone();
        let labels: Vec<(&str, &str)> = h.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("alertname", "p"),
                ("category", "c"),
                ("cluster", "prod"),
                ("host", "h"),
                ("severity", "low"),
                ("stream", "/var/log/app.log")
            ]
        );
        assert_eq!(h.annotations["summary"], "t");
        assert_eq!(h.annotations["description"], "s\n\nEvidence:\nL9: disk full");
        assert_eq!(h.annotations["fix"], "1. Free space.");
        assert_eq!(h.annotations["runbook_url"], "https://runbooks.example/p");
        assert_eq!(h.starts_at, "2024-05-01T10:00:00.000Z");
        // A later finding for the same playbook and stream while firing is the same alert.
        am.apply_finding(&finding("f2", "2024-05-01T11:00:00.000Z"), 2);
        assert_eq!(am.state.alerts.len(), 1);
        let h2 = am.state.alerts.values().next().unwrap();
        assert_eq!(h2.labels, h.labels);
        assert_eq!(h2.starts_at, "2024-05-01T10:00:00.000Z");
        assert_eq!(h2.annotations["finding_id"], "f2");
    }

    #[test]
    fn quiet_news_resolves_and_the_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut am = sink(dir.path());
        let f = finding("f1", "2024-05-01T10:00:00.000Z");
        am.apply_finding(&f, 1);
        am.save();
        let mut am = sink(dir.path());
        assert_eq!(am.state.alerts.len(), 1, "held alerts are reloaded");
        let quiet = Activity {
            finding_id: "f1".into(),
            playbook: f.playbook.clone(),
            stream: f.stream.clone(),
            host: f.host.clone(),
            first_seen: f.first_seen.clone(),
            last_seen: f.last_seen.clone(),
            active: false,
            time: "2024-05-01T10:10:00.000Z".into(),
        };
        am.apply_activity(&quiet, 2);
        let h = am.state.alerts.values().next().unwrap();
        assert_eq!(h.ends_at.as_deref(), Some("2024-05-01T10:10:00.000Z"));
        assert!(h.pending);
        let keys: Vec<String> = am.state.alerts.keys().cloned().collect();
        am.delivered(&keys);
        assert!(am.state.alerts.is_empty(), "a delivered resolution is done");
    }

    #[test]
    fn an_alert_without_news_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let mut am = sink(dir.path());
        am.apply_finding(&finding("f1", "2024-05-01T10:00:00.000Z"), 1_000);
        am.tidy(1_000 + 60_000);
        assert!(am.state.alerts.values().all(|h| h.ends_at.is_none()));
        am.tidy(1_000 + am.stale_after.as_millis() as Millis + 1);
        assert!(am.state.alerts.values().all(|h| h.ends_at.is_some()));
    }

    #[test]
    fn api_urls() {
        assert_eq!(api_url("http://am:9093").unwrap().as_str(), "http://am:9093/api/v2/alerts");
        assert_eq!(api_url("http://am:9093/am/").unwrap().as_str(), "http://am:9093/am/api/v2/alerts");
        assert_eq!(api_url("http://am:9093/api/v2/alerts").unwrap().as_str(), "http://am:9093/api/v2/alerts");
        assert_eq!(label_name("k8s.pod-name"), "k8s_pod_name");
        assert_eq!(label_name("1x"), "_1x");
    }
}
