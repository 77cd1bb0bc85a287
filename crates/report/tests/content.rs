//! The report of the default village: its embedded data equals the results files, it needs no
//! network, every area is in the tree, and it works without trades.csv.

mod common;

use common::{embedded, simulate};
use serde_json::Value;
use std::path::Path;

fn village(with_trades: bool) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary folder");
    simulate(nestgrid_grid::DEFAULT_SCENARIO, dir.path(), with_trades);
    let path = nestgrid_report::write(dir.path()).expect("report is written");
    assert_eq!(path, dir.path().join("report.html"));
    let html = std::fs::read_to_string(&path).expect("report is readable");
    (dir, html)
}

fn csv_rows(path: &Path) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).expect("csv opens");
    let headers = reader.headers().expect("header").clone();
    let rows = reader.records().map(|r| r.expect("row")).collect();
    (headers, rows)
}

fn col(headers: &csv::StringRecord, name: &str) -> usize {
    headers.iter().position(|h| h == name).expect(name)
}

fn area<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["areas"]
        .as_array()
        .expect("areas")
        .iter()
        .find(|a| a["name"] == name)
        .expect(name)
}

#[test]
fn embedded_series_equal_area_slots_csv() {
    let (dir, html) = village(true);
    let data = embedded(&html);
    assert_eq!(data["currency"], "EUR");
    let (headers, rows) = csv_rows(&dir.path().join("area_slots.csv"));
    for name in [
        "Village",
        "Village/Street 2",
        "Village/Street 2/Battery home 1",
    ] {
        let embedded_area = area(&data, name);
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| &r[col(&headers, "area")] == name)
            .collect();
        assert_eq!(mine.len(), 96);
        let wh = |row: &csv::StringRecord, column: &str| -> i64 {
            (row[col(&headers, column)].parse::<f64>().unwrap() * 1000.0).round() as i64
        };
        let price = |row: &csv::StringRecord, column: &str| -> Value {
            let text = &row[col(&headers, column)];
            if text.is_empty() {
                Value::Null
            } else {
                Value::from((text.parse::<f64>().unwrap() * 10_000.0).round() as i64)
            }
        };
        for (slot, row) in mine.iter().enumerate() {
            assert_eq!(row[0].parse::<usize>().unwrap(), slot);
            assert_eq!(
                embedded_area["market_wh"][slot],
                wh(row, "market_energy_kwh")
            );
            assert_eq!(embedded_area["imported_wh"][slot], wh(row, "imported_kwh"));
            assert_eq!(embedded_area["exported_wh"][slot], wh(row, "exported_kwh"));
            assert_eq!(
                embedded_area["price_min"][slot],
                price(row, "price_min_eur_per_kwh")
            );
            assert_eq!(
                embedded_area["price_mean"][slot],
                price(row, "price_mean_eur_per_kwh")
            );
            assert_eq!(
                embedded_area["price_max"][slot],
                price(row, "price_max_eur_per_kwh")
            );
        }
    }
    // Some slot of Street 2 has trades, so the price chart has something to show.
    assert!(
        area(&data, "Village/Street 2")["price_mean"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| !p.is_null())
    );
}

#[test]
fn embedded_bills_equal_bills_csv_exactly() {
    let (dir, html) = village(true);
    let data = embedded(&html);
    let fields: Vec<String> = data["bill_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields.len(), 10);
    let (headers, rows) = csv_rows(&dir.path().join("bills.csv"));
    let mut checked = 0;
    for row in &rows {
        let name = &row[col(&headers, "name")];
        let list = if &row[0] == "asset" {
            "assets"
        } else {
            "areas"
        };
        let entry = data[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .expect(name);
        for (position, field) in fields.iter().enumerate() {
            let text = &row[col(&headers, field)];
            // Every CSV value has at most six decimals, so the f64 round trip is exact.
            assert_eq!(
                entry["bill"][position].as_f64().unwrap(),
                text.parse::<f64>().unwrap(),
                "{name} {field}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, rows.len());
    // The assets of a battery home are attached to it, and its battery has a stored series.
    let home = data["areas"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["name"] == "Village/Street 1/Battery home 1")
        .unwrap();
    let battery = data["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Village/Street 1/Battery home 1/Battery")
        .unwrap();
    assert_eq!(battery["area"], home);
    let (headers, rows) = csv_rows(&dir.path().join("storage.csv"));
    let stored: Vec<i64> = rows
        .iter()
        .filter(|r| &r[col(&headers, "asset")] == "Village/Street 1/Battery home 1/Battery")
        .map(|r| (r[col(&headers, "stored_kwh")].parse::<f64>().unwrap() * 1000.0).round() as i64)
        .collect();
    assert_eq!(stored.len(), 96);
    for (slot, value) in stored.iter().enumerate() {
        assert_eq!(battery["stored_wh"][slot], *value);
    }
}

#[test]
fn report_references_nothing_outside_itself() {
    let (_dir, html) = village(true);
    for forbidden in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(forbidden), "report contains {forbidden}");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
}

#[test]
fn every_area_is_in_the_tree() {
    let (dir, html) = village(true);
    let data = embedded(&html);
    let kpis: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("kpis.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = kpis["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    let areas = data["areas"].as_array().unwrap();
    assert_eq!(areas.len(), names.len());
    assert_eq!(names.len(), 34);
    for (position, entry) in areas.iter().enumerate() {
        assert_eq!(entry["name"], names[position]);
        // The tree is built from parent links: every area must reach the root by them.
        let mut at = position as i64;
        let mut steps = 0;
        while at >= 0 {
            let parent = areas[at as usize]["parent"].as_i64().unwrap();
            assert!(parent < at, "parents come before children");
            at = parent;
            steps += 1;
        }
        assert_eq!(steps, entry["name"].as_str().unwrap().split('/').count());
    }
    // Every asset hangs under an area.
    for asset in data["assets"].as_array().unwrap() {
        assert!(asset["area"].as_i64().unwrap() >= 0, "{}", asset["name"]);
    }
}

#[test]
fn works_without_trades_csv() {
    let (dir, html) = village(false);
    assert!(!dir.path().join("trades.csv").exists());
    let data = embedded(&html);
    assert_eq!(data["areas"].as_array().unwrap().len(), 34);
}

#[test]
fn size_of_the_village_report() {
    let (_dir, html) = village(true);
    // 124 KB when measured; the bound leaves room for growth.
    assert!(
        html.len() < 400_000,
        "village report is {} bytes",
        html.len()
    );
    eprintln!("village report: {} bytes", html.len());
}
