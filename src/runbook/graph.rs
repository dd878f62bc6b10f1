//! The runbook as the walk moves through it: a directed graph for the validator's questions.
//!
//! The file's edges are not quite the walk's. An edge into a node with `max_visits` leads, once
//! its visits are used up, to its `on_exhausted` node instead, without entering it (and on
//! along that node's own `on_exhausted` while those are used up too); an action's outputs exist
//! only after its success edge. So besides one vertex per node (entering it), the graph has a
//! *gate* before every bounded node (the walk enters the node, or passes on to its
//! `on_exhausted` target), a *success* vertex on every action's success edge, and one
//! *unknown* vertex where broken edges lead: a missing edge, an edge to a node that does not
//! exist, and every edge of a node whose kind is unknown. Every walk the engine can make is a
//! path here, so "every path passes through X" is a safe answer for every walk.
//!
//! Vertices `0..nodes` are the nodes, in file order, so answers translate back without a map.

use super::dominators::Dominators;
use super::model::{EdgeLabel, NodeKind, Runbook};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::VecDeque;

/// What a vertex of the walk graph stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vertex {
    /// Entering the node at this position of [`Runbook::nodes`].
    Node(usize),
    /// About to enter this bounded node, or to pass on to its `on_exhausted` node.
    Gate(usize),
    /// This action succeeded; its outputs are recorded.
    Success(usize),
    /// Where a broken edge leads: anywhere, as far as the validator knows.
    Unknown,
}

/// Successor lists of all vertices in one array.
struct Adjacency {
    first: Vec<u32>,
    targets: Vec<u32>,
}

impl Adjacency {
    fn new(count: usize, edges: &[(u32, u32)], reverse: bool) -> Self {
        let mut first = vec![0u32; count + 1];
        for &(from, to) in edges {
            let from = if reverse { to } else { from };
            first[from as usize + 1] += 1;
        }
        for at in 0..count {
            first[at + 1] += first[at];
        }
        let mut fill = first.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(from, to) in edges {
            let (from, to) = if reverse { (to, from) } else { (from, to) };
            targets[fill[from as usize] as usize] = to;
            fill[from as usize] += 1;
        }
        Self { first, targets }
    }

    fn of(&self, vertex: usize) -> &[u32] {
        &self.targets[self.first[vertex] as usize..self.first[vertex + 1] as usize]
    }
}

/// The walk graph of one runbook.
pub struct Graph {
    nodes: usize,
    /// What each vertex past the nodes stands for.
    extra: Vec<Vertex>,
    /// The gate vertex of each bounded node.
    gates: Vec<Option<u32>>,
    /// The success vertex of each action.
    successes: Vec<Option<u32>>,
    /// Where each bounded node's `on_exhausted` leads, as a node position.
    exhausted: Vec<Option<usize>>,
    /// Gate edges that pass a used-up node by, rather than enter it.
    forward: Adjacency,
    backward: Adjacency,
    start: Option<usize>,
    unknown: usize,
}

impl Graph {
    /// Builds the walk graph. `unknown_kinds` lists nodes whose kind could not be read: every
    /// way out of them is unknown.
    pub fn new(runbook: &Runbook, unknown_kinds: &[usize]) -> Self {
        let nodes = runbook.nodes.len();
        let mut extra = Vec::new();
        let vertex = |kind: Vertex, extra: &mut Vec<Vertex>| {
            extra.push(kind);
            as_u32(nodes + extra.len() - 1)
        };
        let mut gates = vec![None; nodes];
        let mut successes = vec![None; nodes];
        for (at, node) in runbook.nodes.iter().enumerate() {
            if node.on_exhausted.is_some() {
                gates[at] = Some(vertex(Vertex::Gate(at), &mut extra));
            }
            if matches!(node.kind, NodeKind::Action(_)) {
                successes[at] = Some(vertex(Vertex::Success(at), &mut extra));
            }
        }
        let unknown = vertex(Vertex::Unknown, &mut extra);

        let position = |target: &super::model::NodeId| runbook.position(target);
        let entry = |to: Option<usize>| match to {
            Some(to) => gates[to].unwrap_or(as_u32(to)),
            None => unknown,
        };
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(nodes * 2 + extra.len() * 2);
        let mut exhausted = vec![None; nodes];
        let mut unknown_kind = vec![false; nodes];
        for &at in unknown_kinds {
            unknown_kind[at] = true;
            edges.push((as_u32(at), unknown));
        }
        for (at, node) in runbook.nodes.iter().enumerate() {
            for edge in node.edges() {
                let to = position(&edge.target);
                match (&edge.label, successes[at]) {
                    _ if unknown_kind[at] => {}
                    (EdgeLabel::Exhausted, _) => {
                        exhausted[at] = to;
                        if let Some(gate) = gates[at] {
                            edges.push((gate, as_u32(at)));
                            edges.push((gate, entry(to)));
                        }
                    }
                    (EdgeLabel::Success, Some(success)) => {
                        edges.push((as_u32(at), success));
                        edges.push((success, entry(to)));
                    }
                    _ => edges.push((as_u32(at), entry(to))),
                }
            }
        }

        let count = nodes + extra.len();
        let start = position(&runbook.start.target);
        Self {
            nodes,
            extra,
            gates,
            successes,
            exhausted,
            forward: Adjacency::new(count, &edges, false),
            backward: Adjacency::new(count, &edges, true),
            start,
            unknown: unknown as usize,
        }
    }

    /// How many vertices the graph has.
    pub fn len(&self) -> usize {
        self.nodes + self.extra.len()
    }

    /// The vertex of the `start` node, when `start` names one.
    pub fn start(&self) -> Option<usize> {
        self.start
    }

    /// The vertex where broken edges lead.
    pub fn unknown(&self) -> usize {
        self.unknown
    }

    /// What a vertex stands for.
    pub fn vertex(&self, vertex: usize) -> Vertex {
        if vertex < self.nodes {
            Vertex::Node(vertex)
        } else {
            self.extra[vertex - self.nodes]
        }
    }

    /// The vertex reached when an action succeeds.
    pub fn success(&self, node: usize) -> Option<usize> {
        self.successes[node].map(|vertex| vertex as usize)
    }

    /// The vertices directly after `vertex`.
    pub fn successors(&self, vertex: usize) -> impl Iterator<Item = usize> + '_ {
        self.forward.of(vertex).iter().map(|&to| to as usize)
    }

    /// Which vertices a walk from `sources` can reach, passing only through vertices where
    /// `allowed` holds (the sources included).
    pub fn reachable_from(&self, sources: &[usize], allowed: impl Fn(usize) -> bool) -> Vec<bool> {
        self.search(sources, &self.forward, allowed)
    }

    /// Which vertices can reach one of `targets`.
    pub fn reaching(&self, targets: &[usize]) -> Vec<bool> {
        self.search(targets, &self.backward, |_| true)
    }

    /// Whether a walk can go from `from` to `to` in one or more moves, when a search that
    /// looks at no more than `budget` vertices can tell.
    pub fn leads_to_nearby(&self, from: usize, to: usize, budget: usize) -> Option<bool> {
        let mut seen = std::collections::HashSet::new();
        let mut queue: VecDeque<usize> = self.successors(from).collect();
        while let Some(vertex) = queue.pop_front() {
            if vertex == to {
                return Some(true);
            }
            if !seen.insert(vertex) {
                continue;
            }
            if seen.len() > budget {
                return None;
            }
            queue.extend(self.successors(vertex));
        }
        Some(false)
    }

    /// The rank of each vertex's strongly connected component in a reverse topological order:
    /// an edge between two components always leads to a lower rank, so a walk from `a` can
    /// only reach `b` when `rank[b] <= rank[a]`; with equal ranks and more than one vertex in
    /// the component, it always can. Also tells which components hold a cycle.
    pub fn components(&self) -> (Vec<u32>, Vec<bool>) {
        let count = self.len();
        let mut graph: DiGraph<(), (), u32> =
            DiGraph::with_capacity(count, self.forward.targets.len());
        for _ in 0..count {
            graph.add_node(());
        }
        for from in 0..count {
            for to in self.successors(from) {
                graph.add_edge(index(from), index(to), ());
            }
        }
        let mut rank = vec![0u32; count];
        let mut cyclic = Vec::new();
        for (position, component) in kosaraju_scc(&graph).into_iter().enumerate() {
            for vertex in &component {
                rank[vertex.index()] = as_u32(position);
            }
            let looped = component.len() > 1
                || component
                    .first()
                    .is_some_and(|&only| graph.contains_edge(only, only));
            cyclic.push(looped);
        }
        (rank, cyclic)
    }

    /// Which vertices a walk can reach from `from` in one or more moves.
    pub fn after(&self, from: usize) -> Vec<bool> {
        let first: Vec<usize> = self.successors(from).collect();
        self.reachable_from(&first, |_| true)
    }

    fn search(
        &self,
        sources: &[usize],
        lists: &Adjacency,
        allowed: impl Fn(usize) -> bool,
    ) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut queue: VecDeque<usize> = VecDeque::new();
        for &source in sources {
            if allowed(source) && !seen[source] {
                seen[source] = true;
                queue.push_back(source);
            }
        }
        while let Some(vertex) = queue.pop_front() {
            for &next in lists.of(vertex) {
                let next = next as usize;
                if !seen[next] && allowed(next) {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        seen
    }

    /// A shortest path from `from` to `to` through vertices where `allowed`, both ends
    /// included (the ends need not be allowed).
    pub fn path(
        &self,
        from: usize,
        to: usize,
        allowed: impl Fn(usize) -> bool,
    ) -> Option<Vec<usize>> {
        let mut parent: Vec<Option<usize>> = vec![None; self.len()];
        let mut seen = vec![false; self.len()];
        let mut queue = VecDeque::from([from]);
        seen[from] = true;

        while let Some(vertex) = queue.pop_front() {
            for next in self.successors(vertex) {
                if next == to {
                    let mut path = vec![to, vertex];
                    let mut step = vertex;
                    while let Some(previous) = parent[step] {
                        path.push(previous);
                        step = previous;
                    }
                    path.reverse();
                    return Some(path);
                }
                if !seen[next] && allowed(next) {
                    seen[next] = true;
                    parent[next] = Some(vertex);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The dominator tree from `start`, when there is a start.
    pub fn dominators(&self) -> Option<Dominators> {
        let start = self.start?;
        Some(Dominators::new(
            self.len(),
            start,
            |vertex| self.forward.of(vertex),
            |vertex| self.backward.of(vertex),
        ))
    }

    /// Whether the edge from a gate to `to` passes its node by instead of entering it.
    fn passes_by(&self, from: usize, to: usize) -> bool {
        matches!(self.vertex(from), Vertex::Gate(node) if node != to)
    }

    /// The loops among the vertices where `keep` holds, one example cycle per strongly
    /// connected component that holds a node; with `enter_only`, gates only enter their node
    /// (the walk's way round a loop before any visits are used up).
    pub fn cycles(&self, keep: impl Fn(usize) -> bool, enter_only: bool) -> Vec<Vec<usize>> {
        let count = self.len();
        let mut sub: DiGraph<(), (), u32> = DiGraph::with_capacity(count, count * 2);
        for _ in 0..count {
            sub.add_node(());
        }
        for from in (0..count).filter(|&from| keep(from)) {
            for to in self.successors(from).filter(|&to| keep(to)) {
                if enter_only && self.passes_by(from, to) {
                    continue;
                }
                sub.add_edge(index(from), index(to), ());
            }
        }

        let mut cycles = Vec::new();
        for component in kosaraju_scc(&sub) {
            // The earliest node in the file starts the example, whatever order the search
            // found; a circle of gates alone is the `on_exhausted` circle, reported apart.
            let Some(&first) = component.iter().filter(|v| v.index() < self.nodes).min() else {
                continue;
            };
            let looped = component.len() > 1 || sub.contains_edge(first, first);
            if !looped {
                continue;
            }
            let mut members = vec![false; count];
            for vertex in &component {
                members[vertex.index()] = true;
            }
            cycles.push(example_cycle(&sub, first.index(), &members));
        }
        cycles.sort();
        cycles
    }

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
                at = self.exhausted[node].filter(|&next| self.gates[next].is_some());
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

    /// A path of vertices in words: node ids in backticks, an action left by failure marked
    /// `(failed)`, a node passed by once used up marked `(visits used up)`. Long paths keep
    /// their beginning and end.
    pub fn describe(&self, runbook: &Runbook, path: &[usize], cycle: bool) -> String {
        let mut words = Vec::new();
        for (step, &vertex) in path.iter().enumerate() {
            let next = match path.get(step + 1) {
                Some(&next) => Some(next),
                None if cycle => path.first().copied(),
                None => None,
            };
            let name = |node: usize| format!("`{}`", runbook.nodes[node].id);
            match self.vertex(vertex) {
                Vertex::Node(node) => {
                    let failed = self.successes[node].is_some()
                        && next.is_some_and(|next| Some(next) != self.success(node))
                        && next != Some(self.unknown);
                    if failed {
                        words.push(format!("{} (failed)", name(node)));
                    } else {
                        words.push(name(node));
                    }
                }
                Vertex::Gate(node) if next != Some(node) && next.is_some() => {
                    words.push(format!("{} (visits used up)", name(node)));
                }
                Vertex::Gate(_) | Vertex::Success(_) => {}
                Vertex::Unknown => words.push("…".to_owned()),
            }
        }
        if let Some(&first) = path.first().filter(|_| cycle) {
            let node = match self.vertex(first) {
                Vertex::Node(node) | Vertex::Gate(node) | Vertex::Success(node) => node,
                Vertex::Unknown => 0,
            };
            words.push(format!("`{}`", runbook.nodes[node].id));
        }
        if words.len() > 9 {
            let tail = words.split_off(words.len() - 4);
            words.truncate(4);
            words.push("…".to_owned());
            words.extend(tail);
        }
        words.join(" → ")
    }
}

/// A cycle through `first` inside one strongly connected component, found breadth first.
fn example_cycle(sub: &DiGraph<(), (), u32>, first: usize, members: &[bool]) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; members.len()];
    let mut queue = VecDeque::from([first]);
    let mut seen = vec![false; members.len()];

    while let Some(vertex) = queue.pop_front() {
        for next in sub.neighbors(index(vertex)) {
            let next = next.index();
            if next == first {
                let mut cycle = vec![vertex];
                let mut step = vertex;
                while let Some(previous) = parent[step] {
                    cycle.push(previous);
                    step = previous;
                }
                cycle.reverse();
                return cycle;
            }
            if members[next] && !seen[next] {
                seen[next] = true;
                parent[next] = Some(vertex);
                queue.push_back(next);
            }
        }
    }
    vec![first]
}

fn index(position: usize) -> NodeIndex<u32> {
    NodeIndex::new(position)
}

/// A vertex index as stored; see [`super::dominators`] for why it fits.
fn as_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}
