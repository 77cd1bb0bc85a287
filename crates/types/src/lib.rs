//! Shared vocabulary of nestgrid: integer units, identifiers, orders and trades.
//!
//! Every other crate speaks in these types. Inside the engine all quantities are integers:
//!
//! | type | unit | backing |
//! | --- | --- | --- |
//! | [`Energy`] | milliwatt-hour (mWh) | `i64` (±9.2·10¹⁵ kWh, far beyond any grid) |
//! | [`Power`] | milliwatt (mW) | `i64` |
//! | [`Price`] | micro-units of the currency per kWh | `i64` |
//! | [`Money`] | micro-units of the currency | `i64` (±9.2·10¹² currency units) |
//!
//! Products of two quantities (price × energy) are formed in `i128` and rounded once, at a named
//! boundary ([`Money::for_energy`], rounding half away from zero). Decimal strings appear only at
//! the edges: [`decimal::parse_fixed`] reads them exactly (no binary floating point), and the
//! `Display` impls write them back.
//!
//! Invariants the types keep: an [`Order`] has positive energy; [`Participant`] identities are
//! what a market *sees* — an asset of its own area, or an area agent standing for everything
//! behind it — so "no self-trade" is simply "never match two orders with equal participant".

pub mod decimal;
pub mod limits;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// Milliwatt-hours in one kilowatt-hour.
pub const MWH_PER_KWH: i64 = 1_000_000;
/// Micro-units in one currency unit.
pub const MICRO_PER_UNIT: i64 = 1_000_000;

macro_rules! int_newtype {
    ($(#[$doc:meta])* $name:ident, $scale:expr, $suffix:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// Largest representable value.
            pub const MAX: Self = Self(i64::MAX);
            /// Number of integer units in one displayed unit.
            pub const SCALE: i64 = $scale;

            /// Parses a decimal string in displayed units (exact; rejects excess digits).
            pub fn parse_decimal(text: &str) -> Result<Self, decimal::DecimalError> {
                decimal::parse_fixed(text, $scale).map(Self)
            }
            /// Converts a float in displayed units, rounding to the nearest integer unit.
            /// Only for physics and forecasts (STYLE 1): never in clearing or settlement.
            pub fn from_f64_round(value: f64) -> Self {
                Self((value * $scale as f64).round() as i64)
            }
            /// The value in displayed units as a float (for reports and physics only).
            pub fn as_f64(self) -> f64 {
                self.0 as f64 / $scale as f64
            }
            /// Checked addition.
            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map(Self)
            }
            /// Checked subtraction.
            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).map(Self)
            }
            /// Saturating addition.
            pub fn saturating_add(self, other: Self) -> Self {
                Self(self.0.saturating_add(other.0))
            }
            /// Saturating subtraction.
            pub fn saturating_sub(self, other: Self) -> Self {
                Self(self.0.saturating_sub(other.0))
            }
            /// The smaller of two values.
            pub fn min(self, other: Self) -> Self {
                if self <= other { self } else { other }
            }
            /// The larger of two values.
            pub fn max(self, other: Self) -> Self {
                if self >= other { self } else { other }
            }
            /// True when strictly positive.
            pub fn is_positive(self) -> bool {
                self.0 > 0
            }
        }
        impl Add for $name {
            type Output = Self;
            fn add(self, other: Self) -> Self {
                Self(self.0 + other.0)
            }
        }
        impl Sub for $name {
            type Output = Self;
            fn sub(self, other: Self) -> Self {
                Self(self.0 - other.0)
            }
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, other: Self) {
                self.0 += other.0;
            }
        }
        impl SubAssign for $name {
            fn sub_assign(&mut self, other: Self) {
                self.0 -= other.0;
            }
        }
        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }
        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                Self(iter.map(|value| value.0).sum())
            }
        }
        impl fmt::Display for $name {
            /// Writes the value in displayed units with all significant decimals, e.g. `1.25`.
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&decimal::format_fixed(self.0, $scale))?;
                if formatter.alternate() {
                    formatter.write_str($suffix)?;
                }
                Ok(())
            }
        }
    };
}

int_newtype!(
    /// Energy in milliwatt-hours; displayed in kWh.
    Energy,
    MWH_PER_KWH,
    " kWh"
);
int_newtype!(
    /// Power in milliwatts; displayed in kW.
    Power,
    MWH_PER_KWH,
    " kW"
);
int_newtype!(
    /// Price in micro-units of the currency per kWh; displayed in currency units per kWh.
    Price,
    MICRO_PER_UNIT,
    "/kWh"
);
int_newtype!(
    /// Money in micro-units of the currency; displayed in currency units.
    Money,
    MICRO_PER_UNIT,
    ""
);

impl Energy {
    /// Energy from a whole number of watt-hours.
    pub const fn from_wh(wh: i64) -> Self {
        Self(wh * 1_000)
    }
    /// Energy from a whole number of kilowatt-hours.
    pub const fn from_kwh(kwh: i64) -> Self {
        Self(kwh * MWH_PER_KWH)
    }
}

impl Power {
    /// Power from a whole number of watts.
    pub const fn from_w(w: i64) -> Self {
        Self(w * 1_000)
    }
    /// Power from a whole number of kilowatts.
    pub const fn from_kw(kw: i64) -> Self {
        Self(kw * MWH_PER_KWH)
    }
    /// Energy delivered at this power for `seconds`, rounded toward zero.
    pub fn energy_over(self, seconds: u32) -> Energy {
        Energy(((self.0 as i128 * seconds as i128) / 3_600) as i64)
    }
    /// Average power that delivers `energy` in `seconds`, rounded toward zero.
    pub fn average(energy: Energy, seconds: u32) -> Power {
        if seconds == 0 {
            return Power::ZERO;
        }
        Power(((energy.0 as i128 * 3_600) / seconds as i128) as i64)
    }
}

impl Price {
    /// Price from a whole number of micro-units per kWh.
    pub const fn from_micro(micro: i64) -> Self {
        Self(micro)
    }
}

impl Money {
    /// The money for `energy` at `price`: price × energy / 1 kWh, computed in `i128` and rounded
    /// half away from zero to a micro-unit. Saturates at the `i64` range (never reached for any
    /// physical quantity: 9.2·10¹² currency units).
    #[inline]
    pub fn for_energy(price: Price, energy: Energy) -> Money {
        let product = price.0 as i128 * energy.0 as i128;
        let divisor = MWH_PER_KWH as i128;
        let half = divisor / 2;
        let rounded = if product >= 0 {
            (product + half) / divisor
        } else {
            (product - half) / divisor
        };
        Money(rounded.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
}

/// Index of an area in the arena (0 is the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AreaId(pub u32);

/// Index of an asset in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetId(pub u32);

impl AreaId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl AssetId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Who a market sees on the other side of an order: one of its own assets, or an area agent
/// (a child area forwarding its residual orders up, or the parent forwarding its orders down).
/// Owners behind an area agent are hidden from the market by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Participant {
    /// An asset attached directly to the market's area.
    Asset(AssetId),
    /// The agent of another area (a child, or the parent).
    Area(AreaId),
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A bid: wants to buy energy at or below its price.
    Buy,
    /// An offer: wants to sell energy at or above its price.
    Sell,
}

/// Index of a slot (delivery interval) from the start of the simulation.
pub type SlotIndex = u32;
/// Index of a tick inside a slot's trading window.
pub type TickIndex = u32;

/// One order as a market sees it: side, energy, limit price, participant and priority.
///
/// `key` is opaque to the market: the engine uses it to find the order behind the entry.
/// `priority` orders equal prices (lower first: earlier submission), then `key` breaks ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// Opaque reference back to the caller's order.
    pub key: u64,
    /// Who the market sees.
    pub participant: Participant,
    /// Buy or sell.
    pub side: Side,
    /// Energy still wanted or offered; always positive in a book.
    pub energy: Energy,
    /// Limit price as seen in this market (fees of earlier crossings included).
    pub price: Price,
    /// Time priority: lower is earlier.
    pub priority: u64,
}

/// One match produced by a clearing: an amount of energy between a bid and an offer of the book,
/// with the price the buyer pays and the price the seller receives. Indices point into the book's
/// `bids` and `offers` slices.
///
/// Single-price mechanisms (pay-as-offer, pay-as-bid, pay-as-clear) set both prices equal.
/// Two-price mechanisms (Huang, trade reduction) may charge the buyer more than the seller
/// receives: `seller_price ≤ buyer_price` always, and the surplus
/// `(buyer_price − seller_price) × energy` goes to the operator of the market that cleared. So
/// money paid by buyers = money received by sellers + operator surplus (+ the grid fees on the
/// path, which are the engine's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// Index into the book's bids.
    pub bid: u32,
    /// Index into the book's offers.
    pub offer: u32,
    /// Matched energy (positive).
    pub energy: Energy,
    /// What the buyer pays per kWh in this market (at most its bid price).
    pub buyer_price: Price,
    /// What the seller receives per kWh in this market (at least its offer price, at most
    /// `buyer_price`).
    pub seller_price: Price,
}

impl Match {
    /// A match at one price for both sides.
    pub const fn at(bid: u32, offer: u32, energy: Energy, price: Price) -> Self {
        Self {
            bid,
            offer,
            energy,
            buyer_price: price,
            seller_price: price,
        }
    }

    /// The operator's surplus on this match per kWh: `buyer_price − seller_price` (≥ 0).
    pub fn spread(&self) -> Price {
        self.buyer_price.saturating_sub(self.seller_price)
    }
}

/// The clearing mechanism an area's market uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// One-sided pay-as-offer: only offers are posted; buyers take the cheapest offers at the
    /// offer price. Bids stay inside their own market.
    #[default]
    PayAsOffer,
    /// Two-sided pay-as-bid continuous double auction with price-time priority; a trade is
    /// priced at the bid.
    PayAsBid,
    /// Two-sided pay-as-clear: one uniform price for every match of a clearing.
    PayAsClear,
    /// The strategy-proof multi-unit double auction of Huang, Scheller-Wolf and Sycara (AAMAS
    /// 2002): buyers pay one price, sellers receive another, the operator keeps the spread.
    ///
    /// In the simulator a market clears its book with it at every tick; an order that sets a
    /// price (the K-th bid or L-th offer) does not trade, so a grid connection's unlimited order
    /// at the margin trades nothing in such a market.
    Huang,
    /// McAfee's (1992) trade reduction for unit orders: a midpoint price, or the least
    /// efficient pair excluded and its prices used. Defined for unit orders only: a book whose
    /// orders do not all have the same energy clears nothing (in the simulator its orders move
    /// on to the parent market).
    TradeReduction,
    /// Bid curves (PowerMatcher-style): each order is a step curve at its limit price; an area
    /// sums its children's curves seen through their boundary fees, the top of a curve region
    /// finds the price where net demand is zero, and every area's price follows from its
    /// parent's. In the simulator a curve area and everything below it clear together once per
    /// tick; on a single book it is a uniform-price auction at the middle of the prices that
    /// balance it, sharing the indifferent side pro rata.
    Curve,
}

impl Mechanism {
    /// The single-price order-book mechanisms, in a stable order (the benchmark's default set).
    pub const ALL: [Mechanism; 3] = [
        Mechanism::PayAsOffer,
        Mechanism::PayAsBid,
        Mechanism::PayAsClear,
    ];

    /// Every mechanism `nestgrid_market::clear` implements, in a stable order: [`Mechanism::ALL`]
    /// the two-price mechanisms and bid curves. Scenario files and the simulator accept all of them.
    pub const CLEARING: [Mechanism; 6] = [
        Mechanism::PayAsOffer,
        Mechanism::PayAsBid,
        Mechanism::PayAsClear,
        Mechanism::Huang,
        Mechanism::TradeReduction,
        Mechanism::Curve,
    ];

    /// Whether bids are visible outside the market they were posted in.
    pub fn is_two_sided(self) -> bool {
        !matches!(self, Mechanism::PayAsOffer)
    }

    /// Whether a match may charge the buyer more than the seller receives (the operator keeps
    /// the spread): Huang and trade reduction.
    pub fn is_two_price(self) -> bool {
        matches!(self, Mechanism::Huang | Mechanism::TradeReduction)
    }

    /// The name used in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::PayAsOffer => "pay-as-offer",
            Mechanism::PayAsBid => "pay-as-bid",
            Mechanism::PayAsClear => "pay-as-clear",
            Mechanism::Huang => "huang",
            Mechanism::TradeReduction => "trade-reduction",
            Mechanism::Curve => "curve",
        }
    }

    /// Parses a name as written by [`Mechanism::name`]; finds every mechanism of
    /// [`Mechanism::CLEARING`] (every one runs in the simulator too).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::CLEARING
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }
}

/// A grid fee charged by an area on energy that crosses its boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GridFee {
    /// No fee.
    #[default]
    None,
    /// A constant price per kWh.
    Constant(Price),
    /// A share of the price at the crossing, in parts per million (10,000 = 1 %).
    PartsPerMillion(i64),
}

impl GridFee {
    /// Price of an order after it crosses this boundary, for the given side.
    ///
    /// Offers become dearer by the fee; bids become cheaper so that the buyer, paying the fee on
    /// top, never pays more than its limit. Percentages on bids divide (rounding down), so that
    /// `forward(bid) × (1 + pct) ≤ bid`.
    #[inline]
    pub fn forward(self, side: Side, price: Price) -> Price {
        match (self, side) {
            (GridFee::None, _) => price,
            (GridFee::Constant(fee), Side::Sell) => price.saturating_add(fee),
            (GridFee::Constant(fee), Side::Buy) => price.saturating_sub(fee),
            (GridFee::PartsPerMillion(ppm), Side::Sell) => {
                let scaled = price.0 as i128 * (1_000_000 + ppm as i128);
                Price(div_ceil_i128(scaled, 1_000_000) as i64)
            }
            (GridFee::PartsPerMillion(ppm), Side::Buy) => {
                let scaled = price.0 as i128 * 1_000_000;
                Price(div_floor_i128(scaled, 1_000_000 + ppm as i128) as i64)
            }
        }
    }

    /// Price on the outer side of this boundary given the price on the inner side, as a trade
    /// passes it: energy bought outside at `inner` costs the inner buyer `inner + fee`; energy
    /// sold inside at `outer` pays the inner seller `outer - fee`. Used to price trade chains.
    pub fn add_to(self, price: Price) -> Price {
        self.forward(Side::Sell, price)
    }
}

/// Integer division rounding toward negative infinity.
#[inline]
pub fn div_floor_i128(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    if (numerator % denominator != 0) && ((numerator < 0) != (denominator < 0)) {
        quotient - 1
    } else {
        quotient
    }
}

/// Integer division rounding toward positive infinity.
#[inline]
pub fn div_ceil_i128(numerator: i128, denominator: i128) -> i128 {
    -div_floor_i128(-numerator, denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_half_away_from_zero() {
        // 0.3 €/kWh × 1.5 Wh = 0.00045 € = 450 µ€
        assert_eq!(Money::for_energy(Price(300_000), Energy(1_500)), Money(450));
        // 1 µ€/kWh × 0.5 Wh = 0.0005 µ€ → 0
        assert_eq!(Money::for_energy(Price(1), Energy(500_000)), Money(1));
        assert_eq!(Money::for_energy(Price(1), Energy(499_999)), Money(0));
        assert_eq!(Money::for_energy(Price(-1), Energy(500_000)), Money(-1));
    }

    #[test]
    fn power_to_energy() {
        assert_eq!(Power::from_kw(4).energy_over(900), Energy::from_kwh(1));
        assert_eq!(Power::average(Energy::from_kwh(1), 900), Power::from_kw(4));
    }

    #[test]
    fn fees_never_let_a_buyer_pay_above_its_bid() {
        for ppm in [0, 1, 33_333, 100_000, 250_000] {
            let fee = GridFee::PartsPerMillion(ppm);
            for bid in [0, 1, 7, 299_999, 300_000, 1_234_567] {
                let forwarded = fee.forward(Side::Buy, Price(bid));
                assert!(fee.add_to(forwarded) <= Price(bid), "ppm {ppm} bid {bid}");
            }
        }
        let fee = GridFee::Constant(Price(10_000));
        assert_eq!(fee.forward(Side::Buy, Price(50_000)), Price(40_000));
        assert_eq!(fee.forward(Side::Sell, Price(50_000)), Price(60_000));
    }

    #[test]
    fn mechanism_names_round_trip() {
        for mechanism in Mechanism::CLEARING {
            assert_eq!(Mechanism::from_name(mechanism.name()), Some(mechanism));
        }
        assert_eq!(Mechanism::from_name("curve"), Some(Mechanism::Curve));
        assert_eq!(Mechanism::from_name("pay-as-you-go"), None);
        assert!(
            Mechanism::ALL
                .iter()
                .all(|mechanism| !mechanism.is_two_price())
        );
        assert!(Mechanism::Huang.is_two_sided() && Mechanism::TradeReduction.is_two_sided());
        assert!(Mechanism::Curve.is_two_sided() && !Mechanism::Curve.is_two_price());
    }

    #[test]
    fn display_in_units() {
        assert_eq!(Energy(1_250_000).to_string(), "1.25");
        assert_eq!(format!("{:#}", Energy(1_250_000)), "1.25 kWh");
        assert_eq!(Money(-5).to_string(), "-0.000005");
        assert_eq!(Price(300_000).to_string(), "0.3");
    }
}
