//! The machinery shared by every mechanism: ranking a book by priority, the aggregate walk that
//! finds the uniform price, and the greedy walk that produces the matches.
//!
//! The greedy walk takes bids in bid priority; each bid takes the live offers it may trade with in
//! offer priority. Two kinds of offer are passed over: *dead* ones (filled by an earlier bid) and
//! ones of the bid's own participant (self-trade). Walking over them one by one costs O(n·m) in
//! the worst case (a participant with many cheap offers and many bids), so both are skipped with
//! forward pointers compressed as in a union-find:
//!
//! - `next_live[i]`: a position `j ≥ i` such that every offer in `[i, j)` is dead; `i` itself
//!   when `i` is live. The sentinel `m` (one past the last offer) is always "live".
//! - `next_other[i]`: a position `j > i` such that every *live* offer in `(i, j)` has the
//!   participant of `i`. Offers only ever die, so a pointer stays valid once set.
//!
//! With these, "first live offer at or after `from` whose participant is not `p`" costs amortised
//! O(log m) instead of O(m).

use nestgrid_types::{Energy, Match, Order, Participant, Price, div_floor_i128};

/// An order's place in priority order. The derived `Ord` compares the fields in declaration
/// order, which is the priority: price, then `priority`, then `key`, then the slice index (only
/// reached when a caller repeats a key inside one book; it keeps the order total).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    /// The offer's price, or the bitwise complement of the bid's price: `!x` is strictly
    /// decreasing over all of `i64` and, unlike `-x`, cannot overflow at `i64::MIN`.
    price_rank: i64,
    priority: u64,
    key: u64,
    index: u32,
}

impl Rank {
    pub(crate) fn bid(index: usize, order: &Order) -> Self {
        Self {
            price_rank: !order.price.0,
            priority: order.priority,
            key: order.key,
            index: index as u32,
        }
    }

    pub(crate) fn offer(index: usize, order: &Order) -> Self {
        Self {
            price_rank: order.price.0,
            priority: order.priority,
            key: order.key,
            index: index as u32,
        }
    }

    pub(crate) fn bid_price(self) -> i64 {
        !self.price_rank
    }

    pub(crate) fn offer_price(self) -> i64 {
        self.price_rank
    }

    /// Index of the order in its slice.
    pub(crate) fn index(self) -> usize {
        self.index as usize
    }

    /// The tie-break that does not involve the price: `(priority, key, index)`. Two-price
    /// mechanisms hand out rounding leftovers in this order, so that no order can win one by
    /// changing its price.
    pub(crate) fn time_key(self) -> (u64, u64, u32) {
        (self.priority, self.key, self.index)
    }
}

/// Reusable buffers so that clearing does not allocate in the hot loop.
///
/// One `Scratch` per thread is enough: [`crate::clear`] resets what it uses on every call, so a
/// scratch that cleared another book (of any mechanism, any size) gives the same result as a fresh
/// one. Once its buffers have grown to the largest book seen, clearing allocates nothing. Memory:
/// about 32 bytes per order of each side plus 24 bytes per offer.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) bids: Vec<Rank>,
    pub(crate) offers: Vec<Rank>,
    offer_residual: Vec<i64>,
    offer_participant: Vec<Participant>,
    next_live: Vec<u32>,
    next_other: Vec<u32>,
    /// Two-price mechanisms: energy allocated to each ranked bid / offer (by rank position).
    pub(crate) bid_volume: Vec<i64>,
    pub(crate) offer_volume: Vec<i64>,
    /// Two-price mechanisms: quantities of the long side, sorted, to find the equal reduction.
    pub(crate) quantities: Vec<i64>,
    /// Two-price mechanisms: rank positions that may receive a rounding leftover.
    pub(crate) leftover: Vec<u32>,
    /// Bids the greedy walk could not fill from allocated volumes: (rank position, energy).
    pub(crate) stuck: Vec<(u32, i64)>,
}

impl Scratch {
    /// A scratch sized for books of up to `orders_per_side` orders on each side, so that even the
    /// first clearing does not allocate.
    pub fn with_capacity(orders_per_side: usize) -> Self {
        Self {
            bids: Vec::with_capacity(orders_per_side),
            offers: Vec::with_capacity(orders_per_side),
            offer_residual: Vec::with_capacity(orders_per_side),
            offer_participant: Vec::with_capacity(orders_per_side),
            next_live: Vec::with_capacity(orders_per_side + 1),
            next_other: Vec::with_capacity(orders_per_side),
            bid_volume: Vec::with_capacity(orders_per_side),
            offer_volume: Vec::with_capacity(orders_per_side),
            quantities: Vec::with_capacity(orders_per_side),
            leftover: Vec::with_capacity(orders_per_side),
            stuck: Vec::new(),
        }
    }

    /// Ranks both sides of the book; orders without positive energy are left out.
    pub(crate) fn rank(&mut self, bids: &[Order], offers: &[Order]) {
        // Indices are stored as u32 and the walk uses `m` as a sentinel position.
        assert!(
            bids.len() < u32::MAX as usize && offers.len() < u32::MAX as usize,
            "a book side has at most u32::MAX - 1 orders"
        );
        self.bids.clear();
        self.bids.extend(
            bids.iter()
                .enumerate()
                .filter(|(_, order)| order.energy.is_positive())
                .map(|(index, order)| Rank::bid(index, order)),
        );
        self.bids.sort_unstable();
        self.offers.clear();
        self.offers.extend(
            offers
                .iter()
                .enumerate()
                .filter(|(_, order)| order.energy.is_positive())
                .map(|(index, order)| Rank::offer(index, order)),
        );
        self.offers.sort_unstable();
    }
}

/// How the greedy walk prices a match.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pricing {
    /// Both prices at the offer's price.
    Offer,
    /// Both prices at the bid's price.
    Bid,
    /// Both prices at one clearing price.
    Uniform(Price),
    /// Every buyer pays the first price, every seller receives the second.
    Split(Price, Price),
}

/// How much energy each order brings to the greedy walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Volumes {
    /// Its energy, as far as the counterparts allow (the walk decides the volume).
    Orders,
    /// Exactly `Scratch::bid_volume` / `offer_volume` at its rank position (a two-price
    /// mechanism decided the volume; the walk only pairs it). Bids that cannot be paired because
    /// every offer left is their own participant's are recorded in `Scratch::stuck`.
    Allocated,
}

/// What the greedy walk walks over and how it prices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    /// Only the first this many ranked bids take part.
    pub(crate) bid_limit: usize,
    /// Only the first this many ranked offers take part.
    pub(crate) offer_limit: usize,
    pub(crate) pricing: Pricing,
    pub(crate) volumes: Volumes,
}

impl Walk {
    fn all(pricing: Pricing) -> Self {
        Self {
            bid_limit: usize::MAX,
            offer_limit: usize::MAX,
            pricing,
            volumes: Volumes::Orders,
        }
    }
}

/// Pay-as-offer: the greedy walk, each match at the offer's price.
pub(crate) fn pay_as_offer(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    scratch.rank(bids, offers);
    greedy(bids, offers, scratch, Walk::all(Pricing::Offer), matches);
}

/// Pay-as-bid: the greedy walk, each match at the bid's price.
pub(crate) fn pay_as_bid(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    scratch.rank(bids, offers);
    greedy(bids, offers, scratch, Walk::all(Pricing::Bid), matches);
}

/// Pay-as-clear: the uniform price from the aggregate curves, then the greedy walk over the
/// eligible orders at that price.
pub(crate) fn pay_as_clear(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    matches: &mut Vec<Match>,
) {
    scratch.rank(bids, offers);
    let Some(price) = uniform_price(bids, offers, &scratch.bids, &scratch.offers) else {
        return;
    };
    // Individual rationality. Let (b, o) be the last pair the aggregate walk matched; it only
    // matches crossing pairs, so o ≤ b, hence o ≤ (b + o) / 2 ≤ b. Flooring keeps the lower
    // bound because o is an integer (the floor of a real x ≥ o is ≥ o) and cannot exceed the
    // upper one (floor(x) ≤ x ≤ b): so o ≤ P ≤ b, and the eligible sets below are not empty.
    // Only bids priced ≥ P and offers priced ≤ P are eligible, so every match between them has
    // offer price ≤ P ≤ bid price: no buyer pays above its bid, no seller receives below its
    // offer. (The bound through (b, o) only shows that P is a sensible price; the per-match bound
    // follows from eligibility alone.)
    //
    // Ranks are sorted, so the eligible orders of each side are a prefix of that side.
    let eligible_bids = scratch
        .bids
        .partition_point(|rank| rank.bid_price() >= price.0);
    let eligible_offers = scratch
        .offers
        .partition_point(|rank| rank.offer_price() <= price.0);
    let walk = Walk {
        bid_limit: eligible_bids,
        offer_limit: eligible_offers,
        ..Walk::all(Pricing::Uniform(price))
    };
    greedy(bids, offers, scratch, walk, matches);
}

/// The uniform price of pay-as-clear, or `None` when no bid crosses any offer.
pub(crate) fn clearing_price(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
) -> Option<Price> {
    scratch.rank(bids, offers);
    uniform_price(bids, offers, &scratch.bids, &scratch.offers)
}

/// Walks the aggregate demand and supply curves (participants ignored) while the marginal bid
/// is priced at or above the marginal offer; returns the floored midpoint of the last pair
/// matched.
fn uniform_price(
    bids: &[Order],
    offers: &[Order],
    bid_ranks: &[Rank],
    offer_ranks: &[Rank],
) -> Option<Price> {
    let (bid_position, offer_position) = last_crossing(bids, offers, bid_ranks, offer_ranks)?;
    let bid_price = bid_ranks[bid_position].bid_price();
    let offer_price = offer_ranks[offer_position].offer_price();
    // Rounds toward negative infinity (prices may be negative); the i128 sum cannot overflow and
    // the result lies in [offer_price, bid_price], so it fits an i64.
    let midpoint_floor = div_floor_i128(bid_price as i128 + offer_price as i128, 2);
    Some(Price(midpoint_floor as i64))
}

/// The rank positions of the last bid and the last offer the aggregate walk matches, or `None`
/// when the best bid is below the best offer (or a side is empty).
///
/// The walk runs along the quantity axis of the two step curves — demand (bids in priority
/// order, each a step of its energy) and supply — and matches while the bid's step is priced at
/// or above the offer's step (a bid equal to an offer trades). With Q* the largest quantity where
/// demand ≥ supply, the last pair matched are the bid and the offer whose steps contain Q*
/// (steps are intervals `(start, end]`). Only per-order remainders are kept, never cumulative
/// sums, so no energy can overflow. O(n + m).
pub(crate) fn last_crossing(
    bids: &[Order],
    offers: &[Order],
    bid_ranks: &[Rank],
    offer_ranks: &[Rank],
) -> Option<(usize, usize)> {
    let (Some(first_bid), Some(first_offer)) = (bid_ranks.first(), offer_ranks.first()) else {
        return None;
    };
    let energy_of_bid = |position: usize| bids[bid_ranks[position].index as usize].energy.0;
    let energy_of_offer = |position: usize| offers[offer_ranks[position].index as usize].energy.0;
    if first_bid.bid_price() < first_offer.offer_price() {
        return None;
    }
    let (mut bid_position, mut offer_position) = (0, 0);
    let (mut bid_left, mut offer_left) = (energy_of_bid(0), energy_of_offer(0));
    let mut last = (0, 0);
    loop {
        let bid_price = bid_ranks[bid_position].bid_price();
        let offer_price = offer_ranks[offer_position].offer_price();
        if bid_price < offer_price {
            break;
        }
        last = (bid_position, offer_position);
        let energy = bid_left.min(offer_left);
        bid_left -= energy;
        offer_left -= energy;
        if bid_left == 0 {
            bid_position += 1;
            if bid_position == bid_ranks.len() {
                break;
            }
            bid_left = energy_of_bid(bid_position);
        }
        if offer_left == 0 {
            offer_position += 1;
            if offer_position == offer_ranks.len() {
                break;
            }
            offer_left = energy_of_offer(offer_position);
        }
    }
    Some(last)
}

/// The greedy walk over the first `walk.bid_limit` ranked bids and `walk.offer_limit` ranked
/// offers, with the volumes and prices `walk` says.
pub(crate) fn greedy(
    bids: &[Order],
    offers: &[Order],
    scratch: &mut Scratch,
    walk: Walk,
    matches: &mut Vec<Match>,
) {
    let Scratch {
        bids: bid_ranks,
        offers: offer_ranks,
        offer_residual,
        offer_participant,
        next_live,
        next_other,
        bid_volume,
        offer_volume,
        stuck,
        ..
    } = scratch;
    stuck.clear();
    let bid_ranks = &bid_ranks[..walk.bid_limit.min(bid_ranks.len())];
    let offer_ranks = &offer_ranks[..walk.offer_limit.min(offer_ranks.len())];
    if bid_ranks.is_empty() || offer_ranks.is_empty() {
        return;
    }
    // Nothing crosses: spare the set-up (the common case for a book that cannot trade).
    if bid_ranks[0].bid_price() < offer_ranks[0].offer_price() {
        return;
    }
    let allocated = walk.volumes == Volumes::Allocated;

    let offer_count = offer_ranks.len();
    offer_residual.clear();
    offer_participant.clear();
    for (position, rank) in offer_ranks.iter().enumerate() {
        let offer = &offers[rank.index as usize];
        offer_residual.push(match allocated {
            true => offer_volume[position],
            false => offer.energy.0,
        });
        offer_participant.push(offer.participant);
    }
    next_live.clear();
    next_live.extend(0..=offer_count as u32);
    if allocated {
        // Offers allocated nothing are dead from the start.
        for (position, residual) in offer_residual.iter().enumerate() {
            if *residual == 0 {
                next_live[position] = position as u32 + 1;
            }
        }
    }
    // Runs of equal participant in priority order give the first valid `next_other` pointers.
    next_other.clear();
    next_other.resize(offer_count, 0);
    for position in (0..offer_count).rev() {
        next_other[position] = if position + 1 < offer_count
            && offer_participant[position + 1] == offer_participant[position]
        {
            next_other[position + 1]
        } else {
            position as u32 + 1
        };
    }
    let mut skip = Skip {
        next_live,
        next_other,
        offer_participant,
        end: offer_count as u32,
    };

    for (bid_position, bid_rank) in bid_ranks.iter().enumerate() {
        let head = skip.live_from(0);
        // Bids come in descending price: once the cheapest live offer is dearer than this bid,
        // no later bid can trade either.
        if head == skip.end || offer_ranks[head as usize].offer_price() > bid_rank.bid_price() {
            break;
        }
        let bid = &bids[bid_rank.index as usize];
        let mut remaining = match allocated {
            true => bid_volume[bid_position],
            false => bid.energy.0,
        };
        if remaining == 0 {
            continue;
        }
        let mut position = skip.usable_from(bid.participant, head);
        while position != skip.end {
            let offer_rank = offer_ranks[position as usize];
            // Offers come in ascending price: nothing after this one is acceptable either.
            if offer_rank.offer_price() > bid_rank.bid_price() {
                break;
            }
            let available = &mut offer_residual[position as usize];
            let energy = remaining.min(*available);
            let (buyer_price, seller_price) = match walk.pricing {
                Pricing::Offer => (offer_rank.offer_price(), offer_rank.offer_price()),
                Pricing::Bid => (bid_rank.bid_price(), bid_rank.bid_price()),
                Pricing::Uniform(price) => (price.0, price.0),
                Pricing::Split(buyer, seller) => (buyer.0, seller.0),
            };
            matches.push(Match {
                bid: bid_rank.index,
                offer: offer_rank.index,
                energy: Energy(energy),
                buyer_price: Price(buyer_price),
                seller_price: Price(seller_price),
            });
            remaining -= energy;
            *available -= energy;
            // Each match fills the bid or the offer (or both): at most n + m - 1 matches.
            debug_assert!(remaining == 0 || *available == 0);
            if *available == 0 {
                skip.kill(position);
            }
            if remaining == 0 {
                break;
            }
            position = skip.usable_from(bid.participant, position + 1);
        }
        if allocated && remaining > 0 {
            stuck.push((bid_position as u32, remaining));
        }
    }
}

/// Offer rank positions with allocated energy the greedy walk left unpaired, with that energy.
pub(crate) fn unpaired_offers(scratch: &Scratch) -> impl Iterator<Item = (u32, i64)> + '_ {
    scratch
        .offer_residual
        .iter()
        .enumerate()
        .filter(|(_, residual)| **residual > 0)
        .map(|(position, residual)| (position as u32, *residual))
}

/// The skip pointers of the greedy walk (see the module documentation).
struct Skip<'a> {
    next_live: &'a mut Vec<u32>,
    next_other: &'a mut Vec<u32>,
    offer_participant: &'a [Participant],
    /// Number of offers; the position one past the last, always "live".
    end: u32,
}

impl Skip<'_> {
    fn kill(&mut self, position: u32) {
        self.next_live[position as usize] = position + 1;
    }

    /// First live position at or after `position` (path halving).
    fn live_from(&mut self, mut position: u32) -> u32 {
        let next_live = &mut self.next_live;
        loop {
            let parent = next_live[position as usize];
            if parent == position {
                return position;
            }
            let grandparent = next_live[parent as usize];
            next_live[position as usize] = grandparent;
            position = grandparent;
        }
    }

    /// First live position at or after `position` whose participant is not `participant`.
    fn usable_from(&mut self, participant: Participant, position: u32) -> u32 {
        let mut position = self.live_from(position);
        while position != self.end && self.offer_participant[position as usize] == participant {
            position = self.other_after(position);
        }
        position
    }

    /// First live position after the live `start` whose participant differs from `start`'s;
    /// compresses the chain of `next_other` pointers it followed.
    fn other_after(&mut self, start: u32) -> u32 {
        let participant = self.offer_participant[start as usize];
        let mut target = self.live_from(self.next_other[start as usize]);
        while target != self.end && self.offer_participant[target as usize] == participant {
            target = self.live_from(self.next_other[target as usize]);
        }
        // Every live offer strictly between a chain member and `target` has `participant`, so
        // `target` is a valid pointer for each of them. No offer died since the first pass, so
        // the second one visits the same chain.
        let mut position = start;
        while position != target {
            let following = self.live_from(self.next_other[position as usize]);
            self.next_other[position as usize] = target;
            position = following;
        }
        target
    }
}
