//! Finding and loading playbook files: the bundled catalog and directories given by the user.
//!
//! Directories are walked recursively (dot-entries skipped), `*.yaml`/`*.yml` files are read in
//! sorted path order, every file's problems are collected, and duplicate ids across everything
//! loaded are errors.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::model::{Origin, Playbook};
use super::parse::parse_playbook;
use crate::diagnostic::{Diagnostic, Diagnostics};

mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled_playbooks.rs"));
}

/// Where to take playbooks from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookSource {
    /// The catalog compiled into the binary.
    Bundled,
    /// A directory on disk, walked recursively.
    Dir(PathBuf),
}

/// The sources implied by `--playbooks` (replaces the bundled set) and `--pack` (adds to it).
pub fn sources_from_flags(playbooks: &[PathBuf], packs: &[PathBuf]) -> Vec<PlaybookSource> {
    let mut out = Vec::new();
    if playbooks.is_empty() {
        out.push(PlaybookSource::Bundled);
    } else {
        out.extend(playbooks.iter().cloned().map(PlaybookSource::Dir));
    }
    out.extend(packs.iter().cloned().map(PlaybookSource::Dir));
    out
}

/// Number of bundled playbook files.
pub fn bundled_count() -> usize {
    bundled::BUNDLED.len()
}

/// Loads every playbook from `sources`. Playbooks with errors are left out; all diagnostics
/// (errors and load warnings) are returned.
pub fn load(sources: &[PlaybookSource]) -> (Vec<Playbook>, Diagnostics) {
    let mut playbooks = Vec::new();
    let mut diags = Diagnostics::default();
    for source in sources {
        match source {
            PlaybookSource::Bundled => {
                for (rel, text) in bundled::BUNDLED {
                    let origin = Origin { path: format!("playbooks/{rel}"), bundled: true };
                    add(parse_playbook(text, origin), &mut playbooks, &mut diags);
                }
            }
            PlaybookSource::Dir(dir) => load_dir(dir, &mut playbooks, &mut diags),
        }
    }
    check_duplicate_ids(&mut playbooks, &mut diags);
    (playbooks, diags)
}

fn add(parsed: (Option<Playbook>, Vec<Diagnostic>), playbooks: &mut Vec<Playbook>, diags: &mut Diagnostics) {
    let (playbook, d) = parsed;
    diags.extend(d);
    playbooks.extend(playbook);
}

fn load_dir(dir: &Path, playbooks: &mut Vec<Playbook>, diags: &mut Diagnostics) {
    let shown = dir.display().to_string();
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            diags.push(Diagnostic::error(
                shown,
                None,
                "not a directory (--playbooks and --pack take directories)",
            ));
            return;
        }
        Err(e) => {
            diags.push(Diagnostic::error(shown, None, format!("cannot read playbook directory: {e}")));
            return;
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files, diags);
    files.sort();
    if files.is_empty() {
        diags.push(Diagnostic::warning(shown, None, "no *.yaml or *.yml playbook files found"));
    }
    for file in files {
        let path = file.display().to_string();
        match fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => add(parse_playbook(&text, Origin { path, bundled: false }), playbooks, diags),
                Err(e) => diags.push(Diagnostic::error(
                    path,
                    None,
                    format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )),
            },
            Err(e) => diags.push(Diagnostic::error(path, None, format!("cannot read file: {e}"))),
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Diagnostics) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::error(
                dir.display().to_string(),
                None,
                format!("cannot list directory: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks: a pack may link files in from elsewhere.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out, diags);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(path);
        }
    }
}

fn check_duplicate_ids(playbooks: &mut Vec<Playbook>, diags: &mut Diagnostics) {
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut drop = Vec::new();
    for (i, p) in playbooks.iter().enumerate() {
        match first.get(&p.id) {
            Some(&j) => {
                let other = &playbooks[j];
                diags.push(Diagnostic::error(
                    &p.origin.path,
                    Some(p.id_loc),
                    format!(
                        "duplicate id {:?}: already defined in {}:{}",
                        p.id, other.origin.path, other.id_loc
                    ),
                ));
                drop.push(i);
            }
            None => {
                first.insert(p.id.clone(), i);
            }
        }
    }
    for i in drop.into_iter().rev() {
        playbooks.remove(i);
    }
}
