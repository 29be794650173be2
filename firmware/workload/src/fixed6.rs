//! A small decimal formatter for losses, so the device needs no float formatting code.

use core::fmt;

/// Shows a number with six decimals, e.g. `-0.912345` (`NaN`, `inf`, `-inf`
/// as such; magnitudes of 10⁹ and more as `big`).
///
/// The digits are an approximation for people; the exact value is the bit
/// pattern, which the report prints next to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixed6(pub f64);

impl fmt::Display for Fixed6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x.is_nan() {
            return f.write_str("NaN");
        }
        let sign = if x.is_sign_negative() { "-" } else { "" };
        let a = if x < 0.0 { -x } else { x };
        if a == f64::INFINITY {
            return write!(f, "{sign}inf");
        }
        if a >= 1e9 {
            return write!(f, "{sign}big");
        }
        let mut int = a as u64;
        // `a - int` is exact; rounding happens once, in the scaled fraction.
        let mut frac = ((a - int as f64) * 1e6 + 0.5) as u32;
        if frac >= 1_000_000 {
            int += 1;
            frac -= 1_000_000;
        }
        write!(f, "{sign}{int}.{frac:06}")
    }
}
