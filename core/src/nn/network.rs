//! The `Network` trait, its impl for one [`Dense`] layer and for the tuple
//! `(Dense, rest)`, which composes layers to any depth.
//!
//! Every pass is a loop over layers calling one [`DenseRef`] function per
//! layer: forward from the input, backward from the output. A network sized
//! at run time that runs the same loop gets the same bits.

use super::activation::Activation;
use super::dense::{Dense, DenseCache};
use super::init::Init;
use super::loss::Loss;
use crate::error::{Error, check_len};
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use core::fmt::Debug;
use rand_core::Rng;

/// A fixed-size network mapping `[f32; IN]` to `[f32; OUT]`.
///
/// Implemented by [`Dense`] (one layer) and by `(Dense<IN, H, A>, N)` for any
/// `N: Network<H, OUT>`, so nested pairs give any depth and mismatched widths
/// do not compile. [`Mlp1`], [`Mlp2`] and [`Mlp3`] name the common shapes.
///
/// The `*_from` methods take the index of the network's first layer (so that
/// a network nested in a pair numbers its layers correctly); call the
/// methods without the suffix.
///
/// # Examples
///
/// ```
/// use noisereg::{Init, Mlp1, Network, Tanh};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(3);
/// let mut net = Mlp1::<2, 8, 1, Tanh>::zeroed();
/// net.init(Init::Glorot, &mut rng);
/// let mut y = [0.0];
/// net.forward(&[0.5, -0.5], &mut y);
/// assert!(y[0].is_finite());
/// assert_eq!(<Mlp1<2, 8, 1, Tanh> as Network<2, 1>>::DEPTH, 2);
/// ```
///
/// Widths must chain:
///
/// ```compile_fail,E0599
/// use noisereg::{Dense, Network, Tanh};
/// let _net = <(Dense<2, 3, Tanh>, Dense<4, 1>)>::zeroed();
/// ```
///
/// ```compile_fail,E0277
/// use noisereg::{Dense, Network, Tanh};
/// fn run<N: Network<2, 1>>(n: &N) { n.forward(&[0.0; 2], &mut [0.0]); }
/// run(&(Dense::<2, 3, Tanh>::zeroed(), Dense::<3, 2>::zeroed()));
/// ```
pub trait Network<const IN: usize, const OUT: usize>: Parameters + Clone + Debug + Sized {
    /// Per-layer values of one sample ([`DenseCache`] per layer), fixed size.
    type Cache: Clone + Debug;
    /// Number of dense layers.
    const DEPTH: usize;

    /// All parameters zero, activations at their default.
    fn zeroed() -> Self;

    /// A zeroed cache.
    fn new_cache() -> Self::Cache;

    /// Clean forward pass without a cache.
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]);

    /// [`forward_with`](Self::forward_with) with the first layer numbered `first`.
    fn forward_from<P: Perturbation>(
        &self,
        first: usize,
        x: &[f32; IN],
        p: &mut P,
        cache: &mut Self::Cache,
        y: &mut [f32; OUT],
    );

    /// [`backward_with`](Self::backward_with) with the first layer numbered
    /// `first`; writes `∂ℓ/∂x` into `dx` when given.
    fn backward_from<P: Perturbation>(
        &self,
        first: usize,
        cache: &Self::Cache,
        dy: &[f32; OUT],
        p: &mut P,
        grad: &mut Self,
        dx: Option<&mut [f32; IN]>,
    );

    /// Draws every layer's weights with `init` (biases zero), layer by layer
    /// from the input.
    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R);

    /// Forward pass through the perturbed network, keeping the per-layer
    /// values in `cache` for [`backward_with`](Self::backward_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network, Tanh};
    /// let mut net = <(Dense<1, 2, Tanh>, Dense<2, 1>)>::zeroed();
    /// net.1.b = [0.25];
    /// let mut cache = <(Dense<1, 2, Tanh>, Dense<2, 1>)>::new_cache();
    /// let mut y = [0.0];
    /// net.forward_with(&[1.0], &mut Clean, &mut cache, &mut y);
    /// assert_eq!(y, [0.25]);
    /// ```
    #[inline]
    fn forward_with<P: Perturbation>(
        &self,
        x: &[f32; IN],
        p: &mut P,
        cache: &mut Self::Cache,
        y: &mut [f32; OUT],
    ) {
        self.forward_from(0, x, p, cache, y);
    }

    /// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights used by the
    /// [`forward_with`](Self::forward_with) that filled `cache` into `grad`.
    ///
    /// Layers are visited from the output down; the first layer reads no
    /// weight (its input gradient is not needed).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network};
    /// let mut net = Dense::<2, 1>::zeroed();
    /// net.w = [[1.0, 1.0]];
    /// let (mut cache, mut y, mut grad) = (Dense::<2, 1>::new_cache(), [0.0], Dense::<2, 1>::zeroed());
    /// net.forward_with(&[2.0, 3.0], &mut Clean, &mut cache, &mut y);
    /// net.backward_with(&cache, &[1.0], &mut Clean, &mut grad);
    /// assert_eq!((grad.w, grad.b), ([[2.0, 3.0]], [1.0]));
    /// ```
    #[inline]
    fn backward_with<P: Perturbation>(
        &self,
        cache: &Self::Cache,
        dy: &[f32; OUT],
        p: &mut P,
        grad: &mut Self,
    ) {
        self.backward_from(0, cache, dy, p, grad, None);
    }

    /// Sets every parameter of `self` to zero (activations unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network};
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.b = [3.0];
    /// g.fill_zero();
    /// assert_eq!(g.b, [0.0]);
    /// ```
    #[inline]
    fn fill_zero(&mut self) {
        for i in 0..Self::SLICES {
            self.slice_mut(i).fill(0.0);
        }
    }

    /// Mean loss over a mini-batch; `grad` is OVERWRITTEN with the mean
    /// gradient. Each sample runs `forward_with(p)` then `backward_with(p)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length,
    /// [`Error::InvalidParameter`] if the batch is empty, and any error of
    /// the loss (e.g. a label out of range). `grad` is unspecified after an
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, HalfSquaredError, Network};
    /// let net = Dense::<1, 1>::zeroed();
    /// let mut grad = Dense::<1, 1>::zeroed();
    /// let xs = [[1.0], [3.0]];
    /// let ys = [[1.0], [1.0]];
    /// let loss = net.loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut grad).unwrap();
    /// assert_eq!((loss, grad.w, grad.b), (0.5, [[-2.0]], [-1.0]));
    /// ```
    fn loss_grad_batch<T, L: Loss<T>, P: Perturbation>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        p: &mut P,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        check_len(xs.len(), targets.len())?;
        let n = nonempty(xs.len())?;
        grad.fill_zero();
        let mut cache = Self::new_cache();
        let (mut y, mut dy) = ([0.0; OUT], [0.0; OUT]);
        let mut total = 0.0;
        for (x, t) in xs.iter().zip(targets) {
            self.forward_with(x, p, &mut cache, &mut y);
            total += loss.value_grad(&y, t, &mut dy)?;
            self.backward_with(&cache, &dy, p, grad);
        }
        grad.scale_all(1.0 / n);
        Ok(total / n)
    }

    /// Multiplies every parameter by `a`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network};
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.b = [3.0];
    /// g.scale_all(2.0);
    /// assert_eq!(g.b, [6.0]);
    /// ```
    #[inline]
    fn scale_all(&mut self, a: f32) {
        for i in 0..Self::SLICES {
            crate::kernels::scale(a, self.slice_mut(i));
        }
    }
}

/// `n` as f32, or an error for an empty batch.
#[inline]
pub(crate) fn nonempty(n: usize) -> Result<f32, Error> {
    if n == 0 {
        Err(Error::InvalidParameter {
            name: "batch",
            requirement: "at least one sample",
        })
    } else {
        Ok(n as f32)
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Network<IN, OUT> for Dense<IN, OUT, A> {
    type Cache = DenseCache<IN, OUT>;
    const DEPTH: usize = 1;

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
        // Lengths are fixed by the types, so the check cannot fail.
        let _ = self.view().forward_clean(x, y);
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
        let _ = self.view().forward(first, x, p, &mut row, &mut c.z, &mut c.a);
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
        let _ = self.view().backward(
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

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(IN, self.w.as_flattened_mut(), &mut self.b, rng);
    }
}

impl<const IN: usize, const H: usize, A: Activation, N: Parameters> Parameters
    for (Dense<IN, H, A>, N)
{
    const SLICES: usize = 2 + N::SLICES;
    const LEN: usize = IN * H + H + N::LEN;

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
        self.0.backward_from(first, &cache.0, &gh, p, &mut grad.0, dx);
    }

    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        self.0.init(init, rng);
        self.1.init(init, rng);
    }
}

/// One hidden layer: `IN → H → OUT`, hidden activation `A`, output activation `B`.
pub type Mlp1<const IN: usize, const H: usize, const OUT: usize, A, B = super::activation::Identity> =
    (Dense<IN, H, A>, Dense<H, OUT, B>);

/// Two hidden layers: `IN → H1 → H2 → OUT`.
pub type Mlp2<
    const IN: usize,
    const H1: usize,
    const H2: usize,
    const OUT: usize,
    A,
    B = super::activation::Identity,
> = (Dense<IN, H1, A>, (Dense<H1, H2, A>, Dense<H2, OUT, B>));

/// Three hidden layers: `IN → H1 → H2 → H3 → OUT`.
pub type Mlp3<
    const IN: usize,
    const H1: usize,
    const H2: usize,
    const H3: usize,
    const OUT: usize,
    A,
    B = super::activation::Identity,
> = (Dense<IN, H1, A>, (Dense<H1, H2, A>, (Dense<H2, H3, A>, Dense<H3, OUT, B>)));
