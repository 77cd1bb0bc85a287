//! Trade chains: one match, priced in every market on its path.
//!
//! A match between a bid and an offer happens in one market, but the energy travels the tree
//! path from the seller's market up to the lowest common ancestor (LCA) and down to the buyer's
//! market. Every market on that path records the trade as *it* saw it (the area agents standing
//! for the owners), and every area on the path except the LCA charges its fee once, for the
//! energy crossing its boundary.
//!
//! Pricing rule: the price `p` of the matching market is fixed. Walking toward the seller, each
//! boundary lowers the price like a forwarded bid (`fee.forward(Buy, ·)`); walking toward the
//! buyer, each boundary raises it like a forwarded offer (`fee.forward(Sell, ·)`). Because orders
//! were forwarded with the inverse rule, every step keeps `offer ≤ price ≤ bid` in that market,
//! so the seller never receives less than its offer and the buyer never pays more than its bid.
//! Money is rounded once per market (`Money::for_energy`); the fee at a boundary is the
//! difference of the two neighbouring amounts, so buyer paid = seller received + Σ fees exactly.
//!
//! Two-price mechanisms (the buyer pays more than the seller receives in the matching market)
//! add one step: in the matching market the seller's side is priced at the seller price and the
//! buyer's side at the buyer price; the difference is the operator surplus of that market, so
//! buyer paid = seller received + Σ fees + surplus.

use nestgrid_grid::Topology;
use nestgrid_types::{AreaId, Energy, Money, Price, Side};

/// The priced path of one match, seller's market first.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    /// Markets from the seller's area to the buyer's area.
    pub markets: Vec<AreaId>,
    /// Price in each market.
    pub prices: Vec<Price>,
    /// Money for the energy in each market.
    pub amounts: Vec<Money>,
    /// Position of the lowest common ancestor in `markets`.
    pub top: usize,
    /// Position of the matching market in `markets`.
    pub at: usize,
    /// Money on the buyer's side of the matching market (equal to `amounts[at]`, the seller's
    /// side, for single-price mechanisms).
    pub buyer_amount_at: Money,
    /// The buyer's price in the matching market.
    pub buyer_price_at: Price,
}

impl Chain {
    /// Prices the path of `energy` matched at one `price` in market `at`.
    #[cfg(test)]
    pub fn build(
        &mut self,
        topology: &Topology,
        seller_area: AreaId,
        buyer_area: AreaId,
        at: AreaId,
        price: Price,
        energy: Energy,
    ) {
        self.build_two_prices(
            topology,
            seller_area,
            buyer_area,
            at,
            (price, price),
            energy,
        );
    }

    /// Prices the path of `energy` matched in market `at` at `(seller_price, buyer_price)`,
    /// sold from `seller_area` and bought into `buyer_area`. Reuses the vectors.
    pub fn build_two_prices(
        &mut self,
        topology: &Topology,
        seller_area: AreaId,
        buyer_area: AreaId,
        at: AreaId,
        (seller_price, buyer_price): (Price, Price),
        energy: Energy,
    ) {
        debug_assert!(seller_price <= buyer_price);
        self.markets.clear();
        let areas = &topology.areas;
        // Seller side: up from the seller's market until the area that contains the buyer.
        let mut up = seller_area;
        while !topology.contains(up, buyer_area) {
            self.markets.push(up);
            up = areas[up.index()].parent.expect("root contains every area");
        }
        self.top = self.markets.len();
        self.markets.push(up);
        // Buyer side: down from the LCA to the buyer's market (collected upward, then reversed).
        let start = self.markets.len();
        let mut down = buyer_area;
        while down != up {
            self.markets.push(down);
            down = areas[down.index()]
                .parent
                .expect("non-root area has a parent");
        }
        self.markets[start..].reverse();

        let at_index = self
            .markets
            .iter()
            .position(|&market| market == at)
            .expect("a match happens on the path between its orders");
        let count = self.markets.len();
        self.at = at_index;
        self.prices.clear();
        self.prices.resize(count, Price::ZERO);
        self.prices[at_index] = seller_price;
        for index in (0..at_index).rev() {
            let fee = areas[self.lower(index).index()].fee;
            self.prices[index] = fee.forward(Side::Buy, self.prices[index + 1]);
        }
        let mut previous = buyer_price;
        for index in at_index + 1..count {
            let fee = areas[self.lower(index - 1).index()].fee;
            previous = fee.forward(Side::Sell, previous);
            self.prices[index] = previous;
        }
        self.amounts.clear();
        self.amounts.extend(
            self.prices
                .iter()
                .map(|&price| Money::for_energy(price, energy)),
        );
        self.buyer_amount_at = Money::for_energy(buyer_price, energy);
        self.buyer_price_at = buyer_price;
    }

    /// The price a market on the path records: the buyer's price in the matching market, the
    /// energy's price everywhere else.
    pub fn recorded_price(&self, index: usize) -> Price {
        if index == self.at {
            self.buyer_price_at
        } else {
            self.prices[index]
        }
    }

    /// The operator surplus of the matching market.
    pub fn surplus(&self) -> Money {
        self.buyer_amount_at - self.amounts[self.at]
    }

    /// The area whose boundary lies between `markets[index]` and `markets[index + 1]`: the
    /// lower of the two (below the LCA on the seller side, the next one on the buyer side).
    pub fn lower(&self, index: usize) -> AreaId {
        if index < self.top {
            self.markets[index]
        } else {
            self.markets[index + 1]
        }
    }

    /// The fee collected at the boundary between `markets[index]` and `markets[index + 1]`.
    pub fn fee(&self, index: usize) -> Money {
        let below = if index == self.at {
            self.buyer_amount_at
        } else {
            self.amounts[index]
        };
        self.amounts[index + 1] - below
    }

    /// Fees on the buyer's side of the path (boundaries between the LCA and the buyer).
    pub fn buyer_fees(&self) -> Money {
        (self.top..self.markets.len() - 1)
            .map(|index| self.fee(index))
            .sum()
    }

    /// Fees on the seller's side of the path (boundaries between the seller and the LCA).
    pub fn seller_fees(&self) -> Money {
        (0..self.top).map(|index| self.fee(index)).sum()
    }

    /// What the buyer pays in total.
    pub fn buyer_pays(&self) -> Money {
        if self.at + 1 == self.markets.len() {
            self.buyer_amount_at
        } else {
            *self
                .amounts
                .last()
                .expect("a chain has at least one market")
        }
    }

    /// What the seller receives.
    pub fn seller_receives(&self) -> Money {
        self.amounts[0]
    }

    /// What the buyer spent on energy: what it paid less the fees on its side of the path.
    pub fn buyer_spent(&self) -> Money {
        self.buyer_pays() - self.buyer_fees()
    }

    /// What the seller earned for energy: what it received plus the fees on its side.
    pub fn seller_earned(&self) -> Money {
        self.seller_receives() + self.seller_fees()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_grid::{Area, Settings, Topology};
    use nestgrid_types::{GridFee, Mechanism};

    /// root(0) ─ street(1) ─ house(2)
    ///         │           └ house(3)
    ///         └ street(4) ─ house(5)
    pub(crate) fn three_levels(fee: GridFee) -> Topology {
        let parents = [None, Some(0), Some(1), Some(1), Some(0), Some(4)];
        let depth = [0, 1, 2, 2, 1, 2];
        let areas = parents
            .iter()
            .enumerate()
            .map(|(index, parent)| Area {
                name: format!("a{index}"),
                path: format!("a{index}"),
                parent: parent.map(AreaId),
                children: parents
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| **p == Some(index as u32))
                    .map(|(child, _)| AreaId(child as u32))
                    .collect(),
                assets: vec![],
                depth: depth[index],
                fee,
                mechanism: Mechanism::PayAsBid,
                import_limit: None,
                export_limit: None,
            })
            .collect();
        Topology {
            settings: Settings {
                name: "t".into(),
                start: "2026-06-21T00:00[UTC]".parse().unwrap(),
                slot_seconds: 900,
                tick_seconds: 15,
                slot_count: 1,
                seed: 0,
                currency: "EUR".into(),
                latitude: 0.0,
                longitude: 0.0,
                forward_after_ticks: 1,
                forecast_error_ppm: 0,
            },
            areas,
            assets: vec![],
            profiles: vec![],
            bottom_up: [2, 3, 1, 5, 4, 0].map(AreaId).to_vec(),
            subtree_end: vec![6, 4, 3, 4, 6, 6],
        }
    }

    #[test]
    fn three_level_chain_books_each_fee_once() {
        let topology = three_levels(GridFee::Constant(Price(10_000)));
        let mut chain = Chain::default();
        // House 2 sells to house 5, matched at the root at 0.20/kWh for 1 kWh.
        chain.build(
            &topology,
            AreaId(2),
            AreaId(5),
            AreaId(0),
            Price(200_000),
            Energy(1_000_000),
        );
        assert_eq!(chain.markets, [2, 1, 0, 4, 5].map(AreaId));
        assert_eq!(chain.top, 2);
        assert_eq!(
            chain.prices,
            [180_000, 190_000, 200_000, 210_000, 220_000].map(Price)
        );
        let lowers: Vec<AreaId> = (0..4).map(|index| chain.lower(index)).collect();
        assert_eq!(lowers, [2, 1, 4, 5].map(AreaId));
        let fees: Money = (0..4).map(|index| chain.fee(index)).sum();
        assert_eq!(fees, Money(40_000));
        assert_eq!(chain.buyer_pays(), chain.seller_receives() + fees);
    }

    #[test]
    fn siblings_skip_the_common_parent_fee() {
        let topology = three_levels(GridFee::Constant(Price(10_000)));
        let mut chain = Chain::default();
        chain.build(
            &topology,
            AreaId(2),
            AreaId(3),
            AreaId(3),
            Price(200_000),
            Energy(500_000),
        );
        assert_eq!(chain.markets, [2, 1, 3].map(AreaId));
        assert_eq!(chain.prices, [180_000, 190_000, 200_000].map(Price));
        // Within one area: no boundary, no fee.
        chain.build(
            &topology,
            AreaId(2),
            AreaId(2),
            AreaId(2),
            Price(200_000),
            Energy(500_000),
        );
        assert_eq!(chain.markets, [AreaId(2)]);
        assert_eq!(chain.buyer_pays(), chain.seller_receives());
    }

    #[test]
    fn a_spread_is_the_matching_market_s_surplus() {
        let topology = three_levels(GridFee::Constant(Price(10_000)));
        let mut chain = Chain::default();
        let energy = Energy(1_000_000);
        // House 2 sells to house 5; matched at the root, buyer pays 0.22, seller gets 0.20.
        chain.build_two_prices(
            &topology,
            AreaId(2),
            AreaId(5),
            AreaId(0),
            (Price(200_000), Price(220_000)),
            energy,
        );
        assert_eq!(
            chain.prices,
            [180_000, 190_000, 200_000, 230_000, 240_000].map(Price)
        );
        assert_eq!(chain.surplus(), Money(20_000));
        let fees: Money = (0..4).map(|index| chain.fee(index)).sum();
        assert_eq!(fees, Money(40_000));
        assert_eq!(
            chain.buyer_pays(),
            chain.seller_receives() + fees + chain.surplus()
        );
        assert_eq!(chain.buyer_spent() - chain.seller_earned(), chain.surplus());
        // Matched in the buyer's own market: the spread is still only that market's.
        chain.build_two_prices(
            &topology,
            AreaId(2),
            AreaId(5),
            AreaId(5),
            (Price(200_000), Price(205_000)),
            energy,
        );
        assert_eq!(chain.buyer_pays(), Money(205_000));
        assert_eq!(chain.surplus(), Money(5_000));
        let fees: Money = (0..4).map(|index| chain.fee(index)).sum();
        assert_eq!(
            chain.buyer_pays(),
            chain.seller_receives() + fees + chain.surplus()
        );
    }

    #[test]
    fn percentage_fees_conserve_money() {
        let topology = three_levels(GridFee::PartsPerMillion(33_333));
        let mut chain = Chain::default();
        chain.build(
            &topology,
            AreaId(5),
            AreaId(3),
            AreaId(1),
            Price(123_457),
            Energy(777_777),
        );
        let fees: Money = (0..chain.markets.len() - 1)
            .map(|index| chain.fee(index))
            .sum();
        assert_eq!(chain.buyer_pays(), chain.seller_receives() + fees);
        assert!(chain.prices.windows(2).all(|pair| pair[0] <= pair[1]));
    }
}
