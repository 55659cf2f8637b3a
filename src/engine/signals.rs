//! Named hypothesis signals that Faultline packs refer to (`test.timeout.detected`, …).
//!
//! Besides the generic `log.contains:TEXT` / `log.absent:TEXT`, Faultline's hypothesis layer knows
//! a registry of named signals, each a list of log strings (or a union / negation of other
//! names). Packs use them, so we evaluate them the same way: a named log signal fires when any of
//! its strings is in the log. Signals about repository deltas or topology need context a log does
//! not carry; they are treated as absent, as is every name not listed here.

/// How a named signal is evaluated.
pub enum Named {
    /// Fires when the log contains any of these strings.
    AnyOf(&'static [&'static str]),
    /// Fires when any of these named signals fires.
    Union(&'static [&'static str]),
    /// Fires when the named signal does not.
    Not(&'static str),
}

pub fn lookup(name: &str) -> Option<&'static Named> {
    REGISTRY.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
}

/// The strings a named signal stands for, and whether it fires on their absence.
pub fn expand(name: &str) -> Option<(Vec<&'static str>, bool)> {
    match lookup(name)? {
        Named::AnyOf(list) => Some((list.to_vec(), false)),
        Named::Union(names) => {
            let mut all = Vec::new();
            for n in *names {
                let (list, negated) = expand(n)?;
                if negated {
                    return None;
                }
                all.extend(list);
            }
            Some((all, false))
        }
        Named::Not(n) => {
            let (list, negated) = expand(n)?;
            Some((list, !negated))
        }
    }
}

static REGISTRY: &[(&str, Named)] = &[
    (
        "cache.restore.detected",
        Named::AnyOf(&[
            "cache hit",
            "restored cache",
            "restore cache",
            "cache restored",
            "using cache",
            "actions/cache",
            "cache key",
        ]),
    ),
    ("cache.restore.absent", Named::Not("cache.restore.detected")),
    (
        "dependency.cache.corrupt",
        Named::AnyOf(&[
            "cache is corrupted",
            "corrupt cache",
            "invalid cache",
            "cache hit but install failed",
            "checksum mismatch",
            "hash mismatch",
            "unexpected end of archive",
            "corrupted tar archive",
            "bad gzip",
        ]),
    ),
    (
        "dependency.resolution.conflict",
        Named::AnyOf(&[
            "conflicting requirements",
            "dependency conflict",
            "version conflict",
            "incompatible versions",
            "requires a different version",
            "error: there is a conflict",
            "failed to resolve dependencies",
            "dependency resolution failed",
        ]),
    ),
    (
        "dependency.lockfile.sync_error",
        Named::Union(&[
            "dependency.npm.lockfile.sync_error",
            "dependency.pnpm.lockfile.sync_error",
            "dependency.yarn.lockfile.sync_error",
            "dependency.poetry.lockfile.stale",
            "dependency.go.sum.missing",
        ]),
    ),
    (
        "dependency.npm.lockfile.sync_error",
        Named::AnyOf(&[
            "npm ci can only install packages when your package.json and package-lock.json",
            "package.json and package-lock.json are in sync",
            "missing package-lock.json",
            "npm err! cipm can only install packages",
            "package-lock.json does not exist",
            "run `npm install` to generate a lockfile",
        ]),
    ),
    (
        "dependency.pnpm.lockfile.sync_error",
        Named::AnyOf(&[
            "err_pnpm_outdated_lockfile",
            "err_pnpm_frozen_lockfile",
            "err_pnpm_lockfile_version",
            "cannot install with `frozen-lockfile`",
            "pnpm-lock.yaml is not up to date",
            "lockfile is not up to date with",
            "run `pnpm install` to update the lockfile",
            "pnpm install --frozen-lockfile",
        ]),
    ),
    (
        "dependency.yarn.lockfile.sync_error",
        Named::AnyOf(&[
            "your lockfile needs to be updated",
            "frozen-lockfile",
            "yarn.lock: no such file or directory",
            "error your lockfile needs to be updated",
            "yarn install --frozen-lockfile",
            "yn0028",
            "--immutable",
            "the lockfile would have been modified by this install",
        ]),
    ),
    (
        "dependency.poetry.lockfile.stale",
        Named::AnyOf(&[
            "poetry.lock is not consistent with pyproject.toml",
            "run `poetry lock [--no-update]` to fix it.",
            "installing dependencies from lock file",
            "version solving failed",
        ]),
    ),
    (
        "dependency.go.sum.missing",
        Named::AnyOf(&[
            "missing go.sum entry for module providing package",
            "go.sum file is not up to date",
            "verifying module",
            "no required module provides",
        ]),
    ),
    (
        "dependency.hash.mismatch",
        Named::AnyOf(&[
            "these packages do not match the hashes from the requirements file",
            "expected sha256",
            "hash mismatch (got:",
            "does not match expected hash",
            "record mismatch",
            "hash of the downloaded file",
            "there are no versions that match the hash",
        ]),
    ),
    (
        "dependency.package.not_found",
        Named::AnyOf(&[
            "error: could not find a version that satisfies",
            "error: no matching distribution found",
            "could not find package",
            "package not found",
            "e: unable to locate package",
        ]),
    ),
    (
        "dependency.pip.install.failed",
        Named::AnyOf(&[
            "pip install",
            "pip._internal",
            "resolutionimpossible",
            "could not build wheels for",
            "error: command 'gcc' failed",
            "error: pip's dependency resolver",
            "requirements were not successfully fulfilled",
            "preparing metadata (setup.py) did not run successfully",
            "could not fetch url",
            "connection error",
            "error: failed building wheel",
        ]),
    ),
    (
        "runtime.node.version.mismatch",
        Named::AnyOf(&[
            "the engine \"node\" is incompatible with this module",
            "required engine node",
            "requires node version",
            "engine: unsatisfied",
            "unsupported engine",
            "error node@",
            "warning: you are using node.js",
            "this version of node is not supported",
            "expected node version",
            "engines: {\"node\":",
        ]),
    ),
    (
        "runtime.language.version.mismatch",
        Named::AnyOf(&[
            "python version",
            "requires python",
            "requires ruby version",
            "go version",
            "unsupported python",
            "ruby version",
            "go.mod requires go",
        ]),
    ),
    (
        "runtime.version.mismatch",
        Named::Union(&["runtime.node.version.mismatch", "runtime.language.version.mismatch"]),
    ),
    (
        "test.retry.detected",
        Named::AnyOf(&[
            "failed on attempt",
            "intermittent failure",
            "test is flaky",
            "flaky test",
            "retry attempt",
            "test passed on retry",
            "sporadically fails",
        ]),
    ),
    (
        "test.timeout.detected",
        Named::AnyOf(&[
            "test timed out",
            "exceeded timeout",
            "timeout - async callback was not invoked within",
            "test timeout of",
            "jest timeout",
            "go test -timeout",
            "test exceeded",
            "async test timed out",
            "waiting for assertion",
        ]),
    ),
    (
        "test.parallel.resource_conflict",
        Named::AnyOf(&[
            "resource is busy",
            "test is not parallelizable",
            "race detected",
            "too many connections",
            "database locked",
        ]),
    ),
    (
        "test.fixture.missing",
        Named::AnyOf(&[
            "fixture not found",
            "missing fixture",
            "fixture file missing",
            "filenotfounderror",
            "could not find test data",
            "test helper",
            "before(:each) failed",
            "beforeall",
            "setup failed",
            "testdata",
        ]),
    ),
    (
        "test.database.duplicate_state",
        Named::AnyOf(&[
            "already exists",
            "duplicate key value",
            "uniqueconstraintviolation",
            "integrityerror",
            "duplicate entry",
            "expected count to be",
            "pg::uniqueviolation",
            "sqlstate 23505",
            "violates unique constraint",
        ]),
    ),
    (
        "test.order.dependency",
        Named::AnyOf(&[
            "depends on previous test",
            "test order",
            "test assumes",
            "leaked state",
            "global state",
            "left over from previous",
        ]),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_and_negations_expand() {
        let (list, neg) = expand("runtime.version.mismatch").unwrap();
        assert!(!neg && list.contains(&"requires python") && list.contains(&"unsupported engine"));
        let (list, neg) = expand("cache.restore.absent").unwrap();
        assert!(neg && list.contains(&"cache hit"));
        assert!(expand("delta.scope.changed").is_none());
    }
}
