//! Whole-model operations on [`Parameters`], slice by slice: the one copy of
//! the helpers the trainer and the optimisers share.

use crate::parameters::Parameters;

/// Sets every parameter to 0.
#[inline]
pub(crate) fn fill_zero<P: Parameters>(p: &mut P) {
    for i in 0..p.slice_count() {
        p.slice_mut(i).fill(0.0);
    }
}

/// A copy of `like` with every parameter set to 0 (optimiser state, gradients).
pub(crate) fn zeroed_like<P: Parameters + Clone>(like: &P) -> P {
    let mut z = like.clone();
    fill_zero(&mut z);
    z
}

/// Multiplies every parameter by `a`.
#[inline]
pub(crate) fn scale_all<P: Parameters>(p: &mut P, a: f32) {
    for i in 0..p.slice_count() {
        crate::kernels::scale(a, p.slice_mut(i));
    }
}

/// `acc += g` over the common shape.
pub(crate) fn add_into<P: Parameters>(acc: &mut P, g: &P) {
    for i in 0..acc.slice_count() {
        for (a, &b) in acc.slice_mut(i).iter_mut().zip(g.slice(i)) {
            *a += b;
        }
    }
}

/// Copies `src` into `dst` over the common shape.
pub(crate) fn copy_checked<P: Parameters>(dst: &mut P, src: &P) {
    for i in 0..src.slice_count() {
        for (d, &s) in dst.slice_mut(i).iter_mut().zip(src.slice(i)) {
            *d = s;
        }
    }
}

/// `copy_from_slice` that copies the common prefix instead of panicking.
pub(crate) trait CopyChecked {
    fn copy_from_slice_checked(&mut self, src: &[f32]);
}

impl CopyChecked for [f32] {
    #[inline]
    fn copy_from_slice_checked(&mut self, src: &[f32]) {
        let n = self.len().min(src.len());
        if let (Some(d), Some(s)) = (self.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
    }
}
