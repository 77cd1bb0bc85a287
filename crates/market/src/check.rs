//! Invariants of a clearing result (STYLE 3): what must hold after every clearing, as values.
//!
//! These functions allocate (per-order sums) and are meant for tests and debug assertions, not
//! for the hot loop. All sums are formed in `i128`, so even a wrong result with many huge matches
//! is reported rather than overflowing.

use crate::double::{self, Plan};
use crate::walk::{self, Scratch};
use nestgrid_types::{Energy, Match, Mechanism, Order, Participant, Price, Side};

/// A broken clearing rule. Indices refer to the `matches`, `bids` and `offers` slices checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A match carries no energy, or negative energy.
    #[error("match {match_index}: energy {energy} mWh is not positive")]
    NonPositiveEnergy {
        /// Index of the match.
        match_index: usize,
        /// Its energy.
        energy: Energy,
    },
    /// A match points past the end of the bids.
    #[error("match {match_index}: bid index {bid} is out of range ({bid_count} bids)")]
    BidOutOfRange {
        /// Index of the match.
        match_index: usize,
        /// The bid index it carries.
        bid: u32,
        /// Number of bids in the book.
        bid_count: usize,
    },
    /// A match points past the end of the offers.
    #[error("match {match_index}: offer index {offer} is out of range ({offer_count} offers)")]
    OfferOutOfRange {
        /// Index of the match.
        match_index: usize,
        /// The offer index it carries.
        offer: u32,
        /// Number of offers in the book.
        offer_count: usize,
    },
    /// A bid and an offer of the same participant were matched.
    #[error("match {match_index}: bid {bid} and offer {offer} both belong to {participant:?}")]
    SelfTrade {
        /// Index of the match.
        match_index: usize,
        /// Index of the bid.
        bid: u32,
        /// Index of the offer.
        offer: u32,
        /// The participant on both sides.
        participant: Participant,
    },
    /// The buyer would pay more than its limit.
    #[error("match {match_index}: buyer price {price} is above the bid price {bid_price}")]
    PriceAboveBid {
        /// Index of the match.
        match_index: usize,
        /// The buyer price of the match.
        price: Price,
        /// Limit price of its bid.
        bid_price: Price,
    },
    /// The seller would receive less than its limit.
    #[error("match {match_index}: seller price {price} is below the offer price {offer_price}")]
    PriceBelowOffer {
        /// Index of the match.
        match_index: usize,
        /// The seller price of the match.
        price: Price,
        /// Limit price of its offer.
        offer_price: Price,
    },
    /// The seller would receive more than the buyer pays: the operator would lose money.
    #[error("match {match_index}: seller price {seller_price} is above buyer price {buyer_price}")]
    SellerAboveBuyer {
        /// Index of the match.
        match_index: usize,
        /// What the buyer pays.
        buyer_price: Price,
        /// What the seller receives.
        seller_price: Price,
    },
    /// The matches of a bid add up to more than the bid's energy.
    #[error("bid {bid}: matched {matched_mwh} mWh, more than its {energy_mwh} mWh")]
    BidOverfilled {
        /// Index of the bid.
        bid: u32,
        /// Energy matched to it in total.
        matched_mwh: i128,
        /// Its energy.
        energy_mwh: i64,
    },
    /// The matches of an offer add up to more than the offer's energy.
    #[error("offer {offer}: matched {matched_mwh} mWh, more than its {energy_mwh} mWh")]
    OfferOverfilled {
        /// Index of the offer.
        offer: u32,
        /// Energy matched to it in total.
        matched_mwh: i128,
        /// Its energy.
        energy_mwh: i64,
    },
    /// Energy bought differs from energy sold.
    #[error("energy bought {bought_mwh} mWh differs from energy sold {sold_mwh} mWh")]
    Unbalanced {
        /// Sum over bids of the energy matched to each.
        bought_mwh: i128,
        /// Sum over offers of the energy matched to each.
        sold_mwh: i128,
    },
    /// Two matches of a uniform-price clearing have different buyer prices (`side` buy) or
    /// different seller prices (`side` sell).
    #[error(
        "match {match_index}: {side:?} price {price} differs from the price {first_price} of match 0"
    )]
    PriceNotUniform {
        /// Index of the match.
        match_index: usize,
        /// Which of the two prices differs.
        side: Side,
        /// Its price.
        price: Price,
        /// Price of the first match.
        first_price: Price,
    },
    /// A match is not priced as the mechanism prescribes (the offer's price for pay-as-offer,
    /// the bid's for pay-as-bid, the clearing prices for the others). `side` tells which of the
    /// two prices: buy for the buyer price, sell for the seller price.
    #[error("match {match_index}: {side:?} price {price}, but {mechanism:?} prescribes {expected}")]
    PriceRule {
        /// Index of the match.
        match_index: usize,
        /// The mechanism checked.
        mechanism: Mechanism,
        /// Which of the two prices is wrong.
        side: Side,
        /// That price of the match.
        price: Price,
        /// Price the mechanism prescribes.
        expected: Price,
    },
    /// A pay-as-clear result has matches although no bid crosses any offer.
    #[error("match {match_index}: pay-as-clear has no clearing price, yet there is a match")]
    MatchWithoutClearingPrice {
        /// Index of the match.
        match_index: usize,
    },
    /// A bid and an offer of different participants still cross and both have energy left:
    /// the clearing stopped too early (pay-as-offer, pay-as-bid).
    #[error(
        "bid {bid} (price {bid_price}) and offer {offer} (price {offer_price}) cross, belong to \
         different participants and both have energy left"
    )]
    CrossedResidual {
        /// Index of the bid.
        bid: u32,
        /// Index of the offer.
        offer: u32,
        /// Price of the bid.
        bid_price: Price,
        /// Price of the offer.
        offer_price: Price,
    },
    /// A two-price mechanism filled an order differently from its plan (Huang's allocation, or
    /// one unit per trading order for trade reduction).
    #[error(
        "{side:?} order {index}: filled {filled_mwh} mWh, but the mechanism planned {planned_mwh} mWh"
    )]
    PlanNotMet {
        /// Side of the order.
        side: Side,
        /// Its index in its slice.
        index: u32,
        /// Energy matched to it.
        filled_mwh: i128,
        /// Energy the mechanism planned for it.
        planned_mwh: i128,
    },
    /// A two-price mechanism left a participant's planned volume unpaired although a pairing
    /// without self-trade could have paired it.
    #[error(
        "{participant:?} is short {shortfall_mwh} mWh of its plan, but only {unavoidable_mwh} mWh \
         cannot be paired without self-trade"
    )]
    AvoidableShortfall {
        /// The participant.
        participant: Participant,
        /// Its shortfall (the larger of its two sides').
        shortfall_mwh: i128,
        /// What no pairing can avoid: its planned volume on both sides minus the traded volume.
        unavoidable_mwh: i128,
    },
    /// A bid priced at or above the clearing price and an offer priced at or below it, of
    /// different participants, both have energy left (pay-as-clear).
    #[error(
        "bid {bid} and offer {offer} are both eligible at the clearing price {clearing_price}, \
         belong to different participants and both have energy left"
    )]
    EligibleResidual {
        /// Index of the bid.
        bid: u32,
        /// Index of the offer.
        offer: u32,
        /// The clearing price.
        clearing_price: Price,
    },
}

/// Checks the rules every clearing result obeys, whatever the mechanism: each match has
/// positive energy, valid indices, two different participants, a buyer price at most the bid
/// price, a seller price at least the offer price, and a seller price at most the buyer price
/// (weak budget balance); no order is filled beyond its energy; energy bought equals energy
/// sold. Reports the first broken rule (matches in order, then bids, then offers). An order
/// without positive energy (not allowed in a book) is only reported when something is matched
/// to it.
pub fn check(bids: &[Order], offers: &[Order], matches: &[Match]) -> Result<(), Violation> {
    let mut bought = vec![0_i128; bids.len()];
    let mut sold = vec![0_i128; offers.len()];
    for (match_index, item) in matches.iter().enumerate() {
        let bid = bids
            .get(item.bid as usize)
            .ok_or(Violation::BidOutOfRange {
                match_index,
                bid: item.bid,
                bid_count: bids.len(),
            })?;
        let offer = offers
            .get(item.offer as usize)
            .ok_or(Violation::OfferOutOfRange {
                match_index,
                offer: item.offer,
                offer_count: offers.len(),
            })?;
        if !item.energy.is_positive() {
            return Err(Violation::NonPositiveEnergy {
                match_index,
                energy: item.energy,
            });
        }
        if bid.participant == offer.participant {
            return Err(Violation::SelfTrade {
                match_index,
                bid: item.bid,
                offer: item.offer,
                participant: bid.participant,
            });
        }
        if item.buyer_price > bid.price {
            return Err(Violation::PriceAboveBid {
                match_index,
                price: item.buyer_price,
                bid_price: bid.price,
            });
        }
        if item.seller_price < offer.price {
            return Err(Violation::PriceBelowOffer {
                match_index,
                price: item.seller_price,
                offer_price: offer.price,
            });
        }
        if item.seller_price > item.buyer_price {
            return Err(Violation::SellerAboveBuyer {
                match_index,
                buyer_price: item.buyer_price,
                seller_price: item.seller_price,
            });
        }
        bought[item.bid as usize] += item.energy.0 as i128;
        sold[item.offer as usize] += item.energy.0 as i128;
    }
    for (index, (bid, matched)) in bids.iter().zip(&bought).enumerate() {
        if *matched > 0 && *matched > bid.energy.0 as i128 {
            return Err(Violation::BidOverfilled {
                bid: index as u32,
                matched_mwh: *matched,
                energy_mwh: bid.energy.0,
            });
        }
    }
    for (index, (offer, matched)) in offers.iter().zip(&sold).enumerate() {
        if *matched > 0 && *matched > offer.energy.0 as i128 {
            return Err(Violation::OfferOverfilled {
                offer: index as u32,
                matched_mwh: *matched,
                energy_mwh: offer.energy.0,
            });
        }
    }
    let bought_mwh: i128 = bought.iter().sum();
    let sold_mwh: i128 = sold.iter().sum();
    if bought_mwh != sold_mwh {
        return Err(Violation::Unbalanced {
            bought_mwh,
            sold_mwh,
        });
    }
    Ok(())
}

/// Checks that all matches have the same buyer price and the same seller price (pay-as-clear,
/// Huang, trade reduction).
pub fn check_uniform(matches: &[Match]) -> Result<(), Violation> {
    let Some(first) = matches.first() else {
        return Ok(());
    };
    for (match_index, item) in matches.iter().enumerate() {
        for (side, price, first_price) in [
            (Side::Buy, item.buyer_price, first.buyer_price),
            (Side::Sell, item.seller_price, first.seller_price),
        ] {
            if price != first_price {
                return Err(Violation::PriceNotUniform {
                    match_index,
                    side,
                    price,
                    first_price,
                });
            }
        }
    }
    Ok(())
}

/// Checks that no crossed book is left behind (pay-as-offer, pay-as-bid): there is no bid and
/// offer of different participants, both with energy left after `matches`, with bid price ≥
/// offer price. Orders without positive energy count as having nothing left; matches with
/// out-of-range indices are ignored here ([`check`] reports them). O(n + m).
pub fn check_no_crossed_residual(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
) -> Result<(), Violation> {
    let (bid_left, offer_left) = matched_left(bids, offers, matches);
    let [cheapest, cheapest_other] = witnesses(offers, &offer_left, |_| true);
    for (index, bid) in bids.iter().enumerate() {
        if bid_left[index] <= 0 {
            continue;
        }
        match counterpart(bid.participant, cheapest, cheapest_other) {
            Some(offer) if offer.price <= bid.price => {
                return Err(Violation::CrossedResidual {
                    bid: index as u32,
                    offer: offer.index,
                    bid_price: bid.price,
                    offer_price: offer.price,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks what pay-as-clear leaves behind at its clearing price `clearing_price`: there is no
/// bid priced ≥ `clearing_price` and offer priced ≤ `clearing_price`, of different participants,
/// both with energy left after `matches`.
///
/// This is weaker than [`check_no_crossed_residual`], and must be: the clearing price is found
/// ignoring participants, so self-trade exclusion can leave a crossed pair on either side of it
/// (see the crate documentation for an example). O(n + m).
pub fn check_no_crossed_residual_at(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
    clearing_price: Price,
) -> Result<(), Violation> {
    eligible_residual_at(bids, offers, matches, clearing_price, |_| true)
}

/// [`check_no_crossed_residual_at`] among participants with orders on one side of the book only
/// (curve clearing nets a participant's bids and offers into one curve, so one with both may keep
/// both). O(n + m).
fn check_one_sided_residual_at(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
    clearing_price: Price,
) -> Result<(), Violation> {
    let buyers: std::collections::HashSet<_> = bids.iter().map(|bid| bid.participant).collect();
    let sellers: std::collections::HashSet<_> =
        offers.iter().map(|offer| offer.participant).collect();
    eligible_residual_at(bids, offers, matches, clearing_price, |order| {
        !buyers.contains(&order.participant) || !sellers.contains(&order.participant)
    })
}

/// The first bid priced ≥ `clearing_price` and offer priced ≤ it, of different participants,
/// both with energy left and both `counted`.
fn eligible_residual_at(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
    clearing_price: Price,
    counted: impl Fn(&Order) -> bool,
) -> Result<(), Violation> {
    let (bid_left, offer_left) = matched_left(bids, offers, matches);
    let [cheapest, cheapest_other] = witnesses(offers, &offer_left, |offer| {
        offer.price <= clearing_price && counted(offer)
    });
    for (index, bid) in bids.iter().enumerate() {
        if bid_left[index] <= 0 || bid.price < clearing_price || !counted(bid) {
            continue;
        }
        if let Some(offer) = counterpart(bid.participant, cheapest, cheapest_other) {
            return Err(Violation::EligibleResidual {
                bid: index as u32,
                offer: offer.index,
                clearing_price,
            });
        }
    }
    Ok(())
}

/// Runs every check that applies to `mechanism`: [`check`], then
///
/// - pay-as-offer, pay-as-bid: the price rule (offer's or bid's price on both sides) and
///   [`check_no_crossed_residual`];
/// - pay-as-clear: [`check_uniform`], prices equal to [`clearing_price`](crate::clearing_price),
///   and [`check_no_crossed_residual_at`];
/// - curve: [`check_uniform`], prices equal to [`clearing_prices`](crate::clearing_prices), and
///   [`check_no_crossed_residual_at`] among participants with orders on one side only;
/// - Huang, trade reduction: [`check_uniform`], prices equal to
///   [`clearing_prices`](crate::clearing_prices), and every order filled exactly as the
///   mechanism planned — except an unavoidable shortfall of one participant on both sides, equal
///   to what its planned volumes on both sides exceed the traded volume by (see the crate
///   documentation on pairing).
///
/// Meant for tests and the engine's debug assertions.
pub fn check_clearing(
    mechanism: Mechanism,
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
) -> Result<(), Violation> {
    check(bids, offers, matches)?;
    match mechanism {
        Mechanism::PayAsOffer | Mechanism::PayAsBid => {
            for (match_index, item) in matches.iter().enumerate() {
                let expected = if mechanism == Mechanism::PayAsOffer {
                    offers[item.offer as usize].price
                } else {
                    bids[item.bid as usize].price
                };
                expect_prices(mechanism, match_index, item, expected, expected)?;
            }
            check_no_crossed_residual(bids, offers, matches)
        }
        Mechanism::PayAsClear => {
            let mut scratch = Scratch::default();
            let Some(clearing_price) = walk::clearing_price(bids, offers, &mut scratch) else {
                return match matches.is_empty() {
                    true => Ok(()),
                    false => Err(Violation::MatchWithoutClearingPrice { match_index: 0 }),
                };
            };
            check_uniform(matches)?;
            if let Some(item) = matches.first() {
                expect_prices(mechanism, 0, item, clearing_price, clearing_price)?;
            }
            check_no_crossed_residual_at(bids, offers, matches, clearing_price)
        }
        Mechanism::Curve => {
            let Some(price) = crate::tree::clear_book(bids, offers, &mut Vec::new()) else {
                return match matches.is_empty() {
                    true => Ok(()),
                    false => Err(Violation::MatchWithoutClearingPrice { match_index: 0 }),
                };
            };
            check_uniform(matches)?;
            if let Some(item) = matches.first() {
                expect_prices(mechanism, 0, item, price, price)?;
            }
            check_one_sided_residual_at(bids, offers, matches, price)
        }
        Mechanism::Huang | Mechanism::TradeReduction => {
            let mut scratch = Scratch::default();
            scratch.rank(bids, offers);
            let plan = match mechanism {
                Mechanism::Huang => double::huang_plan(bids, offers, &mut scratch),
                _ => double::trade_reduction_plan(bids, offers, &mut scratch),
            };
            let Some(plan) = plan else {
                return match matches.is_empty() {
                    true => Ok(()),
                    false => Err(Violation::MatchWithoutClearingPrice { match_index: 0 }),
                };
            };
            check_uniform(matches)?;
            if let Some(item) = matches.first() {
                expect_prices(mechanism, 0, item, plan.buyer_price, plan.seller_price)?;
            }
            check_plan(bids, offers, matches, &scratch, plan)
        }
    }
}

fn expect_prices(
    mechanism: Mechanism,
    match_index: usize,
    item: &Match,
    buyer_price: Price,
    seller_price: Price,
) -> Result<(), Violation> {
    for (side, price, expected) in [
        (Side::Buy, item.buyer_price, buyer_price),
        (Side::Sell, item.seller_price, seller_price),
    ] {
        if price != expected {
            return Err(Violation::PriceRule {
                match_index,
                mechanism,
                side,
                price,
                expected,
            });
        }
    }
    Ok(())
}

/// Every order filled exactly as planned, but for the unavoidable self-trade shortfall.
fn check_plan(
    bids: &[Order],
    offers: &[Order],
    matches: &[Match],
    scratch: &Scratch,
    plan: Plan,
) -> Result<(), Violation> {
    let mut bid_planned = vec![0_i128; bids.len()];
    let mut offer_planned = vec![0_i128; offers.len()];
    for (rank, volume) in scratch.bids[..plan.bid_count]
        .iter()
        .zip(&scratch.bid_volume)
    {
        bid_planned[rank.index()] = *volume as i128;
    }
    for (rank, volume) in scratch.offers[..plan.offer_count]
        .iter()
        .zip(&scratch.offer_volume)
    {
        offer_planned[rank.index()] = *volume as i128;
    }
    let (bid_left, offer_left) = matched_left(bids, offers, matches);
    // Shortfall = planned − filled, per order; filled = energy − left.
    let shortfall = |orders: &[Order], planned: &[i128], left: &[i128], index: usize| {
        planned[index] - (orders[index].energy.0 as i128 - left[index])
    };
    let mut short: Option<Participant> = None;
    let mut short_total = [0_i128; 2];
    let mut planned_of_short = [0_i128; 2];
    let sides = [
        (Side::Buy, bids, &bid_planned, &bid_left),
        (Side::Sell, offers, &offer_planned, &offer_left),
    ];
    for (side_index, (side, orders, planned, left)) in sides.iter().enumerate() {
        for index in 0..orders.len() {
            let missing = shortfall(orders, planned, left, index);
            let mismatch = Violation::PlanNotMet {
                side: *side,
                index: index as u32,
                filled_mwh: planned[index] - missing,
                planned_mwh: planned[index],
            };
            if missing < 0 {
                return Err(mismatch);
            }
            if missing > 0 {
                match short {
                    None => short = Some(orders[index].participant),
                    Some(participant) if participant != orders[index].participant => {
                        return Err(mismatch);
                    }
                    Some(_) => {}
                }
                short_total[side_index] += missing;
            }
        }
    }
    let Some(participant) = short else {
        return Ok(());
    };
    for (side_index, (_, orders, planned, _)) in sides.iter().enumerate() {
        for (index, order) in orders.iter().enumerate() {
            if order.participant == participant {
                planned_of_short[side_index] += planned[index];
            }
        }
    }
    let unavoidable = (planned_of_short[0] + planned_of_short[1] - plan.volume).max(0);
    if short_total[0] != unavoidable || short_total[1] != unavoidable {
        return Err(Violation::AvoidableShortfall {
            participant,
            shortfall_mwh: short_total[0].max(short_total[1]),
            unavoidable_mwh: unavoidable,
        });
    }
    Ok(())
}

/// Energy left per bid and per offer, in `i128`; out-of-range matches are skipped.
fn matched_left(bids: &[Order], offers: &[Order], matches: &[Match]) -> (Vec<i128>, Vec<i128>) {
    let mut bid_left: Vec<i128> = bids.iter().map(|order| order.energy.0 as i128).collect();
    let mut offer_left: Vec<i128> = offers.iter().map(|order| order.energy.0 as i128).collect();
    for item in matches {
        if let (Some(bid), Some(offer)) = (
            bid_left.get_mut(item.bid as usize),
            offer_left.get_mut(item.offer as usize),
        ) {
            *bid -= item.energy.0 as i128;
            *offer -= item.energy.0 as i128;
        }
    }
    (bid_left, offer_left)
}

/// An offer with energy left, as a witness for a residual check.
#[derive(Clone, Copy)]
struct Witness {
    index: u32,
    price: Price,
    participant: Participant,
}

/// Among the offers with energy left that pass `filter`: the cheapest, and the cheapest whose
/// participant differs from the cheapest's. For any bid, one of the two is the cheapest offer of
/// another participant, so two witnesses decide every bid in O(1).
fn witnesses(
    offers: &[Order],
    offer_left: &[i128],
    filter: impl Fn(&Order) -> bool,
) -> [Option<Witness>; 2] {
    let mut cheapest: Option<Witness> = None;
    let mut cheapest_other: Option<Witness> = None;
    for (index, offer) in offers.iter().enumerate() {
        if offer_left[index] <= 0 || !filter(offer) {
            continue;
        }
        let candidate = Witness {
            index: index as u32,
            price: offer.price,
            participant: offer.participant,
        };
        match cheapest {
            None => cheapest = Some(candidate),
            Some(best) if candidate.price < best.price => {
                // Everything seen so far is at least as dear as `best`, so when the participant
                // changes, `best` is the cheapest of the others; when it does not, the set of
                // "others" is unchanged.
                if candidate.participant != best.participant {
                    cheapest_other = Some(best);
                }
                cheapest = Some(candidate);
            }
            Some(best) => {
                if candidate.participant != best.participant
                    && cheapest_other.is_none_or(|other| candidate.price < other.price)
                {
                    cheapest_other = Some(candidate);
                }
            }
        }
    }
    [cheapest, cheapest_other]
}

/// The cheapest witness of a participant other than `participant`.
fn counterpart(
    participant: Participant,
    cheapest: Option<Witness>,
    cheapest_other: Option<Witness>,
) -> Option<Witness> {
    match cheapest {
        Some(best) if best.participant != participant => Some(best),
        Some(_) => cheapest_other,
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_types::{AssetId, Side};

    fn order(key: u64, participant: u32, energy: i64, price: i64) -> Order {
        Order {
            key,
            participant: Participant::Asset(AssetId(participant)),
            side: Side::Buy,
            energy: Energy(energy),
            price: Price(price),
            priority: 0,
        }
    }

    fn deal(bid: u32, offer: u32, energy: i64, price: i64) -> Match {
        Match::at(bid, offer, Energy(energy), Price(price))
    }

    #[test]
    fn each_rule_is_reported() {
        let bids = [order(1, 1, 10, 50), order(2, 2, 10, 40)];
        let offers = [order(3, 3, 10, 20), order(4, 1, 10, 30)];
        assert_eq!(check(&bids, &offers, &[deal(0, 0, 10, 30)]), Ok(()));
        assert!(matches!(
            check(&bids, &offers, &[deal(2, 0, 1, 30)]),
            Err(Violation::BidOutOfRange { bid: 2, .. })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(0, 9, 1, 30)]),
            Err(Violation::OfferOutOfRange { offer: 9, .. })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(0, 0, 0, 30)]),
            Err(Violation::NonPositiveEnergy { .. })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(0, 1, 1, 40)]),
            Err(Violation::SelfTrade {
                bid: 0,
                offer: 1,
                ..
            })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(1, 0, 1, 41)]),
            Err(Violation::PriceAboveBid { .. })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(1, 0, 1, 19)]),
            Err(Violation::PriceBelowOffer { .. })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(0, 0, 6, 30), deal(0, 0, 5, 30)]),
            Err(Violation::BidOverfilled {
                bid: 0,
                matched_mwh: 11,
                energy_mwh: 10
            })
        ));
        assert!(matches!(
            check(&bids, &offers, &[deal(0, 0, 6, 30), deal(1, 0, 5, 30)]),
            Err(Violation::OfferOverfilled {
                offer: 0,
                matched_mwh: 11,
                energy_mwh: 10
            })
        ));
        assert!(matches!(
            check_uniform(&[deal(0, 0, 1, 30), deal(1, 0, 1, 31)]),
            Err(Violation::PriceNotUniform { match_index: 1, .. })
        ));
    }

    #[test]
    fn two_price_rules_are_reported() {
        let bids = [order(1, 1, 10, 50), order(2, 2, 10, 40)];
        let offers = [order(3, 3, 10, 20), order(4, 4, 10, 30)];
        let spread = |buyer_price: i64, seller_price: i64| Match {
            bid: 0,
            offer: 0,
            energy: Energy(1),
            buyer_price: Price(buyer_price),
            seller_price: Price(seller_price),
        };
        assert_eq!(check(&bids, &offers, &[spread(40, 30)]), Ok(()));
        assert!(matches!(
            check(&bids, &offers, &[spread(30, 40)]),
            Err(Violation::SellerAboveBuyer { .. })
        ));
        assert!(matches!(
            check_uniform(&[spread(40, 30), spread(40, 31)]),
            Err(Violation::PriceNotUniform {
                match_index: 1,
                side: Side::Sell,
                ..
            })
        ));
        // Huang on this book: K = bid 1 (40), L = offer 1 (30); bid 0 buys 10 from offer 0.
        let planned = Match {
            energy: Energy(10),
            ..spread(40, 30)
        };
        let huang = |matches: &[Match]| check_clearing(Mechanism::Huang, &bids, &offers, matches);
        assert_eq!(huang(&[planned]), Ok(()));
        assert!(matches!(
            huang(&[Match {
                energy: Energy(9),
                ..planned
            }]),
            // Bid 0 (participant 1) and offer 0 (participant 3) are both short: two participants,
            // so the second shortfall found is reported.
            Err(Violation::PlanNotMet {
                side: Side::Sell,
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            huang(&[spread(41, 30)]),
            Err(Violation::PriceRule {
                side: Side::Buy,
                ..
            })
        ));
        // Bid and offer of one participant, unpaired although a swap was possible.
        let bids = [order(1, 1, 1, 50), order(2, 2, 1, 49), order(3, 5, 1, 40)];
        let offers = [order(4, 3, 1, 10), order(5, 2, 1, 11), order(6, 6, 1, 30)];
        let pair = |bid: u32, offer: u32| Match {
            bid,
            offer,
            ..spread(40, 30)
        };
        assert_eq!(
            check_clearing(Mechanism::Huang, &bids, &offers, &[pair(0, 1), pair(1, 0)]),
            Ok(())
        );
        assert!(matches!(
            check_clearing(Mechanism::Huang, &bids, &offers, &[pair(0, 0)]),
            Err(Violation::AvoidableShortfall { .. })
        ));
    }

    #[test]
    fn sums_do_not_overflow() {
        let huge = i64::MAX / 2 + 1;
        let bids = [order(1, 1, i64::MAX, 50)];
        let offers = [order(2, 2, i64::MAX, 20)];
        let result = check(
            &bids,
            &offers,
            &[deal(0, 0, huge, 30), deal(0, 0, huge, 30)],
        );
        assert!(matches!(result, Err(Violation::BidOverfilled { .. })));
    }

    #[test]
    fn crossed_residual_is_found_past_own_offers() {
        let bids = [order(1, 1, 10, 50)];
        // The cheapest offer is the bidder's own; the next one crosses.
        let offers = [
            order(2, 1, 10, 10),
            order(3, 1, 10, 11),
            order(4, 2, 10, 50),
        ];
        assert!(matches!(
            check_no_crossed_residual(&bids, &offers, &[]),
            Err(Violation::CrossedResidual {
                bid: 0,
                offer: 2,
                ..
            })
        ));
        assert_eq!(
            check_no_crossed_residual(&bids, &offers, &[deal(0, 2, 10, 50)]),
            Ok(())
        );
        let dear = [order(2, 1, 10, 10), order(4, 2, 10, 51)];
        assert_eq!(check_no_crossed_residual(&bids, &dear, &[]), Ok(()));
        // At a clearing price of 30 only the bidder's own offers are eligible.
        assert_eq!(
            check_no_crossed_residual_at(&bids, &offers, &[], Price(30)),
            Ok(())
        );
        let eligible = [order(2, 1, 10, 10), order(3, 2, 10, 30)];
        assert!(matches!(
            check_no_crossed_residual_at(&bids, &eligible, &[], Price(30)),
            Err(Violation::EligibleResidual {
                bid: 0,
                offer: 1,
                ..
            })
        ));
        // Offer 2 at 50 crosses the bid, but lies above the clearing price.
        let only_other = [order(4, 2, 10, 50)];
        assert_eq!(
            check_no_crossed_residual_at(&bids, &only_other, &[], Price(30)),
            Ok(())
        );
    }
}
