//! The step entry points: checks, the batch gradient, the optimiser, and
//! the rollback on error.

use super::{ModelTrainer, NoisePositions};
use crate::error::Error;
use crate::nn::Loss;
use crate::train::model::{Buffer, Model};
use crate::train::optimizer::Optimizer;
use crate::train::sample_ring::SampleRing;
use crate::train::target::Target;

impl<X: Buffer, Y: Buffer, N: Model<X, Y>, O: Optimizer<N>, const S: usize>
    ModelTrainer<X, Y, N, O, S>
{
    /// One optimiser step on the mini-batch `xs`, `targets`; returns the mean
    /// training loss (with the noise, without the penalty).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if the slices differ in length;
    /// [`Error::InvalidParameter`] naming `batch` for an empty batch (or a
    /// batch > 1 with multiplicative per-sample noise and `S = 0`);
    /// [`Error::NonFinite`] naming `input`, `target`, `updated weights` or
    /// `optimiser state`; any error of the loss. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Error, HalfSquaredError, Network, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.5).unwrap(), 7);
    /// // f = 0, loss ½(0 − 2)² = 2; gradient −2 for w and b.
    /// let loss = t.step(&HalfSquaredError, &[[1.0]], &[[2.0]]).unwrap();
    /// assert_eq!(loss, 2.0);
    /// assert_eq!((t.network().w[0][0], t.network().b[0]), (1.0, 1.0));
    /// let empty: [[f32; 1]; 0] = [];
    /// assert!(matches!(t.step(&HalfSquaredError, &empty, &empty), Err(Error::InvalidParameter { .. })));
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step<T: Target, L: Loss<T>>(
        &mut self,
        loss: &L,
        xs: &[X],
        targets: &[T],
    ) -> Result<f32, Error> {
        crate::error::check_len(xs.len(), targets.len())?;
        self.step_iter(loss, xs.iter().zip(targets), xs.len())
    }

    /// One optimiser step on the mini-batch of `(input, target)` pairs
    /// `samples` (e.g. picked by index from a data set), in order.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, _, _> = Trainer::new(Dense::<1, 1>::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// let (xs, ys) = ([[1.0], [2.0], [3.0]], [[2.0], [4.0], [6.0]]);
    /// let batch = [2, 0];
    /// t.step_samples(&HalfSquaredError, batch.iter().map(|&i| (&xs[i], &ys[i]))).unwrap();
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step_samples<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        let n = samples.clone().count();
        self.step_iter(loss, samples, n)
    }

    pub(super) fn restore(&mut self, c: NoisePositions) {
        if let Some(w) = self.weight_noise.as_mut() {
            w.set_draw_index(c.weight);
        }
        self.input_noise.set_draw_index(c.input);
        self.label_noise.set_draw_index(c.label);
    }

    fn step_iter<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
        n: usize,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        crate::error::nonempty("batch", n)?;
        for (x, t) in samples.clone() {
            if !x.as_ref().iter().all(|v| v.is_finite()) {
                return Err(Error::NonFinite { what: "input" });
            }
            if !t.is_finite_target() {
                return Err(Error::NonFinite { what: "target" });
            }
        }
        let saved = self.noise_positions();
        let result = self.accumulate(loss, samples, n);
        let result = result.and_then(|l| self.opt.check(&self.net, &self.grad).map(|()| l));
        match result {
            Ok(l) => {
                self.opt.apply(&mut self.net, &self.grad);
                self.step += 1;
                Ok(l)
            }
            Err(e) => {
                self.restore(saved);
                Err(e)
            }
        }
    }
}

impl<const IN: usize, Y: Buffer, N: Model<[f32; IN], Y>, O: Optimizer<N>, const S: usize>
    ModelTrainer<[f32; IN], Y, N, O, S>
{
    /// One optimiser step on every sample held by `ring`.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, SampleRing, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// let mut ring: SampleRing<1, [f32; 1], 4> = SampleRing::new();
    /// ring.push([1.0], [2.0]).unwrap();
    /// ring.push([2.0], [4.0]).unwrap();
    /// t.step_ring(&HalfSquaredError, &ring).unwrap();
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step_ring<T: Target, L: Loss<T>, const CAP: usize>(
        &mut self,
        loss: &L,
        ring: &SampleRing<IN, T, CAP>,
    ) -> Result<f32, Error> {
        self.step_iter(loss, ring.iter().map(|(x, t)| (x, t)), ring.len())
    }
}
