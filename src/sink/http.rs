//! HTTP delivery shared by the webhook and Alertmanager sinks: the client (rustls), what a
//! response means (delivered, retry, rejected), and the back-off between attempts.
//!
//! Retried: connection errors, timeouts, 408, 429 and 5xx — after exponential back-off with full
//! jitter (a random wait between 0 and `retry_initial × 2^attempt`, capped at `retry_max`), or
//! after the server's `Retry-After` when it gives one. Anything else that is not 2xx (other 4xx,
//! and 3xx: redirects are not followed, a POST must reach its URL) is rejected for good.
//! Error texts never include the URL: it can hold a secret (a Slack webhook's path).

use std::sync::Once;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::config::Delivery;

/// The longest `Retry-After` honoured.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// A client for one sink: rustls (ring), no redirects, per-request timeout.
pub fn client(timeout: Duration) -> Result<reqwest::Client> {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another part of the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("faultline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build HTTP client: {}", describe(e)))
}

/// What came of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again (after `after` if the server said so).
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// The receiver refused it; trying again would not help.
    Rejected {
        why: String,
    },
}

/// Sends a request and classifies the answer.
pub async fn send(req: reqwest::RequestBuilder) -> Outcome {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Retry { after: None, why: describe(e) },
    };
    let status = resp.status();
    let after = retry_after(resp.headers(), SystemTime::now());
    // Read (a little of) the body: it frees the connection, and explains a rejection.
    let body = read_some(resp, 512).await;
    classify(status, after, &body)
}

fn classify(status: StatusCode, after: Option<Duration>, body: &str) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered;
    }
    let why = if body.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", body.trim().replace(['\n', '\r'], " "))
    };
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Outcome::Retry { after, why }
    } else {
        Outcome::Rejected { why }
    }
}

async fn read_some(mut resp: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < limit {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(limit);
    String::from_utf8_lossy(&buf).into_owned()
}

/// An error's causes, without the URL.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// `Retry-After` as a delay: seconds, or an HTTP date (capped at an hour).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => httpdate::parse_http_date(v).ok()?.duration_since(now).unwrap_or(Duration::ZERO),
    };
    Some(d.min(RETRY_AFTER_CAP))
}

/// Exponential back-off with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(d: &Delivery) -> Self {
        Backoff { initial: d.retry_initial, max: d.retry_max.max(d.retry_initial), attempt: 0 }
    }

    /// The wait before the next attempt; `retry_after` (from the server) wins when given.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.initial.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        if let Some(after) = retry_after {
            return after;
        }
        Duration::from_millis(fastrand::u64(0..=ceiling.as_millis() as u64))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(matches!(classify(s, None, ""), Outcome::Retry { .. }), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 422] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(matches!(classify(s, None, ""), Outcome::Rejected { .. }), "{code}");
        }
        assert_eq!(classify(StatusCode::NO_CONTENT, None, ""), Outcome::Delivered);
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None, "bad\nlabel"),
            Outcome::Rejected { why: "HTTP 400 Bad Request: bad label".into() }
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
        assert_eq!(retry_after(&h, now), Some(RETRY_AFTER_CAP));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        let d = Delivery {
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..Delivery::default()
        };
        let mut b = Backoff::new(&d);
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
        for c in ceilings {
            let w = b.next(None);
            assert!(w <= Duration::from_millis(c), "{w:?} > {c}ms");
        }
        assert_eq!(b.next(Some(Duration::from_secs(9))), Duration::from_secs(9));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(100));
        // Full jitter: over many draws the waits spread over the whole range.
        let mut b = Backoff::new(&d);
        let draws: Vec<Duration> = (0..200)
            .map(|_| {
                b.reset();
                b.next(None)
            })
            .collect();
        assert!(draws.iter().any(|w| *w < Duration::from_millis(30)));
        assert!(draws.iter().any(|w| *w > Duration::from_millis(70)));
    }
}
