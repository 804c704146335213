"""Cost of the proximal term per inner generator step, by metric, at batch size B (default 256).

One inner step = generator forward (current and anchor), generator loss, proximal term, backward and
optimizer step. Measured on the built-in models (MLP for ring8 (2-D) and digits (64-D), DCGAN for
digits), one torch thread, median of ``--repeats`` proximal steps of 10 inner steps each. The
discriminator is a fixed MLP (its steps are not part of the proximal term's cost).

    python benchmarks/bench_proximal.py            # writes benchmarks/results/bench_proximal.{md,json}
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench(data, model, metric, batch, repeats, inner=10):
    import torch

    from otkit.proximal import WassersteinProximal, get_loss, make_dataset
    from otkit.proximal.models import make_discriminator, make_generator

    torch.manual_seed(0)
    ds = make_dataset(data)
    G = make_generator(ds, model=model)
    D = make_discriminator(ds, model=model)
    loss = get_loss("ns")
    opt = torch.optim.Adam(G.parameters(), lr=1e-4)
    shape = (ds.latent_dim, 1, 1) if model == "dcgan" else (ds.latent_dim,)
    if metric == "none":  # plain generator steps: the baseline
        def one_step():
            for _ in range(inner):
                opt.zero_grad(set_to_none=True)
                loss.g_loss(D, G(torch.randn((batch,) + shape))).backward()
                opt.step()
    else:
        prox = WassersteinProximal(G, opt, h=0.1, inner_steps=inner, metric=metric)

        def one_step():
            prox.step(lambda x: loss.g_loss(D, x), torch.randn((batch,) + shape))
    one_step()  # warm-up (Numba / first calls)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        one_step()
        times.append((time.perf_counter() - t) / inner)
    return float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for data, model in (("ring8", "mlp"), ("digits", "mlp"), ("digits", "dcgan")):
        base = None
        for metric in ("none", "relaxed", "exact", "sinkhorn"):
            t = bench(data, model, metric, args.batch, args.repeats)
            base = t if metric == "none" else base
            rows.append({"data": data, "model": model, "metric": metric, "ms_per_inner_step": 1e3 * t,
                         "overhead_vs_relaxed_ms": None})
            print(f"{data:7s} {model:6s} {metric:9s} {1e3 * t:8.2f} ms per inner step", flush=True)
        rel = next(r for r in rows if (r["data"], r["model"], r["metric"]) == (data, model, "relaxed"))
        for r in rows:
            if (r["data"], r["model"]) == (data, model):
                r["overhead_vs_relaxed_ms"] = r["ms_per_inner_step"] - rel["ms_per_inner_step"]
    md = ["# Proximal term: time per inner generator step (benchmarks/bench_proximal.py)", "",
          f"B = {args.batch}, one torch thread, median of {args.repeats} proximal steps of 10 inner steps; "
          f"load {', '.join('%.2f' % x for x in os.getloadavg())} at the end. `none` = plain generator steps.", "",
          "| data | model | metric | ms per inner step | minus relaxed (ms) |", "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['data']} | {r['model']} | {r['metric']} | {r['ms_per_inner_step']:.2f} | "
                  f"{r['overhead_vs_relaxed_ms']:+.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_proximal.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(args.out, "bench_proximal.json"), "w") as f:
        json.dump({"batch": args.batch, "rows": rows}, f, indent=1)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
