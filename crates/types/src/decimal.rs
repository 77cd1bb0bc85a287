//! Exact decimal strings at the edges.
//!
//! `parse_fixed("1.25", 1_000_000)` is `1_250_000`: the text is read digit by digit into an
//! integer number of `1/scale` units, so no binary floating point ever touches a price or an
//! amount. More decimals than the scale holds are an error, not a silent rounding.

use std::fmt;

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is empty or not a decimal number.
    #[error("`{text}` is not a decimal number")]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// More fractional digits than the unit can hold.
    #[error("`{text}` has more than {digits} decimal places")]
    TooPrecise {
        /// The text as given.
        text: String,
        /// The number of decimals allowed.
        digits: u32,
    },
    /// The value does not fit in 64 bits of integer units.
    #[error("`{text}` is out of range")]
    OutOfRange {
        /// The text as given.
        text: String,
    },
}

fn scale_digits(scale: i64) -> u32 {
    let mut digits = 0;
    let mut value = scale;
    while value > 1 {
        value /= 10;
        digits += 1;
    }
    digits
}

/// Parses a decimal string (`-12.5`, `+3`, `0.000001`, `1e3` is refused) into integer units of
/// `1/scale`. `scale` must be a power of ten.
pub fn parse_fixed(text: &str, scale: i64) -> Result<i64, DecimalError> {
    let trimmed = text.trim();
    let not_a_number = || DecimalError::NotANumber {
        text: text.to_string(),
    };
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (body, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(not_a_number());
    }
    if !whole.bytes().all(|byte| byte.is_ascii_digit())
        || !fraction.bytes().all(|byte| byte.is_ascii_digit())
    {
        return Err(not_a_number());
    }
    let digits = scale_digits(scale);
    let fraction_trimmed = fraction.trim_end_matches('0');
    if fraction_trimmed.len() as u32 > digits {
        return Err(DecimalError::TooPrecise {
            text: text.to_string(),
            digits,
        });
    }
    let out_of_range = || DecimalError::OutOfRange {
        text: text.to_string(),
    };
    let mut value: i128 = 0;
    for byte in whole.bytes() {
        value = value * 10 + (byte - b'0') as i128;
        if value > i64::MAX as i128 {
            return Err(out_of_range());
        }
    }
    value *= scale as i128;
    let mut fraction_value: i128 = 0;
    for byte in fraction_trimmed.bytes() {
        fraction_value = fraction_value * 10 + (byte - b'0') as i128;
    }
    for _ in fraction_trimmed.len() as u32..digits {
        fraction_value *= 10;
    }
    value += fraction_value;
    if negative {
        value = -value;
    }
    i64::try_from(value).map_err(|_| out_of_range())
}

/// Writes integer units of `1/scale` as a decimal string with no trailing zeros (`1.25`, `-3`).
pub fn format_fixed(value: i64, scale: i64) -> String {
    let mut text = String::new();
    let _ = write_fixed(&mut text, value, scale);
    text
}

/// [`format_fixed`] into any writer, without allocating.
pub fn write_fixed(out: &mut impl fmt::Write, value: i64, scale: i64) -> fmt::Result {
    let magnitude = (value as i128).unsigned_abs();
    let scale = scale as u128;
    if value < 0 {
        out.write_char('-')?;
    }
    write!(out, "{}", magnitude / scale)?;
    let mut fraction = magnitude % scale;
    if fraction == 0 {
        return Ok(());
    }
    out.write_char('.')?;
    let mut unit = scale / 10;
    while fraction > 0 && unit > 0 {
        let digit = fraction / unit;
        out.write_char((b'0' + digit as u8) as char)?;
        fraction %= unit;
        unit /= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_fixed("1.25", 1_000_000), Ok(1_250_000));
        assert_eq!(parse_fixed("-0.000001", 1_000_000), Ok(-1));
        assert_eq!(parse_fixed("3", 1_000), Ok(3_000));
        assert_eq!(parse_fixed(".5", 10), Ok(5));
        assert_eq!(parse_fixed("2.500000000", 1_000), Ok(2_500));
        assert!(matches!(
            parse_fixed("0.0000001", 1_000_000),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_fixed("1e3", 1_000),
            Err(DecimalError::NotANumber { .. })
        ));
        assert!(matches!(
            parse_fixed("", 1_000),
            Err(DecimalError::NotANumber { .. })
        ));
        assert!(matches!(
            parse_fixed("-", 1_000),
            Err(DecimalError::NotANumber { .. })
        ));
        assert!(matches!(
            parse_fixed("99999999999999999999", 1_000),
            Err(DecimalError::OutOfRange { .. })
        ));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format_fixed(1_250_000, 1_000_000), "1.25");
        assert_eq!(format_fixed(-1, 1_000_000), "-0.000001");
        assert_eq!(format_fixed(0, 1_000_000), "0");
        assert_eq!(format_fixed(i64::MIN, 1_000_000), "-9223372036854.775808");
    }

    #[test]
    fn round_trips() {
        for value in [0, 1, -1, 999_999, 1_000_001, 123_456_789, -987_654_321] {
            assert_eq!(
                parse_fixed(&format_fixed(value, 1_000_000), 1_000_000),
                Ok(value)
            );
        }
    }
}
