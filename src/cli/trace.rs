//! `faultline trace FILE [--playbook ID]`: why a log did or did not match — for each playbook,
//! each pattern's hit count and first lines, the vetoes, the score term by term and the rank.
//! What a playbook author runs while writing patterns (like fail2ban-regex).

use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{PlaybookArgs, print};
use crate::analyze::{Options, Outcome, analyze_reader};
use crate::engine::score::score_rules;
use crate::engine::{Catalog, Ranked};
use crate::exit::Exit;
use crate::matcher::PatternId;
use crate::playbook::{Pattern, PatternKind};
use crate::render::sanitize::for_terminal;
use crate::render::two_decimals;

/// First line numbers shown per pattern.
const SAMPLES: usize = 5;

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Log file to trace; `-` reads standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Only this playbook (shown even when nothing of it matched)
    #[arg(long, value_name = "ID")]
    pub playbook: Option<String>,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: TraceArgs) -> Result<Exit> {
    let catalog = args.playbooks.catalog()?;
    let options = Options { line_samples: SAMPLES, ..Options::default() };
    let outcome = if args.file.as_os_str() == "-" {
        analyze_reader(&catalog, std::io::stdin().lock(), options, |_| {})
            .context("cannot read standard input")?
    } else {
        let f = File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
        analyze_reader(&catalog, f, options, |_| {})
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let ranked = outcome.rank(&catalog);
    let selected: Vec<usize> = match &args.playbook {
        Some(id) => {
            let Some(i) = catalog.rules.iter().position(|r| catalog.playbook(r).id == *id) else {
                let known = catalog.find(id).is_some();
                anyhow::bail!(if known {
                    format!("playbook {id:?} is not a log playbook (it has no log patterns)")
                } else {
                    format!("no playbook with id {id:?} (see `faultline list`)")
                });
            };
            vec![i]
        }
        None => {
            // Ranked ones in rank order, then every other playbook with any hit at all.
            let mut v: Vec<usize> = ranked.iter().map(|r| r.rules).collect();
            for (i, rules) in catalog.rules.iter().enumerate() {
                let touched = rules
                    .positives()
                    .chain(rules.none.iter().copied())
                    .chain(rules.hints.iter().map(|(p, _)| *p))
                    .any(|p| outcome.analysis.count(p) > 0);
                if touched && !v.contains(&i) {
                    v.push(i);
                }
            }
            v
        }
    };
    print(&render(&catalog, &outcome, &ranked, &selected, args.playbook.is_some()))?;
    Ok(Exit::Ok)
}

fn pattern_label(p: &Pattern) -> String {
    match &p.kind {
        PatternKind::Literal(s) => format!("{:?}", for_terminal(s)),
        PatternKind::Regex(s) => format!("regex /{}/", for_terminal(s)),
    }
}

fn lines_text(outcome: &Outcome, p: PatternId) -> String {
    let n = outcome.analysis.count(p);
    let samples = outcome.analysis.line_samples(p);
    if n == 0 {
        return "0 lines".into();
    }
    let list: Vec<String> = samples.iter().map(|l| format!("L{l}")).collect();
    let more = if n as usize > samples.len() { ", …" } else { "" };
    format!("{n} line{}: {}{more}", if n == 1 { "" } else { "s" }, list.join(", "))
}

fn render(
    catalog: &Catalog,
    outcome: &Outcome,
    ranked: &[Ranked<'_>],
    selected: &[usize],
    one: bool,
) -> String {
    let mut out = String::new();
    let vetoed = catalog
        .rules
        .iter()
        .filter(|r| {
            r.none.iter().any(|&p| outcome.analysis.count(p) > 0)
                && r.positives().any(|p| outcome.analysis.count(p) > 0)
        })
        .count();
    let _ = writeln!(
        out,
        "{} lines; stage: {}; {} playbooks ranked, {} vetoed, {} in the catalog.",
        outcome.lines,
        outcome.analysis.stage().map_or("none".to_string(), |s| s.to_string()),
        ranked.len(),
        vetoed,
        catalog.rules.len()
    );
    for &i in selected {
        let rules = &catalog.rules[i];
        let p = catalog.playbook(rules);
        let rank = ranked.iter().position(|r| r.rules == i);
        out.push('\n');
        let head = match rank {
            Some(k) => format!("#{}", k + 1),
            None => "--".into(),
        };
        let _ = writeln!(out, "{head} {} — {}", p.id, for_terminal(&p.title));
        match (rank, score_rules(catalog, i, &outcome.analysis)) {
            (Some(k), _) => {
                let r = &ranked[k];
                let b = &r.breakdown;
                let any: f64 = b.any.iter().map(|(_, w)| w).sum();
                let mut terms = vec![format!("base {}", two_decimals(b.base))];
                if !b.any.is_empty() {
                    terms.push(format!("any {}", two_decimals(any)));
                }
                if b.all_total > 0 {
                    terms.push(format!("all {}×1.5", b.all_found));
                    if b.all_complete_bonus > 0.0 {
                        terms.push("all complete 2.00".into());
                    }
                }
                for (n, min, term) in &b.partial {
                    terms.push(format!("partial {n} found (min {min}) {}", two_decimals(*term)));
                }
                if !b.hints.is_empty() {
                    let hints: f64 = b.hints.iter().map(|(_, w)| w).sum();
                    terms.push(format!("hints {}", two_decimals(hints)));
                }
                if b.stage_bonus > 0.0 {
                    terms.push("stage 0.75".into());
                }
                let _ = writeln!(
                    out,
                    "   score {} = {}   confidence {}",
                    two_decimals(r.score),
                    terms.join(" + "),
                    two_decimals(r.confidence)
                );
                if r.context_only {
                    let _ = writeln!(out, "   a guess: only context hints found (watch never reports it)");
                }
                for (signal, w) in &b.hypothesis {
                    let effect = if *w == 0.0 { "eliminates".to_string() } else { format!("{w:+.2}") };
                    let _ =
                        writeln!(out, "   hypothesis {signal}: {effect} → {}", two_decimals(r.final_score));
                }
            }
            (None, Some(_)) => {
                let _ = writeln!(out, "   eliminated by a hypothesis `excludes` signal");
            }
            (None, None) => {
                let veto = rules.none.iter().find(|&&q| outcome.analysis.count(q) > 0);
                let why = if veto.is_some() {
                    "not a candidate: vetoed by a `none` pattern (below)"
                } else {
                    "not a candidate: no positive pattern found"
                };
                let _ = writeln!(out, "   {why}");
            }
        }
        let t = &outcome_threshold(p);
        if !t.is_empty() {
            let _ = writeln!(out, "   watch reports it after {t}");
        }
        let m = &p.matching;
        let mut section = |name: &str, pats: &[Pattern], weight: &dyn Fn(usize) -> String| {
            for (k, pat) in pats.iter().enumerate() {
                let id = catalog_pattern(catalog, pat);
                let n = id.map_or(0, |q| outcome.analysis.count(q));
                let mark = if n > 0 { "✓" } else { "·" };
                let label = if k == 0 { name } else { "" };
                let lines = id.map_or("0 lines".to_string(), |q| lines_text(outcome, q));
                let _ =
                    writeln!(out, "   {label:<8}{mark} {:<48} {:<18} {lines}", pattern_label(pat), weight(k));
            }
        };
        let any_weights: Vec<f64> =
            m.any.iter().map(|pat| weight_of(catalog, i, pat).unwrap_or(0.0)).collect();
        section("any", &m.any, &|k| {
            let w = any_weights[k];
            if w > 0.0 && w < 1.0 {
                format!("w {} (1/{:.0})", two_decimals(w), 1.0 / w)
            } else {
                format!("w {}", two_decimals(w))
            }
        });
        section("all", &m.all, &|_| "1.50".into());
        for g in &m.partial {
            section("partial", &g.patterns, &|_| format!("0.75 (min {})", g.minimum));
        }
        section("none", &m.none, &|_| "veto".into());
        let hint_weights: Vec<f64> =
            m.hints.iter().map(|pat| hint_weight_of(catalog, i, pat).unwrap_or(0.0)).collect();
        section("hints", &m.hints, &|k| format!("w {}", two_decimals(hint_weights[k])));
    }
    if !one && selected.len() < catalog.rules.len() {
        let n = catalog.rules.len() - selected.len();
        let _ = writeln!(out, "\n{n} other playbook{}: no pattern found.", if n == 1 { "" } else { "s" });
    }
    out
}

/// The matcher id of a playbook pattern.
fn catalog_pattern(catalog: &Catalog, pat: &Pattern) -> Option<PatternId> {
    let spec = crate::engine::spec_of(&pat.kind);
    catalog.patterns.iter().position(|p| p.spec == spec).map(|i| i as PatternId)
}

fn weight_of(catalog: &Catalog, rules: usize, pat: &Pattern) -> Option<f64> {
    let id = catalog_pattern(catalog, pat)?;
    catalog.rules[rules].any.iter().find(|(p, _)| *p == id).map(|(_, w)| *w)
}

fn hint_weight_of(catalog: &Catalog, rules: usize, pat: &Pattern) -> Option<f64> {
    let id = catalog_pattern(catalog, pat)?;
    catalog.rules[rules].hints.iter().find(|(p, _)| *p == id).map(|(_, w)| *w)
}

/// The playbook's own streaming threshold, in words ("" when it has none).
fn outcome_threshold(p: &crate::playbook::Playbook) -> String {
    let t = &p.threshold;
    let mut parts = Vec::new();
    if let Some(c) = t.count {
        parts.push(format!("{c} matching lines"));
    }
    if let Some(w) = t.window {
        parts.push(format!("within {}", crate::duration::format(w)));
    }
    if let Some(m) = t.min_confidence {
        parts.push(format!("at confidence {m} or more"));
    }
    parts.join(" ")
}
