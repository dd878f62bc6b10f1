//! `custos validate`: the shipped runbooks pass, and every class of broken runbook is
//! reported with its exact message, position, offending line and hint.
//!
//! Each file in `tests/corpus/invalid` is a runbook broken in one way; beside it, a `.stderr`
//! file holds what `custos validate` must print. Run with `CUSTOS_BLESS=1` to rewrite those
//! files after a deliberate change of wording, then read the diff.

#![allow(clippy::unwrap_used)]

mod support;

use support::cli::{Stream, custos, repo};

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

#[test]
fn a_directory_with_no_runbook_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let run = custos()
        .current_dir(dir.path())
        .args(["validate", "empty"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "custos: `empty` holds no runbook: no `.yaml` or `.yml` file is directly in it\n"
    );
}

#[test]
fn validate_where_there_is_nothing_to_check_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = custos().current_dir(dir.path()).args(["validate"]).run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: nothing to check here: there is no `runbooks/` and no policies directory \
         `policies`; run it in a custos directory, or name the runbooks to check\n"
    );
}

#[test]
fn a_file_in_the_policies_directory_is_checked_with_the_other_policies_not_as_a_runbook() {
    let run = custos()
        .current_dir(repo())
        .args(["validate", "policies/roster.yaml"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "policies: ok (policy files checked together)\n");
}

#[test]
fn a_runbook_kept_in_the_policies_directory_is_still_checked_as_a_runbook() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "id: broken\ntitle: Broken\nversion: 1\nseverity: low\nsummary: A dangling edge.\n\
                  start: a\nnodes:\n  a: { kind: step, title: A, next: nowhere }\n";
    std::fs::write(dir.path().join("broken.yaml"), broken).unwrap();

    let run = custos()
        .current_dir(dir.path())
        .args(["--policies", ".", "validate", "broken.yaml"])
        .run();

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("`nowhere`"), "{}", run.stderr);
}

#[test]
fn a_policy_file_outside_the_policies_directory_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("policies/roster.yaml"),
        dir.path().join("roster.yaml"),
    )
    .unwrap();
    let run = custos()
        .current_dir(dir.path())
        .args(["validate", "roster.yaml"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `roster.yaml` is a policy file, not a runbook, and not in the policies directory \
         `policies`; policies are checked together: `custos --policies DIR validate DIR`\n"
    );
}

#[test]
fn a_policy_that_does_not_load_is_reported_when_runbooks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/roster.yaml"), "people: [\n").unwrap();
    std::fs::copy(
        repo().join("tests/corpus/valid/every-kind.yaml"),
        dir.path().join("every-kind.yaml"),
    )
    .unwrap();
    let run = custos()
        .current_dir(dir.path())
        .args(["validate", "every-kind.yaml"])
        .run();
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "every-kind.yaml: ok (9 nodes)\n");
    assert_eq!(
        run.stderr,
        "policies/roster.yaml:1:9: unclosed bracket '['\n  |\n1 | people: [\n  |         ^\n\
         custos: the policies in `policies` have the problems above, so the roles, groups, \
         templates and environments runbooks name are not all checked\n\
         custos: 1 file(s) invalid\n"
    );
}

/// The stderr `custos validate` prints for one corpus file.
fn corpus(name: &str) -> String {
    let run = custos()
        .current_dir(repo().join("tests/corpus/invalid"))
        .args(["validate", name])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.stderr
}

/// The headline of each problem, without the source lines and hints.
fn headlines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| !line.starts_with(' ') && !line.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

#[test]
fn a_loop_through_a_chain_of_on_exhausted_nodes_is_unbounded() {
    assert_eq!(
        corpus("unbounded-loop-through-exhausted-chain.yaml"),
        "unbounded-loop-through-exhausted-chain.yaml:10:3: loop `a` → `c` (visits used up) → `a` \
         is unbounded\n   |\n10 |   a:\n   |   ^\n   = hint: give one node of the loop \
         `max_visits` and an `on_exhausted` node to go to after\ncustos: 1 file(s) invalid\n"
    );
}

#[test]
fn destroy_after_an_approval_whose_visits_are_used_up_is_rejected() {
    assert_eq!(
        corpus("destroy-after-a-used-up-approval.yaml"),
        "destroy-after-a-used-up-approval.yaml:26:10: node `destroy_old` runs `hsm.destroy`, which \
         destroys keys, but can be reached without an approval: `intake` → `approve` (visits used \
         up) → `destroy_old`\n   |\n26 |     run: hsm.destroy\n   |          ^^^^^^^^^^^\n   = \
         hint: once the visits of approval `approve` are used up the walk passes it by to its \
         `on_exhausted` node, with no fresh approval; send `on_exhausted` elsewhere\n\
         custos: 1 file(s) invalid\n"
    );
}

#[test]
fn every_stage_reports_its_problems_in_one_run() {
    let stderr = corpus("many-problems-at-once.yaml");
    assert_eq!(
        headlines(&stderr),
        [
            "many-problems-at-once.yaml:3:10: `version` must be a whole number from 1, not the \
             text `one`",
            "many-problems-at-once.yaml:6:1: unknown field `owner` in the runbook",
            "many-problems-at-once.yaml:8:46: input `member`: `required` must be `true` or \
             `false`, not the text `maybe`",
            "many-problems-at-once.yaml:11:3: loop `probe` (failed) → `look` → `probe` is \
             unbounded",
            "many-problems-at-once.yaml:18:5: unknown field `colour` in node `probe`",
            "many-problems-at-once.yaml:21:12: node `look`: `title` must be text, not a list",
            "many-problems-at-once.yaml:22:26: node `look`: the guidance uses \
             `{{outputs.probe.verdict}}`, but a walk can reach this node before action `probe` \
             has succeeded: `probe` (failed) → `look`",
            "many-problems-at-once.yaml:22:56: node `look`: the guidance uses `{{inputs.membr}}`, \
             but the runbook declares no input `membr` (did you mean `member`?)",
            "many-problems-at-once.yaml:23:23: node `look` points to `finish`, which does not \
             exist",
            "many-problems-at-once.yaml:31:12: node `done` has unknown phase `detecton` (did you \
             mean `detection`?)",
            "custos: 1 file(s) invalid",
        ]
    );
}

#[test]
fn values_of_the_wrong_type_name_their_node_and_field() {
    let stderr = corpus("wrong-value-types.yaml");
    let lines = headlines(&stderr);
    let expected = [
        "wrong-value-types.yaml:6:11: `ceremony` must be `true` or `false`, not the text `yes`",
        "wrong-value-types.yaml:12:17: node `a`: `max_visits` must be a whole number from 1, not \
         the number `-1`",
        "wrong-value-types.yaml:15:7: field `serial` of node `a` must be a mapping (`prompt: ...`, \
         `type: ...`), not the text `Serial of the card`",
        "wrong-value-types.yaml:16:48: field `kcv` of node `a`: `required` must be `true` or \
         `false`, not the text `maybe`",
        "wrong-value-types.yaml:21:14: node `b`: `options` must be a mapping (`label: node`, one \
         per option), not a list",
        "wrong-value-types.yaml:22:3: node `c` must be a mapping (`kind: ...`, `title: ...`), not \
         nothing",
        "wrong-value-types.yaml:26:23: node `d`: `require.roles` must be a list, like `[a, b]`, \
         not the text `custodian`",
        "wrong-value-types.yaml:26:41: node `d`: `require.count` must be a whole number, not the \
         text `two`",
        "wrong-value-types.yaml:32:13: node `e`: `within` must be text, not a list",
        "custos: 1 file(s) invalid",
    ];
    assert_eq!(lines, expected);
}

#[test]
fn a_yaml_error_inside_a_node_names_the_node() {
    assert!(
        corpus("yaml-syntax.yaml")
            .starts_with("yaml-syntax.yaml:10:12: node `a`: unclosed quote\n")
    );
}

#[test]
fn output_to_a_reader_that_has_gone_ends_quietly_without_a_panic() {
    let runbooks = repo().join("runbooks");
    let broken = repo().join("tests/corpus/invalid/approval-of-one.yaml");

    let listed = custos()
        .current_dir(&runbooks)
        .args(["validate", "zmk-compromise.yaml", "quorum-card-lost.yaml"])
        .closed(Stream::Stdout)
        .run();
    assert_eq!(listed.code, 0, "stderr:\n{}", listed.stderr);
    assert!(!listed.stderr.contains("panicked"), "{}", listed.stderr);

    let drawn = custos()
        .args(["graph", "zmk-compromise"])
        .current_dir(repo())
        .closed(Stream::Stdout)
        .run();
    assert_eq!(drawn.code, 0, "stderr:\n{}", drawn.stderr);
    assert!(!drawn.stderr.contains("panicked"), "{}", drawn.stderr);

    // The verdict outlives the reader: an invalid file after a valid one still fails the run.
    let mixed = custos()
        .current_dir(&runbooks)
        .arg("validate")
        .arg("zmk-compromise.yaml")
        .arg(&broken)
        .closed(Stream::Stdout)
        .run();
    assert_eq!(mixed.code, 1, "stderr:\n{}", mixed.stderr);

    // Nothing can be said on a closed standard error; the exit code still says invalid.
    let rejected = custos()
        .arg("validate")
        .arg(&broken)
        .closed(Stream::Stderr)
        .run();
    assert_eq!(rejected.code, 1, "stdout:\n{}", rejected.stdout);
}
