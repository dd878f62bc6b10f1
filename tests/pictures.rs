//! `custos graph` and `custos show`: pictures that render and paper that can be followed.

#![allow(clippy::unwrap_used)]

mod support;

use support::cli::{custos, repo};

const EVERY_KIND: &str = "tests/corpus/valid/every-kind.yaml";

/// Every shipped runbook, and the corpus runbook with every kind.
fn every_runbook() -> Vec<String> {
    let mut runbooks: Vec<String> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| format!("runbooks/{}", path.file_name().unwrap().to_str().unwrap()))
        .collect();
    runbooks.sort();
    assert!(runbooks.len() >= 7, "{runbooks:?}");
    runbooks.push(EVERY_KIND.to_owned());
    runbooks
}

#[test]
fn the_dot_output_of_every_runbook_renders_with_graphviz_without_warnings() {
    for runbook in every_runbook() {
        let run = custos()
            .current_dir(repo())
            .args(["graph", &runbook, "--format", "dot"])
            .run();
        assert_eq!(run.code, 0, "{runbook}: {}", run.stderr);

        let mut dot = std::process::Command::new("dot")
            .args(["-Tsvg"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("Graphviz `dot` is installed (apt-get install graphviz)");
        use std::io::Write;
        dot.stdin
            .take()
            .unwrap()
            .write_all(run.stdout.as_bytes())
            .unwrap();
        let output = dot.wait_with_output().unwrap();
        assert!(output.status.success(), "{runbook}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "dot printed warnings for {runbook}"
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));
    }
}

#[test]
fn the_dot_output_draws_each_kind_distinctly() {
    let run = custos()
        .current_dir(repo())
        .args(["graph", EVERY_KIND])
        .run();
    let line = |id: &str| {
        let prefix = format!("  \"{id}\" [");
        run.stdout
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("compare").contains("shape=diamond"));
    assert!(line("approve").contains("shape=doubleoctagon"));
    assert!(line("approve").contains("APPROVAL 2 × custodian"));
    assert!(line("tell_board").contains("shape=note"));
    assert!(line("tell_board").contains("NOTIFY board"));
    assert!(line("kcv").contains("hsm.kcv"));
    assert!(
        run.stdout
            .contains("\"compare\" -> \"approve\" [label=\"yes\"];")
    );
    assert!(
        run.stdout
            .contains("\"kcv\" -> \"retry\" [label=\"failure\", color=")
    );
    assert!(
        run.stdout
            .contains("\"components\" -> \"tell_board\" [label=\"exhausted\", style=dashed];")
    );
    assert!(run.stdout.contains("__start -> \"components\";"));
}

#[test]
fn the_mermaid_output_is_a_flowchart_with_labelled_edges() {
    let run = custos()
        .current_dir(repo())
        .args(["graph", EVERY_KIND, "--format", "mermaid"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("flowchart TD\n  __start((start)) --> components\n")
    );
    assert!(
        run.stdout
            .contains("  compare{\"compare<br/>Does the combined KCV match the counterparty's?\"}")
    );
    assert!(
        run.stdout
            .contains("  approve{{\"approve · APPROVAL 2 × custodian<br/>")
    );
    assert!(run.stdout.contains("  compare -->|\"yes\"| approve"));
    assert!(run.stdout.contains("  kcv -.->|\"failure\"| retry"));
}

#[test]
fn show_prints_a_numbered_checklist_with_signature_lines_at_approvals() {
    let run = custos()
        .current_dir(repo())
        .args(["show", EVERY_KIND])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = run.stdout;
    assert!(text.starts_with("# Load a ZMK from components and retire the old one\n"));
    assert!(text.contains("## Participants\n"));
    assert!(text.contains("## 1. Each custodian loads their component\n"));
    assert!(text.contains("- KCV of component A (KCV): ____________\n"));
    assert!(text.contains("- [ ] Done at ______ by ______________\n\nThen go to 2 (`kcv`).\n"));
    assert!(text.contains("- [ ] **yes**: go to "));
    assert!(text.contains("**Dual control:** 2 different people with role custodian, not the person who opened the incident.\n"));
    assert!(text.contains(
        "| Name | Role | Signature | Date and time |\n|---|---|---|---|\n| | | | |\n| | | | |\n"
    ));
    assert!(text.contains("Load the components of ‹inputs.zmk_label› for ‹inputs.counterparty›."));
    assert!(text.contains("After 3 visits, go to "));
    assert!(text.contains("## Sign-off\n"));
}

#[test]
fn graph_of_an_invalid_runbook_explains_and_exits_2() {
    let run = custos()
        .current_dir(repo().join("tests/corpus/invalid"))
        .args(["graph", "dangling-edge.yaml"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.ends_with(
        "custos: `dangling-edge.yaml` is not a valid runbook; `custos validate` shows why\n"
    ));
}

/// A runbook whose node ids are words Mermaid reads as keywords.
const KEYWORD_IDS: &str = "\
id: keywords
title: Node ids that are Mermaid keywords
version: 1
severity: low
summary: For the picture tests.
start: graph
nodes:
  graph: { kind: step, title: Graph, next: style }
  style: { kind: step, title: Style, next: class }
  class: { kind: decision, title: Class?, options: { a: subgraph, b: click } }
  subgraph: { kind: step, title: Subgraph, next: click }
  click: { kind: step, title: Click, next: end }
  end: { kind: end, title: The end, outcome: resolved }
";

#[test]
fn mermaid_ids_that_are_keywords_are_renamed_and_labelled_with_the_real_id() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keywords.yaml"), KEYWORD_IDS).unwrap();
    let run = custos()
        .current_dir(dir.path())
        .args([
            "--policies",
            "none",
            "graph",
            "keywords.yaml",
            "--format",
            "mermaid",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "flowchart TD\n  __start((start)) --> graph_\n  graph_[\"graph<br/>Graph\"]\n  \
         style_[\"style<br/>Style\"]\n  class_{\"class<br/>Class?\"}\n  \
         subgraph_[\"subgraph<br/>Subgraph\"]\n  click_[\"click<br/>Click\"]\n  \
         end_([\"end · END resolved<br/>The end\"])\n  graph_ --> style_\n  style_ --> class_\n  \
         class_ -->|\"a\"| subgraph_\n  class_ -->|\"b\"| click_\n  subgraph_ --> click_\n  \
         click_ --> end_\n"
    );

    // Every id outside a label is a plain word that no keyword of Mermaid's grammar matches.
    let keywords = [
        "end",
        "graph",
        "subgraph",
        "style",
        "class",
        "click",
        "flowchart",
    ];
    for line in run.stdout.lines().skip(1) {
        let outside: String = line.split('"').step_by(2).collect::<Vec<_>>().join(" ");
        for word in outside.split(|c: char| !c.is_alphanumeric() && c != '_') {
            assert!(!keywords.contains(&word), "`{word}` in {line:?}");
        }
    }
}

#[test]
fn show_writes_both_branches_of_conditional_guidance_for_paper() {
    let run = custos()
        .current_dir(repo())
        .args(["show", "quorum-card-lost"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "**If `check_token` succeeded:** Health check result: \
             ‹outputs.check_token.verdict›.\n- PIN locked: ‹outputs.check_token.pin_locked›\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "**Otherwise:** The check could not run (the error is shown above). Read the same \
             flags on the\nvendor console"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn no_shipped_runbook_shows_template_syntax_on_paper() {
    for runbook in every_runbook() {
        let run = custos().current_dir(repo()).args(["show", &runbook]).run();
        assert_eq!(run.code, 0, "{runbook}: {}", run.stderr);
        for marker in ["{{", "}}", "‹#", "‹/", "‹else"] {
            assert!(!run.stdout.contains(marker), "{runbook} shows `{marker}`");
        }
    }
}
