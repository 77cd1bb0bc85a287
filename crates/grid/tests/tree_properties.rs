//! Arena invariants on random trees: pre-order numbering, post-order `bottom_up`,
//! `subtree_end` and `contains` agreeing with the parent links.

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_types::AreaId;
use proptest::prelude::*;
use std::path::Path;

/// A random scenario node: an area with children, or an asset; both with a count.
#[derive(Clone, Debug)]
enum Node {
    Area { count: u32, children: Vec<Node> },
    Asset { count: u32 },
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = (1u32..3).prop_map(|count| Node::Asset { count });
    leaf.prop_recursive(4, 40, 4, |inner| {
        (1u32..4, proptest::collection::vec(inner, 1..4))
            .prop_map(|(count, children)| Node::Area { count, children })
    })
}

fn render(nodes: &[Node], indent: usize, text: &mut String) {
    let pad = " ".repeat(indent);
    for (index, node) in nodes.iter().enumerate() {
        match node {
            Node::Asset { count } => {
                text.push_str(&format!(
                    "{pad}- {{ name: Asset {index}x, count: {count}, load: {{ power_w: 10 }} }}\n"
                ));
            }
            Node::Area { count, children } => {
                text.push_str(&format!(
                    "{pad}- name: Area {index}x\n{pad}  count: {count}\n{pad}  children:\n"
                ));
                render(children, indent + 4, text);
            }
        }
    }
}

fn expected_areas(nodes: &[Node]) -> usize {
    nodes
        .iter()
        .map(|node| match node {
            Node::Asset { .. } => 0,
            Node::Area { count, children } => *count as usize * (1 + expected_areas(children)),
        })
        .sum()
}

fn ancestors_contain(topology: &Topology, outer: AreaId, inner: AreaId) -> bool {
    let mut current = Some(inner);
    while let Some(area) = current {
        if area == outer {
            return true;
        }
        current = topology.areas[area.index()].parent;
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arena_invariants(nodes in proptest::collection::vec(node(), 1..4)) {
        let mut text = String::from("simulation: { slot_length: 1h }\nareas:\n");
        render(&nodes, 2, &mut text);
        let topology = load_str(&text, Path::new("."), &LoadOptions::default())
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        let count = topology.areas.len();
        prop_assert_eq!(count, 1 + expected_areas(&nodes));

        // Parents come first (pre-order) and depths follow the parent links.
        prop_assert_eq!(topology.areas[0].parent, None);
        for (index, area) in topology.areas.iter().enumerate().skip(1) {
            let parent = area.parent.expect("only the root has no parent");
            prop_assert!(parent.index() < index);
            prop_assert_eq!(area.depth, topology.areas[parent.index()].depth + 1);
            prop_assert!(topology.areas[parent.index()].children.contains(&AreaId(index as u32)));
        }

        // Every area once in bottom_up, after all its descendants.
        let mut position = vec![usize::MAX; count];
        for (order, area) in topology.bottom_up.iter().enumerate() {
            prop_assert_eq!(position[area.index()], usize::MAX, "listed twice");
            position[area.index()] = order;
        }
        prop_assert!(position.iter().all(|&order| order != usize::MAX));
        for (index, area) in topology.areas.iter().enumerate() {
            if let Some(parent) = area.parent {
                prop_assert!(position[index] < position[parent.index()]);
            }
        }
        prop_assert_eq!(*topology.bottom_up.last().unwrap(), AreaId(0));

        // contains() agrees with walking up the parent links, for every pair.
        for outer in 0..count {
            prop_assert!(topology.subtree_end[outer] as usize > outer);
            prop_assert!(topology.subtree_end[outer] as usize <= count);
            for inner in 0..count {
                let (outer, inner) = (AreaId(outer as u32), AreaId(inner as u32));
                prop_assert_eq!(topology.contains(outer, inner), ancestors_contain(&topology, outer, inner));
            }
        }

        // Assets hang off the area that lists them; paths are unique.
        for (index, asset) in topology.assets.iter().enumerate() {
            prop_assert!(topology.areas[asset.area.index()].assets.contains(&nestgrid_types::AssetId(index as u32)));
            prop_assert!(asset.path.starts_with(&topology.areas[asset.area.index()].path));
        }
        let mut paths: Vec<&str> = topology.areas.iter().map(|area| area.path.as_str())
            .chain(topology.assets.iter().map(|asset| asset.path.as_str()))
            .collect();
        let total = paths.len();
        paths.sort_unstable();
        paths.dedup();
        prop_assert_eq!(paths.len(), total);
    }
}
