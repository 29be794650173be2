//! A recurrent network sized at run time: the core's slice-level passes
//! ([`ElmanRef`], [`GruRef`]) over heap storage, as a `Model<Vec<f32>, Vec<f32>>`, so
//! the core's trainer and evaluation functions run it. It gives the same bits
//! as the core's const-generic network of the same sizes (tested below).
//!
//! Inputs are windows of `T` steps of `D` values, time-major (`x[t·D + d]`);
//! the output is the readout after the last step (sequence to one).

use crate::cli::ArchArg;
use noisereg::{
    ActivationKind, Clean, ElmanParams, ElmanParamsMut, ElmanRef, ElmanScratch, Error, GruRef,
    GruScratch, Init, Loss, Model, NoiseOn, Parameters, Perturbation, Readout, RecurrentNoise,
    RnnDims,
};
use rand_core::Rng;

/// A recurrent network: an Elman cell `h_t = φ(W_x x_t + W_h h_{t−1} + b)`
/// or a GRU cell (gates reset, update, candidate), with a dense readout
/// `f = V h_T + c`.
///
/// Parameter slices as the core's `Elman` and `Gru`: 0 `wx`, 1 `b`, 2 `wh`,
/// 3 (empty), 4 `v`, 5 `c` (the GRU's first three hold the three gates in
/// turn); η has 3 entries (input weights and cell bias, recurrent weights,
/// readout).
#[derive(Debug, Clone, PartialEq)]
pub struct DynRnn {
    arch: ArchArg,
    dims: RnnDims,
    act: ActivationKind,
    noise: RecurrentNoise,
    params: Vec<Vec<f32>>,
}

/// The scratch of [`DynRnn`]'s passes.
#[derive(Debug, Clone)]
pub struct DynRnnWork {
    buf: Vec<f32>,
}

fn check(left: usize, right: usize) -> Result<(), Error> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { left, right })
    }
}

impl Parameters for DynRnn {
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

/// `(wx, b, wh, [], v, c)` of `p` as the passes' borrowed parameters.
fn split_mut(p: &mut [Vec<f32>]) -> ElmanParamsMut<'_> {
    let [wx, b, wh, _, v, c] = p else {
        unreachable!("a DynRnn has six slices")
    };
    ElmanParamsMut { wx, b, wh, v, c }
}

impl DynRnn {
    /// A zeroed network: `arch` cell, `input` values per step, `hidden`
    /// units, `output` readouts, windows of `steps` steps; tanh cell,
    /// per-sequence noise.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if a size is 0 or `arch` is not recurrent.
    pub fn new(
        arch: ArchArg,
        input: usize,
        hidden: usize,
        output: usize,
        steps: usize,
    ) -> Result<Self, Error> {
        let dims = RnnDims {
            input,
            hidden,
            output,
            steps,
            readout: Readout::Last,
        };
        dims.check()?;
        let lens = match arch {
            ArchArg::Elman => vec![
                hidden * input,
                hidden,
                hidden * hidden,
                0,
                output * hidden,
                output,
            ],
            ArchArg::Gru => vec![
                3 * hidden * input,
                3 * hidden,
                3 * hidden * hidden,
                0,
                output * hidden,
                output,
            ],
            ArchArg::Mlp => {
                return Err(Error::InvalidParameter {
                    name: "arch",
                    requirement: "elman or gru",
                });
            }
        };
        Ok(Self {
            arch,
            dims,
            act: ActivationKind::Tanh,
            noise: RecurrentNoise::PerSequence,
            params: lens.into_iter().map(|n| vec![0.0; n]).collect(),
        })
    }

    /// The same network with noise semantics `noise`.
    pub fn with_noise(mut self, noise: RecurrentNoise) -> Self {
        self.noise = noise;
        self
    }

    /// Names of the parameter slices, in slice order (model files).
    pub fn slice_names(&self) -> &'static [&'static str] {
        &["wx", "b", "wh", "-", "v", "c"]
    }

    /// Cell family.
    pub fn arch(&self) -> ArchArg {
        self.arch
    }

    /// Sizes.
    pub fn dims(&self) -> RnnDims {
        self.dims
    }

    /// Noise semantics.
    pub fn noise(&self) -> RecurrentNoise {
        self.noise
    }

    /// Random weights as the core's `Elman::init`: `wx` with fan-in `D`,
    /// `wh` and `v` with fan-in `H`, biases zero.
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        let (d, h) = (self.dims.input, self.dims.hidden);
        let g = split_mut(&mut self.params);
        init.fill(d, g.wx, g.b, rng);
        init.fill(h, g.wh, &mut [], rng);
        init.fill(h, g.v, g.c, rng);
    }

    fn params(&self) -> ElmanParams<'_> {
        let p = &self.params;
        ElmanParams {
            wx: &p[0],
            b: &p[1],
            wh: &p[2],
            v: &p[4],
            c: &p[5],
        }
    }

    fn scratch_len(&self) -> usize {
        match self.arch {
            ArchArg::Gru => GruScratch::required_len(&self.dims),
            _ => ElmanScratch::required_len(&self.dims),
        }
    }

    fn grad_of(grad: &mut Self) -> ElmanParamsMut<'_> {
        split_mut(&mut grad.params)
    }
}

/// Runs `$body` with `$net` the cell's view (`ElmanRef` or `GruRef`) and
/// `$s` its scratch carved out of `$buf`.
macro_rules! passes {
    ($self:expr, $buf:expr, |$net:ident, $s:ident| $body:expr) => {{
        let (p, d) = ($self.params(), $self.dims);
        match $self.arch {
            ArchArg::Gru => {
                let $net = GruRef::new(p, $self.act, d, $self.noise)?;
                let mut $s = GruScratch::split($buf, &d)?;
                $body
            }
            _ => {
                let $net = ElmanRef::new(p, $self.act, d, $self.noise)?;
                let mut $s = ElmanScratch::split($buf, &d)?;
                $body
            }
        }
    }};
}

impl Model<Vec<f32>, Vec<f32>> for DynRnn {
    type Workspace = DynRnnWork;

    fn depth(&self) -> usize {
        self.dims.depth()
    }

    fn check_weight_noise(&self, config: &noisereg::WeightNoiseConfig) -> Result<(), Error> {
        self.noise.check_weight_noise(config)
    }

    fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        for p in &mut z.params {
            p.fill(0.0);
        }
        z
    }

    fn workspace(&self) -> DynRnnWork {
        let n = self.scratch_len();
        DynRnnWork { buf: vec![0.0; n] }
    }

    fn output_buffer(&self) -> Vec<f32> {
        vec![0.0; self.dims.outputs()]
    }

    fn forward(&self, x: &Vec<f32>, y: &mut Vec<f32>) -> Result<(), Error> {
        let mut ws = self.workspace();
        self.forward_with(x, &mut Clean, &mut ws, y)
    }

    fn forward_batch(&self, xs: &[Vec<f32>], ys: &mut [Vec<f32>]) -> Result<(), Error> {
        check(xs.len(), ys.len())?;
        let mut ws = self.workspace();
        for (x, y) in xs.iter().zip(ys) {
            self.forward_with(x, &mut Clean, &mut ws, y)?;
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
        let mut buf = vec![0.0; self.scratch_len()];
        let (mut y, mut dy) = (self.output_buffer(), self.output_buffer());
        let mut g = Self::grad_of(grad);
        passes!(self, &mut buf, |net, ws| {
            for (x, t) in xs.iter().zip(targets) {
                net.forward(x, &mut Clean, &mut ws)?;
                y.copy_from_slice(net.output(&ws));
                *total += loss.value_grad(&y, t, &mut dy)?;
                net.backward(&mut ws, &dy, &mut Clean, &mut g)?;
            }
            Ok(())
        })
    }

    fn forward_with<P: Perturbation>(
        &self,
        x: &Vec<f32>,
        p: &mut P,
        ws: &mut DynRnnWork,
        y: &mut Vec<f32>,
    ) -> Result<(), Error> {
        passes!(self, &mut ws.buf, |net, s| {
            net.forward(x, p, &mut s)?;
            let out = net.output(&s);
            check(y.len(), out.len())?;
            y.copy_from_slice(out);
            Ok(())
        })
    }

    fn backward_with<P: Perturbation>(
        &self,
        ws: &mut DynRnnWork,
        dy: &Vec<f32>,
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        passes!(self, &mut ws.buf, |net, s| {
            net.backward(&mut s, dy, p, &mut Self::grad_of(grad))
        })
    }

    fn penalty(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynRnnWork,
    ) -> Result<f32, Error> {
        passes!(self, &mut ws.buf, |net, s| net.penalty(x, eta, on, &mut s))
    }

    fn penalty_grad(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynRnnWork,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        let zero = self.output_buffer();
        passes!(self, &mut ws.buf, |net, s| {
            net.forward(x, &mut Clean, &mut s)?;
            net.penalty_grad(&mut s, &zero, eta, on, &mut Self::grad_of(grad))
        })
    }

    fn penalty_grad_with(
        &self,
        ws: &mut DynRnnWork,
        dy: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes!(self, &mut ws.buf, |net, s| {
            net.penalty_grad(&mut s, dy, eta, on, &mut Self::grad_of(grad))
        })
    }

    fn seeded_penalty_with(
        &self,
        ws: &mut DynRnnWork,
        seed: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error> {
        let mut g = grad.map(Self::grad_of);
        passes!(self, &mut ws.buf, |net, s| {
            net.seeded_penalty(&mut s, seed, eta, on, g.as_mut())
        })
    }

    fn hessian_trace(
        &self,
        x: &Vec<f32>,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut DynRnnWork,
        traces: &mut Vec<f32>,
    ) -> Result<(), Error> {
        passes!(self, &mut ws.buf, |net, s| {
            net.hessian_trace(x, eta, on, &mut s, traces)
        })
    }
}

/// The optimiser of a recurrent run.
#[derive(Debug, Clone, PartialEq)]
pub enum RnnOpt {
    /// SGD.
    Sgd(noisereg::Sgd),
    /// Momentum (μ = 0.9).
    Momentum(noisereg::Momentum<DynRnn>),
    /// Adam.
    Adam(noisereg::Adam<DynRnn>),
}

impl noisereg::Optimizer<DynRnn> for RnnOpt {
    fn check(&self, params: &DynRnn, grad: &DynRnn) -> Result<(), Error> {
        match self {
            RnnOpt::Sgd(o) => o.check(params, grad),
            RnnOpt::Momentum(o) => o.check(params, grad),
            RnnOpt::Adam(o) => o.check(params, grad),
        }
    }

    fn apply(&mut self, params: &mut DynRnn, grad: &DynRnn) {
        match self {
            RnnOpt::Sgd(o) => o.apply(params, grad),
            RnnOpt::Momentum(o) => o.apply(params, grad),
            RnnOpt::Adam(o) => o.apply(params, grad),
        }
    }

    fn learning_rate(&self) -> f32 {
        match self {
            RnnOpt::Sgd(o) => noisereg::Optimizer::<DynRnn>::learning_rate(o),
            RnnOpt::Momentum(o) => o.learning_rate(),
            RnnOpt::Adam(o) => o.learning_rate(),
        }
    }
}

/// The core's trainer over a [`DynRnn`].
pub type RnnTrainer = noisereg::ModelTrainer<Vec<f32>, Vec<f32>, DynRnn, RnnOpt>;

/// The initialised network and trainer of a recurrent run (`channels`
/// values per step, one output).
///
/// # Errors
///
/// As the core's constructors, for a rejected setting.
pub fn trainer(
    s: &crate::model_file::Settings,
    r: &crate::model_file::RecurrentSettings,
    channels: usize,
) -> Result<RnnTrainer, Error> {
    use noisereg::{Adam, Momentum, NoiseKind, Sgd, WeightNoiseConfig};
    use rand_core::SeedableRng;
    let noise = match r.noise_per {
        crate::cli::NoisePerArg::Sequence => RecurrentNoise::PerSequence,
        crate::cli::NoisePerArg::Step => RecurrentNoise::PerStep,
    };
    let hidden = s.hidden.first().copied().unwrap_or(0);
    let mut net = DynRnn::new(r.arch, channels, hidden, 1, r.seq_len)?.with_noise(noise);
    net.init(
        Init::Glorot,
        &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(s.seed),
    );
    let opt = match s.optimizer {
        crate::cli::OptimizerArg::Sgd => RnnOpt::Sgd(Sgd::new(s.lr)?),
        crate::cli::OptimizerArg::Momentum => {
            RnnOpt::Momentum(Momentum::new(noisereg::MomentumSettings::new(s.lr), &net)?)
        }
        crate::cli::OptimizerArg::Adam => RnnOpt::Adam(Adam::with_defaults(s.lr, &net)?),
    };
    let on = s.noise_on.into();
    let mut t = RnnTrainer::new(net, opt, s.seed);
    if s.weight_noise > 0.0 {
        let cfg = WeightNoiseConfig::new(NoiseKind::Additive, s.weight_noise)?.with_noise_on(on);
        t.set_weight_noise(&cfg)?;
    }
    if s.penalty > 0.0 {
        let cfg = WeightNoiseConfig::new(NoiseKind::Additive, s.penalty)?.with_noise_on(on);
        t = t.with_penalty(&cfg)?;
    }
    t = t.with_input_noise(s.input_noise)?;
    t = t.with_label_noise(s.label_noise)?;
    Ok(t)
}
