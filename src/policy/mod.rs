//! Institution-wide facts that runbooks refer to by name, read from `policies/`.
//!
//! Each policy file is optional: while it is absent, the names it would define are not
//! checked. [`context`] gathers the defined names for the runbook validator; [`check`]
//! reports what is wrong with the policy files themselves.

use crate::runbook::{Context, Report};
use std::path::Path;

/// The names the policies in `dir` define, for checking runbooks against them.
pub fn context(dir: &Path) -> Context {
    let _ = dir;
    Context::default()
}

/// Every problem of the policy files in `dir`.
pub fn check(dir: &Path) -> Vec<Report> {
    let _ = dir;
    Vec::new()
}
