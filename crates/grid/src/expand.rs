//! Expansion of a checked plan into the arena.
//!
//! Areas are numbered in depth-first pre-order (root 0, each area before its children, children
//! in scenario order, copies in order); `bottom_up` is the post-order; `subtree_end[a]` is the
//! number of areas numbered before `a`'s subtree ends. The walk uses an explicit stack (STYLE 6).
//!
//! Copies share base profiles. With `vary: v` in effect (own or inherited), each asset copy with
//! a profile draws from its own ChaCha8 stream seeded by the scenario seed and the asset's path:
//! first `scale_ppm` uniformly in `[10⁶·(1 − v), 10⁶·(1 + v)]` (whole ppm), then `shift_slots`
//! uniformly in `{−2, −1, 0, 1, 2}`. Loads take both, PV only the scale. A draw depends only on
//! (seed, path), so adding or removing unrelated nodes changes no other asset's variation.
//!
//! Cost: O(areas + assets) time and memory (names and paths are the bulk); no per-copy profile.

use crate::assets::AssetPlan;
use crate::scenario::{AreaPlan, NodePlan, PlanKind, ScenarioPlan, copy_name};
use crate::{Area, Asset, Topology};
use nestgrid_types::{AreaId, AssetId, Mechanism};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Largest shift (in slots, either way) that `vary` applies to a load's profile.
pub const MAX_VARY_SHIFT_SLOTS: i32 = 2;

/// 64-bit FNV-1a with a chosen offset basis: a stable hash (std's hasher may change between
/// Rust releases, which would change results for the same seed).
fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    let mut hash = basis;
    for &byte in bytes {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The random stream of the node at `path` for scenario seed `seed`.
pub(crate) fn rng_for(seed: u64, path: &str) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv1a(path.as_bytes(), 0xcbf2_9ce4_8422_2325).to_le_bytes());
    key[16..24].copy_from_slice(&fnv1a(path.as_bytes(), 0x6c62_272e_07bb_0142).to_le_bytes());
    key[24..32].copy_from_slice(&(path.len() as u64).to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Scale and shift for one asset copy.
pub(crate) fn variation(seed: u64, path: &str, vary_ppm: i64) -> (i64, i32) {
    if vary_ppm == 0 {
        return (1_000_000, 0);
    }
    let mut rng = rng_for(seed, path);
    let scale = 1_000_000 + rng.random_range(-vary_ppm..=vary_ppm);
    let shift = rng.random_range(-MAX_VARY_SHIFT_SLOTS..=MAX_VARY_SHIFT_SLOTS);
    (scale, shift)
}

struct Frame<'a> {
    area: AreaId,
    children: &'a [NodePlan],
    child: usize,
    copy: u32,
    mechanism: Mechanism,
    vary_ppm: i64,
}

fn new_area(
    name: String,
    path: String,
    parent: Option<AreaId>,
    depth: u32,
    plan: &AreaPlan,
    mechanism: Mechanism,
) -> Area {
    Area {
        name,
        path,
        parent,
        children: Vec::new(),
        assets: Vec::new(),
        depth,
        fee: plan.fee,
        mechanism,
        import_limit: plan.import_limit,
        export_limit: plan.export_limit,
    }
}

fn new_asset(
    name: String,
    path: String,
    area: AreaId,
    plan: &AssetPlan,
    seed: u64,
    vary_ppm: i64,
) -> Asset {
    let kind = if plan.has_profile() && vary_ppm > 0 {
        let (scale, shift) = variation(seed, &path, vary_ppm);
        plan.with_variation(scale, shift)
    } else {
        plan.kind.clone()
    };
    Asset {
        name,
        path,
        area,
        kind,
        external: plan.external,
    }
}

/// Builds the arena from a checked plan.
pub(crate) fn expand(plan: ScenarioPlan) -> Topology {
    let ScenarioPlan {
        settings,
        root,
        profiles,
        area_count,
        asset_count,
    } = plan;
    let seed = settings.seed;
    let root_mechanism = root.mechanism.unwrap_or_default();
    let mut areas: Vec<Area> = Vec::with_capacity(area_count);
    let mut assets: Vec<Asset> = Vec::with_capacity(asset_count);
    let mut bottom_up: Vec<AreaId> = Vec::with_capacity(area_count);
    let mut subtree_end: Vec<u32> = vec![0; area_count];
    areas.push(new_area(
        settings.name.clone(),
        settings.name.clone(),
        None,
        0,
        &root,
        root_mechanism,
    ));
    let mut stack = vec![Frame {
        area: AreaId(0),
        children: &root.children,
        child: 0,
        copy: 0,
        mechanism: root_mechanism,
        vary_ppm: 0,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some(node) = frame.children.get(frame.child) else {
            let area = frame.area;
            stack.pop();
            bottom_up.push(area);
            subtree_end[area.index()] = areas.len() as u32;
            continue;
        };
        frame.copy += 1;
        let copy = frame.copy;
        if frame.copy == node.count {
            frame.child += 1;
            frame.copy = 0;
        }
        let parent = frame.area;
        let vary_ppm = node.vary_ppm.unwrap_or(frame.vary_ppm);
        let parent_mechanism = frame.mechanism;
        let name = copy_name(&node.name, node.count, copy);
        let path = format!("{}/{}", areas[parent.index()].path, name);
        match &node.kind {
            PlanKind::Area(plan) => {
                let id = AreaId(areas.len() as u32);
                let mechanism = plan.mechanism.unwrap_or(parent_mechanism);
                let depth = areas[parent.index()].depth + 1;
                areas[parent.index()].children.push(id);
                areas.push(new_area(name, path, Some(parent), depth, plan, mechanism));
                stack.push(Frame {
                    area: id,
                    children: &plan.children,
                    child: 0,
                    copy: 0,
                    mechanism,
                    vary_ppm,
                });
            }
            PlanKind::Asset(plan) => {
                let id = AssetId(assets.len() as u32);
                areas[parent.index()].assets.push(id);
                assets.push(new_asset(name, path, parent, plan, seed, vary_ppm));
            }
        }
    }
    debug_assert_eq!(areas.len(), area_count);
    debug_assert_eq!(assets.len(), asset_count);
    Topology {
        settings,
        areas,
        assets,
        profiles,
        bottom_up,
        subtree_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variation_is_seeded_by_path_and_bounded() {
        let first = variation(42, "Village/Street 1/House 1/Load", 200_000);
        assert_eq!(
            first,
            variation(42, "Village/Street 1/House 1/Load", 200_000)
        );
        assert_ne!(
            first,
            variation(43, "Village/Street 1/House 1/Load", 200_000)
        );
        for index in 0..1_000 {
            let (scale, shift) = variation(7, &format!("G/H {index}/L"), 200_000);
            assert!((800_000..=1_200_000).contains(&scale));
            assert!((-2..=2).contains(&shift));
        }
        assert_eq!(variation(7, "anything", 0), (1_000_000, 0));
    }
}
