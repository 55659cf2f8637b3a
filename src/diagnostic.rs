//! Problems found in user input (playbooks, config files), each pointing at a file, line and column.
//!
//! Loading never stops at the first problem: it collects every diagnostic of every file so the user
//! can fix them all in one go.

use std::fmt;

use crate::playbook::model::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub file: String,
    pub loc: Option<Loc>,
    pub level: Level,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, loc: Option<Loc>, message: impl Into<String>) -> Self {
        Self { file: file.into(), loc, level: Level::Error, message: message.into() }
    }

    pub fn warning(file: impl Into<String>, loc: Option<Loc>, message: impl Into<String>) -> Self {
        Self { file: file.into(), loc, level: Level::Warning, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        match self.loc {
            Some(loc) => write!(f, "{}:{}: {level}: {}", self.file, loc, self.message),
            None => write!(f, "{}: {level}: {}", self.file, self.message),
        }
    }
}

/// A list of diagnostics, with helpers to ask whether any is fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Stable order: by file, then position.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| (&a.file, a.loc, a.level).cmp(&(&b.file, b.loc, b.level)));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Turns a `serde_saphyr` error into a diagnostic for `file`.
pub fn from_yaml_error(file: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let loc = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Loc { line: l.line() as u32, col: l.column() as u32 });
    let rendered = err.without_snippet().to_string();
    // The message ends with " at line L, column C" (or starts with "error: line L column C: ");
    // the location is shown in our own prefix, so drop theirs.
    let mut message = rendered.lines().next().unwrap_or("").trim().to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    if let Some(rest) = message.strip_prefix("error: ") {
        message = rest.to_string();
    }
    Diagnostic::error(file, loc, message)
}
