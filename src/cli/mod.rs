//! Command-line interface: flags (clap) → typed options → the library. One file per command.

mod analyze;
mod check;
mod docs;
mod explain;
mod list;
mod trace;
mod watch;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::engine::Catalog;
use crate::exit::Exit;
use crate::playbook::{self, Playbook};

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "Tells you why something failed, the moment the evidence shows up in a log",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Rank the playbooks that explain a log (a file, or `-` for stdin)
    Analyze(analyze::AnalyzeArgs),
    /// Show a whole playbook: what the failure means, how to confirm and fix it, its signals
    Explain(explain::ExplainArgs),
    /// List the loaded playbooks
    List(list::ListArgs),
    /// Validate and lint playbooks (and a config file)
    Check(check::CheckArgs),
    /// Follow log streams and report failures as soon as the evidence shows up
    Watch(watch::WatchArgs),
    /// Show why a log did or did not match: per playbook, each pattern's hits, vetoes and score
    Trace(trace::TraceArgs),
    /// Write (or --check) the markdown page of every playbook and an index
    Docs(docs::DocsArgs),
}

/// Where playbooks come from; shared by every command.
#[derive(Debug, Clone, Args, Default)]
pub struct PlaybookArgs {
    /// Load the playbooks in DIR instead of the bundled catalog (repeatable)
    #[arg(long = "playbooks", value_name = "DIR")]
    pub playbooks: Vec<PathBuf>,
    /// Add the playbooks in DIR on top of the catalog (repeatable)
    #[arg(long = "pack", value_name = "DIR")]
    pub packs: Vec<PathBuf>,
}

impl PlaybookArgs {
    pub fn sources(&self) -> Vec<playbook::PlaybookSource> {
        playbook::sources_from_flags(&self.playbooks, &self.packs)
    }

    /// Loads the playbooks; any error is fatal, reported as one line naming the first problem.
    pub fn load(&self) -> Result<Vec<Playbook>> {
        let (playbooks, diags) = playbook::load(&self.sources());
        let errors: Vec<_> = diags.errors().collect();
        if let Some(first) = errors.first() {
            let more = match errors.len() {
                1 => String::new(),
                n => format!(" (and {} more; run `faultline check` to see them all)", n - 1),
            };
            bail!("invalid playbooks: {first}{more}");
        }
        Ok(playbooks)
    }

    pub fn catalog(&self) -> Result<Catalog> {
        let playbooks = self.load()?;
        Catalog::new(playbooks).map_err(|e| anyhow::anyhow!("cannot compile playbooks: {e}"))
    }
}

pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Explain(args) => explain::run(args),
        Command::List(args) => list::run(args),
        Command::Check(args) => check::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Docs(args) => docs::run(args),
    }
}

/// Writes command output to stdout, styles stripped unless stdout is a colour terminal.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
