//! Batches framed lines, pre-scans them, and normalises and matches the ones that may match.
//!
//! The lines are kept as read, back to back, each followed by its terminator (a `\n` for a line
//! pushed alone; whole runs of lines from [`LineScanner::push_lines`] are kept as they came and
//! only framed). The pre-scan walks that text as it is, and only the lines it cannot rule out
//! are normalised into a [`Block`] (one `\n` after each line) and matched. Batching is what
//! makes the matcher fast (one automaton pass over a large buffer); a streaming caller simply
//! scans smaller batches.

use crate::frame::{BulkSink, Line, frame_run};
use crate::matcher::{Block, PatternId, Scratch};
use crate::normalize::{Normalizer, is_blank};

use super::Catalog;

/// A line as the scanner holds it.
#[derive(Debug, Clone, Copy)]
pub struct ScannedLine<'a> {
    /// 1-based line number in its stream.
    pub number: u64,
    /// The line as read (no terminator, possibly cut).
    pub raw: &'a [u8],
    /// True when the line was longer than the limit and `raw` holds only its start.
    pub cut: bool,
}

/// Reusable line batch; one per stream (or per thread).
#[derive(Debug, Default)]
pub struct LineScanner {
    normalizer: Normalizer,
    /// The normalised text of the lines that need matching.
    block: Block,
    /// Index of each `block` line among the batch's lines.
    picked: Vec<usize>,
    /// Lines the pre-scan could not rule out.
    flagged: Vec<usize>,
    /// (line, pattern) hits of two matchers, merged.
    hits: Vec<(usize, PatternId)>,
    /// The lines as read, each followed by its terminator: line `i` is
    /// `raw[raw_starts[i]..raw_ends[i]]`.
    raw: Vec<u8>,
    raw_starts: Vec<usize>,
    raw_ends: Vec<usize>,
    numbers: Vec<u64>,
    cut: Vec<bool>,
    scratch: Scratch,
}

impl LineScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one line. Lines that normalise to nothing (blank lines) are not kept.
    pub fn push(&mut self, number: u64, text: &[u8], cut: bool) -> bool {
        if is_blank(text) {
            return false;
        }
        self.raw_starts.push(self.raw.len());
        self.raw.extend_from_slice(text);
        self.raw_ends.push(self.raw.len());
        // Ends the line for the pre-scan (which reads line breaks inside a line, from a decoder
        // or a multi-line record, as white space, as folding does).
        self.raw.push(b'\n');
        self.numbers.push(number);
        self.cut.push(cut);
        true
    }

    /// Adds the whole lines of `text` (each ended by LF, CRLF or a lone CR, as
    /// `LineFramer::push_bulk` hands them out), numbered from `first_number`; returns how many
    /// there were. They are kept as they came, terminators included, and only framed: cheaper
    /// than [`LineScanner::push`] line by line. As there, blank lines are not kept (their bytes
    /// stay in the text the pre-scan reads, between two lines, where they can only flag the next
    /// line for nothing).
    pub fn push_lines(&mut self, first_number: u64, text: &[u8]) -> u64 {
        let base = self.raw.len();
        self.raw.extend_from_slice(text);
        let mut number = first_number;
        let Self { raw_starts, raw_ends, numbers, .. } = self;
        let lines = frame_run(text, |start, end| {
            if !is_blank(&text[start..end]) {
                raw_starts.push(base + start);
                raw_ends.push(base + end);
                numbers.push(number);
            }
            number += 1;
        });
        self.cut.resize(self.numbers.len(), false);
        lines
    }

    /// Lines waiting to be scanned.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Line `i` of the current batch.
    pub fn line(&self, i: usize) -> ScannedLine<'_> {
        ScannedLine { number: self.numbers[i], raw: self.raw_line(i), cut: self.cut[i] }
    }

    fn raw_line(&self, i: usize) -> &[u8] {
        &self.raw[self.raw_starts[i]..self.raw_ends[i]]
    }

    /// Runs the matcher over the batch: `on_hit(line_index, pattern)` for every distinct
    /// (line, pattern) pair, in line order. The batch stays until [`LineScanner::clear`].
    /// `stage_known`: the stream's stage is fixed, so stage keywords need not be looked for.
    ///
    /// Most lines of a log match nothing. When the catalog allows it, a pre-scan of the raw
    /// lines rules those out, and only the rest are normalised and matched; the hits are the
    /// same as if every line had been (the property tests below check it).
    pub fn scan(&mut self, catalog: &Catalog, stage_known: bool, on_hit: impl FnMut(usize, PatternId)) {
        self.scan_with(catalog, stage_known, true, on_hit);
    }

    fn scan_with(
        &mut self,
        catalog: &Catalog,
        stage_known: bool,
        prescan: bool,
        mut on_hit: impl FnMut(usize, PatternId),
    ) {
        self.block.clear();
        self.picked.clear();
        let both = [&catalog.matcher, &catalog.stage_keywords];
        let matchers = if stage_known { &both[..1] } else { &both[..] };
        if prescan && matchers.iter().all(|m| m.can_prescan()) {
            let mut flagged = std::mem::take(&mut self.flagged);
            flagged.clear();
            for m in matchers {
                m.prescan(&self.raw, &self.raw_ends, &mut self.scratch, |i| flagged.push(i));
            }
            if matchers.len() > 1 {
                flagged.sort_unstable();
                flagged.dedup();
            }
            // The pre-scan is blind to escape sequences and non-ASCII text: such lines are
            // always matched.
            let plain = self.raw.is_ascii() && memchr::memchr(0x1b, &self.raw).is_none();
            let mut flagged_at = 0;
            for i in 0..self.len() {
                let is_flagged = flagged.get(flagged_at) == Some(&i);
                flagged_at += usize::from(is_flagged);
                if is_flagged || (!plain && needs_matching(self.raw_line(i))) {
                    self.pick(i);
                }
            }
            self.flagged = flagged;
        } else {
            for i in 0..self.len() {
                self.pick(i);
            }
        }
        let picked = &self.picked;
        if let [matcher] = matchers {
            matcher.scan(&self.block, &mut self.scratch, |line, p| on_hit(picked[line], p));
            return;
        }
        // Two disjoint pattern sets: merge their hits back into line order.
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        for m in matchers {
            m.scan(&self.block, &mut self.scratch, |line, p| hits.push((picked[line], p)));
        }
        hits.sort_by_key(|&(line, _)| line);
        for &(line, p) in &hits {
            on_hit(line, p);
        }
        self.hits = hits;
    }

    /// Normalises line `i` into the block.
    fn pick(&mut self, i: usize) {
        let line = &self.raw[self.raw_starts[i]..self.raw_ends[i]];
        self.normalizer.normalize(line, &mut self.block.text);
        self.block.end_line();
        self.picked.push(i);
    }

    pub fn clear(&mut self) {
        self.block.clear();
        self.picked.clear();
        self.raw.clear();
        self.raw_starts.clear();
        self.raw_ends.clear();
        self.numbers.clear();
        self.cut.clear();
    }
}

impl BulkSink for LineScanner {
    fn line(&mut self, line: Line<'_>) {
        self.push(line.number, line.text, line.cut);
    }

    fn lines(&mut self, first_number: u64, text: &[u8]) -> u64 {
        self.push_lines(first_number, text)
    }
}

/// A line the pre-scan cannot judge: it holds an escape sequence or non-ASCII text.
fn needs_matching(raw: &[u8]) -> bool {
    !raw.is_ascii() || memchr::memchr(0x1b, raw).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::PatternSpec;
    use crate::playbook::load::{PlaybookSource, load};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn bundled() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::new(load(&[PlaybookSource::Bundled]).0).expect("bundled catalog"))
    }

    fn literals() -> &'static [String] {
        static LITERALS: OnceLock<Vec<String>> = OnceLock::new();
        LITERALS.get_or_init(|| {
            bundled()
                .patterns
                .iter()
                .filter_map(|p| match &p.spec {
                    PatternSpec::Literal(s) => Some(s.clone()),
                    PatternSpec::Regex(_) => None,
                })
                .collect()
        })
    }

    /// Text that normalisation changes: clocks, temp paths, UUIDs, escape sequences, odd white
    /// space, non-ASCII, brackets that meet the mask tokens.
    const NOISE: &[&str] = &[
        "2024-05-24T08:15:14.2341057Z ",
        "2024/05/24 08:15:14",
        "08:15:14.123",
        "/tmp/build-1234/x",
        "/home/runner/work/_temp/abc",
        "c:\\Users\\bob\\AppData\\Local\\Temp\\x",
        "123e4567-e89b-12d3-a456-426614174000",
        "\x1b[31m",
        "\x1b[0m",
        "\x1b",
        "  ",
        "\t",
        " \t ",
        "\u{a0}",
        "\u{130}",
        "\u{212a}",
        "é",
        "<",
        ">",
        "<<",
        ">>>",
        "id",
        "tmp",
        "ERROR",
        " ",
        ":",
        "\x0b",
        "\r",
        "\n",
    ];

    /// One piece of a generated line: a pattern (changed by `how`) or a noise string.
    fn piece(index: usize, how: u8) -> String {
        let lits = literals();
        if how >= 6 {
            return NOISE[index % NOISE.len()].to_string();
        }
        let lit = &lits[index % lits.len()];
        match how {
            0 => lit.clone(),
            1 => lit.to_uppercase(),
            2 => lit.replace(' ', " \t "),
            3 => lit.replace(' ', "  "),
            4 => lit.chars().take(lit.chars().count() / 2 + 1).collect(),
            _ => lit.chars().rev().collect(),
        }
    }

    /// (line number, pattern) of every hit. `bulk`: the lines (which must hold no line break)
    /// go in as one run, `push_lines` style, with LF and CRLF terminators.
    fn scanned(lines: &[Vec<u8>], stage_known: bool, prescan: bool, bulk: bool) -> Vec<(u64, PatternId)> {
        let mut scanner = LineScanner::new();
        if bulk {
            let mut run = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                run.extend_from_slice(line);
                run.extend_from_slice(if i % 3 == 1 { b"\r\n" } else { b"\n" });
            }
            assert_eq!(scanner.push_lines(1, &run), lines.len() as u64);
        } else {
            for (i, line) in lines.iter().enumerate() {
                scanner.push(i as u64 + 1, line, false);
            }
        }
        let mut hits = Vec::new();
        scanner.scan_with(bundled(), stage_known, prescan, |i, p| hits.push((i, p)));
        hits.into_iter().map(|(i, p)| (scanner.line(i).number, p)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The pre-scan only ever saves work: the hits are those of matching every line.
        #[test]
        fn prescan_finds_what_matching_every_line_finds(
            lines in proptest::collection::vec(
                proptest::collection::vec((0usize..100_000, 0u8..10), 1..6), 1..12),
            stage_known in proptest::bool::ANY,
        ) {
            let lines: Vec<Vec<u8>> = lines
                .iter()
                .map(|pieces| pieces.iter().map(|&(i, how)| piece(i, how)).collect::<Vec<_>>().join(" ").into_bytes())
                .collect();
            let want = scanned(&lines, stage_known, false, false);
            prop_assert_eq!(scanned(&lines, stage_known, true, false), want);
            // Whole runs of lines, kept with their terminators, pre-scan the same.
            let one_line_each: Vec<Vec<u8>> = lines
                .iter()
                .map(|l| l.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect())
                .collect();
            let want = scanned(&one_line_each, stage_known, false, false);
            prop_assert_eq!(scanned(&one_line_each, stage_known, true, true), want);
        }
    }

    #[test]
    fn lines_that_differ_from_a_pattern_only_by_case_and_white_space_still_match() {
        let lines = [b"Connection\t  REFUSED by peer".to_vec(), b"nothing to see here".to_vec()];
        let hits = scanned(&lines, true, true, false);
        let refused = bundled()
            .patterns
            .iter()
            .position(|p| p.spec == PatternSpec::Literal("connection refused".into()))
            .expect("the bundled catalog looks for connection refused") as PatternId;
        assert!(hits.contains(&(1, refused)), "{hits:?}");
        assert!(hits.iter().all(|&(line, _)| line == 1), "{hits:?}");
    }

    #[test]
    fn the_catalog_allows_the_prescan() {
        assert!(bundled().matcher.can_prescan());
        assert!(bundled().stage_keywords.can_prescan());
    }
}
