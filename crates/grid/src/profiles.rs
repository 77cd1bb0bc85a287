//! The store of base profiles: each distinct source (file and unit, or built-in model and its
//! parameters) is computed once and shared by every asset and copy that uses it.

use crate::clock::Clock;
use crate::profile_file::{
    EnergyUnit, ProfileRows, energy_series, price_series, read_profile_file, resample_energy,
    resample_prices,
};
use crate::series::StepSeries;
use crate::solar::{PvSite, clear_sky_profile};
use crate::standard_load::standard_load_profile;
use nestgrid_types::{Energy, Power, Price};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What identifies a base profile: equal keys give the same series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ProfileKey {
    /// The standard residential profile for an annual energy (mWh).
    StandardLoad { annual_mwh: i64 },
    /// Constant power (mW) in the hours set in `hours` (bit `h` = hour `h` of the local day).
    ConstantPower { power_mw: i64, hours: u32 },
    /// Clear-sky PV (capacity in mW; angles in micro-degrees; cloudiness in ppm).
    ClearSky {
        capacity_mw: i64,
        tilt_micro: i64,
        azimuth_micro: i64,
        cloudiness_ppm: i64,
    },
    /// A CSV file of energy values.
    File { path: PathBuf, unit: EnergyUnit },
}

/// Base profiles and the caches behind them.
#[derive(Default)]
pub(crate) struct ProfileStore {
    profiles: Vec<Vec<Energy>>,
    index: HashMap<ProfileKey, u32>,
    files: HashMap<PathBuf, Result<ProfileRows, Vec<String>>>,
}

impl ProfileStore {
    /// The profiles, in index order.
    pub fn into_profiles(self) -> Vec<Vec<Energy>> {
        self.profiles
    }

    /// The index of the profile for `key`, building it on first use. `shown` is the file name as
    /// written (for messages). Errors are messages ready to follow the field's path.
    pub fn profile(
        &mut self,
        key: ProfileKey,
        clock: &Clock,
        site: (f64, f64),
        shown: &str,
    ) -> Result<u32, Vec<String>> {
        if let Some(&index) = self.index.get(&key) {
            return Ok(index);
        }
        let series = match &key {
            ProfileKey::StandardLoad { annual_mwh } => {
                standard_load_profile(Energy(*annual_mwh), clock)
            }
            ProfileKey::ConstantPower { power_mw, hours } => {
                let times: Vec<i64> = (0..24).map(|hour| hour * 3_600).collect();
                let amounts = (0..24)
                    .map(|hour| {
                        if hours & (1 << hour) != 0 {
                            *power_mw as i128 * 3_600
                        } else {
                            0
                        }
                    })
                    .collect();
                resample_energy(&StepSeries::daily(&times, amounts), clock, shown)
                    .map_err(|message| vec![message])?
            }
            ProfileKey::ClearSky {
                capacity_mw,
                tilt_micro,
                azimuth_micro,
                cloudiness_ppm,
            } => clear_sky_profile(
                Power(*capacity_mw),
                PvSite {
                    latitude_deg: site.0,
                    longitude_deg: site.1,
                    tilt_deg: *tilt_micro as f64 / 1e6,
                    azimuth_deg: *azimuth_micro as f64 / 1e6,
                    cloudiness: *cloudiness_ppm as f64 / 1e6,
                },
                clock,
            ),
            ProfileKey::File { path, unit } => {
                let rows = self.rows(path, shown, clock)?;
                let series = energy_series(rows, *unit, shown)?;
                resample_energy(&series, clock, shown).map_err(|message| vec![message])?
            }
        };
        let index = self.profiles.len() as u32;
        self.profiles.push(series);
        self.index.insert(key, index);
        Ok(index)
    }

    /// Per-slot prices from a CSV file.
    pub fn prices(
        &mut self,
        path: &Path,
        shown: &str,
        clock: &Clock,
    ) -> Result<Vec<Price>, Vec<String>> {
        let rows = self.rows(path, shown, clock)?;
        resample_prices(&price_series(rows), clock, shown).map_err(|message| vec![message])
    }

    fn rows(
        &mut self,
        path: &Path,
        shown: &str,
        clock: &Clock,
    ) -> Result<&ProfileRows, Vec<String>> {
        self.files
            .entry(path.to_path_buf())
            .or_insert_with(|| read_profile_file(path, shown, &clock.time_zone))
            .as_ref()
            .map_err(Clone::clone)
    }
}
