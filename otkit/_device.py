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
    """otkit._cuda's device-pointer kernels behind the call of the host kernels (``solve``), so that
    otkit.bregman drives both the same way. The plan is allocated here; the log-domain and stabilized methods
    run one problem per kernel call (columns of X, Y copied in and out)."""

    def __init__(self, cuda_module, ops):
        self.m = cuda_module
        self.ops = ops
        self.fn = getattr(cuda_module, "sinkhorn_dev_" + ("f64" if ops.dtype == np.float64 else "f32"))

    def solve(self, method, M, a, B, reg, X, Y, options, want_plan=False, want_value=True, want_trace=False):
        o = self.ops
        n, m = M.shape
        N = B.shape[1]
        meth = getattr(self.m.SinkhornMethod, method)
        opts = self.m.SinkhornOptions(**options)
        plan = o.zeros((n, m)) if want_plan else None
        o.sync()  # the kernels run on the legacy default stream
        if method == "KERNEL":
            res = self.fn(o.index, o.ptr(M), n, m, o.ptr(a), o.ptr(B), N, reg, o.ptr(X), o.ptr(Y), method=meth,
                          options=opts, plan=o.ptr(plan), want_value=want_value, want_trace=want_trace)
            res["plan"] = plan
            return res
        out = None
        values = np.empty(N, dtype=o.dtype)
        status = np.empty(N, dtype=np.int32)
        niter = np.empty(N, dtype=np.int32)
        err = np.empty(N)
        for k in range(N):
            x, y, bk = o.contiguous(X[:, k]), o.contiguous(Y[:, k]), o.contiguous(B[:, k])
            r = self.fn(o.index, o.ptr(M), n, m, o.ptr(a), o.ptr(bk), 1, reg, o.ptr(x), o.ptr(y), method=meth,
                        options=opts, plan=o.ptr(plan), want_value=want_value, want_trace=want_trace and N == 1)
            X[:, k], Y[:, k] = x, y
            values[k], status[k], niter[k], err[k] = r["values"][0], r["status"][0], r["niter"][0], r["err"][0]
            out = out or r
        out.update(values=values, status=status, niter=niter, err=err, plan=plan)
        return out


class HostKernels:
    """The host kernels (otkit._ext, otkit._numba.sinkhorn or otkit._cuda with host arrays): one entry point
    ``sinkhorn_f64/_f32(M, a, B, reg, X, Y, *, method, options, ...)`` with the method and the options by name."""

    def __init__(self, impl, dtype):
        self.impl = impl
        self.fn = getattr(impl, "sinkhorn_" + ("f64" if np.dtype(dtype) == np.float64 else "f32"))
        self.anneals = not impl.__name__.endswith("_cuda")  # epsilon scaling in the log-domain driver

    def solve(self, method, M, a, B, reg, X, Y, options, want_plan=False, want_value=True, want_trace=False):
        return self.fn(M, a, B, reg, X, Y, method=getattr(self.impl.SinkhornMethod, method),
                       options=self.impl.SinkhornOptions(**options), want_plan=want_plan, want_value=want_value,
                       want_trace=want_trace)


class CloudKernels:
    """The point-cloud kernels (``sinkhorn_cloud_f64/_f32``: costs computed in each pass) behind ``solve``; the
    log-domain method only (the kernel form would store the n x m kernel)."""

    anneals = True  # epsilon scaling in the log-domain driver

    def __init__(self, impl, dtype, x, y, metric):
        self.impl = impl
        self.fn = getattr(impl, "sinkhorn_cloud_" + ("f64" if np.dtype(dtype) == np.float64 else "f32"))
        self.x, self.y, self.metric = x, y, metric

    def solve(self, method, M, a, B, reg, X, Y, options, want_plan=False, want_value=True, want_trace=False):
        if method != "LOG":
            raise ValueError("point clouds run in the log-domain: method='sinkhorn_log' or 'auto'")
        return self.fn(self.x, self.y, a, B, reg, X, Y, metric=self.metric, options=self.impl.SinkhornOptions(**options),
                       want_plan=want_plan, want_value=want_value, want_trace=want_trace)

