//! Asset kinds: their fields as written, checks, and conversion to [`AssetKind`] specs.

use crate::error::join_field;
use crate::ev::{SessionFields, expand_sessions};
use crate::profile_file::EnergyUnit;
use crate::profiles::ProfileKey;
use crate::scenario::Context;
use crate::values::{DurationText, Num, check_range};
use crate::{
    AssetKind, EvChargerSpec, GeneratorSpec, GridConnectionSpec, LoadSpec, PriceSeries, ProfileUse,
    PvSpec, RateRange, StorageSpec,
};
use nestgrid_types::{Energy, Power, Price};
use serde::Deserialize;
use serde_norway::Value;

/// Default time between a strategy's price updates, seconds.
pub const DEFAULT_UPDATE_INTERVAL_SECONDS: u64 = 60;
/// Default PV tilt, degrees.
pub const DEFAULT_TILT_DEG: i64 = 30;
/// Default PV azimuth, degrees (south).
pub const DEFAULT_AZIMUTH_DEG: i64 = 180;
/// Default storage efficiencies, ppm.
pub const DEFAULT_EFFICIENCY_PPM: i64 = 950_000;
/// Default initial state of charge, ppm.
pub const DEFAULT_INITIAL_SOC_PPM: i64 = 500_000;
/// Default lowest state of charge, ppm.
pub const DEFAULT_MIN_SOC_PPM: i64 = 100_000;

/// An asset ready to copy: its spec with an unvaried profile use; copies replace the use.
#[derive(Debug)]
pub(crate) struct AssetPlan {
    /// The spec with an unscaled, unshifted profile use.
    pub kind: AssetKind,
    /// Traded only through the live exchange's API, not by its strategy.
    pub external: bool,
}

impl AssetPlan {
    /// The kind with the profile use replaced (loads take scale and shift; PV takes the scale
    /// only — the sun does not move with a household's habits).
    pub fn with_variation(&self, scale_ppm: i64, shift_slots: i32) -> AssetKind {
        let mut kind = self.kind.clone();
        match &mut kind {
            AssetKind::Load(load) => {
                load.profile.scale_ppm = scale_ppm;
                load.profile.shift_slots = shift_slots;
            }
            AssetKind::Pv(pv) => pv.profile.scale_ppm = scale_ppm,
            _ => {}
        }
        kind
    }

    /// Whether copies of this asset vary.
    pub fn has_profile(&self) -> bool {
        matches!(self.kind, AssetKind::Load(_) | AssetKind::Pv(_))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `load` fields")]
struct LoadFields {
    profile: Option<String>,
    profile_unit: Option<EnergyUnit>,
    annual_kwh: Option<Num>,
    power_w: Option<Num>,
    hours: Option<Vec<(u32, u32)>>,
    initial_buying_rate: Option<Num>,
    final_buying_rate: Option<Num>,
    update_interval: Option<DurationText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `pv` fields")]
struct PvFields {
    capacity_kw: Option<Num>,
    tilt_deg: Option<Num>,
    azimuth_deg: Option<Num>,
    cloudiness: Option<Num>,
    profile: Option<String>,
    profile_unit: Option<EnergyUnit>,
    initial_selling_rate: Option<Num>,
    final_selling_rate: Option<Num>,
    update_interval: Option<DurationText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `storage` fields")]
struct StorageFields {
    capacity_kwh: Option<Num>,
    max_power_kw: Option<Num>,
    max_charge_kw: Option<Num>,
    max_discharge_kw: Option<Num>,
    charge_efficiency: Option<Num>,
    discharge_efficiency: Option<Num>,
    initial_soc: Option<Num>,
    min_soc: Option<Num>,
    initial_buying_rate: Option<Num>,
    final_buying_rate: Option<Num>,
    initial_selling_rate: Option<Num>,
    final_selling_rate: Option<Num>,
    update_interval: Option<DurationText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `ev_charger` fields")]
struct EvChargerFields {
    max_power_kw: Option<Num>,
    bidirectional: Option<bool>,
    sessions: Option<Vec<SessionFields>>,
    initial_buying_rate: Option<Num>,
    final_buying_rate: Option<Num>,
    initial_selling_rate: Option<Num>,
    final_selling_rate: Option<Num>,
    update_interval: Option<DurationText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `generator` fields")]
struct GeneratorFields {
    max_power_kw: Option<Num>,
    rate: Option<Num>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of `grid_connection` fields"
)]
struct GridConnectionFields {
    tariff: Option<Num>,
    feed_in: Option<Num>,
}

/// Reads fields of an asset kind and checks them, recording problems under `path`.
struct Reader<'c, 'a> {
    context: &'c mut Context<'a>,
    path: String,
}

impl Reader<'_, '_> {
    fn at(&self, field: &str) -> String {
        join_field(&self.path, field)
    }

    fn problem(&mut self, field: &str, message: impl Into<String>) {
        let path = self.at(field);
        self.context.problems.push(path, message);
    }

    /// A value in fixed units of `1/scale`.
    fn fixed(&mut self, field: &str, value: &Option<Num>, scale: i64) -> Option<i64> {
        match value.as_ref()?.fixed(scale) {
            Ok(units) => Some(units),
            Err(message) => {
                self.problem(field, message);
                None
            }
        }
    }

    /// A required value greater than zero.
    fn positive(&mut self, field: &str, value: &Option<Num>, scale: i64) -> Option<i64> {
        if value.is_none() {
            self.problem(field, "is required");
            return None;
        }
        self.positive_optional(field, value, scale)
    }

    /// An optional value that must be greater than zero when given.
    fn positive_optional(&mut self, field: &str, value: &Option<Num>, scale: i64) -> Option<i64> {
        let units = self.fixed(field, value, scale)?;
        if units <= 0 {
            self.problem(field, "must be greater than 0");
            return None;
        }
        Some(units)
    }

    /// A share in `min..=1` as ppm, or `default`.
    fn share(
        &mut self,
        field: &str,
        value: &Option<Num>,
        default: i64,
        exclusive_zero: bool,
    ) -> i64 {
        if value.is_none() {
            return default;
        }
        let Some(ppm) = self.fixed(field, value, 1_000_000) else {
            return default;
        };
        if exclusive_zero && ppm <= 0 {
            self.problem(field, "must be greater than 0 and at most 1");
            return default;
        }
        match check_range(ppm, 0, 1_000_000, 1_000_000) {
            Ok(ppm) => ppm,
            Err(message) => {
                self.problem(field, message);
                default
            }
        }
    }

    /// An angle in micro-degrees within `min..=max` (degrees), or `default`.
    fn degrees(
        &mut self,
        field: &str,
        value: &Option<Num>,
        default: i64,
        max_exclusive: Option<i64>,
        max: i64,
    ) -> i64 {
        let Some(micro) = self.fixed(field, value, 1_000_000) else {
            return default * 1_000_000;
        };
        let too_big = match max_exclusive {
            Some(limit) => micro >= limit * 1_000_000,
            None => micro > max * 1_000_000,
        };
        if micro < 0 || too_big {
            let range = match max_exclusive {
                Some(limit) => format!("must be at least 0 and below {limit}"),
                None => format!("must be between 0 and {max}"),
            };
            self.problem(field, range);
            return default * 1_000_000;
        }
        micro
    }

    fn price(&mut self, field: &str, value: &Option<Num>) -> Option<Price> {
        self.fixed(field, value, Price::SCALE).map(Price)
    }

    /// A rate range; `rising` for buying (initial ≤ final), falling for selling.
    fn rates(
        &mut self,
        initial_field: &str,
        initial: &Option<Num>,
        final_field: &str,
        final_value: &Option<Num>,
        rising: bool,
    ) -> RateRange {
        let range = RateRange {
            initial: self.price(initial_field, initial),
            final_rate: self.price(final_field, final_value),
        };
        if let (Some(start), Some(end)) = (range.initial, range.final_rate) {
            if rising && start > end {
                self.problem(
                    initial_field,
                    format!("must not be above {final_field} ({end})"),
                );
            }
            if !rising && start < end {
                self.problem(
                    initial_field,
                    format!("must not be below {final_field} ({end})"),
                );
            }
        }
        range
    }

    fn update_interval_ticks(&mut self, value: &Option<DurationText>) -> u32 {
        let seconds = match value {
            None => DEFAULT_UPDATE_INTERVAL_SECONDS,
            Some(text) => match text.seconds() {
                Ok(0) => {
                    self.problem("update_interval", "must be greater than 0");
                    DEFAULT_UPDATE_INTERVAL_SECONDS
                }
                Ok(seconds) => seconds,
                Err(message) => {
                    self.problem("update_interval", message);
                    DEFAULT_UPDATE_INTERVAL_SECONDS
                }
            },
        };
        // Whole ticks, rounded down, at least one.
        (seconds / self.context.tick_seconds as u64).clamp(1, u32::MAX as u64) as u32
    }

    /// A base profile from a file named in field `field`.
    fn file_profile(&mut self, field: &str, file: &str, unit: EnergyUnit) -> Option<u32> {
        let key = ProfileKey::File {
            path: self.context.base_dir.join(file),
            unit,
        };
        let path = self.at(field);
        self.context.profile(key, &path, file)
    }

    /// A price: a number, a decimal string, or a CSV file of prices.
    fn price_series(&mut self, field: &str, value: &Option<Num>) -> Option<PriceSeries> {
        let Some(value) = value else {
            self.problem(field, "is required");
            return None;
        };
        match value.fixed(Price::SCALE) {
            Ok(micro) => Some(PriceSeries::Constant(Price(micro))),
            Err(message) if !value.quoted => {
                self.problem(field, message);
                None
            }
            Err(_) => {
                let path = self.at(field);
                self.context
                    .price_file(value.text(), &path)
                    .map(PriceSeries::PerSlot)
            }
        }
    }
}

fn unit_profile() -> ProfileUse {
    ProfileUse {
        profile: 0,
        scale_ppm: 1_000_000,
        shift_slots: 0,
    }
}

/// Plans an asset of kind `kind` from its field's `value` written at `path`.
pub(crate) fn plan_asset(
    kind: &str,
    value: &Value,
    path: &str,
    context: &mut Context,
) -> Option<AssetPlan> {
    let mut reader = Reader {
        context,
        path: path.to_string(),
    };
    let kind = match kind {
        "load" => plan_load(&mut reader, value)?,
        "pv" => plan_pv(&mut reader, value)?,
        "storage" => plan_storage(&mut reader, value)?,
        "ev_charger" => plan_ev_charger(&mut reader, value)?,
        "generator" => plan_generator(&mut reader, value)?,
        "grid_connection" => plan_grid_connection(&mut reader, value)?,
        other => unreachable!("not an asset kind: {other}"),
    };
    Some(AssetPlan {
        kind,
        external: false,
    })
}

fn plan_load(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: LoadFields = reader.context.decode(value, &path)?;
    let buying = reader.rates(
        "initial_buying_rate",
        &fields.initial_buying_rate,
        "final_buying_rate",
        &fields.final_buying_rate,
        true,
    );
    let update_interval_ticks = reader.update_interval_ticks(&fields.update_interval);
    if fields.profile_unit.is_some() && fields.profile.is_none() {
        reader.problem("profile_unit", "only applies with `profile`");
    }
    if fields.hours.is_some() && fields.power_w.is_none() {
        reader.problem("hours", "only applies with `power_w`");
    }
    let sources = [
        fields.profile.is_some(),
        fields.annual_kwh.is_some(),
        fields.power_w.is_some(),
    ];
    let profile = match sources {
        [true, false, false] => {
            let file = fields.profile.as_deref().unwrap_or_default();
            reader.file_profile("profile", file, fields.profile_unit.unwrap_or_default())?
        }
        [false, true, false] => {
            let annual_mwh = reader.positive("annual_kwh", &fields.annual_kwh, Energy::SCALE)?;
            let path = reader.at("annual_kwh");
            reader
                .context
                .profile(ProfileKey::StandardLoad { annual_mwh }, &path, "")?
        }
        [false, false, true] => {
            let power_mw = reader.positive("power_w", &fields.power_w, 1_000)?;
            let hours = match &fields.hours {
                None => (1u32 << 24) - 1,
                Some(ranges) => hour_mask(reader, ranges)?,
            };
            let path = reader.at("power_w");
            reader
                .context
                .profile(ProfileKey::ConstantPower { power_mw, hours }, &path, "")?
        }
        [false, false, false] => {
            reader.context.problems.push(
                path,
                "needs one source of energy: `profile`, `annual_kwh` or `power_w`",
            );
            return None;
        }
        _ => {
            reader.context.problems.push(
                path,
                "give only one of `profile`, `annual_kwh` and `power_w`",
            );
            return None;
        }
    };
    Some(AssetKind::Load(LoadSpec {
        profile: ProfileUse {
            profile,
            ..unit_profile()
        },
        buying,
        update_interval_ticks,
    }))
}

/// Hours of the day covered by half-open ranges `[from, to)`; `from > to` wraps past midnight.
fn hour_mask(reader: &mut Reader, ranges: &[(u32, u32)]) -> Option<u32> {
    if ranges.is_empty() {
        reader.problem("hours", "must list at least one range like [18, 23]");
        return None;
    }
    let mut mask = 0u32;
    for (index, &(from, to)) in ranges.iter().enumerate() {
        let field = format!("hours[{index}]");
        if from > 23 || to > 24 || from == to {
            reader.problem(
                &field,
                format!(
                    "[{from}, {to}] is not a range of hours: write [from, to) with from 0..23, \
                     to 0..24 and from ≠ to (from > to wraps past midnight)"
                ),
            );
            return None;
        }
        let hours: Vec<u32> = if from < to {
            (from..to).collect()
        } else {
            (from..24).chain(0..to).collect()
        };
        for hour in hours {
            mask |= 1 << hour;
        }
    }
    Some(mask)
}

fn plan_pv(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: PvFields = reader.context.decode(value, &path)?;
    let capacity = reader.positive("capacity_kw", &fields.capacity_kw, Power::SCALE);
    let selling = reader.rates(
        "initial_selling_rate",
        &fields.initial_selling_rate,
        "final_selling_rate",
        &fields.final_selling_rate,
        false,
    );
    let update_interval_ticks = reader.update_interval_ticks(&fields.update_interval);
    let profile = match &fields.profile {
        Some(file) => {
            for (field, given) in [
                ("tilt_deg", fields.tilt_deg.is_some()),
                ("azimuth_deg", fields.azimuth_deg.is_some()),
                ("cloudiness", fields.cloudiness.is_some()),
            ] {
                if given {
                    reader.problem(
                        field,
                        "only applies to the built-in clear-sky profile, not with `profile`",
                    );
                }
            }
            reader.file_profile("profile", file, fields.profile_unit.unwrap_or_default())?
        }
        None => {
            if fields.profile_unit.is_some() {
                reader.problem("profile_unit", "only applies with `profile`");
            }
            let tilt_micro =
                reader.degrees("tilt_deg", &fields.tilt_deg, DEFAULT_TILT_DEG, None, 90);
            let azimuth_micro = reader.degrees(
                "azimuth_deg",
                &fields.azimuth_deg,
                DEFAULT_AZIMUTH_DEG,
                Some(360),
                360,
            );
            let cloudiness_ppm = reader.share("cloudiness", &fields.cloudiness, 0, false);
            let key = ProfileKey::ClearSky {
                capacity_mw: capacity?,
                tilt_micro,
                azimuth_micro,
                cloudiness_ppm,
            };
            let path = reader.at("capacity_kw");
            reader.context.profile(key, &path, "")?
        }
    };
    Some(AssetKind::Pv(PvSpec {
        profile: ProfileUse {
            profile,
            ..unit_profile()
        },
        capacity: Power(capacity?),
        selling,
        update_interval_ticks,
    }))
}

fn plan_storage(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: StorageFields = reader.context.decode(value, &path)?;
    let capacity = reader.positive("capacity_kwh", &fields.capacity_kwh, Energy::SCALE);
    let both = reader.positive_optional("max_power_kw", &fields.max_power_kw, Power::SCALE);
    let charge = reader
        .positive_optional("max_charge_kw", &fields.max_charge_kw, Power::SCALE)
        .or(both);
    let discharge = reader
        .positive_optional("max_discharge_kw", &fields.max_discharge_kw, Power::SCALE)
        .or(both);
    if fields.max_power_kw.is_none()
        && (fields.max_charge_kw.is_none() || fields.max_discharge_kw.is_none())
    {
        reader.problem(
            "max_power_kw",
            "is required (or give both max_charge_kw and max_discharge_kw)",
        );
    }
    let charge_efficiency_ppm = reader.share(
        "charge_efficiency",
        &fields.charge_efficiency,
        DEFAULT_EFFICIENCY_PPM,
        true,
    );
    let discharge_efficiency_ppm = reader.share(
        "discharge_efficiency",
        &fields.discharge_efficiency,
        DEFAULT_EFFICIENCY_PPM,
        true,
    );
    let initial_soc_ppm = reader.share(
        "initial_soc",
        &fields.initial_soc,
        DEFAULT_INITIAL_SOC_PPM,
        false,
    );
    let min_soc_ppm = reader.share("min_soc", &fields.min_soc, DEFAULT_MIN_SOC_PPM, false);
    if min_soc_ppm > initial_soc_ppm {
        reader.problem(
            "min_soc",
            format!(
                "{} must not be above initial_soc ({})",
                nestgrid_types::decimal::format_fixed(min_soc_ppm, 1_000_000),
                nestgrid_types::decimal::format_fixed(initial_soc_ppm, 1_000_000)
            ),
        );
    }
    let buying = reader.rates(
        "initial_buying_rate",
        &fields.initial_buying_rate,
        "final_buying_rate",
        &fields.final_buying_rate,
        true,
    );
    let selling = reader.rates(
        "initial_selling_rate",
        &fields.initial_selling_rate,
        "final_selling_rate",
        &fields.final_selling_rate,
        false,
    );
    let update_interval_ticks = reader.update_interval_ticks(&fields.update_interval);
    Some(AssetKind::Storage(StorageSpec {
        capacity: Energy(capacity?),
        max_charge_power: Power(charge?),
        max_discharge_power: Power(discharge?),
        charge_efficiency_ppm,
        discharge_efficiency_ppm,
        initial_soc_ppm,
        min_soc_ppm,
        buying,
        selling,
        update_interval_ticks,
    }))
}

fn plan_ev_charger(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: EvChargerFields = reader.context.decode(value, &path)?;
    let max_power = reader
        .positive("max_power_kw", &fields.max_power_kw, Power::SCALE)
        .map(Power);
    let bidirectional = fields.bidirectional.unwrap_or(false);
    let buying = reader.rates(
        "initial_buying_rate",
        &fields.initial_buying_rate,
        "final_buying_rate",
        &fields.final_buying_rate,
        true,
    );
    let selling = reader.rates(
        "initial_selling_rate",
        &fields.initial_selling_rate,
        "final_selling_rate",
        &fields.final_selling_rate,
        false,
    );
    if !bidirectional && (selling.initial.is_some() || selling.final_rate.is_some()) {
        reader.problem(
            "initial_selling_rate",
            "selling rates need `bidirectional: true`",
        );
    }
    let update_interval_ticks = reader.update_interval_ticks(&fields.update_interval);
    let sessions_path = reader.at("sessions");
    let sessions = match (&fields.sessions, &reader.context.clock, max_power) {
        (Some(sessions), Some(clock), Some(max_power)) => {
            let clock = clock.clone();
            expand_sessions(
                sessions,
                max_power,
                &clock,
                &sessions_path,
                &mut reader.context.problems,
            )
        }
        _ => Vec::new(),
    };
    Some(AssetKind::EvCharger(EvChargerSpec {
        sessions,
        max_power: max_power?,
        bidirectional,
        buying,
        selling,
        update_interval_ticks,
    }))
}

fn plan_generator(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: GeneratorFields = reader.context.decode(value, &path)?;
    let max_power = reader.positive("max_power_kw", &fields.max_power_kw, Power::SCALE);
    let rate = reader.price_series("rate", &fields.rate);
    Some(AssetKind::Generator(GeneratorSpec {
        max_power: Power(max_power?),
        rate: rate?,
    }))
}

fn plan_grid_connection(reader: &mut Reader, value: &Value) -> Option<AssetKind> {
    let path = reader.path.clone();
    let fields: GridConnectionFields = reader.context.decode(value, &path)?;
    let tariff = reader.price_series("tariff", &fields.tariff)?;
    let feed_in = reader.price_series("feed_in", &fields.feed_in)?;
    // A feed-in rate above the tariff would let anyone buy from the grid and sell straight back.
    let slots = reader
        .context
        .clock
        .as_ref()
        .map_or(1, |clock| clock.slot_count);
    if let Some(slot) = (0..slots).find(|&slot| feed_in.at(slot) > tariff.at(slot)) {
        let where_ = match (&tariff, &feed_in) {
            (PriceSeries::Constant(_), PriceSeries::Constant(_)) => String::new(),
            _ => format!(" in slot {slot}"),
        };
        reader.problem(
            "feed_in",
            format!(
                "must not be above tariff{where_} ({} > {})",
                feed_in.at(slot),
                tariff.at(slot)
            ),
        );
        return None;
    }
    Some(AssetKind::GridConnection(GridConnectionSpec {
        tariff,
        feed_in,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variation_applies_to_profiles() {
        let plan = AssetPlan {
            kind: AssetKind::Load(LoadSpec {
                profile: unit_profile(),
                buying: RateRange::default(),
                update_interval_ticks: 4,
            }),
            external: false,
        };
        assert!(plan.has_profile());
        let AssetKind::Load(load) = plan.with_variation(900_000, -2) else {
            panic!("a load stays a load");
        };
        assert_eq!(load.profile.scale_ppm, 900_000);
        assert_eq!(load.profile.shift_slots, -2);
    }
}
