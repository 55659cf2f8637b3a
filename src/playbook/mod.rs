//! Playbooks: the YAML format, loading (bundled catalog and directories) and linting.
//!
//! Knows nothing about matching or tailing: it turns files into validated [`Playbook`] values and
//! [`Diagnostic`](crate::diagnostic::Diagnostic)s.

pub mod lint;
pub mod load;
pub mod model;
pub mod parse;

pub use load::{PlaybookSource, load, sources_from_flags};
pub use model::{Loc, Pattern, PatternKind, Playbook, Severity, Text, Threshold};
