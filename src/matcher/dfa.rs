//! The literal automaton, laid out for the hand-written walk.
//!
//! `aho-corasick` builds the Aho-Corasick automaton as an NFA (a trie with failure links); this
//! module computes its DFA from it, straight into a dense table. The library's own DFA pads each
//! state's row to a power of two (67 byte classes become 128 slots for Faultline's pack), so the
//! rows the walk touches are spread over twice the memory they need; here a row is exactly one
//! slot per byte class. The walk is bound by the latency of one table load per byte, and a table
//! half the size keeps more of its hot rows in the CPU's caches. Building from the NFA rather
//! than copying the library's DFA also spares that DFA's memory at start-up (bundled catalog:
//! peak RSS 37 → 21 MB). Match states come first, so "is this a match" is one comparison, and
//! their patterns sit in one flat list.

use aho_corasick::Anchored;
use aho_corasick::automaton::{Automaton, StateID};

/// A state: the offset of its row in [`CompactDfa::trans`] (index × stride, so a step is one
/// add and one load).
type State = u32;

#[derive(Debug)]
pub struct CompactDfa {
    /// Byte → its class: bytes no pattern tells apart share one.
    classes: [u16; 256],
    /// Byte → its class for a walk over raw text as if it were *folded* (ASCII lower-cased,
    /// each run of ASCII white space one space): an upper-case letter is its lower-case one's
    /// class, and white space has a class of its own, which acts as a space except that after a
    /// space it leaves the state as it is. Walking raw text with these classes visits the states
    /// walking its folded form would.
    raw_classes: [u16; 256],
    /// Row after row, one slot per class: the next state.
    trans: Vec<State>,
    start: State,
    /// States below this are match states.
    match_limit: State,
    stride: u32,
    /// Match state `k` (row `k`) reports `patterns[pattern_starts[k]..pattern_starts[k + 1]]`.
    pattern_starts: Vec<u32>,
    patterns: Vec<u32>,
}

impl CompactDfa {
    /// The DFA of `automaton` (any of the library's, built from `literals` with standard match
    /// semantics): the states reachable from its unanchored start state, breadth first. `None`
    /// if the table would be too large for 32-bit offsets.
    pub fn new(automaton: &impl Automaton, literals: &[impl AsRef<[u8]>]) -> Option<Self> {
        // A byte found in no literal leads every state back to the start, so all such bytes are
        // one class; each byte found in a literal gets a class of its own.
        let mut classes = [0u16; 256];
        let mut representative = vec![0u8]; // class 0: bytes in no literal (if there are any)
        for lit in literals {
            for &b in lit.as_ref() {
                if classes[b as usize] == 0 {
                    classes[b as usize] = representative.len() as u16;
                    representative.push(b);
                }
            }
        }
        if let Some(other) = (0..=255u8).find(|&b| classes[b as usize] == 0) {
            representative[0] = other;
        }
        let space = classes[b' ' as usize] as usize;
        // One more slot per row when a literal holds a space: the raw walk's white space (see
        // below), so the loops it needs are not in the way of exact walks.
        let raw_space = if space != 0 { Some(representative.len()) } else { None };
        let stride = representative.len() + usize::from(raw_space.is_some());

        let start = automaton.start_state(Anchored::No).ok()?;
        // Every reachable state, breadth first from the start: rows near the root, which the walk
        // visits most, end up near each other. `index` maps a library state to its place.
        let mut order: Vec<StateID> = vec![start];
        let mut index: Vec<u32> = Vec::new();
        let slot = |index: &mut Vec<u32>, sid: StateID| -> usize {
            let at = sid.as_usize();
            if at >= index.len() {
                index.resize(at + 1, u32::MAX);
            }
            at
        };
        let at = slot(&mut index, start);
        index[at] = 0;
        let mut done = 0;
        while done < order.len() {
            let sid = order[done];
            done += 1;
            for &b in &representative {
                let next = automaton.next_state(Anchored::No, sid, b);
                let at = slot(&mut index, next);
                if index[at] == u32::MAX {
                    index[at] = u32::try_from(order.len()).ok()?;
                    order.push(next);
                }
            }
        }
        // Match states first, each group in breadth-first order.
        let mut place: Vec<usize> = (0..order.len()).collect();
        place.sort_by_key(|&i| !automaton.is_match(order[i]));
        let mut new_of_old = vec![0usize; order.len()];
        for (new, &old) in place.iter().enumerate() {
            new_of_old[old] = new;
        }
        let match_count = order.iter().filter(|&&sid| automaton.is_match(sid)).count();
        // Row offsets must fit a state.
        State::try_from(order.len().checked_mul(stride)?).ok()?;
        let mut trans = vec![0; order.len() * stride];
        // States entered by a space: every transition into a state other than the start is on
        // the last byte of the text it stands for, so these stand for text ending in a space.
        let mut after_space = vec![false; order.len()];
        // The transitions are asked for again rather than kept from the first pass: kept, they
        // would take as much memory as the table, on top of it, while it is built.
        for (old, &sid) in order.iter().enumerate() {
            let new = new_of_old[old];
            for (class, &b) in representative.iter().enumerate() {
                let next = automaton.next_state(Anchored::No, sid, b);
                let target = new_of_old[index[next.as_usize()] as usize];
                trans[new * stride + class] = (target * stride) as State;
                if class == space && space != 0 && target != new_of_old[0] {
                    after_space[target] = true;
                }
            }
        }
        // The raw walk's white space: a space, except that after a space it stays where it is —
        // collapsing a white-space run, inside the automaton.
        if let Some(raw_space) = raw_space {
            for (row, &after) in after_space.iter().enumerate() {
                let r = row * stride;
                trans[r + raw_space] = if after { r as State } else { trans[r + space] };
            }
        }
        let mut raw_classes = [0u16; 256];
        for (b, class) in raw_classes.iter_mut().enumerate() {
            let folded = crate::normalize::fold_ascii(b as u8);
            *class = match raw_space {
                Some(raw_space) if folded == b' ' => raw_space as u16,
                _ => classes[folded as usize],
            };
        }
        let mut pattern_starts = vec![0u32];
        let mut patterns = Vec::new();
        for &old in &place[..match_count] {
            let sid = order[old];
            patterns.extend((0..automaton.match_len(sid)).map(|i| automaton.match_pattern(sid, i).as_u32()));
            pattern_starts.push(patterns.len() as u32);
        }
        Some(Self {
            classes,
            raw_classes,
            trans,
            start: (new_of_old[0] * stride) as State,
            match_limit: (match_count * stride) as State,
            stride: stride as u32,
            pattern_starts,
            patterns,
        })
    }

    /// Bytes of heap the tables use.
    pub fn memory_usage(&self) -> usize {
        self.trans.len() * size_of::<State>()
            + (self.pattern_starts.len() + self.patterns.len()) * size_of::<u32>()
    }

    pub fn start(&self) -> State {
        self.start
    }

    /// The next state: with `RAW`, reading `byte` as raw text (see
    /// [`CompactDfa::raw_classes`]), else as it is. (A constant, not a class map passed in:
    /// both maps then sit at fixed offsets from `self`, which spares the walk a register.)
    #[inline(always)]
    pub fn next<const RAW: bool>(&self, state: State, byte: u8) -> State {
        let classes = if RAW { &self.raw_classes } else { &self.classes };
        let slot = (state + u32::from(classes[byte as usize])) as usize;
        debug_assert!(slot < self.trans.len());
        // SAFETY: `state` is a row offset (the start state, or a value read from `trans`, all of
        // which `new` wrote as row index × stride with a row index below the number of rows)
        // and a class is below the stride, so `slot` is inside `trans`. Without the bounds
        // check the walk's hot loop is a fifth shorter.
        unsafe { *self.trans.get_unchecked(slot) }
    }

    #[inline(always)]
    pub fn is_match(&self, state: State) -> bool {
        state < self.match_limit
    }

    /// The patterns that end where the walk entered match state `state`.
    pub fn patterns(&self, state: State) -> &[u32] {
        let k = (state / self.stride) as usize;
        &self.patterns[self.pattern_starts[k] as usize..self.pattern_starts[k + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::MatchKind;
    use aho_corasick::nfa::noncontiguous::NFA;

    fn nfa(patterns: &[impl AsRef<[u8]>]) -> NFA {
        NFA::builder().match_kind(MatchKind::Standard).build(patterns).unwrap()
    }

    /// Every (end, pattern) the compact walk reports, in order (`RAW`: reading raw text).
    fn compact_matches<const RAW: bool>(dfa: &CompactDfa, text: &[u8]) -> Vec<(usize, u32)> {
        let mut q = dfa.start();
        let mut out = Vec::new();
        for (i, &b) in text.iter().enumerate() {
            q = dfa.next::<RAW>(q, b);
            if dfa.is_match(q) {
                out.extend(dfa.patterns(q).iter().map(|&p| (i + 1, p)));
            }
        }
        out
    }

    proptest::proptest! {
        /// The table reports exactly what the library's own overlapping search reports.
        #[test]
        fn the_table_finds_what_aho_corasick_finds(
            patterns in proptest::collection::vec("[a-c ]{1,5}", 1..20),
            text in "[a-d ]{0,80}",
        ) {
            let compact = CompactDfa::new(&nfa(&patterns), &patterns).unwrap();
            let ac = aho_corasick::AhoCorasick::builder().match_kind(MatchKind::Standard).build(&patterns).unwrap();
            let mut want: Vec<(usize, u32)> =
                ac.find_overlapping_iter(&text).map(|m| (m.end(), m.pattern().as_u32())).collect();
            let mut got = compact_matches::<false>(&compact, text.as_bytes());
            want.sort_unstable();
            got.sort_unstable();
            proptest::prop_assert_eq!(got, want);
        }

        /// Walking raw text with the raw classes finds what walking its folded form finds.
        #[test]
        fn the_raw_walk_finds_what_the_folded_walk_finds(
            patterns in proptest::collection::vec("[a-c]{1,3}( [a-c]{1,3})?", 1..12),
            text in "[a-cA-C \t\n\r\x0b]{0,80}",
        ) {
            let compact = CompactDfa::new(&nfa(&patterns), &patterns).unwrap();
            // The folded text, and for each raw byte the length of the folded text up to it.
            let mut folded = Vec::new();
            let mut folded_len = Vec::new();
            for &b in text.as_bytes() {
                let c = crate::normalize::fold_ascii(b);
                if !(c == b' ' && folded.last() == Some(&b' ')) {
                    folded.push(c);
                }
                folded_len.push(folded.len());
            }
            let want: std::collections::BTreeSet<(usize, u32)> =
                compact_matches::<false>(&compact, &folded).into_iter().collect();
            // Raw ends moved to where they fall in the folded text (a state kept over a run of
            // white space reports again: the same folded end).
            let got: std::collections::BTreeSet<(usize, u32)> = compact_matches::<true>(&compact, text.as_bytes())
                .into_iter()
                .map(|(end, p)| (folded_len[end - 1], p))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn rows_hold_one_slot_per_byte_class() {
        let patterns = ["error", "fail", "refused"];
        let dfa = aho_corasick::dfa::DFA::builder().match_kind(MatchKind::Standard).build(patterns).unwrap();
        let compact = CompactDfa::new(&nfa(&patterns), &patterns).unwrap();
        // The distinct bytes of the patterns, plus one class for every other byte.
        let distinct = patterns.concat().bytes().collect::<std::collections::BTreeSet<_>>().len();
        assert_eq!(compact.stride as usize, distinct + 1);
        assert!(compact.memory_usage() < dfa.memory_usage());
        // Built from the library's DFA instead, the table is the same.
        assert_eq!(CompactDfa::new(&dfa, &patterns).unwrap().trans, compact.trans);
    }
}
