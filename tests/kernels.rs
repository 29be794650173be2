//! The vector kernels against an f64 reference and against their scalar twins.

use noisereg::{
    Error, axpy, axpy_scalar, dot, dot_scalar, scale, scale_scalar, sq_norm, sq_norm_scalar,
};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

/// Unit roundoff of f32.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// Worst-case rounding steps one term of the blocked reduction can see: one per
/// block (at least 32 elements per block) plus the tail, tree and final adds.
fn blocked_steps(n: usize) -> f64 {
    (n / 32 + 16) as f64
}

fn random_vec(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| (rng.next_u32() >> 8) as f32 / 16_777_216.0 * 4.0 - 2.0)
        .collect()
}

fn sq_norm_f64(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

fn dot_f64(x: &[f32], y: &[f32]) -> (f64, f64) {
    let exact = x
        .iter()
        .zip(y)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let magnitude = x
        .iter()
        .zip(y)
        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
        .sum();
    (exact, magnitude)
}

fn check_sq_norm(x: &[f32]) {
    let exact = sq_norm_f64(x);
    let simd = f64::from(sq_norm(x));
    let scalar = f64::from(sq_norm_scalar(x));
    let n = x.len();
    assert!(
        (simd - exact).abs() <= blocked_steps(n) * U * exact,
        "sq_norm n={n}: {simd} vs {exact}"
    );
    assert!(
        (scalar - exact).abs() <= (n + 1) as f64 * U * exact,
        "sq_norm_scalar n={n}: {scalar} vs {exact}"
    );
}

fn check_dot(x: &[f32], y: &[f32]) {
    let (exact, magnitude) = dot_f64(x, y);
    let simd = f64::from(dot(x, y).unwrap());
    let scalar = f64::from(dot_scalar(x, y).unwrap());
    let n = x.len();
    assert!(
        (simd - exact).abs() <= blocked_steps(n) * U * magnitude,
        "dot n={n}: {simd} vs {exact}"
    );
    assert!(
        (scalar - exact).abs() <= (n + 1) as f64 * U * magnitude,
        "dot_scalar n={n}: {scalar} vs {exact}"
    );
}

#[test]
fn reductions_match_f64_for_every_short_length_and_offset() {
    let buf_x = random_vec(1, 40);
    let buf_y = random_vec(2, 40);
    for offset in [0, 1, 3, 5] {
        for n in 0..=33 {
            let x = &buf_x[offset..offset + n];
            let y = &buf_y[offset..offset + n];
            check_sq_norm(x);
            check_dot(x, y);
        }
    }
}

#[test]
fn reductions_match_f64_at_a_million_elements() {
    let x = random_vec(3, 1_000_000);
    let y = random_vec(4, 1_000_000);
    check_sq_norm(&x);
    check_dot(&x, &y);
    let exact = sq_norm_f64(&x);
    let simd = (f64::from(sq_norm(&x)) - exact).abs() / exact;
    let scalar = (f64::from(sq_norm_scalar(&x)) - exact).abs() / exact;
    // Measured 2.6e-6 against 3.6e-4 for the sequential loop.
    assert!(
        simd <= 1e-5 && simd * 10.0 < scalar,
        "simd {simd:e}, scalar {scalar:e}"
    );
}

#[test]
fn reductions_are_deterministic_and_empty_input_is_zero() {
    let x = random_vec(5, 4099);
    assert_eq!(sq_norm(&x).to_bits(), sq_norm(&x).to_bits());
    assert_eq!(sq_norm(&[]), 0.0);
    assert_eq!(dot(&[], &[]), Ok(0.0));
    assert_eq!(sq_norm_scalar(&[]), 0.0);
}

#[test]
fn reductions_handle_edge_values() {
    // Subnormals square to zero; signed zeros give +0.
    let tiny = [f32::from_bits(1); 37];
    assert_eq!(sq_norm(&tiny), 0.0);
    assert_eq!(sq_norm(&[-0.0; 19]).to_bits(), 0.0f32.to_bits());
    // Overflow saturates to +inf; NaN and infinities propagate anywhere.
    assert_eq!(sq_norm(&[1e20; 9]), f32::INFINITY);
    for pos in [0, 7, 8, 31, 32, 40] {
        let mut x = vec![0.5f32; 41];
        x[pos] = f32::NAN;
        assert!(sq_norm(&x).is_nan(), "NaN at {pos}");
        assert!(dot(&x, &x).unwrap().is_nan(), "NaN at {pos}");
        x[pos] = f32::INFINITY;
        assert_eq!(sq_norm(&x), f32::INFINITY, "inf at {pos}");
        let mut y = vec![1.0f32; 41];
        y[pos] = -1.0;
        assert_eq!(dot(&x, &y), Ok(f32::NEG_INFINITY), "-inf at {pos}");
    }
    // Largest finite values whose squares still fit.
    let big = [1.0e19f32; 3];
    let exact = 3.0 * f64::from(big[0]) * f64::from(big[0]);
    assert!((f64::from(sq_norm(&big)) - exact).abs() <= 4.0 * U * exact);
}

#[test]
fn mismatched_lengths_are_errors_and_leave_outputs_untouched() {
    let x = random_vec(6, 33);
    for (nx, ny) in [(33, 32), (0, 1), (8, 16), (17, 9)] {
        let expected = Err(Error::LengthMismatch {
            left: nx,
            right: ny,
        });
        assert_eq!(dot(&x[..nx], &x[..ny]), expected);
        assert_eq!(dot_scalar(&x[..nx], &x[..ny]), expected);
        let mut y = x[..ny].to_vec();
        assert_eq!(axpy(2.0, &x[..nx], &mut y), expected.map(|_| ()));
        assert_eq!(axpy_scalar(2.0, &x[..nx], &mut y), expected.map(|_| ()));
        assert_eq!(y, &x[..ny]);
    }
}

#[test]
fn elementwise_kernels_equal_their_scalar_twins_bit_for_bit() {
    let buf_x = random_vec(7, 70);
    let buf_y = random_vec(8, 70);
    for offset in [0, 1, 3] {
        for n in 0..=66 {
            let x = &buf_x[offset..offset + n];
            let mut simd = buf_y[offset..offset + n].to_vec();
            let mut twin = simd.clone();
            axpy(-1.7, x, &mut simd).unwrap();
            axpy_scalar(-1.7, x, &mut twin).unwrap();
            assert_eq!(bits(&simd), bits(&twin), "axpy n={n} offset={offset}");
            scale(0.3, &mut simd);
            scale_scalar(0.3, &mut twin);
            assert_eq!(bits(&simd), bits(&twin), "scale n={n} offset={offset}");
            // And both are the correctly rounded elementwise result.
            for (i, v) in twin.iter().enumerate() {
                let want = (buf_y[offset + i] + -1.7 * x[i]) * 0.3;
                assert_eq!(v.to_bits(), want.to_bits());
            }
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
