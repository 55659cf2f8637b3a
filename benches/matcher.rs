//! Micro-benchmarks of the hot path (`cargo bench`): normalisation, the matcher scan and the
//! whole batch analysis, over a deterministic mix of realistic log lines.
//!
//! The catalog is the bundled one, or the directory in `FAULTLINE_BENCH_PLAYBOOKS` (e.g.
//! `../shared/faultline-pack` for Faultline's ~1,800 literal patterns). Whole-file throughput
//! against ripgrep is measured by `benches/throughput.sh`.

use std::sync::LazyLock;

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use faultline::analyze::analyze_bytes;
use faultline::engine::{Catalog, LineScanner};
use faultline::matcher::{Block, Scratch};
use faultline::normalize::Normalizer;
use faultline::playbook::{self, PlaybookSource};

fn main() {
    divan::main();
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let source = match std::env::var_os("FAULTLINE_BENCH_PLAYBOOKS") {
        Some(dir) => PlaybookSource::Dir(dir.into()),
        None => PlaybookSource::Bundled,
    };
    let (playbooks, diags) = playbook::load(&[source]);
    assert!(!diags.has_errors(), "{diags}");
    Catalog::new(playbooks).unwrap()
});

/// About 8 MB of log lines: a seeded mix of CI and service output with rare failures.
static LOG: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let words =
        ["request", "handler", "cache", "user", "order", "worker", "queue", "shard", "replica", "session"];
    let failures = [
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "exec /app/server: exec format error",
        "npm ERR! code ERESOLVE",
        "java.lang.OutOfMemoryError: Java heap space",
        "x509: certificate signed by unknown authority",
    ];
    let mut out = Vec::with_capacity(8 << 20);
    while out.len() < 8_000_000 {
        let w = |i: u64| words[(i % words.len() as u64) as usize];
        let line = match next(1000) {
            0 => failures[next(failures.len() as u64) as usize].to_string(),
            x if x < 200 => format!(
                "2024-05-{:02}T{:02}:{:02}:{:02}.{:07}Z ##[group]Run npm ci --prefer-offline {}",
                1 + next(28),
                next(24),
                next(60),
                next(60),
                next(10_000_000),
                w(x)
            ),
            x if x < 400 => format!("   Compiling {} v1.{}.{}", w(x), next(40), next(9)),
            x if x < 600 => format!(
                "10.0.{}.{} - - [01/May/2024:10:{:02}:{:02} +0000] \"GET /api/v1/{} HTTP/1.1\" 200 {} \"-\" \"curl/8.5\"",
                next(255),
                next(255),
                next(60),
                next(60),
                w(x),
                next(90_000)
            ),
            x if x < 800 => format!(
                "{{\"ts\":\"2024-05-01T10:00:{:02}Z\",\"level\":\"info\",\"msg\":\"{} {} completed\",\"latency_ms\":{}}}",
                next(60),
                w(x),
                w(x / 3),
                next(900)
            ),
            x => format!("\tat com.example.{}.Service.run(Service.java:{})", w(x), next(500)),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
});

#[divan::bench]
fn normalize(bencher: Bencher) {
    let lines: Vec<&[u8]> = LOG.split(|&b| b == b'\n').collect();
    let mut normalizer = Normalizer::new();
    let mut out = Vec::with_capacity(LOG.len());
    bencher.counter(BytesCount::new(LOG.len())).bench_local(|| {
        out.clear();
        for line in &lines {
            normalizer.normalize(line, &mut out);
        }
        black_box(out.len())
    });
}

/// What `analyze` does to a run of whole lines before the pre-scan: find their ends.
#[divan::bench]
fn frame_run(bencher: Bencher) {
    let mut ends = Vec::new();
    bencher.counter(BytesCount::new(LOG.len())).bench_local(|| {
        ends.clear();
        faultline::frame::frame_run(&LOG, |_, end| ends.push(end));
        black_box(ends.len())
    });
}

#[divan::bench]
fn matcher_scan(bencher: Bencher) {
    let catalog = &*CATALOG;
    let mut normalizer = Normalizer::new();
    let mut block = Block::default();
    for line in LOG.split(|&b| b == b'\n').filter(|l| !faultline::normalize::is_blank(l)) {
        normalizer.normalize(line, &mut block.text);
        block.end_line();
    }
    let mut scratch = Scratch::default();
    bencher.counter(BytesCount::new(block.text.len())).bench_local(|| {
        let mut hits = 0usize;
        catalog.matcher.scan(&block, &mut scratch, |_, _| hits += 1);
        black_box(hits)
    });
}

/// Lines in, hits out, as `analyze` and `watch` run it: the pre-scan of folded lines rules most
/// of them out, and only the rest are normalised and matched.
#[divan::bench]
fn line_scanner(bencher: Bencher) {
    let catalog = &*CATALOG;
    let lines: Vec<&[u8]> = LOG.split(|&b| b == b'\n').collect();
    let mut scanner = LineScanner::new();
    bencher.counter(BytesCount::new(LOG.len())).bench_local(|| {
        let mut hits = 0usize;
        for (i, line) in lines.iter().enumerate() {
            scanner.push(i as u64 + 1, line, false);
        }
        scanner.scan(catalog, true, |_, _| hits += 1);
        scanner.clear();
        black_box(hits)
    });
}

#[divan::bench]
fn analyze_end_to_end(bencher: Bencher) {
    let catalog = &*CATALOG;
    bencher.counter(BytesCount::new(LOG.len())).bench_local(|| {
        let outcome = analyze_bytes(catalog, &LOG);
        black_box(outcome.rank(catalog).len())
    });
}

#[divan::bench(sample_count = 10)]
fn catalog_build(bencher: Bencher) {
    let (playbooks, _) = playbook::load(&[PlaybookSource::Bundled]);
    bencher.bench_local(|| Catalog::new(black_box(playbooks.clone())).unwrap());
}
