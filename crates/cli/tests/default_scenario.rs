//! End to end: `nestgrid run` on the built-in village, then the result files are read back as a
//! user would and checked against the rules that must hold for any run — every area's energy
//! balance in every slot, money conservation along every trade's path, bills that sum to zero,
//! one KPI entry per area and asset.
//!
//! Amounts are parsed as exact integers of 10⁻⁶ (kWh or currency units), never as floats, so
//! the checks are exact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Runs the built-in scenario into `dir` and checks that the command succeeded.
fn run_default(dir: &Path, extra: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(["run", "--quiet", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("the nestgrid binary starts");
    assert!(
        output.status.success(),
        "nestgrid run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Parses an exact decimal with at most six places (`-1.25`, `0`, `3.000001`) into millionths.
fn micro(text: &str) -> i64 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(
        !whole.is_empty()
            && fraction.len() <= 6
            && whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit()),
        "`{text}` is not a decimal with at most six places"
    );
    let whole: i64 = whole.parse().expect("whole part fits");
    let fraction: i64 = format!("{fraction:0<6}").parse().expect("six digits");
    let value = whole * 1_000_000 + fraction;
    if negative { -value } else { value }
}

/// A CSV file as rows of column name → text.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let headers = reader.headers().expect("a header row").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed row");
            assert_eq!(
                record.len(),
                headers.len(),
                "row {record:?} has the wrong width"
            );
            headers
                .iter()
                .zip(record.iter())
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        })
        .collect()
}

fn field<'r>(row: &'r BTreeMap<String, String>, name: &str) -> &'r str {
    row.get(name)
        .unwrap_or_else(|| panic!("no column `{name}` in {row:?}"))
}

fn number(row: &BTreeMap<String, String>, name: &str) -> i64 {
    micro(field(row, name))
}

/// The parent path of an area or asset path (`Village/Street 1` → `Village`).
fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(parent, _)| parent)
}

#[test]
fn results_of_the_default_scenario_are_consistent() {
    check_results(&[]);
}

/// The same checks with a two-price mechanism in every market: operator surplus included.
#[test]
fn results_with_huang_s_auction_are_consistent() {
    check_results(&["--mechanism", "huang"]);
}

fn check_results(extra: &[&str]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    run_default(dir.path(), extra);

    let kpis: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("kpis.json")).expect("kpis.json exists"),
    )
    .expect("kpis.json is JSON");
    let kpi_names = |key: &str| -> Vec<String> {
        kpis[key]
            .as_array()
            .unwrap_or_else(|| panic!("kpis.json has a list `{key}`"))
            .iter()
            .map(|entry| entry["name"].as_str().expect("a name").to_string())
            .collect()
    };
    let area_names = kpi_names("areas");
    let asset_names = kpi_names("assets");
    let areas: BTreeSet<&str> = area_names.iter().map(String::as_str).collect();
    let assets: BTreeSet<&str> = asset_names.iter().map(String::as_str).collect();
    let root = area_names[0].as_str();
    let slots = kpis["slots"].as_u64().expect("slots") as usize;
    // The village: one day of 15-minute slots, 3 streets of 10 houses.
    assert_eq!(slots, 96);
    assert_eq!(root, "Village");
    assert_eq!(areas.len(), area_names.len(), "area names are unique");
    assert_eq!(assets.len(), asset_names.len(), "asset names are unique");
    assert_eq!(areas.len(), 1 + 3 + 30);

    // area_slots.csv: one row per area and slot, each balancing exactly.
    let rows = read_csv(&dir.path().join("area_slots.csv"));
    assert_eq!(rows.len(), areas.len() * slots, "areas × slots rows");
    let mut seen = BTreeSet::new();
    for row in &rows {
        let slot: usize = field(row, "slot").parse().expect("a slot number");
        let area = field(row, "area");
        assert!(slot < slots, "slot {slot} out of range");
        assert!(areas.contains(area), "unknown area {area}");
        assert!(
            seen.insert((slot, area.to_string())),
            "({slot}, {area}) twice"
        );
        let inflow = number(row, "production_kwh")
            + number(row, "storage_discharge_kwh")
            + number(row, "grid_supply_kwh")
            + number(row, "imported_kwh")
            + number(row, "unserved_kwh");
        let outflow = number(row, "consumption_kwh")
            + number(row, "storage_charge_kwh")
            + number(row, "grid_absorb_kwh")
            + number(row, "exported_kwh")
            + number(row, "curtailed_kwh");
        assert!(
            (inflow - outflow).abs() <= 1,
            "slot {slot}, {area}: in {inflow} µkWh ≠ out {outflow} µkWh"
        );
        let local_use = number(row, "consumption_kwh") + number(row, "storage_charge_kwh");
        let local_production = number(row, "production_kwh") + number(row, "storage_discharge_kwh");
        assert_eq!(
            number(row, "self_consumed_kwh"),
            local_use.min(local_production),
            "slot {slot}, {area}: self_consumed_kwh"
        );
        if area == root {
            // Nothing crosses the root's boundary: it has no parent.
            assert_eq!(number(row, "imported_kwh"), 0, "slot {slot}: root import");
            assert_eq!(number(row, "exported_kwh"), 0, "slot {slot}: root export");
        }
    }

    // trades.csv: the rows of one trade_id are its path; money is conserved along it.
    let trades = read_csv(&dir.path().join("trades.csv"));
    assert!(!trades.is_empty(), "the village trades");
    let currency = kpis["currency"].as_str().expect("currency").to_lowercase();
    let amount_column = format!("amount_{currency}");
    let fee_column = format!("fee_{currency}");
    let mut by_trade: BTreeMap<u64, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for row in &trades {
        let id: u64 = field(row, "trade_id").parse().expect("a trade id");
        by_trade.entry(id).or_default().push(row);
    }
    assert_eq!(
        by_trade.len() as u64,
        kpis["matches"].as_u64().expect("matches"),
        "one trade_id per match"
    );
    for (id, path) in &by_trade {
        let mut fees = 0;
        let mut surpluses = 0;
        let mut buyer_amount = None;
        let mut seller_amount = None;
        for row in path {
            let (market, buyer, seller) = (
                field(row, "market"),
                field(row, "buyer"),
                field(row, "seller"),
            );
            assert_ne!(buyer, seller, "trade {id}: self-trade in {market}");
            assert!(
                areas.contains(market),
                "trade {id}: unknown market {market}"
            );
            // A market sees only its own assets and the area agents of its neighbours.
            for party in [buyer, seller] {
                let own_asset = assets.contains(party) && parent(party) == Some(market);
                let neighbour = areas.contains(party)
                    && (parent(party) == Some(market) || parent(market) == Some(party));
                assert!(
                    own_asset || neighbour,
                    "trade {id}: {market} cannot see {party}"
                );
            }
            for column in ["slot", "tick", "energy_kwh"] {
                assert_eq!(
                    field(row, column),
                    field(path[0], column),
                    "trade {id}: {column}"
                );
            }
            let fee = number(row, &fee_column);
            assert!(fee >= 0, "trade {id}: negative fee in {market}");
            fees += fee;
            let surplus = number(row, &format!("surplus_{currency}"));
            assert!(surplus >= 0, "trade {id}: negative surplus in {market}");
            surpluses += surplus;
            if assets.contains(buyer) {
                assert!(buyer_amount.is_none(), "trade {id}: two buyers");
                buyer_amount = Some(number(row, &amount_column));
            }
            if assets.contains(seller) {
                assert!(seller_amount.is_none(), "trade {id}: two sellers");
                // Where a two-price mechanism matched in the seller's own market, the row shows
                // the buyer's price; the seller got the amount less the surplus.
                seller_amount =
                    Some(number(row, &amount_column) - number(row, &format!("surplus_{currency}")));
            }
        }
        let buyer_amount = buyer_amount.unwrap_or_else(|| panic!("trade {id}: no buyer asset"));
        let seller_amount = seller_amount.unwrap_or_else(|| panic!("trade {id}: no seller asset"));
        assert_eq!(
            buyer_amount,
            seller_amount + fees + surpluses,
            "trade {id}: buyer paid = seller received + fees + operator surplus"
        );
    }

    // bills.csv: the whole grid is one party whose payments all stay inside it.
    let bills = read_csv(&dir.path().join("bills.csv"));
    let total_column = format!("total_{currency}");
    let collected_column = format!("fees_collected_{currency}");
    let asset_rows: Vec<_> = bills
        .iter()
        .filter(|row| field(row, "kind") == "asset")
        .collect();
    let area_rows: Vec<_> = bills
        .iter()
        .filter(|row| field(row, "kind") == "area")
        .collect();
    assert_eq!(asset_rows.len() + area_rows.len(), bills.len(), "kinds");
    let billed_assets: BTreeSet<&str> = asset_rows.iter().map(|row| field(row, "name")).collect();
    let billed_areas: BTreeSet<&str> = area_rows.iter().map(|row| field(row, "name")).collect();
    assert_eq!(billed_assets, assets, "one bill per asset");
    assert_eq!(billed_areas, areas, "one bill per area");
    let root_row = area_rows
        .iter()
        .find(|row| field(row, "name") == root)
        .expect("a bill for the root");
    assert_eq!(number(root_row, &total_column), 0, "the root's total");
    let asset_totals: i64 = asset_rows
        .iter()
        .map(|row| number(row, &total_column))
        .sum();
    let surplus_column = format!("surplus_collected_{currency}");
    assert_eq!(
        asset_totals + number(root_row, &collected_column) + number(root_row, &surplus_column),
        0,
        "asset totals + fees and surplus collected by every area"
    );
    let asset_fees: i64 = asset_rows
        .iter()
        .map(|row| number(row, &format!("fees_paid_{currency}")))
        .sum();
    assert_eq!(
        asset_fees,
        number(root_row, &collected_column),
        "fees paid = fees collected"
    );

    // kpis.json: one entry per area and per asset, shares within [0, 1].
    assert_eq!(kpis["scenario"], "Village");
    for entry in kpis["areas"].as_array().expect("areas") {
        assert_eq!(entry["kind"], "area");
        for key in [
            "self_sufficiency",
            "self_consumption",
            "share_traded_inside",
            "share_traded_with_parent",
        ] {
            let value = &entry[key];
            if let Some(share) = value.as_f64() {
                assert!(
                    (0.0..=1.0).contains(&share),
                    "{}: {key} = {share}",
                    entry["name"]
                );
            } else {
                assert!(value.is_null(), "{}: {key} = {value}", entry["name"]);
            }
        }
    }
    for entry in kpis["areas"].as_array().expect("areas") {
        assert!(
            entry["self_sufficiency"].is_f64(),
            "{}: every village area uses energy",
            entry["name"]
        );
    }
    for entry in kpis["assets"].as_array().expect("assets") {
        assert!(entry["self_sufficiency"].is_null(), "{}", entry["name"]);
        assert!(entry["kind"].as_str().is_some_and(|kind| kind != "area"));
    }

    // storage.csv: only storing assets, only known slots.
    for row in read_csv(&dir.path().join("storage.csv")) {
        let asset = field(&row, "asset");
        assert!(assets.contains(asset), "unknown asset {asset}");
        let slot: usize = field(&row, "slot").parse().expect("a slot number");
        assert!(slot < slots);
        assert!(
            number(&row, "stored_kwh") >= 0,
            "{asset} stores a negative amount"
        );
    }
}

#[test]
fn decimals_parse_exactly() {
    assert_eq!(micro("0"), 0);
    assert_eq!(micro("1.5"), 1_500_000);
    assert_eq!(micro("-0.000001"), -1);
    assert_eq!(micro("12.345678"), 12_345_678);
}
