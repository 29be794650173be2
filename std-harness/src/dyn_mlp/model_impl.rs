//! [`Model`] for [`DynMlp`]: the one-sample passes are the core's, the
//! batch passes run the core's block functions layer by layer.

use super::{DynCache, DynMlp, check};
use noisereg::{BLOCK, Error, Loss, Model, NoiseOn, Perturbation, passes};

/// Buffers of the batch passes: packed `Wᵀ` per layer, and per layer the
/// pre-activations, outputs and gradients of `BLOCK` samples; `x` the inputs.
#[derive(Debug, Clone)]
struct DynBlock {
    wt: Vec<Vec<f32>>,
    z: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    g: Vec<Vec<f32>>,
    x: Vec<f32>,
}

impl DynMlp {
    /// Packed `Wᵀ` of every layer and per-layer block buffers for the batch
    /// passes (the core's `forward_block` / `backward_block`).
    fn new_block(&self) -> DynBlock {
        let per_layer = |scale: usize| -> Vec<Vec<f32>> {
            self.sizes[1..]
                .iter()
                .map(|&n| vec![0.0; n * scale])
                .collect()
        };
        let mut wt = per_layer(0);
        for (l, t) in wt.iter_mut().enumerate() {
            t.resize(self.params[2 * l].len(), 0.0);
            // Sizes are consistent by construction.
            let _ = self.layer(l).transpose_into(t);
        }
        DynBlock {
            wt,
            z: per_layer(BLOCK),
            a: per_layer(BLOCK),
            g: per_layer(BLOCK),
            x: vec![0.0; BLOCK * self.inputs()],
        }
    }

    /// Clean forward pass of at most `BLOCK` samples into `blk` (layers `0..L`).
    fn forward_block(&self, xs: &[Vec<f32>], blk: &mut DynBlock) -> Result<usize, Error> {
        let n = xs.len().min(BLOCK);
        let n_in = self.inputs();
        for (dst, x) in blk.x.chunks_exact_mut(n_in).zip(xs) {
            check(x.len(), n_in)?;
            dst.copy_from_slice(x);
        }
        for l in 0..self.depth() {
            let w = self.sizes[l + 1];
            let (lo, hi) = blk.a.split_at_mut(l);
            let input = match lo.last() {
                Some(prev) => &prev[..n * self.sizes[l]],
                None => &blk.x[..n * n_in],
            };
            self.layer(l).forward_block(
                &blk.wt[l],
                input,
                &mut blk.z[l][..n * w],
                &mut hi[0][..n * w],
            )?;
        }
        Ok(n)
    }

    /// Clean backward pass of the block from the seeds in the last layer's
    /// `g`: adds the gradient into `grad` (layers `L−1..=0`).
    fn backward_block(&self, n: usize, blk: &mut DynBlock, grad: &mut Self) -> Result<(), Error> {
        check(grad.params.len(), self.params.len())?;
        for l in (0..self.depth()).rev() {
            let (w_in, w_out) = (self.sizes[l], self.sizes[l + 1]);
            let (gw, gb) = grad.params.split_at_mut(2 * l + 1);
            let (g_lo, g_hi) = blk.g.split_at_mut(l);
            let input = match l {
                0 => &blk.x[..n * w_in],
                _ => &blk.a[l - 1][..n * w_in],
            };
            self.layer(l).backward_block(
                input,
                &blk.z[l][..n * w_out],
                &blk.a[l][..n * w_out],
                &mut g_hi[0][..n * w_out],
                &mut gw[2 * l],
                &mut gb[0],
                g_lo.last_mut().map(|g| &mut g[..n * w_in]),
            )?;
        }
        Ok(())
    }
}

/// The core's trainer and evaluation functions drive a `DynMlp` through
/// this: run-time widths, `Vec<f32>` inputs and outputs.
impl Model<Vec<f32>, Vec<f32>> for DynMlp {
    type Workspace = DynCache;

    fn depth(&self) -> usize {
        DynMlp::depth(self)
    }

    fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.fill_zero();
        z
    }

    fn workspace(&self) -> DynCache {
        self.zeroed_cache()
    }

    fn output_buffer(&self) -> Vec<f32> {
        vec![0.0; self.outputs()]
    }

    fn forward(&self, x: &Vec<f32>, y: &mut Vec<f32>) -> Result<(), Error> {
        let mut cur = x.to_vec();
        for l in 0..self.depth() {
            let mut next = vec![0.0; self.sizes[l + 1]];
            self.layer(l).forward_clean(&cur, &mut next)?;
            cur = next;
        }
        if y.len() != cur.len() {
            return Err(Error::LengthMismatch {
                left: y.len(),
                right: cur.len(),
            });
        }
        y.copy_from_slice(&cur);
        Ok(())
    }

    fn forward_batch(&self, xs: &[Vec<f32>], ys: &mut [Vec<f32>]) -> Result<(), Error> {
        check(ys.len(), xs.len())?;
        let mut blk = self.new_block();
        let last = self.depth() - 1;
        let k = self.outputs();
        for (xb, yb) in xs.chunks(BLOCK).zip(ys.chunks_mut(BLOCK)) {
            self.forward_block(xb, &mut blk)?;
            for (y, a) in yb.iter_mut().zip(blk.a[last].chunks_exact(k)) {
                check(y.len(), k)?;
                y.copy_from_slice(a);
            }
        }
        Ok(())
    }

    fn loss_grad_sum<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[Vec<f32>],
        targets: &[T],
        grad: &mut Self,
        total: &mut f32,
    ) -> Result<(), Error> {
        check(xs.len(), targets.len())?;
        let mut blk = self.new_block();
        let last = self.depth() - 1;
        let k = self.outputs();
        for (xb, tb) in xs.chunks(BLOCK).zip(targets.chunks(BLOCK)) {
            let n = self.forward_block(xb, &mut blk)?;
            let (a, g) = (&blk.a[last], &mut blk.g[last]);
            for ((y, dy), t) in a.chunks_exact(k).zip(g.chunks_exact_mut(k)).zip(tb) {
                *total += loss.value_grad(y, t, dy)?;
            }
            self.backward_block(n, &mut blk, grad)?;
        }
        Ok(())
    }

    fn forward_with<P: Perturbation>(
        &self,
        x: &Vec<f32>,
        p: &mut P,
        ws: &mut DynCache,
        y: &mut Vec<f32>,
    ) -> Result<(), Error> {
        passes::forward_with(self, x, p, ws, y)
    }

    fn backward_with<P: Perturbation>(
        &self,
        ws: &mut DynCache,
        dy: &Vec<f32>,
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        passes::backward_with(self, ws, dy, p, grad)
    }

    fn penalty(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
    ) -> Result<f32, Error> {
        passes::penalty(self, x, eta, on, ws)
    }

    fn penalty_grad(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes::penalty_grad(self, x, eta, on, ws, grad)
    }

    fn penalty_grad_with(
        &self,
        ws: &mut DynCache,
        dy: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes::penalty_grad_from_cache(self, ws, Some(dy), eta, on, grad)
    }

    fn seeded_penalty_with(
        &self,
        ws: &mut DynCache,
        seed: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error> {
        passes::seeded_penalty_from_cache(self, ws, seed, eta, on, grad)
    }

    fn hessian_trace(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
        traces: &mut Vec<f32>,
    ) -> Result<(), Error> {
        passes::hessian_trace(self, x, eta, on, ws, traces)
    }
}
