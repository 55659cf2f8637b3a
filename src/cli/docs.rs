//! `faultline docs --out DIR [--check]`: writes (or checks) the playbook pages.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::{PlaybookArgs, print};
use crate::exit::Exit;
use crate::render::docs;

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// Directory of the pages (one per playbook, plus README.md, the index)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write nothing; exit 1 listing the pages that are missing, stale or left over
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: DocsArgs) -> Result<Exit> {
    let playbooks = args.playbooks.load()?;
    let shown: Vec<_> = playbooks.iter().filter(|p| p.is_log_playbook()).collect();
    let mut pages: BTreeMap<String, String> =
        shown.iter().map(|p| (docs::page_name(p), docs::page(p))).collect();
    pages.insert("README.md".into(), docs::index(&shown));
    if args.check {
        let mut problems = Vec::new();
        for (name, text) in &pages {
            match fs::read_to_string(args.out.join(name)) {
                Ok(old) if old == *text => {}
                Ok(_) => problems.push(format!("stale: {}", args.out.join(name).display())),
                Err(_) => problems.push(format!("missing: {}", args.out.join(name).display())),
            }
        }
        if let Ok(rd) = fs::read_dir(&args.out) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".md") && !pages.contains_key(&name) {
                    problems.push(format!("left over: {}", e.path().display()));
                }
            }
        }
        if problems.is_empty() {
            print(&format!("{} pages up to date in {}\n", pages.len(), args.out.display()))?;
            return Ok(Exit::Ok);
        }
        problems.push(format!("run `faultline docs --out {}` to regenerate", args.out.display()));
        eprintln!("{}", problems.join("\n"));
        return Ok(Exit::Warnings);
    }
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    if let Ok(rd) = fs::read_dir(&args.out) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") && !pages.contains_key(&name) {
                fs::remove_file(e.path()).with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
    }
    for (name, text) in &pages {
        let path = args.out.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(text) {
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    print(&format!("{} pages written to {}\n", pages.len(), args.out.display()))?;
    Ok(Exit::Ok)
}
