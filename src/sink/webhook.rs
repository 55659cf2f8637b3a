//! The webhook sink: an HTTP(S) POST per finding (or per batch), retried until delivered.
//!
//! Headers: `Content-Type: application/json`, `Idempotency-Key` (the finding id; for a batch of
//! several, a hash of their ids), the configured extra headers, `Authorization` when configured
//! (read from a file or an environment variable at start, never logged), and with a secret:
//! `X-Faultline-Timestamp` (Unix seconds, fresh on every attempt) and
//! `X-Faultline-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` — the
//! timestamp is signed with the body, so a replay cannot pass as new.
//!
//! Bodies: `raw` — the finding (`faultline.finding/v1`), or a JSON array of findings when
//! `batch_max` > 1; `slack` — `{"text": …}` for Slack/Mattermost incoming webhooks.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::SinkStats;
use super::http::{self, Backoff, Outcome};
use super::spool::Spool;
use crate::config::{Delivery, SecretSource, WebhookSink, WebhookTemplate};
use crate::finding::{Event, Finding};

pub struct Webhook {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
    template: WebhookTemplate,
    secret: Option<Vec<u8>>,
    headers: HeaderMap,
    batch_max: usize,
    batch_wait: Duration,
    stats: Arc<SinkStats>,
}

/// Reads a secret (file or environment variable); errors name where, never what.
pub fn read_secret(src: &SecretSource, what: &str, sink: &str) -> Result<String> {
    let (value, place) = match src {
        SecretSource::File(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("sink {sink}: cannot read {what} file {}", p.display()))?,
            format!("file {}", p.display()),
        ),
        SecretSource::Env(var) => (
            std::env::var(var).map_err(|_| {
                anyhow::anyhow!("sink {sink}: environment variable {var} ({what}) is not set")
            })?,
            format!("environment variable {var}"),
        ),
    };
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        bail!("sink {sink}: {what} {place} is empty");
    }
    Ok(value)
}

/// `sha256=<hex>` of `HMAC-SHA256(secret, "<timestamp>.<body>")`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Slack mrkdwn: `&`, `<` and `>` are control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Slack/Mattermost message for one finding: title, severity, confidence, stream, first
/// evidence line, first fix step.
pub fn slack_text(f: &Finding) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "*{}* ({}, confidence {:.2})\nstream: {} {} on {}",
        slack_escape(&f.playbook.title),
        f.playbook.severity,
        f.confidence,
        f.stream.kind,
        slack_escape(f.stream.path.as_deref().unwrap_or(&f.stream.name)),
        slack_escape(&f.host)
    );
    if let Some(e) = f.evidence.first() {
        let _ = write!(t, "\nevidence: `{}`", slack_escape(&e.text).replace('`', "'"));
    }
    if let Some(step) = f.fix.first() {
        let _ = write!(t, "\nfix: {}", slack_escape(step.lines().next().unwrap_or("")));
    }
    t
}

impl Webhook {
    pub fn new(spec: &WebhookSink, name: &str, stats: Arc<SinkStats>) -> Result<Webhook> {
        let url =
            reqwest::Url::parse(&spec.url).map_err(|e| anyhow::anyhow!("sink {name}: invalid URL: {e}"))?;
        let secret = match &spec.secret {
            Some(src) => Some(read_secret(src, "secret", name)?.into_bytes()),
            None => None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &spec.headers {
            let k = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| anyhow::anyhow!("sink {name}: invalid header name {k:?}"))?;
            let v = HeaderValue::from_str(v)
                .map_err(|_| anyhow::anyhow!("sink {name}: invalid value for header {k}"))?;
            headers.insert(k, v);
        }
        if let Some(src) = &spec.authorization {
            let value = read_secret(src, "authorization", name)?;
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                anyhow::anyhow!("sink {name}: the authorization value is not a valid header value")
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        Ok(Webhook {
            name: name.to_string(),
            url,
            client: http::client(spec.timeout)?,
            template: spec.template,
            secret,
            headers,
            batch_max: spec.batch_max.max(1),
            batch_wait: spec.batch_wait,
            stats,
        })
    }

    /// The request body for `findings`.
    pub fn body(&self, findings: &[&Finding]) -> Vec<u8> {
        match self.template {
            WebhookTemplate::Raw if self.batch_max == 1 => {
                serde_json::to_vec(findings[0]).expect("a finding serialises")
            }
            WebhookTemplate::Raw => serde_json::to_vec(findings).expect("findings serialise"),
            WebhookTemplate::Slack => {
                let text: Vec<String> = findings.iter().map(|f| slack_text(f)).collect();
                serde_json::to_vec(&serde_json::json!({ "text": text.join("\n\n") })).expect("serialises")
            }
        }
    }

    fn request(&self, body: Vec<u8>, key: &str) -> reqwest::RequestBuilder {
        let mut req = self.client.post(self.url.clone()).headers(self.headers.clone());
        if let Ok(v) = HeaderValue::from_str(key) {
            req = req.header("Idempotency-Key", v);
        }
        if let Some(secret) = &self.secret {
            let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
            req = req
                .header("X-Faultline-Timestamp", &ts)
                .header("X-Faultline-Signature", signature(secret, &ts, &body));
        }
        req.body(body)
    }

    /// Delivers the spool, oldest first, until it is closed and empty or the drain time is up.
    pub async fn run(self, spool: Arc<Spool>, delivery: Delivery) {
        let mut backoff = Backoff::new(&delivery);
        loop {
            let mut batch = spool.peek(self.batch_max);
            if batch.is_empty() {
                if spool.is_closing() {
                    return;
                }
                spool.changed().await;
                continue;
            }
            if batch.len() < self.batch_max && !self.batch_wait.is_zero() && backoff.attempts() == 0 {
                // Let the batch fill up for a while.
                let until = Instant::now() + self.batch_wait;
                while spool.len() < self.batch_max && !spool.is_closing() {
                    if tokio::time::timeout_at(until, spool.changed()).await.is_err() {
                        break;
                    }
                }
                batch = spool.peek(self.batch_max);
            }
            let seqs: Vec<u64> = batch.iter().map(|(s, _)| *s).collect();
            let findings: Vec<&Finding> = batch
                .iter()
                .filter_map(|(_, e)| match &**e {
                    Event::Finding(f) => Some(&**f),
                    Event::Activity(_) => None,
                })
                .collect();
            if findings.is_empty() {
                spool.remove(&seqs);
                continue;
            }
            let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
            let key = if ids.len() == 1 {
                ids[0].to_string()
            } else {
                hex::encode(&Sha256::digest(ids.join(",").as_bytes())[..16])
            };
            let body = self.body(&findings);
            let outcome = tokio::select! {
                o = http::send(self.request(body, &key)) => o,
                _ = spool.drain_over() => {
                    info!(sink = %self.name, left = spool.len(), "Drain time is up; undelivered findings stay in the spool.");
                    return;
                }
            };
            match outcome {
                Outcome::Delivered => {
                    spool.remove(&seqs);
                    self.stats.answered(&self.stats.sent, findings.len() as u64);
                    if backoff.attempts() > 0 {
                        info!(sink = %self.name, retries = backoff.attempts(), "Webhook delivered again.");
                    }
                    debug!(sink = %self.name, findings = findings.len(), "Webhook delivered.");
                    backoff.reset();
                }
                Outcome::Rejected { why } => {
                    spool.remove(&seqs);
                    self.stats.answered(&self.stats.failed, findings.len() as u64);
                    warn!(sink = %self.name, ids = %ids.join(","), reason = %why, "Webhook rejected the finding; dropped, not retried.");
                    backoff.reset();
                }
                Outcome::Retry { after, why } => {
                    self.stats.retrying();
                    let wait = backoff.next(after);
                    if backoff.attempts() == 1 {
                        warn!(sink = %self.name, reason = %why, retry_in = ?wait, pending = spool.len(), "Webhook delivery failed; retrying.");
                    } else {
                        debug!(sink = %self.name, reason = %why, retry_in = ?wait, attempt = backoff.attempts(), "Webhook delivery failed again.");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = spool.drain_over() => {
                            info!(sink = %self.name, left = spool.len(), "Drain time is up; undelivered findings stay in the spool.");
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently: python3 -c "import hmac,hashlib; print(hmac.new(b'Jefe',
        // b'1700000000.{\"id\":\"x\"}', hashlib.sha256).hexdigest())"
        assert_eq!(
            signature(b"Jefe", "1700000000", br#"{"id":"x"}"#),
            "sha256=83aaec65374de010f05f69354cbddd8bb459ab71908c7579dd27ff250b557358"
        );
    }

    #[test]
    fn slack_text_has_title_confidence_stream_evidence_and_fix() {
        let mut f = crate::sink::spool::tests::finding("x");
        f.playbook.title = "Disk <full> & more".into();
        f.evidence.push(crate::finding::FindingLine {
            line: 3,
            text: "no space `left`".into(),
            time: String::new(),
        });
        f.fix = vec!["Free space.\nSecond line".into(), "Other".into()];
        let t = slack_text(&f);
        assert_eq!(
            t,
            "*Disk &lt;full&gt; &amp; more* (low, confidence 0.90)\nstream: stdin stdin on h\nevidence: `no space 'left'`\nfix: Free space."
        );
    }
}
