//! `faultline check`: validate and lint playbooks (and, later, config files).

use anyhow::Result;
use clap::Args;

use super::{PlaybookArgs, print};
use crate::engine::Catalog;
use crate::exit::Exit;
use crate::playbook::{self, lint};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also validate this `watch` configuration file (and the playbooks it names)
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Exit 1 when there are warnings (and no errors)
    #[arg(long)]
    pub strict: bool,
    /// List every pattern that several playbooks share (where they compete)
    #[arg(long)]
    pub overlaps: bool,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: CheckArgs) -> Result<Exit> {
    let mut sources = args.playbooks.sources();
    let mut config_diags = crate::diagnostic::Diagnostics::default();
    let mut threshold_ids = Vec::new();
    if let Some(path) = &args.config {
        match crate::config::load(path) {
            Ok(cfg) => {
                // The config's playbook locations, unless flags name others.
                if args.playbooks.playbooks.is_empty() && args.playbooks.packs.is_empty() {
                    sources = cfg.playbooks;
                }
                threshold_ids = cfg.per_playbook.into_keys().collect();
            }
            Err(d) => config_diags = d,
        }
    }
    let (playbooks, mut diags) = playbook::load(&sources);
    diags.extend(config_diags.0);
    threshold_ids.sort();
    for id in threshold_ids {
        if !playbooks.iter().any(|p| p.id == id) {
            let file = args.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            diags.push(crate::diagnostic::Diagnostic::warning(
                file,
                None,
                format!("thresholds.playbooks.{id}: no loaded playbook has this id"),
            ));
        }
    }
    diags.extend(lint::lint(&playbooks));
    diags.sort();
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    let mut out = diags.to_string();

    let log_playbooks = playbooks.iter().filter(|p| p.is_log_playbook()).count();
    let overlaps = lint::overlaps(&playbooks);
    if args.overlaps {
        for o in &overlaps {
            let kind = if o.regex { "regex" } else { "pattern" };
            out.push_str(&format!(
                "overlap: {kind} {:?} is shared by {} playbooks: {}\n",
                o.pattern,
                o.playbooks.len(),
                o.playbooks.join(", ")
            ));
        }
    }
    if errors == 0 {
        // Compile too: catches anything the matcher rejects.
        let count = playbooks.len();
        if let Err(e) = Catalog::new(playbooks) {
            out.push_str(&format!("error: cannot compile the playbooks: {e}\n"));
            print(&out)?;
            return Ok(Exit::Error);
        }
        out.push_str(&format!(
            "{} ({log_playbooks} for logs): {errors} errors, {}; {} shared by several playbooks{}\n",
            plural(count, "playbook"),
            plural(warnings, "warning"),
            plural(overlaps.len(), "pattern"),
            if args.overlaps || overlaps.is_empty() { "" } else { " (--overlaps lists them)" },
        ));
    } else {
        out.push_str(&format!("{}, {}\n", plural(errors, "error"), plural(warnings, "warning")));
    }
    print(&out)?;
    Ok(if errors > 0 {
        Exit::Error
    } else if warnings > 0 && args.strict {
        Exit::Warnings
    } else {
        Exit::Ok
    })
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
