//! `nestgrid clear`: every mechanism on a pasted book, JSON and CSV input, the curve input, and
//! bad input refused with a message naming the row and the field, exit status 1, no panic.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BOOK_JSON: &str = r#"[
  {"id": "b1", "participant": "alice", "side": "buy",  "energy_kwh": "3", "price": "0.30"},
  {"id": "b2", "participant": "bob",   "side": "buy",  "energy_kwh": "2", "price": "0.28"},
  {"id": "b3", "participant": "carol", "side": "buy",  "energy_kwh": "4", "price": "0.26"},
  {"id": "b4", "participant": "dave",  "side": "buy",  "energy_kwh": 1,   "price": 0.15},
  {"id": "s1", "participant": "erin",  "side": "sell", "energy_kwh": "2", "price": "0.10"},
  {"id": "s2", "participant": "frank", "side": "sell", "energy_kwh": "3", "price": "0.18"},
  {"id": "s3", "participant": "grace", "side": "sell", "energy_kwh": "2", "price": "0.24"},
  {"id": "s4", "participant": "heidi", "side": "sell", "energy_kwh": "5", "price": "0.29"}
]"#;

const BOOK_CSV: &str = "id,participant,side,energy_kwh,price,time
b1,alice,buy,3,0.30,
b2,bob,buy,2,0.28,
b3,carol,buy,4,0.26,
b4,dave,buy,1,0.15,
s1,erin,sell,2,0.10,
s2,frank,sell,3,0.18,
s3,grace,sell,2,0.24,
s4,heidi,sell,5,0.29,
";

fn write(directory: &Path, name: &str, text: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).expect("write input");
    path
}

fn nestgrid(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(arguments)
        .output()
        .expect("run nestgrid")
}

fn clear(mechanism: &str, path: &Path) -> Value {
    let output = nestgrid(&["clear", "--mechanism", mechanism, path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{mechanism}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// The error message (stderr without `error: ` and the newline) of a run that must fail with
/// status 1.
fn refused(mechanism: &str, directory: &Path, name: &str, text: &str) -> String {
    let path = write(directory, name, text);
    let output = nestgrid(&["clear", "--mechanism", mechanism, path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
        .trim_end()
        .strip_prefix("error: ")
        .expect("error prefix")
        .replace(
            &format!("{}{}", directory.display(), std::path::MAIN_SEPARATOR),
            "",
        )
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a decimal string")
}

#[test]
fn huang_on_the_documented_example() {
    let directory = tempfile::tempdir().unwrap();
    let result = clear("huang", &write(directory.path(), "book.json", BOOK_JSON));
    // Demand steps 0.30 (0,3], 0.28 (3,5], 0.26 (5,9], 0.15 (9,10]; supply 0.10 (0,2],
    // 0.18 (2,5], 0.24 (5,7], 0.29 (7,12]. Q* = 7: K = b3, L = s3. Buyers b1, b2 pay 0.26,
    // sellers s1, s2 receive 0.24; 5 kWh; the operator keeps 0.02 × 5 = 0.1.
    assert_eq!(result["mechanism"], "huang");
    assert_eq!(text(&result["buyer_price"]), "0.26");
    assert_eq!(text(&result["seller_price"]), "0.24");
    assert_eq!(text(&result["volume_kwh"]), "5");
    assert_eq!(text(&result["buyers_pay"]), "1.3");
    assert_eq!(text(&result["sellers_receive"]), "1.2");
    assert_eq!(text(&result["operator_surplus"]), "0.1");
    let trades: Vec<(String, String, String)> = result["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trade| {
            (
                text(&trade["buy_id"]).to_string(),
                text(&trade["sell_id"]).to_string(),
                text(&trade["energy_kwh"]).to_string(),
            )
        })
        .collect();
    let expected = [("b1", "s1", "2"), ("b1", "s2", "1"), ("b2", "s2", "2")];
    assert_eq!(
        trades,
        expected.map(|(buy, sell, energy)| (buy.to_string(), sell.to_string(), energy.to_string()))
    );
    let filled: Vec<&str> = result["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| text(&order["filled_kwh"]))
        .collect();
    assert_eq!(filled, ["3", "2", "0", "0", "2", "3", "0", "0"]);
}

#[test]
fn every_mechanism_reads_json_and_csv_alike() {
    let directory = tempfile::tempdir().unwrap();
    let json = write(directory.path(), "book.json", BOOK_JSON);
    let csv = write(directory.path(), "book.csv", BOOK_CSV);
    // Neither extension: read by content.
    let sniffed_json = write(directory.path(), "book.txt", BOOK_JSON);
    let sniffed_csv = write(directory.path(), "book.orders", BOOK_CSV);
    for mechanism in ["pay-as-offer", "pay-as-bid", "pay-as-clear", "huang"] {
        let reference = clear(mechanism, &json);
        for other in [&csv, &sniffed_json, &sniffed_csv] {
            assert_eq!(clear(mechanism, other), reference, "{mechanism}, {other:?}");
        }
        // Energy balances and the surplus is what buyers pay beyond what sellers receive.
        let trades = reference["trades"].as_array().unwrap();
        assert!(!trades.is_empty(), "{mechanism}");
        for trade in trades {
            let buyer: f64 = text(&trade["buyer_price"]).parse().unwrap();
            let seller: f64 = text(&trade["seller_price"]).parse().unwrap();
            assert!(seller <= buyer);
        }
    }
    let clear_price = clear("pay-as-clear", &json);
    assert_eq!(clear_price["buyer_price"], clear_price["seller_price"]);
    assert_eq!(text(&clear_price["operator_surplus"]), "0");
    assert!(clear("pay-as-bid", &json)["buyer_price"].is_null());
}

#[test]
fn curve_clears_an_order_book_by_steps() {
    let directory = tempfile::tempdir().unwrap();
    let json = write(directory.path(), "book.json", BOOK_JSON);
    let result = clear("curve", &json);
    assert_eq!(
        result,
        clear("curve", &write(directory.path(), "book.csv", BOOK_CSV))
    );
    // Each order is a step at its price. At 0.25 the bids at 0.30, 0.28 and 0.26 want 9 and the
    // offers below, at 0.10, 0.18 and 0.24, give 7: demand exceeds supply. Just above 0.26 the
    // bids still in (0.30, 0.28) want 5 against the same 7. So zero net demand is met only at
    // 0.26, where b3 is at its limit and takes the 2 kWh left after b1 and b2.
    assert_eq!(result["mechanism"], "curve");
    assert_eq!(text(&result["buyer_price"]), "0.26");
    assert_eq!(text(&result["seller_price"]), "0.26");
    assert_eq!(text(&result["volume_kwh"]), "7");
    assert_eq!(text(&result["operator_surplus"]), "0");
    let filled: Vec<&str> = result["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| text(&order["filled_kwh"]))
        .collect();
    assert_eq!(filled, ["3", "2", "2", "0", "2", "3", "2", "0"]);
}

#[test]
fn trade_reduction_on_unit_orders() {
    let directory = tempfile::tempdir().unwrap();
    // Bids 10, 8, 6, 5; offers 1, 4, 5, 9 (per kWh, 1 kWh each): k = 3, p0 = 7 > b_3 = 6, so the
    // third pair is excluded and two trade at 6 (buyers) and 5 (sellers).
    let book = "id,side,energy_kwh,price
a,buy,1,10
b,buy,1,8
c,buy,1,6
d,buy,1,5
w,sell,1,1
x,sell,1,4
y,sell,1,5
z,sell,1,9
";
    let result = clear(
        "trade-reduction",
        &write(directory.path(), "units.csv", book),
    );
    assert_eq!(text(&result["buyer_price"]), "6");
    assert_eq!(text(&result["seller_price"]), "5");
    assert_eq!(text(&result["volume_kwh"]), "2");
    assert_eq!(text(&result["operator_surplus"]), "2");
}

#[test]
fn curves_clear_at_the_equilibrium() {
    let directory = tempfile::tempdir().unwrap();
    let curves = r#"[
  {"participant": "house-1", "points": [["0.10", "4"], ["0.30", "0"]]},
  {"participant": "battery", "points": [["0.15", "2"], ["0.20", "0"], ["0.25", "0"], ["0.30", "-2"]]},
  {"participant": "pv-park", "points": [[0.05, 0], [0.20, -6]]}
]"#;
    let result = clear("curve", &write(directory.path(), "curves.json", curves));
    assert_eq!(text(&result["price"]), "0.16");
    assert_eq!(result["crossing"], "exact");
    assert_eq!(text(&result["imbalance_kw"]), "0");
    assert_eq!(text(&result["demand_kw"]), "4.4");
    assert_eq!(text(&result["supply_kw"]), "4.4");
    let powers: Vec<&str> = result["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|allocation| text(&allocation["power_kw"]))
        .collect();
    assert_eq!(powers, ["2.8", "1.6", "-4.4"]);
}

#[test]
fn bad_orders_name_the_row_and_the_field() {
    let directory = tempfile::tempdir().unwrap();
    let directory = directory.path();
    let header = "id,participant,side,energy_kwh,price\n";
    let cases: [(&str, &str, String, &str); 14] = [
        (
            "huang",
            "orders.csv",
            format!("{header}a,x,buy,1,0.3\nb,y,sell,1,0.2\nc,z,buy,-1,0.3\n"),
            "orders.csv:4: energy_kwh: must be greater than 0",
        ),
        (
            "huang",
            "orders.csv",
            format!("{header}a,x,buy,0,0.3\n"),
            "orders.csv:2: energy_kwh: must be greater than 0",
        ),
        (
            "pay-as-bid",
            "orders.csv",
            format!("{header}a,x,bid,1,0.3\n"),
            "orders.csv:2: side: unknown side `bid`; expected `buy` or `sell`",
        ),
        (
            "pay-as-clear",
            "orders.csv",
            format!("{header}a,x,buy,1,0.3\na,y,sell,1,0.2\n"),
            "orders.csv:3: id: duplicate id `a` (also at line 2)",
        ),
        (
            "huang",
            "orders.csv",
            format!("{header}a,x,buy,1,0.3x\n"),
            "orders.csv:2: price: `0.3x` is not a decimal number (write e.g. 1.25, no exponent)",
        ),
        (
            "huang",
            "orders.csv",
            header.to_string(),
            "orders.csv: the book is empty; give at least one order",
        ),
        (
            "huang",
            "orders.csv",
            "id,side,energy_kwh,price,colour\n".to_string(),
            "orders.csv:1: unknown column `colour`; expected columns id, participant, side, \
             energy_kwh, price, time",
        ),
        (
            "huang",
            "orders.csv",
            "id,side,energy_kwh\na,buy,1\n".to_string(),
            "orders.csv:1: missing column `price`",
        ),
        (
            "huang",
            "orders.json",
            r#"[{"id": "a", "side": "buy", "energy_kwh": "1", "price": "0.3"},
                {"id": "b", "side": "sel", "energy_kwh": "1", "price": "0.2"}]"#
                .to_string(),
            "orders.json: [1].side: unknown side `sel`; expected `buy` or `sell`",
        ),
        (
            "huang",
            "orders.json",
            r#"[{"id": "a", "side": "buy", "energy_kwh": -2, "price": "0.3"}]"#.to_string(),
            "orders.json: [0].energy_kwh: must be greater than 0",
        ),
        (
            "huang",
            "orders.json",
            r#"[{"id": "a", "side": "buy", "energy_kwh": "1", "price": "0.3", "note": 1}]"#
                .to_string(),
            "orders.json: [0]: unknown field `note`; expected one of id, participant, side, \
             energy_kwh, price, time",
        ),
        (
            "huang",
            "orders.json",
            r#"[{"id": "a", "side": "buy", "energy_kwh": "1"}]"#.to_string(),
            "orders.json: [0]: missing field `price`",
        ),
        (
            "huang",
            "orders.json",
            "[]".to_string(),
            "orders.json: the book is empty; give at least one order",
        ),
        (
            "trade-reduction",
            "orders.json",
            r#"[{"id": "a", "side": "buy", "energy_kwh": "1", "price": "0.3"},
                {"id": "b", "side": "sell", "energy_kwh": "2", "price": "0.2"}]"#
                .to_string(),
            "orders.json: [1].energy_kwh: 2 kWh, but [0] has 1 kWh: trade-reduction needs unit \
             orders (every order with the same energy_kwh)",
        ),
    ];
    for (mechanism, name, input, expected) in cases {
        assert_eq!(refused(mechanism, directory, name, &input), expected);
    }
    let more_digits = r#"[{"id": "a", "side": "buy", "energy_kwh": "0.0000001", "price": "1"}]"#;
    assert!(
        refused("huang", directory, "digits.json", more_digits)
            .starts_with("digits.json: [0].energy_kwh: `0.0000001` has more than 6 decimal places")
    );
    let not_json = refused("huang", directory, "broken.json", "[{\"id\": ");
    assert!(
        not_json.starts_with("broken.json: not a JSON array of orders"),
        "{not_json}"
    );
    let ragged = format!("{header}a,x,buy,1,0.3,9\n");
    assert_eq!(
        refused("huang", directory, "ragged.csv", &ragged),
        "ragged.csv:2: 6 fields, but the header has 5"
    );
}

#[test]
fn bad_curves_name_the_point() {
    let directory = tempfile::tempdir().unwrap();
    let directory = directory.path();
    let cases = [
        (
            r#"[{"participant": "a", "points": [["0.1", "1"], ["0.1", "0"]]}]"#,
            "curves.json: [0].points[1]: price 0.1 must be above the previous point's price 0.1",
        ),
        (
            r#"[{"participant": "a", "points": [["0.1", "1"], ["0.2", "2"]]}]"#,
            "curves.json: [0].points[1]: power 2 kW is above the previous point's 1 kW; power \
             must not increase with price",
        ),
        (
            r#"[{"participant": "a", "points": []}]"#,
            "curves.json: [0].points: give at least one point",
        ),
        (
            r#"[{"participant": "a", "points": [["0.1", "1"]]}, {"participant": "a", "points": [["0.1", "1"]]}]"#,
            "curves.json: [1].participant: duplicate participant `a` (also at [0])",
        ),
        ("[]", "curves.json: no curves; give at least one"),
    ];
    for (input, expected) in cases {
        assert_eq!(refused("curve", directory, "curves.json", input), expected);
    }
}

#[test]
fn unknown_mechanism_lists_the_names() {
    let output = nestgrid(&["clear", "--mechanism", "magic", "book.json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pay-as-offer, pay-as-bid, pay-as-clear, huang, trade-reduction, curve"),
        "{stderr}"
    );
}
