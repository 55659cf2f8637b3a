//! The multi-pattern matcher: a pure library, no I/O, no clock, no logging.
//!
//! Every pattern of every loaded playbook is compiled once into one [`Matcher`]:
//!
//! * literals go into a single Aho-Corasick DFA;
//! * each explicit regex contributes its *required literals* (see [`prefilter`]) to the same
//!   automaton, and is run only on the lines where one of them occurs;
//! * a regex without a usable required literal is run on every line (rare; `check` warns).
//!
//! [`Matcher::scan`] takes a [`Block`] — many normalised lines joined by `\n` — scans it once, maps
//! every match back to its line and reports each distinct (line, pattern) pair once, in line order.
//! Patterns never span lines there: normalised text contains no `\n` inside a line, and no
//! pattern contains one either. ([`Matcher::prescan`] reads raw lines, where a line break is
//! white space; a pattern found across one only flags a line for nothing.)
//!
//! Speed: a DFA walk is bound by the latency of one table load per byte, each depending on the
//! last. Because lines are independent (after a `\n` the automaton is back at its start state),
//! the block is cut at line boundaries into [`LANES`] segments walked in one interleaved loop: the
//! CPU overlaps the independent load chains, which more than doubles throughput on one core
//! (measured in `benches/README.md`). `aho-corasick` builds the automaton (as an NFA), and
//! `dfa.rs` computes its DFA into a dense table for that loop.

mod dfa;
pub mod prefilter;

use crate::normalize::fold_ascii;
use aho_corasick::nfa::noncontiguous::NFA;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use dfa::CompactDfa;
use regex::bytes::{Regex, RegexBuilder};

/// Index of a pattern in the list given to [`Matcher::new`].
pub type PatternId = u32;

/// What to look for. Literal text must already be normalised (lower-case, collapsed white space).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternSpec {
    Literal(String),
    Regex(String),
}

/// Segments walked at once by the interleaved DFA loop (the loop is written out for four).
pub const LANES: usize = 4;

/// A pattern that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: PatternId,
    pub message: String,
}

/// Normalised lines laid out back to back, each followed by `\n`.
#[derive(Debug, Default, Clone)]
pub struct Block {
    pub text: Vec<u8>,
    /// `ends[i]` = offset just past line `i`'s text (its `\n` sits there).
    pub ends: Vec<usize>,
}

impl Block {
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Ends the line written into `text` since the last one (or [`Block::push_line`]).
    pub fn end_line(&mut self) {
        self.ends.push(self.text.len());
        self.text.push(b'\n');
    }

    pub fn push_line(&mut self, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.end_line();
    }

    /// Text of line `i`, without its `\n`.
    pub fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }
}

/// Per-caller scratch space, so one shared [`Matcher`] can serve many threads.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Per lane: (end offset, automaton pattern) of every match, in text order.
    lane_hits: [Vec<(usize, u32)>; LANES],
    /// Patterns already reported for the line being processed.
    line_seen: Vec<PatternId>,
}

/// The literal automaton: a DFA walked by hand (fast), or the library's own search when the
/// pattern set is too large for a DFA.
#[derive(Debug)]
enum Literals {
    Dfa(Box<CompactDfa>),
    Fallback(AhoCorasick),
}

/// The automaton holds only the first [`PREFIX_BYTES`] bytes of each literal: a trie of short
/// prefixes is a fraction of the size of one of whole literals (the DFA's memory is states ×
/// alphabet), and the rest of a literal is checked with one comparison when its prefix is found.
/// Shorter prefixes are found more often in lines that match nothing (`install `, `service `),
/// and each find stops the walk. Measured on the 200 MB bench log with Faultline's pack (pre-scan
/// MB/s; catalog memory, bundled / pack): 8 bytes 800 MB/s, 4.6 / 2.8 MB; 12 bytes 950 MB/s,
/// 6.7 / 4.4 MB; 16 bytes 1,020 MB/s, 9.2 / 5.9 MB, and the catalog takes 82 ms to build
/// instead of 66 (bundled; pack 24 instead of 17).
const PREFIX_BYTES: usize = 12;

/// What a hit of one automaton pattern (a literal prefix) means: for each literal with that
/// prefix, the rest of it, the literal patterns it is, and the regexes it pre-filters.
#[derive(Debug, Default)]
struct Check {
    rest: Box<[u8]>,
    literals: Vec<PatternId>,
    /// Indexes into `Matcher::regexes`.
    regexes: Vec<u32>,
}

#[derive(Debug)]
struct CompiledRegex {
    pattern: PatternId,
    source: String,
    /// Compiled on first use: a catalog holds a thousand regexes and a stream needs a few, and
    /// each compiled regex costs tens of kilobytes. `None` if it cannot be compiled (it was
    /// validated at load time, so only a size limit can cause that): it never matches.
    regex: std::sync::OnceLock<Option<Regex>>,
}

impl CompiledRegex {
    fn is_match(&self, text: &[u8]) -> bool {
        self.regex.get_or_init(|| compile_regex(&self.source).ok()).as_ref().is_some_and(|r| r.is_match(text))
    }
}

#[derive(Debug)]
pub struct Matcher {
    automaton: Option<Literals>,
    /// Per automaton pattern: what a hit means.
    targets: Vec<Vec<Check>>,
    regexes: Vec<CompiledRegex>,
    /// Regexes without a required literal: run on every line.
    unfiltered: Vec<u32>,
    pattern_count: usize,
    /// False when some pattern could match a normalised line whose raw text holds no trace of it
    /// (see [`prescan_key`]): then [`Matcher::prescan`] cannot rule lines out.
    prescan_sound: bool,
}

impl Matcher {
    /// Compiles `patterns`; every pattern that fails is reported, none aborts the others.
    pub fn new(patterns: &[PatternSpec]) -> Result<Self, Vec<PatternError>> {
        Self::new_subset(patterns, |_| true)
    }

    /// Compiles the patterns `keep` accepts; pattern ids stay their index in `patterns`.
    pub fn new_subset(
        patterns: &[PatternSpec],
        keep: impl Fn(PatternId) -> bool,
    ) -> Result<Self, Vec<PatternError>> {
        let mut literals: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut targets: Vec<Vec<Check>> = Vec::new();
        let mut regexes = Vec::new();
        let mut unfiltered = Vec::new();
        let mut errors = Vec::new();
        let mut prescan_sound = true;
        let mut prescan_keys: Vec<String> = Vec::new();

        // The check for literal `text`: its prefix in the automaton, its rest compared after.
        let mut check =
            |text: &str, literals: &mut Vec<String>, targets: &mut Vec<Vec<Check>>| -> (usize, usize) {
                let mut cut = text.len().min(PREFIX_BYTES);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let (prefix, rest) = text.split_at(cut);
                let slot = *index.entry(prefix.to_string()).or_insert_with(|| {
                    literals.push(prefix.to_string());
                    targets.push(Vec::new());
                    literals.len() - 1
                });
                let checks = &mut targets[slot];
                let at = match checks.iter().position(|c| &*c.rest == rest.as_bytes()) {
                    Some(at) => at,
                    None => {
                        checks.push(Check { rest: rest.as_bytes().into(), ..Default::default() });
                        checks.len() - 1
                    }
                };
                (slot, at)
            };

        for (id, spec) in patterns.iter().enumerate() {
            let id = id as PatternId;
            if !keep(id) {
                continue;
            }
            match spec {
                PatternSpec::Literal(text) => {
                    if text.is_empty() {
                        errors.push(PatternError { pattern: id, message: "empty pattern".into() });
                        continue;
                    }
                    let (slot, at) = check(text, &mut literals, &mut targets);
                    targets[slot][at].literals.push(id);
                    prescan_sound &= prescan_key(text, &mut prescan_keys);
                }
                PatternSpec::Regex(source) => {
                    if let Err(message) = validate_regex(source) {
                        errors.push(PatternError { pattern: id, message });
                        continue;
                    }
                    let ri = regexes.len() as u32;
                    regexes.push(CompiledRegex {
                        pattern: id,
                        source: source.clone(),
                        regex: std::sync::OnceLock::new(),
                    });
                    match prefilter::required_literals(source) {
                        Some(set) => {
                            for lit in set.iter().filter(|l| !l.contains('\n')) {
                                let (slot, at) = check(lit, &mut literals, &mut targets);
                                let list = &mut targets[slot][at].regexes;
                                if !list.contains(&ri) {
                                    list.push(ri);
                                }
                                prescan_sound &= prescan_key(lit, &mut prescan_keys);
                            }
                        }
                        None => {
                            unfiltered.push(ri);
                            prescan_sound = false;
                        }
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // A key alone means nothing to `scan`; it only makes `prescan` flag its line.
        for key in prescan_keys {
            check(&key, &mut literals, &mut targets);
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            let nfa = NFA::builder().match_kind(MatchKind::Standard).build(&literals).ok();
            Some(match nfa.as_ref().and_then(|nfa| CompactDfa::new(nfa, &literals)) {
                Some(dfa) => Literals::Dfa(Box::new(dfa)),
                // The table has a size limit; a huge pattern set falls back to the library's search.
                None => Literals::Fallback(
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::Standard)
                        .build(&literals)
                        .map_err(|e| vec![PatternError { pattern: 0, message: e.to_string() }])?,
                ),
            })
        };
        Ok(Self { automaton, targets, regexes, unfiltered, pattern_count: patterns.len(), prescan_sound })
    }

    pub fn pattern_count(&self) -> usize {
        self.pattern_count
    }

    /// Bytes of heap the automaton uses (for `check` and benchmarks).
    pub fn memory_usage(&self) -> usize {
        match &self.automaton {
            Some(Literals::Dfa(d)) => d.memory_usage(),
            Some(Literals::Fallback(a)) => a.memory_usage(),
            None => 0,
        }
    }

    /// Whether [`Matcher::prescan`] can rule lines out for this pattern set: false when a regex
    /// has no required literal, or a literal no part of which is sure to be in the raw text.
    pub fn can_prescan(&self) -> bool {
        self.prescan_sound && !matches!(self.automaton, Some(Literals::Fallback(_)))
    }

    /// Pre-scan of raw lines: `text` holds them in order, line `i` ending at `ends[i]`, each
    /// followed by at least one byte of line break (its terminator) before the next. Calls
    /// `candidate(i)` once per line, in increasing order, when a pattern may match that line once
    /// normalised; every other line is sure to have no match. Sound only when
    /// [`Matcher::can_prescan`], and only for ASCII lines without escape sequences: the caller
    /// treats every other line as a candidate. The point: most lines of a log match nothing, and
    /// this rules them out without normalising them.
    ///
    /// The text is walked as if *folded* ([`crate::normalize::fold_ascii`], white-space runs
    /// collapsed) without being copied: the automaton's raw byte classes fold each byte, and its
    /// space loops collapse the runs. Line breaks are white space there too, so a pattern may be
    /// found across two lines: that flags the second one for nothing, which costs only a
    /// normalisation. What it saves is the pass that wrote a folded copy.
    pub fn prescan(
        &self,
        text: &[u8],
        ends: &[usize],
        scratch: &mut Scratch,
        mut candidate: impl FnMut(usize),
    ) {
        let Some(Literals::Dfa(dfa)) = &self.automaton else { return };
        if ends.is_empty() {
            return;
        }
        let text = &text[..ends[ends.len() - 1]];
        let mut lane_hits = std::mem::take(&mut scratch.lane_hits);
        walk_lanes::<true>(dfa.as_ref(), text, lane_bounds(text.len(), ends, 1), &mut lane_hits);
        let mut line = 0;
        let mut last = usize::MAX;
        for &(end, ac_pattern) in lane_hits.iter().flatten() {
            while ends[line] < end {
                line += 1;
            }
            if line == last {
                continue;
            }
            // A prefix that ends in a space is reported again at each white-space byte after
            // it (the automaton stays in its state), so the last report sees the rest start.
            let hit =
                self.targets[ac_pattern as usize].iter().any(|c| folded_starts_with(text, end, &c.rest));
            if hit {
                candidate(line);
                last = line;
            }
        }
        scratch.lane_hits = lane_hits;
    }

    /// Scans every line of `block`; calls `on_hit(line_index, pattern)` once per distinct pair,
    /// in increasing line order.
    pub fn scan(&self, block: &Block, scratch: &mut Scratch, mut on_hit: impl FnMut(usize, PatternId)) {
        if block.is_empty() {
            return;
        }
        let mut lane_hits = std::mem::take(&mut scratch.lane_hits);
        match &self.automaton {
            Some(Literals::Dfa(dfa)) => {
                let bounds = lane_bounds(block.text.len(), &block.ends, 1);
                walk_lanes::<false>(dfa.as_ref(), &block.text, bounds, &mut lane_hits)
            }
            Some(Literals::Fallback(ac)) => {
                for lane in &mut lane_hits {
                    lane.clear();
                }
                let all = ac.find_overlapping_iter(&block.text).map(|m| (m.end(), m.pattern().as_u32()));
                lane_hits[0].extend(all);
            }
            None => {}
        }
        // Hits arrive grouped by line, so duplicates are found among the current line's few.
        let seen = &mut scratch.line_seen;
        seen.clear();
        let mut unfiltered_done = 0;
        let mut current: Option<usize> = None;
        for &(end, ac_pattern) in lane_hits.iter().flatten() {
            let mut line = current.unwrap_or(0);
            while block.ends[line] < end {
                line += 1;
            }
            if current != Some(line) {
                seen.clear();
                current = Some(line);
                self.run_unfiltered(block, &mut unfiltered_done, line, &mut on_hit);
            }
            for check in &self.targets[ac_pattern as usize] {
                if !check.rest.is_empty()
                    && block.text.get(end..end + check.rest.len()) != Some(&check.rest[..])
                {
                    continue;
                }
                for &p in &check.literals {
                    if !seen.contains(&p) {
                        seen.push(p);
                        on_hit(line, p);
                    }
                }
                for &ri in &check.regexes {
                    let r = &self.regexes[ri as usize];
                    if !seen.contains(&r.pattern) && r.is_match(block.line(line)) {
                        seen.push(r.pattern);
                        on_hit(line, r.pattern);
                    }
                }
            }
        }
        scratch.lane_hits = lane_hits;
        self.run_unfiltered(block, &mut unfiltered_done, block.len(), &mut on_hit);
    }

    /// Runs the regexes that have no prefilter on lines `*done..upto`.
    fn run_unfiltered(
        &self,
        block: &Block,
        done: &mut usize,
        upto: usize,
        on_hit: &mut impl FnMut(usize, PatternId),
    ) {
        if self.unfiltered.is_empty() {
            return;
        }
        while *done < upto {
            let text = block.line(*done);
            for &ri in &self.unfiltered {
                let r = &self.regexes[ri as usize];
                if r.is_match(text) {
                    on_hit(*done, r.pattern);
                }
            }
            *done += 1;
        }
    }
}

/// Lane boundaries for [`walk_lanes`]: `LANES` segments of about equal size, each starting at a
/// line start. `ends[i]` is the offset just past line `i`; the next line starts `sep` bytes later.
fn lane_bounds(len: usize, ends: &[usize], sep: usize) -> [usize; LANES + 1] {
    let mut bounds = [0usize; LANES + 1];
    bounds[LANES] = len;
    for k in 1..LANES {
        // The first line start at or after the k-th fraction of the text.
        let target = len * k / LANES;
        let i = ends.partition_point(|&e| e < target);
        bounds[k] = ends.get(i).map_or(len, |&e| (e + sep).min(len)).max(bounds[k - 1]);
    }
    bounds
}

/// Walks `text` with `dfa` in [`LANES`] interleaved segments cut at `bounds`, collecting (end
/// offset, pattern) of every match per lane, in text order. Lane `k` covers text before lane
/// `k + 1`, so the lanes concatenated hold all matches in text order. `RAW`: the text is raw
/// lines, read as if folded ([`CompactDfa::next`]).
fn walk_lanes<const RAW: bool>(
    dfa: &CompactDfa,
    text: &[u8],
    bounds: [usize; LANES + 1],
    lanes: &mut [Vec<(usize, u32)>; LANES],
) {
    for lane in lanes.iter_mut() {
        lane.clear();
    }
    let start = dfa.start();
    let [s0, s1, s2, s3] = std::array::from_fn(|k| &text[bounds[k]..bounds[k + 1]]);
    let [mut q0, mut q1, mut q2, mut q3] = [start; LANES];
    let [h0, h1, h2, h3] = lanes;
    let common = s0.len().min(s1.len()).min(s2.len()).min(s3.len());
    let [c0, c1, c2, c3] = [&s0[..common], &s1[..common], &s2[..common], &s3[..common]];
    let mut i = 0;
    while i < common {
        // The hot loop: four independent load chains, and no call — a call in the loop would
        // leave too few registers for the four states, and spilling them to the stack puts a
        // store and a reload on every step's dependency chain. It stops after any lane enters
        // a match state; the hits are recorded below.
        while i < common {
            q0 = dfa.next::<RAW>(q0, c0[i]);
            q1 = dfa.next::<RAW>(q1, c1[i]);
            q2 = dfa.next::<RAW>(q2, c2[i]);
            q3 = dfa.next::<RAW>(q3, c3[i]);
            i += 1;
            if dfa.is_match(q0.min(q1).min(q2).min(q3)) {
                break;
            }
        }
        for (k, (q, hits)) in
            [(q0, &mut *h0), (q1, &mut *h1), (q2, &mut *h2), (q3, &mut *h3)].into_iter().enumerate()
        {
            if dfa.is_match(q) {
                record(dfa, q, bounds[k] + i, hits);
            }
        }
    }
    let step = |state: u32, b: u8, at: usize, hits: &mut Vec<(usize, u32)>| {
        let next = dfa.next::<RAW>(state, b);
        if dfa.is_match(next) {
            record(dfa, next, at, hits);
        }
        next
    };
    for (k, (seg, mut q, hits)) in
        [(s0, q0, h0), (s1, q1, h1), (s2, q2, h2), (s3, q3, h3)].into_iter().enumerate()
    {
        for (i, &b) in seg.iter().enumerate().skip(common) {
            q = step(q, b, bounds[k] + i + 1, hits);
        }
    }
}

/// Whether a normalised literal can be pre-scanned (see `prescan_key`); one that cannot makes
/// [`Matcher::prescan`] unusable for its whole pattern set. For `check`.
pub fn prescannable(literal: &str) -> bool {
    prescan_key(literal, &mut Vec::new())
}

/// Masking puts `<timestamp>`, `<tmp>` and `<id>` into normalised lines, so a literal that could
/// overlap one of them (it holds `<` or `>`, or lies inside a token's word) may match a normalised
/// line whose raw text lacks it. For such a literal the pre-scan looks for a part of it that
/// cannot come from a token: its longest stretch without brackets, or, for a run of one bracket,
/// the run less one (a token adds at most one bracket to such a run). Pushes that key onto `keys`;
/// returns false when there is none.
fn prescan_key(literal: &str, keys: &mut Vec<String>) -> bool {
    let safe = |k: &str| {
        !k.is_empty()
            && !k.contains(['<', '>'])
            && !crate::normalize::MASK_TOKENS.iter().any(|t| t.contains(k))
    };
    if safe(literal) {
        return true;
    }
    let stretch = literal.split(['<', '>']).map(str::trim).filter(|k| safe(k)).max_by_key(|k| k.len());
    let key = match stretch {
        Some(k) => k,
        None => {
            let b = literal.as_bytes();
            if b.len() >= 2 && matches!(b[0], b'<' | b'>') && b.iter().all(|&c| c == b[0]) {
                &literal[1..]
            } else {
                return false;
            }
        }
    };
    keys.push(key.to_string());
    true
}

/// Where the run of white space at `text[at..]` ends.
fn skip_space(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|&b| fold_ascii(b) == b' ') {
        at += 1;
    }
    at
}

/// Whether the folded form of `text` from `at` on starts with `rest`. Most calls fail at the
/// first byte; past the end of `text` nothing matches.
#[inline]
fn folded_starts_with(text: &[u8], mut at: usize, rest: &[u8]) -> bool {
    for (k, &want) in rest.iter().enumerate() {
        if k > 0 && rest[k - 1] == b' ' {
            at = skip_space(text, at);
        }
        match text.get(at) {
            Some(&b) if fold_ascii(b) == want => at += 1,
            _ => return false,
        }
    }
    true
}

#[cold]
fn record(dfa: &CompactDfa, state: u32, end: usize, hits: &mut Vec<(usize, u32)>) {
    hits.extend(dfa.patterns(state).iter().map(|&p| (end, p)));
}

/// Checks an explicit regex's syntax without compiling it (cheap; compilation is lazy).
pub fn validate_regex(source: &str) -> Result<(), String> {
    if source.trim().is_empty() {
        return Err("empty regex".into());
    }
    regex_syntax::ParserBuilder::new().case_insensitive(true).build().parse(source).map(|_| ()).map_err(|e| {
        let text = e.to_string();
        let msg = text.lines().last().unwrap_or("").trim().trim_start_matches("error: ").to_string();
        format!("invalid regex: {msg}")
    })
}

/// Compiles an explicit regex: case-insensitive, matched against normalised bytes.
pub fn compile_regex(source: &str) -> Result<Regex, String> {
    if source.trim().is_empty() {
        return Err("empty regex".into());
    }
    RegexBuilder::new(source)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(s) => {
                // The syntax error is multi-line (pattern, caret, message); keep its last line.
                let msg = s.lines().last().unwrap_or("").trim().trim_start_matches("error: ");
                format!("invalid regex: {msg}")
            }
            other => format!("invalid regex: {other}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(patterns: &[PatternSpec], lines: &[&str]) -> Vec<(usize, PatternId)> {
        let m = Matcher::new(patterns).unwrap();
        let mut block = Block::default();
        for l in lines {
            block.push_line(l.as_bytes());
        }
        let mut out = Vec::new();
        m.scan(&block, &mut Scratch::default(), |l, p| out.push((l, p)));
        out.sort();
        out
    }

    fn lit(s: &str) -> PatternSpec {
        PatternSpec::Literal(s.into())
    }
    fn re(s: &str) -> PatternSpec {
        PatternSpec::Regex(s.into())
    }

    #[test]
    fn literals_report_each_line_once() {
        let got = hits(
            &[lit("refused"), lit("connection refused")],
            &["a connection refused, refused again", "nothing", "refused"],
        );
        assert_eq!(got, vec![(0, 0), (0, 1), (2, 0)]);
    }

    #[test]
    fn overlapping_patterns_all_hit() {
        let got = hits(&[lit("abc"), lit("bcd"), lit("c")], &["abcd"]);
        assert_eq!(got, vec![(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn patterns_never_span_lines() {
        assert!(hits(&[lit("ab")], &["a", "b"]).is_empty());
    }

    #[test]
    fn regexes_are_prefiltered_and_confirmed() {
        let got = hits(
            &[re(r"container .* exited with code 12[67]")],
            &[
                "container web exited with code 127",
                "container web exited with code 0",
                "exited with code 127",
            ],
        );
        assert_eq!(got, vec![(0, 0)]);
    }

    #[test]
    fn regexes_are_case_insensitive() {
        assert_eq!(hits(&[re("EXIT CODE [0-9]+")], &["exit code 1"]), vec![(0, 0)]);
    }

    #[test]
    fn regex_without_literal_runs_on_every_line() {
        let got = hits(&[re(r"^\d+$"), lit("x")], &["12", "x", "34"]);
        assert_eq!(got, vec![(0, 0), (1, 1), (2, 0)]);
    }

    #[test]
    fn literal_and_regex_sharing_a_literal_both_report() {
        let got = hits(&[lit("timeout"), re("timeout after [0-9]+s")], &["timeout after 5s", "timeout"]);
        assert_eq!(got, vec![(0, 0), (0, 1), (1, 0)]);
    }

    /// Lines each followed by a line break, as `prescan` takes them.
    fn flagged(patterns: &[PatternSpec], lines: &[&str]) -> Vec<usize> {
        let m = Matcher::new(patterns).unwrap();
        assert!(m.can_prescan());
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            text.extend_from_slice(l.as_bytes());
            ends.push(text.len());
            text.extend_from_slice(if i % 2 == 0 { b"\n" } else { b"\r\n" });
        }
        let mut out = Vec::new();
        m.prescan(&text, &ends, &mut Scratch::default(), |i| out.push(i));
        out
    }

    #[test]
    fn prescan_flags_lines_where_a_pattern_may_match() {
        let got = flagged(
            &[lit("connection refused"), re("exit code 12[67]")],
            &["ok", "tcp connection refused by peer", "nothing", "exit code 127", "exit status 127"],
        );
        assert_eq!(got, vec![1, 3]);
        // Raw text is read as folded: case and runs of white space do not matter.
        let got = flagged(
            &[lit("connection refused by peer"), lit("exit code")],
            &["Connection \t REFUSED  by peer", "connection refused", "EXIT\x0bCode", "exitcode"],
        );
        assert_eq!(got, vec![0, 2]);
    }

    #[test]
    fn literals_that_a_mask_token_could_complete_are_prescanned_by_a_safe_part() {
        // "<<<<<<<" can end in the '<' of "<timestamp>": six are enough to look for.
        assert_eq!(flagged(&[lit("<<<<<<<")], &["a <<<<<<", "b <<<<<", "<<<<<<<< c"]), vec![0, 2]);
        assert_eq!(flagged(&[lit("<--- last few gcs --->")], &["x", "--- last few gcs ---"]), vec![1]);
        assert!(prescannable("connection refused") && prescannable(">>>>>>>") && prescannable("> links"));
        // A token's own word, or a token: no part of it is sure to be in the raw line.
        assert!(!prescannable("<id>") && !prescannable("stamp") && !prescannable("<"));
        assert!(!Matcher::new(&[lit("<tmp>")]).unwrap().can_prescan());
        assert!(!Matcher::new(&[re(r"^\d+$")]).unwrap().can_prescan());
    }

    #[test]
    fn bad_patterns_are_all_reported() {
        let errs = Matcher::new(&[re("("), lit(""), re("ok"), re("[z-a]")]).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.pattern).collect::<Vec<_>>(), vec![0, 1, 3]);
        assert!(errs[0].message.starts_with("invalid regex"), "{}", errs[0].message);
    }
}
