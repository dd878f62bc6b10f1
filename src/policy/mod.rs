//! Institution-wide facts that runbooks refer to by name, read from `policies/`.
//!
//! Each policy file is optional: while it is absent, the names it would define are not
//! checked. [`context`] gathers the defined names for the runbook validator; [`check`]
//! reports what is wrong with the policy files themselves, the key register among them.

pub mod environment;
pub mod keys;
pub mod roster;

use crate::runbook::Context;
use environment::Environments;
use std::path::Path;

/// The file of environments inside a policies directory.
pub const ENVIRONMENTS: &str = "environments.yaml";

/// The names the policies in `dir` define, for checking runbooks against them.
pub fn context(dir: &Path) -> Context {
    let names = crate::expiry::references::Names::of(dir);
    let roles = roster::Roster::load_from(dir)
        .ok()
        .flatten()
        .map(|roster| roster.roles());
    Context {
        environments: names.environments,
        roles,
        groups: names.groups,
        templates: names.templates,
    }
}

/// Every problem of the policy files in `dir`, each rendered with its position.
pub fn check(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let path = dir.join(ENVIRONMENTS);
    let environments = path.exists().then(|| Environments::load(&path));
    if let Some(Err(error)) = environments {
        problems.push(error.to_string());
    }
    let register = dir.join(keys::KEYS);
    if register.exists() {
        // An environments file that does not load is reported above; check the rest without it.
        let known = keys::Known::from_policies(dir).unwrap_or_default();
        if let Err(error) = keys::Register::load(&register, &known) {
            problems.push(error.to_string());
        }
    }
    if let Some(report) = roster::check_dir(dir) {
        problems.push(report.to_string());
    }
    let notify = match crate::notify::Policy::load(dir) {
        Ok(policy) => {
            let reports = crate::notify::check_loaded(&policy, dir);
            problems.extend(reports.iter().map(ToString::to_string));
            Some(policy)
        }
        Err(error) => {
            problems.extend(error.reports.iter().map(ToString::to_string));
            None
        }
    };
    if dir.join(crate::expiry::INVENTORY).exists() {
        problems.extend(check_inventory(dir, notify.as_ref()));
    }
    problems
}

/// The expiry inventory with the keys of the register, then every name it refers to in the
/// other policies and the runbooks beside them. A register that does not load is reported
/// above, so the inventory is then checked without its keys.
fn check_inventory(dir: &Path, notify: Option<&crate::notify::Policy>) -> Option<String> {
    let mut inventory = match crate::expiry::Inventory::load(&dir.join(crate::expiry::INVENTORY)) {
        Ok(inventory) => inventory,
        Err(error) => return Some(error.to_string()),
    };
    let register = keys::Register::load(dir.join(keys::KEYS), &keys::Known::default());
    if let Ok(register) = register
        && let Err(error) = inventory.add_register(&register)
    {
        return Some(error.to_string());
    }

    let names = crate::expiry::references::Names::with_notify(notify, dir);
    crate::expiry::references::check(&inventory, dir, &names)
        .err()
        .map(|error| error.to_string())
}
