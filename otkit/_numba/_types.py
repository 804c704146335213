"""Python mirrors of the option struct and enums that otkit._ext binds from csrc/common/sinkhorn_types.h
(same names and fields), so that the Numba kernels take the same arguments as the C++ ones."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class SinkhornMethod(enum.IntEnum):
    KERNEL = 0
    LOG = 1
    STABILIZED = 2


class UnbalancedMethod(enum.IntEnum):
    KNOPP = 0
    TRANSLATION_INVARIANT = 1
    STABILIZED = 2
    LOG = 3


@dataclass
class SinkhornOptions:
    max_iter: int = 1000
    stop_thr: float = 1e-9
    check_every: int = 10
    tau: float = 1e3
    omega: float = 1.0
    omega_start: float = 1e-2
    omega_auto: bool = False
    num_threads: int = 0
    log_fast: bool = True
    anneal_start: float = 0.0
    anneal_factor: float = 0.5
    anneal_inner: int = 1
    anderson: int = 0


def anneal_stages(o, reg):
    """The regularizations of the epsilon-scaling stages above ``reg`` (csrc/common/sinkhorn_types.h)."""
    regs, r = [], float(o.anneal_start)
    while r > reg and len(regs) < 10000:
        regs.append(r)
        r *= o.anneal_factor
    return regs


def check_options(o):
    """The checks of csrc/bind/sinkhorn_bind_impl.h's ``checked``."""
    import math
    if o.max_iter < 0:
        raise ValueError("numItermax must be >= 0")
    if o.check_every < 1:
        raise ValueError("check_every must be >= 1")
    if not 0.0 < o.omega < 2.0:
        raise ValueError("omega must be in (0, 2)")
    if o.num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0: otkit's default), got {o.num_threads}")
    if not (o.anneal_start >= 0.0 and math.isfinite(o.anneal_start)):
        raise ValueError("anneal_start (epsilon scaling) must be a finite number >= 0 (0: none)")
    if not 0.0 < o.anneal_factor < 1.0:
        raise ValueError("anneal_factor must be in (0, 1)")
    if o.anneal_inner < 1:
        raise ValueError("anneal_inner must be >= 1")
    if not 0 <= o.anderson <= 32:
        raise ValueError(f"anderson (memory of the Anderson acceleration) must be in [0, 32], got {o.anderson}")
    if o.anderson > 0 and (o.omega != 1.0 or o.omega_auto):
        raise ValueError("anderson and omega (over-relaxation) exclude each other: use one of the two")


def no_anderson(o, where):
    if o.anderson > 0:
        raise ValueError(f"Anderson acceleration (anderson > 0) is not available for {where} (the CPU kernel-form "
                         "and log-domain solvers have it)")


def no_annealing(o, where):
    if o.anneal_start > 0.0:
        raise ValueError(f"epsilon scaling (anneal_start > 0) is not available for {where} (the CPU log-domain "
                         "solvers have it)")
