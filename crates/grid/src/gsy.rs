//! Import of gsy-e setup files (`setup_file.json`) as nestgrid scenario YAML.
//!
//! gsy-e (Grid Singularity's Python implementation of the D3A model) describes a grid as a tree
//! of JSON nodes: areas with `children` and optional grid fees, and leaves with a strategy. This
//! module reads that tree and writes a scenario in nestgrid's own format (see
//! `docs/scenario-reference.md`) that a person can read and edit; `docs/gsy-e.md` has the mapping
//! table and every place where the two models differ on purpose.
//!
//! Main entry points: [`import`] (JSON text → [`Imported`]: YAML text, profile files to write
//! next to it, warnings) and [`looks_like_gsy`] (is this text a gsy-e setup file?).
//!
//! Accepted node shapes (both may be mixed in one file):
//! - `{"name": "...", "strategy": {"type": "LoadHoursStrategy", "kwargs": {...}}}`;
//! - `{"name": "...", "type": "LoadHoursStrategy", "kwargs": {...}}`, or with the keyword
//!   arguments next to `type` (the flat form gsy-e's area representation uses).
//!
//! Areas are nodes without a strategy: `name`, `children`, `grid_fee_constant` (cents/kWh),
//! `grid_fee_percentage`. The root may carry `settings` (market type, slot and tick length,
//! start, duration; listed in `docs/gsy-e.md`).
//!
//! Units: gsy-e rates are cents per kWh; nestgrid's are currency units per kWh, so each rate is
//! divided by 100 and written with at most 6 decimals (rounded to nearest: the one float
//! boundary of this module; the YAML is decimal text and the loader reads it exactly).
//!
//! Errors name the node's path (`Grid/House 1/Load`) and the field (`kwargs.avg_power_W`).
//! With [`ImportOptions::lenient`], a node with a problem is left out with a warning instead.
//! The input tree is walked recursively; its depth is checked against
//! [`nestgrid_types::limits::MAX_AREA_DEPTH`] (plus one for the leaves) before going deeper, so the
//! recursion is bounded.

use crate::{Problem, ScenarioError};
use nestgrid_types::limits::MAX_AREA_DEPTH;
use serde_norway::Value;
use std::fmt::Write as _;
use std::path::Path;

/// How to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Leave out nodes with unknown strategy types or keyword arguments (with a warning)
    /// instead of failing.
    pub lenient: bool,
    /// Folder (relative to the scenario file) for the profile CSV files the import writes.
    pub profile_dir: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            lenient: false,
            profile_dir: "gsy-profiles".into(),
        }
    }
}

/// A CSV file the scenario refers to, to be written relative to the scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileFile {
    /// Path relative to the scenario file's folder (`gsy-profiles/House_1-Load.csv`).
    pub path: String,
    /// The file's text (`time,value` rows).
    pub text: String,
}

/// The result of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The scenario, as commented YAML.
    pub yaml: String,
    /// Profile files the YAML refers to; write them before loading the YAML.
    pub files: Vec<ProfileFile>,
    /// Nodes left out and approximations made, one line each, naming the node.
    pub warnings: Vec<String>,
}

impl Imported {
    /// Writes the profile files into `dir` (creating folders as needed).
    pub fn write_profiles(&self, dir: &Path) -> std::io::Result<()> {
        for file in &self.files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, &file.text)?;
        }
        Ok(())
    }
}

/// Whether `text` is a gsy-e setup file: a JSON object with a top-level `children` key.
/// (A nestgrid scenario written as JSON has `areas` instead.)
pub fn looks_like_gsy(text: &str) -> bool {
    if !text.trim_start().starts_with('{') {
        return false;
    }
    match serde_norway::from_str::<Value>(text) {
        Ok(Value::Mapping(map)) => map.contains_key("children"),
        _ => false,
    }
}

/// Reads a gsy-e setup file (JSON text) and writes it as a nestgrid scenario.
///
/// `base_dir` resolves profile files the setup file names. The YAML is not loaded here: write
/// [`Imported::files`] and check it with [`crate::load_str`] (the command does both).
pub fn import(
    text: &str,
    base_dir: &Path,
    options: &ImportOptions,
) -> Result<Imported, ScenarioError> {
    let root: Value = serde_norway::from_str(text).map_err(|error| {
        ScenarioError::single("setup file", format!("not valid JSON ({error})"))
    })?;
    let Value::Mapping(_) = root else {
        return Err(ScenarioError::single(
            "setup file",
            "the top level must be an object (the root area)",
        ));
    };
    let mut importer = Importer {
        options,
        base_dir,
        problems: Vec::new(),
        warnings: Vec::new(),
        files: Vec::new(),
        settings: Settings::default(),
        counts: Counts::default(),
    };
    let yaml = importer.root(&root);
    if !importer.problems.is_empty() {
        let mut problems = importer.problems;
        let more = problems.len().saturating_sub(crate::MAX_PROBLEMS);
        problems.truncate(crate::MAX_PROBLEMS);
        return Err(ScenarioError { problems, more });
    }
    Ok(Imported {
        yaml,
        files: importer.files,
        warnings: importer.warnings,
    })
}

/// Market and time settings read from the root's `settings` object.
#[derive(Clone, Debug, Default)]
struct Settings {
    /// Cents per kWh the market maker buys at (nestgrid needs a feed-in price).
    feed_in_cents: Option<f64>,
    /// Default market maker rate, cents per kWh.
    market_maker_cents: Option<f64>,
    /// Slot length in minutes, if the file sets it (nestgrid's default is 15).
    slot_minutes: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct Counts {
    areas: usize,
    assets: usize,
    skipped: usize,
}

struct Importer<'a> {
    options: &'a ImportOptions,
    base_dir: &'a Path,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    files: Vec<ProfileFile>,
    settings: Settings,
    counts: Counts,
}

/// Keys on any node that carry no meaning for the simulation and are ignored.
const IGNORED_NODE_KEYS: &[&str] = &["uuid", "display_type", "geo_tag_location", "address"];

/// The strategy kinds the importer knows, after resolving aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    LoadHours,
    DefinedLoad,
    Pv,
    PvPredefined,
    PvUserProfile,
    Storage,
    Commercial,
    MarketMaker,
    InfiniteBus,
    FinitePowerPlant,
    SmartMeter,
    EvCharger,
}

fn kind_of(name: &str, kwargs: &[(String, Value)]) -> Option<Kind> {
    let has = |key: &str| kwargs.iter().any(|(name, _)| name == key);
    Some(match name {
        "LoadHoursStrategy" => Kind::LoadHours,
        // gsy-e's area representation names a load `Load` whatever its source.
        "Load" if has("daily_load_profile") => Kind::DefinedLoad,
        "Load" | "LoadHours" => Kind::LoadHours,
        "DefinedLoadStrategy" | "LoadProfile" => Kind::DefinedLoad,
        "PVStrategy" => Kind::Pv,
        "PV" if has("power_profile") => Kind::PvUserProfile,
        "PV" => Kind::Pv,
        "PVPredefinedStrategy" | "PVPredefined" => Kind::PvPredefined,
        "PVUserProfileStrategy" | "PVProfile" => Kind::PvUserProfile,
        "StorageStrategy" | "Storage" => Kind::Storage,
        "CommercialStrategy" | "Commercial" => Kind::Commercial,
        "MarketMakerStrategy" | "MarketMaker" => Kind::MarketMaker,
        "InfiniteBusStrategy" | "InfiniteBus" => Kind::InfiniteBus,
        "FinitePowerPlant" => Kind::FinitePowerPlant,
        "SmartMeterStrategy" | "SmartMeter" => Kind::SmartMeter,
        "EVChargerStrategy" | "EVCharger" => Kind::EvCharger,
        _ => return None,
    })
}

/// Keyword arguments accepted per kind (beyond these, an argument is an error).
fn accepted(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::LoadHours => &[
            "avg_power_W",
            "hrs_of_day",
            "hrs_per_day",
            "initial_buying_rate",
            "final_buying_rate",
            "energy_rate_increase_per_update",
            "update_interval",
            "fit_to_limit",
            "use_market_maker_rate",
        ],
        Kind::DefinedLoad => &[
            "daily_load_profile",
            "initial_buying_rate",
            "final_buying_rate",
            "energy_rate_increase_per_update",
            "update_interval",
            "fit_to_limit",
            "use_market_maker_rate",
        ],
        Kind::SmartMeter => &[
            "smart_meter_profile",
            "initial_buying_rate",
            "final_buying_rate",
            "energy_rate_increase_per_update",
            "update_interval",
            "fit_to_limit",
            "use_market_maker_rate",
        ],
        Kind::Pv | Kind::PvPredefined => &[
            "panel_count",
            "capacity_kW",
            "cloud_coverage",
            "initial_selling_rate",
            "final_selling_rate",
            "energy_rate_decrease_per_update",
            "update_interval",
            "fit_to_limit",
            "use_market_maker_rate",
        ],
        Kind::PvUserProfile => &[
            "power_profile",
            "panel_count",
            "capacity_kW",
            "cloud_coverage",
            "initial_selling_rate",
            "final_selling_rate",
            "energy_rate_decrease_per_update",
            "update_interval",
            "fit_to_limit",
            "use_market_maker_rate",
        ],
        Kind::Storage => &[
            "initial_soc",
            "min_allowed_soc",
            "battery_capacity_kWh",
            "max_abs_battery_power_kW",
            "initial_buying_rate",
            "final_buying_rate",
            "initial_selling_rate",
            "final_selling_rate",
            "energy_rate_increase_per_update",
            "energy_rate_decrease_per_update",
            "update_interval",
            "fit_to_limit",
            "cap_price_strategy",
        ],
        Kind::Commercial => &["energy_rate"],
        Kind::MarketMaker => &["energy_rate", "grid_connected"],
        Kind::InfiniteBus => &["energy_sell_rate", "energy_buy_rate", "energy_rate"],
        Kind::FinitePowerPlant => &["energy_rate", "max_available_power_kW"],
        Kind::EvCharger => &[
            "charging_sessions",
            "maximum_power_rating_kW",
            "grid_integration",
            "charging_efficiency",
            "initial_buying_rate",
            "final_buying_rate",
            "initial_selling_rate",
            "final_selling_rate",
            "energy_rate_increase_per_update",
            "energy_rate_decrease_per_update",
            "update_interval",
            "fit_to_limit",
        ],
    }
}

/// Key of a mapping entry as text (JSON keys are strings; YAML may give numbers).
fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => "?".into(),
    }
}

fn entries(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Mapping(map) => map
            .iter()
            .map(|(key, value)| (key_text(key), value.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// A decimal string of `value` with at most `places` decimals (rounded to nearest), no trailing
/// zeros.
fn decimal(value: f64, places: usize) -> String {
    let text = format!("{value:.places$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".into() } else { text }
}

/// Cents per kWh → currency units per kWh, as a decimal string.
fn cents(value: f64) -> String {
    decimal(value / 100.0, 6)
}

/// A YAML double-quoted string (JSON escapes are valid YAML).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            control if control.is_control() => {
                let _ = write!(out, "\\u{:04x}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// A file-name-safe version of an asset path.
fn slug(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The keyword arguments of one asset node, with the fields read so far.
struct Kwargs<'n> {
    node: &'n str,
    prefix: &'static str,
    entries: Vec<(String, Value)>,
    problems: Vec<Problem>,
}

impl Kwargs<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(key, value)| key == name && !value.is_null())
            .map(|(_, value)| value)
    }
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: format!("{}: {}{field}", self.node, self.prefix),
            message: message.into(),
        });
    }
    fn number(&mut self, name: &str) -> Option<f64> {
        let value = self.get(name)?.clone();
        match value.as_f64() {
            Some(number) if number.is_finite() => Some(number),
            _ => {
                let shown = match &value {
                    Value::Mapping(_) | Value::Sequence(_) => {
                        "a profile; only a number is supported here".to_string()
                    }
                    other => format!("`{}` is not a number", plain(other)),
                };
                self.problem(name, shown);
                None
            }
        }
    }
    fn flag(&mut self, name: &str) -> Option<bool> {
        let value = self.get(name)?.clone();
        match value {
            Value::Bool(flag) => Some(flag),
            other => {
                self.problem(name, format!("`{}` is not true or false", plain(&other)));
                None
            }
        }
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "null".into(),
        _ => serde_norway::to_string(value)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Lines of YAML for one node, indented by the caller.
struct Lines(Vec<String>);

impl Lines {
    fn push(&mut self, line: impl Into<String>) {
        self.0.push(line.into());
    }
}

impl Importer<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn root(&mut self, root: &Value) -> String {
        let fields = entries(root);
        let name = match fields.iter().find(|(key, _)| key == "name") {
            Some((_, Value::String(name))) if !name.is_empty() => clean_name(name),
            _ => "Grid".to_string(),
        };
        let mut out = String::new();
        let mut simulation: Vec<String> = Vec::new();
        let mut mechanism = (
            "pay-as-offer",
            "gsy-e's default: one-sided market".to_string(),
        );
        for (key, value) in &fields {
            match key.as_str() {
                "name" | "children" => {}
                "settings" => self.settings(value, &mut simulation, &mut mechanism),
                "grid_fee_constant" | "grid_fee_percentage" => {
                    if value.as_f64().is_some_and(|fee| fee != 0.0) {
                        self.warnings.push(format!(
                            "{name}: {key} on the root area is dropped: in nestgrid a fee is \
                             charged on an area's boundary with its parent, and the root has none"
                        ));
                    }
                }
                "strategy" | "type" | "kwargs" => self.problem(
                    &name,
                    format!("`{key}`: the root must be an area with children, not an asset"),
                ),
                other if IGNORED_NODE_KEYS.contains(&other) => {}
                other => self.problem(&name, format!("unknown field `{other}` on the root area")),
            }
        }
        let children = fields
            .iter()
            .find(|(key, _)| key == "children")
            .map(|(_, value)| value.clone());
        let mut body = Lines(Vec::new());
        let kept = self.children(&name, children.as_ref(), 1, &mut body, "");
        if kept == 0 && self.problems.is_empty() {
            self.problem(&name, "no area or asset left to simulate");
        }
        let _ = writeln!(
            out,
            "# Imported from a gsy-e setup file by `nestgrid import-gsy` (docs/gsy-e.md)."
        );
        let _ = writeln!(
            out,
            "# Rates were cents/kWh in gsy-e; here they are currency units per kWh (cents / 100)."
        );
        let _ = writeln!(
            out,
            "# {} {} below the root, {} {}{}.",
            self.counts.areas,
            if self.counts.areas == 1 {
                "area"
            } else {
                "areas"
            },
            self.counts.assets,
            if self.counts.assets == 1 {
                "asset"
            } else {
                "assets"
            },
            if self.counts.skipped > 0 {
                format!(
                    ", {} nodes left out (see the warnings)",
                    self.counts.skipped
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "name: {}", quoted(&name));
        if !simulation.is_empty() {
            let _ = writeln!(out, "simulation:");
            for line in &simulation {
                let _ = writeln!(out, "  {line}");
            }
        }
        let _ = writeln!(out, "market:");
        let _ = writeln!(out, "  mechanism: {}    # {}", mechanism.0, mechanism.1);
        let _ = writeln!(out, "areas:");
        for line in body.0 {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    fn settings(
        &mut self,
        value: &Value,
        simulation: &mut Vec<String>,
        mechanism: &mut (&'static str, String),
    ) {
        let mut market_type: Option<i64> = None;
        let mut algorithm: Option<i64> = None;
        for (key, value) in entries(value) {
            let path = format!("settings.{key}");
            let number = value.as_f64();
            match key.as_str() {
                "slot_length_m" => match number {
                    Some(minutes) => {
                        self.settings.slot_minutes = Some(minutes);
                        simulation.push(format!("slot_length: {}", minutes_text(minutes)))
                    }
                    None => self.problem(path, "must be a number of minutes"),
                },
                "tick_length_s" => match number {
                    Some(seconds) => {
                        simulation.push(format!("tick_length: {}s", decimal(seconds, 0)))
                    }
                    None => self.problem(path, "must be a number of seconds"),
                },
                "sim_duration" => match (&value, number) {
                    (_, Some(hours)) => simulation.push(format!("duration: {}", hours_text(hours))),
                    (Value::String(text), None) => {
                        simulation.push(format!("duration: {}", quoted(text)))
                    }
                    _ => self.problem(path, "must be hours (a number) or a duration (`1d`)"),
                },
                "start_date" => match &value {
                    Value::String(text) => simulation.push(format!("start: {}", quoted(text))),
                    _ => self.problem(path, "must be a date (`2026-06-21`)"),
                },
                "time_zone" | "currency" => match &value {
                    Value::String(text) => simulation.push(format!("{key}: {}", quoted(text))),
                    _ => self.problem(path, "must be a string"),
                },
                "latitude" | "longitude" | "seed" => match number {
                    Some(_) => simulation.push(format!("{key}: {}", plain(&value))),
                    None => self.problem(path, "must be a number"),
                },
                "spot_market_type" | "market_type" => {
                    market_type = match plain(&value).to_ascii_lowercase().as_str() {
                        "1" | "one_sided" | "one-sided" => Some(1),
                        "2" | "two_sided" | "two-sided" | "two_sided_pay_as_bid" => Some(2),
                        "3" | "two_sided_pay_as_clear" => Some(3),
                        other => {
                            self.problem(
                                path,
                                format!(
                                    "unknown market type `{other}`: expected 1 (one-sided), 2 \
                                     (two-sided) or 3 (two-sided pay-as-clear)"
                                ),
                            );
                            None
                        }
                    }
                }
                "bid_offer_match_algo" => {
                    algorithm = match plain(&value).to_ascii_lowercase().as_str() {
                        "1" | "pay_as_bid" | "pay-as-bid" => Some(1),
                        "2" | "pay_as_clear" | "pay-as-clear" => Some(2),
                        other => {
                            self.problem(
                                path,
                                format!(
                                    "unknown algorithm `{other}`: expected 1 (pay-as-bid) or 2 \
                                     (pay-as-clear)"
                                ),
                            );
                            None
                        }
                    }
                }
                "feed_in_tariff" => match number {
                    Some(rate) => self.settings.feed_in_cents = Some(rate),
                    None => self.problem(path, "must be a number (cents/kWh)"),
                },
                "market_maker_rate" => match number {
                    Some(rate) => self.settings.market_maker_cents = Some(rate),
                    None => self.problem(path, "must be a number (cents/kWh)"),
                },
                other => self.problem(
                    path,
                    format!(
                        "unknown setting `{other}`; accepted: slot_length_m, tick_length_s, \
                         sim_duration, start_date, time_zone, currency, latitude, longitude, \
                         seed, spot_market_type, bid_offer_match_algo, feed_in_tariff, \
                         market_maker_rate"
                    ),
                ),
            }
        }
        *mechanism = match (market_type, algorithm) {
            (None | Some(1), None) => (
                "pay-as-offer",
                "gsy-e one-sided market (its default)".into(),
            ),
            (Some(3), _) | (_, Some(2)) => (
                "pay-as-clear",
                "gsy-e two-sided market, pay-as-clear".into(),
            ),
            (_, _) => ("pay-as-bid", "gsy-e two-sided market, pay-as-bid".into()),
        };
    }

    /// Writes the nodes of `children` below `parent`; returns how many were kept.
    fn children(
        &mut self,
        parent: &str,
        children: Option<&Value>,
        depth: usize,
        out: &mut Lines,
        indent: &str,
    ) -> usize {
        let list = match children {
            None | Some(Value::Null) => return 0,
            Some(Value::Sequence(list)) => list,
            Some(_) => {
                self.problem(parent, "`children` must be a list");
                return 0;
            }
        };
        let mut kept = 0;
        for (index, child) in list.iter().enumerate() {
            if self.node(parent, index, child, depth, out, indent) {
                kept += 1;
            }
        }
        kept
    }

    /// Either records `problems` (strict) or turns them into a warning and skips the node.
    /// Returns whether the node is kept.
    fn settle(&mut self, problems: Vec<Problem>) -> bool {
        if problems.is_empty() {
            return true;
        }
        if self.options.lenient {
            for problem in problems {
                self.warnings.push(format!("{problem} (node left out)"));
            }
            self.counts.skipped += 1;
            false
        } else {
            self.problems.extend(problems);
            false
        }
    }

    fn node(
        &mut self,
        parent: &str,
        index: usize,
        node: &Value,
        depth: usize,
        out: &mut Lines,
        indent: &str,
    ) -> bool {
        let fields = entries(node);
        if !matches!(node, Value::Mapping(_)) {
            let problems = vec![Problem {
                path: format!("{parent}: children[{index}]"),
                message: "must be an object".into(),
            }];
            return self.settle(problems);
        }
        let raw_name = match fields.iter().find(|(key, _)| key == "name") {
            Some((_, Value::String(name))) if !name.is_empty() => name.clone(),
            _ => {
                let problems = vec![Problem {
                    path: format!("{parent}: children[{index}].name"),
                    message: "missing: every node needs a name".into(),
                }];
                return self.settle(problems);
            }
        };
        let name = clean_name(&raw_name);
        let path = format!("{parent}/{name}");
        if name != raw_name {
            self.warnings.push(format!(
                "{parent}/{raw_name}: `/` in the name replaced by `-` (nestgrid uses `/` in paths)"
            ));
        }
        let strategy = fields.iter().find(|(key, _)| key == "strategy");
        let kind_name = fields.iter().find(|(key, _)| key == "type");
        let is_area_type = matches!(kind_name, Some((_, Value::String(t))) if t == "Area");
        if strategy.is_some() || (kind_name.is_some() && !is_area_type) {
            return self.asset(&path, &name, &fields, out, indent);
        }
        if depth > MAX_AREA_DEPTH {
            let problems = vec![Problem {
                path: path.clone(),
                message: format!(
                    "the tree is deeper than {MAX_AREA_DEPTH} areas below the root \
                     (MAX_AREA_DEPTH)"
                ),
            }];
            return self.settle(problems);
        }
        let mut problems = Vec::new();
        let mut fee: Option<(String, String)> = None;
        for (key, value) in &fields {
            match key.as_str() {
                "name" | "children" | "type" => {}
                "grid_fee_constant" | "grid_fee_percentage" if value.is_null() => {}
                "grid_fee_constant" | "grid_fee_percentage" => match value.as_f64() {
                    Some(0.0) => {}
                    Some(amount) if amount > 0.0 => {
                        if fee.is_some() {
                            problems.push(Problem {
                                path: format!("{path}: {key}"),
                                message: "give grid_fee_constant or grid_fee_percentage, not \
                                          both"
                                    .into(),
                            });
                        } else if key == "grid_fee_constant" {
                            fee = Some((
                                format!("{{ constant: {} }}", cents(amount)),
                                format!("grid_fee_constant {} cents/kWh", decimal(amount, 6)),
                            ));
                        } else {
                            fee = Some((
                                format!("{{ percent: {} }}", decimal(amount, 4)),
                                format!("grid_fee_percentage {}", decimal(amount, 6)),
                            ));
                        }
                    }
                    _ => problems.push(Problem {
                        path: format!("{path}: {key}"),
                        message: format!("`{}` must be a number ≥ 0", plain(value)),
                    }),
                },
                other if IGNORED_NODE_KEYS.contains(&other) => {}
                other => problems.push(Problem {
                    path: format!("{path}: {other}"),
                    message: "unknown field on an area (an area has name, children, \
                              grid_fee_constant, grid_fee_percentage)"
                        .into(),
                }),
            }
        }
        if !self.settle(problems) {
            return false;
        }
        let children = fields
            .iter()
            .find(|(key, _)| key == "children")
            .map(|(_, value)| value.clone());
        let mut body = Lines(Vec::new());
        let child_indent = format!("{indent}    ");
        let areas_before = self.counts.areas;
        let assets_before = self.counts.assets;
        let kept = self.children(
            &path,
            children.as_ref(),
            depth + 1,
            &mut body,
            &child_indent,
        );
        if kept == 0 {
            if self.problems.is_empty() {
                self.warnings.push(format!(
                    "{path}: an area without children has nothing to trade; left out"
                ));
            }
            self.counts.areas = areas_before;
            self.counts.assets = assets_before;
            self.counts.skipped += 1;
            return false;
        }
        self.counts.areas += 1;
        out.push(format!("{indent}  - name: {}", quoted(&name)));
        if let Some((fee, comment)) = fee {
            out.push(format!("{indent}    fee: {fee}    # {comment}"));
        }
        out.push(format!("{indent}    children:"));
        out.0.extend(body.0);
        true
    }

    fn asset(
        &mut self,
        path: &str,
        name: &str,
        fields: &[(String, Value)],
        out: &mut Lines,
        indent: &str,
    ) -> bool {
        let mut problems = Vec::new();
        // The strategy's type and keyword arguments, from either accepted shape.
        let (type_name, kwargs, prefix): (Option<String>, Vec<(String, Value)>, &'static str) =
            if let Some((_, strategy)) = fields.iter().find(|(key, _)| key == "strategy") {
                let inner = entries(strategy);
                for (key, _) in &inner {
                    if key != "type" && key != "kwargs" {
                        problems.push(Problem {
                            path: format!("{path}: strategy.{key}"),
                            message: "unknown field (a strategy has type and kwargs)".into(),
                        });
                    }
                }
                for (key, _) in fields {
                    if !matches!(key.as_str(), "name" | "strategy")
                        && !IGNORED_NODE_KEYS.contains(&key.as_str())
                    {
                        problems.push(Problem {
                            path: format!("{path}: {key}"),
                            message: "unknown field next to `strategy` on an asset".into(),
                        });
                    }
                }
                let type_name = inner
                    .iter()
                    .find(|(key, _)| key == "type")
                    .map(|(_, value)| plain(value));
                let kwargs = inner
                    .iter()
                    .find(|(key, _)| key == "kwargs")
                    .map(|(_, value)| entries(value))
                    .unwrap_or_default();
                (type_name, kwargs, "strategy.kwargs.")
            } else {
                let type_name = fields
                    .iter()
                    .find(|(key, _)| key == "type")
                    .map(|(_, value)| plain(value));
                if let Some((_, kwargs)) = fields.iter().find(|(key, _)| key == "kwargs") {
                    for (key, _) in fields {
                        if !matches!(key.as_str(), "name" | "type" | "kwargs")
                            && !IGNORED_NODE_KEYS.contains(&key.as_str())
                        {
                            problems.push(Problem {
                                path: format!("{path}: {key}"),
                                message: "unknown field next to `kwargs` on an asset".into(),
                            });
                        }
                    }
                    (type_name, entries(kwargs), "kwargs.")
                } else {
                    let flat = fields
                        .iter()
                        .filter(|(key, _)| {
                            !matches!(key.as_str(), "name" | "type")
                                && !IGNORED_NODE_KEYS.contains(&key.as_str())
                        })
                        .cloned()
                        .collect();
                    (type_name, flat, "")
                }
            };
        let Some(type_name) = type_name else {
            problems.push(Problem {
                path: format!("{path}: strategy.type"),
                message: "missing: the strategy's type".into(),
            });
            return self.settle(problems);
        };
        let Some(kind) = kind_of(&type_name, &kwargs) else {
            let field = if prefix.starts_with("strategy") {
                "strategy.type"
            } else {
                "type"
            };
            problems.push(Problem {
                path: format!("{path}: {field}"),
                message: format!(
                    "unknown or unsupported strategy type `{type_name}`; supported: \
                     LoadHoursStrategy, DefinedLoadStrategy, PVStrategy, PVPredefinedStrategy, \
                     PVUserProfileStrategy, StorageStrategy, CommercialStrategy, \
                     MarketMakerStrategy, InfiniteBusStrategy, FinitePowerPlant, \
                     SmartMeterStrategy, EVChargerStrategy"
                ),
            });
            return self.settle(problems);
        };
        let allowed = accepted(kind);
        let mut args = Kwargs {
            node: path,
            prefix,
            entries: kwargs,
            problems,
        };
        let unknown: Vec<String> = args
            .entries
            .iter()
            .map(|(key, _)| key.clone())
            .filter(|key| !allowed.contains(&key.as_str()))
            .collect();
        for key in unknown {
            args.problem(
                &key,
                format!(
                    "unknown keyword argument for {type_name}; accepted: {}",
                    allowed.join(", ")
                ),
            );
        }
        let mut lines = Lines(Vec::new());
        let inner = format!("{indent}      ");
        self.asset_body(
            kind, &type_name, path, &mut args, &mut lines, &inner, indent,
        );
        let problems = std::mem::take(&mut args.problems);
        if !self.settle(problems) {
            return false;
        }
        self.counts.assets += 1;
        out.push(format!("{indent}  - name: {}", quoted(name)));
        out.0.extend(lines.0);
        true
    }

    /// Writes one asset's kind key and fields (`lines` are already indented).
    #[allow(clippy::too_many_arguments)]
    fn asset_body(
        &mut self,
        kind: Kind,
        type_name: &str,
        path: &str,
        args: &mut Kwargs<'_>,
        lines: &mut Lines,
        inner: &str,
        indent: &str,
    ) {
        let head = format!("{indent}    ");
        match kind {
            Kind::LoadHours => {
                let power = args.number("avg_power_W").unwrap_or(100.0);
                let hours_of_day = hours_list(args, "hrs_of_day");
                let per_day = args.number("hrs_per_day");
                let mut chosen: Vec<u32> = hours_of_day.unwrap_or_else(|| (0..24).collect());
                chosen.sort_unstable();
                chosen.dedup();
                if let Some(per_day) = per_day {
                    if per_day < 0.0 || per_day.fract() != 0.0 {
                        args.problem("hrs_per_day", "must be a whole number of hours ≥ 0");
                    } else {
                        chosen.truncate(per_day as usize);
                    }
                }
                if power <= 0.0 {
                    args.problem("avg_power_W", "must be greater than 0");
                }
                if chosen.is_empty() {
                    args.problem(
                        "hrs_per_day",
                        "the load would never consume (0 hours a day)",
                    );
                }
                let energy_kwh = power * chosen.len() as f64 / 1000.0;
                lines.push(format!(
                    "{head}# gsy-e {type_name}: {} W in {} hour(s) a day = {} kWh a day",
                    decimal(power, 3),
                    chosen.len(),
                    decimal(energy_kwh, 6)
                ));
                lines.push(format!("{head}load:"));
                lines.push(format!("{inner}power_w: {}", decimal(power, 3)));
                if chosen.len() < 24 && !chosen.is_empty() {
                    lines.push(format!("{inner}hours: {}", hour_ranges(&chosen)));
                }
                self.buying(args, lines, inner);
                self.interval(args, lines, inner);
            }
            Kind::DefinedLoad | Kind::SmartMeter => {
                let field = if kind == Kind::DefinedLoad {
                    "daily_load_profile"
                } else {
                    "smart_meter_profile"
                };
                lines.push(format!(
                    "{head}# gsy-e {type_name}: {field} as a daily profile in W"
                ));
                lines.push(format!("{head}load:"));
                match self.profile(args, field, path, 1.0) {
                    Some(file) => lines.push(format!("{inner}profile: {}", quoted(&file))),
                    None if args.get(field).is_none() => {
                        args.problem(field, "missing: the load's profile")
                    }
                    None => {}
                }
                self.buying(args, lines, inner);
                self.interval(args, lines, inner);
            }
            Kind::Pv | Kind::PvPredefined | Kind::PvUserProfile => {
                let panels = args.number("panel_count").unwrap_or(1.0);
                if panels <= 0.0 || panels.fract() != 0.0 {
                    args.problem("panel_count", "must be a whole number ≥ 1");
                }
                // gsy-e documents a panel as 250 W when no capacity is given (model-pv.md).
                let per_panel = args.number("capacity_kW").unwrap_or(0.25);
                if per_panel <= 0.0 {
                    args.problem("capacity_kW", "must be greater than 0");
                }
                let capacity = per_panel * panels;
                lines.push(format!(
                    "{head}# gsy-e {type_name}: {} panel(s) of {} kW",
                    decimal(panels, 0),
                    decimal(per_panel, 6)
                ));
                if kind == Kind::PvUserProfile && panels != 1.0 {
                    lines.push(format!(
                        "{head}# power_profile is per panel in gsy-e: the profile file holds it \
                         × {} panels",
                        decimal(panels, 0)
                    ));
                }
                lines.push(format!("{head}pv:"));
                lines.push(format!("{inner}capacity_kw: {}", decimal(capacity, 6)));
                if kind == Kind::PvUserProfile {
                    if args.get("cloud_coverage").is_some() {
                        args.number("cloud_coverage");
                    }
                    // gsy-e multiplies a PV's power profile by its panel count, as it does its
                    // template profiles (model-pv.md passes panel_count to
                    // PVUserProfileStrategy; pv.md: an uploaded profile is the output per panel).
                    let scale = if panels > 0.0 && panels.fract() == 0.0 {
                        panels
                    } else {
                        1.0
                    };
                    match self.profile(args, "power_profile", path, scale) {
                        Some(file) => lines.push(format!("{inner}profile: {}", quoted(&file))),
                        None if args.get("power_profile").is_none() => {
                            args.problem("power_profile", "missing: the PV's power profile")
                        }
                        None => {}
                    }
                } else if let Some(cover) = args.number("cloud_coverage") {
                    match cover as i64 {
                        _ if cover.fract() != 0.0 => {
                            args.problem("cloud_coverage", "must be 0, 1 or 2")
                        }
                        0 => {}
                        1 => lines.push(format!(
                            "{inner}cloudiness: 0.85    # gsy-e cloud_coverage 1 (partially cloudy)"
                        )),
                        2 => lines.push(format!(
                            "{inner}cloudiness: 1    # gsy-e cloud_coverage 2 (cloudy)"
                        )),
                        other => args.problem(
                            "cloud_coverage",
                            format!(
                                "`{other}` is not supported: 0 sunny, 1 partially cloudy, 2 \
                                 cloudy (use PVUserProfileStrategy for a profile)"
                            ),
                        ),
                    }
                }
                self.selling(args, lines, inner);
                self.interval(args, lines, inner);
            }
            Kind::Storage => {
                let capacity = args.number("battery_capacity_kWh").unwrap_or(1.2);
                let power = args.number("max_abs_battery_power_kW").unwrap_or(5.0);
                let initial = args.number("initial_soc").unwrap_or(100.0);
                let minimum = args.number("min_allowed_soc").unwrap_or(10.0);
                for (field, value) in [("initial_soc", initial), ("min_allowed_soc", minimum)] {
                    if !(0.0..=100.0).contains(&value) {
                        args.problem(field, "must be a percentage 0..100");
                    }
                }
                lines.push(format!(
                    "{head}# gsy-e {type_name}: no losses (gsy-e's batteries are 100 % efficient)"
                ));
                lines.push(format!("{head}storage:"));
                lines.push(format!("{inner}capacity_kwh: {}", decimal(capacity, 6)));
                lines.push(format!("{inner}max_power_kw: {}", decimal(power, 6)));
                lines.push(format!(
                    "{inner}initial_soc: {}    # {} %",
                    decimal(initial / 100.0, 6),
                    decimal(initial, 4)
                ));
                lines.push(format!(
                    "{inner}min_soc: {}    # {} %",
                    decimal(minimum / 100.0, 6),
                    decimal(minimum, 4)
                ));
                lines.push(format!("{inner}charge_efficiency: 1"));
                lines.push(format!("{inner}discharge_efficiency: 1"));
                if args.flag("cap_price_strategy") == Some(true) {
                    self.warnings.push(format!(
                        "{path}: cap_price_strategy (offer rate falling with the state of \
                         charge) has no nestgrid equivalent; the selling rate ramps over the slot"
                    ));
                }
                self.buying(args, lines, inner);
                self.selling(args, lines, inner);
                self.interval(args, lines, inner);
            }
            Kind::EvCharger => self.ev_charger(type_name, path, args, lines, inner, &head),
            Kind::Commercial => {
                let rate = args.number("energy_rate").unwrap_or(30.0);
                lines.push(format!(
                    "{head}# gsy-e {type_name}: sells any amount at energy_rate {} cents/kWh \
                     (1 GW stands for 'any amount')",
                    decimal(rate, 6)
                ));
                lines.push(format!("{head}generator:"));
                lines.push(format!("{inner}max_power_kw: 1000000"));
                lines.push(format!("{inner}rate: {}", cents(rate)));
            }
            Kind::FinitePowerPlant => {
                let rate = args.number("energy_rate").unwrap_or(30.0);
                let power = args.number("max_available_power_kW");
                if power.is_none() && args.get("max_available_power_kW").is_none() {
                    args.problem("max_available_power_kW", "missing: the plant's power in kW");
                }
                lines.push(format!("{head}# gsy-e {type_name}"));
                lines.push(format!("{head}generator:"));
                lines.push(format!(
                    "{inner}max_power_kw: {}",
                    decimal(power.unwrap_or(1.0), 6)
                ));
                lines.push(format!("{inner}rate: {}", cents(rate)));
            }
            Kind::MarketMaker => {
                let rate = args
                    .number("energy_rate")
                    .or(self.settings.market_maker_cents)
                    .unwrap_or(30.0);
                let connected = args.flag("grid_connected").unwrap_or(true);
                if !connected {
                    args.problem(
                        "grid_connected",
                        "false (a price reference only, no energy) has no nestgrid \
                         equivalent; give the assets explicit rates and leave this node out \
                         (--lenient)",
                    );
                }
                let feed_in = self.settings.feed_in_cents.unwrap_or(0.0);
                lines.push(format!(
                    "{head}# gsy-e {type_name}: sells any amount at {} cents/kWh; buys at the \
                     feed-in tariff ({} cents/kWh, settings.feed_in_tariff)",
                    decimal(rate, 6),
                    decimal(feed_in, 6)
                ));
                lines.push(format!("{head}grid_connection:"));
                lines.push(format!("{inner}tariff: {}", cents(rate)));
                lines.push(format!("{inner}feed_in: {}", cents(feed_in)));
            }
            Kind::InfiniteBus => {
                let sell = args
                    .number("energy_sell_rate")
                    .or_else(|| args.number("energy_rate"))
                    .or(self.settings.market_maker_cents)
                    .unwrap_or(30.0);
                let buy = args
                    .number("energy_buy_rate")
                    .or(self.settings.feed_in_cents)
                    .unwrap_or(0.0);
                lines.push(format!(
                    "{head}# gsy-e {type_name}: sells at energy_sell_rate, buys at energy_buy_rate"
                ));
                lines.push(format!("{head}grid_connection:"));
                lines.push(format!("{inner}tariff: {}", cents(sell)));
                lines.push(format!("{inner}feed_in: {}", cents(buy)));
            }
        }
    }

    /// gsy-e's EV charger: a battery that trades only while a vehicle is plugged in. Each
    /// charging session becomes a nestgrid session that must reach `min_soc_percent` (gsy-e's
    /// threshold) from `initial_soc_percent`.
    fn ev_charger(
        &mut self,
        type_name: &str,
        path: &str,
        args: &mut Kwargs<'_>,
        lines: &mut Lines,
        inner: &str,
        head: &str,
    ) {
        let power = args.number("maximum_power_rating_kW").unwrap_or(11.0);
        if power <= 0.0 {
            args.problem("maximum_power_rating_kW", "must be greater than 0");
        }
        let bidirectional = match args.get("grid_integration").map(plain) {
            None => false,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "unidirectional" | "1" => false,
                "bidirectional" | "2" => true,
                other => {
                    args.problem(
                        "grid_integration",
                        format!("`{other}`: expected UNIDIRECTIONAL or BIDIRECTIONAL"),
                    );
                    false
                }
            },
        };
        if let Some(efficiency) = args
            .number("charging_efficiency")
            .filter(|efficiency| *efficiency != 1.0)
        {
            self.warnings.push(format!(
                "{path}: charging_efficiency {efficiency} is ignored: nestgrid's chargers \
                 deliver what they buy"
            ));
        }
        lines.push(format!("{head}# gsy-e {type_name}"));
        lines.push(format!("{head}ev_charger:"));
        lines.push(format!("{inner}max_power_kw: {}", decimal(power, 6)));
        if bidirectional {
            lines.push(format!("{inner}bidirectional: true"));
        }
        let sessions = match args.get("charging_sessions").cloned() {
            None => Vec::new(),
            Some(Value::Sequence(list)) => list,
            Some(_) => {
                args.problem("charging_sessions", "must be a list of sessions");
                Vec::new()
            }
        };
        let slot_minutes = self.settings.slot_minutes.unwrap_or(15.0);
        if !sessions.is_empty() {
            lines.push(format!("{inner}sessions:"));
        }
        for (index, session) in sessions.iter().enumerate() {
            let field = format!("charging_sessions[{index}]");
            let mut plug_in: Option<String> = None;
            let mut minutes: Option<f64> = None;
            let (mut initial, mut minimum, mut battery) = (20.0, 50.0, 100.0);
            for (key, value) in entries(session) {
                let number = value.as_f64();
                match (key.as_str(), number) {
                    ("plug_in_time", _) => plug_in = Some(plain(&value)),
                    ("duration_minutes", Some(value)) if value > 0.0 => minutes = Some(value),
                    ("initial_soc_percent", Some(value)) => initial = value,
                    ("min_soc_percent", Some(value)) => minimum = value,
                    ("battery_capacity_kWh", Some(value)) if value > 0.0 => battery = value,
                    (
                        "duration_minutes"
                        | "initial_soc_percent"
                        | "min_soc_percent"
                        | "battery_capacity_kWh",
                        _,
                    ) => args.problem(
                        &format!("{field}.{key}"),
                        format!("`{}` is not a valid number", plain(&value)),
                    ),
                    (other, _) => args.problem(
                        &format!("{field}.{other}"),
                        "unknown field; a session has plug_in_time, duration_minutes, \
                         initial_soc_percent, min_soc_percent, battery_capacity_kWh",
                    ),
                }
            }
            let (Some(plug_in), Some(minutes)) = (plug_in, minutes) else {
                args.problem(&field, "needs plug_in_time and duration_minutes");
                continue;
            };
            let Some((arrival, departure)) = session_times(&plug_in, minutes) else {
                args.problem(
                    &format!("{field}.plug_in_time"),
                    format!("`{plug_in}` is not a date and time (`2026-06-21T18:00`) or `HH:MM`"),
                );
                continue;
            };
            if !(0.0..=100.0).contains(&initial) || !(0.0..=100.0).contains(&minimum) {
                args.problem(&field, "state of charge percentages must be 0..100");
                continue;
            }
            let target = minimum.max(initial);
            // nestgrid requires the energy to be reachable in the full slots of the stay; gsy-e
            // simply stops at the plug-out. One slot is kept in reserve for a plug-in between
            // slot starts.
            let reachable_kwh = power * ((minutes - slot_minutes).max(0.0) / 60.0);
            let mut energy = (target - initial) / 100.0 * battery;
            if energy > reachable_kwh {
                self.warnings.push(format!(
                    "{path}: {field}: {} kWh cannot be charged in the stay at {} kW; the \
                     session asks for {} kWh",
                    decimal(energy, 3),
                    decimal(power, 3),
                    decimal(reachable_kwh, 3)
                ));
                energy = reachable_kwh;
            }
            lines.push(format!(
                "{inner}  - {{ arrival: {}, departure: {}, battery_kwh: {}, energy_kwh: {}, \
                 initial_soc: {} }}    # gsy-e: {} % → at least {} %",
                quoted(&arrival),
                quoted(&departure),
                decimal(battery, 6),
                decimal(energy, 6),
                decimal(initial / 100.0, 6),
                decimal(initial, 3),
                decimal(minimum, 3)
            ));
        }
        self.rates(
            args,
            lines,
            inner,
            ["initial_buying_rate", "final_buying_rate"],
        );
        if bidirectional {
            self.selling(args, lines, inner);
        } else {
            let _ = args.number("initial_selling_rate");
            let _ = args.number("final_selling_rate");
        }
        self.interval(args, lines, inner);
    }

    fn rates(&mut self, args: &mut Kwargs<'_>, lines: &mut Lines, inner: &str, names: [&str; 2]) {
        for name in names {
            let follows_market_maker = matches!(name, "final_buying_rate" | "initial_selling_rate")
                && args.flag("use_market_maker_rate") == Some(true);
            if follows_market_maker {
                // Left out: nestgrid's default for this rate is the grid's tariff as seen from
                // the asset's market, which is what gsy-e's option means.
                let _ = args.number(name);
                lines.push(format!(
                    "{inner}# {name}: the grid tariff (gsy-e use_market_maker_rate)"
                ));
                continue;
            }
            if let Some(rate) = args.number(name) {
                lines.push(format!(
                    "{inner}{name}: {}    # {} cents/kWh",
                    cents(rate),
                    decimal(rate, 6)
                ));
            }
        }
    }

    fn interval(&mut self, args: &mut Kwargs<'_>, lines: &mut Lines, inner: &str) {
        if let Some(minutes) = args.number("update_interval") {
            if minutes <= 0.0 {
                args.problem("update_interval", "must be greater than 0 minutes");
            } else {
                lines.push(format!("{inner}update_interval: {}", minutes_text(minutes)));
            }
        }
        if args.flag("fit_to_limit") == Some(false) {
            lines.push(format!(
                "{inner}# gsy-e fit_to_limit false: nestgrid still ramps linearly from the \
                 initial to the final rate over the slot"
            ));
        }
        let _ = args.number("energy_rate_increase_per_update");
        let _ = args.number("energy_rate_decrease_per_update");
    }

    fn buying(&mut self, args: &mut Kwargs<'_>, lines: &mut Lines, inner: &str) {
        self.rates(
            args,
            lines,
            inner,
            ["initial_buying_rate", "final_buying_rate"],
        );
    }

    fn selling(&mut self, args: &mut Kwargs<'_>, lines: &mut Lines, inner: &str) {
        self.rates(
            args,
            lines,
            inner,
            ["initial_selling_rate", "final_selling_rate"],
        );
    }

    /// A profile given as a map (`{"8": 200, "12:30": 400}`, W) or a file name; written as a
    /// daily CSV file with every value multiplied by `scale` (a PV's panel count, 1 for loads).
    /// Returns the file's path relative to the scenario.
    fn profile(
        &mut self,
        args: &mut Kwargs<'_>,
        field: &str,
        path: &str,
        scale: f64,
    ) -> Option<String> {
        let value = args.get(field)?.clone();
        let rows: Vec<(u32, f64)> = match &value {
            Value::Mapping(_) => {
                let mut rows = Vec::new();
                for (key, value) in entries(&value) {
                    let Some(seconds) = time_of_day(&key) else {
                        args.problem(
                            field,
                            format!("key `{key}` is not an hour (0..23) or a time `HH:MM`"),
                        );
                        return None;
                    };
                    let Some(watts) = value.as_f64() else {
                        args.problem(field, format!("value at `{key}` is not a number (W)"));
                        return None;
                    };
                    rows.push((seconds, watts));
                }
                rows
            }
            Value::String(name) => {
                let file = self.base_dir.join(name);
                let text = match std::fs::read_to_string(&file) {
                    Ok(text) => text,
                    Err(error) => {
                        args.problem(field, format!("cannot read `{}` ({error})", file.display()));
                        return None;
                    }
                };
                let mut rows = Vec::new();
                for (number, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let mut parts = line.split([';', ',']);
                    let (Some(time), Some(watts)) = (parts.next(), parts.next()) else {
                        args.problem(
                            field,
                            format!("{name}:{}: expected `time;watts`", number + 1),
                        );
                        return None;
                    };
                    let time = time.trim();
                    // gsy-e files may carry a date; only the time of day is kept.
                    let time = time.rsplit([' ', 'T']).next().unwrap_or(time);
                    match (time_of_day(time), watts.trim().parse::<f64>()) {
                        (Some(seconds), Ok(watts)) => rows.push((seconds, watts)),
                        _ if rows.is_empty() => {} // a header line
                        _ => {
                            args.problem(
                                field,
                                format!("{name}:{}: `{line}` is not `HH:MM;watts`", number + 1),
                            );
                            return None;
                        }
                    }
                }
                rows
            }
            _ => {
                args.problem(field, "must be a map of hour → W or a file name");
                return None;
            }
        };
        let mut rows = rows;
        rows.sort_by_key(|(seconds, _)| *seconds);
        rows.dedup_by_key(|(seconds, _)| *seconds);
        if rows.is_empty() {
            args.problem(field, "the profile is empty");
            return None;
        }
        let mut text = if scale == 1.0 {
            format!("# {field} of {path} (gsy-e), average W\ntime,value\n")
        } else {
            format!(
                "# {field} of {path} (gsy-e) × {} panels, average W\ntime,value\n",
                decimal(scale, 0)
            )
        };
        for (seconds, watts) in rows {
            if watts < 0.0 {
                args.problem(field, format!("negative power `{watts}` W"));
                return None;
            }
            let _ = writeln!(
                text,
                "{:02}:{:02}:{:02},{}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60,
                decimal(watts * scale, 3)
            );
        }
        let file = format!("{}/{}.csv", self.options.profile_dir, slug(path));
        self.files.push(ProfileFile {
            path: file.clone(),
            text,
        });
        Some(file)
    }
}

/// `8` / `"8"` → 08:00, `"12:30"` → 12:30 (seconds after midnight).
fn time_of_day(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Ok(hour) = text.parse::<u32>() {
        return (hour < 24).then_some(hour * 3600);
    }
    let mut parts = text.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.parse().ok()?;
    let second: u32 = match parts.next() {
        Some(second) => second.parse().ok()?,
        None => 0,
    };
    (hour < 24 && minute < 60 && second < 60).then_some(hour * 3600 + minute * 60 + second)
}

/// A gsy-e plug-in time and a stay in minutes → nestgrid arrival and departure: both dates and
/// times for a dated plug-in, both times of day (a daily stay) for `HH:MM`.
fn session_times(plug_in: &str, minutes: f64) -> Option<(String, String)> {
    let minutes = minutes.round() as i64;
    if let Some(seconds) = time_of_day(plug_in).filter(|_| plug_in.contains(':')) {
        let departure = (seconds as i64 + minutes * 60).rem_euclid(86_400);
        let show = |s: i64| format!("{:02}:{:02}", s / 3600, s / 60 % 60);
        return Some((show(seconds as i64), show(departure)));
    }
    let text = plug_in.trim().replace(' ', "T");
    let start: jiff::civil::DateTime = text.parse().ok()?;
    let end = start.checked_add(jiff::Span::new().minutes(minutes)).ok()?;
    let show = |time: jiff::civil::DateTime| time.strftime("%Y-%m-%dT%H:%M").to_string();
    Some((show(start), show(end)))
}

fn hours_list(args: &mut Kwargs<'_>, field: &str) -> Option<Vec<u32>> {
    let value = args.get(field)?.clone();
    let Value::Sequence(list) = value else {
        args.problem(field, "must be a list of hours 0..23");
        return None;
    };
    let mut hours = Vec::new();
    for item in list {
        match item.as_u64() {
            Some(hour) if hour < 24 => hours.push(hour as u32),
            _ => {
                args.problem(field, format!("`{}` is not an hour 0..23", plain(&item)));
                return None;
            }
        }
    }
    Some(hours)
}

/// Sorted whole hours → `[[from, to), ...]` ranges.
fn hour_ranges(hours: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &hour in hours {
        match ranges.last_mut() {
            Some((_, to)) if *to == hour => *to = hour + 1,
            _ => ranges.push((hour, hour + 1)),
        }
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|(from, to)| format!("[{from}, {to}]"))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn minutes_text(minutes: f64) -> String {
    if minutes.fract() == 0.0 {
        format!("{}m", minutes as i64)
    } else {
        format!("{}s", (minutes * 60.0).round() as i64)
    }
}

fn hours_text(hours: f64) -> String {
    if hours.fract() == 0.0 {
        format!("{}h", hours as i64)
    } else {
        format!("{}s", (hours * 3600.0).round() as i64)
    }
}

fn clean_name(name: &str) -> String {
    name.replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_become_currency_units() {
        assert_eq!(cents(35.0), "0.35");
        assert_eq!(cents(22.5), "0.225");
        assert_eq!(cents(0.1), "0.001");
        assert_eq!(cents(0.0), "0");
    }

    #[test]
    fn hours_merge_into_ranges() {
        assert_eq!(
            hour_ranges(&[0, 1, 2, 12, 13, 23]),
            "[[0, 3], [12, 14], [23, 24]]"
        );
    }

    #[test]
    fn times_of_day() {
        assert_eq!(time_of_day("8"), Some(8 * 3600));
        assert_eq!(time_of_day("12:30"), Some(12 * 3600 + 30 * 60));
        assert_eq!(time_of_day("24"), None);
    }

    #[test]
    fn detection_needs_top_level_children() {
        assert!(looks_like_gsy(r#"{"name": "Grid", "children": []}"#));
        assert!(!looks_like_gsy(r#"{"name": "Grid", "areas": []}"#));
        assert!(!looks_like_gsy("name: Grid\nchildren: []\n"));
    }
}
