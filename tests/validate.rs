//! `custos validate`: the shipped runbooks pass, and every class of broken runbook is
//! reported with its exact message, position, offending line and hint.
//!
//! Each file in `tests/corpus/invalid` is a runbook broken in one way; beside it, a `.stderr`
//! file holds what `custos validate` must print. Run with `CUSTOS_BLESS=1` to rewrite those
//! files after a deliberate change of wording, then read the diff.

#![allow(clippy::unwrap_used)]

mod support;

use support::cli::{custos, repo};

#[test]
fn every_broken_runbook_in_the_corpus_is_rejected_with_its_message() {
    let dir = repo().join("tests/corpus/invalid");
    let bless = std::env::var_os("CUSTOS_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus has {} files", files.len());

    let mut mismatches = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let run = custos().current_dir(&dir).args(["validate", name]).run();
        assert_eq!(
            run.code, 1,
            "{name} must be invalid; stderr:\n{}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{name} prints nothing on stdout");

        let expected_path = file.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &run.stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run with CUSTOS_BLESS=1",
                expected_path.display()
            )
        });
        if run.stderr != expected {
            mismatches.push(format!(
                "--- {name} expected:\n{expected}--- got:\n{}",
                run.stderr
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_dangling_edge_names_the_node_and_suggests_the_right_one() {
    let dir = repo().join("tests/corpus/invalid");
    let run = custos()
        .current_dir(&dir)
        .args(["validate", "dangling-edge.yaml"])
        .run();
    assert_eq!(
        run.stderr,
        "dangling-edge.yaml:11:11: node `rotate` points to `destory_old`, which does not exist \
         (did you mean `destroy_old`?)\n   |\n11 |     next: destory_old\n   |           \
         ^^^^^^^^^^^\ncustos: 1 file(s) invalid\n"
    );
}

#[test]
fn the_shipped_runbooks_and_policies_are_valid() {
    let run = custos().current_dir(repo()).args(["validate"]).run();
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(run.stdout.lines().count() >= 7, "stdout:\n{}", run.stdout);
}

#[test]
fn valid_corpus_runbooks_pass() {
    let dir = repo().join("tests/corpus/valid");
    let run = custos()
        .current_dir(&dir)
        .args(["--policies", "none", "validate", "."])
        .run();
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let run = custos()
        .args(["validate", "/nonexistent/runbook.yaml"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `/nonexistent/runbook.yaml` does not exist\n"
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let run = custos().args(["frobnicate"]).run();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_that_is_not_utf8_is_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("binary.yaml"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let run = custos()
        .current_dir(dir.path())
        .args(["validate", "binary.yaml"])
        .run();
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("binary.yaml: the file is not UTF-8 text"),
        "{}",
        run.stderr
    );
}

#[test]
fn names_the_policies_do_not_define_are_each_reported() {
    let run = custos()
        .current_dir(repo())
        .args(["--policies", "policies", "validate"])
        .arg("tests/corpus/policy-names/names-policies-lack.yaml")
        .run();
    assert_eq!(run.code, 1);
    let headlines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("tests/"))
        .collect();
    let file = "tests/corpus/policy-names/names-policies-lack.yaml";
    assert_eq!(
        headlines,
        [
            format!(
                "{file}:11:24: node `approve` names role `custodain`, which the policies do not \
                 define (did you mean `custodian`?)"
            ),
            format!(
                "{file}:17:13: node `probe`: parameter `environment` of `hsm.health` names \
                 environment `production-primray`, which `policies/environments.yaml` does not \
                 define (did you mean `production-primary`?)"
            ),
            format!(
                "{file}:23:9: node `tell` names recipient group `bord`, which the policies do not \
                 define (did you mean `board`?)"
            ),
            format!(
                "{file}:24:15: node `tell` names template `board-update-that-does-not-exist`, \
                 which the policies do not define"
            ),
        ]
    );
}
