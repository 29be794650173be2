//! Int8 storage of dense networks and its inference kernel: `b`-bit codes
//! (`b ≤ 8`) in `i8`, one `f32` scale per row, `f32` biases.
//!
//! The kernel computes `z_o = s_o · Σ_i q_oi x_i + b_o` with the products and
//! the sum in `f32` (4 lanes of `wide`, lane sums combined as
//! `(l₀ + l₁) + (l₂ + l₃)`, then the tail in order; no fused multiply-add),
//! so the default `x86_64` build, builds with FMA and Cortex-M give the same
//! bits. The inputs are `f32`, so there is no exact integer accumulation to
//! use; `i8 × f32` products are exact in `f32` only up to 16-bit inputs.

use super::quantize::{Granularity, QuantConfig, Rounding, max_abs};
use crate::error::{Error, check_len};
use crate::nn::{Activation, Dense, Network};
use core::fmt::Debug;
use wide::f32x4;

/// `Σ_i q_i x_i` in the kernel's fixed order.
#[inline(always)]
fn dot_i8(q: &[i8], x: &[f32]) -> f32 {
    let mut acc = f32x4::ZERO;
    let mut qc = q.chunks_exact(4);
    let mut xc = x.chunks_exact(4);
    for (qq, xx) in (&mut qc).zip(&mut xc) {
        let qv = f32x4::new([
            f32::from(qq[0]),
            f32::from(qq[1]),
            f32::from(qq[2]),
            f32::from(qq[3]),
        ]);
        let xv = f32x4::new([xx[0], xx[1], xx[2], xx[3]]);
        acc += qv * xv;
    }
    let l = acc.to_array();
    let mut s = (l[0] + l[1]) + (l[2] + l[3]);
    for (qq, xx) in qc.remainder().iter().zip(xc.remainder()) {
        s += f32::from(*qq) * *xx;
    }
    s
}

/// An int8 dense layer over borrowed slices, sized at run time: codes
/// row-major (`OUT × IN`), one scale and one bias per row.
///
/// # Examples
///
/// ```
/// use noisereg::{Identity, Int8DenseRef};
/// let layer = Int8DenseRef::new(&[1, -2, 3, 4], &[0.5, 0.25], &[0.0, 1.0], 2, Identity).unwrap();
/// let mut a = [0.0; 2];
/// layer.forward(&[1.0, 1.0], &mut a).unwrap();
/// assert_eq!(a, [-0.5, 2.75]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Int8DenseRef<'a, A> {
    q: &'a [i8],
    scale: &'a [f32],
    b: &'a [f32],
    act: A,
    n_in: usize,
}

impl<'a, A: Activation> Int8DenseRef<'a, A> {
    /// A view of codes `q`, row scales `scale` and biases `b` with `inputs` inputs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `layer size` if `inputs` or `b.len()`
    /// is zero; [`Error::LengthMismatch`] if `q.len() != inputs·b.len()` or
    /// `scale.len() != b.len()`.
    pub fn new(
        q: &'a [i8],
        scale: &'a [f32],
        b: &'a [f32],
        inputs: usize,
        act: A,
    ) -> Result<Self, Error> {
        if inputs == 0 || b.is_empty() {
            return Err(Error::InvalidParameter {
                name: "layer size",
                requirement: "at least one input and one output",
            });
        }
        check_len(q.len(), inputs.saturating_mul(b.len()))?;
        check_len(scale.len(), b.len())?;
        Ok(Self {
            q,
            scale,
            b,
            act,
            n_in: inputs,
        })
    }

    /// `a = σ(s ⊙ (Q x) + b)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `x` has the layer's inputs and `a` its outputs.
    #[inline]
    pub fn forward(&self, x: &[f32], a: &mut [f32]) -> Result<(), Error> {
        check_len(x.len(), self.n_in)?;
        check_len(a.len(), self.b.len())?;
        // Pre-activations 16 at a time, then the activation over the chunk
        // (vectorised; the same bits as one at a time).
        for (((a16, q16), s16), b16) in a
            .chunks_mut(16)
            .zip(self.q.chunks(16 * self.n_in))
            .zip(self.scale.chunks(16))
            .zip(self.b.chunks(16))
        {
            let mut z = [0.0f32; 16];
            let rows = q16.chunks_exact(self.n_in);
            for (((zo, row), s), b) in z.iter_mut().zip(rows).zip(s16).zip(b16) {
                *zo = dot_i8(row, x) * *s + *b;
            }
            self.act.f_slice(&z[..a16.len()], a16);
        }
        Ok(())
    }
}

/// Quantises a weight matrix (`rows × inputs`, row-major) to `b`-bit codes
/// by rounding to nearest: writes the codes and each row's scale `Δ` (one
/// shared `Δ` with [`Granularity::PerLayer`]). The dequantised weights
/// `q·Δ` are those [`quantize_weights`](crate::quantize_weights) gives with
/// [`Rounding::Nearest`].
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `bits` outside `2..=8` or no inputs;
/// [`Error::LengthMismatch`] for buffers of the wrong size;
/// [`Error::NonFinite`] naming `weights` for a NaN or infinite weight.
///
/// # Examples
///
/// ```
/// use noisereg::{quantize_matrix_int8, Granularity};
/// let (mut q, mut s) = ([0i8; 4], [0.0; 2]);
/// quantize_matrix_int8(&[1.0, -0.5, 0.0, 2.0], 2, 8, Granularity::PerRow, &mut q, &mut s).unwrap();
/// assert_eq!((q, s), ([127, -64, 0, 127], [1.0 / 127.0, 2.0 / 127.0]));
/// ```
pub fn quantize_matrix_int8(
    w: &[f32],
    inputs: usize,
    bits: u8,
    granularity: Granularity,
    codes: &mut [i8],
    scales: &mut [f32],
) -> Result<(), Error> {
    let cfg = QuantConfig::new(bits, Rounding::Nearest, granularity)?;
    if inputs == 0 {
        return Err(Error::InvalidParameter {
            name: "layer size",
            requirement: "at least one input and one output",
        });
    }
    check_len(w.len(), inputs.saturating_mul(scales.len()))?;
    check_len(codes.len(), w.len())?;
    if w.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "weights" });
    }
    let top = cfg.max_level() as f32;
    let layer_step = cfg.step(max_abs(w));
    for ((row, qrow), s) in w
        .chunks_exact(inputs)
        .zip(codes.chunks_exact_mut(inputs))
        .zip(scales.iter_mut())
    {
        let step = match granularity {
            Granularity::PerLayer => layer_step,
            Granularity::PerRow => cfg.step(max_abs(row)),
        };
        *s = step;
        for (q, v) in qrow.iter_mut().zip(row) {
            *q = if step == 0.0 {
                0
            } else {
                libm::roundf(*v / step).clamp(-top, top) as i8
            };
        }
    }
    Ok(())
}

/// A dense layer in int8 storage with sizes fixed at compile time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Dense<const IN: usize, const OUT: usize, A: Activation> {
    /// Codes, `OUT` rows of `IN`.
    pub q: [[i8; IN]; OUT],
    /// Scale `Δ` per row.
    pub scale: [f32; OUT],
    /// Bias (`f32`).
    pub b: [f32; OUT],
    /// Activation.
    pub act: A,
}

impl<const IN: usize, const OUT: usize, A: Activation> Int8Dense<IN, OUT, A> {
    /// The layer as a run-time-sized view.
    pub fn view(&self) -> Int8DenseRef<'_, A> {
        Int8DenseRef {
            q: self.q.as_flattened(),
            scale: &self.scale,
            b: &self.b,
            act: self.act,
            n_in: IN,
        }
    }
}

/// A network in int8 storage mapping `[f32; IN]` to `[f32; OUT]`:
/// [`Int8Dense`] and pairs `(Int8Dense, rest)`, as for [`Network`].
pub trait Int8Network<const IN: usize, const OUT: usize>: Clone + Debug {
    /// Number of weight bytes plus scale and bias bytes.
    const BYTES: usize;
    /// Forward pass.
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]);
}

impl<const IN: usize, const OUT: usize, A: Activation> Int8Network<IN, OUT>
    for Int8Dense<IN, OUT, A>
{
    const BYTES: usize = IN * OUT + 8 * OUT;

    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        // Sizes match by construction.
        let _ = self.view().forward(x, y);
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, A, N> Int8Network<IN, OUT>
    for (Int8Dense<IN, H, A>, N)
where
    A: Activation,
    N: Int8Network<H, OUT>,
{
    const BYTES: usize = IN * H + 8 * H + N::BYTES;

    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        let mut h = [0.0f32; H];
        self.0.forward(x, &mut h);
        self.1.forward(&h, y);
    }
}

/// Networks with an int8 storage form.
///
/// # Examples
///
/// ```
/// use noisereg::{Granularity, Init, Int8Network, Mlp1, Model, Network, Tanh, ToInt8};
/// use rand_core::SeedableRng;
/// let mut net = Mlp1::<3, 8, 1, Tanh>::zeroed();
/// net.init(Init::Glorot, &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1));
/// let q = net.to_int8(8, Granularity::PerRow).unwrap();
/// let (mut y, mut yq) = ([0.0], [0.0]);
/// net.forward(&[0.5, -1.0, 0.25], &mut y).unwrap();
/// q.forward(&[0.5, -1.0, 0.25], &mut yq);
/// assert!((y[0] - yq[0]).abs() < 0.02);
/// ```
pub trait ToInt8<const IN: usize, const OUT: usize>: Network<IN, OUT> {
    /// The int8 form.
    type Int8: Int8Network<IN, OUT>;

    /// Rounds every weight matrix to `bits`-bit codes (nearest level).
    ///
    /// # Errors
    ///
    /// As [`quantize_matrix_int8`].
    fn to_int8(&self, bits: u8, granularity: Granularity) -> Result<Self::Int8, Error>;
}

fn dense_to_int8<const IN: usize, const OUT: usize, A: Activation>(
    d: &Dense<IN, OUT, A>,
    bits: u8,
    granularity: Granularity,
) -> Result<Int8Dense<IN, OUT, A>, Error> {
    let mut out = Int8Dense {
        q: [[0; IN]; OUT],
        scale: [0.0; OUT],
        b: d.b,
        act: d.act,
    };
    quantize_matrix_int8(
        d.w.as_flattened(),
        IN,
        bits,
        granularity,
        out.q.as_flattened_mut(),
        &mut out.scale,
    )?;
    Ok(out)
}

impl<const IN: usize, const OUT: usize, A: Activation> ToInt8<IN, OUT> for Dense<IN, OUT, A> {
    type Int8 = Int8Dense<IN, OUT, A>;

    fn to_int8(&self, bits: u8, granularity: Granularity) -> Result<Self::Int8, Error> {
        dense_to_int8(self, bits, granularity)
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, A, N> ToInt8<IN, OUT>
    for (Dense<IN, H, A>, N)
where
    A: Activation,
    N: ToInt8<H, OUT>,
    (Dense<IN, H, A>, N): Network<IN, OUT>,
{
    type Int8 = (Int8Dense<IN, H, A>, N::Int8);

    fn to_int8(&self, bits: u8, granularity: Granularity) -> Result<Self::Int8, Error> {
        Ok((
            dense_to_int8(&self.0, bits, granularity)?,
            self.1.to_int8(bits, granularity)?,
        ))
    }
}
