"""Kernel status codes (mirror of ``otkit::Status`` in csrc/common/otkit_common.h)."""
OK = 0
MAX_ITER = 1
NUMERICAL_ERROR = 2
INFEASIBLE = 3
UNBOUNDED = 4
BAD_INPUT = 5

NAMES = {
    OK: "optimal",
    MAX_ITER: "max iterations reached",
    NUMERICAL_ERROR: "numerical error",
    INFEASIBLE: "infeasible",
    UNBOUNDED: "unbounded",
    BAD_INPUT: "bad input",
}
