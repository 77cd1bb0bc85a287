//! Property tests for bid curves: monotonicity, the fee's dead band, aggregation as a sum, and the
//! equilibrium price netting the allocations to zero within the documented rounding (one
//! milliwatt per curve; see `nestgrid_market::curve`).

use nestgrid_market::curve::{Crossing, Curve, CurvePoint, aggregate, allocation, equilibrium};
use nestgrid_types::{Power, Price};
use proptest::prelude::*;

fn curve() -> impl Strategy<Value = Curve> {
    let prices = prop::collection::btree_set(
        prop_oneof![
            -200_000_i64..1_200_000,
            (0_i64..12).prop_map(|step| step * 100_000),
        ],
        1..7,
    );
    let shape = prop_oneof![
        // Demand, supply, or both (a battery): a start and non-negative drops.
        (0_i64..20_000_000),
        (-20_000_000_i64..20_000_000),
        (-20_000_000_i64..=0),
    ];
    (
        prices,
        shape,
        prop::collection::vec(0_i64..8_000_000, 7),
        any::<bool>(),
    )
        .prop_map(|(prices, start, drops, flat)| {
            let mut power = start;
            let points = prices
                .into_iter()
                .zip(drops)
                .map(|(price, drop)| {
                    let point = CurvePoint {
                        price: Price(price),
                        power: Power(power),
                    };
                    // Now and then a flat stretch.
                    power -= if flat && drop % 3 == 0 { 0 } else { drop };
                    point
                })
                .collect();
            Curve::new(points).expect("generated curves are valid")
        })
}

fn fee() -> impl Strategy<Value = Price> {
    prop_oneof![Just(0_i64), 1_i64..50_000, Just(100_000)].prop_map(Price)
}

fn probe() -> impl Strategy<Value = Price> {
    (-400_000_i64..1_500_000).prop_map(Price)
}

/// g(P) = max(c(P + f), 0) + min(c(P − f), 0): the definition of a curve seen through a fee.
fn seen(curve: &Curve, fee: Price, price: Price) -> i64 {
    curve.power_at(Price(price.0 + fee.0)).0.max(0)
        + curve.power_at(Price(price.0 - fee.0)).0.min(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn power_is_non_increasing(curve in curve(), a in probe(), b in probe()) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(curve.power_at(low) >= curve.power_at(high));
        // Exact at the points.
        for point in curve.points() {
            prop_assert_eq!(curve.power_at(point.price), point.power);
        }
    }

    #[test]
    fn seen_through_a_fee_is_the_dead_band_within_a_milliwatt(
        curve in curve(),
        fee in fee(),
        price in probe(),
    ) {
        let through = curve.seen_through(fee).expect("fee in range");
        let difference = through.power_at(price).0 - seen(&curve, fee, price);
        prop_assert!(difference.abs() <= 1, "difference {}", difference);
        for point in through.points() {
            prop_assert_eq!(point.power.0, seen(&curve, fee, point.price));
        }
    }

    #[test]
    fn aggregation_is_the_sum(
        curves in prop::collection::vec(curve(), 0..8),
        fee in fee(),
        price in probe(),
    ) {
        let sum = aggregate(&curves, fee).expect("no overflow");
        let through: Vec<Curve> = curves.iter().map(|curve| curve.seen_through(fee).unwrap()).collect();
        // Exact at the aggregate's points.
        for point in sum.points() {
            let expected: i64 = through.iter().map(|curve| curve.power_at(point.price).0).sum();
            prop_assert_eq!(point.power.0, expected);
        }
        // Within one milliwatt per curve elsewhere (and one more for the aggregate's own rounding).
        let expected: i64 = through.iter().map(|curve| curve.power_at(price).0).sum();
        let difference = sum.power_at(price).0 - expected;
        prop_assert!(difference.abs() <= curves.len() as i64 + 1, "difference {}", difference);
    }

    #[test]
    fn allocations_at_the_equilibrium_net_to_zero(
        curves in prop::collection::vec(curve(), 1..8),
        fee in fee(),
    ) {
        let sum = aggregate(&curves, fee).expect("no overflow");
        let found = equilibrium(&sum);
        prop_assert_eq!(found.imbalance, sum.power_at(found.price));
        let tolerance = curves.len() as i64 + 1;
        let allocated: i64 = curves
            .iter()
            .map(|curve| allocation(&curve.seen_through(fee).unwrap(), found.price).0)
            .sum();
        prop_assert!((allocated - found.imbalance.0).abs() <= tolerance);
        let (before, after) = (
            sum.power_at(Price(found.price.0 - 1)).0,
            sum.power_at(Price(found.price.0 + 1)).0,
        );
        let points = sum.points();
        let (first, last) = (points[0], points[points.len() - 1]);
        match found.crossing {
            Crossing::Exact => {
                prop_assert_eq!(found.imbalance.0, 0);
                prop_assert!(allocated.abs() <= tolerance);
            }
            Crossing::Nearest => {
                // The sign changes between the price and a neighbour, and the price is the
                // nearer to zero of the two.
                prop_assert!(found.imbalance.0 != 0);
                let neighbour = if found.imbalance.0 > 0 { after } else { before };
                prop_assert!(neighbour.signum() == -found.imbalance.0.signum());
                prop_assert!(found.imbalance.0.abs() <= neighbour.abs());
            }
            Crossing::AllDemand => {
                prop_assert_eq!(found.price, last.price);
                prop_assert!(last.power.0 > 0);
            }
            Crossing::AllSupply => {
                prop_assert_eq!(found.price, first.price);
                prop_assert!(first.power.0 < 0);
            }
        }
        // No price does better (within the curve's range the search is exact).
        prop_assert!(before >= found.imbalance.0 && found.imbalance.0 >= after);
    }
}
