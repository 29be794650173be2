//! Flipout (Wen et al. 2018): one weight perturbation `ΔŴ` per mini-batch,
//! decorrelated per sample by random signs, `ΔW_n = ΔŴ ∘ (s_n r_nᵀ)`.

use crate::nn::{axpy_into, row_dot, rows_axpy, rows_dot};
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;

/// Inputs handled per sign word (one `u64` of random signs).
const CHUNK: usize = 64;

/// The SplitMix64 finaliser: a bijective 64-bit mix.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Word `word` of the sign stream `key`: 64 independent fair signs.
#[inline(always)]
fn sign_word(key: u64, word: usize) -> u64 {
    mix(key.wrapping_add((word as u64).wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// `v` with its sign flipped when bit 0 of `bit` is set.
#[inline(always)]
fn flip(v: f32, bit: u64) -> f32 {
    f32::from_bits(v.to_bits() ^ (((bit & 1) as u32) << 31))
}

/// The sign of output `o` of stream `key`, as a bit.
#[inline(always)]
fn out_bit(key: u64, o: usize) -> u64 {
    sign_word(key, o / CHUNK) >> (o % CHUNK)
}

/// The Flipout [`Perturbation`] of one mini-batch: reads the clean weights
/// and adds `s ∘ (ΔŴ (r ∘ a)) (+ s ∘ Δb̂)` to each layer's pre-activation,
/// and `r ∘ (ΔŴᵀ (s ∘ δ))` to the back-propagated gradient.
///
/// `eps` holds the batch's ε (`√η·ξ` per weight, from the weight-noise
/// stream; zero where η = 0 and on clean biases). Additive noise: `ΔŴ = ε`.
/// Multiplicative noise (`clean` given): `ΔŴ = W ∘ ε`, and the weight
/// gradient needs the extra term `ε ∘ Σ_n (s_n∘δ_n)(r_n∘a_n)ᵀ`, accumulated
/// into `g2` in [`backward_delta`](Perturbation::backward_delta).
/// Signs are a counter-based hash of (seed, draw, sample, layer): the
/// backward pass regenerates them, nothing per sample is stored.
pub(crate) struct FlipoutPass<'a, P> {
    eps: &'a P,
    clean: Option<&'a P>,
    g2: Option<&'a mut P>,
    biases: bool,
    batch_key: u64,
    key: u64,
}

impl<'a, P: Parameters> FlipoutPass<'a, P> {
    pub(crate) fn new(
        eps: &'a P,
        clean: Option<&'a P>,
        g2: Option<&'a mut P>,
        biases: bool,
        seed: u64,
        draw: u64,
    ) -> Self {
        let batch_key = mix(mix(seed ^ 0x464c_4950_4f55_5400).wrapping_add(draw));
        Self {
            eps,
            clean,
            g2,
            biases,
            batch_key,
            key: batch_key,
        }
    }

    /// Selects sample `n` of the batch (its signs).
    #[inline]
    pub(crate) fn set_sample(&mut self, n: usize) {
        self.key = mix(self.batch_key ^ (n as u64).wrapping_mul(GOLDEN));
    }

    /// Keys of layer `layer`'s input signs `r` and output signs `s`.
    #[inline(always)]
    fn keys(&self, layer: usize) -> (u64, u64) {
        let k = self
            .key
            .wrapping_add((2 * layer as u64 + 1).wrapping_mul(GOLDEN));
        (mix(k), mix(k ^ 0x5555_5555_5555_5555))
    }

    /// `ΔŴ`'s weights and bias of `layer`, or `None` when they do not fit
    /// `n_in × n_out`.
    #[inline(always)]
    fn layer(&self, layer: usize, n_in: usize, n_out: usize) -> Option<(&[f32], &[f32])> {
        let (w, b) = (self.eps.slice(2 * layer), self.eps.slice(2 * layer + 1));
        (w.len() == n_in * n_out && b.len() == n_out).then_some((w, b))
    }

    /// `ΔŴ`'s entries `o·n_in + at ..` (`len` of them) into `out`.
    #[inline(always)]
    fn delta_row<'b>(
        &self,
        layer: usize,
        from: usize,
        e: &'b [f32],
        out: &'b mut [f32; CHUNK],
    ) -> &'b [f32] {
        match self.clean {
            None => e,
            Some(c) => {
                let c = c.slice(2 * layer).get(from..from + e.len()).unwrap_or(&[]);
                for ((o, &c), &e) in out.iter_mut().zip(c).zip(e) {
                    *o = c * e;
                }
                out.get(..e.len()).unwrap_or(&[])
            }
        }
    }

    /// `ra = r ∘ a[at..at + len]`.
    #[inline(always)]
    fn signed_inputs(kr: u64, a: &[f32], at: usize, ra: &mut [f32; CHUNK]) -> usize {
        let chunk = a.get(at..).unwrap_or(&[]);
        let len = chunk.len().min(CHUNK);
        let bits = sign_word(kr, at / CHUNK);
        for (i, (r, &v)) in ra.iter_mut().zip(chunk).enumerate() {
            *r = flip(v, bits >> i);
        }
        len
    }
}

impl<P: Parameters> Perturbation for FlipoutPass<'_, P> {
    #[inline]
    fn pre_activation(&mut self, layer: usize, a_in: &[f32], z: &mut [f32]) {
        let (n_in, n_out) = (a_in.len(), z.len());
        let Some((w, b)) = self.layer(layer, n_in, n_out) else {
            return;
        };
        let (kr, ks) = self.keys(layer);
        let (mut ra, mut tmp) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
        if self.clean.is_none() && n_in <= CHUNK && n_out <= CHUNK {
            // Additive, one chunk: `ΔŴ (r ∘ a)` with the forward pass's kernel.
            let len = Self::signed_inputs(kr, a_in, 0, &mut ra);
            let t = tmp.get_mut(..n_out).unwrap_or(&mut []);
            rows_dot(w, ra.get(..len).unwrap_or(&[]), t);
            let bits = sign_word(ks, 0);
            for (o, (zo, &v)) in z.iter_mut().zip(t.iter()).enumerate() {
                *zo += flip(v, bits >> o);
            }
            if self.biases {
                for (o, (zo, &e)) in z.iter_mut().zip(b).enumerate() {
                    *zo += flip(e, bits >> o);
                }
            }
            return;
        }
        let mut at = 0;
        while at < n_in {
            let len = Self::signed_inputs(kr, a_in, at, &mut ra);
            let ra = ra.get(..len).unwrap_or(&[]);
            for (o, zo) in z.iter_mut().enumerate() {
                let from = o * n_in + at;
                let e = w.get(from..from + len).unwrap_or(&[]);
                let d = self.delta_row(layer, from, e, &mut tmp);
                *zo += flip(row_dot(d, ra), out_bit(ks, o));
            }
            at += len;
        }
        if self.biases {
            let cb = self.clean.map(|c| c.slice(2 * layer + 1));
            for (o, (zo, &e)) in z.iter_mut().zip(b).enumerate() {
                let d = cb.and_then(|c| c.get(o)).map_or(e, |&c| c * e);
                *zo += flip(d, out_bit(ks, o));
            }
        }
    }

    #[inline]
    fn pre_activation_backward(
        &mut self,
        layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        let (n_in, n_out) = (a_in.len(), delta.len());
        let Some((w, _)) = self.layer(layer, n_in, n_out) else {
            return;
        };
        let (kr, ks) = self.keys(layer);
        let (mut acc, mut tmp) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
        if self.clean.is_none() && n_in <= CHUNK && n_out <= CHUNK {
            // Additive, one chunk: `ΔŴᵀ (s ∘ δ)` with the backward pass's kernel.
            let bits = sign_word(ks, 0);
            let sd = tmp.get_mut(..n_out).unwrap_or(&mut []);
            for (o, (v, &d)) in sd.iter_mut().zip(delta).enumerate() {
                *v = flip(d, bits >> o);
            }
            let acc = acc.get_mut(..n_in).unwrap_or(&mut []);
            rows_axpy(w, sd, acc);
            let bits = sign_word(kr, 0);
            for (i, (g, &v)) in g_a.iter_mut().zip(acc.iter()).enumerate() {
                *g += flip(v, bits >> i);
            }
            return;
        }
        let mut at = 0;
        while at < n_in {
            let len = (n_in - at).min(CHUNK);
            let acc = acc.get_mut(..len).unwrap_or(&mut []);
            acc.fill(0.0);
            for (o, &d) in delta.iter().enumerate() {
                let from = o * n_in + at;
                let e = w.get(from..from + len).unwrap_or(&[]);
                let row = self.delta_row(layer, from, e, &mut tmp);
                axpy_into(flip(d, out_bit(ks, o)), row, acc);
            }
            let bits = sign_word(kr, at / CHUNK);
            let g = g_a.get_mut(at..at + len).unwrap_or(&mut []);
            for (i, (g, &v)) in g.iter_mut().zip(acc.iter()).enumerate() {
                *g += flip(v, bits >> i);
            }
            at += len;
        }
    }

    #[inline]
    fn backward_delta(&mut self, layer: usize, a_in: &[f32], delta: &[f32]) {
        let n_in = a_in.len();
        if self.layer(layer, n_in, delta.len()).is_none() {
            return;
        }
        let (kr, ks) = self.keys(layer);
        let biases = self.biases;
        let Some(g2) = self.g2.as_deref_mut() else {
            return;
        };
        let mut ra = [0.0f32; CHUNK];
        let mut at = 0;
        while at < n_in {
            let len = Self::signed_inputs(kr, a_in, at, &mut ra);
            let ra = ra.get(..len).unwrap_or(&[]);
            let gw = g2.slice_mut(2 * layer);
            for (o, &d) in delta.iter().enumerate() {
                let from = o * n_in + at;
                let g = gw.get_mut(from..from + len).unwrap_or(&mut []);
                axpy_into(flip(d, out_bit(ks, o)), ra, g);
            }
            at += len;
        }
        if biases {
            let gb = g2.slice_mut(2 * layer + 1);
            for (o, (g, &d)) in gb.iter_mut().zip(delta).enumerate() {
                *g += flip(d, out_bit(ks, o));
            }
        }
    }
}

/// `grad += eps ∘ g2` (multiplicative Flipout's extra gradient term).
pub(crate) fn add_product<P: Parameters>(grad: &mut P, eps: &P, g2: &P) {
    for i in 0..grad.slice_count() {
        for ((g, &e), &h) in grad
            .slice_mut(i)
            .iter_mut()
            .zip(eps.slice(i))
            .zip(g2.slice(i))
        {
            *g += e * h;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Model;
    extern crate std;
    use super::*;
    use crate::{Mlp1, Network, Parameters, Tanh};
    use std::vec;
    use std::vec::Vec;

    const OUT: usize = 2;

    fn filled<P: Parameters>(mut n: P, seed: u64, scale: f32) -> P {
        let mut k = seed;
        for i in 0..n.slice_count() {
            for v in n.slice_mut(i) {
                k = mix(k.wrapping_add(GOLDEN));
                *v = scale * ((k >> 40) as f32 / (1u64 << 24) as f32 - 0.5);
            }
        }
        n
    }

    /// Sign `±1` of input `i` (`which = 0`) or output `i` (`which = 1`).
    fn sign<P: Parameters>(p: &FlipoutPass<'_, P>, layer: usize, which: usize, i: usize) -> f64 {
        let (kr, ks) = p.keys(layer);
        let k = if which == 0 { kr } else { ks };
        if out_bit(k, i) & 1 == 1 { -1.0 } else { 1.0 }
    }

    /// The loss `½‖y − f‖²` in f64 with the pass's signs and `eps`, at `theta`.
    fn loss_f64<P: Parameters>(
        p: &FlipoutPass<'_, P>,
        theta: &[Vec<f64>],
        eps: &P,
        mult: bool,
        biases: bool,
        x: &[f64],
        y: &[f64],
    ) -> f64 {
        let mut a = x.to_vec();
        for l in 0..2 {
            let (w, b) = (&theta[2 * l], &theta[2 * l + 1]);
            let (ew, eb) = (eps.slice(2 * l), eps.slice(2 * l + 1));
            let (n_in, n_out) = (a.len(), b.len());
            let mut z = vec![0.0; n_out];
            for o in 0..n_out {
                let so = sign(p, l, 1, o);
                let mut acc = b[o];
                for i in 0..n_in {
                    let e = f64::from(ew[o * n_in + i]) * so * sign(p, l, 0, i);
                    let dw = if mult { w[o * n_in + i] * e } else { e };
                    acc += (w[o * n_in + i] + dw) * a[i];
                }
                if biases {
                    let e = f64::from(eb[o]) * so;
                    acc += if mult { b[o] * e } else { e };
                }
                z[o] = acc;
            }
            a = if l == 0 {
                z.iter().map(|v| v.tanh()).collect()
            } else {
                z
            };
        }
        a.iter().zip(y).map(|(f, t)| 0.5 * (t - f) * (t - f)).sum()
    }

    fn check<const IN: usize, const H: usize>(mult: bool, biases: bool) {
        type N<const I: usize, const J: usize> = Mlp1<I, J, OUT, Tanh>;
        let scale = 1.6 / libm::sqrtf(IN as f32 / 3.0);
        let net = filled(N::<IN, H>::zeroed(), 1, scale);
        let eps = filled(N::<IN, H>::zeroed(), 2, 0.5 * scale);
        let x: [f32; IN] = core::array::from_fn(|i| libm::sinf(1.7 * i as f32 + 0.3));
        let y = [0.3f32, -0.2];
        let mut g2 = N::<IN, H>::zeroed();
        let mut grad = N::<IN, H>::zeroed();
        let clean = mult.then_some(&net);
        {
            let mut pass = FlipoutPass::new(&eps, clean, mult.then_some(&mut g2), biases, 5, 3);
            pass.set_sample(2);
            let mut cache = net.workspace();
            let mut out = [0.0f32; OUT];
            net.forward_with(&x, &mut pass, &mut cache, &mut out)
                .unwrap();
            let dy: [f32; OUT] = core::array::from_fn(|k| out[k] - y[k]);
            net.backward_with(&mut cache, &dy, &mut pass, &mut grad)
                .unwrap();
        }
        // The f64 reference sees the same signs.
        let mut probe = FlipoutPass::<N<IN, H>>::new(&eps, None, None, biases, 5, 3);
        probe.set_sample(2);
        if mult {
            add_product(&mut grad, &eps, &g2);
        }
        let theta: [Vec<f64>; 4] =
            core::array::from_fn(|i| net.slice(i).iter().map(|&v| f64::from(v)).collect());
        let (xd, yd) = (x.map(f64::from), y.map(f64::from));
        let h = 1e-6;
        for i in 0..4 {
            for j in 0..theta[i].len() {
                let (mut up, mut dn) = (theta.clone(), theta.clone());
                up[i][j] += h;
                dn[i][j] -= h;
                let fd = (loss_f64(&probe, &up, &eps, mult, biases, &xd, &yd)
                    - loss_f64(&probe, &dn, &eps, mult, biases, &xd, &yd))
                    / (2.0 * h);
                let got = f64::from(grad.slice(i)[j]);
                assert!(
                    (got - fd).abs() <= 1e-4 * (1.0 + fd.abs()),
                    "mult {mult} biases {biases} slice {i}[{j}]: {got} vs {fd}"
                );
            }
        }
    }

    #[test]
    fn flipout_gradient_matches_f64_finite_differences() {
        for mult in [false, true] {
            for biases in [false, true] {
                check::<3, 4>(mult, biases);
                // More than 64 inputs and outputs: the chunked path.
                check::<70, 66>(mult, biases);
            }
        }
    }

    #[test]
    fn sign_words_are_balanced() {
        let mut ones = 0u32;
        for w in 0..1000 {
            ones += sign_word(42, w).count_ones();
        }
        // 64,000 fair bits: mean 32,000, sd 126.
        assert!((ones as i64 - 32_000).abs() < 700, "{ones}");
    }
}

#[cfg(test)]
mod marginal {
    use crate::Model;
    extern crate std;
    use super::*;
    use crate::noise::{NoiseKind, WeightNoise, WeightNoiseConfig};
    use crate::{Init, Mlp1, Network, Tanh};
    use rand_core::SeedableRng;
    use std::vec::Vec;

    type Net = Mlp1<4, 8, 1, Tanh>;
    const DRAWS: usize = 4000;

    /// Outputs for samples 5 and 6 (the same `x`) of `DRAWS` Flipout batches,
    /// and `DRAWS` independent outputs for the same `x`.
    fn outputs(kind: NoiseKind) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut net = Net::zeroed();
        net.init(
            Init::Glorot,
            &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(4),
        );
        let x = [0.9f32, -0.4, 1.3, 0.2];
        let cfg = WeightNoiseConfig::new(kind, 0.09).unwrap();
        let (mut flip, mut indep) = (WeightNoise::new(&cfg, 1), WeightNoise::new(&cfg, 2));
        let mut eps = Net::zeroed();
        let mut cache = net.workspace();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..DRAWS {
            flip.next_draw();
            flip.draw_eps(&mut eps);
            let clean = (kind == NoiseKind::Multiplicative).then_some(&net);
            let mut pass = FlipoutPass::new(&eps, clean, None, false, 1, flip.draw_index());
            for (n, out) in [(5, &mut a), (6, &mut b)] {
                pass.set_sample(n);
                let mut y = [0.0];
                net.forward_with(&x, &mut pass, &mut cache, &mut y).unwrap();
                out.push(y[0]);
            }
            indep.next_draw();
            let mut y = [0.0];
            net.forward_with(&x, &mut indep, &mut cache, &mut y)
                .unwrap();
            c.push(y[0]);
        }
        (a, b, c)
    }

    /// Two-sample Kolmogorov–Smirnov statistic.
    fn ks(mut a: Vec<f32>, mut b: Vec<f32>) -> f64 {
        a.sort_by(f32::total_cmp);
        b.sort_by(f32::total_cmp);
        let (mut i, mut j, mut d) = (0, 0, 0.0f64);
        while i < a.len() && j < b.len() {
            if a[i] <= b[j] {
                i += 1;
            } else {
                j += 1;
            }
            let f = i as f64 / a.len() as f64 - j as f64 / b.len() as f64;
            d = d.max(f.abs());
        }
        d
    }

    fn corr(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let ma = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let mb = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        sab / libm::sqrt(saa * sbb)
    }

    #[test]
    fn flipout_marginal_is_the_independent_one_and_samples_decorrelate() {
        for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
            let (a, b, c) = outputs(kind);
            // KS critical value at α = 0.001 for two samples of 4000: 0.0437.
            let d = ks(a.clone(), c);
            assert!(d < 0.0437, "{kind:?}: KS {d}");
            // One ΔŴ shared: per-batch noise gives correlation 1 here.
            let r = corr(&a, &b);
            assert!(r.abs() < 0.5, "{kind:?}: correlation of two samples {r}");
        }
    }
}
