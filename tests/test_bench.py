"""``otkit bench``: end to end on tiny dimensions (no timing asserted), agreement checks, bad input."""
import dataclasses
import json
import os

import numpy as np
import pytest

pytest.importorskip("ot")
pytest.importorskip("matplotlib")

from otkit import cli as otkit_cli  # noqa: E402
from otkit.bench import solvers as S  # noqa: E402
from otkit.bench.common import get_metric  # noqa: E402
from otkit.bench.problems import graph_metric  # noqa: E402
from otkit.bench.sweep import run_sweep  # noqa: E402

FAST = "otkit-cpp-sinkhorn,otkit-cpp-sinkhorn_log,otkit-emd,pot-sinkhorn,pot-sinkhorn_log,pot-emd,fastemd"


def _fast_solvers():
    import otkit

    names = FAST.split(",")
    if "cpp" not in otkit.available_backends():
        names = [n.replace("cpp", "numba") for n in names]
    return ",".join(names)


def test_sweep_end_to_end(tmp_path, capsys):
    out = tmp_path / "res"
    rc = otkit_cli.main(["bench", "--dims", "16,32", "--reg", "1,0.1", "--repeat", "1", "--solvers", _fast_solvers(),
                         "--out", str(out), "--bandwidth-d", "64", "--no-progress", "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    for f in ("sweep.json", "sweep.csv", "sweep.md", "sweep.png"):
        assert (out / f).stat().st_size > 0, f
    res = json.loads((out / "sweep.json").read_text())
    assert res["mismatches"] == []
    assert res["machine"]["nproc"] >= 1 and res["machine"]["versions"]["POT"]
    ok = [r for r in res["rows"] if r["status"] == "ok" and r["family"] == "sinkhorn"]
    assert {r["d"] for r in ok} == {16, 32} and {r["reg"] for r in ok} == {1.0, 0.1}
    for r in ok:
        assert r["niter"] >= 1 and r["t_min"] <= r["t_median"]
        assert r["err"] < 1e-6
    # every solver appears for every d: measured, or skipped with its reason (never silently dropped)
    names = set(_fast_solvers().split(","))
    assert names <= {r["solver"] for r in res["rows"]} | set(res["unavailable"])
    import otkit

    if not hasattr(otkit, "emd2"):
        assert res["unavailable"]["otkit-emd"].startswith("skipped (not available")
        assert "otkit-emd: skipped (not available" in (out / "sweep.md").read_text()
    md = (out / "sweep.md").read_text()
    assert "Speed-up" in md and "vs POT sinkhorn2 sinkhorn" in md
    assert "graph_metric_d32_seed0.npy" in os.listdir(tmp_path / "c")


def test_agreement_catches_planted_wrong_value(tmp_path):
    import io

    good = S.SOLVERS["pot-sinkhorn"]

    def wrong(*args):
        r = good.run(*args)
        r["value"] *= 1.01
        return r

    reg = dict(S.SOLVERS)
    reg["otkit-cpp-sinkhorn"] = dataclasses.replace(S.SOLVERS["otkit-cpp-sinkhorn"], run=wrong,
                                                    available=lambda: (True, ""), warmup=None)
    buf = io.StringIO()
    res = run_sweep([16], [0.5], metric="euclidean", solvers=["otkit-cpp-sinkhorn", "pot-sinkhorn"], repeat=1,
                    out=tmp_path, registry=reg, bandwidth_d=0, show_progress=False, stream=buf)
    assert len(res["mismatches"]) == 1
    mm = res["mismatches"][0]
    assert mm["solver"] == "otkit-cpp-sinkhorn" and mm["ref"] == "pot-sinkhorn"
    np.testing.assert_allclose(mm["rel"], 0.01, rtol=1e-6)
    assert "MISMATCH" in buf.getvalue()
    assert "MISMATCH" in (tmp_path / "sweep.md").read_text()
    assert json.loads((tmp_path / "sweep.json").read_text())["mismatches"]


def test_exact_agreement_tolerance(tmp_path):
    import io

    good = S.SOLVERS["pot-emd"]

    def slightly_wrong(*args):
        r = good.run(*args)
        r["value"] *= 1 + 1e-7  # fine for Sinkhorn, not for an exact solver (1e-9)
        return r

    reg = dict(S.SOLVERS)
    reg["otkit-emd"] = dataclasses.replace(S.SOLVERS["otkit-emd"], run=slightly_wrong, available=lambda: (True, ""))
    buf = io.StringIO()
    res = run_sweep([16], [0.5], metric="euclidean", solvers=["pot-emd", "otkit-emd"], repeat=1, out=None,
                    registry=reg, bandwidth_d=0, show_progress=False, stream=buf)
    assert [m["solver"] for m in res["mismatches"]] == ["otkit-emd"]
    assert "MISMATCH" in buf.getvalue()


@pytest.mark.parametrize("error,mismatch", [(2e-5, False), (1e-3, True)])
def test_fastemd_agreement_tolerance(error, mismatch):
    """FastEMD rounds its inputs to 6 digits (costs off by ~1e-5): checked to 1e-4, not to the exact 1e-9."""
    import io

    good = S.SOLVERS["pot-emd"]

    def rounded(*args):
        r = good.run(*args)
        r["value"] *= 1 + error
        return r

    reg = dict(S.SOLVERS)
    reg["fastemd"] = dataclasses.replace(S.SOLVERS["fastemd"], run=rounded, available=lambda: (True, ""))
    res = run_sweep([16], [0.5], metric="euclidean", solvers=["pot-emd", "fastemd"], repeat=1, out=None,
                    registry=reg, bandwidth_d=0, show_progress=False, stream=io.StringIO())
    assert [m["solver"] for m in res["mismatches"]] == (["pot-emd"] if mismatch else [])


def test_budget_skips_larger_dims():
    import io

    reg = dict(S.SOLVERS)
    res = run_sweep([16, 64], [1.0], metric="euclidean", solvers=["pot-sinkhorn_log"], repeat=1, budget=1e-9,
                    registry=reg, bandwidth_d=0, show_progress=False, stream=io.StringIO())
    st = {r["d"]: r["status"] for r in res["rows"] if r["solver"] == "pot-sinkhorn_log"}
    assert st[16] == "ok" and st[64].startswith("skipped (over budget")


@pytest.mark.parametrize("argv, msg", [
    (["--solvers", "cpp,nope"], "choose from: otkit-cpp-sinkhorn"),
    (["--metric", "manhattan"], "invalid choice: 'manhattan'"),
    (["--dims", "64,-3"], "not a positive integer"),
    (["--dims", "64,abc"], "is not an integer"),
    (["--dims", "0"], "not a positive integer"),
    (["--reg", "0.1,0"], "must be a finite number > 0"),
    (["--reg", "-1"], "must be a finite number > 0"),
    (["--repeat", "0"], "must be >= 1"),
    (["batch", "--reg", "0"], "must be a finite number > 0"),
    (["knn", "--lambdas", "1,x"], "is not a number"),
])
def test_bad_input(argv, msg, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        otkit_cli.main(["bench", "--out", str(tmp_path)] + argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err


def test_unwritable_out(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    rc = otkit_cli.main(["bench", "--dims", "16", "--out", str(f / "sub"), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot be written" in err
    assert not (f.parent / "sweep.json").exists()


def test_batch_cli(tmp_path):
    rc = otkit_cli.main(["bench", "batch", "--dims", "20", "--n", "4", "--reg", "0.5", "--metric", "euclidean",
                         "--repeat", "1", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    res = json.loads((tmp_path / "batch.json").read_text())
    assert res["settings"]["N"] == 4 and res["rows"][0]["d"] == 20 and res["mismatches"] == []


def test_batch_end_to_end(tmp_path):
    import otkit

    be = "cpp" if "cpp" in otkit.available_backends() else "numba"
    from otkit.bench.batch import run_batch
    import io

    res = run_batch(dims=[24], N=5, reg=0.5, metric="euclidean", repeat=1, out=tmp_path, backends=[be],
                    show_progress=False, stream=io.StringIO())
    r = res["rows"][0]
    assert res["mismatches"] == [] and r["pot_seq_pairs_timed"] == 5
    assert r[f"agree_{be}_max_rel"] < 1e-6
    assert (tmp_path / "batch.md").read_text().count("|") > 10


def test_knn_small(tmp_path):
    pytest.importorskip("sklearn")
    from otkit.bench.knn import digits_histograms, run_knn
    import io

    H, y, C = digits_histograms(60, seed=1)
    np.testing.assert_allclose(H.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.median(C[~np.eye(64, dtype=bool)]), 1.0, rtol=1e-12)
    res = run_knn(n=40, lambdas=[1.0, 10.0], train_sizes=[20], folds=2, out=tmp_path, show_progress=False,
                  stream=io.StringIO())
    assert set(res["errors"]) == {"sinkhorn lambda=1", "sinkhorn lambda=10", "emd", "euclidean", "hellinger"}
    for e in res["errors"].values():
        assert 0.0 <= e[20]["mean"] <= 1.0
    for f in ("knn.json", "knn.md", "knn.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_graph_metric_cache(tmp_path):
    M1 = get_metric("graph", 20, 3, tmp_path)
    M2 = get_metric("graph", 20, 3, tmp_path)  # from the cache
    np.testing.assert_array_equal(M1, M2)
    np.testing.assert_allclose(M1, graph_metric(20, 3), rtol=0, atol=0)
    with pytest.raises(ValueError, match="choose one of"):
        get_metric("nope", 20)


def test_short_calls_repeated_and_settle():
    """A call far below 0.2 s is repeated up to 5 times even with repeat=1 (the row says how many); settle()
    busy-waits for the given time unless one thread is used."""
    import io
    import time

    from otkit.bench.common import settle
    from otkit.bench.sweep import SHORT_MAX

    reg = dict(S.SOLVERS)
    res = run_sweep([16], [1.0], metric="euclidean", solvers=["pot-sinkhorn"], repeat=1, registry=reg,
                    bandwidth_d=0, show_progress=False, stream=io.StringIO())
    row = [r for r in res["rows"] if r["solver"] == "pot-sinkhorn"][0]
    assert row["status"] == "ok" and row["repeat"] == len(row["times"]) == SHORT_MAX
    t = time.perf_counter()
    settle(0, 0.05)
    assert time.perf_counter() - t >= 0.05
    t = time.perf_counter()
    settle(1, 5.0)  # one thread: nothing spins, no wait
    assert time.perf_counter() - t < 1.0
