//! CI stage inference: the first line containing a stage keyword fixes the stage of the log;
//! on that line deploy keywords win over test keywords, which win over build keywords.
//! Keywords are plain substrings of the normalised line (Faultline's lists, verbatim).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Build,
    Test,
    Deploy,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Build => "build",
            Stage::Test => "test",
            Stage::Deploy => "deploy",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [Stage::Build, Stage::Test, Stage::Deploy].into_iter().find(|st| st.as_str() == s)
    }

    /// Bit used in per-pattern stage masks.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Stage::Deploy => 1,
            Stage::Test => 2,
            Stage::Build => 4,
        }
    }

    /// The winning stage of a line whose keyword hits form `mask`.
    pub(crate) fn from_mask(mask: u8) -> Option<Stage> {
        [Stage::Deploy, Stage::Test, Stage::Build].into_iter().find(|s| mask & s.bit() != 0)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEPLOY_KEYWORDS: &[&str] = &[
    "kubectl",
    "helm",
    "terraform",
    "docker push",
    "docker run",
    "deploy",
    "release",
    "publish",
    "helm upgrade",
    "kubectl apply",
];
pub const TEST_KEYWORDS: &[&str] = &[
    "go test",
    "pytest",
    "jest",
    "mocha",
    "rspec",
    "vitest",
    "phpunit",
    "cargo test",
    "npm test",
    "yarn test",
    "test",
];
pub const BUILD_KEYWORDS: &[&str] = &[
    "go build",
    "npm run build",
    "yarn build",
    "cargo build",
    "mvn package",
    "gradle build",
    "make",
    "javac",
    "compile",
    "build",
];

/// Every keyword with its stage.
pub fn keywords() -> impl Iterator<Item = (&'static str, Stage)> {
    DEPLOY_KEYWORDS
        .iter()
        .map(|k| (*k, Stage::Deploy))
        .chain(TEST_KEYWORDS.iter().map(|k| (*k, Stage::Test)))
        .chain(BUILD_KEYWORDS.iter().map(|k| (*k, Stage::Build)))
}

/// Tracks the stage while lines stream past, given each line's keyword mask in line order.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTracker {
    stage: Option<Stage>,
}

impl StageTracker {
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    pub fn is_fixed(&self) -> bool {
        self.stage.is_some()
    }

    /// Sets the stage (restoring saved state).
    pub fn force(&mut self, stage: Stage) {
        self.stage = Some(stage);
    }

    /// Records the complete keyword mask of one line; the first non-empty mask wins.
    pub fn observe_line(&mut self, mask: u8) {
        if self.stage.is_none() {
            self.stage = Stage::from_mask(mask);
        }
    }
}
