//! `DynMlp` against the const-generic networks, bit for bit.

use super::*;
use noisereg::{BLOCK, Clean, Model, NoiseOn};
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
        let (xv, dyv) = (x.to_vec(), dy.to_vec());
        // Clean forward.
        let (mut y1, mut y2) = ([0.0; OUT], vec![0.0; OUT]);
        net.forward(&x, &mut y1).unwrap();
        dynn.forward(&xv, &mut y2).unwrap();
        assert_eq!(y1.map(f32::to_bits).to_vec(), bits(&y2));
        // Noisy forward and backward through the core's WeightNoise.
        let (mut n1, mut n2) = (WeightNoise::new(&cfg, s), WeightNoise::new(&cfg, s));
        n1.next_draw();
        n2.next_draw();
        let (mut c1, mut c2) = (net.workspace(), dynn.workspace());
        net.forward_with(&x, &mut n1, &mut c1, &mut y1).unwrap();
        dynn.forward_with(&xv, &mut n2, &mut c2, &mut y2).unwrap();
        assert_eq!(y1.map(f32::to_bits).to_vec(), bits(&y2), "noisy forward");
        let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
        net.backward_with(&mut c1, &dy, &mut n1, &mut g1).unwrap();
        dynn.backward_with(&mut c2, &dyv, &mut n2, &mut g2).unwrap();
        assert_same_params(&g1, &g2);
        // Penalty, its gradient with the loss folded in, and the trace.
        let p1 = net.penalty(&x, &eta, on, &mut c1).unwrap();
        let p2 = dynn.penalty(&xv, &eta, on, &mut c2).unwrap();
        assert_eq!(p1.to_bits(), p2.to_bits(), "penalty");
        let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
        let v1 = net
            .loss_penalty_grad(&HalfSquaredError, &x, &dy, &eta, on, &mut c1, &mut g1)
            .unwrap();
        let mut dy2 = vec![0.0; OUT];
        dynn.forward_with(&xv, &mut Clean, &mut c2, &mut y2)
            .unwrap();
        let l2 = HalfSquaredError.value_grad(&y2, &dy[..], &mut dy2).unwrap();
        dynn.penalty_grad_with(&mut c2, &dy2, &eta, on, &mut g2)
            .unwrap();
        assert_eq!(v1.loss.to_bits(), l2.to_bits());
        assert_same_params(&g1, &g2);
        let (mut t1, mut t2) = ([0.0; OUT], vec![0.0; OUT]);
        net.hessian_trace(&x, &eta, on, &mut c1, &mut t1).unwrap();
        dynn.hessian_trace(&xv, &eta, on, &mut c2, &mut t2).unwrap();
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
    dynn.forward_batch(&xv, &mut ys2).unwrap();
    for (a, b) in ys1.iter().zip(&ys2) {
        assert_eq!(a.map(f32::to_bits).to_vec(), bits(b), "forward_batch");
    }
    let (mut g1, mut g2) = (N::zeroed(), dynn.zeros_like());
    let (mut l1, mut l2) = (0.0f32, 0.0f32);
    Model::loss_grad_sum(net, &HalfSquaredError, &xs, &ts, &mut g1, &mut l1).unwrap();
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
    let mut y = vec![0.0];
    assert!(d.forward(&vec![1.0], &mut y).is_err());
    let mut c = d.workspace();
    assert!(
        d.penalty(&vec![1.0, 2.0], &[0.1], NoiseOn::Weights, &mut c)
            .is_err()
    );
    // A cache or gradient of another network is an error, never a panic,
    // and leaves the gradient unchanged.
    let other = DynMlp::mlp(2, &[4], 1, ActivationKind::Tanh).unwrap();
    d.forward_with(&vec![1.0, 2.0], &mut Clean, &mut c, &mut y)
        .unwrap();
    let mut g = other.zeros_like();
    assert!(
        d.backward_with(&mut c, &vec![1.0], &mut Clean, &mut g)
            .is_err()
    );
    let eta = [0.1, 0.1];
    assert!(
        d.penalty_grad_with(&mut c, &vec![1.0], &eta, NoiseOn::Weights, &mut g)
            .is_err()
    );
    assert_eq!(g, other.zeros_like());
    let mut oc = other.workspace();
    assert!(
        d.forward_with(&vec![1.0, 2.0], &mut Clean, &mut oc, &mut y)
            .is_err()
    );
    assert!(
        d.hessian_trace(&vec![1.0, 2.0], &eta, NoiseOn::Weights, &mut oc, &mut y)
            .is_err()
    );
}
