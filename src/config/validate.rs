//! Range checks shared by every configuration's `validate()`: each names the option, the allowed
//! range and the value given, so a bad setting stops before any GPU work. Option names are written
//! as on the command line (`batch-size`); the TOML keys are the same words with `_`.

use crate::error::{Error, Result};

/// Largest count accepted for any size (rows, steps, units, classes, epochs…): far above any real
/// model, far below what would overflow the buffer-size arithmetic (`u32` grids, `u64` bytes).
pub const MAX_SIZE: usize = 1 << 24;

/// `value` must be in `1..=max`.
pub fn check_size(option: &str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) { Ok(()) } else { Err(Error::invalid_option(option, &format!("an integer in 1..={max}"), value)) }
}

/// A model's batch capacity and its steps capacity (named as the command line names them) must each
/// be in `1..=MAX_SIZE`.
pub fn check_capacity(batch: usize, steps_option: &str, steps: usize) -> Result<()> {
    check_size("batch-size", batch, MAX_SIZE)?;
    check_size(steps_option, steps, MAX_SIZE)
}

/// `value` must be in `0..=max` (counts where 0 means "none").
pub fn check_count(option: &str, value: usize, max: usize) -> Result<()> {
    if value <= max { Ok(()) } else { Err(Error::invalid_option(option, &format!("an integer in 0..={max}"), value)) }
}

/// `value` must be a finite number in `[lo, hi)`.
pub fn check_finite_range(option: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value.is_finite() && value >= lo && value < hi {
        Ok(())
    } else {
        Err(Error::invalid_option(option, &format!("a number in [{lo}, {hi})"), value))
    }
}

/// `value` must be a finite number above 0.
pub fn check_positive_f32(option: &str, value: f32) -> Result<()> {
    check_positive(option, value as f64)
}

/// `value` must be a finite number above 0.
pub fn check_positive(option: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 { Ok(()) } else { Err(Error::invalid_option(option, "a finite number > 0", value)) }
}

/// `value` must be a finite number ≥ 0.
pub fn check_non_negative(option: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 { Ok(()) } else { Err(Error::invalid_option(option, "a finite number >= 0", value)) }
}

/// The product of `dims` as a byte count of f32/u32 elements, or an error naming `what` when it
/// overflows (sizes are checked before any buffer is made).
pub fn bytes_of(what: &str, dims: &[usize]) -> Result<u64> {
    dims.iter()
        .try_fold(4u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| Error::InvalidInput(format!("buffer '{what}' of {dims:?} elements overflows a 64-bit byte count")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_option_and_the_range() {
        let e = check_size("batch-size", 0, 100).unwrap_err().to_string();
        assert!(e.contains("batch-size") && e.contains("1..=100") && e.contains("got 0"), "{e}");
        assert!(check_positive("lr", f64::NAN).unwrap_err().to_string().contains("lr"));
        assert!(check_positive("lr", -1.0).is_err() && check_positive("lr", 1e-3).is_ok());
        assert!(check_finite_range("dropout", 1.0, 0.0, 1.0).is_err() && check_finite_range("dropout", 0.5, 0.0, 1.0).is_ok());
        assert!(check_non_negative("weight-decay", f64::NAN).is_err());
        assert!(bytes_of("x", &[1 << 40, 1 << 30]).is_err());
        assert_eq!(bytes_of("x", &[3, 5]).unwrap(), 60);
    }
}
