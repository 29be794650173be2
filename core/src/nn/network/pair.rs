//! [`Network`] for the pair `(Dense, rest)`: the first layer's pass, then
//! the rest's with the layer number shifted by one (forward), or the other
//! way round (backward); nesting pairs gives any depth.

use super::super::activation::Activation;
use super::super::block::BLOCK;
use super::super::dense::{Dense, DenseBlock, DenseCache};
use super::super::init::Init;
use super::super::penalty::NoiseOn;
use super::Network;
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use rand_core::Rng;

impl<const IN: usize, const H: usize, A: Activation, N: Parameters> Parameters
    for (Dense<IN, H, A>, N)
{
    fn slice_count(&self) -> usize {
        2 + self.1.slice_count()
    }

    fn slice(&self, i: usize) -> &[f32] {
        if i < 2 {
            self.0.slice(i)
        } else {
            self.1.slice(i - 2)
        }
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        if i < 2 {
            self.0.slice_mut(i)
        } else {
            self.1.slice_mut(i - 2)
        }
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, A: Activation, N: Network<H, OUT>>
    Network<IN, OUT> for (Dense<IN, H, A>, N)
{
    type Cache = (DenseCache<IN, H>, N::Cache);
    const DEPTH: usize = 1 + N::DEPTH;
    const PARAMS: usize = IN * H + H + N::PARAMS;

    fn zeroed() -> Self {
        (Dense::zeroed(), N::zeroed())
    }

    fn new_cache() -> Self::Cache {
        (DenseCache::new(), N::new_cache())
    }

    #[inline]
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        let mut h = [0.0; H];
        self.0.forward(x, &mut h);
        self.1.forward(&h, y);
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
        let mut h = [0.0; H];
        self.0.forward_from(first, x, p, &mut cache.0, &mut h);
        self.1.forward_from(first + 1, &h, p, &mut cache.1, y);
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
        let mut gh = [0.0; H];
        self.1
            .backward_from(first + 1, &cache.1, dy, p, &mut grad.1, Some(&mut gh));
        self.0
            .backward_from(first, &cache.0, &gh, p, &mut grad.0, dx);
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
        let mut gh = [0.0; H];
        let rest = self
            .1
            .penalty_from(first + 1, &mut cache.1, g, eta, on, Some(&mut gh));
        rest + self.0.penalty_from(first, &mut cache.0, &gh, eta, on, dx)
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
        let mut rh = [0.0; H];
        self.0
            .r_forward_from(first, &mut cache.0, eta, on, rx, &mut rh);
        self.1
            .r_forward_from(first + 1, &mut cache.1, eta, on, Some(&rh), ry);
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
        let mut rgh = [0.0; H];
        let (c0, c1) = (&cache.0, &cache.1);
        self.1.r_backward_from(
            first + 1,
            c1,
            c,
            eta,
            rg,
            Some(&c0.ra),
            &mut grad.1,
            Some(&mut rgh),
        );
        self.0
            .r_backward_from(first, c0, c, eta, &rgh, rx, &mut grad.0, rgx);
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
        let mut gh = [0.0; H];
        let mut hh = [[0.0; H]; H];
        let rest = self.1.trace_from(
            first + 1,
            &cache.1,
            g,
            hess,
            eta,
            on,
            Some((&mut gh, &mut hh)),
        );
        rest + self
            .0
            .trace_from(first, &cache.0, &gh, &mut hh, eta, on, below)
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.0.init(init, rng);
        self.1.init(init, rng);
    }

    type Block = (DenseBlock<IN, H>, N::Block);

    fn new_block() -> Self::Block {
        (DenseBlock::new(), N::new_block())
    }

    #[inline]
    fn prepare_block(&self, blk: &mut Self::Block) {
        self.0.prepare_block(&mut blk.0);
        self.1.prepare_block(&mut blk.1);
    }

    #[inline]
    fn forward_block(&self, xs: &[[f32; IN]], blk: &mut Self::Block) {
        let n = xs.len().min(BLOCK);
        self.0.forward_block(xs, &mut blk.0);
        self.1.forward_block(&blk.0.a[..n], &mut blk.1);
    }

    #[inline]
    fn block_output(blk: &Self::Block) -> &[[f32; OUT]; BLOCK] {
        N::block_output(&blk.1)
    }

    #[inline]
    fn block_seed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK] {
        N::block_seed(&mut blk.1)
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
        let (b0, b1) = (&mut blk.0, &mut blk.1);
        self.1
            .backward_block(&b0.a[..n], b1, &mut grad.1, Some(&mut b0.g[..n]));
        self.0.backward_block(xs, b0, &mut grad.0, dxs);
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
        let (b0, b1) = (&mut blk.0, &mut blk.1);
        self.1.penalty_block(
            first + 1,
            &b0.a[..n],
            b1,
            eta,
            on,
            acc,
            Some(&mut b0.g[..n]),
        );
        self.0.penalty_block(first, xs, b0, eta, on, acc, dxs);
    }

    #[inline]
    fn block_rseed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK] {
        N::block_rseed(&mut blk.1)
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
        let (b0, b1) = (&mut blk.0, &mut blk.1);
        self.0.r_forward_block(first, xs, b0, eta, on, rxs);
        self.1
            .r_forward_block(first + 1, &b0.a[..n], b1, eta, on, Some(&b0.ra[..n]));
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
        let (b0, b1) = (&mut blk.0, &mut blk.1);
        self.1.r_backward_block(
            first + 1,
            &b0.a[..n],
            b1,
            cs,
            eta,
            Some(&b0.ra[..n]),
            &mut grad.1,
            Some(&mut b0.rg[..n]),
        );
        self.0
            .r_backward_block(first, xs, b0, cs, eta, rxs, &mut grad.0, rgxs);
    }
}
