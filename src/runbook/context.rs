//! What the validator knows of the world outside a runbook: the names policies define.
//!
//! Each set is `None` until the policy that defines it exists, so a runbook is not rejected
//! for naming a role before any roster has been written.

use std::collections::BTreeSet;

/// Names defined by the policies, for checking the names a runbook uses.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub environments: Option<BTreeSet<String>>,
    pub roles: Option<BTreeSet<String>>,
    pub groups: Option<BTreeSet<String>>,
    pub templates: Option<BTreeSet<String>>,
}
