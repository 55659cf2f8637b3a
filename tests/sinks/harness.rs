//! The built binary as a daemon: findings from its stdout (JSON), its own log from stderr (JSON).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PLAYBOOKS: &str = "tests/fixtures/sinks/playbooks";
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Daemon {
    child: Child,
    findings: Receiver<Value>,
    stderr: Arc<Mutex<Vec<Value>>>,
    pub seen: Vec<Value>,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// Polls `f` until it returns `Some`, or panics with `what` after the deadline.
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

pub fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl Daemon {
    /// `faultline watch --format json … ARGS` with `state` as its state directory.
    pub fn start(state: &Path, args: &[&str]) -> Daemon {
        Self::start_with(state, PLAYBOOKS, args)
    }

    pub fn start_with(state: &Path, playbooks: &str, args: &[&str]) -> Daemon {
        let mut child = Command::new(bin())
            .arg("watch")
            .args(["--format", "json", "--log-format", "json", "--log-level", "debug"])
            .args(["--playbooks", playbooks, "--state-dir"])
            .arg(state)
            .args(args)
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
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let v = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        let d = Daemon { child, findings: rx, stderr, seen: Vec::new() };
        d.wait_log("Watching.");
        d
    }

    /// The next finding of `playbook` on stdout, skipping (and remembering) others.
    pub fn finding(&mut self, playbook: &str) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let f = self.findings.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no {playbook} finding within {DEADLINE:?}; log: {:?}", self.log_messages())
            });
            self.seen.push(f.clone());
            if f["playbook"]["id"] == playbook {
                return f;
            }
        }
    }

    pub fn log(&self) -> Vec<Value> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn log_messages(&self) -> Vec<String> {
        self.log()
            .iter()
            .map(|v| v["fields"]["message"].as_str().map_or(v.to_string(), str::to_string))
            .collect()
    }

    pub fn wait_log(&self, message: &str) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = self.log().iter().find(|v| v["fields"]["message"] == message) {
                return v.clone();
            }
            assert!(Instant::now() < end, "no log {message:?}; log: {:?}", self.log_messages());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM and wait for a clean exit; returns the daemon's whole log.
    pub fn stop(self) -> Vec<Value> {
        self.stop_with_output().0
    }

    /// SIGTERM and wait for a clean exit; returns the daemon's log and every finding it printed.
    pub fn stop_with_output(mut self) -> (Vec<Value>, Vec<Value>) {
        self.signal(libc::SIGTERM);
        let status = wait_exit(&mut self.child);
        assert!(status.success(), "exit status {status:?}; log: {:?}", self.log_messages());
        self.finish()
    }

    pub fn kill9(mut self) -> Vec<Value> {
        self.signal(libc::SIGKILL);
        wait_exit(&mut self.child);
        self.finish().0
    }

    fn finish(mut self) -> (Vec<Value>, Vec<Value>) {
        // The reader threads end with the pipes.
        while let Ok(f) = self.findings.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(f);
        }
        std::thread::sleep(Duration::from_millis(100));
        (self.log(), std::mem::take(&mut self.seen))
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

/// The "Sink summary." counters of sink `name` in a daemon's log.
pub fn sink_summary(log: &[Value], name_prefix: &str) -> Value {
    log.iter()
        .find(|v| {
            v["fields"]["message"] == "Sink summary."
                && v["fields"]["sink"].as_str().is_some_and(|s| s.starts_with(name_prefix))
        })
        .map(|v| v["fields"].clone())
        .unwrap_or_else(|| panic!("no summary of sink {name_prefix}"))
}

/// Every string in a JSON value (keys and leaves).
pub fn strings(v: &Value, out: &mut Vec<String>) {
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

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes a config file into `dir`.
pub fn config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("faultline.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}
