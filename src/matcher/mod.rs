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
//! Patterns never span lines: the matcher is only ever given normalised text, which contains no
//! `\n` inside a line, and no pattern contains one either.

pub mod prefilter;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexBuilder};

/// Index of a pattern in the list given to [`Matcher::new`].
pub type PatternId = u32;

/// What to look for. Literal text must already be normalised (lower-case, collapsed white space).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternSpec {
    Literal(String),
    Regex(String),
}

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

    /// Starts a new line; write its text into `self.text`, then call [`Block::end_line`].
    pub fn line_start(&self) -> usize {
        self.text.len()
    }

    /// Ends the line begun at the current end of `text`.
    pub fn end_line(&mut self) {
        self.ends.push(self.text.len());
        self.text.push(b'\n');
    }

    /// Drops a line begun at `start` (it normalised to nothing).
    pub fn discard_line(&mut self, start: usize) {
        self.text.truncate(start);
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
    /// For every pattern, the (generation, line) it was last reported for.
    last_reported: Vec<u64>,
    generation: u64,
}

#[derive(Debug)]
enum Target {
    Literal(PatternId),
    /// A required literal of these regexes (indexes into `Matcher::regexes`).
    Prefilter(Vec<u32>),
}

#[derive(Debug)]
struct CompiledRegex {
    pattern: PatternId,
    regex: Regex,
}

#[derive(Debug)]
pub struct Matcher {
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern: what a hit means.
    targets: Vec<Vec<Target>>,
    regexes: Vec<CompiledRegex>,
    /// Regexes without a required literal: run on every line.
    unfiltered: Vec<u32>,
    pattern_count: usize,
}

impl Matcher {
    /// Compiles `patterns`; every pattern that fails is reported, none aborts the others.
    pub fn new(patterns: &[PatternSpec]) -> Result<Self, Vec<PatternError>> {
        let mut literals: Vec<String> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        let mut regexes = Vec::new();
        let mut unfiltered = Vec::new();
        let mut errors = Vec::new();

        let mut slot =
            |text: String, literals: &mut Vec<String>, targets: &mut Vec<Vec<Target>>| {
                *index.entry(text.clone()).or_insert_with(|| {
                    literals.push(text);
                    targets.push(Vec::new());
                    literals.len() - 1
                })
            };

        for (id, spec) in patterns.iter().enumerate() {
            let id = id as PatternId;
            match spec {
                PatternSpec::Literal(text) => {
                    if text.is_empty() {
                        errors.push(PatternError {
                            pattern: id,
                            message: "empty pattern".into(),
                        });
                        continue;
                    }
                    let s = slot(text.clone(), &mut literals, &mut targets);
                    targets[s].push(Target::Literal(id));
                }
                PatternSpec::Regex(source) => {
                    let regex = match compile_regex(source) {
                        Ok(r) => r,
                        Err(message) => {
                            errors.push(PatternError {
                                pattern: id,
                                message,
                            });
                            continue;
                        }
                    };
                    let ri = regexes.len() as u32;
                    regexes.push(CompiledRegex { pattern: id, regex });
                    match prefilter::required_literals(source) {
                        Some(set) => {
                            for lit in set {
                                let s = slot(lit, &mut literals, &mut targets);
                                match targets[s].iter_mut().find_map(|t| match t {
                                    Target::Prefilter(list) => Some(list),
                                    Target::Literal(_) => None,
                                }) {
                                    Some(list) => {
                                        if !list.contains(&ri) {
                                            list.push(ri)
                                        }
                                    }
                                    None => targets[s].push(Target::Prefilter(vec![ri])),
                                }
                            }
                        }
                        None => unfiltered.push(ri),
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&literals)
                    .or_else(|_| {
                        // The DFA has a size limit; a huge pattern set falls back to the NFA.
                        AhoCorasickBuilder::new()
                            .match_kind(MatchKind::Standard)
                            .build(&literals)
                    })
                    .map_err(|e| {
                        vec![PatternError {
                            pattern: 0,
                            message: e.to_string(),
                        }]
                    })?,
            )
        };
        Ok(Self {
            automaton,
            targets,
            regexes,
            unfiltered,
            pattern_count: patterns.len(),
        })
    }

    pub fn pattern_count(&self) -> usize {
        self.pattern_count
    }

    /// Bytes of heap the automaton uses (for `check` and benchmarks).
    pub fn memory_usage(&self) -> usize {
        self.automaton.as_ref().map_or(0, |a| a.memory_usage())
    }

    /// Scans every line of `block`; calls `on_hit(line_index, pattern)` once per distinct pair,
    /// in increasing line order.
    pub fn scan(
        &self,
        block: &Block,
        scratch: &mut Scratch,
        mut on_hit: impl FnMut(usize, PatternId),
    ) {
        if block.is_empty() {
            return;
        }
        if scratch.last_reported.len() < self.pattern_count {
            scratch.last_reported.resize(self.pattern_count, u64::MAX);
        }
        // Line indexes are block-local; the generation keeps stamps of earlier blocks apart.
        scratch.generation = scratch.generation.wrapping_add(1 << 32);
        let generation = scratch.generation;
        let last = &mut scratch.last_reported[..];
        let mut unfiltered_done = 0;

        if let Some(ac) = &self.automaton {
            let mut line = 0;
            for m in ac.find_overlapping_iter(&block.text) {
                while block.ends[line] < m.end() {
                    line += 1;
                }
                self.run_unfiltered(
                    block,
                    &mut unfiltered_done,
                    line,
                    generation,
                    last,
                    &mut on_hit,
                );
                let stamp = generation | line as u64;
                for target in &self.targets[m.pattern().as_usize()] {
                    match target {
                        Target::Literal(p) => {
                            if last[*p as usize] != stamp {
                                last[*p as usize] = stamp;
                                on_hit(line, *p);
                            }
                        }
                        Target::Prefilter(list) => {
                            for &ri in list {
                                let r = &self.regexes[ri as usize];
                                let seen = &mut last[r.pattern as usize];
                                if *seen != stamp && r.regex.is_match(block.line(line)) {
                                    *seen = stamp;
                                    on_hit(line, r.pattern);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.run_unfiltered(
            block,
            &mut unfiltered_done,
            block.len(),
            generation,
            last,
            &mut on_hit,
        );
    }

    /// Runs the regexes that have no prefilter on lines `*done..upto`.
    fn run_unfiltered(
        &self,
        block: &Block,
        done: &mut usize,
        upto: usize,
        generation: u64,
        last: &mut [u64],
        on_hit: &mut impl FnMut(usize, PatternId),
    ) {
        if self.unfiltered.is_empty() {
            return;
        }
        while *done < upto {
            let line = *done;
            let text = block.line(line);
            for &ri in &self.unfiltered {
                let r = &self.regexes[ri as usize];
                if r.regex.is_match(text) {
                    last[r.pattern as usize] = generation | line as u64;
                    on_hit(line, r.pattern);
                }
            }
            *done += 1;
        }
    }
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
                let msg = s
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ");
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
        assert_eq!(
            hits(&[re("EXIT CODE [0-9]+")], &["exit code 1"]),
            vec![(0, 0)]
        );
    }

    #[test]
    fn regex_without_literal_runs_on_every_line() {
        let got = hits(&[re(r"^\d+$"), lit("x")], &["12", "x", "34"]);
        assert_eq!(got, vec![(0, 0), (1, 1), (2, 0)]);
    }

    #[test]
    fn literal_and_regex_sharing_a_literal_both_report() {
        let got = hits(
            &[lit("timeout"), re("timeout after [0-9]+s")],
            &["timeout after 5s", "timeout"],
        );
        assert_eq!(got, vec![(0, 0), (0, 1), (1, 0)]);
    }

    #[test]
    fn bad_patterns_are_all_reported() {
        let errs = Matcher::new(&[re("("), lit(""), re("ok"), re("[z-a]")]).unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.pattern).collect::<Vec<_>>(),
            vec![0, 1, 3]
        );
        assert!(
            errs[0].message.starts_with("invalid regex"),
            "{}",
            errs[0].message
        );
    }
}
