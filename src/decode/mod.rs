//! Decoding: between framing and scanning, per input of a stream. Turns framed (physical) lines
//! into *records*, the unit that is normalised, matched and shown as evidence:
//!
//! 1. the line's format is decoded ([`format`](mod@format)): docker json-file and CRI lines give a message,
//!    a channel (stdout or stderr) and the log's own timestamp; the Docker Engine API gives a
//!    timestamp and a message;
//! 2. fragments of one message are joined per channel (docker partial lines, CRI `P` lines), up
//!    to the line-size limit (the rest is cut);
//! 3. with a [`Multiline`] rule, messages that continue the previous one (a stack trace's
//!    `\tat …` lines, `Caused by: …`) are joined to it with `\n`, per channel, up to `max_lines`
//!    and the line-size limit.
//!
//! A record is held until it is known to be complete — the next record starts, its idle
//! `timeout` passes ([`Decoder::flush_due`]), or the input ends or is rotated away
//! ([`Decoder::flush`]). While something is held, [`Decoder::resume`] is the position of its
//! first line, so a checkpoint never moves past a line that was not matched yet; the lines of
//! the *other* channel read meanwhile are remembered in [`DecoderState::skip`] so a restart does
//! not match them twice. For timestamped inputs (Docker), [`Decoder::cursor`] is the timestamp of
//! the last line matched, and lines at or before [`Decoder::drop_through`] are dropped (a
//! re-attached log stream repeats what was already read).

pub mod format;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::correlate::Millis;
use crate::frame::Line;
pub use format::{Format, Nanos};

/// Which messages continue the previous record.
#[derive(Debug, Clone)]
pub enum Continuation {
    /// Messages starting with white space, `at `, `Caused by:` or `...` (stack traces).
    Default,
    /// Messages this regex matches (unanchored unless it says `^`).
    Regex(regex::bytes::Regex),
}

impl Continuation {
    pub fn matches(&self, msg: &[u8]) -> bool {
        match self {
            Continuation::Default => {
                matches!(msg.first(), Some(b' ' | b'\t' | b'\x0b' | b'\x0c'))
                    || msg.starts_with(b"at ")
                    || msg.starts_with(b"Caused by:")
                    || msg.starts_with(b"...")
            }
            Continuation::Regex(r) => r.is_match(msg),
        }
    }
}

/// The multi-line rule of a source.
#[derive(Debug, Clone)]
pub struct Multiline {
    pub continuation: Continuation,
    /// A record is complete after this much silence.
    pub timeout: Duration,
    /// Most messages in one record; the next one starts a new record.
    pub max_lines: usize,
}

impl Default for Multiline {
    fn default() -> Self {
        Multiline { continuation: Continuation::Default, timeout: Duration::from_millis(500), max_lines: 500 }
    }
}

/// How the inputs of a stream are decoded.
#[derive(Debug, Clone, Default)]
pub struct Decoding {
    pub format: Format,
    /// `None`: every message is its own record.
    pub multiline: Option<Arc<Multiline>>,
    /// A fragment whose end does not come is taken as complete after this much silence.
    pub partial_timeout: Duration,
}

/// Where framing of an input resumes: the offset just past a line, whether that line ended in
/// a CR, and the number of the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pos {
    pub offset: u64,
    pub after_cr: bool,
    pub next_line: u64,
}

/// One decoded record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Number of its first line in the input.
    pub number: u64,
    /// The message, or the messages of a multi-line record joined with `\n`.
    pub text: &'a [u8],
    pub cut: bool,
    /// The log's own timestamp of its first line.
    pub time: Option<Millis>,
}

/// What a checkpoint keeps of a decoder, besides the framing position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoderState {
    /// The format `auto` settled on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Per channel: lines numbered below this were already matched (they lie after the resume
    /// position because another channel held a record that started earlier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<u64>,
}

/// The first line of something held back.
#[derive(Debug, Clone, Copy)]
struct Start {
    /// Position before the line.
    pos: Pos,
    number: u64,
    time: Option<Nanos>,
    /// The channel's cursor before the line.
    cursor: Option<Nanos>,
}

#[derive(Debug, Default)]
struct Channel {
    frag: Vec<u8>,
    frag_cut: bool,
    frag_start: Option<Start>,
    rec: Vec<u8>,
    rec_cut: bool,
    rec_lines: usize,
    rec_start: Option<Start>,
    /// Timestamp of the latest line (lines without one inherit it).
    last_time: Option<Nanos>,
    /// Arrival of the latest line held.
    last_push: Millis,
}

impl Channel {
    fn held(&self) -> Option<&Start> {
        self.rec_start.as_ref().or(self.frag_start.as_ref())
    }
}

/// A problem with one line of the input (it was taken as plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug)]
pub struct Decoder {
    spec: Decoding,
    max_bytes: usize,
    format: Format,
    channels: [Channel; 2],
    /// Position just past the last line decoded.
    last_end: Pos,
    skip: [u64; 2],
    drop_through: Option<Nanos>,
    bad_lines: u64,
    first_bad: Option<BadLine>,
}

impl Decoder {
    /// A decoder for an input framed from `start`; `state` is what a checkpoint kept of it.
    pub fn new(spec: &Decoding, max_bytes: usize, start: Pos, state: Option<&DecoderState>) -> Self {
        let mut skip = [0; 2];
        let mut format = spec.format;
        if let Some(st) = state {
            for (s, &v) in skip.iter_mut().zip(&st.skip) {
                *s = v;
            }
            if format == Format::Auto {
                format = st.format.unwrap_or(Format::Auto);
            }
        }
        Decoder {
            spec: spec.clone(),
            max_bytes: max_bytes.max(1),
            format,
            channels: Default::default(),
            last_end: start,
            skip,
            drop_through: None,
            bad_lines: 0,
            first_bad: None,
        }
    }

    /// Drops lines whose timestamp is at or before `t` (and untimed lines that follow them).
    pub fn drop_through(&mut self, t: Option<Nanos>) {
        self.drop_through = t;
    }

    /// True when the lines of the input from line `next_line` on are records as they are (plain
    /// text, no joining, nothing to skip): the caller may hand them on in bulk instead of through
    /// [`Decoder::line`]. Once true it stays true (the format and the rule are fixed, and line
    /// numbers only grow), and such a decoder never holds anything, so the lines it does not
    /// see change nothing it reports.
    pub fn passes_through(&self, next_line: u64) -> bool {
        self.format == Format::Plain
            && self.spec.multiline.is_none()
            && next_line >= self.skip[format::STDOUT]
    }

    /// Decodes one framed line; `emit` gets the records it completes.
    pub fn line(&mut self, line: &Line<'_>, now: Millis, emit: &mut impl FnMut(Record<'_>)) {
        let before = self.last_end;
        self.last_end = Pos { offset: line.end, after_cr: line.end_after_cr, next_line: line.number + 1 };
        if self.format == Format::Auto && !line.text.is_empty() {
            self.format = format::detect(line.text);
        }
        // A plain file (configured or detected) without joining: each line is a record, as it
        // is. (What follows would come to the same, a line at a time, at several times the cost.)
        if self.passes_through(line.number) {
            emit(Record { number: line.number, text: line.text, cut: line.cut, time: None });
            return;
        }
        let parsed = match self.format {
            Format::Plain | Format::Auto => Ok(format::Parsed::plain(line.text)),
            Format::Timestamped => Ok(format::timestamped(line.text)),
            Format::DockerJson if line.cut => Err("line longer than limits.max_line_bytes".to_string()),
            Format::DockerJson => format::docker_json(line.text),
            Format::Cri => format::cri(line.text),
        };
        let parsed = parsed.unwrap_or_else(|reason| {
            self.bad_lines += 1;
            if self.first_bad.is_none() {
                self.first_bad = Some(BadLine { line: line.number, reason });
            }
            format::Parsed::plain(line.text)
        });
        let ch = parsed.channel;
        if line.number < self.skip[ch] {
            return;
        }
        let c = &mut self.channels[ch];
        let cursor = c.last_time;
        let time = parsed.time.or(c.last_time);
        if let (Some(t), Some(d)) = (time, self.drop_through) {
            if t <= d {
                c.last_time = Some(t);
                return;
            }
        }
        c.last_time = time;
        let start = Start { pos: before, number: line.number, time, cursor };
        let cut = line.cut;
        if parsed.partial {
            if c.frag_start.is_none() {
                c.frag_start = Some(start);
                c.frag.clear();
                c.frag_cut = false;
            }
            c.frag_cut |= cut | append(&mut c.frag, &parsed.msg, self.max_bytes);
            c.last_push = now;
            return;
        }
        let (start, msg, cut): (Start, Cow<'_, [u8]>, bool) = match c.frag_start.take() {
            Some(first) => {
                let cut = c.frag_cut | cut | append(&mut c.frag, &parsed.msg, self.max_bytes);
                (first, Cow::Owned(std::mem::take(&mut c.frag)), cut)
            }
            None => (start, parsed.msg, cut),
        };
        message(&self.spec, self.max_bytes, c, start, &msg, cut, now, emit);
    }

    /// Emits everything held (end of input, rotation, shutdown of a finite stream).
    pub fn flush(&mut self, now: Millis, emit: &mut impl FnMut(Record<'_>)) {
        for c in &mut self.channels {
            complete_fragment(&self.spec, self.max_bytes, c, now, emit);
            emit_record(c, emit);
        }
    }

    /// Emits what has been held longer than its timeout.
    pub fn flush_due(&mut self, now: Millis, emit: &mut impl FnMut(Record<'_>)) {
        for i in 0..self.channels.len() {
            if self.channel_deadline(i).is_some_and(|d| d <= now) {
                let c = &mut self.channels[i];
                if c.frag_start.is_some() {
                    complete_fragment(&self.spec, self.max_bytes, c, now, emit);
                } else {
                    emit_record(c, emit);
                }
            }
        }
    }

    fn channel_deadline(&self, i: usize) -> Option<Millis> {
        let c = &self.channels[i];
        if c.frag_start.is_some() {
            Some(c.last_push + ms(self.spec.partial_timeout))
        } else if c.rec_start.is_some() {
            let timeout = self.spec.multiline.as_ref().map_or(Duration::ZERO, |m| m.timeout);
            Some(c.last_push + ms(timeout))
        } else {
            None
        }
    }

    /// When [`Decoder::flush_due`] has something to do.
    pub fn deadline(&self) -> Option<Millis> {
        (0..self.channels.len()).filter_map(|i| self.channel_deadline(i)).min()
    }

    /// True while a record or fragment is held back.
    pub fn is_holding(&self) -> bool {
        self.channels.iter().any(|c| c.held().is_some())
    }

    /// Where framing must resume so that nothing held back is lost: the position of the first
    /// held line, or `None` when nothing is held.
    pub fn resume(&self) -> Option<Pos> {
        self.channels.iter().filter_map(|c| c.held().map(|s| s.pos)).min_by_key(|p| p.offset)
    }

    /// What a checkpoint keeps besides the position (see [`DecoderState`]).
    pub fn state(&self) -> DecoderState {
        let format = (self.spec.format == Format::Auto && self.format != Format::Auto).then_some(self.format);
        let skip = if self.resume().is_some() && self.channels.len() > 1 {
            self.channels.iter().map(|c| c.held().map_or(self.last_end.next_line, |s| s.number)).collect()
        } else {
            Vec::new()
        };
        DecoderState { format, skip }
    }

    /// Timestamp of the last line whose record was matched (what a resumed log stream must start
    /// after): per channel, the time before its first held line (just before that line when
    /// nothing came before it), else its latest time.
    pub fn cursor(&self) -> Option<Nanos> {
        self.channels
            .iter()
            .filter(|c| c.last_time.is_some())
            .map(|c| c.held().map_or(c.last_time, |s| s.cursor.or(s.time.map(|t| t - 1))))
            .min()
            .flatten()
    }

    /// The format in use (what `auto` settled on, once it has seen a line).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Lines that were not in the expected format (taken as plain text), and the first of them
    /// since the last call.
    pub fn take_bad_line(&mut self) -> (u64, Option<BadLine>) {
        (self.bad_lines, self.first_bad.take())
    }
}

fn ms(d: Duration) -> Millis {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// Appends `more` to `buf` up to `max` bytes; true when something had to be cut.
fn append(buf: &mut Vec<u8>, more: &[u8], max: usize) -> bool {
    let room = max.saturating_sub(buf.len());
    buf.extend_from_slice(&more[..more.len().min(room)]);
    more.len() > room
}

/// A complete message: joined to the held record, or the start of a new one.
#[allow(clippy::too_many_arguments)]
fn message(
    spec: &Decoding,
    max: usize,
    c: &mut Channel,
    start: Start,
    msg: &[u8],
    cut: bool,
    now: Millis,
    emit: &mut impl FnMut(Record<'_>),
) {
    let Some(ml) = &spec.multiline else {
        emit(Record { number: start.number, text: msg, cut, time: start.time.map(format::to_millis) });
        return;
    };
    if c.rec_start.is_some() && c.rec_lines < ml.max_lines && ml.continuation.matches(msg) {
        c.rec_cut |= cut | append(&mut c.rec, b"\n", max) | append(&mut c.rec, msg, max);
        c.rec_lines += 1;
    } else {
        emit_record(c, emit);
        c.rec.clear();
        c.rec_cut = cut | append(&mut c.rec, msg, max);
        c.rec_lines = 1;
        c.rec_start = Some(start);
    }
    c.last_push = now;
}

fn complete_fragment(
    spec: &Decoding,
    max: usize,
    c: &mut Channel,
    now: Millis,
    emit: &mut impl FnMut(Record<'_>),
) {
    if let Some(start) = c.frag_start.take() {
        let frag = std::mem::take(&mut c.frag);
        let cut = c.frag_cut;
        message(spec, max, c, start, &frag, cut, now, emit);
        c.frag = frag;
        c.frag.clear();
    }
}

fn emit_record(c: &mut Channel, emit: &mut impl FnMut(Record<'_>)) {
    if let Some(start) = c.rec_start.take() {
        emit(Record {
            number: start.number,
            text: &c.rec,
            cut: c.rec_cut,
            time: start.time.map(format::to_millis),
        });
        c.rec.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::LineFramer;

    /// Frames and decodes `input` in chunks; returns (number, text, time) of every record.
    fn decode(spec: &Decoding, chunks: &[&[u8]], end: bool) -> (Vec<(u64, String, Option<Millis>)>, Decoder) {
        let mut framer = LineFramer::new(1 << 20);
        let mut dec = Decoder::new(spec, 1 << 20, Pos { next_line: 1, ..Pos::default() }, None);
        let mut out = Vec::new();
        let mut emit =
            |r: Record<'_>| out.push((r.number, String::from_utf8_lossy(r.text).into_owned(), r.time));
        for c in chunks {
            framer.push(c, |l| dec.line(&l, 0, &mut emit));
        }
        if end {
            framer.flush(|l| dec.line(&l, 0, &mut emit));
            dec.flush(0, &mut emit);
        }
        (out, dec)
    }

    fn spec(format: Format, multiline: bool) -> Decoding {
        Decoding {
            format,
            multiline: multiline.then(|| Arc::new(Multiline::default())),
            partial_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn stack_traces_become_one_record_and_the_next_line_completes_them() {
        let log = b"INFO start\nERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\nCaused by: y\n\t... 3 more\nINFO next\n";
        let (recs, dec) = decode(&spec(Format::Plain, true), &[log], false);
        let texts: Vec<_> = recs.iter().map(|r| (r.0, r.1.as_str())).collect();
        assert_eq!(
            texts,
            vec![
                (1, "INFO start"),
                (2, "ERROR boom"),
                (3, "java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\nCaused by: y\n\t... 3 more")
            ]
        );
        // "INFO next" is held (a continuation could still come); a restart resumes before it.
        assert!(dec.is_holding());
        assert_eq!(dec.resume(), Some(Pos { offset: 102, after_cr: false, next_line: 7 }));
        assert_eq!(&log[102..], b"INFO next\n");
    }

    #[test]
    fn records_are_flushed_on_timeout_and_bounded() {
        let mut s = spec(Format::Plain, true);
        s.multiline = Some(Arc::new(Multiline { max_lines: 2, ..Multiline::default() }));
        let mut dec = Decoder::new(&s, 10, Pos::default(), None);
        let mut framer = LineFramer::new(100);
        let mut out: Vec<(String, bool)> = Vec::new();
        let mut emit = |r: Record<'_>| out.push((String::from_utf8_lossy(r.text).into_owned(), r.cut));
        framer.push(b"head\n more text\n third\n", |l| dec.line(&l, 1000, &mut emit));
        assert_eq!(dec.deadline(), Some(1500));
        dec.flush_due(1499, &mut emit);
        dec.flush_due(1500, &mut emit);
        assert_eq!(out, vec![("head\n more".into(), true), (" third".into(), false)]);
        assert!(!dec.is_holding());
    }

    #[test]
    fn docker_json_partials_join_per_stream_and_keep_the_log_time() {
        let lines = concat!(
            r#"{"log":"first half ","stream":"stdout","time":"2026-11-26T10:00:00.001Z"}"#,
            "\n",
            r#"{"log":"an error\n","stream":"stderr","time":"2026-11-26T10:00:00.002Z"}"#,
            "\n",
            r#"{"log":"second half\n","stream":"stdout","time":"2026-11-26T10:00:00.003Z"}"#,
            "\n",
        );
        let (recs, _) = decode(&spec(Format::Auto, false), &[lines.as_bytes()], false);
        assert_eq!(
            recs,
            vec![
                (2, "an error".into(), Some(1_795_687_200_002)),
                (1, "first half second half".into(), Some(1_795_687_200_001)),
            ]
        );
    }

    #[test]
    fn cri_partials_are_joined_and_cut_at_the_limit() {
        let s = spec(Format::Cri, false);
        let mut dec = Decoder::new(&s, 8, Pos::default(), None);
        let mut framer = LineFramer::new(100);
        let mut out: Vec<(String, bool)> = Vec::new();
        let mut emit = |r: Record<'_>| out.push((String::from_utf8_lossy(r.text).into_owned(), r.cut));
        framer.push(
            b"2026-11-26T10:00:00Z stdout P abcdef\n2026-11-26T10:00:00Z stdout F ghij\n2026-11-26T10:00:01Z stdout F ok\n",
            |l| dec.line(&l, 0, &mut emit),
        );
        assert_eq!(out, vec![("abcdefgh".into(), true), ("ok".into(), false)]);
    }

    #[test]
    fn a_held_record_leaves_a_checkpoint_that_skips_the_other_channel() {
        // stdout holds a record that started on line 1; stderr lines 2 and 3 were matched.
        let lines = concat!(
            "2026-11-26T10:00:00Z stdout F Exception in thread main\n",
            "2026-11-26T10:00:01Z stderr F warn one\n",
            "2026-11-26T10:00:02Z stderr F warn two\n",
            "2026-11-26T10:00:03Z stdout F \tat Main.main\n",
        );
        let s = spec(Format::Auto, true);
        let (recs, dec) = decode(&s, &[lines.as_bytes()], false);
        assert_eq!(recs.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), vec!["warn one"]);
        let resume = dec.resume().unwrap();
        assert_eq!(resume.offset, 0);
        let state = dec.state();
        assert_eq!(state.format, Some(Format::Cri));
        assert_eq!(state.skip, vec![1, 3], "stderr line 2 was matched; line 3 is held");
        // A restart from the checkpoint matches every line exactly once.
        let mut framer = LineFramer::new(1 << 20);
        let mut again = Decoder::new(&s, 1 << 20, resume, Some(&state));
        let mut out = Vec::new();
        let mut emit = |r: Record<'_>| out.push(String::from_utf8_lossy(r.text).into_owned());
        framer.push(lines.as_bytes(), |l| again.line(&l, 0, &mut emit));
        again.flush(0, &mut emit);
        assert_eq!(out, vec!["Exception in thread main\n\tat Main.main", "warn two"]);
    }

    #[test]
    fn timestamped_lines_drop_what_was_read_and_report_their_cursor() {
        let s = spec(Format::Timestamped, true);
        let mut dec = Decoder::new(&s, 1 << 20, Pos::default(), None);
        dec.drop_through(Some(2_000_000_000));
        let mut framer = LineFramer::new(100);
        let mut out = Vec::new();
        framer.push(
            b"1970-01-01T00:00:01Z old\n1970-01-01T00:00:02Z seen\n1970-01-01T00:00:03Z new\n1970-01-01T00:00:04Z next\n",
            |l| dec.line(&l, 0, &mut |r: Record<'_>| out.push(String::from_utf8_lossy(r.text).into_owned())),
        );
        assert_eq!(out, vec!["new"]);
        // "next" is held: the cursor stays before it.
        assert_eq!(dec.cursor(), Some(3_000_000_000));
        // A held first line: the cursor is just before it.
        let mut first = Decoder::new(&s, 1 << 20, Pos::default(), None);
        LineFramer::new(100).push(b"1970-01-01T00:00:05Z head\n", |l| first.line(&l, 0, &mut |_| {}));
        assert_eq!(first.cursor(), Some(4_999_999_999));
        dec.flush(0, &mut |r: Record<'_>| out.push(String::from_utf8_lossy(r.text).into_owned()));
        assert_eq!(out, vec!["new", "next"]);
        assert_eq!(dec.cursor(), Some(4_000_000_000));
    }

    proptest::proptest! {
        /// Messages split into CRI `P`/`F` fragments or docker partial chunks, the two streams
        /// interleaved, the bytes cut anywhere: each stream's messages come out whole, in order.
        #[test]
        fn fragments_are_reassembled_whatever_the_chunking(
            msgs in proptest::collection::vec((proptest::bool::ANY, "[a-zA-Z0-9 ]{0,30}", 1usize..4), 1..16),
            cuts in proptest::collection::vec(1usize..48, 1..64),
            docker in proptest::bool::ANY,
        ) {
            let mut per_channel: [Vec<Vec<String>>; 2] = Default::default();
            for (stderr, text, parts) in &msgs {
                let step = text.len().div_ceil(*parts).max(1);
                let mut pieces: Vec<String> = text.as_bytes().chunks(step).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
                if pieces.is_empty() {
                    pieces.push(String::new());
                }
                let ch = usize::from(*stderr);
                let stream = if *stderr { "stderr" } else { "stdout" };
                let n = pieces.len();
                let lines = pieces.iter().enumerate().map(|(i, p)| {
                    let last = i + 1 == n;
                    if docker {
                        let log = if last { format!("{p}\n") } else { p.clone() };
                        format!("{}\n", serde_json::json!({"log": log, "stream": stream, "time": "2026-11-26T10:00:00Z"}))
                    } else {
                        format!("2026-11-26T10:00:00Z {stream} {} {p}\n", if last { "F" } else { "P" })
                    }
                }).collect();
                per_channel[ch].push(lines);
            }
            // Interleave the two streams' messages line by line.
            let mut input = String::new();
            let (mut a, mut b) = (per_channel[0].concat().into_iter(), per_channel[1].concat().into_iter());
            loop {
                match (a.next(), b.next()) {
                    (None, None) => break,
                    (x, y) => { input.extend(x); input.extend(y); }
                }
            }
            let format = if docker { Format::DockerJson } else { Format::Cri };
            let spec = spec(format, false);
            let mut dec = Decoder::new(&spec, 1 << 20, Pos::default(), None);
            let mut framer = LineFramer::new(1 << 20);
            let mut got: Vec<String> = Vec::new();
            let mut rest = input.as_bytes();
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                i += 1;
                framer.push(&rest[..n], |l| dec.line(&l, 0, &mut |r: Record<'_>| got.push(String::from_utf8_lossy(r.text).into_owned())));
                rest = &rest[n..];
            }
            let (bad, _) = dec.take_bad_line();
            proptest::prop_assert_eq!(bad, 0);
            proptest::prop_assert!(!dec.is_holding());
            let mut want: Vec<&str> = Vec::new();
            let (mut out_msgs, mut err_msgs) = (Vec::new(), Vec::new());
            for (stderr, text, _) in &msgs {
                if *stderr { err_msgs.push(text.as_str()) } else { out_msgs.push(text.as_str()) }
            }
            want.extend(&out_msgs);
            want.extend(&err_msgs);
            let mut got_sorted = got.clone();
            got_sorted.sort();
            let mut want_sorted: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want_sorted.sort();
            proptest::prop_assert_eq!(got_sorted, want_sorted);
            // And per stream, in order.
            if out_msgs.iter().all(|m| !err_msgs.contains(m)) {
                let stdout_got: Vec<String> = got.iter().filter(|g| out_msgs.contains(&g.as_str())).cloned().collect();
                let stdout_want: Vec<String> = out_msgs.iter().map(|s| s.to_string()).collect();
                proptest::prop_assert_eq!(stdout_got, stdout_want);
            }
        }
    }

    #[test]
    fn bad_lines_are_passed_through_and_reported_once() {
        let (recs, mut dec) =
            decode(&spec(Format::DockerJson, false), &[b"not json\n{\"log\":\"ok\\n\"}\n"], true);
        assert_eq!(recs.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), vec!["not json", "ok"]);
        let (n, first) = dec.take_bad_line();
        assert_eq!(n, 1);
        let first = first.unwrap();
        assert_eq!(first.line, 1);
        assert!(first.reason.starts_with("not a docker json-file line"), "{}", first.reason);
        assert_eq!(dec.take_bad_line().1, None);
    }
}
