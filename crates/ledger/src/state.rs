//! The state machine: accounts, assets, open slots, and the rules that change them.
//!
//! [`State::apply`] takes one signed transaction and returns its [`ResultCode`]. A transaction
//! that fails changes nothing — not even the signer's nonce: every rule is checked first, on
//! the side, and only then is anything written.
//!
//! # Money, energy and tokens
//!
//! - An account's `balance` is its available money; `locked` is money of recorded trades not
//!   yet settled. Recording a trade moves the buyer's amount from `balance` to `locked`, so a
//!   buyer can never promise money it does not have. Settlement pays the locked money to the
//!   seller and the area operators.
//! - Imbalances are settled after the energy has flowed, so they cannot be refused: an account
//!   whose balance does not cover its imbalance goes negative (owes money), and can neither
//!   buy nor withdraw until it has paid in.
//! - A seller can never have more energy sold for a slot than its asset's registered maximum:
//!   that is what makes double selling impossible.
//! - Energy tokens stand for delivered energy. Settling a slot mints, for each trade in the
//!   order the trades were recorded, as much as the seller's asset actually delivered (up to the
//!   trade's energy) and gives it to the buyer's account; the seller's account counts what it
//!   minted. Energy the seller did not deliver becomes the seller's shortage, paid at the
//!   imbalance price.
//!
//! # Arithmetic
//!
//! Sums are formed in `i128` and converted back with a check ([`ResultCode::Overflow`]).
//! Price × energy is rounded once, half away from zero, to a micro-unit (the same rule as the
//! simulator's bills, [`Money::for_energy`]).

use crate::codes::ResultCode;
use crate::crypto::{Hash, PublicKey};
use crate::genesis::Genesis;
use crate::limits;
use crate::tx::{AssetSpec, Body, Role, Roles, SignedTransaction, TradeEntry};
use borsh::{BorshDeserialize, BorshSerialize};
use nestgrid_types::{Energy, Money, Price};
use std::collections::{BTreeMap, BTreeSet};

/// An account.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    /// Label given at registration (or the genesis name of an authority).
    pub name: String,
    /// What it may do.
    pub roles: Roles,
    /// Nonce of its last applied transaction (0: none yet).
    pub nonce: u64,
    /// Available money (micro-units); negative when it owes imbalance money.
    pub balance: i64,
    /// Money locked by recorded, unsettled trades.
    pub locked: i64,
    /// Energy tokens held (mWh of delivered energy bought).
    pub tokens_mwh: i64,
    /// Energy tokens minted for energy this account's assets delivered to buyers (mWh).
    pub tokens_minted_mwh: i64,
}

/// A registered asset.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Asset {
    /// The owning account.
    pub owner: PublicKey,
    /// Name.
    pub name: String,
    /// Most energy it may sell per slot (mWh).
    pub energy_sell_max_mwh: i64,
    /// Who settles its imbalances.
    pub balancing_asset: Option<u32>,
}

/// What is known of a slot that is not settled yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SlotBook {
    /// Recorded trades, in order.
    pub trades: Vec<TradeEntry>,
    /// Energy sold per asset (mWh).
    pub sold: BTreeMap<u32, i64>,
    /// Energy bought per asset (mWh).
    pub bought: BTreeMap<u32, i64>,
    /// Metered (in, out) per asset (mWh).
    pub deliveries: BTreeMap<u32, (i64, i64)>,
    /// (shortage, surplus) price per balancing asset.
    pub prices: BTreeMap<u32, (i64, i64)>,
    /// Hashes of off-chain meter data.
    pub data_hashes: Vec<Hash>,
}

/// Totals over the chain's life, for audits.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Totals {
    /// Money paid in through gateways.
    pub deposited: i64,
    /// Money paid out through gateways.
    pub withdrawn: i64,
    /// Energy tokens minted (mWh).
    pub tokens_minted_mwh: i64,
    /// Trades recorded.
    pub trades: u64,
    /// Slots settled.
    pub slots_settled: u64,
}

/// The whole state. Its hash, [`State::hash`], goes into every block header.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct State {
    /// The chain's name.
    pub chain_id: String,
    /// Accounts by key.
    pub accounts: BTreeMap<PublicKey, Account>,
    /// Assets by number.
    pub assets: BTreeMap<u32, Asset>,
    /// Open slots.
    pub slots: BTreeMap<u64, SlotBook>,
    /// Settled slots.
    pub settled: BTreeSet<u64>,
    /// Totals.
    pub totals: Totals,
}

type Outcome = Result<(), ResultCode>;

impl State {
    /// The state at genesis: the authorities with their roles, the validators as accounts
    /// with the validator role.
    pub fn from_genesis(genesis: &Genesis) -> State {
        let mut state = State {
            chain_id: genesis.chain_id.clone(),
            ..State::default()
        };
        for validator in &genesis.validators {
            state.accounts.entry(*validator).or_default().roles.0 |= Role::Validator.bit();
        }
        for authority in &genesis.authorities {
            let account = state.accounts.entry(authority.key).or_default();
            account.roles.0 |= Roles::of(&authority.roles).0;
            account.name = authority.name.clone();
        }
        state
    }

    /// The state's hash (of its canonical encoding).
    pub fn hash(&self) -> Hash {
        let bytes = borsh::to_vec(self).expect("encoding to a vector cannot fail");
        Hash::of(b"nestgrid state", &[&bytes])
    }

    /// The checks that need no state: the chain and the signature. A block may only carry
    /// transactions that pass them.
    pub fn check_stateless(&self, tx: &SignedTransaction) -> ResultCode {
        if tx.transaction.chain_id != self.chain_id {
            return ResultCode::WrongChain;
        }
        if !tx.signature_valid() {
            return ResultCode::BadSignature;
        }
        ResultCode::Ok
    }

    /// Applies `tx`, checking its signature.
    pub fn apply(&mut self, tx: &SignedTransaction) -> ResultCode {
        match self.check_stateless(tx) {
            ResultCode::Ok => self.apply_checked(tx),
            code => code,
        }
    }

    /// Applies `tx` whose chain and signature were checked by [`State::check_stateless`].
    pub fn apply_checked(&mut self, tx: &SignedTransaction) -> ResultCode {
        let transaction = &tx.transaction;
        let Some(signer) = self.accounts.get(&transaction.signer) else {
            return ResultCode::UnknownSigner;
        };
        if transaction.nonce <= signer.nonce {
            return ResultCode::StaleNonce;
        }
        if transaction.nonce != signer.nonce + 1 {
            return ResultCode::FutureNonce;
        }
        let allowed = transaction.body.allowed();
        if !allowed.iter().any(|role| signer.roles.has(*role)) {
            return ResultCode::WrongRole;
        }
        let outcome = match &transaction.body {
            Body::Register {
                account,
                name,
                role,
                assets,
            } => self.register(*account, name, *role, assets),
            Body::Deposit { account, amount } => self.deposit(*account, *amount),
            Body::Withdraw { account, amount } => self.withdraw(*account, *amount),
            Body::RecordTrades { slot, trades } => self.record_trades(*slot, trades),
            Body::PostPrices { slot, prices } => self.post_prices(*slot, prices),
            Body::PostDeliveries {
                slot,
                deliveries,
                data_hash,
            } => self.post_deliveries(*slot, deliveries, *data_hash),
            Body::SettleSlot { slot } => self.settle(*slot),
        };
        match outcome {
            Ok(()) => {
                self.accounts
                    .get_mut(&transaction.signer)
                    .expect("the signer exists")
                    .nonce = transaction.nonce;
                ResultCode::Ok
            }
            Err(code) => code,
        }
    }

    /// The next nonce `account` must use.
    pub fn next_nonce(&self, account: &PublicKey) -> u64 {
        self.accounts.get(account).map_or(1, |a| a.nonce + 1)
    }

    fn open_slot(&self, slot: u64) -> Outcome {
        if self.settled.contains(&slot) {
            Err(ResultCode::SlotSettled)
        } else {
            Ok(())
        }
    }

    fn register(
        &mut self,
        account: PublicKey,
        name: &str,
        role: Role,
        assets: &[AssetSpec],
    ) -> Outcome {
        if self.accounts.contains_key(&account) {
            return Err(ResultCode::AccountExists);
        }
        if !account.is_usable() {
            return Err(ResultCode::BadKey);
        }
        if name.len() > limits::NAME_BYTES {
            return Err(ResultCode::TooLarge);
        }
        if !matches!(role, Role::Participant | Role::AreaOperator | Role::Auditor)
            || (role != Role::Participant && !assets.is_empty())
        {
            return Err(ResultCode::WrongRole);
        }
        if assets.len() > limits::ASSETS_PER_REGISTRATION {
            return Err(ResultCode::TooLarge);
        }
        let mut new_numbers = BTreeSet::new();
        for spec in assets {
            if spec.name.len() > limits::NAME_BYTES {
                return Err(ResultCode::TooLarge);
            }
            if spec.energy_sell_max_mwh < 0 {
                return Err(ResultCode::InvalidAmount);
            }
            if self.assets.contains_key(&spec.asset) || !new_numbers.insert(spec.asset) {
                return Err(ResultCode::AssetExists);
            }
        }
        for spec in assets {
            if let Some(balancing) = spec.balancing_asset
                && !self.assets.contains_key(&balancing)
                && !new_numbers.contains(&balancing)
            {
                return Err(ResultCode::UnknownAsset);
            }
        }
        self.accounts.insert(
            account,
            Account {
                name: name.to_string(),
                roles: Roles::of(&[role]),
                ..Account::default()
            },
        );
        for spec in assets {
            self.assets.insert(
                spec.asset,
                Asset {
                    owner: account,
                    name: spec.name.clone(),
                    energy_sell_max_mwh: spec.energy_sell_max_mwh,
                    balancing_asset: spec.balancing_asset,
                },
            );
        }
        Ok(())
    }

    fn deposit(&mut self, account: PublicKey, amount: i64) -> Outcome {
        if amount <= 0 {
            return Err(ResultCode::InvalidAmount);
        }
        let entry = self
            .accounts
            .get(&account)
            .ok_or(ResultCode::UnknownAccount)?;
        let balance = entry
            .balance
            .checked_add(amount)
            .ok_or(ResultCode::Overflow)?;
        let deposited = self
            .totals
            .deposited
            .checked_add(amount)
            .ok_or(ResultCode::Overflow)?;
        self.accounts.get_mut(&account).expect("checked").balance = balance;
        self.totals.deposited = deposited;
        Ok(())
    }

    fn withdraw(&mut self, account: PublicKey, amount: i64) -> Outcome {
        if amount <= 0 {
            return Err(ResultCode::InvalidAmount);
        }
        let entry = self
            .accounts
            .get(&account)
            .ok_or(ResultCode::UnknownAccount)?;
        if entry.balance < amount {
            return Err(ResultCode::InsufficientFunds);
        }
        let withdrawn = self
            .totals
            .withdrawn
            .checked_add(amount)
            .ok_or(ResultCode::Overflow)?;
        self.accounts.get_mut(&account).expect("checked").balance -= amount;
        self.totals.withdrawn = withdrawn;
        Ok(())
    }

    fn record_trades(&mut self, slot: u64, trades: &[TradeEntry]) -> Outcome {
        self.open_slot(slot)?;
        if trades.is_empty() {
            return Err(ResultCode::Empty);
        }
        if trades.len() > limits::TRADES_PER_BATCH {
            return Err(ResultCode::TooLarge);
        }
        let empty = SlotBook::default();
        let book = self.slots.get(&slot).unwrap_or(&empty);
        // Checked on the side: energy sold per seller asset, money locked per buyer account.
        let mut sold: BTreeMap<u32, i64> = BTreeMap::new();
        let mut locks: BTreeMap<PublicKey, i64> = BTreeMap::new();
        for trade in trades {
            if trade.energy_mwh <= 0
                || trade.buyer_amount < 0
                || trade.seller_amount < 0
                || trade.fees.iter().any(|(_, fee)| *fee < 0)
                || trade.surplus.is_some_and(|(_, surplus)| surplus < 0)
            {
                return Err(ResultCode::InvalidAmount);
            }
            if trade.fees.len() > limits::FEES_PER_TRADE {
                return Err(ResultCode::TooLarge);
            }
            if trade.buyer_asset == trade.seller_asset {
                return Err(ResultCode::SelfTrade);
            }
            let buyer = self
                .assets
                .get(&trade.buyer_asset)
                .ok_or(ResultCode::UnknownAsset)?;
            let seller = self
                .assets
                .get(&trade.seller_asset)
                .ok_or(ResultCode::UnknownAsset)?;
            for recipient in trade
                .fees
                .iter()
                .map(|(key, _)| key)
                .chain(trade.surplus.as_ref().map(|(key, _)| key))
            {
                let account = self
                    .accounts
                    .get(recipient)
                    .ok_or(ResultCode::UnknownAccount)?;
                if !account.roles.has(Role::AreaOperator) {
                    return Err(ResultCode::NotAreaOperator);
                }
            }
            let paid_out = trade.seller_amount as i128
                + trade.fees.iter().map(|(_, fee)| *fee as i128).sum::<i128>()
                + trade.surplus.map_or(0, |(_, surplus)| surplus as i128);
            if paid_out != trade.buyer_amount as i128 {
                return Err(ResultCode::AmountsDoNotAdd);
            }
            let seller_sold = sold
                .entry(trade.seller_asset)
                .or_insert_with(|| book.sold.get(&trade.seller_asset).copied().unwrap_or(0));
            *seller_sold = seller_sold
                .checked_add(trade.energy_mwh)
                .ok_or(ResultCode::Overflow)?;
            if *seller_sold > seller.energy_sell_max_mwh {
                return Err(ResultCode::EnergyAlreadySold);
            }
            let lock = locks.entry(buyer.owner).or_insert(0);
            *lock = lock
                .checked_add(trade.buyer_amount)
                .ok_or(ResultCode::Overflow)?;
            let account = &self.accounts[&buyer.owner];
            if *lock > account.balance {
                return Err(ResultCode::InsufficientFunds);
            }
            if account.locked.checked_add(*lock).is_none() {
                return Err(ResultCode::Overflow);
            }
        }
        // Everything holds: write.
        for (owner, lock) in locks {
            let account = self.accounts.get_mut(&owner).expect("checked");
            account.balance -= lock;
            account.locked += lock;
        }
        let book = self.slots.entry(slot).or_default();
        for (asset, total) in sold {
            book.sold.insert(asset, total);
        }
        for trade in trades {
            let bought = book.bought.entry(trade.buyer_asset).or_insert(0);
            *bought = bought.saturating_add(trade.energy_mwh);
        }
        book.trades.extend_from_slice(trades);
        self.totals.trades += trades.len() as u64;
        Ok(())
    }

    fn post_prices(&mut self, slot: u64, prices: &[crate::tx::BalancingPrice]) -> Outcome {
        self.open_slot(slot)?;
        if prices.is_empty() {
            return Err(ResultCode::Empty);
        }
        if prices.len() > limits::ITEMS_PER_BATCH {
            return Err(ResultCode::TooLarge);
        }
        let book = self.slots.get(&slot);
        let mut seen = BTreeSet::new();
        for price in prices {
            if !self.assets.contains_key(&price.balancing_asset) {
                return Err(ResultCode::UnknownAsset);
            }
            if !seen.insert(price.balancing_asset)
                || book.is_some_and(|book| book.prices.contains_key(&price.balancing_asset))
            {
                return Err(ResultCode::PricesExist);
            }
        }
        let book = self.slots.entry(slot).or_default();
        for price in prices {
            book.prices.insert(
                price.balancing_asset,
                (price.shortage_price, price.surplus_price),
            );
        }
        Ok(())
    }

    fn post_deliveries(
        &mut self,
        slot: u64,
        deliveries: &[crate::tx::Delivery],
        data_hash: Option<Hash>,
    ) -> Outcome {
        self.open_slot(slot)?;
        if deliveries.is_empty() {
            return Err(ResultCode::Empty);
        }
        if deliveries.len() > limits::ITEMS_PER_BATCH {
            return Err(ResultCode::TooLarge);
        }
        let book = self.slots.get(&slot);
        let mut seen = BTreeSet::new();
        for delivery in deliveries {
            if delivery.energy_in_mwh < 0 || delivery.energy_out_mwh < 0 {
                return Err(ResultCode::InvalidAmount);
            }
            if !self.assets.contains_key(&delivery.asset) {
                return Err(ResultCode::UnknownAsset);
            }
            if !seen.insert(delivery.asset)
                || book.is_some_and(|book| book.deliveries.contains_key(&delivery.asset))
            {
                return Err(ResultCode::DeliveryExists);
            }
        }
        let book = self.slots.entry(slot).or_default();
        for delivery in deliveries {
            book.deliveries.insert(
                delivery.asset,
                (delivery.energy_in_mwh, delivery.energy_out_mwh),
            );
        }
        book.data_hashes.extend(data_hash);
        Ok(())
    }

    fn settle(&mut self, slot: u64) -> Outcome {
        self.open_slot(slot)?;
        let empty = SlotBook::default();
        let book = self.slots.get(&slot).unwrap_or(&empty);
        for asset in book.sold.keys().chain(book.bought.keys()) {
            if !book.deliveries.contains_key(asset) {
                return Err(ResultCode::DeliveriesMissing);
            }
        }
        // Changes, formed on the side in i128.
        let mut balance: BTreeMap<PublicKey, i128> = BTreeMap::new();
        let mut locked: BTreeMap<PublicKey, i128> = BTreeMap::new();
        let mut tokens: BTreeMap<PublicKey, i128> = BTreeMap::new();
        let mut minted: BTreeMap<PublicKey, i128> = BTreeMap::new();
        let mut undelivered: BTreeMap<u32, i64> = book
            .deliveries
            .iter()
            .map(|(asset, (_, out))| (*asset, *out))
            .collect();
        for trade in &book.trades {
            let buyer = self.assets[&trade.buyer_asset].owner;
            let seller = self.assets[&trade.seller_asset].owner;
            *locked.entry(buyer).or_default() -= trade.buyer_amount as i128;
            *balance.entry(seller).or_default() += trade.seller_amount as i128;
            for (operator, fee) in &trade.fees {
                *balance.entry(*operator).or_default() += *fee as i128;
            }
            if let Some((operator, surplus)) = trade.surplus {
                *balance.entry(operator).or_default() += surplus as i128;
            }
            let remaining = undelivered.get_mut(&trade.seller_asset).expect("checked");
            let covered = trade.energy_mwh.min(*remaining).max(0);
            *remaining -= covered;
            *tokens.entry(buyer).or_default() += covered as i128;
            *minted.entry(seller).or_default() += covered as i128;
        }
        for (asset, (energy_in, energy_out)) in &book.deliveries {
            let bought = book.bought.get(asset).copied().unwrap_or(0) as i128;
            let sold = book.sold.get(asset).copied().unwrap_or(0) as i128;
            let imbalance = (*energy_in as i128 - *energy_out as i128) - (bought - sold);
            if imbalance == 0 {
                continue;
            }
            let spec = &self.assets[asset];
            let Some(balancing) = spec.balancing_asset else {
                continue;
            };
            let (shortage, surplus) = *book
                .prices
                .get(&balancing)
                .ok_or(ResultCode::PricesMissing)?;
            let energy = i64::try_from(imbalance.abs()).map_err(|_| ResultCode::Overflow)?;
            let money = if imbalance > 0 {
                Money::for_energy(Price(shortage), Energy(energy)).0 as i128
            } else {
                -(Money::for_energy(Price(surplus), Energy(energy)).0 as i128)
            };
            *balance.entry(spec.owner).or_default() -= money;
            *balance.entry(self.assets[&balancing].owner).or_default() += money;
        }
        // Check every result fits before writing anything.
        let fits = |value: i64, change: i128| -> Result<i64, ResultCode> {
            i64::try_from(value as i128 + change).map_err(|_| ResultCode::Overflow)
        };
        let mut updates: BTreeMap<PublicKey, Account> = BTreeMap::new();
        let keys: BTreeSet<PublicKey> = balance
            .keys()
            .chain(locked.keys())
            .chain(tokens.keys())
            .chain(minted.keys())
            .copied()
            .collect();
        for key in keys {
            let mut account = self.accounts[&key].clone();
            account.balance = fits(account.balance, balance.get(&key).copied().unwrap_or(0))?;
            account.locked = fits(account.locked, locked.get(&key).copied().unwrap_or(0))?;
            account.tokens_mwh = fits(account.tokens_mwh, tokens.get(&key).copied().unwrap_or(0))?;
            account.tokens_minted_mwh = fits(
                account.tokens_minted_mwh,
                minted.get(&key).copied().unwrap_or(0),
            )?;
            updates.insert(key, account);
        }
        let minted_total = fits(
            self.totals.tokens_minted_mwh,
            minted.values().copied().sum::<i128>(),
        )?;
        for (key, account) in updates {
            self.accounts.insert(key, account);
        }
        self.totals.tokens_minted_mwh = minted_total;
        self.totals.slots_settled += 1;
        self.slots.remove(&slot);
        self.settled.insert(slot);
        Ok(())
    }
}
