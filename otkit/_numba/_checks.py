"""Argument checks of the Numba entry points: the same refusals, with the same messages, as the pybind11
bindings of otkit._ext (csrc/bind/*.cpp). The public functions validate first; these guard the raw entry
points, whose jitted loops would otherwise read or write out of bounds on a shape mismatch."""
import numpy as np


def need(ok, msg):
    if not ok:
        raise ValueError(msg)


def arrays(**named):
    """named: name=(array, ndim). Each must be a NumPy array of that many dimensions (as_carray's checks)."""
    for name, (x, ndim) in named.items():
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a NumPy array, got {type(x).__name__}")
        if x.ndim != ndim:
            raise ValueError(f"{name}: expected {ndim} dimensions, got {x.ndim}")


def bary_fixed(M, A, weights, reg, max_iter):
    arrays(M=(M, 2), A=(A, 2), weights=(weights, 1))
    d, N = A.shape
    need(M.shape == (d, d), "M must have shape (dim, dim) with dim = A.shape[0]")
    need(weights.shape[0] == N, "weights must have length A.shape[1]")
    need(reg > 0, "reg must be > 0")
    need(max_iter >= 1, "numItermax must be >= 1")


def bary_conv(A, weights, reg, max_iter):
    arrays(A=(A, 3), weights=(weights, 1))
    need(weights.shape[0] == A.shape[0], "weights must have length A.shape[0]")
    need(reg > 0, "reg must be > 0")
    need(max_iter >= 1, "numItermax must be >= 1")


def index(idx):
    if not isinstance(idx, np.ndarray) or idx.dtype != np.int64 or idx.ndim != 1:
        raise TypeError("idx: expected a C-contiguous 1-D int64 array")
