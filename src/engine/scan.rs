//! Batches framed lines, normalises them and runs the catalog's matcher over the batch.
//!
//! Lines are collected into a [`Block`] (normalised text, one `\n` after each line) until the
//! caller scans it; the raw text of each line is kept beside it so a hit can be shown as evidence.
//! Batching is what makes the matcher fast (one automaton pass over a large buffer); a streaming
//! caller simply scans smaller batches.

use crate::matcher::{Block, PatternId, Scratch};
use crate::normalize::Normalizer;

use super::Catalog;

/// A line as the scanner holds it.
#[derive(Debug, Clone, Copy)]
pub struct ScannedLine<'a> {
    /// 1-based line number in its stream.
    pub number: u64,
    /// The line as read (no terminator, possibly cut).
    pub raw: &'a [u8],
    /// The normalised line the patterns were matched against.
    pub normalized: &'a [u8],
    /// True when the line was longer than the limit and `raw` holds only its start.
    pub cut: bool,
}

/// Reusable line batch; one per stream (or per thread).
#[derive(Debug, Default)]
pub struct LineScanner {
    normalizer: Normalizer,
    block: Block,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    numbers: Vec<u64>,
    cut: Vec<bool>,
    scratch: Scratch,
    bytes_in: u64,
}

impl LineScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one line. Lines that normalise to nothing (blank lines) are not kept.
    pub fn push(&mut self, number: u64, text: &[u8], cut: bool) -> bool {
        self.bytes_in += text.len() as u64;
        let start = self.block.line_start();
        if self.normalizer.normalize(text, &mut self.block.text) == 0 {
            self.block.discard_line(start);
            return false;
        }
        self.block.end_line();
        self.raw.extend_from_slice(text);
        self.raw_ends.push(self.raw.len());
        self.numbers.push(number);
        self.cut.push(cut);
        true
    }

    /// Lines waiting to be scanned.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Bytes of normalised text waiting to be scanned.
    pub fn pending_bytes(&self) -> usize {
        self.block.text.len()
    }

    /// Raw bytes of all lines ever pushed (blank ones included).
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_in
    }

    /// Line `i` of the current batch.
    pub fn line(&self, i: usize) -> ScannedLine<'_> {
        let start = if i == 0 { 0 } else { self.raw_ends[i - 1] };
        ScannedLine {
            number: self.numbers[i],
            raw: &self.raw[start..self.raw_ends[i]],
            normalized: self.block.line(i),
            cut: self.cut[i],
        }
    }

    /// Runs the matcher over the batch: `on_hit(line_index, pattern)` for every distinct
    /// (line, pattern) pair, in line order. The batch stays until [`LineScanner::clear`].
    pub fn scan(&mut self, catalog: &Catalog, on_hit: impl FnMut(usize, PatternId)) {
        catalog.matcher.scan(&self.block, &mut self.scratch, on_hit);
    }

    pub fn clear(&mut self) {
        self.block.clear();
        self.raw.clear();
        self.raw_ends.clear();
        self.numbers.clear();
        self.cut.clear();
    }
}
