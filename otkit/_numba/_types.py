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
    num_threads: int = 0
    log_fast: bool = True
