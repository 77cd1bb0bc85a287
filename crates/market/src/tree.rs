//! Bid curves cleared over a tree of areas: the [`Mechanism::Curve`](nestgrid_types::Mechanism)
//! of the simulator and of single books.
//!
//! A *curve region* is a tree of areas that clear together. Each order in it is a step curve at
//! its limit price: a bid of E wants E at any price up to its limit and nothing above; an offer of
//! E supplies E at any price from its limit up. An agent's curve is the sum of its orders, and an
//! area's curve the sum of its own orders' curves and its children's curves as seen through each
//! child's boundary fee (PowerMatcher's aggregation, see [`crate::curve`] for the piecewise-linear
//! form). The top finds the price where the region's net demand is zero and sends it down; each
//! area finds its local price from its parent's, and each order is filled as its curve says at the
//! price of its own area.
//!
//! # Net demand with margins
//! Step curves jump, so net demand is not one number at a price but a range. For an area with
//! local price `p`, write `H(p)` for its net demand when every order indifferent at `p` (limit
//! equal to `p`) takes part in full on the buying side and not at all on the selling side. Then
//! every net demand between `H(p + 1)` and `H(p)` can be met at `p`: orders strictly inside their
//! limit are filled in full, orders at their limit take any part. `H` is a non-increasing step
//! function of the price, and sums of such functions are such functions again.
//!
//! # The fee's dead band
//! A child with a constant boundary fee `f ≥ 0` whose parent's price is `P` buys at `P + f` and
//! sells at `P − f`; between the two it balances inside at a price of its own. Seen from the
//! parent its net demand is `max(H(P + f), 0) + min(H(P − f), 0)` — the same formula as
//! [`crate::curve::Curve::seen_through`], and again a non-increasing step function.
//!
//! # Prices
//! - **Top**: the prices where zero net demand can be met form a stretch `[l, h]`
//!   (`H(p + 1) ≤ 0 ≤ H(p)`); the price is its midpoint, rounded toward −∞. A region without bids
//!   or without offers trades nothing.
//! - **A child** that imports (its share of the parent's allocation is positive) has the price
//!   `P + f`, one that exports `P − f`; one that neither imports nor exports has the midpoint of
//!   its own stretch within `[P − f, P + f]` (which is never empty).
//! - **An islanded child** (not connected) contributes nothing to its parent and prices itself
//!   like a top.
//!
//! # Allocation at one area
//! The area's net demand `X` (zero at the top) is shared among the owners of its own orders (all
//! orders of one owner in one area form one curve) and its connected children, each with a range
//! `[lo, hi]` at the area's price, so that the volume traded inside the area is as large as
//! possible: buyers start at the most they take, sellers at the most they give, and members that
//! may go either way (an owner with bids and offers at the price, a child without fee) at zero.
//! A shortfall of demand is made up first by the two-way members buying, then by sellers giving
//! less; an excess first by the two-way members selling, then by buyers taking less. So
//! indifferent bids and offers of one-sided owners are never both left over at one price. Each
//! step is shared pro rata to what each member can still move, rounded down, and the units left by
//! rounding go one each to the first members (owners in the order of their first order, then
//! children) whose share was rounded. An owner's share fills its bids when positive, its offers
//! when negative — those strictly inside their limit first, then those at it, each in input
//! order: an owner never buys and sells in one area's clearing (orders of one owner in different
//! areas are different curves).
//!
//! # Matches
//! Bottom-up, each area pairs the bids and offers filled in its subtree that have not been
//! paired below: its own, and those its children pass up (an importing child passes up bids, an
//! exporting one offers). What is left is exactly the area's net exchange and goes up. So every
//! match is made in the lowest common area of its two orders, at that area's price, and its
//! chain of prices down to the two orders' own areas is the chain of local prices: every buyer
//! pays its own area's price, every seller receives its own's, and the fees between them are the
//! boundaries the energy crosses.
//!
//! # Guarantees (tested in `tests/curve_tree.rs` for random trees, fees and books)
//! - every order filled at most its energy, and energy balanced at every area;
//! - individual rationality: a filled bid's limit is at least its area's price, a filled offer's
//!   at most its own;
//! - no gain left: for every bid and offer with energy left whose owners differ and have orders
//!   on one side only, the bid's limit is at most the offer's limit plus the fees on the path
//!   between them. (An owner with both bids and offers nets them first, and may leave both.)
//!
//! # Arithmetic and limits
//! Energies are summed in `i128`. Orders carry at most [`TREE_ORDER_ENERGY_MAX`] and a region at
//! most [`TREE_ORDERS_MAX`] orders, so every product of the pro-rata sharing fits 127 bits.
//! Prices and fees saturate at the ends of `i64`. Cost: O(n · d · log n) for n orders in a region
//! d levels deep.

use nestgrid_types::{Energy, Match, Order, Participant, Price, Side};

/// Most energy one order may carry into a tree clearing (2^40 in energy units, about a million
/// kWh; callers cap larger orders, such as a grid connection's unlimited ones, to this).
pub const TREE_ORDER_ENERGY_MAX: Energy = Energy(1 << 40);

/// Most orders in one tree clearing.
pub const TREE_ORDERS_MAX: usize = 1 << 22;

/// One area of a curve region. Areas come parents first: area 0 is the top, and every other
/// area's parent has a smaller index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeArea {
    /// Index of the parent area; `None` for area 0 only.
    pub parent: Option<u32>,
    /// Constant fee per kWh on this area's boundary (≥ 0). Not read for the top.
    pub fee: Price,
    /// Whether the area trades with its parent (false: islanded, it balances alone).
    pub connected: bool,
}

/// One order of a curve region: a step curve at `price`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeOrder {
    /// Index of its area.
    pub area: u32,
    /// Who owns it: orders of one owner in one area never trade with each other.
    pub owner: u64,
    /// Buy or sell.
    pub side: Side,
    /// Energy (positive, at most [`TREE_ORDER_ENERGY_MAX`]).
    pub energy: Energy,
    /// Limit price in its area's market.
    pub price: Price,
}

/// One match: `energy` from order `sell` to order `buy`, made in `area` at that area's price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeMatch {
    /// The lowest common area of the two orders.
    pub area: u32,
    /// Index of the bid.
    pub buy: u32,
    /// Index of the offer.
    pub sell: u32,
    /// Energy matched (positive).
    pub energy: Energy,
}

/// The result of [`clear_tree`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeClearing {
    /// Local price per area; `None` where nothing could trade (no bids or no offers in reach).
    pub prices: Vec<Option<Price>>,
    /// Net energy each area imports from its parent (negative: exports). Zero at the top.
    pub imports: Vec<i128>,
    /// Energy filled per order.
    pub fills: Vec<Energy>,
    /// The matches, made bottom-up (deepest areas first).
    pub matches: Vec<TreeMatch>,
}

impl TreeClearing {
    /// The price of a match (its area's price).
    pub fn price_of(&self, found: &TreeMatch) -> Price {
        self.prices[found.area as usize].expect("a match is made in an area with a price")
    }
}

/// Why [`clear_tree`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Area 0 has a parent, or another area has none or a parent not before it.
    #[error("area {area}: areas must come parents first, with only area 0 at the top")]
    NotParentsFirst {
        /// The area.
        area: usize,
    },
    /// A negative fee.
    #[error("area {area}: fee {fee} is negative; a curve region needs fees ≥ 0")]
    NegativeFee {
        /// The area.
        area: usize,
        /// Its fee.
        fee: Price,
    },
    /// An order in an area that does not exist.
    #[error("order {order}: area {area} does not exist")]
    UnknownArea {
        /// The order.
        order: usize,
        /// Its area.
        area: u32,
    },
    /// An order without positive energy, or with more than [`TREE_ORDER_ENERGY_MAX`].
    #[error("order {order}: energy {energy} must be positive and at most {limit}")]
    EnergyOutOfRange {
        /// The order.
        order: usize,
        /// Its energy.
        energy: Energy,
        /// The limit.
        limit: Energy,
    },
    /// More than [`TREE_ORDERS_MAX`] orders.
    #[error("{orders} orders, more than the limit of {limit}")]
    TooManyOrders {
        /// Orders given.
        orders: usize,
        /// The limit.
        limit: usize,
    },
}

/// A non-increasing step function of the price: `base` below the first point, then each point's
/// value from its price on.
#[derive(Clone, Debug, Default)]
struct Steps {
    base: i64,
    points: Vec<(i64, i64)>,
}

impl Steps {
    /// Builds the function from a base and changes `(price, delta)` in any order.
    fn from_deltas(base: i64, mut deltas: Vec<(i64, i64)>) -> Steps {
        deltas.sort_unstable_by_key(|&(price, _)| price);
        let mut points: Vec<(i64, i64)> = Vec::with_capacity(deltas.len());
        let mut value = base;
        for (price, delta) in deltas {
            if delta == 0 {
                continue;
            }
            value += delta;
            match points.last_mut() {
                Some(last) if last.0 == price => last.1 = value,
                _ => points.push((price, value)),
            }
        }
        // Changes that cancelled out at one price leave a point equal to the one before.
        let mut previous = base;
        points.retain(|&(_, value)| {
            let keep = value != previous;
            previous = value;
            keep
        });
        Steps { base, points }
    }

    fn at(&self, price: i64) -> i64 {
        let index = self.points.partition_point(|&(at, _)| at <= price);
        match index {
            0 => self.base,
            _ => self.points[index - 1].1,
        }
    }

    /// This function seen from the parent through a fee (see the module documentation), as
    /// changes appended to `out`; returns its base (equal to this one's).
    fn seen_through(&self, fee: i64, out: &mut Vec<(i64, i64)>) -> i64 {
        let mut previous = self.base;
        for &(price, value) in &self.points {
            let up = value.max(0) - previous.max(0);
            if up != 0 {
                out.push((price.saturating_sub(fee), up));
            }
            let down = value.min(0) - previous.min(0);
            if down != 0 {
                out.push((price.saturating_add(fee), down));
            }
            previous = value;
        }
        self.base
    }

    /// `max(H(P + fee), 0) + min(H(P − fee), 0)`.
    fn seen_at(&self, fee: i64, price: i64) -> i64 {
        self.at(price.saturating_add(fee)).max(0) + self.at(price.saturating_sub(fee)).min(0)
    }

    /// The prices where zero net demand can be met, `H(p + 1) ≤ 0 ≤ H(p)`, as `(low, high)`;
    /// `None` marks an end that is unbounded (no bids below, or no offers above).
    fn zero_stretch(&self) -> (Option<i64>, Option<i64>) {
        // low = (first price with H ≤ 0) − 1.
        let low = if self.base <= 0 {
            None
        } else {
            self.points
                .iter()
                .find(|&&(_, value)| value <= 0)
                .map(|&(price, _)| price.saturating_sub(1))
        };
        // high = (first price with H < 0) − 1.
        let high = if self.base < 0 {
            Some(i64::MIN)
        } else {
            self.points
                .iter()
                .find(|&&(_, value)| value < 0)
                .map(|&(price, _)| price.saturating_sub(1))
        };
        (low, high)
    }
}

fn midpoint(low: i64, high: i64) -> i64 {
    let sum = low as i128 + high as i128;
    sum.div_euclid(2) as i64
}

/// An order's range of net demand at price `p`: `(lo, hi)`.
fn order_range(order: &TreeOrder, price: i64) -> (i128, i128) {
    let energy = order.energy.0 as i128;
    let limit = order.price.0;
    match order.side {
        Side::Buy => (
            if price < limit { energy } else { 0 },
            if price <= limit { energy } else { 0 },
        ),
        Side::Sell => (
            if price >= limit { -energy } else { 0 },
            if price > limit { -energy } else { 0 },
        ),
    }
}

/// Shares net demand `target` among members with ranges `[lo, hi]` (Σ lo ≤ target ≤ Σ hi),
/// trading as much as possible among them: buyers (lo ≥ 0) start at their most, sellers (hi ≤ 0)
/// at their most, members that may go either way (lo < 0 < hi) at zero. A shortfall of demand
/// is made up first by the two-way members buying, then by sellers selling less; an excess first
/// by the two-way members selling, then by buyers buying less. Each step is shared pro rata.
fn allocate(ranges: &[(i128, i128)], target: i128) -> Vec<i128> {
    let mut values: Vec<i128> = ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo >= 0 {
                hi
            } else if hi <= 0 {
                lo
            } else {
                0
            }
        })
        .collect();
    let start: i128 = values.iter().sum();
    let two_way = |&(lo, hi): &(i128, i128)| lo < 0 && hi > 0;
    if target > start {
        let mut missing = target - start;
        let flexible: Vec<i128> = ranges
            .iter()
            .map(|range| if two_way(range) { range.1 } else { 0 })
            .collect();
        let step = missing.min(flexible.iter().sum());
        share(step, &flexible, 1, &mut values);
        missing -= step;
        let sellers: Vec<i128> = ranges
            .iter()
            .map(|&(lo, hi)| if hi <= 0 { hi - lo } else { 0 })
            .collect();
        debug_assert!(missing <= sellers.iter().sum(), "the target is reachable");
        share(missing, &sellers, 1, &mut values);
    } else if target < start {
        let mut excess = start - target;
        let flexible: Vec<i128> = ranges
            .iter()
            .map(|range| if two_way(range) { -range.0 } else { 0 })
            .collect();
        let step = excess.min(flexible.iter().sum());
        share(step, &flexible, -1, &mut values);
        excess -= step;
        let buyers: Vec<i128> = ranges
            .iter()
            .map(|&(lo, hi)| if lo >= 0 { hi - lo } else { 0 })
            .collect();
        debug_assert!(excess <= buyers.iter().sum(), "the target is reachable");
        share(excess, &buyers, -1, &mut values);
    }
    values
}

/// Shares `total` (≤ Σ slacks) among `slacks` pro rata, rounded down, then one unit each to the
/// first members whose share was rounded. Adds the shares to `out` with `sign`.
fn share(total: i128, slacks: &[i128], sign: i128, out: &mut [i128]) {
    let sum: i128 = slacks.iter().sum();
    if total <= 0 || sum <= 0 {
        return;
    }
    let mut given = 0_i128;
    let mut rounded = Vec::new();
    for (index, &slack) in slacks.iter().enumerate() {
        if slack <= 0 {
            continue;
        }
        // slack ≤ sum < 2^63 and total ≤ sum: the product fits i128.
        let product = slack * total;
        let part = product / sum;
        if product % sum != 0 {
            rounded.push(index);
        }
        out[index] += sign * part;
        given += part;
    }
    let left = (total - given) as usize;
    debug_assert!(left <= rounded.len());
    for &index in rounded.iter().take(left) {
        out[index] += sign;
    }
}

/// Clears a curve region: see the module documentation. `out` is overwritten.
pub fn clear_tree(
    areas: &[TreeArea],
    orders: &[TreeOrder],
    out: &mut TreeClearing,
) -> Result<(), TreeError> {
    for (index, area) in areas.iter().enumerate() {
        let ordered = match (index, area.parent) {
            (0, None) => true,
            (_, Some(parent)) => index > 0 && (parent as usize) < index,
            _ => false,
        };
        if !ordered {
            return Err(TreeError::NotParentsFirst { area: index });
        }
        if area.fee.0 < 0 {
            return Err(TreeError::NegativeFee {
                area: index,
                fee: area.fee,
            });
        }
    }
    if orders.len() > TREE_ORDERS_MAX {
        return Err(TreeError::TooManyOrders {
            orders: orders.len(),
            limit: TREE_ORDERS_MAX,
        });
    }
    for (index, order) in orders.iter().enumerate() {
        if order.area as usize >= areas.len() {
            return Err(TreeError::UnknownArea {
                order: index,
                area: order.area,
            });
        }
        if order.energy.0 <= 0 || order.energy > TREE_ORDER_ENERGY_MAX {
            return Err(TreeError::EnergyOutOfRange {
                order: index,
                energy: order.energy,
                limit: TREE_ORDER_ENERGY_MAX,
            });
        }
    }
    let count = areas.len();
    out.prices.clear();
    out.prices.resize(count, None);
    out.imports.clear();
    out.imports.resize(count, 0);
    out.fills.clear();
    out.fills.resize(orders.len(), Energy::ZERO);
    out.matches.clear();
    if count == 0 {
        return Ok(());
    }

    let mut children: Vec<Vec<u32>> = vec![Vec::new(); count];
    for (index, area) in areas.iter().enumerate().skip(1) {
        if let Some(parent) = area.parent {
            children[parent as usize].push(index as u32);
        }
    }
    let mut own: Vec<Vec<u32>> = vec![Vec::new(); count];
    for (index, order) in orders.iter().enumerate() {
        own[order.area as usize].push(index as u32);
    }

    // Bottom-up: each area's net demand function.
    let mut steps: Vec<Steps> = vec![Steps::default(); count];
    for index in (0..count).rev() {
        // |Σ energy| ≤ TREE_ORDERS_MAX · TREE_ORDER_ENERGY_MAX = 2^62: sums fit i64.
        let mut base = 0_i64;
        let mut deltas = Vec::with_capacity(own[index].len());
        for &order in &own[index] {
            let order = &orders[order as usize];
            let energy = order.energy.0;
            if order.side == Side::Buy {
                base += energy;
            }
            deltas.push((order.price.0.saturating_add(1), -energy));
        }
        for &child in &children[index] {
            let area = &areas[child as usize];
            if area.connected {
                base += steps[child as usize].seen_through(area.fee.0, &mut deltas);
            }
        }
        steps[index] = Steps::from_deltas(base, deltas);
    }

    // Top-down: prices and allocations.
    let mut net = vec![0_i128; orders.len()];
    for index in 0..count {
        let area = &areas[index];
        let price = if index == 0 || !area.connected {
            match steps[index].zero_stretch() {
                (Some(low), Some(high)) => Some(midpoint(low, high)),
                _ => None,
            }
        } else {
            let parent = area.parent.expect("checked") as usize;
            match out.prices[parent] {
                None => None,
                Some(parent_price) => {
                    let fee = area.fee.0;
                    let import = out.imports[index];
                    Some(if import > 0 {
                        parent_price.0.saturating_add(fee)
                    } else if import < 0 {
                        parent_price.0.saturating_sub(fee)
                    } else {
                        let band = (
                            parent_price.0.saturating_sub(fee),
                            parent_price.0.saturating_add(fee),
                        );
                        let (low, high) = steps[index].zero_stretch();
                        let low = low.map_or(band.0, |low| low.max(band.0));
                        let high = high.map_or(band.1, |high| high.min(band.1));
                        debug_assert!(low <= high, "a balanced child has a price in its band");
                        midpoint(low, high.max(low))
                    })
                }
            }
        };
        let Some(price) = price else {
            continue;
        };
        out.prices[index] = Some(Price(price));
        let target = out.imports[index];
        // Members: the owners of own orders (each owner's orders as one curve), then connected
        // children.
        let (group_of, members) = owner_groups(&own[index], orders);
        let child_members: Vec<u32> = children[index]
            .iter()
            .copied()
            .filter(|&child| areas[child as usize].connected)
            .collect();
        let mut ranges: Vec<(i128, i128)> = vec![(0, 0); members];
        ranges.reserve(child_members.len());
        for (&order, &group) in own[index].iter().zip(&group_of) {
            let (lo, hi) = order_range(&orders[order as usize], price);
            let range = &mut ranges[group as usize];
            range.0 += lo;
            range.1 += hi;
        }
        for &child in &child_members {
            let steps = &steps[child as usize];
            let fee = areas[child as usize].fee.0;
            ranges.push((
                steps.seen_at(fee, price.saturating_add(1)) as i128,
                steps.seen_at(fee, price) as i128,
            ));
        }
        let values = allocate(&ranges, target);
        fill_owners(
            &own[index],
            &group_of,
            &values[..members],
            price,
            orders,
            &mut net,
        );
        for (&child, &value) in child_members.iter().zip(&values[members..]) {
            out.imports[child as usize] = value;
        }
    }

    // Bottom-up: pair what was filled.
    let mut passed: Vec<Vec<(u32, i128)>> = vec![Vec::new(); count];
    for index in (0..count).rev() {
        if out.prices[index].is_none() {
            continue;
        }
        let mut bids: Vec<(u32, i128)> = Vec::new();
        let mut offers: Vec<(u32, i128)> = Vec::new();
        for &order in &own[index] {
            let value = net[order as usize];
            if value > 0 {
                bids.push((order, value));
            } else if value < 0 {
                offers.push((order, -value));
            }
            out.fills[order as usize] = Energy(value.unsigned_abs() as i64);
        }
        for &child in &children[index] {
            let list = std::mem::take(&mut passed[child as usize]);
            match out.imports[child as usize] {
                import if import > 0 => bids.extend(list),
                import if import < 0 => offers.extend(list),
                _ => debug_assert!(list.is_empty()),
            }
        }
        let (mut bid, mut offer) = (0, 0);
        while bid < bids.len() && offer < offers.len() {
            let energy = bids[bid].1.min(offers[offer].1);
            out.matches.push(TreeMatch {
                area: index as u32,
                buy: bids[bid].0,
                sell: offers[offer].0,
                energy: Energy(energy as i64),
            });
            bids[bid].1 -= energy;
            offers[offer].1 -= energy;
            if bids[bid].1 == 0 {
                bid += 1;
            }
            if offers[offer].1 == 0 {
                offer += 1;
            }
        }
        let left: Vec<(u32, i128)> = bids[bid..]
            .iter()
            .chain(&offers[offer..])
            .copied()
            .filter(|&(_, energy)| energy > 0)
            .collect();
        debug_assert_eq!(
            left.iter().map(|&(_, energy)| energy).sum::<i128>(),
            out.imports[index].abs(),
            "what an area leaves unpaired is its net exchange"
        );
        passed[index] = left;
    }
    Ok(())
}

/// Clears one book as a curve region of one area (what [`crate::clear`] does for
/// [`Mechanism::Curve`](nestgrid_types::Mechanism)): appends the matches, each at the one price,
/// and returns that price, or `None` when nothing trades. Orders without positive energy are
/// ignored; energies above [`TREE_ORDER_ENERGY_MAX`] count as that much. Priority and keys play
/// no part: orders at the price share pro rata, in slice order for the rounding.
pub fn clear_book(bids: &[Order], offers: &[Order], matches: &mut Vec<Match>) -> Option<Price> {
    let owner = |participant: Participant| match participant {
        Participant::Asset(asset) => asset.0 as u64,
        Participant::Area(area) => (1 << 32) | area.0 as u64,
    };
    let mut orders = Vec::with_capacity(bids.len() + offers.len());
    let mut index = Vec::with_capacity(bids.len() + offers.len());
    for (side, list) in [(Side::Buy, bids), (Side::Sell, offers)] {
        for (position, order) in list.iter().enumerate() {
            if order.energy.0 <= 0 {
                continue;
            }
            orders.push(TreeOrder {
                area: 0,
                owner: owner(order.participant),
                side,
                energy: order.energy.min(TREE_ORDER_ENERGY_MAX),
                price: order.price,
            });
            index.push(position as u32);
        }
    }
    let area = TreeArea {
        parent: None,
        fee: Price::ZERO,
        connected: true,
    };
    let mut out = TreeClearing::default();
    if orders.len() > TREE_ORDERS_MAX {
        // Beyond the limit only the first orders of each side take part.
        orders.truncate(TREE_ORDERS_MAX);
        index.truncate(TREE_ORDERS_MAX);
    }
    clear_tree(&[area], &orders, &mut out).expect("one area, positive capped energies");
    let price = out.prices[0]?;
    if out.matches.is_empty() {
        return None;
    }
    for found in &out.matches {
        matches.push(Match::at(
            index[found.buy as usize],
            index[found.sell as usize],
            found.energy,
            price,
        ));
    }
    Some(price)
}

/// The group (owner) of each of an area's own orders, owners numbered in the order of their
/// first order, and the number of owners. O(n): owners are numbered on first sight in an
/// open-addressing table.
fn owner_groups(own: &[u32], orders: &[TreeOrder]) -> (Vec<u32>, usize) {
    let capacity = (own.len() * 2).next_power_of_two().max(2);
    let bits = capacity.trailing_zeros();
    let mask = capacity - 1;
    const EMPTY: u32 = u32::MAX;
    let mut table: Vec<(u64, u32)> = vec![(0, EMPTY); capacity];
    let mut group_of: Vec<u32> = Vec::with_capacity(own.len());
    let mut groups = 0_u32;
    for &order in own {
        let owner = orders[order as usize].owner;
        let mut slot = (owner.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
        let group = loop {
            match table[slot] {
                (_, EMPTY) => {
                    table[slot] = (owner, groups);
                    groups += 1;
                    break groups - 1;
                }
                (key, group) if key == owner => break group,
                _ => slot = (slot + 1) & mask,
            }
        };
        group_of.push(group);
    }
    (group_of, groups as usize)
}

/// Fills each owner's orders for its net demand `values[group]` at `price`: a positive value
/// from its bids that accept the price, a negative one from its offers that accept it — those
/// strictly inside their limit first, then those at it, each in input order. An owner never buys
/// and sells in one clearing.
fn fill_owners(
    own: &[u32],
    group_of: &[u32],
    values: &[i128],
    price: i64,
    orders: &[TreeOrder],
    net: &mut [i128],
) {
    let mut left: Vec<i128> = values.to_vec();
    for at_limit in [false, true] {
        for (&order, &group) in own.iter().zip(group_of) {
            let want = left[group as usize];
            if want == 0 {
                continue;
            }
            let found = &orders[order as usize];
            let limit = found.price.0;
            let accepts = match found.side {
                Side::Buy => {
                    want > 0
                        && if at_limit {
                            limit == price
                        } else {
                            limit > price
                        }
                }
                Side::Sell => {
                    want < 0
                        && if at_limit {
                            limit == price
                        } else {
                            limit < price
                        }
                }
            };
            if !accepts {
                continue;
            }
            let take = want.abs().min(found.energy.0 as i128);
            let signed = if want > 0 { take } else { -take };
            net[order as usize] = signed;
            left[group as usize] -= signed;
        }
    }
    debug_assert!(
        left.iter().all(|&value| value == 0),
        "an owner's net demand lies within its orders"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top() -> TreeArea {
        TreeArea {
            parent: None,
            fee: Price::ZERO,
            connected: true,
        }
    }

    fn child(parent: u32, fee: i64) -> TreeArea {
        TreeArea {
            parent: Some(parent),
            fee: Price(fee),
            connected: true,
        }
    }

    fn order(area: u32, owner: u64, side: Side, energy: i64, price: i64) -> TreeOrder {
        TreeOrder {
            area,
            owner,
            side,
            energy: Energy(energy),
            price: Price(price),
        }
    }

    fn cleared(areas: &[TreeArea], orders: &[TreeOrder]) -> TreeClearing {
        let mut out = TreeClearing::default();
        clear_tree(areas, orders, &mut out).expect("valid input");
        out
    }

    #[test]
    fn one_market_clears_at_the_middle_of_the_stretch() {
        // A bid of 5 at 10 and an offer of 5 at 4: zero net demand can be met at every price
        // from 4 (the offer at its limit, supplying 0..5) to 10 (the bid at its limit).
        // H(p) = 5 for p ≤ 4, 0 for 5..=10, −5 from 11: the stretch is [4, 10], price 7.
        let out = cleared(
            &[top()],
            &[order(0, 1, Side::Buy, 5, 10), order(0, 2, Side::Sell, 5, 4)],
        );
        assert_eq!(out.prices, vec![Some(Price(7))]);
        assert_eq!(out.fills, vec![Energy(5), Energy(5)]);
        assert_eq!(
            out.matches,
            vec![TreeMatch {
                area: 0,
                buy: 0,
                sell: 1,
                energy: Energy(5)
            }]
        );
    }

    #[test]
    fn the_marginal_side_is_shared_pro_rata() {
        // Offers: 10 at 3. Bids: 4 at 8, and two of 6 and 2 at exactly 5. H(p) = 12 for p ≤ 3,
        // 12 − 10 = 2 at 4..=5, −6 at 6..=8, −10 from 9. Stretch: H(p+1) ≤ 0 at p ≥ 5, H(p) ≥ 0
        // up to p = 5: price 5. The bid at 8 takes 4 in full, and the two bids at their limit
        // start at their full 6 and 2: 12 wanted against 10 offered. The 2 too many are taken
        // off pro rata to 6 and 2: 1.5 and 0.5, rounded down to 1 and 0, and the unit left by
        // rounding goes to the first rounded one: 2 and 0 off, so they get 4 and 2.
        let out = cleared(
            &[top()],
            &[
                order(0, 1, Side::Sell, 10, 3),
                order(0, 2, Side::Buy, 4, 8),
                order(0, 3, Side::Buy, 6, 5),
                order(0, 4, Side::Buy, 2, 5),
            ],
        );
        assert_eq!(out.prices, vec![Some(Price(5))]);
        assert_eq!(out.fills, vec![Energy(10), Energy(4), Energy(4), Energy(2)]);
    }

    #[test]
    fn a_fee_opens_a_dead_band() {
        // Top area 0 with a grid seller at 30 and a buyer of 1 at 100 (to anchor the top), and
        // a child behind a fee of 2 with a seller of 5 at 10 and a buyer of 3 at 20.
        // Inside the child: local trade of 3. Its surplus of 2 is exported at the parent's price
        // minus 2. At the top: supply 2 from the child at P ≥ 12 (its limit 10 + fee 2) and the
        // grid from 30; demand 1 at ≤ 100. H_top(p) = 1 − (child export at p) − ...: the
        // child's offer covers the top's bid of 1 at any p in [12, 30]; the stretch is where the
        // child exports 1..2 — from 12 (seller at limit 10 = P − 2, indifferent) up to 30
        // (grid indifferent). H_top(p) = 1 for p ≤ 11, at 12: the child's export range is
        // [−2, 0] so H = 1; from 13 on H = 1 − 2 = −1 until the grid joins. Stretch: H(p+1) ≤ 0
        // from p = 12, H(p) ≥ 0 up to 12: price 12. The child exports 1 at 12 − 2 = 10.
        let areas = [top(), child(0, 2)];
        let orders = [
            order(0, 1, Side::Sell, 1_000, 30),
            order(0, 2, Side::Buy, 1, 100),
            order(1, 3, Side::Sell, 5, 10),
            order(1, 4, Side::Buy, 3, 20),
        ];
        let out = cleared(&areas, &orders);
        assert_eq!(out.prices, vec![Some(Price(12)), Some(Price(10))]);
        assert_eq!(out.imports, vec![0, -1]);
        assert_eq!(out.fills, vec![Energy(0), Energy(1), Energy(4), Energy(3)]);
        // The child pairs its own 3, and its offer's last unit goes up to the top's bid.
        assert_eq!(
            out.matches,
            vec![
                TreeMatch {
                    area: 1,
                    buy: 3,
                    sell: 2,
                    energy: Energy(3)
                },
                TreeMatch {
                    area: 0,
                    buy: 1,
                    sell: 2,
                    energy: Energy(1)
                },
            ]
        );
    }

    #[test]
    fn a_balanced_child_prices_itself_inside_its_band() {
        // The top trades at 50 (a bid and an offer of its own at 50 set it); the child behind a
        // fee of 10 holds a bid at 45 and an offer at 55: neither reaches the top (45 < 50 + 10
        // and 55 > 50 − 10), and they do not cross each other, so the child balances at zero.
        // Its own stretch is H(p+1) ≤ 0 ≤ H(p): from 45 (bid at its limit) to 55 (offer at its
        // limit); inside the band [40, 60], its midpoint is 50.
        let areas = [top(), child(0, 10)];
        let orders = [
            order(0, 1, Side::Buy, 5, 50),
            order(0, 2, Side::Sell, 5, 50),
            order(1, 3, Side::Buy, 1, 45),
            order(1, 4, Side::Sell, 1, 55),
        ];
        let out = cleared(&areas, &orders);
        assert_eq!(out.prices, vec![Some(Price(50)), Some(Price(50))]);
        assert_eq!(out.fills, vec![Energy(5), Energy(5), Energy(0), Energy(0)]);
    }

    #[test]
    fn an_islanded_child_trades_alone() {
        let areas = [
            top(),
            TreeArea {
                parent: Some(0),
                fee: Price::ZERO,
                connected: false,
            },
        ];
        let orders = [
            order(0, 1, Side::Sell, 10, 1),
            order(1, 2, Side::Buy, 4, 100),
            order(1, 3, Side::Sell, 1, 50),
        ];
        let out = cleared(&areas, &orders);
        // The top has only an offer: no price. In the child, demand exceeds supply at every price
        // below the bid's limit (the bid wants all 4 there), so zero net demand is met only at
        // 100, where the bid takes what the offer has.
        assert_eq!(out.prices, vec![None, Some(Price(100))]);
        assert_eq!(out.fills, vec![Energy(0), Energy(1), Energy(1)]);
    }

    #[test]
    fn an_owner_never_trades_with_itself() {
        // One owner bids 5 at 10 and offers 5 at 2; the stretch is [2, 10] and both would be
        // filled in full: netting leaves nothing.
        let out = cleared(
            &[top()],
            &[order(0, 1, Side::Buy, 5, 10), order(0, 1, Side::Sell, 5, 2)],
        );
        assert_eq!(out.fills, vec![Energy(0), Energy(0)]);
        assert!(out.matches.is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        let mut out = TreeClearing::default();
        assert_eq!(
            clear_tree(&[top(), top()], &[], &mut out),
            Err(TreeError::NotParentsFirst { area: 1 })
        );
        assert_eq!(
            clear_tree(&[top(), child(0, -1)], &[], &mut out),
            Err(TreeError::NegativeFee {
                area: 1,
                fee: Price(-1)
            })
        );
        assert!(matches!(
            clear_tree(&[top()], &[order(1, 1, Side::Buy, 1, 1)], &mut out),
            Err(TreeError::UnknownArea { order: 0, area: 1 })
        ));
        assert!(matches!(
            clear_tree(&[top()], &[order(0, 1, Side::Buy, 0, 1)], &mut out),
            Err(TreeError::EnergyOutOfRange { order: 0, .. })
        ));
    }
}
