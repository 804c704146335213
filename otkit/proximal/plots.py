"""PNG pictures: samples (2-D scatter or digit grids), samples over time, per-mode mass histograms,
training curves and metric-vs-time curves aggregated over seeds. All use matplotlib's Agg backend."""
from __future__ import annotations

import warnings

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, plt):
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight" keeps legends placed outside the axes
    plt.close(fig)


def _fmt_time(t):
    t = float(t)
    if not np.isfinite(t):
        return "t = ?"
    if t < 120:
        return f"t = {t:.3g} s"
    if t < 7200:
        return f"t = {t / 60:.3g} min"
    return f"t = {t / 3600:.3g} h"


def _scatter_panel(ax, dataset, samples, legend=True):
    """Generated points first, held-out data on top in a contrasting colour, modes as unfilled
    circles of radius 3 std (the high-quality radius of the metrics), so nothing hides the data."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    x = np.asarray(samples, np.float64).reshape(len(samples), -1)
    real = dataset.heldout(2000)
    ax.scatter(x[:, 0], x[:, 1], s=3, c="tab:red", alpha=0.35, linewidths=0, zorder=1)
    ax.scatter(real[:, 0], real[:, 1], s=1.5, c="tab:blue", alpha=0.4, linewidths=0, zorder=2)
    for m in dataset.modes:
        ax.add_patch(Circle(m, 3 * dataset.std, fill=False, ec="k", lw=0.6, alpha=0.8, zorder=3))
    lim = 1.4 * np.abs(dataset.modes).max()
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    if legend:
        handles = [Line2D([], [], ls="none", marker="o", ms=4, mfc="tab:red", mec="none", label="generated"),
                   Line2D([], [], ls="none", marker="o", ms=4, mfc="tab:blue", mec="none", label="held-out data"),
                   Line2D([], [], ls="none", marker="o", ms=6, mfc="none", mec="k", label="modes (3 std)")]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3, fontsize=7,
                  frameon=False, handletextpad=0.2, columnspacing=0.8)


def _digit_canvas(samples, image_shape, k):
    """A k x k grid of the first k*k images (pixels in [-1, 1]) as a [0, 1] canvas, 1 = white."""
    h, w = image_shape
    imgs = np.asarray(samples, np.float64)[: k * k].reshape(-1, h, w)
    canvas = np.ones((k * (h + 1) - 1, k * (w + 1) - 1))
    for i, im in enumerate(imgs):
        r, c = divmod(i, k)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = 1 - (im + 1) / 2
    return canvas


def _image_panel(ax, dataset, samples, k):
    ax.imshow(_digit_canvas(samples, dataset.image_shape, k), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")


def _empty(plt, path, title, text):
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    _save(fig, path, plt)


def save_samples(dataset, samples, path, title=""):
    """Scatter of generated vs held-out points (2-D) or a 10x10 grid of generated digits.

    In 2-D the generated points are drawn first and the held-out data on top (blue, small), with
    the modes as unfilled circles of radius 3 std, so a collapsed generator cannot hide the data.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.plots import save_samples
    >>> ring = make_dataset("ring8")
    >>> p = os.path.join(tempfile.mkdtemp(), "s.png")
    >>> save_samples(ring, ring._mixture(500, np.random.default_rng(0)), p, title="ring8")
    >>> os.path.getsize(p) > 0
    True
    """
    plt = _plt()
    samples = np.asarray(samples)
    if dataset.kind == "points":
        fig, ax = plt.subplots(figsize=(4.5, 4.7))
        _scatter_panel(ax, dataset, samples)
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        _image_panel(ax, dataset, samples, 10)
    ax.set_title(title, fontsize=9)
    _save(fig, path, plt)


def save_sample_grids(dataset, snapshots, path, title=""):
    """A row of panels of generated samples over training time.

    Parameters
    ----------
    dataset : Dataset
    snapshots : list of (time_seconds, samples)
        One panel per entry, titled with its time: a scatter over the held-out data (2-D) or a 6x6
        grid of digits.
    path : str, the PNG to write
    title : str, optional

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.plots import save_sample_grids
    >>> ds = make_dataset("digits")
    >>> p = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> save_sample_grids(ds, [(0.0, ds.train_x[:36] * 0), (30.0, ds.train_x[:36])], p)
    >>> os.path.getsize(p) > 0
    True
    """
    plt = _plt()
    snapshots = list(snapshots)
    if not snapshots:
        _empty(plt, path, title, "no snapshots")
        return
    k = len(snapshots)
    fig, axes = plt.subplots(1, k, figsize=(2.7 * k, 3.1 if dataset.kind == "points" else 2.9), squeeze=False)
    for j, (ax, (t, x)) in enumerate(zip(axes[0], snapshots)):
        if dataset.kind == "points":
            _scatter_panel(ax, dataset, np.asarray(x), legend=(j == 0))
        else:
            _image_panel(ax, dataset, x, 6)
        ax.set_title(_fmt_time(t), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path, plt)


def save_mode_histogram(dataset, samples_by_label, path, title=""):
    """Grouped bars of the per-mode mass of one or several sample sets, with the uniform level 1/K.

    The mass of a mode is the share of all samples that are high quality there
    (:func:`~otkit.proximal.metrics.mode_masses`); for the digits it is the share confidently
    (p >= 0.5) classified as each digit by the feature network. Rows with non-finite values count
    as low quality.

    Parameters
    ----------
    dataset : Dataset
    samples_by_label : dict label -> samples (or one array)
    path : str, the PNG to write
    title : str, optional

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from otkit.proximal import make_dataset
    >>> from otkit.proximal.plots import save_mode_histogram
    >>> ring = make_dataset("ring8")
    >>> p = os.path.join(tempfile.mkdtemp(), "h.png")
    >>> save_mode_histogram(ring, {"data": ring.heldout(1000), "one mode": np.repeat(ring.modes[:1], 50, 0)}, p)
    >>> os.path.getsize(p) > 0
    True
    """
    from .metrics import digit_class_masses, mode_masses

    plt = _plt()
    if not isinstance(samples_by_label, dict):
        samples_by_label = {"samples": samples_by_label}
    if dataset.kind == "points":
        k, what = len(dataset.modes), "mode"
    else:
        k, what = 10, "digit class"
    fig, ax = plt.subplots(figsize=(min(11.0, max(5.0, 0.12 * k * max(1, len(samples_by_label)) + 3.0)), 3.4))
    width = 0.8 / max(1, len(samples_by_label))
    for j, (label, x) in enumerate(samples_by_label.items()):
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        ok = np.isfinite(x).all(1)
        masses = np.zeros(k)
        if ok.any():
            masses = (mode_masses(x[ok], dataset.modes, dataset.std) if dataset.kind == "points"
                      else digit_class_masses(x[ok])) * ok.mean()
        kl = float(np.log(k))  # KL(q || uniform) of the high-quality share q; log K when empty
        if masses.sum() > 0:
            q = masses[masses > 0] / masses.sum()
            kl = float(np.sum(q * np.log(q * k)))
        ax.bar(np.arange(k) - 0.4 + width * (j + 0.5), masses, width=width, color=f"C{j % 10}",
               label=f"{label} (total {masses.sum():.2f}, KL {kl:.2f})")
    ax.axhline(1.0 / k, color="k", ls="--", lw=0.8, label=f"uniform 1/{k}")
    ax.set_xticks(np.arange(k))
    ax.tick_params(axis="x", labelsize=7 if k > 12 else 8)
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_xlabel(what)
    ax.set_ylabel("share of samples (high quality)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title, fontsize=9)
    _save(fig, path, plt)


def _interp_nan(grid, t, v):
    """Linear interpolation of (t, v) at ``grid``; NaN outside [t[0], t[-1]] and on any interval
    with a NaN end (a gap, not a bridge)."""
    out = np.full(len(grid), np.nan)
    if len(t) == 0:
        return out
    if len(t) == 1:
        out[np.isclose(grid, t[0], rtol=1e-12, atol=0.0)] = v[0]
        return out
    inside = (grid >= t[0]) & (grid <= t[-1])
    g = grid[inside]
    i = np.clip(np.searchsorted(t, g, side="right") - 1, 0, len(t) - 2)
    dt = t[i + 1] - t[i]
    w = np.divide(g - t[i], dt, out=np.zeros_like(g), where=dt > 0)
    with np.errstate(invalid="ignore"):
        val = (1 - w) * v[i] + w * v[i + 1]  # NaN at either end propagates inside the interval
    out[inside] = np.where(w == 0, v[i], np.where(w == 1, v[i + 1], val))  # knots keep their value
    return out


def save_metric_vs_time(curves, path, metric_label, title="", logy=False):
    """A metric against training time for several variants, aggregated over seeds.

    For each variant the runs are interpolated linearly on a common grid of 200 times spanning
    them (NaN outside a run's time range and across NaN values); the median over runs is drawn
    as a line and the min-max over runs as a band, with the raw points as faint dots.

    Parameters
    ----------
    curves : dict variant -> list of runs, each run a list of (time_seconds, value)
        Values may be NaN or inf (left as gaps); with ``logy`` non-positive values are gaps too.
    path : str, the PNG to write
    metric_label : str, the y-axis label
    title : str, optional
    logy : bool, default False, a logarithmic y axis

    Examples
    --------
    >>> import os, tempfile
    >>> from otkit.proximal.plots import save_metric_vs_time
    >>> p = os.path.join(tempfile.mkdtemp(), "c.png")
    >>> runs = [[(0, 2.0), (10, 1.0), (20, 0.5)], [(0, 2.5), (12, float("nan")), (21, 0.6)]]
    >>> save_metric_vs_time({"RWP": runs, "plain": [[(0, 2.0), (20, 1.5)]]}, p, "W2", logy=True)
    >>> os.path.getsize(p) > 0
    True
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    any_data = False
    for j, (variant, runs) in enumerate(curves.items()):
        color = f"C{j % 10}"
        clean = []
        for run in runs:
            a = np.asarray(run, np.float64).reshape(-1, 2)
            a = a[np.isfinite(a[:, 0])]
            a = a[np.argsort(a[:, 0], kind="stable")]
            v = a[:, 1].copy()
            bad = ~np.isfinite(v) | ((v <= 0) if logy else False)
            v[bad] = np.nan
            if len(a):
                clean.append((a[:, 0], v))
        if not clean:
            continue
        t0 = min(t[0] for t, _ in clean)
        t1 = max(t[-1] for t, _ in clean)
        grid = np.linspace(t0, t1, 200) if t1 > t0 else np.array([t0])
        vals = np.stack([_interp_nan(grid, t, v) for t, v in clean])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, no warning
            med = np.nanmedian(vals, 0)
            lo, hi = np.nanmin(vals, 0), np.nanmax(vals, 0)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(grid, np.where(ok, lo, 0.0), np.where(ok, hi, 0.0), where=ok, color=color,
                        alpha=0.2, linewidth=0)
        marker = "o" if len(grid) == 1 else None
        ax.plot(grid, med, color=color, lw=1.6, marker=marker, label=f"{variant} (median of {len(clean)})")
        pts_t = np.concatenate([t for t, _ in clean])
        pts_v = np.concatenate([v for _, v in clean])
        ax.scatter(pts_t, pts_v, s=4, color=color, alpha=0.35, linewidths=0)
        any_data = any_data or bool(np.isfinite(pts_v).any())
    if logy and any_data:
        ax.set_yscale("log")
    if not any_data:
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(metric_label)
    ax.grid(alpha=0.3, lw=0.5)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title, fontsize=9)
    _save(fig, path, plt)


def save_curves(history, path, title=""):
    """W2 to held-out data, modes and losses against training time and step."""
    plt = _plt()
    if not history:
        return
    step = np.array([r["step"] for r in history])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].plot(step, [r["w2"] for r in history], "-o", ms=3)
    axes[0].set_ylabel("exact W2 to held-out data")
    axes[0].set_yscale("log")
    axes[1].plot(step, [r["modes"] for r in history], "-o", ms=3, label="modes / classes")
    ax2 = axes[1].twinx()
    ax2.plot(step, [r["hq"] for r in history], "-", c="tab:orange", label="high-quality share")
    ax2.set_ylim(0, 1)
    axes[1].set_ylabel("modes captured")
    ax2.set_ylabel("high-quality share", color="tab:orange")
    axes[2].plot(step, [r["d_loss"] for r in history], label="discriminator")
    axes[2].plot(step, [r["g_loss"] for r in history], label="generator")
    axes[2].legend(fontsize=8)
    axes[2].set_ylabel("loss")
    for ax in axes:
        ax.set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
