//! Property tests of the runbook loader: no input makes it panic, and what it accepts holds
//! the invariants the engine relies on.

#![allow(clippy::unwrap_used)]

use custos::runbook::{Context, NodeKind, parse};
use proptest::prelude::*;

/// Text that looks like YAML: keys, indentation, flow collections and scalars from the format.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("id: x\n".to_owned()),
        Just("nodes:\n".to_owned()),
        Just("  a:\n".to_owned()),
        Just("    kind: end\n".to_owned()),
        Just("    kind: decision\n".to_owned()),
        Just("    options: { \"yes\": a, \"no\": b }\n".to_owned()),
        Just("    next: a\n".to_owned()),
        Just("    with: { environment: [1, {a: b}] }\n".to_owned()),
        Just("start: a\n".to_owned()),
        Just("    max_visits: -1\n".to_owned()),
        Just("    within: P\n".to_owned()),
        Just("    guidance: \"{{#each}}\"\n".to_owned()),
        Just("&a [*a]\n".to_owned()),
        Just("- \n".to_owned()),
        Just("? \n".to_owned()),
        Just("\t".to_owned()),
        "[ -~]{0,12}\n",
    ];
    proptest::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat())
}

/// A runbook of `count` nodes with random kinds and random edges, always well-formed YAML.
fn random_graph() -> impl Strategy<Value = String> {
    (2usize..12).prop_flat_map(|count| {
        let node = (0usize..6, 0..count, 0..count, 0usize..4);
        proptest::collection::vec(node, count).prop_map(move |nodes| {
            let mut text = String::from(
                "id: random\ntitle: Random\nversion: 1\nseverity: low\nsummary: Random.\nstart: n0\nnodes:\n",
            );
            for (index, (kind, a, b, bound)) in nodes.iter().enumerate() {
                text.push_str(&format!("  n{index}:\n    title: Node {index}\n"));
                match kind {
                    0 => text.push_str(&format!("    kind: step\n    next: n{a}\n")),
                    1 => text.push_str(&format!("    kind: decision\n    options: {{ \"a\": n{a}, \"b\": n{b} }}\n")),
                    2 => text.push_str(&format!(
                        "    kind: action\n    run: hsm.health\n    with: {{ environment: e }}\n    on_success: n{a}\n    on_failure: n{b}\n"
                    )),
                    3 => text.push_str(&format!(
                        "    kind: approval\n    require: {{ roles: [custodian] }}\n    next: n{a}\n"
                    )),
                    _ => text.push_str("    kind: end\n    outcome: resolved\n"),
                }
                if *bound == 0 {
                    text.push_str(&format!("    max_visits: 2\n    on_exhausted: n{b}\n"));
                }
            }
            text
        })
    })
}

/// The kinds of value a field of the format holds.
#[derive(Clone, Copy, Debug)]
enum Expects {
    Text,
    Number,
    Boolean,
    Mapping,
    List,
}

/// A well-formed runbook with one field of each type, each marked `@NAME@` to be replaced, and
/// the node each field sits in (`None` for the top of the file).
const TEMPLATE: &str = "\
id: typed
title: @title@
version: @version@
severity: high
summary: Every field type once.
ceremony: @ceremony@
inputs: @inputs@
start: probe
nodes:
  probe:
    kind: action
    title: Probe
    run: hsm.health
    with: @with@
    on_success: look
    on_failure: @on_failure@
  look:
    kind: decision
    title: Healthy?
    max_visits: @max_visits@
    on_exhausted: done
    options: @options@
  record:
    kind: step
    title: Record
    fields:
      serial: { prompt: Serial, type: choice, choices: @choices@, required: @required@ }
    next: approve
  approve:
    kind: approval
    title: Approve
    require: { roles: @roles@, count: @count@, exclude_initiator: @exclude_initiator@ }
    next: done
  done:
    kind: end
    title: Done
    outcome: resolved
";

const FIELDS: &[(&str, Expects, Option<&str>, &str)] = &[
    ("title", Expects::Text, None, "Typed"),
    ("version", Expects::Number, None, "1"),
    ("ceremony", Expects::Boolean, None, "false"),
    (
        "inputs",
        Expects::Mapping,
        None,
        "{ member: { prompt: Which? } }",
    ),
    (
        "with",
        Expects::Mapping,
        Some("probe"),
        "{ environment: production-primary }",
    ),
    ("on_failure", Expects::Text, Some("probe"), "look"),
    ("max_visits", Expects::Number, Some("look"), "2"),
    (
        "options",
        Expects::Mapping,
        Some("look"),
        "{ \"yes\": record, \"no\": probe }",
    ),
    ("choices", Expects::List, Some("record"), "[lost, damaged]"),
    ("required", Expects::Boolean, Some("record"), "true"),
    ("roles", Expects::List, Some("approve"), "[custodian]"),
    ("count", Expects::Number, Some("approve"), "2"),
    (
        "exclude_initiator",
        Expects::Boolean,
        Some("approve"),
        "false",
    ),
];

/// The runbook with every field at its good value except `wrong` at field `index`.
fn typed_runbook(index: usize, wrong: &str) -> String {
    let mut text = TEMPLATE.to_owned();
    for (at, (name, _, _, good)) in FIELDS.iter().enumerate() {
        let value = if at == index { wrong } else { good };
        text = text.replace(&format!("@{name}@"), value);
    }
    text
}

/// A value of the wrong type for a field that expects `expects`.
fn wrong_value(expects: Expects) -> BoxedStrategy<String> {
    let list = Just("[a, [b], {c: d}]".to_owned());
    let mapping = Just("{ a: b, c: [1, 2] }".to_owned());
    let word = "[a-z]{1,8}".prop_map(|word| format!("w{word}"));
    let number = prop_oneof![
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("0".to_owned())
    ];
    match expects {
        Expects::Text => prop_oneof![list, mapping].boxed(),
        Expects::Number => {
            prop_oneof![list, mapping, word, Just("true".to_owned()), number].boxed()
        }
        Expects::Boolean => prop_oneof![list, mapping, word, Just("3".to_owned())].boxed(),
        Expects::Mapping => prop_oneof![list, word, Just("7".to_owned())].boxed(),
        Expects::List => prop_oneof![mapping, word, Just("false".to_owned())].boxed(),
    }
}

fn field_with_wrong_value() -> impl Strategy<Value = (usize, String)> {
    (0..FIELDS.len()).prop_flat_map(|index| (Just(index), wrong_value(FIELDS[index].1)))
}

/// One of the shipped runbooks, by name and text.
fn shipped() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut runbooks: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (stem, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    runbooks.sort();
    runbooks
}

/// An edit of a text, by line: drop, repeat or swap lines, change the value after a `:`,
/// shift a line's indentation, or put stray characters into it.
#[derive(Clone, Debug)]
enum Edit {
    Drop(usize),
    Repeat(usize),
    Swap(usize, usize),
    Value(usize, String),
    Indent(usize, bool),
    Insert(usize, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let line = 0usize..600;
    let value = prop_oneof![
        Just("[a, b]".to_owned()),
        Just("{ a: 1 }".to_owned()),
        Just("~".to_owned()),
        Just("-3".to_owned()),
        Just("yes".to_owned()),
        Just("\"{{#if x}}\"".to_owned()),
        Just("{{outputs.x.y}}".to_owned()),
        Just("&anchor x".to_owned()),
        Just("*anchor".to_owned()),
        "[ -~]{0,10}",
    ];
    prop_oneof![
        line.clone().prop_map(Edit::Drop),
        line.clone().prop_map(Edit::Repeat),
        (line.clone(), line.clone()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (line.clone(), value).prop_map(|(at, value)| Edit::Value(at, value)),
        (line.clone(), any::<bool>()).prop_map(|(at, deeper)| Edit::Indent(at, deeper)),
        (line, 0usize..40, "[ -~\\t]{1,4}")
            .prop_map(|(at, column, text)| Edit::Insert(at, column, text)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        if lines.is_empty() {
            break;
        }
        let count = lines.len();
        match edit {
            Edit::Drop(at) => {
                lines.remove(at % count);
            }
            Edit::Repeat(at) => {
                let line = lines[at % count].clone();
                lines.insert(at % count, line);
            }
            Edit::Swap(a, b) => lines.swap(a % count, b % count),
            Edit::Value(at, value) => {
                let line = &mut lines[at % count];
                if let Some(colon) = line.find(": ") {
                    line.replace_range(colon + 2.., value);
                }
            }
            Edit::Indent(at, deeper) => {
                let line = &mut lines[at % count];
                if *deeper {
                    line.insert_str(0, "  ");
                } else if line.starts_with("  ") {
                    line.replace_range(..2, "");
                }
            }
            Edit::Insert(at, column, text) => {
                let line = &mut lines[at % count];
                let mut column = (*column).min(line.len());
                while !line.is_char_boundary(column) {
                    column -= 1;
                }
                line.insert_str(column, text);
            }
        }
    }
    lines.join("\n") + "\n"
}

/// Every diagnostic points at a line of the file.
fn positioned(problems: &[custos::runbook::Diagnostic]) -> Result<(), TestCaseError> {
    prop_assert!(!problems.is_empty());
    for problem in problems {
        let at = problem.at;
        prop_assert!(at.is_some_and(|at| at.line >= 1), "{problem:?}");
    }
    Ok(())
}

#[test]
fn the_typed_runbook_is_valid_with_its_good_values() {
    let text = typed_runbook(usize::MAX, "");
    parse(&text, Some("typed"), &Context::default()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_at_its_field_naming_its_node(
        (index, wrong) in field_with_wrong_value()
    ) {
        let (name, _, node, _) = FIELDS[index];
        let text = typed_runbook(index, &wrong);
        let problems = parse(&text, Some("typed"), &Context::default()).unwrap_err();
        positioned(&problems)?;

        let line = text
            .lines()
            .position(|line| line.contains(&format!("{name}: {wrong}")))
            .unwrap() + 1;
        let here: Vec<_> = problems
            .iter()
            .filter(|problem| problem.at.is_some_and(|at| at.line as usize == line))
            .collect();
        prop_assert!(!here.is_empty(), "nothing at line {line}: {problems:?}");
        if let Some(node) = node {
            let named = format!("`{node}`");
            prop_assert!(
                here.iter().any(|problem| problem.message.contains(&named)),
                "{named} not named: {here:?}"
            );
        }
    }

    #[test]
    fn edits_of_the_shipped_runbooks_never_panic_and_every_problem_has_a_position(
        which in 0usize..7,
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let runbooks = shipped();
        let (stem, text) = &runbooks[which % runbooks.len()];
        let edited = apply(text, &edits);
        if let Err(problems) = parse(&edited, Some(stem), &Context::default()) {
            positioned(&problems)?;
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader_and_every_problem_has_a_position(text in yamlish()) {
        if let Err(problems) = parse(&text, None, &Context::default()) {
            positioned(&problems)?;
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(text in "\\PC{0,200}") {
        let _ = parse(&text, None, &Context::default());
    }

    #[test]
    fn an_accepted_random_graph_has_every_node_reachable_and_edges_that_land(text in random_graph()) {
        let Ok(runbook) = parse(&text, Some("random"), &Context::default()) else { return Ok(()) };
        prop_assert!(runbook.node(&runbook.start.target).is_some());
        for node in &runbook.nodes {
            for edge in node.edges() {
                prop_assert!(runbook.node(&edge.target).is_some());
            }
            if let NodeKind::Decision { options } = &node.kind {
                prop_assert!(options.len() >= 2);
            }
        }
        let has_end = runbook.nodes.iter().any(|node| matches!(node.kind, NodeKind::End { .. }));
        prop_assert!(has_end, "an accepted runbook has an end");
    }
}

/// Graph searches must not recurse per node: a runbook is data, and a long one must not
/// overflow the stack (petgraph's recursive Tarjan did, at 100,000 nodes in a chain).
#[test]
fn a_long_chain_of_nodes_validates_without_exhausting_the_stack() {
    let count = 60_000;
    let mut text = String::from(
        "id: chain\ntitle: Chain\nversion: 1\nseverity: low\nsummary: A long chain.\nstart: n0\nnodes:\n",
    );
    for node in 0..count - 1 {
        text.push_str(&format!(
            "  n{node}: {{ kind: step, title: Step, next: n{} }}\n",
            node + 1
        ));
    }
    text.push_str(&format!(
        "  n{}: {{ kind: end, title: Done, outcome: resolved }}\n",
        count - 1
    ));
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            parse(&text, Some("chain"), &Context::default()).map(|runbook| runbook.nodes.len())
        })
        .unwrap();
    assert_eq!(handle.join().unwrap().unwrap(), count);
}
