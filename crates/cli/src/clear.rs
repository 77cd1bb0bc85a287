//! `nestgrid clear`: clears one order book (or one set of bid curves) given as a file and prints
//! the result as JSON. The formats are documented in `docs/clearing.md`.
//!
//! Reading is strict: every amount is read exactly as a decimal (no binary floating point), every
//! field is checked, and the first problem is reported with the row and the field
//! (`orders.csv:4: energy_kwh: must be greater than 0`, `orders.json: [3].side: ...`).

use anyhow::{Context, Result, anyhow, bail};
use nestgrid_market::curve::{self, Crossing, Curve, CurveError, CurvePoint};
use nestgrid_market::{BookError, Scratch, check_book, clearing_prices, payments, residuals};
use nestgrid_types::decimal::DecimalError;
use nestgrid_types::{AssetId, Energy, Mechanism, Order, Participant, Power, Price, Side};
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Arguments of `nestgrid clear`.
#[derive(clap::Args)]
pub struct ClearArgs {
    /// Clearing mechanism: pay-as-offer, pay-as-bid, pay-as-clear, huang, trade-reduction, or
    /// curve (bid curves instead of orders).
    #[arg(long, value_parser = parse_clearing)]
    mechanism: Clearing,
    /// The orders: a JSON array or a CSV file (by extension, else by content; `-` reads standard
    /// input). For `curve`, a JSON array of curves. Formats: docs/clearing.md.
    orders: PathBuf,
}

/// What to clear with.
#[derive(Clone, Copy, Debug)]
enum Clearing {
    Orders(Mechanism),
    Curve,
}

fn parse_clearing(text: &str) -> Result<Clearing, String> {
    if text == "curve" {
        return Ok(Clearing::Curve);
    }
    Mechanism::from_name(text)
        .map(Clearing::Orders)
        .ok_or_else(|| {
            let names: Vec<&str> = Mechanism::CLEARING
                .iter()
                .map(|mechanism| mechanism.name())
                .collect();
            format!(
                "unknown mechanism `{text}`; expected one of {}",
                names.join(", ")
            )
        })
}

/// Runs `nestgrid clear`.
pub fn run(args: ClearArgs) -> Result<()> {
    let (name, text) = read(&args.orders)?;
    let format = Format::of(&args.orders, &text);
    let output = match args.mechanism {
        Clearing::Orders(mechanism) => {
            let orders = match format {
                Format::Json => orders_from_json(&name, &text)?,
                Format::Csv => orders_from_csv(&name, &text)?,
            };
            serde_json::to_string_pretty(&clear_orders(mechanism, &name, &orders)?)?
        }
        Clearing::Curve if format == Format::Csv || !holds_curves(&text) => {
            // An order book: each order is a step curve at its price (Mechanism::Curve).
            let orders = match format {
                Format::Json => orders_from_json(&name, &text)?,
                Format::Csv => orders_from_csv(&name, &text)?,
            };
            serde_json::to_string_pretty(&clear_orders(Mechanism::Curve, &name, &orders)?)?
        }
        Clearing::Curve => serde_json::to_string_pretty(&clear_curves(&name, &text)?)?,
    };
    println!("{output}");
    Ok(())
}

/// Whether a JSON input for `curve` holds curves (its first item has `points`) rather than
/// orders. Input that is not a JSON array counts as curves, whose reader then says what is wrong.
fn holds_curves(text: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items
            .first()
            .is_none_or(|first| first.get("points").is_some()),
        _ => true,
    }
}

fn read(path: &Path) -> Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

impl Format {
    /// By extension (`.json`, `.csv`), else by content: JSON when it starts with `[`.
    fn of(path: &Path, text: &str) -> Self {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("json") => Format::Json,
            Some(extension) if extension.eq_ignore_ascii_case("csv") => Format::Csv,
            _ if text.trim_start().starts_with('[') => Format::Json,
            _ => Format::Csv,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading orders

const FIELDS: [&str; 6] = ["id", "participant", "side", "energy_kwh", "price", "time"];

/// Where an order came from, for messages: a JSON array index or a CSV line.
#[derive(Clone, Copy, Debug)]
enum Row {
    Json(usize),
    Csv(u64),
}

impl Row {
    /// `orders.json: [3]` or `orders.csv:4`.
    fn at(self, name: &str) -> String {
        match self {
            Row::Json(index) => format!("{name}: [{index}]"),
            Row::Csv(line) => format!("{name}:{line}"),
        }
    }

    /// `orders.json: [3].side` or `orders.csv:4: side`.
    fn field(self, name: &str, field: &str) -> String {
        match self {
            Row::Json(index) => format!("{name}: [{index}].{field}"),
            Row::Csv(line) => format!("{name}:{line}: {field}"),
        }
    }

    /// `[3]` or `line 4`, to point at another row.
    fn short(self) -> String {
        match self {
            Row::Json(index) => format!("[{index}]"),
            Row::Csv(line) => format!("line {line}"),
        }
    }
}

/// One order as read from the file.
#[derive(Clone, Debug)]
struct InputOrder {
    row: Row,
    id: String,
    participant: String,
    side: Side,
    energy: Energy,
    price: Price,
    time: u64,
}

/// A field's value before interpretation: JSON text (a string literal, a number, ...) or a CSV
/// cell.
enum Value<'a> {
    Json(&'a RawValue),
    Cell(&'a str),
}

impl Value<'_> {
    /// The value as text: a JSON string's content or a JSON number's digits; `None` for other
    /// JSON values.
    fn text(&self) -> Option<String> {
        match self {
            Value::Cell(cell) => Some(cell.to_string()),
            Value::Json(raw) => {
                let text = raw.get().trim();
                if text.starts_with('"') {
                    serde_json::from_str::<String>(text).ok()
                } else if text.starts_with(|first: char| first == '-' || first.is_ascii_digit()) {
                    Some(text.to_string())
                } else {
                    None
                }
            }
        }
    }
}

/// Reads the fields of one order, whatever the format.
fn order_from_fields<'a>(
    name: &str,
    row: Row,
    fields: impl Fn(&str) -> Option<Value<'a>>,
) -> Result<InputOrder> {
    let text = |field: &str, required: bool| -> Result<Option<String>> {
        match fields(field) {
            None if required => bail!("{}: missing field `{field}`", row.at(name)),
            None => Ok(None),
            Some(value) => match value.text() {
                Some(text) => Ok(Some(text)),
                None => bail!("{}: must be a string or a number", row.field(name, field)),
            },
        }
    };
    let required = |field: &str| -> Result<String> {
        let value = text(field, true)?.unwrap_or_default();
        if value.trim().is_empty() {
            bail!("{}: must not be empty", row.field(name, field));
        }
        Ok(value.trim().to_string())
    };
    let id = required("id")?;
    let participant = match text("participant", false)? {
        Some(participant) if !participant.trim().is_empty() => participant.trim().to_string(),
        _ => id.clone(),
    };
    let side = match required("side")?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => bail!(
            "{}: unknown side `{other}`; expected `buy` or `sell`",
            row.field(name, "side")
        ),
    };
    let energy = Energy::parse_decimal(&required("energy_kwh")?)
        .map_err(|error| decimal_error(name, row, "energy_kwh", error, "kWh"))?;
    if !energy.is_positive() {
        bail!("{}: must be greater than 0", row.field(name, "energy_kwh"));
    }
    let price = Price::parse_decimal(&required("price")?)
        .map_err(|error| decimal_error(name, row, "price", error, "per kWh"))?;
    let time = match text("time", false)? {
        Some(time) if !time.trim().is_empty() => time.trim().parse::<u64>().map_err(|_| {
            anyhow!(
                "{}: `{}` is not a whole number ≥ 0",
                row.field(name, "time"),
                time.trim()
            )
        })?,
        _ => 0,
    };
    Ok(InputOrder {
        row,
        id,
        participant,
        side,
        energy,
        price,
        time,
    })
}

fn decimal_error(
    name: &str,
    row: Row,
    field: &str,
    error: DecimalError,
    unit: &str,
) -> anyhow::Error {
    let reason = match error {
        DecimalError::NotANumber { text } => {
            format!("`{text}` is not a decimal number (write e.g. 1.25, no exponent)")
        }
        DecimalError::TooPrecise { text, digits } => {
            format!(
                "`{text}` has more than {digits} decimal places (the resolution is 10^-{digits} {unit})"
            )
        }
        DecimalError::OutOfRange { text } => format!("`{text}` is out of range"),
    };
    anyhow!("{}: {reason}", row.field(name, field))
}

/// A JSON object's fields in file order, duplicates kept (so that they can be refused).
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// The fields of the object at `row`, checked against `known`.
fn object_fields(name: &str, row: Row, raw: &RawValue, known: &[&str]) -> Result<Fields> {
    let fields: Fields = serde_json::from_str(raw.get()).map_err(|_| {
        anyhow!(
            "{}: expected an object with the fields {}",
            row.at(name),
            known.join(", ")
        )
    })?;
    for (position, (field, _)) in fields.0.iter().enumerate() {
        if !known.contains(&field.as_str()) {
            bail!(
                "{}: unknown field `{field}`; expected one of {}",
                row.at(name),
                known.join(", ")
            );
        }
        if fields.0[..position].iter().any(|(seen, _)| seen == field) {
            bail!("{}: field `{field}` is given twice", row.at(name));
        }
    }
    Ok(fields)
}

fn json_array(name: &str, text: &str, what: &str) -> Result<Vec<Box<RawValue>>> {
    serde_json::from_str(text)
        .map_err(|error| anyhow!("{name}: not a JSON array of {what}: {error}"))
}

fn orders_from_json(name: &str, text: &str) -> Result<Vec<InputOrder>> {
    let items = json_array(name, text, "orders")?;
    let mut orders = Vec::with_capacity(items.len());
    for (index, raw) in items.iter().enumerate() {
        let row = Row::Json(index);
        let fields = object_fields(name, row, raw, &FIELDS)?;
        let lookup = |field: &str| {
            fields
                .0
                .iter()
                .find(|(key, _)| key == field)
                .map(|(_, value)| Value::Json(value))
        };
        orders.push(order_from_fields(name, row, lookup)?);
    }
    Ok(orders)
}

fn orders_from_csv(name: &str, text: &str) -> Result<Vec<InputOrder>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| anyhow!("{name}:1: {error}"))?
        .clone();
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (position, header) in headers.iter().enumerate() {
        if !FIELDS.contains(&header) {
            bail!(
                "{name}:1: unknown column `{header}`; expected columns {}",
                FIELDS.join(", ")
            );
        }
        if columns.insert(header, position).is_some() {
            bail!("{name}:1: column `{header}` is given twice");
        }
    }
    for required in ["id", "side", "energy_kwh", "price"] {
        if !columns.contains_key(required) {
            bail!("{name}:1: missing column `{required}`");
        }
    }
    let mut orders = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| match error.kind() {
            csv::ErrorKind::UnequalLengths {
                pos: Some(position),
                expected_len,
                len,
            } => anyhow!(
                "{name}:{}: {len} fields, but the header has {expected_len}",
                position.line()
            ),
            _ => match error.position() {
                Some(position) => anyhow!("{name}:{}: {error}", position.line()),
                None => anyhow!("{name}: {error}"),
            },
        })?;
        let line = record.position().map_or(0, |position| position.line());
        let lookup = |field: &str| {
            columns
                .get(field)
                .and_then(|&column| record.get(column))
                .filter(|cell| {
                    !cell.is_empty() || matches!(field, "id" | "side" | "energy_kwh" | "price")
                })
                .map(Value::Cell)
        };
        orders.push(order_from_fields(name, Row::Csv(line), lookup)?);
    }
    Ok(orders)
}

// ---------------------------------------------------------------------------------------------
// Clearing orders

#[derive(Serialize)]
struct OrdersOutput {
    mechanism: &'static str,
    /// What every buyer pays per kWh; `null` when the mechanism has no uniform price (pay-as-bid,
    /// pay-as-offer) or nothing crosses.
    buyer_price: Option<String>,
    /// What every seller receives per kWh.
    seller_price: Option<String>,
    volume_kwh: String,
    buyers_pay: String,
    sellers_receive: String,
    operator_surplus: String,
    trades: Vec<TradeOutput>,
    orders: Vec<OrderOutput>,
}

#[derive(Serialize)]
struct TradeOutput {
    buy_id: String,
    sell_id: String,
    energy_kwh: String,
    buyer_price: String,
    seller_price: String,
}

#[derive(Serialize)]
struct OrderOutput {
    id: String,
    side: &'static str,
    energy_kwh: String,
    filled_kwh: String,
}

fn clear_orders(mechanism: Mechanism, name: &str, input: &[InputOrder]) -> Result<OrdersOutput> {
    if input.is_empty() {
        bail!("{name}: the book is empty; give at least one order");
    }
    let mut first_of: HashMap<&str, Row> = HashMap::new();
    let mut participants: HashMap<&str, u32> = HashMap::new();
    let (mut bids, mut offers) = (Vec::new(), Vec::new());
    // Per side: the input position of each order.
    let (mut bid_rows, mut offer_rows) = (Vec::new(), Vec::new());
    for (position, order) in input.iter().enumerate() {
        if let Some(first) = first_of.insert(&order.id, order.row) {
            bail!(
                "{}: duplicate id `{}` (also at {})",
                order.row.field(name, "id"),
                order.id,
                first.short()
            );
        }
        let next = participants.len() as u32;
        let participant = *participants.entry(&order.participant).or_insert(next);
        let book_order = Order {
            // Equal prices and times are ranked by file position.
            key: position as u64,
            participant: Participant::Asset(AssetId(participant)),
            side: order.side,
            energy: order.energy,
            price: order.price,
            priority: order.time,
        };
        match order.side {
            Side::Buy => {
                bids.push(book_order);
                bid_rows.push(position);
            }
            Side::Sell => {
                offers.push(book_order);
                offer_rows.push(position);
            }
        }
    }
    if bids.len() >= u32::MAX as usize || offers.len() >= u32::MAX as usize {
        bail!("{name}: too many orders on one side");
    }
    if let Err(BookError::UnequalEnergy {
        side, index, unit, ..
    }) = check_book(mechanism, &bids, &offers)
    {
        let rows = if side == Side::Buy {
            &bid_rows
        } else {
            &offer_rows
        };
        let order = &input[rows[index]];
        let first = input
            .iter()
            .find(|order| order.energy == unit)
            .map_or(String::new(), |first| first.row.short());
        bail!(
            "{}: {} kWh, but {} has {} kWh: trade-reduction needs unit orders (every order with \
             the same energy_kwh)",
            order.row.field(name, "energy_kwh"),
            order.energy,
            first,
            unit
        );
    }
    let mut scratch = Scratch::default();
    let mut matches = Vec::new();
    nestgrid_market::clear(mechanism, &bids, &offers, &mut scratch, &mut matches);
    debug_assert_eq!(
        nestgrid_market::check_clearing(mechanism, &bids, &offers, &matches),
        Ok(())
    );
    let prices = clearing_prices(mechanism, &bids, &offers, &mut scratch);
    let money = payments(&matches);
    let volume: i128 = matches.iter().map(|item| item.energy.0 as i128).sum();
    let volume = i64::try_from(volume)
        .map(|volume| Energy(volume).to_string())
        .unwrap_or_else(|_| "out of range".to_string());
    let (bid_left, offer_left) = residuals(&bids, &offers, &matches);
    let mut filled = vec![Energy::ZERO; input.len()];
    for (position, left) in bid_left.iter().enumerate() {
        filled[bid_rows[position]] = bids[position].energy - *left;
    }
    for (position, left) in offer_left.iter().enumerate() {
        filled[offer_rows[position]] = offers[position].energy - *left;
    }
    Ok(OrdersOutput {
        mechanism: mechanism.name(),
        buyer_price: prices.map(|prices| prices.buyer_price.to_string()),
        seller_price: prices.map(|prices| prices.seller_price.to_string()),
        volume_kwh: volume,
        buyers_pay: money.buyers_pay.to_string(),
        sellers_receive: money.sellers_receive.to_string(),
        operator_surplus: money.operator_surplus.to_string(),
        trades: matches
            .iter()
            .map(|item| TradeOutput {
                buy_id: input[bid_rows[item.bid as usize]].id.clone(),
                sell_id: input[offer_rows[item.offer as usize]].id.clone(),
                energy_kwh: item.energy.to_string(),
                buyer_price: item.buyer_price.to_string(),
                seller_price: item.seller_price.to_string(),
            })
            .collect(),
        orders: input
            .iter()
            .zip(&filled)
            .map(|(order, filled)| OrderOutput {
                id: order.id.clone(),
                side: match order.side {
                    Side::Buy => "buy",
                    Side::Sell => "sell",
                },
                energy_kwh: order.energy.to_string(),
                filled_kwh: filled.to_string(),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Clearing curves

#[derive(Serialize)]
struct CurvesOutput {
    mechanism: &'static str,
    /// The equilibrium price.
    price: String,
    /// `exact`, `nearest`, `all-demand` or `all-supply` (see docs/clearing.md).
    crossing: &'static str,
    /// Net power left at the price (positive: unserved demand).
    imbalance_kw: String,
    /// Σ of the positive allocations.
    demand_kw: String,
    /// Σ of the negative allocations, as a positive number.
    supply_kw: String,
    allocations: Vec<AllocationOutput>,
}

#[derive(Serialize)]
struct AllocationOutput {
    participant: String,
    power_kw: String,
}

fn clear_curves(name: &str, text: &str) -> Result<CurvesOutput> {
    let items = json_array(name, text, "curves")?;
    if items.is_empty() {
        bail!("{name}: no curves; give at least one");
    }
    let mut participants: Vec<String> = Vec::with_capacity(items.len());
    let mut curves = Vec::with_capacity(items.len());
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for (index, raw) in items.iter().enumerate() {
        let row = Row::Json(index);
        let fields = object_fields(name, row, raw, &["participant", "points"])?;
        let get = |field: &str| {
            fields
                .0
                .iter()
                .find(|(key, _)| key == field)
                .map(|(_, v)| v)
        };
        let participant = get("participant")
            .ok_or_else(|| anyhow!("{}: missing field `participant`", row.at(name)))?;
        let participant = Value::Json(participant)
            .text()
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "{}: must be a non-empty string",
                    row.field(name, "participant")
                )
            })?;
        if let Some(first) = first_of.insert(participant.clone(), index) {
            bail!(
                "{}: duplicate participant `{participant}` (also at [{first}])",
                row.field(name, "participant")
            );
        }
        let points =
            get("points").ok_or_else(|| anyhow!("{}: missing field `points`", row.at(name)))?;
        let points: Vec<Vec<Box<RawValue>>> = serde_json::from_str(points.get()).map_err(|_| {
            anyhow!(
                "{}: expected an array of [price, power_kw] pairs",
                row.field(name, "points")
            )
        })?;
        let mut parsed = Vec::with_capacity(points.len());
        for (position, pair) in points.iter().enumerate() {
            let at = format!("points[{position}]");
            let [price, power] = pair.as_slice() else {
                bail!("{}: expected [price, power_kw]", row.field(name, &at));
            };
            let number = |raw: &RawValue, what: &str| -> Result<String> {
                Value::Json(raw).text().ok_or_else(|| {
                    anyhow!(
                        "{}: {what} must be a string or a number",
                        row.field(name, &at)
                    )
                })
            };
            let price = Price::parse_decimal(&number(price, "price")?)
                .map_err(|error| decimal_error(name, row, &format!("{at}[0]"), error, "per kWh"))?;
            let power = Power::parse_decimal(&number(power, "power_kw")?)
                .map_err(|error| decimal_error(name, row, &format!("{at}[1]"), error, "kW"))?;
            parsed.push(CurvePoint { price, power });
        }
        let curve = Curve::new(parsed).map_err(|error| curve_error(name, row, error))?;
        participants.push(participant);
        curves.push(curve);
    }
    let sum = curve::aggregate(&curves, Price::ZERO).map_err(|error| anyhow!("{name}: {error}"))?;
    let found = curve::equilibrium(&sum);
    let allocations: Vec<Power> = curves
        .iter()
        .map(|curve| curve::allocation(curve, found.price))
        .collect();
    let demand: i128 = allocations.iter().map(|power| power.0.max(0) as i128).sum();
    let supply: i128 = allocations
        .iter()
        .map(|power| -(power.0.min(0) as i128))
        .sum();
    let power_text = |total: i128| {
        i64::try_from(total).map_or("out of range".to_string(), |total| Power(total).to_string())
    };
    Ok(CurvesOutput {
        mechanism: "curve",
        price: found.price.to_string(),
        crossing: match found.crossing {
            Crossing::Exact => "exact",
            Crossing::Nearest => "nearest",
            Crossing::AllDemand => "all-demand",
            Crossing::AllSupply => "all-supply",
        },
        imbalance_kw: found.imbalance.to_string(),
        demand_kw: power_text(demand),
        supply_kw: power_text(supply),
        allocations: participants
            .into_iter()
            .zip(allocations)
            .map(|(participant, power)| AllocationOutput {
                participant,
                power_kw: power.to_string(),
            })
            .collect(),
    })
}

fn curve_error(name: &str, row: Row, error: CurveError) -> anyhow::Error {
    let point = |index: usize| row.field(name, &format!("points[{index}]"));
    match error {
        CurveError::Empty => anyhow!("{}: give at least one point", row.field(name, "points")),
        CurveError::TooManyPoints { points, limit } => anyhow!(
            "{}: {points} points, more than the limit of {limit}",
            row.field(name, "points")
        ),
        CurveError::PriceOutOfRange {
            index,
            price,
            limit,
        } => {
            anyhow!(
                "{}: price {price} is out of range (at most {limit} in magnitude)",
                point(index)
            )
        }
        CurveError::PriceNotIncreasing {
            index,
            price,
            previous,
        } => anyhow!(
            "{}: price {price} must be above the previous point's price {previous}",
            point(index)
        ),
        CurveError::PowerIncreasing {
            index,
            power,
            previous,
        } => anyhow!(
            "{}: power {power} kW is above the previous point's {previous} kW; power must not \
             increase with price",
            point(index)
        ),
        other => anyhow!("{}: {other}", row.at(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CSV: &str = "id,participant,side,energy_kwh,price,time\nb1,alice,buy,3,0.30,1\nb2,bob,buy,2,0.28,2\ns1,carol,sell,2,0.20,1\ns2,dave,sell,4,0.25,3\n";
    const JSON: &str = r#"[{"id": "b1", "participant": "alice", "side": "buy", "energy_kwh": "3", "price": "0.30"},
{"id": "s1", "participant": "carol", "side": "sell", "energy_kwh": 2, "price": 0.2, "time": 1}]"#;

    /// Bytes that break numbers, quoting and structure.
    const HOSTILE: [&str; 12] = [
        "-",
        "\"",
        ",",
        "\n",
        "e99",
        "[",
        "}",
        "0.0000001",
        "-5",
        "",
        "x",
        "9999999999999999999",
    ];

    fn damaged(text: &str, edits: &[(usize, usize, bool)]) -> String {
        let mut text = text.to_string();
        for &(at, piece, delete) in edits {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if delete && at < text.len() {
                let mut end = at + 1;
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            } else {
                text.insert_str(at, HOSTILE[piece]);
            }
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Damaged order books get an error naming the row, or clear; never a panic.
        #[test]
        fn damaged_books_never_panic(
            edits in prop::collection::vec((any::<usize>(), 0..HOSTILE.len(), any::<bool>()), 1..4),
            mechanism in 0..Mechanism::CLEARING.len(),
        ) {
            let mechanism = Mechanism::CLEARING[mechanism];
            let csv = damaged(CSV, &edits);
            if let Ok(orders) = orders_from_csv("book.csv", &csv) {
                let _ = clear_orders(mechanism, "book.csv", &orders);
            }
            let json = damaged(JSON, &edits);
            if let Ok(orders) = orders_from_json("book.json", &json) {
                let _ = clear_orders(mechanism, "book.json", &orders);
            }
            let _ = clear_curves("curves.json", &json);
        }
    }
}
