//! Line normalisation: the canonical form every pattern is matched against.
//!
//! Faultline's rules, applied in this order (each step sees the previous step's output, exactly as
//! Faultline's chain of `ReplaceAllString` calls does):
//!
//! 1. remove ANSI CSI sequences `ESC [ [0-9;?]* [ -/]* [@-~]`;
//! 2. `YYYY-MM-DD[tT ]hh:mm:ss[.frac][z|±hh[:]mm]` → `<timestamp>`;
//! 3. `YYYY/MM/DD[ t]hh:mm:ss[.frac]` → `<timestamp>`;
//! 4. bare `hh:mm:ss[.frac]` → `<timestamp>` (each with ASCII word boundaries around it);
//! 5. temp paths (`/tmp`, `/var/folders`, `/private/var/folders`, `/home/runner/work/_temp`,
//!    `C:\Users\…\AppData\Local\Temp`, case-insensitive, up to the next ASCII space or `:`) → `<tmp>`;
//! 6. lower-case hex UUIDs → `<id>`;
//! 7. trim, collapse white-space runs (Unicode white space) to one space;
//! 8. lower-case (Unicode simple case mapping) — the *normalised* form; without this step it is the
//!    *sanitised* form Faultline shows as evidence and de-duplicates evidence by.
//!
//! The regexes are hand-compiled into byte scanners gated by `memchr`, because this runs on every
//! line of every log and a regex engine per line costs ten times more than the multi-pattern scan
//! that follows. `tests/normalize_reference.rs` checks the scanners against the original regexes.
//!
//! This module does no I/O and allocates only into the caller's buffers.

use memchr::{memchr, memchr_iter, memchr2};

pub(crate) mod classify;
use classify::{classify, features};

/// Reusable buffers for [`Normalizer::normalize`]; keeps the hot path allocation-free.
#[derive(Default, Debug, Clone)]
pub struct Normalizer {
    a: Vec<u8>,
    b: Vec<u8>,
}

/// Every placeholder masking may put into a line.
pub const MASK_TOKENS: [&str; 3] = ["<timestamp>", "<tmp>", "<id>"];
const TIMESTAMP: &[u8] = MASK_TOKENS[0].as_bytes();
const TMP: &[u8] = MASK_TOKENS[1].as_bytes();
const ID: &[u8] = MASK_TOKENS[2].as_bytes();

impl Normalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the normalised form of `line` (no terminator) to `out`.
    /// Returns the number of bytes appended; 0 means the line is empty after normalisation.
    pub fn normalize(&mut self, line: &[u8], out: &mut Vec<u8>) -> usize {
        let (masked, features) = self.mask(line);
        finish(masked, features, out, true)
    }

    /// Appends the sanitised form (masked, trimmed, collapsed, original case) of `line` to `out`.
    pub fn sanitize(&mut self, line: &[u8], out: &mut Vec<u8>) -> usize {
        let (masked, features) = self.mask(line);
        finish(masked, features, out, false)
    }

    /// Steps 1–6. Returns the masked text — `line` itself in the common case where nothing is
    /// masked, else one of the internal buffers — and its [`features`].
    fn mask<'s>(&'s mut self, line: &'s [u8]) -> (&'s [u8], u32) {
        let features = classify(line);
        if features & (features::ESC | features::COLON | features::SLASH | features::DASH) == 0 {
            return (line, features);
        }
        // Each pass writes into whichever buffer is free; `at` tracks where the text lives now.
        #[derive(Clone, Copy, PartialEq)]
        enum At {
            Input,
            A,
            B,
        }
        let mut at = At::Input;
        macro_rules! cur {
            () => {
                match at {
                    At::Input => line,
                    At::A => &self.a[..],
                    At::B => &self.b[..],
                }
            };
        }
        macro_rules! pass {
            ($f:expr) => {{
                let (src, dst, next) = match at {
                    At::Input | At::B => {
                        let src: &[u8] = if at == At::Input { line } else { &self.b[..] };
                        self.a.clear();
                        (src, &mut self.a, At::A)
                    }
                    At::A => {
                        self.b.clear();
                        (&self.a[..], &mut self.b, At::B)
                    }
                };
                if $f(src, dst) {
                    at = next;
                }
            }};
        }
        let mut stripped = false;
        if features & features::ESC != 0 {
            pass!(strip_ansi_into);
            stripped = at != At::Input;
        }
        if features & features::COLON != 0 {
            match find_clocks(cur!()) {
                (None, _) => {}
                (Some(clock), false) => {
                    // One clock: at most one of the three masks can apply, and the first of them
                    // that matches is what the three passes in sequence would produce.
                    let s = cur!();
                    let date = clock.checked_sub(11);
                    let hit = date
                        .and_then(|st| rfc3339_at(s, st).map(|e| (st, e)))
                        .or_else(|| date.and_then(|st| slash_datetime_at(s, st).map(|e| (st, e))))
                        .or_else(|| bare_time_at(s, clock).map(|e| (clock, e)));
                    if let Some((st, end)) = hit {
                        pass!(|src: &[u8], dst: &mut Vec<u8>| {
                            dst.extend_from_slice(&src[..st]);
                            dst.extend_from_slice(TIMESTAMP);
                            dst.extend_from_slice(&src[end..]);
                            true
                        });
                    }
                }
                (Some(_), true) => {
                    pass!(mask_rfc3339);
                    pass!(mask_slash_datetime);
                    pass!(mask_bare_time);
                }
            }
        }
        if features & features::SLASH != 0 {
            pass!(mask_tmp_paths);
        }
        if features & features::DASH != 0 {
            pass!(mask_uuids);
        }
        let masked = cur!();
        if stripped {
            // Removing escape sequences can join white space into new runs: look again.
            (masked, classify(masked))
        } else {
            // Masks replace text with non-empty tokens without white space, so the features of
            // the input still describe the output (at worst they send it down a slower path).
            (masked, features)
        }
    }
}

/// Appends the lines of `raw` to `out` *folded*: ASCII upper case lower-cased, each run of ASCII
/// white space one space; nothing else changes (no masking, no escape sequences stripped, no
/// trimming). The lines lie back to back in `raw`, `ends[i]` just past line `i`; `out_ends` gets
/// the end of each folded line. Folded in one pass, so a white-space run that spans two lines is
/// collapsed too: a line may lose a leading space, which no pattern can begin with.
///
/// For an ASCII line without escape sequences, every pattern found in its normalised form has a
/// part found in the folded one (see the matcher's pre-scan), and folding is much cheaper.
///
/// `from` is where the first line starts in `raw` (the offsets in `ends` are offsets in `raw`).
pub fn fold_lines_into(
    raw: &[u8],
    from: usize,
    ends: &[usize],
    out: &mut Vec<u8>,
    out_ends: &mut Vec<usize>,
) {
    use std::mem::MaybeUninit;
    let raw = &raw[..ends.last().copied().unwrap_or(from)];
    out.reserve(raw.len() - from);
    let start = out.len();
    // Written straight into spare capacity: zero-filling it first would cost a third of folding.
    let dst: &mut [MaybeUninit<u8>] = &mut out.spare_capacity_mut()[..raw.len() - from];
    let mut folded = Folded { written: 0, prev_space: false, next_end: 0 };
    folded.record_ends(ends, from, start, out_ends);
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    while i + 16 <= raw.len() {
        let mut chunk = [0u8; 16];
        let Some(found) = fold16_lines(&raw[i..i + 16], &mut chunk, folded.prev_space, false) else {
            folded.scalar(raw, i..i + 16, dst, ends, start, out_ends);
            i += 16;
            continue;
        };
        let kept = compact16(&chunk, found.dropped, &mut dst[folded.written..folded.written + 16]);
        while folded.next_end < ends.len() && ends[folded.next_end] <= i + 16 {
            let k = ends[folded.next_end] - i;
            out_ends.push(start + folded.written + k - found.dropped_before(k));
            folded.next_end += 1;
        }
        folded.prev_space = found.spaces & (1 << 15) != 0;
        folded.written += kept;
        i += 16;
    }
    folded.scalar(raw, i..raw.len(), dst, ends, start, out_ends);
    // SAFETY: `dst[..written]` has been written: each step writes the byte at `written` before
    // moving past it, and the SIMD path writes every byte it keeps.
    unsafe { out.set_len(start + folded.written) };
}

/// Frames and folds `text` in one pass: the caller saves a pass over the bytes and a copy of
/// every line. `text` is whole lines, each ended by LF, CRLF or a lone CR (a CR at its very end
/// is a whole terminator: see `LineFramer::push_bulk`). Each line is appended to `out` folded as
/// [`fold_lines_into`] folds it, followed by `\n` (so no white-space run spans two lines, and
/// no pattern match either), and `on_line(start, end, folded_end)` is called for it, in order:
/// its text is `text[start..end]`, and its folded form ends at `out[folded_end]`, the `\n`.
/// Returns the number of lines.
pub fn fold_frame_into(text: &[u8], out: &mut Vec<u8>, mut on_line: impl FnMut(usize, usize, usize)) -> u64 {
    use std::mem::MaybeUninit;
    out.reserve(text.len());
    let base = out.len();
    // No more bytes out than in: a CRLF becomes one `\n`, a white-space run one space.
    let dst: &mut [MaybeUninit<u8>] = &mut out.spare_capacity_mut()[..text.len()];
    let mut f = Framed { written: 0, prev_space: false, line_start: 0, lines: 0 };
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    while i + 16 <= text.len() {
        let mut chunk = [0u8; 16];
        let Some(found) = fold16_lines(&text[i..i + 16], &mut chunk, f.prev_space, true) else {
            // A CR: one byte at a time to the end of these 16 (a CRLF may take one more).
            let stop = i + 16;
            while i < stop {
                i = f.step(text, i, dst, base, &mut on_line);
            }
            continue;
        };
        let kept = compact16(&chunk, found.dropped, &mut dst[f.written..f.written + 16]);
        let mut newlines = found.newlines;
        while newlines != 0 {
            let at = newlines.trailing_zeros() as usize;
            on_line(f.line_start, i + at, base + f.written + at - found.dropped_before(at));
            f.lines += 1;
            f.line_start = i + at + 1;
            newlines &= newlines - 1;
        }
        f.written += kept;
        f.prev_space = found.spaces & (1 << 15) != 0;
        i += 16;
    }
    while i < text.len() {
        i = f.step(text, i, dst, base, &mut on_line);
    }
    // SAFETY: `dst[..written]` has been written: each step writes the byte at `written` before
    // moving past it, and the SIMD path writes every byte it keeps.
    unsafe { out.set_len(base + f.written) };
    f.lines
}

/// Where [`fold_frame_into`] is.
struct Framed {
    written: usize,
    prev_space: bool,
    line_start: usize,
    lines: u64,
}

impl Framed {
    /// Folds the byte at `text[i]`, or the terminator there; returns where the next byte is.
    #[inline(always)]
    fn step(
        &mut self,
        text: &[u8],
        i: usize,
        dst: &mut [std::mem::MaybeUninit<u8>],
        base: usize,
        on_line: &mut impl FnMut(usize, usize, usize),
    ) -> usize {
        let b = text[i];
        if b == b'\n' || b == b'\r' {
            dst[self.written].write(b'\n');
            on_line(self.line_start, i, base + self.written);
            self.lines += 1;
            self.written += 1;
            self.prev_space = false;
            self.line_start = if b == b'\r' && text.get(i + 1) == Some(&b'\n') { i + 2 } else { i + 1 };
            return self.line_start;
        }
        fold_byte(b, dst, &mut self.written, &mut self.prev_space);
        i + 1
    }
}

/// Where [`fold_lines_into`] is.
struct Folded {
    /// Bytes written to the output.
    written: usize,
    /// The last byte written was a space.
    prev_space: bool,
    /// Index of the first line end not yet recorded.
    next_end: usize,
}

impl Folded {
    /// Records the line ends at raw offset `at` (they are all at the current output position).
    fn record_ends(&mut self, ends: &[usize], at: usize, start: usize, out_ends: &mut Vec<usize>) {
        while self.next_end < ends.len() && ends[self.next_end] == at {
            out_ends.push(start + self.written);
            self.next_end += 1;
        }
    }

    /// Folds `raw[range]` one byte at a time.
    fn scalar(
        &mut self,
        raw: &[u8],
        range: std::ops::Range<usize>,
        dst: &mut [std::mem::MaybeUninit<u8>],
        ends: &[usize],
        start: usize,
        out_ends: &mut Vec<usize>,
    ) {
        for at in range {
            fold_byte(raw[at], dst, &mut self.written, &mut self.prev_space);
            self.record_ends(ends, at + 1, start, out_ends);
        }
    }
}

/// Folds one byte into `dst[*written]`; a space after a space is written but not kept
/// (branch-free: white space is irregular).
#[inline(always)]
fn fold_byte(b: u8, dst: &mut [std::mem::MaybeUninit<u8>], written: &mut usize, prev_space: &mut bool) {
    let c = FOLD[b as usize];
    let space = c == b' ';
    dst[*written].write(c);
    *written += usize::from(!(space && *prev_space));
    *prev_space = space;
}

/// ASCII upper case to lower case, ASCII white space to a space.
static FOLD: [u8; 256] = {
    let mut map = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        map[i] = if is_ascii_space(b) { b' ' } else { b.to_ascii_lowercase() };
        i += 1;
    }
    map
};

/// What [`fold16_lines`] found in 16 bytes, as bit masks (bit `k` for byte `k`).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Chunk16 {
    /// LFs.
    newlines: u32,
    /// Bytes folded to a space.
    spaces: u32,
    /// Spaces that follow a space: dropped when white space is collapsed.
    dropped: u32,
}

#[cfg(target_arch = "x86_64")]
impl Chunk16 {
    /// Bytes dropped before byte `k` (0..=16): where something at `k` lands after collapsing.
    fn dropped_before(&self, k: usize) -> usize {
        (self.dropped & ((1u32 << k) - 1)).count_ones() as usize
    }
}

/// Folds 16 bytes of `src` into `dst`: each is lower-cased, or a space if it is white space —
/// except, when `lines` (for [`fold_frame_into`]), an LF, which stays, and a CR, for which it
/// returns `None`, having stored nothing useful. The masks say where the LFs are and which
/// spaces collapsing drops (`prev_space`: the byte before `src` was folded to a space).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fold16_lines(src: &[u8], dst: &mut [u8; 16], prev_space: bool, lines: bool) -> Option<Chunk16> {
    use std::arch::x86_64::*;
    assert!(src.len() >= 16);
    // SAFETY: SSE2 is part of the x86-64 baseline; `src` holds at least 16 bytes, `dst` 16, and
    // the unaligned load and store have no alignment requirement.
    unsafe {
        let v = _mm_loadu_si128(src.as_ptr() as *const __m128i);
        let none = _mm_setzero_si128();
        let (cr, lf) = if lines {
            (_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8)), _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)))
        } else {
            (none, none)
        };
        if _mm_movemask_epi8(cr) != 0 {
            return None;
        }
        // TAB, LF, VT, FF, CR: (v - 9) <= 4 as unsigned; all but a kept LF become spaces.
        let t = _mm_sub_epi8(v, _mm_set1_epi8(9));
        let ws = _mm_andnot_si128(lf, _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t));
        let space = _mm_or_si128(ws, _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)));
        // 'A'..='Z' as unsigned: (v - 'A') <= 25.
        let u = _mm_sub_epi8(v, _mm_set1_epi8(b'A' as i8));
        let upper = _mm_cmpeq_epi8(_mm_min_epu8(u, _mm_set1_epi8(25)), u);
        let lower = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
        let folded = _mm_or_si128(_mm_andnot_si128(ws, lower), _mm_and_si128(ws, _mm_set1_epi8(b' ' as i8)));
        _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, folded);
        let spaces = _mm_movemask_epi8(space) as u32;
        Some(Chunk16 {
            newlines: _mm_movemask_epi8(lf) as u32,
            spaces,
            dropped: spaces & ((spaces << 1) | u32::from(prev_space)),
        })
    }
}

/// Writes the bytes of `chunk` that `dropped` does not mark to the start of `out`, in order
/// (collapsing white space: each byte moves down by the dropped bytes before it); returns how
/// many.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn compact16(chunk: &[u8; 16], dropped: u32, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
    if dropped == 0 {
        // The common chunk: one 16-byte copy.
        for (d, &c) in out[..16].iter_mut().zip(chunk) {
            d.write(c);
        }
        return 16;
    }
    let mut kept = 0;
    for (k, &c) in chunk.iter().enumerate() {
        out[kept].write(c);
        kept += ((dropped >> k) & 1 ^ 1) as usize;
    }
    kept
}

/// Whether `line` normalises to nothing (white space and escape sequences only), without
/// normalising it: the common line answers at its first byte that is not white space.
pub fn is_blank(line: &[u8]) -> bool {
    match line.iter().find(|&&b| !is_ascii_space(b)) {
        None => true,
        Some(&b) if b < 0x80 && b != 0x1b => false,
        Some(_) => {
            let stripped = strip_ansi(line);
            let mut i = 0;
            while i < stripped.len() {
                let (space, width) = match stripped[i] {
                    b if b < 0x80 => (is_ascii_space(b), 1),
                    _ => {
                        let (ch, width) = decode_utf8(&stripped[i..]);
                        (ch.is_some_and(char::is_whitespace), width)
                    }
                };
                if !space {
                    return false;
                }
                i += width;
            }
            true
        }
    }
}

/// Normalises a pattern the way Faultline does: trim, collapse white space, lower-case.
/// (Patterns are not masked: a pattern holding a clock time can never match, which `check` reports.)
pub fn normalize_pattern(pattern: &str) -> String {
    let mut out = Vec::with_capacity(pattern.len());
    finish(pattern.as_bytes(), classify(pattern.as_bytes()), &mut out, true);
    String::from_utf8(out).unwrap_or_default()
}

/// Removes ANSI CSI sequences only (for showing a line to a human).
pub fn strip_ansi(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr(0x1b, line).is_none() {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    // Nothing is written when nothing changes (an ESC that starts no sequence).
    if strip_ansi_into(line, &mut out) {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(line)
    }
}

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[inline]
fn is_digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

fn digits_at(s: &[u8], i: usize, n: usize) -> bool {
    (i..i + n).all(|k| is_digit_at(s, k))
}

/// `\b` before position `i` for a match whose first byte is a word byte.
#[inline]
fn boundary_before(s: &[u8], i: usize) -> bool {
    i == 0 || !is_word(s[i - 1])
}

/// `\b` after a match ending at `end` whose last byte is a word byte.
#[inline]
fn boundary_after(s: &[u8], end: usize) -> bool {
    end >= s.len() || !is_word(s[end])
}

/// The first position of a clock `dd:dd:dd` in `s` (every date-time mask contains one), and
/// whether there is more than one.
fn find_clocks(s: &[u8]) -> (Option<usize>, bool) {
    let mut clocks = memchr_iter(b':', s).filter(|&p| p >= 2 && clock_at(s, p - 2)).map(|p| p - 2);
    let first = clocks.next();
    (first, first.is_some() && clocks.next().is_some())
}

/// `dd:dd:dd` starting at `i`.
#[inline]
fn clock_at(s: &[u8], i: usize) -> bool {
    digits_at(s, i, 2)
        && s.get(i + 2) == Some(&b':')
        && digits_at(s, i + 3, 2)
        && s.get(i + 5) == Some(&b':')
        && digits_at(s, i + 6, 2)
}

/// Lengths of `(?:\.\d+)?` at `i` worth trying, in a backtracking engine's order.
///
/// The greedy engine tries every digit count from the longest down, then no fraction. Every
/// shorter count leaves a digit right after the match, and each of our date-time regexes can only
/// continue with `z`, `+`, `-` or a word boundary — none of which a digit allows — so only the
/// full run and "no fraction" can ever succeed.
fn fraction_options(s: &[u8], i: usize) -> impl Iterator<Item = usize> {
    let run = if s.get(i) == Some(&b'.') {
        s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count()
    } else {
        0
    };
    (run > 0).then_some(run + 1).into_iter().chain(std::iter::once(0))
}

/// Applies a mask whose every match contains a clock `dd:dd:dd` at a fixed distance from its start.
/// `try_at(s, start)` returns the end of the match starting at `start`, if any.
fn mask_anchored_on_clock(
    src: &[u8],
    dst: &mut Vec<u8>,
    clock_offset: usize,
    try_at: impl Fn(&[u8], usize) -> Option<usize>,
) -> bool {
    let mut copied = 0;
    let mut changed = false;
    for colon in memchr_iter(b':', src) {
        let Some(clock) = colon.checked_sub(2) else {
            continue;
        };
        let Some(start) = clock.checked_sub(clock_offset) else {
            continue;
        };
        if start < copied || !clock_at(src, clock) {
            continue;
        }
        if let Some(end) = try_at(src, start) {
            dst.extend_from_slice(&src[copied..start]);
            dst.extend_from_slice(TIMESTAMP);
            copied = end;
            changed = true;
        }
    }
    if changed {
        dst.extend_from_slice(&src[copied..]);
    }
    changed
}

/// `\b\d{4}-\d{2}-\d{2}[tT ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?\b`
fn mask_rfc3339(src: &[u8], dst: &mut Vec<u8>) -> bool {
    mask_anchored_on_clock(src, dst, 11, rfc3339_at)
}

/// End of the `\b\d{4}-\d{2}-\d{2}[tT ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?\b` match
/// starting at `start`, if any.
fn rfc3339_at(s: &[u8], start: usize) -> Option<usize> {
    {
        let date_ok = boundary_before(s, start)
            && digits_at(s, start, 4)
            && s[start + 4] == b'-'
            && digits_at(s, start + 5, 2)
            && s[start + 7] == b'-'
            && digits_at(s, start + 8, 2)
            && matches!(s[start + 10], b't' | b'T' | b' ');
        if !date_ok {
            return None;
        }
        let after_clock = start + 19;
        for frac in fraction_options(s, after_clock) {
            let z = after_clock + frac;
            // Zone alternatives in the regex's priority order, then "no zone".
            let mut zones: [Option<usize>; 4] = [None; 4];
            if s.get(z) == Some(&b'z') {
                zones[0] = Some(1);
            }
            if matches!(s.get(z), Some(b'+' | b'-')) && digits_at(s, z + 1, 2) {
                if s.get(z + 3) == Some(&b':') && digits_at(s, z + 4, 2) {
                    zones[1] = Some(6);
                }
                if digits_at(s, z + 3, 2) {
                    zones[2] = Some(5);
                }
            }
            zones[3] = Some(0);
            for zone in zones.into_iter().flatten() {
                let end = z + zone;
                if boundary_after(s, end) {
                    return Some(end);
                }
            }
        }
        None
    }
}

/// `\b\d{4}/\d{2}/\d{2}[ t]\d{2}:\d{2}:\d{2}(?:\.\d+)?\b`
fn mask_slash_datetime(src: &[u8], dst: &mut Vec<u8>) -> bool {
    mask_anchored_on_clock(src, dst, 11, slash_datetime_at)
}

fn slash_datetime_at(s: &[u8], start: usize) -> Option<usize> {
    {
        let date_ok = boundary_before(s, start)
            && digits_at(s, start, 4)
            && s[start + 4] == b'/'
            && digits_at(s, start + 5, 2)
            && s[start + 7] == b'/'
            && digits_at(s, start + 8, 2)
            && matches!(s[start + 10], b't' | b' ');
        if !date_ok {
            return None;
        }
        fraction_options(s, start + 19).map(|frac| start + 19 + frac).find(|&end| boundary_after(s, end))
    }
}

/// `\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b`
fn mask_bare_time(src: &[u8], dst: &mut Vec<u8>) -> bool {
    mask_anchored_on_clock(src, dst, 0, bare_time_at)
}

fn bare_time_at(s: &[u8], start: usize) -> Option<usize> {
    {
        if !boundary_before(s, start) {
            return None;
        }
        fraction_options(s, start + 8).map(|frac| start + 8 + frac).find(|&end| boundary_after(s, end))
    }
}

/// Go's `\s`: ASCII `[\t\n\f\r ]` (no `\v`).
#[inline]
fn is_go_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn starts_with_ci(s: &[u8], i: usize, lit: &[u8]) -> bool {
    s.len() >= i + lit.len() && s[i..i + lit.len()].eq_ignore_ascii_case(lit)
}

/// `(?i)(?:/tmp|/var/folders|/private/var/folders|/home/runner/work/_temp|c:\\users\\[^\\\s]+\\appdata\\local\\temp)[^\s:]*`
fn mask_tmp_paths(src: &[u8], dst: &mut Vec<u8>) -> bool {
    const SLASH_PREFIXES: [&[u8]; 4] =
        [b"/tmp", b"/var/folders", b"/private/var/folders", b"/home/runner/work/_temp"];
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while let Some(off) = memchr2(b'/', b'\\', &src[i..]) {
        let pos = i + off;
        let (start, prefix_end) = if src[pos] == b'/' {
            match SLASH_PREFIXES.iter().find(|p| starts_with_ci(src, pos, p)) {
                Some(p) => (pos, Some(pos + p.len())),
                None => (pos, None),
            }
        } else {
            // A backslash: the Windows alternative starts two bytes earlier, at `c:`.
            match pos.checked_sub(2) {
                Some(s) if s >= copied && starts_with_ci(src, s, b"c:\\users\\") => {
                    let user_start = s + 9;
                    let user_len =
                        src[user_start..].iter().take_while(|&&b| b != b'\\' && !is_go_space(b)).count();
                    let rest = user_start + user_len;
                    if user_len > 0 && starts_with_ci(src, rest, b"\\appdata\\local\\temp") {
                        (s, Some(rest + 19))
                    } else {
                        (s, None)
                    }
                }
                _ => (pos, None),
            }
        };
        match prefix_end {
            Some(mut end) => {
                end += src[end..].iter().take_while(|&&b| b != b':' && !is_go_space(b)).count();
                dst.extend_from_slice(&src[copied..start]);
                dst.extend_from_slice(TMP);
                copied = end;
                changed = true;
                i = end;
            }
            None => i = pos + 1,
        }
        if i >= src.len() {
            break;
        }
    }
    if changed {
        dst.extend_from_slice(&src[copied..]);
    }
    changed
}

#[inline]
fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn lower_hex_at(s: &[u8], i: usize, n: usize) -> bool {
    s.len() >= i + n && s[i..i + n].iter().all(|&b| is_lower_hex(b))
}

/// `\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`
fn mask_uuids(src: &[u8], dst: &mut Vec<u8>) -> bool {
    let mut copied = 0;
    let mut changed = false;
    for dash in memchr_iter(b'-', src) {
        let Some(start) = dash.checked_sub(8) else {
            continue;
        };
        if start < copied {
            continue;
        }
        let ok = boundary_before(src, start)
            && lower_hex_at(src, start, 8)
            && lower_hex_at(src, start + 9, 4)
            && src.get(start + 13) == Some(&b'-')
            && lower_hex_at(src, start + 14, 4)
            && src.get(start + 18) == Some(&b'-')
            && lower_hex_at(src, start + 19, 4)
            && src.get(start + 23) == Some(&b'-')
            && lower_hex_at(src, start + 24, 12)
            && boundary_after(src, start + 36);
        if ok {
            dst.extend_from_slice(&src[copied..start]);
            dst.extend_from_slice(ID);
            copied = start + 36;
            changed = true;
        }
    }
    if changed {
        dst.extend_from_slice(&src[copied..]);
    }
    changed
}

/// `\x1b\[[0-9;?]*[ -/]*[@-~]` removed. Backtracking can never help this regex (the three classes
/// are disjoint), so one greedy scan decides each sequence.
fn strip_ansi_into(src: &[u8], dst: &mut Vec<u8>) -> bool {
    let mut copied = 0;
    let mut changed = false;
    for esc in memchr_iter(0x1b, src) {
        if esc < copied || src.get(esc + 1) != Some(&b'[') {
            continue;
        }
        let mut i = esc + 2;
        while i < src.len() && matches!(src[i], b'0'..=b'9' | b';' | b'?') {
            i += 1;
        }
        while i < src.len() && (0x20..=0x2f).contains(&src[i]) {
            i += 1;
        }
        if i < src.len() && (0x40..=0x7e).contains(&src[i]) {
            dst.extend_from_slice(&src[copied..esc]);
            copied = i + 1;
            changed = true;
        }
    }
    if changed {
        dst.extend_from_slice(&src[copied..]);
    }
    changed
}

/// Steps 7–8: trim, collapse white space, optionally lower-case; appends to `out`.
/// `features` must be `classify(s)`.
fn finish(s: &[u8], features: u32, out: &mut Vec<u8>, lowercase: bool) -> usize {
    let start_len = out.len();
    let irregular = features & (features::ODD_SPACE | features::DOUBLE_SPACE | features::NON_ASCII) != 0
        || s.first() == Some(&b' ')
        || s.last() == Some(&b' ');
    if !irregular {
        // The common case: plain ASCII with single spaces only.
        out.extend_from_slice(s);
    } else if features & features::NON_ASCII == 0 {
        collapse_ascii(s, features, out);
    } else {
        collapse_unicode(s, out, lowercase);
        return out.len() - start_len;
    }
    if lowercase {
        out[start_len..].make_ascii_lowercase();
    }
    out.len() - start_len
}

const fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Trims and collapses ASCII white space, copying the runs between irregular spots in bulk.
fn collapse_ascii(s: &[u8], features: u32, out: &mut Vec<u8>) {
    let start = s.iter().position(|&b| !is_ascii_space(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ascii_space(b)).map_or(start, |i| i + 1);
    let mut rest = &s[start..end];
    let odd = features & features::ODD_SPACE != 0;
    let double = features & features::DOUBLE_SPACE != 0;
    loop {
        // The next place where white space is not a single space.
        let mut at = None;
        if double {
            at = memchr::memmem::find(rest, b"  ");
        }
        if odd {
            let tab = memchr::memchr3(b'\t', b'\n', b'\r', rest);
            let other = memchr2(0x0b, 0x0c, rest);
            for candidate in [tab, other].into_iter().flatten() {
                // A single space right before an odd one is part of the same run.
                let c = if candidate > 0 && rest[candidate - 1] == b' ' { candidate - 1 } else { candidate };
                at = Some(at.map_or(c, |a: usize| a.min(c)));
            }
        }
        let Some(i) = at else {
            out.extend_from_slice(rest);
            return;
        };
        out.extend_from_slice(&rest[..i]);
        out.push(b' ');
        let skip = rest[i..].iter().take_while(|&&b| is_ascii_space(b)).count();
        rest = &rest[i + skip..];
    }
}

/// The general path: Unicode white space and simple lower-casing, one scalar at a time.
fn collapse_unicode(s: &[u8], out: &mut Vec<u8>, lowercase: bool) {
    let start_len = out.len();
    out.reserve(s.len());
    let mut pending_space = false;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
                pending_space = out.len() > start_len;
            } else {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(if lowercase { b.to_ascii_lowercase() } else { b });
            }
            i += 1;
            continue;
        }
        // Non-ASCII: decode one scalar (Go decodes an invalid byte as U+FFFD of width 1).
        let (ch, width) = decode_utf8(&s[i..]);
        if ch.is_some_and(char::is_whitespace) {
            pending_space = out.len() > start_len;
            i += width;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        match ch {
            Some(c) if lowercase => {
                let lower = simple_lowercase(c);
                let mut buf = [0u8; 4];
                out.extend_from_slice(lower.encode_utf8(&mut buf).as_bytes());
            }
            Some(_) => out.extend_from_slice(&s[i..i + width]),
            None if lowercase => out.extend_from_slice("\u{FFFD}".as_bytes()),
            None => out.push(b),
        }
        i += width;
    }
}

/// Decodes the UTF-8 scalar at the start of `s`; `None` (width 1) for an invalid byte.
fn decode_utf8(s: &[u8]) -> (Option<char>, usize) {
    let width = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    match s.get(..width).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(text) => (text.chars().next(), width),
        None => (None, 1),
    }
}

/// Go's `unicode.ToLower`: one scalar in, one scalar out.
fn simple_lowercase(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = Vec::new();
        Normalizer::new().normalize(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn sanitized(s: &str) -> String {
        let mut out = Vec::new();
        Normalizer::new().sanitize(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        /// The SIMD path of `fold_lines_into` agrees with folding one byte at a time, line ends
        /// included, and blank lines are exactly those that normalise to nothing.
        #[test]
        fn folding_and_blank_detection_agree_with_their_definitions(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b' '), proptest::strategy::Just(b'\t'),
                proptest::strategy::Just(0x0b), proptest::strategy::Just(b'A'),
                proptest::strategy::Just(b'z'), proptest::strategy::Just(0x1b),
                proptest::strategy::Just(b'['), proptest::strategy::Just(b'm'),
                proptest::strategy::Just(0xc2), proptest::strategy::Just(0xa0),
                proptest::num::u8::ANY,
            ], 0..70),
            cuts in proptest::collection::vec(0usize..80, 0..6),
        ) {
            // The bytes cut into lines (some empty, the last ending at the end).
            let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
            ends.push(bytes.len());
            ends.sort_unstable();
            let mut folded = b"kept".to_vec();
            let mut folded_ends = vec![1];
            // Behind a line folded earlier: `from` skips it.
            let mut behind = b"EARLIER LINE".to_vec();
            behind.extend_from_slice(&bytes);
            let shifted: Vec<usize> = ends.iter().map(|e| e + 12).collect();
            fold_lines_into(&behind, 12, &shifted, &mut folded, &mut folded_ends);
            let mut want = b"kept".to_vec();
            let mut want_ends = vec![1];
            want_ends.extend(ends.iter().take_while(|&&e| e == 0).map(|_| want.len()));
            let mut prev_space = false;
            for (at, &b) in bytes.iter().enumerate() {
                // Written out here, not taken from FOLD, so a wrong table fails the test.
                let c = if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                    b' '
                } else {
                    b.to_ascii_lowercase()
                };
                if !(c == b' ' && prev_space) {
                    want.push(c);
                }
                prev_space = c == b' ';
                want_ends.extend(ends.iter().filter(|&&e| e == at + 1).map(|_| want.len()));
            }
            proptest::prop_assert_eq!(folded, want);
            proptest::prop_assert_eq!(folded_ends, want_ends);
            let mut normalized = Vec::new();
            Normalizer::new().normalize(&bytes, &mut normalized);
            proptest::prop_assert_eq!(is_blank(&bytes), normalized.is_empty());
        }
    }

    proptest::proptest! {
        /// `fold_frame_into` finds the lines `LineFramer` finds, and folds each as
        /// `fold_lines_into` folds a line alone, followed by a `\n`; the SIMD path (long runs
        /// without CR) agrees with the byte-at-a-time one.
        #[test]
        fn framing_while_folding_agrees_with_the_framer_and_with_folding_line_by_line(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b' '), proptest::strategy::Just(b'\t'),
                proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'\r'),
                proptest::strategy::Just(0x0c), proptest::strategy::Just(b'Q'),
                proptest::strategy::Just(b'x'), proptest::strategy::Just(b'-'),
                proptest::num::u8::ANY,
            ], 0..90),
            end_with_cr in proptest::bool::ANY,
        ) {
            let mut text = bytes.clone();
            text.push(if end_with_cr { b'\r' } else { b'\n' });
            let mut want_lines = Vec::new();
            let mut framer = crate::frame::LineFramer::new(1 << 20);
            framer.push(&text, |l| want_lines.push(l.text.to_vec()));
            framer.flush(|l| want_lines.push(l.text.to_vec()));
            let mut want = b"kept".to_vec();
            for line in &want_lines {
                fold_lines_into(line, 0, &[line.len()], &mut want, &mut Vec::new());
                want.push(b'\n');
            }

            let mut folded = b"kept".to_vec();
            let mut lines = Vec::new();
            let mut ends = Vec::new();
            let n = fold_frame_into(&text, &mut folded, |start, end, folded_end| {
                lines.push(text[start..end].to_vec());
                ends.push(folded_end);
            });
            proptest::prop_assert_eq!(n as usize, lines.len());
            proptest::prop_assert_eq!(&lines, &want_lines);
            proptest::prop_assert_eq!(&folded, &want);
            proptest::prop_assert!(ends.iter().all(|&e| folded[e] == b'\n'));
            proptest::prop_assert_eq!(ends.len(), folded.iter().filter(|&&b| b == b'\n').count());
        }
    }

    #[test]
    fn an_escape_that_starts_no_sequence_is_kept_as_it_is() {
        assert_eq!(&*strip_ansi(b"a\x1b b"), b"a\x1b b");
        assert_eq!(&*strip_ansi(b"\x1b[1mbold\x1b[0m"), b"bold");
    }

    #[test]
    fn strips_ansi_sequences() {
        assert_eq!(norm("\x1b[31;1mError\x1b[0m: boom"), "error: boom");
        assert_eq!(norm("\x1b[?25lhidden"), "hidden");
        // An ESC that starts no complete sequence stays.
        assert_eq!(norm("a\x1b[31"), "a\x1b[31");
    }

    #[test]
    fn masks_rfc3339_date_times() {
        assert_eq!(norm("2024-05-01T10:00:00.123z start"), "<timestamp> start");
        assert_eq!(norm("at 2024-05-01 10:00:00+02:00 x"), "at <timestamp> x");
        assert_eq!(norm("2024-05-01t10:00:00-0700"), "<timestamp>");
        // Upper-case Z is not part of the regex: the match stops before the fraction.
        assert_eq!(norm("2024-05-01T10:00:00.123Z"), "<timestamp>.123z");
        // No word boundary before the date, and none before the clock: nothing is masked.
        assert_eq!(norm("x2024-05-01T10:00:00"), "x2024-05-01t10:00:00");
    }

    #[test]
    fn masks_slash_and_bare_times() {
        assert_eq!(norm("2024/05/01 10:00:00.5 ok"), "<timestamp> ok");
        assert_eq!(norm("[10:00:00] ok"), "[<timestamp>] ok");
        assert_eq!(norm("took 1:00:00"), "took 1:00:00");
        assert_eq!(norm("12:00:00:00"), "<timestamp>:00");
    }

    #[test]
    fn masks_temp_paths_and_uuids() {
        assert_eq!(norm("open /tmp/build-1/x.o: denied"), "open <tmp>: denied");
        assert_eq!(norm("/var/TMP/x"), "/var<tmp>");
        assert_eq!(norm(r"at C:\Users\ci\AppData\Local\Temp\a.txt"), "at <tmp>");
        assert_eq!(norm("req 123e4567-e89b-12d3-a456-426614174000 done"), "req <id> done");
        assert_eq!(norm("123E4567-E89B-12D3-A456-426614174000"), "123e4567-e89b-12d3-a456-426614174000");
    }

    #[test]
    fn masks_apply_in_sequence() {
        // The bare time is masked before the temp path, so the path swallows the token.
        assert_eq!(norm("/tmp/run-10:00:00 done"), "<tmp> done");
    }

    #[test]
    fn collapses_white_space_and_lowercases() {
        assert_eq!(norm("  Foo\t\tBAR \u{a0} baz  "), "foo bar baz");
        assert_eq!(norm("ÄÖÜ İ"), "äöü i");
        assert_eq!(norm(" \t "), "");
        assert_eq!(sanitized("  Foo\t\tBAR "), "Foo BAR");
    }

    #[test]
    fn invalid_utf8_is_tolerated() {
        let mut out = Vec::new();
        Normalizer::new().normalize(b"bad \xff byte", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "bad \u{FFFD} byte");
    }

    #[test]
    fn patterns_are_trimmed_collapsed_lowercased() {
        assert_eq!(normalize_pattern("  Connection   Refused "), "connection refused");
    }
}
