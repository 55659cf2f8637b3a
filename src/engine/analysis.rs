//! The batch view: what a whole log contains, accumulated one batch of lines at a time.
//!
//! Memory is bounded by the catalog, not by the log: for each pattern we keep its first line and a
//! count, plus the text of those first lines (at most one per pattern, each cut to a display limit).

use std::hash::{Hash, Hasher};

use super::Catalog;
use super::scan::{LineScanner, ScannedLine};
use super::stage::{Stage, StageTracker};
use crate::matcher::PatternId;
use crate::normalize::{Normalizer, strip_ansi};

/// Longest evidence text kept, in bytes; longer lines are cut with a marker.
pub const EVIDENCE_MAX_BYTES: usize = 512;
const CUT_MARKER: &str = " …[cut]";

/// A line shown as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLine {
    /// 1-based line number in the input.
    pub number: u64,
    /// The line with ANSI sequences removed, cut to [`EVIDENCE_MAX_BYTES`] with a marker.
    pub text: String,
    /// Hash of the sanitised line: Faultline counts evidence by distinct sanitised text.
    pub(crate) identity: u64,
}

impl EvidenceLine {
    /// An evidence line from its display text and its sanitised form (which identifies it).
    pub fn new(number: u64, text: String, sanitized: &[u8]) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sanitized.hash(&mut h);
        EvidenceLine { number, text, identity: h.finish() }
    }

    /// Builds the evidence form of a scanned line.
    pub fn from_line(line: &ScannedLine<'_>, normalizer: &mut Normalizer) -> Self {
        let mut sanitized = Vec::new();
        normalizer.sanitize(line.raw, &mut sanitized);
        Self::new(line.number, display_text(line.raw, line.cut), &sanitized)
    }
}

/// A raw line as shown to people: ANSI removed, lossy UTF-8, trimmed, cut with a marker.
pub fn display_text(raw: &[u8], already_cut: bool) -> String {
    let stripped = strip_ansi(raw);
    // `from_utf8` checks ASCII a word at a time; the lossy decoder goes byte by byte.
    let valid = std::str::from_utf8(&stripped).map(std::borrow::Cow::Borrowed);
    let mut text = valid.unwrap_or_else(|_| String::from_utf8_lossy(&stripped)).trim_end().to_string();
    let mut cut = already_cut;
    if text.len() > EVIDENCE_MAX_BYTES {
        let mut end = EVIDENCE_MAX_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cut = true;
    }
    if cut {
        text.push_str(CUT_MARKER);
    }
    text
}

/// Most lines, and bytes, of a multi-line record shown as evidence (each line is also cut to
/// [`EVIDENCE_MAX_BYTES`]).
pub const RECORD_MAX_LINES: usize = 60;
pub const RECORD_MAX_BYTES: usize = 16 << 10;

/// [`display_text`] for a record that may hold several lines (a stack trace joined by the
/// watch daemon's multi-line rule): each line is shown, up to [`RECORD_MAX_LINES`] lines and
/// [`RECORD_MAX_BYTES`] bytes, then a cut marker. A one-line record is shown as `display_text`
/// shows it.
pub fn display_record(raw: &[u8], already_cut: bool) -> String {
    if memchr::memchr(b'\n', raw).is_none() {
        return display_text(raw, already_cut);
    }
    let mut out = String::new();
    let mut cut = already_cut;
    for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
        let text = display_text(line, false);
        if i == RECORD_MAX_LINES || out.len() + text.len() > RECORD_MAX_BYTES {
            cut = true;
            break;
        }
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&text);
    }
    let kept = out.trim_end().len();
    out.truncate(kept);
    if cut {
        out.push_str(CUT_MARKER);
    }
    out
}

/// What the scorer needs to know about a set of hits.
pub trait Hits {
    /// The evidence line of pattern `p`, or `None` when it was not found.
    fn evidence(&self, p: PatternId) -> Option<&EvidenceLine>;
    /// The inferred CI stage.
    fn stage(&self) -> Option<Stage>;
}

/// Everything found in one log.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Per pattern: index into `evidence` of its first line, or `NONE`.
    first: Vec<u32>,
    /// Per pattern: number of lines it was found on.
    counts: Vec<u64>,
    evidence: Vec<EvidenceLine>,
    stage: StageTracker,
    /// For the sanitised form of evidence lines.
    normalizer: Normalizer,
    hits: Vec<(usize, PatternId)>,
    /// For `trace`: per pattern, the numbers of its first few lines (empty unless enabled).
    samples: Vec<Vec<u64>>,
    sample_limit: usize,
}

const NONE: u32 = u32::MAX;

impl Analysis {
    pub fn new(catalog: &Catalog) -> Self {
        Self {
            first: vec![NONE; catalog.pattern_count()],
            counts: vec![0; catalog.pattern_count()],
            evidence: Vec::new(),
            stage: StageTracker::default(),
            normalizer: Normalizer::new(),
            hits: Vec::new(),
            samples: Vec::new(),
            sample_limit: 0,
        }
    }

    /// Also keeps the numbers of the first `limit` lines each pattern is found on (for `trace`).
    pub fn with_line_samples(mut self, limit: usize) -> Self {
        self.samples = vec![Vec::new(); self.counts.len()];
        self.sample_limit = limit;
        self
    }

    /// The first line numbers pattern `p` was found on (see [`Analysis::with_line_samples`]).
    pub fn line_samples(&self, p: PatternId) -> &[u64] {
        self.samples.get(p as usize).map_or(&[], Vec::as_slice)
    }

    /// The inferred CI stage.
    pub fn stage(&self) -> Option<Stage> {
        self.stage.stage()
    }

    /// Scans the scanner's pending batch, records its hits and clears the batch.
    pub fn absorb(&mut self, catalog: &Catalog, scanner: &mut LineScanner) {
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        scanner.scan(catalog, self.stage.is_fixed(), |line, p| hits.push((line, p)));

        let mut mask_line = usize::MAX;
        let mut mask = 0u8;
        for &(line, p) in &hits {
            let info = &catalog.patterns[p as usize];
            if info.stage_mask != 0 && !self.stage.is_fixed() {
                if line != mask_line && mask != 0 {
                    self.stage.observe_line(mask);
                    mask = 0;
                }
                mask_line = line;
                mask |= info.stage_mask;
            }
            if info.used_by.is_empty() {
                continue; // a stage keyword only
            }
            self.counts[p as usize] += 1;
            if let Some(samples) = self.samples.get_mut(p as usize) {
                if samples.len() < self.sample_limit {
                    samples.push(scanner.line(line).number);
                }
            }
            if self.first[p as usize] == NONE {
                let scanned = scanner.line(line);
                let idx = match self.evidence.last() {
                    Some(last) if last.number == scanned.number => self.evidence.len() - 1,
                    _ => {
                        let ev = EvidenceLine::from_line(&scanned, &mut self.normalizer);
                        self.evidence.push(ev);
                        self.evidence.len() - 1
                    }
                };
                self.first[p as usize] = idx as u32;
            }
        }
        if mask != 0 {
            self.stage.observe_line(mask);
        }
        self.hits = hits;
        scanner.clear();
    }

    /// Number of lines pattern `p` was found on.
    pub fn count(&self, p: PatternId) -> u64 {
        self.counts[p as usize]
    }

    /// The first line pattern `p` was found on.
    pub fn first_line(&self, p: PatternId) -> Option<&EvidenceLine> {
        match self.first[p as usize] {
            NONE => None,
            i => Some(&self.evidence[i as usize]),
        }
    }
}

impl Hits for Analysis {
    fn evidence(&self, p: PatternId) -> Option<&EvidenceLine> {
        self.first_line(p)
    }

    fn stage(&self) -> Option<Stage> {
        self.stage.stage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_every_line_up_to_a_bound() {
        assert_eq!(display_record(b"one line  ", false), "one line");
        assert_eq!(display_record(b"head\n\tat a\n\tat b\n", false), "head\n\tat a\n\tat b");
        let long: Vec<u8> = (0..100).flat_map(|i| format!("\tat frame{i}\n").into_bytes()).collect();
        let shown = display_record(&long, false);
        assert_eq!(shown.lines().count(), RECORD_MAX_LINES);
        assert!(shown.ends_with(" …[cut]"), "{shown}");
    }
}
