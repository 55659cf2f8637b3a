//! Required literals of a regex: a set of strings such that every match of the regex contains
//! at least one of them. The matcher puts them into its Aho-Corasick automaton and runs the regex
//! only on lines where one occurs.
//!
//! Built on `regex-syntax`'s literal extractor (which handles alternations, small classes and
//! bounded repeats by cross product): for every concatenation we try the prefixes of each of its
//! suffixes and recurse into its parts, and keep the best set — the one whose shortest literal is
//! longest, then the smallest set. Literals are lower-cased because the matcher scans lower-cased
//! text; the regex itself is case-insensitive, so this never loses a match.

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// Shortest literal worth prefiltering on; below this a regex runs on every line.
pub const MIN_LITERAL_LEN: usize = 3;

/// Returns the best required-literal set of `source`, or `None` when it has none of at least
/// [`MIN_LITERAL_LEN`] bytes (or does not parse; compile errors are reported elsewhere).
pub fn required_literals(source: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(source).ok()?;
    let best = required(&hir)?;
    (best.iter().map(String::len).min().unwrap_or(0) >= MIN_LITERAL_LEN).then_some(best)
}

/// Beyond this length a literal is rare enough; a longer one is not worth more literals.
const GOOD_ENOUGH_LEN: usize = 12;

/// (shortest literal length, capped; -count): bigger is better. The cap matters: without it a
/// cross product of 64 long literals beats one plain 19-byte phrase, and every literal costs
/// automaton states (memory) for no gain in selectivity.
fn quality(set: &[String]) -> (usize, isize) {
    let min = set.iter().map(String::len).min().unwrap_or(0);
    (min.min(GOOD_ENOUGH_LEN), -(set.len() as isize))
}

fn better(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if quality(&b) > quality(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Literal prefixes every match of `hir` starts with, if they form a finite, non-empty set.
fn prefixes(hir: &Hir) -> Option<Vec<String>> {
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_class(10).limit_total(64);
    let seq = extractor.extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(lits.len());
    for lit in lits {
        let text = std::str::from_utf8(lit.as_bytes()).ok()?.to_lowercase();
        if text.is_empty() {
            return None;
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Some(out)
}

fn required(hir: &Hir) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(_) | HirKind::Class(_) => prefixes(hir),
        HirKind::Capture(cap) => required(&cap.sub),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                None
            } else {
                required(&rep.sub)
            }
        }
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for alt in alts {
                for lit in required(alt)? {
                    if !all.contains(&lit) {
                        all.push(lit);
                    }
                }
            }
            better(prefixes(hir), Some(all))
        }
        HirKind::Concat(parts) => {
            let mut best = None;
            for i in 0..parts.len() {
                let tail = Hir::concat(parts[i..].to_vec());
                best = better(best, prefixes(&tail));
                best = better(best, required(&parts[i]));
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Option<Vec<String>> {
        required_literals(s).map(|mut v| {
            v.sort();
            v
        })
    }

    #[test]
    fn picks_the_longest_required_piece() {
        assert_eq!(
            req(r"container.*exit code 12[67]"),
            // One literal of 12 bytes is worth more than two slightly longer ones.
            Some(vec!["exit code 12".into()])
        );
        assert_eq!(
            req(r"[0-9]+ errors? found in FooBar"),
            // One literal of 12+ bytes rather than the two alternatives spelled out.
            Some(vec![" found in foobar".into()])
        );
    }

    #[test]
    fn alternations_union_their_branches() {
        assert_eq!(
            req(r"(connection reset|broken pipe) by peer"),
            Some(vec!["broken pipe by peer".into(), "connection reset by peer".into(),])
        );
    }

    #[test]
    fn no_literal_means_none() {
        assert_eq!(req(r"^\d+$"), None);
        assert_eq!(req(r"a.b"), None);
        assert_eq!(req(r"(foo)?bar?"), None);
    }

    #[test]
    fn every_match_contains_a_required_literal() {
        let cases = [
            (r"oom(-| )kill(ed|er)", "the oom-killer woke"),
            (r"exit(ed)? (with )?(code|status) 13[0-9]", "exited with status 137"),
            (r"x509: certificate (has expired|is not yet valid)", "x509: certificate has expired"),
        ];
        for (re, text) in cases {
            let lits = required_literals(re).unwrap();
            let r = regex::Regex::new(&format!("(?i){re}")).unwrap();
            assert!(r.is_match(text));
            assert!(lits.iter().any(|l| text.contains(l.as_str())), "{re}: {lits:?}");
        }
    }
}
