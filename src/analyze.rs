//! Batch analysis: read a whole input through a fixed-size buffer, feed every line to the engine,
//! then rank. Memory is bounded by the buffer and the catalog, never by the size of the log.

use std::io::{self, Read};

use crate::engine::{Analysis, Catalog, LineScanner, Ranked, rank};
use crate::frame::{DEFAULT_MAX_LINE_BYTES, LineFramer};

/// Read size: large reads amortise syscalls; the scan batch below amortises the matcher.
const READ_BYTES: usize = 1 << 20;
/// Normalised bytes collected before the matcher runs over them.
const SCAN_BATCH_BYTES: usize = 256 << 10;

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
        framer.push(&buf[..n], |line| {
            scanner.push(line.number, line.text, line.cut);
        });
        if scanner.pending_bytes() >= SCAN_BATCH_BYTES {
            analysis.absorb(catalog, &mut scanner);
        }
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
