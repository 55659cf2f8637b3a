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
        self.total += chunk.len() as u64;
        if self.after_cr {
            self.after_cr = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = memchr2(b'\n', b'\r', chunk) {
            let body = &chunk[..pos];
            let mut term_len = 1;
            if chunk[pos] == b'\r' {
                match chunk.get(pos + 1) {
                    Some(b'\n') => term_len = 2,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let end = (self.total - (chunk.len() - pos - term_len) as u64, self.after_cr);
            if self.partial.is_empty() && !self.partial_cut {
                let cut = body.len() > self.max_line_bytes;
                let text = &body[..body.len().min(self.max_line_bytes)];
                self.emit_line(text, cut, end, &mut emit);
            } else {
                self.append_partial(body);
                self.emit_partial(end, &mut emit);
            }
            chunk = &chunk[pos + term_len..];
            self.tail = 0;
        }
        if !chunk.is_empty() {
            self.tail += chunk.len() as u64;
            self.append_partial(chunk);
        }
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
