//! The per-sequence values of an Elman network's passes.

use crate::error::{Error, check_len};
use crate::rnn::RnnDims;
use crate::rnn::params::{self, ElmanParamsMut};

/// The per-sequence values of the passes of an [`ElmanRef`](crate::ElmanRef), borrowed.
///
/// With `T` steps, `D` inputs, `H` hidden units and `K` outputs: `x` (`T·D`,
/// the input), `z`, `h` (`T·H`: pre-activations and states `h_1..h_T`;
/// `h_0 = 0` is not stored), `y` (`T·K`, the readout at each step where it
/// is applied), `g = ∂(s·f)/∂h_t` and `delta = ∂(s·f)/∂z_t` (`T·H`) for the
/// seed `seed` (`T·K`), the R-operator's `rz`, `rh`, `rdelta` (`T·H`), `tmp`
/// (`2·H`), the noisy weights of the current draw `noisy` and a
/// parameter-shaped buffer `dir` (the materialised gradient or direction).
///
/// Its length in floats is [`required_len`](Self::required_len):
/// `T·D + 7·T·H + 2·T·K + 2·H + 2·(H·D + H + H·H + K·H + K)`.
///
/// # Examples
///
/// ```
/// use noisereg::{ElmanScratch, Readout, RnnDims};
/// let dims = RnnDims { input: 2, hidden: 4, output: 1, steps: 5, readout: Readout::Last };
/// let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
/// let ws = ElmanScratch::split(&mut buf, &dims).unwrap();
/// assert_eq!(ws.h.len(), 20);
/// ```
#[derive(Debug, PartialEq)]
pub struct ElmanScratch<'a> {
    /// Input, `T·D`.
    pub x: &'a mut [f32],
    /// Pre-activations, `T·H`.
    pub z: &'a mut [f32],
    /// States `h_1..h_T`, `T·H`.
    pub h: &'a mut [f32],
    /// Readouts, `T·K`.
    pub y: &'a mut [f32],
    /// `∂(s·f)/∂h_t`, `T·H`.
    pub g: &'a mut [f32],
    /// `∂(s·f)/∂z_t`, `T·H`.
    pub delta: &'a mut [f32],
    /// `R{z_t}`, `T·H`.
    pub rz: &'a mut [f32],
    /// `R{h_t}`, `T·H`.
    pub rh: &'a mut [f32],
    /// `R{δ_t}`, `T·H`.
    pub rdelta: &'a mut [f32],
    /// Two vectors of `H`.
    pub tmp: &'a mut [f32],
    /// The seed `s` of the backward passes, `T·K`.
    pub seed: &'a mut [f32],
    /// The weights of the current noise draw.
    pub noisy: ElmanParamsMut<'a>,
    /// A materialised gradient or R-operator direction.
    pub dir: ElmanParamsMut<'a>,
}

impl<'a> ElmanScratch<'a> {
    /// Floats needed for `dims` (see the type's docs).
    pub fn required_len(d: &RnnDims) -> usize {
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        t * di + 7 * t * h + 2 * t * k + 2 * h + 2 * (h * di + h + h * h + k * h + k)
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
        let (z, r) = r.split_at_mut(t * h);
        let (hh, r) = r.split_at_mut(t * h);
        let (y, r) = r.split_at_mut(t * k);
        let (g, r) = r.split_at_mut(t * h);
        let (delta, r) = r.split_at_mut(t * h);
        let (rz, r) = r.split_at_mut(t * h);
        let (rh, r) = r.split_at_mut(t * h);
        let (rdelta, r) = r.split_at_mut(t * h);
        let (tmp, r) = r.split_at_mut(2 * h);
        let (seed, r) = r.split_at_mut(t * k);
        let (noisy, r) = params::split(r, d, 1);
        let (dir, _) = params::split(r, d, 1);
        Ok(Self {
            x,
            z,
            h: hh,
            y,
            g,
            delta,
            rz,
            rh,
            rdelta,
            tmp,
            seed,
            noisy,
            dir,
        })
    }

    pub(super) fn check(&self, d: &RnnDims) -> Result<(), Error> {
        let (t, h, k) = (d.steps, d.hidden, d.output);
        check_len(self.x.len(), t * d.input)?;
        for s in [
            &*self.z,
            &*self.h,
            &*self.g,
            &*self.delta,
            &*self.rz,
            &*self.rh,
            &*self.rdelta,
        ] {
            check_len(s.len(), t * h)?;
        }
        check_len(self.y.len(), t * k)?;
        check_len(self.seed.len(), t * k)?;
        check_len(self.tmp.len(), 2 * h)?;
        self.noisy.check(d, 1)?;
        self.dir.check(d, 1)
    }
}
