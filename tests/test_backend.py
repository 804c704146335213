import numpy as np
import pytest

import otkit
from otkit import _backend


def test_show_config_dict_and_print(capsys):
    cfg = otkit.show_config(as_dict=True)
    assert set(["cpp", "cuda", "numba", "backends", "default_backend"]) <= set(cfg)
    assert cfg["default_backend"] in cfg["backends"]
    otkit.show_config()
    out = capsys.readouterr().out
    assert "cpp" in out and "numba" in out and "default" in out


def test_auto_prefers_cpp_when_built():
    if _backend.is_available("cpp"):
        assert _backend.resolve_backend("auto") == "cpp"


def test_env_override(monkeypatch):
    monkeypatch.setenv("OTKIT_BACKEND", "numba")
    assert _backend.resolve_backend("auto") == "numba"
    assert _backend.resolve_backend("cpp" if _backend.is_available("cpp") else "numba") in ("cpp", "numba")
    monkeypatch.setenv("OTKIT_BACKEND", "gpu9000")
    with pytest.raises(ValueError, match="OTKIT_BACKEND"):
        _backend.resolve_backend("auto")


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="numba"):
        _backend.resolve_backend("fortran")


def test_unavailable_backend_raises(monkeypatch):
    monkeypatch.setattr(_backend, "_ext", None)
    with pytest.raises(RuntimeError, match="not available"):
        _backend.resolve_backend("cpp")
    assert _backend.resolve_backend("auto") == "numba"


def test_dist_matches_scipy(rng):
    from scipy.spatial.distance import cdist

    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(otkit.dist(x, y), cdist(x, y, "sqeuclidean"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(otkit.dist(x, y, "euclidean"), cdist(x, y), rtol=1e-12)
    np.testing.assert_allclose(otkit.dist(x, y, "cityblock"), cdist(x, y, "cityblock"), rtol=1e-12)
    np.testing.assert_allclose(otkit.dist(x, y, "minkowski", p=3), cdist(x, y, "minkowski", p=3), rtol=1e-12)
    with pytest.raises(ValueError, match="metric"):
        otkit.dist(x, y, "nope")


def test_array_range_one_pass_matches_numpy():
    from otkit.utils import array_range

    rng = np.random.default_rng(0)
    for shape, dt in [((700, 500), np.float64), ((3, 5), np.float64), ((513, 1025), np.float32), ((1, 1), np.float64)]:
        M = (rng.standard_normal(shape) * 7).astype(dt)
        assert array_range(M) == (float(M.min()), float(M.max()))
        for bad in (np.nan, np.inf, -np.inf):
            X = M.copy()
            X[shape[0] - 1, shape[1] - 1] = bad  # last entry: the scalar tail of the pass
            assert np.isnan(array_range(X)).all() or not np.isfinite(array_range(X)).all()
            with pytest.raises(ValueError, match="non-finite"):
                otkit.sinkhorn2(np.ones(shape[0]) / shape[0], np.ones(shape[1]) / shape[1], X, 1.0)
    X = np.arange(10.0).reshape(2, 5)[:, ::2]  # not contiguous: NumPy
    assert array_range(X) == (0.0, 9.0)


def test_numba_vectorized_exp_matches_numpy():
    from otkit._numba._vexp import exp_inplace, exp_nonpos_inplace

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-745, 709, 20000), rng.uniform(-1, 1, 2000), [0.0, -708.39, -708.4, -744.0,
                        -745.2, -800.0, 709.7, 1e-300, -1e-300]])
    ref = np.exp(x)
    y = x.copy()
    exp_inplace(y, np.empty(len(x), np.int64), np.empty(len(x), np.int64))
    normal = ref >= np.finfo(float).tiny
    np.testing.assert_allclose(y[normal], ref[normal], rtol=4e-16)
    np.testing.assert_allclose(y[~normal], ref[~normal], rtol=0, atol=1e-320)  # subnormals kept, 0 below
    z = -np.abs(x)
    refz = np.exp(z)
    exp_nonpos_inplace(z, np.empty(len(x), np.int64))
    kept = refz >= np.finfo(float).tiny
    np.testing.assert_allclose(z[kept], refz[kept], rtol=4e-16)
    assert np.all(z[~kept] == 0.0)  # flushed to zero below the smallest normal number
    w = np.array([np.nan, -1.0])
    exp_nonpos_inplace(w, np.empty(2, np.int64))
    assert np.isnan(w[0]) and w[1] == np.exp(-1.0)
