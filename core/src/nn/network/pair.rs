//! [`Network`] for the pair `(Dense, rest)`: a walk visits the first layer,
//! then the rest with the layer number shifted by one (upwards), or the
//! other way round (downwards), with a stack array carried between them;
//! nesting pairs gives any depth.

use super::super::activation::Activation;
use super::super::block::BLOCK;
use super::super::dense::{Dense, DenseBlock, DenseCache};
use super::super::init::Init;
use super::super::penalty::NoiseOn;
use super::super::stack::{BackPass, Below, Carry, DownPass, UpPass};
use super::Network;
use super::sealed::{Nested, TOKEN, Token};
use crate::error::Error;
use crate::parameters::Parameters;
use crate::train::Model;
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
    const DEPTH: usize = 1 + N::DEPTH;
    const PARAMS: usize = IN * H + H + N::PARAMS;

    fn zeroed() -> Self {
        (Dense::zeroed(), N::zeroed())
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.0.init(init, rng);
        self.1.init(init, rng);
    }
}

impl<const IN: usize, const H: usize, const OUT: usize, A: Activation, N: Network<H, OUT>>
    Model<[f32; IN], [f32; OUT]> for (Dense<IN, H, A>, N)
{
    type Workspace = (DenseCache<IN, H>, N::Workspace);

    fn workspace(&self) -> Self::Workspace {
        (DenseCache::new(), self.1.workspace())
    }

    #[inline]
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]) -> Result<(), Error> {
        let mut h = [0.0; H];
        self.0.forward(x, &mut h)?;
        self.1.forward(&h, y)
    }

    const_model_passes!();
}

impl<const IN: usize, const H: usize, const OUT: usize, A: Activation, N: Network<H, OUT>>
    Nested<IN, OUT, (DenseCache<IN, H>, N::Workspace)> for (Dense<IN, H, A>, N)
{
    #[inline]
    fn walk_up_from<V: UpPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut (DenseCache<IN, H>, N::Workspace),
        below: Option<Below<'_>>,
        pass: &mut V,
    ) {
        let (c0, c1) = cache;
        self.0.walk_up_from(TOKEN, first, c0, below, pass);
        let below = Below {
            a: &c0.a,
            ra: &c0.ra,
        };
        self.1.walk_up_from(TOKEN, first + 1, c1, Some(below), pass);
    }

    #[inline]
    fn walk_down_from<V: DownPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut (DenseCache<IN, H>, N::Workspace),
        below: Option<Below<'_>>,
        grad: Option<&mut Self>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        pass: &mut V,
    ) {
        let (c0, c1) = cache;
        let (g0, g1) = match grad {
            Some(g) => (Some(&mut g.0), Some(&mut g.1)),
            None => (None, None),
        };
        let mut v = [0.0; H];
        let run = |m: &mut [f32]| {
            let mid = Carry {
                v: &mut v,
                m: &mut *m,
            };
            let under = Below {
                a: &c0.a,
                ra: &c0.ra,
            };
            self.1.walk_down_from(
                TOKEN,
                first + 1,
                c1,
                Some(under),
                g1,
                above,
                Some(mid),
                pass,
            );
            let mid = Carry { v: &mut v, m };
            self.0
                .walk_down_from(TOKEN, first, c0, below, g0, mid, beneath, pass);
        };
        if V::MATRIX {
            run([[0.0; H]; H].as_flattened_mut());
        } else {
            run(&mut []);
        }
    }

    #[inline]
    fn walk_back_from<V: BackPass>(
        &self,
        _: Token,
        first: usize,
        cache: &(DenseCache<IN, H>, N::Workspace),
        grad: &mut Self,
        g: &mut [f32; OUT],
        gx: Option<&mut [f32; IN]>,
        pass: &mut V,
    ) {
        let mut gh = [0.0; H];
        self.1.walk_back_from(
            TOKEN,
            first + 1,
            &cache.1,
            &mut grad.1,
            g,
            Some(&mut gh),
            pass,
        );
        self.0
            .walk_back_from(TOKEN, first, &cache.0, &mut grad.0, &mut gh, gx, pass);
    }

    #[inline]
    fn output(_: Token, cache: &(DenseCache<IN, H>, N::Workspace)) -> &[f32; OUT] {
        N::output(TOKEN, &cache.1)
    }

    type Block = (DenseBlock<IN, H>, N::Block);

    fn new_block(_: Token) -> Self::Block {
        (DenseBlock::new(), N::new_block(TOKEN))
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
