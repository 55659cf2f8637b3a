//! `faultline analyze` output in its three formats.

use std::fmt::Write as _;

use serde::Serialize;

use super::sanitize::for_terminal;
use super::{BOLD, DIM, HEADING, confidence_style, severity_style, two_decimals, write_wrapped};
use crate::engine::{Catalog, Ranked};
use crate::playbook::Playbook;

/// Evidence lines shown per result in text and markdown output.
pub const TEXT_EVIDENCE: usize = 3;
/// Evidence lines included per result in JSON output.
pub const JSON_EVIDENCE: usize = 50;
/// Fix steps shown per result in text output.
pub const TEXT_FIX_STEPS: usize = 3;

/// Everything an analysis report shows.
pub struct Report<'a> {
    pub catalog: &'a Catalog,
    pub results: &'a [Ranked<'a>],
    /// How many results to show; 0 = all.
    pub top: usize,
    pub lines: u64,
    pub bytes: u64,
}

impl Report<'_> {
    fn shown(&self) -> &[Ranked<'_>] {
        let n = if self.top == 0 { self.results.len() } else { self.top.min(self.results.len()) };
        &self.results[..n]
    }

    fn playbook(&self, r: &Ranked<'_>) -> &Playbook {
        self.catalog.playbook(&self.catalog.rules[r.rules])
    }
}

/// Said of a result ranked from context hints alone.
const GUESS: &str = "no failure text found: a guess from what the log is about (context hints only)";

fn no_match(out: &mut String, report: &Report<'_>) {
    let _ =
        writeln!(out, "No known playbook matched ({} lines, {} bytes analysed).", report.lines, report.bytes);
}

pub fn text(report: &Report<'_>) -> String {
    let mut out = String::new();
    if report.results.is_empty() {
        no_match(&mut out, report);
        return out;
    }
    let shown = report.shown();
    for (i, r) in shown.iter().enumerate() {
        let p = report.playbook(r);
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{BOLD}{}. {}{BOLD:#}", i + 1, for_terminal(&p.title));
        let cs = confidence_style(r.confidence);
        let ss = severity_style(p.severity);
        let _ = writeln!(out, "   {DIM}id{DIM:#}          {}", p.id);
        let _ = writeln!(
            out,
            "   {DIM}confidence{DIM:#}  {cs}{}{cs:#}   {DIM}category{DIM:#} {}   {DIM}severity{DIM:#} {ss}{}{ss:#}   {DIM}score{DIM:#} {}",
            two_decimals(r.confidence),
            p.category,
            p.severity,
            two_decimals(r.score)
        );
        if r.context_only {
            let _ = writeln!(out, "   {DIM}guess{DIM:#}       {GUESS}");
        }
        if !p.summary.trim().is_empty() {
            let _ = writeln!(out, "\n   {HEADING}Summary{HEADING:#}");
            write_wrapped(&mut out, p.summary.trim(), 5, 100);
        }
        let _ = writeln!(out, "\n   {HEADING}Evidence{HEADING:#}");
        let width = r.evidence.iter().map(|e| e.number.to_string().len()).max().unwrap_or(1);
        for e in r.evidence.iter().take(TEXT_EVIDENCE) {
            let _ = writeln!(out, "     {DIM}L{:<width$}{DIM:#}  {}", e.number, for_terminal(&e.text));
        }
        if r.evidence.len() > TEXT_EVIDENCE {
            let more = r.evidence.len() - TEXT_EVIDENCE;
            let _ = writeln!(
                out,
                "     {DIM}… {more} more evidence line{} (--format json shows up to {JSON_EVIDENCE}){DIM:#}",
                if more == 1 { "" } else { "s" }
            );
        }
        let steps = p.fix.steps();
        if !steps.is_empty() {
            let _ = writeln!(out, "\n   {HEADING}Fix{HEADING:#}");
            for (n, step) in steps.iter().take(TEXT_FIX_STEPS).enumerate() {
                let mut block = String::new();
                write_wrapped(&mut block, step, 8, 100);
                let block = block.trim_start();
                let _ = write!(out, "     {}. {}", n + 1, block);
            }
            if steps.len() > TEXT_FIX_STEPS {
                let more = steps.len() - TEXT_FIX_STEPS;
                let _ =
                    writeln!(out, "     {DIM}… {more} more step{}{DIM:#}", if more == 1 { "" } else { "s" });
            }
        }
        let _ = writeln!(out, "\n   {DIM}Full playbook: faultline explain {}{DIM:#}", p.id);
    }
    if report.results.len() > shown.len() {
        let rest: Vec<String> = report.results[shown.len()..]
            .iter()
            .take(5)
            .map(|r| format!("{} ({})", report.playbook(r).id, two_decimals(r.confidence)))
            .collect();
        let more = report.results.len() - shown.len();
        let _ = writeln!(
            out,
            "\n{DIM}Also matched ({more}): {}{}  — use --top N to see more{DIM:#}",
            rest.join(", "),
            if more > 5 { ", …" } else { "" }
        );
    }
    out
}

pub fn markdown(report: &Report<'_>) -> String {
    let mut out = String::from("# faultline analysis\n\n");
    if report.results.is_empty() {
        no_match(&mut out, report);
        return out;
    }
    // As in JSON's `matched`, guesses from context hints alone are not matches.
    let guesses = report.results.iter().filter(|r| r.context_only).count();
    let matched = report.results.len() - guesses;
    let _ = writeln!(
        out,
        "{} lines analysed; {matched} playbook{} matched{}.\n",
        report.lines,
        if matched == 1 { "" } else { "s" },
        if guesses > 0 { format!(", {guesses} guessed from context") } else { String::new() }
    );
    for (i, r) in report.shown().iter().enumerate() {
        let p = report.playbook(r);
        let _ = writeln!(out, "## {}. {} (`{}`)\n", i + 1, p.title, p.id);
        let _ = writeln!(
            out,
            "**Confidence** {} · **Category** {} · **Severity** {} · **Score** {}\n",
            two_decimals(r.confidence),
            p.category,
            p.severity,
            two_decimals(r.score)
        );
        if r.context_only {
            let _ = writeln!(out, "_{GUESS}_\n");
        }
        if !p.summary.trim().is_empty() {
            let _ = writeln!(out, "### Summary\n\n{}\n", p.summary.trim());
        }
        let _ = writeln!(out, "### Evidence\n\n```text");
        for e in r.evidence.iter().take(TEXT_EVIDENCE) {
            let _ = writeln!(out, "L{}: {}", e.number, for_terminal(&e.text).replace("```", "'''"));
        }
        let _ = writeln!(out, "```\n");
        if r.evidence.len() > TEXT_EVIDENCE {
            let _ = writeln!(out, "_… {} more evidence lines._\n", r.evidence.len() - TEXT_EVIDENCE);
        }
        if !p.fix.is_empty() {
            let _ = writeln!(out, "### Fix\n\n{}\n", p.fix.to_markdown(true));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    matched: bool,
    results: Vec<JsonResult<'a>>,
    lines: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    rank: usize,
    id: &'a str,
    title: &'a str,
    category: &'a str,
    severity: &'a str,
    score: f64,
    confidence: f64,
    /// Ranked from context hints alone: a guess, not a diagnosis.
    context_only: bool,
    evidence: Vec<JsonEvidence<'a>>,
    summary: &'a str,
    fix: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct JsonEvidence<'a> {
    pub line: u64,
    pub text: &'a str,
}

pub fn json(report: &Report<'_>) -> String {
    let results = report
        .shown()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = report.playbook(r);
            JsonResult {
                rank: i + 1,
                id: &p.id,
                title: &p.title,
                category: &p.category,
                severity: p.severity.as_str(),
                score: r.score,
                confidence: r.confidence,
                context_only: r.context_only,
                evidence: r
                    .evidence
                    .iter()
                    .take(JSON_EVIDENCE)
                    .map(|e| JsonEvidence { line: e.number, text: &e.text })
                    .collect(),
                summary: p.summary.trim(),
                fix: p.fix.steps(),
            }
        })
        .collect();
    // `matched` means failure text was found; guesses alone do not make a match.
    let matched = report.results.iter().any(|r| !r.context_only);
    let body = JsonReport { matched, results, lines: report.lines, bytes: report.bytes };
    let mut s = serde_json::to_string_pretty(&body).expect("report serialises");
    s.push('\n');
    s
}
