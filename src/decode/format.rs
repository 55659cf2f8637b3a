//! The line formats container runtimes write, and their timestamps.
//!
//! * **docker json-file** (`/var/lib/docker/containers/<id>/<id>-json.log`): one JSON object per
//!   line, `{"log":"text\n","stream":"stdout","time":"2026-11-26T10:00:00.123456789Z"}`. Docker
//!   splits messages at 16 KiB; a chunk whose `log` does not end with `\n` is *partial* and the
//!   next chunk of the same stream continues it.
//! * **CRI** (containerd, CRI-O; `/var/log/pods/…/<n>.log`):
//!   `<RFC 3339 nano> <stdout|stderr> <P|F>[:more tags] <message>`; `P` is a partial line continued
//!   by the next line of the same stream, `F` ends the message.
//! * **timestamped**: what the Docker Engine API (`/containers/{id}/logs?timestamps=1`) and
//!   `docker logs -t` give: `<RFC 3339 nano> <message>`.
//!
//! Parsing never allocates unless a JSON string holds escapes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch (a log's own timestamp).
pub type Nanos = i64;

/// How the lines of an input are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Text as written.
    #[default]
    Plain,
    /// Decided by the first non-empty line: docker json-file, CRI, else plain.
    Auto,
    DockerJson,
    Cri,
    /// `<RFC 3339> <message>` (Docker Engine API with timestamps).
    Timestamped,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Auto => "auto",
            Format::DockerJson => "docker-json",
            Format::Cri => "cri",
            Format::Timestamped => "timestamped",
        }
    }
}

/// Channel of a message: docker and CRI files interleave stdout and stderr, which are joined
/// (partial lines, multi-line records) separately.
pub const STDOUT: usize = 0;
pub const STDERR: usize = 1;

/// One physical line, decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub channel: usize,
    /// The log's own timestamp, when the format has one.
    pub time: Option<Nanos>,
    /// The message continues on the next line of the same channel.
    pub partial: bool,
    pub msg: Cow<'a, [u8]>,
}

impl<'a> Parsed<'a> {
    pub fn plain(line: &'a [u8]) -> Self {
        Parsed { channel: STDOUT, time: None, partial: false, msg: Cow::Borrowed(line) }
    }
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
}

/// A docker json-file line. The error names what is wrong.
pub fn docker_json(line: &[u8]) -> Result<Parsed<'_>, String> {
    let j: JsonLine<'_> = serde_json::from_slice(line).map_err(|e| {
        let what = e.to_string();
        // serde_json's message ends with " at line 1 column N"; the column is what helps.
        format!("not a docker json-file line: {what}")
    })?;
    let channel = match j.stream.as_deref() {
        None | Some("stdout") => STDOUT,
        Some("stderr") => STDERR,
        Some(other) => return Err(format!("field `stream`: unknown stream {other:?}")),
    };
    let time = match j.time.as_deref() {
        None => None,
        Some(t) => {
            Some(parse_rfc3339(t.as_bytes()).ok_or_else(|| format!("field `time`: not RFC 3339: {t:?}"))?)
        }
    };
    let mut msg: Cow<'_, [u8]> = match j.log {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    };
    let partial = !msg.ends_with(b"\n");
    if !partial {
        let keep = msg.len() - if msg.ends_with(b"\r\n") { 2 } else { 1 };
        match &mut msg {
            Cow::Borrowed(b) => *b = &b[..keep],
            Cow::Owned(v) => v.truncate(keep),
        }
    }
    Ok(Parsed { channel, time, partial, msg })
}

/// A CRI line. The error names the field that is wrong.
pub fn cri(line: &[u8]) -> Result<Parsed<'_>, String> {
    let mut rest = line;
    let mut field = |name: &str| -> Result<&[u8], String> {
        if rest.is_empty() {
            return Err(format!("not a CRI line: no {name} field"));
        }
        let (f, r) = match memchr::memchr(b' ', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = r;
        Ok(f)
    };
    let ts = field("time")?;
    let time = parse_rfc3339(ts).ok_or_else(|| {
        format!("not a CRI line: time field {:?} is not RFC 3339", String::from_utf8_lossy(ts))
    })?;
    let channel = match field("stream")? {
        b"stdout" => STDOUT,
        b"stderr" => STDERR,
        other => return Err(format!("not a CRI line: unknown stream {:?}", String::from_utf8_lossy(other))),
    };
    let tags = field("tag")?;
    let partial = match tags.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(format!("not a CRI line: unknown tag {:?}", String::from_utf8_lossy(tags))),
    };
    Ok(Parsed { channel, time: Some(time), partial, msg: Cow::Borrowed(rest) })
}

/// A `<RFC 3339> <message>` line; a line without a leading timestamp is taken whole, untimed.
pub fn timestamped(line: &[u8]) -> Parsed<'_> {
    match parse_rfc3339_prefix(line) {
        Some((time, len)) if line.len() == len || line[len] == b' ' => Parsed {
            channel: STDOUT,
            time: Some(time),
            partial: false,
            msg: Cow::Borrowed(&line[(len + 1).min(line.len())..]),
        },
        _ => Parsed::plain(line),
    }
}

/// The format of a file, judged by one of its lines.
pub fn detect(line: &[u8]) -> Format {
    if line.first() == Some(&b'{') && docker_json(line).is_ok() {
        Format::DockerJson
    } else if cri(line).is_ok() {
        Format::Cri
    } else {
        Format::Plain
    }
}

/// Parses a whole RFC 3339 date-time (`2026-11-26T10:00:00.123456789Z`, `…+02:00`).
pub fn parse_rfc3339(s: &[u8]) -> Option<Nanos> {
    parse_rfc3339_prefix(s).filter(|&(_, len)| len == s.len()).map(|(t, _)| t)
}

/// Parses an RFC 3339 date-time at the start of `s`: its value and length.
pub fn parse_rfc3339_prefix(s: &[u8]) -> Option<(Nanos, usize)> {
    fn num(s: &[u8], at: usize, len: usize) -> Option<i64> {
        let d = s.get(at..at + len)?;
        d.iter().try_fold(0i64, |n, &b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')))
    }
    let sep = |at: usize, c: &[u8]| s.get(at).is_some_and(|b| c.contains(b));
    let year = num(s, 0, 4)?;
    let month = num(s, 5, 2)?;
    let day = num(s, 8, 2)?;
    let (hour, minute, second) = (num(s, 11, 2)?, num(s, 14, 2)?, num(s, 17, 2)?);
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if sep(at, b".") {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(s[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match s.get(at)? {
        b'Z' | b'z' => {
            at += 1;
            0
        }
        b'+' | b'-' => {
            let sign = if s[at] == b'-' { -1 } else { 1 };
            let (h, m) = (num(s, at + 1, 2)?, num(s, at + 4, 2)?);
            if !sep(at + 3, b":") {
                return None;
            }
            at += 6;
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some((secs.checked_mul(1_000_000_000)?.checked_add(nanos)?, at))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch of a log timestamp (0 before the epoch).
pub fn to_millis(t: Nanos) -> u64 {
    u64::try_from(t.div_euclid(1_000_000)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_nanos_offsets_and_leap_days() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339(b"2026-11-26T10:00:00.123456789Z"), Some(1_795_687_200_123_456_789));
        assert_eq!(parse_rfc3339(b"2026-11-26T12:00:00.5+02:00"), Some(1_795_687_200_500_000_000));
        assert_eq!(parse_rfc3339(b"2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        // More than nine fraction digits are accepted and truncated.
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:01.0000000019Z"), Some(1_000_000_001));
        for bad in [
            &b"2026-11-26"[..],
            b"2026-13-01T00:00:00Z",
            b"2026-11-26T10:00:00",
            b"2026-11-26T10:00:00.Z",
            b"x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn docker_json_lines_partial_and_escaped() {
        let p = docker_json(br#"{"log":"hello\n","stream":"stderr","time":"1970-01-01T00:00:01Z"}"#).unwrap();
        assert_eq!(
            (p.channel, p.time, p.partial, &p.msg[..]),
            (STDERR, Some(1_000_000_000), false, &b"hello"[..])
        );
        let p =
            docker_json(br#"{"log":"tab\there","stream":"stdout","time":"1970-01-01T00:00:01Z"}"#).unwrap();
        assert!(p.partial);
        assert_eq!(&p.msg[..], b"tab\there");
        let p = docker_json(
            br#"{"log":"crlf\r\n","stream":"stdout","time":"1970-01-01T00:00:01Z","attrs":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(&p.msg[..], b"crlf");
        let e = docker_json(br#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#).unwrap_err();
        assert!(e.contains("field `time`"), "{e}");
        let e = docker_json(b"plain text").unwrap_err();
        assert!(e.starts_with("not a docker json-file line"), "{e}");
    }

    #[test]
    fn cri_lines_with_tags_and_empty_messages() {
        let p = cri(b"2026-11-26T10:00:00.1Z stdout F hello world").unwrap();
        assert_eq!((p.channel, p.partial, &p.msg[..]), (STDOUT, false, &b"hello world"[..]));
        let p = cri(b"2026-11-26T10:00:00.1Z stderr P:x part").unwrap();
        assert_eq!((p.channel, p.partial, &p.msg[..]), (STDERR, true, &b"part"[..]));
        assert_eq!(&cri(b"2026-11-26T10:00:00.1Z stdout F").unwrap().msg[..], b"");
        assert!(cri(b"2026-11-26T10:00:00.1Z stdin F x").unwrap_err().contains("unknown stream"));
        assert!(cri(b"2026-11-26T10:00:00.1Z stdout Q x").unwrap_err().contains("unknown tag"));
        assert!(cri(b"hello stdout F x").is_err());
    }

    #[test]
    fn timestamped_lines_and_detection() {
        let p = timestamped(b"2026-11-26T10:00:00.000000001Z boom");
        assert_eq!((p.time, &p.msg[..]), (Some(1_795_687_200_000_000_001), &b"boom"[..]));
        assert_eq!(timestamped(b"no time here").time, None);
        assert_eq!(
            detect(br#"{"log":"x\n","stream":"stdout","time":"2026-11-26T10:00:00Z"}"#),
            Format::DockerJson
        );
        assert_eq!(detect(b"2026-11-26T10:00:00Z stdout F x"), Format::Cri);
        assert_eq!(detect(b"2026-11-26T10:00:00Z INFO started"), Format::Plain);
        assert_eq!(detect(br#"{"level":"info"}"#), Format::Plain);
    }
}
