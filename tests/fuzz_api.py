"""Fuzzing otkit's public API (issue 20): each case builds a valid problem for one public function, then
(3 cases in 4) replaces one argument by a bad or unusual value (shapes, dtypes, orders and strides, NaN,
inf, huge, tiny and subnormal numbers, zeros, empty and 1-element inputs, out-of-range keywords), calls
the function and judges the outcome:

* a ValueError / TypeError whose message names the replaced argument: **clean error**;
* a result whose floats are finite, and equal to the reference (POT, scipy) on the equivalent clean
  problem when the replacement only changed the layout (lists, strides, Fortran order, integers):
  **answer**;
* a non-finite or unconverged result only with a warning that says so: **warned**;
* anything else (another exception, a message without the name, a silent NaN / inf, a wrong value):
  **failure**. Crashes and hangs are caught by running the cases in a worker process (``run_cases``).

The quick profile runs in the test suite (tests/test_fuzz_api.py); the long one by hand::

    python tests/fuzz_api.py --cases 100000 [--seed 0] [--jobs 2]

prints the count of each outcome, every failure, crash and hang, and exits 1 if there was any.
The cases draw from a ``Draw`` source: a seeded NumPy generator here, a hypothesis ``data`` object in the
tests (so that hypothesis can shrink a failing case).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
import warnings

import numpy as np

if importlib.util.find_spec("otkit") is None:  # run as a script from a source checkout: the checkout's otkit
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ----------------------------------------------------------------------------------------------------
# sources of choices


class RngDraw:
    """Choices from a seeded NumPy generator (the long profile)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def random(self, shape):
        return self.rng.random(shape)


class HypothesisDraw(RngDraw):
    """Choices from a hypothesis ``data`` object (``hst.data()``), so that failures shrink."""

    def __init__(self, data):
        from hypothesis import strategies as hst

        self.data, self.hst = data, hst
        super().__init__(data.draw(hst.integers(0, 2**32 - 1)))

    def choice(self, options):
        return options[self.data.draw(self.hst.integers(0, len(options) - 1))]

    def integer(self, lo, hi):
        return self.data.draw(self.hst.integers(lo, hi))


# ----------------------------------------------------------------------------------------------------
# bad and unusual values by kind of argument. "layout" replacements keep the values: the answer must not
# change. Each entry: (label, function of the valid value -> replacement, layout?)

def _strided(x):
    big = np.repeat(np.asarray(x)[..., None], 2, axis=-1)  # every value twice on a new last axis
    return big[..., 0]  # a view with strides, same values


def _poke(value):
    def f(x):
        x = np.array(x, dtype=float, copy=True)
        if x.size:
            x.flat[x.size // 2] = value
        return x
    return f


ARRAY_BAD = [
    ("list", lambda x: np.asarray(x).tolist(), True),
    ("strided", _strided, True),
    ("fortran", lambda x: np.asfortranarray(x), True),
    ("float32", lambda x: np.asarray(x, dtype=np.float32), False),
    ("float16", lambda x: np.asarray(x, dtype=np.float16), False),
    ("int", lambda x: np.rint(np.asarray(x) * 10).astype(np.int64), False),
    ("bool", lambda x: np.asarray(x) > 0.5, False),
    ("complex", lambda x: np.asarray(x) + 0j, False),
    ("object", lambda x: np.asarray(x, dtype=object), False),
    ("string", lambda x: "abc", False),
    ("none", lambda x: None, False),
    ("empty", lambda x: np.zeros((0,) * np.ndim(x)), False),
    ("one", lambda x: np.asarray(x)[(slice(0, 1),) * np.ndim(x)], False),
    ("short", lambda x: np.asarray(x)[:-1] if np.shape(x) and np.shape(x)[0] > 1 else np.asarray(x)[:0], False),
    ("ndim+1", lambda x: np.asarray(x)[None], False),
    ("ndim-1", lambda x: np.asarray(x).ravel()[0] if np.ndim(x) == 1 else np.asarray(x)[0], False),
    ("nan", _poke(np.nan), False),
    ("inf", _poke(np.inf), False),
    ("-inf", _poke(-np.inf), False),
    ("negative", _poke(-1.0), False),
    ("huge", _poke(1e300), False),
    ("-huge", _poke(-1e308), False),
    ("subnormal", _poke(1e-310), False),
    ("zeros", lambda x: np.zeros(np.shape(x)), False),
    ("scaled", lambda x: np.asarray(x) * 1e6, False),
]
SCALAR_BAD = [
    ("none", None), ("string", "0.1"), ("nan", np.nan), ("inf", np.inf), ("-inf", -np.inf), ("negative", -1.0),
    ("zero", 0.0), ("subnormal", 1e-310), ("tiny", 1e-200), ("huge", 1e300), ("array", np.array([0.1, 0.2])),
    ("bool", True), ("complex", 0.1 + 0j), ("int", 1), ("npfloat32", np.float32(0.5)),
]
INT_BAD = [
    ("none", None), ("string", "10"), ("nan", np.nan), ("inf", np.inf), ("negative", -1), ("zero", 0),
    ("fraction", 1.5), ("huge", 2**40), ("bool", True), ("float", 20.0), ("npint", np.int32(20)),
    ("array", np.array([3, 4])),
]
WARM_BAD = [  # functions of the problem's (n, m)
    ("one", lambda n, m: (np.zeros(n),)), ("three", lambda n, m: (np.zeros(n), np.zeros(m), np.zeros(m))),
    ("string", lambda n, m: "x"), ("inf", lambda n, m: (np.full(n, np.inf), np.zeros(m))),
    ("nan", lambda n, m: (np.zeros(n), np.full(m, np.nan))), ("huge", lambda n, m: (np.full(n, 1e6), np.zeros(m))),
    ("short", lambda n, m: (np.zeros(max(n - 1, 0)), np.zeros(m))), ("array", lambda n, m: np.zeros((2, n))),
    ("valid", lambda n, m: (np.zeros(n), np.zeros(m))), ("moderate", lambda n, m: (np.full(n, 3.0), np.full(m, -3.0))),
]
METHOD_BAD = [("unknown", "no_such_method"), ("none", None), ("int", 3), ("upper", "SINKHORN")]


# ----------------------------------------------------------------------------------------------------
# the functions and their valid problems


def _hist(draw, n):
    x = draw.random(n) + 0.05
    if n > 2 and draw.integer(0, 3) == 0:
        x[draw.integer(0, n - 1)] = 0.0  # a zero weight is valid
    return x / x.sum()


def _cost(draw, n, m):
    x, y = draw.random((n, 2)), draw.random((m, 2))
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1) * draw.choice([1.0, 10.0, 0.1])


def _sinkhorn_problem(draw):
    n, m = draw.integer(1, 7), draw.integer(1, 7)
    return dict(a=_hist(draw, n), b=_hist(draw, m), M=_cost(draw, n, m), reg=draw.choice([1.0, 0.5, 0.1]))


def _emd_sample_problem(draw):
    n, m = draw.integer(1, 6), draw.integer(1, 6)
    return dict(X_a=draw.random((n, 2)) * draw.choice([1.0, 10.0]), X_b=draw.random((m, 2)), a=_hist(draw, n),
                b=_hist(draw, m), metric=draw.choice(["sqeuclidean", "euclidean"]))


def _bary_problem(draw):
    d, N = draw.integer(2, 7), draw.integer(1, 3)
    x = np.linspace(0, 1, d)[:, None]
    A = draw.random((d, N)) + 0.05
    return dict(A=A / A.sum(0), M=(x - x.T) ** 2, reg=draw.choice([0.5, 0.1]))


def _pot():
    import ot

    return ot


def _ref_sinkhorn2(kw, method):
    return _pot().sinkhorn2(kw["a"], kw["b"], kw["M"], kw["reg"], method=method, numItermax=kw.get("numItermax", 1000),
                            stopThr=kw.get("stopThr", 1e-9))


class Spec:
    """One public function: ``build(draw)`` -> a valid keyword dict; ``kinds``: argument -> kind of bad values;
    ``ref(kw)``: the reference value of the valid problem (or None); ``call(kw)``: the call (keywords)."""

    def __init__(self, name, call, build, kinds, ref=None, rtol=1e-7, out=lambda r: r, skip=()):
        self.name, self.call, self.build, self.kinds, self.ref, self.rtol, self.out = name, call, build, kinds, ref, rtol, out
        self.skip = set(skip)  # labels of bad values that do not apply (e.g. a huge iteration count without tol)


def _specs():
    import otkit

    sk_kinds = dict(a="array", b="array", M="array", reg="scalar", numItermax="int", stopThr="scalar", method="method")
    specs = []
    for method in ("sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"):
        specs.append(Spec(
            f"sinkhorn2[{method}]",
            lambda kw, method=method: otkit.sinkhorn2(method=method, **kw) if "method" not in kw else otkit.sinkhorn2(**kw),
            lambda draw: dict(_sinkhorn_problem(draw), numItermax=draw.choice([50, 1000]), stopThr=1e-9),
            sk_kinds, ref=lambda kw, method=method: _ref_sinkhorn2(kw, method)))
    specs.append(Spec(
        "sinkhorn", lambda kw: otkit.sinkhorn(**kw), lambda draw: dict(_sinkhorn_problem(draw), numItermax=1000),
        sk_kinds, ref=lambda kw: _pot().sinkhorn(kw["a"], kw["b"], kw["M"], kw["reg"], numItermax=1000)))
    specs.append(Spec(
        "emd2", lambda kw: otkit.emd2(**kw),
        lambda draw: {k: v for k, v in _sinkhorn_problem(draw).items() if k != "reg"},
        dict(a="array", b="array", M="array", numItermax="int"),
        ref=lambda kw: _pot().emd2(kw["a"], kw["b"], kw["M"]), rtol=1e-9))
    specs.append(Spec(
        "emd", lambda kw: otkit.emd(**kw),
        lambda draw: {k: v for k, v in _sinkhorn_problem(draw).items() if k != "reg"},
        dict(a="array", b="array", M="array", numItermax="int"),
        ref=lambda kw: (_pot().emd(kw["a"], kw["b"], kw["M"]) * kw["M"]).sum(), rtol=1e-9))
    specs.append(Spec(
        "sinkhorn_unbalanced2", lambda kw: otkit.sinkhorn_unbalanced2(**kw),
        lambda draw: dict(_sinkhorn_problem(draw), reg_m=draw.choice([1.0, 10.0]), numItermax=1000),
        dict(a="array", b="array", M="array", reg="scalar", reg_m="scalar", numItermax="int", method="method"),
        ref=lambda kw: _pot().unbalanced.sinkhorn_unbalanced2(kw["a"], kw["b"], kw["M"], kw["reg"], kw["reg_m"],
                                                               numItermax=1000)))
    specs.append(Spec(
        "wasserstein_1d", lambda kw: otkit.wasserstein_1d(**kw),
        lambda draw: dict(u_values=draw.random(draw.integer(1, 8)), v_values=draw.random(draw.integer(1, 8)),
                          p=draw.choice([1, 2])),
        dict(u_values="array", v_values="array", p="scalar"),
        ref=lambda kw: _ref_w1d(kw), rtol=1e-9))
    for fn in ("emd_1d", "emd2_1d"):  # POT's functions of the same names are the references
        specs.append(Spec(
            fn, lambda kw, fn=fn: getattr(otkit, fn)(**kw),
            lambda draw: dict(x_a=draw.random(draw.integer(1, 8)), x_b=draw.random(draw.integer(1, 8))),
            dict(x_a="array", x_b="array"),
            ref=lambda kw, fn=fn: getattr(_pot(), fn)(kw["x_a"], kw["x_b"]), rtol=1e-9))
    specs.append(Spec(
        "wasserstein", lambda kw: otkit.wasserstein(**kw),
        lambda draw: dict(x_a=draw.random((draw.integer(1, 6), 2)), x_b=draw.random((draw.integer(1, 6), 2)), p=2),
        dict(x_a="array", x_b="array", p="scalar"),
        ref=lambda kw: np.sqrt(_pot().emd2([], [], _pot().dist(kw["x_a"], kw["x_b"]))), rtol=1e-9))
    specs.append(Spec(
        "barycenter", lambda kw: otkit.barycenter(**kw),
        lambda draw: dict(_bary_problem(draw), numItermax=100, stopThr=1e-6),
        dict(A="array", M="array", reg="scalar", numItermax="int", stopThr="scalar", method="method"),
        ref=lambda kw: _pot().barycenter(kw["A"], kw["M"], kw["reg"], numItermax=100, stopThr=1e-6)))
    specs.append(Spec(
        "convolutional_barycenter2d", lambda kw: otkit.convolutional_barycenter2d(**kw),
        lambda draw: dict(A=_images(draw), reg=draw.choice([0.05, 0.02]), numItermax=50, stopThr=1e-6),
        dict(A="array", reg="scalar", numItermax="int", stopThr="scalar", method="method"),
        ref=lambda kw: _pot().bregman.convolutional_barycenter2d(kw["A"], kw["reg"], numItermax=50, stopThr=1e-6)))
    specs.append(Spec(
        "dist", lambda kw: otkit.dist(**kw),
        lambda draw: dict(x1=draw.random((draw.integer(1, 5), 3)), x2=draw.random((draw.integer(1, 5), 3)),
                          metric=draw.choice(["sqeuclidean", "euclidean", "cityblock"])),
        dict(x1="array", x2="array", metric="method"),
        ref=lambda kw: _pot().dist(kw["x1"], kw["x2"], metric=kw["metric"]), rtol=1e-12))
    specs.append(Spec(
        "unif", lambda kw: otkit.unif(**kw), lambda draw: dict(n=draw.integer(1, 9)), dict(n="int"),
        ref=lambda kw: _pot().unif(kw["n"]), rtol=1e-15))
    specs.append(Spec(
        "solve_semi_dual_entropic", lambda kw: otkit.stochastic.solve_semi_dual_entropic(**kw),
        lambda draw: dict(_sinkhorn_problem(draw), numItermax=200, seed=0),
        dict(a="array", b="array", M="array", reg="scalar", numItermax="int", lr="scalar", method="method"),
        skip={"huge"}))  # no tol: numItermax = 2**40 asks for 2**40 steps
    specs.append(Spec(
        "sinkhorn_divergence", lambda kw: otkit.sinkhorn_divergence(**kw),
        lambda draw: _divergence_problem(draw),
        dict(a="array", b="array", M_ab="array", reg="scalar")))
    specs.append(Spec(
        "sinkhorn[warmstart]", lambda kw: otkit.sinkhorn2(**kw),
        lambda draw: dict(_sinkhorn_problem(draw), method=draw.choice(["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"]),
                          warmstart=None),
        dict(warmstart="warm")))
    specs.append(Spec(
        "empirical_sinkhorn_divergence", lambda kw: otkit.empirical_sinkhorn_divergence(**kw),
        lambda draw: dict(X_s=draw.random((draw.integer(1, 6), 2)), X_t=draw.random((draw.integer(1, 6), 2)),
                          reg=draw.choice([1.0, 0.5])),
        dict(X_s="array", X_t="array", reg="scalar"),
        ref=lambda kw: _pot().bregman.empirical_sinkhorn_divergence(kw["X_s"], kw["X_t"], kw["reg"]), rtol=1e-6))
    specs.append(Spec(
        "pairwise_sinkhorn2", lambda kw: otkit.pairwise_sinkhorn2(**kw),
        lambda draw: dict(_pairwise_problem(draw)),
        dict(A="array", B="array", M="array", reg="scalar", numItermax="int")))
    specs.append(Spec(
        "pairwise_emd2", lambda kw: otkit.pairwise_emd2(**kw),
        lambda draw: {k: v for k, v in _pairwise_problem(draw).items() if k != "reg"},
        dict(A="array", B="array", M="array", numItermax="int"),
        ref=lambda kw: np.array([[_pot().emd2(np.ascontiguousarray(kw["A"][:, i]), np.ascontiguousarray(kw["B"][:, j]),
                                              kw["M"]) for j in range(kw["B"].shape[1])] for i in range(kw["A"].shape[1])]),
        rtol=1e-9))
    specs.append(Spec(
        "plan_from_dual", lambda kw: otkit.stochastic.plan_from_dual(**kw),
        lambda draw: dict(_sinkhorn_problem(draw), v=None),
        dict(a="array", b="array", M="array", reg="scalar", v="array"),
        skip=set()))
    specs.append(Spec(
        "barycenter_debiased", lambda kw: otkit.barycenter_debiased(**kw),
        lambda draw: dict(_bary_problem(draw), numItermax=100, stopThr=1e-6),
        dict(A="array", M="array", reg="scalar", numItermax="int", stopThr="scalar"),
        ref=lambda kw: _pot().bregman.barycenter_debiased(kw["A"], kw["M"], kw["reg"], numItermax=100, stopThr=1e-6)))
    for method in ("sinkhorn", "sinkhorn_stabilized"):
        specs.append(Spec(
            f"barycenter_unbalanced[{method}]",
            lambda kw, method=method: otkit.barycenter_unbalanced(**dict(dict(method=method), **kw)),
            lambda draw: dict(_bary_problem(draw), reg_m=draw.choice([0.5, 5.0]), numItermax=100, stopThr=1e-6),
            dict(A="array", M="array", reg="scalar", reg_m="scalar", numItermax="int", stopThr="scalar",
                 method="method"),
            ref=lambda kw, method=method: _pot().unbalanced.barycenter_unbalanced(
                kw["A"], kw["M"], kw["reg"], kw["reg_m"], method=method, numItermax=100, stopThr=1e-6)))
    specs.append(Spec(
        "empirical_sinkhorn2", lambda kw: otkit.empirical_sinkhorn2(**kw),
        lambda draw: dict(X_s=draw.random((draw.integer(1, 6), 2)), X_t=draw.random((draw.integer(1, 6), 2)),
                          reg=draw.choice([1.0, 0.5]), isLazy=draw.choice([False, True])),
        dict(X_s="array", X_t="array", reg="scalar", numIterMax="int"),
        ref=lambda kw: _pot().bregman.empirical_sinkhorn2(kw["X_s"], kw["X_t"], kw["reg"],
                                                          numIterMax=kw.get("numIterMax", 10000)), rtol=1e-6))
    specs.append(Spec(
        "emd2_sample", lambda kw: otkit.emd2_sample(**kw),
        lambda draw: _emd_sample_problem(draw),
        dict(X_a="array", X_b="array", a="array", b="array", metric="method", numItermax="int"),
        ref=lambda kw: _pot().emd2(kw["a"], kw["b"], _pot().dist(kw["X_a"], kw["X_b"], metric=kw["metric"])),
        rtol=1e-9,
        skip={"huge"}))
    specs.append(Spec(
        "solve", lambda kw: otkit.solve(**kw).value,
        lambda draw: dict(M=_cost(draw, draw.integer(1, 6), draw.integer(1, 6)), reg=draw.choice([None, 0.5, 1.0])),
        dict(M="array", reg="scalar", max_iter="int"),
        ref=lambda kw: _pot().solve(kw["M"], reg=kw["reg"], max_iter=kw.get("max_iter")).value, rtol=1e-7,
        skip={"huge"}))
    specs.append(Spec(
        "sinkhorn2_batch", lambda kw: otkit.sinkhorn2_batch(**kw),
        lambda draw: dict(a=None, b=None, M=np.stack([_cost(draw, 4, 3) for _ in range(draw.integer(1, 4))]),
                          reg=draw.choice([1.0, 0.5]), numItermax=1000),
        dict(M="array", reg="scalar", numItermax="int", method="method"),
        ref=lambda kw: np.array([_pot().sinkhorn2(np.full(4, 0.25), np.full(3, 1 / 3), Mk, kw["reg"], numItermax=1000)
                                 for Mk in kw["M"]])))
    specs.append(Spec(
        "SamplesLoss", lambda kw: otkit.SamplesLoss("sinkhorn", blur=kw["blur"])(kw["x"], kw["y"]),
        lambda draw: dict(x=draw.random((draw.integer(1, 6), 2)), y=draw.random((draw.integer(1, 6), 2)),
                          blur=draw.choice([1.0, 0.5])),
        dict(x="array", y="array", blur="scalar")))
    specs.append(Spec(  # the multiscale solver: the same value as the all-pairs one
        "SamplesLoss[multiscale]",
        lambda kw: otkit.SamplesLoss("sinkhorn", blur=kw["blur"], backend="multiscale", tol=1e-11)(kw["x"], kw["y"]),
        lambda draw: dict(x=draw.random((draw.integer(1, 40), 2)), y=draw.random((draw.integer(1, 40), 2)),
                          blur=draw.choice([0.5, 0.1, 0.05])),
        dict(x="array", y="array", blur="scalar"),
        ref=lambda kw: otkit.SamplesLoss("sinkhorn", blur=kw["blur"], backend="online", tol=1e-11)(kw["x"], kw["y"]),
        rtol=1e-6))
    specs.append(Spec(  # unbalanced (reach): the point-cloud solver against the dense unbalanced solver
        "solve_sample[lazy-unbalanced]",
        lambda kw: otkit.solve_sample(lazy=True, tol=1e-13, max_iter=100000, **kw).value_linear,
        lambda draw: dict(X_a=draw.random((draw.integer(1, 8), 2)), X_b=draw.random((draw.integer(1, 8), 2)),
                          reg=draw.choice([1.0, 0.2, 0.05]), unbalanced=draw.choice([0.1, 1.0, 10.0])),
        dict(X_a="array", X_b="array", unbalanced="scalar"),  # (reg: the "solve" spec; 0 asks for exact OT)
        ref=lambda kw: otkit.solve_sample(method="sinkhorn_log", tol=1e-13, max_iter=100000, **kw).value_linear,
        rtol=1e-8))
    specs.append(Spec(
        "SamplesLoss[reach]",
        lambda kw: otkit.SamplesLoss("sinkhorn", blur=kw["blur"], reach=kw["reach"])(kw["x"], kw["y"]),
        lambda draw: dict(x=draw.random((draw.integer(1, 6), 2)), y=draw.random((draw.integer(1, 6), 2)),
                          blur=draw.choice([1.0, 0.5, 0.1]), reach=draw.choice([0.1, 1.0, 10.0])),
        dict(x="array", y="array", blur="scalar", reach="scalar")))
    specs.append(Spec(
        "sliced_wasserstein_distance", lambda kw: otkit.sliced_wasserstein_distance(seed=0, **kw),
        lambda draw: dict(X_s=draw.random((draw.integer(1, 8), 3)), X_t=draw.random((draw.integer(1, 8), 3)),
                          n_projections=draw.choice([1, 10, 50]), p=draw.choice([1, 2])),
        dict(X_s="array", X_t="array", n_projections="int", p="scalar"),
        ref=lambda kw: _pot().sliced_wasserstein_distance(seed=0, **kw), rtol=1e-10))
    specs.append(Spec(
        "empirical_bures_wasserstein_distance", lambda kw: otkit.empirical_bures_wasserstein_distance(**kw),
        lambda draw: dict(xs=draw.random((draw.integer(2, 8), 2)), xt=draw.random((draw.integer(2, 8), 2)),
                          reg=draw.choice([1e-6, 1e-2])),
        dict(xs="array", xt="array", reg="scalar"),
        ref=lambda kw: _pot().gaussian.empirical_bures_wasserstein_distance(**kw), rtol=1e-7))
    specs.append(Spec(  # GeomLoss's value: against the converged lazy solver (the same objective)
        "solve_sample[geomloss]", lambda kw: otkit.solve_sample(method="geomloss", tol=1e-12, **kw).value,
        lambda draw: dict(X_a=draw.random((draw.integer(1, 8), 2)), X_b=draw.random((draw.integer(1, 8), 2)),
                          reg=draw.choice([1.0, 0.2, 0.05])),
        dict(X_a="array", X_b="array", reg="scalar"),
        ref=lambda kw: otkit.solve_sample(lazy=True, tol=1e-12, max_iter=100000, **kw).value, rtol=1e-7))
    specs.append(Spec(
        "solve_sample[debias]", lambda kw: otkit.solve_sample(tol=1e-12, max_iter=100000, **kw).value,
        lambda draw: dict(X_a=draw.random((draw.integer(2, 8), 2)), X_b=draw.random((draw.integer(2, 8), 2)),
                          reg=draw.choice([1.0, 0.2]), debias=draw.choice([True, "split"])),
        dict(X_a="array", X_b="array", reg="scalar"),
        ref=lambda kw: _pot().solve_sample(tol=1e-12, max_iter=100000, **kw).value, rtol=1e-7))
    specs.append(Spec(
        "lowrank_sinkhorn", lambda kw: otkit.lowrank_sinkhorn(warn=False, **kw),
        lambda draw: dict(X_s=draw.random((draw.integer(1, 8), 2)), X_t=draw.random((draw.integer(1, 8), 2)),
                          rank=draw.choice([1, 2, 5]), reg=draw.choice([0.0, 0.1]), numItermax=draw.choice([10, 100])),
        dict(X_s="array", X_t="array", rank="int", numItermax="int")))
    specs.append(Spec(
        "factored_optimal_transport", lambda kw: otkit.factored_optimal_transport(**kw),
        lambda draw: dict(Xa=draw.random((draw.integer(1, 8), 2)), Xb=draw.random((draw.integer(1, 8), 2)),
                          r=draw.choice([1, 3]), numItermax=draw.choice([1, 20])),
        dict(Xa="array", Xb="array", r="int", numItermax="int")))
    specs.append(Spec(
        "empirical_sinkhorn_nystroem2", lambda kw: otkit.lowrank.empirical_sinkhorn_nystroem2(random_state=0, **kw),
        lambda draw: dict(X_s=draw.random((draw.integer(1, 8), 2)), X_t=draw.random((draw.integer(1, 8), 2)),
                          reg=draw.choice([1.0, 0.5]), anchors=draw.choice([2, 6])),
        dict(X_s="array", X_t="array", reg="scalar", anchors="int"),
        ref=lambda kw: _pot().bregman.empirical_sinkhorn_nystroem2(random_state=0, **kw), rtol=1e-6))
    specs.append(Spec(
        "compute_bspot_bijection", lambda kw: otkit.bsp.compute_bspot_bijection(**kw)[0],
        lambda draw: (lambda n: dict(X=draw.random((n, 2)), Y=draw.random((n, 2)),
                                     n_plans=draw.choice([1, 4])))(draw.integer(1, 10)),
        dict(X="array", Y="array", n_plans="int")))
    specs.append(Spec(
        "empirical_bures_wasserstein_distance_hd",
        lambda kw: otkit.gaussian.empirical_bures_wasserstein_distance_hd(**kw),
        lambda draw: dict(xs=draw.random((draw.integer(4, 10), 6)), xt=draw.random((draw.integer(4, 10), 6)),
                          d_intrinsic=draw.choice([1, 3]), reg=draw.choice([0.0, 1e-3])),
        dict(xs="array", xt="array", d_intrinsic="int", reg="scalar"),
        ref=lambda kw: float(np.ravel(_pot().gaussian.empirical_bures_wasserstein_distance_hd(**kw))[0]),
        rtol=1e-7))
    specs.append(Spec(  # over-relaxation and the geometric epsilon schedule (no reference: other iterates)
        "sinkhorn2[omega=auto]", lambda kw: otkit.sinkhorn2(omega="auto", **kw),
        lambda draw: dict(_sinkhorn_problem(draw), method=draw.choice(["sinkhorn", "sinkhorn_log"]),
                          numItermax=draw.choice([50, 1000]), stopThr=1e-9),
        sk_kinds))
    specs.append(Spec(  # Anderson acceleration (no reference: other iterates; the same fixed point is tested)
        "sinkhorn2[anderson]", lambda kw: otkit.sinkhorn2(**kw),
        lambda draw: dict(_sinkhorn_problem(draw), method=draw.choice(["sinkhorn", "sinkhorn_log"]),
                          anderson=draw.choice([1, 5, 32]), numItermax=draw.choice([50, 1000]), stopThr=1e-9),
        dict(sk_kinds, anderson="int")))
    specs.append(Spec(
        "sinkhorn2[epsilon geometric]",
        lambda kw: otkit.sinkhorn2(method="sinkhorn_epsilon_scaling", epsilon_schedule="geometric", **kw),
        lambda draw: dict(_sinkhorn_problem(draw), epsilon0=draw.choice([1.0, 10.0]), numInnerItermax=draw.choice([1, 3]),
                          numItermax=draw.choice([50, 1000]), stopThr=1e-9),
        dict(a="array", b="array", M="array", reg="scalar", numItermax="int", stopThr="scalar", epsilon0="scalar",
             numInnerItermax="int"),
        skip={"huge"}))  # numInnerItermax = 2**40 asks for 2**40 steps at each stage
    specs.append(Spec(
        "free_support_barycenter", lambda kw: otkit.free_support_barycenter(**kw),
        lambda draw: _free_support_problem(draw),
        dict(measures_locations="list", measures_weights="list", X_init="array", numItermax="int")))
    for s_ in specs:  # plan_from_dual needs a potential of the drawn size
        if s_.name == "plan_from_dual":
            build = s_.build
            s_.build = lambda draw, build=build: (lambda kw: dict(kw, v=np.zeros(len(kw["b"]))))(build(draw))
    return {s.name: s for s in specs}


def _pairwise_problem(draw):
    d = draw.integer(2, 6)
    A, B = draw.random((d, draw.integer(1, 3))) + 0.05, draw.random((d, draw.integer(1, 3))) + 0.05
    x = np.linspace(0, 1, d)[:, None]
    return dict(A=A / A.sum(0), B=B / B.sum(0), M=(x - x.T) ** 2, reg=draw.choice([0.5, 0.1]), numItermax=500)


def _free_support_problem(draw):
    N, k = draw.integer(1, 3), draw.integer(1, 4)
    locs = [draw.random((draw.integer(1, 5), 2)) for _ in range(N)]
    weights = [np.ones(len(x)) / len(x) for x in locs]
    return dict(measures_locations=locs, measures_weights=weights, X_init=draw.random((k, 2)), numItermax=20)


def _images(draw):
    N, r = draw.integer(1, 3), draw.integer(2, 6)
    A = draw.random((N, r, r)) + 0.05
    return A / A.sum((1, 2), keepdims=True)


def _divergence_problem(draw):
    n, m = draw.integer(1, 5), draw.integer(1, 5)
    x, y = draw.random((n, 2)), draw.random((m, 2))
    sq = lambda p, q: ((p[:, None] - q[None]) ** 2).sum(-1)  # noqa: E731
    return dict(a=_hist(draw, n), b=_hist(draw, m), M_ab=sq(x, y), M_aa=sq(x, x), M_bb=sq(y, y), reg=0.5)


def _ref_w1d(kw):
    from scipy.stats import wasserstein_distance

    if kw["p"] == 1:
        return wasserstein_distance(kw["u_values"], kw["v_values"])
    return _pot().wasserstein_1d(kw["u_values"], kw["v_values"], p=kw["p"])


# ----------------------------------------------------------------------------------------------------
# one case


def _bad_value(draw, kind, value, skip=()):
    if kind == "array":
        label, f, layout = draw.choice([e for e in ARRAY_BAD if e[0] not in skip])
        return label, f(value), layout
    if kind == "list":  # a list of arrays: replace one of them, or the whole list
        if draw.integer(0, 2) == 0:
            label, v = draw.choice([("none", None), ("empty", []), ("array", np.zeros((2, 2))), ("string", "x")])
            return label, v, False
        label, f, layout = draw.choice([e for e in ARRAY_BAD if e[0] not in skip])
        k = draw.integer(0, len(value) - 1)
        return f"[{k}] {label}", [f(x) if j == k else x for j, x in enumerate(value)], layout
    if kind == "warm":  # value: the problem's (n, m)
        label, f = draw.choice(WARM_BAD)
        return label, f(*value), False
    pool = {"scalar": SCALAR_BAD, "int": INT_BAD}.get(kind, METHOD_BAD)
    label, v = draw.choice([e for e in pool if e[0] not in skip])
    return label, v, False


# replacements whose error must be of one type: a wrong type of argument -> TypeError (a value of the right
# type out of range -> ValueError)
TYPE_LABELS = {"string": TypeError, "object": TypeError, "complex": TypeError, "none": TypeError,
               "nan": ValueError, "inf": ValueError, "-inf": ValueError, "negative": ValueError,
               "subnormal": ValueError, "zero": ValueError, "fraction": ValueError}


def _names(msg, name):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", msg) is not None


NOT_CONVERGED = re.compile(r"converge|numerical|not reach|unstable|underflow|overflow|nan|precision|inaccurate|"
                           r"maximum number|numItermax|stopThr|diverge", re.I)


def _floats(out):
    """Every float of a result (arrays, scalars, tuples, dicts of a log), as one flat array."""
    if isinstance(out, dict):
        return np.concatenate([_floats(v) for v in out.values()] or [np.zeros(0)])
    if isinstance(out, (tuple, list)):
        return np.concatenate([_floats(v) for v in out] or [np.zeros(0)])
    try:
        arr = np.asarray(out)
    except Exception:
        return np.zeros(0)
    if arr.dtype.kind in "fc":
        return arr.astype(complex).real.ravel() if arr.dtype.kind == "c" else arr.astype(float).ravel()
    return np.zeros(0)


def run_case(spec_name, draw, specs=None, strict_types=True):
    """One case: returns (outcome, detail); outcome in {'error', 'answer', 'warned', 'failure'}."""
    specs = specs or _specs()
    spec = specs[spec_name]
    kw = spec.build(draw)
    clean = dict(kw)
    mutated, label, layout = None, "valid", True
    if draw.integer(0, 3) > 0:
        mutated = draw.choice(sorted(spec.kinds))
        current = (len(kw["a"]), len(kw["b"])) if spec.kinds[mutated] == "warm" else kw.get(mutated)
        label, value, layout = _bad_value(draw, spec.kinds[mutated], current, spec.skip)
        kw[mutated] = value
    what = f"{spec_name}: {mutated or 'no argument'} <- {label}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = spec.call(kw)
        except (ValueError, TypeError, NotImplementedError, MemoryError) as exc:
            msg = str(exc)
            if mutated is None:
                return "failure", f"{what}: valid problem raised {type(exc).__name__}: {msg}"
            if not _names(msg, mutated):
                return "failure", f"{what}: {type(exc).__name__} does not name {mutated!r}: {msg}"
            kind = TYPE_LABELS.get(label.split("] ")[-1])
            if spec.kinds[mutated] == "int" and label in ("nan", "inf", "fraction"):  # a float for an int: either
                kind = None
            if strict_types and kind is not None and not isinstance(exc, kind):
                return "failure", f"{what}: {type(exc).__name__} where a {kind.__name__} is due: {msg}"
            return "error", what
        except Exception as exc:  # noqa: BLE001 - any other exception is a finding
            return "failure", f"{what}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    said = [str(w.message) for w in caught]
    vals = _floats(spec.out(out))
    if not np.all(np.isfinite(vals)):
        if any(NOT_CONVERGED.search(s) for s in said):
            return "warned", what
        return "failure", f"{what}: non-finite result without a warning ({said})"
    if layout and spec.ref is not None and not said:
        with warnings.catch_warnings(record=True) as ref_said, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            try:
                want = spec.ref(clean)
            except Exception as exc:  # noqa: BLE001 - the reference refuses the problem: nothing to compare
                return "answer", f"{what} (reference raised {type(exc).__name__})"
        if ref_said or not np.all(np.isfinite(np.asarray(want, dtype=float))):
            # POT's kernel forms fail on zero weights (1/a, 0/0) and say so: no reference for this problem
            return "answer", f"{what} (the reference warned: {[str(w.message)[:60] for w in ref_said]})"
        got = spec.out(out)
        if spec_name == "emd":
            got = (np.asarray(got) * np.asarray(clean["M"])).sum()
        got = np.asarray(got[0] if spec_name == "wasserstein_1d" and np.ndim(got) else got, dtype=float)
        if not np.allclose(got, np.asarray(want, dtype=float), rtol=spec.rtol, atol=1e-12):
            return "failure", f"{what}: {got!r} where the reference gives {want!r}"
    return ("warned" if said else "answer"), what


# ----------------------------------------------------------------------------------------------------
# running many cases in worker processes (a crash or a hang kills the worker, not the run)


def _worker(names, seeds, queue):
    os.environ.setdefault("OTKIT_NO_NUMBA_NOTICE", "1")
    specs = _specs()
    for k, seed in enumerate(seeds):
        name = names[seed % len(names)]
        queue.put(("start", k, seed, name))
        try:
            outcome, detail = run_case(name, RngDraw(seed), specs)
        except Exception as exc:  # noqa: BLE001 - a failure of the harness itself
            outcome, detail = "failure", f"{name} seed {seed}: harness error {exc!r}"
        queue.put(("done", k, outcome, f"[seed {seed}] {detail}"))
    queue.put(("end",))


def run_cases(n_cases, seed=0, jobs=1, timeout=60.0, names=None, progress=False):
    """Runs n_cases cases (case k uses seed ``seed + k`` and function ``k mod len(names)``) in worker
    processes; a worker that crashes or exceeds ``timeout`` s on one case is counted and replaced.
    Returns dict(counts, failures, crashes, hangs, seconds)."""
    names = sorted(names or _specs())
    ctx = mp.get_context("spawn")
    todo = list(range(seed, seed + n_cases))
    counts = {"error": 0, "answer": 0, "warned": 0, "failure": 0, "crash": 0, "hang": 0}
    failures, t0 = [], time.time()
    chunks = [todo[j::jobs] for j in range(jobs)]
    workers = []

    def start(chunk):
        q = ctx.Queue()
        p = ctx.Process(target=_worker, args=(names, chunk, q), daemon=True)
        p.start()
        return dict(p=p, q=q, chunk=chunk, pos=0, current=None, since=time.time())

    workers = [start(c) for c in chunks if c]
    done = 0
    while workers:
        for w in list(workers):
            try:
                msg = w["q"].get(timeout=0.05)
            except Exception:  # queue.Empty
                msg = None
            if msg is None:
                dead = not w["p"].is_alive()
                late = w["current"] is not None and time.time() - w["since"] > timeout
                if dead or late:
                    kind = "crash" if dead else "hang"
                    seed_, name = w["current"] or (None, None)
                    counts[kind] += 1
                    failures.append(f"{kind}: {name} seed {seed_} (exit code {w['p'].exitcode})")
                    w["p"].kill()
                    rest = w["chunk"][w["pos"] + 1:]
                    workers.remove(w)
                    done += 1
                    if rest:
                        workers.append(start(rest))
                continue
            if msg[0] == "start":
                w["current"], w["since"] = (msg[2], msg[3]), time.time()
                w["pos"] = msg[1]
            elif msg[0] == "done":
                counts[msg[2]] += 1
                done += 1
                w["current"] = None
                if msg[2] == "failure":
                    failures.append(msg[3])
                if progress and done % 1000 == 0:
                    print(f"{done}/{n_cases} cases, {time.time() - t0:.0f} s, {counts}", file=sys.stderr, flush=True)
            else:
                w["p"].join(5)
                workers.remove(w)
    return dict(counts=counts, failures=failures, seconds=time.time() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--only", default="", help="comma-separated function names (default: all)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--replay", type=int, default=None, help="run the case of this seed here and print it")
    args = ap.parse_args(argv)
    if args.replay is not None:
        names = sorted([s for s in args.only.split(",") if s] or _specs())
        name = names[args.replay % len(names)]
        print(name, run_case(name, RngDraw(args.replay)))
        return 0
    res = run_cases(args.cases, args.seed, args.jobs, args.timeout,
                    names=[s for s in args.only.split(",") if s] or None, progress=True)
    for f in res["failures"]:
        print(f)
    print(json.dumps(dict(res["counts"], cases=args.cases, seconds=round(res["seconds"], 1))))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
