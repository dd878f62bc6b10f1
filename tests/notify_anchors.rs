//! `custos validate` refuses deadline anchors that can never happen: a node no runbook has, a
//! decision option no runbook offers, a template that does not exist or that nothing sends.
//! Each is named with its position.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;
mod support;

use notify_common::project;
use support::cli::custos;

#[test]
fn deadline_anchors_that_cannot_happen_fail_validate_with_their_positions() {
    let project = project(2525, "");
    let file = project.path().join("policies/escalation.yaml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            "- entered: notify_major\n    after: PT4H",
            "- entered: notify_majr\n    after: PT4H",
        )
        .replace(
            "    only_if:\n      - entered: notify_executives",
            "    only_if:\n      - answered: { node: major_reportable, option: maybe }",
        )
        .replace(
            "      - notified: major-incident-final-report",
            "      - notified: major-incident-closing-report",
        );
    std::fs::write(&file, &text).unwrap();
    std::fs::write(
        project
            .path()
            .join("policies/templates/regulator-thanks.yaml"),
        "subject: \"Thank you ({{incident.id}})\"\nbody: |\n  Received.\n",
    )
    .unwrap();
    let text = text.replace(
        "      - notified: major-incident-initial-report\n    after: PT72H",
        "      - notified: regulator-thanks\n    after: PT72H",
    );
    std::fs::write(&file, &text).unwrap();
    let line = |needle: &str| {
        let index = text.lines().position(|l| l.contains(needle)).unwrap();
        (index + 1, text.lines().nth(index).unwrap().to_owned())
    };

    let run = custos().current_dir(project.path()).arg("validate").run();

    assert_eq!(run.code, 1, "{run:?}");
    let mut expected = String::new();
    for (needle, message) in [
        (
            "entered: notify_majr",
            "deadline `dora-initial-report`: `entered: notify_majr` never happens: no runbook \
             has a node `notify_majr`",
        ),
        (
            "option: maybe",
            "deadline `dora-initial-report-awareness`: `answered: {node: major_reportable, \
             option: maybe}` never happens: no runbook has a decision `major_reportable` with \
             the option `maybe`",
        ),
        (
            "notified: regulator-thanks",
            "deadline `dora-intermediate-report`: `notified: regulator-thanks` never happens: no \
             runbook's notify node and no escalation rule sends template `regulator-thanks`",
        ),
        (
            "notified: major-incident-closing-report",
            "deadline `dora-final-report`: `notified: major-incident-closing-report` never \
             happens: `templates/` holds no template `major-incident-closing-report`",
        ),
    ] {
        let (number, source) = line(needle);
        let gutter = " ".repeat(number.to_string().len());
        expected.push_str(&format!(
            "policies/escalation.yaml:{number}:9: {message}\n{gutter} |\n{number} | \
             {source}\n{gutter} |         ^\n"
        ));
    }
    expected.push_str("custos: 1 file(s) invalid\n");
    assert_eq!(run.stderr, expected);
}
