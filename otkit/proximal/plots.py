"""PNG pictures: sample scatter (2-D), image grid (digits) and metric curves."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_samples(dataset, samples, path, title=""):
    """Scatter of generated vs held-out points (2-D) or a 10x10 grid of generated digits."""
    plt = _plt()
    samples = np.asarray(samples)
    if dataset.kind == "points":
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        real = dataset.heldout(2000)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.4, label="held-out data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:red", alpha=0.5, label="generated")
        ax.scatter(dataset.modes[:, 0], dataset.modes[:, 1], s=30, marker="x", c="k", label="modes")
        lim = 1.4 * np.abs(dataset.modes).max()
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    else:
        k = 10
        imgs = samples[: k * k].reshape(-1, *dataset.image_shape)
        h, w = dataset.image_shape
        canvas = np.ones((k * (h + 1), k * (w + 1)))
        for i, im in enumerate(imgs):
            r, c = divmod(i, k)
            canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = (im + 1) / 2
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(1 - canvas, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
