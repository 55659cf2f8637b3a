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

/// A byte *folded*: ASCII upper case lower-cased, ASCII white space (line breaks included) a
/// space, anything else unchanged. A line's folded form — its bytes folded, each run of spaces
/// then one space — is what the matcher's pre-scan looks at (see `Matcher::prescan`): for an
/// ASCII line without escape sequences, every pattern found in its normalised form has a part
/// found in the folded one.
#[inline(always)]
pub fn fold_ascii(b: u8) -> u8 {
    // A table: one load, on the pre-scan's path for every hit it checks.
    static FOLD: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = if is_ascii_space(c) { b' ' } else { c.to_ascii_lowercase() };
            b += 1;
        }
        table
    };
    FOLD[b as usize]
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

    #[test]
    fn folding_a_byte_lower_cases_ascii_and_turns_white_space_into_a_space() {
        for b in 0..=255u8 {
            // Written out here, not derived from `is_ascii_space`, so a wrong set fails the test.
            let want = if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                b' '
            } else {
                b.to_ascii_lowercase()
            };
            assert_eq!(fold_ascii(b), want, "byte {b:#04x}");
        }
    }

    proptest::proptest! {
        /// Blank lines are exactly those that normalise to nothing.
        #[test]
        fn blank_detection_agrees_with_normalising(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b' '), proptest::strategy::Just(b'\t'),
                proptest::strategy::Just(0x0b), proptest::strategy::Just(b'A'),
                proptest::strategy::Just(b'z'), proptest::strategy::Just(0x1b),
                proptest::strategy::Just(b'['), proptest::strategy::Just(b'm'),
                proptest::strategy::Just(0xc2), proptest::strategy::Just(0xa0),
                proptest::num::u8::ANY,
            ], 0..70),
        ) {
            let mut normalized = Vec::new();
            Normalizer::new().normalize(&bytes, &mut normalized);
            proptest::prop_assert_eq!(is_blank(&bytes), normalized.is_empty());
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
