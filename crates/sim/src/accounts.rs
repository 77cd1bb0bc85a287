//! Running totals: per-asset bills, per-area totals and the per-slot area record.
//!
//! Sign conventions: energies are non-negative amounts in one direction (`imported`,
//! `exported`, ...). Money fields are non-negative amounts except `imbalance_paid`, which is
//! positive when the asset paid for a shortage and negative when it was paid for a surplus.

use nestgrid_types::{Energy, Money, Price};

/// Totals of one asset over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetAccount {
    /// Energy bought in markets.
    pub bought: Energy,
    /// Energy sold in markets.
    pub sold: Energy,
    /// Metered energy from the grid into the asset.
    pub energy_in: Energy,
    /// Metered energy from the asset into the grid.
    pub energy_out: Energy,
    /// Paid for bought energy at the price where the trade's path turned (fees excluded).
    pub spent: Money,
    /// Received for sold energy at the price where the trade's path turned (fees excluded).
    pub earned: Money,
    /// Grid fees on the asset's side of its trades' paths.
    pub fees_paid: Money,
    /// Net imbalance energy: positive = took more than it bought (or delivered less than sold).
    pub imbalance_energy: Energy,
    /// Paid for imbalances (negative = received).
    pub imbalance_paid: Money,
    /// What the asset's metered energy would have cost with only the grid connection.
    pub base_cost: Money,
    /// Energy traded with counterparts in the same area.
    pub traded_inside: Energy,
    /// Energy traded with counterparts outside its area.
    pub traded_outside: Energy,
    /// Largest metered energy in one slot, into the asset.
    pub peak_in: Energy,
    /// Largest metered energy in one slot, out of the asset.
    pub peak_out: Energy,
}

impl AssetAccount {
    /// Net cost: spent + fees + imbalance − earned (negative = net income).
    pub fn net_cost(&self) -> Money {
        self.spent + self.fees_paid + self.imbalance_paid - self.earned
    }
}

/// One area in one slot (a row of `area_slots.csv`). Energies of the subtree unless noted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AreaSlot {
    /// Bought in markets by the subtree's assets.
    pub bought: Energy,
    /// Sold in markets by the subtree's assets.
    pub sold: Energy,
    /// Crossed the area's boundary inward (trades and imbalance deliveries).
    pub imported: Energy,
    /// Crossed the area's boundary outward.
    pub exported: Energy,
    /// Metered production of PV and generators.
    pub production: Energy,
    /// Metered consumption of loads.
    pub consumption: Energy,
    /// Metered charging of batteries and vehicles.
    pub storage_charge: Energy,
    /// Metered discharging of batteries and vehicles.
    pub storage_discharge: Energy,
    /// Energy grid connections inside the area supplied.
    pub grid_supply: Energy,
    /// Energy grid connections inside the area took in.
    pub grid_absorb: Energy,
    /// Energy the subtree's meters demanded beyond what was traded, with no grid connection
    /// anywhere to supply it (only in scenarios without one): load that went unserved.
    pub unserved: Energy,
    /// Energy produced beyond what was traded, with no grid connection to take it: curtailed.
    pub curtailed: Energy,
    /// Energy traded in this area's own market (each trade once).
    pub market_energy: Energy,
    /// Number of trades in this area's own market.
    pub trades: u32,
    /// Lowest trade price in this area's market.
    pub price_min: Option<Price>,
    /// Highest trade price in this area's market.
    pub price_max: Option<Price>,
    /// Σ price × energy of this market's trades (for the energy-weighted mean).
    pub price_energy: i128,
}

impl AreaSlot {
    /// Energy used inside the area: consumption plus charging.
    pub fn local_use(&self) -> Energy {
        self.consumption + self.storage_charge
    }
    /// Energy produced inside the area: production plus discharging.
    pub fn local_production(&self) -> Energy {
        self.production + self.storage_discharge
    }
    /// Energy from outside: imports plus what grid connections inside supplied (plus unserved
    /// demand, which the balance counts as if supplied from nowhere).
    pub fn external_in(&self) -> Energy {
        self.imported + self.grid_supply + self.unserved
    }
    /// Energy to outside: exports plus what grid connections inside took in (plus curtailment).
    pub fn external_out(&self) -> Energy {
        self.exported + self.grid_absorb + self.curtailed
    }
    /// Local use covered by local production in this slot: `min(local use, local production)`.
    /// Imports and exports are gross market volumes (an area may export a trade and import an
    /// imbalance in one slot); physically only their net crosses, so what was used locally and
    /// produced locally is the smaller of the two.
    pub fn self_consumed(&self) -> Energy {
        self.local_use().min(self.local_production())
    }
    /// Net physical inflow from outside (positive) or outflow (negative).
    pub fn net_external_in(&self) -> Energy {
        self.external_in() - self.external_out()
    }
    /// Energy-weighted mean trade price in this market.
    pub fn price_mean(&self) -> Option<Price> {
        (self.market_energy.0 > 0)
            .then(|| Price((self.price_energy / self.market_energy.0 as i128) as i64))
    }
    /// Records one trade of this market.
    pub fn add_trade(&mut self, price: Price, energy: Energy) {
        self.trades += 1;
        self.market_energy += energy;
        self.price_energy += price.0 as i128 * energy.0 as i128;
        self.price_min = Some(self.price_min.map_or(price, |low| low.min(price)));
        self.price_max = Some(self.price_max.map_or(price, |high| high.max(price)));
    }
    /// Adds the subtree-additive fields of a child's record.
    pub fn add_subtree(&mut self, child: &AreaSlot) {
        self.bought += child.bought;
        self.sold += child.sold;
        self.production += child.production;
        self.consumption += child.consumption;
        self.storage_charge += child.storage_charge;
        self.storage_discharge += child.storage_discharge;
        self.grid_supply += child.grid_supply;
        self.grid_absorb += child.grid_absorb;
        self.unserved += child.unserved;
        self.curtailed += child.curtailed;
    }
}

/// Totals of one area over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AreaAccount {
    /// Fees this area collected for energy crossing its boundary.
    pub fees_collected: Money,
    /// Energy traded between two parties of the subtree whose path turned in this market.
    pub traded_inside: Energy,
    /// Energy of trades that crossed this area's boundary (in either direction).
    pub traded_across: Energy,
    /// Operator surplus of two-price clearings in this market.
    pub surplus_collected: Money,
    /// Sum over slots of the record's fields.
    pub totals: AreaSlot,
    /// Σ self-consumed energy.
    pub self_consumed: Energy,
    /// Largest net inflow from outside in one slot.
    pub peak_external_in: Energy,
    /// Largest net outflow to outside in one slot.
    pub peak_external_out: Energy,
    /// Number of trades in this market.
    pub trades: u64,
}

impl AreaAccount {
    /// Folds one slot's record into the totals.
    pub fn add_slot(&mut self, slot: &AreaSlot) {
        let totals = &mut self.totals;
        totals.add_subtree(slot);
        totals.imported += slot.imported;
        totals.exported += slot.exported;
        totals.market_energy += slot.market_energy;
        totals.price_energy += slot.price_energy;
        totals.trades = totals.trades.saturating_add(slot.trades);
        if let Some(low) = slot.price_min {
            totals.price_min = Some(totals.price_min.map_or(low, |value| value.min(low)));
        }
        if let Some(high) = slot.price_max {
            totals.price_max = Some(totals.price_max.map_or(high, |value| value.max(high)));
        }
        self.trades += slot.trades as u64;
        self.self_consumed += slot.self_consumed();
        self.peak_external_in = self.peak_external_in.max(slot.net_external_in());
        self.peak_external_out = self.peak_external_out.max(-slot.net_external_in());
    }
}
