//! Order books and clearing mechanisms of nestgrid: pure functions, no I/O.
//!
//! A market hands [`clear`] one book — its `bids` and `offers` as the market sees them — and gets
//! [`Match`]es back: a bid index, an offer index, an energy, the price the buyer pays and the
//! price the seller receives (equal, except for the two-price mechanisms, whose spread is the
//! market operator's surplus: [`payments`] adds it up). Nothing else changes; the
//! engine applies the matches ([`residuals`] tells it what is left of each order), forwards what
//! is left, and may assert the invariants with [`check_clearing`]. [`may_cross`] lets it skip books
//! that cannot trade. [`Scratch`] carries the buffers from one call to the next, so clearing a
//! book allocates nothing once the buffers and `matches` have grown to size (the two-price
//! mechanisms allocate only to repair a self-trade, see below). [`clearing_prices`] tells the
//! uniform prices of a clearing, [`check_book`] whether a book meets a mechanism's requirement
//! (trade reduction wants unit orders), [`curve`] clears piecewise-linear demand functions, and
//! [`tree`] clears [`Mechanism::Curve`]: orders as step curves, over one book or over a whole tree
//! of areas with their fees (the simulator's curve regions). `Curve` allocates as it clears (it is
//! not on the no-allocation path).
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
//! ## Huang, Scheller-Wolf and Sycara ([`Mechanism::Huang`])
//! The multi-unit double auction of P. Huang, A. Scheller-Wolf and K. Sycara, "A strategy-proof
//! multiunit double auction mechanism", AAMAS 2002 (the longer version: "Design of a multi-unit
//! double auction e-market", Computational Intelligence 18(4), 2002).
//! - **Curves**: bids in bid priority are the demand steps b_1 ≥ b_2 ≥ …, each as wide as its
//!   energy; offers in offer priority the supply steps s_1 ≤ s_2 ≤ …. A step covers the quantity
//!   interval `(start, end]`. Equal prices stay separate steps, ordered by priority then key —
//!   never merged into one pseudo-order.
//! - **Q\***: the largest quantity at which the demand step is priced at least the supply step
//!   (the weak rule b ≥ s: a bid equal to an offer crosses). **K** is the bid whose step contains
//!   Q\*, **L** the offer whose step contains Q\* — the last pair the aggregate walk of
//!   pay-as-clear matches. No crossing (a side empty, or best bid < best offer): no prices, no
//!   match.
//! - **Prices**: every trading buyer pays p_b = b_K, every trading seller receives p_s = s_L;
//!   b_K ≥ s_L because K and L cross. K and L only set the prices and never trade.
//! - **Who trades**: bids 1..K−1 and offers 1..L−1 (ranked before K and L). Their totals D and S;
//!   the volume is V = min(D, S). When K or L is the first of its side, one total is 0 and
//!   nobody trades (prices are still reported by [`clearing_prices`]). In particular a book whose
//!   Q\* falls inside one big order — a lone bid, or a grid connection's offer of "everything"
//!   that covers the crossing — trades nothing: that order sets the price and cannot trade.
//! - **Long side** (the side whose total exceeds V): equal reduction. Each of its orders trades
//!   `max(q_i − δ, 0)` with δ such that the volumes sum to V. In integers δ is the smallest
//!   integer with Σ max(q_i − δ, 0) ≤ V (the real solution rounded up); the leftover
//!   r = V − Σ max(q_i − δ, 0) is smaller than the number of orders with q_i ≥ δ, and the first r
//!   of those by `(priority, key)` get one mWh more. The leftover goes by time, not by price, so
//!   that an order cannot win a leftover mWh by changing its price. Energy balances exactly: both
//!   sides trade V.
//! - **Pairing**: the planned volumes are paired by the greedy walk (bids in priority order, each
//!   taking offers in priority order, skipping its own participant's offers). If that leaves
//!   volume unpaired, it belongs to one participant p on both sides, and swaps with matches
//!   between two other participants pair it (proof at `double::repair`). When p's planned
//!   volume on both sides together exceeds V, `x_p + y_p − V` of its bids and as much of its
//!   offers cannot be paired by any pairing and stay unmatched; every other order trades exactly
//!   its plan.
//! - **Properties** (proofs in the test-suite's comments and asserted by property tests):
//!   *individually rational* — a trading buyer's bid ranks before K, so b_i ≥ b_K = p_b; a trading
//!   seller's offer ranks before L, so s_j ≤ s_L = p_s; *weakly budget-balanced* — p_b ≥ p_s, the
//!   operator keeps (p_b − p_s) per kWh traded; *strategy-proof in price* for an order with its
//!   own participant — its price decides only whether it ranks before K (or L), not the prices it
//!   pays nor, while it trades, its volume (δ and the leftover depend on quantities and time
//!   only); a misreport that makes it trade when truthfully it would not moves a price-setter that
//!   ranked before it truthfully into K, at a price at least its own value; *asymptotically
//!   efficient* — only K, L and the long side's cut are lost.
//!
//! ## Trade reduction ([`Mechanism::TradeReduction`])
//! R. P. McAfee, "A dominant strategy double auction", Journal of Economic Theory 56, 1992.
//! - **Unit orders**: every order of the book (with positive energy) must have the same energy,
//!   the *unit*; [`check_book`] says which order does not. [`clear`] matches nothing on a book
//!   that breaks the requirement. (Splitting larger orders into units would make a participant a
//!   multi-unit trader, for which the mechanism is not strategy-proof.)
//! - **Rule**: bids b_1 ≥ b_2 ≥ … and offers s_1 ≤ s_2 ≤ … in priority order; k is the number of
//!   efficient pairs, the largest k with b_k ≥ s_k (weak rule). k = 0: no trade. The candidate
//!   price is p0 = floor((b_{k+1} + s_{k+1}) / 2) (toward −∞). If both a (k+1)-th bid and a
//!   (k+1)-th offer exist and s_k ≤ p0 ≤ b_k, all k pairs trade at p0 (buyers and sellers alike).
//!   Otherwise the k-th pair is excluded: bids 1..k−1 pay b_k, offers 1..k−1 receive s_k. With no
//!   (k+1)-th order on a side there is no price independent of the k traders, so the reduction
//!   rule applies.
//! - **Pairing** and self-trade: as for Huang (all volumes are one unit).
//! - **Properties**: individually rational (b_i ≥ b_k ≥ p0 ≥ s_k ≥ s_i, or b_i ≥ b_k and
//!   s_i ≤ s_k), weakly budget-balanced (surplus (b_k − s_k) per unit, or 0), strategy-proof in
//!   price for unit traders.
//!
//! # Complexity and limits
//!
//! With n bids and m offers: O(n log n + m log m) to sort (`sort_unstable` of 32-byte ranks
//! under the total key above), then O((n + m) log m) amortised for the walk — the dead offers and
//! the bidder's own offers are skipped with path-compressed pointers, so a participant with many
//! bids and many cheap offers of its own costs no O(n·m). Every match fills its bid or its offer
//! (or both), so one clearing produces **at most n + m − 1 matches**: reserve that in `matches`
//! and nothing is allocated. (The self-trade repair of the two-price mechanisms, below, may add
//! two matches per swap; it only runs when one participant is on both sides.) A book whose best bid is below its best offer costs the sort and a
//! comparison. Each side may hold at most `u32::MAX − 1` orders (indices are `u32`; asserted).
//!
//!
//! The two-price mechanisms sort both sides, walk the curves once (O(n + m)), sort the long
//! side's quantities once more to find δ (O(n log n) on plain `i64`s, cheaper than the rank
//! sort), and run the greedy walk. The self-trade repair, when it runs at all, costs
//! O(k log k) for k matches and allocates.
//!
//! # Arithmetic (STYLE 2)
//!
//! | quantity | how | overflow | rounding |
//! | --- | --- | --- | --- |
//! | match energy | `min` of two remainders, each ≤ its order's `i64` energy | impossible | none |
//! | remainders | subtraction of a `min`, stays ≥ 0 | impossible | none |
//! | volumes of the aggregate walk | per-order remainders only, never cumulative sums | impossible | none |
//! | clearing price | `(b + o)` in `i128`, then [`div_floor_i128`](nestgrid_types::div_floor_i128) | impossible | toward −∞ |
//! | sums in [`check()`] | `i128` | impossible below 2⁶³ matches | none |
//! | [`residuals`] | `saturating_sub` per match | saturates only for invalid matches | none |
//! | Huang totals D, S, V and Σ max(q − δ, 0) | `i128` | impossible | none |
//! | Huang δ | `div_ceil_i128` of an `i128` by a count; ≤ the largest quantity | impossible | toward +∞, leftover by time |
//! | trade reduction p0 | `(b + s)` in `i128`, [`div_floor_i128`](nestgrid_types::div_floor_i128) | impossible | toward −∞ |
//! | [`payments`] | [`Money::for_energy`] per match, summed in `i128` | saturates at the `i64` range | half away from zero, per match |
//!
//! Energies near `i64::MAX` (a grid connection offering "everything") are fine everywhere.

mod check;
pub mod curve;
mod double;
pub mod tree;
mod walk;

pub use check::{
    Violation, check, check_clearing, check_no_crossed_residual, check_no_crossed_residual_at,
    check_uniform,
};
pub use walk::Scratch;

use nestgrid_types::{Energy, Match, Mechanism, Money, Order, Price, Side};

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
        Mechanism::Huang => double::huang(bids, offers, scratch, matches),
        Mechanism::TradeReduction => double::trade_reduction(bids, offers, scratch, matches),
        Mechanism::Curve => {
            tree::clear_book(bids, offers, matches);
        }
    }
}

/// The prices every match of a uniform clearing carries: what each buyer pays and what each
/// seller receives per kWh (equal except for the two-price mechanisms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClearingPrices {
    /// What every buyer pays.
    pub buyer_price: Price,
    /// What every seller receives (≤ `buyer_price`).
    pub seller_price: Price,
}

/// The uniform prices of `mechanism` on this book, or `None` when it has none:
///
/// - pay-as-offer and pay-as-bid: always `None` (each match has its own price);
/// - pay-as-clear: [`clearing_price`] for both, `None` when nothing crosses;
/// - Huang: b_K and s_L, `None` when nothing crosses. Reported even when nobody is left to trade
///   under them (K or L the first of its side);
/// - curve: the one price of [`tree::clear_book`], `None` when nothing trades;
/// - trade reduction: p0 for both, or b_k and s_k, whichever rule applies (even when it excludes
///   the only efficient pair); `None` when no pair is efficient or the book breaks the unit
///   requirement.
///
/// The matches of [`clear`] on the same book carry exactly these prices. Orders without positive
/// energy are ignored.
pub fn clearing_prices(
    mechanism: Mechanism,
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
) -> Option<ClearingPrices> {
    let plan = match mechanism {
        Mechanism::PayAsOffer | Mechanism::PayAsBid => return None,
        Mechanism::PayAsClear => {
            let price = clearing_price(bids, offers, scratch)?;
            return Some(ClearingPrices {
                buyer_price: price,
                seller_price: price,
            });
        }
        Mechanism::Huang => {
            scratch.rank(bids, offers);
            double::huang_plan(bids, offers, scratch)?
        }
        Mechanism::TradeReduction => {
            scratch.rank(bids, offers);
            double::trade_reduction_plan(bids, offers, scratch)?
        }
        Mechanism::Curve => {
            let price = tree::clear_book(bids, offers, &mut Vec::new())?;
            return Some(ClearingPrices {
                buyer_price: price,
                seller_price: price,
            });
        }
    };
    Some(ClearingPrices {
        buyer_price: plan.buyer_price,
        seller_price: plan.seller_price,
    })
}

/// A book that a mechanism cannot clear as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// Trade reduction needs unit orders: every order with the same energy.
    #[error(
        "{side:?} order {index} has {energy} kWh, but trade reduction needs every order to have          the same energy (the first has {unit} kWh)"
    )]
    UnequalEnergy {
        /// Side of the order that differs.
        side: Side,
        /// Its index in its slice.
        index: usize,
        /// Its energy.
        energy: Energy,
        /// The energy of the first order (bids first, then offers, in slice order).
        unit: Energy,
    },
}

/// Checks that `mechanism` can clear this book as it stands: trade reduction wants every order
/// (with positive energy) to have the same energy; every other mechanism takes any book. [`clear`]
/// matches nothing on a book that fails this check. O(n + m).
pub fn check_book(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Result<(), BookError> {
    if mechanism != Mechanism::TradeReduction {
        return Ok(());
    }
    match double::unit_of(bids, offers) {
        Ok(_) => Ok(()),
        Err(unequal) => Err(BookError::UnequalEnergy {
            side: if unequal.is_bid {
                Side::Buy
            } else {
                Side::Sell
            },
            index: unequal.index,
            energy: unequal.energy,
            unit: unequal.unit,
        }),
    }
}

/// The money of a clearing: what buyers pay, what sellers receive, and the operator's surplus
/// (the difference, ≥ 0 for any valid matches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Payments {
    /// Σ [`Money::for_energy`]`(buyer_price, energy)` over the matches.
    pub buyers_pay: Money,
    /// Σ [`Money::for_energy`]`(seller_price, energy)` over the matches.
    pub sellers_receive: Money,
    /// `buyers_pay − sellers_receive`: the market operator's surplus.
    pub operator_surplus: Money,
}

/// Adds up the money of `matches`, each match rounded on its own as settlement rounds it
/// ([`Money::for_energy`], half away from zero). The surplus is ≥ 0 whenever every match has
/// `seller_price ≤ buyer_price`, because rounding is monotone in the price. Sums are formed in
/// `i128` and saturate at the `i64` range.
pub fn payments(matches: &[Match]) -> Payments {
    let (mut paid, mut received) = (0_i128, 0_i128);
    for item in matches {
        paid += Money::for_energy(item.buyer_price, item.energy).0 as i128;
        received += Money::for_energy(item.seller_price, item.energy).0 as i128;
    }
    let saturate = |value: i128| Money(value.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
    Payments {
        buyers_pay: saturate(paid),
        sellers_receive: saturate(received),
        operator_surplus: saturate(paid - received),
    }
}

/// Sorts both sides of the book into priority order in `scratch`, as every mechanism does first,
/// and does nothing else: the practical lower bound of a clearing, for benchmarks.
pub fn sort_book(bids: &[Order], offers: &[Order], scratch: &mut Scratch) {
    scratch.rank(bids, offers);
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
        Match::at(bid, offer, Energy(energy), Price(price))
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
        assert!(
            matches
                .iter()
                .all(|item| item.buyer_price == Price(50) && item.seller_price == Price(50))
        );
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

    // -----------------------------------------------------------------------------------------
    // Two-price mechanisms: hand-worked cases from the definitions (crate documentation).

    fn split(bid: u32, offer: u32, energy: i64, buyer_price: i64, seller_price: i64) -> Match {
        Match {
            bid,
            offer,
            energy: Energy(energy),
            buyer_price: Price(buyer_price),
            seller_price: Price(seller_price),
        }
    }

    fn who(key: u64) -> Participant {
        Participant::Asset(AssetId(100 + key as u32))
    }

    /// Every order its own participant, so no self-trade.
    fn own_bid(key: u64, energy: i64, price: i64) -> Order {
        bid(key, who(key), energy, price)
    }

    fn own_offer(key: u64, energy: i64, price: i64) -> Order {
        offer(key, who(key), energy, price)
    }

    fn prices_of(mechanism: Mechanism, bids: &[Order], offers: &[Order]) -> Option<(i64, i64)> {
        clearing_prices(mechanism, bids, offers, &mut Scratch::default())
            .map(|prices| (prices.buyer_price.0, prices.seller_price.0))
    }

    #[test]
    fn huang_balanced_sides() {
        // Demand steps: A (0,3]@10, B (3,5]@9, C (5,9]@8, D (9,10]@5.
        // Supply steps: E (0,2]@2, F (2,5]@4, G (5,7]@7, H (7,12]@9.
        // d ≥ s on (0,2] 10≥2, (2,3] 10≥4, (3,5] 9≥4, (5,7] 8≥7; on (7,9] 8 < 9. So Q* = 7:
        // K = C (its step (5,9] holds 7), L = G ((5,7] holds 7). p_b = b_K = 8, p_s = s_L = 7.
        // Buyers before K: A, B (5); sellers before L: E, F (5). V = 5, no cut.
        let bids = [
            own_bid(1, 3, 10),
            own_bid(2, 2, 9),
            own_bid(3, 4, 8),
            own_bid(4, 1, 5),
        ];
        let offers = [
            own_offer(5, 2, 2),
            own_offer(6, 3, 4),
            own_offer(7, 2, 7),
            own_offer(8, 5, 9),
        ];
        assert_eq!(prices_of(Mechanism::Huang, &bids, &offers), Some((8, 7)));
        let matches = run(Mechanism::Huang, &bids, &offers);
        // Pairing in priority order: A takes E (2) and F (1); B takes the rest of F (2).
        assert_eq!(
            matches,
            [
                split(0, 0, 2, 8, 7),
                split(0, 1, 1, 8, 7),
                split(1, 1, 2, 8, 7)
            ]
        );
        // The operator keeps (8 − 7) × 5 mWh; rounding per match: 8·2/10⁶ → 0, etc.
        assert!(payments(&matches).operator_surplus >= Money::ZERO);
    }

    #[test]
    fn huang_cuts_the_long_side_by_equal_reduction() {
        // Demand: A (0,6]@10 (priority 1), B (6,11]@9 (priority 0), C (11,15]@8.
        // Supply: E (0,1]@2, F (1,4]@3, G (4,14]@7.
        // Every step crosses up to 14, where supply ends: Q* = 14, K = C, L = G; p_b = 8, p_s = 7.
        // Buyers A, B want 11, sellers E, F have 4: V = 4, the buyers are cut.
        // Σ max(q − δ, 0) = (6 − δ) + (5 − δ) = 4 → δ = 3.5; rounded up δ = 4 gives 2 + 1 = 3,
        // one mWh short. Both have q ≥ 4; B comes first by priority (0 < 1), although A bids
        // more: B gets the leftover. A trades 2, B trades 2.
        let bids = [
            at(1, own_bid(1, 6, 10)),
            at(0, own_bid(2, 5, 9)),
            own_bid(3, 4, 8),
        ];
        let offers = [own_offer(5, 1, 2), own_offer(6, 3, 3), own_offer(7, 10, 7)];
        let matches = run(Mechanism::Huang, &bids, &offers);
        assert_eq!(
            matches,
            [
                split(0, 0, 1, 8, 7),
                split(0, 1, 1, 8, 7),
                split(1, 1, 2, 8, 7)
            ]
        );
        // The same book with the cut falling on the sellers: swap the roles of the totals.
        // Supply E 5@2, F 5@3 (10) against buyers A 3@10 (then K): V = 3, sellers cut:
        // (5 − δ) + (5 − δ) = 3 → δ = 3.5 → 4, leftover 1 to E (key 5 < key 6, equal priority).
        let bids = [own_bid(1, 3, 10), own_bid(3, 4, 8)];
        let offers = [own_offer(5, 5, 2), own_offer(6, 5, 3), own_offer(7, 10, 7)];
        // Demand (0,3]@10, (3,7]@8; supply (0,5]@2, (5,10]@3: cross up to 7 where demand ends.
        // Q* = 7: K = bid 3 ((3,7]), L = F ((5,10]); p_b = 8, p_s = 3. Buyers before K: A (3);
        // sellers before L: E (5) only. V = 3: E alone is cut to 3 (δ = 2, no leftover).
        assert_eq!(prices_of(Mechanism::Huang, &bids, &offers), Some((8, 3)));
        assert_eq!(
            run(Mechanism::Huang, &bids, &offers),
            [split(0, 0, 3, 8, 3)]
        );
    }

    #[test]
    fn huang_equal_bid_and_ask_still_trade() {
        // Demand (0,1]@5, (1,2]@5; supply (0,1]@5, (1,2]@5. The weak rule: 5 ≥ 5 crosses
        // everywhere, Q* = 2, K = the second bid, L = the second offer (by key). The first pair
        // trades at 5/5 — a strict rule would trade nothing.
        let bids = [own_bid(1, 1, 5), own_bid(2, 1, 5)];
        let offers = [own_offer(3, 1, 5), own_offer(4, 1, 5)];
        assert_eq!(
            run(Mechanism::Huang, &bids, &offers),
            [split(0, 0, 1, 5, 5)]
        );
    }

    #[test]
    fn huang_price_setter_at_the_front_trades_nothing() {
        // One big offer (a grid connection's "everything"): its step (0,100] holds Q* = 5, so it
        // is L — the first offer — and no seller ranks before it. Prices b_K = 9, s_L = 1 exist,
        // nobody trades under them.
        let bids = [own_bid(1, 3, 10), own_bid(2, 2, 9)];
        let offers = [own_offer(3, 100, 1)];
        assert_eq!(prices_of(Mechanism::Huang, &bids, &offers), Some((9, 1)));
        assert!(run(Mechanism::Huang, &bids, &offers).is_empty());
        // A lone crossing pair: each is its side's price setter.
        assert!(
            run(
                Mechanism::Huang,
                &[own_bid(1, 5, 10)],
                &[own_offer(2, 5, 1)]
            )
            .is_empty()
        );
        // No crossing: no prices.
        assert_eq!(
            prices_of(Mechanism::Huang, &[own_bid(1, 5, 1)], &[own_offer(2, 5, 2)]),
            None
        );
    }

    #[test]
    fn huang_repairs_a_stuck_self_trade() {
        // Bids W 1@10, X 1@9, K 1@5; offers Z 1@1, X 1@2, L 1@4. Q* = 3, K and L the third
        // orders; p_b = 5, p_s = 4. The greedy walk pairs W with Z, then X's bid faces only X's
        // offer. The repair swaps (W, Z) into (W, X's offer) and (X's bid, Z).
        let (w, x, z) = (who(1), who(2), who(3));
        let bids = [bid(1, w, 1, 10), bid(2, x, 1, 9), own_bid(3, 1, 5)];
        let offers = [offer(4, z, 1, 1), offer(5, x, 1, 2), own_offer(6, 1, 4)];
        assert_eq!(
            run(Mechanism::Huang, &bids, &offers),
            [split(0, 1, 1, 5, 4), split(1, 0, 1, 5, 4)]
        );
    }

    #[test]
    fn huang_leaves_only_the_unavoidable_self_trade() {
        // Bids X 2@10, W 1@9, K 1@5; offers X 2@1, Z 1@2, L 1@4. V = 3, and X's planned volume
        // is 2 + 2 = 4 > 3: one mWh of X's bid and of X's offer cannot be paired with anybody
        // else. X buys 1 from Z, W buys 1 from X.
        let (x, w, z) = (who(1), who(2), who(3));
        let bids = [bid(1, x, 2, 10), bid(2, w, 1, 9), own_bid(3, 1, 5)];
        let offers = [offer(4, x, 2, 1), offer(5, z, 1, 2), own_offer(6, 1, 4)];
        assert_eq!(
            run(Mechanism::Huang, &bids, &offers),
            [split(0, 1, 1, 5, 4), split(1, 0, 1, 5, 4)]
        );
    }

    #[test]
    fn trade_reduction_cases() {
        let unit = 1_000_000;
        let bids_at = |prices: &[i64]| -> Vec<Order> {
            prices
                .iter()
                .enumerate()
                .map(|(position, &price)| own_bid(position as u64, unit, price))
                .collect()
        };
        let offers_at = |prices: &[i64]| -> Vec<Order> {
            prices
                .iter()
                .enumerate()
                .map(|(position, &price)| own_offer(50 + position as u64, unit, price))
                .collect()
        };
        // Bids 10, 8, 6, 3; offers 1, 4, 5, 9: pairs (10,1), (8,4), (6,5) are efficient, k = 3.
        // p0 = floor((3 + 9) / 2) = 6 and s_3 = 5 ≤ 6 ≤ b_3 = 6: all three trade at 6.
        let (bids, offers) = (bids_at(&[10, 8, 6, 3]), offers_at(&[1, 4, 5, 9]));
        assert_eq!(
            prices_of(Mechanism::TradeReduction, &bids, &offers),
            Some((6, 6))
        );
        assert_eq!(
            run(Mechanism::TradeReduction, &bids, &offers),
            [
                split(0, 0, unit, 6, 6),
                split(1, 1, unit, 6, 6),
                split(2, 2, unit, 6, 6)
            ]
        );
        // Bids 10, 8, 6, 5: k = 3 again, p0 = floor((5 + 9) / 2) = 7 > b_3 = 6. The third pair
        // is excluded; the first two trade, buyers paying b_3 = 6, sellers receiving s_3 = 5.
        let bids = bids_at(&[10, 8, 6, 5]);
        assert_eq!(
            run(Mechanism::TradeReduction, &bids, &offers),
            [split(0, 0, unit, 6, 5), split(1, 1, unit, 6, 5)]
        );
        // Two bids, three offers, both pairs efficient: no third bid, so no p0; the reduction
        // rule trades one pair at b_2 = 8 and s_2 = 4.
        let (bids, offers) = (bids_at(&[10, 8]), offers_at(&[1, 4, 20]));
        assert_eq!(
            run(Mechanism::TradeReduction, &bids, &offers),
            [split(0, 0, unit, 8, 4)]
        );
        // One efficient pair, and p0 = floor((2 + 9) / 2) = 5 outside [s_1, b_1] = [4, 4]...
        // here [1, 4]: excluded, nobody trades; prices b_1 and s_1 are still reported.
        let (bids, offers) = (bids_at(&[4, 2]), offers_at(&[1, 9]));
        assert_eq!(
            prices_of(Mechanism::TradeReduction, &bids, &offers),
            Some((4, 1))
        );
        assert!(run(Mechanism::TradeReduction, &bids, &offers).is_empty());
        // Equal bid and ask are efficient (weak rule): bids 5, 1; offers 5, 9: k = 1,
        // p0 = floor((1 + 9) / 2) = 5 in [5, 5]: the pair trades at 5.
        let (bids, offers) = (bids_at(&[5, 1]), offers_at(&[5, 9]));
        assert_eq!(
            run(Mechanism::TradeReduction, &bids, &offers),
            [split(0, 0, unit, 5, 5)]
        );
    }

    #[test]
    fn trade_reduction_needs_unit_orders() {
        let bids = [own_bid(1, 2, 10), own_bid(2, 2, 9)];
        let offers = [own_offer(3, 2, 1), own_offer(4, 3, 2)];
        assert_eq!(
            check_book(Mechanism::TradeReduction, &bids, &offers),
            Err(BookError::UnequalEnergy {
                side: Side::Sell,
                index: 1,
                energy: Energy(3),
                unit: Energy(2),
            })
        );
        assert!(run(Mechanism::TradeReduction, &bids, &offers).is_empty());
        assert_eq!(prices_of(Mechanism::TradeReduction, &bids, &offers), None);
        for mechanism in [Mechanism::Huang, Mechanism::PayAsClear] {
            assert_eq!(check_book(mechanism, &bids, &offers), Ok(()));
        }
    }

    #[test]
    fn payments_add_the_spread_to_the_operator() {
        let matches = [
            split(0, 0, 2_000_000, 300_000, 250_000),
            split(1, 0, 1_000_000, 300_000, 250_000),
        ];
        assert_eq!(
            payments(&matches),
            Payments {
                buyers_pay: Money(900_000),
                sellers_receive: Money(750_000),
                operator_surplus: Money(150_000),
            }
        );
    }

    #[test]
    fn two_price_mechanisms_on_empty_and_huge_books() {
        for mechanism in [Mechanism::Huang, Mechanism::TradeReduction] {
            assert!(run(mechanism, &[], &[]).is_empty());
            assert!(run(mechanism, &[own_bid(1, 5, 5)], &[]).is_empty());
        }
        // Totals beyond i64: three bids of i64::MAX against offers of a quarter each.
        let quarter = i64::MAX / 4;
        let bids: Vec<Order> = (0..4)
            .map(|key| own_bid(key, i64::MAX, 100 - key as i64))
            .collect();
        let offers: Vec<Order> = (10..16)
            .map(|key| own_offer(key, quarter, key as i64))
            .collect();
        let matches = run(Mechanism::Huang, &bids, &offers);
        let traded: i128 = matches.iter().map(|item| item.energy.0 as i128).sum();
        // Supply (6 quarters, 1.5 × i64::MAX) crosses wholly and ends inside bid 1's step: K is
        // bid 1, L the last offer. Bid 0 (i64::MAX) buys from offers 0..5 (5 quarters), whose
        // total exceeds it: the offers are cut by equal reduction to exactly i64::MAX.
        assert_eq!(traded, i64::MAX as i128);
        let bids: Vec<Order> = (0..4)
            .map(|key| own_bid(key, quarter, 100 - key as i64))
            .collect();
        let offers: Vec<Order> = (10..13)
            .map(|key| own_offer(key, i64::MAX, key as i64))
            .collect();
        // Demand 4 quarters all inside the first offer's step: L is the first offer, no trade.
        assert!(run(Mechanism::Huang, &bids, &offers).is_empty());
        let offers: Vec<Order> = (10..16)
            .map(|key| own_offer(key, quarter, key as i64))
            .collect();
        // Demand 4 quarters, supply 6: Q* = 4 quarters at the end of bid 3 and offer 3. K = bid 3,
        // L = offer 3; three quarters trade on each side.
        let matches = run(Mechanism::Huang, &bids, &offers);
        let traded: i128 = matches.iter().map(|item| item.energy.0 as i128).sum();
        assert_eq!(traded, 3 * quarter as i128);
    }
}
