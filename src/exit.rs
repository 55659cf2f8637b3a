//! Exit codes: the single source of truth.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success (for `analyze`, whether or not anything matched).
    Ok = 0,
    /// `check --strict` found warnings (and no errors).
    Warnings = 1,
    /// Bad flags, unreadable input, invalid playbooks or config.
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}
