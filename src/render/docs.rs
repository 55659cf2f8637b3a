//! `faultline docs`: one markdown page per playbook, and an index grouped by category.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::playbook::Playbook;
use crate::playbook::model::{Pattern, PatternKind, strip_leading_heading};

/// File name of a playbook's page.
pub fn page_name(p: &Playbook) -> String {
    format!("{}.md", p.id)
}

fn code(s: &str) -> String {
    // A backtick inside the pattern needs a longer fence.
    if s.contains('`') { format!("`` {s} ``") } else { format!("`{s}`") }
}

fn pattern_md(p: &Pattern) -> String {
    match &p.kind {
        PatternKind::Literal(s) => code(s),
        PatternKind::Regex(s) => format!("{} (regex)", code(s)),
    }
}

fn section(out: &mut String, heading: &str, body: &str) {
    let body = strip_leading_heading(body).trim();
    if !body.is_empty() {
        let _ = writeln!(out, "## {heading}\n\n{body}\n");
    }
}

pub fn page(p: &Playbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", p.title);
    let m = &p.matching;
    // The shortest signals say it best: literals first, then regexes.
    let mut ordered: Vec<&Pattern> = m.positives().collect();
    ordered.sort_by_key(|p| (p.is_regex(), p.text().len()));
    let signals: Vec<String> = ordered.iter().take(4).map(|p| pattern_md(p)).collect();
    let more = m.positives().count().saturating_sub(signals.len());
    let _ = writeln!(
        out,
        "`{}` · {} · severity **{}**{}\n",
        p.id,
        p.category,
        p.severity,
        if p.tags.is_empty() { String::new() } else { format!(" · {}", p.tags.join(", ")) }
    );
    let _ = writeln!(
        out,
        "Log signals: {}{}\n",
        signals.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    );
    section(&mut out, "What this failure means", &p.summary);
    let _ = writeln!(out, "## Symptoms\n\nfaultline looks for one or more of these log fragments:\n");
    for pat in m.any.iter().chain(&m.all) {
        let _ = writeln!(out, "- {}", pattern_md(pat));
    }
    for g in &m.partial {
        for pat in &g.patterns {
            let _ = writeln!(out, "- {}", pattern_md(pat));
        }
    }
    if !m.all.is_empty() {
        let _ = writeln!(
            out,
            "\nIt is most certain when all of these appear: {}.",
            m.all.iter().map(pattern_md).collect::<Vec<_>>().join(", ")
        );
    }
    if !m.none.is_empty() {
        let _ = writeln!(
            out,
            "\nIt is not reported when the log also contains one of these (a neighbouring failure):\n"
        );
        for pat in &m.none {
            let _ = writeln!(out, "- {}", pattern_md(pat));
        }
    }
    if !m.hints.is_empty() {
        let _ = writeln!(
            out,
            "\nThese tell what a log is about; they add weight, but on their own only make a guess \
             (`analyze` ranks it after every diagnosis, `watch` never reports it):\n"
        );
        for pat in &m.hints {
            let _ = writeln!(out, "- {}", pattern_md(pat));
        }
    }
    let t = &p.threshold;
    if let (Some(count), Some(window)) = (t.count, t.window) {
        let _ = writeln!(
            out,
            "\nOne occurrence can be noise: `faultline watch` reports it after {count} matching lines within {}.",
            crate::duration::format(window)
        );
    } else if let Some(count) = t.count {
        let _ = writeln!(
            out,
            "\nOne occurrence can be noise: `faultline watch` reports it after {count} matching lines."
        );
    }
    out.push('\n');
    section(&mut out, "Diagnosis", &p.diagnosis);
    section(&mut out, "Fix steps", &p.fix.to_markdown(true));
    section(&mut out, "Validation", &p.validation.to_markdown(false));
    section(&mut out, "Why it matters", &p.why_it_matters);
    section(&mut out, "Prevention", &p.prevention.to_markdown(false));
    let _ = writeln!(
        out,
        "## How faultline detects it\n\n```sh\nfaultline analyze build.log            # ranks this playbook among all the others\nfaultline explain {}   # this page, in the terminal\nfaultline watch '/var/log/app/*.log'    # reports it the moment it happens\n```\n",
        p.id
    );
    let _ = writeln!(out, "---\n\n_Generated from {}. Do not edit directly._", p.origin.path);
    out
}

pub fn index(playbooks: &[&Playbook]) -> String {
    let mut by_category: BTreeMap<&str, Vec<&Playbook>> = BTreeMap::new();
    for p in playbooks {
        by_category.entry(&p.category).or_default().push(p);
    }
    let mut out = String::from("# Playbooks\n\n");
    let _ = writeln!(
        out,
        "The {} playbooks faultline ships with, by category. Each page says what the failure means, how to confirm it, how to fix it, and which log lines give it away.\n",
        playbooks.len()
    );
    for (cat, list) in &mut by_category {
        list.sort_by(|a, b| a.id.cmp(&b.id));
        let _ = writeln!(out, "## {cat} ({})\n", list.len());
        for p in list.iter() {
            let _ = writeln!(out, "- [{}]({}) — `{}`, {}", p.title, page_name(p), p.id, p.severity);
        }
        out.push('\n');
    }
    out.push_str("---\n\n_Generated by `faultline docs`. Do not edit directly._\n");
    out
}
