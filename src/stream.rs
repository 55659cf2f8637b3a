//! One stream's pipeline: bytes → lines (frame) → normalised batch (scan) → correlation →
//! findings. Every source owns one `StreamProcessor` per stream it follows; the catalog and the
//! policy are shared, read-only, by all of them.
//!
//! A stream can have several *inputs*, each framed on its own so their lines never mix, all
//! correlated together: a command's stdout and stderr, or a log file and the file it was just
//! rotated to. Between framing and scanning, each input has a [`Decoder`] (container log
//! formats, multi-line records; see [`crate::decode`]); with the default [`Decoding`] it passes
//! lines through unchanged.

use std::sync::Arc;
use std::time::Instant;

use crate::correlate::{ActivityReport, LineIn, Millis, Policy, Report, StreamCorrelator};
use crate::decode::{Decoder, DecoderState, Decoding, Nanos, Pos, Record};
use crate::engine::{Catalog, LineScanner};
use crate::finding::{Activity, Event, Finding, PlaybookRef, StreamInfo, rfc3339};
use crate::frame::{BulkSink, Line, LineFramer};
use crate::matcher::PatternId;
use crate::source::Counters;

/// What every stream of a daemon shares.
#[derive(Debug, Clone)]
pub struct Shared {
    pub catalog: Arc<Catalog>,
    pub policy: Arc<Policy>,
    pub host: String,
    pub max_line_bytes: usize,
}

/// Counters a source reports (metrics, tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub bytes: u64,
    pub lines: u64,
    pub lines_cut: u64,
    pub findings: u64,
}

/// Scratch space for processing: one per task, lent to whichever of its streams is working.
/// Keeping it out of the streams keeps a stream's own memory small (a framer per input and the
/// correlation state), whatever the size of the last batch it read.
#[derive(Debug, Default)]
pub struct Workspace {
    scanner: LineScanner,
    /// The log's own time of each line in `scanner` (decoded inputs).
    times: Vec<Option<Millis>>,
    hits: Vec<(usize, PatternId)>,
    line_hits: Vec<PatternId>,
    reports: Vec<Report>,
    activity: Vec<ActivityReport>,
}

/// Index of one input of a stream.
pub type InputId = usize;

/// One input: its framer and its decoder.
#[derive(Debug)]
struct Input {
    framer: LineFramer,
    decoder: Decoder,
    /// A bad line of this input was already logged.
    warned: bool,
}

#[derive(Debug)]
pub struct StreamProcessor {
    pub info: StreamInfo,
    inputs: Vec<Option<Input>>,
    decoding: Decoding,
    correlator: StreamCorrelator,
    stats: StreamStats,
    max_line_bytes: usize,
    counters: Option<Arc<Counters>>,
}

impl StreamProcessor {
    pub fn new(info: StreamInfo, shared: &Shared) -> Self {
        Self {
            info,
            inputs: Vec::new(),
            decoding: Decoding::default(),
            correlator: StreamCorrelator::new(),
            stats: StreamStats::default(),
            max_line_bytes: shared.max_line_bytes,
            counters: None,
        }
    }

    /// Counts this stream's work into the source's counters.
    pub fn with_counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Moves the stream to a reloaded catalog: correlation state is carried over by pattern text
    /// and playbook id; `keep(id)` says whether a playbook's cooldowns and counts survive (not
    /// when its content changed).
    pub fn rebind(&mut self, old: &Shared, new: &Shared, keep: &dyn Fn(&str) -> bool) {
        let snap = self.correlator.snapshot(&old.catalog);
        self.correlator = StreamCorrelator::restore(snap, &new.catalog, keep);
    }

    /// How inputs added from now on are decoded (default: plain lines, no joining).
    pub fn set_decoding(&mut self, decoding: Decoding) {
        self.decoding = decoding;
    }

    /// Adds an input read from its start; returns its id.
    pub fn add_input(&mut self) -> InputId {
        self.resume_input_with(Pos { offset: 0, after_cr: false, next_line: 1 }, None)
    }

    /// Adds an input resumed from a checkpoint: framing continues at `offset` with line
    /// `next_line` (`after_cr`: the byte before `offset` was a CR).
    pub fn resume_input(&mut self, offset: u64, after_cr: bool, next_line: u64) -> InputId {
        self.resume_input_with(Pos { offset, after_cr, next_line }, None)
    }

    /// [`StreamProcessor::resume_input`] with what the checkpoint kept of the input's decoder.
    pub fn resume_input_with(&mut self, at: Pos, state: Option<&DecoderState>) -> InputId {
        let framer = LineFramer::new(self.max_line_bytes)
            .with_next_number(at.next_line)
            .resume_at(at.offset, at.after_cr);
        let decoder = Decoder::new(&self.decoding, self.max_line_bytes, at, state);
        let input = Input { framer, decoder, warned: false };
        match self.inputs.iter().position(Option::is_none) {
            Some(i) => {
                self.inputs[i] = Some(input);
                i
            }
            None => {
                self.inputs.push(Some(input));
                self.inputs.len() - 1
            }
        }
    }

    /// Replaces the correlation state (restored from a checkpoint).
    pub fn set_correlator(&mut self, correlator: StreamCorrelator) {
        self.correlator = correlator;
    }

    /// Feeds bytes of `input` that arrived at `now`; findings they complete are appended to `out`.
    pub fn push(
        &mut self,
        ws: &mut Workspace,
        input: InputId,
        sh: &Shared,
        bytes: &[u8],
        now: Millis,
        out: &mut Vec<Event>,
    ) {
        self.stats.bytes += bytes.len() as u64;
        self.frame(ws, input, Some(bytes), now);
        self.process(ws, sh, now, out);
    }

    /// Frames and decodes `bytes` of `input` into the scan batch — or, given `None`, its
    /// unterminated last line and the record its decoder holds — and counts what was framed.
    fn frame(&mut self, ws: &mut Workspace, input: InputId, bytes: Option<&[u8]>, now: Millis) {
        let (scanner, times) = (&mut ws.scanner, &mut ws.times);
        let (mut lines, mut cut) = (0u64, 0u64);
        if let Some(Input { framer, decoder, .. }) = self.inputs.get_mut(input).and_then(Option::as_mut) {
            let before = framer.next_number();
            match bytes {
                // Plain lines go to the scanner in runs: framed once, by the scanner.
                Some(b) if decoder.passes_through(before) => {
                    let mut sink = PlainLines { scanner, times, cut: 0 };
                    framer.push_bulk(b, &mut sink);
                    cut = sink.cut;
                }
                _ => {
                    let mut emit = |r: Record<'_>| scan(scanner, times, r);
                    let on_line = |line: Line<'_>| {
                        cut += u64::from(line.cut);
                        decoder.line(&line, now, &mut emit);
                    };
                    match bytes {
                        Some(b) => framer.push(b, on_line),
                        None => {
                            framer.flush(on_line);
                            decoder.flush(now, &mut emit);
                        }
                    }
                }
            }
            lines = framer.next_number() - before;
        }
        let bytes = bytes.map_or(0, |b| b.len() as u64);
        self.stats.lines += lines;
        if let Some(c) = &self.counters {
            c.add(&c.bytes, bytes);
            c.add(&c.lines, lines);
            c.add(&c.lines_cut, cut);
        }
        self.check_decoding(input);
    }

    /// Logs the first line of `input` that was not in its format (once per input).
    fn check_decoding(&mut self, input: InputId) {
        let Some(i) = self.inputs.get_mut(input).and_then(Option::as_mut) else { return };
        if let (n, Some(bad)) = i.decoder.take_bad_line() {
            if !i.warned {
                i.warned = true;
                tracing::warn!(stream = %self.info.name, line = bad.line, format = i.decoder.format().as_str(), reason = %bad.reason, "Line not in the stream's format; taken as plain text (further ones are counted).");
            } else {
                tracing::debug!(stream = %self.info.name, line = bad.line, bad_lines = n, "Line not in the stream's format.");
            }
        }
    }

    /// Emits the unterminated last line of `input`, if any (idle timeout, end of input).
    pub fn flush_input(
        &mut self,
        ws: &mut Workspace,
        input: InputId,
        sh: &Shared,
        now: Millis,
        out: &mut Vec<Event>,
    ) {
        self.frame(ws, input, None, now);
        self.process(ws, sh, now, out);
    }

    /// Flushes and forgets `input` (a file closed after rotation, a command that exited).
    pub fn close_input(
        &mut self,
        ws: &mut Workspace,
        input: InputId,
        sh: &Shared,
        now: Millis,
        out: &mut Vec<Event>,
    ) {
        self.flush_input(ws, input, sh, now, out);
        if let Some(slot) = self.inputs.get_mut(input) {
            if let Some(i) = slot.take() {
                self.stats.lines_cut += i.framer.lines_cut();
            }
        }
    }

    /// Forgets `input` without matching what it still holds (a log stream that broke: what it
    /// held is read again when it is re-attached after its cursor).
    pub fn discard_input(&mut self, input: InputId) {
        if let Some(i) = self.inputs.get_mut(input).and_then(Option::take) {
            self.stats.lines_cut += i.framer.lines_cut();
        }
    }

    /// Discards the unterminated line of `input` and frames it afresh from offset 0 (a truncated
    /// file). Complete records its decoder was holding are matched first.
    pub fn restart_input(
        &mut self,
        ws: &mut Workspace,
        input: InputId,
        sh: &Shared,
        now: Millis,
        out: &mut Vec<Event>,
    ) {
        let max = self.max_line_bytes;
        if let Some(slot) = self.inputs.get_mut(input).filter(|s| s.is_some()) {
            if let Some(old) = slot.as_mut() {
                let (scanner, times) = (&mut ws.scanner, &mut ws.times);
                old.decoder.flush(now, &mut |r: Record<'_>| scan(scanner, times, r));
            }
            let start = Pos { offset: 0, after_cr: false, next_line: 1 };
            let decoder = Decoder::new(&self.decoding, max, start, None);
            *slot = Some(Input { framer: LineFramer::new(max), decoder, warned: false });
        }
        self.process(ws, sh, now, out);
    }

    /// Drops the lines of `input` stamped at or before `t` (a re-attached log stream).
    pub fn drop_through(&mut self, input: InputId, t: Option<Nanos>) {
        if let Some(i) = self.inputs.get_mut(input).and_then(Option::as_mut) {
            i.decoder.drop_through(t);
        }
    }

    /// Timestamp of the last line of `input` that was matched (timestamped inputs).
    pub fn cursor(&self, input: InputId) -> Option<Nanos> {
        self.inputs.get(input).and_then(Option::as_ref).and_then(|i| i.decoder.cursor())
    }

    /// What a checkpoint must keep of `input`'s decoder besides [`StreamProcessor::position`].
    pub fn decoder_state(&self, input: InputId) -> DecoderState {
        self.inputs.get(input).and_then(Option::as_ref).map(|i| i.decoder.state()).unwrap_or_default()
    }

    /// Lets settle deadlines fire, completes held records whose time is up, and sends activity
    /// news about earlier findings.
    pub fn tick(&mut self, ws: &mut Workspace, sh: &Shared, now: Millis, out: &mut Vec<Event>) {
        for i in self.inputs.iter_mut().flatten() {
            if i.decoder.deadline().is_some_and(|d| d <= now) {
                let (scanner, times) = (&mut ws.scanner, &mut ws.times);
                i.decoder.flush_due(now, &mut |r: Record<'_>| scan(scanner, times, r));
            }
        }
        self.process(ws, sh, now, out);
        self.correlator.tick(&sh.catalog, &sh.policy, now, &mut ws.reports);
        self.drain_reports(ws, sh, out);
        ws.activity.clear();
        self.correlator.activity(&sh.policy, now, &mut ws.activity);
        for a in ws.activity.drain(..) {
            // News are about the last finding made for the playbook (kept in the correlator,
            // so they resume after a restart); a playbook reported only as an alternative has
            // none.
            let Some(finding) = self.correlator.reported_finding(a.rules) else { continue };
            let p = sh.catalog.playbook(&sh.catalog.rules[a.rules]);
            out.push(Event::Activity(Box::new(Activity {
                finding_id: finding.id.clone(),
                playbook: PlaybookRef {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    category: p.category.clone(),
                    severity: p.severity.as_str().into(),
                },
                stream: self.info.clone(),
                host: sh.host.clone(),
                first_seen: rfc3339(finding.first_seen),
                last_seen: rfc3339(a.last_seen),
                active: a.active,
                time: rfc3339(now),
            })));
        }
    }

    /// Makes a pending report now (shutdown: stop reading, report what is pending).
    pub fn flush_pending(&mut self, ws: &mut Workspace, sh: &Shared, now: Millis, out: &mut Vec<Event>) {
        self.correlator.flush_pending(&sh.catalog, &sh.policy, now, &mut ws.reports);
        self.drain_reports(ws, sh, out);
    }

    /// The stream ended: flush every input, make any pending report now.
    pub fn end(&mut self, ws: &mut Workspace, sh: &Shared, now: Millis, out: &mut Vec<Event>) {
        for input in 0..self.inputs.len() {
            self.flush_input(ws, input, sh, now, out);
        }
        self.correlator.end_of_stream(&sh.catalog, &sh.policy, now, &mut ws.reports);
        self.drain_reports(ws, sh, out);
    }

    /// When [`StreamProcessor::tick`] must be called next.
    pub fn next_deadline(&self, sh: &Shared) -> Option<Millis> {
        let held = self.inputs.iter().flatten().filter_map(|i| i.decoder.deadline()).min();
        [self.correlator.next_deadline(&sh.policy), held].into_iter().flatten().min()
    }

    /// True when the decoder of `input` holds a record or fragment that may still continue.
    pub fn is_holding(&self, input: InputId) -> bool {
        self.inputs.get(input).and_then(Option::as_ref).is_some_and(|i| i.decoder.is_holding())
    }

    /// True when `input` holds an unterminated line.
    pub fn has_partial_line(&self, input: InputId) -> bool {
        self.inputs.get(input).and_then(Option::as_ref).is_some_and(|i| i.framer.has_pending())
    }

    /// For `input`: offset just past its last complete line (where a restart resumes), whether
    /// that line ended in CR, and the number of its next line. A record the decoder still holds
    /// is not complete: the position is then before its first line.
    pub fn position(&self, input: InputId) -> (u64, bool, u64) {
        self.inputs.get(input).and_then(Option::as_ref).map_or((0, false, 1), |i| match i.decoder.resume() {
            Some(p) => (p.offset, p.after_cr, p.next_line),
            None => (i.framer.consumed(), i.framer.after_cr(), i.framer.next_number()),
        })
    }

    pub fn correlator(&self) -> &StreamCorrelator {
        &self.correlator
    }

    pub fn stats(&self) -> StreamStats {
        let open_cut: u64 = self.inputs.iter().flatten().map(|i| i.framer.lines_cut()).sum();
        StreamStats { lines_cut: self.stats.lines_cut + open_cut, ..self.stats }
    }

    fn process(&mut self, ws: &mut Workspace, sh: &Shared, now: Millis, out: &mut Vec<Event>) {
        if ws.scanner.is_empty() {
            return;
        }
        let started = Instant::now();
        let hits = &mut ws.hits;
        hits.clear();
        ws.scanner.scan(&sh.catalog, self.correlator.stage_known(), |line, p| hits.push((line, p)));
        let mut next = 0;
        let mut i = 0;
        while i < ws.scanner.len() {
            // Most lines match nothing. In a run of those, unless a pending report still takes
            // them, only the last `context_before` lines before the next line with hits can be
            // its context: the others are only counted.
            if self.correlator.quiet_lines_are_context_only(&sh.policy, now) {
                let quiet_until = ws.hits.get(next).map_or(ws.scanner.len(), |&(line, _)| line);
                let skip = quiet_until.saturating_sub(i).saturating_sub(sh.policy.context_before);
                self.correlator.skip_quiet(skip);
                i += skip;
                if i >= ws.scanner.len() {
                    break;
                }
            }
            ws.line_hits.clear();
            while next < ws.hits.len() && ws.hits[next].0 == i {
                ws.line_hits.push(ws.hits[next].1);
                next += 1;
            }
            let line = ws.scanner.line(i);
            let event = LineIn {
                number: line.number,
                raw: line.raw,
                cut: line.cut,
                time: now,
                logged: ws.times.get(i).copied().flatten(),
                hits: &ws.line_hits,
            };
            self.correlator.observe(&sh.catalog, &sh.policy, event, &mut ws.reports);
            i += 1;
        }
        ws.scanner.clear();
        ws.times.clear();
        if let Some(c) = &self.counters {
            c.add(&c.match_nanos, started.elapsed().as_nanos() as u64);
        }
        self.drain_reports(ws, sh, out);
    }

    fn drain_reports(&mut self, ws: &mut Workspace, sh: &Shared, out: &mut Vec<Event>) {
        for report in ws.reports.drain(..) {
            self.stats.findings += 1;
            let f = Finding::from_report(&report, &sh.catalog, &self.info, &sh.host);
            if let Some(c) = &self.counters {
                c.finding(&f.playbook.id);
            }
            self.correlator.note_finding(report.rules, f.id.clone(), report.first_seen);
            out.push(Event::Finding(Box::new(f)));
        }
    }
}

/// Hands one decoded record to the scanner (blank records are not kept, nor is their time).
fn scan(scanner: &mut LineScanner, times: &mut Vec<Option<Millis>>, r: Record<'_>) {
    if scanner.push(r.number, r.text, r.cut) {
        times.push(r.time);
    }
}

/// Takes the lines of an input whose decoder passes them through (plain text: no log time).
struct PlainLines<'a> {
    scanner: &'a mut LineScanner,
    times: &'a mut Vec<Option<Millis>>,
    cut: u64,
}

impl BulkSink for PlainLines<'_> {
    fn line(&mut self, line: Line<'_>) {
        self.cut += u64::from(line.cut);
        scan(
            self.scanner,
            self.times,
            Record { number: line.number, text: line.text, cut: line.cut, time: None },
        );
    }

    fn lines(&mut self, first_number: u64, text: &[u8]) -> u64 {
        let lines = self.scanner.push_lines(first_number, text);
        self.times.resize(self.scanner.len(), None);
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn shared() -> &'static Shared {
        static SHARED: OnceLock<Shared> = OnceLock::new();
        SHARED.get_or_init(|| crate::daemon::build_shared(&crate::config::WatchConfig::default()).unwrap())
    }

    /// Lines with hits of a few bundled playbooks, and quiet ones.
    const LINES: &[&str] = &[
        "step done",
        "compiling module",
        "all good here",
        "latest detected deadlock",
        "Deadlock found when trying to get lock; try restarting transaction",
        "HINT: Check free disk space.",
        "no_shard_available_action_exception",
        "",
        " \t ",
    ];

    /// Every event of one stream fed `pieces` (each one batch), then ended.
    fn events<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Event> {
        let sh = shared();
        let mut proc = StreamProcessor::new(StreamInfo::new("stdin", "stdin"), sh);
        let input = proc.add_input();
        let (mut ws, mut out) = (Workspace::default(), Vec::new());
        for piece in pieces {
            proc.push(&mut ws, input, sh, piece, 1_000, &mut out);
        }
        proc.end(&mut ws, sh, 1_000, &mut out);
        out
    }

    #[test]
    fn the_context_of_a_finding_is_the_lines_just_before_its_evidence() {
        // One batch: the quiet lines far from the evidence are only counted, the last three kept.
        let mut text: String = (0..20).map(|i| format!("quiet line {i}\n")).collect();
        text.push_str("HINT: Check free disk space.\n");
        let events = events([text.as_bytes()]);
        let [Event::Finding(f)] = &events[..] else { panic!("one finding expected: {events:?}") };
        let context: Vec<(u64, &str)> = f.context.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(context, [(18, "quiet line 17"), (19, "quiet line 18"), (20, "quiet line 19")]);
        assert_eq!(f.evidence[0].line, 21);
    }

    #[test]
    fn blank_lines_are_never_context() {
        let text = "quiet 1\nquiet 2\n\nquiet 4\n  \t\n\nquiet 7\n\nHINT: Check free disk space.\n";
        for pieces in [vec![text.as_bytes()], text.as_bytes().chunks(3).collect()] {
            let events = events(pieces);
            let [Event::Finding(f)] = &events[..] else { panic!("one finding expected: {events:?}") };
            let context: Vec<(u64, &str)> = f.context.iter().map(|l| (l.line, l.text.as_str())).collect();
            assert_eq!(context, [(2, "quiet 2"), (4, "quiet 4"), (7, "quiet 7")]);
            assert_eq!(f.evidence[0].line, 9);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Quiet lines skipped in a batch (they can be no finding's context) change nothing: a
        /// line per batch, where none is skipped, gives the same findings, context included.
        #[test]
        fn findings_do_not_depend_on_how_lines_are_batched(
            picks in proptest::collection::vec(0usize..LINES.len(), 1..80),
        ) {
            let line = |(i, &k): (usize, &usize)| match LINES[k] {
                blank if blank.trim().is_empty() => format!("{blank}\n"),
                text => format!("{text} #{i}\n"),
            };
            let text: String = picks.iter().enumerate().map(line).collect();
            let one_by_one = events(text.split_inclusive('\n').map(str::as_bytes));
            prop_assert_eq!(events([text.as_bytes()]), one_by_one.clone());
            prop_assert_eq!(events(text.as_bytes().chunks(7)), one_by_one);
        }
    }
}
