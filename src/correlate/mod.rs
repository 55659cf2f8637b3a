//! Streaming correlation: decides, line by line, when a stream has shown enough evidence to
//! report a failure — and when it must stay quiet. Pure: no I/O, no clock (every call is given
//! the time), no knowledge of where lines come from.
//!
//! Semantics (README "Correlation" section):
//!
//! * Per stream, per playbook, a sliding window (arrival time) holds the hits: the distinct
//!   patterns seen (first and last occurrence of each), the number of matching lines (per second
//!   buckets) and the `none` vetoes.
//! * A playbook *qualifies* when within its window: a positive pattern was seen, no veto, at
//!   least `count` matching lines, and its confidence — computed exactly as `analyze` computes it,
//!   over every playbook's window — is at least `min_confidence`. Context hints add to a score
//!   but never qualify a playbook on their own.
//! * When something first qualifies, the stream waits `settle` for competing evidence and
//!   vetoes, then reports the best qualifying playbook, with the other qualifying ones as
//!   alternatives. A veto during settle cancels it.
//! * The reported playbook and its alternatives are then quiet for `cooldown` on this stream;
//!   their matching lines meanwhile are counted and reported as `repeats` by the next finding.
//! * At the end of a stream, a pending report is made at once.

pub mod state;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::engine::analysis::{EvidenceLine, Hits, display_record};
use crate::engine::stage::{Stage, StageTracker};
use crate::engine::{Catalog, rank_by};
use crate::matcher::PatternId;
use crate::normalize::Normalizer;
use crate::playbook::Threshold;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

fn ms(d: Duration) -> Millis {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// When a playbook's evidence is enough to report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub count: u32,
    pub window: Duration,
    pub settle: Duration,
    pub cooldown: Duration,
    pub min_confidence: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            count: 1,
            window: Duration::from_secs(600),
            settle: Duration::from_secs(1),
            cooldown: Duration::from_secs(600),
            min_confidence: 0.5,
        }
    }
}

impl Thresholds {
    /// `self` with every field `t` sets replaced.
    pub fn overlay(mut self, t: &Threshold) -> Self {
        if let Some(c) = t.count {
            self.count = c.max(1);
        }
        if let Some(w) = t.window {
            self.window = w;
        }
        if let Some(s) = t.settle {
            self.settle = s;
        }
        if let Some(c) = t.cooldown {
            self.cooldown = c;
        }
        if let Some(m) = t.min_confidence {
            self.min_confidence = m;
        }
        self
    }
}

/// Thresholds resolved for every playbook of a catalog, plus evidence options.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Indexed like [`Catalog::rules`].
    thresholds: Vec<Thresholds>,
    /// The longest of the windows: how long a pattern's first occurrence is kept.
    longest_window: Millis,
    /// Lines shown before each evidence line.
    pub context_before: usize,
    /// Lines that arrived during settle, shown after the evidence.
    pub context_after: usize,
    /// How often a reported playbook that keeps matching is announced as still active.
    pub activity_interval: Duration,
}

impl Policy {
    /// Resolution order, weakest first: `defaults`, the playbook's own `threshold:` block,
    /// `per_playbook[id]` (config), then `forced` (command-line flags).
    pub fn new(
        catalog: &Catalog,
        defaults: Thresholds,
        per_playbook: &HashMap<String, Threshold>,
        forced: &Threshold,
        context_before: usize,
        context_after: usize,
    ) -> Self {
        let thresholds = catalog
            .rules
            .iter()
            .map(|r| {
                let p = catalog.playbook(r);
                let mut t = defaults.overlay(&p.threshold);
                if let Some(o) = per_playbook.get(&p.id) {
                    t = t.overlay(o);
                }
                t.overlay(forced)
            })
            .collect::<Vec<Thresholds>>();
        let longest_window = thresholds.iter().map(|t| ms(t.window)).max().unwrap_or(0);
        Self {
            thresholds,
            longest_window,
            context_before,
            context_after,
            activity_interval: Duration::from_secs(30),
        }
    }

    fn longest_window(&self) -> Millis {
        self.longest_window
    }
}

/// One line handed to the correlator.
#[derive(Debug, Clone, Copy)]
pub struct LineIn<'a> {
    pub number: u64,
    pub raw: &'a [u8],
    pub cut: bool,
    pub time: Millis,
    /// The log's own timestamp of the line, when its format has one (shown with evidence;
    /// windows use `time`).
    pub logged: Option<Millis>,
    /// Patterns found on the line (from the matcher), stage keywords included.
    pub hits: &'a [PatternId],
}

/// A line kept for a finding: evidence or context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptLine {
    /// Arrival order in the stream (line numbers restart when a file is replaced).
    pub seq: u64,
    pub number: u64,
    pub text: String,
    pub time: Millis,
    /// The log's own timestamp, when its format has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged: Option<Millis>,
}

/// A recent line kept raw (buffers are reused) until it is needed as context.
#[derive(Debug, Clone, Default)]
struct RawLine {
    seq: u64,
    number: u64,
    time: Millis,
    logged: Option<Millis>,
    cut: bool,
    raw: Vec<u8>,
}

impl RawLine {
    /// The inverse of [`RawLine::kept`] (for restored state: its text is already cleaned).
    fn from_kept(k: KeptLine) -> Self {
        RawLine {
            seq: k.seq,
            number: k.number,
            time: k.time,
            logged: k.logged,
            cut: false,
            raw: k.text.into_bytes(),
        }
    }

    fn kept(&self) -> KeptLine {
        KeptLine {
            seq: self.seq,
            number: self.number,
            text: display_record(&self.raw, self.cut),
            time: self.time,
            logged: self.logged,
        }
    }
}

/// The lines that came before a hit, copied raw into one buffer (one allocation for all of
/// them): most records are replaced before they are reported, so the cleaning into display
/// text waits until they are.
#[derive(Debug, Clone, Default)]
struct Before {
    text: Vec<u8>,
    lines: Vec<BeforeLine>,
}

/// One line of [`Before`]: its text ends at `end` in [`Before::text`].
#[derive(Debug, Clone, Copy)]
struct BeforeLine {
    seq: u64,
    number: u64,
    time: Millis,
    logged: Option<Millis>,
    cut: bool,
    end: usize,
}

impl Before {
    fn copy(ring: &VecDeque<RawLine>) -> Self {
        let mut text = Vec::with_capacity(ring.iter().map(|l| l.raw.len()).sum());
        let lines = ring
            .iter()
            .map(|l| {
                text.extend_from_slice(&l.raw);
                let (seq, number, time, logged, cut) = (l.seq, l.number, l.time, l.logged, l.cut);
                BeforeLine { seq, number, time, logged, cut, end: text.len() }
            })
            .collect();
        Before { text, lines }
    }

    /// Line `i` as shown in a finding.
    fn kept(&self, i: usize) -> KeptLine {
        let l = self.lines[i];
        let start = i.checked_sub(1).map_or(0, |j| self.lines[j].end);
        let text = display_record(&self.text[start..l.end], l.cut);
        KeptLine { seq: l.seq, number: l.number, text, time: l.time, logged: l.logged }
    }

    /// The inverse of [`Before::kept`] (restored state: the text is already cleaned).
    fn from_kept(lines: Vec<KeptLine>) -> Self {
        let ring: VecDeque<RawLine> = lines.into_iter().map(RawLine::from_kept).collect();
        Before::copy(&ring)
    }
}

#[derive(Debug, Clone)]
struct HitRecord {
    /// What the scorer reads (line number and identity; its text is left empty, as reports
    /// show `line`).
    evidence: EvidenceLine,
    line: KeptLine,
    before: Before,
}

#[derive(Debug, Clone)]
struct PatternState {
    // Shared: one matching line is recorded under every pattern it hit.
    first: Arc<HitRecord>,
    last_time: Millis,
    /// The latest occurrence, when it is another line than `first`.
    last: Option<Arc<HitRecord>>,
}

impl PatternState {
    fn latest(&self) -> &HitRecord {
        self.last.as_deref().unwrap_or(&self.first)
    }

    /// The earliest kept occurrence that arrived at or after `since` and is line `min_seq` or
    /// later.
    fn visible(&self, since: Millis, min_seq: u64) -> Option<&HitRecord> {
        let ok = |h: &HitRecord| h.line.time >= since && h.line.seq >= min_seq;
        if ok(&self.first) { Some(&self.first) } else { Some(self.latest()).filter(|h| ok(h)) }
    }
}

#[derive(Debug, Clone, Default)]
struct PlaybookState {
    /// (arrival second, matching lines in that second), oldest first.
    buckets: VecDeque<(u64, u32)>,
    last_seen: Millis,
    cooldown_until: Millis,
    repeats: u64,
    /// Sequence number of the first line after this playbook was last reported (0: never):
    /// a report is about evidence not reported before.
    reported_seq: u64,
    /// Matching lines since the last report.
    since_report: u64,
    /// Reported, and activity news about it are still due (until it goes quiet).
    tracking: bool,
    /// When the last activity news went out.
    activity_sent: Millis,
    /// The last finding made for this playbook (set by the stream), which activity news are
    /// about; checkpointed, so news resume after a restart.
    finding: Option<ReportedFinding>,
}

/// Which finding activity news are about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedFinding {
    pub id: String,
    pub first_seen: Millis,
}

impl PlaybookState {
    fn count_since(&self, since: Millis) -> u64 {
        let since_sec = since / 1000;
        let in_window: u64 =
            self.buckets.iter().filter(|(s, _)| *s >= since_sec).map(|(_, n)| u64::from(*n)).sum();
        in_window.min(self.since_report)
    }

    fn in_cooldown(&self, now: Millis) -> bool {
        now < self.cooldown_until
    }
}

#[derive(Debug, Clone)]
struct Pending {
    deadline: Millis,
    after: Vec<KeptLine>,
}

/// A report decided by the correlator; the caller turns it into a [`crate::finding::Finding`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Index into [`Catalog::rules`].
    pub rules: usize,
    pub score: f64,
    pub confidence: f64,
    /// Matching lines in the window.
    pub count: u64,
    /// Matching lines during the cooldown that followed the previous report of this playbook.
    pub repeats: u64,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub evidence: Vec<KeptLine>,
    pub context: Vec<KeptLine>,
    /// Other qualifying playbooks: (rules index, confidence).
    pub alternatives: Vec<(usize, f64)>,
    pub time: Millis,
}

/// A playbook that qualifies right now.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    rules: usize,
    score: f64,
    confidence: f64,
}

/// News about a reported playbook (see [`crate::finding::Event::Activity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityReport {
    pub rules: usize,
    pub last_seen: Millis,
    pub active: bool,
}

/// The view of one playbook's window, for the scorer: hits that arrived within the window and
/// after the playbook was last reported.
struct WindowView<'a> {
    patterns: &'a FxHashMap<PatternId, PatternState>,
    since: Millis,
    min_seq: u64,
    stage: Option<Stage>,
}

impl Hits for WindowView<'_> {
    fn evidence(&self, p: PatternId) -> Option<&EvidenceLine> {
        self.patterns.get(&p)?.visible(self.since, self.min_seq).map(|h| &h.evidence)
    }

    fn stage(&self) -> Option<Stage> {
        self.stage
    }
}

/// Correlation state of one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamCorrelator {
    // Small integer keys, looked up for every line with hits: Fx hashing, not SipHash.
    patterns: FxHashMap<PatternId, PatternState>,
    playbooks: FxHashMap<usize, PlaybookState>,
    recent: VecDeque<RawLine>,
    pending: Option<Pending>,
    stage: StageTracker,
    next_seq: u64,
    last_eval: Millis,
    normalizer: Normalizer,
    /// Scratch space of [`StreamCorrelator::observe`].
    sanitized: Vec<u8>,
    touched: Vec<usize>,
}

impl StreamCorrelator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream's stage is fixed: stage keywords no longer matter to it.
    pub fn stage_known(&self) -> bool {
        self.stage.is_fixed()
    }

    /// When [`StreamCorrelator::tick`] next has something to do: a settle deadline, or
    /// activity news due about a reported playbook.
    pub fn next_deadline(&self, policy: &Policy) -> Option<Millis> {
        let activity = self
            .playbooks
            .iter()
            .filter(|(_, st)| st.tracking)
            .map(|(r, st)| {
                let quiet_at = st.last_seen + ms(policy.thresholds[*r].window);
                let news_at = st.activity_sent + ms(policy.activity_interval);
                quiet_at.min(news_at)
            })
            .min();
        [self.pending.as_ref().map(|p| p.deadline), activity].into_iter().flatten().min()
    }

    /// Activity news due at `now` about reported playbooks: still active (every
    /// `activity_interval` while they keep matching), or quiet (once, when their window empties).
    pub fn activity(&mut self, policy: &Policy, now: Millis, out: &mut Vec<ActivityReport>) {
        for (&r, st) in self.playbooks.iter_mut().filter(|(_, st)| st.tracking) {
            if st.last_seen + ms(policy.thresholds[r].window) <= now {
                st.tracking = false;
                out.push(ActivityReport { rules: r, last_seen: st.last_seen, active: false });
            } else if now >= st.activity_sent + ms(policy.activity_interval) {
                st.activity_sent = now;
                out.push(ActivityReport { rules: r, last_seen: st.last_seen, active: true });
            }
        }
    }

    /// Remembers the finding made from a report of playbook `rules`.
    pub fn note_finding(&mut self, rules: usize, id: String, first_seen: Millis) {
        self.playbooks.entry(rules).or_default().finding = Some(ReportedFinding { id, first_seen });
    }

    /// The last finding made for playbook `rules`, if its state is still kept.
    pub fn reported_finding(&self, rules: usize) -> Option<&ReportedFinding> {
        self.playbooks.get(&rules)?.finding.as_ref()
    }

    /// Whether lines without hits arriving at `now` are only counted and kept as context for a
    /// later line: no report is pending, or the pending one has all the lines after its
    /// evidence it shows and its settle time is not over (so none of them would make it).
    pub fn quiet_lines_are_context_only(&self, policy: &Policy, now: Millis) -> bool {
        self.pending.as_ref().is_none_or(|p| p.after.len() >= policy.context_after && p.deadline > now)
    }

    /// Takes `n` lines without hits, arriving at a time when
    /// [`StreamCorrelator::quiet_lines_are_context_only`], that can never be context: the caller
    /// has more such lines after them, at least `context_before` of them (see
    /// [`Policy::context_before`]), which push these out of the context ring. All such a line
    /// changes is the count: [`StreamCorrelator::observe`] of each would do the same, one by
    /// one, at the cost of copying each into the ring.
    pub fn skip_quiet(&mut self, n: usize) {
        self.next_seq += n as u64;
    }

    /// Takes one line (in arrival order) and appends any report it completes to `out`.
    pub fn observe(&mut self, catalog: &Catalog, policy: &Policy, line: LineIn<'_>, out: &mut Vec<Report>) {
        let now = line.time;
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut stage_mask = 0;
        let mut matched = false;
        for &p in line.hits {
            let info = &catalog.patterns[p as usize];
            stage_mask |= info.stage_mask;
            matched |= !info.used_by.is_empty();
        }
        if stage_mask != 0 {
            self.stage.observe_line(stage_mask);
        }
        let kept = |line: &LineIn<'_>| KeptLine {
            seq,
            number: line.number,
            text: display_record(line.raw, line.cut),
            time: now,
            logged: line.logged,
        };
        if let Some(pending) = &mut self.pending {
            if pending.after.len() < policy.context_after {
                pending.after.push(kept(&line));
            }
        }

        let mut interesting = false;
        if matched {
            let mut sanitized = std::mem::take(&mut self.sanitized);
            sanitized.clear();
            self.normalizer.sanitize(line.raw, &mut sanitized);
            let evidence = EvidenceLine::new(line.number, String::new(), &sanitized);
            self.sanitized = sanitized;
            let record =
                Arc::new(HitRecord { evidence, line: kept(&line), before: Before::copy(&self.recent) });
            let mut touched = std::mem::take(&mut self.touched);
            touched.clear();
            for &p in line.hits {
                let info = &catalog.patterns[p as usize];
                if info.used_by.is_empty() {
                    continue;
                }
                let previous_last = self.patterns.get(&p).map(|s| s.last_time);
                for &r in &info.used_by {
                    let r = r as usize;
                    let window = ms(policy.thresholds[r].window);
                    let is_positive = catalog.rules[r].positives().any(|q| q == p);
                    if is_positive {
                        let fresh = previous_last.is_none_or(|t| t < now.saturating_sub(window));
                        interesting |= fresh;
                        if !touched.contains(&r) {
                            touched.push(r);
                        }
                    }
                }
                let st = self.patterns.entry(p).or_insert_with(|| PatternState {
                    first: record.clone(),
                    last_time: now,
                    last: None,
                });
                if st.first.line.seq != seq {
                    // The first occurrence is kept while it is inside the longest window.
                    if st.first.line.time < now.saturating_sub(policy.longest_window()) {
                        st.first = record.clone();
                        st.last = None;
                    } else {
                        st.last = Some(record.clone());
                    }
                }
                st.last_time = now;
            }
            for &r in &touched {
                let t = policy.thresholds[r];
                let st = self.playbooks.entry(r).or_default();
                let before = st.count_since(now.saturating_sub(ms(t.window)));
                let sec = now / 1000;
                match st.buckets.back_mut() {
                    Some((s, n)) if *s == sec => *n += 1,
                    _ => st.buckets.push_back((sec, 1)),
                }
                st.last_seen = now;
                st.since_report += 1;
                if st.in_cooldown(now) {
                    st.repeats += 1;
                } else {
                    interesting |= before < u64::from(t.count) && before + 1 >= u64::from(t.count);
                    // Reported before and its cooldown is over: this line may make it due again.
                    interesting |= st.cooldown_until > 0;
                    // Otherwise only confidence drift could make it qualify: look at most once a
                    // second, so a noisy stream does not re-rank on every line.
                    interesting |= now.saturating_sub(self.last_eval) >= 1000;
                }
            }
            self.touched = touched;
        }
        if policy.context_before > 0 {
            let mut slot = if self.recent.len() >= policy.context_before {
                self.recent.pop_front().unwrap_or_default()
            } else {
                RawLine::default()
            };
            slot.raw.clear();
            slot.raw.extend_from_slice(line.raw);
            (slot.seq, slot.number, slot.time, slot.cut) = (seq, line.number, now, line.cut);
            slot.logged = line.logged;
            self.recent.push_back(slot);
        }
        if interesting && self.pending.is_none() {
            self.last_eval = now;
            let qualifying = self.evaluate(catalog, policy, now);
            if let Some(best) = qualifying.first().map(|c| c.rules) {
                let settle = ms(policy.thresholds[best].settle);
                self.pending = Some(Pending { deadline: now + settle, after: Vec::new() });
                if settle == 0 {
                    self.fire(catalog, policy, now, out);
                }
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.deadline <= now) {
            self.fire(catalog, policy, now, out);
        }
    }

    /// Fires a settle deadline that has passed and forgets what fell out of every window.
    pub fn tick(&mut self, catalog: &Catalog, policy: &Policy, now: Millis, out: &mut Vec<Report>) {
        if self.pending.as_ref().is_some_and(|p| p.deadline <= now) {
            self.fire(catalog, policy, now, out);
        }
        self.expire(policy, now);
    }

    /// Makes a pending report now instead of at its settle deadline (shutdown).
    pub fn flush_pending(&mut self, catalog: &Catalog, policy: &Policy, now: Millis, out: &mut Vec<Report>) {
        if self.pending.is_some() {
            self.fire(catalog, policy, now, out);
        }
    }

    /// End of the stream: a pending report is made now; so is one that qualifies right now.
    pub fn end_of_stream(&mut self, catalog: &Catalog, policy: &Policy, now: Millis, out: &mut Vec<Report>) {
        if self.pending.is_none() {
            let qualifying = self.evaluate(catalog, policy, now);
            if qualifying.is_empty() {
                return;
            }
            self.pending = Some(Pending { deadline: now, after: Vec::new() });
        }
        self.fire(catalog, policy, now, out);
    }

    /// Ranks the playbooks that may be reported, each over its own window and only over evidence
    /// that arrived after it was last reported; returns the qualifying ones, best first.
    ///
    /// Playbooks in cooldown, or short of their `count`, take no part: one has been reported
    /// already and the other is still noise — letting either compete would hide a new failure
    /// behind it.
    fn evaluate(&self, catalog: &Catalog, policy: &Policy, now: Millis) -> Vec<Candidate> {
        let stage = self.stage.stage();
        let views: Vec<Option<WindowView<'_>>> = policy
            .thresholds
            .iter()
            .enumerate()
            .map(|(r, t)| {
                let since = now.saturating_sub(ms(t.window));
                let st = self.playbooks.get(&r);
                let count = st.map_or(0, |s| s.count_since(since));
                let cooling = st.is_some_and(|s| s.in_cooldown(now));
                let min_seq = st.map_or(0, |s| s.reported_seq);
                (!cooling && count >= u64::from(t.count)).then_some(WindowView {
                    patterns: &self.patterns,
                    since,
                    min_seq,
                    stage,
                })
            })
            .collect();
        rank_by(catalog, |i| views[i].as_ref())
            .iter()
            // A guess from context hints alone is never a finding.
            .filter(|r| !r.context_only && r.confidence >= policy.thresholds[r.rules].min_confidence)
            .map(|r| Candidate { rules: r.rules, score: r.score, confidence: r.confidence })
            .collect()
    }

    fn fire(&mut self, catalog: &Catalog, policy: &Policy, now: Millis, out: &mut Vec<Report>) {
        let Some(pending) = self.pending.take() else { return };
        self.last_eval = now;
        let qualifying = self.evaluate(catalog, policy, now);
        let Some(&Candidate { rules: best, score, confidence }) = qualifying.first() else {
            return; // vetoed or expired during settle
        };
        let t = policy.thresholds[best];
        let since = now.saturating_sub(ms(t.window));
        let min_seq = self.playbooks.get(&best).map_or(0, |s| s.reported_seq);
        let mut evidence: Vec<&HitRecord> = Vec::new();
        for p in catalog.rules[best].positives() {
            let Some(rec) = self.patterns.get(&p).and_then(|st| st.visible(since, min_seq)) else { continue };
            if !evidence.iter().any(|e| e.line.seq == rec.line.seq) {
                evidence.push(rec);
            }
        }
        evidence.sort_by_key(|e| e.line.seq);
        let mut context: Vec<KeptLine> = Vec::new();
        for e in &evidence {
            for (i, b) in e.before.lines.iter().enumerate() {
                if !evidence.iter().any(|x| x.line.seq == b.seq) && !context.iter().any(|c| c.seq == b.seq) {
                    context.push(e.before.kept(i));
                }
            }
        }
        for a in pending.after {
            if !evidence.iter().any(|x| x.line.seq == a.seq) && !context.iter().any(|c| c.seq == a.seq) {
                context.push(a);
            }
        }
        context.sort_by_key(|c| c.seq);
        let evidence: Vec<KeptLine> = evidence.into_iter().map(|e| e.line.clone()).collect();
        let first_seen = evidence.iter().map(|e| e.time).min().unwrap_or(now);
        let st = self.playbooks.entry(best).or_default();
        let report = Report {
            rules: best,
            score,
            confidence,
            count: st.count_since(since),
            repeats: std::mem::take(&mut st.repeats),
            first_seen,
            last_seen: st.last_seen.max(first_seen),
            evidence,
            context,
            alternatives: qualifying[1..].iter().map(|c| (c.rules, c.confidence)).collect(),
            time: now,
        };
        for &Candidate { rules: r, .. } in &qualifying {
            let cooldown = ms(policy.thresholds[r].cooldown);
            let st = self.playbooks.entry(r).or_default();
            st.cooldown_until = now.saturating_add(cooldown);
            st.reported_seq = self.next_seq;
            st.since_report = 0;
            st.tracking = true;
            st.activity_sent = now;
            if r != best {
                st.repeats = 0;
            }
        }
        out.push(report);
    }

    /// Drops what no window can see any more, so memory stays bounded on a long-running stream.
    fn expire(&mut self, policy: &Policy, now: Millis) {
        let horizon = now.saturating_sub(policy.longest_window());
        self.patterns.retain(|_, st| st.last_time >= horizon);
        let horizon_sec = horizon / 1000;
        self.playbooks.retain(|_, st| {
            while st.buckets.front().is_some_and(|(s, _)| *s < horizon_sec) {
                st.buckets.pop_front();
            }
            !st.buckets.is_empty() || st.in_cooldown(now) || st.repeats > 0 || st.tracking
        });
    }
}
