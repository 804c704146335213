"""otkit.proximal: the Wasserstein proximal step, data sets, metrics, trainer and the `otkit gan` CLI."""
import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import CHILD_CWD, child_env


def test_import_without_torch():
    """`import otkit` works without torch; `import otkit.proximal` names the extra; the CLI says so too."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('No module named torch (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import otkit, otkit.metric, numpy as np\n"
        "assert otkit.metric.w2_samples(np.zeros((2, 1)), np.ones((2, 1))) == 1.0\n"
        "try:\n"
        "    import otkit.proximal\n"
        "except ImportError as e:\n"
        "    assert 'otkit[gan]' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "from otkit.cli import main\n"
        "assert main(['gan', '--data', 'ring8']) == 2\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), cwd=CHILD_CWD)
    assert r.returncode == 0, r.stderr
    assert 'otkit[gan]' in r.stderr


torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny networks: one thread is fastest, and the test machine is shared

from otkit.cli import main  # noqa: E402
from otkit.proximal import (  # noqa: E402
    NonFiniteGeneratorError,
    WassersteinProximal,
    evaluate,
    get_loss,
    make_dataset,
    mode_stats,
    train,
)
from otkit.proximal import trainer as trainer_mod  # noqa: E402


def _gen(seed=0, din=3, dout=2):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(din, 16), torch.nn.Tanh(), torch.nn.Linear(16, dout)).double()


def _loss(x):  # a smooth generator loss F: pull samples to the point (1, -1)
    return ((x - torch.tensor([1.0, -1.0], dtype=x.dtype)) ** 2).sum(1).mean()


@pytest.mark.parametrize("metric", ["relaxed", "exact", "sinkhorn"])
def test_proximal_term_and_gradient_vanish_at_anchor(metric):
    g = _gen()
    prox = WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.0), h=0.1, inner_steps=1, metric=metric, reg=0.05,
                               stop_thr=1e-9)  # the Sinkhorn gradient vanishes to the accuracy of the solve
    z = torch.randn(64, 3, dtype=torch.float64)
    prox.step(_loss, z)  # sets the anchor y_k = g(z); lr 0 keeps theta = theta_k
    g.zero_grad()
    term = prox.proximal_term(g(z))
    term.backward()
    grads = torch.cat([p.grad.reshape(-1) for p in g.parameters()])
    tol = 1e-12 if metric != "sinkhorn" else 1e-6
    assert abs(float(term.detach())) <= tol
    np.testing.assert_allclose(grads.numpy(), 0.0, atol=tol)


@pytest.mark.parametrize("metric", ["relaxed", "exact"])
def test_step_decreases_objective(metric):
    """F(theta_{k+1}) + d_W^2(theta_{k+1}, theta_k)/2h < F(theta_k) (the proximal term is 0 at theta_k)."""
    g = _gen(1)
    z = torch.randn(128, 3, dtype=torch.float64)
    prox = WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.02), h=0.5, inner_steps=10, metric=metric)
    with torch.no_grad():
        before = float(_loss(g(z)))
    info = prox.step(_loss, z)
    with torch.no_grad():
        x = g(z)
        after = float(_loss(x) + prox.proximal_term(x))
    assert info["loss_start"] == pytest.approx(before)
    assert after < before - 1e-3
    assert info["prox"] > 0


@pytest.mark.parametrize("h", [math.inf, 1e12])
def test_large_h_recovers_plain_steps(h):
    g1, g2 = _gen(2), _gen(2)
    z = torch.randn(64, 3, dtype=torch.float64)
    opt1 = torch.optim.Adam(g1.parameters(), lr=1e-2)
    opt2 = torch.optim.Adam(g2.parameters(), lr=1e-2)
    prox = WassersteinProximal(g1, opt1, h=h, inner_steps=7, resample_latent=False)
    for _ in range(2):
        prox.step(_loss, z)
        for _ in range(7):  # the same optimizer steps without a proximal term
            opt2.zero_grad()
            _loss(g2(z)).backward()
            opt2.step()
    for p1, p2 in zip(g1.parameters(), g2.parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=1e-9, atol=1e-9)


def test_small_h_stays_closer_to_anchor():
    """The proximal term keeps the pushforward near y_k: smaller h, smaller displacement."""
    z = torch.randn(64, 3, dtype=torch.float64)
    moves = []
    for h in (0.05, 1.0, math.inf):
        g = _gen(3)
        with torch.no_grad():
            y0 = g(z).clone()
        WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.01), h=h, inner_steps=10).step(_loss, z)
        with torch.no_grad():
            moves.append(float(((g(z) - y0) ** 2).sum(1).mean()))
    assert moves[0] < moves[1] < moves[2]


def test_bad_input():
    g = _gen()
    opt = torch.optim.SGD(g.parameters(), lr=0.1)
    for h in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="h must be"):
            WassersteinProximal(g, opt, h=h)
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        WassersteinProximal(g, opt, inner_steps=0)
    with pytest.raises(ValueError, match="relaxed"):
        WassersteinProximal(g, opt, metric="w1")
    with pytest.raises(TypeError, match="optimizer"):
        WassersteinProximal(g, None)
    prox = WassersteinProximal(g, opt)
    with pytest.raises(ValueError, match=r"does not accept z of shape \[\(8, 4\)\]"):
        prox.step(_loss, torch.randn(8, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="z must be a"):
        prox.step(_loss, torch.randn(8, dtype=torch.float64))
    with pytest.raises(TypeError, match="z must be a torch.Tensor or a tuple"):
        prox.step(_loss, np.zeros((8, 3)))
    bad = _gen()
    with torch.no_grad():
        bad[0].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteGeneratorError):
        WassersteinProximal(bad, torch.optim.SGD(bad.parameters(), lr=0.1)).step(_loss, torch.randn(8, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="ring8.*grid25.*digits"):
        make_dataset("moons")
    with pytest.raises(ValueError, match="'ns', 'wgan-gp'"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="unknown prox"):
        train(prox="w1", steps=1)
    with pytest.raises(ValueError, match="h must be"):
        train(h=0.0, steps=1)


def test_datasets_and_mode_metrics():
    ring = make_dataset("ring8")
    assert len(np.unique(np.round(ring.modes, 9), axis=0)) == 8  # 8 distinct modes (no repeated angle)
    np.testing.assert_allclose(np.linalg.norm(ring.modes, axis=1), 2.0)
    grid = make_dataset("grid25")
    assert len(np.unique(grid.modes, axis=0)) == 25
    # held-out data itself: every mode captured, ~all samples within 3 std
    for ds, k in ((ring, 8), (grid, 25)):
        modes, hq = mode_stats(ds.heldout(2000), ds.modes, ds.std)
        assert modes == k and hq > 0.97
    # a generator collapsed on one mode captures 1 mode
    one = ring.modes[0] + 0.01 * np.random.default_rng(0).standard_normal((500, 2))
    assert mode_stats(one, ring.modes, ring.std)[0] == 1
    x = ring.sample(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 2) and x.dtype == torch.float32


def test_digits_metrics():
    ds = make_dataset("digits")
    assert ds.train_x.shape[1] == 64 and ds.train_x.min() >= -1 and ds.train_x.max() <= 1
    real = evaluate(ds, ds.train_x[:540])
    assert real["modes"] == 10 and real["w2"] > 0
    noise = evaluate(ds, np.random.default_rng(0).uniform(-1, 1, (540, 64)))
    assert noise["w2"] > real["w2"]


def test_training_smoke_ring8(tmp_path):
    """200 steps of RWP training on ring-8 (a few seconds on CPU) lower the W2 to held-out data."""
    res = train(data="ring8", loss="ns", prox="relaxed", h=0.1, inner=10, lr=1e-3, steps=200, seed=0,
                eval_every=100, eval_n=500, progress=False, out=str(tmp_path))
    assert res.status == "ok" and res.steps_done == 200
    w2 = [r["w2"] for r in res.history]
    assert w2[-1] < 0.7 * w2[0], w2
    assert os.path.exists(res.checkpoint)


def test_wgan_gp_and_exact_prox_run():
    res = train(data="grid25", loss="wgan-gp", prox="exact", inner=3, steps=5, batch=64, eval_n=200,
                progress=False)
    assert res.status == "ok" and np.isfinite(res.final["w2"])


def test_nonfinite_generator_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    real_make = trainer_mod.make_generator

    def poisoned(ds, hidden=128, model="mlp"):
        g = real_make(ds, hidden=hidden, model=model)
        calls = {"n": 0}
        fwd = g.forward

        def forward(z):
            calls["n"] += 1
            out = fwd(z)
            return out * float("nan") if calls["n"] > 40 else out

        g.forward = forward
        return g

    monkeypatch.setattr(trainer_mod, "make_generator", poisoned)
    res = train(data="ring8", prox="relaxed", inner=2, steps=50, eval_every=5, eval_n=100, progress=False,
                out=str(tmp_path))
    assert res.status == "nonfinite"
    assert f"at step {res.failed_step}" in res.message and "last good checkpoint" in res.message
    import torch as _t

    ck = _t.load(res.checkpoint, weights_only=False)
    assert ck["step"] < res.failed_step
    assert all(_t.isfinite(v).all() for v in ck["G"].values())


def test_cli_writes_csv_pngs_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["gan", "--data", "ring8", "--loss", "ns", "--prox", "relaxed", "--h", "0.1", "--inner", "2",
            "--lr", "1e-3", "--seed", "0", "--eval-n", "200", "--eval-every", "10", "--batch", "64",
            "--no-progress", "--out", out]
    assert main(args + ["--steps", "20"]) == 0
    for f in ("log.csv", "checkpoint.pt", "samples.png", "curves.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    assert main(args + ["--steps", "30", "--resume"]) == 0
    with open(os.path.join(out, "log.csv")) as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [0, 10, 20, 30]
    assert "final exact W2" in capsys.readouterr().out
    # bad input: argparse lists the choices; h <= 0 is refused
    for bad, msg in ((["--data", "moons"], "invalid choice"), (["--loss", "hinge"], "invalid choice"),
                     (["--h", "0"], "argument --h: must be"), (["--inner", "0"], "argument --inner: must be >= 1")):
        with pytest.raises(SystemExit) as e:
            main(["gan", "--out", out] + bad)
        assert e.value.code == 2
        assert msg in capsys.readouterr().err
