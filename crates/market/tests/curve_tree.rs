//! Property tests for curve regions (`nestgrid_market::tree`): random trees of up to eight areas
//! with small boundary fees and now and then an islanded area, books with few owners (so that an
//! owner often holds orders in several areas, and bids and offers in one), many equal prices, and
//! now and then an order of the largest energy allowed. The guarantees of the module
//! documentation are asserted directly, against brute-force references written from it: the
//! lowest common area by walking up the tree, the energy balance of every area by summing, no gain
//! left over every pair of orders, and the greatest welfare of one area by a greedy walk over the
//! sorted book.

use nestgrid_market::tree::{TREE_ORDER_ENERGY_MAX, TreeArea, TreeClearing, TreeOrder, clear_tree};
use nestgrid_market::{ClearingPrices, Scratch, check_clearing, clear, clearing_prices};
use nestgrid_types::{AssetId, Energy, Match, Mechanism, Order, Participant, Price, Side};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeSet;

/// Cases per property: clearing a region of 40 orders is cheap, so many random trees are tried.
const CASES: u32 = 4_000;

// ---------------------------------------------------------------------------------------------
// Strategies

/// A boundary fee, often zero, small enough that fees and prices tie often.
fn fee() -> impl Strategy<Value = Price> {
    prop_oneof![1 => Just(0_i64), 3 => 0_i64..=20].prop_map(Price)
}

/// Connected five times in six.
fn connected() -> impl Strategy<Value = bool> {
    prop::bool::weighted(5.0 / 6.0)
}

/// A tree of 1..=`areas_max` areas, parents first: every area below the top gets a random parent
/// among the areas before it. The top's fee and `connected` are random too (they are not read).
fn areas(areas_max: usize) -> impl Strategy<Value = Vec<TreeArea>> {
    (
        (fee(), any::<bool>()),
        prop::collection::vec((any::<Index>(), fee(), connected()), 0..areas_max),
    )
        .prop_map(|((top_fee, top_connected), below)| {
            let mut areas = vec![TreeArea {
                parent: None,
                fee: top_fee,
                connected: top_connected,
            }];
            for (parent, fee, connected) in below {
                let parent = parent.index(areas.len()) as u32;
                areas.push(TreeArea {
                    parent: Some(parent),
                    fee,
                    connected,
                });
            }
            areas
        })
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

/// Mostly small energies; now and then one up to the largest an order may carry.
fn energy() -> impl Strategy<Value = Energy> {
    prop_oneof![
        30 => 1_i64..=1_000,
        1 => 1_i64..=TREE_ORDER_ENERGY_MAX.0,
        1 => Just(TREE_ORDER_ENERGY_MAX.0),
    ]
    .prop_map(Energy)
}

/// A narrow range of limits, so that equal limits (and limits equal to a price) are frequent.
fn limit() -> impl Strategy<Value = Price> {
    (-50_i64..=150).prop_map(Price)
}

/// A curve region with its orders.
#[derive(Clone, Debug)]
struct Region {
    areas: Vec<TreeArea>,
    orders: Vec<TreeOrder>,
}

/// A region of 1..=`areas_max` areas and 0..40 orders of owners 0..6. When `one_sided` yields
/// true, every owner's orders are made one-sided (an owner's bids and offers get different owner
/// numbers), so that the guarantees for such owners are exercised on every order.
fn region(
    areas_max: usize,
    one_sided: impl Strategy<Value = bool>,
) -> impl Strategy<Value = Region> {
    (
        areas(areas_max),
        prop::collection::vec((any::<Index>(), 0_u64..6, side(), energy(), limit()), 0..40),
        one_sided,
    )
        .prop_map(|(areas, orders, one_sided)| {
            let orders = orders
                .into_iter()
                .map(|(area, owner, side, energy, price)| TreeOrder {
                    area: area.index(areas.len()) as u32,
                    owner: match one_sided {
                        true => 2 * owner + u64::from(side == Side::Sell),
                        false => owner,
                    },
                    side,
                    energy,
                    price,
                })
                .collect();
            Region { areas, orders }
        })
}

/// One side of a single book: owners 0..6 (shared between the two sides), unique keys.
fn book_side(side: Side, orders_max: usize) -> impl Strategy<Value = Vec<Order>> {
    prop::collection::vec((0_u32..6, energy(), limit(), 0_u64..4), 0..orders_max).prop_map(
        move |orders| {
            orders
                .into_iter()
                .enumerate()
                .map(|(position, (owner, energy, price, priority))| Order {
                    // Bids get even keys, offers odd ones.
                    key: 2 * position as u64 + u64::from(side == Side::Sell),
                    participant: Participant::Asset(AssetId(owner)),
                    side,
                    energy,
                    price,
                    priority,
                })
                .collect()
        },
    )
}

fn book(orders_max: usize) -> impl Strategy<Value = (Vec<Order>, Vec<Order>)> {
    (
        book_side(Side::Buy, orders_max),
        book_side(Side::Sell, orders_max),
    )
}

// ---------------------------------------------------------------------------------------------
// The tree, by brute force

fn parent(areas: &[TreeArea], area: usize) -> usize {
    areas[area].parent.expect("only the top has no parent") as usize
}

fn depth(areas: &[TreeArea], mut area: usize) -> usize {
    let mut depth = 0;
    while area != 0 {
        area = parent(areas, area);
        depth += 1;
    }
    depth
}

/// The lowest common area of `a` and `b`.
fn lowest_common_area(areas: &[TreeArea], mut a: usize, mut b: usize) -> usize {
    let (mut depth_a, mut depth_b) = (depth(areas, a), depth(areas, b));
    while depth_a > depth_b {
        a = parent(areas, a);
        depth_a -= 1;
    }
    while depth_b > depth_a {
        b = parent(areas, b);
        depth_b -= 1;
    }
    while a != b {
        a = parent(areas, a);
        b = parent(areas, b);
    }
    a
}

/// The areas from `from` up to its ancestor `to`, `to` excluded: the boundaries crossed.
fn path_up(areas: &[TreeArea], mut from: usize, to: usize) -> Vec<usize> {
    let mut path = Vec::new();
    while from != to {
        path.push(from);
        from = parent(areas, from);
    }
    path
}

// ---------------------------------------------------------------------------------------------
// Assertions

fn cleared(region: &Region) -> Result<TreeClearing, TestCaseError> {
    let mut out = TreeClearing::default();
    let result = clear_tree(&region.areas, &region.orders, &mut out);
    prop_assert_eq!(result, Ok(()), "valid input refused");
    prop_assert_eq!(out.prices.len(), region.areas.len(), "one price per area");
    prop_assert_eq!(out.imports.len(), region.areas.len(), "one import per area");
    prop_assert_eq!(out.fills.len(), region.orders.len(), "one fill per order");
    Ok(out)
}

/// 1. Fills within the orders and equal to their matches; matches between a bid and an offer,
///    made in the lowest common area. The owner rule is per area (`TreeOrder::owner`: "orders of
///    one owner in one area never trade with each other"; an owner's share in an area fills its
///    bids or its offers): one owner's orders in different areas may be matched with each other.
fn assert_fills_and_matches(region: &Region, out: &TreeClearing) -> Result<(), TestCaseError> {
    let (areas, orders) = (&region.areas, &region.orders);
    let mut matched = vec![0_i128; orders.len()];
    for item in &out.matches {
        prop_assert!(item.energy.0 > 0, "match {:?} without energy", item);
        prop_assert!(
            (item.buy as usize) < orders.len() && (item.sell as usize) < orders.len(),
            "match {:?} names an order that does not exist",
            item
        );
        let (buy, sell) = (&orders[item.buy as usize], &orders[item.sell as usize]);
        prop_assert_eq!(buy.side, Side::Buy, "match {:?}: its buy is an offer", item);
        prop_assert_eq!(sell.side, Side::Sell, "match {:?}: its sell is a bid", item);
        if buy.area == sell.area {
            prop_assert_ne!(
                buy.owner,
                sell.owner,
                "match {:?}: owner {} trades with itself in area {}",
                item,
                buy.owner,
                buy.area
            );
        }
        let common = lowest_common_area(areas, buy.area as usize, sell.area as usize);
        prop_assert_eq!(
            item.area as usize,
            common,
            "match {:?} is not made in the lowest common area of areas {} and {}",
            item,
            buy.area,
            sell.area
        );
        matched[item.buy as usize] += item.energy.0 as i128;
        matched[item.sell as usize] += item.energy.0 as i128;
    }
    for (index, (order, fill)) in orders.iter().zip(&out.fills).enumerate() {
        prop_assert!(
            fill.0 >= 0 && *fill <= order.energy,
            "order {} {:?} filled {:?}, outside 0..=its energy",
            index,
            order,
            fill
        );
        prop_assert_eq!(
            fill.0 as i128,
            matched[index],
            "order {} {:?}: its fill is not the energy of its matches",
            index,
            order
        );
    }
    // An owner's share in one area fills its bids or its offers, never both.
    let mut bought = BTreeSet::new();
    let mut sold = BTreeSet::new();
    for (order, fill) in orders.iter().zip(&out.fills) {
        if fill.0 > 0 {
            match order.side {
                Side::Buy => bought.insert((order.area, order.owner)),
                Side::Sell => sold.insert((order.area, order.owner)),
            };
        }
    }
    let both: Vec<_> = bought.intersection(&sold).collect();
    prop_assert!(
        both.is_empty(),
        "(area, owner) both buying and selling: {:?}",
        both
    );
    Ok(())
}

/// 2. Individual rationality at the price of each order's own area.
fn assert_individually_rational(region: &Region, out: &TreeClearing) -> Result<(), TestCaseError> {
    for (index, (order, fill)) in region.orders.iter().zip(&out.fills).enumerate() {
        if fill.0 == 0 {
            continue;
        }
        let Some(price) = out.prices[order.area as usize] else {
            return Err(TestCaseError::fail(format!(
                "order {index} {order:?} filled {fill:?} in area {} without a price",
                order.area
            )));
        };
        match order.side {
            Side::Buy => prop_assert!(
                order.price >= price,
                "bid {} {:?} filled {:?} above its limit, at {:?}",
                index,
                order,
                fill,
                price
            ),
            Side::Sell => prop_assert!(
                order.price <= price,
                "offer {} {:?} filled {:?} below its limit, at {:?}",
                index,
                order,
                fill,
                price
            ),
        }
    }
    Ok(())
}

/// 3. Down from a match's area the buyer's chain adds each boundary's fee, the seller's
///    subtracts it; every boundary crossed is connected, importing on the buyer's side and
///    exporting on the seller's.
fn assert_price_chains(region: &Region, out: &TreeClearing) -> Result<(), TestCaseError> {
    let (areas, orders) = (&region.areas, &region.orders);
    for item in &out.matches {
        prop_assert!(
            out.prices[item.area as usize].is_some(),
            "match {:?} in an area without a price",
            item
        );
        for (order, sign) in [(item.buy, 1_i64), (item.sell, -1)] {
            let from = orders[order as usize].area as usize;
            for area in path_up(areas, from, item.area as usize) {
                let above = parent(areas, area);
                let (price, above_price) = (out.prices[area], out.prices[above]);
                let fee = areas[area].fee.0;
                prop_assert!(
                    areas[area].connected,
                    "match {:?} crosses the boundary of islanded area {}",
                    item,
                    area
                );
                prop_assert_eq!(
                    price.map(|price| price.0),
                    above_price.map(|price| price.0 + sign * fee),
                    "match {:?}: area {} under area {} with fee {} is priced off the {}'s chain",
                    item,
                    area,
                    above,
                    fee,
                    if sign > 0 { "buyer" } else { "seller" }
                );
                prop_assert!(
                    out.imports[area].signum() == sign as i128,
                    "match {:?}: area {} on the {}'s side imports {}",
                    item,
                    area,
                    if sign > 0 { "buyer" } else { "seller" },
                    out.imports[area]
                );
            }
        }
    }
    Ok(())
}

/// 4. Energy balance at every area; nothing filled where there is no price.
fn assert_balance(region: &Region, out: &TreeClearing) -> Result<(), TestCaseError> {
    let (areas, orders) = (&region.areas, &region.orders);
    prop_assert_eq!(out.imports[0], 0, "the top imports");
    let mut net = vec![0_i128; areas.len()];
    for (order, fill) in orders.iter().zip(&out.fills) {
        let area = order.area as usize;
        if out.prices[area].is_none() {
            prop_assert_eq!(
                fill.0,
                0,
                "order {:?} filled in area {} without a price",
                order,
                area
            );
        }
        net[area] += match order.side {
            Side::Buy => fill.0 as i128,
            Side::Sell => -(fill.0 as i128),
        };
    }
    for (area, description) in areas.iter().enumerate().skip(1) {
        if description.connected {
            net[parent(areas, area)] += out.imports[area];
        } else {
            prop_assert_eq!(out.imports[area], 0, "islanded area {} imports", area);
        }
    }
    for (area, &net) in net.iter().enumerate() {
        prop_assert_eq!(
            net,
            out.imports[area],
            "area {} (price {:?}): own net purchases plus children's imports are not its import",
            area,
            out.prices[area]
        );
    }
    Ok(())
}

/// 5. No gain left between one-sided owners whose orders can reach each other.
fn assert_no_gain_left(region: &Region, out: &TreeClearing) -> Result<(), TestCaseError> {
    let (areas, orders) = (&region.areas, &region.orders);
    let sides = |side: Side| -> BTreeSet<u64> {
        orders
            .iter()
            .filter(|order| order.side == side)
            .map(|order| order.owner)
            .collect()
    };
    let two_sided: BTreeSet<u64> = sides(Side::Buy)
        .intersection(&sides(Side::Sell))
        .copied()
        .collect();
    let left = |index: usize| {
        let order = &orders[index];
        order.energy.0 > out.fills[index].0 && !two_sided.contains(&order.owner)
    };
    for (buy, bid) in orders.iter().enumerate() {
        if bid.side != Side::Buy || !left(buy) {
            continue;
        }
        for (sell, offer) in orders.iter().enumerate() {
            if offer.side != Side::Sell || !left(sell) || offer.owner == bid.owner {
                continue;
            }
            let (a, b) = (bid.area as usize, offer.area as usize);
            let common = lowest_common_area(areas, a, b);
            let path: Vec<usize> = path_up(areas, a, common)
                .into_iter()
                .chain(path_up(areas, b, common))
                .collect();
            if path.iter().any(|&area| !areas[area].connected) {
                continue;
            }
            let fees: i64 = path.iter().map(|&area| areas[area].fee.0).sum();
            prop_assert!(
                bid.price.0 <= offer.price.0 + fees,
                "gain left: bid {} {:?} and offer {} {:?} both have energy left (filled {:?} and \
                 {:?}) across fees {} (areas {:?}); prices {:?}",
                buy,
                bid,
                sell,
                offer,
                out.fills[buy],
                out.fills[sell],
                fees,
                path,
                out.prices
            );
        }
    }
    Ok(())
}

/// The greatest welfare of one area's book: bids by limit descending, offers ascending, matched
/// greedily while the bid's limit is at least the offer's.
fn greatest_welfare(orders: &[TreeOrder]) -> i128 {
    let mut bids: Vec<(i64, i128)> = Vec::new();
    let mut offers: Vec<(i64, i128)> = Vec::new();
    for order in orders {
        let entry = (order.price.0, order.energy.0 as i128);
        match order.side {
            Side::Buy => bids.push(entry),
            Side::Sell => offers.push(entry),
        }
    }
    bids.sort_by_key(|&(price, _)| std::cmp::Reverse(price));
    offers.sort_by_key(|&(price, _)| price);
    let (mut welfare, mut bid, mut offer) = (0_i128, 0, 0);
    while bid < bids.len() && offer < offers.len() && bids[bid].0 >= offers[offer].0 {
        let energy = bids[bid].1.min(offers[offer].1);
        welfare += energy * (bids[bid].0 as i128 - offers[offer].0 as i128);
        bids[bid].1 -= energy;
        offers[offer].1 -= energy;
        if bids[bid].1 == 0 {
            bid += 1;
        }
        if offers[offer].1 == 0 {
            offer += 1;
        }
    }
    welfare
}

fn clear_book_fresh(bids: &[Order], offers: &[Order]) -> Vec<Match> {
    let mut matches = Vec::new();
    clear(
        Mechanism::Curve,
        bids,
        offers,
        &mut Scratch::default(),
        &mut matches,
    );
    matches
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn fills_equal_matches_made_in_the_lowest_common_area(region in region(8, any::<bool>())) {
        let out = cleared(&region)?;
        assert_fills_and_matches(&region, &out)?;
    }

    #[test]
    fn individually_rational(region in region(8, any::<bool>())) {
        let out = cleared(&region)?;
        assert_individually_rational(&region, &out)?;
    }

    #[test]
    fn prices_follow_the_fees_down_each_match(region in region(8, any::<bool>())) {
        let out = cleared(&region)?;
        assert_price_chains(&region, &out)?;
    }

    #[test]
    fn energy_balanced_at_every_area(region in region(8, any::<bool>())) {
        let out = cleared(&region)?;
        assert_balance(&region, &out)?;
    }

    #[test]
    fn no_gain_left_between_one_sided_owners(region in region(8, any::<bool>())) {
        let out = cleared(&region)?;
        assert_no_gain_left(&region, &out)?;
    }

    #[test]
    fn one_area_reaches_the_greatest_welfare(region in region(1, Just(true))) {
        let out = cleared(&region)?;
        let welfare: i128 = region
            .orders
            .iter()
            .zip(&out.fills)
            .map(|(order, fill)| {
                let value = fill.0 as i128 * order.price.0 as i128;
                if order.side == Side::Buy { value } else { -value }
            })
            .sum();
        prop_assert_eq!(
            welfare,
            greatest_welfare(&region.orders),
            "welfare of the clearing (fills {:?}, price {:?}) below the greatest",
            out.fills,
            out.prices[0]
        );
    }

    #[test]
    fn a_single_book_passes_the_clearing_check((bids, offers) in book(20)) {
        let matches = clear_book_fresh(&bids, &offers);
        prop_assert_eq!(check_clearing(Mechanism::Curve, &bids, &offers, &matches), Ok(()));
        let prices = clearing_prices(Mechanism::Curve, &bids, &offers, &mut Scratch::default());
        if matches.is_empty() {
            prop_assert_eq!(prices, None, "a price reported though nothing trades");
        }
        for item in &matches {
            prop_assert_eq!(
                prices,
                Some(ClearingPrices { buyer_price: item.buyer_price, seller_price: item.seller_price }),
                "match {:?} not at the clearing prices",
                item
            );
        }
    }

    #[test]
    fn deterministic_and_independent_of_the_output_buffer(
        region in region(8, any::<bool>()),
        other in region(8, any::<bool>()),
    ) {
        let fresh = cleared(&region)?;
        let mut reused = cleared(&other)?;
        for _ in 0..2 {
            prop_assert_eq!(clear_tree(&region.areas, &region.orders, &mut reused), Ok(()));
            prop_assert_eq!(&reused, &fresh);
        }
    }
}
