//! The two-price double auctions: Huang, Scheller-Wolf and Sycara's multi-unit double auction and
//! McAfee's trade reduction. Both first decide a *plan* — who trades how much, the buyer price and
//! the seller price — from prices and quantities alone, and then pair the planned volumes with the
//! greedy walk (see [`crate::walk`]) so that no participant trades with itself.
//!
//! The rules, their proofs and their tie-breaks are in the crate documentation; this module keeps
//! the arithmetic.

use crate::walk::{self, Pricing, Rank, Scratch, Volumes, Walk};
use nestgrid_types::{Energy, Match, Order, Price, div_ceil_i128, div_floor_i128};

/// What a two-price mechanism decided before any pairing: the first `bid_count` ranked bids and
/// the first `offer_count` ranked offers trade, each exactly `Scratch::bid_volume` /
/// `offer_volume` at its rank position, buyers at `buyer_price`, sellers at `seller_price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) buyer_price: Price,
    pub(crate) seller_price: Price,
    pub(crate) bid_count: usize,
    pub(crate) offer_count: usize,
    /// Σ of the planned volumes of each side (the two are equal).
    pub(crate) volume: i128,
}

/// Huang, Scheller-Wolf and Sycara's multi-unit double auction.
pub(crate) fn huang(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    scratch.rank(bids, offers);
    if let Some(plan) = huang_plan(bids, offers, scratch) {
        pair(bids, offers, scratch, plan, matches);
    }
}

/// McAfee's trade reduction for unit orders.
pub(crate) fn trade_reduction(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    scratch.rank(bids, offers);
    if let Some(plan) = trade_reduction_plan(bids, offers, scratch) {
        pair(bids, offers, scratch, plan, matches);
    }
}

/// Huang's plan for a ranked book (`scratch.rank` called before), or `None` when no bid crosses
/// any offer. The plan may trade nothing (`volume == 0`): when the price-setting bid K or offer L
/// is the first of its side.
pub(crate) fn huang_plan(bids: &[Order], offers: &[Order], scratch: &mut Scratch) -> Option<Plan> {
    let (bid_count, offer_count) =
        walk::last_crossing(bids, offers, &scratch.bids, &scratch.offers)?;
    // K and L (the orders whose steps contain Q*) set the prices and do not trade; the orders
    // ranked before them do.
    let buyer_price = Price(scratch.bids[bid_count].bid_price());
    let seller_price = Price(scratch.offers[offer_count].offer_price());
    let Scratch {
        bids: bid_ranks,
        offers: offer_ranks,
        bid_volume,
        offer_volume,
        quantities,
        leftover,
        ..
    } = scratch;
    bid_volume.clear();
    bid_volume.extend(
        bid_ranks[..bid_count]
            .iter()
            .map(|rank| bids[rank.index()].energy.0),
    );
    offer_volume.clear();
    offer_volume.extend(
        offer_ranks[..offer_count]
            .iter()
            .map(|rank| offers[rank.index()].energy.0),
    );
    let demand: i128 = bid_volume.iter().map(|&energy| energy as i128).sum();
    let supply: i128 = offer_volume.iter().map(|&energy| energy as i128).sum();
    let volume = demand.min(supply);
    if demand > supply {
        equal_reduction(
            bid_volume,
            &bid_ranks[..bid_count],
            supply,
            quantities,
            leftover,
        );
    } else if supply > demand {
        equal_reduction(
            offer_volume,
            &offer_ranks[..offer_count],
            demand,
            quantities,
            leftover,
        );
    }
    Some(Plan {
        buyer_price,
        seller_price,
        bid_count,
        offer_count,
        volume,
    })
}

/// Cuts `volumes` (one per rank of `ranks`, in rank order, each > 0, summing to more than
/// `target ≥ 0`) to sum exactly to `target` by equal reduction: each becomes `max(q − δ, 0)`,
/// plus at most one mWh of the rounding leftover.
///
/// With f(δ) = Σ max(q_i − δ, 0), non-increasing in δ: δ is the smallest integer with
/// f(δ) ≤ target (the real solution rounded up), so the leftover r = target − f(δ) is smaller
/// than f(δ − 1) − f(δ) = #{i : q_i ≥ δ}. The r orders with q_i ≥ δ that come first by
/// `(priority, key)` — never by price, so that no order can win a leftover mWh by changing its
/// price — get one mWh more. Then every volume is ≤ its q (δ ≥ 1 because Σ q > target) and the
/// volumes sum to `target` exactly.
///
/// O(n log n) for the sort of the quantities, O(n) otherwise.
fn equal_reduction(
    volumes: &mut [i64],
    ranks: &[Rank],
    target: i128,
    quantities: &mut Vec<i64>,
    leftover: &mut Vec<u32>,
) {
    quantities.clear();
    quantities.extend_from_slice(volumes);
    quantities.sort_unstable();
    let count = quantities.len();
    let mut suffix: i128 = quantities.iter().map(|&energy| energy as i128).sum();
    debug_assert!(suffix > target && target >= 0);
    let mut delta = quantities[count - 1];
    // On [q_(k−1), q_(k)] (sorted ascending), f(δ) = Σ_{i ≥ k} q_(i) − (n − k)·δ.
    for (position, &quantity) in quantities.iter().enumerate() {
        let above = (count - position) as i128;
        if suffix - above * quantity as i128 <= target {
            delta = div_ceil_i128(suffix - target, above) as i64;
            break;
        }
        suffix -= quantity as i128;
    }
    debug_assert!(delta >= 1);
    leftover.clear();
    let mut allocated: i128 = 0;
    for (position, volume) in volumes.iter_mut().enumerate() {
        if *volume >= delta {
            leftover.push(position as u32);
        }
        *volume = (*volume - delta).max(0);
        allocated += *volume as i128;
    }
    let rest = target - allocated;
    debug_assert!(rest >= 0 && rest < leftover.len() as i128);
    let rest = rest as usize;
    if rest > 0 {
        if rest < leftover.len() {
            leftover
                .select_nth_unstable_by_key(rest, |&position| ranks[position as usize].time_key());
        }
        for &position in &leftover[..rest] {
            volumes[position as usize] += 1;
        }
    }
}

/// Why a book does not meet a mechanism's requirement on its orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnequalEnergy {
    /// Whether the order is a bid (else an offer), and its index in its slice.
    pub(crate) is_bid: bool,
    pub(crate) index: usize,
    pub(crate) energy: Energy,
    pub(crate) unit: Energy,
}

/// The common energy of every ranked order (the "unit" of trade reduction), `Ok(None)` for an
/// empty book, or the first order (bids first, in slice order) whose energy differs from the
/// first order's.
pub(crate) fn unit_of(bids: &[Order], offers: &[Order]) -> Result<Option<Energy>, UnequalEnergy> {
    let mut unit = None;
    let sides = [(true, bids), (false, offers)];
    for (is_bid, orders) in sides {
        for (index, order) in orders.iter().enumerate() {
            if !order.energy.is_positive() {
                continue;
            }
            match unit {
                None => unit = Some(order.energy),
                Some(unit) if unit != order.energy => {
                    return Err(UnequalEnergy {
                        is_bid,
                        index,
                        energy: order.energy,
                        unit,
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(unit)
}

/// McAfee's plan for a ranked book (`scratch.rank` called before), or `None` when no bid
/// crosses the offer at its rank, or the orders do not all have the same energy.
pub(crate) fn trade_reduction_plan(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
) -> Option<Plan> {
    let unit = unit_of(bids, offers).ok()??;
    let Scratch {
        bids: bid_ranks,
        offers: offer_ranks,
        bid_volume,
        offer_volume,
        ..
    } = scratch;
    // k: the number of efficient pairs, b_i ≥ s_i for i = 1..k (bids descending and offers
    // ascending, so the pairs that cross are a prefix).
    let efficient = bid_ranks
        .iter()
        .zip(offer_ranks.iter())
        .take_while(|(bid, offer)| bid.bid_price() >= offer.offer_price())
        .count();
    if efficient == 0 {
        return None;
    }
    let bid_k = bid_ranks[efficient - 1].bid_price();
    let offer_k = offer_ranks[efficient - 1].offer_price();
    // The candidate price p0 = floor((b_{k+1} + s_{k+1}) / 2) exists only when both sides have
    // a (k+1)-th order; without one, the reduction rule applies.
    let candidate = match (bid_ranks.get(efficient), offer_ranks.get(efficient)) {
        (Some(bid), Some(offer)) => {
            Some(div_floor_i128(bid.bid_price() as i128 + offer.offer_price() as i128, 2) as i64)
        }
        _ => None,
    };
    let (buyer_price, seller_price, count) = match candidate {
        Some(price) if offer_k <= price && price <= bid_k => (price, price, efficient),
        _ => (bid_k, offer_k, efficient - 1),
    };
    bid_volume.clear();
    bid_volume.resize(count, unit.0);
    offer_volume.clear();
    offer_volume.resize(count, unit.0);
    Some(Plan {
        buyer_price: Price(buyer_price),
        seller_price: Price(seller_price),
        bid_count: count,
        offer_count: count,
        volume: count as i128 * unit.0 as i128,
    })
}

/// Pairs a plan's volumes: the greedy walk in priority order, skipping self-trades, then the
/// self-trade repair when the walk got stuck.
fn pair(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    plan: Plan,
    matches: &mut Vec<Match>,
) {
    if plan.volume == 0 {
        return;
    }
    let first = matches.len();
    let walk = Walk {
        bid_limit: plan.bid_count,
        offer_limit: plan.offer_count,
        pricing: Pricing::Split(plan.buyer_price, plan.seller_price),
        volumes: Volumes::Allocated,
    };
    walk::greedy(bids, offers, scratch, walk, matches);
    if !scratch.stuck.is_empty() {
        repair(bids, offers, scratch, plan, first, matches);
    }
}

/// Pairs what the greedy walk left unpaired.
///
/// The walk gets stuck only at its end, and only for one participant p: a bid stays unpaired
/// only when every offer left is its own participant's, and a later bid of another participant
/// then takes those offers, so every bid left unpaired belongs to p, and so does every offer left
/// (u mWh on each side, planned volumes summing equally on both sides). Each stuck unit is paired
/// by a swap: a match (b', o') between two *other* participants becomes (b', o_p) and (b_p, o'),
/// which keeps every order's volume. The walk paired x_p − u of p's bids with others' offers and
/// y_p − u of p's offers with others' bids, so the volume between two others is
/// V − (x_p − u) − (y_p − u) − 0 = V − (x_p + y_p) + u: enough for every stuck unit when
/// x_p + y_p ≤ V. Otherwise e = x_p + y_p − V mWh of p's bids and as much of its offers stay
/// unpaired — which no pairing can avoid, since every match with p on one side needs another
/// participant's volume on the other. Only p trades less; every other order gets its plan.
///
/// Matches are then sorted back into bid priority, offer priority, and equal pairs merged.
fn repair(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    plan: Plan,
    first: usize,
    matches: &mut Vec<Match>,
) {
    let mut stuck_bids = std::mem::take(&mut scratch.stuck);
    let mut stuck_offers: Vec<(u32, i64)> = walk::unpaired_offers(scratch).collect();
    let owner = bids[scratch.bids[stuck_bids[0].0 as usize].index()].participant;
    debug_assert!(
        stuck_bids.iter().all(
            |&(position, _)| bids[scratch.bids[position as usize].index()].participant == owner
        )
    );
    debug_assert!(stuck_offers.iter().all(|&(position, _)| {
        offers[scratch.offers[position as usize].index()].participant == owner
    }));
    let (mut bid_cursor, mut offer_cursor) = (0, 0);
    let walked = matches.len();
    for position in (first..walked).rev() {
        if bid_cursor == stuck_bids.len() || offer_cursor == stuck_offers.len() {
            break;
        }
        let item = matches[position];
        if bids[item.bid as usize].participant == owner
            || offers[item.offer as usize].participant == owner
        {
            continue;
        }
        let mut left = item.energy.0;
        while left > 0 && bid_cursor < stuck_bids.len() && offer_cursor < stuck_offers.len() {
            let (bid_position, bid_left) = &mut stuck_bids[bid_cursor];
            let (offer_position, offer_left) = &mut stuck_offers[offer_cursor];
            let energy = left.min(*bid_left).min(*offer_left);
            left -= energy;
            *bid_left -= energy;
            *offer_left -= energy;
            let stuck_bid = scratch.bids[*bid_position as usize].index() as u32;
            let stuck_offer = scratch.offers[*offer_position as usize].index() as u32;
            let swap = |bid: u32, offer: u32| Match {
                bid,
                offer,
                energy: Energy(energy),
                buyer_price: plan.buyer_price,
                seller_price: plan.seller_price,
            };
            matches.push(swap(item.bid, stuck_offer));
            matches.push(swap(stuck_bid, item.offer));
            if *bid_left == 0 {
                bid_cursor += 1;
            }
            if *offer_left == 0 {
                offer_cursor += 1;
            }
        }
        matches[position].energy = Energy(left);
    }
    let mut tail = matches.split_off(first);
    tail.retain(|item| item.energy.is_positive());
    tail.sort_unstable_by_key(|item| {
        (
            Rank::bid(item.bid as usize, &bids[item.bid as usize]),
            Rank::offer(item.offer as usize, &offers[item.offer as usize]),
        )
    });
    for item in tail {
        let merges = matches.len() > first
            && matches
                .last()
                .is_some_and(|last| last.bid == item.bid && last.offer == item.offer);
        match matches.last_mut() {
            Some(last) if merges => last.energy += item.energy,
            _ => matches.push(item),
        }
    }
    stuck_bids.clear();
    scratch.stuck = stuck_bids;
}
