//! The reference model of the ledger's state machine, shared by the property test
//! (`tests/model.rs`) and the fuzz target (`fuzz/fuzz_targets/ledger_steps.rs`): a fixed world
//! of accounts and assets, the steps a sequence is made of, a model written in plain maps that
//! predicts every result code and balance, and [`run_steps`], which applies a sequence and
//! checks the state machine against the model after every step.
#![allow(dead_code)]

use nestgrid_ledger::{
    AssetSpec, Authority, BalancingPrice, Body, Delivery, Genesis, Keypair, PublicKey, ResultCode,
    Role, SignedTransaction, State, TradeEntry, Transaction,
};
use std::collections::{BTreeMap, BTreeSet};

pub const PARTICIPANTS: usize = 3;
pub const GRID_ASSET: u32 = 100;
pub const SELL_MAX: i64 = 600_000;

pub struct World {
    pub operator: Keypair,
    pub gateway: Keypair,
    pub market: Keypair,
    pub meter: Keypair,
    pub areas: Vec<Keypair>,
    pub participants: Vec<Keypair>,
    pub grid: Keypair,
    pub genesis: Genesis,
}

impl World {
    pub fn new() -> World {
        let key = |name: &str| Keypair::derived(42, name);
        let operator = key("operator");
        let gateway = key("gateway");
        let market = key("market");
        let meter = key("meter");
        let authority = |name: &str, keypair: &Keypair, role: Role| Authority {
            name: name.into(),
            key: keypair.public(),
            roles: vec![role],
        };
        let genesis = Genesis {
            chain_id: "model".into(),
            currency: "EUR".into(),
            timestamp_ms: 0,
            validators: vec![key("validator").public()],
            authorities: vec![
                authority("operator", &operator, Role::Operator),
                authority("gateway", &gateway, Role::Gateway),
                authority("market", &market, Role::MarketOperator),
                authority("meter", &meter, Role::MeterAuthority),
            ],
        };
        World {
            operator,
            gateway,
            market,
            meter,
            areas: (0..2).map(|i| key(&format!("area {i}"))).collect(),
            participants: (0..PARTICIPANTS)
                .map(|i| key(&format!("participant {i}")))
                .collect(),
            grid: key("grid"),
            genesis,
        }
    }

    /// Owner index of an asset: participants own assets 0..PARTICIPANTS (asset i → participant
    /// i) and PARTICIPANTS.. (asset PARTICIPANTS + i → participant i); the grid owns GRID_ASSET.
    pub fn owner(&self, asset: u32) -> PublicKey {
        if asset == GRID_ASSET {
            self.grid.public()
        } else {
            self.participants[asset as usize % PARTICIPANTS].public()
        }
    }
}

/// A step of the random sequence.
#[derive(Clone, Debug)]
pub enum Step {
    Deposit {
        who: usize,
        amount: i64,
    },
    Withdraw {
        who: usize,
        amount: i64,
    },
    Trades {
        slot: u64,
        trades: Vec<TradeSpec>,
    },
    Prices {
        slot: u64,
        shortage: i64,
        surplus: i64,
    },
    Deliveries {
        slot: u64,
        asset: u32,
        energy_in: i64,
        energy_out: i64,
    },
    Settle {
        slot: u64,
    },
    Replay {
        index: usize,
    },
    Forged {
        index: usize,
    },
    WrongRole {
        amount: i64,
    },
}

#[derive(Clone, Debug)]
pub struct TradeSpec {
    pub buyer: u32,
    pub seller: u32,
    pub energy: i64,
    pub price: i64,
    pub fee: i64,
    pub area: usize,
    pub unbalanced: bool,
}

/// (buyer asset, seller asset, energy, buyer amount, seller amount, fees).
pub type ModelTrade = (u32, u32, i64, i64, i64, Vec<(PublicKey, i64)>);

/// The reference model: plain maps, the rules written out once more.
#[derive(Default)]
pub struct Model {
    pub balance: BTreeMap<PublicKey, i128>,
    pub locked: BTreeMap<PublicKey, i128>,
    pub tokens: BTreeMap<PublicKey, i128>,
    pub sold: BTreeMap<(u64, u32), i64>,
    pub bought: BTreeMap<(u64, u32), i64>,
    pub trades: BTreeMap<u64, Vec<ModelTrade>>,
    pub deliveries: BTreeMap<(u64, u32), (i64, i64)>,
    pub prices: BTreeMap<u64, (i64, i64)>,
    pub settled: BTreeSet<u64>,
}

pub fn round_half_away(price: i64, energy: i64) -> i128 {
    let product = price as i128 * energy as i128;
    let sign = product.signum();
    (product.abs() + 500_000) / 1_000_000 * sign
}

impl Model {
    pub fn bal(&self, key: &PublicKey) -> i128 {
        self.balance.get(key).copied().unwrap_or(0)
    }

    pub fn predict(&mut self, world: &World, body: &Body) -> ResultCode {
        match body {
            Body::Deposit { account, amount } => {
                if *amount <= 0 {
                    return ResultCode::InvalidAmount;
                }
                *self.balance.entry(*account).or_default() += *amount as i128;
                ResultCode::Ok
            }
            Body::Withdraw { account, amount } => {
                if *amount <= 0 {
                    return ResultCode::InvalidAmount;
                }
                if self.bal(account) < *amount as i128 {
                    return ResultCode::InsufficientFunds;
                }
                *self.balance.entry(*account).or_default() -= *amount as i128;
                ResultCode::Ok
            }
            Body::RecordTrades { slot, trades } => {
                if self.settled.contains(slot) {
                    return ResultCode::SlotSettled;
                }
                if trades.is_empty() {
                    return ResultCode::Empty;
                }
                let mut sold = self.sold.clone();
                let mut spend: BTreeMap<PublicKey, i128> = BTreeMap::new();
                for trade in trades {
                    if trade.energy_mwh <= 0 {
                        return ResultCode::InvalidAmount;
                    }
                    if trade.buyer_asset == trade.seller_asset {
                        return ResultCode::SelfTrade;
                    }
                    let fees: i128 = trade.fees.iter().map(|(_, fee)| *fee as i128).sum();
                    if trade.seller_amount as i128 + fees != trade.buyer_amount as i128 {
                        return ResultCode::AmountsDoNotAdd;
                    }
                    let entry = sold.entry((*slot, trade.seller_asset)).or_default();
                    *entry += trade.energy_mwh;
                    let limit = if trade.seller_asset == GRID_ASSET {
                        i64::MAX
                    } else {
                        SELL_MAX
                    };
                    if *entry > limit {
                        return ResultCode::EnergyAlreadySold;
                    }
                    let buyer = world.owner(trade.buyer_asset);
                    let total = spend.entry(buyer).or_default();
                    *total += trade.buyer_amount as i128;
                    if *total > self.bal(&buyer) {
                        return ResultCode::InsufficientFunds;
                    }
                }
                self.sold = sold;
                for trade in trades {
                    let buyer = world.owner(trade.buyer_asset);
                    *self.balance.entry(buyer).or_default() -= trade.buyer_amount as i128;
                    *self.locked.entry(buyer).or_default() += trade.buyer_amount as i128;
                    *self.bought.entry((*slot, trade.buyer_asset)).or_default() += trade.energy_mwh;
                    self.trades.entry(*slot).or_default().push((
                        trade.buyer_asset,
                        trade.seller_asset,
                        trade.energy_mwh,
                        trade.buyer_amount,
                        trade.seller_amount,
                        trade.fees.clone(),
                    ));
                }
                ResultCode::Ok
            }
            Body::PostPrices { slot, prices } => {
                if self.settled.contains(slot) {
                    return ResultCode::SlotSettled;
                }
                if self.prices.contains_key(slot) {
                    return ResultCode::PricesExist;
                }
                self.prices
                    .insert(*slot, (prices[0].shortage_price, prices[0].surplus_price));
                ResultCode::Ok
            }
            Body::PostDeliveries {
                slot, deliveries, ..
            } => {
                if self.settled.contains(slot) {
                    return ResultCode::SlotSettled;
                }
                let delivery = &deliveries[0];
                if self.deliveries.contains_key(&(*slot, delivery.asset)) {
                    return ResultCode::DeliveryExists;
                }
                self.deliveries.insert(
                    (*slot, delivery.asset),
                    (delivery.energy_in_mwh, delivery.energy_out_mwh),
                );
                ResultCode::Ok
            }
            Body::SettleSlot { slot } => {
                if self.settled.contains(slot) {
                    return ResultCode::SlotSettled;
                }
                let traded: BTreeSet<u32> = self
                    .sold
                    .keys()
                    .chain(self.bought.keys())
                    .filter(|(s, _)| s == slot)
                    .map(|(_, asset)| *asset)
                    .collect();
                if traded
                    .iter()
                    .any(|asset| !self.deliveries.contains_key(&(*slot, *asset)))
                {
                    return ResultCode::DeliveriesMissing;
                }
                let delivered: Vec<(u32, i64, i64)> = self
                    .deliveries
                    .iter()
                    .filter(|((s, _), _)| s == slot)
                    .map(|((_, asset), (i, o))| (*asset, *i, *o))
                    .collect();
                let mut imbalance_money: Vec<(PublicKey, i128)> = Vec::new();
                for (asset, energy_in, energy_out) in &delivered {
                    let bought = self.bought.get(&(*slot, *asset)).copied().unwrap_or(0);
                    let sold = self.sold.get(&(*slot, *asset)).copied().unwrap_or(0);
                    let imbalance = (energy_in - energy_out) - (bought - sold);
                    if imbalance == 0 || *asset == GRID_ASSET {
                        continue;
                    }
                    let Some((shortage, surplus)) = self.prices.get(slot) else {
                        return ResultCode::PricesMissing;
                    };
                    let money = if imbalance > 0 {
                        round_half_away(*shortage, imbalance)
                    } else {
                        -round_half_away(*surplus, -imbalance)
                    };
                    imbalance_money.push((world.owner(*asset), money));
                }
                let mut out_left: BTreeMap<u32, i64> =
                    delivered.iter().map(|(a, _, o)| (*a, *o)).collect();
                for (buyer, seller, energy, buyer_amount, seller_amount, fees) in
                    self.trades.remove(slot).unwrap_or_default()
                {
                    *self.locked.entry(world.owner(buyer)).or_default() -= buyer_amount as i128;
                    *self.balance.entry(world.owner(seller)).or_default() += seller_amount as i128;
                    for (area, fee) in fees {
                        *self.balance.entry(area).or_default() += fee as i128;
                    }
                    let left = out_left.get_mut(&seller).unwrap();
                    let covered = energy.min(*left).max(0);
                    *left -= covered;
                    *self.tokens.entry(world.owner(buyer)).or_default() += covered as i128;
                }
                for (owner, money) in imbalance_money {
                    *self.balance.entry(owner).or_default() -= money;
                    *self.balance.entry(world.grid.public()).or_default() += money;
                }
                self.settled.insert(*slot);
                ResultCode::Ok
            }
            Body::Register { .. } => unreachable!("not generated"),
        }
    }
}

pub struct Signer {
    pub nonces: BTreeMap<PublicKey, u64>,
}

impl Signer {
    pub fn sign(&mut self, keypair: &Keypair, body: Body) -> SignedTransaction {
        let nonce = self.nonces.entry(keypair.public()).or_insert(0);
        Transaction {
            chain_id: "model".into(),
            signer: keypair.public(),
            nonce: *nonce + 1,
            body,
        }
        .sign(keypair)
    }
    pub fn applied(&mut self, tx: &SignedTransaction) {
        *self.nonces.get_mut(&tx.transaction.signer).unwrap() += 1;
    }
    pub fn failed(&mut self, _tx: &SignedTransaction) {}
}

pub fn setup(world: &World) -> (State, Signer) {
    let mut state = State::from_genesis(&world.genesis);
    let mut signer = Signer {
        nonces: BTreeMap::new(),
    };
    let mut register =
        |state: &mut State, account: PublicKey, role: Role, assets: Vec<AssetSpec>| {
            let tx = signer.sign(
                &world.operator,
                Body::Register {
                    account,
                    name: String::new(),
                    role,
                    assets,
                },
            );
            assert_eq!(state.apply(&tx), ResultCode::Ok);
            signer.applied(&tx);
        };
    register(
        &mut state,
        world.grid.public(),
        Role::Participant,
        vec![AssetSpec {
            asset: GRID_ASSET,
            name: "grid".into(),
            energy_sell_max_mwh: i64::MAX,
            balancing_asset: None,
        }],
    );
    for (index, participant) in world.participants.iter().enumerate() {
        let assets = [index as u32, (index + PARTICIPANTS) as u32]
            .into_iter()
            .map(|asset| AssetSpec {
                asset,
                name: format!("asset {asset}"),
                energy_sell_max_mwh: SELL_MAX,
                balancing_asset: Some(GRID_ASSET),
            })
            .collect();
        register(&mut state, participant.public(), Role::Participant, assets);
    }
    for area in &world.areas {
        register(&mut state, area.public(), Role::AreaOperator, vec![]);
    }
    (state, signer)
}

pub fn body_of(world: &World, step: &Step) -> Option<(Keypair, Body)> {
    let account = |who: usize| {
        if who == PARTICIPANTS {
            world.grid.public()
        } else {
            world.participants[who].public()
        }
    };
    Some(match step {
        Step::Deposit { who, amount } => (
            world.gateway.clone(),
            Body::Deposit {
                account: account(*who),
                amount: *amount,
            },
        ),
        Step::Withdraw { who, amount } => (
            world.gateway.clone(),
            Body::Withdraw {
                account: account(*who),
                amount: *amount,
            },
        ),
        Step::Trades { slot, trades } => (
            world.market.clone(),
            Body::RecordTrades {
                slot: *slot,
                trades: trades
                    .iter()
                    .enumerate()
                    .map(|(index, spec)| {
                        let seller_amount =
                            round_half_away(spec.price * 1_000, spec.energy * 1_000) as i64;
                        let fee = round_half_away(spec.fee * 1_000, spec.energy * 1_000) as i64;
                        TradeEntry {
                            trade_id: index as u64,
                            buyer_asset: spec.buyer,
                            seller_asset: spec.seller,
                            energy_mwh: spec.energy * 1_000,
                            buyer_amount: seller_amount + fee + i64::from(spec.unbalanced),
                            seller_amount,
                            fees: vec![(world.areas[spec.area].public(), fee)],
                            surplus: None,
                        }
                    })
                    .collect(),
            },
        ),
        Step::Prices {
            slot,
            shortage,
            surplus,
        } => (
            world.market.clone(),
            Body::PostPrices {
                slot: *slot,
                prices: vec![BalancingPrice {
                    balancing_asset: GRID_ASSET,
                    shortage_price: shortage * 1_000,
                    surplus_price: surplus * 1_000,
                }],
            },
        ),
        Step::Deliveries {
            slot,
            asset,
            energy_in,
            energy_out,
        } => (
            world.meter.clone(),
            Body::PostDeliveries {
                slot: *slot,
                deliveries: vec![Delivery {
                    asset: *asset,
                    energy_in_mwh: energy_in * 1_000,
                    energy_out_mwh: energy_out * 1_000,
                }],
                data_hash: None,
            },
        ),
        Step::Settle { slot } => (world.market.clone(), Body::SettleSlot { slot: *slot }),
        Step::Replay { .. } | Step::Forged { .. } | Step::WrongRole { .. } => return None,
    })
}

pub fn check_against_model(world: &World, state: &State, model: &Model) {
    let mut keys: Vec<PublicKey> = world.participants.iter().map(Keypair::public).collect();
    keys.push(world.grid.public());
    keys.extend(world.areas.iter().map(Keypair::public));
    for key in keys {
        let account = &state.accounts[&key];
        assert_eq!(
            account.balance as i128,
            model.bal(&key),
            "balance of {key:?}"
        );
        assert_eq!(
            account.locked as i128,
            model.locked.get(&key).copied().unwrap_or(0),
            "locked of {key:?}"
        );
        assert_eq!(
            account.tokens_mwh as i128,
            model.tokens.get(&key).copied().unwrap_or(0),
            "tokens of {key:?}"
        );
    }
    nestgrid_ledger::verify::audit(state).unwrap();
    for book in state.slots.values() {
        for (asset, sold) in &book.sold {
            assert!(
                *sold <= state.assets[asset].energy_sell_max_mwh,
                "double selling"
            );
        }
    }
}

/// Applies `steps` to a fresh world and checks the state machine against the model after
/// every step; panics on the first disagreement.
pub fn run_steps(steps: &[Step]) {
    let world = World::new();
    let (mut state, mut signer) = setup(&world);
    let mut model = Model::default();
    let mut history: Vec<SignedTransaction> = Vec::new();
    let mut codes: Vec<ResultCode> = Vec::new();
    for step in steps {
        let before = state.clone();
        let (tx, expected) = match step {
            Step::Replay { index } if !history.is_empty() => {
                let old = history[index % history.len()].clone();
                // An applied transaction's nonce is used; a failed one's is free again only
                // if no later transaction of the signer applied, which the model knows.
                let next = signer.nonces[&old.transaction.signer] + 1;
                let expected = if old.transaction.nonce < next {
                    ResultCode::StaleNonce
                } else if old.transaction.signer == world.participants[0].public() {
                    // Only the wrong-role step signs as a participant.
                    ResultCode::WrongRole
                } else {
                    // Same nonce as the next one: it is evaluated afresh.
                    model.predict(&world, &old.transaction.body)
                };
                (old, expected)
            }
            Step::Forged { index } if !history.is_empty() => {
                let mut forged = history[index % history.len()].clone();
                forged.signature.0[index % 64] ^= 0x40;
                (forged, ResultCode::BadSignature)
            }
            Step::WrongRole { amount } => {
                let tx = signer.sign(
                    &world.participants[0],
                    Body::Deposit {
                        account: world.participants[0].public(),
                        amount: *amount,
                    },
                );
                (tx, ResultCode::WrongRole)
            }
            Step::Replay { .. } | Step::Forged { .. } => {
                codes.push(ResultCode::Empty);
                continue;
            }
            step => {
                let (keypair, body) = body_of(&world, step).unwrap();
                let tx = signer.sign(&keypair, body);
                let expected = model.predict(&world, &tx.transaction.body);
                (tx, expected)
            }
        };
        let code = state.apply(&tx);
        assert_eq!(code, expected, "step {step:?}");
        if code == ResultCode::Ok {
            signer.applied(&tx);
        } else {
            signer.failed(&tx);
            assert!(state == before, "a failed transaction changed the state");
        }
        if !matches!(step, Step::Forged { .. }) {
            history.push(tx);
        }
        codes.push(code);
        check_against_model(&world, &state, &model);
    }
}
