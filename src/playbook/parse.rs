//! YAML text → [`Playbook`], with every problem reported as a [`Diagnostic`] at its line and column.
//!
//! The top level and `match` are read by hand-written visitors so that unknown keys are recorded
//! (with their position) instead of rejected: Faultline packs carry keys we do not use, and they
//! must load as-is. Values are read with `serde_saphyr::Spanned` so semantic errors (an invalid
//! regex, an unknown severity) point at the exact value.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::model::*;
use crate::diagnostic::{Diagnostic, from_yaml_error};
use crate::matcher::validate_regex;
use crate::normalize::normalize_pattern;

/// Parses one playbook file. Returns the playbook when it has no errors, plus all diagnostics
/// (errors and load-time warnings such as ignored keys).
pub fn parse_playbook(text: &str, origin: Origin) -> (Option<Playbook>, Vec<Diagnostic>) {
    let file = origin.path.clone();
    if text.trim().is_empty() {
        return (None, vec![Diagnostic::error(&file, None, "empty file: expected a playbook mapping")]);
    }
    let raw: Spanned<RawPlaybook> = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return (None, vec![from_yaml_error(&file, &e)]),
    };
    let top = loc(&raw.referenced);
    let (playbook, diags) = build(raw.value, top, origin);
    let hash = {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    };
    (playbook.map(|p| Playbook { content_hash: hash, ..p }), diags)
}

pub(crate) fn loc(l: &serde_saphyr::Location) -> Loc {
    Loc { line: l.line() as u32, col: l.column() as u32 }
}

fn spanned_loc<T>(s: &Spanned<T>) -> Loc {
    loc(&s.referenced)
}

// ---------------------------------------------------------------------------------------------
// Raw (as-written) structures.

/// A pattern as written: a scalar is a literal; `{regex: …}` is a regex.
#[derive(Debug, Clone)]
pub(crate) enum RawPattern {
    Literal(String),
    Regex(String),
}

impl<'de> Deserialize<'de> for RawPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPattern;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pattern: a string, or a mapping {regex: \"...\"}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(s))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawPattern, E> {
                Ok(RawPattern::Literal(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPattern, A::Error> {
                let mut regex = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "regex" => regex = Some(map.next_value::<String>()?),
                        other => return Err(de::Error::unknown_field(other, &["regex"])),
                    }
                }
                regex.map(RawPattern::Regex).ok_or_else(|| de::Error::missing_field("regex"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A prose section: a string or a list of strings.
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text or a list of texts")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
                Ok(Text::Markdown(s.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::Empty)
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::Empty)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(Text::Items(items))
            }
        }
        d.deserialize_any(V)
    }
}

type SpannedPatterns = Option<Vec<Spanned<RawPattern>>>;

#[derive(Debug, Default)]
struct RawMatch {
    any: SpannedPatterns,
    all: SpannedPatterns,
    none: SpannedPatterns,
    partial: Option<Vec<RawPartial>>,
    hints: SpannedPatterns,
    unknown: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMatch;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with any, all, none, partial or hints")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawMatch, E> {
                Ok(RawMatch::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMatch, A::Error> {
                let mut m = RawMatch::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "any" => m.any = map.next_value()?,
                        "all" => m.all = map.next_value()?,
                        "none" => m.none = map.next_value()?,
                        "partial" => m.partial = map.next_value()?,
                        "hints" => m.hints = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            m.unknown.push(key);
                        }
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
struct RawPartial {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    minimum: Option<u32>,
    #[serde(default)]
    patterns: SpannedPatterns,
}

/// A `threshold` block as written, in a playbook or in the config (`thresholds:`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreshold {
    #[serde(default)]
    count: Option<Spanned<u32>>,
    #[serde(default)]
    window: Option<Spanned<String>>,
    #[serde(default)]
    settle: Option<Spanned<String>>,
    #[serde(default)]
    cooldown: Option<Spanned<String>>,
    #[serde(default)]
    min_confidence: Option<Spanned<f64>>,
}

impl RawThreshold {
    /// Checks the block and converts it; each problem goes to `error` with its position, its
    /// field named `{what}.{field}`.
    pub(crate) fn validate(&self, what: &str, mut error: impl FnMut(Loc, String)) -> Threshold {
        let mut duration = |v: &Option<Spanned<String>>, field: &str| {
            let v = v.as_ref()?;
            crate::duration::parse(&v.value)
                .map_err(|msg| error(spanned_loc(v), format!("{what}.{field}: {msg}")))
                .ok()
        };
        let window = duration(&self.window, "window");
        let settle = duration(&self.settle, "settle");
        let cooldown = duration(&self.cooldown, "cooldown");
        if let (Some(w), Some(std::time::Duration::ZERO)) = (&self.window, window) {
            error(spanned_loc(w), format!("{what}.window must be longer than 0"));
        }
        if let Some(c) = self.count.as_ref().filter(|c| c.value == 0) {
            error(spanned_loc(c), format!("{what}.count must be at least 1"));
        }
        if let Some(m) = self.min_confidence.as_ref().filter(|m| !(0.0..=1.0).contains(&m.value)) {
            error(spanned_loc(m), format!("{what}.min_confidence must be between 0 and 1"));
        }
        Threshold {
            count: self.count.as_ref().map(|c| c.value),
            window,
            settle,
            cooldown,
            min_confidence: self.min_confidence.as_ref().map(|m| m.value),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct RawWorkflow {
    #[serde(default)]
    likely_files: Option<Vec<String>>,
    #[serde(default)]
    local_repro: Option<Vec<String>>,
    #[serde(default)]
    verify: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct RawSignal {
    signal: Spanned<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct RawHypothesis {
    #[serde(default)]
    supports: Option<Vec<RawSignal>>,
    #[serde(default)]
    contradicts: Option<Vec<RawSignal>>,
    #[serde(default)]
    discriminators: Option<Vec<RawSignal>>,
    #[serde(default)]
    excludes: Option<Vec<RawSignal>>,
}

#[derive(Debug, Default)]
struct RawPlaybook {
    id: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    category: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    base_score: Option<f64>,
    tags: Option<Vec<String>>,
    stage_hints: Option<Vec<Spanned<String>>>,
    matching: Option<Spanned<RawMatch>>,
    threshold: Option<Spanned<RawThreshold>>,
    summary: Option<String>,
    diagnosis: Option<String>,
    fix: Option<Text>,
    validation: Option<Text>,
    why_it_matters: Option<String>,
    prevention: Option<Text>,
    workflow: Option<RawWorkflow>,
    hypothesis: Option<RawHypothesis>,
    detector: Option<String>,
    unknown: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawPlaybook {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPlaybook;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a playbook mapping (id, title, match, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPlaybook, A::Error> {
                let mut p = RawPlaybook::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "id" => p.id = map.next_value()?,
                        "title" => p.title = map.next_value()?,
                        "category" => p.category = map.next_value()?,
                        "severity" => p.severity = map.next_value()?,
                        "base_score" => p.base_score = map.next_value()?,
                        "tags" => p.tags = map.next_value()?,
                        "stage_hints" => p.stage_hints = map.next_value()?,
                        "match" => p.matching = map.next_value()?,
                        "threshold" => p.threshold = map.next_value()?,
                        "summary" => p.summary = map.next_value()?,
                        "diagnosis" => p.diagnosis = map.next_value()?,
                        "fix" => p.fix = map.next_value()?,
                        "validation" => p.validation = map.next_value()?,
                        "why_it_matters" => p.why_it_matters = map.next_value()?,
                        "prevention" => p.prevention = map.next_value()?,
                        "workflow" => p.workflow = map.next_value()?,
                        "hypothesis" => p.hypothesis = map.next_value()?,
                        "detector" => p.detector = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            p.unknown.push(key);
                        }
                    }
                }
                Ok(p)
            }
        }
        d.deserialize_map(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation: raw → model.

struct Builder<'a> {
    file: &'a str,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn error(&mut self, loc: Loc, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(self.file, Some(loc), msg));
    }

    fn required(&mut self, field: &str, value: Option<Spanned<String>>, top: Loc) -> (String, Loc) {
        match value {
            Some(v) if !v.value.trim().is_empty() => {
                let l = spanned_loc(&v);
                (v.value.trim().to_string(), l)
            }
            Some(v) => {
                let l = spanned_loc(&v);
                self.error(l, format!("`{field}` is empty"));
                (String::new(), l)
            }
            None => {
                self.error(top, format!("missing required field `{field}`"));
                (String::new(), top)
            }
        }
    }

    fn patterns(&mut self, list: SpannedPatterns, field: &str) -> Vec<Pattern> {
        let mut out = Vec::new();
        for item in list.unwrap_or_default() {
            let at = spanned_loc(&item);
            let kind = match item.value {
                RawPattern::Literal(s) => {
                    if normalize_pattern(&s).is_empty() {
                        self.error(at, format!("empty pattern in `{field}`"));
                        continue;
                    }
                    PatternKind::Literal(s)
                }
                RawPattern::Regex(s) => {
                    if let Err(msg) = validate_regex(&s) {
                        self.error(at, format!("{msg} (in `{field}`: {s:?})"));
                        continue;
                    }
                    PatternKind::Regex(s)
                }
            };
            out.push(Pattern { kind, loc: at });
        }
        out
    }

    fn signals(&mut self, list: Option<Vec<RawSignal>>) -> Vec<Signal> {
        list.unwrap_or_default()
            .into_iter()
            .map(|s| Signal {
                loc: spanned_loc(&s.signal),
                signal: s.signal.value.trim().to_string(),
                weight: s.weight,
                description: s.description.unwrap_or_default(),
            })
            .collect()
    }
}

/// Key of a pattern for "same pattern" comparisons: kind plus normalised text.
pub(crate) fn pattern_key(p: &Pattern) -> (bool, String) {
    match &p.kind {
        PatternKind::Literal(s) => (false, normalize_pattern(s)),
        PatternKind::Regex(s) => (true, s.clone()),
    }
}

fn build(raw: RawPlaybook, top: Loc, origin: Origin) -> (Option<Playbook>, Vec<Diagnostic>) {
    let file = origin.path.clone();
    let mut b = Builder { file: &file, diags: Vec::new() };

    let (id, id_loc) = b.required("id", raw.id, top);
    if !id.is_empty() && !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        b.error(id_loc, format!("invalid id {id:?}: use letters, digits, `-`, `_` or `.`"));
    }
    let (title, _) = b.required("title", raw.title, top);
    let (category, _) = b.required("category", raw.category, top);
    let severity = match raw.severity {
        None => {
            b.error(top, "missing required field `severity`");
            Severity::Medium
        }
        Some(s) => Severity::parse(&s.value).unwrap_or_else(|| {
            b.error(
                spanned_loc(&s),
                format!("unknown severity {:?} (expected critical, high, medium, low or info)", s.value),
            );
            Severity::Medium
        }),
    };

    let source_detector = raw.detector.as_deref().is_some_and(|d| d.trim() == "source");
    let (raw_match, match_loc) = match raw.matching {
        Some(m) => {
            let l = spanned_loc(&m);
            (m.value, l)
        }
        None => (RawMatch::default(), top),
    };
    let mut ignored_keys: Vec<(String, Loc)> =
        raw.unknown.iter().map(|k| (k.value.clone(), spanned_loc(k))).collect();
    ignored_keys.extend(raw_match.unknown.iter().map(|k| (format!("match.{}", k.value), spanned_loc(k))));

    let matching = MatchSpec {
        any: b.patterns(raw_match.any, "match.any"),
        all: b.patterns(raw_match.all, "match.all"),
        none: b.patterns(raw_match.none, "match.none"),
        partial: raw_match
            .partial
            .unwrap_or_default()
            .into_iter()
            .map(|g| PartialGroup {
                id: g.id.unwrap_or_default(),
                label: g.label.unwrap_or_default(),
                minimum: g.minimum.unwrap_or(0),
                patterns: b.patterns(g.patterns, "match.partial.patterns"),
            })
            .collect(),
        hints: b.patterns(raw_match.hints, "match.hints"),
    };
    if !source_detector && !matching.has_positive() && !b.diags.iter().any(Diagnostic::is_error) {
        b.error(match_loc, "no positive pattern: `match` needs at least one of `any`, `all` or `partial`");
    }
    for none in &matching.none {
        let key = pattern_key(none);
        if let Some(pos) = matching.positives().find(|p| pattern_key(p) == key) {
            b.error(
                none.loc,
                format!(
                    "pattern {} is in `none` and also a positive pattern (line {}): the playbook could never match",
                    none, pos.loc.line
                ),
            );
        } else if let Some(hint) = matching.hints.iter().find(|p| pattern_key(p) == key) {
            b.error(
                none.loc,
                format!(
                    "pattern {} is in `none` and also a hint (line {}): the hint could never count",
                    none, hint.loc.line
                ),
            );
        }
    }

    let threshold = match &raw.threshold {
        Some(t) => t.value.validate("threshold", |at, msg| b.error(at, msg)),
        None => Threshold::default(),
    };

    let stage_hints = raw
        .stage_hints
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.value.trim().to_ascii_lowercase())
        .collect();

    let hyp = raw.hypothesis.unwrap_or_default();
    let hypothesis = Hypothesis {
        supports: b.signals(hyp.supports),
        contradicts: b.signals(hyp.contradicts),
        discriminators: b.signals(hyp.discriminators),
        excludes: b.signals(hyp.excludes),
    };
    let wf = raw.workflow.unwrap_or_default();

    let playbook = Playbook {
        id,
        title,
        category,
        severity,
        base_score: raw.base_score.unwrap_or(0.0),
        tags: raw.tags.unwrap_or_default(),
        stage_hints,
        matching,
        threshold,
        summary: raw.summary.unwrap_or_default(),
        diagnosis: raw.diagnosis.unwrap_or_default(),
        fix: raw.fix.unwrap_or_default(),
        validation: raw.validation.unwrap_or_default(),
        why_it_matters: raw.why_it_matters.unwrap_or_default(),
        prevention: raw.prevention.unwrap_or_default(),
        workflow: Workflow {
            likely_files: wf.likely_files.unwrap_or_default(),
            local_repro: wf.local_repro.unwrap_or_default(),
            verify: wf.verify.unwrap_or_default(),
        },
        hypothesis,
        source_detector,
        origin,
        ignored_keys,
        id_loc,
        content_hash: String::new(),
    };
    let ok = !b.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(playbook), b.diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Playbook>, Vec<String>) {
        let (p, d) = parse_playbook(text, Origin { path: "t.yaml".into(), bundled: false });
        (p, d.iter().map(|d| d.to_string()).collect())
    }

    const OK: &str = "id: x\ntitle: X\ncategory: build\nseverity: high\nmatch:\n  any:\n    - Foo  Bar\n    - regex: 'exit code 12[67]'\n";

    #[test]
    fn parses_literals_and_regexes() {
        let (p, d) = parse(OK);
        assert!(d.is_empty(), "{d:?}");
        let p = p.unwrap();
        assert_eq!(p.matching.any[0].kind, PatternKind::Literal("Foo  Bar".into()));
        assert_eq!(p.matching.any[1].kind, PatternKind::Regex("exit code 12[67]".into()));
        assert_eq!(p.matching.any[1].loc, Loc { line: 8, col: 7 });
    }

    #[test]
    fn reports_missing_fields_wrong_types_and_bad_values() {
        let (_, d) = parse("title: X\ncategory: c\nseverity: urgent\nmatch:\n  any: [a]\n");
        assert!(d.iter().any(|m| m.contains("t.yaml:1:1: error: missing required field `id`")), "{d:?}");
        assert!(d.iter().any(|m| m.contains("3:11: error: unknown severity \"urgent\"")), "{d:?}");
        let (_, d) =
            parse("id: x\ntitle: X\ncategory: c\nseverity: low\nbase_score: high\nmatch: {any: [a]}\n");
        assert_eq!(d.len(), 1);
        assert!(d[0].starts_with("t.yaml:5:13: error: "), "{d:?}");
    }

    #[test]
    fn reports_every_bad_pattern() {
        let text = "id: x\ntitle: X\ncategory: c\nseverity: low\nmatch:\n  any:\n    - '  '\n    - regex: '('\n  none:\n    - foo\n  all:\n    - FOO\n";
        let (p, d) = parse(text);
        assert!(p.is_none());
        assert!(d[0].contains("7:7: error: empty pattern in `match.any`"), "{d:?}");
        assert!(d[1].contains("8:7: error: invalid regex"), "{d:?}");
        assert!(
            d[2].contains("10:7: error: pattern \"foo\" is in `none` and also a positive pattern (line 12)"),
            "{d:?}"
        );
    }

    #[test]
    fn hints_are_read_and_may_not_be_vetoed_by_their_own_playbook() {
        let text = "id: x\ntitle: X\ncategory: c\nseverity: low\nmatch:\n  any: [boom]\n  hints: [pip install, {regex: 'go version go1'}]\n";
        let (p, d) = parse(text);
        assert!(d.is_empty(), "{d:?}");
        let hints = p.unwrap().matching.hints;
        assert_eq!(hints[0].kind, PatternKind::Literal("pip install".into()));
        assert_eq!(hints[1].kind, PatternKind::Regex("go version go1".into()));

        let (p, d) = parse(
            "id: x\ntitle: X\ncategory: c\nseverity: low\nmatch:\n  any: [boom]\n  none: [Pip  Install]\n  hints: [pip install]\n",
        );
        assert!(p.is_none());
        assert!(
            d[0].contains("7:10: error: pattern \"Pip  Install\" is in `none` and also a hint (line 8)"),
            "{d:?}"
        );
        // Hints alone are not enough for a log playbook.
        let (p, d) = parse("id: x\ntitle: X\ncategory: c\nseverity: low\nmatch:\n  hints: [pip install]\n");
        assert!(p.is_none());
        assert!(d[0].contains("no positive pattern"), "{d:?}");
    }

    #[test]
    fn unknown_keys_are_recorded_not_rejected() {
        let (p, d) = parse(&format!("{OK}domain: x\nclass: y\n"));
        assert!(d.is_empty());
        let keys: Vec<_> = p.unwrap().ignored_keys.into_iter().map(|k| k.0).collect();
        assert_eq!(keys, vec!["domain", "class"]);
    }

    #[test]
    fn text_sections_accept_lists_and_markdown() {
        let (p, _) = parse(&format!(
            "{OK}fix:\n  - one\n  - two\nvalidation: |\n  ## Validation\n\n  1. check a\n  2. check b\n"
        ));
        let p = p.unwrap();
        assert_eq!(p.fix.steps(), vec!["one", "two"]);
        assert_eq!(p.validation.steps(), vec!["check a", "check b"]);
    }

    #[test]
    fn thresholds_are_validated() {
        let (p, d) = parse(&format!("{OK}threshold:\n  count: 3\n  window: 2m\n"));
        assert!(d.is_empty());
        assert_eq!(p.unwrap().threshold.window, Some(std::time::Duration::from_secs(120)));
        let (_, d) = parse(&format!("{OK}threshold:\n  window: soon\n"));
        assert!(d[0].contains("threshold.window"), "{d:?}");
        let (_, d) = parse(&format!("{OK}threshold:\n  cout: 3\n"));
        assert!(d[0].contains("unknown field `cout`"), "{d:?}");
    }
}
