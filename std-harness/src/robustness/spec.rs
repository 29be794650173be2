//! `--perturb` items: their syntax and the perturbed network of one draw.

use crate::dyn_mlp::DynMlp;
use noisereg::{
    Granularity, NoiseOn, PcmDrift, QuantConfig, Rounding, flip_bits_f32, flip_bits_int8_weights,
    quantize_weights, stuck_at_zero,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// One deployment perturbation of `--perturb` (its text is the label).
///
/// Syntax, comma separated: `gauss:ETA` (the command's Gaussian weight
/// perturbation at variance ETA); `quant:B` (round to nearest, B = 2..8
/// bits, one scale per row; deterministic), `dither:B` (subtractive dither),
/// `stoch:B` (stochastic rounding), each with `/layer` for one scale per
/// layer (`quant:4/layer`); `bitflip:P` (each bit of the f32 weights flips
/// with probability P; `--noise-on all` adds the biases), `bitflip8:P` (bits
/// of 8-bit per-row codes), `stuck:P` (weights stuck at zero);
/// `drift:T` (aihwkit's PCM model read T after programming, global drift
/// compensation on) and `rawdrift:T` (without), T = `30s`, `2h`, `1d`,
/// `1mo` (30 d), `1y` (365.25 d).
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbSpec {
    /// The text given.
    pub label: String,
    /// What it does.
    pub kind: PerturbKind,
}

/// The perturbation a [`PerturbSpec`] names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PerturbKind {
    /// Gaussian weight noise of variance η (the command's `--noise-on`, `--multiplicative`).
    Gauss(f32),
    /// b-bit quantisation of the weights.
    Quant(QuantConfig),
    /// Bit flips in f32 storage at this rate.
    BitFlip(f32),
    /// Bit flips in 8-bit per-row codes at this rate.
    BitFlip8(f32),
    /// Weights stuck at zero at this rate.
    Stuck(f32),
    /// PCM drift at this many seconds, compensated or not.
    Drift(f32, bool),
}

fn rate(v: &str) -> Result<f32, String> {
    let p: f32 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("rate `{v}` must be between 0 and 1"))
    }
}

fn seconds(v: &str) -> Result<f32, String> {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f32 = num
        .parse()
        .map_err(|_| format!("time `{v}`: `{num}` is not a number"))?;
    let unit_s = match unit {
        "s" | "" => 1.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "mo" => 30.0 * 86_400.0,
        "y" => 365.25 * 86_400.0,
        _ => return Err(format!("time `{v}`: unit must be s, h, d, mo or y")),
    };
    let t = n * unit_s;
    if t.is_finite() && t >= 0.0 {
        Ok(t)
    } else {
        Err(format!("time `{v}` must be finite and >= 0"))
    }
}

/// Parses one `--perturb` item (see [`PerturbSpec`]).
///
/// # Errors
///
/// A one-line reason.
pub fn parse_perturb(s: &str) -> Result<PerturbSpec, String> {
    let s = s.trim();
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME:VALUE (e.g. quant:8, bitflip:1e-4, drift:1y)"))?;
    let quant = |rounding: Rounding| -> Result<PerturbKind, String> {
        let (bits, gran) = match value.split_once('/') {
            Some((b, "layer")) => (b, Granularity::PerLayer),
            Some((b, "row")) => (b, Granularity::PerRow),
            Some(_) => return Err(format!("`{s}`: the scale is /row or /layer")),
            None => (value, Granularity::PerRow),
        };
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("`{s}`: bits must be 2 to 8"))?;
        QuantConfig::new(bits, rounding, gran)
            .map(PerturbKind::Quant)
            .map_err(|_| format!("`{s}`: bits must be 2 to 8"))
    };
    let kind = match name {
        "gauss" => {
            PerturbKind::Gauss(crate::cli::non_negative(value).map_err(|e| format!("`{s}`: {e}"))?)
        }
        "quant" => quant(Rounding::Nearest)?,
        "dither" => quant(Rounding::SubtractiveDither)?,
        "stoch" => quant(Rounding::Stochastic)?,
        "bitflip" => PerturbKind::BitFlip(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "bitflip8" => PerturbKind::BitFlip8(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "stuck" => PerturbKind::Stuck(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "drift" => PerturbKind::Drift(seconds(value).map_err(|e| format!("`{s}`: {e}"))?, true),
        "rawdrift" => PerturbKind::Drift(seconds(value).map_err(|e| format!("`{s}`: {e}"))?, false),
        _ => {
            return Err(format!(
                "`{name}` is not a perturbation (gauss, quant, dither, stoch, bitflip, bitflip8, stuck, drift, rawdrift)"
            ));
        }
    };
    Ok(PerturbSpec {
        label: s.to_string(),
        kind,
    })
}

/// The generator of draw `d`: the same for every model and perturbation.
fn draw_rng(seed: u64, d: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(seed ^ d.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `net` under draw `d` of a (non-Gaussian) perturbation.
///
/// # Errors
///
/// The core's errors (invalid rates are rejected when parsed).
pub fn perturbed_net(
    net: &DynMlp,
    kind: PerturbKind,
    on: NoiseOn,
    seed: u64,
    d: u64,
) -> Result<DynMlp, noisereg::Error> {
    let mut q = net.clone();
    let mut rng = draw_rng(seed, d);
    match kind {
        PerturbKind::Gauss(_) => {}
        PerturbKind::Quant(cfg) => quantize_weights(&mut q, &cfg, &mut rng)?,
        PerturbKind::BitFlip(p) => {
            flip_bits_f32(&mut q, p, on, &mut rng)?;
        }
        PerturbKind::BitFlip8(p) => {
            flip_bits_int8_weights(&mut q, Granularity::PerRow, p, &mut rng)?;
        }
        PerturbKind::Stuck(p) => {
            stuck_at_zero(&mut q, p, on, &mut rng)?;
        }
        PerturbKind::Drift(t, comp) => PcmDrift::new(t, comp)?.apply(&mut q, &mut rng)?,
    }
    Ok(q)
}
