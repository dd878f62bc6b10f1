//! The shipped notification policies load, and every template renders against sample data.

use std::path::Path;

use custos::notify::{Policy, check};

#[test]
fn the_shipped_policies_and_templates_have_no_problems() {
    let reports = check(Path::new("policies"));
    let text: String = reports.iter().map(ToString::to_string).collect();
    assert!(reports.is_empty(), "{text}");
}

#[test]
fn the_shipped_policies_define_every_group_and_template_the_runbooks_use() {
    let policy = Policy::load(Path::new("policies")).unwrap();
    let groups = policy.groups().unwrap();
    let templates = policy.template_names().unwrap();
    for group in [
        "board",
        "ciso",
        "executives",
        "on-call",
        "operations",
        "counterparty",
        "regulator",
        "network-team",
    ] {
        assert!(groups.contains(group), "{group}");
    }
    for runbook in std::fs::read_dir("runbooks").unwrap() {
        let text = std::fs::read_to_string(runbook.unwrap().path()).unwrap();
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("template: "))
        {
            let name = line.trim_start().trim_start_matches("template: ").trim();
            assert!(templates.contains(name), "{name}");
        }
    }
}
