//! Grid prices as seen from each area's market, and price forwarding across area boundaries.
//!
//! An order that travels from area `X`'s market to area `Y`'s market crosses the boundary of
//! every area on the tree path between them except their lowest common ancestor; each crossing
//! applies that area's [`GridFee`](nestgrid_types::GridFee) once ([`forward_along`]).

use nestgrid_grid::{AssetKind, Topology};
use nestgrid_types::{AreaId, Price, Side};

/// The areas whose boundaries an order crosses going from `from`'s market to `to`'s market, in
/// the order it crosses them (up from `from` to the common ancestor, then down to `to`).
pub fn boundaries_between(topology: &Topology, from: AreaId, to: AreaId, out: &mut Vec<AreaId>) {
    out.clear();
    let mut up = from;
    while !topology.contains(up, to) {
        out.push(up);
        up = topology.areas[up.index()]
            .parent
            .expect("the root contains every area");
    }
    let ancestor = up;
    let start_down = out.len();
    let mut down = to;
    while down != ancestor {
        out.push(down);
        down = topology.areas[down.index()]
            .parent
            .expect("a non-root area has a parent");
    }
    out[start_down..].reverse();
}

/// The price of an order of `side` priced `price` in `from`'s market, as seen in `to`'s market.
pub fn forward_along(
    topology: &Topology,
    side: Side,
    price: Price,
    from: AreaId,
    to: AreaId,
) -> Price {
    let mut crossed = Vec::new();
    boundaries_between(topology, from, to, &mut crossed);
    crossed.iter().fold(price, |price, area| {
        topology.areas[area.index()].fee.forward(side, price)
    })
}

/// The grid connection's rates as seen from one area's market in one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenPrices {
    /// What buying from the grid costs here (tariff plus fees on the way down).
    pub grid_sell: Price,
    /// What selling to the grid earns here (feed-in rate minus fees on the way up).
    pub grid_buy: Price,
}

/// For each area, the grid connection it uses as reference (for default rates and for settling
/// imbalances): the nearest one found walking up the tree (an area's own assets first), or else
/// the first grid connection of the scenario.
pub fn reference_connections(topology: &Topology) -> Vec<Option<nestgrid_types::AssetId>> {
    let first = topology
        .assets
        .iter()
        .position(|asset| matches!(asset.kind, AssetKind::GridConnection(_)))
        .map(|index| nestgrid_types::AssetId(index as u32));
    let mut reference = vec![None; topology.areas.len()];
    // Areas are in pre-order, so a parent is always resolved before its children.
    for (index, area) in topology.areas.iter().enumerate() {
        let own = area.assets.iter().copied().find(|asset| {
            matches!(
                topology.assets[asset.index()].kind,
                AssetKind::GridConnection(_)
            )
        });
        reference[index] = own
            .or_else(|| area.parent.and_then(|parent| reference[parent.index()]))
            .or(first);
    }
    reference
}

/// Seen grid prices for every area in `slot`; `None` for all when the scenario has no grid
/// connection.
pub fn seen_prices(topology: &Topology, slot: u32) -> Vec<Option<SeenPrices>> {
    let reference = reference_connections(topology);
    reference
        .iter()
        .enumerate()
        .map(|(index, connection)| {
            let connection = (*connection)?;
            let asset = &topology.assets[connection.index()];
            let AssetKind::GridConnection(spec) = &asset.kind else {
                return None;
            };
            let here = AreaId(index as u32);
            Some(SeenPrices {
                grid_sell: forward_along(
                    topology,
                    Side::Sell,
                    spec.tariff.at(slot),
                    asset.area,
                    here,
                ),
                grid_buy: forward_along(
                    topology,
                    Side::Buy,
                    spec.feed_in.at(slot),
                    asset.area,
                    here,
                ),
            })
        })
        .collect()
}
