//! Redaction: secrets in log lines are masked before any sink sees a finding.
//!
//! The daemon redacts once, in the sink fan-out (`sink::spawn`), so stdout, webhooks, the
//! journal and Alertmanager all get the same, already-masked finding. What is masked: the text of
//! evidence and context lines and the stream's name, path and labels (a command line can hold a
//! password). The playbook's own text (title, summary, fix) is not log data and is left alone.
//!
//! Each rule is a regex; the part it names `secret` (or every group whose name starts with
//! `secret`) is replaced by [`MARK`], the rest of the match is kept so the line stays readable
//! (`password=[REDACTED]`, `Authorization: Bearer [REDACTED]`). A rule without such a group
//! masks its whole match. Extra rules come from the config (`redact.patterns`).
//!
//! Multi-line private keys: a line holding a `-----BEGIN … PRIVATE KEY-----` marker masks every
//! following line of the finding up to the `-----END` marker.
//!
//! **Pure:** no I/O, no clock, no logging.

use std::borrow::Cow;
use std::sync::Arc;

use regex::Regex;

use crate::finding::{Activity, Event, Finding, FindingLine, StreamInfo};

/// What a secret is replaced with.
pub const MARK: &str = "[REDACTED]";

/// Key names whose `=` value is a secret: a component (separated by `_`, `.` or `-`) of the key
/// is one of these words; `aws_secret_access_key`, `DB_PASSWORD`, `client-secret`, `api_key`,
/// `access_token` qualify, `max_tokens`, `token_count`, `password_file` and `PWD` do not.
const KEY: &str = r"(?:[A-Za-z0-9]+[_.\-])*(?:password|passwd|passphrase|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?)(?:[_.\-](?:access[_.\-])?key)?";

/// A value: double-quoted, single-quoted or bare (up to white space, a quote, `&`, `,` or `;`).
fn value(name: &str) -> String {
    format!(r#"(?:"(?P<{name}a>(?:[^"\\]|\\.)+)"|'(?P<{name}b>[^']+)'|(?P<{name}c>[^\s"'&,;]+))"#)
}

/// A check a matched secret must pass (fewer false positives).
type Check = Option<fn(&str) -> bool>;

/// The built-in rules, most specific first: (name, regex, optional check of the secret).
fn builtin() -> Vec<(&'static str, String, Check)> {
    vec![
        // A private key on one line (JSON-escaped newlines, a single log line).
        (
            "private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?P<secret>.+?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)".into(),
            None,
        ),
        // Authorization headers: the scheme is kept, the credentials masked up to the end of
        // the value (a quote or the end of the line).
        (
            "authorization header",
            r#"(?i)\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|negotiate|ntlm|apikey|aws4-hmac-sha256)\s+)?(?P<secret>[^"'\r\n]+)"#.into(),
            None,
        ),
        // Other headers that carry credentials.
        (
            "credential header",
            r#"(?i)\b(?:x-api-key|api-key|x-auth-token|private-token|job-token|x-gitlab-token|x-vault-token|cookie|set-cookie)["']?\s*:\s*["']?(?P<secret>[^"'\r\n]+)"#.into(),
            None,
        ),
        // `Bearer <token>` anywhere else (a token has digits and some length; "Bearer
        // authentication failed" is prose).
        (
            "bearer token",
            r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)".into(),
            Some(|s: &str| s.bytes().any(|b| b.is_ascii_digit())),
        ),
        // Passwords in URLs: scheme://user:password@host.
        (
            "url password",
            r#"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@"'<>]*:(?P<secret>[^/\s@"'<>]+)@"#.into(),
            None,
        ),
        // Slack incoming-webhook URLs: the path is the secret.
        (
            "slack webhook url",
            r"(?i)\bhooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_/\-]+)".into(),
            None,
        ),
        // AWS access key ids.
        (
            "aws access key id",
            r"\b(?P<secret>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16})\b".into(),
            None,
        ),
        // AWS secret access keys: 40 base64 characters on a line that mentions AWS.
        (
            "aws secret access key",
            r"(?i:aws).*?(?:^|[^A-Za-z0-9/+=])(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)".into(),
            Some(|s: &str| {
                s.bytes().any(|b| b.is_ascii_uppercase())
                    && s.bytes().any(|b| b.is_ascii_lowercase())
                    && s.bytes().any(|b| b.is_ascii_digit())
            }),
        ),
        // GitHub tokens (classic and fine-grained).
        (
            "github token",
            r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b".into(),
            None,
        ),
        // GitLab tokens (personal, project, deploy, runner, trigger, …).
        (
            "gitlab token",
            r"\b(?P<secret>gl(?:pat|ptt|dt|rt|cbt|soat|imt|oas|ffct|agent|ft)-[A-Za-z0-9_\-]{20,}|GR1348941[A-Za-z0-9_\-]{20,})".into(),
            None,
        ),
        // Slack tokens.
        ("slack token", r"\b(?P<secret>xox[abposre]-[A-Za-z0-9\-]{10,}|xapp-[0-9]-[A-Za-z0-9\-]{10,})".into(), None),
        // JSON Web Tokens: base64url header and payload (both JSON, so both start `eyJ`).
        ("jwt", r"\b(?P<secret>eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*)".into(), None),
        // "password": "…" and 'password': '…' (JSON, Python dicts).
        ("quoted key", format!(r#"(?i)["']{KEY}["']\s*:\s*{}"#, value("secret")), None),
        // password=…, DB_PASSWORD="…", ?access_token=…&.
        ("key=value", format!(r"(?i)\b{KEY}\s*=\s*{}", value("secret")), None),
        // --password … on command lines.
        (
            "command-line flag",
            r"(?i)--(?:[a-z0-9]+-)*(?:password|passwd|passphrase|secret|token|api-key|apikey)\s+(?P<secret>[^\s\-][^\s]*)"
                .into(),
            None,
        ),
    ]
}

struct Rule {
    re: Regex,
    /// Capture groups to mask (empty: the whole match).
    groups: Vec<usize>,
    check: Check,
}

impl Rule {
    fn new(pattern: &str, check: Check) -> Result<Rule, regex::Error> {
        let re = Regex::new(pattern)?;
        let groups = re
            .capture_names()
            .enumerate()
            .filter(|(_, n)| n.is_some_and(|n| n.starts_with("secret")))
            .map(|(i, _)| i)
            .collect();
        Ok(Rule { re, groups, check })
    }

    /// Spans of `text` to mask.
    fn spans(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        for caps in self.re.captures_iter(text) {
            let mut push = |m: regex::Match<'_>| {
                let s = m.as_str();
                if !s.is_empty() && s != MARK && self.check.is_none_or(|c| c(s)) {
                    out.push((m.start(), m.end()));
                }
            };
            if self.groups.is_empty() {
                push(caps.get(0).expect("group 0"));
            } else {
                for &g in &self.groups {
                    if let Some(m) = caps.get(g) {
                        push(m);
                    }
                }
            }
        }
    }
}

/// Masks secrets in findings. Cheap to clone; a disabled redactor changes nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    rules: Option<Arc<Vec<Rule>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rules {
            Some(r) => write!(f, "Redactor({} rules)", r.len()),
            None => f.write_str("Redactor(off)"),
        }
    }
}

impl Redactor {
    /// The built-in rules plus `extra` regexes (a group named `secret` limits what is masked).
    pub fn new(extra: &[String]) -> Result<Redactor, String> {
        let mut rules = Vec::new();
        for (name, pattern, check) in builtin() {
            rules.push(Rule::new(&pattern, check).map_err(|e| format!("built-in rule {name}: {e}"))?);
        }
        for p in extra {
            rules.push(
                Rule::new(p, None).map_err(|e| format!("invalid pattern {p:?}: {}", one_line_error(&e)))?,
            );
        }
        Ok(Redactor { rules: Some(Arc::new(rules)) })
    }

    /// A redactor that masks nothing (`--no-redact`).
    pub fn disabled() -> Redactor {
        Redactor { rules: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.rules.is_some()
    }

    /// Checks an extra pattern (config validation); the error is one line.
    pub fn check_pattern(pattern: &str) -> Result<(), String> {
        Regex::new(pattern).map(|_| ()).map_err(|e| one_line_error(&e))
    }

    /// One line with its secrets masked.
    pub fn line<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(rules) = &self.rules else { return Cow::Borrowed(text) };
        let mut current: Cow<'a, str> = Cow::Borrowed(text);
        let mut spans = Vec::new();
        for rule in rules.iter() {
            spans.clear();
            rule.spans(&current, &mut spans);
            if spans.is_empty() {
                continue;
            }
            spans.sort_unstable();
            let mut out = String::with_capacity(current.len());
            let mut at = 0;
            for &(start, end) in &spans {
                if start < at {
                    // Overlaps a span already masked.
                    at = at.max(end);
                    continue;
                }
                out.push_str(&current[at..start]);
                out.push_str(MARK);
                at = end;
            }
            out.push_str(&current[at..]);
            current = Cow::Owned(out);
        }
        current
    }

    fn set(&self, text: &mut String) {
        if let Cow::Owned(masked) = self.line(text) {
            *text = masked;
        }
    }

    fn stream(&self, s: &mut StreamInfo) {
        self.set(&mut s.name);
        if let Some(p) = &mut s.path {
            self.set(p);
        }
        for v in s.labels.values_mut() {
            self.set(v);
        }
    }

    /// Masks a finding's log-derived text: evidence and context lines, the stream's identity.
    pub fn finding(&self, f: &mut Finding) {
        if self.rules.is_none() {
            return;
        }
        self.stream(&mut f.stream);
        let mut lines: Vec<&mut FindingLine> = f.evidence.iter_mut().chain(f.context.iter_mut()).collect();
        lines.sort_by_key(|l| l.line);
        let mut in_key = false;
        for l in lines {
            let begins = is_key_marker(&l.text, "-----BEGIN");
            let ends = is_key_marker(&l.text, "-----END");
            if in_key && !begins && !ends {
                // A line of a private key's body.
                l.text = MARK.to_string();
                continue;
            }
            if ends {
                in_key = false;
            }
            if begins && !ends {
                in_key = true;
            }
            self.set(&mut l.text);
        }
    }

    pub fn activity(&self, a: &mut Activity) {
        if self.rules.is_some() {
            self.stream(&mut a.stream);
        }
    }

    pub fn event(&self, e: &mut Event) {
        match e {
            Event::Finding(f) => self.finding(f),
            Event::Activity(a) => self.activity(a),
        }
    }
}

/// The regex crate's errors draw the pattern over several lines; keep the reason.
fn one_line_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid regex");
    last.trim().trim_start_matches("error: ").to_string()
}

/// True when `text` holds a `-----BEGIN … PRIVATE KEY` (or `-----END …`) marker.
fn is_key_marker(text: &str, marker: &str) -> bool {
    text.match_indices(marker).any(|(i, _)| {
        let rest = &text[i + marker.len()..];
        let end = rest.find("-----").unwrap_or(rest.len());
        rest[..end].contains("PRIVATE KEY")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line of `tests/fixtures/redact/secrets.txt` holds one secret shape; the text between
    /// `«` and `»` is the secret that must disappear (the markers themselves are removed).
    pub(crate) fn table() -> Vec<(String, String)> {
        include_str!("../tests/fixtures/redact/secrets.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (before, rest) = l.split_once('«').expect("a «secret» on every line");
                let (secret, after) = rest.split_once('»').expect("closing »");
                (format!("{before}{secret}{after}"), secret.to_string())
            })
            .collect()
    }

    fn redactor() -> Redactor {
        Redactor::new(&[]).unwrap()
    }

    #[test]
    fn every_secret_shape_in_the_table_is_masked() {
        let r = redactor();
        let table = table();
        assert!(table.len() >= 25, "the table covers every shape");
        for (line, secret) in table {
            let out = r.line(&line);
            assert!(!out.contains(&secret), "secret {secret:?} survived in {out:?}");
            assert!(out.contains(MARK), "{line:?} → {out:?}");
        }
    }

    #[test]
    fn ordinary_lines_are_unchanged() {
        let r = redactor();
        for line in include_str!("../tests/fixtures/redact/ordinary.txt").lines() {
            assert_eq!(r.line(line), line, "an ordinary line was changed");
        }
    }

    #[test]
    fn the_readable_part_is_kept() {
        let r = redactor();
        let cases = [
            ("curl -H 'Authorization: Bearer abc.def-123' x", "curl -H 'Authorization: Bearer [REDACTED]' x"),
            ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
            (
                "connecting to postgres://app:s3cr3t@db:5432/app",
                "connecting to postgres://app:[REDACTED]@db:5432/app",
            ),
            ("login password=hunter2 user=bob", "login password=[REDACTED] user=bob"),
            ("DB_PASSWORD=\"two words\" next", "DB_PASSWORD=\"[REDACTED]\" next"),
            ("GET /cb?access_token=abc123&state=x", "GET /cb?access_token=[REDACTED]&state=x"),
            (r#"{"user":"bob","password":"hunter2"}"#, r#"{"user":"bob","password":"[REDACTED]"}"#),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used"),
            ("mysql --password hunter2 -h db", "mysql --password [REDACTED] -h db"),
        ];
        for (input, expected) in cases {
            assert_eq!(r.line(input), expected);
        }
    }

    #[test]
    fn extra_patterns_mask_their_secret_group_or_whole_match() {
        let r = Redactor::new(&["session=(?P<secret>[0-9a-f]{8})".into(), "INTERNAL-[0-9]+".into()]).unwrap();
        assert_eq!(r.line("x session=deadbeef y"), "x session=[REDACTED] y");
        assert_eq!(r.line("ticket INTERNAL-42 open"), "ticket [REDACTED] open");
        assert!(Redactor::new(&["(".into()]).is_err());
    }

    #[test]
    fn disabled_changes_nothing() {
        let line = "password=hunter2";
        assert_eq!(Redactor::disabled().line(line), line);
    }

    #[test]
    fn private_key_bodies_across_lines_are_masked() {
        use crate::finding::FindingLine;
        let l = |line, text: &str| FindingLine { line, text: text.into(), time: String::new() };
        let mut f = crate::sink::spool::tests::finding("x");
        f.stream = StreamInfo::new("exec", "deploy --token s3cr3t-token");
        f.evidence = vec![l(4, "error: bad key")];
        f.context = vec![
            l(1, "-----BEGIN RSA PRIVATE KEY-----"),
            l(2, "MIIEowIBAAKCAQEAuQ3vE0zN"),
            l(3, "-----END RSA PRIVATE KEY-----"),
            l(5, "plain line"),
        ];
        redactor().finding(&mut f);
        assert_eq!(f.context[1].text, MARK);
        assert_eq!(f.context[0].text, "-----BEGIN RSA PRIVATE KEY-----");
        assert_eq!(f.context[2].text, "-----END RSA PRIVATE KEY-----");
        assert_eq!(f.context[3].text, "plain line");
        assert_eq!(f.evidence[0].text, "error: bad key");
        assert_eq!(f.stream.name, "deploy --token [REDACTED]");
    }
}
