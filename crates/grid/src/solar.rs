//! Built-in clear-sky PV generation (`pv: { capacity_kw: ... }` without a profile file).
//!
//! Chain of models, each a standard textbook choice:
//! 1. **Sun position**: NOAA Global Monitoring Laboratory, "General Solar Position Calculations"
//!    — Spencer's (1971) Fourier series for the declination and the equation of time from the
//!    fractional year, then true solar time, hour angle, zenith and azimuth (accurate to a few
//!    minutes of time, plenty for 15-minute slots).
//! 2. **Air mass**: Kasten & Young (1989), valid down to the horizon.
//! 3. **Direct normal irradiance**: Meinel & Meinel (1976), `DNI = 1353 · 0.7^(AM^0.678)` W/m²,
//!    with diffuse horizontal irradiance taken as 10 % of DNI on a clear day (the rule of thumb in
//!    Honsberg & Bowden, PVEducation, "Air Mass" / "Diffuse Radiation").
//! 4. **Plane of array**: beam × cos(angle of incidence) + isotropic sky diffuse
//!    `DHI·(1 + cos β)/2` + ground reflection `GHI·ρ·(1 − cos β)/2` with albedo ρ = 0.2
//!    (Liu & Jordan 1963 isotropic model).
//! 5. **Clouds**: global irradiance scaled by `1 − 0.75·N^3.4` for a cloud cover `N` in 0..1
//!    (Kasten & Czeplak 1980, "Solar and terrestrial radiation dependent on the amount and type
//!    of cloud", Solar Energy 24), applied here to the plane-of-array irradiance.
//!
//! Output power is `capacity × POA / 1000 W/m²` (the rating condition: nameplate power at
//! 1000 W/m² on the panel; no temperature or inverter losses). Each slot's energy is the mean of
//! five equally spaced sub-steps (midpoint rule) times the slot length. Solar time comes from
//! absolute time, so daylight saving time never shifts the sun.

use crate::clock::{Clock, civil_from_days};
use nestgrid_types::{Energy, Power};
use std::f64::consts::PI;

/// Sub-steps per slot for the integration.
const SUB_STEPS: u32 = 5;
/// Ground albedo.
const ALBEDO: f64 = 0.2;
/// Solar constant used by Meinel's formula, W/m².
const MEINEL_SOLAR_CONSTANT: f64 = 1_353.0;

/// Where and how a PV array is installed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PvSite {
    /// Latitude, degrees north.
    pub latitude_deg: f64,
    /// Longitude, degrees east.
    pub longitude_deg: f64,
    /// Panel tilt from horizontal, degrees.
    pub tilt_deg: f64,
    /// Panel azimuth, degrees clockwise from north (180 = south).
    pub azimuth_deg: f64,
    /// Cloud cover 0..1.
    pub cloudiness: f64,
}

/// The sun's position: zenith angle and azimuth (clockwise from north), radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SunPosition {
    /// Angle from the vertical.
    pub zenith: f64,
    /// Compass direction, clockwise from north.
    pub azimuth: f64,
}

/// Sun position at a Unix time (seconds, may be fractional) for a site.
pub(crate) fn sun_position(
    unix_seconds: f64,
    latitude_deg: f64,
    longitude_deg: f64,
) -> SunPosition {
    let days = (unix_seconds / 86_400.0).floor();
    let seconds_of_day = unix_seconds - days * 86_400.0;
    let date = civil_from_days(days as i64);
    let days_in_year = if date.in_leap_year() { 366.0 } else { 365.0 };
    let hour = seconds_of_day / 3_600.0;
    // NOAA: fractional year in radians.
    let gamma = 2.0 * PI / days_in_year * (date.day_of_year() as f64 - 1.0 + (hour - 12.0) / 24.0);
    let equation_of_time_minutes = 229.18
        * (0.000_075 + 0.001_868 * gamma.cos()
            - 0.032_077 * gamma.sin()
            - 0.014_615 * (2.0 * gamma).cos()
            - 0.040_849 * (2.0 * gamma).sin());
    let declination = 0.006_918 - 0.399_912 * gamma.cos() + 0.070_257 * gamma.sin()
        - 0.006_758 * (2.0 * gamma).cos()
        + 0.000_907 * (2.0 * gamma).sin()
        - 0.002_697 * (3.0 * gamma).cos()
        + 0.001_48 * (3.0 * gamma).sin();
    // Time is UTC, so the time-zone term of NOAA's time offset is zero.
    let true_solar_minutes = seconds_of_day / 60.0 + equation_of_time_minutes + 4.0 * longitude_deg;
    let hour_angle = (true_solar_minutes / 4.0 - 180.0).to_radians();
    let latitude = latitude_deg.to_radians();
    let cos_zenith = (latitude.sin() * declination.sin()
        + latitude.cos() * declination.cos() * hour_angle.cos())
    .clamp(-1.0, 1.0);
    let zenith = cos_zenith.acos();
    // Azimuth clockwise from north: atan2 form of NOAA's expression (south = π at solar noon in
    // the northern hemisphere, east in the morning).
    let azimuth = hour_angle
        .sin()
        .atan2(hour_angle.cos() * latitude.sin() - declination.tan() * latitude.cos())
        + PI;
    SunPosition { zenith, azimuth }
}

/// Clear-sky irradiance on the panel plane, W/m², before clouds.
pub(crate) fn plane_of_array_irradiance(sun: SunPosition, tilt_deg: f64, azimuth_deg: f64) -> f64 {
    let cos_zenith = sun.zenith.cos();
    if cos_zenith <= 0.0 {
        return 0.0;
    }
    let zenith_deg = sun.zenith.to_degrees();
    // Kasten & Young (1989) relative optical air mass.
    let air_mass = 1.0 / (cos_zenith + 0.505_72 * (96.079_95 - zenith_deg).powf(-1.636_4));
    let direct_normal = MEINEL_SOLAR_CONSTANT * 0.7_f64.powf(air_mass.powf(0.678));
    let diffuse_horizontal = 0.1 * direct_normal;
    let global_horizontal = direct_normal * cos_zenith + diffuse_horizontal;
    let tilt = tilt_deg.to_radians();
    let cos_incidence = cos_zenith * tilt.cos()
        + sun.zenith.sin() * tilt.sin() * (sun.azimuth - azimuth_deg.to_radians()).cos();
    direct_normal * cos_incidence.max(0.0)
        + diffuse_horizontal * (1.0 + tilt.cos()) / 2.0
        + global_horizontal * ALBEDO * (1.0 - tilt.cos()) / 2.0
}

/// Kasten & Czeplak (1980) cloud factor.
pub(crate) fn cloud_factor(cloudiness: f64) -> f64 {
    1.0 - 0.75 * cloudiness.powf(3.4)
}

/// Energy per slot of a PV array of `capacity` at `site`.
pub(crate) fn clear_sky_profile(capacity: Power, site: PvSite, clock: &Clock) -> Vec<Energy> {
    let slot_seconds = clock.slot_seconds as f64;
    let step = slot_seconds / SUB_STEPS as f64;
    let clouds = cloud_factor(site.cloudiness);
    (0..clock.slot_count as i64)
        .map(|slot| {
            let start = clock.slot_start_unix(slot) as f64;
            let relative: f64 = (0..SUB_STEPS)
                .map(|index| {
                    let at = start + (index as f64 + 0.5) * step;
                    let sun = sun_position(at, site.latitude_deg, site.longitude_deg);
                    plane_of_array_irradiance(sun, site.tilt_deg, site.azimuth_deg) / 1_000.0
                })
                .sum::<f64>()
                / SUB_STEPS as f64;
            // Named rounding boundary: mean power × hours, rounded to the nearest mWh.
            let milliwatt_hours = capacity.0 as f64 * relative * clouds * slot_seconds / 3_600.0;
            Energy(milliwatt_hours.round().max(0.0) as i64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_instant;
    use jiff::tz::TimeZone;

    const BERLIN: PvSite = PvSite {
        latitude_deg: 52.5,
        longitude_deg: 13.4,
        tilt_deg: 30.0,
        azimuth_deg: 180.0,
        cloudiness: 0.0,
    };

    fn day(date: &str, site: PvSite) -> Vec<Energy> {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let clock = Clock::new(&parse_instant(date, &zone).unwrap(), 900, 96);
        clear_sky_profile(Power::from_kw(5), site, &clock)
    }

    #[test]
    fn sun_at_solar_noon_on_midsummer() {
        // Solar noon in Berlin (13.4° E) on 21 June is about 11:08 UTC.
        let noon = parse_instant("2026-06-21T11:08:00Z", &TimeZone::UTC).unwrap();
        let sun = sun_position(noon.timestamp().as_second() as f64, 52.5, 13.4);
        // Elevation = 90 − 52.5 + 23.44 ≈ 60.9°.
        assert!(
            (90.0 - sun.zenith.to_degrees() - 60.9).abs() < 0.3,
            "{}",
            sun.zenith.to_degrees()
        );
        assert!(
            (sun.azimuth.to_degrees() - 180.0).abs() < 2.0,
            "{}",
            sun.azimuth.to_degrees()
        );
        let morning = parse_instant("2026-06-21T05:00:00Z", &TimeZone::UTC).unwrap();
        let sun = sun_position(morning.timestamp().as_second() as f64, 52.5, 13.4);
        assert!(sun.azimuth.to_degrees() < 120.0 && sun.azimuth.to_degrees() > 45.0);
    }

    #[test]
    fn midsummer_day_is_a_bell_with_plausible_energy() {
        let profile = day("2026-06-21", BERLIN);
        // Local night (CEST): nothing before 04:00 or after 22:30.
        assert!(profile[..16].iter().all(|energy| *energy == Energy::ZERO));
        assert!(profile[90..].iter().all(|energy| *energy == Energy::ZERO));
        // Peak near solar noon, 13:08 CEST (slot 52 = 13:00).
        let peak = (0..96).max_by_key(|&slot| profile[slot]).unwrap();
        assert!((50..=54).contains(&peak), "peak at slot {peak}");
        // Rising before the peak, falling after (bell shape).
        for slot in 24..peak {
            assert!(profile[slot] <= profile[slot + 1], "slot {slot}");
        }
        for slot in peak..80 {
            assert!(profile[slot] >= profile[slot + 1], "slot {slot}");
        }
        // An ideal, lossless array under a clear sky: about 8.4 kWh per kWp (horizontal
        // clear-sky irradiation at 52.5° N on the solstice is about 8.4 kWh/m²). Real systems
        // deliver 10-20 % less (temperature, inverter, soiling), which this model leaves out.
        let total = profile.iter().copied().sum::<Energy>().as_f64();
        assert!((30.0..=45.0).contains(&total), "{total} kWh");
        // Peak power close to, not above, 5 kW at ~1000 W/m² on a tilted panel.
        let peak_kw = profile[peak].as_f64() * 4.0;
        assert!((4.3..=5.3).contains(&peak_kw), "{peak_kw}");
    }

    #[test]
    fn june_beats_december_and_clouds_dim() {
        let june: Energy = day("2026-06-21", BERLIN).into_iter().sum();
        let december: Energy = day("2026-12-21", BERLIN).into_iter().sum();
        assert!(june.0 > 3 * december.0, "{june} {december}");
        assert!(december.is_positive());
        let cloudy: Energy = day(
            "2026-06-21",
            PvSite {
                cloudiness: 1.0,
                ..BERLIN
            },
        )
        .into_iter()
        .sum();
        let ratio = cloudy.as_f64() / june.as_f64();
        assert!((ratio - 0.25).abs() < 0.01, "{ratio}");
        assert!((cloud_factor(0.5) - (1.0 - 0.75 * 0.5f64.powf(3.4))).abs() < 1e-12);
    }

    #[test]
    fn north_facing_gets_less_than_south() {
        let south: Energy = day("2026-06-21", BERLIN).into_iter().sum();
        let north: Energy = day(
            "2026-06-21",
            PvSite {
                azimuth_deg: 0.0,
                ..BERLIN
            },
        )
        .into_iter()
        .sum();
        let flat: Energy = day(
            "2026-06-21",
            PvSite {
                tilt_deg: 0.0,
                ..BERLIN
            },
        )
        .into_iter()
        .sum();
        assert!(north < flat && flat < south, "{north} {flat} {south}");
    }
}
