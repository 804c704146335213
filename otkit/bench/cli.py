"""``otkit bench``: command-line front end of the benchmarks (see docs/bench.md).

    otkit bench [--quick] [--dims 64,128,...] [--reg 1,0.1,0.02] [--metric graph|euclidean]
                [--solvers ...] [--repeat N] [--budget S] [--threads T] [--out DIR]
    otkit bench batch [--dims 1024,4096] [--n 100] [--reg 0.1] ...
    otkit bench bandwidth [--d 4096] ...
    otkit bench knn [--n 500] [--lambdas 1,3,10,30] [--train-sizes 50,100,200,400] ...

Every argument is checked before any work starts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._cli_common import CLIError, HelpFormatter, check_out_dir, float_arg, float_list_arg, int_arg, int_list_arg, report
from .common import METRICS, default_cache_dir

QUICK_DIMS = (64, 128, 256, 512)
FULL_DIMS = (64, 128, 256, 512, 1024, 2048, 4096)
QUICK_REGS = (0.1,)
FULL_REGS = (1.0, 0.1, 0.02)


def _solver_list(s):
    from .solvers import SOLVER_NAMES

    names = [t.strip() for t in str(s).split(",") if t.strip()]
    bad = [n for n in names if n not in SOLVER_NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown solver(s) {', '.join(map(repr, bad)) or '(none given)'}; choose from: {', '.join(SOLVER_NAMES)}")
    return names


def _common(p, out_default):
    p.add_argument("--out", default=out_default,
                   help=f"output folder, created if missing (default: ./{out_default} in the current folder; "
                        "the repository's .gitignore lists it)")
    p.add_argument("--threads", type=int_arg(0), default=0,
                   help="threads for every library (otkit OpenMP, NumPy/POT BLAS, Numba); 0 (default): each "
                        "library's default (all cores). 1 gives a reproducible comparison on a shared, busy machine")
    p.add_argument("--repeat", type=int_arg(), default=None, help="timed calls per measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(subparsers):
    """Register ``bench`` (with its subcommands batch, bandwidth, knn) on an argparse subparsers object."""
    # allow_abbrev=False: the sweep's options must not swallow a subcommand's (e.g. "batch --n 10")
    p = subparsers.add_parser("bench", allow_abbrev=False, formatter_class=HelpFormatter, help="benchmark otkit against POT and FastEMD (Cuturi 2013, Sec. 5)",
                              description="Histogram-dimension sweep: time vs d for every solver, side by side. "
                                          "Subcommands: batch, bandwidth, knn. Every command writes its results "
                                          "into --out (default ./otkit-bench, under the current folder). "
                                          "See docs/bench.md.")
    p.add_argument("--quick", action="store_true",
                   help=f"about a minute: dims {','.join(map(str, QUICK_DIMS))}, reg {QUICK_REGS[0]:g}, repeat 1")
    p.add_argument("--dims", type=int_list_arg(), default=None,
                   help=f"comma-separated histogram dimensions (default {','.join(map(str, FULL_DIMS))})")
    p.add_argument("--reg", type=float_list_arg(), default=None,
                   help="comma-separated regularizations reg = 1/lambda (default 1,0.1,0.02)")
    p.add_argument("--metric", choices=METRICS, default="graph", help="ground metric (default graph)")
    p.add_argument("--solvers", type=_solver_list, default=None,
                   help="comma-separated solvers (default all): " + ", ".join(__import__(
                       "otkit.bench.solvers", fromlist=["x"]).SOLVER_NAMES))
    p.add_argument("--budget", type=float_arg(), default=None,
                   help="per-call time budget in seconds; a solver over it is skipped for larger d "
                        "(default 60, --quick 5)")
    p.add_argument("--stop-thr", type=float_arg(), default=1e-6, help="Sinkhorn stopThr (default 1e-6)")
    p.add_argument("--numitermax", type=int_arg(), default=1000)
    p.add_argument("--bandwidth-d", type=int_arg(0), default=4096,
                   help="d of the memory-bandwidth measurement (0: skip it)")
    p.add_argument("--cache-dir", default=None, help="where the graph metrics are cached (default ~/.cache/otkit)")
    _common(p, "otkit-bench")
    p.set_defaults(_bench_func=_run_sweep)

    sub = p.add_subparsers(dest="bench_cmd", metavar="{batch,bandwidth,knn}")
    b = sub.add_parser("batch", formatter_class=HelpFormatter, help="one histogram vs N others sharing M (otkit batched vs sequential POT)")
    b.add_argument("--dims", type=int_list_arg(), default=[1024, 4096], help="default 1024,4096")
    b.add_argument("--n", type=int_arg(), default=100, help="number of target histograms (default 100)")
    b.add_argument("--reg", type=float_arg(), default=0.1, help="default 0.1")
    b.add_argument("--metric", choices=METRICS, default="graph")
    b.add_argument("--budget", type=float_arg(), default=60.0,
                   help="time budget of the sequential POT loop per d (then the time per pair is the mean of the "
                        "pairs timed; default 60)")
    b.add_argument("--stop-thr", type=float_arg(), default=1e-6)
    b.add_argument("--numitermax", type=int_arg(), default=1000)
    b.add_argument("--cache-dir", default=None)
    _common(b, "otkit-bench")
    b.set_defaults(_bench_func=_run_batch)

    w = sub.add_parser("bandwidth", formatter_class=HelpFormatter, help="K @ v memory bandwidth and the fraction a Sinkhorn iteration reaches")
    w.add_argument("--d", type=int_arg(), default=4096)
    w.add_argument("--iters", type=int_arg(), default=40)
    _common(w, "otkit-bench")
    w.set_defaults(_bench_func=_run_bandwidth)

    k = sub.add_parser("knn", formatter_class=HelpFormatter, help="k-NN on scikit-learn digits with Sinkhorn, EMD, Euclidean, Hellinger distances")
    k.add_argument("--n", type=int_arg(20), default=500,
                   help="class-stratified subsample of the 1797 digits (default 500; the Sinkhorn distance "
                        "matrices cost n^2/2 problems each)")
    k.add_argument("--lambdas", type=float_list_arg(), default=[1.0, 3.0, 10.0, 30.0],
                   help="lambda = 1/reg values (default 1,3,10,30)")
    k.add_argument("--train-sizes", type=int_list_arg(), default=[50, 100, 200, 400])
    k.add_argument("--folds", type=int_arg(), default=5)
    k.add_argument("--stop-thr", type=float_arg(), default=1e-4,
                   help="Sinkhorn stopThr (default 1e-4: k-NN only needs the ranking of distances)")
    k.add_argument("--numitermax", type=int_arg(), default=1000)
    _common(k, "otkit-bench")
    k.set_defaults(_bench_func=_run_knn)
    return p


def _out(args):
    return check_out_dir(args.out)


def _run_sweep(args):
    from .sweep import run_sweep

    dims = args.dims or (list(QUICK_DIMS) if args.quick else list(FULL_DIMS))
    regs = args.reg or (list(QUICK_REGS) if args.quick else list(FULL_REGS))
    repeat = args.repeat or (1 if args.quick else 3)
    budget = args.budget or (5.0 if args.quick else 60.0)
    out = _out(args)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    res = run_sweep(dims, regs, metric=args.metric, solvers=args.solvers, repeat=repeat, out=out, budget=budget,
                    threads=args.threads, stopThr=args.stop_thr, numItermax=args.numitermax, seed=args.seed,
                    cache_dir=cache, bandwidth_d=args.bandwidth_d, show_progress=not args.no_progress,
                    quick=args.quick)
    print((out / "sweep.md").read_text())
    print(f"wrote {out / 'sweep.json'}, sweep.csv, sweep.md, sweep.png")
    return 1 if res["mismatches"] else 0


def _run_batch(args):
    from .batch import run_batch

    out = _out(args)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    res = run_batch(dims=args.dims, N=args.n, reg=args.reg, metric=args.metric, repeat=args.repeat or 3,
                    threads=args.threads, stopThr=args.stop_thr, numItermax=args.numitermax, budget=args.budget,
                    seed=args.seed, cache_dir=cache, out=out, show_progress=not args.no_progress)
    return 1 if res["mismatches"] else 0


def _run_bandwidth(args):
    from .bandwidth import bandwidth_markdown, measure_bandwidth
    from .common import machine_info, write_json

    out = _out(args)
    bw = measure_bandwidth(args.d, threads=args.threads, n_iter=args.iters, repeat=args.repeat or 3)
    bw["machine"] = machine_info(args.threads)
    write_json(out / "bandwidth.json", bw)
    md = bandwidth_markdown(bw)
    (out / "bandwidth.md").write_text(md + "\n")
    print(md)
    return 0


def _run_knn(args):
    from .knn import run_knn

    train = [t for t in args.train_sizes if t < args.n]
    if not train:
        raise CLIError(f"every --train-sizes value must be < --n ({args.n})")
    dropped = [t for t in args.train_sizes if t >= args.n]
    if dropped:
        print(f"otkit bench knn: note: --train-sizes {','.join(map(str, dropped))} skipped (must be < --n {args.n})",
              file=sys.stderr)
    out = _out(args)
    run_knn(n=args.n, lambdas=args.lambdas, train_sizes=train, folds=args.folds, threads=args.threads,
            stopThr=args.stop_thr, numItermax=args.numitermax, seed=args.seed, out=out,
            show_progress=not args.no_progress)
    return 0


def run(args) -> int:
    """Dispatch a parsed ``otkit bench ...`` namespace."""
    try:
        return args._bench_func(args)
    except CLIError as exc:  # e.g. an output folder that cannot be written
        return report("otkit bench" + (f" {args.bench_cmd}" if getattr(args, "bench_cmd", None) else ""), exc)


def main(argv=None) -> int:
    """``python -m otkit.bench.cli ...`` (same as ``otkit bench ...``)."""
    ap = argparse.ArgumentParser(prog="otkit")
    sp = ap.add_subparsers(dest="command", required=True)
    add_parser(sp)
    args = ap.parse_args(["bench"] + list(sys.argv[1:] if argv is None else argv))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
