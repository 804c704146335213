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
