//! Bid curves: PowerMatcher-style demand functions, aggregated up the area tree and cleared at
//! one equilibrium price.
//!
//! A [`Curve`] states an agent's power as a function of price: piecewise linear through its
//! points, which have strictly increasing prices and non-increasing power. Positive power is
//! demand (the agent consumes), negative is supply. Below the first point the curve keeps the
//! first point's power, above the last point the last point's.
//!
//! An area [`aggregate`]s its children's curves, each as seen through the area's grid fee, and
//! passes the sum up; the top finds the [`equilibrium`] price, where net demand is zero, and sends
//! it down; each agent's [`allocation`] is its curve at the price it sees.
//!
//! # The fee's dead band
//! A child that buys at the parent's price P pays P + fee; one that sells receives P − fee. So the
//! child's curve c, seen from the parent through a constant fee f ≥ 0, is
//! `g(P) = max(c(P + f), 0) + min(c(P − f), 0)`: its demand moves down by f, its supply up by f,
//! and between the two the child neither imports nor exports (it balances inside, at a local price
//! in [P − f, P + f]). At most one of the two terms is non-zero, because c is non-increasing.
//! [`Curve::seen_through`] builds g as a curve with points at every point of c shifted by ±f and
//! at the integer prices around c's zero crossings. Percentage fees are not supported here.
//!
//! # Arithmetic and rounding (STYLE 2)
//! | quantity | how | rounding | overflow |
//! | --- | --- | --- | --- |
//! | power between two points | `a.power − ceil((a.power − b.power)·(P − a.price) / (b.price − a.price))` in `u128` | toward −∞ (demand rounds down, supply up in magnitude) | impossible: each factor < 2⁶⁴ |
//! | prices ± fee | `i64`, prices and fees bounded by [`CURVE_PRICE_MAX`] | none | impossible |
//! | aggregate power | Σ of the children's rounded powers at each point, in `i128` | none | reported as [`CurveError::Overflow`] |
//! | equilibrium price of a zero stretch | floor((P1 + P2) / 2) | toward −∞ | impossible |
//!
//! Consequences: a curve is exact at its points and within 1 mW of its straight line elsewhere;
//! [`Curve::seen_through`] is within 1 mW of g; an aggregate is exact at its points and within one
//! milliwatt per child of the sum of the children's curves between them. So the allocations at the
//! equilibrium price net to the aggregate's residual there, within one milliwatt per child.
//!
//! # Complexity and limits
//! A user curve has at most [`MAX_CURVE_POINTS`] points and prices within ±[`CURVE_PRICE_MAX`].
//! [`Curve::power_at`] is O(log k) for k points; [`aggregate`] of n curves with B points in all is
//! O(B log B + n·B) (every child is evaluated at every point of the sum, which keeps each child's
//! own rounding); [`equilibrium`] is O(64 · log k) (a binary search over integer prices).

use nestgrid_types::limits::{CURVE_PRICE_MAX, MAX_CURVE_POINTS};
use nestgrid_types::{Power, Price, div_floor_i128};

/// One point of a curve: the power wanted at a price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurvePoint {
    /// Price in micro-units per kWh.
    pub price: Price,
    /// Power: positive is demand, negative supply.
    pub power: Power,
}

/// A demand function: power non-increasing in price, piecewise linear (see the module
/// documentation). Always holds at least one point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Curve {
    points: Vec<CurvePoint>,
}

/// Why a curve, or an operation on curves, was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CurveError {
    /// No points.
    #[error("a curve needs at least one point")]
    Empty,
    /// More points than [`MAX_CURVE_POINTS`].
    #[error("{points} points, more than the limit of {limit}")]
    TooManyPoints {
        /// Points given.
        points: usize,
        /// The limit.
        limit: usize,
    },
    /// A price outside ±[`CURVE_PRICE_MAX`].
    #[error("point {index}: price {price} is out of range (at most {limit} in magnitude)")]
    PriceOutOfRange {
        /// Index of the point.
        index: usize,
        /// Its price.
        price: Price,
        /// The limit.
        limit: Price,
    },
    /// Prices must increase strictly from point to point.
    #[error("point {index}: price {price} is not above the previous point's price {previous}")]
    PriceNotIncreasing {
        /// Index of the point.
        index: usize,
        /// Its price.
        price: Price,
        /// Price of the point before.
        previous: Price,
    },
    /// Power must not increase with price.
    #[error(
        "point {index}: power {power} kW is above the previous point's {previous} kW; power must \
         not increase with price"
    )]
    PowerIncreasing {
        /// Index of the point.
        index: usize,
        /// Its power.
        power: Power,
        /// Power of the point before.
        previous: Power,
    },
    /// A negative fee, or one beyond [`CURVE_PRICE_MAX`].
    #[error("fee {fee} must be between 0 and {limit}")]
    FeeOutOfRange {
        /// The fee.
        fee: Price,
        /// The limit.
        limit: Price,
    },
    /// The sum of the curves' power does not fit 64 bits.
    #[error("the curves' total power at price {price} does not fit 64 bits")]
    Overflow {
        /// The price where it overflows.
        price: Price,
    },
}

impl Curve {
    /// A curve through `points`, which must be non-empty, at most [`MAX_CURVE_POINTS`], with
    /// prices strictly increasing within ±[`CURVE_PRICE_MAX`] and power non-increasing.
    pub fn new(points: Vec<CurvePoint>) -> Result<Self, CurveError> {
        if points.len() > MAX_CURVE_POINTS {
            return Err(CurveError::TooManyPoints {
                points: points.len(),
                limit: MAX_CURVE_POINTS,
            });
        }
        for (index, point) in points.iter().enumerate() {
            if point.price.0.unsigned_abs() > CURVE_PRICE_MAX as u64 {
                return Err(CurveError::PriceOutOfRange {
                    index,
                    price: point.price,
                    limit: Price(CURVE_PRICE_MAX),
                });
            }
        }
        Self::checked(points)
    }

    /// [`Curve::new`] without the limits on the number of points and on prices, for derived
    /// curves: each [`Curve::seen_through`] moves prices by at most [`CURVE_PRICE_MAX`], so even
    /// a tree of the deepest allowed depth stays far inside `i64`.
    fn checked(points: Vec<CurvePoint>) -> Result<Self, CurveError> {
        if points.is_empty() {
            return Err(CurveError::Empty);
        }
        for index in 1..points.len() {
            let point = points[index];
            let previous = points[index - 1];
            if point.price <= previous.price {
                return Err(CurveError::PriceNotIncreasing {
                    index,
                    price: point.price,
                    previous: previous.price,
                });
            }
            if point.power > previous.power {
                return Err(CurveError::PowerIncreasing {
                    index,
                    power: point.power,
                    previous: previous.power,
                });
            }
        }
        Ok(Self { points })
    }

    /// A curve of constant power (one point at price 0).
    pub fn constant(power: Power) -> Self {
        Self {
            points: vec![CurvePoint {
                price: Price::ZERO,
                power,
            }],
        }
    }

    /// The points, prices strictly increasing.
    pub fn points(&self) -> &[CurvePoint] {
        &self.points
    }

    /// The power at `price`, interpolated between points and rounded toward −∞; constant beyond
    /// the first and the last point. Non-increasing in `price`. O(log k).
    pub fn power_at(&self, price: Price) -> Power {
        let segment = self.points.partition_point(|point| point.price <= price);
        self.power_in(segment, price)
    }

    /// The power at `price`, which lies in `[points[segment − 1].price, points[segment].price)`
    /// (or beyond an end, when `segment` is 0 or the point count).
    fn power_in(&self, segment: usize, price: Price) -> Power {
        if segment == 0 {
            return self.points[0].power;
        }
        if segment == self.points.len() {
            return self.points[segment - 1].power;
        }
        let (from, to) = (self.points[segment - 1], self.points[segment]);
        // Both differences are non-negative and below 2⁶⁴, so the product fits u128.
        let drop = (from.power.0 as i128 - to.power.0 as i128) as u128;
        let along = (price.0 as i128 - from.price.0 as i128) as u128;
        let span = (to.price.0 as i128 - from.price.0 as i128) as u128;
        let decrease = (drop * along).div_ceil(span);
        // from.power ≥ result ≥ to.power: fits an i64.
        Power((from.power.0 as i128 - decrease as i128) as i64)
    }

    /// This curve as seen from the parent market through a constant fee `fee ≥ 0`:
    /// `g(P) = max(c(P + fee), 0) + min(c(P − fee), 0)` (see the module documentation). Exact at
    /// its points, within 1 mW of g between them.
    pub fn seen_through(&self, fee: Price) -> Result<Curve, CurveError> {
        if fee.0 < 0 || fee.0 > CURVE_PRICE_MAX {
            return Err(CurveError::FeeOutOfRange {
                fee,
                limit: Price(CURVE_PRICE_MAX),
            });
        }
        if fee.0 == 0 {
            return Ok(self.clone());
        }
        let mut prices: Vec<i64> = Vec::with_capacity(2 * self.points.len() + 4);
        for point in &self.points {
            prices.push(point.price.0 - fee.0);
            prices.push(point.price.0 + fee.0);
        }
        let (first, last) = (self.points[0], self.points[self.points.len() - 1]);
        // Where demand ends: the last integer price with power > 0, and the one after it.
        if first.power.0 > 0 && last.power.0 <= 0 {
            let end = self.first_price_where(|power| power <= 0) - 1;
            prices.push(end - fee.0);
            prices.push(end + 1 - fee.0);
        }
        // Where supply starts: the first integer price with power < 0, and the one before it.
        if first.power.0 >= 0 && last.power.0 < 0 {
            let start = self.first_price_where(|power| power < 0);
            prices.push(start - 1 + fee.0);
            prices.push(start + fee.0);
        }
        prices.sort_unstable();
        prices.dedup();
        let points = prices
            .into_iter()
            .map(|price| CurvePoint {
                price: Price(price),
                power: self.seen_at(price, fee.0),
            })
            .collect();
        Curve::checked(points)
    }

    /// g(P) exactly (up to this curve's own rounding).
    fn seen_at(&self, price: i64, fee: i64) -> Power {
        let demand = self.power_at(Price(price + fee)).0.max(0);
        let supply = self.power_at(Price(price - fee)).0.min(0);
        Power(demand + supply)
    }

    /// The smallest integer price in `[first, last]` whose power passes `test` (monotone: once
    /// true, true at every higher price), which the last point must pass.
    fn first_price_where(&self, test: impl Fn(i64) -> bool) -> i64 {
        let (mut low, mut high) = (
            self.points[0].price.0,
            self.points[self.points.len() - 1].price.0,
        );
        debug_assert!(test(self.power_at(Price(high)).0));
        while low < high {
            let middle = div_floor_i128(low as i128 + high as i128, 2) as i64;
            if test(self.power_at(Price(middle)).0) {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        low
    }
}

/// The sum of `curves`, each as seen through a constant `fee ≥ 0` ([`Curve::seen_through`]): what
/// an area passes to its parent. Its points are the union of the children's points; its power at
/// each is the sum of the children's powers there. No curves: the zero curve. O(B log B) plus,
/// per curve, the points of the sum that fall between its own first and last point: O(n·B) at
/// worst, when every curve spans every price.
pub fn aggregate(curves: &[Curve], fee: Price) -> Result<Curve, CurveError> {
    let seen: Vec<Curve> = curves
        .iter()
        .map(|curve| curve.seen_through(fee))
        .collect::<Result<_, _>>()?;
    let mut prices: Vec<Price> = seen
        .iter()
        .flat_map(|curve| curve.points.iter().map(|point| point.price))
        .collect();
    prices.sort_unstable();
    prices.dedup();
    if prices.is_empty() {
        return Ok(Curve::constant(Power::ZERO));
    }
    // Outside its own points a curve is constant: those parts go into a difference array
    // (`steps[i]` is added to every sum from position i on), and only the positions between a
    // curve's first and last point are evaluated one by one.
    let mut sums = vec![0_i128; prices.len()];
    let mut steps = vec![0_i128; prices.len() + 1];
    for curve in &seen {
        let (first, last) = (curve.points[0], curve.points[curve.points.len() - 1]);
        let start = prices.partition_point(|&price| price < first.price);
        let end = prices.partition_point(|&price| price < last.price);
        steps[0] += first.power.0 as i128;
        steps[start] -= first.power.0 as i128;
        steps[end] += last.power.0 as i128;
        // The prices ascend, so the curve's segment only moves forward.
        let mut segment = 0;
        for (sum, &price) in sums[start..end].iter_mut().zip(&prices[start..end]) {
            while segment < curve.points.len() && curve.points[segment].price <= price {
                segment += 1;
            }
            *sum += curve.power_in(segment, price).0 as i128;
        }
    }
    let mut running = 0_i128;
    for (sum, step) in sums.iter_mut().zip(&steps) {
        running += step;
        *sum += running;
    }
    let mut points = Vec::with_capacity(prices.len());
    for (sum, price) in sums.into_iter().zip(prices) {
        let power = i64::try_from(sum).map_err(|_| CurveError::Overflow { price })?;
        points.push(CurvePoint {
            price,
            power: Power(power),
        });
    }
    Curve::checked(points)
}

/// How an [`Equilibrium`] was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// Net demand is exactly zero at the price. When it is zero on a whole stretch of prices,
    /// the price is the midpoint of the stretch, rounded toward −∞.
    Exact,
    /// Net demand changes sign between two adjacent integer prices without being zero at
    /// either: the one with the smaller imbalance (the lower on a tie).
    Nearest,
    /// Demand exceeds supply even at the highest price of the curve: the price is that highest
    /// price (the last point's), and the imbalance is positive.
    AllDemand,
    /// Supply exceeds demand even at the lowest price: the price is the first point's, and the
    /// imbalance is negative.
    AllSupply,
}

/// The price where a (net) curve crosses zero power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Equilibrium {
    /// The equilibrium price.
    pub price: Price,
    /// The curve's power at that price: 0 for [`Crossing::Exact`], otherwise what is left
    /// unbalanced (positive: unserved demand).
    pub imbalance: Power,
    /// How it was found.
    pub crossing: Crossing,
}

/// The price where `curve`'s power is zero, searched over integer prices between its first and
/// its last point (beyond them the curve is constant). O(64 · log k).
pub fn equilibrium(curve: &Curve) -> Equilibrium {
    let points = curve.points();
    let (first, last) = (points[0], points[points.len() - 1]);
    let at = |price: i64| Equilibrium {
        price: Price(price),
        imbalance: curve.power_at(Price(price)),
        crossing: Crossing::Exact,
    };
    if last.power.0 > 0 {
        return Equilibrium {
            crossing: Crossing::AllDemand,
            ..at(last.price.0)
        };
    }
    if first.power.0 < 0 {
        return Equilibrium {
            crossing: Crossing::AllSupply,
            ..at(first.price.0)
        };
    }
    // first.power ≥ 0 ≥ last.power: the first price with power ≤ 0 exists.
    let low = curve.first_price_where(|power| power <= 0);
    let at_low = curve.power_at(Price(low));
    if at_low.0 == 0 {
        // A zero stretch [low, high]: high is the last price with power ≥ 0.
        let high = match last.power.0 {
            0 => last.price.0,
            _ => curve.first_price_where(|power| power < 0) - 1,
        };
        let middle = div_floor_i128(low as i128 + high as i128, 2) as i64;
        return at(middle);
    }
    // at_low < 0 < power at low − 1 (low > first.price because first.power ≥ 0).
    let before = curve.power_at(Price(low - 1));
    let price = if before.0 <= -at_low.0 { low - 1 } else { low };
    Equilibrium {
        crossing: Crossing::Nearest,
        ..at(price)
    }
}

/// An agent's allocation at the price it sees: its curve's power there (positive: it consumes).
/// An agent behind a fee sees the parent's price through it: use the curve's
/// [`Curve::seen_through`] at the parent's price, or this at its local price.
pub fn allocation(curve: &Curve, price: Price) -> Power {
    curve.power_at(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(i64, i64)]) -> Curve {
        Curve::new(
            points
                .iter()
                .map(|&(price, power)| CurvePoint {
                    price: Price(price),
                    power: Power(power),
                })
                .collect(),
        )
        .expect("valid curve")
    }

    #[test]
    fn validation_names_the_point() {
        assert_eq!(Curve::new(vec![]), Err(CurveError::Empty));
        let point = |price, power| CurvePoint {
            price: Price(price),
            power: Power(power),
        };
        assert!(matches!(
            Curve::new(vec![point(10, 5), point(10, 4)]),
            Err(CurveError::PriceNotIncreasing { index: 1, .. })
        ));
        assert!(matches!(
            Curve::new(vec![point(10, 5), point(20, 6)]),
            Err(CurveError::PowerIncreasing { index: 1, .. })
        ));
        assert!(matches!(
            Curve::new(vec![point(i64::MAX, 5)]),
            Err(CurveError::PriceOutOfRange { index: 0, .. })
        ));
        assert!(matches!(
            Curve::new(vec![point(0, 0); MAX_CURVE_POINTS + 1]),
            Err(CurveError::TooManyPoints { .. })
        ));
        assert!(matches!(
            curve(&[(0, 1)]).seen_through(Price(-1)),
            Err(CurveError::FeeOutOfRange { .. })
        ));
    }

    #[test]
    fn interpolates_rounding_toward_negative_infinity() {
        // 10 mW at price 0 falling to 0 at price 3: 10 − 10/3 = 6.67 → 6; 10 − 20/3 = 3.33 → 3.
        let falling = curve(&[(0, 10), (3, 0)]);
        let powers: Vec<i64> = (-1..=4)
            .map(|price| falling.power_at(Price(price)).0)
            .collect();
        assert_eq!(powers, [10, 10, 6, 3, 0, 0]);
        // Supply rounds up in magnitude: 0 → −10 over 3: −3.33 → −4.
        let supply = curve(&[(0, 0), (3, -10)]);
        assert_eq!(supply.power_at(Price(1)), Power(-4));
        // Extremes do not overflow.
        let steep = curve(&[(-CURVE_PRICE_MAX, i64::MAX), (CURVE_PRICE_MAX, i64::MIN)]);
        assert_eq!(steep.power_at(Price(-CURVE_PRICE_MAX)), Power(i64::MAX));
        assert_eq!(steep.power_at(Price(CURVE_PRICE_MAX)), Power(i64::MIN));
        assert!(steep.power_at(Price(0)).0.abs() <= 1);
    }

    #[test]
    fn equilibrium_cases() {
        // Crosses zero exactly at 50.
        let net = curve(&[(0, 100), (100, -100)]);
        assert_eq!(
            equilibrium(&net),
            Equilibrium {
                price: Price(50),
                imbalance: Power(0),
                crossing: Crossing::Exact
            }
        );
        // Zero on [40, 60]: the midpoint.
        let flat = curve(&[(0, 100), (40, 0), (60, 0), (100, -100)]);
        assert_eq!(equilibrium(&flat).price, Price(50));
        assert_eq!(equilibrium(&flat).crossing, Crossing::Exact);
        // Zero from 40 to the last point and beyond: the stretch ends at the last point.
        let tail = curve(&[(0, 100), (40, 0), (61, 0)]);
        assert_eq!(equilibrium(&tail).price, Price(50));
        // Between integers: 7 at 0, −3 at 1 → 1 is nearer.
        let jump = curve(&[(0, 7), (1, -3)]);
        assert_eq!(
            equilibrium(&jump),
            Equilibrium {
                price: Price(1),
                imbalance: Power(-3),
                crossing: Crossing::Nearest
            }
        );
        // A tie goes to the lower price.
        assert_eq!(equilibrium(&curve(&[(0, 5), (1, -5)])).price, Price(0));
        // All demand: the highest price; all supply: the lowest.
        let demand = curve(&[(10, 50), (20, 5)]);
        assert_eq!(equilibrium(&demand).price, Price(20));
        assert_eq!(equilibrium(&demand).crossing, Crossing::AllDemand);
        assert_eq!(equilibrium(&demand).imbalance, Power(5));
        let supply = curve(&[(10, -5), (20, -50)]);
        assert_eq!(equilibrium(&supply).price, Price(10));
        assert_eq!(equilibrium(&supply).crossing, Crossing::AllSupply);
        // One point of zero power.
        assert_eq!(equilibrium(&curve(&[(7, 0)])).price, Price(7));
    }

    #[test]
    fn fee_opens_a_dead_band() {
        // A battery: charges 10 below 40, discharges 10 above 60, idle on [40, 60] locally.
        let battery = curve(&[(30, 10), (40, 0), (60, 0), (70, -10)]);
        let seen = battery.seen_through(Price(5)).expect("valid");
        // Demand moves down by 5, supply up by 5.
        assert_eq!(seen.power_at(Price(25)), Power(10));
        assert_eq!(seen.power_at(Price(30)), Power(5));
        assert_eq!(seen.power_at(Price(35)), Power(0));
        assert_eq!(seen.power_at(Price(65)), Power(0));
        assert_eq!(seen.power_at(Price(70)), Power(-5));
        assert_eq!(seen.power_at(Price(75)), Power(-10));
        // A consumer and a producer crossing at 50 locally; through a fee of 10 the demand ends
        // at 59 − 10 and supply starts at 41 + 10.
        let both = curve(&[(0, 100), (100, -100)]);
        let seen = both.seen_through(Price(10)).expect("valid");
        for price in -20..=120 {
            let expected = both.power_at(Price(price + 10)).0.max(0)
                + both.power_at(Price(price - 10)).0.min(0);
            assert!(
                (seen.power_at(Price(price)).0 - expected).abs() <= 1,
                "price {price}"
            );
        }
        assert_eq!(seen.power_at(Price(50)), Power(0));
    }

    #[test]
    fn aggregate_sums_and_clears() {
        let consumer = curve(&[(0, 3_000), (300_000, 0)]);
        let producer = curve(&[(100_000, 0), (200_000, -6_000)]);
        let sum = aggregate(&[consumer.clone(), producer.clone()], Price::ZERO).expect("sums");
        for price in [0, 100_000, 150_000, 200_000, 300_000] {
            assert_eq!(
                sum.power_at(Price(price)),
                consumer.power_at(Price(price)) + producer.power_at(Price(price))
            );
        }
        // 3000 − 0.01·P = 0.06·(P − 100000) at P = 4,600,000 / 0.07... solve exactly:
        // 3000 − P/100 = (P − 100000)·6/100 → 300000 − P = 6P − 600000 → P = 900000/7 ≈ 128571.4
        // Rounded to whole milliwatts the sum is 0 on a short stretch around it.
        let found = equilibrium(&sum);
        assert_eq!(found.crossing, Crossing::Exact);
        assert!((128_560..=128_580).contains(&found.price.0), "{found:?}");
        let net = allocation(&consumer, found.price) + allocation(&producer, found.price);
        assert!(net.0.abs() <= 8, "net {net:?}");
        assert_eq!(
            aggregate(&[], Price::ZERO).expect("empty"),
            Curve::constant(Power::ZERO)
        );
        let huge = curve(&[(0, i64::MAX)]);
        assert!(matches!(
            aggregate(&[huge.clone(), huge], Price::ZERO),
            Err(CurveError::Overflow { .. })
        ));
    }
}
