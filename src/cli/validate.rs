//! `custos validate`: every problem of every runbook and policy, then a one-line verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files or directories of them; with none, `runbooks/` and the policies.
    paths: Vec<PathBuf>,
}

pub fn run(args: &Args, policies: &Path) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    let mut check_policies = args.paths.is_empty();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("runbooks")]
    } else {
        args.paths.clone()
    };

    for path in &paths {
        if path.is_dir() && same_dir(path, policies) {
            check_policies = true;
        } else if path.is_dir() {
            files.extend(runbooks_in(path)?);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            eprintln!("custos: `{}` does not exist", path.display());
            return Ok(ExitCode::from(super::INVALID));
        }
    }

    let mut invalid = 0;
    if check_policies {
        for problem in custos::policy::check(policies) {
            eprintln!("{}", problem.trim_end());
            invalid += 1;
        }
    }

    let context = custos::policy::context(policies);
    for file in &files {
        match custos::runbook::load(file, &context) {
            Ok(loaded) => println!(
                "{}: ok ({} nodes)",
                file.display(),
                loaded.runbook.nodes.len()
            ),
            Err(report) => {
                eprint!("{report}");
                invalid += 1;
            }
        }
    }

    if invalid > 0 {
        eprintln!("custos: {invalid} file(s) invalid");
        return Ok(ExitCode::from(super::FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `.yaml` and `.yml` files directly in `dir`, sorted.
fn runbooks_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|error| anyhow::anyhow!("cannot list `{}`: {error}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
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

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
