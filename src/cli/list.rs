//! `faultline list`

use anyhow::Result;
use clap::Args;

use super::{PlaybookArgs, print};
use crate::exit::Exit;
use crate::render::playbook::{list_json, list_text};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only playbooks of this category
    #[arg(long, value_name = "CATEGORY")]
    pub category: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: ListArgs) -> Result<Exit> {
    let playbooks = args.playbooks.load()?;
    let mut shown: Vec<_> = playbooks
        .iter()
        .filter(|p| args.category.as_deref().is_none_or(|c| p.category.eq_ignore_ascii_case(c)))
        .collect();
    shown.sort_by(|a, b| (&a.category, &a.id).cmp(&(&b.category, &b.id)));
    if let (Some(c), true) = (&args.category, shown.is_empty()) {
        let mut cats: Vec<&str> = playbooks.iter().map(|p| p.category.as_str()).collect();
        cats.sort_unstable();
        cats.dedup();
        anyhow::bail!("no playbook has category {c:?} (categories: {})", cats.join(", "));
    }
    print(&if args.json { list_json(&shown) } else { list_text(&shown) })?;
    Ok(Exit::Ok)
}
