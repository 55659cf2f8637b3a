#!/usr/bin/env bash
# cargo build -vv and cargo test of throwaway crates that use popular crates, and cargo test of
# a few crates copied from the registry. Builds run niced on one job so they share the machine.
. "$(dirname "$0")/common.sh"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-always} CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
NICE="nice -n 10"

mk_cli() {  # a small CLI on serde/regex/clap/anyhow, with unit, integration and doc tests
  local d=$SCRATCH/cli-tool; mkdir -p "$d/src" "$d/tests"
  cat >"$d/Cargo.toml" <<'TOML'
[package]
name = "cli-tool"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
thiserror = "1"
clap = { version = "4", features = ["derive"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
regex = "1"
log = "0.4"
env_logger = "0.11"
chrono = { version = "0.4", default-features = false, features = ["clock", "std"] }
itertools = "0.13"
TOML
  cat >"$d/src/lib.rs" <<'RS'
//! Word statistics over text, used by the `cli-tool` binary.
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("empty input")]
    Empty,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub words: usize,
    pub lines: usize,
    pub top: Vec<(String, usize)>,
}

/// Counts words and lines.
///
/// ```
/// let s = cli_tool::stats("a b a\nc", 2).unwrap();
/// assert_eq!(s.words, 4);
/// assert_eq!(s.top[0], ("a".to_string(), 2));
/// ```
pub fn stats(text: &str, top: usize) -> Result<Stats, StatsError> {
    if text.trim().is_empty() {
        return Err(StatsError::Empty);
    }
    let re = Regex::new(r"[A-Za-z0-9']+").unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in re.find_iter(text) {
        *counts.entry(m.as_str().to_lowercase()).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let words = v.iter().map(|(_, c)| c).sum();
    v.truncate(top);
    Ok(Stats { words, lines: text.lines().count(), top: v })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_words() { assert_eq!(stats("x y x", 1).unwrap().words, 3); }
    #[test]
    fn empty_is_an_error() { assert!(matches!(stats("  ", 1), Err(StatsError::Empty))); }
    #[test]
    fn round_trips_json() {
        let s = stats("one two two", 5).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Stats>(&j).unwrap(), s);
    }
    #[test]
    fn orders_ties_by_word() {
        let s = stats("b a", 2).unwrap();
        assert_eq!(s.top, vec![("a".into(), 1), ("b".into(), 1)]);
    }
}
RS
  cat >"$d/src/main.rs" <<'RS'
use clap::Parser;
use itertools::Itertools;

#[derive(Parser)]
struct Args {
    /// How many words to show
    #[arg(long, default_value_t = 5)]
    top: usize,
    text: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    env_logger::init();
    let a = Args::parse();
    let s = cli_tool::stats(&a.text.iter().join(" "), a.top)?;
    log::info!("computed at {}", chrono::Utc::now());
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(())
}
RS
  cat >"$d/tests/cli.rs" <<'RS'
use std::process::Command;

#[test]
fn prints_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_cli-tool")).args(["--top", "1", "a", "b", "a"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["words"], 3);
}

#[test]
fn empty_input_fails_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_cli-tool")).output().unwrap();
    assert!(!out.status.success());
}
RS
  echo "$d"
}

mk_async() {  # a small tokio TCP echo service with tracing, tested over loopback
  local d=$SCRATCH/echo-service; mkdir -p "$d/src"
  cat >"$d/Cargo.toml" <<'TOML'
[package]
name = "echo-service"
version = "0.1.0"
edition = "2021"

[dependencies]
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "io-util", "time", "sync"] }
tracing = "0.1"
tracing-subscriber = { version = "0.3", features = ["env-filter"] }
bytes = "1"
futures = "0.3"
TOML
  cat >"$d/src/lib.rs" <<'RS'
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves an echo on an ephemeral loopback port; returns the port.
pub async fn serve(max_conns: usize) -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        for _ in 0..max_conns {
            let (mut s, peer) = match l.accept().await { Ok(x) => x, Err(_) => return };
            tracing::info!(%peer, "accepted");
            tokio::spawn(async move {
                let mut buf = bytes::BytesMut::with_capacity(1024);
                while let Ok(n) = s.read_buf(&mut buf).await {
                    if n == 0 { break; }
                    if s.write_all(&buf.split()).await.is_err() { break; }
                }
            });
        }
    });
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn echoes() {
        let port = serve(4).await.unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_clients() {
        let port = serve(16).await.unwrap();
        let tasks: Vec<_> = (0..16u8).map(|i| tokio::spawn(async move {
            let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            c.write_all(&[i; 8]).await.unwrap();
            let mut b = [0u8; 8];
            c.read_exact(&mut b).await.unwrap();
            b == [i; 8]
        })).collect();
        for t in futures::future::join_all(tasks).await { assert!(t.unwrap()); }
    }

    #[tokio::test]
    async fn times_out_quietly() {
        let r = tokio::time::timeout(std::time::Duration::from_millis(20), std::future::pending::<()>()).await;
        assert!(r.is_err());
    }
}
RS
  echo "$d"
}

mk_web() {  # an HTTP service on axum, a reqwest client (rustls) and YAML config, tested on loopback
  local d=$SCRATCH/web-service; mkdir -p "$d/src"
  cat >"$d/Cargo.toml" <<'TOML'
[package]
name = "web-service"
version = "0.1.0"
edition = "2021"

[dependencies]
axum = "0.7"
tokio = { version = "1", features = ["full"] }
reqwest = { version = "0.12", default-features = false, features = ["json", "rustls-tls"] }
serde = { version = "1", features = ["derive"] }
serde_yaml = "0.9"
serde_json = "1"
uuid = { version = "1", features = ["v4", "serde"] }
tracing = "0.1"
tracing-subscriber = "0.3"
TOML
  cat >"$d/src/main.rs" <<'RS'
use axum::{extract::Path, routing::get, Json, Router};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Config { pub greeting: String, pub port: u16 }

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Reply { pub id: uuid::Uuid, pub message: String }

pub fn app(cfg: &Config) -> Router {
    let g = cfg.greeting.clone();
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/hello/:name", get(move |Path(name): Path<String>| {
            let g = g.clone();
            async move { Json(Reply { id: uuid::Uuid::new_v4(), message: format!("{g}, {name}") }) }
        }))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt::init();
    let cfg: Config = serde_yaml::from_str("greeting: Hello\nport: 0\n").unwrap();
    let l = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port)).await.unwrap();
    tracing::info!(addr = %l.local_addr().unwrap(), "listening");
    axum::serve(l, app(&cfg)).await.unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start() -> String {
        let cfg: Config = serde_yaml::from_str("greeting: Hi\nport: 0\n").unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app(&cfg)).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn health_answers() {
        let base = start().await;
        let body = reqwest::get(format!("{base}/health")).await.unwrap().text().await.unwrap();
        assert_eq!(body, "ok");
    }

    #[tokio::test]
    async fn hello_is_json() {
        let base = start().await;
        let r: Reply = reqwest::get(format!("{base}/hello/ops")).await.unwrap().json().await.unwrap();
        assert_eq!(r.message, "Hi, ops");
    }

    #[tokio::test]
    async fn many_requests() {
        let base = start().await;
        let c = reqwest::Client::new();
        for i in 0..50 {
            let s = c.get(format!("{base}/hello/n{i}")).send().await.unwrap().status();
            assert!(s.is_success());
        }
    }

    #[test]
    fn config_parses() {
        let c: Config = serde_yaml::from_str("greeting: Yo\nport: 8080\n").unwrap();
        assert_eq!(c.port, 8080);
    }
}
RS
  echo "$d"
}

for mk in ${CRATES:-mk_cli mk_async mk_web}; do
  d=$($mk); n=$(basename "$d")
  export CARGO_TARGET_DIR=$SCRATCH/target-$n
  (cd "$d" && capture cargo/$n-build-vv.log $NICE cargo build -vv)
  (cd "$d" && capture cargo/$n-build-release.log $NICE cargo build --release)
  (cd "$d" && capture cargo/$n-test.log $NICE cargo test -- --test-threads=2)
  (cd "$d" && capture cargo/$n-doc.log $NICE cargo doc --no-deps)
done

# Test suites of a few registry crates, built in a copy of their source.
for spec in ${REGISTRY_TESTS:-semver@1.0.23 itoa@1.0.11 either@1.13.0 fnv@1.0.7}; do
  name=${spec%@*}; ver=${spec#*@}
  d=$SCRATCH/reg-$name; rm -rf "$d"; mkdir -p "$d"
  # Fetch the exact version through a throwaway manifest, then copy its source.
  mkdir -p "$d/fetch/src"; echo 'fn main() {}' >"$d/fetch/src/main.rs"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' "$name" "$name" "$ver" >"$d/fetch/Cargo.toml"
  (cd "$d/fetch" && cargo fetch -q)
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$name-$ver" | head -1)
  cp -r "$src" "$d/src"; rm -f "$d/src/Cargo.toml.orig"
  export CARGO_TARGET_DIR=$SCRATCH/target-reg-$name
  (cd "$d/src" && capture cargo/registry-$name-test.log $NICE cargo test -- --test-threads=2)
done
scrub "$OUT"/cargo/*.log
sed -i "s#$HOME#/root#g" "$OUT"/cargo/*.log
