//! Results files: `trades.csv`, `area_slots.csv`, `storage.csv`, `bills.csv`, `kpis.json`, and
//! the summary table printed at the end of a run. Every column is documented in
//! `docs/results.md`; units are in the column names, amounts are exact decimal strings.

use crate::accounts::{AreaSlot, AssetAccount};
use crate::{Outcome, Recorder, SimError, TradeRecord};
use nestgrid_grid::Topology;
use nestgrid_types::decimal::write_fixed;
use nestgrid_types::{
    AreaId, AssetId, Energy, MICRO_PER_UNIT, MWH_PER_KWH, Money, Participant, Price,
};
use serde::Serialize;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Quotes a CSV field when it needs it (names may contain commas or quotes).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn energy(out: &mut String, value: Energy) {
    let _ = write_fixed(out, value.0, MWH_PER_KWH);
}
fn money(out: &mut String, value: Money) {
    let _ = write_fixed(out, value.0, MICRO_PER_UNIT);
}
fn price(out: &mut String, value: Price) {
    let _ = write_fixed(out, value.0, MICRO_PER_UNIT);
}

/// Slot start times as RFC 3339 strings with the scenario's UTC offset.
pub fn slot_times(topology: &Topology) -> Vec<String> {
    let settings = &topology.settings;
    (0..settings.slot_count)
        .map(|slot| {
            let offset =
                jiff::SignedDuration::from_secs(slot as i64 * settings.slot_seconds as i64);
            settings
                .start
                .checked_add(offset)
                .map(|time| time.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// Writes trades, area records and storage levels to CSV files in a folder, as they happen.
pub struct CsvRecorder {
    /// `None` when trades are not kept (`run --no-trades`).
    trades: Option<BufWriter<File>>,
    area_slots: BufWriter<File>,
    storage: BufWriter<File>,
    area_names: Vec<String>,
    asset_names: Vec<String>,
    times: Vec<String>,
    line: String,
    error: Option<SimError>,
    dir: PathBuf,
}

impl CsvRecorder {
    /// Creates the folder and the files with their header rows. Without `with_trades`, no
    /// `trades.csv` is written and one left by an earlier run is removed, so the folder never
    /// mixes runs.
    pub fn create(dir: &Path, topology: &Topology, with_trades: bool) -> Result<Self, SimError> {
        std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
        let open = |name: &str| -> Result<BufWriter<File>, SimError> {
            let path = dir.join(name);
            File::create(&path)
                .map(|file| BufWriter::with_capacity(1 << 20, file))
                .map_err(|source| io_error(&path, source))
        };
        let currency = topology.settings.currency.to_lowercase();
        let mut recorder = CsvRecorder {
            trades: if with_trades {
                Some(open("trades.csv")?)
            } else {
                let stale = dir.join("trades.csv");
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|source| io_error(&stale, source))?;
                }
                None
            },
            area_slots: open("area_slots.csv")?,
            storage: open("storage.csv")?,
            area_names: topology
                .areas
                .iter()
                .map(|area| csv_field(&area.path))
                .collect(),
            asset_names: topology
                .assets
                .iter()
                .map(|asset| csv_field(&asset.path))
                .collect(),
            times: slot_times(topology),
            line: String::with_capacity(256),
            error: None,
            dir: dir.to_path_buf(),
        };
        let trades_header = format!(
            "trade_id,slot,time,tick,market,buyer,seller,energy_kwh,price_{currency}_per_kwh,amount_{currency},fee_{currency},surplus_{currency}\n"
        );
        let areas_header = format!(
            "slot,time,area,bought_kwh,sold_kwh,imported_kwh,exported_kwh,production_kwh,consumption_kwh,\
             storage_charge_kwh,storage_discharge_kwh,grid_supply_kwh,grid_absorb_kwh,unserved_kwh,curtailed_kwh,self_consumed_kwh,\
             market_energy_kwh,price_min_{currency}_per_kwh,price_mean_{currency}_per_kwh,price_max_{currency}_per_kwh,trades\n"
        );
        let storage_header = "slot,time,asset,stored_kwh\n";
        let header_error = |name: &'static str| move |source| io_error(&dir.join(name), source);
        if let Some(trades) = recorder.trades.as_mut() {
            trades
                .write_all(trades_header.as_bytes())
                .map_err(header_error("trades.csv"))?;
        }
        recorder
            .area_slots
            .write_all(areas_header.as_bytes())
            .map_err(header_error("area_slots.csv"))?;
        recorder
            .storage
            .write_all(storage_header.as_bytes())
            .map_err(header_error("storage.csv"))?;
        Ok(recorder)
    }

    fn take_error(&mut self) -> Result<(), SimError> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn participant(&self, participant: Participant) -> &str {
        match participant {
            Participant::Asset(asset) => &self.asset_names[asset.index()],
            Participant::Area(area) => &self.area_names[area.index()],
        }
    }

    /// Flushes every file; returns the first error met while writing.
    pub fn finish(mut self) -> Result<(), SimError> {
        self.take_error()?;
        let dir = self.dir.clone();
        let files = self
            .trades
            .as_mut()
            .map(|writer| (writer, "trades.csv"))
            .into_iter()
            .chain([
                (&mut self.area_slots, "area_slots.csv"),
                (&mut self.storage, "storage.csv"),
            ]);
        for (writer, name) in files {
            writer
                .flush()
                .map_err(|source| io_error(&dir.join(name), source))?;
        }
        Ok(())
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SimError {
    SimError::Io {
        file: path.display().to_string(),
        source,
    }
}

impl Recorder for CsvRecorder {
    fn trade(&mut self, record: &TradeRecord) {
        if self.error.is_some() || self.trades.is_none() {
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(
            line,
            "{},{},{},{},{},{},{},",
            record.trade,
            record.slot,
            self.times[record.slot as usize],
            record.tick,
            self.area_names[record.market.index()],
            self.participant(record.buyer),
            self.participant(record.seller),
        );
        energy(&mut line, record.energy);
        line.push(',');
        price(&mut line, record.price);
        line.push(',');
        money(&mut line, Money::for_energy(record.price, record.energy));
        line.push(',');
        money(&mut line, record.fee);
        line.push(',');
        money(&mut line, record.surplus);
        line.push('\n');
        let Some(trades) = self.trades.as_mut() else {
            return;
        };
        if let Err(source) = trades.write_all(line.as_bytes()) {
            self.error = Some(io_error(&self.dir.join("trades.csv"), source));
        }
        self.line = line;
    }

    fn area_slot(&mut self, slot: u32, area: AreaId, record: &AreaSlot) {
        if self.error.is_some() {
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(
            line,
            "{},{},{}",
            slot,
            self.times[slot as usize],
            self.area_names[area.index()]
        );
        for value in [
            record.bought,
            record.sold,
            record.imported,
            record.exported,
            record.production,
            record.consumption,
            record.storage_charge,
            record.storage_discharge,
            record.grid_supply,
            record.grid_absorb,
            record.unserved,
            record.curtailed,
            record.self_consumed(),
            record.market_energy,
        ] {
            line.push(',');
            energy(&mut line, value);
        }
        for value in [record.price_min, record.price_mean(), record.price_max] {
            line.push(',');
            if let Some(value) = value {
                price(&mut line, value);
            }
        }
        let _ = writeln!(line, ",{}", record.trades);
        if let Err(source) = self.area_slots.write_all(line.as_bytes()) {
            self.error = Some(io_error(&self.dir.join("area_slots.csv"), source));
        }
        self.line = line;
    }

    fn stored(&mut self, slot: u32, asset: AssetId, stored: Energy) {
        if self.error.is_some() {
            return;
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(
            line,
            "{},{},{},",
            slot,
            self.times[slot as usize],
            self.asset_names[asset.index()]
        );
        energy(&mut line, stored);
        line.push('\n');
        if let Err(source) = self.storage.write_all(line.as_bytes()) {
            self.error = Some(io_error(&self.dir.join("storage.csv"), source));
        }
        self.line = line;
    }
}

/// Sums of asset accounts over each area's subtree.
pub fn subtree_bills(topology: &Topology, outcome: &Outcome) -> Vec<AssetAccount> {
    subtree_sums(topology, outcome, |_| true)
}

/// Like [`subtree_bills`], leaving out grid connections (the households' side only).
fn subtree_bills_without_grid(topology: &Topology, outcome: &Outcome) -> Vec<AssetAccount> {
    subtree_sums(topology, outcome, |asset| {
        !matches!(asset.kind, nestgrid_grid::AssetKind::GridConnection(_))
    })
}

fn subtree_sums(
    topology: &Topology,
    outcome: &Outcome,
    include: impl Fn(&nestgrid_grid::Asset) -> bool,
) -> Vec<AssetAccount> {
    let mut sums = vec![AssetAccount::default(); topology.areas.len()];
    for (index, asset) in topology.assets.iter().enumerate() {
        if include(asset) {
            add_account(&mut sums[asset.area.index()], &outcome.assets[index]);
        }
    }
    for &area in &topology.bottom_up {
        if let Some(parent) = topology.areas[area.index()].parent {
            let child = sums[area.index()].clone();
            add_account(&mut sums[parent.index()], &child);
        }
    }
    sums
}

fn add_account(total: &mut AssetAccount, part: &AssetAccount) {
    total.bought += part.bought;
    total.sold += part.sold;
    total.energy_in += part.energy_in;
    total.energy_out += part.energy_out;
    total.spent += part.spent;
    total.earned += part.earned;
    total.fees_paid += part.fees_paid;
    total.imbalance_energy += part.imbalance_energy;
    total.imbalance_paid += part.imbalance_paid;
    total.base_cost += part.base_cost;
    total.traded_inside += part.traded_inside;
    total.traded_outside += part.traded_outside;
}

/// Writes `bills.csv`: one row per asset, then one per area (its subtree's assets, plus the fees
/// the area itself collected).
pub fn write_bills(dir: &Path, topology: &Topology, outcome: &Outcome) -> Result<(), SimError> {
    let path = dir.join("bills.csv");
    let file = File::create(&path).map_err(|source| io_error(&path, source))?;
    let mut out = BufWriter::new(file);
    let currency = topology.settings.currency.to_lowercase();
    let mut text = format!(
        "kind,name,bought_kwh,sold_kwh,spent_{c},earned_{c},fees_paid_{c},fees_collected_{c},surplus_collected_{c},imbalance_kwh,imbalance_{c},total_{c}\n",
        c = currency
    );
    let mut row =
        |kind: &str, name: &str, account: &AssetAccount, (fees, surplus): (Money, Money)| {
            let _ = write!(text, "{kind},{},", csv_field(name));
            energy(&mut text, account.bought);
            text.push(',');
            energy(&mut text, account.sold);
            for value in [
                account.spent,
                account.earned,
                account.fees_paid,
                fees,
                surplus,
            ] {
                text.push(',');
                money(&mut text, value);
            }
            text.push(',');
            energy(&mut text, account.imbalance_energy);
            text.push(',');
            money(&mut text, account.imbalance_paid);
            text.push(',');
            // Total: what the party ends with (positive = net income).
            money(&mut text, fees + surplus - account.net_cost());
            text.push('\n');
        };
    for (index, asset) in topology.assets.iter().enumerate() {
        row(
            "asset",
            &asset.path,
            &outcome.assets[index],
            (Money::ZERO, Money::ZERO),
        );
    }
    let sums = subtree_bills(topology, outcome);
    // Fees and surplus collected by the area and every area below it: the subtree as one party,
    // so the root's total is zero (every payment inside the grid has its receiver inside it).
    let mut collected: Vec<(Money, Money)> = outcome
        .areas
        .iter()
        .map(|account| (account.fees_collected, account.surplus_collected))
        .collect();
    for &area in &topology.bottom_up {
        if let Some(parent) = topology.areas[area.index()].parent {
            let (fees, surplus) = collected[area.index()];
            collected[parent.index()].0 += fees;
            collected[parent.index()].1 += surplus;
        }
    }
    for (index, area) in topology.areas.iter().enumerate() {
        row("area", &area.path, &sums[index], collected[index]);
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| io_error(&path, source))
}

/// KPIs of one area or asset, as written to `kpis.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Kpi {
    /// Full path.
    pub name: String,
    /// `area` or the asset kind.
    pub kind: String,
    /// Share of local use covered by local production (areas; null when nothing was used).
    pub self_sufficiency: Option<f64>,
    /// Share of local production used locally (areas; null when nothing was produced).
    pub self_consumption: Option<f64>,
    /// Energy demanded: consumption plus charging, kWh.
    pub energy_demanded_kwh: f64,
    /// Energy produced: production plus discharging, kWh.
    pub energy_produced_kwh: f64,
    /// Money spent on energy, fees and imbalances.
    pub cost: f64,
    /// Money earned from selling energy (and surplus imbalances).
    pub revenue: f64,
    /// Base-case cost (grid connection only, no batteries) minus actual net cost.
    pub savings: f64,
    /// Share of traded energy that stayed inside (areas: trades between two parties of the
    /// subtree, against those plus trades across its boundary; assets: counterpart in the same
    /// area).
    pub share_traded_inside: Option<f64>,
    /// The rest: traded across the boundary with the parent.
    pub share_traded_with_parent: Option<f64>,
    /// Largest inflow from outside in one slot, as average power, kW.
    pub peak_import_kw: f64,
    /// Largest outflow in one slot, as average power, kW.
    pub peak_export_kw: f64,
    /// Fees collected by the area (areas only).
    pub fees_collected: f64,
}

fn ratio(numerator: Energy, denominator: Energy) -> Option<f64> {
    (denominator.0 > 0).then(|| numerator.0 as f64 / denominator.0 as f64)
}

/// Computes the KPIs of every area (in area order) and then every asset.
pub fn kpis(topology: &Topology, outcome: &Outcome) -> (Vec<Kpi>, Vec<Kpi>) {
    let to_kw = |value: Energy| value.as_f64() * 3_600.0 / topology.settings.slot_seconds as f64;
    let bills = subtree_bills_without_grid(topology, outcome);
    let mut traded_inside: Vec<Energy> = outcome
        .areas
        .iter()
        .map(|account| account.traded_inside)
        .collect();
    for &area in &topology.bottom_up {
        if let Some(parent) = topology.areas[area.index()].parent {
            let child = traded_inside[area.index()];
            traded_inside[parent.index()] += child;
        }
    }
    let areas = topology
        .areas
        .iter()
        .enumerate()
        .map(|(index, area)| {
            let account = &outcome.areas[index];
            let totals = &account.totals;
            let bill = &bills[index];
            // Trades whose path turned inside the subtree, against trades across its boundary.
            let inside = traded_inside[index];
            let across = account.traded_across;
            let traded = inside + across;
            let cost = bill.spent + bill.fees_paid + bill.imbalance_paid.max(Money::ZERO);
            let revenue = bill.earned - bill.imbalance_paid.min(Money::ZERO);
            Kpi {
                name: area.path.clone(),
                kind: "area".into(),
                self_sufficiency: ratio(account.self_consumed, totals.local_use()),
                self_consumption: ratio(account.self_consumed, totals.local_production()),
                energy_demanded_kwh: totals.local_use().as_f64(),
                energy_produced_kwh: totals.local_production().as_f64(),
                cost: cost.as_f64(),
                revenue: revenue.as_f64(),
                savings: (bill.base_cost - bill.net_cost()).as_f64(),
                share_traded_inside: ratio(inside, traded),
                share_traded_with_parent: ratio(across, traded),
                peak_import_kw: to_kw(account.peak_external_in),
                peak_export_kw: to_kw(account.peak_external_out),
                fees_collected: account.fees_collected.as_f64(),
            }
        })
        .collect();
    let assets = topology
        .assets
        .iter()
        .enumerate()
        .map(|(index, asset)| {
            let account = &outcome.assets[index];
            let traded = account.traded_inside + account.traded_outside;
            let cost = account.spent + account.fees_paid + account.imbalance_paid.max(Money::ZERO);
            let revenue = account.earned - account.imbalance_paid.min(Money::ZERO);
            Kpi {
                name: asset.path.clone(),
                kind: asset.kind.name().into(),
                self_sufficiency: None,
                self_consumption: None,
                energy_demanded_kwh: account.energy_in.as_f64(),
                energy_produced_kwh: account.energy_out.as_f64(),
                cost: cost.as_f64(),
                revenue: revenue.as_f64(),
                savings: (account.base_cost - account.net_cost()).as_f64(),
                share_traded_inside: ratio(account.traded_inside, traded),
                share_traded_with_parent: ratio(account.traded_outside, traded),
                peak_import_kw: to_kw(account.peak_in),
                peak_export_kw: to_kw(account.peak_out),
                fees_collected: 0.0,
            }
        })
        .collect();
    (areas, assets)
}

#[derive(Serialize)]
struct KpiFile<'a> {
    scenario: &'a str,
    currency: &'a str,
    slots: u32,
    slot_seconds: u32,
    matches: u64,
    areas: Vec<Kpi>,
    assets: Vec<Kpi>,
}

/// Writes `kpis.json`.
pub fn write_kpis(dir: &Path, topology: &Topology, outcome: &Outcome) -> Result<(), SimError> {
    let (areas, assets) = kpis(topology, outcome);
    let file = KpiFile {
        scenario: &topology.settings.name,
        currency: &topology.settings.currency,
        slots: outcome.slots,
        slot_seconds: topology.settings.slot_seconds,
        matches: outcome.matches,
        areas,
        assets,
    };
    let path = dir.join("kpis.json");
    let text = serde_json::to_string_pretty(&file).expect("KPIs serialize");
    std::fs::write(&path, text + "\n").map_err(|source| io_error(&path, source))
}

/// The summary table printed after a run: the root and each top-level area.
pub fn summary_table(topology: &Topology, outcome: &Outcome) -> String {
    let (kpis, _) = kpis(topology, outcome);
    let bills = subtree_bills_without_grid(topology, outcome);
    let currency = &topology.settings.currency;
    let mut rows = vec![topology.root()];
    rows.extend(topology.areas[0].children.iter().copied());
    let name_width = rows
        .iter()
        .map(|area| topology.areas[area.index()].name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<name_width$}  {:>12}  {:>14}  {:>16}  {:>14}",
        "area",
        "traded kWh",
        format!("mean {currency}/kWh"),
        "self-sufficiency",
        format!("net cost {currency}"),
    );
    for area in rows {
        let index = area.index();
        let bill = &bills[index];
        let traded = bill.bought;
        let mean = if traded.0 > 0 {
            format!("{:.4}", (bill.spent.as_f64()) / traded.as_f64())
        } else {
            "-".into()
        };
        let sufficiency = kpis[index]
            .self_sufficiency
            .map_or("-".into(), |value| format!("{:.1} %", value * 100.0));
        let _ = writeln!(
            text,
            "{:<name_width$}  {:>12.3}  {:>14}  {:>16}  {:>14.2}",
            topology.areas[index].name,
            traded.as_f64(),
            mean,
            sufficiency,
            bill.net_cost().as_f64(),
        );
    }
    text
}
