//! The test harness for the daemon: runs the built binary, collects its findings (stdout, JSON)
//! and its own log (stderr, JSON) on background threads, and waits on them with deadlines.
#![allow(dead_code)] // each test file uses a different part

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PLAYBOOKS: &str = "tests/fixtures/watch/playbooks";
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Daemon {
    pub child: Child,
    pub findings: Receiver<Value>,
    pub stderr: Arc<Mutex<Vec<Value>>>,
    pub seen: Vec<Value>,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

impl Daemon {
    pub fn start(state: &Path, args: &[&str]) -> Daemon {
        Self::start_with_stdin(state, args, Stdio::null())
    }

    pub fn start_with_stdin(state: &Path, args: &[&str], stdin: Stdio) -> Daemon {
        Self::start_with(state, args, &[], stdin)
    }

    /// Starts `faultline watch` with the test playbooks, JSON output and JSON logs, and waits
    /// until it is watching.
    pub fn start_with(state: &Path, args: &[&str], env: &[(&str, &str)], stdin: Stdio) -> Daemon {
        let mut cmd = Self::command(state, args);
        cmd.envs(env.iter().copied()).stdin(stdin);
        Self::spawn(cmd)
    }

    /// As [`Daemon::start`], in the working directory `cwd`.
    pub fn start_in(cwd: &Path, state: &Path, args: &[&str]) -> Daemon {
        let mut cmd = Self::command(state, args);
        cmd.current_dir(cwd).stdin(Stdio::null());
        Self::spawn(cmd)
    }

    fn command(state: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("watch")
            .args(["--format", "json", "--log-format", "json", "--log-level", "debug", "--playbooks"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(PLAYBOOKS))
            .arg("--state-dir")
            .arg(state)
            .args(args);
        cmd
    }

    fn spawn(mut cmd: Command) -> Daemon {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start faultline");
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
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                } else {
                    sink.lock().unwrap().push(Value::String(line));
                }
            }
        });
        let d = Daemon { child, findings: rx, stderr, seen: Vec::new() };
        d.wait_log("Watching.");
        d
    }

    /// The next finding for `playbook`, skipping (and remembering) others.
    pub fn finding(&mut self, playbook: &str) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let f = self.findings.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no {playbook} finding within {DEADLINE:?}; seen: {:?}\nlog: {:?}",
                    self.ids(),
                    self.log_messages()
                )
            });
            self.seen.push(f.clone());
            if f["playbook"]["id"] == playbook {
                return f;
            }
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
            .map(|v| v["fields"]["message"].as_str().map_or(v.to_string(), str::to_string))
            .collect()
    }

    pub fn wait_log(&self, message: &str) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = self.stderr.lock().unwrap().iter().find(|v| v["fields"]["message"] == message) {
                return v.clone();
            }
            assert!(Instant::now() < end, "no log {message:?}; log: {:?}", self.log_messages());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn count_log(&self, message: &str) -> usize {
        self.stderr.lock().unwrap().iter().filter(|v| v["fields"]["message"] == message).count()
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
        assert!(status.success(), "exit status {status:?}; log: {:?}", self.log_messages());
        self.finish()
    }

    pub fn finish(mut self) -> (Vec<Value>, Vec<Value>) {
        // The reader threads end with the pipes; collect the rest.
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
        (self.seen, summaries)
    }

    pub fn kill9(mut self) -> Vec<Value> {
        self.signal(libc::SIGKILL);
        wait_exit(&mut self.child);
        self.finish().0
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

pub fn lines_of(summaries: &[Value], path: &Path) -> u64 {
    summaries
        .iter()
        .filter(|s| s["path"] == path.display().to_string())
        .map(|s| s["lines"].as_u64().unwrap())
        .sum()
}

pub fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

pub fn numbered(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("2024-05-01T10:00:00Z worker {i} processed a job\n")).collect()
}
