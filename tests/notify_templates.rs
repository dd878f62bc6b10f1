//! The template check of `custos validate`: a template that uses a value it will not have is
//! rejected, with the file, line and column.

// A failed fixture should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::path::Path;

use notify_common::project;

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn check(project: &tempfile::TempDir) -> String {
    let reports = custos::notify::check(&project.path().join("policies"));
    reports.iter().map(ToString::to_string).collect()
}

#[test]
fn a_template_using_an_input_its_runbook_lacks_is_rejected_with_its_position() {
    let project = project(2525, "");
    let file = project
        .path()
        .join("policies/templates/quorum-at-risk.yaml");
    edit(
        &file,
        "{{inputs.card_role}} quorum",
        "{{inputs.card_rol}} quorum",
    );

    let text = check(&project);

    assert_eq!(
        text,
        format!(
            "{}:1:35: the subject cannot be rendered when runbook `quorum-card-lost` sends it at \
             `notify_board`: it uses `{{{{inputs.card_rol}}}}`, which has no value\n  |\n1 | \
             subject: \"Board notice: the HSM {{{{inputs.card_rol}}}} quorum has no margin left \
             ({{{{incident.id}}}})\"\n  |                                   ^^^^^^^^^^^^^^^\n",
            file.display()
        )
    );
}

#[test]
fn an_escalation_template_may_not_use_values_of_one_runbook() {
    let project = project(2525, "");
    let file = project.path().join("policies/templates/step-overdue.yaml");
    edit(
        &file,
        "To the on-call manager,",
        "To the on-call manager, about {{inputs.zmk_label}}",
    );

    let text = check(&project);

    assert!(
        text.contains(
            "the body cannot be rendered for an escalation, which has no runbook values: it uses \
             `{{inputs.zmk_label}}`, which has no value"
        ),
        "{text}"
    );
}

#[test]
fn a_template_that_does_not_compile_is_rejected() {
    let project = project(2525, "");
    let file = project
        .path()
        .join("policies/templates/ceremony-aborted.yaml");
    edit(&file, "{{inputs.key_label}} on", "{{inputs.key_label on");

    let text = check(&project);

    assert!(
        text.starts_with(&format!(
            "{}:1:10: the subject does not compile",
            file.display()
        )),
        "{text}"
    );
}

#[test]
fn an_unknown_field_in_notify_yaml_is_reported_with_its_position() {
    let project = project(2525, "  pasword: hunter2\n");

    let text = check(&project);

    let file = project.path().join("policies/notify.yaml");
    assert!(
        text.starts_with(&format!("{}:6:3: unknown field `pasword`", file.display())),
        "{text}"
    );
}

#[test]
fn security_none_is_refused_for_a_server_that_is_not_on_this_machine() {
    let project = project(2525, "");
    let file = project.path().join("policies/notify.yaml");
    edit(&file, "host: 127.0.0.1", "host: smtp.bank.test");

    let text = check(&project);

    assert!(
        text.starts_with(&format!(
            "{}:4:13: `security: none` sends mail and passwords in clear text, so it is allowed \
             only for a server on this machine, not `smtp.bank.test`",
            file.display()
        )),
        "{text}"
    );
}

#[test]
fn an_escalation_rule_naming_an_unknown_group_is_reported() {
    let project = project(2525, "");
    let file = project.path().join("policies/escalation.yaml");
    edit(&file, "notify: board\n", "notify: bord\n");

    let text = check(&project);

    assert!(
        text.contains(
            "rule `board-after-4-hours` notifies group `bord`, which `notify.yaml` does not define"
        ),
        "{text}"
    );
}

#[test]
fn without_policy_files_nothing_is_queued_and_custos_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    let policy = custos::notify::Policy::load(&policies).unwrap();
    let mut store = custos::store::Store::open(&dir.path().join("incidents.sqlite")).unwrap();
    let incident = notify_common::open(
        &mut store,
        "zmk-compromise",
        false,
        &notify_common::zmk_inputs(),
    );

    let error = custos::notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        notify_common::at(1),
    )
    .unwrap_err();

    let notify_yaml = policies.join("notify.yaml");
    assert_eq!(
        policy.warning().unwrap(),
        format!(
            "there is no `{}`: notifications are neither queued nor sent",
            notify_yaml.display()
        )
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot queue a notification to `board`: there is no `{}`, so custos knows no mail \
             server and no recipient groups; write one (see `policies/notify.yaml` in the custos \
             sources)",
            notify_yaml.display()
        )
    );
    assert!(policy.groups().is_none() && policy.template_names().is_none());
    assert!(custos::notify::check(&policies).is_empty());
}
