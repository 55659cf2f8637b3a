//! `faultline explain` and `faultline list` output.

use std::fmt::Write as _;

use serde::Serialize;

use super::{BOLD, DIM, HEADING, severity_style, write_wrapped};
use crate::duration;
use crate::playbook::Playbook;
use crate::playbook::model::{Hypothesis, Pattern, Signal, Text, strip_leading_heading};

fn pattern_text(p: &Pattern) -> String {
    match &p.kind {
        crate::playbook::PatternKind::Literal(s) => s.clone(),
        crate::playbook::PatternKind::Regex(s) => format!("/{s}/ (regex)"),
    }
}

/// The signal lists of a playbook as (heading, patterns).
fn signal_lists(p: &Playbook) -> Vec<(String, Vec<String>)> {
    let m = &p.matching;
    let mut lists = Vec::new();
    if !m.any.is_empty() {
        lists.push(("Any of".to_string(), m.any.iter().map(pattern_text).collect()));
    }
    if !m.all.is_empty() {
        lists.push(("All of".to_string(), m.all.iter().map(pattern_text).collect()));
    }
    for g in &m.partial {
        let name = if g.label.is_empty() { g.id.clone() } else { g.label.clone() };
        let heading = format!(
            "At least {} of{}",
            g.minimum.max(1),
            if name.is_empty() { String::new() } else { format!(" ({name})") }
        );
        lists.push((heading, g.patterns.iter().map(pattern_text).collect()));
    }
    if !m.none.is_empty() {
        lists.push(("Vetoed by (none of)".to_string(), m.none.iter().map(pattern_text).collect()));
    }
    if !m.hints.is_empty() {
        lists.push(("Context hints (never alone)".to_string(), m.hints.iter().map(pattern_text).collect()));
    }
    lists
}

fn threshold_line(p: &Playbook) -> Option<String> {
    let t = &p.threshold;
    if t.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(c) = t.count {
        parts.push(format!("count {c}"));
    }
    for (name, d) in [("window", t.window), ("settle", t.settle), ("cooldown", t.cooldown)] {
        if let Some(d) = d {
            parts.push(format!("{name} {}", duration::format(d)));
        }
    }
    if let Some(m) = t.min_confidence {
        parts.push(format!("min_confidence {m}"));
    }
    Some(parts.join(", "))
}

fn hypothesis_lines(h: &Hypothesis) -> Vec<String> {
    let fmt = |role: &str, s: &Signal| match s.weight {
        Some(w) => format!("{role}: {} (weight {w})", s.signal),
        None => format!("{role}: {}", s.signal),
    };
    h.supports
        .iter()
        .map(|s| fmt("supports", s))
        .chain(h.contradicts.iter().map(|s| fmt("contradicts", s)))
        .chain(h.discriminators.iter().map(|s| fmt("discriminator", s)))
        .chain(h.excludes.iter().map(|s| fmt("excludes", s)))
        .collect()
}

/// Prose sections in display order: (heading, text as markdown, numbered list?).
fn sections(p: &Playbook) -> Vec<(&'static str, String)> {
    let md = |s: &str| strip_leading_heading(s).trim().to_string();
    let list = |t: &Text, numbered| t.to_markdown(numbered);
    vec![
        ("Summary", md(&p.summary)),
        ("Diagnosis", md(&p.diagnosis)),
        ("Fix steps", list(&p.fix, true)),
        ("Validation", list(&p.validation, false)),
        ("Why it matters", md(&p.why_it_matters)),
        ("Prevention", list(&p.prevention, false)),
    ]
}

pub fn explain_text(p: &Playbook) -> String {
    let mut out = String::new();
    let ss = severity_style(p.severity);
    let _ = writeln!(out, "{BOLD}{}{BOLD:#}", p.title);
    let _ = writeln!(out, "  {DIM}id{DIM:#}        {}", p.id);
    let _ = writeln!(
        out,
        "  {DIM}category{DIM:#}  {}   {DIM}severity{DIM:#} {ss}{}{ss:#}   {DIM}base score{DIM:#} {}",
        p.category, p.severity, p.base_score
    );
    if !p.tags.is_empty() {
        let _ = writeln!(out, "  {DIM}tags{DIM:#}      {}", p.tags.join(", "));
    }
    if !p.stage_hints.is_empty() {
        let _ = writeln!(out, "  {DIM}stages{DIM:#}    {}", p.stage_hints.join(", "));
    }
    let _ = writeln!(out, "  {DIM}source{DIM:#}    {}", p.origin.path);
    for (heading, body) in sections(p) {
        if body.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{HEADING}{heading}{HEADING:#}");
        write_wrapped(&mut out, &body, 2, 100);
    }
    let _ = writeln!(out, "\n{HEADING}Log signals{HEADING:#}");
    for (heading, pats) in signal_lists(p) {
        let _ = writeln!(out, "  {heading}:");
        for pat in pats {
            let _ = writeln!(out, "    - {pat}");
        }
    }
    if let Some(t) = threshold_line(p) {
        let _ = writeln!(out, "  Threshold (watch): {t}");
    }
    let hyp = hypothesis_lines(&p.hypothesis);
    if !hyp.is_empty() {
        let _ = writeln!(out, "  Hypothesis:");
        for h in hyp {
            let _ = writeln!(out, "    - {h}");
        }
    }
    out
}

pub fn explain_markdown(p: &Playbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", p.title);
    let _ = writeln!(out, "- **id:** `{}`", p.id);
    let _ = writeln!(out, "- **category:** {}", p.category);
    let _ = writeln!(out, "- **severity:** {}", p.severity);
    if !p.tags.is_empty() {
        let _ = writeln!(out, "- **tags:** {}", p.tags.join(", "));
    }
    if !p.stage_hints.is_empty() {
        let _ = writeln!(out, "- **stages:** {}", p.stage_hints.join(", "));
    }
    out.push('\n');
    for (heading, body) in sections(p) {
        if !body.is_empty() {
            let _ = writeln!(out, "## {heading}\n\n{body}\n");
        }
    }
    let _ = writeln!(out, "## Log signals\n");
    for (heading, pats) in signal_lists(p) {
        let _ = writeln!(out, "{heading}:\n");
        for pat in pats {
            let _ = writeln!(out, "- `{}`", pat.replace('`', "'"));
        }
        out.push('\n');
    }
    if let Some(t) = threshold_line(p) {
        let _ = writeln!(out, "Threshold (watch): {t}\n");
    }
    out
}

#[derive(Serialize)]
struct JsonPattern<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    literal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regex: Option<&'a str>,
}

fn json_patterns(list: &[Pattern]) -> Vec<JsonPattern<'_>> {
    list.iter()
        .map(|p| match &p.kind {
            crate::playbook::PatternKind::Literal(s) => JsonPattern { literal: Some(s), regex: None },
            crate::playbook::PatternKind::Regex(s) => JsonPattern { literal: None, regex: Some(s) },
        })
        .collect()
}

pub fn explain_json(p: &Playbook) -> String {
    let t = &p.threshold;
    let value = serde_json::json!({
        "id": p.id,
        "title": p.title,
        "category": p.category,
        "severity": p.severity.as_str(),
        "base_score": p.base_score,
        "tags": p.tags,
        "stage_hints": p.stage_hints,
        "source": p.origin.path,
        "match": {
            "any": json_patterns(&p.matching.any),
            "all": json_patterns(&p.matching.all),
            "none": json_patterns(&p.matching.none),
            "partial": p.matching.partial.iter().map(|g| serde_json::json!({
                "id": g.id, "label": g.label, "minimum": g.minimum, "patterns": json_patterns(&g.patterns),
            })).collect::<Vec<_>>(),
            "hints": json_patterns(&p.matching.hints),
        },
        "threshold": {
            "count": t.count,
            "window": t.window.map(duration::format),
            "settle": t.settle.map(duration::format),
            "cooldown": t.cooldown.map(duration::format),
            "min_confidence": t.min_confidence,
        },
        "summary": strip_leading_heading(&p.summary).trim(),
        "diagnosis": strip_leading_heading(&p.diagnosis).trim(),
        "fix": p.fix.steps(),
        "validation": p.validation.steps(),
        "why_it_matters": strip_leading_heading(&p.why_it_matters).trim(),
        "prevention": p.prevention.steps(),
        "hypothesis": hypothesis_lines(&p.hypothesis),
    });
    let mut s = serde_json::to_string_pretty(&value).expect("playbook serialises");
    s.push('\n');
    s
}

pub fn list_text(playbooks: &[&Playbook]) -> String {
    let id_w = playbooks.iter().map(|p| p.id.len()).max().unwrap_or(2).max(2);
    let cat_w = playbooks.iter().map(|p| p.category.len()).max().unwrap_or(8).max(8);
    let mut out = String::new();
    let _ = writeln!(out, "{BOLD}{:<id_w$}  {:<cat_w$}  {:<8}  TITLE{BOLD:#}", "ID", "CATEGORY", "SEVERITY");
    for p in playbooks {
        let ss = severity_style(p.severity);
        let _ = writeln!(
            out,
            "{:<id_w$}  {:<cat_w$}  {ss}{:<8}{ss:#}  {}",
            p.id,
            p.category,
            p.severity.as_str(),
            p.title
        );
    }
    out
}

pub fn list_json(playbooks: &[&Playbook]) -> String {
    let rows: Vec<_> = playbooks
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id, "category": p.category, "severity": p.severity.as_str(), "title": p.title,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&rows).expect("list serialises");
    s.push('\n');
    s
}
