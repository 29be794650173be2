//! [`Network`] for one [`Dense`] layer: each hidden pass is one unchecked
//! [`DenseRef`](crate::DenseRef) call, the lengths being fixed by the types.

use super::super::activation::Activation;
use super::super::block::BLOCK;
use super::super::dense::{Dense, DenseBlock, DenseCache};
use super::super::init::Init;
use super::super::penalty::NoiseOn;
use super::{Network, eta_at};
use crate::perturbation::Perturbation;
use rand_core::Rng;

impl<const IN: usize, const OUT: usize, A: Activation> Network<IN, OUT> for Dense<IN, OUT, A> {
    type Cache = DenseCache<IN, OUT>;
    const DEPTH: usize = 1;
    const PARAMS: usize = IN * OUT + OUT;

    fn zeroed() -> Self {
        let () = Self::NONEMPTY;
        Self {
            w: [[0.0; IN]; OUT],
            b: [0.0; OUT],
            act: A::default(),
        }
    }

    fn new_cache() -> Self::Cache {
        DenseCache::new()
    }

    #[inline]
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        // Lengths are fixed by the types: the unchecked pass.
        self.view().forward_clean_unchecked(x, y);
    }

    #[inline]
    fn forward_from<P: Perturbation>(
        &self,
        first: usize,
        x: &[f32; IN],
        p: &mut P,
        cache: &mut Self::Cache,
        y: &mut [f32; OUT],
    ) {
        let mut row = [0.0; IN];
        cache.x = *x;
        let c = cache;
        self.view()
            .forward_unchecked(first, x, p, &mut row, &mut c.z, &mut c.a);
        *y = c.a;
    }

    #[inline]
    fn backward_from<P: Perturbation>(
        &self,
        first: usize,
        cache: &Self::Cache,
        dy: &[f32; OUT],
        p: &mut P,
        grad: &mut Self,
        dx: Option<&mut [f32; IN]>,
    ) {
        let mut row = [0.0; IN];
        let mut g = *dy;
        let c = cache;
        self.view().backward_unchecked(
            first,
            &c.x,
            &c.z,
            &c.a,
            &mut g,
            p,
            &mut row,
            grad.w.as_flattened_mut(),
            &mut grad.b,
            dx.map(|d| d.as_mut_slice()),
        );
    }

    #[inline]
    fn penalty_from(
        &self,
        first: usize,
        cache: &mut Self::Cache,
        g: &[f32; OUT],
        eta: &[f32],
        on: NoiseOn,
        dx: Option<&mut [f32; IN]>,
    ) -> f32 {
        let v = self.view();
        let c = cache;
        c.g = *g;
        v.delta_unchecked(&c.z, &c.a, &c.g, &mut c.delta);
        if let Some(dx) = dx {
            v.input_grad_unchecked(&c.delta, dx);
        }
        v.penalty_term_unchecked(&c.x, &c.delta, eta_at(eta, first), on)
    }

    #[inline]
    fn r_forward_from(
        &self,
        first: usize,
        cache: &mut Self::Cache,
        eta: &[f32],
        on: NoiseOn,
        rx: Option<&[f32; IN]>,
        ry: &mut [f32; OUT],
    ) {
        let c = cache;
        let rx = rx.map(|r| r.as_slice());
        let e = eta_at(eta, first);
        self.view()
            .r_forward_unchecked(&c.x, &c.z, &c.a, &c.delta, rx, e, on, &mut c.rz, &mut c.ra);
        *ry = c.ra;
    }

    #[inline]
    fn r_backward_from(
        &self,
        first: usize,
        cache: &Self::Cache,
        c: f32,
        eta: &[f32],
        rg: &[f32; OUT],
        rx: Option<&[f32; IN]>,
        grad: &mut Self,
        rgx: Option<&mut [f32; IN]>,
    ) {
        let k = cache;
        let mut r = *rg;
        self.view().r_backward_unchecked(
            &k.x,
            &k.z,
            &k.a,
            &k.g,
            &k.delta,
            &k.rz,
            rx.map(|v| v.as_slice()),
            &mut r,
            c,
            eta_at(eta, first),
            grad.w.as_flattened_mut(),
            &mut grad.b,
            rgx.map(|v| v.as_mut_slice()),
        );
    }

    #[inline]
    fn trace_from(
        &self,
        first: usize,
        cache: &Self::Cache,
        g: &[f32; OUT],
        hess: &mut [[f32; OUT]; OUT],
        eta: &[f32],
        on: NoiseOn,
        below: Option<(&mut [f32; IN], &mut [[f32; IN]; IN])>,
    ) -> f32 {
        let v = self.view();
        let c = cache;
        let mut u = [0.0; OUT];
        let (dx, hx) = match below {
            Some((dx, hx)) => (Some(dx), Some(hx.as_flattened_mut())),
            None => (None, None),
        };
        let tr = v.hessian_backward_unchecked(&c.z, &c.a, g, hess.as_flattened_mut(), &mut u, hx);
        if let Some(dx) = dx {
            v.delta_unchecked(&c.z, &c.a, g, &mut u);
            v.input_grad_unchecked(&u, dx);
        }
        eta_at(eta, first) * ((crate::kernels::sq_norm(&c.x) + on.bias_term()) * tr)
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(IN, self.w.as_flattened_mut(), &mut self.b, rng);
    }

    type Block = DenseBlock<IN, OUT>;

    fn new_block() -> Self::Block {
        DenseBlock::new()
    }

    #[inline]
    fn prepare_block(&self, blk: &mut Self::Block) {
        self.view()
            .transpose_into_unchecked(blk.wt.as_flattened_mut());
    }

    #[inline]
    fn forward_block(&self, xs: &[[f32; IN]], blk: &mut Self::Block) {
        let n = xs.len().min(BLOCK);
        let (z, a) = (&mut blk.z[..n], &mut blk.a[..n]);
        self.view().forward_block_unchecked(
            blk.wt.as_flattened(),
            xs[..n].as_flattened(),
            z.as_flattened_mut(),
            a.as_flattened_mut(),
        );
    }

    #[inline]
    fn block_output(blk: &Self::Block) -> &[[f32; OUT]; BLOCK] {
        &blk.a
    }

    #[inline]
    fn block_seed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK] {
        &mut blk.g
    }

    #[inline]
    fn backward_block(
        &self,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        grad: &mut Self,
        dxs: Option<&mut [[f32; IN]]>,
    ) {
        let n = xs.len().min(BLOCK);
        self.view().backward_block_unchecked(
            xs[..n].as_flattened(),
            blk.z[..n].as_flattened(),
            blk.a[..n].as_flattened(),
            blk.g[..n].as_flattened_mut(),
            grad.w.as_flattened_mut(),
            &mut grad.b,
            dxs.map(|d| d.as_flattened_mut()),
        );
    }

    #[inline]
    fn penalty_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        eta: &[f32],
        on: NoiseOn,
        acc: &mut [f32],
        dxs: Option<&mut [[f32; IN]]>,
    ) {
        let n = xs.len().min(BLOCK);
        self.view().penalty_block_unchecked(
            xs[..n].as_flattened(),
            blk.z[..n].as_flattened(),
            blk.a[..n].as_flattened(),
            blk.g[..n].as_flattened(),
            blk.d[..n].as_flattened_mut(),
            eta_at(eta, first),
            on,
            acc,
            dxs.map(|d| d.as_flattened_mut()),
        );
    }

    #[inline]
    fn block_rseed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK] {
        &mut blk.rg
    }

    #[inline]
    fn r_forward_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        eta: &[f32],
        on: NoiseOn,
        rxs: Option<&[[f32; IN]]>,
    ) {
        let n = xs.len().min(BLOCK);
        self.view().r_forward_block_unchecked(
            blk.wt.as_flattened(),
            xs[..n].as_flattened(),
            blk.z[..n].as_flattened(),
            blk.a[..n].as_flattened(),
            blk.d[..n].as_flattened(),
            rxs.map(|r| r[..n].as_flattened()),
            eta_at(eta, first),
            on,
            blk.rz[..n].as_flattened_mut(),
            blk.ra[..n].as_flattened_mut(),
        );
    }

    #[inline]
    fn r_backward_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        cs: &[f32],
        eta: &[f32],
        rxs: Option<&[[f32; IN]]>,
        grad: &mut Self,
        rgxs: Option<&mut [[f32; IN]]>,
    ) {
        let n = xs.len().min(BLOCK);
        self.view().r_backward_block_unchecked(
            xs[..n].as_flattened(),
            blk.z[..n].as_flattened(),
            blk.a[..n].as_flattened(),
            blk.g[..n].as_flattened_mut(),
            blk.d[..n].as_flattened(),
            blk.rz[..n].as_flattened(),
            rxs.map(|r| r[..n].as_flattened()),
            blk.rg[..n].as_flattened_mut(),
            &cs[..n.min(cs.len())],
            eta_at(eta, first),
            grad.w.as_flattened_mut(),
            &mut grad.b,
            rgxs.map(|d| d.as_flattened_mut()),
        );
    }
}
