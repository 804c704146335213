"""Arrays in GPU memory (torch CUDA tensors, CuPy arrays) for the CUDA kernels.

``backend="cuda"`` (or ``"auto"``) given a cost matrix that lives on a GPU runs the CUDA kernels on it in
place, without copies to the host, and returns arrays of the same library on the same device, as POT does
for its torch backend. This module holds the few array operations the Sinkhorn driver needs, for NumPy
(host) and for those two libraries, and the calls of the device-pointer kernels of ``otkit._cuda``.
"""
from __future__ import annotations

import numpy as np


def is_device_array(x) -> bool:
    """True for an array in GPU memory (it exposes ``__cuda_array_interface__``)."""
    try:
        return x is not None and hasattr(x, "__cuda_array_interface__")
    except Exception:  # noqa: BLE001 - some objects raise on the probe
        return False


def _lib(x):
    mod = type(x).__module__.split(".")[0]
    if mod in ("torch", "cupy"):
        return mod
    raise TypeError(f"arrays in GPU memory are supported as torch tensors or CuPy arrays, got {type(x).__name__}")


class HostOps:
    """NumPy arrays (the host kernels)."""

    on_device = False

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def full(self, shape, value):
        return np.full(shape, value, dtype=self.dtype)

    def zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def asarray(self, x):  # a C-contiguous copy in the working dtype
        return np.array(x, dtype=self.dtype, order="C")

    def contiguous(self, x):
        return np.ascontiguousarray(x)

    exp = staticmethod(np.exp)

    def log(self, x):
        with np.errstate(divide="ignore"):
            return np.log(x)

    def host(self, x):
        return x

    def result(self, x):
        return x


class DeviceOps(HostOps):
    """torch or CuPy arrays on one CUDA device."""

    on_device = True

    def __init__(self, ref, dtype):
        super().__init__(dtype)
        self.lib = _lib(ref)
        self.device = ref.device
        if self.lib == "torch":
            import torch

            self.xp = torch
            self.index = ref.device.index if ref.device.index is not None else torch.cuda.current_device()
            self.tdtype = torch.float64 if self.dtype == np.float64 else torch.float32
        else:
            import cupy

            self.xp = cupy
            self.index = int(ref.device.id)
            self.tdtype = self.dtype

    def _ctx(self):
        if self.lib == "cupy":
            return self.device
        return self.xp.cuda.device(self.index)

    def full(self, shape, value):
        with self._ctx():
            if self.lib == "torch":
                return self.xp.full(shape, value, dtype=self.tdtype, device=self.device)
            return self.xp.full(shape, value, dtype=self.dtype)

    def zeros(self, shape):
        return self.full(shape, 0.0)

    def asarray(self, x):
        """A C-contiguous copy on this device, in the working dtype (from host or device input)."""
        with self._ctx():
            if self.lib == "torch":
                t = x if isinstance(x, self.xp.Tensor) else self.xp.as_tensor(np.asarray(x))
                return t.to(device=self.device, dtype=self.tdtype, copy=True).contiguous()
            return self.xp.array(x, dtype=self.dtype, order="C", copy=True)

    def contiguous(self, x):
        if self.lib == "torch":
            return x.contiguous()
        return self.xp.ascontiguousarray(x)

    def exp(self, x):
        return self.xp.exp(x)

    def log(self, x):
        return self.xp.log(x)

    def host(self, x):
        """A NumPy copy (small arrays: histograms, for validation)."""
        if self.lib == "torch":
            return x.detach().cpu().numpy()
        return self.xp.asnumpy(x)

    def result(self, x):
        """A host array of results (values) as an array of this library on this device."""
        return self.asarray(np.asarray(x))

    def ptr(self, x):
        if x is None:
            return 0
        return int(x.data_ptr()) if self.lib == "torch" else int(x.data.ptr)

    def sync(self):
        if self.lib == "torch":
            self.xp.cuda.synchronize(self.index)
        else:
            self.device.synchronize()

    def range(self, M):
        """(min, max) of M computed on the device; (nan, nan) when M has a NaN or an infinity."""
        mn, mx = float(M.min()), float(M.max())
        if not (np.isfinite(mn) and np.isfinite(mx)):
            return float("nan"), float("nan")
        return mn, mx


class DeviceKernels:
    """otkit._cuda's device-pointer kernels behind the signatures of the host kernels (sinkhorn_knopp_*,
    sinkhorn_log_*), so that otkit.bregman drives both the same way. The plan is allocated here."""

    def __init__(self, cuda_module, ops):
        self.m = cuda_module
        self.ops = ops
        self.sfx = "f64" if ops.dtype == np.float64 else "f32"

    def knopp(self, M, a, B, reg, U, V, max_iter, stop_thr, check_every, omega, omega_start, want_plan, want_value,
              want_trace, num_threads=0):
        o = self.ops
        n, m = M.shape
        N = B.shape[1]
        plan = o.zeros((n, m)) if want_plan else None
        o.sync()  # the kernels run on the legacy default stream
        res = getattr(self.m, "sinkhorn_knopp_dev_" + self.sfx)(
            o.index, o.ptr(M), n, m, o.ptr(a), o.ptr(B), N, reg, o.ptr(U), o.ptr(V), max_iter, stop_thr,
            check_every, omega, omega_start, o.ptr(plan), want_value, want_trace)
        res["plan"] = plan
        return res

    def logdomain(self, kind, M, a, b, reg, x, y, max_iter, stop_thr, check_every, tau, omega, omega_start,
                  want_plan, want_value, want_trace, num_threads=0):
        o = self.ops
        n, m = M.shape
        plan = o.zeros((n, m)) if want_plan else None
        o.sync()
        res = getattr(self.m, "sinkhorn_log_dev_" + self.sfx)(
            kind, o.index, o.ptr(M), n, m, o.ptr(a), o.ptr(b), reg, o.ptr(x), o.ptr(y), max_iter, stop_thr,
            check_every, tau, omega, omega_start, o.ptr(plan), want_value, want_trace)
        res["plan"] = plan
        return res


class HostKernels:
    """The host kernels (otkit._ext, otkit._numba.sinkhorn or otkit._cuda with host arrays)."""

    def __init__(self, impl, dtype):
        self.impl = impl
        self.sfx = "f64" if np.dtype(dtype) == np.float64 else "f32"

    def knopp(self, *args, **kw):
        return getattr(self.impl, "sinkhorn_knopp_" + self.sfx)(*args, **kw)

    def logdomain(self, *args, **kw):
        return getattr(self.impl, "sinkhorn_log_" + self.sfx)(*args, **kw)
