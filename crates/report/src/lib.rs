//! A self-contained HTML report of a nestgrid results folder.
//!
//! [`write()`] reads `area_slots.csv`, `storage.csv`, `bills.csv` and `kpis.json` from a results
//! folder (see `docs/results.md`; `trades.csv` is not needed, so `run --no-trades` folders work)
//! and writes `report.html` next to them: one file with inline CSS and a small inline script, no
//! network access needed to open it. The data is embedded once as a JSON blob
//! (`<script type="application/json" id="nestgrid-data">`, see [`ReportData`]); the script draws
//! the charts into SVG when an area is selected. See `docs/report.md`.
//!
//! **Precision.** The results files are exact decimals. Chart series are rounded to keep the
//! file small: energies to whole Wh ([`ENERGY_SCALE`] per kWh), prices to 10⁻⁴ of the currency
//! per kWh ([`PRICE_SCALE`]), both half away from zero. Bills are embedded unrounded (every CSV
//! value has at most six decimals, so it survives `f64` and JSON exactly). KPIs are `f64` as
//! in `kpis.json`, rounded to six decimals.
//!
//! **Errors.** A missing or malformed file is a [`ReportError`] naming the file (and the line
//! and column where there is one); the reader never panics on input.

use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Embedded energies are integers of 1/`ENERGY_SCALE` kWh (Wh).
pub const ENERGY_SCALE: f64 = 1_000.0;
/// Embedded prices are integers of 1/`PRICE_SCALE` currency units per kWh.
pub const PRICE_SCALE: f64 = 10_000.0;
/// The file name written into the results folder.
pub const REPORT_FILE: &str = "report.html";

/// The KPI fields of `kpis.json` that are embedded for each area, in this order.
pub const KPI_FIELDS: [&str; 12] = [
    "self_sufficiency",
    "self_consumption",
    "energy_demanded_kwh",
    "energy_produced_kwh",
    "cost",
    "revenue",
    "savings",
    "share_traded_inside",
    "share_traded_with_parent",
    "peak_import_kw",
    "peak_export_kw",
    "fees_collected",
];

/// The `bills.csv` columns embedded for each asset and area, in this order; `{cur}` is the
/// currency in lower case.
pub const BILL_FIELDS: [&str; 10] = [
    "bought_kwh",
    "sold_kwh",
    "spent_{cur}",
    "earned_{cur}",
    "fees_paid_{cur}",
    "fees_collected_{cur}",
    "surplus_collected_{cur}",
    "imbalance_kwh",
    "imbalance_{cur}",
    "total_{cur}",
];

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The results folder does not exist or is not a folder.
    #[error("results folder {path} does not exist or is not a folder")]
    MissingFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A results file does not fit the other files or the format (no line to point to).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field or entry.
        message: String,
    },
    /// A results file is malformed at a line.
    #[error("{path}, line {line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line (1 is the header of a CSV file).
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// Everything the page shows, as embedded in `report.html`.
#[derive(Debug, Serialize)]
pub struct ReportData {
    /// The scenario (root area) name.
    pub scenario: String,
    /// The currency code, such as `EUR`.
    pub currency: String,
    /// Seconds per slot.
    pub slot_seconds: f64,
    /// Start of each slot, `MM-DD HH:MM` local time, from `area_slots.csv`.
    pub times: Vec<String>,
    /// Divide embedded energies by this to get kWh.
    pub energy_scale: f64,
    /// Divide embedded prices by this to get currency per kWh.
    pub price_scale: f64,
    /// Names of the entries of [`AreaData::kpi`].
    pub kpi_fields: Vec<String>,
    /// Names of the entries of every `bill` array.
    pub bill_fields: Vec<String>,
    /// Areas in tree order (the order of `kpis.json`).
    pub areas: Vec<AreaData>,
    /// Assets in scenario order (the order of `kpis.json`).
    pub assets: Vec<AssetData>,
}

/// One area of [`ReportData`]. Series have one entry per slot.
#[derive(Debug, Serialize)]
pub struct AreaData {
    /// Full path.
    pub name: String,
    /// Index of the parent area, or -1 for the root.
    pub parent: i64,
    /// The [`KPI_FIELDS`] values (`null` when not defined).
    pub kpi: Vec<Option<f64>>,
    /// The [`BILL_FIELDS`] values of the area's row in `bills.csv` (`null` if it has none).
    pub bill: Option<Vec<f64>>,
    /// `price_min_{cur}_per_kwh`, scaled by [`PRICE_SCALE`]; `null` when no trade.
    pub price_min: Vec<Option<i64>>,
    /// `price_mean_{cur}_per_kwh`, scaled.
    pub price_mean: Vec<Option<i64>>,
    /// `price_max_{cur}_per_kwh`, scaled.
    pub price_max: Vec<Option<i64>>,
    /// `market_energy_kwh` in Wh.
    pub market_wh: Vec<i64>,
    /// `imported_kwh` in Wh.
    pub imported_wh: Vec<i64>,
    /// `exported_kwh` in Wh.
    pub exported_wh: Vec<i64>,
}

/// One asset of [`ReportData`].
#[derive(Debug, Serialize)]
pub struct AssetData {
    /// Full path.
    pub name: String,
    /// Kind from `kpis.json` (`load`, `pv`, `storage`, `ev_charger`, ...).
    pub kind: String,
    /// Index of the asset's area, or -1 if its area is not in `kpis.json`.
    pub area: i64,
    /// The [`BILL_FIELDS`] values of its `bills.csv` row (`null` if it has none).
    pub bill: Option<Vec<f64>>,
    /// `stored_kwh` in Wh per slot from `storage.csv` (`null` in slots without a row); `null`
    /// for assets that store nothing.
    pub stored_wh: Option<Vec<Option<i64>>>,
}

/// Reads the results folder `dir` and writes `dir/report.html`; returns its path.
pub fn write(dir: &Path) -> Result<PathBuf, ReportError> {
    let data = read(dir)?;
    let html = render(&data);
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, html).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Reads the data of a report from the results folder `dir`.
pub fn read(dir: &Path) -> Result<ReportData, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::MissingFolder {
            path: dir.to_path_buf(),
        });
    }
    let mut data = read_kpis(&dir.join("kpis.json"))?;
    let cur = data.currency.to_lowercase();
    data.bill_fields = BILL_FIELDS
        .iter()
        .map(|field| field.replace("{cur}", &cur))
        .collect();
    read_area_slots(&dir.join("area_slots.csv"), &cur, &mut data)?;
    read_storage(&dir.join("storage.csv"), &mut data)?;
    read_bills(&dir.join("bills.csv"), &mut data)?;
    Ok(data)
}

/// Renders the page for `data`.
pub fn render(data: &ReportData) -> String {
    let json = serde_json::to_string(data).expect("report data serializes");
    // Inside <script>, "</script" would end the element; `\u003c` is the same JSON string.
    let json = json.replace('<', "\\u003c");
    let title = html_escape(&format!("{} — nestgrid report", data.scenario));
    TEMPLATE
        .replace("{{TITLE}}", &title)
        .replace("{{DATA}}", &json)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn malformed(path: &Path, line: u64, message: impl Into<String>) -> ReportError {
    ReportError::Malformed {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

fn read_kpis(path: &Path) -> Result<ReportData, ReportError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| malformed(path, error.line() as u64, error.to_string()))?;
    // Once parsed, kpis.json has no line numbers; errors name the field path instead.
    let field = |value: &serde_json::Value, key: &str| -> Result<serde_json::Value, ReportError> {
        value
            .get(key)
            .cloned()
            .ok_or_else(|| invalid(path, format!("missing field `{key}`")))
    };
    let text_field = |value: &serde_json::Value, key: &str, at: &str| {
        field(value, key)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| invalid(path, format!("{at}{key}: expected a string")))
    };
    let currency = text_field(&value, "currency", "")?;
    let scenario = text_field(&value, "scenario", "")?;
    let slot_seconds = field(&value, "slot_seconds")?
        .as_f64()
        .ok_or_else(|| invalid(path, "slot_seconds: expected a number"))?;
    let list = |key: &str| -> Result<Vec<serde_json::Value>, ReportError> {
        field(&value, key)?
            .as_array()
            .cloned()
            .ok_or_else(|| invalid(path, format!("{key}: expected a list")))
    };
    let mut areas = Vec::new();
    let mut index: HashMap<String, i64> = HashMap::new();
    for (position, entry) in list("areas")?.iter().enumerate() {
        let at = format!("areas[{position}].");
        let name = text_field(entry, "name", &at)?;
        let parent = match name.rsplit_once('/') {
            Some((parent, _)) => *index.get(parent).ok_or_else(|| {
                invalid(
                    path,
                    format!("{at}name: parent area `{parent}` of `{name}` is not listed before it"),
                )
            })?,
            None => -1,
        };
        let kpi = KPI_FIELDS
            .iter()
            .map(|key| entry.get(*key).and_then(|v| v.as_f64()).map(round6))
            .collect();
        index.insert(name.clone(), areas.len() as i64);
        areas.push(AreaData {
            name,
            parent,
            kpi,
            bill: None,
            price_min: Vec::new(),
            price_mean: Vec::new(),
            price_max: Vec::new(),
            market_wh: Vec::new(),
            imported_wh: Vec::new(),
            exported_wh: Vec::new(),
        });
    }
    let mut assets = Vec::new();
    for (position, entry) in list("assets")?.iter().enumerate() {
        let at = format!("assets[{position}].");
        let name = text_field(entry, "name", &at)?;
        let kind = text_field(entry, "kind", &at)?;
        let area = name
            .rsplit_once('/')
            .and_then(|(parent, _)| index.get(parent).copied())
            .unwrap_or(-1);
        assets.push(AssetData {
            name,
            kind,
            area,
            bill: None,
            stored_wh: None,
        });
    }
    Ok(ReportData {
        scenario,
        currency,
        slot_seconds,
        times: Vec::new(),
        energy_scale: ENERGY_SCALE,
        price_scale: PRICE_SCALE,
        kpi_fields: KPI_FIELDS.iter().map(|s| s.to_string()).collect(),
        bill_fields: Vec::new(),
        areas,
        assets,
    })
}

/// A CSV file with its header, read row by row with errors naming the file and line.
struct Table {
    path: PathBuf,
    reader: csv::Reader<std::fs::File>,
    headers: csv::StringRecord,
}

impl Table {
    fn open(path: &Path) -> Result<Table, ReportError> {
        let file = std::fs::File::open(path).map_err(io_error(path))?;
        let mut reader = csv::Reader::from_reader(file);
        let headers = reader
            .headers()
            .map_err(|error| malformed(path, 1, error.to_string()))?
            .clone();
        Ok(Table {
            path: path.to_path_buf(),
            reader,
            headers,
        })
    }

    fn column(&self, name: &str) -> Result<usize, ReportError> {
        self.headers
            .iter()
            .position(|header| header == name)
            .ok_or_else(|| malformed(&self.path, 1, format!("no column `{name}`")))
    }

    /// Calls `each` with every row and its line number.
    fn rows(
        mut self,
        mut each: impl FnMut(&Row<'_>) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        let mut record = csv::StringRecord::new();
        loop {
            let more = self.reader.read_record(&mut record).map_err(|error| {
                let line = error.position().map_or(0, |position| position.line());
                malformed(&self.path, line, error.to_string())
            })?;
            if !more {
                return Ok(());
            }
            let line = record.position().map_or(0, |position| position.line());
            each(&Row {
                table: &self.path,
                headers: &self.headers,
                record: &record,
                line,
            })?;
        }
    }
}

struct Row<'a> {
    table: &'a Path,
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
    line: u64,
}

impl Row<'_> {
    fn text(&self, column: usize) -> Result<&str, ReportError> {
        self.record.get(column).ok_or_else(|| {
            malformed(
                self.table,
                self.line,
                format!("missing column `{}`", &self.headers[column]),
            )
        })
    }

    fn error(&self, column: usize, message: &str) -> ReportError {
        malformed(
            self.table,
            self.line,
            format!("column `{}`: {message}", &self.headers[column]),
        )
    }

    fn number(&self, column: usize) -> Result<f64, ReportError> {
        let text = self.text(column)?;
        text.parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| self.error(column, &format!("`{text}` is not a number")))
    }

    fn optional(&self, column: usize) -> Result<Option<f64>, ReportError> {
        if self.text(column)?.is_empty() {
            Ok(None)
        } else {
            self.number(column).map(Some)
        }
    }

    fn slot(&self, column: usize) -> Result<usize, ReportError> {
        let text = self.text(column)?;
        text.parse::<usize>()
            .ok()
            .filter(|slot| *slot <= 1_000_000)
            .ok_or_else(|| self.error(column, &format!("`{text}` is not a slot number")))
    }
}

/// Rounds `value × scale` half away from zero (what `f64::round` does).
fn scaled(value: f64, scale: f64) -> i64 {
    (value * scale).round() as i64
}

fn read_area_slots(path: &Path, cur: &str, data: &mut ReportData) -> Result<(), ReportError> {
    let table = Table::open(path)?;
    let slot = table.column("slot")?;
    let time = table.column("time")?;
    let area = table.column("area")?;
    let imported = table.column("imported_kwh")?;
    let exported = table.column("exported_kwh")?;
    let market = table.column("market_energy_kwh")?;
    let price_min = table.column(&format!("price_min_{cur}_per_kwh"))?;
    let price_mean = table.column(&format!("price_mean_{cur}_per_kwh"))?;
    let price_max = table.column(&format!("price_max_{cur}_per_kwh"))?;
    let index: HashMap<String, usize> = data
        .areas
        .iter()
        .enumerate()
        .map(|(position, area)| (area.name.clone(), position))
        .collect();
    let areas = &mut data.areas;
    let times = &mut data.times;
    table.rows(|row| {
        let slot_index = row.slot(slot)?;
        let name = row.text(area)?;
        let position = *index
            .get(name)
            .ok_or_else(|| row.error(area, &format!("area `{name}` is not in kpis.json")))?;
        let entry = &mut areas[position];
        if entry.market_wh.len() != slot_index {
            return Err(row.error(
                slot,
                &format!(
                    "expected slot {} for area `{name}`, found {slot_index}",
                    entry.market_wh.len()
                ),
            ));
        }
        if times.len() == slot_index {
            let text = row.text(time)?;
            // `2026-06-21T00:00:00+02:00` → `06-21 00:00`.
            let short = text.get(5..16).unwrap_or(text).replacen('T', " ", 1);
            times.push(short);
        }
        entry
            .market_wh
            .push(scaled(row.number(market)?, ENERGY_SCALE));
        entry
            .imported_wh
            .push(scaled(row.number(imported)?, ENERGY_SCALE));
        entry
            .exported_wh
            .push(scaled(row.number(exported)?, ENERGY_SCALE));
        let price = |column| -> Result<Option<i64>, ReportError> {
            Ok(row.optional(column)?.map(|p| scaled(p, PRICE_SCALE)))
        };
        entry.price_min.push(price(price_min)?);
        entry.price_mean.push(price(price_mean)?);
        entry.price_max.push(price(price_max)?);
        Ok(())
    })?;
    let slots = data.times.len();
    if let Some(short) = data.areas.iter().find(|a| a.market_wh.len() != slots) {
        return Err(invalid(
            path,
            format!(
                "area `{}` has {} slots, expected {slots}",
                short.name,
                short.market_wh.len()
            ),
        ));
    }
    Ok(())
}

fn read_storage(path: &Path, data: &mut ReportData) -> Result<(), ReportError> {
    let table = Table::open(path)?;
    let slot = table.column("slot")?;
    let asset = table.column("asset")?;
    let stored = table.column("stored_kwh")?;
    let slots = data.times.len();
    let index: HashMap<String, usize> = data
        .assets
        .iter()
        .enumerate()
        .map(|(position, asset)| (asset.name.clone(), position))
        .collect();
    for entry in &mut data.assets {
        if entry.kind == "storage" || entry.kind == "ev_charger" {
            entry.stored_wh = Some(vec![None; slots]);
        }
    }
    let assets = &mut data.assets;
    table.rows(|row| {
        let slot_index = row.slot(slot)?;
        let name = row.text(asset)?;
        let position = *index
            .get(name)
            .ok_or_else(|| row.error(asset, &format!("asset `{name}` is not in kpis.json")))?;
        let series = assets[position]
            .stored_wh
            .get_or_insert_with(|| vec![None; slots]);
        let cell = series.get_mut(slot_index).ok_or_else(|| {
            row.error(
                slot,
                &format!("slot {slot_index} is beyond area_slots.csv's {slots}"),
            )
        })?;
        *cell = Some(scaled(row.number(stored)?, ENERGY_SCALE));
        Ok(())
    })
}

fn read_bills(path: &Path, data: &mut ReportData) -> Result<(), ReportError> {
    let table = Table::open(path)?;
    let kind = table.column("kind")?;
    let name = table.column("name")?;
    let columns = data
        .bill_fields
        .iter()
        .map(|field| table.column(field))
        .collect::<Result<Vec<usize>, ReportError>>()?;
    let areas: HashMap<String, usize> = data
        .areas
        .iter()
        .enumerate()
        .map(|(position, area)| (area.name.clone(), position))
        .collect();
    let assets: HashMap<String, usize> = data
        .assets
        .iter()
        .enumerate()
        .map(|(position, asset)| (asset.name.clone(), position))
        .collect();
    let (area_list, asset_list) = (&mut data.areas, &mut data.assets);
    table.rows(|row| {
        let bill = columns
            .iter()
            .map(|column| row.number(*column))
            .collect::<Result<Vec<f64>, ReportError>>()?;
        let who = row.text(name)?;
        match row.text(kind)? {
            "asset" => {
                let position = *assets.get(who).ok_or_else(|| {
                    row.error(name, &format!("asset `{who}` is not in kpis.json"))
                })?;
                asset_list[position].bill = Some(bill);
            }
            "area" => {
                let position = *areas
                    .get(who)
                    .ok_or_else(|| row.error(name, &format!("area `{who}` is not in kpis.json")))?;
                area_list[position].bill = Some(bill);
            }
            other => {
                return Err(row.error(kind, &format!("`{other}` is neither `asset` nor `area`")));
            }
        }
        Ok(())
    })
}

const TEMPLATE: &str = include_str!("report.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_half_away_from_zero() {
        assert_eq!(scaled(0.2414285, PRICE_SCALE), 2414);
        assert_eq!(scaled(0.00005, PRICE_SCALE), 1);
        assert_eq!(scaled(-0.00005, PRICE_SCALE), -1);
        assert_eq!(scaled(1.2106, ENERGY_SCALE), 1211);
        assert_eq!(scaled(0.0, ENERGY_SCALE), 0);
    }

    #[test]
    fn names_cannot_end_the_data_element() {
        let data = ReportData {
            scenario: "</script><b>x".to_owned(),
            currency: "EUR".to_owned(),
            slot_seconds: 900.0,
            times: Vec::new(),
            energy_scale: ENERGY_SCALE,
            price_scale: PRICE_SCALE,
            kpi_fields: Vec::new(),
            bill_fields: Vec::new(),
            areas: Vec::new(),
            assets: Vec::new(),
        };
        let html = render(&data);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(html.contains("&lt;/script&gt;&lt;b&gt;x"));
    }
}
