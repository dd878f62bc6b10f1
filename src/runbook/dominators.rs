//! Dominators of a directed graph, for questions of the form "does every walk from `start` to
//! this node pass through that one?", answered in constant time each.
//!
//! The tree is built with the Lengauer-Tarjan algorithm (path compression, simple linking), in
//! O(E log V) whatever the shape of the graph, and without recursion, so a runbook of any length
//! cannot exhaust the stack. petgraph's `simple_fast` was not used: on a graph where many nodes
//! lead to one shared node (every action failing to the same escalation, say) its intersections
//! walk the whole tree for each of them, which is quadratic. Each vertex then gets the interval
//! of a depth-first numbering of the tree: `a` dominates `b` exactly when `b`'s interval lies
//! inside `a`'s.

/// The dominator tree of the vertices reachable from a root, as nested intervals.
pub struct Dominators {
    /// Preorder number of each vertex in the dominator tree; `NONE` when unreachable.
    enter: Vec<u32>,
    /// The largest preorder number in each vertex's subtree.
    leave: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Dominators {
    /// The dominators of every vertex reachable from `root`, in a graph of `count` vertices
    /// whose successors and predecessors the two functions give.
    pub fn new<'a>(
        count: usize,
        root: usize,
        successors: impl Fn(usize) -> &'a [u32],
        predecessors: impl Fn(usize) -> &'a [u32],
    ) -> Self {
        let search = Search::new(count, root, &successors);
        let idom = search.immediate_dominators(&predecessors);
        intervals(count, &search.vertex, &idom)
    }

    /// Whether every walk from the root to `b` passes through `a` (so `a` dominates itself).
    pub fn dominates(&self, a: usize, b: usize) -> bool {
        let (a_in, b_in) = (self.enter[a], self.enter[b]);
        a_in != NONE && b_in != NONE && a_in <= b_in && b_in <= self.leave[a]
    }

    /// Whether `vertex` can be reached from the root at all.
    pub fn reachable(&self, vertex: usize) -> bool {
        self.enter[vertex] != NONE
    }
}

/// A depth-first search from the root, in preorder, with everything Lengauer-Tarjan keeps per
/// vertex indexed by preorder number.
struct Search {
    /// Preorder number of each vertex; `NONE` when unreachable.
    number: Vec<u32>,
    /// The vertex with each preorder number.
    vertex: Vec<u32>,
    /// The preorder number of each numbered vertex's parent in the search tree.
    parent: Vec<u32>,
}

impl Search {
    fn new<'a>(count: usize, root: usize, successors: &impl Fn(usize) -> &'a [u32]) -> Self {
        let mut number = vec![NONE; count];
        let mut vertex = Vec::with_capacity(count);
        let mut parent = Vec::with_capacity(count);
        // Each frame: a vertex and how many of its successors were looked at.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        number[root] = 0;
        vertex.push(as_u32(root));
        parent.push(NONE);

        while let Some(frame) = stack.last_mut() {
            let (at, seen) = *frame;
            let Some(&next) = successors(at).get(seen) else {
                stack.pop();
                continue;
            };
            frame.1 += 1;
            let next = next as usize;
            if number[next] == NONE {
                number[next] = as_u32(vertex.len());
                vertex.push(as_u32(next));
                parent.push(number[at]);
                stack.push((next, 0));
            }
        }
        Self {
            number,
            vertex,
            parent,
        }
    }

    /// The immediate dominator of each reachable vertex, by preorder number (the root's is
    /// itself).
    fn immediate_dominators<'a>(&self, predecessors: &impl Fn(usize) -> &'a [u32]) -> Vec<u32> {
        let reached = self.vertex.len();
        let mut semi: Vec<u32> = (0..reached).map(as_u32).collect();
        let mut idom = vec![0u32; reached];
        let mut ancestor = vec![NONE; reached];
        let mut label: Vec<u32> = (0..reached).map(as_u32).collect();
        // Vertices whose semidominator is the vertex of that number, waiting for it.
        let mut bucket: Vec<Vec<u32>> = vec![Vec::new(); reached];
        let mut path = Vec::new();

        for w in (1..reached).rev() {
            for &v in predecessors(self.vertex[w] as usize) {
                let v = self.number[v as usize];
                if v == NONE {
                    continue;
                }
                let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
                semi[w] = semi[w].min(semi[u as usize]);
            }
            bucket[semi[w] as usize].push(as_u32(w));
            let p = self.parent[w];
            ancestor[w] = p;

            for v in std::mem::take(&mut bucket[p as usize]) {
                let u = eval(v, &mut ancestor, &mut label, &semi, &mut path);
                idom[v as usize] = if semi[u as usize] < semi[v as usize] {
                    u
                } else {
                    p
                };
            }
        }

        for w in 1..reached {
            if idom[w] != semi[w] {
                idom[w] = idom[idom[w] as usize];
            }
        }
        idom
    }
}

/// The vertex of least semidominator on the compressed path from `v` up to the root of its
/// tree in the forest built so far.
fn eval(v: u32, ancestor: &mut [u32], label: &mut [u32], semi: &[u32], path: &mut Vec<u32>) -> u32 {
    if ancestor[v as usize] == NONE {
        return v;
    }

    // Compress without recursion: collect the path, then fold it from the top down.
    path.clear();
    let mut at = v;
    while ancestor[ancestor[at as usize] as usize] != NONE {
        path.push(at);
        at = ancestor[at as usize];
    }
    while let Some(x) = path.pop() {
        let up = ancestor[x as usize] as usize;
        if semi[label[up] as usize] < semi[label[x as usize] as usize] {
            label[x as usize] = label[up];
        }
        ancestor[x as usize] = ancestor[up];
    }
    label[v as usize]
}

/// Nested intervals of a preorder numbering of the dominator tree.
fn intervals(count: usize, vertex: &[u32], idom: &[u32]) -> Dominators {
    let reached = vertex.len();
    // Children of each tree node, by preorder number of the search, as a compact list.
    let mut first = vec![0u32; reached + 1];
    for &parent in idom.iter().skip(1) {
        first[parent as usize + 1] += 1;
    }
    for at in 0..reached {
        first[at + 1] += first[at];
    }
    let mut fill = first.clone();
    let mut children = vec![0u32; reached.saturating_sub(1)];
    for (child, &parent) in idom.iter().enumerate().skip(1) {
        children[fill[parent as usize] as usize] = as_u32(child);
        fill[parent as usize] += 1;
    }

    let mut enter = vec![NONE; count];
    let mut leave = vec![NONE; count];
    let mut clock = 0u32;
    let mut stack: Vec<(u32, u32)> = Vec::new();
    if reached > 0 {
        stack.push((0, first[0]));
        enter[vertex[0] as usize] = clock;
    }
    while let Some(frame) = stack.last_mut() {
        let (node, next) = *frame;
        if next == first[node as usize + 1] {
            leave[vertex[node as usize] as usize] = clock;
            stack.pop();
            continue;
        }
        frame.1 += 1;
        let child = children[next as usize];
        clock += 1;
        enter[vertex[child as usize] as usize] = clock;
        stack.push((child, first[child as usize]));
    }
    Dominators { enter, leave }
}

/// A vertex index as stored; graphs of runbooks stay far below `u32::MAX` vertices, since a
/// runbook file is at most 256 MiB.
fn as_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(NONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Successor and predecessor lists of a graph given as edges.
    fn lists(count: usize, edges: &[(u32, u32)]) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let mut successors = vec![Vec::new(); count];
        let mut predecessors = vec![Vec::new(); count];
        for &(from, to) in edges {
            successors[from as usize].push(to);
            predecessors[to as usize].push(from);
        }
        (successors, predecessors)
    }

    fn dominators(count: usize, edges: &[(u32, u32)]) -> Dominators {
        let (successors, predecessors) = lists(count, edges);
        Dominators::new(
            count,
            0,
            |at| successors[at].as_slice(),
            |at| predecessors[at].as_slice(),
        )
    }

    /// Whether every path from 0 to `b` passes `a`, by removing `a` and searching.
    fn brute_force(count: usize, edges: &[(u32, u32)], a: usize, b: usize) -> Option<bool> {
        let reach = |without: Option<usize>| {
            let mut seen = vec![false; count];
            let mut stack = vec![0usize];
            if without == Some(0) {
                stack.clear();
            } else {
                seen[0] = true;
            }
            while let Some(at) = stack.pop() {
                for &(from, to) in edges {
                    let to = to as usize;
                    if from as usize == at && !seen[to] && Some(to) != without {
                        seen[to] = true;
                        stack.push(to);
                    }
                }
            }
            seen
        };
        if !reach(None)[b] {
            return None;
        }
        Some(a == b || !reach(Some(a))[b])
    }

    #[test]
    fn a_diamond_is_dominated_by_its_top_only() {
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3)];
        let tree = dominators(4, &edges);
        assert!(tree.dominates(0, 3));
        assert!(!tree.dominates(1, 3));
        assert!(!tree.dominates(2, 3));
        assert!(tree.dominates(3, 3));
    }

    #[test]
    fn unreachable_vertices_are_dominated_by_nothing() {
        let tree = dominators(3, &[(0, 1)]);
        assert!(!tree.reachable(2));
        assert!(!tree.dominates(0, 2));
    }

    #[test]
    fn every_pair_agrees_with_a_search_on_small_graphs() {
        // A fixed family of graphs with loops, joins and back edges, checked exhaustively.
        let mut seed = 7u64;
        let mut random = |below: u32| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            u32::try_from((seed >> 33) % u64::from(below)).unwrap_or(0)
        };
        for _ in 0..300 {
            let count = 2 + random(9) as usize;
            let edges: Vec<(u32, u32)> = (0..count * 2)
                .map(|_| (random(count as u32), random(count as u32)))
                .collect();
            let tree = dominators(count, &edges);
            for a in 0..count {
                for b in 0..count {
                    let expected = brute_force(count, &edges, a, b);
                    assert_eq!(tree.reachable(b), expected.is_some(), "{edges:?} {b}");
                    if let Some(expected) = expected {
                        assert_eq!(tree.dominates(a, b), expected, "{edges:?}: {a} dom {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_chain_with_a_shared_join_is_handled_without_recursion() {
        let count = 200_000u32;
        let mut edges: Vec<(u32, u32)> = (0..count - 2).map(|at| (at, at + 1)).collect();
        edges.extend((0..count - 2).map(|at| (at, count - 1)));
        let (successors, predecessors) = lists(count as usize, &edges);
        let tree = Dominators::new(
            count as usize,
            0,
            |at| successors[at].as_slice(),
            |at| predecessors[at].as_slice(),
        );
        assert!(tree.dominates(10, 100_000));
        assert!(!tree.dominates(1, count as usize - 1));
        assert!(tree.dominates(0, count as usize - 1));
    }
}
