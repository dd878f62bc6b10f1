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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in yamlish()) {
        let _ = parse(&text, None, &Context::default());
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
