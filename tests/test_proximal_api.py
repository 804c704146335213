"""The proximal training API on users' own models: any generator, a frozen anchor, resampled latents,
AMP, and the trainer's own-data path, EMA, callbacks, TensorBoard and exact resume."""
import copy
import csv
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from otkit.cli import main  # noqa: E402
from otkit.proximal import WassersteinProximal, train  # noqa: E402
from otkit.proximal.models import DCGANGenerator  # noqa: E402


class BNDropoutGen(torch.nn.Module):
    """BatchNorm + dropout: layers whose output depends on the mode, the batch and the RNG."""

    def __init__(self, nz=4, out=3):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(nz, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                       torch.nn.Dropout(0.3), torch.nn.Linear(16, out))

    def forward(self, z):
        return self.net(z)


class CondGen(torch.nn.Module):
    """A conditional generator g(noise, labels) (no nn.Linear sees the raw latent first)."""

    def __init__(self, nz=3, classes=4):
        super().__init__()
        self.emb = torch.nn.Embedding(classes, nz)
        self.lin = torch.nn.Linear(nz, 2)

    def forward(self, z, y):
        return self.lin(z * self.emb(y))


@pytest.mark.parametrize("metric", ["relaxed", "exact", "sinkhorn"])
def test_penalty_is_zero_at_anchor_with_batchnorm_and_dropout(metric):
    torch.manual_seed(0)
    g = BNDropoutGen().train()
    prox = WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.1), h=0.1, metric=metric, stop_thr=1e-9)
    z = torch.randn(32, 4)
    pen = prox.penalty(z)
    # relaxed: exactly 0; exact / sinkhorn: 0 up to the float32 rounding of the cost |x|^2 + |y|^2 - 2 x.y
    assert abs(float(pen.detach())) <= (0.0 if metric == "relaxed" else 1e-6)
    pen.backward()
    for p in g.parameters():
        assert p.grad is None or float(p.grad.abs().max()) <= (0.0 if metric == "relaxed" else 1e-5)


def test_anchor_leaves_batchnorm_statistics_alone():
    torch.manual_seed(1)
    g = BNDropoutGen().train()
    twin = copy.deepcopy(g)
    prox = WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.1), h=0.1)
    z = torch.randn(32, 4)
    prox.penalty(z)  # one anchor pass + one current pass
    twin(z)  # one plain forward pass
    for b1, b2 in zip(g.buffers(), twin.buffers()):
        torch.testing.assert_close(b1, b2, rtol=0, atol=0)


def test_penalty_grows_away_from_anchor_and_matches_definition():
    torch.manual_seed(2)
    g = torch.nn.Linear(3, 2)
    prox = WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.1), h=0.25)
    z = torch.randn(50, 3)
    with torch.no_grad():
        y0 = g(z).clone()
        g.bias += torch.tensor([0.3, -0.1])
    expected = ((g(z) - y0) ** 2).sum(1).mean() / (2 * 0.25)
    np.testing.assert_allclose(float(prox.penalty(z)), float(expected), rtol=1e-6)


def test_conditional_generator_and_latent_resampling():
    torch.manual_seed(3)
    g = CondGen()
    calls = []

    def sampler(b):
        calls.append(b)
        return torch.randn(b, 3), torch.randint(0, 4, (b,))

    seen = []

    def loss_fn(x, z):  # a conditional loss sees the labels
        seen.append(z[1].clone())
        return ((x - z[1][:, None].float()) ** 2).mean()

    prox = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=4, latent_sampler=sampler)
    z = sampler(16)
    info = prox.step(loss_fn, z)
    assert len(calls) == 1 + 3 and np.isfinite(info["total"])  # a fresh batch for inner steps 2..4
    assert not all(torch.equal(seen[0], s) for s in seen[1:])
    # the default sampler redraws the noise and keeps the labels
    prox2 = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=3)
    seen.clear()
    prox2.step(loss_fn, z)
    assert all(torch.equal(seen[0], s) for s in seen)
    # resample_latent=False: the same latents throughout
    prox3 = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=3,
                                resample_latent=False, latent_sampler=sampler)
    calls.clear()
    prox3.step(loss_fn, z)
    assert calls == []


def test_dcgan_latents_and_bad_latents():
    g = DCGANGenerator(latent_dim=8, size=8)
    prox = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-3), h=0.1, inner_steps=2)
    info = prox.step(lambda x: x.mean(), torch.randn(16, 8, 1, 1))
    assert np.isfinite(info["total"])
    with pytest.raises(ValueError, match=r"latent_dim = 8"):
        prox.step(lambda x: x.mean(), torch.randn(16, 5, 1, 1))
    with pytest.raises(ValueError, match="one batch size"):
        WassersteinProximal(CondGen(), torch.optim.SGD(CondGen().parameters(), lr=0.1)).step(
            lambda x: x.mean(), (torch.randn(4, 3), torch.zeros(5, dtype=torch.long)))
    with pytest.raises(TypeError, match="latent_sampler must be callable"):
        WassersteinProximal(g, torch.optim.SGD(g.parameters(), lr=0.1), latent_sampler=3)


def test_mixed_precision_step():
    torch.manual_seed(4)
    g = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    before = [p.detach().clone() for p in g.parameters()]
    for metric in ("relaxed", "exact"):
        prox = WassersteinProximal(g, torch.optim.Adam(g.parameters(), lr=1e-2), h=0.1, inner_steps=3, metric=metric)
        scaler = torch.amp.GradScaler("cpu")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            info = prox.step(lambda x: ((x.float() - 1.0) ** 2).mean(), torch.randn(64, 4), scaler=scaler)
        assert np.isfinite(info["total"]) and info["prox"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))


def _toy_models(seed=0):
    torch.manual_seed(seed)
    G = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    D = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.LeakyReLU(0.2), torch.nn.Linear(32, 1))
    return G, D


def test_train_own_models_and_data(tmp_path):
    real = torch.randn(500, 2) * 0.1 + torch.tensor([1.0, -1.0])
    G, D = _toy_models()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(real, torch.zeros(500)), batch_size=64,
                                         shuffle=True)
    seen = []
    res = train(generator=G, discriminator=D, data=loader, latent_sampler=lambda b: torch.randn(b, 4), steps=40,
                inner=2, eval_every=10, progress=False, out=str(tmp_path), tensorboard=True, ema=0.9,
                eval_fn=lambda g: {"mean_x": g(torch.randn(256, 4))[:, 0].mean()},
                callbacks=[lambda info: seen.append(info["step"]) or info["step"] >= 30])
    assert res.status == "stopped" and res.steps_done == 30 and seen == list(range(1, 31))
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30] and all(r["mean_x"] for r in rows)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))
    assert res.ema_generator is not None
    assert any(not torch.equal(a, b) for a, b in zip(res.ema_generator.parameters(), G.parameters()))
    # a tensor of samples works the same; own data needs own models
    G2, D2 = _toy_models(1)
    assert train(generator=G2, discriminator=D2, data=real, latent_dim=4, steps=5, inner=2, progress=False,
                 plots=False).status == "ok"
    with pytest.raises(ValueError, match="pass generator= and discriminator="):
        train(data=real, steps=2, progress=False)


def test_resume_continues_exactly(tmp_path):
    kw = dict(data="ring8", steps=16, inner=3, batch=64, eval_every=4, eval_n=100, progress=False, plots=False, seed=5)
    straight = train(**kw)
    train(out=str(tmp_path), **{**kw, "steps": 8})
    resumed = train(out=str(tmp_path), resume=True, **kw)
    for p, q in zip(straight.generator.parameters(), resumed.generator.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    with pytest.raises(ValueError, match="with h 0.1, this run has h 0.2"):
        train(out=str(tmp_path), resume=True, **{**kw, "h": 0.2, "steps": 20})


def test_cli_dcgan_digits(tmp_path, capsys):
    out = str(tmp_path / "run")
    argv = ["gan", "--data", "digits", "--model", "dcgan", "--steps", "6", "--inner", "2", "--batch", "32",
            "--eval-n", "100", "--no-progress", "--ema", "0.99", "--out", out]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "feature Frechet distance" in text and text.count("steps in") == 1  # trained once
    assert main(["gan", "--data", "ring8", "--model", "dcgan", "--steps", "2", "--out", out + "2"]) == 2
    assert "--model dcgan needs image data" in capsys.readouterr().err
