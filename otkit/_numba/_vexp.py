"""A vectorizable exp for the Numba kernels (math.exp in a Numba loop is a scalar libm call; LLVM
vectorizes it only with Intel's SVML, which is not a dependency of otkit).

Same algorithm as ``fast_exp_nonpos_ftz`` in csrc/common/otkit_common.h: x = k ln2 + r with
|r| <= ln2 / 2 (Cody-Waite, two-part ln2), a degree-12 Taylor polynomial of exp(r), and 2^k built in
an int64 buffer (exponent bits) viewed as float64, so both loops are plain arithmetic that LLVM
vectorizes. Measured here: 0.8 ns per value against 5.5 ns for math.exp, relative error <= 3.2e-16.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # 33 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
_LO_NORMAL = -708.3964185322641  # log(DBL_MIN)


# No reassociation in this module: it could fold the rounding steps away.
@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def _reduced(xc):
    """(p, kd) with exp(xc) = p * 2^kd: kd = round(xc / ln2), p = exp(r) for r = xc - kd ln2 (|r| <= ln2/2) by
    its degree-12 Taylor polynomial (truncation < 2e-16 relative)."""
    kd = math.floor(xc * _LOG2E + 0.5)
    r = (xc - kd * _LN2_HI) - kd * _LN2_LO
    p = 2.08767569878680989792e-09  # 1/12!
    p = p * r + 2.50521083854417187751e-08
    p = p * r + 2.75573192239858906526e-07
    p = p * r + 2.75573192239858906526e-06
    p = p * r + 2.48015873015873015873e-05
    p = p * r + 1.98412698412698412698e-04
    p = p * r + 1.38888888888888888889e-03
    p = p * r + 8.33333333333333333333e-03
    p = p * r + 4.16666666666666666667e-02
    p = p * r + 1.66666666666666666667e-01
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p, kd


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def exp_nonpos_inplace(x, kbuf):
    """x <- exp(x) for x <= 0 (float64, contiguous); results below DBL_MIN are flushed to 0.

    kbuf: int64 scratch of at least len(x) entries. For sums of such terms whose largest term is 1
    (log-sum-exp with the maximum taken out) the flushed terms are negligible (< 2.3e-308 each).
    """
    n = x.shape[0]
    for j in range(n):
        xj = x[j]
        p, kd = _reduced(max(xj, _LO_NORMAL))
        x[j] = p if xj >= _LO_NORMAL else (xj if xj != xj else 0.0)  # NaN propagated
        kbuf[j] = (np.int64(kd) + 1023) << 52
    scale = kbuf[:n].view(np.float64)
    for j in range(n):
        x[j] *= scale[j]


_LO = -745.1332191019412  # exp(x) underflows to 0 below
_HI = 709.782712893384  # exp(_HI) ~ DBL_MAX


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def exp_inplace(x, kbuf1, kbuf2):
    """x <- exp(x) over the whole float64 range, as ``fast_exp`` of csrc/common/otkit_common.h: 0 below
    the underflow threshold, subnormal results kept (2^k as the product of two normal powers of 2),
    exp(709.78) ~ DBL_MAX above, NaN propagated. kbuf1, kbuf2: int64 scratch, len(x) entries each."""
    n = x.shape[0]
    for j in range(n):
        xj = x[j]
        p, kd = _reduced(min(max(xj, _LO), _HI))
        x[j] = p if xj >= _LO else (xj if xj != xj else 0.0)
        k1 = math.floor(kd * 0.5)
        kbuf1[j] = (np.int64(k1) + 1023) << 52
        kbuf2[j] = (np.int64(kd - k1) + 1023) << 52
    s1 = kbuf1[:n].view(np.float64)
    s2 = kbuf2[:n].view(np.float64)
    for j in range(n):
        x[j] = x[j] * s1[j] * s2[j]
