#!/usr/bin/env python3
"""Minimax (Remez) fits of the sampler's polynomials (math/box_muller.rs).

Run: python3 coefficients.py   (needs mpmath, ~30 s). Minimises the relative
error in exact arithmetic and prints the coefficients as Rust constants.
`python3 coefficients.py fast` prints those of ../sampler/fast.rs instead.
"""
import struct
import sys

import mpmath as mp

mp.mp.dps = 40


def remez(target, basis, weight, a, b, n_grid=6000, iters=30):
    """Coefficients c minimising max |weight(x)·(target(x) − Σ c_j basis_j(x))|."""
    n = len(basis)
    grid = [a + (b - a) * (1 - mp.cos(mp.pi * i / (n_grid - 1))) / 2 for i in range(n_grid)]
    # Chebyshev-like initial reference of n + 1 points.
    ref = [a + (b - a) * (1 - mp.cos(mp.pi * (i + 0.5) / (n + 1))) / 2 for i in range(n + 1)]
    best = None
    for _ in range(iters):
        A = mp.matrix(n + 1, n + 1)
        y = mp.matrix(n + 1, 1)
        for i, x in enumerate(ref):
            for j, f in enumerate(basis):
                A[i, j] = f(x)
            A[i, n] = (-1) ** i / weight(x)
            y[i] = target(x)
        sol = mp.lu_solve(A, y)
        c = [sol[j] for j in range(n)]
        err = [weight(x) * (target(x) - sum(cj * f(x) for cj, f in zip(c, basis))) for x in grid]
        # Local extrema of the error, alternating in sign.
        ext = []
        for i in range(n_grid):
            left = err[i - 1] if i > 0 else None
            right = err[i + 1] if i < n_grid - 1 else None
            e = err[i]
            if (left is None or abs(e) >= abs(left)) and (right is None or abs(e) >= abs(right)):
                ext.append(i)
        alt = []
        for i in ext:
            if alt and mp.sign(err[i]) == mp.sign(err[alt[-1]]):
                if abs(err[i]) > abs(err[alt[-1]]):
                    alt[-1] = i
            else:
                alt.append(i)
        while len(alt) > n + 1:
            if abs(err[alt[0]]) < abs(err[alt[-1]]):
                alt.pop(0)
            else:
                alt.pop()
        m = max(abs(e) for e in err)
        best = (c, m)
        if len(alt) < n + 1:
            break
        ref = [grid[i] for i in alt]
    return best


def f32_literal(x):
    """Shortest decimal that rounds to the same f32 as x."""
    target = struct.unpack("f", struct.pack("f", float(x)))[0]
    for digits in range(1, 10):
        text = f"{target:.{digits}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == target:
            return text
    return repr(target)


def show(name, c, m):
    print(f"// {name}: max relative error {float(m):.3e}")
    for j, cj in enumerate(c):
        print(f"const {name}{j}: f32 = {f32_literal(cj)};")


def fast():
    """Shorter fits for `fill_normal_fast` (sampler/fast.rs): no division, half-turn sin/cos."""
    lo, hi = mp.sqrt(2) / 2 - 1, mp.sqrt(2) - 1
    # −2·ln(1 + f) = f·(L0 + L1·f + … + L6·f⁶), f ∈ [√2/2 − 1, √2 − 1].
    g = lambda x: -2 * mp.log1p(x) / x if x != 0 else mp.mpf(-2)
    basis = [(lambda k: (lambda x: x ** k))(j) for j in range(7)]
    c, m = remez(g, basis, lambda x: 1 / abs(g(x)), lo, hi, n_grid=2000)
    show("L", c, m)
    tiny = mp.mpf("1e-20")
    # sin(πy) = y·(S0 + S1·y² + S2·y⁴ + S3·y⁶), |y| ≤ ½ (relative error).
    basis = [(lambda k: (lambda x: x ** k))(2 * j + 1) for j in range(4)]
    c, m = remez(lambda x: mp.sin(mp.pi * x), basis, lambda x: 1 / mp.sin(mp.pi * x), tiny, mp.mpf(1) / 2, n_grid=2000)
    show("S", c, m)
    # cos(πy) = 1 + C0·y² + C1·y⁴ + C2·y⁶ + C3·y⁸, |y| ≤ ½ (absolute error:
    # cos πy → 0 at y = ½).
    basis = [(lambda k: (lambda x: x ** k))(2 * j + 2) for j in range(4)]
    c, m = remez(lambda x: mp.cos(mp.pi * x) - 1, basis, lambda x: 1, mp.mpf(0), mp.mpf(1) / 2, n_grid=2000)
    print("// (absolute error for C)")
    show("C", c, m)


if __name__ == "__main__" and sys.argv[1:] == ["fast"]:
    fast()
elif __name__ == "__main__":
    tiny = mp.mpf("1e-20")
    # ln m = 2·atanh(s), |s| ≤ 3 − 2√2: atanh(s) = s + s³·(c1 + c2·s² + c3·s⁴).
    basis = [(lambda k: (lambda x: x ** k))(2 * j + 3) for j in range(3)]
    c, m = remez(lambda x: mp.atanh(x) - x, basis, lambda x: 1 / mp.atanh(x), tiny, 3 - 2 * mp.sqrt(2), n_grid=2000)
    show("ATANH_C", c, m)
    # sin((π/2)·y) = y·(S0 + S1·y² + S2·y⁴ + S3·y⁶), |y| ≤ ½.
    h = mp.pi / 2
    basis = [(lambda k: (lambda x: x ** k))(2 * j + 1) for j in range(4)]
    c, m = remez(lambda x: mp.sin(h * x), basis, lambda x: 1 / mp.sin(h * x), tiny, mp.mpf(1) / 2, n_grid=2000)
    show("S", c, m)
    # cos((π/2)·y) = 1 + C0·y² + C1·y⁴ + C2·y⁶ + C3·y⁸, |y| ≤ ½.
    basis = [(lambda k: (lambda x: x ** k))(2 * j + 2) for j in range(4)]
    c, m = remez(lambda x: mp.cos(h * x) - 1, basis, lambda x: 1 / mp.cos(h * x), mp.mpf(0), mp.mpf(1) / 2, n_grid=2000)
    show("C", c, m)
