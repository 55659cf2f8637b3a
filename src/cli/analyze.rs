//! `faultline analyze [FILE|-]`

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{PlaybookArgs, print};
use crate::analyze::{Options, analyze_reader};
use crate::exit::Exit;
use crate::frame::DEFAULT_MAX_LINE_BYTES;
use crate::render::{Format, analysis};

/// Files at least this big get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log file to analyse; `-` or nothing reads standard input
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Number of results to show (0 = all)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub top: usize,
    /// Lines longer than this are cut
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES, value_name = "BYTES")]
    pub max_line_bytes: usize,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: AnalyzeArgs) -> Result<Exit> {
    let catalog = args.playbooks.catalog()?;
    let options = Options { max_line_bytes: args.max_line_bytes, ..Options::default() };
    let stdin_input = args.file.as_ref().is_none_or(|f| f.as_os_str() == "-");
    let outcome = if stdin_input {
        analyze_reader(&catalog, io::stdin().lock(), options, |_| {}).context("cannot read standard input")?
    } else {
        let path = args.file.as_ref().expect("checked above");
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            anyhow::bail!("cannot analyse {}: it is a directory", path.display());
        }
        let bar = progress_bar(meta.len());
        let outcome = analyze_reader(&catalog, file, options, |n| bar.set_position(n))
            .with_context(|| format!("cannot read {}", path.display()))?;
        bar.finish_and_clear();
        outcome
    };
    let results = outcome.rank(&catalog);
    let report = analysis::Report {
        catalog: &catalog,
        results: &results,
        top: args.top,
        lines: outcome.lines,
        bytes: outcome.bytes,
    };
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Text => analysis::text(&report),
        Format::Json => analysis::json(&report),
        Format::Markdown => analysis::markdown(&report),
    };
    print(&text)?;
    Ok(Exit::Ok)
}

fn progress_bar(len: u64) -> ProgressBar {
    if len < PROGRESS_MIN_BYTES || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
            .expect("valid template"),
    );
    bar
}
