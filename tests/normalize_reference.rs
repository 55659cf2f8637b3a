//! The hand-compiled normaliser against Faultline's own regexes, applied one after another with a
//! regex engine of the same (leftmost-first, linear-time) semantics. Any difference is a bug.

use faultline::normalize::Normalizer;
use proptest::prelude::*;
use regex::bytes::Regex;

static REFERENCE: std::sync::LazyLock<Reference> = std::sync::LazyLock::new(Reference::new);

struct Reference {
    steps: Vec<(Regex, &'static [u8])>,
}

impl Reference {
    fn new() -> Self {
        let r = |s: &str| Regex::new(s).unwrap();
        Reference {
            steps: vec![
                (r(r"(?-u)\x1b\[[0-9;?]*[ -/]*[@-~]"), b""),
                (
                    r(r"(?-u)\b\d{4}-\d{2}-\d{2}[tT ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?\b"),
                    b"<timestamp>",
                ),
                (r(r"(?-u)\b\d{4}/\d{2}/\d{2}[ t]\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), b"<timestamp>"),
                (r(r"(?-u)\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b"), b"<timestamp>"),
                (
                    r(
                        r"(?i-u)(?:/tmp|/var/folders|/private/var/folders|/home/runner/work/_temp|c:\\users\\[^\\\t\n\x0c\r ]+\\appdata\\local\\temp)[^\t\n\x0c\r :]*",
                    ),
                    b"<tmp>",
                ),
                (r(r"(?-u)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), b"<id>"),
            ],
        }
    }

    /// Faultline's NormalizeLine on valid UTF-8 input.
    fn normalize(&self, line: &str) -> String {
        let mut s = line.as_bytes().to_vec();
        for (re, rep) in &self.steps {
            s = re.replace_all(&s, *rep).into_owned();
        }
        let s = String::from_utf8(s).unwrap();
        let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
        joined
            .chars()
            .map(|c| {
                if c == '\u{130}' {
                    'i'
                } else {
                    let mut l = c.to_lowercase();
                    match (l.next(), l.next()) {
                        (Some(x), None) => x,
                        _ => c,
                    }
                }
            })
            .collect()
    }
}

fn fast(line: &str) -> String {
    let mut out = Vec::new();
    Normalizer::new().normalize(line.as_bytes(), &mut out);
    String::from_utf8(out).unwrap()
}

/// Lines built from the pieces the masks care about, so collisions are frequent.
fn line_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("2024-05-01".to_string()),
        Just("2024/05/01".to_string()),
        Just("10:00:00".to_string()),
        Just("23:59:59.123".to_string()),
        Just("T".to_string()),
        Just("t".to_string()),
        Just("z".to_string()),
        Just("Z".to_string()),
        Just("+02:00".to_string()),
        Just("-0700".to_string()),
        Just(".5".to_string()),
        Just("/tmp".to_string()),
        Just("/TMP/x".to_string()),
        Just("/var/folders/ab".to_string()),
        Just("/private/var/folders/q".to_string()),
        Just("/home/runner/work/_temp/s.sh".to_string()),
        Just(r"C:\Users\ci\AppData\Local\Temp\f".to_string()),
        Just("123e4567-e89b-12d3-a456-426614174000".to_string()),
        Just("\x1b[31m".to_string()),
        Just("\x1b[0;1;32m".to_string()),
        Just("\x1b[".to_string()),
        Just(" ".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just("\u{a0}".to_string()),
        Just(":".to_string()),
        Just("-".to_string()),
        Just("/".to_string()),
        Just("_".to_string()),
        Just("Error".to_string()),
        Just("ÄÖ".to_string()),
        "[a-zA-Z0-9]{1,4}",
        "[0-9]{1,3}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
    #[test]
    fn matches_faultline_regexes(line in line_strategy()) {
        prop_assert_eq!(fast(&line), REFERENCE.normalize(&line), "line: {:?}", line);
    }
}

#[test]
fn known_tricky_lines() {
    let reference = Reference::new();
    for line in [
        "2024-05-01T10:00:00.123Z",
        "2024-05-01T10:00:00.123z",
        "x2024-05-01T10:00:00",
        "/tmp/run-10:00:00 done",
        "12:00:00:00",
        "2024/05/01t10:00:00.12.5",
        "2024-05-01 10:00:00+0200z",
        r"c:\users\a b\appdata\local\temp",
        "123e4567-e89b-12d3-a456-426614174000-123e4567-e89b-12d3-a456-426614174000",
        "\x1b[31m\x1b[31mx",
    ] {
        assert_eq!(fast(line), reference.normalize(line), "{line:?}");
    }
}
