//! The state machine against a simple reference model, for random sequences of transactions:
//! the model predicts each result code and the balances, locked money and tokens of every
//! account; failed transactions change nothing; the audit totals always hold.

mod support;

use nestgrid_ledger::{Body, ResultCode, TradeEntry};
use proptest::prelude::*;
use support::model::*;

fn asset() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..(2 * PARTICIPANTS as u32),
        1 => Just(GRID_ASSET),
    ]
}

fn trade_spec() -> impl Strategy<Value = TradeSpec> {
    (
        asset(),
        asset(),
        0i64..400,
        0i64..300,
        0i64..30,
        0usize..2,
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(buyer, seller, energy, price, fee, area, unbalanced)| TradeSpec {
                buyer,
                seller,
                energy,
                price,
                fee,
                area,
                unbalanced,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..PARTICIPANTS + 1, 0i64..200_000).prop_map(|(who, amount)| Step::Deposit { who, amount }),
        1 => (0..PARTICIPANTS + 1, 0i64..150_000).prop_map(|(who, amount)| Step::Withdraw { who, amount }),
        6 => (0u64..4, prop::collection::vec(trade_spec(), 0..4))
            .prop_map(|(slot, trades)| Step::Trades { slot, trades }),
        2 => (0u64..4, -50i64..400, -50i64..200)
            .prop_map(|(slot, shortage, surplus)| Step::Prices { slot, shortage, surplus }),
        4 => (0u64..4, asset(), 0i64..700, 0i64..700).prop_map(|(slot, asset, energy_in, energy_out)| {
            Step::Deliveries { slot, asset, energy_in, energy_out }
        }),
        1 => (0u64..4).prop_map(|slot| Step::Settle { slot }),
        1 => any::<prop::sample::Index>().prop_map(|index| Step::Replay { index: index.index(1 << 20) }),
        1 => any::<prop::sample::Index>().prop_map(|index| Step::Forged { index: index.index(1 << 20) }),
        1 => (1i64..100).prop_map(|amount| Step::WrongRole { amount }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_state_machine_follows_the_model(steps in prop::collection::vec(step(), 1..80)) {
        run_steps(&steps);
    }
}

#[test]
fn a_buyer_cannot_spend_money_it_does_not_have_and_energy_cannot_be_sold_twice() {
    let world = World::new();
    let (mut state, mut signer) = setup(&world);
    let deposit = signer.sign(
        &world.gateway,
        Body::Deposit {
            account: world.participants[0].public(),
            amount: 1_000,
        },
    );
    assert_eq!(state.apply(&deposit), ResultCode::Ok);
    signer.applied(&deposit);
    let trade = |buyer_amount: i64, energy_mwh: i64| TradeEntry {
        trade_id: 1,
        buyer_asset: 0,
        seller_asset: 1,
        energy_mwh,
        buyer_amount,
        seller_amount: buyer_amount,
        fees: vec![],
        surplus: None,
    };
    let too_dear = signer.sign(
        &world.market,
        Body::RecordTrades {
            slot: 0,
            trades: vec![trade(600, 100), trade(600, 100)],
        },
    );
    assert_eq!(state.apply(&too_dear), ResultCode::InsufficientFunds);
    let first = signer.sign(
        &world.market,
        Body::RecordTrades {
            slot: 0,
            trades: vec![trade(500, SELL_MAX - 100)],
        },
    );
    assert_eq!(state.apply(&first), ResultCode::Ok);
    signer.applied(&first);
    assert_eq!(state.apply(&first), ResultCode::StaleNonce, "replay");
    let twice = signer.sign(
        &world.market,
        Body::RecordTrades {
            slot: 0,
            trades: vec![trade(100, 101)],
        },
    );
    assert_eq!(state.apply(&twice), ResultCode::EnergyAlreadySold);
    let account = &state.accounts[&world.participants[0].public()];
    assert_eq!((account.balance, account.locked), (500, 500));
}
