//! `faultline explain ID`

use anyhow::Result;
use clap::Args;

use super::{PlaybookArgs, print};
use crate::exit::Exit;
use crate::render::{Format, playbook};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Playbook id (see `faultline list`)
    #[arg(value_name = "ID")]
    pub id: String,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub playbooks: PlaybookArgs,
}

pub fn run(args: ExplainArgs) -> Result<Exit> {
    let playbooks = args.playbooks.load()?;
    let Some(p) = playbooks.iter().find(|p| p.id == args.id) else {
        let ids: Vec<&str> = playbooks.iter().map(|p| p.id.as_str()).collect();
        let near = nearest(&args.id, &ids, 3);
        let hint = if near.is_empty() {
            "run `faultline list` to see every id".to_string()
        } else {
            format!("did you mean {}?", near.join(", "))
        };
        anyhow::bail!("no playbook with id {:?}; {hint}", args.id);
    };
    let text = match args.format {
        Format::Text => playbook::explain_text(p),
        Format::Markdown => playbook::explain_markdown(p),
        Format::Json => playbook::explain_json(p),
    };
    print(&text)?;
    Ok(Exit::Ok)
}

/// Up to `n` ids closest to `wanted`: ids containing it first, then by edit distance.
fn nearest<'a>(wanted: &str, ids: &[&'a str], n: usize) -> Vec<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = ids
        .iter()
        .map(|id| {
            let d = if id.contains(wanted.as_str()) || wanted.contains(*id) {
                0
            } else {
                levenshtein(&wanted, id)
            };
            (d, *id)
        })
        .filter(|(d, id)| *d <= (id.len().max(wanted.len()) / 2).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, id)| id).collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_ids() {
        let ids = ["oom-killed", "segfault", "disk-full", "entrypoint-misconfigured"];
        assert_eq!(nearest("oom-kiled", &ids, 3), vec!["oom-killed"]);
        assert_eq!(nearest("entrypoint", &ids, 3), vec!["entrypoint-misconfigured"]);
        assert!(nearest("zzzzzzzzzz", &ids, 3).is_empty());
    }
}
