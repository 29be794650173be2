//! `noisereg sample`: normal samples to stdout for outside statistical tests.

use crate::cli::{FormatArg, MethodArg, SampleArgs};
use crate::failure::{Failure, Outcome};
use noisereg::{XoshiroLanes, fill_normal, fill_normal_scalar};
use rand_core::SeedableRng;
use std::io::Write;

/// A bound on the sampler's |z| (the Box–Muller fill gives |z| ≤ 5.77).
const MAX_ABS_Z: f32 = 5.8;

/// Samples per chunk: a multiple of 16, so consecutive fills continue one stream.
const CHUNK: usize = 4096;

/// Runs `noisereg sample`: `mean + std·z` for `z` from the vectorised or the
/// scalar Box–Muller fill (same bits), seeded `XoshiroLanes`.
///
/// # Errors
///
/// An input [`Failure`] if `mean ± 5.8·std` overflows f32; a runtime one if
/// stdout cannot be written (a closed pipe ends quietly).
pub fn sample(a: &SampleArgs) -> Outcome {
    let bound = a.mean.abs() + MAX_ABS_Z * a.std;
    if !bound.is_finite() {
        return Err(Failure::input(format!(
            "--mean {:e} --std {:e}: samples up to |mean| + {MAX_ABS_Z}·std overflow f32 (largest finite {:e})",
            a.mean,
            a.std,
            f32::MAX
        )));
    }
    let mut rng = XoshiroLanes::seed_from_u64(a.seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut buf = vec![0.0f32; CHUNK];
    let mut left = a.n;
    let mut text = String::new();
    while left > 0 {
        let k = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
        match a.method {
            MethodArg::Simd => fill_normal(&mut rng, &mut buf),
            MethodArg::Scalar => fill_normal_scalar(&mut rng, &mut buf),
        }
        let res = match a.format {
            FormatArg::Text => {
                text.clear();
                for &z in &buf[..k] {
                    let v = a.mean + a.std * z;
                    text.push_str(&format!("{v}\n"));
                }
                out.write_all(text.as_bytes())
            }
            FormatArg::F32le => {
                let bytes: Vec<u8> = buf[..k]
                    .iter()
                    .flat_map(|&z| (a.mean + a.std * z).to_le_bytes())
                    .collect();
                out.write_all(&bytes)
            }
        };
        if let Err(e) = res {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::runtime(format!("cannot write samples: {e}")));
        }
        left -= k as u64;
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(format!("cannot write samples: {e}")))
        }
        _ => Ok(()),
    }
}
