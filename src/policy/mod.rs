//! Institution-wide facts that runbooks refer to by name, read from `policies/`.
//!
//! Each policy file is optional: while it is absent, the names it would define are not
//! checked. [`context`] gathers the defined names for the runbook validator; [`check`]
//! reports what is wrong with the policy files themselves.

pub mod roster;

use crate::runbook::{Context, Report};
use std::path::Path;

/// The names the policies in `dir` define, for checking runbooks against them.
pub fn context(dir: &Path) -> Context {
    let roles = roster::Roster::load_from(dir)
        .ok()
        .flatten()
        .map(|roster| roster.roles());
    Context {
        roles,
        ..Context::default()
    }
}

/// Every problem of the policy files in `dir`.
pub fn check(dir: &Path) -> Vec<Report> {
    roster::check_dir(dir).into_iter().collect()
}
