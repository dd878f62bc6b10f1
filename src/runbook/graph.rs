//! The runbook as a directed graph (petgraph), for the questions the validator asks of it.
//!
//! Node indices are the positions of nodes in [`Runbook::nodes`], so answers translate back
//! without a map. Built only once every edge is known to land on a node.

use super::model::{EdgeLabel, Runbook};
use petgraph::Direction;
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::VecDeque;

/// The decision graph of one runbook.
pub struct Graph {
    inner: DiGraph<(), EdgeLabel, u32>,
    start: usize,
    /// For each node with `max_visits`, where the walk goes once they are used up.
    exhausted: Vec<Option<usize>>,
}

impl Graph {
    /// Builds the graph; every edge target must exist (the caller checked).
    pub fn new(runbook: &Runbook) -> Self {
        let count = runbook.nodes.len();
        let mut inner = DiGraph::with_capacity(count, count * 2);
        for _ in 0..count {
            inner.add_node(());
        }

        let mut exhausted = vec![None; count];
        for (from, node) in runbook.nodes.iter().enumerate() {
            for edge in node.edges() {
                let Some(to) = runbook.position(&edge.target) else {
                    continue;
                };
                if edge.label == EdgeLabel::Exhausted {
                    exhausted[from] = Some(to);
                }
                inner.add_edge(index(from), index(to), edge.label.clone());
            }
        }

        let start = runbook.position(&runbook.start.target).unwrap_or(0);
        Self {
            inner,
            start,
            exhausted,
        }
    }

    pub fn start(&self) -> usize {
        self.start
    }

    /// The nodes directly after `node`, with the label of each edge.
    pub fn successors(&self, node: usize) -> impl Iterator<Item = (usize, &EdgeLabel)> {
        self.inner.edges(index(node)).map(|edge| {
            use petgraph::visit::EdgeRef;
            (edge.target().index(), edge.weight())
        })
    }

    /// Which nodes a walk from `sources` can reach, passing only through nodes where `allowed`.
    pub fn reachable_from(&self, sources: &[usize], allowed: impl Fn(usize) -> bool) -> Vec<bool> {
        self.search(sources, Direction::Outgoing, allowed)
    }

    /// Which nodes can reach one of `targets`.
    pub fn reaching(&self, targets: &[usize]) -> Vec<bool> {
        self.search(targets, Direction::Incoming, |_| true)
    }

    /// Whether a walk can go from `from` to `to` in one or more steps; breadth first, so it
    /// stops early when `to` is near, as a value's use nearly always is.
    pub fn leads_to(&self, from: usize, to: usize) -> bool {
        let mut seen = std::collections::HashSet::new();
        let mut queue = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for next in self.inner.neighbors(index(node)) {
                let next = next.index();
                if next == to {
                    return true;
                }
                if seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        false
    }

    fn search(
        &self,
        sources: &[usize],
        direction: Direction,
        allowed: impl Fn(usize) -> bool,
    ) -> Vec<bool> {
        let mut seen = vec![false; self.inner.node_count()];
        let mut queue: VecDeque<usize> = VecDeque::new();
        for &source in sources {
            if allowed(source) && !seen[source] {
                seen[source] = true;
                queue.push_back(source);
            }
        }
        while let Some(node) = queue.pop_front() {
            for next in self.inner.neighbors_directed(index(node), direction) {
                let next = next.index();
                if !seen[next] && allowed(next) {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        seen
    }

    /// A shortest path from `from` to `to` through nodes where `allowed`, both ends included.
    pub fn path(
        &self,
        from: usize,
        to: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Option<Vec<usize>> {
        let mut parent: Vec<Option<usize>> = vec![None; self.inner.node_count()];
        let mut queue = VecDeque::from([from]);
        let mut seen = vec![false; self.inner.node_count()];
        seen[from] = true;

        while let Some(node) = queue.pop_front() {
            for next in self.inner.neighbors(index(node)) {
                let next = next.index();
                if next == to {
                    let mut path = vec![to, node];
                    let mut step = node;
                    while let Some(previous) = parent[step] {
                        path.push(previous);
                        step = previous;
                    }
                    path.reverse();
                    return Some(path);
                }
                if !seen[next] && allowed(next) {
                    seen[next] = true;
                    parent[next] = Some(node);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The loops among the nodes where `keep` holds, one example cycle per strongly connected
    /// component. Edges to `on_exhausted` targets are left out. With `redirect`, an edge into
    /// a node that is not kept leads to that node's `on_exhausted` target instead, which is
    /// how the walk moves once a bounded node is used up.
    pub fn cycles(&self, keep: impl Fn(usize) -> bool, redirect: bool) -> Vec<Vec<usize>> {
        let count = self.inner.node_count();
        let mut sub: DiGraph<(), (), u32> = DiGraph::with_capacity(count, count * 2);
        for _ in 0..count {
            sub.add_node(());
        }
        for from in (0..count).filter(|&from| keep(from)) {
            for (to, label) in self.successors(from) {
                if *label == EdgeLabel::Exhausted {
                    continue;
                }
                let to = match (keep(to), redirect) {
                    (true, _) => Some(to),
                    (false, true) => self.exhausted[to].filter(|&target| keep(target)),
                    (false, false) => None,
                };
                if let Some(to) = to {
                    sub.add_edge(index(from), index(to), ());
                }
            }
        }

        let mut cycles = Vec::new();
        for component in kosaraju_scc(&sub) {
            // The earliest node in the file starts the example, whatever order the search found.
            let Some(&first) = component.iter().min() else {
                continue;
            };
            let looped = component.len() > 1 || sub.contains_edge(first, first);
            if !looped {
                continue;
            }
            let mut members = vec![false; count];
            for node in &component {
                members[node.index()] = true;
            }
            let cycle = example_cycle(&sub, first.index(), &members);
            cycles.push(cycle);
        }
        cycles.sort();
        cycles
    }
}

impl Graph {
    /// Chains of bounded nodes whose `on_exhausted` edges lead back to where they began.
    pub fn exhausted_chains(&self) -> Vec<Vec<usize>> {
        let count = self.exhausted.len();
        // 0: not seen yet, 1: on the chain being followed, 2: finished.
        let mut state = vec![0u8; count];
        let mut chains = Vec::new();
        for begin in 0..count {
            let mut chain = Vec::new();
            let mut at = Some(begin);
            while let Some(node) = at.filter(|&node| state[node] == 0) {
                state[node] = 1;
                chain.push(node);
                at = self.exhausted[node];
            }
            if let Some(repeat) = at.filter(|&node| state[node] == 1) {
                let start = chain.iter().position(|&node| node == repeat).unwrap_or(0);
                chains.push(chain[start..].to_vec());
            }
            for node in chain {
                state[node] = 2;
            }
        }
        chains
    }
}

/// A cycle through `first` inside one strongly connected component, found breadth first.
fn example_cycle(sub: &DiGraph<(), (), u32>, first: usize, members: &[bool]) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; members.len()];
    let mut queue = VecDeque::from([first]);
    let mut seen = vec![false; members.len()];

    while let Some(node) = queue.pop_front() {
        for next in sub.neighbors(index(node)) {
            let next = next.index();
            if next == first {
                let mut cycle = vec![node];
                let mut step = node;
                while let Some(previous) = parent[step] {
                    cycle.push(previous);
                    step = previous;
                }
                cycle.reverse();
                return cycle;
            }
            if members[next] && !seen[next] {
                seen[next] = true;
                parent[next] = Some(node);
                queue.push_back(next);
            }
        }
    }
    vec![first]
}

fn index(position: usize) -> NodeIndex<u32> {
    NodeIndex::new(position)
}
