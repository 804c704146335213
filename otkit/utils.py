"""Input validation and small helpers shared by every public function.

Every public function validates its input once with these helpers and gets back C-contiguous
arrays of one floating dtype (float64 by default). Errors name the argument. Inputs are never
modified in place: the helpers copy whenever a conversion is needed and the kernels only write
to arrays they allocated.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

__all__ = [
    "as_float_array",
    "check_cost",
    "check_hist",
    "check_masses",
    "check_reg",
    "check_positive_int",
    "resolve_dtype",
    "unif",
    "dist",
]


def unif(n: int, dtype=np.float64, type_as=None):
    """Uniform histogram of length ``n`` (POT's ``ot.unif``): NumPy, or like ``type_as`` (its library, dtype
    and device: a torch tensor gives a tensor).

    Examples
    --------
    >>> import otkit
    >>> otkit.unif(4)
    array([0.25, 0.25, 0.25, 0.25])
    """
    n = check_positive_int(n, "n")
    if type_as is not None:
        mod = type(type_as).__module__.split(".")[0]
        if mod == "torch":
            import torch
            return torch.full((n,), 1.0 / n, dtype=type_as.dtype, device=type_as.device)
        if mod == "cupy":
            import cupy
            return cupy.full(n, 1.0 / n, dtype=type_as.dtype)
        dtype = getattr(type_as, "dtype", dtype)
    try:
        return np.full(n, 1.0 / n, dtype=dtype)
    except MemoryError:
        raise MemoryError(f"unif: n = {n} entries of {np.dtype(dtype).name} do not fit in memory") from None


def dtype_name(x) -> str:
    """The element type of an array (NumPy, torch on any device, CuPy, or a list) as a NumPy dtype name,
    read from its ``dtype`` without converting or copying it."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    return str(dt).replace("torch.", "")


def _numel(x) -> int:
    if hasattr(x, "numel"):  # torch
        return int(x.numel())
    size = getattr(x, "size", None)
    return int(size) if isinstance(size, (int, np.integer)) else int(np.size(x))


def resolve_dtype(dtype, *arrays) -> np.dtype:
    """float64 unless ``dtype`` says float32, or (dtype None) every non-empty input is float32."""
    if dtype is None:
        kinds = [dtype_name(x) for x in arrays if x is not None and _numel(x) > 0]
        if kinds and all(k == "float32" for k in kinds):
            return np.dtype(np.float32)
        return np.dtype(np.float64)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise TypeError(f"dtype must be float64 or float32, got {dt}")
    return dt


def as_float_array(x, name: str, dtype=np.float64) -> np.ndarray:
    """Convert ``x`` to a C-contiguous array of ``dtype`` (integers and bools are converted).

    Raises TypeError for non-numeric input (strings, objects, complex numbers).
    """
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensors
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def array_range(M) -> tuple[float, float]:
    """(min, max) of a float array: one parallel pass in the C++ extension when it is loaded (NumPy
    takes two single-threaded passes: 10 ms against 4 ms for a 4096 x 4096 float64 array here).
    NaN anywhere gives (nan, nan)."""
    from . import _backend

    ext = _backend._ext
    if ext is not None and M.dtype in (np.float64, np.float32) and M.flags.c_contiguous and M.size:
        return ext.value_range_f64(M) if M.dtype == np.float64 else ext.value_range_f32(M)
    return float(M.min()), float(M.max())


def check_cost(M, dtype=np.float64, name: str = "M", value_range=None, reg=None) -> np.ndarray:
    """Validate a cost matrix: 2-D, non-empty, finite (and, given ``reg`` > 0, M / reg representable:
    ``check_reg_scale`` on the range computed here, no second pass over M).

    ``value_range``: optional (min, max) of M already computed by the caller; NaN or inf in M
    shows in them, which saves a pass over M.
    """
    M = as_float_array(M, name, dtype)
    if M.ndim != 2:
        raise ValueError(f"{name} must be a 2-D cost matrix, got shape {M.shape}")
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {M.shape})")
    if value_range is None:  # NaN and inf show in the min or the max: no n x m boolean mask needed
        value_range = array_range(M)
    if not np.isfinite(value_range).all():
        bad = np.argwhere(~np.isfinite(M))[0] if not np.isfinite(M).all() else None
        if bad is None:  # pragma: no cover - value_range disagreed with M
            raise ValueError(f"{name}: inconsistent value_range")
        raise ValueError(f"{name} has non-finite entries (NaN or inf), e.g. {name}[{bad[0]}, {bad[1]}] = {M[tuple(bad)]}")
    if reg is not None and reg > 0:
        check_reg_scale(reg, value_range, M.dtype, cost=name)
    return M


def check_hist(x, name: str, size: int, dtype=np.float64, allow_2d: bool = False,
               other: str = "M.shape[0]") -> np.ndarray:
    """Validate a histogram of length ``size`` (empty or None means uniform).

    ``allow_2d``: a (size, N) array of N histograms is accepted too.
    """
    if x is None:
        return unif(size, dtype)
    arr = as_float_array(x, name, dtype)
    if arr.size == 0 and arr.ndim == 1:
        return unif(size, dtype)
    if arr.ndim == 0 or arr.ndim > (2 if allow_2d else 1):
        want = "a 1-D array (or 2-D: one histogram per column)" if allow_2d else "a 1-D array"
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.shape[0] != size:
        raise ValueError(f"{name} has length {arr.shape[0]} but {other} = {size}")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has shape {arr.shape}: no histogram")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf)")
    if (arr < 0).any():
        raise ValueError(f"{name} has negative entries (min {arr.min():.6g}); weights must be >= 0")
    sums = arr.sum(axis=0)
    if np.any(sums <= 0):
        raise ValueError(f"{name} has zero total mass")
    return arr


def check_masses(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6, names=("a", "b")) -> None:
    """Raise when the total masses of ``a`` and of (each column of) ``b`` differ beyond ``rtol``."""
    ma = float(np.sum(a, dtype=np.float64))
    mb = np.atleast_1d(np.sum(b, axis=0, dtype=np.float64))
    diff = np.abs(mb - ma)
    tol = rtol * np.maximum(ma, mb)
    if np.any(diff > tol):
        k = int(np.argmax(diff - tol))
        which = names[1] if mb.size == 1 else f"{names[1]}[:, {k}]"
        raise ValueError(
            f"{names[0]} and {which} must have the same total mass: sum({names[0]}) = {ma:.12g}, "
            f"sum({which}) = {mb[k]:.12g} (differ by {diff[k]:.3g}, relative tolerance {rtol:g}); "
            "normalize them, e.g. a / a.sum()"
        )


def check_reg(reg, name: str = "reg") -> float:
    """A regularization strength: a finite real number > 0."""
    if isinstance(reg, (bool, np.bool_)) or not isinstance(reg, (numbers.Real, np.floating, np.integer)):
        if np.ndim(reg) == 0 and np.asarray(reg).dtype.kind in "iuf":
            reg = float(np.asarray(reg))
        else:
            raise TypeError(f"{name} must be a real number, got {type(reg).__name__}")
    reg = float(reg)
    if not np.isfinite(reg) or reg <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {reg}")
    if reg < np.finfo(np.float64).tiny:  # subnormal: 1 / reg overflows, M / reg loses all precision
        raise ValueError(f"{name} = {reg:.3g} is subnormal (below {np.finfo(np.float64).tiny:.3g}); use a larger {name}")
    return reg


def check_reg_scale(reg, value_range, dtype=np.float64, name: str = "reg", cost: str = "M") -> None:
    """Raise when the scaled costs M / reg overflow ``dtype`` (the kernels compute them), naming reg and M."""
    big = max(abs(float(value_range[0])), abs(float(value_range[1])))
    limit = float(np.finfo(dtype).max) * 1e-6  # headroom for the sums of products (values, marginals)
    if not big < limit:
        raise ValueError(f"{cost} has entries too large for {np.dtype(dtype).name} arithmetic (max |{cost}| = "
                         f"{big:.3g}, limit {limit:.3g}); rescale {cost}")
    with np.errstate(over="ignore"):
        scaled = big / reg
    if not scaled < limit:
        raise ValueError(f"{name} = {reg:.3g} is too small for the cost range of {cost} (max |{cost}| = {big:.3g}): "
                         f"{cost} / {name} overflows {np.dtype(dtype).name}; use a larger {name} or rescale {cost}")


def check_method(method, allowed, name: str = "method", case=str.lower) -> str:
    """A method name among ``allowed`` (compared after ``case``): TypeError for a non-string, ValueError for an
    unknown name; returns the name in ``case``."""
    if not isinstance(method, str):
        raise TypeError(f"{name} must be a string, one of {tuple(allowed)}, got {type(method).__name__}")
    if case(method) not in allowed:
        raise ValueError(f"unknown {name} {method!r}; choose one of {tuple(allowed)}")
    return case(method)


def check_threshold(x, name: str = "stopThr") -> float:
    """A stopping threshold (stopThr, tol): a finite real number >= 0."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number >= 0, got {type(x).__name__}")
    x = float(x)
    if not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


def check_positive_int(x, name: str, minimum: int = 1) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    if x < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {x}")
    return int(x)


MAX_ITER_CAP = 2**31 - 1  # the kernels count iterations in a C int: more cannot be told apart in practice


def check_max_iter(numItermax, name: str = "numItermax", minimum: int = 1, cap: int | None = MAX_ITER_CAP) -> int:
    """An iteration count >= ``minimum``: an int or an integral float (POT's users write numItermax=1e6), capped
    at ``cap`` (2**31 - 1 for the kernels that count in a C int: a larger valid value must not fail there)."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if isinstance(numItermax, (bool, np.bool_)) or not isinstance(numItermax, (numbers.Real, np.number)):
        raise TypeError(f"{name} must be {what}, got {type(numItermax).__name__}")
    if not np.isfinite(numItermax) or int(numItermax) != numItermax or numItermax < minimum:
        raise ValueError(f"{name} must be {what}, got {numItermax}")
    return int(numItermax) if cap is None else min(int(numItermax), cap)


def check_omega(omega):
    """The over-relaxation argument: ``(omega, auto)`` with omega in (0, 2) (1.0 for ``"auto"``)."""
    if isinstance(omega, str) and omega == "auto":
        return 1.0, True
    if isinstance(omega, str) or not isinstance(omega, (numbers.Real, np.number)) or not 0.0 < float(omega) < 2.0:
        raise ValueError(f"omega (over-relaxation) must be in (0, 2) or 'auto', got {omega!r}")
    return float(omega), False


ANDERSON_MAX_MEMORY = 32  # AndersonMixer::kMaxMemory (csrc/common/anderson.h)


def check_anderson(anderson, relaxed=False):
    """The Anderson acceleration argument: the number of past iterates mixed, an int in [0, 32] (0: off);
    ``relaxed``: over-relaxation (omega) was asked for too, which excludes it."""
    if isinstance(anderson, (bool, np.bool_)) or not isinstance(anderson, (numbers.Integral, np.integer)):
        raise TypeError(f"anderson (memory of the Anderson acceleration) must be an int in [0, {ANDERSON_MAX_MEMORY}], "
                        f"got {type(anderson).__name__}")
    if not 0 <= int(anderson) <= ANDERSON_MAX_MEMORY:
        raise ValueError(f"anderson (memory of the Anderson acceleration) must be an int in [0, {ANDERSON_MAX_MEMORY}] "
                         f"(0: off; 5 is a good value), got {anderson!r}")
    if anderson and relaxed:
        raise ValueError("anderson and omega (over-relaxation) exclude each other: use one of the two")
    return int(anderson)


def dist(x1, x2=None, metric: str = "sqeuclidean", p: float = 2.0, w=None, backend="auto", nx=None,
         use_tensor=False):
    r"""Pairwise cost matrix between the rows of ``x1`` (n, k) and ``x2`` (m, k) (POT's ``ot.dist``).

    Parameters
    ----------
    x1 : (n, k) array_like
    x2 : (m, k) array_like, optional (defaults to ``x1``)
    metric : {"sqeuclidean", "euclidean", "cityblock", "minkowski"} or any ``scipy.spatial.distance.cdist`` metric
    p : float, the exponent of ``"minkowski"``
    w : array_like, optional, weights of the scipy metrics that take them
    backend : {"auto", "scipy"}
        ``"scipy"``: torch tensors go through ``scipy.spatial.distance.cdist`` (no graph, as POT).
    nx, use_tensor
        Accepted for POT compatibility: the result follows the inputs. Torch tensors (CPU or GPU) give a
        tensor of their dtype and device, differentiable in the points for "sqeuclidean", "euclidean",
        "cityblock", "minkowski", "chebyshev", "cosine", "correlation", "canberra", "braycurtis" and
        "seuclidean" (POT differentiates the first six); the other scipy metrics are computed by scipy on
        host copies (a warning when a point set requires grad).

    Returns
    -------
    M : (n, m) ndarray

    Examples
    --------
    >>> import otkit
    >>> otkit.dist([[0.0], [1.0]], [[0.0], [3.0]])
    array([[0., 9.],
           [1., 4.]])
    """
    if type(x1).__module__.split(".")[0] == "torch":  # torch ops: the graph reaches the points
        return _dist_torch(x1, x2, metric, p=p, w=w, backend=backend)
    x1 = as_float_array(x1, "x1")
    return host_dist(x1, x1 if x2 is None else as_float_array(x2, "x2"), metric, p, w)


def host_dist(x1, x2, metric="sqeuclidean", p=2.0, w=None, names=("x1", "x2")):
    """``dist`` on float64 NumPy points; errors name the points as ``names`` (e.g. x_a, x_b for wasserstein).
    Costs that overflow float64 raise (never a silent inf)."""
    from scipy.spatial.distance import cdist

    x1, x2 = _point_pair(x1, x2, names)
    if not (np.isfinite(x1).all() and np.isfinite(x2).all()):
        raise ValueError(f"{names[0]} and {names[1]} must be finite")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string (a scipy cdist metric name), got {type(metric).__name__}")
    with np.errstate(over="ignore", invalid="ignore"):
        if metric == "sqeuclidean":
            # ||x||^2 + ||y||^2 - 2 <x, y>, clipped at 0 against round-off
            d = np.maximum((x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] - 2.0 * (x1 @ x2.T), 0.0)
        elif metric == "minkowski":
            if p <= 0:
                raise ValueError(f"p must be > 0 for the minkowski metric, got {p}")
            d = cdist(x1, x2, metric="minkowski", p=p) if w is None else cdist(x1, x2, metric="minkowski", p=p, w=w)
        else:
            try:
                d = cdist(x1, x2, metric=metric) if w is None else cdist(x1, x2, metric=metric, w=w)
            except ValueError as exc:
                raise ValueError(f"unknown or invalid metric {metric!r}: {exc}") from None
    if d.size and not np.isfinite(d).all():
        if np.isnan(d).any() and metric not in ("sqeuclidean", "euclidean", "cityblock", "minkowski", "chebyshev"):
            raise ValueError(f"metric {metric!r} is undefined for some points of {names[0]} and {names[1]} "
                             "(e.g. a zero vector for 'cosine' or 'correlation')")
        raise ValueError(f"the {metric} distances between {names[0]} and {names[1]} overflow float64 (largest "
                         f"coordinate {max(np.abs(x1).max(), np.abs(x2).max()):.3g}); rescale the points")
    return d


def _point_pair(x1, x2, names=("x1", "x2")):
    """Two point sets as (n, k) and (m, k) arrays (1-D: one coordinate), NumPy or torch."""
    x1 = x1[:, None] if x1.ndim == 1 else x1
    x2 = x2[:, None] if x2.ndim == 1 else x2
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must be (n, k) and (m, k) arrays, got shapes "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    return x1, x2


def _dist_torch(x1, x2, metric, p=2.0, w=None, backend="auto"):
    """dist on torch tensors (same library, dtype, device; differentiable in the points).

    "sqeuclidean" by POT's formula ||x||^2 + ||y||^2 - 2 <x, y> clipped at 0 (exact 0 diagonal when x2 is
    x1 or None), "euclidean" its square root; "cityblock", "minkowski" (p, optional weights w),
    "chebyshev", "cosine", "correlation", "canberra", "braycurtis" and "seuclidean" by torch ops with
    scipy's definitions. Any other scipy metric (or ``backend="scipy"``) goes through
    ``scipy.spatial.distance.cdist`` on host copies: the result is a tensor without a graph, and a warning
    says so when a point set requires grad.
    """
    import torch

    same = x2 is None or x2 is x1
    x2 = x1 if x2 is None else x2
    if not isinstance(x2, torch.Tensor):
        raise TypeError("dist: x1 is a torch tensor but x2 is not; pass both as tensors")
    if x1.device != x2.device:
        raise TypeError(f"dist: x1 is on {x1.device} and x2 on {x2.device}; put them on one device")
    x1, x2 = _point_pair(x1, x2)
    if backend != "scipy" and metric in ("sqeuclidean", "euclidean"):
        D = torch.clamp((x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] - 2.0 * x1 @ x2.T, min=0.0)
        if same:
            D = D * (1.0 - torch.eye(D.shape[0], dtype=D.dtype, device=D.device))
        return torch.sqrt(D) if metric == "euclidean" else D
    diff = None if metric in ("cosine", "correlation") else (lambda: x1[:, None, :] - x2[None, :, :])
    if backend != "scipy":
        if metric == "cityblock":
            return diff().abs().sum(2)
        if metric == "minkowski":
            if not p > 0:
                raise ValueError(f"p must be > 0 for the minkowski metric, got {p}")
            a = diff().abs() ** p
            if w is not None:
                a = a * torch.as_tensor(np.asarray(w), dtype=x1.dtype, device=x1.device)
            return a.sum(2) ** (1.0 / p)
        if metric == "chebyshev":
            return diff().abs().amax(2)
        if metric in ("cosine", "correlation"):
            if metric == "correlation":
                x1 = x1 - x1.mean(1, keepdim=True)
                x2 = x2 - x2.mean(1, keepdim=True)
            n1, n2 = x1.norm(dim=1), x2.norm(dim=1)
            return 1.0 - (x1 @ x2.T) / n1[:, None] / n2[None, :]
        if metric == "canberra":  # sum |x - y| / (|x| + |y|), terms 0/0 = 0
            den = x1.abs()[:, None, :] + x2.abs()[None, :, :]
            num = diff().abs()
            return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den)).sum(2)
        if metric == "braycurtis":  # sum |x - y| / sum |x + y|
            return diff().abs().sum(2) / (x1[:, None, :] + x2[None, :, :]).abs().sum(2)
        if metric == "seuclidean":  # variances of the stacked points (ddof 1), as scipy's default V
            V = torch.cat([x1, x2]).var(0, unbiased=True) if w is None else torch.as_tensor(
                np.asarray(w), dtype=x1.dtype, device=x1.device)
            return torch.sqrt((diff() ** 2 / V).sum(2))
    from scipy.spatial.distance import cdist

    if x1.requires_grad or x2.requires_grad:
        warnings.warn(f"dist: metric {metric!r} on torch tensors goes through scipy's cdist; the result has no "
                      "autograd graph", UserWarning, stacklevel=3)
    h1, h2 = x1.detach().cpu().numpy(), x2.detach().cpu().numpy()
    try:
        if isinstance(metric, str) and metric.endswith("minkowski"):
            D = cdist(h1, h2, metric=metric, p=p, w=w)
        else:
            D = cdist(h1, h2, metric=metric) if w is None else cdist(h1, h2, metric=metric, w=w)
    except ValueError as exc:
        raise ValueError(f"unknown or invalid metric {metric!r}: {exc}") from None
    return torch.as_tensor(D, dtype=x1.dtype if x1.is_floating_point() else torch.float64, device=x1.device)
