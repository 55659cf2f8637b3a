//! Framing: turns a byte stream, arriving in arbitrary chunks, into numbered lines.
//!
//! LF, CRLF and a lone CR each end a line (a CR at the end of one chunk followed by an LF at the
//! start of the next is one terminator). A line longer than `max_line_bytes` is cut: its first
//! `max_line_bytes` bytes are emitted with `cut = true` and the rest is skipped up to the next
//! terminator, so memory stays bounded whatever the input. Bytes are passed through untouched:
//! invalid UTF-8 and NUL bytes are the normaliser's business, never an error here.
//!
//! Lines that do not cross a chunk boundary are handed out as slices of the chunk (no copy).

use memchr::memchr2;

/// One framed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the stream.
    pub number: u64,
    /// Line content without its terminator (at most `max_line_bytes` bytes).
    pub text: &'a [u8],
    /// True when the line was longer than the limit and `text` holds only its start.
    pub cut: bool,
    /// Stream offset just past the line's terminator: where framing resumes after this line.
    pub end: u64,
    /// The terminator was a CR at the end of a chunk: an LF at `end` still belongs to it.
    pub end_after_cr: bool,
}

/// Default cap on one line: longer lines are cut.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;

/// Takes the lines [`LineFramer::push_bulk`] frames.
pub trait BulkSink {
    /// One framed line.
    fn line(&mut self, line: Line<'_>);
    /// A run of whole lines, numbered from `first_number`, with their terminators: it ends with
    /// one, and a CR at its very end is a whole terminator. Frames them (LF, CRLF and a lone CR
    /// each end a line; no line is longer than the limit) and returns how many there were.
    fn lines(&mut self, first_number: u64, text: &[u8]) -> u64;
}

#[derive(Debug)]
pub struct LineFramer {
    max_line_bytes: usize,
    /// The start of a line whose terminator has not arrived yet.
    partial: Vec<u8>,
    /// The partial line went over the limit; skip until the next terminator.
    partial_cut: bool,
    /// The previous chunk ended with CR: an LF at the start of the next chunk belongs to it.
    after_cr: bool,
    next_number: u64,
    lines_cut: u64,
    /// Bytes pushed in total, and of those the bytes after the last terminator (held back).
    total: u64,
    tail: u64,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES)
    }
}

impl LineFramer {
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(1),
            partial: Vec::new(),
            partial_cut: false,
            after_cr: false,
            next_number: 1,
            lines_cut: 0,
            total: 0,
            tail: 0,
        }
    }

    /// Resumes numbering at `next_number` (used when a stream restarts from a checkpoint).
    pub fn with_next_number(mut self, next_number: u64) -> Self {
        self.next_number = next_number.max(1);
        self
    }

    /// Resumes at stream offset `offset` (bytes before it are not pushed again); `after_cr` says
    /// the byte before `offset` was a CR, so a leading LF belongs to that terminator.
    pub fn resume_at(mut self, offset: u64, after_cr: bool) -> Self {
        self.total = offset;
        self.after_cr = after_cr;
        self
    }

    /// Offset just past the last complete line: where a restart must resume.
    pub fn consumed(&self) -> u64 {
        self.total - self.tail
    }

    /// True when the last consumed byte was a CR (see [`LineFramer::resume_at`]).
    pub fn after_cr(&self) -> bool {
        self.after_cr
    }

    /// Number the next completed line will get.
    pub fn next_number(&self) -> u64 {
        self.next_number
    }

    /// Lines cut so far because they were longer than the limit.
    pub fn lines_cut(&self) -> u64 {
        self.lines_cut
    }

    /// Bytes of an unterminated line held back, waiting for its terminator.
    pub fn pending_bytes(&self) -> usize {
        self.partial.len()
    }

    /// True while an unterminated line (possibly empty after a cut) is pending.
    pub fn has_pending(&self) -> bool {
        !self.partial.is_empty() || self.partial_cut
    }

    /// Frames `chunk`, calling `emit` for every line it completes.
    pub fn push(&mut self, mut chunk: &[u8], mut emit: impl FnMut(Line<'_>)) {
        if chunk.is_empty() {
            return; // (it would forget a CR that ended the last chunk)
        }
        self.total += chunk.len() as u64;
        if self.after_cr {
            self.after_cr = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        let (total, len) = (self.total, chunk.len());
        let mut start = 0;
        for_each_terminator(chunk, |pos| {
            if pos < start {
                return; // the LF of a CRLF
            }
            let body = &chunk[start..pos];
            let mut term_len = 1;
            if chunk[pos] == b'\r' {
                match chunk.get(pos + 1) {
                    Some(b'\n') => term_len = 2,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let end = (total - (len - pos - term_len) as u64, self.after_cr);
            if self.partial.is_empty() && !self.partial_cut {
                let cut = body.len() > self.max_line_bytes;
                let text = &body[..body.len().min(self.max_line_bytes)];
                self.emit_line(text, cut, end, &mut emit);
            } else {
                self.append_partial(body);
                self.emit_partial(end, &mut emit);
            }
            start = pos + term_len;
            self.tail = 0;
        });
        chunk = &chunk[start..];
        if !chunk.is_empty() {
            self.tail += chunk.len() as u64;
            self.append_partial(chunk);
        }
    }

    /// Frames `chunk` like [`LineFramer::push`], but hands a run of whole lines that needs no
    /// cutting to `sink` in one piece ([`BulkSink::lines`]) instead of line by line. Lines that
    /// complete a partial line, and every line when the run is longer than the line limit (it
    /// could hold a line to cut), still go one by one to [`BulkSink::line`]. This saves a framing
    /// pass for a sink that reads every byte anyway (`LineScanner`), and has no use for the
    /// lines' stream offsets ([`Line::end`]).
    pub fn push_bulk(&mut self, mut chunk: &[u8], sink: &mut impl BulkSink) {
        if self.after_cr || self.has_pending() {
            // Up to the first terminator the line-by-line path does the work.
            let Some(pos) = memchr2(b'\n', b'\r', chunk) else { return self.push(chunk, |l| sink.line(l)) };
            let head = match chunk[pos] {
                b'\r' if chunk.get(pos + 1) == Some(&b'\n') => pos + 2,
                _ => pos + 1,
            };
            self.push(&chunk[..head], |l| sink.line(l));
            chunk = &chunk[head..];
        }
        // The last terminator, if the run up to it is short enough to hold no line to cut.
        let last = match memchr::memrchr2(b'\n', b'\r', chunk) {
            Some(last) if last <= self.max_line_bytes => last,
            _ => return self.push(chunk, |l| sink.line(l)),
        };
        let (run, rest) = chunk.split_at(last + 1);
        let lines = sink.lines(self.next_number, run);
        self.next_number += lines;
        self.total += run.len() as u64;
        self.tail = 0;
        // A CR ending the chunk may be the first half of a CRLF split across chunks.
        self.after_cr = rest.is_empty() && run.last() == Some(&b'\r');
        self.push(rest, |l| sink.line(l));
    }

    /// Emits a pending unterminated line, if any (end of stream, or an idle timeout).
    pub fn flush(&mut self, mut emit: impl FnMut(Line<'_>)) {
        self.after_cr = false;
        self.tail = 0;
        if self.has_pending() {
            self.emit_partial((self.total, false), &mut emit);
        }
    }

    /// Emits the assembled partial line and empties it, keeping its allocation.
    fn emit_partial(&mut self, end: (u64, bool), emit: &mut impl FnMut(Line<'_>)) {
        let partial = std::mem::take(&mut self.partial);
        let cut = std::mem::take(&mut self.partial_cut);
        self.emit_line(&partial, cut, end, emit);
        self.partial = partial;
        self.partial.clear();
    }

    fn append_partial(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial_cut = true;
        }
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit_line(&mut self, text: &[u8], cut: bool, end: (u64, bool), emit: &mut impl FnMut(Line<'_>)) {
        if cut {
            self.lines_cut += 1;
        }
        let number = self.next_number;
        self.next_number += 1;
        emit(Line { number, text, cut, end: end.0, end_after_cr: end.1 });
    }
}

/// Frames a run of whole lines as [`LineFramer::push_bulk`] hands them to
/// [`BulkSink::lines`]: `text` ends with a terminator, and a CR at its very end is a whole one.
/// Calls `on_line(start, end)` for each line, in order (its text is `text[start..end]`);
/// returns how many there were.
pub fn frame_run(text: &[u8], mut on_line: impl FnMut(usize, usize)) -> u64 {
    let mut lines = 0;
    let mut start = 0;
    for_each_terminator(text, |at| {
        // A CR with an LF after it is one terminator: the next line starts two bytes on, and
        // that LF, when it comes up, is skipped (it lies before `start`).
        if at < start {
            return;
        }
        on_line(start, at);
        lines += 1;
        start = if text[at] == b'\r' && text.get(at + 1) == Some(&b'\n') { at + 2 } else { at + 1 };
    });
    lines
}

/// Calls `found(at)` for every LF and CR in `text`, in order. Sixty-four bytes at a time: finding
/// line ends is most of what framing costs; a search call per line costs more than the search,
/// and with 16 bytes at a time the branch on "does this piece hold one" is mispredicted about
/// once per line (most pieces of a log hold none, but a line is only a few pieces long).
fn for_each_terminator(text: &[u8], mut found: impl FnMut(usize)) {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY (both): SSE2 is part of the x86-64 baseline, and the callers keep
        // `text[at..at + 16]` in bounds; the unaligned load has no alignment requirement.
        let terminators = |at: usize| -> u64 {
            unsafe {
                let v = _mm_loadu_si128(text.as_ptr().add(at) as *const __m128i);
                let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
                let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
                u64::from(_mm_movemask_epi8(_mm_or_si128(lf, cr)) as u16)
            }
        };
        let mut report = |at: usize, mut ends: u64| {
            while ends != 0 {
                found(at + ends.trailing_zeros() as usize);
                ends &= ends - 1;
            }
        };
        while i + 64 <= text.len() {
            let ends = terminators(i)
                | terminators(i + 16) << 16
                | terminators(i + 32) << 32
                | terminators(i + 48) << 48;
            report(i, ends);
            i += 64;
        }
        while i + 16 <= text.len() {
            report(i, terminators(i));
            i += 16;
        }
    }
    for (at, &b) in text.iter().enumerate().skip(i) {
        if b == b'\n' || b == b'\r' {
            found(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], max: usize) -> Vec<(u64, String, bool)> {
        let mut framer = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            framer.push(c, |l| out.push((l.number, String::from_utf8_lossy(l.text).into_owned(), l.cut)));
        }
        framer.flush(|l| out.push((l.number, String::from_utf8_lossy(l.text).into_owned(), l.cut)));
        out
    }

    proptest::proptest! {
        /// `frame_run` and `LineFramer::push` (whole, or in pieces) find the lines that ending
        /// a line at each LF, CRLF or lone CR, one byte at a time, gives; texts up to 200 bytes
        /// take their 64- and 16-byte paths as well as the byte-at-a-time one.
        #[test]
        fn framing_finds_the_lines_between_terminators(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\r'),
                proptest::strategy::Just(b'x'), proptest::num::u8::ANY,
            ], 0..200),
            end_with_cr in proptest::bool::ANY,
        ) {
            let mut text = bytes.clone();
            text.push(if end_with_cr { b'\r' } else { b'\n' });
            // The definition, one byte at a time.
            let mut want = Vec::new();
            let mut line = Vec::new();
            let mut after_cr = false;
            for &b in &text {
                if b == b'\n' && after_cr {
                    after_cr = false;
                    continue;
                }
                after_cr = b == b'\r';
                if b == b'\n' || b == b'\r' {
                    want.push(std::mem::take(&mut line));
                } else {
                    line.push(b);
                }
            }
            let mut got = Vec::new();
            let n = frame_run(&text, |start, end| got.push(text[start..end].to_vec()));
            proptest::prop_assert_eq!(n as usize, got.len());
            proptest::prop_assert_eq!(&got, &want);
            for piece in [text.len(), 7, 1] {
                let mut framer = LineFramer::new(1 << 20);
                let mut pushed = Vec::new();
                for chunk in text.chunks(piece) {
                    framer.push(chunk, |l| pushed.push(l.text.to_vec()));
                }
                framer.flush(|l| pushed.push(l.text.to_vec()));
                proptest::prop_assert_eq!(&pushed, &want);
            }
        }
    }

    #[test]
    fn all_terminators_end_lines() {
        let got = frame(&[b"a\nb\r\nc\rd"], 100);
        let texts: Vec<_> = got.iter().map(|(n, t, _)| (*n, t.as_str())).collect();
        assert_eq!(texts, vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_terminator() {
        let got = frame(&[b"a\r", b"\nb\n"], 100);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (2, "b".into(), false));
    }

    #[test]
    fn empty_lines_are_counted() {
        let got = frame(&[b"a\n\n\nb\n"], 100);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn long_lines_are_cut_and_bounded() {
        let got = frame(&[b"abcdefgh", b"ijkl\nxy\n"], 5);
        assert_eq!(got[0], (1, "abcde".into(), true));
        assert_eq!(got[1], (2, "xy".into(), false));
        let got = frame(&[b"abcdefgh\nz"], 5);
        assert_eq!(got[0], (1, "abcde".into(), true));
        assert_eq!(got[1], (2, "z".into(), false));
    }

    #[test]
    fn consumed_offset_stops_before_a_partial_line() {
        let mut framer = LineFramer::new(4);
        framer.push(b"ab\ncdefgh", |_| {});
        assert_eq!(framer.consumed(), 3);
        framer.push(b"ij\r", |_| {});
        assert_eq!(framer.consumed(), 12);
        assert!(framer.after_cr());
        // Resuming after the CR: the LF that follows is part of the same terminator.
        let mut resumed = LineFramer::new(4).resume_at(12, true);
        let mut lines = Vec::new();
        resumed.push(b"\nxy\n", |l| lines.push(l.text.to_vec()));
        assert_eq!(lines, vec![b"xy".to_vec()]);
        assert_eq!(resumed.consumed(), 16);
    }

    #[test]
    fn each_line_knows_where_framing_resumes_after_it() {
        let mut framer = LineFramer::new(100).resume_at(10, false);
        let mut ends = Vec::new();
        framer.push(b"ab\r\ncd\ref\r", |l| ends.push((l.end, l.end_after_cr)));
        framer.push(b"\ngh", |l| ends.push((l.end, l.end_after_cr)));
        framer.flush(|l| ends.push((l.end, l.end_after_cr)));
        assert_eq!(ends, vec![(14, false), (17, false), (20, true), (23, false)]);
        // Resuming at any of them frames the rest exactly as the first run did.
        let mut resumed = LineFramer::new(100).resume_at(20, true);
        let mut texts = Vec::new();
        resumed.push(b"\ngh\n", |l| texts.push(l.text.to_vec()));
        assert_eq!(texts, vec![b"gh".to_vec()]);
    }

    /// Collects what `push_bulk` hands out; a run is framed by a fresh framer (it holds whole
    /// lines only, so that is exact).
    #[derive(Default)]
    struct Collect {
        lines: Vec<(u64, Vec<u8>, bool)>,
        runs: usize,
    }

    impl BulkSink for Collect {
        fn line(&mut self, l: Line<'_>) {
            self.lines.push((l.number, l.text.to_vec(), l.cut));
        }
        fn lines(&mut self, first_number: u64, text: &[u8]) -> u64 {
            assert!(matches!(text.last(), Some(b'\n' | b'\r')), "a run ends with a terminator");
            self.runs += 1;
            let mut framer = LineFramer::new(usize::MAX).with_next_number(first_number);
            framer.push(text, |l| self.lines.push((l.number, l.text.to_vec(), l.cut)));
            framer.flush(|l| self.lines.push((l.number, l.text.to_vec(), l.cut)));
            framer.next_number() - first_number
        }
    }

    proptest::proptest! {
        /// Bulk framing numbers, cuts and splits lines exactly as line-by-line framing does,
        /// whatever the chunks — a CRLF split between two of them included.
        #[test]
        fn bulk_framing_frames_as_push_does(
            text in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\r'),
                proptest::strategy::Just(b'a'), proptest::strategy::Just(b' '),
            ], 0..120),
            cuts in proptest::collection::vec(0usize..120, 0..6),
            max in 1usize..30,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.push(0);
            cuts.push(text.len());
            cuts.sort_unstable();
            let mut want = Vec::new();
            let mut framer = LineFramer::new(max);
            let mut bulk = LineFramer::new(max);
            let mut got = Collect::default();
            for w in cuts.windows(2) {
                framer.push(&text[w[0]..w[1]], |l| want.push((l.number, l.text.to_vec(), l.cut)));
                bulk.push_bulk(&text[w[0]..w[1]], &mut got);
                proptest::prop_assert_eq!(bulk.consumed(), framer.consumed());
                proptest::prop_assert_eq!(bulk.after_cr(), framer.after_cr());
            }
            framer.flush(|l| want.push((l.number, l.text.to_vec(), l.cut)));
            bulk.flush(|l| got.lines.push((l.number, l.text.to_vec(), l.cut)));
            proptest::prop_assert_eq!(got.lines, want);
            proptest::prop_assert_eq!(bulk.lines_cut(), framer.lines_cut());
        }
    }

    #[test]
    fn short_lines_go_in_bulk() {
        let mut framer = LineFramer::new(100);
        let mut got = Collect::default();
        framer.push_bulk(b"ab\ncd\r\nef", &mut got);
        framer.push_bulk(b"gh\nij\n", &mut got);
        framer.flush(|_| unreachable!());
        let texts: Vec<_> = got.lines.iter().map(|(n, t, _)| (*n, t.as_slice())).collect();
        assert_eq!(texts, vec![(1, &b"ab"[..]), (2, b"cd"), (3, b"efgh"), (4, b"ij")]);
        // "ab\ncd\r\n" and "ij\n" were runs; "efgh" completed a partial line.
        assert_eq!(got.runs, 2);
    }

    #[test]
    fn unterminated_last_line_is_held_until_flush() {
        let mut framer = LineFramer::new(100);
        let mut n = 0;
        framer.push(b"partial", |_| n += 1);
        assert_eq!(n, 0);
        assert!(framer.has_pending());
        framer.push(b" line\n", |l| {
            assert_eq!(l.text, b"partial line");
            n += 1
        });
        assert_eq!(n, 1);
        assert!(!framer.has_pending());
    }
}
