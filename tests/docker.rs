//! `faultline watch --docker` against a real Docker engine (the private dockerd that
//! `scripts/services/dockerd.sh` starts; `scripts/test.sh` starts it and exports `DOCKER_HOST`
//! and `FAULTLINE_TEST_DOCKER_IMAGE`). Containers run the local busybox image with
//! `--network none`; each test selects only its own containers by a unique label.
//!
//! "No loss, no duplicate" is checked against the engine's own record: the sentinel lines in
//! `docker logs` (every run of the container) must be exactly the sentinel findings.

mod common;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::{Daemon, Playbooks, sentinels, wait_until};
use serde_json::Value;

struct Engine {
    host: String,
    image: String,
    /// Label value selecting this test's containers.
    tag: String,
    containers: Vec<String>,
}

impl Engine {
    fn new(test: &str) -> Engine {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| {
            panic!(
                "these tests need a Docker engine: run scripts/test.sh, or first `eval \"$(scripts/services/dockerd.sh start)\"` (sets DOCKER_HOST and FAULTLINE_TEST_DOCKER_IMAGE)"
            )
        });
        let image = std::env::var("FAULTLINE_TEST_DOCKER_IMAGE").unwrap_or_else(|_| {
            panic!(
                "FAULTLINE_TEST_DOCKER_IMAGE is not set: start the engine with scripts/services/dockerd.sh"
            )
        });
        let out = Command::new("docker").args(["version", "--format", "{{.Server.APIVersion}}"]).output();
        assert!(
            out.as_ref().is_ok_and(|o| o.status.success()),
            "the Docker engine at {host} does not answer: {out:?} (start it with scripts/services/dockerd.sh)"
        );
        Engine { host, image, tag: format!("{test}-{}", std::process::id()), containers: Vec::new() }
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker").env("DOCKER_HOST", &self.host).args(args).output().expect("run docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A container name unique to this test.
    fn name(&self, what: &str) -> String {
        format!("fl-{}-{what}", self.tag)
    }

    /// `docker run -d` with this test's label; `extra` goes before the image, `cmd` after.
    fn run(&mut self, what: &str, extra: &[&str], cmd: &[&str]) -> String {
        let name = self.name(what);
        let label = format!("fltest={}", self.tag);
        let mut args = vec!["run", "-d", "--network", "none", "--name", &name, "--label", &label];
        args.extend_from_slice(extra);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        self.ok(&args);
        self.containers.push(name.clone());
        name
    }

    fn selector(&self) -> String {
        format!("label=fltest={}", self.tag)
    }

    /// The sentinel numbers in the container's whole log (every run), in order.
    fn logged_sentinels(&self, name: &str) -> Vec<u64> {
        let out = self.docker(&["logs", name]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        text.lines()
            .filter_map(|l| l.strip_prefix("sentinel-")?.strip_suffix(" reached")?.parse().ok())
            .collect()
    }

    fn start(&self, state: &Path, extra: &[&str]) -> Daemon {
        let sel = self.selector();
        let mut args = vec!["--docker", &sel];
        args.extend_from_slice(extra);
        Daemon::start_with(state, Playbooks::CONTAINERS, &args, &[("DOCKER_HOST", &self.host)])
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.docker(&["rm", "-f", c]);
        }
    }
}

/// A shell loop printing `sentinel-N reached` every 50 ms, N continuing across restarts (kept
/// in /w/n), stopping at once on SIGTERM.
const COUNTER: &str = "trap 'exit 0' TERM; n=$(cat /w/n 2>/dev/null || echo 0); while :; do n=$((n+1)); echo \"sentinel-$n reached\"; echo $n > /w/n; sleep 0.05; done";

#[test]
fn a_failure_line_gives_a_finding_with_the_container_metadata_and_selected_labels() {
    let mut e = Engine::new("meta");
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().display().to_string();
    // Running before faultline starts; prints once told to (a file in a bind mount).
    let wait_then = "while [ ! -f /w/go ]; do sleep 0.05; done; echo 'FATAL BOOM in checkout'; echo 'sentinel-1 reached'; sleep 600";
    let vol = format!("{w}:/w");
    let web = e.run(
        "web",
        &[
            "-v",
            &vol,
            "--label",
            "com.docker.compose.project=shop",
            "--label",
            "com.docker.compose.service=web",
        ],
        &["sh", "-c", wait_then],
    );
    // Not selected: the same output must give nothing.
    e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &e.name("other"),
        "-v",
        &vol,
        &e.image.clone(),
        "sh",
        "-c",
        wait_then,
    ]);
    e.containers.push(e.name("other"));
    let config = dir.path().join("faultline.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: docker\n    containers: ['{}']\n    labels: [com.docker.compose.project, com.docker.compose.service]\n",
            e.selector()
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut d = Daemon::start_with(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &args,
        &[("DOCKER_HOST", &e.host)],
    );
    d.wait_log_where("Following container.", |v| v["fields"]["container"] == web);
    std::fs::write(dir.path().join("go"), "").unwrap();
    let f = d.finding("boom");
    let id = e.ok(&["inspect", "--format", "{{.Id}}", &web]);
    assert_eq!(f["stream"]["kind"], "docker");
    assert_eq!(f["stream"]["name"], web);
    let labels = &f["stream"]["labels"];
    assert_eq!(labels["container"], web);
    assert_eq!(labels["container_id"], id);
    assert_eq!(labels["image"], e.image);
    assert_eq!(labels["com.docker.compose.project"], "shop");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM in checkout");
    // The evidence time is the engine's timestamp of the line.
    let logged = e.ok(&["logs", "--timestamps", &web]);
    let stamp = logged.lines().find(|l| l.contains("FATAL BOOM")).unwrap().split(' ').next().unwrap();
    let parse = |t: &str| faultline::decode::format::parse_rfc3339(t.as_bytes()).unwrap();
    let shown = parse(f["evidence"][0]["time"].as_str().unwrap());
    assert_eq!(shown, parse(stamp) / 1_000_000 * 1_000_000, "shown to the millisecond: {stamp}");
    d.finding("sentinel");
    let (seen, _) = d.stop();
    assert_eq!(
        seen.iter().filter(|f| f["playbook"]["id"] == "boom").count(),
        1,
        "the unselected container is not read"
    );
}

#[test]
fn a_container_started_after_faultline_is_read_from_its_first_line() {
    let e = Engine::new("late");
    let dir = tempfile::tempdir().unwrap();
    let mut d = e.start(&dir.path().join("state"), &[]);
    // Prints at once and is removed when it exits: its first line must still be read, and its
    // removal ends its stream.
    let name = e.name("late");
    let label = format!("fltest={}", e.tag);
    e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        &name,
        "--label",
        &label,
        &e.image.clone(),
        "sh",
        "-c",
        "echo 'FATAL BOOM at start'; echo 'sentinel-1 reached'",
    ]);
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["line"], 1);
    assert_eq!(f["stream"]["name"], name);
    d.finding("sentinel");
    d.wait_log_where("Container gone; its stream ended.", |v| v["fields"]["container"] == name);
    d.stop();
}

#[test]
fn docker_restart_mid_stream_loses_and_repeats_no_line() {
    let mut e = Engine::new("restart");
    let dir = tempfile::tempdir().unwrap();
    let vol = format!("{}:/w", dir.path().display());
    let mut d = e.start(&dir.path().join("state"), &[]);
    let name = e.run("counter", &["-v", &vol], &["sh", "-c", COUNTER]);
    d.finding_where("sentinel", |f| sentinels(std::slice::from_ref(f)) == [20]);
    e.ok(&["restart", "-t", "5", &name]);
    d.wait_log_where("Container exited.", |v| v["fields"]["container"] == name);
    wait_until("the restarted container to print 20 more lines", || {
        e.logged_sentinels(&name).last().is_some_and(|&n| n >= 45)
    });
    e.ok(&["restart", "-t", "5", &name]);
    wait_until("more lines after the second restart", || {
        e.logged_sentinels(&name).last().is_some_and(|&n| n >= 70)
    });
    e.ok(&["stop", "-t", "5", &name]);
    let logged = e.logged_sentinels(&name);
    d.sentinel_seen(*logged.last().unwrap());
    let (seen, _) = d.stop();
    assert_eq!(sentinels(&seen), logged, "findings are exactly the lines the container printed, in order");
}

#[test]
fn a_tty_container_is_read_raw() {
    let mut e = Engine::new("tty");
    let dir = tempfile::tempdir().unwrap();
    let mut d = e.start(&dir.path().join("state"), &[]);
    let name = e.run(
        "tty",
        &["-t"],
        &["sh", "-c", "printf 'FATAL BOOM on a terminal\\r\\n'; echo 'sentinel-1 reached'; sleep 600"],
    );
    let f = d.finding("boom");
    assert_eq!(f["evidence"][0]["text"], "FATAL BOOM on a terminal");
    assert_eq!(f["stream"]["name"], name);
    assert_eq!(e.ok(&["inspect", "--format", "{{.Config.Tty}}", &name]), "true");
    d.finding("sentinel");
    d.stop();
}

#[test]
fn stdout_and_stderr_are_joined_apart_and_correlated_together() {
    let mut e = Engine::new("streams");
    let dir = tempfile::tempdir().unwrap();
    let mut d = e.start(&dir.path().join("state"), &["--multiline"]);
    // Two phases (the second waits for /w/go), so the two playbooks do not compete.
    let script = concat!(
        "echo 'stdout half of the failure'; echo 'stderr half of the failure' >&2; ",
        "while [ ! -f /w/go ]; do sleep 0.05; done; ",
        "echo 'java.lang.IllegalStateException: cart is locked'; ",
        "printf '\\tat com.example.cart.Checkout.run(Checkout.java:42)\\n' >&2; sleep 1; ",
        "echo 'sentinel-1 reached'; sleep 600"
    );
    let vol = format!("{}:/w", dir.path().display());
    e.run("streams", &["-v", &vol], &["sh", "-c", script]);
    // One stream for correlation: the two halves make one finding.
    let f = d.finding("split");
    std::fs::write(dir.path().join("go"), "").unwrap();
    let texts: Vec<&str> =
        f["evidence"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 2, "{f}");
    assert!(texts.contains(&"stdout half of the failure") && texts.contains(&"stderr half of the failure"));
    // Separate streams for joining: the stderr frame line does not continue the stdout record.
    let f = d.finding("trace");
    let texts: Vec<&str> =
        f["evidence"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect();
    // (Which of the two records completes first is a race; each is whole and alone.)
    let alone = [
        "java.lang.IllegalStateException: cart is locked",
        "\tat com.example.cart.Checkout.run(Checkout.java:42)",
    ];
    assert!(
        !texts.is_empty() && texts.iter().all(|t| alone.contains(t)),
        "no record mixes the two outputs: {texts:?}"
    );
    d.finding("sentinel");
    d.stop();
}

#[test]
fn an_entrypoint_that_cannot_run_is_reported_as_entrypoint_misconfigured() {
    let mut e = Engine::new("entry");
    let dir = tempfile::tempdir().unwrap();
    // The bundled catalog, as users run it.
    let sel = e.selector();
    let mut d = Daemon::start_with(
        &dir.path().join("state"),
        Playbooks::BUNDLED,
        &["--docker", &sel],
        &[("DOCKER_HOST", &e.host)],
    );
    // 1. The runtime cannot exec the entrypoint: the container never starts (exit 127, no log).
    let name = e.name("missing");
    let label = format!("fltest={}", e.tag);
    let out = e.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "--label",
        &label,
        &e.image.clone(),
        "/app/server",
    ]);
    e.containers.push(name.clone());
    assert!(!out.status.success(), "the start fails");
    let f = d.finding_where("entrypoint-misconfigured", |f| f["stream"]["name"] == name);
    let text = f["evidence"][0]["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("container {name} exited with code 127: ")), "{text}");
    assert!(text.contains("exec: \"/app/server\": stat /app/server: no such file or directory"), "{text}");
    // 2. A shell entrypoint that cannot find its program: it logs one line and exits 127.
    let name = e.run("shell", &[], &["sh", "-c", "exec /app/server"]);
    let f = d.finding_where("entrypoint-misconfigured", |f| f["stream"]["name"] == name);
    let all: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .chain(f["context"].as_array().unwrap())
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(all.iter().any(|t| t.ends_with(&format!("container {name} exited with code 127"))), "{all:?}");
    assert_eq!(e.ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]), "127");
    d.stop();
}

#[test]
fn a_faultline_restart_resumes_from_the_cursor() {
    let mut e = Engine::new("resume");
    let dir = tempfile::tempdir().unwrap();
    let vol = format!("{}:/w", dir.path().display());
    let state = dir.path().join("state");
    let mut d = e.start(&state, &[]);
    let name = e.run("counter", &["-v", &vol], &["sh", "-c", COUNTER]);
    d.finding_where("sentinel", |f| sentinels(std::slice::from_ref(f)) == [10]);
    let (first, _) = d.stop();
    // Lines written while faultline is down are read after the restart, none twice.
    let down = e.logged_sentinels(&name).last().copied().unwrap();
    wait_until("lines written while faultline is stopped", || {
        e.logged_sentinels(&name).last().is_some_and(|&n| n >= down + 15)
    });
    let mut d = e.start(&state, &[]);
    d.finding_where("sentinel", |f| {
        sentinels(std::slice::from_ref(f)).first().is_some_and(|&n| n >= down + 20)
    });
    // And again after a kill -9 (the cursor is checkpointed before any finding is emitted).
    let second = d.kill9();
    let mut d = e.start(&state, &[]);
    let killed_at = sentinels(&second).last().copied().unwrap();
    d.finding_where("sentinel", |f| {
        sentinels(std::slice::from_ref(f)).first().is_some_and(|&n| n >= killed_at + 10)
    });
    e.ok(&["stop", "-t", "5", &name]);
    let logged = e.logged_sentinels(&name);
    d.sentinel_seen(*logged.last().unwrap());
    let (third, _) = d.stop();
    let mut got = sentinels(&first);
    got.extend(sentinels(&second));
    got.extend(sentinels(&third));
    assert_eq!(got, logged, "over three runs, every line exactly once");
}

#[test]
fn a_missing_docker_socket_is_a_clear_error_and_the_other_sources_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let missing = dir.path().join("no/docker.sock");
    let host = format!("unix://{}", missing.display());
    let args = ["--docker", "web", log.to_str().unwrap()];
    let mut d = Daemon::start_with(
        &dir.path().join("state"),
        Playbooks::CONTAINERS,
        &args,
        &[("DOCKER_HOST", &host)],
    );
    let err =
        d.wait_log("Cannot reach the Docker engine; the other sources keep running and this one retries.");
    assert_eq!(err["level"], "ERROR");
    let why = err["fields"]["error"].as_str().unwrap();
    assert!(why.contains(&format!("the Docker socket {} does not exist", missing.display())), "{why}");
    std::fs::write(&log, "FATAL BOOM\n").unwrap();
    let f: Value = d.finding("boom");
    assert_eq!(f["stream"]["kind"], "file");
    d.stop();
}

/// A unix-socket proxy in front of the engine whose connections can all be cut at once: what
/// faultline sees when the engine restarts or the connection breaks.
struct Proxy {
    path: std::path::PathBuf,
    open: Arc<Mutex<Vec<UnixStream>>>,
}

impl Proxy {
    fn start(dir: &Path, upstream: &str) -> Proxy {
        let path = dir.join("proxy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let upstream = upstream.strip_prefix("unix://").expect("a unix:// DOCKER_HOST").to_string();
        let open: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let conns = open.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = UnixStream::connect(&upstream) else { continue };
                conns.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (mut c1, mut s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut s1);
                    let _ = s1.shutdown(std::net::Shutdown::Both);
                });
                let (mut c2, mut s2) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { path, open }
    }

    /// Breaks every open connection (new ones are accepted).
    fn cut(&self) -> usize {
        let conns: Vec<UnixStream> = std::mem::take(&mut *self.open.lock().unwrap());
        for c in &conns {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        conns.len()
    }
}

#[test]
fn a_broken_engine_connection_is_resumed_after_the_cursor() {
    let mut e = Engine::new("cut");
    let dir = tempfile::tempdir().unwrap();
    let vol = format!("{}:/w", dir.path().display());
    let proxy = Proxy::start(dir.path(), &e.host);
    let via = format!("unix://{}", proxy.path.display());
    let sel = e.selector();
    let args = ["--docker", &sel];
    let mut d =
        Daemon::start_with(&dir.path().join("state"), Playbooks::CONTAINERS, &args, &[("DOCKER_HOST", &via)]);
    let name = e.run("counter", &["-v", &vol], &["sh", "-c", COUNTER]);
    d.finding_where("sentinel", |f| sentinels(std::slice::from_ref(f)) == [10]);
    for round in 1..=2u64 {
        // The events stream and the log stream break together, as in an engine restart.
        assert!(proxy.cut() >= 2, "faultline holds the events and the logs connections");
        let count = |d: &Daemon, m: &str| d.log_messages().iter().filter(|l| l.starts_with(m)).count() as u64;
        wait_until("a reconnection", || count(&d, "Connected to the Docker engine.") > round);
        assert_eq!(count(&d, "Lost the Docker engine; reconnecting."), round);
        let after = e.logged_sentinels(&name).last().copied().unwrap() + 10;
        d.finding_where("sentinel", |f| {
            sentinels(std::slice::from_ref(f)).first().is_some_and(|&n| n >= after)
        });
    }
    e.ok(&["stop", "-t", "5", &name]);
    let logged = e.logged_sentinels(&name);
    d.sentinel_seen(*logged.last().unwrap());
    let (seen, _) = d.stop();
    assert_eq!(sentinels(&seen), logged, "every line exactly once across the broken connections");
}

#[test]
fn once_reads_a_stopped_containers_log_to_its_end() {
    let mut e = Engine::new("once");
    let dir = tempfile::tempdir().unwrap();
    let name = e.run("done", &[], &["sh", "-c", "echo 'FATAL BOOM then exit'; echo 'sentinel-1 reached'"]);
    wait_until("the container to exit", || {
        e.ok(&["inspect", "--format", "{{.State.Running}}", &name]) == "false"
    });
    let args = ["--once", "--from-start", "--docker", &name];
    let d =
        Daemon::spawn(&dir.path().join("state"), Playbooks::CONTAINERS, &args, &[("DOCKER_HOST", &e.host)]);
    let (seen, summaries) = d.wait();
    assert_eq!(seen.iter().filter(|f| f["playbook"]["id"] == "boom").count(), 1, "{seen:?}");
    assert_eq!(sentinels(&seen), vec![1]);
    assert_eq!(summaries.iter().find(|s| s["stream"] == name).unwrap()["lines"], 2);
}
