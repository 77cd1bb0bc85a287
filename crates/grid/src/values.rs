//! Scalar values as written in scenario files: numbers, durations, times.
//!
//! Numbers may be YAML numbers or decimal strings. Both are kept as text and converted exactly by
//! [`nestgrid_types::decimal::parse_fixed`]: a YAML float is first written with Rust's shortest
//! round-trip representation (`0.1` stays `0.1`), so `capacity_kw: 0.1` is exactly 100,000 mW.

use nestgrid_types::decimal::{DecimalError, parse_fixed};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A number as written: kept as decimal text for exact conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Num {
    text: String,
    /// Whether it was written as a string (`"0.30"` or a file name) rather than a YAML number.
    pub quoted: bool,
}

impl Num {
    /// A number from text (for tests and defaults).
    #[cfg(test)]
    pub fn from_text(text: &str) -> Self {
        Self {
            text: text.to_string(),
            quoted: false,
        }
    }

    /// The text as written (floats in shortest round-trip form).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Integer units of `1/scale` (exact; too many decimals is an error, not a rounding).
    pub fn fixed(&self, scale: i64) -> Result<i64, String> {
        parse_fixed(&self.text, scale).map_err(|error| decimal_message(&error))
    }
}

/// The message for a decimal that could not be read.
pub(crate) fn decimal_message(error: &DecimalError) -> String {
    match error {
        DecimalError::NotANumber { text } => format!("`{text}` is not a number"),
        DecimalError::TooPrecise { text, digits } => {
            format!("`{text}` has more than {digits} decimal places")
        }
        DecimalError::OutOfRange { text } => format!("`{text}` is out of range"),
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl Visitor<'_> for NumVisitor {
            type Value = Num;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a number or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Num, E> {
                Ok(Num {
                    text: value.to_string(),
                    quoted: false,
                })
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Num, E> {
                Ok(Num {
                    text: value.to_string(),
                    quoted: false,
                })
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Num, E> {
                if !value.is_finite() {
                    return Err(E::custom(format!("`{value}` is not a finite number")));
                }
                // `{}` on f64 never uses an exponent and is the shortest text that reads back
                // to the same float, so `0.1` is written `0.1`.
                Ok(Num {
                    text: format!("{value}"),
                    quoted: false,
                })
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Num, E> {
                Ok(Num {
                    text: value.trim().to_string(),
                    quoted: true,
                })
            }
        }
        deserializer.deserialize_any(NumVisitor)
    }
}

/// A duration as written: `15m`, `900s`, `1h`, `1d`, `1h30m`, or a whole number of seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DurationText(pub String);

impl DurationText {
    /// The duration in seconds.
    pub fn seconds(&self) -> Result<u64, String> {
        parse_duration(&self.0)
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a duration such as 15m, 900s, 1h or 1d")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<DurationText, E> {
                Ok(DurationText(format!("{value}s")))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<DurationText, E> {
                Ok(DurationText(format!("{value}s")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<DurationText, E> {
                Ok(DurationText(value.to_string()))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Most seconds a duration may have (ten years; far beyond [`nestgrid_types::limits::MAX_SLOTS`]).
const MAX_DURATION_SECONDS: u64 = 10 * 366 * 86_400;

/// Parses `15m`, `900s`, `1h`, `1d`, `1h30m` (parts in any order, summed) into seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || format!("`{text}` is not a duration (write e.g. 15m, 900s, 1h or 1d)");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    let bytes = trimmed.as_bytes();
    let mut total: u64 = 0;
    let mut index = 0;
    while index < bytes.len() {
        while index < bytes.len() && bytes[index] == b' ' {
            index += 1;
        }
        let digits_start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        if digits_start == index {
            return Err(invalid());
        }
        let number: u64 = trimmed[digits_start..index]
            .parse()
            .map_err(|_| invalid())?;
        let unit_start = index;
        while index < bytes.len() && bytes[index].is_ascii_alphabetic() {
            index += 1;
        }
        let unit_seconds = match &trimmed[unit_start..index] {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        total = number
            .checked_mul(unit_seconds)
            .and_then(|part| total.checked_add(part))
            .filter(|&sum| sum <= MAX_DURATION_SECONDS)
            .ok_or_else(|| format!("`{text}` is too long"))?;
    }
    Ok(total)
}

/// Writes seconds as the shortest duration text (`15m`, `90s`, `1h30m`, `1d`).
pub(crate) fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    text
}

/// Parses a time of day `HH:MM` or `HH:MM:SS` (00:00 to 23:59:59) into seconds since midnight.
pub(crate) fn parse_time_of_day(text: &str) -> Option<i64> {
    let mut parts = text.trim().split(':');
    let hours: i64 = parse_small(parts.next()?)?;
    let minutes: i64 = parse_small(parts.next()?)?;
    let seconds: i64 = match parts.next() {
        Some(part) => parse_small(part)?,
        None => 0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(hours * 3_600 + minutes * 60 + seconds)
}

fn parse_small(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Checks that `value` lies in `min..=max` (in fixed units) with a message that names the range
/// in displayed units.
pub(crate) fn check_range(value: i64, min: i64, max: i64, scale: i64) -> Result<i64, String> {
    if value < min || value > max {
        let low = nestgrid_types::decimal::format_fixed(min, scale);
        let high = nestgrid_types::decimal::format_fixed(max, scale);
        return Err(format!("must be between {low} and {high}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("900s"), Ok(900));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert_eq!(parse_duration("36h"), Ok(129_600));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("1h 30m"), Ok(5_400));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("15x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(format_duration(900), "15m");
        assert_eq!(format_duration(5_400), "1h30m");
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(15), "15s");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("18:00"), Some(64_800));
        assert_eq!(parse_time_of_day("7:30"), Some(27_000));
        assert_eq!(parse_time_of_day("07:30:15"), Some(27_015));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_time_of_day("12:60"), None);
        assert_eq!(parse_time_of_day("12"), None);
        assert_eq!(parse_time_of_day("2026-06-21"), None);
    }

    #[test]
    fn numbers_are_exact() {
        let value: Num = serde_norway::from_str("0.1").unwrap();
        assert_eq!(value.fixed(1_000_000), Ok(100_000));
        let value: Num = serde_norway::from_str("\"0.30\"").unwrap();
        assert!(value.quoted);
        assert_eq!(value.fixed(1_000_000), Ok(300_000));
        let value: Num = serde_norway::from_str("5").unwrap();
        assert_eq!(value.fixed(1_000), Ok(5_000));
        let value: Num = serde_norway::from_str("1e-7").unwrap();
        assert_eq!(
            value.fixed(1_000_000),
            Err("`0.0000001` has more than 6 decimal places".to_string())
        );
        assert_eq!(
            Num::from_text("abc").fixed(10),
            Err("`abc` is not a number".to_string())
        );
        assert_eq!(check_range(5, 0, 1_000_000, 1_000_000), Ok(5));
        assert_eq!(
            check_range(-1, 0, 1_000_000, 1_000_000),
            Err("must be between 0 and 1".to_string())
        );
    }
}
