#!/usr/bin/env python3
"""Writes a reproducible, realistic big log for throughput benchmarks.

A seeded mix of the lines CI jobs and services print (GitHub Actions prefixes, cargo, npm, pytest,
docker build, klog, nginx access logs, JSON app logs, Java stack traces, maven, syslog), with rare
failure lines (about 1 in 1,000) of the kinds playbooks look for.

usage: benches/gen_log.py OUT_FILE [SIZE_MB] [SEED]
"""
import random
import sys

out_path = sys.argv[1]
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 200
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
rng = random.Random(seed)

WORDS = ("request handler cache user order payment session worker queue shard replica index "
         "config module service client server upstream backend frontend token batch job task").split()
CRATES = ["serde", "tokio", "regex", "clap", "hyper", "rand", "syn", "quote", "libc", "memchr", "bytes", "tracing"]
PKGS = ["react", "lodash", "express", "webpack", "typescript", "eslint", "jest", "axios", "chalk", "debug"]
PATHS = ["/api/v1/orders", "/api/v1/users", "/healthz", "/metrics", "/static/app.js", "/login", "/api/v2/search"]
LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN"]


def ts():
    return f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 9999999):07d}Z"


def hexid(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def words(n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def gha():
    return f"{ts()} " + rng.choice([
        f"##[group]Run npm ci",
        f"##[endgroup]",
        f"Run actions/checkout@v4",
        f"  shell: /usr/bin/bash -e {{0}}",
        f"Downloading {rng.choice(PKGS)}@{rng.randint(1,9)}.{rng.randint(0,20)}.{rng.randint(0,9)}",
        f"Post job cleanup.",
    ])


def cargo():
    c = rng.choice(CRATES)
    return rng.choice([
        f"   Compiling {c} v1.{rng.randint(0, 40)}.{rng.randint(0, 9)}",
        f"    Checking {c} v0.{rng.randint(1, 9)}.{rng.randint(0, 30)}",
        f"test {c}::tests::{rng.choice(WORDS)}_{rng.choice(WORDS)} ... ok",
        f"warning: unused variable: `{rng.choice(WORDS)}`",
        f"   --> src/{rng.choice(WORDS)}.rs:{rng.randint(1, 900)}:{rng.randint(1, 80)}",
    ])


def npm():
    p = rng.choice(PKGS)
    return rng.choice([
        f"npm WARN deprecated {p}@{rng.randint(1,5)}.{rng.randint(0,9)}.0: this version is no longer supported",
        f"added {rng.randint(100, 1500)} packages, and audited {rng.randint(100, 1600)} packages in {rng.randint(2, 60)}s",
        f"> {p}@{rng.randint(1,9)}.0.0 postinstall",
        f"{rng.randint(10, 200)} packages are looking for funding",
    ])


def pytest():
    return rng.choice([
        f"tests/test_{rng.choice(WORDS)}.py::test_{rng.choice(WORDS)}_{rng.choice(WORDS)} PASSED [{rng.randint(0, 100):3d}%]",
        f"tests/test_{rng.choice(WORDS)}.py ....{'.' * rng.randint(0, 30)} [{rng.randint(0, 100):3d}%]",
    ])


def docker():
    return rng.choice([
        f"#{rng.randint(1, 30)} [{rng.randint(1, 9)}/9] RUN apt-get update && apt-get install -y {rng.choice(WORDS)}",
        f"#{rng.randint(1, 30)} sha256:{hexid(64)} {rng.randint(1, 90)}.{rng.randint(0, 9)}MB / {rng.randint(90, 200)}.0MB {rng.randint(0, 9)}.{rng.randint(0, 9)}s",
        f"#{rng.randint(1, 30)} DONE {rng.randint(0, 30)}.{rng.randint(0, 9)}s",
    ])


def klog():
    return f"I05{rng.randint(10, 28)} {rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}.{rng.randint(0, 999999):06d}       1 {rng.choice(WORDS)}_controller.go:{rng.randint(50, 900)}] \"Reconciling\" {rng.choice(WORDS)}=\"default/{rng.choice(WORDS)}-{hexid(5)}\""


def nginx():
    return (f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)} - - [{rng.randint(1, 28):02d}/May/2024:{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0000] \"GET {rng.choice(PATHS)} HTTP/1.1\" {rng.choice([200, 200, 200, 204, 301, 304, 404])} "
            f"{rng.randint(100, 90000)} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"")


def jsonlog():
    return (f'{{"ts":"{ts()}","level":"{rng.choice(LEVELS).lower()}","logger":"{rng.choice(WORDS)}",'
            f'"msg":"{words(rng.randint(2, 6))} completed","trace_id":"{hexid(32)}","latency_ms":{rng.randint(1, 900)}}}')


def java():
    return rng.choice([
        f"\tat com.example.{rng.choice(WORDS)}.{rng.choice(WORDS).capitalize()}Service.{rng.choice(WORDS)}({rng.choice(WORDS).capitalize()}Service.java:{rng.randint(10, 500)})",
        f"{ts()} {rng.choice(LEVELS)} [main] c.e.{rng.choice(WORDS)}.Application : Started in {rng.randint(1, 30)}.{rng.randint(0, 999)} seconds",
    ])


def maven():
    return rng.choice([
        f"[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/{rng.choice(WORDS)}/{rng.choice(WORDS)}/{rng.randint(1,9)}.{rng.randint(0,9)}/x.pom",
        f"[INFO] --- maven-compiler-plugin:3.11.0:compile (default-compile) @ {rng.choice(WORDS)} ---",
        f"[INFO] Tests run: {rng.randint(1, 300)}, Failures: 0, Errors: 0, Skipped: {rng.randint(0, 3)}",
    ])


def syslog():
    return f"May {rng.randint(1, 28):2d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} node-{rng.randint(1, 9)} {rng.choice(['systemd[1]', 'sshd[812]', 'kernel', 'containerd[630]'])}: {words(rng.randint(3, 8))}"


FAILURES = [
    "Error: connect ECONNREFUSED 127.0.0.1:5432",
    "exec /app/server: exec format error",
    "npm ERR! code ERESOLVE",
    "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
    "error[E0425]: cannot find value `config` in this scope",
    "OCI runtime create failed: runc create failed: unable to start container process: exec: \"/entrypoint.sh\": permission denied",
    "x509: certificate signed by unknown authority",
    "No space left on device",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "java.lang.OutOfMemoryError: Java heap space",
    "ModuleNotFoundError: No module named 'requests'",
    "Killed",
]

GENERATORS = [gha, cargo, npm, pytest, docker, klog, nginx, jsonlog, java, maven, syslog]
target = size_mb * 1_000_000
written = 0
with open(out_path, "w", buffering=1 << 20) as fh:
    while written < target:
        if rng.random() < 0.001:
            line = rng.choice(FAILURES)
        else:
            line = rng.choice(GENERATORS)()
        fh.write(line + "\n")
        written += len(line) + 1
