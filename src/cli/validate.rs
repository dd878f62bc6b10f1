//! `custos validate`: every problem of every runbook and policy, then a one-line verdict.
//!
//! Paths name runbook files or directories of them. The policies directory (or a file in it
//! that is not a runbook) stands for the policies, which are checked together since they refer
//! to each other. A directory with no runbook in it, a path that does not exist, or a policy
//! file outside the policies directory is a usage error (exit 2): something the user meant to
//! check was not.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files or directories of them; with none, `runbooks/` and the policies.
    paths: Vec<PathBuf>,
}

/// The file names policies use; a runbook is never called this.
const POLICY_FILES: &[&str] = &[
    custos::policy::ENVIRONMENTS,
    custos::policy::roster::FILE_NAME,
    custos::policy::keys::KEYS,
    custos::expiry::INVENTORY,
    "notify.yaml",
    "escalation.yaml",
];

/// What the arguments ask to check.
struct Plan {
    files: Vec<PathBuf>,
    policies: bool,
}

pub fn run(args: &Args, policies: &Path) -> anyhow::Result<ExitCode> {
    let plan = match plan(args, policies) {
        Ok(plan) => plan,
        Err(usage) => {
            errln!("custos: {usage}");
            return Ok(ExitCode::from(super::INVALID));
        }
    };

    let mut invalid = 0;
    let policy_problems = custos::policy::check(policies);
    for problem in &policy_problems {
        errln!("{}", problem.trim_end());
        invalid += 1;
    }
    if plan.policies && policy_problems.is_empty() {
        outln!("{}: ok (policy files checked together)", policies.display());
    }
    if !plan.policies && !policy_problems.is_empty() {
        errln!(
            "custos: the policies in `{}` have the problems above, so the roles, groups, \
             templates and environments runbooks name are not all checked",
            policies.display()
        );
    }

    let context = custos::policy::context(policies);
    for file in &plan.files {
        match custos::runbook::load(file, &context) {
            Ok(loaded) => outln!(
                "{}: ok ({} nodes)",
                file.display(),
                loaded.runbook.nodes.len()
            ),
            Err(report) => {
                err!("{report}");
                invalid += 1;
            }
        }
    }

    if invalid > 0 {
        errln!("custos: {invalid} file(s) invalid");
        return Ok(ExitCode::from(super::FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The runbook files to check and whether to check the policies, or why the arguments name
/// nothing that can be checked.
fn plan(args: &Args, policies: &Path) -> Result<Plan, String> {
    if args.paths.is_empty() {
        return default_plan(policies);
    }

    let mut plan = Plan {
        files: Vec::new(),
        policies: false,
    };
    for path in &args.paths {
        if !path.exists() {
            return Err(format!("`{}` does not exist", path.display()));
        }
        if within(path, policies) && !(path.is_file() && has_nodes(path)) {
            plan.policies = true;
        } else if path.is_dir() {
            let found = runbooks_in(path)?;
            if found.is_empty() {
                return Err(format!(
                    "`{}` holds no runbook: no `.yaml` or `.yml` file is directly in it",
                    path.display()
                ));
            }
            plan.files.extend(found);
        } else if is_policy_file(path) {
            return Err(format!(
                "`{}` is a policy file, not a runbook, and not in the policies directory `{}`; \
                 policies are checked together: `custos --policies DIR validate DIR`",
                path.display(),
                policies.display()
            ));
        } else {
            plan.files.push(path.clone());
        }
    }
    Ok(plan)
}

/// With no path: `runbooks/` and the policies, whichever of them exist.
fn default_plan(policies: &Path) -> Result<Plan, String> {
    let runbooks = Path::new("runbooks");
    if !runbooks.is_dir() && !policies.is_dir() {
        return Err(format!(
            "nothing to check here: there is no `runbooks/` and no policies directory `{}`; run \
             it in a custos directory, or name the runbooks to check",
            policies.display()
        ));
    }
    let files = if runbooks.is_dir() {
        runbooks_in(runbooks)?
    } else {
        Vec::new()
    };
    Ok(Plan {
        files,
        policies: policies.is_dir(),
    })
}

/// The `.yaml` and `.yml` files directly in `dir`, sorted.
fn runbooks_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list `{}`: {error}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot list `{}`: {error}", dir.display()))?
            .path();
        let yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `path` is the policies directory or lies inside it.
fn within(path: &Path, policies: &Path) -> bool {
    let (Ok(path), Ok(policies)) = (path.canonicalize(), policies.canonicalize()) else {
        return false;
    };
    path.starts_with(policies)
}

/// Whether a file is named like a policy file and is not a runbook.
fn is_policy_file(path: &Path) -> bool {
    let named = path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| POLICY_FILES.contains(&name));
    named && !has_nodes(path)
}

/// Whether a file has `nodes:` at its top, as every runbook has and no policy file does: a
/// runbook kept beside the policies is still checked as a runbook.
fn has_nodes(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .is_ok_and(|text| text.lines().any(|line| line.starts_with("nodes:")))
}
