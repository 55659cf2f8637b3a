//! Batch analysis: read a whole input through a fixed-size buffer, feed every line to the engine,
//! then rank. Memory is bounded by the buffer and the catalog, never by the size of the log.

use std::io::{self, Read};

use crate::engine::{Analysis, Catalog, LineScanner, Ranked, rank};
use crate::frame::{DEFAULT_MAX_LINE_BYTES, LineFramer};

/// Read size: large reads amortise syscalls, and each read is one batch for the matcher (one
/// automaton pass over a large buffer), small enough that the batch stays in the CPU's cache.
const READ_BYTES: usize = 128 << 10;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_line_bytes: usize,
    /// Keep the first this-many line numbers of every pattern (for `trace`; 0 = none).
    pub line_samples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { max_line_bytes: DEFAULT_MAX_LINE_BYTES, line_samples: 0 }
    }
}

/// What was read, and what it contained.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub analysis: Analysis,
    /// Bytes read.
    pub bytes: u64,
    /// Lines framed (blank ones included).
    pub lines: u64,
    /// Lines longer than the limit, cut.
    pub lines_cut: u64,
}

impl Outcome {
    /// The ranking of every playbook that matched, best first.
    pub fn rank<'a>(&'a self, catalog: &Catalog) -> Vec<Ranked<'a>> {
        rank(catalog, &self.analysis)
    }
}

/// Reads `input` to its end and analyses it. `progress(bytes_read)` is called after every read.
pub fn analyze_reader(
    catalog: &Catalog,
    mut input: impl Read,
    options: Options,
    mut progress: impl FnMut(u64),
) -> io::Result<Outcome> {
    let mut framer = LineFramer::new(options.max_line_bytes);
    let mut scanner = LineScanner::new();
    let mut analysis = Analysis::new(catalog);
    if options.line_samples > 0 {
        analysis = analysis.with_line_samples(options.line_samples);
    }
    let mut buf = vec![0u8; READ_BYTES];
    let mut bytes = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        bytes += n as u64;
        framer.push_bulk(&buf[..n], &mut scanner);
        analysis.absorb(catalog, &mut scanner);
        progress(bytes);
    }
    framer.flush(|line| {
        scanner.push(line.number, line.text, line.cut);
    });
    analysis.absorb(catalog, &mut scanner);
    Ok(Outcome { analysis, bytes, lines: framer.next_number() - 1, lines_cut: framer.lines_cut() })
}

/// Convenience for tests and small inputs.
pub fn analyze_bytes(catalog: &Catalog, input: &[u8]) -> Outcome {
    analyze_reader(catalog, input, Options::default(), |_| {}).expect("reading from memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load::{PlaybookSource, load};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn bundled() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::new(load(&[PlaybookSource::Bundled]).0).expect("bundled catalog"))
    }

    /// Hands out `input` in pieces of the given sizes, in turn.
    struct Chunked<'a> {
        input: &'a [u8],
        sizes: Vec<usize>,
        next: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = self.sizes[self.next % self.sizes.len()].min(buf.len()).min(self.input.len());
            self.next += 1;
            buf[..want].copy_from_slice(&self.input[..want]);
            self.input = &self.input[want..];
            Ok(want)
        }
    }

    /// Per pattern: lines found on, the first of them, the first few of them.
    type PatternSummary = (u64, Option<u64>, Vec<u64>);

    /// What an analysis found, in a comparable form: bytes, lines, lines cut, per pattern, stage.
    fn summary(outcome: &Outcome) -> (u64, u64, u64, Vec<PatternSummary>, String) {
        let a = &outcome.analysis;
        let per_pattern = (0..bundled().patterns.len() as u32)
            .map(|p| (a.count(p), a.first_line(p).map(|e| e.number), a.line_samples(p).to_vec()))
            .collect();
        (outcome.bytes, outcome.lines, outcome.lines_cut, per_pattern, format!("{:?}", a.stage()))
    }

    const LINES: &[&str] = &[
        "Error: connect ECONNREFUSED 127.0.0.1:5432",
        "npm ERR! code ELIFECYCLE",
        "2024-05-24T08:15:14.2341057Z ##[error]Process completed with exit code 1.",
        "  go test ./...   ",
        "\x1b[31mFATAL\x1b[0m: password authentication failed for user \"ci\"",
        "\t \t",
        "",
        "no space left on device",
        "Step 3/7 : RUN make build",
        "java.lang.OutOfMemoryError: Java heap space",
        "a perfectly ordinary line of build output that matches nothing at all",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Reading in bulk (framing and folding whole runs of lines in one pass) finds exactly
        /// what framing and scanning line by line finds, whatever the read sizes, terminators
        /// and line limit.
        #[test]
        fn bulk_reading_finds_what_line_by_line_reading_finds(
            picks in proptest::collection::vec((0..LINES.len(), 0..3usize), 0..60),
            sizes in proptest::collection::vec(1usize..300, 1..5),
            max_line_bytes in prop_oneof![Just(DEFAULT_MAX_LINE_BYTES), 8usize..90],
            unterminated in proptest::bool::ANY,
        ) {
            let mut input = Vec::new();
            for &(line, term) in &picks {
                input.extend_from_slice(LINES[line].as_bytes());
                input.extend_from_slice([&b"\n"[..], b"\r\n", b"\r"][term]);
            }
            if unterminated {
                input.extend_from_slice(b"exit code 137");
            }
            let catalog = bundled();
            let options = Options { max_line_bytes, line_samples: 4 };
            let reader = Chunked { input: &input, sizes, next: 0 };
            let bulk = analyze_reader(catalog, reader, options, |_| {}).unwrap();

            let mut framer = LineFramer::new(max_line_bytes);
            let mut scanner = LineScanner::new();
            let mut analysis = Analysis::new(catalog).with_line_samples(4);
            framer.push(&input, |l| {
                scanner.push(l.number, l.text, l.cut);
            });
            framer.flush(|l| {
                scanner.push(l.number, l.text, l.cut);
            });
            analysis.absorb(catalog, &mut scanner);
            let one_by_one = Outcome {
                analysis,
                bytes: input.len() as u64,
                lines: framer.next_number() - 1,
                lines_cut: framer.lines_cut(),
            };
            prop_assert_eq!(summary(&bulk), summary(&one_by_one));
        }
    }
}
