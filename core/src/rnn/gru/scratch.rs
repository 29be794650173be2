//! The per-sequence values of a GRU network's passes.

use crate::error::{Error, check_len};
use crate::rnn::RnnDims;
use crate::rnn::params::{self, ElmanParamsMut};

/// The per-sequence values of the passes of a [`GruRef`](crate::GruRef), borrowed.
///
/// With `T` steps, `D` inputs, `H` hidden units and `K` outputs: `x`
/// (`T·D`); per step the gate pre-activations `z` and values `a = (r, u, n)`
/// (`T·3H`), the states `h` (`T·H`), `q = r ⊙ h_{t−1}` (`T·H`), `zero` (`H`,
/// kept zero: `h_0`), readouts `y` and seeds `seed` (`T·K`), `g = ∂(s·f)/∂h_t`
/// and `e = U_nᵀ δ^n_t` (`T·H`), `delta` (`T·3H`), the R-operator's `rz`,
/// `ra`, `rdelta` (`T·3H`) and `rh`, `rq` (`T·H`), `tmp` (`4·H`), and two
/// parameter-shaped buffers (`noisy`, `dir`).
///
/// Its length in floats is [`required_len`](Self::required_len):
/// `T·D + 18·T·H + 6·T·H + 5·H + 2·T·K + 2·(3H·D + 3H + 3H·H + K·H + K)`.
///
/// # Examples
///
/// ```
/// use noisereg::{GruScratch, Readout, RnnDims};
/// let dims = RnnDims { input: 2, hidden: 4, output: 1, steps: 5, readout: Readout::Last };
/// let mut buf = vec![0.0; GruScratch::required_len(&dims)];
/// let ws = GruScratch::split(&mut buf, &dims).unwrap();
/// assert_eq!(ws.z.len(), 60);
/// ```
#[derive(Debug, PartialEq)]
pub struct GruScratch<'a> {
    /// Input, `T·D`.
    pub x: &'a mut [f32],
    /// Gate pre-activations, `T·3H`.
    pub z: &'a mut [f32],
    /// Gate values `(r, u, n)`, `T·3H`.
    pub a: &'a mut [f32],
    /// States `h_1..h_T`, `T·H`.
    pub h: &'a mut [f32],
    /// `r_t ⊙ h_{t−1}`, `T·H`.
    pub q: &'a mut [f32],
    /// `h_0 = 0`, `H` (kept zero).
    pub zero: &'a mut [f32],
    /// Readouts, `T·K`.
    pub y: &'a mut [f32],
    /// Backward seeds, `T·K`.
    pub seed: &'a mut [f32],
    /// `∂(s·f)/∂h_t`, `T·H`.
    pub g: &'a mut [f32],
    /// `U_nᵀ δ^n_t`, `T·H`.
    pub e: &'a mut [f32],
    /// `∂(s·f)/∂z_t`, `T·3H`.
    pub delta: &'a mut [f32],
    /// `R{z_t}`, `T·3H`.
    pub rz: &'a mut [f32],
    /// `R{a_t}`, `T·3H`.
    pub ra: &'a mut [f32],
    /// `R{δ_t}`, `T·3H`.
    pub rdelta: &'a mut [f32],
    /// `R{h_t}`, `T·H`.
    pub rh: &'a mut [f32],
    /// `R{q_t}`, `T·H`.
    pub rq: &'a mut [f32],
    /// Four vectors of `H`.
    pub tmp: &'a mut [f32],
    /// The weights of the current noise draw.
    pub noisy: ElmanParamsMut<'a>,
    /// A materialised gradient or R-operator direction.
    pub dir: ElmanParamsMut<'a>,
}

impl<'a> GruScratch<'a> {
    /// Floats needed for `dims` (see the type's docs).
    pub fn required_len(d: &RnnDims) -> usize {
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        t * di + 24 * t * h + 5 * h + 2 * t * k + 2 * (3 * h * di + 3 * h + 3 * h * h + k * h + k)
    }

    /// Carves the scratch for `dims` out of one buffer.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `buf.len() != required_len(dims)`,
    /// [`Error::InvalidParameter`] if a size is 0.
    pub fn split(buf: &'a mut [f32], d: &RnnDims) -> Result<Self, Error> {
        d.check()?;
        check_len(buf.len(), Self::required_len(d))?;
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        let (x, r) = buf.split_at_mut(t * di);
        let (z, r) = r.split_at_mut(3 * t * h);
        let (a, r) = r.split_at_mut(3 * t * h);
        let (hh, r) = r.split_at_mut(t * h);
        let (q, r) = r.split_at_mut(t * h);
        let (zero, r) = r.split_at_mut(h);
        let (y, r) = r.split_at_mut(t * k);
        let (seed, r) = r.split_at_mut(t * k);
        let (g, r) = r.split_at_mut(t * h);
        let (e, r) = r.split_at_mut(t * h);
        let (delta, r) = r.split_at_mut(3 * t * h);
        let (rz, r) = r.split_at_mut(3 * t * h);
        let (ra, r) = r.split_at_mut(3 * t * h);
        let (rdelta, r) = r.split_at_mut(3 * t * h);
        let (rh, r) = r.split_at_mut(t * h);
        let (rq, r) = r.split_at_mut(t * h);
        let (tmp, r) = r.split_at_mut(4 * h);
        let (noisy, r) = params::split(r, d, 3);
        let (dir, _) = params::split(r, d, 3);
        Ok(Self {
            x,
            z,
            a,
            h: hh,
            q,
            zero,
            y,
            seed,
            g,
            e,
            delta,
            rz,
            ra,
            rdelta,
            rh,
            rq,
            tmp,
            noisy,
            dir,
        })
    }

    pub(super) fn check(&self, d: &RnnDims) -> Result<(), Error> {
        let (t, h, k) = (d.steps, d.hidden, d.output);
        check_len(self.x.len(), t * d.input)?;
        for s in [
            &*self.z,
            &*self.a,
            &*self.delta,
            &*self.rz,
            &*self.ra,
            &*self.rdelta,
        ] {
            check_len(s.len(), 3 * t * h)?;
        }
        for s in [&*self.h, &*self.q, &*self.g, &*self.e, &*self.rh, &*self.rq] {
            check_len(s.len(), t * h)?;
        }
        check_len(self.zero.len(), h)?;
        check_len(self.tmp.len(), 4 * h)?;
        check_len(self.y.len(), t * k)?;
        check_len(self.seed.len(), t * k)?;
        self.noisy.check(d, 3)?;
        self.dir.check(d, 3)
    }
}
