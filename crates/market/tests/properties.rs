//! Property tests for every clearing mechanism: random books with few participants (so that
//! self-trades occur), tied prices and priorities, and now and then an energy near the top of
//! `i64`. The invariants are asserted here directly (not only through `check`), and every result is
//! compared with a reference model written from the specification: naive O(n·m) loops and a
//! clearing price found from cumulative curves in `i128` instead of the two-pointer walk.

use nestgrid_market::{
    Scratch, check, check_clearing, check_no_crossed_residual, check_uniform, clear,
    clearing_price, may_cross, residuals,
};
use nestgrid_types::{
    AreaId, AssetId, Energy, Match, Mechanism, Order, Participant, Price, Side, div_floor_i128,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::cmp::Reverse;

// ---------------------------------------------------------------------------------------------
// Strategies

fn participant() -> impl Strategy<Value = Participant> {
    prop_oneof![
        3 => (0_u32..3).prop_map(|id| Participant::Asset(AssetId(id))),
        2 => (0_u32..2).prop_map(|id| Participant::Area(AreaId(id))),
    ]
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        3 => 0_i64..1_000_000,
        // Coarse prices, so that equal prices (and ties on priority and key) are common.
        2 => (0_i64..10).prop_map(|step| step * 100_000),
        // Negative prices (surplus hours) test the rounding of the uniform price toward -∞.
        1 => -1_000_000_i64..0,
    ]
    .prop_map(Price)
}

fn energy() -> impl Strategy<Value = Energy> {
    prop_oneof![
        20 => 1_i64..10_000_000,
        // A grid connection's "everything"; a few of them exceed i64 when summed.
        1 => (i64::MAX / 4 - 1_000)..=(i64::MAX / 4),
        1 => (i64::MAX - 1_000)..=i64::MAX,
    ]
    .prop_map(Energy)
}

/// One side of a book with unique keys (a shuffled range, so key order is not slice order).
fn side(side: Side, orders_max: usize) -> impl Strategy<Value = Vec<Order>> {
    prop::collection::vec((participant(), energy(), price(), 0_u64..4), 0..orders_max)
        .prop_flat_map(|orders| {
            let keys: Vec<u64> = (0..orders.len() as u64).collect();
            (Just(orders), Just(keys).prop_shuffle())
        })
        .prop_map(move |(orders, keys)| {
            orders
                .into_iter()
                .zip(keys)
                .map(|((participant, energy, price, priority), key)| Order {
                    key,
                    participant,
                    side,
                    energy,
                    price,
                    priority,
                })
                .collect()
        })
}

fn book(orders_max: usize) -> impl Strategy<Value = (Vec<Order>, Vec<Order>)> {
    (side(Side::Buy, orders_max), side(Side::Sell, orders_max))
}

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(Mechanism::ALL.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Reference model, from the specification

fn bid_order(bids: &[Order]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bids.len()).collect();
    order.sort_by_key(|&index| {
        let bid = &bids[index];
        (Reverse(bid.price), bid.priority, bid.key)
    });
    order
}

fn offer_order(offers: &[Order]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..offers.len()).collect();
    order.sort_by_key(|&index| {
        let offer = &offers[index];
        (offer.price, offer.priority, offer.key)
    });
    order
}

/// Pay-as-clear's price from cumulative curves: unit `x` of volume is bought by the bid whose
/// cumulative interval holds `x` and sold by such an offer; the curves cross while the bid of
/// unit `x` is priced ≥ the offer of unit `x`. Prices are monotone along `x`, so the first
/// breakpoint where that fails (or a side ends) is the matched volume `V`; the price is the
/// floored midpoint of the pair at unit `V - 1`.
fn reference_clearing_price(bids: &[Order], offers: &[Order]) -> Option<Price> {
    let curve = |orders: &[Order], order: Vec<usize>| -> Vec<(i128, i64)> {
        let mut start = 0_i128;
        let mut steps = Vec::new();
        for index in order {
            steps.push((start, orders[index].price.0));
            start += orders[index].energy.0 as i128;
        }
        steps.push((start, 0)); // end marker
        steps
    };
    let demand = curve(bids, bid_order(bids));
    let supply = curve(offers, offer_order(offers));
    let price_at = |steps: &[(i128, i64)], unit: i128| -> i64 {
        let position = steps[..steps.len() - 1].partition_point(|&(start, _)| start <= unit);
        steps[position - 1].1
    };
    let demand_total = demand.last().map_or(0, |step| step.0);
    let supply_total = supply.last().map_or(0, |step| step.0);
    let mut volume = demand_total.min(supply_total);
    let mut breakpoints: Vec<i128> = demand.iter().chain(&supply).map(|step| step.0).collect();
    breakpoints.sort_unstable();
    for unit in breakpoints {
        if unit < volume && price_at(&demand, unit) < price_at(&supply, unit) {
            volume = unit;
            break;
        }
    }
    if volume == 0 {
        return None;
    }
    let bid_price = price_at(&demand, volume - 1);
    let offer_price = price_at(&supply, volume - 1);
    Some(Price(
        div_floor_i128(bid_price as i128 + offer_price as i128, 2) as i64,
    ))
}

/// The greedy walk, naively: every bid in bid priority scans every offer in offer priority.
fn reference_clear(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Vec<Match> {
    let uniform = match mechanism {
        Mechanism::PayAsClear => match reference_clearing_price(bids, offers) {
            Some(price) => Some(price),
            None => return Vec::new(),
        },
        _ => None,
    };
    let mut offer_left: Vec<i64> = offers.iter().map(|offer| offer.energy.0).collect();
    let offer_sequence = offer_order(offers);
    let mut matches = Vec::new();
    for bid_index in bid_order(bids) {
        let bid = &bids[bid_index];
        if uniform.is_some_and(|price| bid.price < price) {
            continue;
        }
        let mut left = bid.energy.0;
        for &offer_index in &offer_sequence {
            let offer = &offers[offer_index];
            let acceptable = match uniform {
                Some(price) => offer.price <= price,
                None => offer.price <= bid.price,
            };
            if left == 0 {
                break;
            }
            if !acceptable || offer_left[offer_index] == 0 || offer.participant == bid.participant {
                continue;
            }
            let energy = left.min(offer_left[offer_index]);
            left -= energy;
            offer_left[offer_index] -= energy;
            let price = match mechanism {
                Mechanism::PayAsOffer => offer.price,
                Mechanism::PayAsBid => bid.price,
                _ => uniform.unwrap_or(Price::ZERO),
            };
            matches.push(Match::at(
                bid_index as u32,
                offer_index as u32,
                Energy(energy),
                price,
            ));
        }
    }
    matches
}

// ---------------------------------------------------------------------------------------------
// Assertions

fn clear_fresh(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Vec<Match> {
    let mut matches = Vec::new();
    clear(
        mechanism,
        bids,
        offers,
        &mut Scratch::default(),
        &mut matches,
    );
    matches
}

/// Every invariant, asserted directly (brute force where `check` is clever).
fn assert_invariants(
    mechanism: Mechanism,
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(check(bids, offers, matches), Ok(()));
    prop_assert_eq!(check_clearing(mechanism, bids, offers, matches), Ok(()));

    let mut bought = vec![0_i128; bids.len()];
    let mut sold = vec![0_i128; offers.len()];
    for item in matches {
        let (bid, offer) = (&bids[item.bid as usize], &offers[item.offer as usize]);
        prop_assert!(item.energy.0 > 0, "empty match {:?}", item);
        prop_assert_ne!(bid.participant, offer.participant, "self-trade {:?}", item);
        prop_assert!(
            offer.price <= item.seller_price && item.buyer_price <= bid.price,
            "price {:?}",
            item
        );
        // The simulator's mechanisms charge the buyer what the seller receives.
        prop_assert_eq!(item.buyer_price, item.seller_price);
        let expected = match mechanism {
            Mechanism::PayAsOffer => Some(offer.price),
            Mechanism::PayAsBid => Some(bid.price),
            _ => None,
        };
        if let Some(expected) = expected {
            prop_assert_eq!(item.buyer_price, expected);
        }
        bought[item.bid as usize] += item.energy.0 as i128;
        sold[item.offer as usize] += item.energy.0 as i128;
    }
    for (bid, matched) in bids.iter().zip(&bought) {
        prop_assert!(*matched <= bid.energy.0 as i128, "overfilled bid {:?}", bid);
    }
    for (offer, matched) in offers.iter().zip(&sold) {
        prop_assert!(
            *matched <= offer.energy.0 as i128,
            "overfilled offer {:?}",
            offer
        );
    }
    prop_assert_eq!(bought.iter().sum::<i128>(), sold.iter().sum::<i128>());
    prop_assert!(matches.len() < (bids.len() + offers.len()).max(1));

    // What is left: no pair of different participants with energy left on both sides that may
    // still trade under the mechanism's rule.
    let (bid_left, offer_left) = residuals(bids, offers, matches);
    for (index, bid) in bids.iter().enumerate() {
        prop_assert_eq!(
            bid_left[index].0 as i128,
            bid.energy.0 as i128 - bought[index]
        );
    }
    for (index, offer) in offers.iter().enumerate() {
        prop_assert_eq!(
            offer_left[index].0 as i128,
            offer.energy.0 as i128 - sold[index]
        );
    }
    let uniform = match mechanism {
        Mechanism::PayAsClear => clearing_price(bids, offers, &mut Scratch::default()),
        _ => None,
    };
    if mechanism == Mechanism::PayAsClear {
        prop_assert_eq!(check_uniform(matches), Ok(()));
        prop_assert_eq!(uniform, reference_clearing_price(bids, offers));
        if let Some(first) = matches.first() {
            prop_assert_eq!(Some(first.buyer_price), uniform);
        }
    }
    for (bid_index, bid) in bids.iter().enumerate() {
        for (offer_index, offer) in offers.iter().enumerate() {
            let tradeable = match uniform {
                Some(price) => bid.price >= price && offer.price <= price,
                None if mechanism == Mechanism::PayAsClear => false,
                None => bid.price >= offer.price,
            };
            prop_assert!(
                !(tradeable
                    && bid.participant != offer.participant
                    && bid_left[bid_index].0 > 0
                    && offer_left[offer_index].0 > 0),
                "bid {} and offer {} left crossing",
                bid_index,
                offer_index
            );
        }
    }
    if mechanism != Mechanism::PayAsClear {
        prop_assert_eq!(check_no_crossed_residual(bids, offers, matches), Ok(()));
    }
    Ok(())
}

fn keyed(bids: &[Order], offers: &[Order], matches: &[Match]) -> Vec<(u64, u64, Energy, Price)> {
    matches
        .iter()
        .map(|item| {
            (
                bids[item.bid as usize].key,
                offers[item.offer as usize].key,
                item.energy,
                item.buyer_price,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #[test]
    fn invariants_hold(mechanism in mechanism(), (bids, offers) in book(30)) {
        let matches = clear_fresh(mechanism, &bids, &offers);
        assert_invariants(mechanism, &bids, &offers, &matches)?;
    }

    #[test]
    fn same_result_as_the_reference_model(mechanism in mechanism(), (bids, offers) in book(30)) {
        let matches = clear_fresh(mechanism, &bids, &offers);
        prop_assert_eq!(matches, reference_clear(mechanism, &bids, &offers));
    }

    #[test]
    fn deterministic_and_independent_of_scratch_history(
        mechanism in mechanism(),
        (bids, offers) in book(30),
        (other_bids, other_offers) in book(30),
        other_mechanism in mechanism(),
    ) {
        let fresh = clear_fresh(mechanism, &bids, &offers);
        let mut scratch = Scratch::default();
        let mut matches = Vec::new();
        clear(other_mechanism, &other_bids, &other_offers, &mut scratch, &mut matches);
        for _ in 0..2 {
            matches.clear();
            clear(mechanism, &bids, &offers, &mut scratch, &mut matches);
            prop_assert_eq!(&matches, &fresh);
        }
    }

    #[test]
    fn independent_of_slice_order(
        mechanism in mechanism(),
        (book, shuffled) in book(30).prop_flat_map(|(bids, offers)| {
            let book = Just((bids.clone(), offers.clone()));
            (book, (Just(bids).prop_shuffle(), Just(offers).prop_shuffle()))
        }),
    ) {
        let ((bids, offers), (shuffled_bids, shuffled_offers)) = (book, shuffled);
        let original = clear_fresh(mechanism, &bids, &offers);
        let permuted = clear_fresh(mechanism, &shuffled_bids, &shuffled_offers);
        // Priority is a total order, so even the sequence of matches is the same.
        prop_assert_eq!(
            keyed(&bids, &offers, &original),
            keyed(&shuffled_bids, &shuffled_offers, &permuted)
        );
    }

    #[test]
    fn pay_as_offer_and_pay_as_bid_differ_only_in_price((bids, offers) in book(30)) {
        let by_offer = clear_fresh(Mechanism::PayAsOffer, &bids, &offers);
        let by_bid = clear_fresh(Mechanism::PayAsBid, &bids, &offers);
        let strip = |matches: &[Match]| -> Vec<(u32, u32, Energy)> {
            matches.iter().map(|item| (item.bid, item.offer, item.energy)).collect()
        };
        prop_assert_eq!(strip(&by_offer), strip(&by_bid));
    }

    #[test]
    fn without_self_trade_every_mechanism_trades_the_same_volume((bids, offers) in book(30)) {
        // Give every order its own participant: no pair is excluded.
        let mut next = 0_u32;
        let mut own = |orders: &[Order]| -> Vec<Order> {
            orders.iter().map(|order| {
                next += 1;
                Order { participant: Participant::Asset(AssetId(next)), ..*order }
            }).collect()
        };
        let (bids, offers) = (own(&bids), own(&offers));
        let volumes: Vec<i128> = Mechanism::ALL
            .iter()
            .map(|&mechanism| {
                clear_fresh(mechanism, &bids, &offers).iter().map(|item| item.energy.0 as i128).sum()
            })
            .collect();
        prop_assert_eq!(volumes[0], volumes[1]);
        prop_assert_eq!(volumes[0], volumes[2]);
    }

    #[test]
    fn may_cross_never_misses_a_match(mechanism in mechanism(), (bids, offers) in book(30)) {
        let matches = clear_fresh(mechanism, &bids, &offers);
        if !matches.is_empty() {
            prop_assert!(may_cross(&bids, &offers));
        }
        let best_bid = bids.iter().map(|order| order.price).max();
        let best_offer = offers.iter().map(|order| order.price).min();
        let crosses = matches!((best_bid, best_offer), (Some(bid), Some(offer)) if bid >= offer);
        prop_assert_eq!(may_cross(&bids, &offers), crosses);
    }
}

proptest! {
    // Larger books exercise the skip pointers (long runs of one participant's offers, many
    // filled offers to pass) against the naive reference.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn large_books_match_the_reference(mechanism in mechanism(), (bids, offers) in book(300)) {
        let matches = clear_fresh(mechanism, &bids, &offers);
        assert_invariants(mechanism, &bids, &offers, &matches)?;
        prop_assert_eq!(matches, reference_clear(mechanism, &bids, &offers));
    }
}
