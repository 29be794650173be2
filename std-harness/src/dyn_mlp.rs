//! A multilayer perceptron whose widths, depth and activation are chosen at
//! run time.
//!
//! Storage is on the heap (one `Vec` per weight matrix and bias); every pass
//! is a loop over the core's [`DenseRef`] functions in the same order as the
//! const-generic networks (`noisereg::Network`), so a `DynMlp` gives the same
//! bits as `Mlp1`/`Mlp2` of the same sizes (`tests/cli.rs` and the unit tests
//! below check it).

use noisereg::{
    ActivationKind, BLOCK, Clean, DenseRef, Error, Init, Loss, Model, NoiseOn, Parameters,
    Perturbation,
};
use rand_core::Rng;

/// A dense network sized at run time: `sizes[0] → sizes[1] → … → sizes[L]`,
/// activation `acts[l]` on layer `l` (the last one usually `Identity`).
#[derive(Debug, Clone, PartialEq)]
pub struct DynMlp {
    sizes: Vec<usize>,
    acts: Vec<ActivationKind>,
    /// Slice `2l`: weights of layer `l` (row-major, out × in); `2l + 1`: bias.
    params: Vec<Vec<f32>>,
}

/// Per-layer values of one sample (the run-time twin of `DenseCache`).
#[derive(Debug, Clone, Default)]
pub struct DynCache {
    x: Vec<Vec<f32>>,
    z: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    g: Vec<Vec<f32>>,
    delta: Vec<Vec<f32>>,
    rz: Vec<Vec<f32>>,
    ra: Vec<Vec<f32>>,
}

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

impl Parameters for DynMlp {
    fn slice_count(&self) -> usize {
        self.params.len()
    }

    fn slice(&self, i: usize) -> &[f32] {
        self.params.get(i).map_or(&[], Vec::as_slice)
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match self.params.get_mut(i) {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
        }
    }
}

/// `seed = e_k`.
fn unit(seed: &mut [f32], k: usize) {
    for (j, s) in seed.iter_mut().enumerate() {
        *s = if j == k { 1.0 } else { 0.0 };
    }
}

impl DynMlp {
    /// A zeroed network with layer widths `sizes` (input first) and one
    /// activation per layer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if a width is zero, there are fewer than
    /// two widths, or `acts` does not have one entry per layer.
    pub fn zeroed(sizes: &[usize], acts: &[ActivationKind]) -> Result<Self, Error> {
        if sizes.len() < 2 || sizes.contains(&0) || acts.len() != sizes.len() - 1 {
            return Err(Error::InvalidParameter {
                name: "layer sizes",
                requirement: "at least two positive widths and one activation per layer",
            });
        }
        let mut params = Vec::with_capacity(2 * acts.len());
        for w in sizes.windows(2) {
            params.push(vec![0.0; w[0] * w[1]]);
            params.push(vec![0.0; w[1]]);
        }
        Ok(Self {
            sizes: sizes.to_vec(),
            acts: acts.to_vec(),
            params,
        })
    }

    /// An MLP `inputs → hidden… → outputs`, `hidden_act` on hidden layers and
    /// a linear output layer.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed).
    pub fn mlp(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        hidden_act: ActivationKind,
    ) -> Result<Self, Error> {
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(outputs);
        let mut acts = vec![hidden_act; hidden.len()];
        acts.push(ActivationKind::Identity);
        Self::zeroed(&sizes, &acts)
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Activation of each layer.
    pub fn activations(&self) -> &[ActivationKind] {
        &self.acts
    }

    /// Number of dense layers.
    pub fn depth(&self) -> usize {
        self.acts.len()
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// A copy with every parameter zero.
    pub fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.fill_zero();
        z
    }

    /// Sets every parameter to zero.
    pub fn fill_zero(&mut self) {
        for p in &mut self.params {
            p.fill(0.0);
        }
    }

    /// A zeroed cache sized for this network.
    pub fn new_cache(&self) -> DynCache {
        let outs = |s: &[usize]| s[1..].iter().map(|&n| vec![0.0; n]).collect::<Vec<_>>();
        DynCache {
            x: self.sizes[..self.depth()]
                .iter()
                .map(|&n| vec![0.0; n])
                .collect(),
            z: outs(&self.sizes),
            a: outs(&self.sizes),
            g: outs(&self.sizes),
            delta: outs(&self.sizes),
            rz: outs(&self.sizes),
            ra: outs(&self.sizes),
        }
    }

    fn layer(&self, l: usize) -> DenseRef<'_, ActivationKind> {
        // Sizes are consistent by construction, so `new` cannot fail.
        DenseRef::new(
            &self.params[2 * l],
            &self.params[2 * l + 1],
            self.sizes[l],
            self.acts[l],
        )
        .expect("consistent layer sizes")
    }

    /// Draws every layer's weights with `init` (biases zero), layer by layer
    /// from the input, as the const-generic `Network::init` does.
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        for l in 0..self.depth() {
            let n_in = self.sizes[l];
            let (w, b) = self.params.split_at_mut(2 * l + 1);
            init.fill(n_in, &mut w[2 * l], &mut b[0], rng);
        }
    }

    /// Clean forward pass without a cache (the core's `forward_clean`).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` has the wrong width.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
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

    /// Forward pass through the perturbed network, keeping the per-layer
    /// values in `cache` (layers `0..L`, the core's `DenseRef::forward`).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` has the wrong width.
    pub fn forward_with<P: Perturbation>(
        &self,
        x: &[f32],
        p: &mut P,
        cache: &mut DynCache,
        y: &mut [f32],
    ) -> Result<(), Error> {
        check(x.len(), self.inputs())?;
        check(y.len(), self.outputs())?;
        cache.x[0].copy_from_slice(x);
        for l in 0..self.depth() {
            let mut row = vec![0.0; self.sizes[l]];
            let c = &mut *cache;
            self.layer(l)
                .forward(l, &c.x[l], p, &mut row, &mut c.z[l], &mut c.a[l])?;
            if l + 1 < self.depth() {
                let (lo, hi) = (c.a[l].clone(), &mut c.x[l + 1]);
                hi.copy_from_slice(&lo);
            }
        }
        y.copy_from_slice(&cache.a[self.depth() - 1]);
        Ok(())
    }

    /// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights of the forward pass
    /// in `cache` into `grad` (layers `L−1..=0`, no input gradient at layer 0).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy` or `grad` does not fit.
    pub fn backward_with<P: Perturbation>(
        &self,
        cache: &DynCache,
        dy: &[f32],
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        check(dy.len(), self.outputs())?;
        check(grad.params.len(), self.params.len())?;
        let mut g = dy.to_vec();
        for l in (0..self.depth()).rev() {
            let n_in = self.sizes[l];
            let mut gx = vec![0.0; n_in];
            let mut row = vec![0.0; n_in];
            let (gw, gb) = grad.params.split_at_mut(2 * l + 1);
            self.layer(l).backward(
                l,
                &cache.x[l],
                &cache.z[l],
                &cache.a[l],
                &mut g,
                p,
                &mut row,
                &mut gw[2 * l],
                &mut gb[0],
                (l > 0).then_some(gx.as_mut_slice()),
            )?;
            g = gx;
        }
        Ok(())
    }

    /// Back-propagates the seed `g` with the clean weights (cache holds a
    /// clean forward pass), storing `g` and `δ` per layer; returns
    /// `Σ_l η_l (‖x_l‖² + b) ‖δ_l‖²` summed from the output layer down.
    fn penalty_from(
        &self,
        cache: &mut DynCache,
        seed: &[f32],
        eta: &[f32],
        on: NoiseOn,
    ) -> Result<f32, Error> {
        let mut g = seed.to_vec();
        let mut sum: Option<f32> = None;
        for l in (0..self.depth()).rev() {
            let v = self.layer(l);
            cache.g[l].copy_from_slice(&g);
            let c = &mut *cache;
            v.delta(&c.z[l], &c.a[l], &c.g[l], &mut c.delta[l])?;
            let mut gx = vec![0.0; self.sizes[l]];
            if l > 0 {
                v.input_grad(&c.delta[l], &mut gx)?;
            }
            let t = v.penalty_term(&c.x[l], &c.delta[l], eta_at(eta, l), on)?;
            // The pair composition computes `rest + this`, from the output down.
            sum = Some(match sum {
                None => t,
                Some(s) => s + t,
            });
            g = gx;
        }
        Ok(sum.unwrap_or(0.0))
    }

    /// R-forward through every layer (`R{x} = 0` at the input).
    fn r_forward(&self, cache: &mut DynCache, eta: &[f32], on: NoiseOn) -> Result<(), Error> {
        for l in 0..self.depth() {
            let rx = if l == 0 {
                None
            } else {
                Some(cache.ra[l - 1].clone())
            };
            let c = &mut *cache;
            self.layer(l).r_forward(
                &c.x[l],
                &c.z[l],
                &c.a[l],
                &c.delta[l],
                rx.as_deref(),
                eta_at(eta, l),
                on,
                &mut c.rz[l],
                &mut c.ra[l],
            )?;
        }
        Ok(())
    }

    /// R-backward from the output with `R{g} = 0`, adding `H_f v + c ∇_θ f` into `grad`.
    fn r_backward(
        &self,
        cache: &DynCache,
        c: f32,
        eta: &[f32],
        grad: &mut Self,
    ) -> Result<(), Error> {
        let mut rg = vec![0.0; self.outputs()];
        for l in (0..self.depth()).rev() {
            let rx = (l > 0).then(|| cache.ra[l - 1].as_slice());
            let mut rgx = vec![0.0; self.sizes[l]];
            let (gw, gb) = grad.params.split_at_mut(2 * l + 1);
            self.layer(l).r_backward(
                &cache.x[l],
                &cache.z[l],
                &cache.a[l],
                &cache.g[l],
                &cache.delta[l],
                &cache.rz[l],
                rx,
                &mut rg,
                c,
                eta_at(eta, l),
                &mut gw[2 * l],
                &mut gb[0],
                (l > 0).then_some(rgx.as_mut_slice()),
            )?;
            rg = rgx;
        }
        Ok(())
    }

    fn check_eta(&self, eta: &[f32]) -> Result<(), Error> {
        check(eta.len(), self.depth())
    }

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` at the clean weights (as
    /// the core's `Network::penalty`). Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta` or `x` does not fit.
    pub fn penalty(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
    ) -> Result<f32, Error> {
        self.check_eta(eta)?;
        let mut y = vec![0.0; self.outputs()];
        self.forward_with(x, &mut Clean, cache, &mut y)?;
        let mut seed = vec![0.0; self.outputs()];
        let mut total = 0.0;
        for k in 0..self.outputs() {
            unit(&mut seed, k);
            total += self.penalty_from(cache, &seed, eta, on)?;
        }
        Ok(total)
    }

    /// Adds `∇_θ [dy·f + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad` and
    /// returns the penalty, given a clean forward pass in `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta` or `dy` does not fit.
    pub fn penalty_grad_from_cache(
        &self,
        cache: &mut DynCache,
        dy: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.check_eta(eta)?;
        check(dy.len(), self.outputs())?;
        let mut seed = vec![0.0; self.outputs()];
        let mut total = 0.0;
        for (k, &c) in dy.iter().enumerate() {
            unit(&mut seed, k);
            total += self.penalty_from(cache, &seed, eta, on)?;
            self.r_forward(cache, eta, on)?;
            self.r_backward(cache, c, eta, grad)?;
        }
        Ok(total)
    }

    /// Adds `H_f v`, the gradient of the penalty, into `grad` (clean forward
    /// pass into `cache` first); returns the penalty.
    ///
    /// # Errors
    ///
    /// As [`penalty_grad_from_cache`](Self::penalty_grad_from_cache).
    pub fn penalty_grad(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.check_eta(eta)?;
        let mut y = vec![0.0; self.outputs()];
        self.forward_with(x, &mut Clean, cache, &mut y)?;
        let zero = vec![0.0; self.outputs()];
        self.penalty_grad_from_cache(cache, &zero, eta, on, grad)
    }

    /// Exact `Σ_l η_l tr ∇²_{θ_l} f_k(x)` for every output `k` (the core's
    /// `Network::hessian_trace`). Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `traces` does not fit.
    pub fn hessian_trace(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
        traces: &mut [f32],
    ) -> Result<(), Error> {
        self.check_eta(eta)?;
        check(traces.len(), self.outputs())?;
        let mut y = vec![0.0; self.outputs()];
        self.forward_with(x, &mut Clean, cache, &mut y)?;
        let mut seed = vec![0.0; self.outputs()];
        for (k, t) in traces.iter_mut().enumerate() {
            unit(&mut seed, k);
            let n = self.outputs();
            let mut hess = vec![0.0; n * n];
            let mut g = seed.clone();
            let mut sum: Option<f32> = None;
            for l in (0..self.depth()).rev() {
                let v = self.layer(l);
                let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
                let mut u = vec![0.0; n_out];
                let mut gx = vec![0.0; n_in];
                let mut hx = vec![0.0; n_in * n_in];
                let below = l > 0;
                let tr = v.hessian_backward(
                    &cache.z[l],
                    &cache.a[l],
                    &g,
                    &mut hess,
                    &mut u,
                    below.then_some(hx.as_mut_slice()),
                )?;
                if below {
                    v.delta(&cache.z[l], &cache.a[l], &g, &mut u)?;
                    v.input_grad(&u, &mut gx)?;
                }
                let term =
                    eta_at(eta, l) * ((noisereg::sq_norm(&cache.x[l]) + on.bias_term()) * tr);
                sum = Some(match sum {
                    None => term,
                    Some(s) => s + term,
                });
                g = gx;
                hess = hx;
            }
            *t = sum.unwrap_or(0.0);
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
        DynMlp::zeros_like(self)
    }

    fn workspace(&self) -> DynCache {
        self.new_cache()
    }

    fn output_buffer(&self) -> Vec<f32> {
        vec![0.0; self.outputs()]
    }

    fn predict(&self, x: &Vec<f32>, y: &mut Vec<f32>) -> Result<(), Error> {
        self.forward(x, y)
    }

    fn predict_batch(&self, xs: &[Vec<f32>], ys: &mut [Vec<f32>]) -> Result<(), Error> {
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

    fn forward_traced<P: Perturbation>(
        &self,
        x: &Vec<f32>,
        p: &mut P,
        ws: &mut DynCache,
        y: &mut Vec<f32>,
    ) -> Result<(), Error> {
        self.forward_with(x, p, ws, y)
    }

    fn backward_traced<P: Perturbation>(
        &self,
        ws: &mut DynCache,
        dy: &Vec<f32>,
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        self.backward_with(ws, dy, p, grad)
    }

    fn penalty_at(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
    ) -> Result<f32, Error> {
        self.penalty(x, eta, on, ws)
    }

    fn penalty_grad_at(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.penalty_grad(x, eta, on, ws, grad)
    }

    fn penalty_grad_traced(
        &self,
        ws: &mut DynCache,
        dy: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.penalty_grad_from_cache(ws, dy, eta, on, grad)
    }

    fn seeded_penalty_traced(
        &self,
        ws: &mut DynCache,
        seed: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error> {
        self.check_eta(eta)?;
        check(seed.len(), self.outputs())?;
        let total = self.penalty_from(ws, seed, eta, on)?;
        if let Some(grad) = grad {
            self.r_forward(ws, eta, on)?;
            self.r_backward(ws, 0.0, eta, grad)?;
        }
        Ok(total)
    }

    fn hessian_trace_at(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynCache,
        traces: &mut Vec<f32>,
    ) -> Result<(), Error> {
        self.hessian_trace(x, eta, on, ws, traces)
    }
}

fn eta_at(eta: &[f32], l: usize) -> f32 {
    eta.get(l).copied().unwrap_or(0.0)
}

fn check(left: usize, right: usize) -> Result<(), Error> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { left, right })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisereg::{
        HalfSquaredError, Loss, Mlp1, Mlp2, Network, NoiseKind, Sigmoid, Tanh, WeightNoise,
        WeightNoiseConfig,
    };
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    fn assert_same_params<N: Parameters>(a: &N, b: &DynMlp) {
        assert_eq!(a.slice_count(), b.slice_count());
        for i in 0..a.slice_count() {
            let (x, y) = (a.slice(i), b.slice(i));
            assert_eq!(x.len(), y.len(), "slice {i}");
            for (j, (p, q)) in x.iter().zip(y).enumerate() {
                assert_eq!(p.to_bits(), q.to_bits(), "slice {i} element {j}");
            }
        }
    }

    /// Checks forward (clean and noisy), backward (noisy), penalty, penalty
    /// gradient and trace of `net` against `dynn`, bit for bit.
    fn check_all<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
        net: &N,
        dynn: &DynMlp,
        kind: NoiseKind,
        on: NoiseOn,
    ) {
        assert_same_params(net, dynn);
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(99);
        let mut normal = noisereg::BoxMuller::standard();
        let eta: Vec<f32> = (0..N::DEPTH).map(|l| 0.01 * (l + 1) as f32).collect();
        let cfg = WeightNoiseConfig::new(kind, 0.02)
            .unwrap()
            .with_noise_on(on);
        for s in 0..5u64 {
            let x: [f32; IN] = core::array::from_fn(|_| normal.sample(&mut rng));
            let dy: [f32; OUT] = core::array::from_fn(|_| normal.sample(&mut rng));
            // Clean forward.
            let (mut y1, mut y2) = ([0.0; OUT], vec![0.0; OUT]);
            net.forward(&x, &mut y1);
            dynn.forward(&x, &mut y2).unwrap();
            assert_eq!(y1.map(f32::to_bits).to_vec(), bits(&y2));
            // Noisy forward and backward through the core's WeightNoise.
            let (mut n1, mut n2) = (WeightNoise::new(&cfg, s), WeightNoise::new(&cfg, s));
            n1.next_draw();
            n2.next_draw();
            let (mut c1, mut c2) = (N::new_cache(), dynn.new_cache());
            net.forward_with(&x, &mut n1, &mut c1, &mut y1);
            dynn.forward_with(&x, &mut n2, &mut c2, &mut y2).unwrap();
            assert_eq!(y1.map(f32::to_bits).to_vec(), bits(&y2), "noisy forward");
            let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
            net.backward_with(&c1, &dy, &mut n1, &mut g1);
            dynn.backward_with(&c2, &dy, &mut n2, &mut g2).unwrap();
            assert_same_params(&g1, &g2);
            // Penalty, its gradient with the loss folded in, and the trace.
            let p1 = net.penalty(&x, &eta, on, &mut c1).unwrap();
            let p2 = dynn.penalty(&x, &eta, on, &mut c2).unwrap();
            assert_eq!(p1.to_bits(), p2.to_bits(), "penalty");
            let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
            let v1 = net
                .loss_penalty_grad(&HalfSquaredError, &x, &dy, &eta, on, &mut c1, &mut g1)
                .unwrap();
            let mut dy2 = vec![0.0; OUT];
            dynn.forward_with(&x, &mut Clean, &mut c2, &mut y2).unwrap();
            let l2 = HalfSquaredError.value_grad(&y2, &dy[..], &mut dy2).unwrap();
            dynn.penalty_grad_from_cache(&mut c2, &dy2, &eta, on, &mut g2)
                .unwrap();
            assert_eq!(v1.loss.to_bits(), l2.to_bits());
            assert_same_params(&g1, &g2);
            let (mut t1, mut t2) = ([0.0; OUT], vec![0.0; OUT]);
            net.hessian_trace(&x, &eta, on, &mut c1, &mut t1).unwrap();
            dynn.hessian_trace(&x, &eta, on, &mut c2, &mut t2).unwrap();
            assert_eq!(t1.map(f32::to_bits).to_vec(), bits(&t2), "trace");
        }
        // The batch passes (blocks of `BLOCK` samples and a partial block).
        let n = 2 * BLOCK + 3;
        let xs: Vec<[f32; IN]> = (0..n)
            .map(|_| core::array::from_fn(|_| normal.sample(&mut rng)))
            .collect();
        let ts: Vec<[f32; OUT]> = (0..n)
            .map(|_| core::array::from_fn(|_| normal.sample(&mut rng)))
            .collect();
        let xv: Vec<Vec<f32>> = xs.iter().map(|x| x.to_vec()).collect();
        let mut ys1 = vec![[0.0; OUT]; n];
        let mut ys2 = vec![vec![0.0; OUT]; n];
        net.forward_batch(&xs, &mut ys1).unwrap();
        dynn.predict_batch(&xv, &mut ys2).unwrap();
        for (a, b) in ys1.iter().zip(&ys2) {
            assert_eq!(a.map(f32::to_bits).to_vec(), bits(b), "forward_batch");
        }
        let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
        let (mut l1, mut l2) = (0.0f32, 0.0f32);
        Network::loss_grad_sum(net, &HalfSquaredError, &xs, &ts, &mut g1, &mut l1).unwrap();
        Model::loss_grad_sum(dynn, &HalfSquaredError, &xv, &ts, &mut g2, &mut l2).unwrap();
        assert_eq!(l1.to_bits(), l2.to_bits(), "batch loss");
        assert_same_params(&g1, &g2);
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn dyn_mlp_matches_mlp1_bit_for_bit() {
        let mut net = Mlp1::<10, 16, 1, Tanh>::zeroed();
        net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(5));
        let mut d = DynMlp::mlp(10, &[16], 1, ActivationKind::Tanh).unwrap();
        d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(5));
        for kind in [
            NoiseKind::Additive,
            NoiseKind::Multiplicative,
            NoiseKind::LocalReparam,
        ] {
            check_all(&net, &d, kind, NoiseOn::Weights);
        }
    }

    #[test]
    fn dyn_mlp_matches_mlp2_bit_for_bit() {
        let mut net = Mlp2::<3, 5, 4, 2, Sigmoid>::zeroed();
        net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(8));
        let mut d = DynMlp::mlp(3, &[5, 4], 2, ActivationKind::Sigmoid).unwrap();
        d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(8));
        check_all(&net, &d, NoiseKind::Additive, NoiseOn::WeightsAndBiases);
        check_all(&net, &d, NoiseKind::LocalReparam, NoiseOn::Weights);
    }

    #[test]
    fn dyn_mlp_rejects_bad_shapes_and_lengths() {
        assert!(DynMlp::mlp(0, &[3], 1, ActivationKind::Tanh).is_err());
        assert!(DynMlp::mlp(2, &[0], 1, ActivationKind::Tanh).is_err());
        let d = DynMlp::mlp(2, &[3], 1, ActivationKind::Tanh).unwrap();
        let mut y = [0.0];
        assert!(d.forward(&[1.0], &mut y).is_err());
        let mut c = d.new_cache();
        assert!(
            d.penalty(&[1.0, 2.0], &[0.1], NoiseOn::Weights, &mut c)
                .is_err()
        );
    }
}
