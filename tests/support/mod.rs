//! A `faultline watch` process for integration tests (the built binary): findings from its
//! stdout (JSON), its own log from stderr (JSON), waits with deadlines — never fixed sleeps.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Playbooks of the watch tests (boom, burst, sentinel) plus the container tests' own.
pub const TEST_PLAYBOOKS: [&str; 4] =
    ["--playbooks", "tests/fixtures/watch/playbooks", "--playbooks", "tests/fixtures/containers/playbooks"];

pub struct Daemon {
    pub child: Child,
    findings: Receiver<Value>,
    stderr: Arc<Mutex<Vec<Value>>>,
    pub seen: Vec<Value>,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

impl Daemon {
    /// Starts `faultline watch --format json … ARGS` and waits until it is watching.
    pub fn start(state: &Path, args: &[&str]) -> Daemon {
        Self::start_with(state, args, &[])
    }

    pub fn start_with(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let d = Self::spawn(state, args, env);
        d.wait_log("Watching.");
        d
    }

    pub fn spawn(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(bin());
        cmd.arg("watch")
            .args(["--format", "json", "--log-format", "json", "--log-level", "debug", "--state-dir"])
            .arg(state)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start faultline");
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let v = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        Daemon { child, findings: rx, stderr, seen: Vec::new() }
    }

    /// The next finding for `playbook`, skipping (and remembering) others.
    pub fn finding(&mut self, playbook: &str) -> Value {
        self.finding_where(playbook, |_| true)
    }

    /// The next finding for `playbook` that `accept` accepts.
    pub fn finding_where(&mut self, playbook: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let f = self.findings.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {playbook} finding within {DEADLINE:?}; seen: {:?}\nlast evidence: {:?}\nlog: {:#?}",
                    self.ids(),
                    self.seen
                        .iter()
                        .rev()
                        .take(3)
                        .map(|f| f["evidence"][0]["text"].clone())
                        .collect::<Vec<_>>(),
                    self.log_messages()
                )
            });
            self.seen.push(f.clone());
            if f["playbook"]["id"] == playbook && accept(&f) {
                return f;
            }
        }
    }

    /// Waits for the `sentinel-n reached` finding, unless it has already been seen (the line
    /// may have been read before the caller learnt it was the last one).
    pub fn sentinel_seen(&mut self, n: u64) {
        if !sentinels(&self.seen).contains(&n) {
            self.finding_where("sentinel", |f| sentinels(std::slice::from_ref(f)) == [n]);
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.seen.iter().map(|f| f["playbook"]["id"].as_str().unwrap_or("").to_string()).collect()
    }

    pub fn log_messages(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .map(|v| match v["fields"]["message"].as_str() {
                Some(m) => format!("{m} {}", v["fields"]),
                None => v.to_string(),
            })
            .collect()
    }

    /// The first log entry with this message (waits for it).
    pub fn wait_log(&self, message: &str) -> Value {
        self.wait_log_where(message, |_| true)
    }

    pub fn wait_log_where(&self, message: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) =
                self.stderr.lock().unwrap().iter().find(|v| v["fields"]["message"] == message && accept(v))
            {
                return v.clone();
            }
            assert!(Instant::now() < end, "no log {message:?}; log: {:#?}", self.log_messages());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM, wait for the exit; returns every finding it printed and the stream summaries.
    pub fn stop(mut self) -> (Vec<Value>, Vec<Value>) {
        self.signal(libc::SIGTERM);
        let status = wait_exit(&mut self.child);
        assert!(status.success(), "exit status {status:?}; log: {:#?}", self.log_messages());
        self.finish()
    }

    /// Waits for the process to end by itself (`--once`, every source ended).
    pub fn wait(mut self) -> (Vec<Value>, Vec<Value>) {
        let status = wait_exit(&mut self.child);
        assert!(status.success(), "exit status {status:?}; log: {:#?}", self.log_messages());
        self.finish()
    }

    pub fn finish(mut self) -> (Vec<Value>, Vec<Value>) {
        while let Ok(f) = self.findings.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(f);
        }
        let summaries = self
            .stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["fields"]["message"] == "Stream summary.")
            .map(|v| v["fields"].clone())
            .collect();
        (std::mem::take(&mut self.seen), summaries)
    }

    pub fn kill9(mut self) -> Vec<Value> {
        self.signal(libc::SIGKILL);
        wait_exit(&mut self.child);
        self.finish().0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < end, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `cond` holds (polling), or fails with `what`.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The numbers N of the `sentinel-N reached` findings, in order.
pub fn sentinels(findings: &[Value]) -> Vec<u64> {
    findings
        .iter()
        .filter(|f| f["playbook"]["id"] == "sentinel")
        .filter_map(|f| {
            let text = f["evidence"][0]["text"].as_str()?;
            let start = text.find("sentinel-")? + "sentinel-".len();
            let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}
