//! One pass over a line that tells which normalisation steps it can possibly need, so the
//! common line (no escape sequence, no clock, plain single-spaced ASCII) costs one scan and one
//! copy. On x86-64 the scan uses SSE2 (part of the x86-64 baseline, so no run-time detection);
//! elsewhere a scalar loop computes the same flags. A property test checks they always agree.

/// Feature bits returned by [`classify`].
pub mod features {
    /// An ESC byte (0x1b): ANSI sequences may need stripping.
    pub const ESC: u32 = 1;
    /// A `:` (every date-time mask contains `hh:mm:ss`).
    pub const COLON: u32 = 2;
    /// A `/` or `\\` (temp paths).
    pub const SLASH: u32 = 4;
    /// A `-` (UUIDs).
    pub const DASH: u32 = 8;
    /// A tab, LF, VT, FF or CR.
    pub const ODD_SPACE: u32 = 16;
    /// A byte >= 0x80 (Unicode white space or case mapping may apply).
    pub const NON_ASCII: u32 = 32;
    /// Two spaces in a row.
    pub const DOUBLE_SPACE: u32 = 64;
}

use features::*;

#[inline]
fn byte_features(b: u8) -> u32 {
    match b {
        0x1b => ESC,
        b':' => COLON,
        b'/' | b'\\' => SLASH,
        b'-' => DASH,
        0x09..=0x0d => ODD_SPACE,
        0x80..=0xff => NON_ASCII,
        _ => 0,
    }
}

/// Scalar reference implementation.
pub fn classify_scalar(s: &[u8]) -> u32 {
    let mut flags = 0;
    let mut prev_space = false;
    for &b in s {
        flags |= byte_features(b);
        let space = b == b' ';
        if space && prev_space {
            flags |= DOUBLE_SPACE;
        }
        prev_space = space;
    }
    flags
}

#[cfg(target_arch = "x86_64")]
pub fn classify(s: &[u8]) -> u32 {
    use std::arch::x86_64::*;
    if s.len() < 16 {
        return classify_scalar(s);
    }
    let mut flags = 0u32;
    // SAFETY: SSE2 is part of the x86-64 baseline. Every load reads the 16 bytes at `at` with
    // `at + 16 <= s.len()` (the last block overlaps the one before it when the length is not a
    // multiple of 16), and `_mm_loadu_si128` has no alignment requirement.
    unsafe {
        let splat = |b: u8| _mm_set1_epi8(b as i8);
        let (esc, colon, slash, backslash, dash, space) =
            (splat(0x1b), splat(b':'), splat(b'/'), splat(b'\\'), splat(b'-'), splat(b' '));
        let (nine, four) = (splat(9), splat(4));
        let zero = _mm_setzero_si128();
        let (mut acc_esc, mut acc_colon, mut acc_slash, mut acc_dash, mut acc_odd, mut acc_high) =
            (zero, zero, zero, zero, zero, zero);
        // Bit 15 of the previous block's space mask, moved to bit -1 of this one.
        let mut prev_space_top = 0u32;
        let mut double = 0u32;
        let last = s.len() - 16;
        let mut at = 0;
        loop {
            let v = _mm_loadu_si128(s.as_ptr().add(at) as *const __m128i);
            acc_esc = _mm_or_si128(acc_esc, _mm_cmpeq_epi8(v, esc));
            acc_colon = _mm_or_si128(acc_colon, _mm_cmpeq_epi8(v, colon));
            acc_slash =
                _mm_or_si128(acc_slash, _mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmpeq_epi8(v, backslash)));
            acc_dash = _mm_or_si128(acc_dash, _mm_cmpeq_epi8(v, dash));
            // 9..=13 as unsigned: (v - 9) <= 4.
            let t = _mm_sub_epi8(v, nine);
            acc_odd = _mm_or_si128(acc_odd, _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
            acc_high = _mm_or_si128(acc_high, v);
            let sp = _mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) as u32;
            double |= sp & ((sp << 1) | prev_space_top);
            if at == last {
                break;
            }
            // The next block starts right after this one, or overlaps it so as to end at the end
            // (then the pair across the seam lies inside the overlapping block: no carry).
            let next = (at + 16).min(last);
            prev_space_top = if next == at + 16 { sp >> 15 } else { 0 };
            at = next;
        }
        let any = |acc: __m128i| _mm_movemask_epi8(acc) != 0;
        flags |= if any(acc_esc) { ESC } else { 0 }
            | if any(acc_colon) { COLON } else { 0 }
            | if any(acc_slash) { SLASH } else { 0 }
            | if any(acc_dash) { DASH } else { 0 }
            | if any(acc_odd) { ODD_SPACE } else { 0 }
            | if any(acc_high) { NON_ASCII } else { 0 }
            | if double != 0 { DOUBLE_SPACE } else { 0 };
    }
    flags
}

#[cfg(not(target_arch = "x86_64"))]
pub fn classify(s: &[u8]) -> u32 {
    classify_scalar(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simd_agrees_with_scalar(bytes in proptest::collection::vec(prop_oneof![
            Just(b' '), Just(b':'), Just(b'-'), Just(b'/'), Just(b'\\'), Just(0x1b), Just(b'\t'),
            Just(0x0d), Just(0x0e), Just(0x08), Just(0x80), Just(0xff), Just(b'a'), any::<u8>(),
        ], 0..80)) {
            prop_assert_eq!(classify(&bytes), classify_scalar(&bytes));
        }
    }

    #[test]
    fn double_space_across_block_boundary() {
        let mut s = vec![b'x'; 15];
        s.push(b' ');
        s.push(b' ');
        s.extend_from_slice(&[b'y'; 20]);
        assert_eq!(classify(&s) & DOUBLE_SPACE, DOUBLE_SPACE);
        assert_eq!(classify(&[b'a'; 40]), 0);
    }
}
