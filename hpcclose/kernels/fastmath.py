"""Scalar fast math for the Numba kernels: FMA, two vectorisable exps on one core, log1p, softplus.

libm's scalar ``exp``/``log1p`` are calls LLVM cannot vectorise, and they dominate the closures and the
ansatz. Everything here is branch-free (selects only), so loops over cells or nodes vectorise without
``fastmath``, and nothing allocates, so a numba-cuda port can reuse the functions as device functions.

exp: one core, two variants
---------------------------
Both exps are Tang's method with a Cody–Waite reduction: x = k ln2 + r with k = round(x/ln2) obtained by
adding ``SHIFT`` = 1.5·2⁵² (the integer lands in the low mantissa bits), r = (x − k·LN2_HI) − k·LN2_LO by
two FMAs (k·LN2_HI is exact for |k| < 2²⁰), e^r by its Taylor polynomial of degree 13 (truncation
< 5e−18 on |r| ≤ ln2/2) and 2^k assembled in the exponent bits of the same double. Constants, reduction,
coefficients and 2^k are shared; the variants differ in three places, and merging them would change
results in the last bit (they differ by ≤ 2 ulp on ≈ 40 % of arguments), so both remain:

* :func:`safe_exp` (the Newton sums, the network activations, the residuals): x·(1/ln2) + SHIFT rounded
  twice, the polynomial by Estrin's scheme (a short dependency chain for the latency-bound Newton lanes),
  0 below −708 (NaN too), no clamp above: callers keep x ≤ 709 (Newton rejects exponents above 500).
* :func:`exp_row` / :func:`exp_inplace` (the flux's nodal values): fma(x, 1/ln2, SHIFT) rounded once
  (k may differ by one at x ≈ (n + ½) ln2), the polynomial by Horner's rule (throughput-bound over long
  rows), full range: inf above 709, 0 below −708, NaN stays NaN.

Both are accurate to ≈ 2 ulp (max relative error ≈ 4.4e−16 against numpy).

log1p, softplus, sigmoid (the networks)
---------------------------------------
With e = exp(−|a|) (argument ≤ 0, never overflows) each neuron costs one exp:

    softplus(a) = max(a, 0) + log1p(e),      sigmoid(a) = softplus′(a) = (a ≥ 0 ? 1 : e) / (1 + e),

with log1p on [0, 1] by the fdlibm reduction (f ∈ [√½ − 1, √2 − 1], s = f/(2 + f), degree-14 minimax in
s, error < 1e−16 absolute).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from .jit import PARALLEL, SERIAL


# --- intrinsics -------------------------------------------------------------------------------------
@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c with one rounding (llvm.fma; a single instruction on FMA hardware)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _as_bits(typingctx, x):
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.uint64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, x):
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


# --- the exp core, shared by both variants -------------------------------------------------------------
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # trailing zeros: k·LN2_HI is exact for |k| < 2^20
LN2_LO = 1.90821492927058770002e-10
SHIFT = 6755399441055744.0  # 1.5·2^52: x + SHIFT rounds x to an integer held in the low bits
# Taylor coefficients 1/j!, j = 2 … 13
_C2, _C3, _C4, _C5, _C6, _C7 = 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040
_C8, _C9, _C10 = 1 / 40320, 1 / 362880, 1 / 3628800
_C11, _C12, _C13 = 1 / 39916800, 1 / 479001600, 1 / 6227020800


@njit(inline="always", **SERIAL)
def _reduce(x, t):
    """r = x − k ln2 for the k held in t = k + SHIFT (Cody–Waite, two FMAs)."""
    k = t - SHIFT
    r = fma(-k, LN2_HI, x)
    return fma(-k, LN2_LO, r)


@njit(inline="always", **SERIAL)
def _pow2(t):
    """2^k for the k held in the low bits of t = k + SHIFT (−1022 ≤ k ≤ 1023)."""
    return _from_bits((_as_bits(t) + np.uint64(1023)) << np.uint64(52))


@njit(inline="always", **SERIAL)
def _taylor_estrin(r):
    """Σ_{j ≤ 13} r^j / j! by Estrin's scheme (depth 5 instead of 13)."""
    r2 = r * r
    r4 = r2 * r2
    q0 = fma(r2, fma(r, _C3, _C2), r + 1.0)
    q1 = fma(r2, fma(r, _C7, _C6), fma(r, _C5, _C4))
    q2 = fma(r2, fma(r, _C11, _C10), fma(r, _C9, _C8))
    q3 = fma(r, _C13, _C12)
    return fma(r4 * r4, fma(r4, q3, q2), fma(r4, q1, q0))


@njit(inline="always", **SERIAL)
def _taylor_horner(r):
    """Σ_{j ≤ 13} r^j / j! by Horner's rule (13 FMAs)."""
    p = fma(_C13, r, _C12)
    p = fma(p, r, _C11)
    p = fma(p, r, _C10)
    p = fma(p, r, _C9)
    p = fma(p, r, _C8)
    p = fma(p, r, _C7)
    p = fma(p, r, _C6)
    p = fma(p, r, _C5)
    p = fma(p, r, _C4)
    p = fma(p, r, _C3)
    p = fma(p, r, _C2)
    p = fma(p, r, 1.0)
    return fma(p, r, 1.0)


# --- the two variants --------------------------------------------------------------------------------
@njit(**SERIAL)
def safe_exp(x):
    """exp(x) for x ≤ 709 to ≤ 2 ulp; 0 for x < −708 (and NaN). Branch-free, so loops over nodes vectorise.

    Callers keep x ≤ 709 (there is no overflow check). See the module docstring for the algorithm.
    """
    t = x * LOG2E + SHIFT
    p = _taylor_estrin(_reduce(x, t))
    return p * _pow2(t) if x >= -708.0 else 0.0


@njit(inline="always", **SERIAL)
def _exp_full_parts(xo):
    """(p, t) with exp(xo) = p · 2^k, k held in t: the full-range exp before its scale (inf above 709, 0
    below −708, NaN kept in p)."""
    xc = min(max(xo, -708.0), 709.0)
    t = fma(xc, LOG2E, SHIFT)
    p = _taylor_horner(_reduce(xc, t))
    p = np.inf if xo > 709.0 else p
    p = 0.0 if xo < -708.0 else p
    return (xo if xo != xo else p), t


@njit(inline="always", **SERIAL)
def exp_full(x):
    """exp(x) of one value, bitwise :func:`exp_row`'s (the GPU flux evaluates nodal values one by one)."""
    p, t = _exp_full_parts(x)
    return p * _pow2(t)


@njit(inline="always", **SERIAL)
def exp_row(x, scratch):
    """x ← exp(x) for a contiguous row, over the full range (inf above 709, 0 below −708, NaN kept);
    ``scratch`` is a float64 row of the same length.

    Two branch-free loops, each vectorised by LLVM: reduction + polynomial, then the scale 2^k.
    """
    Q = x.shape[0]
    for q in range(Q):
        x[q], scratch[q] = _exp_full_parts(x[q])
    for q in range(Q):
        x[q] *= _pow2(scratch[q])


@njit(**PARALLEL)
def exp_inplace(a):
    """Elementwise a ← exp(a) on a C-contiguous 2D array with :func:`exp_row` (parallel over rows)."""
    for i in prange(a.shape[0]):
        scratch = np.empty(a.shape[1])
        exp_row(a[i], scratch)
    return a


# --- log1p and the softplus activations ---------------------------------------------------------------
_SQRT2M1 = 0.41421356237309503
_LN2 = 0.6931471805599453
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6, _LG7 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01, \
    1.479819860511658591e-01


@njit(inline="always", **SERIAL)
def log1p_unit(e):
    """log(1 + e) for 0 ≤ e ≤ 1, branch-free (fdlibm reduction and minimax polynomial)."""
    big = e > _SQRT2M1
    f = (e - 1.0) * 0.5 if big else e
    k = _LN2 if big else 0.0
    s = f / (2.0 + f)
    z = s * s
    R = z * (_LG1 + z * (_LG2 + z * (_LG3 + z * (_LG4 + z * (_LG5 + z * (_LG6 + z * _LG7))))))
    hfsq = 0.5 * f * f
    return k + (f - (hfsq - s * (hfsq + R)))


@njit(inline="always", **SERIAL)
def softplus_sigmoid(a, e):
    """(softplus(a), sigmoid(a)) given e = exp(−|a|), from one division (shared by log1p's
    s = f/(2 + f) and the sigmoid 1/(1 + e): both come from 1/((2 + f)(1 + e)))."""
    big = e > _SQRT2M1
    f = (e - 1.0) * 0.5 if big else e
    k = _LN2 if big else 0.0
    t = 2.0 + f
    p = 1.0 + e
    inv = 1.0 / (t * p)
    s = f * p * inv
    sg = (1.0 if a >= 0.0 else e) * t * inv
    z = s * s
    w = z * z
    # odd and even coefficients in parallel (fdlibm's split), FMAs: a short dependency chain
    R = fma(z, fma(w, fma(w, fma(w, _LG7, _LG5), _LG3), _LG1), w * fma(w, fma(w, _LG6, _LG4), _LG2))
    hfsq = 0.5 * f * f
    sp = max(a, 0.0) + (k + (f - (hfsq - s * (hfsq + R))))
    return sp, sg


@njit(inline="always", **SERIAL)
def softplus(a):
    """log(1 + e^a) (one exp, one log1p)."""
    e = safe_exp(-abs(a))
    return max(a, 0.0) + log1p_unit(e)
