//! Property tests for the two-price mechanisms — Huang, Scheller-Wolf and Sycara's multi-unit
//! double auction and McAfee's trade reduction — on random books with few participants (so that
//! self-trades occur), coarse prices (so that ties are common), integer and fractional kWh, and
//! now and then an energy near the top of `i64`.
//!
//! What is asserted, and why it holds (the proofs; the crate documentation states the rules):
//! - *Energy conservation and no overfill*: the pairing walk only moves volume between a bid and
//!   an offer, never beyond either's plan, and the plan never exceeds an order's energy
//!   (`max(q − δ, 0) + 1 ≤ q` because δ ≥ 1 whenever a side is cut).
//! - *Individual rationality*: a trading bid ranks before K, so its price ≥ b_K = p_b; a trading
//!   offer ranks before L, so its price ≤ s_L = p_s. Trade reduction: b_i ≥ b_k and s_i ≤ s_k
//!   for i ≤ k, and p0 is used only inside [s_k, b_k].
//! - *Weak budget balance*: K and L are the last crossing pair, so p_b = b_K ≥ s_L = p_s; trade
//!   reduction prices at p0/p0 or b_k ≥ s_k. Settlement rounds each match's money monotonically
//!   in the price, so the operator's surplus in money is ≥ 0 too.
//! - *Strategy-proofness in price* (for an order that is its participant's only order): see the
//!   crate documentation; here every misreport of the issue is tried — every other order's price
//!   and ± one micro-unit around it, half and twice the true value — and the utility, measured
//!   with the true value, never exceeds the truthful one.
//! - *Efficiency* (Huang): the mean ratio of realised to maximal welfare over random books is at
//!   least 0.95 with 20 participants per side and 0.99 with 100.
//!
//! Each result is also compared with a reference model written from the definitions: Q* from
//! cumulative curves in `i128`, δ by binary search, the leftover by sorting.

use nestgrid_market::{
    Scratch, check, check_book, check_clearing, clear, clearing_prices, payments,
};
use nestgrid_types::{AssetId, Energy, Match, Mechanism, Money, Order, Participant, Price, Side};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::cmp::Reverse;

const CASES: u32 = 2_000;

// ---------------------------------------------------------------------------------------------
// Strategies

fn participant(pool: u32) -> impl Strategy<Value = Participant> {
    (0..pool).prop_map(|id| Participant::Asset(AssetId(id)))
}

fn price() -> impl Strategy<Value = Price> {
    prop_oneof![
        3 => 0_i64..1_000_000,
        // Coarse prices: ties (and ties on priority) are common.
        3 => (0_i64..8).prop_map(|step| step * 100_000),
        1 => -500_000_i64..0,
    ]
    .prop_map(Price)
}

fn energy() -> impl Strategy<Value = Energy> {
    prop_oneof![
        // Whole kWh, often equal to each other.
        6 => (1_i64..6).prop_map(|kwh| kwh * 1_000_000),
        // Fractional kWh, down to one mWh.
        6 => 1_i64..10_000_000,
        2 => 1_i64..5,
        // A grid connection's "everything"; sums exceed i64.
        1 => (i64::MAX / 3 - 1_000)..=(i64::MAX / 3),
        1 => (i64::MAX - 1_000)..=i64::MAX,
    ]
    .prop_map(Energy)
}

/// One side with unique keys (a shuffled range) and priorities in 0..4.
fn side(
    side: Side,
    orders_max: usize,
    energy: impl Strategy<Value = Energy>,
    pool: u32,
) -> impl Strategy<Value = Vec<Order>> {
    prop::collection::vec(
        (participant(pool), energy, price(), 0_u64..4),
        0..orders_max,
    )
    .prop_flat_map(|orders| {
        let keys: Vec<u64> = (0..orders.len() as u64).collect();
        (Just(orders), Just(keys).prop_shuffle())
    })
    .prop_map(move |(orders, keys)| {
        orders
            .into_iter()
            .zip(keys)
            .map(|((participant, energy, price, priority), key)| Order {
                key: key + if side == Side::Sell { 1_000 } else { 0 },
                participant,
                side,
                energy,
                price,
                priority,
            })
            .collect()
    })
}

type Book = (Vec<Order>, Vec<Order>);

fn book(orders_max: usize) -> impl Strategy<Value = Book> {
    (
        side(Side::Buy, orders_max, energy(), 4),
        side(Side::Sell, orders_max, energy(), 4),
    )
}

/// Unit orders for trade reduction: one energy for the whole book.
fn unit_book(orders_max: usize) -> impl Strategy<Value = Book> {
    energy().prop_flat_map(move |unit| {
        (
            side(Side::Buy, orders_max, Just(unit), 4),
            side(Side::Sell, orders_max, Just(unit), 4),
        )
    })
}

fn two_price() -> impl Strategy<Value = Mechanism> {
    prop::sample::select(vec![Mechanism::Huang, Mechanism::TradeReduction])
}

// ---------------------------------------------------------------------------------------------
// Reference model, from the definitions

fn bid_order(bids: &[Order]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..bids.len()).collect();
    order.sort_by_key(|&index| {
        (
            Reverse(bids[index].price),
            bids[index].priority,
            bids[index].key,
        )
    });
    order
}

fn offer_order(offers: &[Order]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..offers.len()).collect();
    order.sort_by_key(|&index| {
        (
            offers[index].price,
            offers[index].priority,
            offers[index].key,
        )
    });
    order
}

/// What a two-price mechanism plans: prices and each order's volume (by slice index).
#[derive(Debug, PartialEq)]
struct Plan {
    buyer_price: Price,
    seller_price: Price,
    bids: Vec<i128>,
    offers: Vec<i128>,
}

/// Huang's plan. The step of the i-th order in priority order is the interval
/// `(cumulative before it, cumulative after it]`; the price at a quantity x is the price of
/// the step holding x. d is non-increasing and s non-decreasing, so {x : d(x) ≥ s(x)} is an
/// interval (0, Q*] whose end Q* is a step end of either side (or where a side ends): try every
/// step end up to the smaller total.
fn reference_huang(bids: &[Order], offers: &[Order]) -> Option<Plan> {
    let (bid_sequence, offer_sequence) = (bid_order(bids), offer_order(offers));
    let ends = |orders: &[Order], sequence: &[usize]| -> Vec<i128> {
        let mut total = 0_i128;
        sequence
            .iter()
            .map(|&index| {
                total += orders[index].energy.0 as i128;
                total
            })
            .collect()
    };
    let (demand_ends, supply_ends) = (ends(bids, &bid_sequence), ends(offers, &offer_sequence));
    let step_at = |step_ends: &[i128], x: i128| step_ends.partition_point(|&end| end < x);
    let limit = (*demand_ends.last()?).min(*supply_ends.last()?);
    let crosses = |x: i128| {
        bids[bid_sequence[step_at(&demand_ends, x)]].price
            >= offers[offer_sequence[step_at(&supply_ends, x)]].price
    };
    let q_star = demand_ends
        .iter()
        .chain(&supply_ends)
        .copied()
        .chain([limit])
        .filter(|&x| x <= limit && crosses(x))
        .max()?;
    let (k, l) = (step_at(&demand_ends, q_star), step_at(&supply_ends, q_star));
    let mut plan = Plan {
        buyer_price: bids[bid_sequence[k]].price,
        seller_price: offers[offer_sequence[l]].price,
        bids: vec![0; bids.len()],
        offers: vec![0; offers.len()],
    };
    let demand: i128 = bid_sequence[..k]
        .iter()
        .map(|&i| bids[i].energy.0 as i128)
        .sum();
    let supply: i128 = offer_sequence[..l]
        .iter()
        .map(|&i| offers[i].energy.0 as i128)
        .sum();
    let volume = demand.min(supply);
    for &index in &bid_sequence[..k] {
        plan.bids[index] = bids[index].energy.0 as i128;
    }
    for &index in &offer_sequence[..l] {
        plan.offers[index] = offers[index].energy.0 as i128;
    }
    if demand > volume {
        cut(&mut plan.bids, bids, volume);
    }
    if supply > volume {
        cut(&mut plan.offers, offers, volume);
    }
    Some(plan)
}

/// Equal reduction by the definition: the smallest integer δ with Σ max(q − δ, 0) ≤ target
/// (binary search), then one mWh more to the first leftover orders with q ≥ δ by
/// (priority, key).
fn cut(volumes: &mut [i128], orders: &[Order], target: i128) {
    let reduced = |delta: i128| -> i128 { volumes.iter().map(|&q| (q - delta).max(0)).sum() };
    let (mut low, mut high) = (0_i128, *volumes.iter().max().unwrap_or(&0));
    while low < high {
        let middle = (low + high) / 2;
        if reduced(middle) <= target {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let delta = low;
    let mut candidates: Vec<usize> = (0..volumes.len())
        .filter(|&index| volumes[index] > 0 && volumes[index] >= delta)
        .collect();
    candidates.sort_by_key(|&index| (orders[index].priority, orders[index].key));
    let rest = (target - reduced(delta)) as usize;
    for volume in volumes.iter_mut() {
        *volume = (*volume - delta).max(0);
    }
    for &index in &candidates[..rest] {
        volumes[index] += 1;
    }
}

/// McAfee's plan for unit orders.
fn reference_trade_reduction(bids: &[Order], offers: &[Order]) -> Option<Plan> {
    let unit = bids.first().or(offers.first())?.energy.0 as i128;
    let (bid_sequence, offer_sequence) = (bid_order(bids), offer_order(offers));
    let price_of_bid = |i: usize| bids[bid_sequence[i]].price.0;
    let price_of_offer = |i: usize| offers[offer_sequence[i]].price.0;
    let mut k = 0;
    while k < bids.len().min(offers.len()) && price_of_bid(k) >= price_of_offer(k) {
        k += 1;
    }
    if k == 0 {
        return None;
    }
    let (b_k, s_k) = (price_of_bid(k - 1), price_of_offer(k - 1));
    let p0 = (k < bids.len() && k < offers.len())
        .then(|| (price_of_bid(k) as i128 + price_of_offer(k) as i128).div_euclid(2) as i64);
    let (buyer_price, seller_price, count) = match p0 {
        Some(p0) if s_k <= p0 && p0 <= b_k => (p0, p0, k),
        _ => (b_k, s_k, k - 1),
    };
    let mut plan = Plan {
        buyer_price: Price(buyer_price),
        seller_price: Price(seller_price),
        bids: vec![0; bids.len()],
        offers: vec![0; offers.len()],
    };
    for i in 0..count {
        plan.bids[bid_sequence[i]] = unit;
        plan.offers[offer_sequence[i]] = unit;
    }
    Some(plan)
}

fn reference(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Option<Plan> {
    match mechanism {
        Mechanism::Huang => reference_huang(bids, offers),
        _ => reference_trade_reduction(bids, offers),
    }
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

fn fills(bids: &[Order], offers: &[Order], matches: &[Match]) -> (Vec<i128>, Vec<i128>) {
    let mut bought = vec![0_i128; bids.len()];
    let mut sold = vec![0_i128; offers.len()];
    for item in matches {
        bought[item.bid as usize] += item.energy.0 as i128;
        sold[item.offer as usize] += item.energy.0 as i128;
    }
    (bought, sold)
}

/// Every invariant, asserted directly, and the plan compared with the reference model.
fn assert_two_price(
    mechanism: Mechanism,
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(check(bids, offers, matches), Ok(()));
    prop_assert_eq!(check_clearing(mechanism, bids, offers, matches), Ok(()));
    let (bought, sold) = fills(bids, offers, matches);
    // Conservation and no overfill.
    prop_assert_eq!(bought.iter().sum::<i128>(), sold.iter().sum::<i128>());
    for (order, filled) in bids.iter().zip(&bought).chain(offers.iter().zip(&sold)) {
        prop_assert!(*filled <= order.energy.0 as i128, "overfilled {:?}", order);
    }
    for item in matches {
        let (bid, offer) = (&bids[item.bid as usize], &offers[item.offer as usize]);
        prop_assert!(item.energy.0 > 0);
        prop_assert_ne!(bid.participant, offer.participant, "self-trade {:?}", item);
        // Individual rationality and weak budget balance, per match.
        prop_assert!(item.buyer_price <= bid.price, "buyer above bid {:?}", item);
        prop_assert!(
            item.seller_price >= offer.price,
            "seller below offer {:?}",
            item
        );
        prop_assert!(
            item.seller_price <= item.buyer_price,
            "negative spread {:?}",
            item
        );
    }
    let money = payments(matches);
    prop_assert!(money.operator_surplus >= Money::ZERO);
    // Totals are saturated at the i64 range (energies near i64::MAX / 4 and negative prices
    // reach it); the identity is only exact when none of the three saturated.
    let saturated = [
        money.buyers_pay,
        money.sellers_receive,
        money.operator_surplus,
    ]
    .iter()
    .any(|amount| amount.0 == i64::MAX || amount.0 == i64::MIN);
    if !saturated {
        prop_assert_eq!(
            money.buyers_pay.0 as i128,
            money.sellers_receive.0 as i128 + money.operator_surplus.0 as i128
        );
    }

    // The plan against the reference.
    let plan = reference(mechanism, bids, offers);
    let prices = clearing_prices(mechanism, bids, offers, &mut Scratch::default());
    prop_assert_eq!(
        prices.map(|found| (found.buyer_price, found.seller_price)),
        plan.as_ref()
            .map(|plan| (plan.buyer_price, plan.seller_price))
    );
    let Some(plan) = plan else {
        prop_assert!(matches.is_empty());
        return Ok(());
    };
    for item in matches {
        prop_assert_eq!(
            (item.buyer_price, item.seller_price),
            (plan.buyer_price, plan.seller_price)
        );
    }
    let planned: i128 = plan.bids.iter().sum();
    prop_assert_eq!(planned, plan.offers.iter().sum::<i128>());
    // Orders are filled as planned, except for one participant short by the same amount on
    // both sides, and only by what no pairing can avoid.
    let mut short: Option<Participant> = None;
    let mut missing = [0_i128; 2];
    let sides = [(bids, &plan.bids, &bought), (offers, &plan.offers, &sold)];
    for (side, (orders, planned_volumes, filled)) in sides.iter().enumerate() {
        for index in 0..orders.len() {
            let gap = planned_volumes[index] - filled[index];
            prop_assert!(gap >= 0);
            if gap > 0 {
                prop_assert!(short.is_none_or(|p| p == orders[index].participant));
                short = Some(orders[index].participant);
                missing[side] += gap;
            }
        }
    }
    if let Some(participant) = short {
        let own: i128 = sides
            .iter()
            .flat_map(|(orders, planned_volumes, _)| {
                orders
                    .iter()
                    .zip(planned_volumes.iter())
                    .filter(|(order, _)| order.participant == participant)
                    .map(|(_, volume)| *volume)
            })
            .sum();
        prop_assert_eq!(missing[0], missing[1]);
        prop_assert_eq!(missing[0], own - planned);
    }
    Ok(())
}

/// The utility of the order at `position` (bid or offer) with true value `value`.
fn utility(side: Side, position: usize, value: Price, matches: &[Match]) -> i128 {
    matches
        .iter()
        .filter(|item| match side {
            Side::Buy => item.bid as usize == position,
            Side::Sell => item.offer as usize == position,
        })
        .map(|item| {
            let gain = match side {
                Side::Buy => value.0 as i128 - item.buyer_price.0 as i128,
                Side::Sell => item.seller_price.0 as i128 - value.0 as i128,
            };
            gain * item.energy.0 as i128
        })
        .sum()
}

/// The misreports of the issue: every other order's price, ± one unit around it, half and twice
/// the true value.
fn misreports(bids: &[Order], offers: &[Order], side: Side, position: usize) -> Vec<Price> {
    let value = match side {
        Side::Buy => bids[position].price.0,
        Side::Sell => offers[position].price.0,
    };
    let mut reports = vec![value.div_euclid(2), value.saturating_mul(2)];
    let others = bids
        .iter()
        .enumerate()
        .filter(|(index, _)| side == Side::Sell || *index != position)
        .map(|(_, order)| order.price.0)
        .chain(
            offers
                .iter()
                .enumerate()
                .filter(|(index, _)| side == Side::Buy || *index != position)
                .map(|(_, order)| order.price.0),
        );
    for price in others {
        reports.extend([price - 1, price, price + 1]);
    }
    reports.sort_unstable();
    reports.dedup();
    reports.into_iter().map(Price).collect()
}

fn assert_strategy_proof(
    mechanism: Mechanism,
    mut bids: Vec<Order>,
    mut offers: Vec<Order>,
    pick: prop::sample::Index,
) -> Result<(), TestCaseError> {
    let total = bids.len() + offers.len();
    if total == 0 {
        return Ok(());
    }
    let chosen = pick.index(total);
    let (side, position) = match chosen < bids.len() {
        true => (Side::Buy, chosen),
        false => (Side::Sell, chosen - bids.len()),
    };
    // The tested order is its participant's only order.
    let alone = Participant::Area(nestgrid_types::AreaId(99));
    let value = match side {
        Side::Buy => {
            bids[position].participant = alone;
            bids[position].price
        }
        Side::Sell => {
            offers[position].participant = alone;
            offers[position].price
        }
    };
    let truthful = utility(
        side,
        position,
        value,
        &clear_fresh(mechanism, &bids, &offers),
    );
    prop_assert!(truthful >= 0, "individual rationality");
    for report in misreports(&bids, &offers, side, position) {
        let (mut lying_bids, mut lying_offers) = (bids.clone(), offers.clone());
        match side {
            Side::Buy => lying_bids[position].price = report,
            Side::Sell => lying_offers[position].price = report,
        }
        let matches = clear_fresh(mechanism, &lying_bids, &lying_offers);
        let lying = utility(side, position, value, &matches);
        prop_assert!(
            lying <= truthful,
            "{:?} {:?} order {} with value {:?} gains by reporting {:?}: {} > {}",
            mechanism,
            side,
            position,
            value,
            report,
            lying,
            truthful
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn huang_invariants_and_reference((bids, offers) in book(24)) {
        let matches = clear_fresh(Mechanism::Huang, &bids, &offers);
        assert_two_price(Mechanism::Huang, &bids, &offers, &matches)?;
    }

    #[test]
    fn trade_reduction_invariants_and_reference((bids, offers) in unit_book(24)) {
        prop_assert_eq!(check_book(Mechanism::TradeReduction, &bids, &offers), Ok(()));
        let matches = clear_fresh(Mechanism::TradeReduction, &bids, &offers);
        assert_two_price(Mechanism::TradeReduction, &bids, &offers, &matches)?;
    }

    #[test]
    fn huang_strategy_proof_in_price((bids, offers) in book(12), pick in any::<prop::sample::Index>()) {
        assert_strategy_proof(Mechanism::Huang, bids, offers, pick)?;
    }

    #[test]
    fn trade_reduction_strategy_proof_in_price(
        (bids, offers) in unit_book(12),
        pick in any::<prop::sample::Index>(),
    ) {
        assert_strategy_proof(Mechanism::TradeReduction, bids, offers, pick)?;
    }

    #[test]
    fn trade_reduction_refuses_mixed_energies((bids, offers) in book(12)) {
        let unit = bids.iter().chain(&offers).map(|order| order.energy).next();
        let uniform = bids.iter().chain(&offers).all(|order| Some(order.energy) == unit);
        let matches = clear_fresh(Mechanism::TradeReduction, &bids, &offers);
        match check_book(Mechanism::TradeReduction, &bids, &offers) {
            Ok(()) => prop_assert!(uniform),
            Err(_) => {
                prop_assert!(!uniform);
                prop_assert!(matches.is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 4))]

    #[test]
    fn independent_of_slice_order_and_scratch(
        mechanism in two_price(),
        (book, shuffled) in book(24).prop_flat_map(|(bids, offers)| {
            let book = Just((bids.clone(), offers.clone()));
            (book, (Just(bids).prop_shuffle(), Just(offers).prop_shuffle()))
        }),
        (other_bids, other_offers) in book(24),
    ) {
        let ((bids, offers), (shuffled_bids, shuffled_offers)) = (book, shuffled);
        let keyed = |bids: &[Order], offers: &[Order], matches: &[Match]| -> Vec<(u64, u64, Energy, Price, Price)> {
            matches
                .iter()
                .map(|item| (
                    bids[item.bid as usize].key,
                    offers[item.offer as usize].key,
                    item.energy,
                    item.buyer_price,
                    item.seller_price,
                ))
                .collect()
        };
        let original = clear_fresh(mechanism, &bids, &offers);
        let mut scratch = Scratch::default();
        let mut matches = Vec::new();
        clear(mechanism, &other_bids, &other_offers, &mut scratch, &mut matches);
        matches.clear();
        clear(mechanism, &shuffled_bids, &shuffled_offers, &mut scratch, &mut matches);
        prop_assert_eq!(
            keyed(&bids, &offers, &original),
            keyed(&shuffled_bids, &shuffled_offers, &matches)
        );
    }

    #[test]
    fn large_books((bids, offers) in book(200)) {
        let matches = clear_fresh(Mechanism::Huang, &bids, &offers);
        assert_two_price(Mechanism::Huang, &bids, &offers, &matches)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Efficiency of Huang's mechanism

/// SplitMix64, so that the efficiency figures are the same on every run.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
}

/// Participants per side, each with one order: values and costs uniform in [0, 1] /kWh,
/// energies uniform in [1, 10] kWh to the mWh.
fn random_book(sequence: &mut Sequence, per_side: usize) -> Book {
    let order = |sequence: &mut Sequence, side: Side, key: u64| Order {
        key,
        participant: Participant::Asset(AssetId(key as u32)),
        side,
        energy: Energy(sequence.between(1_000_000, 10_000_000)),
        price: Price(sequence.between(0, 1_000_000)),
        priority: 0,
    };
    let bids = (0..per_side as u64)
        .map(|key| order(sequence, Side::Buy, key))
        .collect();
    let offers = (0..per_side as u64)
        .map(|key| order(sequence, Side::Sell, 10_000 + key))
        .collect();
    (bids, offers)
}

/// The largest welfare any allocation can reach: energy is divisible, so it is the greedy cross
/// of the sorted curves — match the highest bid with the lowest offer while the bid is at least
/// the offer, each unit adding (bid − offer). In micro-units × mWh.
fn optimal_welfare(bids: &[Order], offers: &[Order]) -> i128 {
    let (bid_sequence, offer_sequence) = (bid_order(bids), offer_order(offers));
    let (mut b, mut o) = (0, 0);
    let (mut bid_left, mut offer_left) = (0_i128, 0_i128);
    let mut welfare = 0;
    loop {
        if bid_left == 0 {
            let Some(&index) = bid_sequence.get(b) else {
                break;
            };
            bid_left = bids[index].energy.0 as i128;
        }
        if offer_left == 0 {
            let Some(&index) = offer_sequence.get(o) else {
                break;
            };
            offer_left = offers[index].energy.0 as i128;
        }
        let (bid, offer) = (&bids[bid_sequence[b]], &offers[offer_sequence[o]]);
        if bid.price < offer.price {
            break;
        }
        let energy = bid_left.min(offer_left);
        welfare += (bid.price.0 - offer.price.0) as i128 * energy;
        bid_left -= energy;
        offer_left -= energy;
        if bid_left == 0 {
            b += 1;
        }
        if offer_left == 0 {
            o += 1;
        }
    }
    welfare
}

fn realised_welfare(bids: &[Order], offers: &[Order], matches: &[Match]) -> i128 {
    matches
        .iter()
        .map(|item| {
            let gain = bids[item.bid as usize].price.0 - offers[item.offer as usize].price.0;
            gain as i128 * item.energy.0 as i128
        })
        .sum()
}

/// Mean of realised / optimal welfare over `books` random books (books without gains from trade
/// are skipped).
fn mean_welfare_ratio(per_side: usize, books: usize) -> f64 {
    let mut sequence = Sequence(per_side as u64);
    let mut ratios = Vec::with_capacity(books);
    while ratios.len() < books {
        let (bids, offers) = random_book(&mut sequence, per_side);
        let optimal = optimal_welfare(&bids, &offers);
        if optimal == 0 {
            continue;
        }
        let matches = clear_fresh(Mechanism::Huang, &bids, &offers);
        assert_eq!(
            check_clearing(Mechanism::Huang, &bids, &offers, &matches),
            Ok(())
        );
        let realised = realised_welfare(&bids, &offers, &matches);
        assert!(realised <= optimal);
        ratios.push(realised as f64 / optimal as f64);
    }
    ratios.iter().sum::<f64>() / ratios.len() as f64
}

#[test]
fn huang_efficiency_rises_towards_one() {
    let small = mean_welfare_ratio(20, 1_000);
    let large = mean_welfare_ratio(100, 300);
    println!("mean welfare ratio: {small:.4} at 20 per side, {large:.4} at 100 per side");
    assert!(small >= 0.95, "20 per side: {small}");
    assert!(large >= 0.99, "100 per side: {large}");
    assert!(large > small);
}
