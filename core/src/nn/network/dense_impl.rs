//! [`Network`] for one [`Dense`] layer: each walk visits the layer once
//! and each block pass is one unchecked [`DenseRef`](crate::DenseRef) call,
//! the lengths being fixed by the types.

use super::super::activation::Activation;
use super::super::block::BLOCK;
use super::super::dense::{Dense, DenseBlock, DenseCache};
use super::super::init::Init;
use super::super::penalty::NoiseOn;
use super::super::stack::{BackPass, Below, Carry, DownPass, LayerCache, LayerGrad, UpPass};
use super::sealed::{Nested, Token};
use super::{Network, eta_at};
use crate::error::Error;
use crate::train::Model;
use rand_core::Rng;

impl<const IN: usize, const OUT: usize, A: Activation> Network<IN, OUT> for Dense<IN, OUT, A> {
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

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(IN, self.w.as_flattened_mut(), &mut self.b, rng);
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Model<[f32; IN], [f32; OUT]>
    for Dense<IN, OUT, A>
{
    type Workspace = DenseCache<IN, OUT>;

    fn workspace(&self) -> Self::Workspace {
        DenseCache::new()
    }

    #[inline]
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) -> Result<(), Error> {
        // Lengths are fixed by the types: the unchecked pass.
        self.view().forward_clean_unchecked(x, y);
        Ok(())
    }

    const_model_passes!();
}

impl<const IN: usize, const OUT: usize, A: Activation> Nested<IN, OUT, DenseCache<IN, OUT>>
    for Dense<IN, OUT, A>
{
    #[inline]
    fn walk_up_from<V: UpPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut DenseCache<IN, OUT>,
        below: Option<Below<'_>>,
        pass: &mut V,
    ) {
        let mut row = [0.0; IN];
        pass.layer(first, self.view(), slices(cache), below, &mut row);
    }

    #[inline]
    fn walk_down_from<V: DownPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut DenseCache<IN, OUT>,
        below: Option<Below<'_>>,
        grad: Option<&mut Self>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        pass: &mut V,
    ) {
        let mut scratch = [0.0; OUT];
        let grad = grad.map(|g| LayerGrad {
            w: g.w.as_flattened_mut(),
            b: &mut g.b,
        });
        let c = slices(cache);
        pass.layer(
            first,
            self.view(),
            c,
            below,
            grad,
            above,
            beneath,
            &mut scratch,
        );
    }

    #[inline]
    fn walk_back_from<V: BackPass>(
        &self,
        _: Token,
        first: usize,
        cache: &DenseCache<IN, OUT>,
        grad: &mut Self,
        g: &mut [f32; OUT],
        gx: Option<&mut [f32; IN]>,
        pass: &mut V,
    ) {
        let mut row = [0.0; IN];
        let grad = LayerGrad {
            w: grad.w.as_flattened_mut(),
            b: &mut grad.b,
        };
        let xza = [&cache.x[..], &cache.z, &cache.a];
        let gx = gx.map(|d| d.as_mut_slice());
        pass.layer(first, self.view(), xza, grad, g, gx, &mut row);
    }

    #[inline]
    fn output(_: Token, cache: &DenseCache<IN, OUT>) -> &[f32; OUT] {
        &cache.a
    }

    type Block = DenseBlock<IN, OUT>;

    fn new_block(_: Token) -> Self::Block {
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

/// The cache's fields as slices.
#[inline(always)]
pub(super) fn slices<const IN: usize, const OUT: usize>(
    c: &mut DenseCache<IN, OUT>,
) -> LayerCache<'_> {
    LayerCache {
        x: &mut c.x,
        z: &mut c.z,
        a: &mut c.a,
        g: &mut c.g,
        delta: &mut c.delta,
        rz: &mut c.rz,
        ra: &mut c.ra,
    }
}
