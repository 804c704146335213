"""The one-line stderr notice of a first Numba compilation (otkit._numba._notice), and `otkit bench` printing
it before its progress bar starts."""
import dataclasses
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import CHILD_CWD, child_env

pytest.importorskip("numba")

from otkit._numba import _notice  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTICE = "otkit: compiling Numba kernels for semidual (one time, about 5 s; cached for later runs)"

# semidual is the family that compiles fastest (about 3 s); SAG twice: the second call compiles nothing new
CODE = """
import numpy as np, otkit
a = np.full(6, 1 / 6); x = np.linspace(0, 1, 6); M = (x[:, None] - x[None, :]) ** 2
for _ in range(2):
    v = otkit.stochastic.solve_semi_dual_entropic(a, a, M, 0.5, method="SAG", numItermax=50, seed=0, backend="numba")
print(repr(np.asarray(v).round(12).tolist()))
"""


def _run(cache_dir, **env_extra):
    env = child_env(NUMBA_CACHE_DIR=str(cache_dir), **env_extra)
    env.pop("OTKIT_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=600,
                       cwd=CHILD_CWD)
    assert r.returncode == 0, r.stderr
    return r


def test_all_numba_kernels_are_cached():
    """The notice says 'cached for later runs': every kernel is @njit(cache=True)."""
    import re

    for p in sorted((REPO / "otkit" / "_numba").glob("*.py")):
        for m in re.finditer(r"@(?:numba\.)?njit(\([^)]*\))?", p.read_text()):
            assert m.group(1) and "cache=True" in m.group(1), f"{p.name}: {m.group(0)}"


def test_notice_on_cache_miss_only(tmp_path):
    cache = tmp_path / "numba_cache"
    first = _run(cache)
    assert first.stderr.count("otkit: compiling Numba kernels") == 1, first.stderr  # once per family and process
    assert NOTICE in first.stderr.splitlines()
    assert any(cache.rglob("*.nbi")), "Numba wrote no cache index"
    second = _run(cache)  # a new process, the cache is hit: nothing compiles, nothing is printed
    assert "compiling Numba" not in second.stderr, second.stderr
    assert second.stdout == first.stdout  # and the cached kernels give the same answer


def test_notice_can_be_turned_off(tmp_path):
    r = _run(tmp_path / "numba_cache", OTKIT_NUMBA_NOTICE="0")
    assert "compiling Numba" not in r.stderr, r.stderr


# --- the listener's logic, without compiling anything -------------------------------------------------

def _disp(module):
    return types.SimpleNamespace(py_func=types.SimpleNamespace(__module__=module))


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(_notice, "_announced", set())
    monkeypatch.setattr(_notice, "_local", __import__("threading").local())
    monkeypatch.delenv("OTKIT_NUMBA_NOTICE", raising=False)
    return _notice


def test_listener_once_per_family_outermost_only(fresh, capsys):
    outer, inner, helper, other = (_disp("otkit._numba.barycenter"), _disp("otkit._numba.sinkhorn"),
                                   _disp("otkit._numba._vexp"), _disp("somebody.else"))
    fresh._on_start(other)  # not an otkit kernel: ignored
    fresh._on_start(outer)
    fresh._on_start(inner)  # compiled inside the barycenter kernel: covered by its notice
    fresh._on_end(inner)
    fresh._on_end(outer)
    fresh._on_end(other)
    assert capsys.readouterr().err.splitlines() == [fresh.message("barycenter")]
    fresh._on_start(helper)  # the _vexp helpers belong to the sinkhorn family
    fresh._on_end(helper)
    fresh._on_start(inner)  # already announced in this process
    fresh._on_end(inner)
    fresh._on_start(outer)
    fresh._on_end(outer)
    assert capsys.readouterr().err.splitlines() == [fresh.message("sinkhorn")]
    assert fresh.message("sinkhorn") == ("otkit: compiling Numba kernels for sinkhorn "
                                         "(one time, about 40 s; cached for later runs)")
    assert "up to a minute" in fresh.message("newfamily")


def test_listener_writes_above_an_active_tqdm_bar(fresh, monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    written = []
    monkeypatch.setattr(tqdm.tqdm, "write", classmethod(lambda cls, s, file=None: written.append(s)))
    bar = tqdm.tqdm(total=3, file=io.StringIO())
    try:
        fresh._on_start(_disp("otkit._numba.emd"))
        fresh._on_end(_disp("otkit._numba.emd"))
    finally:
        bar.close()
    assert written == [fresh.message("emd")]


def test_listener_is_installed():
    import numba.core.event as ev

    import otkit._numba  # noqa: F401

    assert _notice._installed
    assert sum(type(x).__name__ == "_Listener" for x in ev._registered["numba:compile"]) == 1


# --- otkit bench: the warm-up (where Numba compiles) runs before the progress bar -----------------------

def test_bench_warms_up_before_the_bar(monkeypatch, tmp_path):
    pytest.importorskip("ot")
    from otkit.bench import batch, knn, solvers as S, sweep

    events = []

    class Bar:
        def __init__(self, *a, **k):
            events.append("bar")

        def update(self, *a):
            pass

        def set_postfix_str(self, *a, **k):
            pass

        def close(self):
            pass

    for mod in (sweep, batch, knn):
        monkeypatch.setattr(mod, "progress", Bar)
    reg = dict(S.SOLVERS)
    pot = S.SOLVERS["pot-sinkhorn"]
    reg["otkit-numba-sinkhorn"] = dataclasses.replace(S.SOLVERS["otkit-numba-sinkhorn"], run=pot.run,
                                                      available=lambda: (True, ""),
                                                      warmup=lambda: events.append("warmup"))
    sweep.run_sweep([8], [1.0], metric="euclidean", solvers=["otkit-numba-sinkhorn", "pot-sinkhorn"], repeat=1,
                    registry=reg, bandwidth_d=0, stream=io.StringIO())
    assert events == ["warmup", "bar"]

    import otkit

    events.clear()
    real = otkit.sinkhorn2
    monkeypatch.setattr(otkit, "sinkhorn2", lambda *a, **k: (events.append("call"), real(*a, **k))[1])
    be = "cpp" if "cpp" in otkit.available_backends() else "numba"
    batch.run_batch(dims=[8], N=2, reg=1.0, metric="euclidean", repeat=1, backends=[be], stream=io.StringIO())
    assert events[:2] == ["call", "bar"]  # the warm-up call, then the bar
    if __import__("importlib").util.find_spec("sklearn") is not None:
        events.clear()
        knn.run_knn(n=20, lambdas=[1.0], train_sizes=[10], folds=1, stream=io.StringIO())
        assert events[:2] == ["call", "bar"]
    np.testing.assert_equal(events.count("bar"), 1)


def test_cache_is_dropped_when_any_source_changes(tmp_path, monkeypatch):
    """A cached kernel embeds the code of the functions it calls from other modules; a change of any
    module of otkit._numba drops the package's cache (a stale one crashed the process)."""
    from otkit._numba import _cache
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    stale = pkg / "__pycache__" / "a.f-1.py311.nbi"
    stale.write_text("")
    monkeypatch.setattr(_cache, "_HERE", str(pkg))
    monkeypatch.setattr(_cache, "_STAMP", str(pkg / "__pycache__" / "otkit_numba_sources.sha256"))
    _cache.ensure_consistent()
    assert not stale.exists()  # no stamp yet: dropped
    stale.write_text("")
    _cache.ensure_consistent()
    assert stale.exists()  # same sources: kept
    (pkg / "a.py").write_text("x = 2\n")
    _cache.ensure_consistent()
    assert not stale.exists()  # a source changed: dropped


@pytest.mark.parametrize("call", ["barycenter", "semidual", "sinkhorn"])
def test_numba_kernels_release_the_gil(call):
    """Issue 20: the Numba barycenter and semi-dual kernels held the GIL; while one runs in a thread, the main
    thread must keep running Python code."""
    import threading
    import time

    import otkit
    from otkit import _backend
    if not _backend.numba_available():
        pytest.skip("numba not installed")
    rng = np.random.default_rng(0)
    d = 300
    M = rng.random((d, d))
    A = rng.dirichlet(np.ones(d), size=4).T.copy()
    a, b = np.ones(d) / d, np.ones(d) / d
    if call == "barycenter":
        run = lambda k: otkit.barycenter(A, M, 0.05, numItermax=k, stopThr=0, backend="numba", warn=False)  # noqa: E731
    elif call == "semidual":
        run = lambda k: otkit.stochastic.solve_semi_dual_entropic(a, b, M, 0.1, "ASGD", numItermax=k * 20,  # noqa: E731
                                                                   backend="numba")
    else:
        run = lambda k: otkit.sinkhorn2(a, b, M, 0.05, numItermax=k, stopThr=0, backend="numba")  # noqa: E731
    run(2)  # compile outside the measurement
    k = 2
    while True:  # a call of about 0.3 s
        t = time.perf_counter()
        run(k)
        if time.perf_counter() - t > 0.3 or k > 10**6:
            break
        k *= 4
    ticks = []
    th = threading.Thread(target=run, args=(k,))
    t0 = time.perf_counter()
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter() - t0)
        time.sleep(0.005)
    th.join()
    # the main thread ran while the kernel did: many ticks, spread over the call
    assert len(ticks) >= 10, len(ticks)
