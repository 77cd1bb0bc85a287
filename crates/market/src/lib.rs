//! Order books and clearing mechanisms of nestgrid: pure functions, no I/O.
//!
//! A market hands [`clear`] one book — its `bids` and `offers` as the market sees them — and gets
//! [`Match`]es back: a bid index, an offer index, an energy and a price. Nothing else changes; the
//! engine applies the matches ([`residuals`] tells it what is left of each order), forwards what
//! is left, and may assert the invariants with [`check_clearing`]. [`may_cross`] lets it skip books
//! that cannot trade. [`Scratch`] carries the buffers from one call to the next, so clearing a
//! book allocates nothing once the buffers and `matches` have grown to size.
//!
//! # Priority and tie-breaks (every mechanism)
//!
//! | side | priority |
//! | --- | --- |
//! | bids | price descending, then `priority` ascending (earlier first), then `key` ascending |
//! | offers | price ascending, then `priority` ascending, then `key` ascending |
//!
//! Keys are meant to be unique within a book; then the order is total and the result does not
//! depend on the order of the input slices. (Should a key repeat on one side, the slice index
//! breaks the tie, so the result stays deterministic, but it then depends on the slice order.)
//!
//! **No self-trade**: a bid and an offer with equal [`Participant`](nestgrid_types::Participant)
//! never match. The bid passes over that offer and goes on to the next one in offer priority; the
//! offer stays available to the bids after it.
//!
//! **Partial fills**: an order may be matched with several counterparts, and may be left with
//! part of its energy. A bid priced equal to an offer trades with it.
//!
//! Orders without positive energy (not allowed in a book) are ignored. `side` is not read: the
//! slice an order is in decides its side.
//!
//! # Mechanisms
//!
//! ## Pay-as-offer ([`Mechanism::PayAsOffer`])
//! - **Rule**: one-sided. Bids are taken in bid priority; each bid takes the acceptable offers
//!   (offer price ≤ bid price, other participant) in offer priority until its energy is filled or
//!   no acceptable offer with energy remains. "Buyers take the cheapest offers."
//! - **Price**: each match at the *offer's* price.
//! - **Left behind**: no crossed book: no bid and offer of different participants that cross
//!   both have energy left ([`check_no_crossed_residual`]). Proof: a bid stops short of its
//!   energy only when every acceptable offer is empty; later bids only empty offers further.
//!
//! ## Pay-as-bid ([`Mechanism::PayAsBid`])
//! - **Rule**: two-sided, price-time priority: the same greedy walk as pay-as-offer (the best
//!   bid against the best offers, then the next bid). The engine gets continuous trading by
//!   clearing the book of every tick.
//! - **Price**: each match at the *bid's* price — pay as bid. The seller receives the bid
//!   price, at least its own.
//! - **Left behind**: no crossed book, as for pay-as-offer. Matches (pairs and energies) are
//!   identical to pay-as-offer; only the prices differ.
//!
//! ## Pay-as-clear ([`Mechanism::PayAsClear`])
//! - **Rule**: two-sided uniform-price call auction, in two steps.
//!   1. *Clearing price*, participants ignored: walk the bids and offers in priority order,
//!      matching the best bid with the best offer while the bid's price ≥ the offer's price (the
//!      aggregate demand and supply curves). With (b, o) the prices of the last pair matched, the
//!      clearing price is `P = floor((b + o) / 2)` (toward negative infinity). No crossing pair,
//!      no price, no match ([`clearing_price`] gives `P` to the engine).
//!   2. *Allocation*: bids priced ≥ `P` and offers priced ≤ `P` are eligible; the greedy walk of
//!      pay-as-offer runs over them (eligible bids in bid priority, each taking eligible offers of
//!      other participants in offer priority). The long side is rationed by priority.
//! - **Price**: every match at `P`; `o ≤ P ≤ b` for the marginal pair, and every match is between
//!   a bid priced ≥ `P` and an offer priced ≤ `P` (individual rationality; proof at the code).
//! - **Volume**: without self-trade exclusion, exactly the volume of step 1 (the eligible volume
//!   of the short side equals it). Exclusion can only lower it.
//! - **Left behind**: no bid priced ≥ `P` and offer priced ≤ `P`, of different participants,
//!   both with energy left ([`check_no_crossed_residual_at`]). A crossed pair *can* be left:
//!   bids A@100 and B@40, one offer A@30 give `P = 65`; A cannot buy its own offer, and B@40 is
//!   below `P`, so B@40 and A@30 are left crossing. Rematching them at `P` would break B's limit,
//!   at another price the uniformity; the engine may forward them to the next market instead.
//!
//! # Complexity and limits
//!
//! With n bids and m offers: O(n log n + m log m) to sort (`sort_unstable` of 32-byte ranks
//! under the total key above), then O((n + m) log m) amortised for the walk — the dead offers and
//! the bidder's own offers are skipped with path-compressed pointers, so a participant with many
//! bids and many cheap offers of its own costs no O(n·m). Every match fills its bid or its offer
//! (or both), so one clearing produces **at most n + m − 1 matches**: reserve that in `matches`
//! and nothing is allocated. A book whose best bid is below its best offer costs the sort and a
//! comparison. Each side may hold at most `u32::MAX − 1` orders (indices are `u32`; asserted).
//!
//! # Arithmetic (STYLE 2)
//!
//! | quantity | how | overflow | rounding |
//! | --- | --- | --- | --- |
//! | match energy | `min` of two remainders, each ≤ its order's `i64` energy | impossible | none |
//! | remainders | subtraction of a `min`, stays ≥ 0 | impossible | none |
//! | volumes of the aggregate walk | per-order remainders only, never cumulative sums | impossible | none |
//! | clearing price | `(b + o)` in `i128`, then [`div_floor_i128`](nestgrid_types::div_floor_i128) | impossible | toward −∞ |
//! | sums in [`check`] | `i128` | impossible below 2⁶³ matches | none |
//! | [`residuals`] | `saturating_sub` per match | saturates only for invalid matches | none |
//!
//! Energies near `i64::MAX` (a grid connection offering "everything") are fine everywhere.

mod check;
mod walk;

pub use check::{
    Violation, check, check_clearing, check_no_crossed_residual, check_no_crossed_residual_at,
    check_uniform,
};
pub use walk::Scratch;

use nestgrid_types::{Energy, Match, Mechanism, Order, Price};

/// Clears one book: `bids` and `offers` as the market sees them (energy > 0 each). Appends the
/// matches to `matches` (indices into the two slices), bids in priority order and, for each bid,
/// its offers in priority order. Pure: inputs are not modified. See the crate documentation for
/// the rules of each mechanism.
///
/// Allocates nothing when `scratch` has cleared a book at least this large and `matches` has
/// room for `bids.len() + offers.len()` more matches.
///
/// # Panics
/// When a side holds `u32::MAX` orders or more.
pub fn clear(
    mechanism: Mechanism,
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    match mechanism {
        Mechanism::PayAsOffer => walk::pay_as_offer(bids, offers, scratch, matches),
        Mechanism::PayAsBid => walk::pay_as_bid(bids, offers, scratch, matches),
        Mechanism::PayAsClear => walk::pay_as_clear(bids, offers, scratch, matches),
    }
}

/// The uniform price pay-as-clear would use for this book, or `None` when no bid crosses any
/// offer. Participants are ignored, so a book whose only crossing pairs are self-trades has a
/// price but no match. Orders without positive energy are ignored.
pub fn clearing_price(bids: &[Order], offers: &[Order], scratch: &mut Scratch) -> Option<Price> {
    walk::clearing_price(bids, offers, scratch)
}

/// Quick test whether anything can match: true when the highest bid price is at least the lowest
/// offer price (orders without positive energy ignored). O(n + m), no allocation.
///
/// Conservative: it may say true when self-trade exclusion prevents every match, but never says
/// false when [`clear`] would match something under any mechanism (every match of every
/// mechanism has offer price ≤ bid price).
pub fn may_cross(bids: &[Order], offers: &[Order]) -> bool {
    let best_bid = bids
        .iter()
        .filter(|order| order.energy.is_positive())
        .map(|order| order.price)
        .max();
    let best_offer = offers
        .iter()
        .filter(|order| order.energy.is_positive())
        .map(|order| order.price)
        .min();
    match (best_bid, best_offer) {
        (Some(bid), Some(offer)) => bid >= offer,
        _ => false,
    }
}

/// Residual energy of every order after the matches (same order as the input slices).
///
/// Allocates the two vectors; [`residuals_into`] reuses the caller's.
///
/// # Panics
/// When a match index is out of range (matches from [`clear`] never are).
pub fn residuals(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
) -> (Vec<Energy>, Vec<Energy>) {
    let mut bid_residuals = Vec::with_capacity(bids.len());
    let mut offer_residuals = Vec::with_capacity(offers.len());
    residuals_into(
        bids,
        offers,
        matches,
        &mut bid_residuals,
        &mut offer_residuals,
    );
    (bid_residuals, offer_residuals)
}

/// [`residuals`] into the caller's vectors, which are cleared first: no allocation once they have
/// the capacity.
///
/// # Panics
/// When a match index is out of range (matches from [`clear`] never are).
pub fn residuals_into(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
    bid_residuals: &mut Vec<Energy>,
    offer_residuals: &mut Vec<Energy>,
) {
    bid_residuals.clear();
    bid_residuals.extend(bids.iter().map(|order| order.energy));
    offer_residuals.clear();
    offer_residuals.extend(offers.iter().map(|order| order.energy));
    for item in matches {
        let bid = &mut bid_residuals[item.bid as usize];
        *bid = bid.saturating_sub(item.energy);
        let offer = &mut offer_residuals[item.offer as usize];
        *offer = offer.saturating_sub(item.energy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_types::{AreaId, AssetId, Participant, Side};

    const A: Participant = Participant::Asset(AssetId(1));
    const B: Participant = Participant::Asset(AssetId(2));
    const C: Participant = Participant::Asset(AssetId(3));
    const PARENT: Participant = Participant::Area(AreaId(0));

    fn bid(key: u64, participant: Participant, energy: i64, price: i64) -> Order {
        Order {
            key,
            participant,
            side: Side::Buy,
            energy: Energy(energy),
            price: Price(price),
            priority: 0,
        }
    }

    fn offer(key: u64, participant: Participant, energy: i64, price: i64) -> Order {
        Order {
            side: Side::Sell,
            ..bid(key, participant, energy, price)
        }
    }

    fn at(priority: u64, order: Order) -> Order {
        Order { priority, ..order }
    }

    fn deal(bid: u32, offer: u32, energy: i64, price: i64) -> Match {
        Match {
            bid,
            offer,
            energy: Energy(energy),
            price: Price(price),
        }
    }

    /// Clears, checks every invariant, and returns the matches.
    fn run(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Vec<Match> {
        let mut matches = Vec::new();
        clear(
            mechanism,
            bids,
            offers,
            &mut Scratch::default(),
            &mut matches,
        );
        if let Err(violation) = check_clearing(mechanism, bids, offers, &matches) {
            panic!("{mechanism:?}: {violation}");
        }
        matches
    }

    #[test]
    fn empty_sides_trade_nothing() {
        let one = [bid(1, A, 10, 50)];
        for mechanism in Mechanism::ALL {
            assert!(run(mechanism, &[], &[]).is_empty());
            assert!(run(mechanism, &one, &[]).is_empty());
            assert!(run(mechanism, &[], &one).is_empty());
        }
        assert!(!may_cross(&one, &[]));
        assert!(!may_cross(&[], &one));
    }

    #[test]
    fn pay_as_offer_takes_cheapest_offers_at_their_price() {
        let bids = [bid(1, A, 10, 50), bid(2, B, 10, 60)];
        let offers = [offer(3, C, 6, 40), offer(4, C, 6, 30), offer(5, C, 100, 55)];
        // Bid 1 (60) first: offer 4 (30) then offer 3 (40) partly; then bid 0 (50) takes the
        // rest of offer 3 and cannot afford offer 5 (55).
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(1, 1, 6, 30), deal(1, 0, 4, 40), deal(0, 0, 2, 40)]
        );
    }

    #[test]
    fn pay_as_bid_prices_at_the_bid_and_matches_like_pay_as_offer() {
        let bids = [bid(1, A, 10, 50), bid(2, B, 10, 60)];
        let offers = [offer(3, C, 6, 40), offer(4, C, 6, 30), offer(5, C, 100, 55)];
        assert_eq!(
            run(Mechanism::PayAsBid, &bids, &offers),
            [deal(1, 1, 6, 60), deal(1, 0, 4, 60), deal(0, 0, 2, 50)]
        );
    }

    #[test]
    fn equal_prices_trade() {
        let bids = [bid(1, A, 5, 42)];
        let offers = [offer(2, B, 5, 42)];
        for mechanism in Mechanism::ALL {
            assert_eq!(run(mechanism, &bids, &offers), [deal(0, 0, 5, 42)]);
        }
        assert!(may_cross(&bids, &offers));
        assert!(!may_cross(&[bid(1, A, 5, 41)], &offers));
    }

    #[test]
    fn ties_break_by_priority_then_key() {
        // Three offers at one price: priority 1 (key 9) goes before priority 2 (keys 7, 8).
        let offers = [
            at(2, offer(8, B, 4, 10)),
            at(2, offer(7, B, 4, 10)),
            at(1, offer(9, B, 4, 10)),
        ];
        let bids = [bid(1, A, 10, 10)];
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(0, 2, 4, 10), deal(0, 1, 4, 10), deal(0, 0, 2, 10)]
        );
        // Bids at one price, same rule: priority, then key.
        let bids = [
            at(5, bid(3, A, 4, 20)),
            at(5, bid(2, A, 4, 20)),
            at(4, bid(6, C, 4, 20)),
        ];
        let offers = [offer(1, B, 6, 10)];
        assert_eq!(
            run(Mechanism::PayAsBid, &bids, &offers),
            [deal(2, 0, 4, 20), deal(1, 0, 2, 20)]
        );
    }

    #[test]
    fn price_goes_before_priority() {
        let bids = [at(0, bid(1, A, 4, 20)), at(9, bid(2, C, 4, 30))];
        let offers = [at(0, offer(3, B, 4, 15)), at(9, offer(4, B, 4, 10))];
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(1, 1, 4, 10), deal(0, 0, 4, 15)]
        );
    }

    #[test]
    fn self_trade_is_skipped_and_the_offer_stays_for_others() {
        // A's bid passes over its own cheap offer and buys B's; C then buys A's offer.
        let bids = [bid(1, A, 5, 50), bid(2, C, 5, 40)];
        let offers = [offer(3, A, 5, 10), offer(4, B, 5, 20)];
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(0, 1, 5, 20), deal(1, 0, 5, 10)]
        );
        // All the same participant: nothing trades, although the book crosses.
        let bids = [bid(1, PARENT, 5, 50)];
        let offers = [offer(3, PARENT, 5, 10), offer(4, PARENT, 5, 20)];
        for mechanism in Mechanism::ALL {
            assert!(run(mechanism, &bids, &offers).is_empty());
        }
        assert!(may_cross(&bids, &offers), "may_cross is conservative");
    }

    #[test]
    fn self_trade_skipping_over_interleaved_offers() {
        // Bid order: key 1 (A, 100), key 3 (B, 100), key 2 (A, 90). Each bidder has to pass its
        // own offers, interleaved with the others' and with offers already filled.
        let bids = [bid(1, A, 12, 100), bid(2, A, 3, 90), bid(3, B, 100, 100)];
        let offers = [
            offer(10, A, 1, 1),
            offer(11, A, 1, 2),
            offer(12, B, 5, 3),
            offer(13, A, 1, 4),
            offer(14, C, 5, 5),
            offer(15, A, 1, 6),
            offer(16, B, 5, 7),
        ];
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [
                // A passes offers 10, 11, 13 and 15.
                deal(0, 2, 5, 3),
                deal(0, 4, 5, 5),
                deal(0, 6, 2, 7),
                // B takes A's four offers and passes its own offer 16.
                deal(2, 0, 1, 1),
                deal(2, 1, 1, 2),
                deal(2, 3, 1, 4),
                deal(2, 5, 1, 6),
                // A's second bid passes six filled offers to reach what is left of offer 16.
                deal(1, 6, 3, 7),
            ]
        );
    }

    #[test]
    fn partial_fill_of_one_big_offer() {
        let bids = [bid(1, A, 3, 50), bid(2, B, 4, 45), bid(3, C, 5, 40)];
        let offers = [offer(4, PARENT, i64::MAX / 4, 40)];
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(0, 0, 3, 40), deal(1, 0, 4, 40), deal(2, 0, 5, 40)]
        );
        let (bid_left, offer_left) =
            residuals(&bids, &offers, &run(Mechanism::PayAsOffer, &bids, &offers));
        assert_eq!(bid_left, [Energy(0); 3]);
        assert_eq!(offer_left, [Energy(i64::MAX / 4 - 12)]);
    }

    #[test]
    fn huge_energies_do_not_overflow() {
        let quarter = i64::MAX / 4;
        let bids = [
            bid(1, A, i64::MAX, 100),
            bid(2, B, quarter, 90),
            bid(3, C, quarter, 80),
        ];
        let offers = [
            offer(4, PARENT, quarter, 10),
            offer(5, B, i64::MAX, 20),
            offer(6, C, quarter, 30),
        ];
        for mechanism in Mechanism::ALL {
            let matches = run(mechanism, &bids, &offers);
            let total: i128 = matches.iter().map(|item| item.energy.0 as i128).sum();
            assert!(total >= quarter as i128, "{mechanism:?}");
        }
    }

    #[test]
    fn pay_as_clear_uniform_price_is_the_floored_midpoint() {
        // Curves: bids 100×3, 90×4, 80×3, 70×5; offers 10×5, 20×6, 30×2, 75×10.
        let bids = [
            bid(1, A, 3, 100),
            bid(2, B, 4, 90),
            bid(3, C, 3, 80),
            bid(4, A, 5, 70),
        ];
        let offers = [
            offer(5, PARENT, 5, 10),
            offer(6, PARENT, 6, 20),
            offer(7, PARENT, 2, 30),
            offer(8, PARENT, 10, 75),
        ];
        // Walk: 100/10 3; 90/10 2; 90/20 2; 80/20 3; 70/20 1; 70/30 2; 70/75 stops.
        // Last pair 70/30: P = 50. Eligible: bids ≥ 50 (all), offers ≤ 50 (5, 6, 7: 13).
        let matches = run(Mechanism::PayAsClear, &bids, &offers);
        assert!(matches.iter().all(|item| item.price == Price(50)));
        assert_eq!(
            clearing_price(&bids, &offers, &mut Scratch::default()),
            Some(Price(50))
        );
        assert_eq!(
            matches,
            [
                deal(0, 0, 3, 50),
                deal(1, 0, 2, 50),
                deal(1, 1, 2, 50),
                deal(2, 1, 3, 50),
                deal(3, 1, 1, 50),
                deal(3, 2, 2, 50),
            ]
        );
    }

    #[test]
    fn pay_as_clear_rounds_toward_negative_infinity() {
        let offers = [offer(2, B, 1, -7)];
        // (-4 + -7) / 2 = -5.5 → -6; (5 + -7) / 2 = -1 exactly; (6 + -7) / 2 = -0.5 → -1.
        for (bid_price, expected) in [(-4, -6), (5, -1), (6, -1)] {
            let bids = [bid(1, A, 1, bid_price)];
            assert_eq!(
                run(Mechanism::PayAsClear, &bids, &offers),
                [deal(0, 0, 1, expected)]
            );
        }
        let bids = [bid(1, A, 1, i64::MAX)];
        let offers = [offer(2, B, 1, i64::MAX - 1)];
        assert_eq!(
            run(Mechanism::PayAsClear, &bids, &offers),
            [deal(0, 0, 1, i64::MAX - 1)]
        );
        let bids = [bid(1, A, 1, i64::MIN + 1)];
        let offers = [offer(2, B, 1, i64::MIN)];
        assert_eq!(
            run(Mechanism::PayAsClear, &bids, &offers),
            [deal(0, 0, 1, i64::MIN)]
        );
    }

    #[test]
    fn pay_as_clear_rations_the_long_side_by_priority() {
        // Demand 10 at ≥ P, supply 4: the earlier bid at equal price is served first.
        let bids = [at(2, bid(1, A, 5, 60)), at(1, bid(2, B, 5, 60))];
        let offers = [offer(3, C, 4, 40)];
        assert_eq!(
            run(Mechanism::PayAsClear, &bids, &offers),
            [deal(1, 0, 4, 50)]
        );
    }

    #[test]
    fn pay_as_clear_eligible_order_beyond_the_marginal_pair() {
        // Walk: 100/0 (1), then 60/70 stops: P = 50. Bid 60 ≥ 50 is eligible but no offer ≤ 50
        // is left, so only one match, at 50.
        let bids = [bid(1, A, 1, 100), bid(2, B, 1, 60)];
        let offers = [offer(3, C, 1, 0), offer(4, C, 1, 70)];
        assert_eq!(
            run(Mechanism::PayAsClear, &bids, &offers),
            [deal(0, 0, 1, 50)]
        );
    }

    #[test]
    fn pay_as_clear_self_trade_can_leave_a_crossed_pair() {
        // The documented example: P = 65, A cannot buy its own offer, B@40 is below P.
        let bids = [bid(1, A, 1, 100), bid(2, B, 1, 40)];
        let offers = [offer(3, A, 1, 30)];
        assert!(run(Mechanism::PayAsClear, &bids, &offers).is_empty());
        assert_eq!(
            clearing_price(&bids, &offers, &mut Scratch::default()),
            Some(Price(65))
        );
        assert!(matches!(
            check_no_crossed_residual(&bids, &offers, &[]),
            Err(Violation::CrossedResidual {
                bid: 1,
                offer: 0,
                ..
            })
        ));
        // Pay-as-offer does trade B with A.
        assert_eq!(
            run(Mechanism::PayAsOffer, &bids, &offers),
            [deal(1, 0, 1, 30)]
        );
    }

    #[test]
    fn pay_as_clear_skips_self_trade_among_eligible_orders() {
        let bids = [bid(1, A, 2, 100), bid(2, B, 2, 90)];
        let offers = [offer(3, A, 2, 10), offer(4, C, 2, 20)];
        // Walk: 100/10 (2), 90/20 (2): P = 55. A's bid skips its own offer.
        assert_eq!(
            run(Mechanism::PayAsClear, &bids, &offers),
            [deal(0, 1, 2, 55), deal(1, 0, 2, 55)]
        );
    }

    #[test]
    fn orders_without_energy_are_ignored() {
        let bids = [bid(1, A, 0, 100), bid(2, B, 3, 50)];
        let offers = [offer(3, C, -1, 0), offer(4, C, 3, 40)];
        for mechanism in Mechanism::ALL {
            let matches = run(mechanism, &bids, &offers);
            assert_eq!(matches.len(), 1);
            assert_eq!((matches[0].bid, matches[0].offer), (1, 1));
        }
        assert!(!may_cross(&[bid(1, A, 0, 100)], &offers[1..]));
    }

    #[test]
    fn matches_are_appended() {
        let bids = [bid(1, A, 1, 50)];
        let offers = [offer(2, B, 1, 40)];
        let mut matches = vec![deal(7, 7, 7, 7)];
        clear(
            Mechanism::PayAsOffer,
            &bids,
            &offers,
            &mut Scratch::default(),
            &mut matches,
        );
        assert_eq!(matches, [deal(7, 7, 7, 7), deal(0, 0, 1, 40)]);
    }

    #[test]
    fn residuals_follow_the_input_order() {
        let bids = [bid(1, A, 5, 50), bid(2, B, 5, 60)];
        let offers = [offer(3, C, 7, 40)];
        let matches = run(Mechanism::PayAsOffer, &bids, &offers);
        assert_eq!(
            residuals(&bids, &offers, &matches),
            (vec![Energy(3), Energy(0)], vec![Energy(0)])
        );
    }
}
