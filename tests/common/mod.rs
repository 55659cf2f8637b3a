//! The one process harness of the integration tests: runs the built binary as `faultline watch`,
//! collects its findings (stdout, JSON) and its own log (stderr, JSON) on background threads, and
//! waits on them with deadlines — never fixed sleeps. A daemon is killed when its `Daemon` is
//! dropped, so a test that fails midway does not leave it running.
//!
//! Test files include it with `mod common;` (`#[path = "../common/mod.rs"] mod common;` from a
//! test directory such as `tests/sinks/`).
#![allow(dead_code)] // each test file uses a different part

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any wait lasts before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long the output of an exited daemon may take to be read to its end.
const DRAIN: Duration = Duration::from_secs(5);

/// The playbooks of the watch tests: boom, burst, sentinel. Paths are absolute, so a daemon
/// started in another working directory finds them.
pub const WATCH_PLAYBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/watch/playbooks");
/// The container tests' own playbooks (split, trace), used with [`WATCH_PLAYBOOKS`].
pub const CONTAINER_PLAYBOOKS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/containers/playbooks");
/// The playbooks of the sink tests: boom, leak, quota, sentinel.
pub const SINK_PLAYBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sinks/playbooks");

/// The playbook directories a daemon runs with, each given as `--playbooks DIR`; none at all
/// runs the bundled catalog. Every start names its set: there is no default.
#[derive(Debug, Clone, Copy)]
pub struct Playbooks<'a>(pub &'a [&'a str]);

impl Playbooks<'static> {
    pub const WATCH: Playbooks<'static> = Playbooks(&[WATCH_PLAYBOOKS]);
    pub const CONTAINERS: Playbooks<'static> = Playbooks(&[WATCH_PLAYBOOKS, CONTAINER_PLAYBOOKS]);
    pub const SINKS: Playbooks<'static> = Playbooks(&[SINK_PLAYBOOKS]);
    /// No `--playbooks`: the bundled catalog, as users run it.
    pub const BUNDLED: Playbooks<'static> = Playbooks(&[]);
}

impl<'a> Playbooks<'a> {
    /// `--playbooks DIR` for each directory, for a command line.
    pub fn args(self) -> Vec<&'a str> {
        self.0.iter().flat_map(|dir| ["--playbooks", dir]).collect()
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// A running `faultline watch --format json --log-format json --log-level debug`.
pub struct Daemon {
    pub child: Child,
    findings: Receiver<Value>,
    stderr: Arc<Mutex<Vec<Value>>>,
    stderr_reader: Option<JoinHandle<()>>,
    /// Every finding read so far, in order.
    pub seen: Vec<Value>,
}

impl Daemon {
    /// Starts `faultline watch … PLAYBOOKS --state-dir STATE ARGS` and waits until it is watching.
    pub fn start(state: &Path, playbooks: Playbooks, args: &[&str]) -> Daemon {
        Self::start_with(state, playbooks, args, &[])
    }

    /// As [`Daemon::start`], with these environment variables added.
    pub fn start_with(state: &Path, playbooks: Playbooks, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Self::started(Self::command(state, playbooks, args).envs(env.iter().copied()))
    }

    /// As [`Daemon::start`], in the working directory `cwd`.
    pub fn start_in(cwd: &Path, state: &Path, playbooks: Playbooks, args: &[&str]) -> Daemon {
        Self::started(Self::command(state, playbooks, args).current_dir(cwd))
    }

    /// As [`Daemon::start_with`], without waiting for it to watch (`--once` may be done first).
    pub fn spawn(state: &Path, playbooks: Playbooks, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Self::launch(Self::command(state, playbooks, args).envs(env.iter().copied()))
    }

    fn command(state: &Path, playbooks: Playbooks, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("watch")
            .args(["--format", "json", "--log-format", "json", "--log-level", "debug"])
            .args(playbooks.args())
            .arg("--state-dir")
            .arg(state)
            .args(args);
        cmd
    }

    fn started(cmd: &mut Command) -> Daemon {
        let d = Self::launch(cmd);
        d.wait_log("Watching.");
        d
    }

    fn launch(cmd: &mut Command) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start faultline");
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
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let v = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        Daemon { child, findings: rx, stderr, stderr_reader: Some(stderr_reader), seen: Vec::new() }
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

    /// The playbook ids of the findings seen so far.
    pub fn ids(&self) -> Vec<String> {
        self.seen.iter().map(|f| f["playbook"]["id"].as_str().unwrap_or("").to_string()).collect()
    }

    /// The daemon's log so far.
    pub fn log(&self) -> Vec<Value> {
        self.stderr.lock().unwrap().clone()
    }

    /// The daemon's log so far, one line per entry: the message and its fields.
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

    /// The first log entry with this message that `accept` accepts (waits for it).
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

    /// How many log entries so far have this message.
    pub fn count_log(&self, message: &str) -> usize {
        self.stderr.lock().unwrap().iter().filter(|v| v["fields"]["message"] == message).count()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM and wait for a clean exit; returns every finding it printed and the stream
    /// summaries.
    pub fn stop(self) -> (Vec<Value>, Vec<Value>) {
        let (findings, log) = self.stop_with_log();
        (findings, stream_summaries(&log))
    }

    /// SIGTERM and wait for a clean exit; returns every finding it printed and its whole log.
    pub fn stop_with_log(mut self) -> (Vec<Value>, Vec<Value>) {
        self.signal(libc::SIGTERM);
        self.exited()
    }

    /// Waits for the process to end by itself (`--once`, every source ended) with success;
    /// returns every finding it printed and the stream summaries.
    pub fn wait(mut self) -> (Vec<Value>, Vec<Value>) {
        let (findings, log) = self.exited();
        (findings, stream_summaries(&log))
    }

    /// SIGKILL; returns every finding it printed.
    pub fn kill9(mut self) -> Vec<Value> {
        self.signal(libc::SIGKILL);
        wait_exit(&mut self.child);
        self.finish().0
    }

    /// Asserts a clean exit, then [`Daemon::finish`].
    fn exited(&mut self) -> (Vec<Value>, Vec<Value>) {
        let status = wait_exit(&mut self.child);
        assert!(status.success(), "exit status {status:?}; log: {:#?}", self.log_messages());
        self.finish()
    }

    /// Once the process has exited: every finding it printed and its whole log, both read to
    /// their end (the reader threads end with the pipes).
    pub fn finish(&mut self) -> (Vec<Value>, Vec<Value>) {
        while let Ok(f) = self.findings.recv_timeout(DRAIN) {
            self.seen.push(f);
        }
        if let Some(reader) = self.stderr_reader.take() {
            let end = Instant::now() + DRAIN;
            while !reader.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        (std::mem::take(&mut self.seen), self.log())
    }
}

impl Drop for Daemon {
    /// A test that fails midway does not leave its daemon running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn wait_exit(child: &mut Child) -> ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < end, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns `Some`, or fails with `what` after the deadline.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `cond` holds (polling), or fails with `what` after the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(what, || cond().then_some(()));
}

/// The fields of the "Stream summary." entries of a daemon's log.
pub fn stream_summaries(log: &[Value]) -> Vec<Value> {
    log.iter().filter(|v| v["fields"]["message"] == "Stream summary.").map(|v| v["fields"].clone()).collect()
}

/// The lines read from `path`, by the stream summaries.
pub fn lines_of(summaries: &[Value], path: &Path) -> u64 {
    summaries
        .iter()
        .filter(|s| s["path"] == path.display().to_string())
        .map(|s| s["lines"].as_u64().unwrap())
        .sum()
}

/// The "Sink summary." counters of the sink whose name starts with `name_prefix`, in a daemon's
/// log.
pub fn sink_summary(log: &[Value], name_prefix: &str) -> Value {
    log.iter()
        .find(|v| {
            v["fields"]["message"] == "Sink summary."
                && v["fields"]["sink"].as_str().is_some_and(|s| s.starts_with(name_prefix))
        })
        .map(|v| v["fields"].clone())
        .unwrap_or_else(|| panic!("no summary of sink {name_prefix}"))
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

pub fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Ordinary log lines `from..to`, each `… worker N processed a job`.
pub fn numbered(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("2024-05-01T10:00:00Z worker {i} processed a job\n")).collect()
}

/// Writes a config file `faultline.yaml` into `dir`.
pub fn config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("faultline.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
